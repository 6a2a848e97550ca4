/* plan.h — the Plan: one sorted, de-duplicated list of image entries.
 * Resolvers' results are added here by build.c; emitters read only this.
 * Each entry records its origin (why it is in the image) for conflict reports
 * and `rdc explain`. */
#ifndef RDC_PLAN_H
#define RDC_PLAN_H
#include <stdbool.h>
#include <stdint.h>
#include "cache/cas.h"
#include "lib/diag.h"

enum plan_kind { PK_DIR, PK_FILE, PK_SYMLINK, PK_NODE };

/* Segments of a segmented image, in archive order.  Directories, nodes and
 * symlinks are tiny and go first so every later segment finds its parents. */
enum plan_seg { SEG_SKELETON, SEG_BINARIES, SEG_LIBS, SEG_MODULES, SEG_FILES, SEG_INIT, SEG_COUNT };
extern const char *const plan_seg_names[SEG_COUNT];

struct plan_entry {
	char *path;       /* normalised, absolute image path */
	enum plan_kind kind;
	unsigned mode;    /* full st_mode: type bits and permissions */
	unsigned uid, gid;
	unsigned rmajor, rminor; /* PK_NODE (c/b) */
	char *target;     /* PK_SYMLINK */
	char *src;        /* PK_FILE: host source, NULL for a blob */
	uint64_t src_dev, src_ino; /* the source as stat()ed when added */
	struct cas_hash hash; /* PK_FILE content, when hashed */
	bool hashed;      /* hash is known (the stat index knew it, or it was read) */
	uint64_t size;
	char *origin;     /* human words: "files", "DT_NEEDED of /usr/bin/curl" */
	struct loc loc;   /* the manifest line that brought it in */
	enum plan_seg seg;
	bool implied;     /* a parent directory nobody asked for */
	size_t seq;       /* add order: the tie-break that keeps sorting stable */
};

struct plan;

/* Files are hashed into `cas` on up to `jobs` threads (<= 0: one per core). */
struct plan *plan_new(struct cas *cas, int jobs);
void plan_free(struct plan *p);

/* Each add returns 0, or -1 after reporting a conflict or bad path at loc.
 * Adding the same thing twice is fine; two different things at one path is a
 * conflict that names both origins. `dest` is normalised here. */
int plan_add_dir(struct plan *p, const char *dest, unsigned perm, unsigned uid, unsigned gid,
		 const struct loc *loc, const char *origin);
#define PLAN_MODE_OF_SOURCE (-1) /* perm of plan_add_file/tree: the source's own */
int plan_add_file(struct plan *p, const char *dest, const char *src, int perm,
		  unsigned uid, unsigned gid, enum plan_seg seg, const struct loc *loc, const char *origin);
/* The same with stat(src) the caller has just taken: a module's file is
 * stat()ed once, by the module closure, not again here. */
struct stat;
int plan_add_file_st(struct plan *p, const char *dest, const char *src, const struct stat *st, int perm,
		     unsigned uid, unsigned gid, enum plan_seg seg, const struct loc *loc, const char *origin);
int plan_add_blob(struct plan *p, const char *dest, const void *data, size_t len, unsigned perm,
		  unsigned uid, unsigned gid, enum plan_seg seg, const struct loc *loc, const char *origin);
int plan_add_symlink(struct plan *p, const char *dest, const char *target, unsigned uid, unsigned gid,
		     const struct loc *loc, const char *origin);
/* type: 'c', 'b', 'p', 's' */
int plan_add_node(struct plan *p, const char *dest, char type, unsigned major, unsigned minor,
		  unsigned perm, unsigned uid, unsigned gid, const struct loc *loc, const char *origin);
/* Add the tree under host directory `src` at `dest` (gen_initramfs.sh style). */
int plan_add_tree(struct plan *p, const char *dest, const char *src, int perm, unsigned uid, unsigned gid,
		  enum plan_seg seg, const struct loc *loc, const char *origin);

/* Adds implied parent directories, merges duplicates (hashing files that
 * share a path) and sorts bytewise (parents first).  After this the entries
 * are final, but files the stat index did not know may still be unhashed. */
int plan_finish(struct plan *p);
/* Hash every unhashed file (objects: also copy every file into objects/, for
 * outputs that name them), on all cores; -1 after reporting at the entries'
 * lines. */
int plan_hash_files(struct plan *p, bool objects);
/* How many files are still unhashed. */
size_t plan_pending(const struct plan *p);
/* Emit learned e's hash while streaming it into an image. */
void plan_learn_hash(const struct plan *p, const struct plan_entry *e, const struct cas_hash *h);
size_t plan_count(const struct plan *p);
const struct plan_entry *plan_entry_at(const struct plan *p, size_t i);
const struct plan_entry *plan_lookup(const struct plan *p, const char *path);
/* What `path` is once every symlink on the way (parents and the leaf) is
 * followed inside the image, as the kernel would; NULL if nothing. */
const struct plan_entry *plan_resolve(const struct plan *p, const char *path);

#endif
