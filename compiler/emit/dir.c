/* dir.c — an unpacked tree (-o DIR/), extracted from the cpio with
 * libarchive and swapped in with one renameat2(RENAME_EXCHANGE). */
#include "emit/emit_int.h"
#include "lib/tempfile.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>
#include "cache/remote.h"
#include "lib/util.h"

static bool tame_entry(struct archive_entry *ae, bool special, unsigned *skipped, unsigned *tamed)
{
	if (special)
		return true;
	unsigned ft = archive_entry_filetype(ae);
	if (ft == AE_IFCHR || ft == AE_IFBLK) {
		(*skipped)++;
		return false;
	}
	mode_t perm = archive_entry_perm(ae);
	if (perm & 06000) {
		archive_entry_set_perm(ae, perm & ~06000);
		(*tamed)++;
	}
	return true;
}

/* An unpacked tree: our own cpio read back by libarchive into a temporary
 * directory that is then renamed into place. */
static int extract_cpio(const char *cpio_path, const char *dir, bool special, const char *shown)
{
	unsigned skipped = 0, tamed = 0;
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	archive_read_support_format_cpio(in);
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER * (geteuid() == 0) |
						    ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	int rc = archive_read_open_filename(in, cpio_path, IO_CHUNK) == ARCHIVE_OK ? 0 : -1, r = ARCHIVE_EOF;
	struct archive_entry *ae;
	while (rc == 0 && (r = archive_read_next_header(in, &ae)) == ARCHIVE_OK) {
		char *full = path_join(dir, archive_entry_pathname(ae));
		archive_entry_set_pathname(ae, full);
		free(full);
		if (!tame_entry(ae, special, &skipped, &tamed))
			continue;
		if (archive_entry_filetype(ae) == AE_IFLNK) { /* our symlink bodies end in NUL */
			char *t = xstrdup(archive_entry_symlink(ae));
			archive_entry_set_symlink(ae, t);
			free(t);
		}
		if (archive_write_header(out, ae) < ARCHIVE_WARN) { /* never leave a tree with holes */
			diag_error(NULL, NULL, "cannot unpack %s: %s", archive_entry_pathname(ae), archive_error_string(out));
			rc = -1;
			break;
		}
		const void *buf;
		size_t size;
		la_int64_t off;
		while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK)
			if (archive_write_data_block(out, buf, size, off) < ARCHIVE_OK) {
				r = ARCHIVE_FATAL;
				break;
			}
		if (r != ARCHIVE_EOF || archive_write_finish_entry(out) < ARCHIVE_WARN) { /* a full disk, say */
			diag_error(NULL, NULL, "cannot unpack %s: %s", archive_entry_pathname(ae), archive_error_string(out));
			rc = -1;
		}
	}
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = -1;
	if (archive_write_close(out) != ARCHIVE_OK && rc == 0) {
		diag_error(NULL, NULL, "cannot finish unpacking: %s", archive_error_string(out));
		rc = -1;
	}
	archive_write_free(out);
	archive_read_free(in);
	if (skipped || tamed)
		diag_info("%s: %u device node%s left out, %u setuid/setgid mode%s dropped (--dir-special keeps them)",
			  shown, skipped, skipped == 1 ? "" : "s", tamed, tamed == 1 ? "" : "s");
	return rc;
}

/* A tree rdc wrote carries this file, so that `-o DIR/` replaces only such
 * trees (or empty directories) and never a directory of the user's. */
#define TREE_MARK ".rdc-tree"

static bool replaceable_dir(const char *dir)
{
	struct stat st;
	if (lstat(dir, &st) < 0)
		return errno == ENOENT;
	if (!S_ISDIR(st.st_mode))
		return false;
	char *mark = path_join(dir, TREE_MARK);
	bool ours = lstat(mark, &st) == 0 && S_ISREG(st.st_mode);
	free(mark);
	if (ours)
		return true;
	DIR *d = opendir(dir);
	struct dirent *de;
	bool empty = d != NULL;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	if (d)
		closedir(d);
	return empty;
}

/* Where `-o DIR/` goes, resolved as the kernel resolves a file output's
 * path: the parent through its symlinks (libarchive refuses to write
 * through a symlink, and ".." after one means its target's parent), the
 * last component as it is.  NULL after a message. */
static char *tree_path(const char *path)
{
	char *abs = path_absolute(path);
	if (!abs) { /* never a guess such as "/": the tree would land at the root */
		diag_error(NULL, NULL, "cannot write %s: the current directory is gone (%s)", path, strerror(errno));
		return NULL;
	}
	char *t = xstrdup(path);
	while (strlen(t) > 1 && t[strlen(t) - 1] == '/')
		t[strlen(t) - 1] = '\0';
	const char *base = path_basename(t);
	char *clean = NULL;
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(t, "/")) {
		clean = realpath(t, NULL);
	} else {
		char *parent = path_dirname(t), *real = realpath(parent, NULL);
		if (real)
			clean = path_join(real, base);
		else
			diag_error(NULL, NULL, "cannot write %s: %s: %s", path, parent, strerror(errno));
		free(parent);
		free(real);
	}
	if (!clean && !diag_error_count())
		diag_error(NULL, NULL, "cannot write %s: %s", path, strerror(errno));
	free(t);
	free(abs);
	return clean;
}

