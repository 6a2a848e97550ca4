/* build.h — manifest -> resolve -> plan -> emit, the whole pipeline. */
#ifndef RDC_BUILD_H
#define RDC_BUILD_H
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "manifest/manifest.h"

struct plan;
struct modclosure;
struct modclosure_req;

struct build_opts {
	const char *output;    /* overrides output.path */
	const char *format;    /* overrides output.format */
	const char *compression; /* -z ALGO[:LEVEL]: overrides output.compression */
	bool single_segment;
	bool dir_special;      /* -o DIR/: device nodes and setuid/setgid bits too */
	int jobs;              /* 0: all cores */
	const char *cache_dir; /* NULL: default */
	bool check_only;       /* resolve and validate; write nothing */
	char **explain;        /* with check_only: image paths to explain */
	size_t nexplain;
	bool progress;         /* a live progress line on stderr */
	bool json;             /* explain: print JSON */
	/* With check_only: called with the finished plan, every file hashed
	 * (rdc diff compares the image a manifest would build); its status is
	 * build_manifest's. */
	int (*plan_cb)(const struct plan *p, void *ctx);
	void *plan_ctx;
	bool stage_share;      /* kernel.share: write the host side of the share (rdc run) */
};

struct build_result {
	char *output;  /* the path written (or left untouched) */
	char *kver;    /* the kernel release used, or NULL */
	char *arch;    /* the image's architecture */
	bool unchanged; /* a no-op rebuild left the output as it was */
	/* for the summary line and --json: */
	const char *format, *compression; /* emit's names ("cpio", "zstd") */
	size_t entries;
	uint64_t content_bytes; /* the files' bytes in the image */
	uint64_t bytes;         /* the output file's size (0: stdout, a tree) */
	size_t segments_built, segments_reused;
	double ms;
	double plan_ms, write_ms; /* its two phases: resolving (closures, plan) and writing */
	struct strlist inputs;  /* the host files the image is made of (rdc run --watch) */
	char *share;    /* stage_share: the directory of module indexes to share, or NULL */
};

int build_manifest(struct manifest *m, const struct build_opts *o, struct build_result *r);
/* Where a build of m with o writes its image: -o (relative to the cwd), else
 * output.path (relative to the manifest's directory), else <stem>.cpio.zst in
 * the cwd.  Caller frees. */
char *build_output_path(const struct manifest *m, const struct build_opts *o);
/* The kernel release the manifest asks for ("host" resolved), or NULL when it
 * names none; reports errors at the manifest line. *err set on error. */
char *build_kernel_release(const struct manifest *m, bool *err);
void build_result_free(struct build_result *r);
/* -z/--compression's word: ALGO or ALGO:LEVEL.  False, after saying why,
 * when it is neither (a usage error). */
bool build_compression_known(const char *word);
/* kernel.share: the directory (under the cache) that holds the shared
 * module indexes of m's tree for release kver.  Caller frees. */
char *build_share_dir(const struct manifest *m, const char *cache_dir, const char *kver);
const char *host_arch(void);
/* Is the file at `path` the image rdc wrote for the image key `key` (its
 * output memo names that inode and key)?  The build record asks. */
struct cas;
struct cas_hash;
bool build_output_is(struct cas *cas, const char *path, const struct cas_hash *key);
/* What a module closure had to say, each message at its request's line
 * (reqs[msg.req].loc; none when req is -1). */
void build_report_kmods(const struct modclosure *c, const struct modclosure_req *reqs, size_t n);


#endif
