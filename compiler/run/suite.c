/* suite.c — `rdc test`: many scenario manifests, built and booted in
 * parallel, each judged by its expect: as `rdc run` judges it.
 *
 * Each scenario runs in a child process of its own (its own process group,
 * so ^C reaches only rdc, which then stops every group it started: the
 * child and its QEMU), with stdout and stderr — the console and rdc's
 * messages — in its log.  The child sends its run_report back on a pipe as
 * one tab-separated line.  At most `jobs` run at once (default: the cores),
 * and no more than MemAvailable holds by their qemu.memory.  Then: a live
 * line per scenario on a terminal, a summary table (or TAP), JUnit XML. */
#include "run/runner.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "build/build.h"
#include "lib/diag.h"

#define GUEST_OVERHEAD_MB 96  /* QEMU itself and the build, besides the guest's RAM */
#define TAIL_BYTES 4096       /* of the log, with a failure in JUnit */
#define STOP_MS 5000          /* after SIGTERM: time a scenario gets before SIGKILL */

enum scen_state { S_WAITING, S_RUNNING, S_DONE };

struct scen {
	const char *path;
	char *name, *log;
	char *output;        /* -o for it, when its default image name is another scenario's; or NULL */
	struct manifest *m;  /* NULL: it did not load */
	long mem_mb;
	enum scen_state state;
	pid_t pid;
	int rfd;
	struct strbuf said;  /* the child's report line */
	long long start, ms;
	/* the verdict */
	char *outcome, *reason;
	int status, code;
	bool ok, trouble;    /* as expected; build or QEMU trouble (exit 2) */
	bool announced;
};

static volatile sig_atomic_t suite_signal;
static void on_suite_signal(int sig) { suite_signal = sig; }

/* qemu.memory in MiB (the manifest reader checked its form); QEMU's default unit is M. */
static long memory_mb(const struct manifest *m)
{
	const char *s = m && m->qemu.memory ? m->qemu.memory : "256M";
	char *end;
	double v = strtod(s, &end);
	switch (*end) {
	case 'k': case 'K': return (long)(v / 1024) + 1;
	case 'g': case 'G': return (long)(v * 1024);
	case 't': case 'T': return (long)(v * 1024 * 1024);
	default: return (long)v;
	}
}

static long mem_available_mb(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb < 0 ? -1 : kb / 1024;
}

static char *stem(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strlen(b);
	if (n > 5 && !strcmp(b + n - 5, ".yaml"))
		n -= 5;
	else if (n > 4 && !strcmp(b + n - 4, ".yml"))
		n -= 4;
	return xasprintf("%.*s", (int)n, b);
}

/* ---- one scenario, in its child ------------------------------------------ */

/* One field of the child's report: tabs end fields, so they become blanks;
 * the reasons run_manifest gives one per line become "a; b". */
static void report_field(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\n')
			sb_adds(sb, s[1] ? "; " : "");
		else
			sb_addch(sb, *s == '\t' ? ' ' : *s);
	}
	sb_addch(sb, '\t');
}

static _Noreturn void child(struct scen *s, const struct suite_opts *o, int wfd)
{
	setpgid(0, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	int log = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int null = open("/dev/null", O_RDONLY);
	if (log < 0 || null < 0)
		_exit(2);
	dup2(null, STDIN_FILENO);
	dup2(log, STDOUT_FILENO);
	dup2(log, STDERR_FILENO);
	struct run_report rep = { .status = -1 };
	struct run_opts ro = { .manifest = s->path, .kernel = o->kernel, .output = s->output, .timeout = o->timeout,
			       .report = &rep };
	int code = run_manifest(s->m, &ro);
	fflush(stdout);
	fflush(stderr);
	struct strbuf sb = STRBUF_INIT;
	report_field(&sb, rep.outcome ? rep.outcome : "error");
	sb_addf(&sb, "%d\t%d\t%d\t%lld\t", rep.status, code, rep.outcome ? rep.as_expected : 0, rep.ms);
	report_field(&sb, rep.reason);
	sb_addch(&sb, '\n');
	write_all(wfd, sb.buf, sb.len);
	_exit(code > 255 ? 255 : code);
}

static bool start(struct scen *s, const struct suite_opts *o)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return false;
	}
	if (pid == 0) {
		close(p[0]);
		child(s, o, p[1]);
	}
	setpgid(pid, pid); /* also here: a ^C right after fork must not reach it */
	close(p[1]);
	s->pid = pid;
	s->rfd = p[0];
	s->state = S_RUNNING;
	s->start = monotonic_ms();
	return true;
}

