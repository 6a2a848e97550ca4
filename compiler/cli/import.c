/* import.c — `rdc import LIST [-o MANIFEST]`: a gen_init_cpio list becomes a
 * manifest.
 *
 * usage: rdc import LIST [-o MANIFEST]
 *
 * LIST is in the syntax of the kernel's usr/gen_init_cpio.c (one entry a
 * line, fields separated by blanks, `#` comments, blank lines):
 *
 *     file  NAME LOCATION MODE UID GID [HARDLINK...]
 *     dir   NAME MODE UID GID
 *     nod   NAME MODE UID GID c|b MAJOR MINOR
 *     slink NAME TARGET MODE UID GID
 *     pipe  NAME MODE UID GID
 *     sock  NAME MODE UID GID
 *
 * `${VAR}` in a LOCATION is expanded from the environment, as gen_init_cpio
 * does; unlike gen_init_cpio an unset variable is an error rather than "".
 * A relative LOCATION is relative to the current directory (gen_init_cpio's
 * rule); in the manifest it becomes relative to the manifest's directory
 * (-o), or absolute when the manifest goes to stdout.  Hard links become
 * copies with the same content (rdc has no hard links yet), each marked
 * with a comment.  The manifest is written only when the whole list is
 * good: errors are LIST:line:col with exit status 1, usage errors exit 2.
 *
 * The YAML is written by hand, with every string that could be misread
 * (numbers, booleans, flow indicators, `${`) double-quoted. */
#include "cli/cli.h"
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lib/diag.h"
#include "emit/emit.h"
#include "lib/util.h"

enum imp_type { IMP_FILE, IMP_DIR, IMP_NOD, IMP_SLINK, IMP_PIPE, IMP_SOCK };

struct imp_entry {
	enum imp_type type;
	char *name;     /* normalised image path */
	char *src;      /* file: the src to write (relative to the manifest or absolute) */
	char *location; /* file: the LOCATION as written, when ${VAR} was expanded */
	char *target;   /* slink */
	char *link_of;  /* file: the first name of a hard-link group, or NULL */
	unsigned mode, uid, gid, major, minor;
	char dev;       /* nod: 'c' or 'b' */
	struct loc loc; /* the entry's NAME in LIST */
};

/* One blank-separated field of a line and the 1-based column it starts at. */
struct imp_field {
	char *s;
	int col;
};

struct imp_ctx {
	const char *list;   /* LIST as given: every loc.file points here */
	char *cwd;          /* where relative LOCATIONs are found */
	char *out_dir;      /* real directory of -o, or NULL for stdout */
	struct imp_entry *v;
	size_t n, alloc;
};

const char usage_import[] =
	"usage: rdc import LIST [-o MANIFEST]\n"
	"turns a gen_init_cpio list (the kernel's usr/gen_init_cpio syntax) into an rdc manifest;\n"
	"LIST may be - for stdin; relative locations are found from the current directory, as\n"
	"gen_init_cpio finds them; without -o the manifest goes to stdout\n";

static int imp_usage(void)
{
	fputs(usage_import, stderr);
	return 2;
}

/* ---- fields ------------------------------------------------------------- */

