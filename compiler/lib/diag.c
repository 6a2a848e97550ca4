/* diag.c — file:line:col diagnostics with the offending line and a caret. */
#include "lib/diag.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lib/util.h"

int diag_verbose;
static _Atomic int error_count; /* files are hashed on several threads */
static struct strbuf *captured; /* diag_capture(); guarded by out_begin() */

/* The last file an error was shown in, with where each line starts: a
 * manifest with thousands of errors is read once, not once per error (that
 * was quadratic).  Used under out_begin(), so one thread at a time. */
static struct {
	char *file;
	struct strbuf text;
	size_t *starts, nlines;
} shown;

/* Lines are shown from manifests only: `include: /etc/shadow` run as root
 * must not print the file's lines.  A manifest is named *.yaml or *.yml, or
 * is readable by anyone anyway. */
static bool showable(const char *file)
{
	size_t n = strlen(file);
	struct stat st;
	if ((n > 5 && !strcmp(file + n - 5, ".yaml")) || (n > 4 && !strcmp(file + n - 4, ".yml")))
		return true;
	return stat(file, &st) == 0 && (st.st_mode & S_IROTH);
}

static bool load_shown(const char *file)
{
	if (shown.file && !strcmp(shown.file, file))
		return true;
	if (!showable(file))
		return false;
	free(shown.file);
	free(shown.starts);
	sb_release(&shown.text);
	shown.file = xstrdup(file);
	shown.starts = NULL;
	shown.nlines = 0;
	if (read_file_max(file, &shown.text, 64u << 20) < 0)
		return false;
	size_t alloc = 0;
	for (size_t i = 0; i <= shown.text.len; i++)
		if (i == 0 || shown.text.buf[i - 1] == '\n') {
			GROW(shown.starts, shown.nlines + 1, alloc);
			shown.starts[shown.nlines++] = i;
		}
	return true;
}

/* Print line `line` of `file` with a caret under column `col`, at most
 * SHOW_MAX bytes of it around the caret, control characters as '?' (a
 * manifest line must not drive the terminal). */
#define SHOW_MAX 160
static void show_line(struct strbuf *out, const char *file, int line, int col)
{
	if (!load_shown(file) || line < 1 || (size_t)line > shown.nlines)
		return;
	const char *b = sb_str(&shown.text) + shown.starts[line - 1];
	size_t n = strcspn(b, "\n");
	while (n > 0 && b[n - 1] == '\r')
		n--;
	size_t from = col - 1 > SHOW_MAX / 2 ? (size_t)col - 1 - SHOW_MAX / 2 : 0;
	if (from > n)
		from = n;
	size_t len = n - from < SHOW_MAX ? n - from : SHOW_MAX;
	sb_addf(out, "%5d | %s", line, from ? "..." : "");
	for (size_t i = from; i < from + len; i++) {
		unsigned char c = (unsigned char)b[i];
		sb_addch(out, c == '\t' || (c >= 0x20 && c != 0x7f) ? (char)c : '?');
	}
	sb_addf(out, "%s\n      | %s", from + len < n ? "..." : "", from ? "   " : "");
	for (size_t i = from; (int)i < col - 1 && i < from + len; i++)
		sb_addch(out, b[i] == '\t' ? '\t' : ' ');
	sb_adds(out, "^\n");
}

/* Text from a manifest (a key, a path) must not drive the terminal: control
 * characters other than newline and tab are shown as '?'. */
static void sanitize(struct strbuf *sb, size_t from)
{
	for (size_t i = from; i < sb->len; i++) {
		unsigned char c = (unsigned char)sb->buf[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			sb->buf[i] = '?';
	}
}

/* A thread that holds its messages (diag_hold) gets them in its buffer. */
static __thread struct strbuf *held;

void diag_hold(struct strbuf *sb) { held = sb; }

/* One message at a time, whole: stderr's own lock keeps its other writers
 * (progress lines) out, and the mutex beside it is the lock that thread
 * checkers see (ThreadSanitizer does not know stdio's). */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void out_begin(void)
{
	pthread_mutex_lock(&out_lock);
	flockfile(stderr);
}

static void out_end(void)
{
	funlockfile(stderr);
	pthread_mutex_unlock(&out_lock);
}

/* What reaches stderr is also the capture's (diag_capture), held messages
 * when they are released.  Under out_begin(). */
static void print(const struct strbuf *sb)
{
	fputs(sb->buf, stderr);
	if (captured)
		sb_add(captured, sb->buf, sb->len);
}

void diag_release(struct strbuf *sb)
{
	if (sb->len) {
		out_begin();
		print(sb);
		out_end();
	}
	sb_release(sb);
}

static void emit(const struct strbuf *sb)
{
	if (held)
		sb_add(held, sb->buf, sb->len);
	else
		print(sb);
}

static void report(const char *kind, const struct loc *loc, const char *hint, const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	if (loc && loc->file && loc->line > 0)
		sb_addf(&sb, "%s:%d:%d: %s: ", loc->file, loc->line, loc->col, kind);
	else if (loc && loc->file)
		sb_addf(&sb, "%s: %s: ", loc->file, kind);
	else
		sb_addf(&sb, "rdc: %s: ", kind);
	sb_vaddf(&sb, fmt, ap);
	sb_addch(&sb, '\n');
	sanitize(&sb, 0);
	out_begin(); /* one message at a time, whole; and `shown` is shared */
	if (loc && loc->file && loc->line > 0)
		show_line(&sb, loc->file, loc->line, loc->col);
	if (hint) {
		size_t from = sb.len;
		sb_addf(&sb, "hint: %s\n", hint);
		sanitize(&sb, from);
	}
	emit(&sb); /* stderr is unbuffered: one write, not one per byte */
	out_end();
	sb_release(&sb);
}

void diag_capture(struct strbuf *sink)
{
	out_begin();
	captured = sink;
	out_end();
}

void diag_error(const struct loc *loc, const char *hint, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("error", loc, hint, fmt, ap);
	va_end(ap);
	error_count++;
}

void diag_warn(const struct loc *loc, const char *hint, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("warning", loc, hint, fmt, ap);
	va_end(ap);
}

void diag_note(const struct loc *loc, const char *hint, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("note", loc, hint, fmt, ap);
	va_end(ap);
}

void diag_info(const char *fmt, ...)
{
	if (!diag_verbose)
		return;
	va_list ap;
	struct strbuf sb = STRBUF_INIT;
	va_start(ap, fmt);
	sb_adds(&sb, "rdc: ");
	sb_vaddf(&sb, fmt, ap);
	sb_addch(&sb, '\n');
	va_end(ap);
	emit(&sb);
	sb_release(&sb);
}

int diag_error_count(void) { return error_count; }

static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	int d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			/* a swap of two neighbours is one typo, not two */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
				c = d[i - 2][j - 2] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

const char *diag_closest(const char *word, const char *const *cands, int n)
{
	const char *best = NULL;
	int best_d = 99;
	for (int i = 0; i < n; i++) {
		int d = edit_distance(word, cands[i]);
		if (d < best_d) {
			best_d = d;
			best = cands[i];
		}
	}
	int limit = strlen(word) <= 4 ? 1 : (int)strlen(word) / 3 + 1;
	return best_d <= limit ? best : NULL;
}
