/* modclosure_int.h — what the files of the module closure share, and only
 * they (the rest of rdc includes resolve/modclosure.h):
 *   modclosure.c   the graph: nodes by name, lookups (libkmod, modules.dep
 *                  read once, or a tree read whole), requests, the result,
 *                  the entry point
 *   kmodlib.c      libkmod, dlopen()ed on first use
 *   modinfo.c      one module file: its .modinfo, its name, unpacking it;
 *                  many read ahead on every core
 *   modorder.c     the walk from the requests, how much each module
 *                  matters, the load order
 *   modfirmware.c  the firmware the modules name
 *   modindex.c     modules.* for the subset, and the .bin tries
 *   modmemo.c      the closure memo: its key, its payload, its inputs
 *   modrelease.c   which kernel: installed releases, build trees
 * Names shared between these files start with mc_ or minfo_. */
#ifndef RDC_MODCLOSURE_INT_H
#define RDC_MODCLOSURE_INT_H
#include <libkmod.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include "resolve/modclosure.h"

/* A closure of this many modules reads modules.dep itself and reads its
 * files and writes its largest index on every core; a smaller one asks
 * libkmod (threads and a 0.5 MB read cost more than a few lookups). */
#define MC_MANY 64

#define MEMO_NS "kmods4" /* the memo's namespace; 2: modules carry how they got in; 3: and how much they
			  * matter; 4: and their machine */

struct mnode {
	char *name, *src, *rel; /* rel: image path relative to /lib/modules/<kver> */
	struct strlist deps, pre, post;              /* module names (resolved) */
	struct strlist aliases, softdeps, firmware;  /* modinfo, for the indexes */
	int req;                                     /* first request reaching it, -1 none */
	char *why;                                   /* how it got in: "depends= of btrfs" ... */
	bool done;                                   /* placed in the load order */
	bool hard;                                   /* a request or its depends=, not only a softdep's */
	int group;                                   /* one of several an alias request stands for: the request */
	int machine;                                 /* minfo's */
	int gone;                                    /* its file's lstat errno (0: it is there) */
	bool stat_known;                             /* st: its file's, a regular file */
	struct stat st;
};

/* One line of the tree's modules.dep: "rel: dep dep ...". */
struct mdep {
	const char *name;   /* the module name of rel, as depmod keys modules.dep.bin */
	const char *rel;    /* into mc->dmap */
	size_t dep0, ndep;  /* its dependency paths: mc->dpaths[dep0 .. dep0 + ndep) */
};

struct minfo {
	char *name;
	char *release; /* vermagic's first word: the kernel the module was built for */
	struct strlist depends, softdeps, aliases, firmware;
	int machine; /* e_machine, 0 when the file was read by libkmod */
};

/* One module file read ahead, on another core (minfo_read_many). */
struct mread {
	char *path;      /* the caller's */
	bool done;       /* opened, a regular file, its .modinfo read: st and mi are its */
	struct stat st;  /* fstat of it opened without following a symlink: its lstat */
	struct minfo mi;
};

struct mc_aliasbin; /* modules.alias.bin being written on another core (below) */

struct mc {
	const struct modclosure_opts *o;
	const struct modclosure_req *reqs;
	size_t nreqs;
	char *kdir;                /* absolute <moddir>/<kver> */
	struct kmod_ctx *ctx;      /* the kernel tree's indexes */
	struct kmod_ctx *fctx;     /* reading single files by path */
	bool depmod;               /* indexes exist */
	/* modules.dep read once (depmod ran, it is readable, MC_MANY requests):
	 * name lookups and dependencies come from it, not from libkmod, which
	 * stat()s every path of every line it parses (10,000 at a whole kernel) */
	void *dmap, *tmap;         /* its text (split in place); the names and tables below */
	size_t dlen, tlen;
	struct mdep *dtab;
	size_t ndtab;
	int *dslots;               /* name -> dtab index + 1, open addressing */
	size_t ndslots;
	const char **dpaths;       /* every line's dependency paths, in line order */
	size_t ndpaths;
	bool dloaded;
	struct mread *pre;         /* per dtab line: the files read ahead, or NULL */
	struct mc_aliasbin *aliasbin; /* begun by mc_indexes_begin, or NULL */
	bool soft_read;            /* soft_names and soft_globs are read */
	struct strlist soft_names, soft_globs; /* the modules libkmod's softdep config (modules.softdep) names */
	struct mnode *nodes;
	size_t n, alloc;
	int *slots;                /* name -> node index + 1, open addressing */
	size_t nslots;
	struct strlist builtin;    /* no-depmod: names in modules.builtin */
	struct strlist builtin_aliases; /* no-depmod: "alias\tname" from modules.builtin.modinfo */
	struct strlist *roots;     /* per request: node names it asked for */
	struct strbuf deps;        /* memo_note() of every input */
	struct strbuf msgs;        /* warnings and notes, replayed on a memo hit */
	struct strlist absent_dirs; /* noted for files that are not there (note_absent) */
	char *last_asked, *last_absent; /* the last directory asked about, the nearest that exists */
	int *order;                /* load order, node indexes */
	size_t norder;
	struct modclosure_msg *said; /* this run's errors and notes, not memoised */
	size_t nsaid, asaid;
	int errors;                /* how many of them are errors */
};

