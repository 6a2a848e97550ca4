/* console.c — one boot: QEMU spawned with the console on a pipe, the
 * console pumped to stdout and scanned a line at a time (the status tags,
 * the kernel's panic line and what led to it, expect:'s regexes), QMP
 * events read beside it, until the guest ends, the deadline passes or a
 * signal comes; then QEMU is stopped and the verdict (verdict.c) given. */
#include "run/runner.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include "init/initgen.h"
#include "lib/diag.h"
#include "lib/util.h"

volatile sig_atomic_t run_signal;
static volatile pid_t run_child;

void run_on_signal(int sig)
{
	run_signal = sig;
	if (run_child > 0)
		kill(run_child, SIGTERM);
}

#define PANIC_CONTEXT 12 /* of which shown with a panic: what led to it */
#define PANIC_LINE "Kernel panic - not syncing: "
#define INIT_EXIT "Attempted to kill init! exitcode=0x"
#define MUX_QUIT "QEMU: Terminated" /* what QEMU's console mux prints on Ctrl-A x */

/* Does the line end in `tag` N?  Junk before the tag is allowed: a kernel
 * message can share the console line. */
static int tag_status(const char *l, size_t n, const char *tag)
{
	size_t d = n;
	while (d && l[d - 1] >= '0' && l[d - 1] <= '9')
		d--;
	size_t t = strlen(tag);
	if (d == n || n - d > 3 || d < t || memcmp(l + d - t, tag, t))
		return -1;
	int v = atoi(l + d);
	return v <= 255 ? v : -1;
}

/* A printk line's "[    4.927249]" timestamp, or -1. */
static double line_ts(const char *l)
{
	if (*l != '[')
		return -1;
	char *end;
	double t = strtod(l + 1, &end);
	return end != l + 1 && *end == ']' ? t : -1;
}

/* The lines before the panic line (which is the newest in the ring) and
 * it; the nonce the kernel lists in init's environment stays out. */
static void take_context(struct scan *s)
{
	size_t n = s->lines < PANIC_CONTEXT ? s->lines : PANIC_CONTEXT;
	sb_reset(&s->before);
	for (size_t i = s->lines - n; i < s->lines; i++)
		if (!strstr(s->tail[i % TAIL_LINES], "RDC_NONCE="))
			sb_addf(&s->before, "    %s\n", s->tail[i % TAIL_LINES]);
}

/* After a panic, panic_print=0x20 makes the kernel print its whole log
 * again: its lines are older than the panic (or start at its banner). */
static bool replay_begins(const struct scan *s, const char *l)
{
	double t = line_ts(l);
	return (t >= 0 && s->panic_ts >= 0 && t < s->panic_ts) || strstr(l, "Linux version ");
}

/* PID 1's exit as the kernel reports it: the wait status (exit code << 8,
 * or the signal) becomes a shell-style status, N or 128+signal. */
static void scan_panic(struct scan *s, const char *l)
{
	const char *p = strstr(l, PANIC_LINE);
	if (!p || s->panic || s->init_exit >= 0)
		return;
	p += strlen(PANIC_LINE);
	s->after_panic = true;
	s->panic_ts = line_ts(l);
	if (!strncmp(p, INIT_EXIT, strlen(INIT_EXIT))) {
		unsigned long ec = strtoul(p + strlen(INIT_EXIT), NULL, 16);
		s->init_exit = ec & 0x7f ? 128 + (int)(ec & 0x7f) : (int)((ec >> 8) & 0xff);
		return;
	}
	s->panic = xstrdup(p);
	take_context(s);
}

static void scan_expect(struct scan *s, const char *l)
{
	for (size_t i = 0; i < s->nwant; i++)
		if (!s->seen[i] && !regexec(&s->want[i], l, 0, NULL, 0))
			s->seen[i] = true;
	for (size_t i = 0; i < s->ndeny; i++)
		if (!s->denied[i] && !regexec(&s->deny[i], l, 0, NULL, 0))
			s->denied[i] = xstrdup(l);
}