/* The first line of the log that says "error:", for a report that has no reason. */
static char *log_error(const char *log)
{
	struct strbuf sb = STRBUF_INIT;
	char *r = NULL;
	if (read_file(log, &sb) == 0)
		for (char *l = sb.buf, *nl; !r && l && *l; l = nl ? nl + 1 : NULL) {
			nl = strchr(l, '\n');
			if (nl)
				*nl = '\0';
			if (strstr(l, "error:"))
				r = xstrdup(strncmp(l, "rdc: error: ", 12) ? l : l + 12);
		}
	sb_release(&sb);
	return r ? r : xstrdup("rdc run failed before the guest ended (see the log)");
}

/* outcome status code as_expected ms reason */
static void finish(struct scen *s, int wstatus)
{
	char *f[6] = { NULL };
	char *p = s->said.buf;
	for (int i = 0; i < 6 && p; i++) {
		f[i] = p;
		p = strchr(p, '\t');
		if (p)
			*p++ = '\0';
	}
	s->state = S_DONE;
	s->ms = monotonic_ms() - s->start;
	if (!f[5]) { /* the child died without a word */
		s->outcome = xstrdup("error");
		s->reason = WIFSIGNALED(wstatus) ? xasprintf("rdc was killed by signal %d", WTERMSIG(wstatus))
						  : log_error(s->log);
		s->code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 1;
		s->trouble = true;
		return;
	}
	s->outcome = xstrdup(f[0]);
	s->status = atoi(f[1]);
	s->code = atoi(f[2]);
	s->ok = atoi(f[3]) && s->code == 0;
	s->trouble = !strcmp(f[0], "error");
	s->reason = *f[5] ? xstrdup(f[5]) : s->trouble ? log_error(s->log) : NULL;
}

/* ---- the live lines ------------------------------------------------------- */

static const char *verdict(const struct scen *s)
{
	return s->state == S_WAITING ? "waiting" : s->state == S_RUNNING ? "running" : s->ok ? "ok" : s->trouble ? "ERROR" : "FAIL";
}

/* The last line its console printed so far, printable and short: what a
 * running scenario is at. */
