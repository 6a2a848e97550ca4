/* manifest.c — the YAML manifest reader.
 *
 * libyaml loads a document; ONE table of keys (`top_keys` and the tables it
 * points to, at "the key table" below) turns its nodes into the typed
 * structures of manifest.h, as gen_init_cpio maps list keywords to
 * handlers.  Every key's name, type, place, enum values, documentation and
 * checks are a row there, and everything else follows from the rows: the
 * reader, "did you mean" for unknown keys, manifest_free, the JSON Schema
 * (`rdc schema`, which `make schema` writes to schema/manifest.schema.json)
 * and the README's key reference (`rdc schema --markdown`).  Adding a key is
 * adding a field to manifest.h and a row here; tests/t0110-schema.sh checks
 * that the schema and the README are the ones the table gives.
 */
#include "manifest/manifest.h"
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>
#include "lib/arch.h"
#include "lib/output.h"
#include "lib/util.h"

#define MAX_INCLUDE_DEPTH 32
/* What one manifest may read, includes included: a file read whole must be
 * bounded (include: /dev/zero grew until out of memory), and so must the
 * number of reads (nine small files that each include the previous ten
 * times are 10^9 reads). */
#define MANIFEST_MAX_BYTES (16u << 20) /* one file */
#define MANIFEST_MAX_TOTAL (64u << 20) /* all files read for one manifest */
#define MANIFEST_MAX_FILES 1000

struct read_budget {
	size_t files, bytes;
	bool over; /* reported once; later includes are skipped silently */
};

/* One file being read.  Includes are read into the same manifest first, so
 * the including file's scalars win and its lists come after. */
struct reader {
	struct manifest *m;
	yaml_document_t doc;
	const char *file; /* interned name for locations */
	char *dir;        /* directory relative paths resolve against */
	struct strlist *stack; /* real paths of the files being read: cycles */
	struct strlist *names; /* interned file names, owned by the manifest */
	struct read_budget *budget; /* shared by the top file and its includes */
	int errors;
};


/* ---- the row type of the key table --------------------------------------- */

enum ftype {
	FT_STR,      /* char *, ${VAR} expanded */
	FT_RAWSTR,   /* char *, kept as written (shell text, content) */
	FT_IMGPATH,  /* char *, normalised image path */
	FT_HOSTPATH, /* char *, absolute host path (relative to the manifest) */
	FT_ENUM,     /* char *, expanded, one of values() */
	FT_MODE,     /* unsigned or int, octal */
	FT_UINT,     /* unsigned */
	FT_INT,      /* int, >= 0 */
	FT_EPOCH,    /* long long, seconds since 1970 that cpio's 32 bits hold, expanded */
	FT_BOOL,     /* bool */
	FT_STRLIST,  /* char ** + size_t count right after it; each one of values() if given */
	FT_NODETYPE, /* char: c, b, p (pipe), s (sock) */
	FT_MAP,      /* a mapping of the keys in sub, stored from base + off */
	FT_LIST,     /* a list of items (mappings of sub, or a shorthand scalar):
		      * an array at off + size_t count right after it */
	FT_SPECIAL,  /* read by read() alone; stores nothing the table frees */
};

struct field;
struct seen { const struct field *fields; unsigned long bits; }; /* keys given, a bit per row (at most 64) */
typedef void (*check_fn)(struct reader *r, void *obj, yaml_node_t *n, const struct seen *seen);
typedef void (*read_fn)(struct reader *r, const struct field *f, void *base, yaml_node_t *v);

struct field {
	const char *key;
	enum ftype type;
	size_t off;         /* where the value goes, from the base of its mapping */
	bool required;
	const char *doc;    /* one line: the README reference and the schema's description */
	const char *def;    /* the default, as documented */
	const char *const *(*values)(void); /* the words taken (FT_ENUM, FT_STRLIST, FT_NODETYPE) */
	const char *noun;   /* FT_ENUM, FT_STRLIST: "unknown <noun> 'x'" */
	const char *more;   /* ... and after the words in its hint */
	size_t loc;         /* LOC(offset from base): where the value's location goes */
	/* FT_MAP and FT_LIST */
	const struct field *sub; /* the mapping's keys (of each item, for a list) */
	const char *shorthand;   /* the key a bare scalar sets: output: x.cpio is {path: x.cpio} */
	check_fn check;          /* after the mapping (each item) is read */
	/* FT_LIST */
	size_t elem_size, item_loc; /* item size; where each item's location goes */
	void (*init)(void *item);   /* defaults of a new item */
	/* a reader of its own, instead of the type's */
	read_fn read;
	/* for the schema, which says what the checks enforce */
	const char *const *exclusive; /* exactly one of these keys */
	const char *schema;   /* the value's JSON Schema, when the type does not say it (FT_SPECIAL) */
	const char *alt;      /* FT_MAP: the schema of a scalar allowed instead (init: none) */
	const char *extra;    /* FT_MAP, FT_LIST: more members of the object's schema */
};

#define LOC(off) ((off) + 1) /* 0 in .loc means: no location kept */
#define WORDS(name, ...)                                                  \
	static const char *const *name(void)                              \
	{                                                                 \
		static const char *const w[] = { __VA_ARGS__, NULL };     \
		return w;                                                 \
	}

static bool given(const struct seen *s, const char *key)
{
	for (const struct field *f = s->fields; f->key; f++)
		if (!strcmp(f->key, key))
			return f - s->fields < 64 && (s->bits & (1UL << (f - s->fields)));
	return false;
}

static bool one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}
static struct loc node_loc(struct reader *r, yaml_node_t *n)
{
	struct loc l = { r->file, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1 };
	return l;
}

