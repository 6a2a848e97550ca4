/* tempfile.h — every temporary file rdc creates is registered here and
 * removed when the process exits or dies of SIGINT, SIGTERM, SIGHUP or
 * SIGPIPE (git's tempfile.c), so an interrupted build leaves nothing beside
 * its output.  SIGKILL cannot be caught: what it leaves is named *.rdc-tmp.*
 * and `rdc cache gc` (or the next `-o DIR/` build) removes it. */
#ifndef RDC_TEMPFILE_H
#define RDC_TEMPFILE_H

/* Register `path` (copied) for removal; returns a handle for tempfile_forget.
 * A directory is registered with is_dir: it is removed (with what is in it)
 * at exit, but only emptied-file removal is safe in a signal handler, so a
 * signal leaves a registered directory for the next build to remove. */
struct tempfile;
struct tempfile *tempfile_register(const char *path, int is_dir);
/* The file was renamed into place or removed by its owner: forget it. */
void tempfile_forget(struct tempfile *t);

#endif
