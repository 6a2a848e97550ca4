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

#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
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

/* One boot's console (console.c), a line at a time: the status tags, the
 * kernel's panic line (printed even under `quiet`: panic() raises the
 * console loglevel), the expect: regexes, and the last lines for the
 * report; verdict.c reads what it found. */
#define TAIL_LINES 16 /* console lines kept for the report */
struct scan {
	struct strbuf line;
	const char *tag;     /* "rdc-exit[NONCE]: ", which only the generated /init knows */
	bool plain_too;      /* also "rdc-exit: " (init.exec programs print that) */
	bool interactive;    /* on_exit: shell: a status does not end the boot */
	int status;          /* from the signed tag, -1 until seen; the last one wins */
	int plain;           /* from a plain tag, -1 */
	int init_exit;       /* from the kernel's "Attempted to kill init! exitcode=", -1 */
	char *panic;         /* the reason of the first other panic */
	struct strbuf before; /* the kernel's lines up to and with that panic line */
	double panic_ts;     /* its printk timestamp, or -1 */
	bool after_panic;    /* from the panic line on, the console is echoed a line at a time */
	bool replaying;      /* the kernel's replay of its log (panic_print): scanned for the context, not echoed */
	int out_fd;          /* where the console goes */
	bool escape;         /* QEMU's console mux said it ended the guest (Ctrl-A x) */
	uint64_t bytes;      /* console output seen */
	char *tail[TAIL_LINES];
	size_t lines;
	regex_t *want, *deny; /* expect.console, expect.not_console */
	bool *seen;
	char **denied;       /* the first line each deny regex matched */
	size_t nwant, ndeny;
};

/* How QEMU's run ended, as console.c saw it. */
struct outcome {
	bool exited;     /* QEMU exited by itself */
	bool timed_out;  /* the deadline passed with the guest still going */
	bool killed;     /* stopped by rdc after the guest ended (QEMU did not exit) */
	bool changed;    /* --watch: stopped because an input changed */
	int wstatus;     /* QEMU's wait status */
	long long ms;
};

#define RUN_GRACE_MS 5000 /* after the tag: time QEMU gets to power off */
#define RUN_TERM_MS 2000  /* after SIGTERM: time QEMU gets before SIGKILL */
extern volatile sig_atomic_t run_signal; /* the signal that stops rdc run, or 0 (console.c) */
void run_on_signal(int sig);              /* its handler: records it and stops QEMU */
void scan_init(struct scan *s, const struct manifest *m, const char *tag, bool interactive);
void scan_release(struct scan *s);
/* Boots the command av (QEMU; q holds the QMP socket's child end) until
 * the guest ends, the deadline passes, a signal comes or (w) an input
 * changes; returns rdc run's exit status, from boot_verdict. */
int qemu_boot(const struct manifest *m, const struct strlist *av, struct qmp *q, struct watch *w, int timeout_s,
	      struct scan *s, bool powers_off, struct run_report *rep);
/* How the boot ended (verdict.c): told to the user, judged against
 * expect:, written to rep; returns the exit status. */
int boot_verdict(const struct manifest *m, const struct scan *s, const struct qmp *q, const struct outcome *out,
		 const char *qemu, int timeout_s, bool powers_off, struct run_report *rep);

/* The kernel to boot (kernel.c), absolute; NULL after an error at the
 * manifest's line.  foreign: the image's arch is not the host's. */
struct arch;
char *kernel_pick(const struct manifest *m, const struct run_opts *o, const struct arch *a, bool foreign);
/* Whether KVM works here for a (kvm.c); probe false: only a remembered answer. */
bool kvm_works(const struct arch *a, bool probe);

/* The QEMU command line (qemu.c). */
char *qemu_path(const char *prog); /* as execlp finds it (caller frees), or NULL */
bool qemu_in_path(const char *prog);
void qemu_argv(const struct manifest *m, const struct run_opts *o, const struct arch *a, bool kvm, bool interactive,
	       const char *kernel, const char *image, const char *nonce, int qmp_fd, const char *share,
	       struct strlist *av);
void shell_word(struct strbuf *sb, const char *s); /* one word as sh reads it */
char *qemu_command_line(const struct strlist *av);  /* av as shell words (caller frees) */
/* p from the cwd (runner.c); "-" and absolute paths as they are. */
char *run_absolute(const char *p);

#endif
