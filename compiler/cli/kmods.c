/* cli/kmods.c — rdc kmods [--kver K] [--moddir DIR] [--firmware] [--fwdir DIR]
 *                        [--decompress] [--dest] [-v] NAME|ALIAS|PATH...
 *
 * A module closure in load order, resolved with libkmod as modprobe would. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cache/cas.h"
#include "lib/diag.h"
#include "lib/util.h"
#include "resolve/modclosure.h"


static const char kmods_usage[] =
	"usage: rdc kmods [--kver K] [--moddir DIR] [--firmware] [--fwdir DIR] [--decompress]\n"
	"                 [--dest] [-v] NAME|ALIAS|PATH...\n"
	"Prints the module closure in load order, one host path per line (the file\n"
	"that would be copied; what `modprobe --show-depends` insmods).  --dest prints\n"
	"image paths instead; --firmware adds the firmware files after the modules.\n"
	"An argument with a '/' or ending in .ko* is an out-of-tree module file.\n"
	"K defaults to the running kernel; DIR to /lib/modules.\n";

static void print_closure(const struct modclosure *c, bool dest, bool fw)
{
	for (size_t i = 0; i < c->nmods; i++)
		printf("%s\n", dest ? c->mods[i].dest : c->mods[i].src);
	for (size_t i = 0; fw && i < c->nfirmware; i++)
		printf("%s\n", dest ? c->firmware[i].dest : c->firmware[i].src);
}

static int kmods_run(const struct modclosure_opts *o, char **args, int n, bool dest, bool fw)
{
	struct modclosure_req *reqs = xcalloc(n, sizeof(*reqs));
	for (int i = 0; i < n; i++) {
		bool path = strchr(args[i], '/') || strstr(args[i], ".ko");
		reqs[i] = (struct modclosure_req){ path ? NULL : args[i], path ? args[i] : NULL, NULL, { NULL, 0, 0 } };
	}
	struct modclosure c;
	int rc = modclosure_resolve(o, reqs, n, &c) < 0 ? 1 : 0;
	if (rc == 0)
		print_closure(&c, dest, fw);
	modclosure_free(&c);
	free(reqs);
	return rc;
}

int cmd_kmods(int argc, char **argv)
{
	static const struct option opts[] = { { "kver", required_argument, NULL, 'k' },
					       { "moddir", required_argument, NULL, 'm' },
					       { "firmware", no_argument, NULL, 'f' },
					       { "fwdir", required_argument, NULL, 'F' },
					       { "decompress", no_argument, NULL, 'd' },
					       { "dest", no_argument, NULL, 'D' },
					       { "help", no_argument, NULL, 'h' },
					       { NULL, 0, NULL, 0 } };
	const char *kver = NULL, *fwdir = NULL, *moddir = NULL;
	bool fw = false, decompress = false, dest = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:m:vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': kver = optarg; break;
		case 'm': moddir = optarg; break;
		case 'f': fw = true; break;
		case 'F': fwdir = optarg; break;
		case 'd': decompress = true; break;
		case 'D': dest = true; break;
		case 'v': diag_verbose = 1; break;
		case 'h': fputs(kmods_usage, stdout); return 0;
		default: fputs(kmods_usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(kmods_usage, stderr);
		return 2;
	}
	char *rel = modclosure_kver(moddir, kver, NULL);
	if (!rel)
		return 1;
	struct cas *cas = cas_open(NULL);
	struct modclosure_opts o = { moddir, rel, fwdir, decompress, cas };
	int rc = kmods_run(&o, argv + optind, argc - optind, dest, fw);
	if (cas)
		cas_close(cas);
	free(rel);
	return rc;
}
