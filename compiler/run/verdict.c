/* verdict.c — how a boot ended (the signed status tag, PID 1's exit, a
 * plain tag, QEMU's watchdog event, a panic, the deadline, the console's
 * escape, a poweroff without a status), what `rdc run` exits with for it
 * (runner.h), and whether it is what the manifest's expect: asks for. */
#include "run/runner.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "lib/diag.h"
#include "lib/util.h"

enum end_kind { END_STATUS, END_WATCHDOG, END_PANIC, END_POWEROFF, END_TIMEOUT, END_ESCAPE, END_INTERRUPTED, END_ERROR };

/* One row per way a boot ends: its name (expect.outcome's words), the exit
 * status it gives, and how an expectation of it reads. */
static const struct end_info {
	const char *name;
	int code; /* -1: the guest's status */
	const char *wanted;
} ends[] = {
	[END_STATUS] = { "status", -1, "status" },
	[END_WATCHDOG] = { "watchdog", RUN_EXIT_WATCHDOG, "the watchdog to fire" },
	[END_PANIC] = { "panic", RUN_EXIT_PANIC, "a kernel panic" },
	[END_POWEROFF] = { "poweroff", RUN_EXIT_NO_STATUS, "a poweroff without a status" },
	[END_TIMEOUT] = { "timeout", RUN_EXIT_TIMEOUT, "the guest to be running still at the timeout" },
	[END_ESCAPE] = { "escape", RUN_EXIT_ESCAPE, "" },
	[END_INTERRUPTED] = { "interrupted", 130, "" },
	[END_ERROR] = { "error", 1, "" },
};

struct ending {
	enum end_kind kind;
	int status;     /* END_STATUS: the guest's */
	char *what;     /* one line: how it ended */
};

/* What ended the boot, in order of authority: the signed tag, PID 1's own
 * exit, a plain tag, QEMU's watchdog event, the kernel's panic line, the
 * deadline, the console's escape; a QEMU that exited by itself with none of
 * these saw the guest power off, reboot or halt. */
static void classify(const struct scan *s, const struct qmp *q, const struct outcome *out, const char *qemu,
		     int timeout_s, struct ending *e)
{
	double secs = out->ms / 1000.0;
	e->status = -1;
	if (run_signal) {
		e->kind = END_INTERRUPTED;
		e->what = xasprintf("interrupted by signal %d; QEMU was stopped", (int)run_signal);
	} else if (s->status >= 0 || s->init_exit >= 0 || s->plain >= 0) {
		e->kind = END_STATUS;
		e->status = s->status >= 0 ? s->status : s->init_exit >= 0 ? s->init_exit : s->plain;
		e->what = xasprintf("%s %d after %.1f s", s->status >= 0 ? "the guest reported status"
						  : s->init_exit >= 0 ? "/init exited with status" : "the guest printed status",
				    e->status, secs);
	} else if (q->watchdog) {
		e->kind = END_WATCHDOG;
		e->what = xasprintf("the guest's watchdog fired after %.1f s (QEMU's action: %s)", secs,
				    q->watchdog_action ? q->watchdog_action : "?");
	} else if (s->panic) {
		e->kind = END_PANIC;
		e->what = xasprintf("the kernel panicked after %.1f s: %s", secs, s->panic);
	} else if (out->timed_out) {
		e->kind = END_TIMEOUT;
		e->what = xasprintf("the guest was still running at the timeout (%d s); QEMU was killed", timeout_s);
	} else if (s->escape) {
		e->kind = END_ESCAPE;
		e->what = xasprintf("the console's escape (Ctrl-A x) ended the guest after %.1f s", secs);
	} else if (!WIFEXITED(out->wstatus) || WEXITSTATUS(out->wstatus)) {
		e->kind = END_ERROR;
		e->what = WIFEXITED(out->wstatus) ? xasprintf("%s failed (exit status %d)", qemu, WEXITSTATUS(out->wstatus))
						  : xasprintf("%s was killed by signal %d", qemu, WTERMSIG(out->wstatus));
	} else {
		const char *r = q->shutdown ? q->shutdown : "";
		e->kind = END_POWEROFF;
		e->what = xasprintf("the guest %s without reporting a status after %.1f s",
				    !strcmp(r, "guest-reset") ? "rebooted" : !strcmp(r, "guest-shutdown") ? "powered off"
									    : "ended", secs);
	}
}

static int end_code(const struct ending *e)
{
	return e->kind == END_STATUS ? e->status : e->kind == END_INTERRUPTED ? 128 + run_signal : ends[e->kind].code;
}

static enum end_kind find_end(const char *name)
{
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		if (!strcmp(ends[i].name, name))
			return (enum end_kind)i;
	return END_STATUS;
}