static void error_at(struct reader *r, yaml_node_t *n, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void error_at(struct reader *r, yaml_node_t *n, const char *hint, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	struct loc l = node_loc(r, n);
	diag_error(&l, hint, "%s", sb.buf);
	sb_release(&sb);
	r->errors++;
}

static const char *kind_name(yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

static yaml_node_t *node(struct reader *r, int id) { return yaml_document_get_node(&r->doc, id); }

static const char *scalar(yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static bool expect_kind(struct reader *r, yaml_node_t *n, yaml_node_type_t t, const char *what)
{
	if (n->type == t)
		return true;
	const char *want = t == YAML_SCALAR_NODE ? "a scalar" : t == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
	error_at(r, n, NULL, "%s must be %s, not %s", what, want, kind_name(n));
	return false;
}

static char *expand(struct reader *r, yaml_node_t *n, const char *what)
{
	char *missing;
	char *v = expand_env(scalar(n), &missing);
	if (!v && strspn(missing, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(missing)) {
		error_at(r, n, "rdc expands ${NAME} only: no defaults (${X:-y}) or other shell forms; set NAME instead",
			 "%s uses ${%s}, which is not a variable name", what, missing);
		free(missing);
	} else if (!v) {
		bool kver = strstr(missing, "KVER") || !strcmp(what, "version");
		char *hint = kver ? xasprintf("export %s before running rdc (e.g. %s=$(ls /lib/modules | tail -1))",
					      missing, missing)
				  : xasprintf("export %s before running rdc", missing);
		error_at(r, n, hint, "%s uses ${%s}, which is not set or empty", what, missing);
		free(hint);
		free(missing);
	}
	return v;
}

static char *host_path(struct reader *r, const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	return path_join(r->dir, p);
}

static char *image_path(struct reader *r, yaml_node_t *n, const char *p)
{
	if (p[0] != '/') {
		error_at(r, n, "image paths are absolute, e.g. /etc/hostname", "'%s' is not an absolute path", p);
		return NULL;
	}
	char *norm = path_normalize(p);
	if (!norm)
		error_at(r, n, NULL, "'%s' escapes the image root", p);
	return norm;
}

static bool parse_number(const char *s, int base, unsigned long max, unsigned long *out)
{
	char *end;
	if (!*s || *s == '-')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, base);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_mode(const char *s, unsigned long *out)
{
	if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
		s += 2;
	return strspn(s, "01234567") == strlen(s) && parse_number(s, 8, 07777, out);
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "True", "TRUE", "Yes" };
	static const char *const no[] = { "false", "no", "off", "False", "FALSE", "No" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		if (!strcmp(s, yes[i]))
			return (*out = true);
		if (!strcmp(s, no[i]))
			return !(*out = false);
	}
	return false;
}


/* The words of an enum, as a hint: "one of: a, b, c (did you mean 'b'?)" */
static char *words_hint(const char *word, const char *const *set)
{
	struct strbuf sb = STRBUF_INIT;
	int n = 0;
	sb_adds(&sb, "one of:");
	for (const char *const *w = set; *w; w++, n++)
		sb_addf(&sb, "%s %s", n ? "," : "", *w);
	const char *close = diag_closest(word, set, n);
	if (close)
		sb_addf(&sb, " (did you mean '%s'?)", close);
	return sb_detach(&sb);
}

static bool check_word(struct reader *r, const struct field *f, yaml_node_t *n, const char *word)
{
	const char *const *set = f->values();
	if (one_of(word, set))
		return true;
	char *words = words_hint(word, set);
	char *hint = f->more ? xasprintf("%s; %s", words, f->more) : xstrdup(words);
	free(words);
	error_at(r, n, hint, "unknown %s '%s'", f->noun ? f->noun : f->key, word);
	free(hint);
	return false;
}

static void push_str(char ***v, size_t *count, char *x)
{
	*v = xrealloc(*v, (*count + 1) * sizeof(**v));
	(*v)[(*count)++] = x;
}

static void set_strlist(struct reader *r, const struct field *f, yaml_node_t *n, char ***v, size_t *count)
{
	const char *what = f->key;
	if (n->type == YAML_SCALAR_NODE && strpbrk(scalar(n), " \t")) { /* args: -smp 2 */
		struct strbuf words = STRBUF_INIT;
		for (const char *p = scalar(n); *p; p++)
			if (!strchr(" \t", *p))
				sb_addch(&words, *p);
			else if (words.len && !strchr(" \t", p[1]) && p[1])
				sb_adds(&words, ", ");
		char *hint = xasprintf("write a list, one word per item: %s: [%s]", what, words.buf);
		sb_release(&words);
		error_at(r, n, hint, "%s is a list; '%s' would be one word", what, scalar(n));
		free(hint);
		return;
	}
	yaml_node_item_t one = 0, *start = &one, *top = &one + 1;
	if (n->type == YAML_SEQUENCE_NODE) {
		start = n->data.sequence.items.start;
		top = n->data.sequence.items.top;
	} else if (!expect_kind(r, n, YAML_SCALAR_NODE, what)) {
		return;
	}
	for (yaml_node_item_t *it = start; it < top; it++) {
		yaml_node_t *e = it == &one ? n : node(r, *it);
		if (!expect_kind(r, e, YAML_SCALAR_NODE, what))
			continue;
		char *x = expand(r, e, what);
		if (x && f->values && !check_word(r, f, e, x)) {
			free(x);
			x = NULL;
		}
		if (x)
			push_str(v, count, x);
	}
}

static void set_node_type(struct reader *r, yaml_node_t *n, char *out)
{
	static const char *const names[] = { "c", "b", "p", "s", "pipe", "sock" };
	static const char codes[] = { 'c', 'b', 'p', 's', 'p', 's' };
	for (size_t i = 0; i < sizeof(codes); i++)
		if (!strcmp(scalar(n), names[i])) {
			*out = codes[i];
			return;
		}
	error_at(r, n, "c (character), b (block), p or pipe, s or sock", "unknown node type '%s'", scalar(n));
}
WORDS(node_types, "c", "b", "p", "s", "pipe", "sock")

/* Store one value of type f->type at base + f->off. */
static void set_field(struct reader *r, const struct field *f, void *base, yaml_node_t *n)
{
	char *at = (char *)base + f->off;
	unsigned long num;
	if (f->type == FT_STRLIST) {
		set_strlist(r, f, n, (char ***)at, (size_t *)(at + sizeof(char **)));
		return;
	}
	if (!expect_kind(r, n, YAML_SCALAR_NODE, f->key))
		return;
	const char *s = scalar(n);
	char *v;
	switch (f->type) {
	case FT_RAWSTR:
		free(*(char **)at);
		*(char **)at = xstrdup(s);
		break;
	case FT_STR:
	case FT_IMGPATH:
	case FT_HOSTPATH:
	case FT_ENUM:
		if (!(v = expand(r, n, f->key)))
			return;
		if (f->type == FT_ENUM && !check_word(r, f, n, v)) {
			free(v);
			return;
		}
		free(*(char **)at);
		*(char **)at = f->type == FT_IMGPATH ? image_path(r, n, v) : f->type == FT_HOSTPATH ? host_path(r, v) : xstrdup(v);
		free(v);
		break;
	case FT_MODE:
		if (!parse_mode(s, &num))
			error_at(r, n, "write modes in octal, quoted: mode: \"0644\"", "'%s' is not a file mode", s);
		else
			*(unsigned *)at = (unsigned)num;
		break;
	case FT_UINT:
		if (!parse_number(s, 0, UINT_MAX, &num))
			error_at(r, n, NULL, "%s must be a non-negative number, not '%s'", f->key, s);
		else
			*(unsigned *)at = (unsigned)num;
		break;
	case FT_INT:
		if (!parse_number(s, 10, INT_MAX, &num))
			error_at(r, n, NULL, "%s must be a non-negative number, not '%s'", f->key, s);
		else
			*(int *)at = (int)num;
		break;
	case FT_EPOCH:
		if (!(v = expand(r, n, f->key)))
			return;
		if (!parse_number(v, 10, 0xffffffffUL, &num)) /* cpio's mtime is 32 bits: more would wrap */
			error_at(r, n, "cpio stores 32-bit times: 0 to 4294967295 (2106)",
				 "%s must be seconds since 1970, not '%s'", f->key, v);
		else
			*(long long *)at = (long long)num;
		free(v);
		break;
	case FT_BOOL:
		if (!parse_bool(s, (bool *)at))
			error_at(r, n, NULL, "%s must be true or false, not '%s'", f->key, s);
		break;
	case FT_NODETYPE:
		set_node_type(r, n, (char *)at);
		break;
	case FT_STRLIST:
	case FT_MAP:
	case FT_LIST:
	case FT_SPECIAL:
		break;
	}
}

static const struct field *find_field(const struct field *fields, const char *key)
{
	for (const struct field *f = fields; f->key; f++)
		if (!strcmp(f->key, key))
			return f;
	return NULL;
}

static void unknown_key(struct reader *r, yaml_node_t *k, const struct field *fields, const char *where)
{
	size_t n = 0;
	while (fields[n].key)
		n++;
	const char **cands = xcalloc(n + 1, sizeof(*cands));
	for (size_t i = 0; i < n; i++)
		cands[i] = fields[i].key;
	const char *best = diag_closest(scalar(k), cands, (int)n);
	struct strbuf hint = STRBUF_INIT;
	if (best) {
		sb_addf(&hint, "did you mean '%s'?", best);
	} else {
		sb_addf(&hint, "known keys%s%s:", where ? " in " : "", where ? where : "");
		for (size_t i = 0; i < n; i++)
			sb_addf(&hint, " %s", cands[i]);
	}
	if (where)
		error_at(r, k, hint.buf, "unknown key '%s' in %s", scalar(k), where);
	else
		error_at(r, k, hint.buf, "unknown key '%s'", scalar(k));
	sb_release(&hint);
	free(cands);
}

/* ---- the engine: a mapping read against a table ------------------------- */

/* Which pairs of `map` repeat an earlier scalar key: sorted once, so a
 * mapping of many keys costs k log k, not k^2.  NULL when none does;
 * caller frees. */
struct key_at {
	const char *key;
	size_t i;
};
static int cmp_key_at(const void *a, const void *b)
{
	const struct key_at *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : x->i < y->i ? -1 : x->i > y->i;
}
static bool *duplicate_keys(struct reader *r, yaml_node_t *map)
{
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start), m = 0;
	if (n < 2)
		return NULL;
	struct key_at *v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *k = node(r, map->data.mapping.pairs.start[i].key);
		if (k && k->type == YAML_SCALAR_NODE)
			v[m++] = (struct key_at){ scalar(k), i };
	}
	qsort(v, m, sizeof(*v), cmp_key_at);
	bool *dup = NULL;
	for (size_t j = 1; j < m; j++)
		if (!strcmp(v[j].key, v[j - 1].key)) {
			if (!dup)
				dup = xcalloc(n, sizeof(*dup));
			dup[v[j].i] = true;
		}
	free(v);
	return dup;
}

static void read_value(struct reader *r, const struct field *f, void *base, yaml_node_t *v, const char *where);

/* Walk a mapping against a field table: each key's value is read by its
 * row, an unknown key gets "did you mean".  `where` names the mapping in
 * messages (NULL: the top level). */
static struct seen map_fields(struct reader *r, yaml_node_t *map, const struct field *fields, void *base,
			      const char *where, bool check_required)
{
	struct seen seen = { fields, 0 };
	bool *dup = duplicate_keys(r, map);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
		if (!expect_kind(r, k, YAML_SCALAR_NODE, "a key"))
			continue;
		if (dup && dup[p - map->data.mapping.pairs.start]) {
			if (where)
				error_at(r, k, NULL, "duplicate key '%s' in %s", scalar(k), where);
			else
				error_at(r, k, NULL, "duplicate key '%s'", scalar(k));
		}
		const struct field *f = find_field(fields, scalar(k));
		if (!f) {
			unknown_key(r, k, fields, where);
			continue;
		}
		if (f - fields < 64)
			seen.bits |= 1UL << (f - fields);
		read_value(r, f, base, v, where);
	}
	for (const struct field *f = fields; check_required && f->key; f++)
		if (f->required && !given(&seen, f->key))
			error_at(r, map, NULL, "%s needs '%s'", where ? where : "the manifest", f->key);
	free(dup);
	return seen;
}

