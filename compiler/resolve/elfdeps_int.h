/* elfdeps_int.h — what the files of the ELF closure share; the public
 * header is resolve/elfdeps.h.  elfread.c reads one ELF file (the fuzz
 * target's unit), ldconf.c is the context (arch, sysroot, ld.so.conf, and
 * what one build has already asked the filesystem), elfdeps.c walks the
 * loader's search into a closure and memoises it. */
#ifndef RDC_ELFDEPS_INT_H
#define RDC_ELFDEPS_INT_H
#include <stdbool.h>
#include <sys/stat.h>
#include "lib/arch.h"
#include "lib/util.h"
#include "resolve/elfdeps.h"

/* ---- a string map: what one build has already asked the filesystem -------
 * Five binaries share most of their closures and every library lookup walks
 * the same directories: without these memos a bench build made ~3,000
 * stat calls for 240 distinct paths and parsed libc five times.  A build
 * takes its sysroot as it is when first looked at (one ctx, one build). */

struct strmap_slot {
	char *k;
	void *v;
};

struct strmap {
	struct strmap_slot *slots;
	size_t n, used;
};

struct elf_ctx {
	char *sysroot; /* "" for the host */
	const struct arch *arch;
	struct cas *cas;
	struct strlist conf_dirs;   /* from /etc/ld.so.conf, in order */
	struct strlist system_dirs; /* the loader's built-in directories */
	struct strbuf conf_deps;    /* memo notes for the ld.so.conf files read */
	char *musl_ldso;            /* the sysroot's musl loader when it has no glibc one, else NULL */
	struct strbuf warnings;     /* of the last elf_add_* call, one per line */
	struct strbuf hint;         /* for the last failure, or empty */
	struct strlist warned;      /* musl path files already warned about */
	struct strmap fs;           /* host path -> struct fs_ent: lstat and readlink, once per build */
	struct strmap infos;        /* host path -> struct info_ent: each ELF file parsed once per build */
	struct strmap notes;        /* host path -> its memo note line, stat()ed once per build */
};

/* ---- elfread.c ---- */

/* Reads `path` (a host path).  Returns 1 for ELF (filled in), 0 for a
 * "#!" script (interp filled in), -1 with a reason otherwise. */
int elf_info_read(const char *path, struct elf_info *in, struct strbuf *err);

/* ---- ldconf.c ---- */

/* What lstat and readlink said of a host path (link NULL when it is no
 * symlink or readlink failed). */
struct fs_ent {
	bool ok;
	mode_t mode;
	char *link;
};

char *ec_host_path(const struct elf_ctx *e, const char *image_path);
/* lstat and readlink of a host path, once per build. */
const struct fs_ent *ec_lstat(struct elf_ctx *e, const char *host);
/* elf_info_read, once per host path and build: *in is the caller's copy. */
int ec_elf_info(struct elf_ctx *e, const char *host, struct elf_info *in, struct strbuf *err);
/* memo_note's line for a host path, once per build. */
const char *ec_note_line(struct elf_ctx *e, const char *host);
const struct arch *ec_host_arch(void);

#endif
