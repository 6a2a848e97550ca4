/* remote.h — remote storage for the cache, the way ccache shares its cache:
 * RDC_REMOTE_STORAGE (else `remote_storage = ...` in
 * $XDG_CONFIG_HOME/rdc/rdc.conf) lists backends, tried in order:
 *
 *   http://host[:port]/path|layout=subdirs|read-only|connect-timeout=MS|operation-timeout=MS|bearer-token=T
 *   redis://[[user:]password@]host[:port][/db]|read-only|connect-timeout=MS
 *
 * What travels is compressed segments: keyed by their entries (content
 * hashes, paths, modes) and the compressor, they mean the same on every
 * machine, and they are what a cold build spends its time on.  Objects do
 * not travel: images read their sources directly, and the only objects left
 * (inline content, the files a list names) are made again from the manifest
 * or a source faster than a download.  Memos and the stat index name local
 * inodes and never leave the machine.  Nothing fetched is used
 * before it is re-hashed; a damaged or wrong entry is never used, and the
 * caller's rebuild overwrites it.  A backend that fails is dropped for the
 * rest of the run with one warning: the build goes on locally.
 *
 * The settings are read, and libcurl/hiredis dlopen()ed, on the first local
 * miss: a build that hits its local cache never pays for any of it. */
#ifndef RDC_REMOTE_H
#define RDC_REMOTE_H
#include <stdbool.h>
#include <stdint.h>
#include "cache/cas.h"

/* Whether any backend is usable (reads the settings, as the first miss
 * would): without one, a segment nobody has can be keyed after it is built. */
bool remote_configured(void);
/* A segment missing from the local cache: fetch it from the first backend
 * that has an intact copy and install it at cas_segment_path().  true: it is
 * there now.  An entry of more than `max` bytes (what the segment could hold
 * stored uncompressed) is refused before it fills the disk. */
bool remote_fetch_segment(struct cas *c, const struct cas_hash *key, uint64_t max);
/* A segment this process just built: upload it (in the background) to every
 * writable backend. */
void remote_store_segment(struct cas *c, const struct cas_hash *key);

/* Wait for the uploads, report what the remotes did (-v, and one warning per
 * backend that failed or served damaged entries) and add this run's counts to
 * the cache's remote-stats file.  Called by cas_close; a no-op when the
 * remote was never touched. */
void remote_finish(const char *cache_dir);
/* `rdc cache stats`: the remote line, from remote-stats. */
void remote_print_stats(const char *cache_dir);

#endif