/* A nested mapping; a scalar sets its shorthand key. */
static void read_map(struct reader *r, const struct field *f, void *obj, yaml_node_t *v, const char *parent)
{
	char *where = parent ? xasprintf("%s.%s", parent, f->key) : xstrdup(f->key);
	if (v->type == YAML_SCALAR_NODE && f->shorthand) {
		read_value(r, find_field(f->sub, f->shorthand), obj, v, where);
	} else if (expect_kind(r, v, YAML_MAPPING_NODE, f->key)) {
		struct seen seen = map_fields(r, v, f->sub, obj, where, true);
		if (f->check)
			f->check(r, obj, v, &seen);
	}
	free(where);
}

static void read_item(struct reader *r, const struct field *f, void *elem, yaml_node_t *item)
{
	char where[64];
	snprintf(where, sizeof(where), "an item of %s", f->key);
	if (f->init)
		f->init(elem);
	*(struct loc *)((char *)elem + f->item_loc) = node_loc(r, item);
	struct seen seen = { f->sub, 0 };
	if (item->type == YAML_SCALAR_NODE && f->shorthand) {
		const struct field *sf = find_field(f->sub, f->shorthand);
		set_field(r, sf, elem, item);
		seen.bits = 1UL << (sf - f->sub);
	} else if (item->type == YAML_MAPPING_NODE) {
		seen = map_fields(r, item, f->sub, elem, where, true);
	} else {
		error_at(r, item, NULL, "%s must be a mapping%s, not %s", where, f->shorthand ? " or a scalar" : "",
			 kind_name(item));
		return;
	}
	if (f->check)
		f->check(r, elem, item, &seen);
}

static void read_list(struct reader *r, const struct field *f, void *base, yaml_node_t *v)
{
	if (!expect_kind(r, v, YAML_SEQUENCE_NODE, f->key))
		return;
	char **arr = (char **)((char *)base + f->off);
	size_t *count = (size_t *)((char *)base + f->off + sizeof(void *));
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		*arr = xrealloc(*arr, (*count + 1) * f->elem_size);
		void *elem = *arr + *count * f->elem_size;
		memset(elem, 0, f->elem_size);
		(*count)++;
		read_item(r, f, elem, node(r, *it));
	}
}

static void read_value(struct reader *r, const struct field *f, void *base, yaml_node_t *v, const char *where)
{
	if (f->loc)
		*(struct loc *)((char *)base + f->loc - 1) = node_loc(r, v);
	if (f->read)
		f->read(r, f, base, v);
	else if (f->type == FT_MAP)
		read_map(r, f, (char *)base + f->off, v, where);
	else if (f->type == FT_LIST)
		read_list(r, f, base, v);
	else
		set_field(r, f, base, v);
}

/* ---- readers and checks of their own ------------------------------------ */

static void read_version(struct reader *r, const struct field *f, void *base, yaml_node_t *v)
{
	(void)f;
	(void)base;
	if (!expect_kind(r, v, YAML_SCALAR_NODE, "rdc"))
		return;
	if (strcmp(scalar(v), "1")) {
		error_at(r, v, "this rdc reads manifests of version 1: rdc: 1", "unsupported manifest version '%s'", scalar(v));
		return;
	}
	r->m->version = 1;
}

static void read_nothing(struct reader *r, const struct field *f, void *base, yaml_node_t *v)
{
	/* include: read before the other keys, see read_document */
	(void)r;
	(void)f;
	(void)base;
	(void)v;
}

static void add_env(struct reader *r, struct mf_init *in, yaml_node_t *at, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || strspn(kv, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != (size_t)(eq - kv)) {
		error_at(r, at, "e.g. env: {LANG: C} or env: [LANG=C]", "'%s' is not NAME=VALUE", kv);
		return;
	}
	/* the generated /init keeps its state in rdc_* variables and splits words with IFS */
	if (!strncmp(kv, "rdc_", 4) || (eq - kv == 3 && !strncmp(kv, "IFS", 3))) {
		error_at(r, at, "pick another name", "%.*s is reserved by the generated /init", (int)(eq - kv), kv);
		return;
	}
	in->env = xrealloc(in->env, (in->nenv + 1) * sizeof(*in->env));
	in->env[in->nenv++] = xstrdup(kv);
}


static void read_env(struct reader *r, const struct field *f, void *base, yaml_node_t *v)
{
	(void)f;
	struct mf_init *in = base;
	if (v->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node(r, p->key), *val = node(r, p->value);
			if (!expect_kind(r, k, YAML_SCALAR_NODE, "an env name") ||
			    !expect_kind(r, val, YAML_SCALAR_NODE, "an env value"))
				continue;
			char *kv = xasprintf("%s=%s", scalar(k), scalar(val));
			add_env(r, in, k, kv);
			free(kv);
		}
	} else if (expect_kind(r, v, YAML_SEQUENCE_NODE, "env")) {
		for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
			yaml_node_t *e = node(r, *it);
			if (expect_kind(r, e, YAML_SCALAR_NODE, "an env entry"))
				add_env(r, in, e, scalar(e));
		}
	}
}

WORDS(load_words, "load", "none")
static void read_load(struct reader *r, const struct field *f, void *base, yaml_node_t *v)
{
	(void)f;
	struct mf_init *in = base;
	if (!expect_kind(r, v, YAML_SCALAR_NODE, "modules"))
		return;
	if (!strcmp(scalar(v), "load"))
		in->load_modules = true;
	else if (!strcmp(scalar(v), "none"))
		in->load_modules = false;
	else
		error_at(r, v, "load: insmod the kmods closure at boot; none: only pack them",
			 "init.modules must be load or none, not '%s'", scalar(v));
}

/* init: none (or no init: at all) means no /init. */
static void read_init(struct reader *r, const struct field *f, void *base, yaml_node_t *v)
{
	struct mf_init *in = (struct mf_init *)((char *)base + f->off);
	in->present = !(v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "none"));
	if (in->present)
		read_map(r, f, in, v, NULL);
}

static void check_node(struct reader *r, void *elem, yaml_node_t *n, const struct seen *seen)
{
	struct mf_node *nd = elem;
	bool dev = nd->type == 'c' || nd->type == 'b';
	if (dev && (!given(seen, "major") || !given(seen, "minor")))
		error_at(r, n, NULL, "a %s device node needs major and minor", nd->type == 'c' ? "character" : "block");
	else if (dev && (nd->major > 4095 || nd->minor > 1048575)) /* Linux's dev_t: 12 + 20 bits */
		error_at(r, n, "Linux device numbers: major 0-4095, minor 0-1048575",
			 "device %u:%u cannot exist: the kernel would make another node", nd->major, nd->minor);
	if (!given(seen, "mode"))
		nd->mode = dev ? 0600 : 0644;
}

static void check_binary(struct reader *r, void *elem, yaml_node_t *n, const struct seen *seen)
{
	struct mf_binary *b = elem;
	if (!b->path == !b->src)
		error_at(r, n, "e.g. busybox, {path: /usr/sbin/ip, dest: /sbin/ip} or {src: out/prog, dest: /usr/bin/prog}",
			 "a binary needs exactly one of path and src");
	else if (b->src && !b->dest && !given(seen, "dest")) /* a bad dest was reported already */
		error_at(r, n, "a program from the host has no path in the sysroot to keep, e.g. dest: /usr/bin/prog",
			 "a binary with 'src' needs 'dest'");
}

static void check_kmod(struct reader *r, void *elem, yaml_node_t *n, const struct seen *seen)
{
	(void)seen;
	struct mf_kmod *k = elem;
	if (!k->name == !k->path)
		error_at(r, n, "e.g. {name: i6300esb} or {path: ./out/mydrv.ko}", "a kmod needs exactly one of name and path");
}

