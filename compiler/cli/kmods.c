/* cli/kmods.c — rdc kmods [--kver K] [--moddir DIR | --tree DIR] [--firmware] [--fwdir DIR]
 *                        [--decompress] [--dest] [-v] NAME|ALIAS|PATH...
 *
 * A module closure in load order, resolved with libkmod as modprobe would. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "build/build.h"
#include "cache/cas.h"
#include "lib/diag.h"
#include "lib/json.h"
#include "lib/util.h"
#include "resolve/modclosure.h"


const char usage_kmods[] =
	"usage: rdc kmods [--kver K] [--moddir DIR | --tree DIR] [--firmware] [--fwdir DIR]\n"
	"                 [--decompress] [--dest] [--json] [-v] NAME|ALIAS|PATH...\n"
	"Prints the module closure in load order, one host path per line (the file\n"
	"that would be copied; what `modprobe --show-depends` insmods).  --dest prints\n"
	"image paths instead; --firmware adds the firmware files after the modules.\n"
	"An argument with a '/' or ending in .ko* is an out-of-tree module file.\n"
	"K defaults to the running kernel; DIR to /lib/modules.  --tree DIR: a kernel\n"
	"build directory (release and modules.order from it, as kernel.tree).  --json prints\n"
	"{\"modules\": [{name, src, dest, why, soft, params}], \"firmware\": [{src, dest}]}.\n";

static void print_json(const struct modclosure *c)
{
	struct json j;
	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_array_begin(&j, "modules");
	for (size_t i = 0; i < c->nmods; i++) {
		const struct modclosure_mod *m = &c->mods[i];
		json_object_begin(&j, NULL);
		json_str(&j, "name", m->name);
		json_str(&j, "src", m->src);
		json_str(&j, "dest", m->dest);
		json_str(&j, "why", m->why);
		json_bool(&j, "soft", m->soft);
		json_str(&j, "params", m->params);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_array_begin(&j, "firmware");
	for (size_t i = 0; i < c->nfirmware; i++) {
		json_object_begin(&j, NULL);
		json_str(&j, "src", c->firmware[i].src);
		json_str(&j, "dest", c->firmware[i].dest);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_done(&j);
}

static bool as_json;

static void print_closure(const struct modclosure *c, bool dest, bool fw)
{
	if (as_json) {
		print_json(c);
		return;
	}
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
	build_report_kmods(&c, reqs, n);
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
					       { "tree", required_argument, NULL, 't' },
					       { "firmware", no_argument, NULL, 'f' },
					       { "fwdir", required_argument, NULL, 'F' },
					       { "decompress", no_argument, NULL, 'd' },
					       { "dest", no_argument, NULL, 'D' },
					       { "json", no_argument, NULL, 'J' },
					       { NULL, 0, NULL, 0 } };
	const char *kver = NULL, *fwdir = NULL, *moddir = NULL, *tree = NULL;
	bool fw = false, decompress = false, dest = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:m:v", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': kver = optarg; break;
		case 'm': moddir = optarg; break;
		case 't': tree = optarg; break;
		case 'f': fw = true; break;
		case 'F': fwdir = optarg; break;
		case 'd': decompress = true; break;
		case 'D': dest = true; break;
		case 'J': as_json = true; break;
		case 'v': diag_verbose = 1; break;
		default: fputs(usage_kmods, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage_kmods, stderr);
		return 2;
	}
	if (tree && (kver || moddir)) { /* the tree names its release and holds its modules */
		fputs("rdc kmods: --tree cannot go with --kver or --moddir\n", stderr);
		return 2;
	}
	struct modclosure_why why = { STRBUF_INIT, STRBUF_INIT };
	char *rel = tree ? modclosure_tree_kver(tree, &why) : modclosure_kver(moddir, kver, false, &why);
	if (!rel)
		diag_error(NULL, why.hint.len ? why.hint.buf : NULL, "%s", why.text.buf);
	modclosure_why_release(&why);
	if (!rel)
		return 1;
	struct cas *cas = cli_cache_or_none();
	struct modclosure_opts o = { .moddir = tree ? tree : moddir, .kver = rel, .tree = tree != NULL,
				     .firmware = fwdir, .decompress = decompress, .cas = cas };
	int rc = kmods_run(&o, argv + optind, argc - optind, dest, fw);
	if (cas)
		cas_close(cas);
	free(rel);
	return rc;
}