static void scan_line(struct scan *s)
{
	char *l = s->line.buf;
	size_t n = s->line.len;
	while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
		n--;
	l[n] = '\0';
	if (s->after_panic && !s->replaying && replay_begins(s, l))
		s->replaying = true;
	free(s->tail[s->lines % TAIL_LINES]);
	s->tail[s->lines++ % TAIL_LINES] = xstrdup(l);
	if (s->replaying) { /* its panic line: the context, quiet's lines included */
		if (s->panic && strstr(l, PANIC_LINE))
			take_context(s);
		return;
	}
	int v = tag_status(l, n, s->tag);
	if (v >= 0)
		s->status = v;
	else if (s->plain_too && (v = tag_status(l, n, INITGEN_EXIT_TAG)) >= 0)
		s->plain = v;
	scan_panic(s, l);
	if (s->interactive && n >= strlen(MUX_QUIT) && !strcmp(l + n - strlen(MUX_QUIT), MUX_QUIT))
		s->escape = true;
	scan_expect(s, l);
}

/* A whole line from the panic on, unless it is the kernel's replay. */
static void echo_line(struct scan *s)
{
	if (!s->replaying) {
		write_all(s->out_fd, s->line.buf, strlen(s->line.buf)); /* a closed stdout does not stop the run */
		write_all(s->out_fd, "\n", 1);
	}
}

/* Scans the console and echoes it: as it comes (a prompt without its
 * newline shows at once), and from the panic line on a line at a time. */
static void scan_bytes(struct scan *s, const char *p, size_t n)
{
	s->bytes += n;
	size_t raw = 0; /* p[raw..] is still to be echoed as it came */
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			bool live = !s->after_panic;
			if (s->line.len)
				scan_line(s);
			if (live && s->after_panic) /* that was the panic line */
				write_all(s->out_fd, p + raw, i + 1 - raw);
			else if (!live && s->line.len)
				echo_line(s);
			if (s->after_panic)
				raw = i + 1;
			sb_reset(&s->line);
			continue;
		}
		/* a line that never ends: keep its tail, where a tag would be */
		if (s->line.len >= 4096) {
			memmove(s->line.buf, s->line.buf + s->line.len - 64, 64);
			s->line.len = 64;
		}
		sb_addch(&s->line, p[i]);
	}
	if (!s->after_panic && raw < n)
		write_all(s->out_fd, p + raw, n - raw);
}

static regex_t *compile_all(char **res, size_t n)
{
	regex_t *v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		if (regcomp(&v[i], res[i], REG_EXTENDED | REG_NOSUB)) /* checked when the manifest was read */
			regcomp(&v[i], "$^", REG_EXTENDED | REG_NOSUB);
	return v;
}

void scan_init(struct scan *s, const struct manifest *m, const char *tag, bool interactive)
{
	memset(s, 0, sizeof(*s));
	s->tag = tag;
	s->plain_too = m->init.exec != NULL || !m->init.present;
	s->interactive = interactive;
	s->status = s->plain = s->init_exit = -1;
	s->panic_ts = -1;
	s->out_fd = STDOUT_FILENO;
	s->nwant = m->expect.nconsole;
	s->ndeny = m->expect.nnot_console;
	s->want = compile_all(m->expect.console, s->nwant);
	s->deny = compile_all(m->expect.not_console, s->ndeny);
	s->seen = xcalloc(s->nwant + 1, sizeof(*s->seen));
	s->denied = xcalloc(s->ndeny + 1, sizeof(*s->denied));
}

void scan_release(struct scan *s)
{
	for (size_t i = 0; i < s->nwant; i++)
		regfree(&s->want[i]);
	for (size_t i = 0; i < s->ndeny; i++) {
		regfree(&s->deny[i]);
		free(s->denied[i]);
	}
	for (size_t i = 0; i < TAIL_LINES; i++)
		free(s->tail[i]);
	free(s->want);
	free(s->deny);
	free(s->seen);
	free(s->denied);
	free(s->panic);
	sb_release(&s->before);
	sb_release(&s->line);
}

/* Something the guest did ends the boot: what follows is only QEMU exiting. */
static bool guest_ended(const struct scan *s, const struct qmp *q)
{
	return (!s->interactive && (s->status >= 0 || s->plain >= 0)) || s->init_exit >= 0 || s->panic || q->watchdog;
}

