/* cli/run.c — rdc run MANIFEST [-o OUT] [-z ALGO[:LEVEL]] [--kernel PATH] [--timeout S] [--dry-run] [--watch] [-v] [-- QEMU ARGS]
 *
 * Builds, boots in QEMU and exits with the guest's status (run/runner.h has
 * the codes).  Everything after "--" goes to QEMU untouched. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/diag.h"
#include "build/build.h"
#include "run/runner.h"

const char usage_run[] =
	"usage: rdc run MANIFEST [-o OUT] [-z ALGO[:LEVEL]] [--kernel PATH] [--timeout S] [--dry-run] [--watch] [-v] [-- QEMU ARGS]\n"
	"exit status: the guest's; 122 watchdog, 123 kernel panic, 124 no status (poweroff), 125 timeout;\n"
	"with expect: in the manifest, 0 when the guest ended as expected (121: not, where it would be 0)\n";

static int run_usage(void)
{
	fputs(usage_run, stderr);
	return 2;
}

static int parse_timeout(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 1000000)
		return -1;
	return (int)v;
}

/* Options come before "--"; everything after it goes to QEMU untouched. */
static int parse_args(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' }, { "timeout", required_argument, NULL, 't' },
		{ "dry-run", no_argument, NULL, 'n' },     { "compression", required_argument, NULL, 'z' },     { "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "watch", no_argument, NULL, 'w' },
		{ 0, 0, 0, 0 },
	};
	int own = 1;
	while (own < argc && strcmp(argv[own], "--"))
		own++;
	if (own < argc) {
		o->extra = argv + own + 1;
		o->nextra = argc - own - 1;
	}
	int c;
	optind = 1;
	while ((c = getopt_long(own, argv, "o:z:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'o':
			o->output = optarg;
			if (!strcmp(optarg, "-")) { /* QEMU reads a file: it would be one named "-" */
				fprintf(stderr, "rdc run: -o names the image file QEMU boots, not -\n");
				return run_usage();
			}
			break;
		case 'z':
			o->compression = optarg;
			if (!build_compression_known(optarg))
				return run_usage();
			break;
		case 'n': o->dry_run = true; break;
		case 'w': o->watch = true; break;
		case 'v': diag_verbose = 1; break;
		case 't':
			o->timeout = parse_timeout(optarg);
			if (o->timeout < 0) {
				fprintf(stderr, "rdc run: --timeout takes whole seconds (0: none), not '%s'\n", optarg);
				return run_usage();
			}
			break;
		default: return run_usage();
		}
	}
	if (optind != own - 1) {
		if (optind >= own)
			fprintf(stderr, "rdc run: which manifest?\n");
		return run_usage();
	}
	o->manifest = argv[optind];
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = { .timeout = -1 };
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	if (cli_wrong_file(o.manifest, "run"))
		return 1;
	if (o.watch && !o.dry_run)
		return run_watch(&o);
	struct manifest *m = manifest_load(o.manifest);
	if (!m)
		return 1;
	rc = run_manifest(m, &o);
	manifest_free(m);
	return rc;
}
