/* modclosure.h — kernel-module closures through libkmod: names and aliases,
 * modules.dep dependencies, softdeps (pre and post), builtins, firmware,
 * compressed modules, out-of-tree modules given by path, and trees where
 * depmod never ran. */
#ifndef RDC_MODCLOSURE_H
#define RDC_MODCLOSURE_H
#include <stdbool.h>
#include <stddef.h>
#include "cache/cas.h"
#include "lib/diag.h"
#include "lib/util.h"

struct modclosure_opts {
	const char *moddir;   /* dir holding <kver>/ (host path); NULL: /lib/modules;
				 with tree, the kernel build directory itself */
	const char *kver;     /* a kernel release (already resolved from "host") */
	bool tree;            /* moddir is a build tree: modules.order names its .ko files,
				 which go to kernel/<path> as modules_install would put them */
	const char *firmware; /* host firmware dir; NULL: /lib/firmware */
	bool decompress;      /* store .ko.xz/.zst/.gz decompressed */
	int jobs;             /* threads reading module files: 0 one per core, 1 this one only */
	struct cas *cas;      /* for the memo; may be NULL */
	bool memo_later;      /* a new memo is left in the result for modclosure_save_memo,
				 which the caller may run beside its own use of the result */
};

/* One request, as the manifest wrote it. */
struct modclosure_req {
	const char *name;   /* name or alias, or NULL */
	const char *path;   /* out-of-tree .ko (host path), or NULL */
	const char *params; /* or NULL */
	struct loc loc;
};

struct modclosure_mod {
	char *name;
	char *src;          /* host path of the module file */
	char *dest;         /* image path: /lib/modules/<kver>/... (".ko" when decompressed) */
	struct strbuf data; /* decompressed content when opts.decompress, else empty */
	char *params;       /* from the request, or NULL */
	char *why;          /* "kmods", "kmods (alias fs-vfat)", "depends= of btrfs", "softdep pre: of ..." */
	int req;            /* the request that brought it in (its manifest line), -1 none */
	bool soft;          /* reached only through softdeps or alias alternatives: may fail */
	int group;          /* >= 0: one of the modules request `group` (an alias) stands for,
			       of which one loading is enough; -1 otherwise */
	int machine;        /* its ELF e_machine (of data when unpacked), read with its .modinfo;
			       0 when unknown (a compressed file libkmod read: the kernel checks) */
	bool stat_known;    /* st is stat(src), taken when the closure read it (not from a memo) */
	struct stat st;
};

struct modclosure_blob {
	char *dest; /* /lib/modules/<kver>/modules.dep ... */
	struct strbuf data;
};

/* What resolving has to say, for the caller to report at its request's line
 * (req -1: at none).  In the order found: errors and notes of this run first,
 * then the warnings and notes a memo keeps and replays. */
enum modclosure_level { MODCLOSURE_ERROR, MODCLOSURE_WARNING, MODCLOSURE_INFO };
struct modclosure_msg {
	enum modclosure_level level;
	int req;
	char *text;
	char *hint; /* or NULL */
};

struct modclosure {
	struct modclosure_mod *mods; /* in load order: dependencies first, stable */
	size_t nmods, amods;
	struct {
		char *src, *dest;
	} *firmware;
	size_t nfirmware, afirmware;
	struct modclosure_blob *indexes; /* modules.dep, modules.alias, modules.softdep,
					    modules.builtin, modules.order for the subset,
					    modules.dep.bin, modules.alias.bin (kmod's modprobe reads only
					    these), modules.builtin{,.alias}.bin */
	size_t nindexes, aindexes;
	struct modclosure_msg *msgs;
	size_t nmsgs, amsgs;
	struct modclosure_memo *memo; /* with opts.memo_later: the memo still to be written, or NULL */
};

/* Why a kernel release could not be chosen: the caller reports it at its line. */
struct modclosure_why {
	struct strbuf text, hint; /* hint empty: none */
};
void modclosure_why_release(struct modclosure_why *w);
/* Turn "host" / "" / "latest" into a release that exists under moddir, or
 * NULL with why not in *why (the installed versions in its hint, which
 * names manifest keys when `manifest`, else the command's options). */
char *modclosure_kver(const char *moddir, const char *version, bool manifest, struct modclosure_why *why);
/* The release of a kernel build directory (its include/config/kernel.release),
 * or NULL with why dir is no kernel build tree in *why. */
char *modclosure_tree_kver(const char *dir, struct modclosure_why *why);
/* The release a module file was built for (its vermagic), or NULL when it
 * does not say or is no module. */
char *modclosure_module_release(const char *path);
/* The names of every module a build tree has (its modules.order). */
void modclosure_tree_names(const char *dir, struct strlist *out);

/* Resolves every request.  Every failure (with a "did you mean"), warning
 * and note is a message in out->msgs, reported by the caller at its
 * request's line; returns -1 exactly when one of them is an error (out then
 * holds the messages only).  modclosure_free(out) in either case. */
int modclosure_resolve(const struct modclosure_opts *o, const struct modclosure_req *reqs, size_t n,
		       struct modclosure *out);
void modclosure_free(struct modclosure *c);
/* Writes (and drops) the memo a resolve with opts.memo_later left, if any.
 * It only reads the rest of c: another thread may read c meanwhile. */
void modclosure_save_memo(struct modclosure *c);

/* `rdc kmods [--kver K] [--moddir DIR] [--firmware] [--fwdir DIR] [--decompress] [--dest]
 * NAME|ALIAS|PATH...` prints the load order (host paths; --dest: image paths). */

#endif
