/* elfdeps.h — shared-library closures read from ELF with libelf, the way
 * ld.so would find them, without executing anything.
 *
 * Paths are image paths: absolute, as seen inside the sysroot ("/usr/lib/
 * x86_64-linux-gnu/libc.so.6"); the host file is <sysroot><path>.
 *
 * Invariant: no item's path passes through a directory that is itself a
 * symlink item.  Symlinked directory components (usrmerge /lib -> usr/lib,
 * /lib64 -> usr/lib64) come out as symlink items of their own and the files
 * behind them under their real directory, so the image holds the same
 * layout as the sysroot. */
#ifndef RDC_ELFDEPS_H
#define RDC_ELFDEPS_H
#include <stdbool.h>
#include <stddef.h>
#include "cache/cas.h"
#include "lib/util.h"

struct elf_item {
	char *path;      /* image path */
	char *target;    /* symlink target exactly as in the sysroot; NULL for a regular file */
	char *needed_by; /* image path of the object that needed it; NULL for a root */
	char *why;       /* "root", "PT_INTERP", "DT_NEEDED libz.so.1", "#! interpreter", ".note.dlopen", "symlink" */
	char *src;       /* host file when it is not <sysroot><path> (a program built on the host), else NULL */
};

struct elf_closure {
	struct elf_item *v;
	size_t n, alloc;
};

struct elf_ctx;

/* sysroot NULL means "/".  arch NULL means the host's (x86_64 here); else
 * x86_64, aarch64, riscv64, i386, arm ... .  cas may be NULL (no memo). */
struct elf_ctx *elf_ctx_new(const char *sysroot, const char *arch, struct cas *cas);
/* The ELF machine (EM_*) of an arch name, 0 when unknown; and back (NULL). */
int elf_arch_machine(const char *arch);
const char *elf_machine_arch(int machine);
/* e_machine read from an ELF file's first n bytes, 0 when they are no ELF. */
int elf_head_machine(const unsigned char *head, size_t n);
void elf_ctx_free(struct elf_ctx *e);

/* Add a binary (absolute path inside the sysroot, or a name looked up in
 * PATH inside the sysroot) and everything it needs.  Items already in `out`
 * are not added twice.  On failure returns -1 with a one-line reason in
 * *err (no location: the caller knows the manifest line), e.g.
 * "libfoo.so.1 needed by /usr/bin/x not found (searched: /lib/..., ...)". */
int elf_add_binary(struct elf_ctx *e, const char *name, struct elf_closure *out, struct strbuf *err);
/* A program built on the host (host path `src`) that will live at `dest` in
 * the image; its interpreter and libraries come from the sysroot, its
 * $ORIGIN is dest's directory. */
int elf_add_host_binary(struct elf_ctx *e, const char *src, const char *dest, struct elf_closure *out,
			struct strbuf *err);
/* A dlopen()ed library by soname or absolute path, with its closure. */
int elf_add_library(struct elf_ctx *e, const char *name, struct elf_closure *out, struct strbuf *err);
/* After an elf_add_* call: its warnings, one per line ("" for none), e.g. a
 * musl path file naming a directory the sysroot lacks; and a hint for its
 * failure, or NULL.  The caller reports both at the manifest line. */
const char *elf_ctx_warnings(const struct elf_ctx *e);
const char *elf_ctx_hint(const struct elf_ctx *e);
/* The image path the last elf_add_binary root resolved to (for `dest:`). */
const char *elf_closure_root(const struct elf_closure *c, size_t first_index);
void elf_closure_free(struct elf_closure *c);

/* What one ELF file says about its loading (exposed for the fuzzer). */
struct elf_info {
	int cls, machine, type;
	char *interp;  /* PT_INTERP, or the "#!" line of a script */
	char *rpath, *runpath, *soname;
	bool has_runpath;
	struct strlist needed;          /* DT_NEEDED, in order */
	struct strlist dlopen;          /* .note.dlopen sonames (recommended) */
	struct strlist dlopen_required; /* .note.dlopen sonames (required) */
};
typedef struct Elf Elf;
/* Parse an ELF handle opened with libelf; -1 with a reason in *err. */
int elf_info_from_elf(Elf *elf, struct elf_info *in, struct strbuf *err);
void elf_info_free(struct elf_info *in);

/* `rdc deps [--sysroot DIR] [--arch A] [--why] BINARY...` */

/* ./x and ../x name files here; usr/bin/x is a path in the sysroot. */
bool is_dot_relative(const char *name);

#endif