static bool last_line(const char *log, char *out, size_t size)
{
	char buf[512];
	int fd = open(log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
	ssize_t n = pread(fd, buf, sizeof(buf), from);
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	if (n <= 0)
		return false;
	ssize_t b = n;
	while (b > 0 && buf[b - 1] != '\n')
		b--;
	size_t k = 0;
	for (ssize_t i = b; i < n && k + 1 < size; i++)
		if ((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f)
			out[k++] = buf[i];
	out[k] = '\0';
	return k > 0;
}

static void live_line(const struct scen *s, int width, FILE *out)
{
	long long ms = s->state == S_RUNNING ? monotonic_ms() - s->start : s->ms;
	fprintf(out, "%s%-*s  %-7s", out == stderr && isatty(STDERR_FILENO) ? "\r\033[K  " : " ", width, s->name, verdict(s));
	if (s->state != S_WAITING)
		fprintf(out, " %5.1f s", ms / 1000.0);
	if (s->state == S_DONE)
		fprintf(out, "  %s%s%s", s->outcome, s->reason ? ": " : "", s->reason ? s->reason : "");
	char last[61];
	if (s->state == S_RUNNING && last_line(s->log, last, sizeof(last)))
		fprintf(out, "  | %s", last);
	fputc('\n', out);
}

static int done_count(const struct scen *v, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += v[i].state == S_DONE;
	return k;
}

/* Without a terminal: one line on stderr as each scenario ends. */
static void announce(struct scen *v, int n, int width)
{
	for (int i = 0; i < n; i++)
		if (v[i].state == S_DONE && !v[i].announced) {
			v[i].announced = true;
			fputs("rdc test:", stderr);
			live_line(&v[i], width, stderr);
		}
}

static void redraw(struct scen *v, int n, int width, bool first)
{
	if (!first)
		fprintf(stderr, "\033[%dA", n);
	for (int i = 0; i < n; i++)
		live_line(&v[i], width, stderr);
	fflush(stderr);
}

/* ---- the reports ----------------------------------------------------------- */

static void summary(const struct scen *v, int n, int width, long long ms)
{
	int ok = 0, fail = 0, err = 0;
	printf("%-*s  %-6s %-11s %6s %8s  %s\n", width, "scenario", "result", "outcome", "status", "time", "why");
	for (int i = 0; i < n; i++) {
		const struct scen *s = &v[i];
		ok += s->ok;
		fail += !s->ok && !s->trouble;
		err += s->trouble;
		char st[16] = "-";
		if (s->status >= 0)
			snprintf(st, sizeof(st), "%d", s->status);
		printf("%-*s  %-6s %-11s %6s %6.1f s  %s\n", width, s->name, verdict(s), s->outcome ? s->outcome : "-", st,
		       s->ms / 1000.0, s->reason ? s->reason : "");
	}
	printf("%d passed, %d failed", ok, fail + err);
	if (err)
		printf(" (%d could not run)", err);
	printf(" in %.1f s\n", ms / 1000.0);
}

static void tap(const struct scen *v, int n)
{
	printf("1..%d\n", n);
	for (int i = 0; i < n; i++) {
		printf("%s %d - %s (%s, %.1f s)\n", v[i].ok ? "ok" : "not ok", i + 1, v[i].name,
		       v[i].outcome ? v[i].outcome : "-", v[i].ms / 1000.0);
		if (v[i].reason)
			printf("# %s\n", v[i].reason);
	}
}

/* XML 1.0 text: markup escaped, control characters (ANSI escapes from a
 * guest) and bytes that are not UTF-8 replaced, so any console is a valid
 * document. */
static void xml_text(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		bool good = len && (size_t)(end - p) >= len && (len == 1 || c >= 0xc2);
		for (size_t i = 1; good && i < len; i++)
			good = (p[i] & 0xc0) == 0x80;
		if (!good || (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
			fputc(c == '\r' ? ' ' : '?', f);
			p += good ? len : 1;
			continue;
		}
		if (c == '<' || c == '>' || c == '&' || c == '"' || c == '\'')
			fputs(c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : c == '"' ? "&quot;" : "&apos;", f);
		else
			fwrite(p, 1, len, f);
		p += len;
	}
}

static void xml_str(FILE *f, const char *s)
{
	xml_text(f, s, strlen(s));
}

/* The last TAIL_BYTES of a log, from a line start. */
static void log_tail(FILE *f, const char *log)
{
	struct strbuf sb = STRBUF_INIT;
	if (read_file(log, &sb) == 0) {
		size_t from = sb.len > TAIL_BYTES ? sb.len - TAIL_BYTES : 0;
		while (from && from < sb.len && sb.buf[from - 1] != '\n')
			from++;
		xml_text(f, sb.buf + from, sb.len - from);
	}
	sb_release(&sb);
}

static int write_junit(const char *path, const struct scen *v, int n, long long ms)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f) {
		diag_error(NULL, NULL, "cannot write %s: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	int fail = 0, err = 0;
	for (int i = 0; i < n; i++) {
		fail += !v[i].ok && !v[i].trouble;
		err += v[i].trouble;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<testsuites name=\"rdc test\" tests=\"%d\" failures=\"%d\" errors=\"%d\" time=\"%.3f\">\n", n, fail, err,
		ms / 1000.0);
	fprintf(f, "  <testsuite name=\"rdc test\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"0\" time=\"%.3f\">\n", n,
		fail, err, ms / 1000.0);
	for (int i = 0; i < n; i++) {
		const struct scen *s = &v[i];
		fputs("    <testcase classname=\"rdc\" name=\"", f);
		xml_str(f, s->name);
		fputs("\" file=\"", f);
		xml_str(f, s->path);
		fprintf(f, "\" time=\"%.3f\">", s->ms / 1000.0);
		if (!s->ok) {
			fprintf(f, "\n      <%s type=\"%s\" message=\"", s->trouble ? "error" : "failure", s->outcome ? s->outcome : "error");
			xml_str(f, s->reason ? s->reason : "not as expected");
			fputs("\">", f);
			xml_str(f, s->reason ? s->reason : "");
			fputs("\n-- the end of the console and rdc's messages --\n", f);
			log_tail(f, s->log);
			fprintf(f, "</%s>\n    ", s->trouble ? "error" : "failure");
		}
		fputs("</testcase>\n", f);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
	bool bad = ferror(f) | (fclose(f) != 0);
	if (bad || rename(tmp, path) < 0) {
		diag_error(NULL, NULL, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

/* ---- the loop --------------------------------------------------------------- */

/* Stop every scenario still running: its whole process group (rdc's child
 * and its QEMU), politely, then not. */
static void stop_all(struct scen *v, int n)
{
	for (int i = 0; i < n; i++)
		if (v[i].state == S_RUNNING)
			kill(-v[i].pid, SIGTERM);
	long long end = monotonic_ms() + STOP_MS;
	for (int i = 0; i < n; i++) {
		if (v[i].state != S_RUNNING)
			continue;
		int st;
		while (waitpid(v[i].pid, &st, WNOHANG) == 0 && monotonic_ms() < end)
			usleep(20000);
		kill(-v[i].pid, SIGKILL); /* whatever is left of the group */
		waitpid(v[i].pid, &st, 0);
		close(v[i].rfd);
		v[i].state = S_DONE;
		v[i].ms = monotonic_ms() - v[i].start;
		v[i].outcome = xstrdup("interrupted");
		v[i].reason = xstrdup("stopped by rdc test");
		v[i].trouble = true;
	}
}

static int running_mem(const struct scen *v, int n, int *count)
{
	long mb = 0;
	*count = 0;
	for (int i = 0; i < n; i++)
		if (v[i].state == S_RUNNING) {
			mb += v[i].mem_mb + GUEST_OVERHEAD_MB;
			(*count)++;
		}
	return (int)mb;
}

/* Start what the job and memory limits allow (always one, whatever memory says). */
static void start_more(struct scen *v, int n, const struct suite_opts *o, int jobs, long budget_mb)
{
	for (int i = 0; i < n; i++) {
		if (v[i].state != S_WAITING)
			continue;
		int count;
		long used = running_mem(v, n, &count);
		if (count >= jobs || (count && budget_mb > 0 && used + v[i].mem_mb + GUEST_OVERHEAD_MB > budget_mb))
			return;
		if (!start(&v[i], o)) {
			v[i].state = S_DONE;
			v[i].outcome = xstrdup("error");
			v[i].reason = xasprintf("cannot start: %s", strerror(errno));
			v[i].trouble = true;
		}
	}
}

/* Reads what the running children said; reaps those that are done. */
static void collect(struct scen *v, int n, int timeout_ms)
{
	if (n <= 0) /* no array of 0 (and gcc's object-size check, under -fsanitize=thread, wants it said) */
		return;
	struct pollfd p[n];
	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){ v[i].state == S_RUNNING ? v[i].rfd : -1, POLLIN, 0 };
	poll(p, (nfds_t)n, timeout_ms);
	for (int i = 0; i < n; i++) {
		if (v[i].state != S_RUNNING || !p[i].revents)
			continue;
		char buf[4096];
		ssize_t r = read(v[i].rfd, buf, sizeof(buf));
		if (r > 0) {
			sb_add(&v[i].said, buf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		int st = 0;
		while (waitpid(v[i].pid, &st, 0) < 0 && errno == EINTR)
			;
		close(v[i].rfd);
		finish(&v[i], st);
	}
}

/* Two boot.yaml in two directories would build the same ./boot.cpio.zst
 * at once: the second is named for its scenario (boot-2.cpio.zst). */
static void own_output(struct scen *v, int i)
{
	struct build_opts none = { 0 };
	char *mine = build_output_path(v[i].m, &none);
	for (int j = 0; j < i && !v[i].m->output.path; j++) {
		char *theirs = v[j].m ? v[j].output ? xstrdup(v[j].output) : build_output_path(v[j].m, &none) : NULL;
		if (theirs && !strcmp(theirs, mine))
			v[i].output = xasprintf("%s%s", v[i].name, mine + strcspn(mine, "."));
		free(theirs);
	}
	free(mine);
}

static void load_all(struct scen *v, const struct suite_opts *o, const char *logdir)
{
	for (int i = 0; i < o->nmanifests; i++) {
		struct scen *s = &v[i];
		s->path = o->manifests[i];
		s->name = stem(s->path);
		s->status = -1;
		for (int j = 0, k = 2; j < i; j++) /* two a.yaml in two directories: a, a-2 */
			if (!strcmp(v[j].name, s->name)) {
				char *base = stem(s->path);
				free(s->name);
				s->name = xasprintf("%s-%d", base, k++);
				free(base);
				j = -1;
			}
		s->log = xasprintf("%s/%s.log", logdir, s->name);
		s->m = manifest_load(s->path);
		s->mem_mb = memory_mb(s->m);
		if (s->m)
			own_output(v, i);
		if (!s->m) {
			s->state = S_DONE;
			s->outcome = xstrdup("error");
			s->reason = xstrdup("the manifest has errors (above)");
			s->trouble = true;
		}
	}
}

static int exit_code(const struct scen *v, int n)
{
	int rc = 0;
	for (int i = 0; i < n; i++)
		if (v[i].trouble)
			rc = 2;
		else if (!v[i].ok && !rc)
			rc = 1;
	return rc;
}

static char *log_dir(const struct suite_opts *o, bool *temp)
{
	*temp = !o->logs;
	if (o->logs) {
		if (mkdir(o->logs, 0755) < 0 && errno != EEXIST) {
			diag_error(NULL, NULL, "cannot make the log directory %s: %s", o->logs, strerror(errno));
			return NULL;
		}
		return xstrdup(o->logs);
	}
	const char *t = getenv("TMPDIR");
	char *d = xasprintf("%s/rdc-test.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(d)) {
		diag_error(NULL, NULL, "cannot make a temporary directory: %s", strerror(errno));
		free(d);
		return NULL;
	}
	return d;
}

static void remove_logs(char *dir, struct scen *v, int n)
{
	for (int i = 0; i < n; i++)
		unlink(v[i].log);
	rmdir(dir);
}

/* When memory, not -j, bounds how many guests run at once, say so: a
 * suite that runs one at a time should not look like a hang. */
static void say_memory_bound(const struct scen *v, int n, int jobs, long avail)
{
	long biggest = 0;
	for (int i = 0; i < n; i++)
		if (v[i].m && v[i].mem_mb > biggest)
			biggest = v[i].mem_mb;
	long budget = avail * 9 / 10, fit = budget / (biggest + GUEST_OVERHEAD_MB);
	if (!(avail > 0 && biggest && fit < jobs && fit < n))
		return;
	if (fit)
		fprintf(stderr, "rdc test: %ld guest%s at a time, not %d: %ld MiB of memory available holds %ld of %ld MiB "
			"(qemu.memory, and QEMU's own)\n", fit, fit == 1 ? "" : "s", jobs, avail, fit, biggest);
	else
		fprintf(stderr, "rdc test: one guest at a time, not %d: %ld MiB of memory available does not hold even "
			"one of %ld MiB (qemu.memory, and QEMU's own)\n", jobs, avail, biggest);
}

/* Starts, watches and reaps the scenarios until all are done or a signal
 * came; the live lines or one line per ending on stderr. */
static void run_all(struct scen *v, int n, const struct suite_opts *o, int jobs, long avail, int width, bool live)
{
	long long drawn = 0;
	if (live)
		redraw(v, n, width, true);
	for (;;) {
		if (suite_signal) {
			stop_all(v, n);
			break;
		}
		start_more(v, n, o, jobs, avail > 0 ? avail * 9 / 10 : 0);
		if (done_count(v, n) == n)
			break;
		int before = done_count(v, n);
		collect(v, n, 250);
		bool changed = done_count(v, n) != before;
		if (live && (changed || monotonic_ms() - drawn >= 1000)) {
			redraw(v, n, width, false);
			drawn = monotonic_ms();
		} else if (!live && changed) {
			announce(v, n, width);
		}
	}
	if (live)
		redraw(v, n, width, false);
	else
		announce(v, n, width);
}

static void free_all(struct scen *v, int n)
{
	for (int i = 0; i < n; i++) {
		if (v[i].m)
			manifest_free(v[i].m);
		free(v[i].name);
		free(v[i].log);
		free(v[i].output);
		free(v[i].outcome);
		free(v[i].reason);
		sb_release(&v[i].said);
	}
	free(v);
}

int suite_run(const struct suite_opts *o)
{
	int n = o->nmanifests;
	bool temp;
	char *logdir = log_dir(o, &temp);
	if (!logdir)
		return 2;
	struct scen *v = xcalloc((size_t)n, sizeof(*v));
	load_all(v, o, logdir);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int jobs = o->jobs > 0 ? o->jobs : cores > 0 ? (int)cores : 1;
	long avail = mem_available_mb();
	say_memory_bound(v, n, jobs, avail);
	int width = 8;
	for (int i = 0; i < n; i++)
		if ((int)strlen(v[i].name) > width)
			width = (int)strlen(v[i].name);
	bool live = isatty(STDERR_FILENO) && !o->tap;
	struct sigaction sa = { .sa_handler = on_suite_signal }, old_int, old_term, old_hup;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	long long t0 = monotonic_ms();
	run_all(v, n, o, jobs, avail, width, live);
	long long ms = monotonic_ms() - t0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (o->tap)
		tap(v, n);
	else
		summary(v, n, width, ms);
	int rc = exit_code(v, n);
	if (o->junit && write_junit(o->junit, v, n, ms) < 0)
		rc = 2;
	if (suite_signal) {
		fprintf(stderr, "rdc test: interrupted (signal %d); every guest it started was stopped\n", (int)suite_signal);
		rc = 128 + suite_signal;
	}
	if (!temp)
		fprintf(stderr, "rdc test: the consoles are in %s/NAME.log\n", logdir);
	else
		remove_logs(logdir, v, n);
	free_all(v, n);
	free(logdir);
	return rc;
}