static bool imp_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Split `line` in place into blank-separated fields (sscanf's %s rule). */
static size_t imp_split(char *line, struct imp_field **out, size_t *alloc)
{
	size_t n = 0;
	char *p = line;
	for (;;) {
		while (imp_blank(*p))
			p++;
		if (!*p)
			return n;
		GROW(*out, n + 1, *alloc);
		(*out)[n].s = p;
		(*out)[n].col = (int)(p - line) + 1;
		n++;
		while (*p && !imp_blank(*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
}

static struct loc imp_loc(const struct imp_ctx *c, int line, int col)
{
	struct loc l = { c->list, line, col };
	return l;
}

static bool imp_octal(const char *s, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '7')
			return false;
		v = v * 8 + (unsigned)(*s - '0');
		if (v > max)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

static bool imp_decimal(const char *s, unsigned long max, unsigned *out)
{
	unsigned long long v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

/* A `${NAME}` that the manifest reader would expand (it expands every value). */
static bool imp_has_var(const char *s)
{
	const char *d = strstr(s, "${");
	return d && strchr(d + 2, '}');
}

/* An image path: normalised, not the root, not climbing out of it, and
 * writable in a manifest. */
static char *imp_name(const struct imp_ctx *c, const struct imp_field *f, int line, const char *what)
{
	struct loc l = imp_loc(c, line, f->col);
	char *p = path_normalize(f->s);
	if (!p) {
		diag_error(&l, NULL, "%s '%s' climbs out of the image root", what, f->s);
		return NULL;
	}
	if (!strcmp(p, "/")) {
		diag_error(&l, "the root directory is not an entry; leave this line out", "%s is the image root itself", what);
		free(p);
		return NULL;
	}
	if (imp_has_var(p)) {
		diag_error(&l, "rdc expands ${VAR} in every manifest value", "%s '%s' contains ${...}, which a manifest cannot hold literally", what, f->s);
		free(p);
		return NULL;
	}
	return p;
}

static bool imp_ids(const struct imp_ctx *c, const struct imp_field *f, int line, struct imp_entry *e)
{
	struct loc l;
	if (!imp_decimal(f[0].s, UINT_MAX, &e->uid)) {
		l = imp_loc(c, line, f[0].col);
		diag_error(&l, NULL, "uid must be a non-negative decimal number, not '%s'", f[0].s);
		return false;
	}
	if (!imp_decimal(f[1].s, UINT_MAX, &e->gid)) {
		l = imp_loc(c, line, f[1].col);
		diag_error(&l, NULL, "gid must be a non-negative decimal number, not '%s'", f[1].s);
		return false;
	}
	return true;
}

static bool imp_mode(const struct imp_ctx *c, const struct imp_field *f, int line, unsigned *mode)
{
	if (imp_octal(f->s, 07777, mode))
		return true;
	struct loc l = imp_loc(c, line, f->col);
	diag_error(&l, "modes are octal permission bits, 0000 to 7777 (e.g. 0644)", "bad mode '%s'", f->s);
	return false;
}

/* ---- source locations --------------------------------------------------- */

/* `to` relative to directory `from`; both absolute and normalised. */
static char *imp_relative(const char *from, const char *to)
{
	size_t common = 0, i = 0;
	/* the longest prefix of `to` that is a whole-component prefix of `from` */
	for (;; i++) {
		bool from_end = from[i] == '\0' || (from[i] == '/' && i > 0);
		bool to_end = to[i] == '/' || to[i] == '\0';
		if (from_end && to_end)
			common = i;
		if (!from[i] || !to[i] || from[i] != to[i])
			break;
	}
	if (!strcmp(from, "/"))
		return xstrdup(to + 1);
	struct strbuf sb = STRBUF_INIT;
	for (const char *p = from + common; *p; p++)
		if (*p == '/')
			sb_adds(&sb, "../");
	const char *rest = to + common;
	while (*rest == '/')
		rest++;
	sb_adds(&sb, rest);
	return sb_detach(&sb);
}

/* The host path of a relative LOCATION: gen_init_cpio opens it from its
 * current directory.  The directory is made physical (realpath) because the
 * manifest reader resolves src against the manifest's real directory. */
static char *imp_absolute(const struct imp_ctx *c, const char *loc)
{
	char *joined = path_join(c->cwd, loc);
	char *dir = path_dirname(joined);
	char *real = realpath(dir, NULL);
	char *abs;
	if (real) {
		abs = path_join(real, path_basename(joined));
		free(real);
	} else {
		abs = path_normalize(joined);
		if (!abs)
			abs = xstrdup(joined);
	}
	free(dir);
	free(joined);
	return abs;
}

/* Expand ${VAR} in LOCATION and make it the manifest's src. */
static char *imp_src(const struct imp_ctx *c, const struct imp_field *f, int line, bool *expanded)
{
	char *missing = NULL;
	char *loc = expand_env(f->s, &missing);
	*expanded = strcmp(loc ? loc : "", f->s) != 0;
	if (!loc) {
		char *ref = xasprintf("${%s}", missing);
		const char *at = strstr(f->s, ref);
		struct loc l = imp_loc(c, line, f->col + (at ? (int)(at - f->s) : 0));
		diag_error(&l, "set it in the environment (gen_init_cpio would silently use \"\")",
			   "${%s} is not set or empty", missing);
		free(ref);
		free(missing);
		return NULL;
	}
	struct loc l = imp_loc(c, line, f->col);
	if (!*loc || loc[strlen(loc) - 1] == '/') {
		diag_error(&l, NULL, "file location '%s' names a directory, not a file", loc);
		free(loc);
		return NULL;
	}
	if (imp_has_var(loc)) {
		diag_error(&l, "rdc expands ${VAR} in every manifest value", "file location '%s' contains ${...}, which a manifest cannot hold literally", loc);
		free(loc);
		return NULL;
	}
	char *abs = loc[0] == '/' ? xstrdup(loc) : imp_absolute(c, loc);
	struct stat st;
	bool readable = stat(abs, &st) == 0;
	if (!readable || !S_ISREG(st.st_mode)) { /* gen_init_cpio stops here too */
		if (readable)
			diag_error(&l, "a file entry copies one file", "%s is not a regular file", abs);
		else
			diag_error(&l, NULL, "cannot read %s: %s", abs, strerror(errno));
		free(abs);
		free(loc);
		return NULL;
	}
	if (loc[0] == '/') {
		free(abs);
		return loc;
	}
	free(loc);
	if (!c->out_dir)
		return abs;
	char *rel = imp_relative(c->out_dir, abs);
	free(abs);
	return rel;
}

/* ---- one line per type ---------------------------------------------------- */

static struct imp_entry *imp_push(struct imp_ctx *c, enum imp_type t, char *name, int line, int col)
{
	GROW(c->v, c->n + 1, c->alloc);
	struct imp_entry *e = &c->v[c->n++];
	memset(e, 0, sizeof(*e));
	e->type = t;
	e->name = name;
	e->loc = imp_loc(c, line, col);
	return e;
}

static bool imp_file(struct imp_ctx *c, struct imp_field *f, size_t n, int line)
{
	struct imp_entry tmpl = { 0 };
	char *name = imp_name(c, &f[1], line, "name");
	bool expanded = false, ok = name != NULL;
	char *src = imp_src(c, &f[2], line, &expanded);
	ok = src && imp_mode(c, &f[3], line, &tmpl.mode) && imp_ids(c, &f[4], line, &tmpl) && ok;
	char **links = xcalloc(n, sizeof(*links));
	for (size_t i = 6; i < n; i++)
		ok = (links[i] = imp_name(c, &f[i], line, "hard link name")) && ok;
	if (!ok) {
		for (size_t i = 6; i < n; i++)
			free(links[i]);
		free(links);
		free(name);
		free(src);
		return false;
	}
	for (size_t i = 1; i < n; i++) {
		if (i > 1 && i < 6)
			continue;
		struct imp_entry *e = imp_push(c, IMP_FILE, i == 1 ? name : links[i], line, f[i].col);
		e->src = xstrdup(src);
		e->location = expanded ? xstrdup(f[2].s) : NULL;
		e->link_of = i == 1 ? NULL : xstrdup(name);
		e->mode = tmpl.mode;
		e->uid = tmpl.uid;
		e->gid = tmpl.gid;
	}
	free(links);
	free(src);
	return true;
}

/* dir, pipe, sock: NAME MODE UID GID */
static bool imp_generic(struct imp_ctx *c, enum imp_type t, struct imp_field *f, int line)
{
	struct imp_entry tmpl = { 0 };
	char *name = imp_name(c, &f[1], line, "name");
	bool ok = name && imp_mode(c, &f[2], line, &tmpl.mode) && imp_ids(c, &f[3], line, &tmpl);
	if (!ok) {
		free(name);
		return false;
	}
	struct imp_entry *e = imp_push(c, t, name, line, f[1].col);
	e->mode = tmpl.mode;
	e->uid = tmpl.uid;
	e->gid = tmpl.gid;
	return true;
}

static bool imp_nod(struct imp_ctx *c, struct imp_field *f, int line)
{
	struct imp_entry tmpl = { 0 };
	struct loc l;
	char *name = imp_name(c, &f[1], line, "name");
	bool ok = name && imp_mode(c, &f[2], line, &tmpl.mode) && imp_ids(c, &f[3], line, &tmpl);
	if (ok && strcmp(f[5].s, "c") && strcmp(f[5].s, "b")) {
		l = imp_loc(c, line, f[5].col);
		diag_error(&l, NULL, "device type must be c (character) or b (block), not '%s'", f[5].s);
		ok = false;
	}
	if (ok && !imp_decimal(f[6].s, 4095, &tmpl.major)) {
		l = imp_loc(c, line, f[6].col);
		diag_error(&l, "Linux majors are 0 to 4095", "bad major number '%s'", f[6].s);
		ok = false;
	}
	if (ok && !imp_decimal(f[7].s, 1048575, &tmpl.minor)) {
		l = imp_loc(c, line, f[7].col);
		diag_error(&l, "Linux minors are 0 to 1048575", "bad minor number '%s'", f[7].s);
		ok = false;
	}
	if (!ok) {
		free(name);
		return false;
	}
	struct imp_entry *e = imp_push(c, IMP_NOD, name, line, f[1].col);
	e->mode = tmpl.mode;
	e->uid = tmpl.uid;
	e->gid = tmpl.gid;
	e->dev = f[5].s[0];
	e->major = tmpl.major;
	e->minor = tmpl.minor;
	return true;
}

static bool imp_slink(struct imp_ctx *c, struct imp_field *f, int line)
{
	struct imp_entry tmpl = { 0 };
	char *name = imp_name(c, &f[1], line, "name");
	bool ok = name && imp_mode(c, &f[3], line, &tmpl.mode) && imp_ids(c, &f[4], line, &tmpl);
	if (ok && imp_has_var(f[2].s)) {
		struct loc l = imp_loc(c, line, f[2].col);
		diag_error(&l, "rdc expands ${VAR} in every manifest value", "target '%s' contains ${...}, which a manifest cannot hold literally", f[2].s);
		ok = false;
	}
	if (!ok) {
		free(name);
		return false;
	}
	struct imp_entry *e = imp_push(c, IMP_SLINK, name, line, f[1].col);
	e->target = xstrdup(f[2].s);
	e->mode = tmpl.mode;
	e->uid = tmpl.uid;
	e->gid = tmpl.gid;
	return true;
}

static const struct imp_type_info {
	const char *word;
	enum imp_type type;
	size_t nfields; /* with the type word; file takes more (hard links) */
	const char *syntax;
} imp_types[] = {
	{ "file", IMP_FILE, 6, "file NAME LOCATION MODE UID GID [HARDLINK...]" },
	{ "dir", IMP_DIR, 5, "dir NAME MODE UID GID" },
	{ "nod", IMP_NOD, 8, "nod NAME MODE UID GID c|b MAJOR MINOR" },
	{ "slink", IMP_SLINK, 6, "slink NAME TARGET MODE UID GID" },
	{ "pipe", IMP_PIPE, 5, "pipe NAME MODE UID GID" },
	{ "sock", IMP_SOCK, 5, "sock NAME MODE UID GID" },
};
#define IMP_NTYPES (sizeof(imp_types) / sizeof(imp_types[0]))

static bool imp_line(struct imp_ctx *c, struct imp_field *f, size_t n, int line)
{
	const struct imp_type_info *t = NULL;
	for (size_t i = 0; i < IMP_NTYPES; i++)
		if (!strcmp(f[0].s, imp_types[i].word))
			t = &imp_types[i];
	if (!t) {
		const char *words[IMP_NTYPES];
		for (size_t i = 0; i < IMP_NTYPES; i++)
			words[i] = imp_types[i].word;
		const char *close = diag_closest(f[0].s, words, (int)IMP_NTYPES);
		char *hint = close ? xasprintf("did you mean '%s'?", close)
				   : xstrdup("the types are file, dir, nod, slink, pipe and sock");
		struct loc l = imp_loc(c, line, f[0].col);
		diag_error(&l, hint, "unknown entry type '%s'", f[0].s);
		free(hint);
		return false;
	}
	if (n < t->nfields || (n > t->nfields && t->type != IMP_FILE)) {
		size_t at = n < t->nfields ? n - 1 : t->nfields;
		struct loc l = imp_loc(c, line, f[at].col + (n < t->nfields ? (int)strlen(f[at].s) : 0));
		diag_error(&l, t->syntax, "%s takes %zu fields, this line has %zu", t->word, t->nfields - 1, n - 1);
		return false;
	}
	switch (t->type) {
	case IMP_FILE: return imp_file(c, f, n, line);
	case IMP_NOD: return imp_nod(c, f, line);
	case IMP_SLINK: return imp_slink(c, f, line);
	default: return imp_generic(c, t->type, f, line);
	}
}

#define IMP_MAX_ERRORS 20

static int imp_parse(struct imp_ctx *c, struct strbuf *text)
{
	struct imp_field *f = NULL;
	size_t falloc = 0;
	char *p = text->buf ? text->buf : "";
	char *end = p + text->len;
	int line = 0, errors = 0;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eol = nl ? nl : end;
		line++;
		*eol = '\0';
		size_t len = (size_t)(eol - p);
		if (line == 1 && !strcmp(p, RDC_LIST_HEADER)) {
			struct loc l = imp_loc(c, 1, 1);
			diag_warn(&l, "import the lists you write by hand; for this image keep the manifest it came from",
				  "this list was written by rdc: its files are objects in rdc's cache, which `rdc cache gc` "
				  "may remove");
		}
		if (strlen(p) != len) {
			struct loc l = imp_loc(c, line, (int)strlen(p) + 1);
			diag_error(&l, NULL, "a NUL byte in the list");
			errors++;
		} else {
			size_t n = imp_split(p, &f, &falloc);
			if (n && f[0].col != 1) {
				/* gen_init_cpio matches the type from the line's first byte */
				struct loc l = imp_loc(c, line, 1);
				diag_error(&l, "gen_init_cpio skips such a line as an unknown type; remove the blanks",
					   "an entry must start in the first column");
				errors++;
			} else if (n && f[0].s[0] != '#' && !imp_line(c, f, n, line)) {
				errors++;
			}
		}
		p = eol + 1;
		if (errors == IMP_MAX_ERRORS && p < end) {
			/* /etc/passwd or a binary given by mistake: not thousands of lines of it */
			struct loc l = imp_loc(c, line, 1);
			diag_error(&l, "is it a gen_init_cpio list? (file, dir, nod, slink, pipe, sock lines)",
				   "giving up after %d errors", IMP_MAX_ERRORS);
			break;
		}
	}
	free(f);
	return errors;
}

/* ---- duplicates ----------------------------------------------------------- */

static int imp_cmp_name(const void *a, const void *b)
{
	const struct imp_entry *x = *(const struct imp_entry *const *)a;
	const struct imp_entry *y = *(const struct imp_entry *const *)b;
	int r = strcmp(x->name, y->name);
	return r ? r : (x->loc.line > y->loc.line) - (x->loc.line < y->loc.line);
}

static bool imp_same(const struct imp_entry *a, const struct imp_entry *b)
{
	return a->type == b->type && a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
	       a->dev == b->dev && a->major == b->major && a->minor == b->minor &&
	       !strcmp(a->src ? a->src : "", b->src ? b->src : "") &&
	       !strcmp(a->target ? a->target : "", b->target ? b->target : "");
}

/* A name listed twice: identical lines are kept once (lists are often
 * concatenated); different ones are an error, since a manifest has one
 * entry per path where gen_init_cpio would let the later one win. */
static int imp_dedupe(struct imp_ctx *c, bool *drop)
{
	struct imp_entry **s = xcalloc(c->n ? c->n : 1, sizeof(*s));
	int errors = 0;
	for (size_t i = 0; i < c->n; i++)
		s[i] = &c->v[i];
	qsort(s, c->n, sizeof(*s), imp_cmp_name);
	for (size_t i = 1; i < c->n; i++) {
		if (strcmp(s[i]->name, s[i - 1]->name))
			continue;
		if (imp_same(s[i], s[i - 1])) {
			drop[s[i] - c->v] = true;
			continue;
		}
		char *hint = xasprintf("line %d already makes %s", s[i - 1]->loc.line, s[i]->name);
		diag_error(&s[i]->loc, hint, "%s is listed twice, differently", s[i]->name);
		free(hint);
		errors++;
	}
	free(s);
	return errors;
}

/* ---- writing YAML --------------------------------------------------------- */

/* Can `s` be written in a YAML double-quoted scalar (C0 controls escaped)
 * and read back unchanged?  Strict UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF) of what YAML calls printable, less what it
 * would fold or drop: NEL U+0085, the separators U+2028/9, the BOM U+FEFF.
 * Bytes that are not such text cannot be in a manifest at all. */
static bool imp_utf8_ok(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s, n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 9;
		if (n == 9)
			return false;
		c &= n ? 0x3f >> n : 0x7f;
		s++;
		for (unsigned i = 0; i < n; i++, s++) {
			if ((*s & 0xc0) != 0x80)
				return false;
			c = c << 6 | (*s & 0x3f);
		}
		static const unsigned min[] = { 0, 0x80, 0x800, 0x10000 };
		if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) || (c >= 0x80 && c < 0xa0) ||
		    c == 0x2028 || c == 0x2029 || c == 0xfeff || c == 0xfffe || c == 0xffff || c == 0x7f)
			return false;
	}
	return true;
}

/* Can `s` be a plain scalar inside a flow mapping and still read back as
 * the same string? */
static bool imp_plain_ok(const char *s)
{
	static const char *const words[] = { "null", "true", "false", "yes", "no", "on", "off", "y", "n" };
	if (!*s || !(s[0] == '/' || s[0] == '_' || s[0] == '.' || (s[0] >= 'a' && s[0] <= 'z') ||
		     (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	if (s[0] == '.' && s[1] && s[1] != '.' && s[1] != '/')
		return false; /* .inf, .nan */
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return false;
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+@%=~", *p))
			return false;
	return true;
}

static void imp_scalar(struct strbuf *sb, const char *s)
{
	if (imp_plain_ok(s)) {
		sb_adds(sb, s);
		return;
	}
	sb_addch(sb, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sb_addf(sb, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			sb_addf(sb, "\\x%02x", *p);
		else
			sb_addch(sb, (char)*p);
	}
	sb_addch(sb, '"');
}

/* A comment must stay on its line whatever the names hold, and be text
 * the reader takes: anything but printable ASCII becomes '?'. */
static void imp_comment_text(struct strbuf *sb, const char *s)
{
	for (; *s; s++)
		sb_addch(sb, (unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ? '?' : *s);
}

static bool imp_writable(const struct imp_entry *e)
{
	const char *s[] = { e->name, e->src, e->target };
	for (size_t i = 0; i < 3; i++)
		if (s[i] && !imp_utf8_ok((const unsigned char *)s[i])) {
			diag_error(&e->loc, "a manifest holds UTF-8 text without C1 controls, NEL or line separators",
				   "'%s' cannot be written in a manifest", s[i]);
			return false;
		}
	return true;
}

static void imp_ids_yaml(struct strbuf *sb, const struct imp_entry *e)
{
	if (e->uid)
		sb_addf(sb, ", uid: %u", e->uid);
	if (e->gid)
		sb_addf(sb, ", gid: %u", e->gid);
}

static void imp_dir_yaml(struct strbuf *sb, const struct imp_entry *e)
{
	sb_adds(sb, "  - ");
	if (e->mode == 0755 && !e->uid && !e->gid) {
		imp_scalar(sb, e->name);
	} else {
		sb_adds(sb, "{path: ");
		imp_scalar(sb, e->name);
		sb_addf(sb, ", mode: \"%04o\"", e->mode);
		imp_ids_yaml(sb, e);
		sb_addch(sb, '}');
	}
	sb_addch(sb, '\n');
}

static void imp_node_yaml(struct strbuf *sb, const struct imp_entry *e)
{
	sb_adds(sb, "  - {path: ");
	imp_scalar(sb, e->name);
	if (e->type == IMP_NOD)
		sb_addf(sb, ", type: %c, major: %u, minor: %u", e->dev, e->major, e->minor);
	else
		sb_adds(sb, e->type == IMP_PIPE ? ", type: pipe" : ", type: sock");
	sb_addf(sb, ", mode: \"%04o\"", e->mode);
	imp_ids_yaml(sb, e);
	sb_adds(sb, "}\n");
}

static void imp_slink_yaml(struct strbuf *sb, const struct imp_entry *e)
{
	if (e->mode != 0777) {
		sb_addf(sb, "  # line %d asks for mode %04o; rdc writes symlinks 0777 (Linux ignores a symlink's mode)\n",
			e->loc.line, e->mode);
		diag_warn(&e->loc, "Linux ignores a symlink's mode", "symlink mode %04o becomes 0777", e->mode);
	}
	sb_adds(sb, "  - {path: ");
	imp_scalar(sb, e->name);
	sb_adds(sb, ", target: ");
	imp_scalar(sb, e->target);
	imp_ids_yaml(sb, e);
	sb_adds(sb, "}\n");
}

static void imp_file_yaml(struct strbuf *sb, const struct imp_entry *e)
{
	if (e->link_of) {
		sb_adds(sb, "  # hard link to ");
		imp_comment_text(sb, e->link_of);
		sb_addf(sb, " in the list (line %d); rdc has no hard links yet, so this is a copy with the same content\n",
			e->loc.line);
	}
	if (e->location) {
		sb_adds(sb, "  # src from ");
		imp_comment_text(sb, e->location);
		sb_adds(sb, "\n");
	}
	sb_adds(sb, "  - {src: ");
	imp_scalar(sb, e->src);
	sb_adds(sb, ", dest: ");
	imp_scalar(sb, e->name);
	sb_addf(sb, ", mode: \"%04o\"", e->mode);
	imp_ids_yaml(sb, e);
	sb_adds(sb, "}\n");
}

static int imp_write_yaml(struct imp_ctx *c, const bool *drop, struct strbuf *sb)
{
	static const struct {
		const char *key;
		enum imp_type a, b;
		void (*fn)(struct strbuf *, const struct imp_entry *);
	} sections[] = {
		{ "dirs", IMP_DIR, IMP_DIR, imp_dir_yaml },
		{ "nodes", IMP_NOD, IMP_SOCK, imp_node_yaml }, /* nod, pipe, sock */
		{ "symlinks", IMP_SLINK, IMP_SLINK, imp_slink_yaml },
		{ "files", IMP_FILE, IMP_FILE, imp_file_yaml },
	};
	int errors = 0;
	for (size_t i = 0; i < c->n; i++)
		if (!drop[i] && !imp_writable(&c->v[i]))
			errors++;
	if (errors)
		return errors;
	sb_adds(sb, "# Imported by `rdc import` from the gen_init_cpio list ");
	imp_comment_text(sb, c->list);
	sb_adds(sb, ".\nrdc: 1\n");
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		bool any = false;
		for (size_t i = 0; i < c->n; i++) {
			const struct imp_entry *e = &c->v[i];
			bool in = sections[s].a == IMP_NOD ? (e->type == IMP_NOD || e->type == IMP_PIPE || e->type == IMP_SOCK)
							   : e->type == sections[s].a;
			if (drop[i] || !in)
				continue;
			if (!any)
				sb_addf(sb, "%s:\n", sections[s].key);
			any = true;
			sections[s].fn(sb, e);
		}
	}
	return 0;
}

/* ---- the command ---------------------------------------------------------- */

static void imp_free(struct imp_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].src);
		free(c->v[i].location);
		free(c->v[i].target);
		free(c->v[i].link_of);
	}
	free(c->v);
	free(c->cwd);
	free(c->out_dir);
}

/* A list is text that names files: 64 MiB is a million entries. */
#define IMPORT_MAX (64u << 20)

/* The manifest written must not replace the list being read. */
static bool same_file(const char *a, const char *b)
{
	struct stat x, y;
	return strcmp(a, "-") && stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

static int imp_read(const char *list, struct strbuf *text)
{
	if (strcmp(list, "-"))
		return read_file_max(list, text, IMPORT_MAX);
	return read_fd_max(0, text, IMPORT_MAX);
}

static int imp_setup(struct imp_ctx *c, const char *out)
{
	c->cwd = getcwd(NULL, 0);
	if (!c->cwd) {
		diag_error(NULL, NULL, "cannot find the current directory: %s", strerror(errno));
		return -1;
	}
	if (!out)
		return 0;
	char *dir = path_dirname(out);
	c->out_dir = realpath(dir, NULL);
	if (!c->out_dir)
		diag_error(NULL, NULL, "cannot write %s: %s: %s", out, dir, strerror(errno));
	free(dir);
	return c->out_dir ? 0 : -1;
}

int import_text(const char *list, struct strbuf *text, const char *out, struct strbuf *yaml)
{
	struct imp_ctx c = { .list = list };
	bool *drop = NULL;
	int rc = -1;
	if (imp_setup(&c, out) == 0 && imp_parse(&c, text) == 0) {
		drop = xcalloc(c.n ? c.n : 1, sizeof(*drop));
		if (!imp_dedupe(&c, drop) && !imp_write_yaml(&c, drop, yaml))
			rc = 0;
	}
	free(drop);
	imp_free(&c);
	return rc;
}

static int imp_run(const char *list, const char *out)
{
	struct strbuf text = STRBUF_INIT, yaml = STRBUF_INIT, why = STRBUF_INIT;
	int rc = 1;
	if (out && same_file(list, out))
		diag_error(NULL, NULL, "the output %s is the list %s: not overwriting it", out, list);
	else if (imp_read(list, &text) < 0)
		diag_error(NULL, NULL, "cannot read %s: %s", list, read_strerror(errno));
	else if (import_text(list, &text, out, &yaml) < 0)
		; /* reported */
	else if (out ? write_output(out, yaml.buf, yaml.len, &why) < 0 : write_all(1, yaml.buf, yaml.len) < 0)
		diag_error(NULL, NULL, "cannot write %s: %s", out ? out : "stdout", out ? why.buf : strerror(errno));
	else
		rc = 0;
	sb_release(&why);
	sb_release(&text);
	sb_release(&yaml);
	return rc;
}

int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ 0, 0, 0, 0 },
	};
	const char *out = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		default: return imp_usage();
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "rdc import: %s\n", argc - optind ? "one LIST at a time" : "which list?");
		return imp_usage();
	}
	if (cli_wrong_file(argv[optind], "import"))
		return 1;
	return imp_run(argv[optind], out);
}
