/* diag.h — every message rdc prints about bad input goes through here.
 * Errors in a manifest are shown as
 *     file:line:col: error: message
 *       12 |   - {dest: /etc/x, mode: 0999}
 *          |                          ^
 *     hint: ...
 * which is how compilers have taught users to read them. */
#ifndef RDC_DIAG_H
#define RDC_DIAG_H
#include <stdarg.h>

/* One convention for who reports: a lower layer returns its reason (a
 * strbuf, an errno) and the layer that knows the manifest line reports it
 * here; a command's exit status follows from what was reported (any error:
 * not 0).  An error with no place in a manifest has loc NULL:
 * "rdc: error: ...". */

/* A place in a manifest.  `file` points at a string that lives as long as the
 * manifest (interned by the reader).  line and col are 1-based; line 0 means
 * "no location". */
struct loc {
	const char *file;
	int line, col;
};

extern int diag_verbose; /* -v: diag_info prints */

void diag_error(const struct loc *loc, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diag_warn(const struct loc *loc, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Not a problem, but worth knowing: "rdc: note: ...", always shown. */
void diag_note(const struct loc *loc, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diag_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* While sink is set (NULL: stop), a copy of every error, warning and note
 * printed is appended to it, as printed (the build record replays them). */
struct strbuf;
void diag_capture(struct strbuf *sink);
/* The number of errors reported so far. */
int diag_error_count(void);

/* Messages of the calling thread go into *sb instead of stderr (errors
 * still count) until diag_hold(NULL): work done beside other work reports
 * in the order a sequential run would, once diag_release prints them (and
 * empties sb). */
struct strbuf;
void diag_hold(struct strbuf *sb);
void diag_release(struct strbuf *sb);

/* "did you mean": the candidate closest to `word` by edit distance, or NULL
 * when none is close enough to be a plausible typo. */
const char *diag_closest(const char *word, const char *const *cands, int n);

#endif