static void check_file(struct reader *r, void *elem, yaml_node_t *n, const struct seen *seen)
{
	struct mf_file *f = elem;
	if (!f->src && !f->content && given(seen, "src")) /* a bad src (unset ${VAR}) was reported */
		return;
	if (!f->src == !f->content) {
		error_at(r, n, "e.g. {src: scripts/test.sh, dest: /test.sh} or {dest: /etc/hostname, content: \"tiny\\n\"}",
			 "a file needs exactly one of src and content");
		return;
	}
	if (f->content)
		f->content_len = strlen(f->content);
	if (f->src) {
		size_t len = strlen(f->src);
		f->tree = len > 0 && f->src[len - 1] == '/';
		char *abs = host_path(r, f->src);
		free(f->src);
		f->src = abs;
	}
	if (!f->dest && !given(seen, "dest")) { /* a bad dest was reported already */
		if (f->content || f->src[0] == '\0') {
			error_at(r, n, NULL, "a file needs 'dest'");
			return;
		}
		error_at(r, n, "say where it goes in the image, e.g. dest: /test.sh", "a file needs 'dest'");
	}
}

/* qemu.memory as QEMU's -m takes it: a number, optionally k/M/G/T. */
static void check_qemu(struct reader *r, void *obj, yaml_node_t *map, const struct seen *seen)
{
	(void)seen;
	const char *mem = ((struct mf_qemu *)obj)->memory;
	if (!mem)
		return;
	size_t digits = strspn(mem, "0123456789");
	bool ok = digits > 0 && (!mem[digits] || (strchr("kKmMgGtT", mem[digits]) && !mem[digits + 1]));
	if (ok && strtoull(mem, NULL, 10) > 0)
		return;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
		if (!strcmp(scalar(node(r, p->key)), "memory"))
			error_at(r, node(r, p->value), "e.g. 256M or 1G (a number with an optional k, M, G or T)",
				 "memory '%s' is not a size QEMU takes", mem);
}

/* ---- expect: how the guest must end ------------------------------------ */

/* The outcomes a guest can end in besides reporting a status (run/runner.c
 * tells them apart). */
const char *const manifest_outcomes[] = { "watchdog", "panic", "poweroff", "timeout", NULL };
static const char *const *outcome_words(void) { return manifest_outcomes; }

/* One regex, checked by compiling it as rdc run will. */
static void read_regex(struct reader *r, yaml_node_t *e, const char *key, char ***list, size_t *n)
{
	if (!expect_kind(r, e, YAML_SCALAR_NODE, key))
		return;
	regex_t re;
	int rc = regcomp(&re, scalar(e), REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char why[128];
		regerror(rc, &re, why, sizeof(why));
		error_at(r, e, "a POSIX extended regex, e.g. '^ok [0-9]+$' (quote it in YAML)", "bad regex '%s' in expect.%s: %s",
			 scalar(e), key, why);
		return;
	}
	regfree(&re);
	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = xstrdup(scalar(e));
}

/* A regex or a list of them, kept as written (no ${VAR}: '$' ends lines). */
static void read_regexes(struct reader *r, yaml_node_t *v, const char *key, char ***list, size_t *n)
{
	if (v->type != YAML_SEQUENCE_NODE) {
		read_regex(r, v, key, list, n);
		return;
	}
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
		read_regex(r, node(r, *it), key, list, n);
}


/* expect.console, expect.not_console: a regex or a list of them. */
static void read_console(struct reader *r, const struct field *f, void *base, yaml_node_t *v)
{
	char *at = (char *)base + f->off;
	read_regexes(r, v, f->key, (char ***)at, (size_t *)(at + sizeof(char **)));
}

static void read_expect(struct reader *r, const struct field *f, void *base, yaml_node_t *v)
{
	struct mf_expect *e = (struct mf_expect *)((char *)base + f->off);
	e->present = true;
	read_map(r, f, e, v, NULL);
}

static void check_expect(struct reader *r, void *obj, yaml_node_t *map, const struct seen *seen)
{
	(void)seen;
	struct mf_expect *e = obj;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *val = node(r, p->value);
		const char *k = scalar(node(r, p->key));
		if (!strcmp(k, "status") && e->status > 255)
			error_at(r, val, "a status is what /init exits with: 0..255", "status %d is out of range", e->status);
		else if (!strcmp(k, "outcome") && e->outcome && e->status >= 0)
			error_at(r, val, "a guest that reports a status did not end in an outcome: keep one of the two",
				 "expect has both status and outcome");
	}
}

/* kernel: tree: gives the release and the modules itself, so version: and
 * modules: beside it would be a second, contradicting answer; share: 9p
 * needs the tree whose modules rdc run shares. */
WORDS(share_words, "9p")
static void check_kernel(struct reader *r, void *obj, yaml_node_t *map, const struct seen *seen)
{
	(void)obj;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(r, p->key);
		const char *key = k->type == YAML_SCALAR_NODE ? scalar(k) : "";
		if (given(seen, "tree") && (!strcmp(key, "version") || !strcmp(key, "modules")))
			error_at(r, k, "drop it: the tree's include/config/kernel.release and modules.order say",
				 "kernel.%s cannot go with kernel.tree", key);
		else if (!strcmp(key, "share") && !given(seen, "tree"))
			error_at(r, node(r, p->value), "name the kernel build directory with tree: DIR",
				 "kernel.share shares a build tree's modules, and there is no kernel.tree");
	}
}

static void init_dir(void *e) { ((struct mf_dir *)e)->mode = 0755; }
static void init_file(void *e) { ((struct mf_file *)e)->mode = MODE_UNSET; }

/* ---- the key table -------------------------------------------------------- */

WORDS(on_exit_words, "poweroff", "reboot", "halt", "shell")

#define M(f) offsetof(struct manifest, f)
#define K(f) (offsetof(struct manifest, kernel.f) - offsetof(struct manifest, kernel))
#define O(type, f) offsetof(struct type, f)
#define ONE_OF(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define MODE_DOC "octal, quoted: \"0644\""

