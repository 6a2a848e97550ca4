/* manifest.h — the YAML manifest, read with libyaml into typed structures.
 * Every value keeps the file:line:col it came from so later stages can point
 * at it.  includes are merged: lists concatenate (included first), scalars
 * set by the including manifest win. */
#ifndef RDC_MANIFEST_H
#define RDC_MANIFEST_H
#include <stdbool.h>
#include <stddef.h>
#include "lib/diag.h"
#include "lib/util.h"

#define MODE_UNSET (-1)

struct mf_binary {
	char *path; /* as written: absolute inside the sysroot, or a name to find in PATH */
	char *src;  /* or: a program built on the host (absolute host path); needs dest.
		       Its libraries still come from the sysroot. */
	char *dest; /* image path, or NULL to keep the binary's own path */
	struct loc loc;
};

struct mf_library {
	char *name; /* soname (libnss_files.so.2) or absolute path inside the sysroot */
	struct loc loc;
};

struct mf_kmod {
	char *name;   /* module name or alias; NULL when path is set */
	char *path;   /* out-of-tree .ko, absolute host path (made absolute from the manifest dir) */
	char *params; /* "heartbeat=2", or NULL */
	struct loc loc;
};

struct mf_node {
	char *path;
	char type; /* 'c', 'b', 'p' (pipe), 's' (socket) */
	unsigned major, minor;
	unsigned mode; /* permission bits; default 0600 for c/b, 0644 for p/s */
	unsigned uid, gid;
	struct loc loc;
};

struct mf_dir {
	char *path;
	unsigned mode; /* default 0755 */
	unsigned uid, gid;
	struct loc loc;
};

struct mf_symlink {
	char *path, *target;
	unsigned uid, gid;
	struct loc loc;
};

struct mf_file {
	char *src;     /* absolute host path; NULL for inline content */
	char *dest;    /* image path */
	char *content; /* inline content, or NULL */
	size_t content_len;
	int mode;      /* MODE_UNSET: keep the source's mode (0644 for content) */
	unsigned uid, gid;
	bool tree;     /* src ended in "/": copy the whole tree under dest */
	struct loc loc;
};

struct mf_step {
	char *run; /* a shell command, run as its own `sh -c` */
	struct loc loc;
};

struct mf_init {
	bool present;       /* an init: section exists (else no /init is made) */
	char *exec;         /* init: {exec: PATH} hands PID 1 to PATH */
	char **mounts;      /* names of manifest_mounts[] */
	size_t nmounts;
	bool load_modules;  /* modules: load */
	char **env;         /* "KEY=VALUE" */
	size_t nenv;
	char *hostname;
	struct mf_step *steps;
	size_t nsteps;
	char *on_exit;      /* poweroff (default) | reboot | halt | shell */
	struct loc loc;
};

struct mf_output {
	char *path;      /* absolute, from the manifest dir; NULL: <manifest-stem>.cpio.zst in the cwd */
	char *format;    /* cpio | list | c | S | dir; NULL: from the suffix */
	char *algo;      /* none | gzip | zstd | xz | lz4; NULL: from the suffix */
	int level;       /* -1: the compressor's default */
	bool single_segment;
	struct loc loc, level_loc;
};

struct mf_qemu {
	char *memory;    /* "512M"; NULL: 256M */
	char **args;
	size_t nargs;
	char *kernel;    /* a kernel image path (absolute); NULL: /boot/vmlinuz-<kver> */
	char *append;    /* extra kernel command line */
	int smp;         /* 0: 1 */
	int timeout;     /* seconds; 0: none; -1 (unset): the default */
	struct loc loc;
};

/* expect: how the guest must end for `rdc run` to exit 0 (run/runner.h) */
struct mf_expect {
	bool present;
	int status;          /* -1: not given (0 unless outcome is) */
	char *outcome;       /* watchdog | panic | poweroff | timeout; NULL: a status */
	char **console;      /* POSIX extended regexes a console line must match, as written */
	size_t nconsole;
	char **not_console;  /* ... that no console line may match */
	size_t nnot_console;
	struct loc loc;
};

struct manifest {
	char *path; /* as given */
	char *dir;  /* absolute directory of the top manifest */
	int version;
	char *arch;    /* x86_64, aarch64, riscv64 ...; NULL: the host's */
	char *sysroot; /* absolute; NULL: "/" */
	struct loc arch_loc, sysroot_loc;
	struct {
		char *version;  /* "host", a kernel release, already ${VAR}-expanded; NULL: none given */
		char *modules;  /* dir holding <version>/; NULL: /lib/modules (inside sysroot) */
		char *firmware; /* NULL: /lib/firmware (inside sysroot) */
		bool decompress; /* unpack .ko.xz/.zst/.gz for kernels without module decompression */
		char *tree;     /* a kernel build directory (absolute): release, modules, image; NULL: none */
		char *share;    /* "9p": modules are not packed but shared at boot; NULL: packed */
		struct loc loc, tree_loc, share_loc;
	} kernel;
	long long epoch; /* -1: unset */

	struct mf_binary *binaries;   size_t nbinaries;
	struct mf_library *libraries; size_t nlibraries;
	struct mf_kmod *kmods;        size_t nkmods;
	struct mf_node *nodes;        size_t nnodes;
	struct mf_dir *dirs;          size_t ndirs;
	struct mf_symlink *symlinks;  size_t nsymlinks;
	struct mf_file *files;        size_t nfiles;
	struct mf_init init;
	struct mf_output output;
	struct mf_qemu qemu;
	struct mf_expect expect;
	struct strlist file_names; /* the interned names every loc.file points at */
};

/* Read, include and validate.  On bad input prints diagnostics and returns
 * NULL. */
struct manifest *manifest_load(const char *path);
/* The same from a buffer; `name` is the file name shown in diagnostics and
 * `dir` the directory relative paths resolve against (used by the fuzzer). */
struct manifest *manifest_load_buffer(const char *name, const char *dir,
				      const char *data, size_t len);
void manifest_free(struct manifest *m);

/* The outcomes expect.outcome names (watchdog, panic, poweroff, timeout). */
extern const char *const manifest_outcomes[];
/* The JSON Schema of a manifest and the README's key reference (a markdown
 * table), both written from the key table in manifest.c. */
void manifest_schema(struct strbuf *out);
void manifest_reference(struct strbuf *out);
/* rdc-manifest(5): the same reference as a man page. */
void manifest_man(struct strbuf *out);

/* The mounts init.mounts may name, in the order /init mounts them: a mount
 * point inside another filesystem comes after that filesystem.  The reader
 * checks names against it and initgen writes the mounts from it (mounts.c). */
struct mf_mount {
	const char *name, *type, *dir, *opts;
};
extern const struct mf_mount manifest_mounts[];
extern const size_t manifest_nmounts;
const char *const *manifest_mount_names(void); /* NULL-terminated */

#endif
