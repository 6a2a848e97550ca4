/* main.c — `rdc COMMAND ...`: dispatch to the command's module.
 * Exit status: 0 success, 1 bad input or failed build, 2 usage error
 * (`rdc run` adds the guest's status and 121..125, see runner.h). */
#include <stdio.h>
#include <string.h>
#include "lib/diag.h"
#include "cli/cli.h"

static const char usage_text[] =
	"usage: rdc COMMAND [ARGS]\n"
	"\n"
	"  build MANIFEST [-o OUT] [--format F] [-z ALGO[:LEVEL]] [--single-segment] [--dir-special]\n"
	"        [-j N] [-v] [-q] [--json]\n"
	"                          build the image (format from OUT's suffix: .cpio .cpio.gz\n"
	"                          .cpio.zst .cpio.xz .cpio.lz4 .c .S .list, a dir/; or F)\n"
	"  list MANIFEST           print the gen_init_cpio list\n"
	"  check MANIFEST          validate and resolve; write nothing\n"
	"  explain [--json] MANIFEST PATH...\n"
	"                          why each path is in the image (which line, which DT_NEEDED...)\n"
	"  run MANIFEST [-o OUT] [-z ALGO[:LEVEL]] [--kernel PATH] [--timeout S] [--dry-run] [--watch] [-v]\n"
	"        [-- QEMU ARGS]\n"
	"                          build, boot in QEMU, exit with the guest's status\n"
	"                          (122 watchdog, 123 panic, 124 no status, 125 timeout)\n"
	"  test [-j N] [--junit FILE] [--tap] [--logs DIR] [--timeout S] [--kernel PATH] MANIFEST...\n"
	"                          boot many scenarios in parallel, each judged by its expect:\n"
	"  deps [--sysroot DIR] [--arch A] [--why] [--library] [--json] BINARY...\n"
	"                          print a binary's shared-library closure\n"
	"  kmods [--kver K] [--moddir DIR | --tree DIR] [--firmware] [--fwdir DIR] [--decompress] [--dest]\n"
	"        [--json] NAME|ALIAS|PATH...\n"
	"                          print a module closure in load order (host paths; --dest: image paths)\n"
	"  ls IMAGE [--long] [--json]\n"
	"                          list any initramfs (rdc's, dracut's, mkinitramfs's) as the kernel reads it\n"
	"  extract IMAGE DIR [--devices] [--setuid]\n"
	"                          unpack any initramfs into a new or empty DIR, never outside it\n"
	"  diff A B [--json]       what differs between two images or manifests (exit 0 same, 1 not, 2 trouble)\n"
	"  import LIST [-o MANIFEST]\n"
	"                          turn a gen_init_cpio list into a manifest\n"
	"  cache stats|verify|path|gc [--max-size N]\n"
	"\n"
	"Exit status: 0 ok, 1 bad input or failed build, 2 usage error.\n"
	"The cache is $RDC_CACHE_DIR, else $XDG_CACHE_HOME/rdc, else ~/.cache/rdc.\n";

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "build", cmd_build }, { "list", cmd_list }, { "check", cmd_check }, { "explain", cmd_explain }, { "run", cmd_run },
	{ "deps", cmd_deps },   { "kmods", cmd_kmods }, { "import", cmd_import }, { "cache", cmd_cache },
	{ "test", cmd_test }, { "ls", cmd_ls }, { "extract", cmd_extract }, { "diff", cmd_diff },
	{ "schema", cmd_schema },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("rdc %s\n", RDC_VERSION);
		return 0;
	}
	const char *names[sizeof(commands) / sizeof(commands[0])];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
		names[i] = commands[i].name;
	}
	const char *close = diag_closest(argv[1], names, (int)(sizeof(names) / sizeof(names[0])));
	fprintf(stderr, "rdc: unknown command '%s'%s%s%s\n%s", argv[1], close ? " (did you mean '" : "",
		close ? close : "", close ? "'?)" : "", "run 'rdc --help' for the commands\n");
	return 2;
}