static const struct field binary_keys[] = {
	{ "path", FT_STR, O(mf_binary, path), .doc = "a name looked up in PATH inside the sysroot, or an absolute path there" },
	{ "dest", FT_IMGPATH, O(mf_binary, dest), .doc = "where it goes in the image", .def = "its own path" },
	{ "src", FT_HOSTPATH, O(mf_binary, src), .doc = "a program built on the host instead (needs dest; its libraries come from the sysroot)" },
	{ 0 },
};
static const struct field library_keys[] = {
	{ "name", FT_STR, O(mf_library, name), true, .doc = "a soname or a path inside the sysroot" },
	{ 0 },
};
static const struct field kmod_keys[] = {
	{ "name", FT_STR, O(mf_kmod, name), .doc = "a module name or alias (fs-vfat)" },
	{ "path", FT_HOSTPATH, O(mf_kmod, path), .doc = "an out-of-tree .ko instead" },
	{ "params", FT_STR, O(mf_kmod, params), .doc = "module parameters: \"heartbeat=2\"" },
	{ 0 },
};
static const struct field node_keys[] = {
	{ "path", FT_IMGPATH, O(mf_node, path), true, .doc = "the node's path in the image" },
	{ "type", FT_NODETYPE, O(mf_node, type), true, .doc = "c, b, pipe (p) or sock (s)", .values = node_types },
	{ "major", FT_UINT, O(mf_node, major), .doc = "needed for c and b" },
	{ "minor", FT_UINT, O(mf_node, minor), .doc = "needed for c and b" },
	{ "mode", FT_MODE, O(mf_node, mode), .doc = MODE_DOC, .def = "0600 for c and b, 0644" },
	{ "uid", FT_UINT, O(mf_node, uid), .def = "0" },
	{ "gid", FT_UINT, O(mf_node, gid), .def = "0" },
	{ 0 },
};
static const struct field dir_keys[] = {
	{ "path", FT_IMGPATH, O(mf_dir, path), true, .doc = "the directory's path in the image" },
	{ "mode", FT_MODE, O(mf_dir, mode), .doc = MODE_DOC, .def = "0755" },
	{ "uid", FT_UINT, O(mf_dir, uid), .def = "0" },
	{ "gid", FT_UINT, O(mf_dir, gid), .def = "0" },
	{ 0 },
};
static const struct field symlink_keys[] = {
	{ "path", FT_IMGPATH, O(mf_symlink, path), true, .doc = "the link's path in the image" },
	{ "target", FT_STR, O(mf_symlink, target), true, .doc = "what it points to, as written" },
	{ "uid", FT_UINT, O(mf_symlink, uid), .def = "0" },
	{ "gid", FT_UINT, O(mf_symlink, gid), .def = "0" },
	{ 0 },
};
static const struct field file_keys[] = {
	{ "src", FT_STR, O(mf_file, src), .doc = "relative to the manifest; ending in / copies a whole tree" }, /* made absolute in check_file */
	{ "dest", FT_IMGPATH, O(mf_file, dest), .doc = "the path in the image" },
	{ "content", FT_RAWSTR, O(mf_file, content), .doc = "the file's bytes instead of src (not ${VAR}-expanded)" },
	{ "mode", FT_MODE, O(mf_file, mode), .doc = MODE_DOC, .def = "the source's mode; 0644 for content" },
	{ "uid", FT_UINT, O(mf_file, uid), .def = "0" },
	{ "gid", FT_UINT, O(mf_file, gid), .def = "0" },
	{ 0 },
};
static const struct field kernel_keys[] = {
	{ "version", FT_STR, K(version), .doc = "host (uname -r), latest, a release, or ${KVER}" },
	{ "modules", FT_HOSTPATH, K(modules), .doc = "the directory holding <version>/, e.g. $INSTALL_MOD_PATH/lib/modules", .def = "/lib/modules in the sysroot" },
	{ "firmware", FT_HOSTPATH, K(firmware), .doc = "where modules' firmware is found (firmware that is missing is one warning for the image, -v lists it)", .def = "/lib/firmware in the sysroot" },
	{ "decompress", FT_BOOL, K(decompress), .doc = "store .ko.xz/.zst/.gz modules unpacked", .def = "false" },
	{ "tree", FT_HOSTPATH, K(tree), .doc = "a kernel build directory: its release, its modules (never installed) and its image; not with version or modules (see *Kernel build trees*)",
	  .loc = LOC(K(tree_loc)) },
	{ "share", FT_ENUM, K(share), .doc = "9p: the tree's modules are shared with the guest at boot instead of packed (needs tree)",
	  .values = share_words, .noun = "kernel.share", .loc = LOC(K(share_loc)) },
	{ 0 },
};
static const struct field step_keys[] = {
	{ "run", FT_RAWSTR, O(mf_step, run), true, .doc = "a shell command, run as its own sh -c (not ${VAR}-expanded)" },
	{ 0 },
};
static const struct field init_keys[] = {
	{ "exec", FT_IMGPATH, O(mf_init, exec), .doc = "hand PID 1 to this program of the image instead of a generated /init" },
	{ "mounts", FT_STRLIST, O(mf_init, mounts), .doc = "mounted in dependency order, whatever the order here", .values = manifest_mount_names, .noun = "mount" },
	{ "modules", FT_BOOL, 0, .doc = "load: insmod the kmods closure at boot; none: only pack them", .def = "none", .values = load_words, .read = read_load },
	{ "env", FT_STRLIST, O(mf_init, env), .doc = "a map, or a list of NAME=VALUE", .read = read_env,
	  .schema = "{\"oneOf\": [{\"type\": \"object\", \"propertyNames\": {\"pattern\": \"^(?!rdc_|IFS$)[A-Za-z0-9_]+$\"},"
		    " \"additionalProperties\": {\"type\": [\"string\", \"number\", \"boolean\"]}},"
		    " {\"type\": \"array\", \"items\": {\"type\": \"string\", \"pattern\": \"^(?!rdc_|IFS=)[A-Za-z0-9_]+=\"}}]}" },
	{ "hostname", FT_STR, O(mf_init, hostname), .doc = "the guest's host name" },
	{ "steps", FT_LIST, O(mf_init, steps), .doc = "commands run in order; the first failure stops the rest", .sub = step_keys,
	  .shorthand = "run", .elem_size = sizeof(struct mf_step), .item_loc = O(mf_step, loc) },
	{ "on_exit", FT_ENUM, O(mf_init, on_exit), .doc = "what /init does when the steps end", .def = "poweroff", .values = on_exit_words },
	{ 0 },
};
static const struct field compression_keys[] = {
	{ "algo", FT_ENUM, O(mf_output, algo), .doc = "the compressor", .def = "from the suffix", .values = output_algo_names, .noun = "compression" },
	{ "level", FT_INT, O(mf_output, level), .doc = "the compressor's level", .def = "the compressor's default", .loc = LOC(O(mf_output, level_loc)) },
	{ 0 },
};
static const struct field output_keys[] = {
	{ "path", FT_HOSTPATH, O(mf_output, path), .doc = "the image; the suffix names the format", .def = "<manifest name>.cpio.zst" },
	{ "format", FT_ENUM, O(mf_output, format), .doc = "the format, when the suffix does not say it", .values = output_format_names, .noun = "output format" },
	{ "compression", FT_MAP, 0, .doc = "an algo, or {algo, level}", .sub = compression_keys, .shorthand = "algo" },
	{ "single_segment", FT_BOOL, O(mf_output, single_segment), .doc = "one compressed stream instead of cached segments", .def = "false" },
	{ 0 },
};
static const struct field qemu_keys[] = {
	{ "memory", FT_STR, O(mf_qemu, memory), .doc = "as -m takes it: 512M, 1G", .def = "256M",
	  .schema = "{\"anyOf\": [{\"type\": \"string\", \"pattern\": \"^0*[1-9][0-9]*[kKmMgGtT]?$\"}, {\"type\": \"integer\", \"minimum\": 1}]}" },
	{ "args", FT_STRLIST, O(mf_qemu, args), .doc = "more QEMU arguments, one word per item" },
	{ "kernel", FT_HOSTPATH, O(mf_qemu, kernel), .doc = "the kernel image to boot", .def = "/boot/vmlinuz-<version>" },
	{ "append", FT_STR, O(mf_qemu, append), .doc = "more of the kernel command line" },
	{ "smp", FT_INT, O(mf_qemu, smp), .doc = "CPUs", .def = "1" },
	{ "timeout", FT_INT, O(mf_qemu, timeout), .doc = "seconds; 0: none", .def = "300" },
	{ 0 },
};

static const char *const console_schema =
	"{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"array\", \"items\": {\"type\": \"string\"}}]}";
static const struct field expect_keys[] = {
	{ "status", FT_INT, O(mf_expect, status), .doc = "the status /init must report (0..255)", .def = "0 unless outcome is given",
	  .schema = "{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 255}" },
	{ "outcome", FT_ENUM, O(mf_expect, outcome), .doc = "how the guest must end instead of reporting a status", .values = outcome_words,
	  .noun = "outcome", .more = "or status: N for a status" },
	{ "console", FT_STRLIST, O(mf_expect, console), .doc = "POSIX extended regexes, each matching some console line (kept as written)",
	  .read = read_console, .schema = console_schema },
	{ "not_console", FT_STRLIST, O(mf_expect, not_console), .doc = "regexes no console line may match", .read = read_console,
	  .schema = console_schema },
	{ 0 },
};

