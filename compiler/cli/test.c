/* cli/test.c — rdc test [-j N] [--junit FILE] [--tap] [--logs DIR] [--timeout S]
 *                      [--kernel PATH] [-v] MANIFEST...
 *
 * Builds and boots every scenario in parallel, each judged by its expect:
 * (run/suite.c).  Exit status: 0 every scenario ended as expected, 1 any
 * did not, 2 usage or build trouble; 128+N when signal N stopped it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "lib/diag.h"
#include "lib/util.h"
#include "run/runner.h"

const char usage_test[] =
	"usage: rdc test [-j N] [--junit FILE] [--tap] [--logs DIR] [--timeout S] [--kernel PATH] [-v] MANIFEST...\n"
	"exit status: 0 every scenario ended as its expect: says, 1 any did not, 2 usage or build trouble\n";

static int test_usage(void)
{
	fputs(usage_test, stderr);
	return 2;
}

static int number(const char *s, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno || end == s || *end || v < 0 || v > max ? -1 : (int)v;
}

/* Where the report and the logs go is checked before the first boot: a
 * suite of slow boots should not end in "cannot write" (exit 2). */
static bool places_ok(const struct suite_opts *o)
{
	struct stat st;
	if (o->junit) {
		char *dir = path_dirname(o->junit);
		bool dir_ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
		free(dir);
		if (!dir_ok || (stat(o->junit, &st) == 0 && S_ISDIR(st.st_mode))) {
			fprintf(stderr, "rdc test: --junit %s: %s\n", o->junit,
				dir_ok ? "is a directory; name the report file" : "its directory does not exist");
			return false;
		}
	}
	if (o->logs && stat(o->logs, &st) == 0 && !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "rdc test: --logs %s: exists and is not a directory\n", o->logs);
		return false;
	}
	return true;
}

int cmd_test(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "jobs", required_argument, NULL, 'j' },   { "junit", required_argument, NULL, 'J' },
		{ "tap", no_argument, NULL, 'T' },          { "logs", required_argument, NULL, 'L' },
		{ "timeout", required_argument, NULL, 't' }, { "kernel", required_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ 0, 0, 0, 0 },
	};
	struct suite_opts o = { .timeout = -1 };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "j:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if ((o.jobs = number(optarg, 1024)) < 1) {
				fprintf(stderr, "rdc test: -j takes a number of scenarios at once (1 or more), not '%s'\n", optarg);
				return test_usage();
			}
			break;
		case 'J': o.junit = optarg; break;
		case 'T': o.tap = true; break;
		case 'L': o.logs = optarg; break;
		case 'k': o.kernel = optarg; break;
		case 'v': diag_verbose = 1; break;
		case 't':
			if ((o.timeout = number(optarg, 1000000)) < 0) {
				fprintf(stderr, "rdc test: --timeout takes whole seconds (0: none), not '%s'\n", optarg);
				return test_usage();
			}
			break;
		default: return test_usage();
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "rdc test: which manifests?\n");
		return test_usage();
	}
	o.manifests = argv + optind;
	o.nmanifests = argc - optind;
	if (!places_ok(&o))
		return 2;
	return suite_run(&o);
}
