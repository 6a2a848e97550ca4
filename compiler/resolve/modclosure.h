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
	struct cas *cas;      /* for the memo; may be NULL */
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
};

struct modclosure_blob {
	char *dest; /* /lib/modules/<kver>/modules.dep ... */
	struct strbuf data;
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
};

/* Turn "host" / "" / "latest" into a release that exists under moddir, or report why not
 * (listing the installed versions as a hint).  Returns NULL on error. */
char *modclosure_kver(const char *moddir, const char *version, const struct loc *loc);
/* The release of a kernel build directory (its include/config/kernel.release),
 * or NULL after reporting at loc that dir is no kernel build tree. */
char *modclosure_tree_kver(const char *dir, const struct loc *loc);
/* The release a module file was built for (its vermagic), or NULL when it
 * does not say or is no module. */
char *modclosure_module_release(const char *path);
/* The names of every module a build tree has (its modules.order). */
void modclosure_tree_names(const char *dir, struct strlist *out);

/* Resolves every request; reports each failure at its request's loc (with a
 * "did you mean") and returns -1 if any failed. */
int modclosure_resolve(const struct modclosure_opts *o, const struct modclosure_req *reqs, size_t n,
		       struct modclosure *out);
void modclosure_free(struct modclosure *c);

/* `rdc kmods [--kver K] [--moddir DIR] [--firmware] [--fwdir DIR] [--decompress] [--dest]
 * NAME|ALIAS|PATH...` prints the load order (host paths; --dest: image paths). */

#endif