/* The top level.  rdc: is required of the top file only (read_document). */
static const struct field top_keys[] = {
	{ "rdc", FT_SPECIAL, 0, true, .doc = "the manifest's version: 1", .read = read_version, .schema = "{\"enum\": [1, \"1\"]}" },
	{ "include", FT_SPECIAL, 0, .doc = "manifests merged first, relative to this one: their lists come first, this file's scalars win; cycles are an error",
	  .read = read_nothing, .schema = "{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"array\", \"items\": {\"type\": \"string\"}}]}" },
	{ "arch", FT_ENUM, M(arch), .doc = "the image's architecture", .def = "the host's", .values = arch_names, .loc = LOC(M(arch_loc)) },
	{ "sysroot", FT_HOSTPATH, M(sysroot), .doc = "where binaries, libraries, modules and firmware come from (nothing of the host leaks in)", .def = "/", .loc = LOC(M(sysroot_loc)) },
	{ "kernel", FT_MAP, M(kernel), .doc = "the kernel the modules are for", .sub = kernel_keys, .loc = LOC(M(kernel.loc)), .check = check_kernel,
	  .extra = "\"not\": {\"anyOf\": [{\"required\": [\"tree\", \"version\"]}, {\"required\": [\"tree\", \"modules\"]}]},"
		   " \"dependentRequired\": {\"share\": [\"tree\"]}" },
	{ "epoch", FT_EPOCH, M(epoch), .doc = "the mtime of every entry, in seconds (SOURCE_DATE_EPOCH wins)", .def = "0" },
	{ "binaries", FT_LIST, M(binaries), .doc = "programs with their shared-library closure", .sub = binary_keys, .shorthand = "path",
	  .elem_size = sizeof(struct mf_binary), .item_loc = O(mf_binary, loc), .check = check_binary,
	  .exclusive = ONE_OF("path", "src"), .extra = "\"dependentRequired\": {\"src\": [\"dest\"]}" },
	{ "libraries", FT_LIST, M(libraries), .doc = "dlopen()ed libraries DT_NEEDED cannot show", .sub = library_keys, .shorthand = "name",
	  .elem_size = sizeof(struct mf_library), .item_loc = O(mf_library, loc) },
	{ "kmods", FT_LIST, M(kmods), .doc = "kernel modules with their dependencies, softdeps and firmware", .sub = kmod_keys, .shorthand = "name",
	  .elem_size = sizeof(struct mf_kmod), .item_loc = O(mf_kmod, loc), .check = check_kmod, .exclusive = ONE_OF("name", "path") },
	{ "nodes", FT_LIST, M(nodes), .doc = "device nodes, FIFOs and sockets (building needs no root)", .sub = node_keys,
	  .elem_size = sizeof(struct mf_node), .item_loc = O(mf_node, loc), .check = check_node,
	  .extra = "\"if\": {\"required\": [\"type\"], \"properties\": {\"type\": {\"enum\": [\"c\", \"b\"]}}},"
		   " \"then\": {\"required\": [\"major\", \"minor\"], \"properties\": {\"major\": {\"maximum\": 4095}, \"minor\": {\"maximum\": 1048575}}}" },
	{ "dirs", FT_LIST, M(dirs), .doc = "directories", .sub = dir_keys, .shorthand = "path",
	  .elem_size = sizeof(struct mf_dir), .item_loc = O(mf_dir, loc), .init = init_dir },
	{ "symlinks", FT_LIST, M(symlinks), .doc = "symbolic links", .sub = symlink_keys,
	  .elem_size = sizeof(struct mf_symlink), .item_loc = O(mf_symlink, loc) },
	{ "files", FT_LIST, M(files), .doc = "files from the host or inline, and whole trees", .sub = file_keys,
	  .elem_size = sizeof(struct mf_file), .item_loc = O(mf_file, loc), .init = init_file, .check = check_file,
	  .exclusive = ONE_OF("src", "content"), .extra = "\"required\": [\"dest\"]" },
	{ "init", FT_MAP, M(init), .doc = "the generated /init (none, or no init:, means no /init)", .sub = init_keys,
	  .loc = LOC(M(init.loc)), .read = read_init, .alt = "{\"const\": \"none\"}" },
	{ "output", FT_MAP, M(output), .doc = "a path, or a mapping", .sub = output_keys, .shorthand = "path", .loc = LOC(M(output.loc)) },
	{ "qemu", FT_MAP, M(qemu), .doc = "how rdc run boots it", .sub = qemu_keys, .loc = LOC(M(qemu.loc)), .check = check_qemu },
	{ "expect", FT_MAP, M(expect), .doc = "how the guest must end for rdc run and rdc test to pass", .sub = expect_keys,
	  .loc = LOC(M(expect.loc)), .read = read_expect, .check = check_expect, .extra = "\"not\": {\"required\": [\"status\", \"outcome\"]}" },
	{ 0 },
};

/* ---- the top level ----------------------------------------------------- */

static int read_file_into(struct reader *parent, struct manifest *m, const char *path, yaml_node_t *at);

static void read_includes(struct reader *r, yaml_node_t *v)
{
	if (v->type == YAML_SCALAR_NODE) {
		char *p = expand(r, v, "include");
		if (p) {
			char *abs = host_path(r, p);
			r->errors += read_file_into(r, r->m, abs, v);
			free(abs);
			free(p);
		}
		return;
	}
	if (!expect_kind(r, v, YAML_SEQUENCE_NODE, "include"))
		return;
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
		if (expect_kind(r, node(r, *it), YAML_SCALAR_NODE, "an include"))
			read_includes(r, node(r, *it));
}


static void read_document(struct reader *r, bool top)
{
	yaml_node_t *root = yaml_document_get_root_node(&r->doc);
	if (!root) {
		struct loc l = { r->file, 0, 0 };
		diag_error(&l, "a manifest starts with: rdc: 1", "the manifest is empty");
		r->errors++;
		return;
	}
	if (!expect_kind(r, root, YAML_MAPPING_NODE, "a manifest"))
		return;
	bool has_version = false;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(r, p->key);
		if (k->type != YAML_SCALAR_NODE)
			continue;
		if (!strcmp(scalar(k), "rdc"))
			has_version = true;
		if (!strcmp(scalar(k), "include"))
			read_includes(r, node(r, p->value));
	}
	if (!has_version && top)
		error_at(r, root, "a manifest starts with: rdc: 1", "the manifest does not say its version (rdc: 1)");
	map_fields(r, root, top_keys, r->m, NULL, false);
}

static const char *intern(struct strlist *names, const char *s)
{
	for (size_t i = 0; i < names->n; i++)
		if (!strcmp(names->v[i], s))
			return names->v[i];
	sl_push(names, s);
	return names->v[names->n - 1];
}

/* Line `n` (from 0) of data, without its newline; NULL past the end. */
static const char *line_at(const char *data, size_t len, size_t n, size_t *line_len)
{
	const char *p = data, *end = data + len;
	for (; n > 0; n--) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return NULL;
		p = nl + 1;
	}
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	*line_len = (size_t)((nl ? nl : end) - p);
	return p;
}

/* A ${VAR} that does not open a quoted scalar: {version: ${KVER}} */
static bool bare_var(const char *line, size_t len)
{
	for (const char *p = line; (p = memmem(p, len - (size_t)(p - line), "${", 2)); p += 2)
		if (p == line || (p[-1] != '"' && p[-1] != '\''))
			return true;
	return false;
}

/* libyaml checks every open flow level at every token, so nesting costs
 * depth^2 (400 KB of [[[...]]] ran for minutes) and its composer recurses
 * once per level.  An event pass that stops at MAX_NESTING levels first
 * bounds both; a manifest needs a handful.  Returns false after an error. */
#define MAX_NESTING 64
static bool nesting_ok(struct reader *r, const char *data, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	int depth = 0, docs = 0;
	bool ok = true, done = false;
	while (!done && yaml_parser_parse(&parser, &ev)) {
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
			depth--;
		if (ev.type == YAML_DOCUMENT_START_EVENT)
			docs++;
		struct loc l = { r->file, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1 };
		if (depth > MAX_NESTING) {
			diag_error(&l, "a manifest needs a few levels; this looks generated or damaged",
				   "nested more than %d levels deep", MAX_NESTING);
			ok = false;
		} else if (docs > 1) { /* silently ignored, it would be a surprise */
			diag_error(&l, "one manifest per file; use include: to combine files",
				   "a second YAML document ('---') in a manifest");
			ok = false;
		}
		done = !ok || ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return ok; /* a syntax error is reported by the real parse, with its hints */
}

/* "\0" in a quoted scalar is a NUL byte that every C string after the
 * reader would cut at (a path, a name, content): an error at the value. */
static bool no_nul_bytes(struct reader *r)
{
	bool ok = true;
	for (yaml_node_t *n = r->doc.nodes.start; n < r->doc.nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
			error_at(r, n, "use src: for a file that holds NUL bytes", "a NUL byte in a manifest value");
			ok = false;
		}
	return ok;
}

/* Parse `data` as the file `name`; returns the number of errors. */
static int read_buffer(struct reader *r, const char *data, size_t len, bool top)
{
	if (!nesting_ok(r, data, len))
		return 1;
	yaml_parser_t parser;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &r->doc)) {
		yaml_mark_t at = parser.problem_mark;
		bool at_eof = at.index >= len;
		if (at_eof && parser.context) /* "end of file" shows nothing: point where the open construct began */
			at = parser.context_mark;
		struct loc l = { r->file, (int)at.line + 1, (int)at.column + 1 };
		struct strbuf hint = STRBUF_INIT;
		if (parser.context)
			sb_addf(&hint, "%s%s", parser.context, at_eof ? ", which the file ends before closing" : "");
		/* {version: ${KVER}} is the classic: in flow style '{' and '}' are syntax */
		size_t line_len;
		const char *line = line_at(data, len, at.line, &line_len);
		if (line && bare_var(line, line_len))
			sb_addf(&hint, "%squote a value that uses ${VAR} inside { } or [ ]: version: \"${KVER}\"",
				hint.len ? "; " : "");
		diag_error(&l, hint.len ? hint.buf : NULL, "%s", parser.problem ? parser.problem : "invalid YAML");
		sb_release(&hint);
		yaml_parser_delete(&parser);
		return 1;
	}
	if (no_nul_bytes(r))
		read_document(r, top);
	yaml_document_delete(&r->doc);
	yaml_parser_delete(&parser);
	return r->errors;
}

/* Errors quote a manifest's lines and keys, so a file is read as one only
 * when it says it is one (*.yaml, *.yml) or is readable by anyone anyway:
 * `include: /etc/shadow` must not print root's password hash. */
static bool manifest_like(const char *real)
{
	size_t n = strlen(real);
	struct stat st;
	if ((n > 5 && !strcmp(real + n - 5, ".yaml")) || (n > 4 && !strcmp(real + n - 4, ".yml")))
		return true;
	return stat(real, &st) < 0 || (st.st_mode & S_IROTH);
}

