/* runner.h — `rdc run`: build, boot in QEMU, exit with the guest's status;
 * `rdc test`: many scenarios at once, each judged by its manifest's expect:. */
#ifndef RDC_RUNNER_H
#define RDC_RUNNER_H

/* Exit statuses of `rdc run` besides the guest's own 0..255 (a status the
 * guest reports wins; the message on stderr tells the two apart): */
#define RUN_EXIT_UNEXPECTED 121 /* expect: not met, and the guest's own code would have been 0 */
#define RUN_EXIT_WATCHDOG   122 /* QEMU reported the guest's watchdog firing (QMP WATCHDOG) */
#define RUN_EXIT_PANIC      123 /* the kernel panicked (other than by init exiting) */
#define RUN_EXIT_NO_STATUS  124 /* the guest powered off, rebooted or halted without a status */
#define RUN_EXIT_TIMEOUT    125 /* --timeout expired; QEMU was killed */
#define RUN_EXIT_ESCAPE     130 /* the console's escape (Ctrl-A x) ended the guest */

#include <stdbool.h>
#include "lib/util.h"
#include "manifest/manifest.h"

/* What one boot came to, for `rdc test`'s report. */
struct run_report {
	const char *outcome; /* "status", "watchdog", "panic", "poweroff", "timeout", "escape",
				"interrupted", "error" (build or QEMU trouble) */
	int status;          /* the guest's, or -1 */
	int code;            /* what `rdc run` exits with */
	bool as_expected;
	char *reason;        /* what differed or went wrong, one line; NULL when as expected */
	long long ms;        /* boot time */
};

struct run_opts {
	const char *manifest, *kernel, *output;
	const char *compression; /* -z ALGO[:LEVEL], or NULL */
	int timeout; /* -1: not given */
	bool dry_run;
	char **extra; /* after "--" */
	int nextra;
	struct run_report *report; /* filled when not NULL */
	bool watch;        /* --watch: rebuild and reboot when an input changes */
	struct watch *watcher; /* inside run/: set up after the build, polled while booting */
};

/* Builds m (incrementally), boots it and returns the exit status described
 * above; prints what it does and why it failed. */
int run_manifest(struct manifest *m, const struct run_opts *o);
/* --watch: loads o->manifest, runs it, and again whenever an input of the
 * image changes, until a signal; returns 128+signal. */
int run_watch(const struct run_opts *o);

/* `rdc test`: runs each manifest as `rdc run` would, in parallel; the
 * exit status is 0 all as expected, 1 any not, 2 usage or build trouble. */
struct suite_opts {
	int jobs;            /* 0: the cores, bounded by memory */
	const char *junit;   /* JUnit XML file, or NULL */
	const char *logs;    /* directory for one console log per scenario, or NULL */
	bool tap;            /* TAP on stdout instead of the table */
	int timeout;         /* -1: each manifest's own */
	const char *kernel;  /* --kernel for all, or NULL */
	char **manifests;
	int nmanifests;
};
int suite_run(const struct suite_opts *o);

/* ---- inside run/ ---------------------------------------------------------- */

/* QEMU's QMP monitor on a socketpair (qmp.c): how the guest ended, in
 * QEMU's own words. */
struct qmp {
	int fd, child_fd;        /* ours; QEMU's (passed as -chardev socket,fd=N) */
	struct strbuf line;
	bool negotiated;
	bool watchdog;           /* a WATCHDOG event came */
	char *watchdog_action;   /* its action: poweroff, reset, pause, none ... */
	char *shutdown;          /* the first SHUTDOWN event's reason (guest-shutdown, guest-reset ...) */
};
int qmp_open(struct qmp *q);
bool qmp_read(struct qmp *q); /* false once QEMU closed it */
void qmp_close(struct qmp *q);

/* inotify on the directories of the build's inputs (watch.c). */
struct watch {
	int fd;
	struct strlist files, dirs; /* files sorted; dirs[i] is watched as wds[i] */
	int *wds;
	char *changed;              /* the input an event named */
	bool started;
};
int watch_start(struct watch *w, const struct strlist *inputs);
bool watch_read(struct watch *w); /* true when an event named an input */
void watch_stop(struct watch *w);

#endif
