/* diag.c — file:line:col diagnostics with the offending line and a caret. */
#include "lib/diag.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lib/util.h"

int diag_verbose;
static _Atomic int error_count; /* files are hashed on several threads */

/* Print line `line` of `file` with a caret under column `col`.  The file is
 * re-read here: errors are rare, and it keeps every stage free of buffers. */
static void show_line(const char *file, int line, int col)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int at = 0;
	while ((n = getline(&buf, &cap, f)) >= 0) {
		if (++at != line)
			continue;
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		fprintf(stderr, "%5d | %s\n      | ", line, buf);
		for (int i = 1; i < col && i <= n; i++)
			fputc(buf[i - 1] == '\t' ? '\t' : ' ', stderr);
		fputs("^\n", stderr);
		break;
	}
	free(buf);
	fclose(f);
}

static void report(const char *kind, const struct loc *loc, const char *hint, const char *fmt, va_list ap)
{
	flockfile(stderr); /* one message at a time, whole */
	if (loc && loc->file && loc->line > 0)
		fprintf(stderr, "%s:%d:%d: %s: ", loc->file, loc->line, loc->col, kind);
	else if (loc && loc->file)
		fprintf(stderr, "%s: %s: ", loc->file, kind);
	else
		fprintf(stderr, "rdc: %s: ", kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (loc && loc->file && loc->line > 0)
		show_line(loc->file, loc->line, loc->col);
	if (hint)
		fprintf(stderr, "hint: %s\n", hint);
	funlockfile(stderr);
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

void diag_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("error", NULL, NULL, fmt, ap);
	va_end(ap);
	error_count++;
}

void diag_info(const char *fmt, ...)
{
	if (!diag_verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("rdc: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
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
