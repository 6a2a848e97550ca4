/* cli/build.c — rdc build | list | check | explain.
 *
 *   rdc build MANIFEST [-o OUT] [--format cpio|list|c|S|dir] [-z ALGO[:LEVEL]]
 *             [--single-segment] [--dir-special] [-j N] [-v] [-q] [--json]
 *       --dir-special: with -o DIR/, create the image's device nodes and keep
 *       setuid/setgid bits (left out by default: the tree is on the host)
 *   rdc list MANIFEST       the gen_init_cpio list on stdout
 *   rdc check MANIFEST      validate and resolve; write no image
 *   rdc explain MANIFEST PATH...   why each PATH is in the image
 *
 * On a terminal a build ends with one summary line on stderr, and shows a
 * progress line while compressing takes longer than a second; -q silences
 * both, and so does a stderr that is not a terminal.  --json prints the
 * summary as an object on stdout instead (fields in rdc(1)).
 *
 * Options in, one build_manifest() call, an exit status out.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "build/build.h"
#include "emit/emit.h"
#include "lib/diag.h"
#include "lib/json.h"

const char usage_build[] =
	"usage: rdc build MANIFEST [-o OUT] [--format cpio|list|c|S|dir] [-z|--compression ALGO[:LEVEL]]\n"
	"                          [--single-segment] [--dir-special] [-j N] [-v] [-q] [--json]\n"
	"the format comes from OUT's suffix: .cpio .cpio.gz .cpio.zst .cpio.xz .cpio.lz4 .c .S .list, a dir/\n";
const char usage_list[] = "usage: rdc list MANIFEST [-v]\n";
const char usage_check[] = "usage: rdc check MANIFEST [-j N] [-v]\n";
const char usage_explain[] = "usage: rdc explain [--json] MANIFEST PATH...\n";

static const char *usage_of(const char *cmd)
{
	return !strcmp(cmd, "build") ? usage_build : !strcmp(cmd, "list") ? usage_list : usage_check;
}

static int usage(const char *cmd)
{
	fputs(usage_of(cmd), stderr);
	return 2;
}

static bool quiet, json;

/* hello.cpio.zst: 95 entries, 14.9 MB -> 5.7 MB zstd, 6/6 segments cached, 12 ms */
static void print_summary(const struct build_result *r)
{
	char in[32], out[32];
	fprintf(stderr, "%s: %zu entries, %s", r->output, r->entries, size_text(r->content_bytes, in, sizeof(in)));
	if (r->bytes)
		fprintf(stderr, " -> %s %s", size_text(r->bytes, out, sizeof(out)),
			strcmp(r->format, "cpio") ? r->format : r->compression);
	size_t segs = r->segments_built + r->segments_reused;
	if (r->unchanged)
		fputs(", unchanged", stderr);
	else if (segs > 1)
		fprintf(stderr, ", %zu/%zu segments cached", r->segments_reused, segs);
	fprintf(stderr, ", %.0f ms", r->ms);
	if (diag_verbose && !r->unchanged && r->plan_ms > 0)
		fprintf(stderr, " (%.0f ms resolving, %.0f ms writing)", r->plan_ms, r->write_ms);
	fputc('\n', stderr);
}

static void print_json(const struct build_result *r)
{
	struct json j;
	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_str(&j, "output", r->output);
	json_str(&j, "format", r->format);
	json_str(&j, "compression", r->compression);
	json_str(&j, "arch", r->arch);
	json_str(&j, "kernel", r->kver);
	json_u64(&j, "entries", r->entries);
	json_u64(&j, "content_bytes", r->content_bytes);
	json_u64(&j, "bytes", r->bytes);
	json_bool(&j, "unchanged", r->unchanged);
	json_u64(&j, "segments_reused", r->segments_reused);
	json_u64(&j, "segments_built", r->segments_built);
	json_double(&j, "ms", r->ms);
	json_double(&j, "plan_ms", r->plan_ms);
	json_double(&j, "write_ms", r->write_ms);
	json_object_end(&j);
	json_done(&j);
}

