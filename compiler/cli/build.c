/* cli/build.c — rdc build | list | check | explain.
 *
 *   rdc build MANIFEST [-o OUT] [--format cpio|list|c|S|dir] [-z ALGO[:LEVEL]]
 *             [--single-segment] [--dir-special] [-j N] [-v]
 *       --dir-special: with -o DIR/, create the image's device nodes and keep
 *       setuid/setgid bits (left out by default: the tree is on the host)
 *   rdc list MANIFEST       the gen_init_cpio list on stdout
 *   rdc check MANIFEST      validate and resolve; write no image
 *   rdc explain MANIFEST PATH...   why each PATH is in the image
 *
 * Options in, one build_manifest() call, an exit status out.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "build/build.h"
#include "emit/emit.h"
#include "lib/diag.h"

static int usage(const char *cmd)
{
	fprintf(stderr, "usage: rdc %s MANIFEST%s\n", cmd,
		strcmp(cmd, "build") ? "" : " [-o OUT] [--format cpio|list|c|S|dir] [-z|--compression ALGO[:LEVEL]] [--single-segment] [--dir-special] [-j N] [-v]");
	return 2;
}

/* Shared by build, list and check: options, then exactly one manifest. */
static int parse_build_args(int argc, char **argv, struct build_opts *o, const char **manifest)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' }, { "format", required_argument, NULL, 'f' },
		{ "compression", required_argument, NULL, 'z' },
		{ "single-segment", no_argument, NULL, 's' }, { "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ "dir-special", no_argument, NULL, 'D' }, { 0, 0, 0, 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f:z:sj:vh", longopts, NULL)) != -1) {
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
		default: return usage(argv[0]);
		}
	}
	if (optind != argc - 1)
		return usage(argv[0]);
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
	struct manifest *m = manifest_load(path);
	if (!m)
		return 1;
	struct build_result r;
	rc = build_manifest(m, o, &r) < 0 ? 1 : 0;
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
	if (argc < 3 || argv[1][0] == '-') {
		fputs("usage: rdc explain MANIFEST PATH...\n", stderr);
		return 2;
	}
	struct build_opts o = { .check_only = true, .explain = argv + 2, .nexplain = (size_t)argc - 2 };
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