/* Ask QEMU to stop (it restores the terminal on SIGTERM), then insist. */
static int stop_child(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	for (long long end = monotonic_ms() + RUN_TERM_MS; monotonic_ms() < end;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/* One console read: to the user (or the log), then to the scanner. */
static bool pump_console(int fd, int out_fd, struct scan *s)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	s->out_fd = out_fd;
	scan_bytes(s, buf, (size_t)n);
	return true;
}

static void pump(int fd, struct qmp *q, struct watch *w, pid_t pid, int timeout_s, int out_fd, struct scan *s,
		 struct outcome *out)
{
	long long start = monotonic_ms(), deadline = timeout_s ? start + timeout_s * 1000LL : 0;
	bool eof = false, ended = false;
	int qfd = q->fd;
	while (!out->exited) {
		if (!ended && guest_ended(s, q)) {
			ended = true;
			if (!deadline || monotonic_ms() + RUN_GRACE_MS < deadline)
				deadline = monotonic_ms() + RUN_GRACE_MS;
		}
		long long left = deadline ? deadline - monotonic_ms() : -1;
		if (deadline && left <= 0)
			break;
		if (eof && waitpid(pid, &out->wstatus, WNOHANG) == pid) {
			out->exited = true;
			break;
		}
		struct pollfd p[3] = { { eof ? -1 : fd, POLLIN, 0 }, { qfd, POLLIN, 0 }, { w ? w->fd : -1, POLLIN, 0 } };
		int wait_ms = eof ? 20 : 1000;
		poll(p, 3, left >= 0 && left < wait_ms ? (int)left : wait_ms);
		if (p[1].revents && !qmp_read(q))
			qfd = -1;
		if (p[0].revents && !pump_console(fd, out_fd, s))
			eof = true;
		if (p[2].revents && watch_read(w)) { /* --watch: this guest runs an old image */
			out->changed = true;
			break;
		}
	}
	if (s->line.len) { /* the last line may lack its newline */
		bool live = !s->after_panic;
		scan_line(s);
		if (!live)
			echo_line(s);
	}
	if (!out->exited) {
		out->wstatus = stop_child(pid);
		out->killed = ended;
		out->timed_out = !ended && !run_signal && !out->changed;
	}
	if (qfd >= 0) { /* QEMU is gone: what it sent last is all there */
		fcntl(qfd, F_SETFL, 0);
		qmp_read(q);
	}
	out->ms = monotonic_ms() - start;
}

static pid_t spawn(const struct strlist *av, int keep_fd, int *fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		diag_error(NULL, NULL, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		diag_error(NULL, NULL, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		char **v = xcalloc(av->n + 1, sizeof(*v));
		memcpy(v, av->v, av->n * sizeof(*v));
		dup2(p[1], STDOUT_FILENO);
		if (keep_fd >= 0) /* QEMU's end of the QMP socketpair */
			fcntl(keep_fd, F_SETFD, 0);
		signal(SIGPIPE, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* nor a guest running with nobody reading it */
		execvp(v[0], v);
		fprintf(stderr, "rdc: error: cannot run %s: %s\n", av->v[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

int qemu_boot(const struct manifest *m, const struct strlist *av, struct qmp *q, struct watch *w, int timeout_s,
		struct scan *s, bool powers_off, struct run_report *rep)
{
	struct termios saved;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	int fd;
	struct sigaction sa = { .sa_handler = run_on_signal }, old_int, old_term, old_hup, old_pipe;
	struct sigaction ign = { .sa_handler = SIG_IGN };
	pid_t pid = spawn(av, q->child_fd, &fd);
	if (pid < 0)
		return 1;
	close(q->child_fd);
	q->child_fd = -1;
	run_child = pid;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sigaction(SIGPIPE, &ign, &old_pipe);
	struct outcome out = { 0 };
	pump(fd, q, w, pid, timeout_s, STDOUT_FILENO, s, &out);
	close(fd);
	run_child = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	if (tty) /* QEMU puts the terminal in raw mode; a killed QEMU leaves it so */
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);

	if (out.changed) {
		fprintf(stderr, "\nrdc: %s changed: the guest was stopped\n", w->changed);
		return 0;
	}
	return boot_verdict(m, s, q, &out, av->v[0], timeout_s, powers_off, rep);
}
