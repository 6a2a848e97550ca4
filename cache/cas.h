/* cas.h — the content-addressed cache ($RDC_CACHE_DIR, else
 * $XDG_CACHE_HOME/rdc, else ~/.cache/rdc).
 *
 *   objects/ab/cdef...   file contents by XXH3-128, mode 0444, mtime = 0
 *   index                stat index: path dev ino size mtime_ns ctime_ns -> hash
 *   memo/<ns>/<key>      resolver memos, each carrying the identity of every
 *                        file the resolver read, re-checked on every hit
 *   segments/<key>       compressed cpio segments: the compressed piece and its
 *                        32-byte meta (emit.c) followed by a 16-byte trailer,
 *                        their XXH3-128 (canonical, big-endian),
 *                        checked by emit.c while it copies a segment into an image
 *                        and by `rdc cache verify`; a bad segment is deleted and rebuilt
 *
 * Every file is written to a temporary name and renamed, so readers never see
 * half an object and several rdc processes can share one cache. */
#ifndef RDC_CAS_H
#define RDC_CAS_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "lib/util.h"

struct cas_hash {
	uint8_t b[16];
};

struct cas;

/* dir NULL: the default location.  Returns NULL (with a message) on failure. */
struct cas *cas_open(const char *dir);
/* The same, silent: NULL with the reason in `why`, for a caller that can do
 * without a cache (rdc deps, rdc kmods) and says so as a warning. */
struct cas *cas_open_why(const char *dir, struct strbuf *why);
/* The cache if it exists, never creating it (NULL otherwise, silently). */
struct cas *cas_open_existing(const char *dir);
/* Saves the stat index if it changed. */
void cas_close(struct cas *c);
const char *cas_dir(const struct cas *c);
/* Where cas_open(NULL) would put the cache, or NULL; caller frees. */
char *cas_default_dir(void);

/* rdc cache: the store counts and repairs, cli/cache.c prints.  Each
 * returns -1 after an error when the cache cannot be read. */
#define CAS_NKINDS 4
extern const char *const cas_kind_names[CAS_NKINDS]; /* objects, segments, memos, temp */
struct cas_stats {
	uint64_t files[CAS_NKINDS], bytes[CAS_NKINDS], total;
	size_t index_entries; /* sources whose content is known by their stat */
};
int cas_stats(struct cas *c, struct cas_stats *st);
/* Re-hashes every file; a damaged one is removed and named in `damaged`
 * ("PATH (removed)", "DIR/index: ... (dropped)"); `checked` files in all. */
int cas_verify(struct cas *c, struct strlist *damaged, size_t *checked);
/* First what no current source uses and stale temporaries, then (to get
 * under max_size, UINT64_MAX: no limit) the oldest segments and memos,
 * then any object. */
struct cas_gc {
	uint64_t removed, freed, remain, removed_by_kind[CAS_NKINDS];
};
int cas_gc(struct cas *c, uint64_t max_size, struct cas_gc *g);

/* Ingest a host file into objects/, for outputs that name objects (lists):
 * a stat-index hit whose object exists costs a stat and an access; otherwise
 * the file is read, hashed and copied.  *size gets the content size.  Safe
 * on several threads.  On -1, *why says what went wrong — with the source
 * (unreadable, changed while read) or with the cache (cannot store it) —
 * for the caller to report at the source's manifest line. */
int cas_put_file(struct cas *c, const char *src, struct cas_hash *h, uint64_t *size, struct strbuf *why);
/* The same for bytes in memory (inline content): -1 with errno, silently. */
int cas_put_blob(struct cas *c, const void *data, size_t len, struct cas_hash *h);
/* objects/ab/cdef... (caller frees). */
char *cas_object_path(const struct cas *c, const struct cas_hash *h);
/* The content hash the stat index knows for `src` as stat()ed in *st: 1
 * (and *h) when its identity is unchanged and the entry is not racy, else 0.
 * Costs no system call. */
int cas_index_lookup(struct cas *c, const char *src, const struct stat *st, struct cas_hash *h);
/* Read and hash `src` without storing it (the index records it); errors as
 * for cas_put_file. */
int cas_hash_file(struct cas *c, const char *src, struct cas_hash *h, uint64_t *size, struct strbuf *why);

/* A file's bytes on their way into an image: a source read directly
 * (src), or the object of inline content (src NULL), hashed as they are
 * read.  cas_stream_close says whether what was read is what the plan
 * expects: the hash `expect` (NULL: not known yet; *got gets it and the
 * index records it), `size` bytes, a file that did not change meanwhile.
 * On -1 nothing read may be shipped; *why says why (a damaged object is
 * removed, so the next build restores it).  Safe on several threads. */