/* ---- libkmod, opened on first use (kmodlib.c) ------------------------------
 * Linked normally, libkmod and the libcrypto it needs cost 0.7 ms of every
 * rdc start (more than any other library), yet a memoised module closure
 * never calls it.  So it is opened with dlopen when a closure is resolved,
 * and every kmod_* call goes through this table. */
#define KMOD_FUNCS(X)                                                                      \
	X(kmod_new) X(kmod_unref) X(kmod_set_log_fn) X(kmod_list_next) X(kmod_module_unref)    \
	X(kmod_module_unref_list) X(kmod_module_get_path) X(kmod_module_get_name)               \
	X(kmod_module_get_module) X(kmod_module_new_from_path) X(kmod_module_new_from_lookup)   \
	X(kmod_module_get_info) X(kmod_module_info_get_key) X(kmod_module_info_get_value)       \
	X(kmod_module_info_free_list) X(kmod_module_get_softdeps) X(kmod_module_get_dependencies)   \
	X(kmod_load_resources) X(kmod_unload_resources) X(kmod_module_new_from_name)                   \
	X(kmod_config_get_softdeps) X(kmod_config_iter_get_key) X(kmod_config_iter_next)                 \
	X(kmod_config_iter_free_iter)

struct kmod_table {
#define KMOD_SLOT(f) __typeof__(&f) f;
	KMOD_FUNCS(KMOD_SLOT)
#undef KMOD_SLOT
};
extern struct kmod_table kmod_lib;

#ifndef MC_KMOD_TABLE /* kmodlib.c fills the table by these very names */
#define KMOD_CALL(f) kmod_lib.f
#define kmod_new KMOD_CALL(kmod_new)
#define kmod_unref KMOD_CALL(kmod_unref)
#define kmod_set_log_fn KMOD_CALL(kmod_set_log_fn)
#define kmod_list_next KMOD_CALL(kmod_list_next)
#define kmod_module_unref KMOD_CALL(kmod_module_unref)
#define kmod_module_unref_list KMOD_CALL(kmod_module_unref_list)
#define kmod_module_get_path KMOD_CALL(kmod_module_get_path)
#define kmod_module_get_name KMOD_CALL(kmod_module_get_name)
#define kmod_module_get_module KMOD_CALL(kmod_module_get_module)
#define kmod_module_new_from_path KMOD_CALL(kmod_module_new_from_path)
#define kmod_module_new_from_lookup KMOD_CALL(kmod_module_new_from_lookup)
#define kmod_module_get_info KMOD_CALL(kmod_module_get_info)
#define kmod_module_info_get_key KMOD_CALL(kmod_module_info_get_key)
#define kmod_module_info_get_value KMOD_CALL(kmod_module_info_get_value)
#define kmod_module_info_free_list KMOD_CALL(kmod_module_info_free_list)
#define kmod_module_get_softdeps KMOD_CALL(kmod_module_get_softdeps)
#define kmod_module_get_dependencies KMOD_CALL(kmod_module_get_dependencies)
#define kmod_load_resources KMOD_CALL(kmod_load_resources)
#define kmod_unload_resources KMOD_CALL(kmod_unload_resources)
#define kmod_module_new_from_name KMOD_CALL(kmod_module_new_from_name)
#define kmod_config_get_softdeps KMOD_CALL(kmod_config_get_softdeps)
#define kmod_config_iter_get_key KMOD_CALL(kmod_config_iter_get_key)
#define kmod_config_iter_next KMOD_CALL(kmod_config_iter_next)
#define kmod_config_iter_free_iter KMOD_CALL(kmod_config_iter_free_iter)
#endif