/* expect: against what happened; each difference one line in `why`. */
static bool met(const struct mf_expect *x, const struct ending *e, const struct scan *s, struct strbuf *why)
{
	if (x->outcome && strcmp(x->outcome, ends[e->kind].name))
		sb_addf(why, "expected %s, but %s\n", ends[find_end(x->outcome)].wanted, e->what);
	else if (!x->outcome) {
		int want = x->status >= 0 ? x->status : 0;
		if (e->kind != END_STATUS || e->status != want)
			sb_addf(why, "expected status %d, but %s\n", want, e->what);
	}
	for (size_t i = 0; i < s->nwant; i++)
		if (!s->seen[i])
			sb_addf(why, "no console line matched expect.console '%s'\n", x->console[i]);
	for (size_t i = 0; i < s->ndeny; i++)
		if (s->denied[i])
			sb_addf(why, "a console line matched expect.not_console '%s': %s\n", x->not_console[i], s->denied[i]);
	return why->len == 0;
}

static void print_tail(const struct scan *s)
{
	fprintf(stderr, "rdc: the kernel's last lines before the panic:\n%s", sb_str(&s->before));
}

/* What the user is told about an ending nobody declared in expect:. */
static void explain_end(const struct ending *e, const struct scan *s, int timeout_s)
{
	switch (e->kind) {
	case END_STATUS:
		if (s->status < 0 && s->init_exit >= 0) /* the kernel's "Attempted to kill init" reads like a crash */
			fprintf(stderr, "rdc: %s (the kernel's 'Attempted to kill init' is how a boot ends when PID 1 exits)\n", e->what);
		else
			diag_info("%s", e->what);
		return;
	case END_TIMEOUT:
		diag_error(NULL, "raise --timeout (or qemu.timeout in the manifest); 0 means no limit",
			   "no status from the guest within %d s; QEMU was killed", timeout_s);
		return;
	case END_PANIC:
		diag_error(NULL, NULL, "%s", e->what);
		print_tail(s);
		return;
	case END_POWEROFF:
		diag_error(NULL,
			   !s->bytes /* not even the kernel's first lines: it never got going */
				   ? "the guest printed nothing, so the kernel did not start: too little memory for "
				     "the kernel and this image (qemu.memory), or a kernel that is not for this machine"
				   : "a status comes from /init exiting (its exit code), or from a line 'rdc-exit: N' "
				     "printed before the poweroff (the generated /init prints one)",
			   "%s", e->what);
		return;
	case END_WATCHDOG:
	case END_ESCAPE:
		fprintf(stderr, "rdc: %s\n", e->what);
		return;
	case END_INTERRUPTED:
	case END_ERROR:
		diag_error(NULL, NULL, "%s", e->what);
		return;
	}
}

/* The exit status of the boot: the ending's own, or under expect: 0 when it
 * was as expected, else the ending's (121 where that would be 0). */
static int judge(const struct manifest *m, const struct ending *e, const struct scan *s, int timeout_s,
		 struct run_report *rep)
{
	int code = end_code(e);
	struct strbuf why = STRBUF_INIT;
	bool ok = code == 0;
	if (!m->expect.present || e->kind == END_INTERRUPTED || e->kind == END_ERROR) {
		explain_end(e, s, timeout_s);
		if (!ok && m->expect.present) /* interrupted, or QEMU trouble */
			sb_adds(&why, e->what);
		else if (!ok) /* no expect: is expect: {status: 0} */
			sb_addf(&why, "expected status 0, but %s", e->what);
	} else if ((ok = met(&m->expect, e, s, &why))) {
		fprintf(stderr, "rdc: as expected: %s\n", e->what);
		code = 0;
	} else {
		for (char *l = why.buf, *nl; (nl = strchr(l, '\n')); l = nl + 1)
			fprintf(stderr, "rdc: error: not as expected: %.*s\n", (int)(nl - l), l);
		if (e->kind == END_PANIC)
			print_tail(s);
		if (!code)
			code = RUN_EXIT_UNEXPECTED;
		while (why.len && why.buf[why.len - 1] == '\n')
			why.buf[--why.len] = '\0';
	}
	if (rep) {
		rep->outcome = ends[e->kind].name;
		rep->status = e->status;
		rep->code = code;
		rep->as_expected = ok;
		rep->reason = ok ? NULL : xstrdup(sb_str(&why));
	}
	sb_release(&why);
	return code;
}

/* How the boot ended and what rdc run exits with; told to the user. */
int boot_verdict(const struct manifest *m, const struct scan *s, const struct qmp *q, const struct outcome *out,
		 const char *qemu, int timeout_s, bool powers_off, struct run_report *rep)
{
	struct ending e;
	classify(s, q, out, qemu, timeout_s, &e);
	if (e.kind == END_STATUS && out->killed && powers_off && s->status >= 0)
		diag_warn(NULL, "something in the guest kept running after /init reported; the status is /init's own",
			  "QEMU had not stopped %d s after the guest reported status %d; rdc stopped it",
			  RUN_GRACE_MS / 1000, e.status);
	int code = judge(m, &e, s, timeout_s, rep);
	if (rep)
		rep->ms = out->ms;
	free(e.what);
	return code;
}