/* What a killed build left beside DIR: NAME.rdc-tmp.PID and NAME.rdc-old.PID
 * of processes that no longer run (a live build's are its own). */
static void sweep_stale(const char *clean)
{
	char *dir = path_dirname(clean);
	const char *base = path_basename(clean);
	size_t bl = strlen(base);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *n = de->d_name, *tail = n + bl;
		if (strncmp(n, base, bl) || (strncmp(tail, ".rdc-tmp.", 9) && strncmp(tail, ".rdc-old.", 9)))
			continue;
		char *end;
		long pid = strtol(tail + 9, &end, 10);
		if (pid <= 0 || (*end && strcmp(end, ".cpio") && strncmp(end, ".cpio.rdc-tmp.", 14)) ||
		    !(kill((pid_t)pid, 0) < 0 && errno == ESRCH))
			continue;
		char *full = path_join(dir, n);
		remove_tree(full);
		free(full);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* Put the new tree in place.  With an old tree there, the two are swapped
 * in one step (renameat2 RENAME_EXCHANGE): a SIGKILL at any moment leaves
 * DIR, old or new, never nothing. */
static int swap_in(const char *tmpdir, const char *clean)
{
	if (renameat2(AT_FDCWD, tmpdir, AT_FDCWD, clean, RENAME_EXCHANGE) == 0) {
		remove_tree(tmpdir); /* now the old tree */
		return 0;
	}
	if (errno == ENOENT) /* no old tree */
		return rename(tmpdir, clean);
	if (errno != EINVAL && errno != ENOSYS) /* a filesystem without exchange: two renames */
		return -1;
	char *old = xasprintf("%s.rdc-old.%d", clean, (int)getpid());
	bool had_old = rename(clean, old) == 0;
	int rc = rename(tmpdir, clean);
	if (rc < 0 && had_old)
		rename(old, clean); /* put the previous tree back */
	else if (had_old)
		remove_tree(old);
	free(old);
	return rc;
}

int emit_dir(const struct plan *p, struct cas *cas, const struct emit_opts *o, const char *path)
{
	char *clean = tree_path(path); /* libarchive refuses ".." in the paths it writes */
	if (!clean)
		return -1;
	struct stat st;
	if (lstat(clean, &st) == 0 && !S_ISDIR(st.st_mode)) {
		diag_error(NULL, NULL, "%s exists and is not a directory: not replacing it with a tree", clean);
		free(clean);
		return -1;
	}
	if (!replaceable_dir(clean)) {
		diag_error(NULL, NULL, "%s is not empty and not a tree rdc wrote (no %s in it): not replacing it; remove it or "
			  "choose another output", clean, TREE_MARK);
		free(clean);
		return -1;
	}
	sweep_stale(clean);
	char *tmpdir = xasprintf("%s.rdc-tmp.%d", clean, (int)getpid());
	char *cpio = xasprintf("%s.cpio", tmpdir);
	struct tempfile *reg = tempfile_register(tmpdir, 1);
	struct atomic_file af;
	int rc = atomic_open(&af, cpio);
	if (rc == 0 && emit_stream(p, cas, o, af.fd, false) < 0) {
		atomic_abort(&af);
		rc = -1;
	} else if (rc == 0) {
		rc = atomic_commit(&af, 0600);
	}
	struct tempfile *creg = rc == 0 ? tempfile_register(cpio, 0) : NULL;
	if (rc == 0 && mkdir(tmpdir, 0755) < 0)
		rc = -1;
	if (rc == 0)
		rc = extract_cpio(cpio, tmpdir, o->dir_special, clean);
	unlink(cpio);
	tempfile_forget(creg);
	if (rc == 0) {
		char *mark = path_join(tmpdir, TREE_MARK);
		static const char text[] = "This tree was written by rdc build; the next build replaces it whole.\n";
		rc = write_file_atomic(mark, text, sizeof(text) - 1, 0644);
		free(mark);
	}
	if (rc == 0)
		rc = swap_in(tmpdir, clean);
	if (rc < 0) {
		diag_error(NULL, NULL, "cannot write the directory %s: %s", clean, strerror(errno));
		remove_tree(tmpdir); /* the previous tree, if any, is still in place */
	}
	tempfile_forget(reg);
	free(cpio);
	free(tmpdir);
	free(clean);
	return rc;
}

/* at the output: line when the manifest named the path */
