/* runner.h — `rdc run`: build, boot in QEMU, exit with the guest's status. */
#ifndef RDC_RUNNER_H
#define RDC_RUNNER_H

/* Exit statuses of `rdc run` besides the guest's own 0..125: */
#define RUN_EXIT_NO_STATUS 124 /* the guest ended without reporting (panic, watchdog, poweroff) */
#define RUN_EXIT_TIMEOUT   125 /* --timeout expired; QEMU was killed */

#include <stdbool.h>
#include "manifest/manifest.h"

struct run_opts {
	const char *manifest, *kernel, *output;
	const char *compression; /* -z ALGO[:LEVEL], or NULL */
	int timeout; /* -1: not given */
	bool dry_run;
	char **extra; /* after "--" */
	int nextra;
};

/* Builds m (incrementally), boots it and returns the exit status described
 * above; prints what it does and why it failed. */
int run_manifest(struct manifest *m, const struct run_opts *o);

#endif