struct cas_stream {
	int fd;
	const char *src;
	bool known, damaged;
	/* Set after open by an output keyed only once written (one stream, no
	 * segments): a stable source that hashes to something else than
	 * `expect` is taken as it is, its hash in *got. */
	bool adopt;
	struct cas_hash expect;
	uint64_t left;
	int64_t opened_ns;
	struct stat before;
	void *state;
};
int cas_stream_open(struct cas *c, struct cas_stream *s, const char *src, const struct cas_hash *expect,
		    uint64_t size, struct strbuf *why);
ssize_t cas_stream_read(struct cas_stream *s, void *buf, size_t n);
int cas_stream_close(struct cas *c, struct cas_stream *s, struct cas_hash *got, struct strbuf *why);
/* Close without a verdict (nothing read from it is used). */
void cas_stream_abandon(struct cas_stream *s);
void cas_hash_hex(const struct cas_hash *h, char out[33]);
/* The 32 hex digits at s (no NUL needed after them); false if they are not. */
bool cas_hash_parse(const char *s, struct cas_hash *h);
void cas_hash_data(const void *data, size_t len, struct cas_hash *h);

/* Resolver memos.  A memo records, besides its payload, the identity of every
 * input it depended on (see memo_note); a get re-stats them all and misses
 * when any differs. */
void memo_note(struct strbuf *deps, const char *path); /* records path's identity now (or its absence) */
/* The same from lstat(path) the caller has just taken (*lst), when it
 * succeeded: one stat of a module file is enough for the memo and the plan. */
void memo_note_lstat(struct strbuf *deps, const char *path, const struct stat *lst);
/* The same for a file rdc itself just wrote (its output): no racy rule. */
void memo_note_own(struct strbuf *deps, const char *path);
/* The same with the racy rule taken from `since_ns` (CLOCK_REALTIME) instead
 * of now: an input read at or after `since_ns` and changed within RACY_NS
 * before or any time after it is marked racy.  For a record written long
 * after its inputs were read (the build record). */
void memo_note_since(struct strbuf *deps, const char *path, int64_t since_ns);
/* memo_note_since of each of paths[0..n), in that order (on all cores). */
void memo_note_many(struct strbuf *deps, const char *const *paths, size_t n, int64_t since_ns);
/* What a build used of one input: memo_note_used notes its identity now,
 * with the racy mark when that is not what was used (the input changed, or
 * a parent directory or symlink on its way was swapped, during the build). */
struct memo_use {
	const char *path;
	const char *id;  /* the identity a memo noted (NULL: none), as in a deps text */
	size_t idlen;
	bool read;       /* dev/ino: what stat(path) gave when the build read it */
	uint64_t dev, ino;
	bool differ;     /* two uses disagreed already */
	enum { MEMO_TRUSTED, MEMO_RECENT, MEMO_FUTURE, MEMO_SWAPPED } racy; /* set: why it is marked */
};
void memo_note_used(struct strbuf *deps, struct memo_use *uses, size_t n, int64_t since_ns);
/* fn(ctx, path, pathlen, identity, idlen) for each line of a deps text. */
typedef void memo_dep_fn(void *ctx, const char *path, size_t plen, const char *id, size_t idlen);
void memo_deps_each(const char *deps, size_t len, memo_dep_fn *fn, void *ctx);
/* Does a deps text carry a racy mark (such a memo can never hit)? */
bool memo_deps_racy(const struct strbuf *deps);
/* The paths a deps text names, appended to out. */
void memo_deps_paths(const char *deps, size_t len, struct strlist *out);
/* While sink is set (NULL: stop), the deps of every memo hit and put are
 * appended to it: what the resolvers depended on, memoised or not. */
void cas_memo_collect(struct cas *c, struct strbuf *sink);
/* What a resolver read but could not memoise, for that collection. */
void cas_memo_seen(struct cas *c, const struct strbuf *deps);
int cas_memo_get(struct cas *c, const char *ns, const char *key, struct strbuf *payload); /* 1 hit, 0 miss */
/* The same; on a miss `why` says it: "there is none", "it is damaged",
 * "PATH changed" ... */
int cas_memo_get_why(struct cas *c, const char *ns, const char *key, struct strbuf *payload, struct strbuf *why);
int cas_memo_put(struct cas *c, const char *ns, const char *key,
		 const struct strbuf *deps, const struct strbuf *payload);

/* Segments: compressed cpio streams keyed by their entries and compressor. */
char *cas_segment_path(const struct cas *c, const struct cas_hash *key); /* caller frees */

#endif
