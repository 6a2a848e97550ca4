/* cli/deps.c — rdc deps [--sysroot DIR] [--arch A] [--why] [--library] BINARY...
 *
 * The shared-library closure of each BINARY, one path a line (symlinks as
 * "path -> target"), as ld.so would load it inside the sysroot; --why adds
 * what needed each entry.  Nothing is executed.  --json prints an array of
 * {path, target, why, needed_by} objects instead. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cache/cas.h"
#include "lib/diag.h"
#include "lib/json.h"
#include "resolve/elfdeps.h"


const char usage_deps[] = "usage: rdc deps [--sysroot DIR] [--arch ARCH] [--why] [--library] [--json] BINARY...\n";

static void print_json(const struct elf_closure *c)
{
	struct json j;
	json_init(&j, stdout);
	json_array_begin(&j, NULL);
	for (size_t i = 0; i < c->n; i++) {
		const struct elf_item *it = &c->v[i];
		json_object_begin(&j, NULL);
		json_str(&j, "path", it->path);
		json_str(&j, "target", it->target);
		json_str(&j, "why", it->why);
		json_str(&j, "needed_by", it->needed_by);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_done(&j);
}

int cmd_deps(int argc, char **argv)
{
	static const struct option opts[] = { { "sysroot", required_argument, NULL, 's' },
					       { "arch", required_argument, NULL, 'a' },
					       { "why", no_argument, NULL, 'w' },
					       { "library", no_argument, NULL, 'l' },
					       { "json", no_argument, NULL, 'J' },
					       { NULL, 0, NULL, 0 } };
	const char *sysroot = NULL, *arch = NULL;
	bool why = false, library = false, as_json = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:a:wl", opts, NULL)) != -1) {
		switch (ch) {
		case 's': sysroot = optarg; break;
		case 'a': arch = optarg; break;
		case 'w': why = true; break;
		case 'l': library = true; break;
		case 'J': as_json = true; break;
		default: fputs(usage_deps, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage_deps, stderr);
		return 2;
	}
	struct cas *cas = cli_cache_or_none();
	struct elf_ctx *e = elf_ctx_new(sysroot, arch, cas);
	struct elf_closure c = { 0 };
	int rc = e ? 0 : 1;
	for (int i = optind; e && i < argc; i++) {
		struct strbuf err = STRBUF_INIT;
		/* ./prog on the command line is a host file, as it is to lddtree:
		 * listed at its own absolute path, its libraries from the sysroot */
		bool relative = !library && is_dot_relative(argv[i]);
		char *host = relative ? realpath(argv[i], NULL) : NULL;
		int added;
		if (relative && !host)
			added = (sb_addf(&err, "%s: %s", argv[i], strerror(errno)), -1);
		else if (host)
			added = elf_add_host_binary(e, argv[i], host, &c, &err);
		else
			added = library ? elf_add_library(e, argv[i], &c, &err) : elf_add_binary(e, argv[i], &c, &err);
		free(host);
		for (const char *w = elf_ctx_warnings(e), *nl; *w && (nl = strchr(w, '\n')); w = nl + 1)
			diag_warn(NULL, NULL, "%s: %.*s", argv[i], (int)(nl - w), w);
		if (added < 0) {
			diag_error(NULL, elf_ctx_hint(e), "%s", err.buf);
			rc = 1;
		}
		sb_release(&err);
	}
	if (rc == 0 && as_json)
		print_json(&c);
	for (size_t i = 0; rc == 0 && !as_json && i < c.n; i++) {
		const struct elf_item *it = &c.v[i];
		printf("%s", it->path);
		if (it->target)
			printf(" -> %s", it->target);
		if (why)
			printf("\t(%s%s%s)", it->why, it->needed_by ? " of " : "", it->needed_by ? it->needed_by : "");
		printf("\n");
	}
	elf_closure_free(&c);
	elf_ctx_free(e);
	cas_close(cas);
	return rc;
}