/* modclosure.c: the graph, messages */
char *mc_image_rel(const struct mc *mc, const char *rel);
int mc_node_find(const struct mc *mc, const char *name);
void mc_msgs_free(struct modclosure_msg *v, size_t n);
void __attribute__((format(printf, 5, 6)))
mc_say(struct mc *mc, enum modclosure_level level, int req, const char *hint, const char *fmt, ...);
void mc_msg_add(struct mc *mc, char kind, int req, const char *hint, const char *text);
/* The replayable messages (mc->msgs, a memo's "G" record) as records of out. */
void mc_msgs_parse(const char *p, struct modclosure *out);
char *mc_abs_path(const char *p);
bool mc_is_dir(const char *p);
/* kdir's modules.dep as mc->dtab (mc->dloaded), when it can be read; and
 * released (also by mc_run). */
void mc_dep_table_read(struct mc *mc);
void mc_dep_table_release(struct mc *mc);

/* kmodlib.c: libkmod */
struct kmod_ctx *mc_ctx_new(const char *dir, const char **why);
/* The same, for lookups: the tree's indexes mapped once (without, libkmod
 * opens and seeks modules.dep.bin again for every lookup: 4,466 opens and
 * 26,270 lseeks at a whole kernel). */
struct kmod_ctx *mc_ctx_new_indexed(const char *dir, const char **why);

/* modinfo.c: one module file */
char *mc_modname_of(const char *path);
const char *mc_compress_suffix(const char *path);
void minfo_release(struct minfo *mi);
int minfo_read(const struct kmod_module *mod, struct minfo *mi);
/* The same for a module file of the tree, by path, from fd when it is open
 * (-1: not) (libkmod only for what libelf cannot read). */
int minfo_read_file(struct mc *mc, int fd, const char *path, struct minfo *mi);
/* v[which[0..n)] read on `jobs` threads (0: one per core), this one
 * included: what libelf cannot read there (compressed, a symlink, no ELF)
 * is left undone, for minfo_read_file. */
void minfo_read_many(struct mread *v, const int *which, size_t n, int jobs);
int minfo_unpacked(struct mc *mc, const char *path, struct minfo *mi);
int minfo_from_path(struct mc *mc, const char *path, struct minfo *mi);
void mc_softdep_split(const char *v, struct strlist *pre, struct strlist *post);
void mc_node_set_info(struct mnode *m, struct minfo *mi);
int mc_decompress_module(struct mc *mc, const char *path, struct strbuf *out);

/* modorder.c: the walk and the order */
void mc_visit(struct mc *mc, int idx, int req, char *why);
/* Each depends= cycle the requests reach, an error naming it. */
void mc_check_cycles(struct mc *mc);
void mc_classify(struct mc *mc);
void mc_order_nodes(struct mc *mc);

/* modfirmware.c: firmware */
const char *mc_fw_dir(const struct mc *mc);
void mc_add_all_firmware(struct mc *mc, struct modclosure *out);

/* modindex.c: the indexes, once the order is known.  mc_indexes_begin
 * starts the largest on another core, mc_add_indexes adds them all (and
 * waits for it). */
struct mc_aliasbin {
	const struct mc *mc;
	struct strbuf out;
	pthread_t t;
	bool threaded;
};
void mc_indexes_begin(struct mc *mc);
void mc_add_indexes(struct mc *mc, struct modclosure *out);

/* modmemo.c: the memo */
char *mc_memo_key(const struct mc *mc);
void mc_memo_save(const struct strbuf *msgs, const struct modclosure *out, struct strbuf *pl);
int mc_memo_load(struct mc *mc, const struct strbuf *pl, struct modclosure *out);
void mc_note_indexes(struct mc *mc);
#endif