/* Shared by build, list and check: options, then exactly one manifest. */
static int parse_build_args(int argc, char **argv, struct build_opts *o, const char **manifest)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' }, { "format", required_argument, NULL, 'f' },
		{ "compression", required_argument, NULL, 'z' },
		{ "single-segment", no_argument, NULL, 's' }, { "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "dir-special", no_argument, NULL, 'D' }, { "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'J' }, { 0, 0, 0, 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f:z:sj:vq", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o->output = optarg; break;
		case 'f':
			o->format = optarg;
			if (!emit_format_known(optarg)) /* a usage error */
				return 2;
			break;
		case 'z':
			o->compression = optarg;
			if (!build_compression_known(optarg)) /* a usage error */
				return 2;
			break;
		case 's': o->single_segment = true; break;
		case 'D': o->dir_special = true; break;
		case 'j': {
			char *end;
			long j = strtol(optarg, &end, 10);
			if (*end || end == optarg || j < 1 || j > 1024) {
				fprintf(stderr, "rdc: -j %s: a number of threads, 1 to 1024\n", optarg);
				return 2;
			}
			o->jobs = (int)j;
			break;
		}
		case 'v': diag_verbose = 1; break;
		case 'q': quiet = true; break;
		case 'J': json = true; break;
		default: return usage(argv[0]);
		}
	}
	if (optind != argc - 1)
		return usage(argv[0]);
	/* "-" is stdout only for a list: any other format would be written to
	 * a file named "-" in the current directory */
	if (o->output && !strcmp(o->output, "-") && !(o->format && !strcmp(o->format, "list"))) {
		fprintf(stderr, "rdc %s: -o - (stdout) takes only --format list; name a file for the image\n", argv[0]);
		return 2;
	}
	*manifest = argv[optind];
	return 0;
}

static int run_build(int argc, char **argv, struct build_opts *o)
{
	const char *path = NULL;
	int rc = parse_build_args(argc, argv, o, &path);
	if (rc)
		return rc;
	if (o->format && !strcmp(o->format, "list") && !o->output)
		o->output = "-";
	if (json && (o->check_only || (o->output && !strcmp(o->output, "-")))) { /* stdout is the list's, or there is no image */
		fprintf(stderr, "rdc %s: --json describes the image a build writes: %s\n", argv[0],
			o->check_only ? "rdc check writes none" : "here stdout is the list's");
		return 2;
	}
	if (cli_wrong_file(path, argv[0]))
		return 1;
	struct manifest *m = manifest_load(path);
	if (!m)
		return 1;
	bool tty = !quiet && !json && isatty(STDERR_FILENO);
	o->progress = tty;
	struct build_result r;
	rc = build_manifest(m, o, &r) < 0 ? 1 : 0;
	bool writes_image = !o->check_only && !(o->output && !strcmp(o->output, "-"));
	if (rc == 0 && json)
		print_json(&r);
	else if (rc == 0 && tty && writes_image)
		print_summary(&r);
	build_result_free(&r);
	manifest_free(m);
	return rc;
}

int cmd_build(int argc, char **argv)
{
	struct build_opts o = { 0 };
	return run_build(argc, argv, &o);
}

int cmd_list(int argc, char **argv)
{
	struct build_opts o = { .format = "list", .output = "-" };
	return run_build(argc, argv, &o);
}

int cmd_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' }, { 0, 0, 0, 0 },
	};
	bool as_json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) { /* anywhere, as every command takes them */
		switch (c) {
		case 'J': as_json = true; break;
		default: fputs(usage_explain, stderr); return 2;
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 3) {
		fputs(usage_explain, stderr);
		return 2;
	}
	struct build_opts o = { .check_only = true, .explain = argv + 2, .nexplain = (size_t)argc - 2, .json = as_json };
	if (cli_wrong_file(argv[1], "explain"))
		return 1;
	struct manifest *m = manifest_load(argv[1]);
	if (!m)
		return 1;
	struct build_result r;
	int rc = build_manifest(m, &o, &r) < 0 ? 1 : 0;
	build_result_free(&r);
	manifest_free(m);
	return rc;
}

int cmd_check(int argc, char **argv)
{
	struct build_opts o = { .check_only = true };
	return run_build(argc, argv, &o);
}