/* Reads `path` into m, as an include of parent (or the top file when parent
 * is NULL).  Returns the number of errors. */
static int read_file_into(struct reader *parent, struct manifest *m, const char *path, yaml_node_t *at)
{
	struct reader r = { .m = m, .names = &m->file_names };
	struct read_budget top_budget = { 0 };
	r.stack = parent ? parent->stack : xcalloc(1, sizeof(*r.stack));
	r.budget = parent && parent->budget ? parent->budget : &top_budget;
	char *real = realpath(path, NULL);
	int errors = 0;
	struct strbuf buf = STRBUF_INIT;
	if (r.budget->over)
		goto out;
	if (real && !manifest_like(real)) {
		if (parent)
			error_at(parent, at, "name a manifest *.yaml (or make it readable by all)",
				 "not reading %s as a manifest: it is private and not named *.yaml, and its lines "
				 "would be printed in errors", path);
		else
			diag_error(NULL, NULL, "not reading %s as a manifest: it is private and not named *.yaml", path);
		errors = parent ? 0 : 1;
		goto out;
	}
	if (!real || read_file_max(real, &buf, MANIFEST_MAX_BYTES) < 0) {
		if (parent)
			error_at(parent, at, NULL, "cannot read included manifest %s: %s", path, read_strerror(errno));
		else
			diag_error(NULL, NULL, "cannot read manifest %s: %s", path, read_strerror(errno));
		errors = parent ? 0 : 1;
		goto out;
	}
	if (sl_has(r.stack, real) || r.stack->n >= MAX_INCLUDE_DEPTH) {
		struct strbuf chain = STRBUF_INIT;
		for (size_t i = 0; i < r.stack->n; i++)
			sb_addf(&chain, "%s -> ", r.stack->v[i]);
		sb_adds(&chain, real);
		error_at(parent, at, chain.buf, "include cycle: %s includes itself", path);
		sb_release(&chain);
		goto out;
	}
	r.budget->bytes += buf.len;
	if (++r.budget->files > MANIFEST_MAX_FILES || r.budget->bytes > MANIFEST_MAX_TOTAL) {
		r.budget->over = true;
		if (parent)
			error_at(parent, at, "an include repeated at every level multiplies: include each file once",
				 "the includes read more than %u files or %u MiB: stopping here", MANIFEST_MAX_FILES,
				 MANIFEST_MAX_TOTAL >> 20);
		goto out;
	}
	sl_push(r.stack, real);
	r.file = intern(r.names, parent ? path : m->path);
	r.dir = path_dirname(real);
	errors = read_buffer(&r, buf.buf, buf.len, parent == NULL);
	free(r.dir);
	free(r.stack->v[--r.stack->n]);
out:
	if (!parent) {
		sl_release(r.stack);
		free(r.stack);
	}
	sb_release(&buf);
	free(real);
	return errors;
}

static struct manifest *manifest_new(const char *path)
{
	struct manifest *m = xcalloc(1, sizeof(*m));
	m->path = xstrdup(path);
	m->epoch = -1;
	m->output.level = -1;
	m->qemu.timeout = -1;
	m->expect.status = -1;
	return m;
}

struct manifest *manifest_load(const char *path)
{
	struct manifest *m = manifest_new(path);
	char *real = realpath(path, NULL);
	m->dir = real ? path_dirname(real) : xstrdup(".");
	free(real);
	if (read_file_into(NULL, m, path, NULL)) {
		manifest_free(m);
		return NULL;
	}
	return m;
}

