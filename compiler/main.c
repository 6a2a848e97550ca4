/* main.c — `rdc COMMAND ...`: dispatch to the command's file in cli/.
 * Each command's usage is written once, at the top of its file; `rdc
 * --help` prints the one-line summaries of this table, `rdc COMMAND --help`
 * (or `rdc help COMMAND`) that command's usage, both on stdout with exit 0.
 * Exit status: 0 success, 1 bad input or failed build, 2 usage error
 * (`rdc run` adds the guest's status and 121..125, see runner.h). */
#include <stdio.h>
#include <string.h>
#include "lib/diag.h"
#include "cli/cli.h"

static const struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
	const char *summary; /* NULL: not listed (rdc schema is for make schema) */
} commands[] = {
	{ "build", cmd_build, usage_build, "build the image; the format from OUT's suffix" },
	{ "list", cmd_list, usage_list, "print the gen_init_cpio list" },
	{ "check", cmd_check, usage_check, "validate and resolve; write nothing" },
	{ "explain", cmd_explain, usage_explain, "why each path is in the image (which line, which DT_NEEDED...)" },
	{ "run", cmd_run, usage_run, "build, boot in QEMU, exit with the guest's status" },
	{ "test", cmd_test, usage_test, "boot many scenarios in parallel, each judged by its expect:" },
	{ "deps", cmd_deps, usage_deps, "print a binary's shared-library closure" },
	{ "kmods", cmd_kmods, usage_kmods, "print a module closure in load order" },
	{ "ls", cmd_ls, usage_ls, "list any initramfs (rdc's, dracut's, mkinitramfs's) as the kernel reads it" },
	{ "extract", cmd_extract, usage_extract, "unpack any initramfs into a new or empty DIR, never outside it" },
	{ "diff", cmd_diff, usage_diff, "what differs between two images or manifests" },
	{ "import", cmd_import, usage_import, "turn a gen_init_cpio list into a manifest" },
	{ "cache", cmd_cache, usage_cache, "the cache: stats, verify, path, gc" },
	{ "schema", cmd_schema, usage_schema, NULL },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_usage(FILE *out)
{
	fputs("usage: rdc COMMAND [ARGS]\n\n", out);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].summary)
			fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fputs("\n'rdc COMMAND --help' shows a command's arguments.\n"
	      "Exit status: 0 ok, 1 bad input or failed build, 2 usage error.\n"
	      "The cache is $RDC_CACHE_DIR, else $XDG_CACHE_HOME/rdc, else ~/.cache/rdc.\n",
	      out);
}

static bool is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

/* --help or -h among a command's arguments (before a "--" that starts
 * arguments for someone else, as rdc run's for QEMU), each a word of its
 * own.  This is the one place help is answered: no command's parser knows
 * -h, so in a cluster (rdc ls -lh) it is an unknown option, not help. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
		if (is_help(argv[i]))
			return true;
	return false;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stderr);
		return 2;
	}
	if (is_help(argv[1]) || (!strcmp(argv[1], "help") && argc == 2)) {
		print_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("rdc %s\n", RDC_VERSION);
		return 0;
	}
	const struct command *c = find_command(!strcmp(argv[1], "help") ? argv[2] : argv[1]);
	if (c && (!strcmp(argv[1], "help") || wants_help(argc, argv))) {
		fputs(c->usage, stdout);
		return 0;
	}
	if (c)
		return c->fn(argc - 1, argv + 1);
	const char *names[NCOMMANDS];
	for (size_t i = 0; i < NCOMMANDS; i++)
		names[i] = commands[i].name;
	const char *word = !strcmp(argv[1], "help") ? argv[2] : argv[1];
	const char *close = diag_closest(word, names, (int)NCOMMANDS);
	fprintf(stderr, "rdc: unknown command '%s'%s%s%s\n%s", word, close ? " (did you mean '" : "",
		close ? close : "", close ? "'?)" : "", "run 'rdc --help' for the commands\n");
	return 2;
}