struct manifest *manifest_load_buffer(const char *name, const char *dir, const char *data, size_t len)
{
	struct manifest *m = manifest_new(name);
	m->dir = xstrdup(dir);
	struct strlist stack = STRLIST_INIT;
	struct read_budget budget = { 0 };
	struct reader r = { .m = m, .names = &m->file_names, .stack = &stack, .budget = &budget };
	r.file = intern(r.names, name);
	r.dir = m->dir;
	int errors = read_buffer(&r, data, len, true);
	sl_release(&stack);
	if (errors) {
		manifest_free(m);
		return NULL;
	}
	return m;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Everything a table's rows own, from base. */
static void free_fields(const struct field *fields, void *base)
{
	for (const struct field *f = fields; f->key; f++) {
		char *at = (char *)base + f->off;
		switch (f->type) {
		case FT_STR:
		case FT_RAWSTR:
		case FT_IMGPATH:
		case FT_HOSTPATH:
		case FT_ENUM:
			free(*(char **)at);
			break;
		case FT_STRLIST:
			free_strv(*(char ***)at, *(size_t *)(at + sizeof(char **)));
			break;
		case FT_MAP:
			free_fields(f->sub, at);
			break;
		case FT_LIST: {
			char *arr = *(char **)at;
			size_t n = *(size_t *)(at + sizeof(void *));
			for (size_t i = 0; i < n; i++)
				free_fields(f->sub, arr + i * f->elem_size);
			free(arr);
			break;
		}
		default:
			break;
		}
	}
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	free_fields(top_keys, m);
	free(m->path);
	free(m->dir);
	sl_release(&m->file_names);
	free(m);
}

/* ---- the schema and the reference, from the table ------------------------ */

static void json_str(struct strbuf *o, const char *s)
{
	sb_addch(o, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_addch(o, '\\');
		sb_addch(o, *s);
	}
	sb_addch(o, '"');
}

static void json_words(struct strbuf *o, const char *const *w)
{
	sb_adds(o, "[");
	for (int i = 0; w[i]; i++) {
		sb_adds(o, i ? ", " : "");
		json_str(o, w[i]);
	}
	sb_adds(o, "]");
}

static void indent(struct strbuf *o, int depth)
{
	sb_addch(o, '\n');
	for (int i = 0; i < depth; i++)
		sb_adds(o, "  ");
}

static void schema_value(struct strbuf *o, const struct field *f, int depth);

/* The schema of a mapping of `fields`; `extra` members appended. */
static void schema_object(struct strbuf *o, const struct field *fields, const struct field *owner, int depth)
{
	sb_adds(o, "{");
	indent(o, depth + 1);
	sb_adds(o, "\"type\": \"object\", \"additionalProperties\": false,");
	bool any = false;
	for (const struct field *f = fields; f->key; f++)
		any |= f->required;
	if (any) {
		indent(o, depth + 1);
		sb_adds(o, "\"required\": [");
		int n = 0;
		for (const struct field *f = fields; f->key; f++)
			if (f->required) {
				sb_adds(o, n++ ? ", " : "");
				json_str(o, f->key);
			}
		sb_adds(o, "],");
	}
	if (owner && owner->exclusive) {
		indent(o, depth + 1);
		sb_adds(o, "\"oneOf\": [");
		for (int i = 0; owner->exclusive[i]; i++) {
			sb_adds(o, i ? ", " : "");
			sb_adds(o, "{\"required\": [");
			json_str(o, owner->exclusive[i]);
			sb_adds(o, "]}");
		}
		sb_adds(o, "],");
	}
	if (owner && owner->extra) {
		indent(o, depth + 1);
		sb_addf(o, "%s,", owner->extra);
	}
	indent(o, depth + 1);
	sb_adds(o, "\"properties\": {");
	for (const struct field *f = fields; f->key; f++) {
		indent(o, depth + 2);
		json_str(o, f->key);
		sb_adds(o, ": ");
		schema_value(o, f, depth + 2);
		if (f[1].key)
			sb_addch(o, ',');
	}
	indent(o, depth + 1);
	sb_adds(o, "}");
	indent(o, depth);
	sb_adds(o, "}");
}

static void schema_description(struct strbuf *o, const struct field *f)
{
	if (!f->doc && !f->def)
		return;
	struct strbuf d = STRBUF_INIT;
	sb_adds(&d, f->doc ? f->doc : "");
	if (f->def)
		sb_addf(&d, "%s(default: %s)", f->doc ? " " : "", f->def);
	sb_adds(o, "\"description\": ");
	json_str(o, d.buf);
	sb_adds(o, ", ");
	sb_release(&d);
}

/* A scalar form's schema: the type's own. */
static void schema_scalar(struct strbuf *o, const struct field *f)
{
	switch (f->type) {
	case FT_IMGPATH:
		sb_adds(o, "\"type\": \"string\", \"pattern\": \"^(/|\\\\$\\\\{)\"");
		break;
	case FT_MODE: /* unquoted, YAML 1.1 reads 0644 as a number */
		sb_adds(o, "\"anyOf\": [{\"type\": \"string\", \"pattern\": \"^(0[oO])?0*[0-7]{1,4}$\"},"
			   " {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 4095}]");
		break;
	case FT_UINT:
	case FT_EPOCH: /* both 32 bits */
		sb_adds(o, "\"type\": \"integer\", \"minimum\": 0, \"maximum\": 4294967295");
		break;
	case FT_INT:
		sb_adds(o, "\"type\": \"integer\", \"minimum\": 0, \"maximum\": 2147483647");
		break;
	case FT_BOOL:
		if (f->values) {
			sb_adds(o, "\"enum\": ");
			json_words(o, f->values());
		} else {
			sb_adds(o, "\"type\": \"boolean\"");
		}
		break;
	case FT_ENUM:
	case FT_NODETYPE:
		sb_adds(o, "\"enum\": ");
		json_words(o, f->values());
		break;
	default:
		sb_adds(o, "\"type\": \"string\"");
		break;
	}
}

static void schema_value(struct strbuf *o, const struct field *f, int depth)
{
	sb_adds(o, "{ ");
	schema_description(o, f);
	if (f->schema) {
		sb_adds(o, "\"allOf\": [");
		sb_adds(o, f->schema);
		sb_adds(o, "] }");
		return;
	}
	switch (f->type) {
	case FT_STRLIST: {
		struct strbuf one = STRBUF_INIT;
		if (f->values) {
			sb_adds(&one, "{\"enum\": ");
			json_words(&one, f->values());
			sb_adds(&one, "}");
		}
		sb_addf(o, "\"anyOf\": [%s, {\"type\": \"array\", \"items\": %s}] }",
			f->values ? one.buf : "{\"type\": \"string\", \"pattern\": \"^[^ \\\\t]*$\"}",
			f->values ? one.buf : "{\"type\": \"string\"}");
		sb_release(&one);
		return;
	}
	case FT_MAP:
	case FT_LIST: {
		const struct field *sf = f->shorthand ? find_field(f->sub, f->shorthand) : NULL;
		bool alt = sf || f->alt;
		if (f->type == FT_LIST)
			sb_adds(o, alt ? "\"type\": \"array\", \"items\": { \"oneOf\": [" : "\"type\": \"array\", \"items\": ");
		else
			sb_adds(o, alt ? "\"oneOf\": [" : "\"allOf\": [");
		if (sf) {
			sb_adds(o, "{ ");
			schema_scalar(o, sf);
			sb_adds(o, " }, ");
		} else if (f->alt) {
			sb_addf(o, "%s, ", f->alt);
		}
		schema_object(o, f->sub, f, depth + 1);
		sb_adds(o, f->type == FT_MAP ? "]" : alt ? "] }" : "");
		sb_adds(o, " }");
		return;
	}
	default:
		schema_scalar(o, f);
		sb_adds(o, " }");
	}
}

void manifest_schema(struct strbuf *out)
{
	sb_adds(out, "{\n  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n"
		     "  \"$id\": \"https://rdc.invalid/manifest.schema.json\",\n"
		     "  \"title\": \"rdc manifest, version 1\",\n"
		     "  \"description\": \"Generated from the key table in compiler/manifest/manifest.c by `make schema`: do not edit. "
		     "Strings may use ${VAR} (expanded from the environment) except content and init steps.\",\n  \"allOf\": [");
	schema_object(out, top_keys, NULL, 2);
	sb_adds(out, "]\n}\n");
}

/* One key for the README: `key` (words): doc, required (default X), and a
 * mapping's own keys after a dash. */
static void reference_key(struct strbuf *o, const struct field *f, bool name)
{
	if (name)
		sb_addf(o, "`%s`", f->key);
	if (f->values && f->type != FT_STRLIST) {
		sb_adds(o, name ? " (" : "");
		for (const char *const *w = f->values(); *w; w++)
			sb_addf(o, "%s`%s`", w == f->values() ? "" : "\\|", *w);
		sb_adds(o, name ? ")" : "; ");
	}
	if (f->doc)
		sb_addf(o, "%s%s", name ? ": " : "", f->doc);
	if (f->required)
		sb_adds(o, ", required");
	if (f->def)
		sb_addf(o, " (default %s)", f->def);
	if (f->type != FT_MAP && f->type != FT_LIST)
		return;
	sb_adds(o, " — ");
	if (f->shorthand)
		sb_addf(o, "a scalar is its `%s`; ", f->shorthand);
	for (const struct field *s = f->sub; s->key; s++) {
		sb_adds(o, s == f->sub ? "" : "; ");
		reference_key(o, s, true);
	}
}

/* The README's key reference: a markdown table, one row per top-level key. */
void manifest_reference(struct strbuf *out)
{
	sb_adds(out, "| key | value |\n|---|---|\n");
	for (const struct field *f = top_keys; f->key; f++) {
		sb_addf(out, "| `%s` | ", f->key);
		reference_key(out, f, false);
		sb_adds(out, " |\n");
	}
}

/* ---- rdc-manifest(5), from the same table ------------------------------ */

/* Text for roff: backslashes escaped, markdown's `code` and *emphasis*
 * marks dropped, a leading . or ' kept from being read as a request. */
static void man_text(struct strbuf *o, const char *s)
{
	bool line_start = o->len == 0 || o->buf[o->len - 1] == '\n';
	for (; *s; s++) {
		if (*s == '`' || *s == '*')
			continue;
		if (line_start && (*s == '.' || *s == '\''))
			sb_adds(o, "\\&");
		line_start = false;
		if (*s == '\\')
			sb_adds(o, "\\e");
		else if (*s == '-')
			sb_adds(o, "\\-");
		else
			sb_addch(o, *s);
	}
}

static void man_key(struct strbuf *o, const struct field *f)
{
	sb_adds(o, ".TP\n.B ");
	man_text(o, f->key);
	sb_adds(o, "\n");
	if (f->values && f->type != FT_STRLIST) {
		for (const char *const *w = f->values(); *w; w++) {
			if (w != f->values())
				sb_adds(o, " | ");
			man_text(o, *w);
		}
		sb_adds(o, ": ");
	}
	if (f->doc)
		man_text(o, f->doc);
	if (f->required)
		sb_adds(o, "; required");
	if (f->def) {
		sb_adds(o, " (default ");
		man_text(o, f->def);
		sb_adds(o, ")");
	}
	sb_adds(o, ".\n");
	if (f->type != FT_MAP && f->type != FT_LIST)
		return;
	if (f->shorthand) {
		sb_adds(o, "A scalar is its\n.BR ");
		man_text(o, f->shorthand);
		sb_adds(o, " .\n");
	}
	sb_adds(o, ".RS\n");
	for (const struct field *s = f->sub; s->key; s++)
		man_key(o, s);
	sb_adds(o, ".RE\n");
}

void manifest_man(struct strbuf *out)
{
	sb_adds(out, ".\\\" Generated from the key table in compiler/manifest/manifest.c by\n"
		     ".\\\" `make schema` (rdc schema --man): do not edit.\n"
		     ".TH RDC-MANIFEST 5 2026-12-01 \"rdc " RDC_VERSION "\" \"File Formats\"\n"
		     ".SH NAME\nrdc\\-manifest \\- the YAML manifest rdc compiles into an initramfs\n"
		     ".SH DESCRIPTION\nA manifest is one YAML document, a mapping of the keys below.\n"
		     "Unknown keys are errors (with a \"did you mean\"), never ignored.\n"
		     "Relative\n.B src\npaths are relative to the manifest's directory; image paths are\n"
		     "normalised and may not climb out of\n.BR / .\n"
		     "Modes are octal strings (\"0644\").\n"
		     ".B ${VAR}\nis expanded from the environment in every value except\n.B content\nand init steps;\n"
		     "an unset variable is an error.\n"
		     "Every error is reported as\n.IB file : line : col \": error: ...\"\n"
		     "with the line, a caret and a hint, and exits 1.\n"
		     ".SH KEYS\n");
	for (const struct field *f = top_keys; f->key; f++)
		man_key(out, f);
	sb_adds(out, ".SH EXAMPLE\n.nf\n"
		     "rdc: 1\nkernel:\n  version: ${KVER}\nbinaries: [busybox, /usr/sbin/ip]\n"
		     "kmods: [{name: i6300esb, params: \"heartbeat=2\"}]\n"
		     "files:\n  \\- {dest: /etc/hostname, content: \"tiny\\en\"}\n"
		     "init:\n  mounts: [proc, sysfs, devtmpfs]\n  modules: load\n  steps:\n    \\- run: cat /proc/modules\n"
		     "expect: {status: 0}\n.fi\n"
		     ".SH FILES\n.I /usr/share/rdc/manifest.schema.json\nthe same keys as a JSON Schema, for editors.\n"
		     ".SH SEE ALSO\n.BR rdc (1)\n");
}
