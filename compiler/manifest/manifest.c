/* manifest.c — the YAML manifest reader.
 *
 * libyaml loads a document; one table of keys per section (as gen_init_cpio
 * maps list keywords to handlers) turns its nodes into the typed structures
 * of manifest.h.  The same tables give "did you mean" for unknown keys and
 * are what schema/manifest.schema.json describes (a test keeps them equal).
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
#include "init/initgen.h"
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

/* ---- values ------------------------------------------------------------ */

enum ftype {
	FT_STR,      /* char *, ${VAR} expanded */
	FT_RAWSTR,   /* char *, kept as written (shell text, content) */
	FT_IMGPATH,  /* char *, normalised image path */
	FT_HOSTPATH, /* char *, absolute host path (relative to the manifest) */
	FT_MODE,     /* unsigned or int, octal */
	FT_UINT,     /* unsigned */
	FT_INT,      /* int */
	FT_BOOL,     /* bool */
	FT_STRLIST,  /* char ** + size_t count right after it */
	FT_NODETYPE, /* char: c, b, p (pipe), s (sock) */
};

struct field {
	const char *key;
	enum ftype type;
	size_t off;
	bool required;
};

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

static void set_strlist(struct reader *r, yaml_node_t *n, char ***v, size_t *count, const char *what)
{
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
	if (n->type == YAML_SCALAR_NODE) {
		char *x = expand(r, n, what);
		if (x) {
			*v = xrealloc(*v, (*count + 1) * sizeof(**v));
			(*v)[(*count)++] = x;
		}
		return;
	}
	if (!expect_kind(r, n, YAML_SEQUENCE_NODE, what))
		return;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = node(r, *it);
		if (!expect_kind(r, e, YAML_SCALAR_NODE, what))
			continue;
		char *x = expand(r, e, what);
		if (!x)
			continue;
		*v = xrealloc(*v, (*count + 1) * sizeof(**v));
		(*v)[(*count)++] = x;
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

/* Store one value of type f->type at base + f->off. */
static void set_field(struct reader *r, const struct field *f, void *base, yaml_node_t *n)
{
	char *at = (char *)base + f->off;
	unsigned long num;
	if (f->type == FT_STRLIST) {
		set_strlist(r, n, (char ***)at, (size_t *)(at + sizeof(char **)), f->key);
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
		if (!(v = expand(r, n, f->key)))
			return;
		free(*(char **)at);
		*(char **)at = f->type == FT_STR ? xstrdup(v) : f->type == FT_IMGPATH ? image_path(r, n, v) : host_path(r, v);
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
	case FT_BOOL:
		if (!parse_bool(s, (bool *)at))
			error_at(r, n, NULL, "%s must be true or false, not '%s'", f->key, s);
		break;
	case FT_NODETYPE:
		set_node_type(r, n, (char *)at);
		break;
	case FT_STRLIST:
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
	const char *cands[64] = { NULL };
	int n = 0;
	for (const struct field *f = fields; f->key && n < 64; f++)
		cands[n++] = f->key;
	const char *best = diag_closest(scalar(k), cands, n);
	struct strbuf hint = STRBUF_INIT;
	if (best) {
		sb_addf(&hint, "did you mean '%s'?", best);
	} else {
		sb_addf(&hint, "known keys in %s:", where);
		for (int i = 0; i < n; i++)
			sb_addf(&hint, " %s", cands[i]);
	}
	error_at(r, k, hint.buf, "unknown key '%s' in %s", scalar(k), where);
	sb_release(&hint);
}

/* Walk a mapping against a field table; `seen` gets a bit per field index.
 * Keys with no field go to `other` when given (for nested sections). */
typedef void (*other_key_fn)(struct reader *r, void *base, const char *key, yaml_node_t *k, yaml_node_t *v);

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

static unsigned long map_fields(struct reader *r, yaml_node_t *map, const struct field *fields, void *base,
				const char *where, other_key_fn other)
{
	unsigned long seen = 0;
	bool *dup = duplicate_keys(r, map);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
		if (!expect_kind(r, k, YAML_SCALAR_NODE, "a key"))
			continue;
		if (dup && dup[p - map->data.mapping.pairs.start])
			error_at(r, k, NULL, "duplicate key '%s' in %s", scalar(k), where);
		const struct field *f = find_field(fields, scalar(k));
		if (f) {
			seen |= 1UL << (f - fields);
			set_field(r, f, base, v);
		} else if (other) {
			other(r, base, scalar(k), k, v);
		} else {
			unknown_key(r, k, fields, where);
		}
	}
	for (const struct field *f = fields; f->key; f++)
		if (f->required && !(seen & (1UL << (f - fields))))
			error_at(r, map, NULL, "%s needs '%s'", where, f->key);
	free(dup);
	return seen;
}

/* ---- list sections ----------------------------------------------------- */

/* A list section: items are mappings described by `fields`, or a bare scalar
 * that sets `scalar_field` (binaries: [busybox]). */
struct section {
	const char *key;
	size_t elem_size;
	size_t arr_off, count_off, loc_off;
	const struct field *fields;
	const char *scalar_field; /* NULL: items must be mappings */
	void (*init)(void *elem);
	void (*check)(struct reader *r, void *elem, yaml_node_t *n, unsigned long seen);
};

#define M(f) offsetof(struct manifest, f)

static const struct field binary_fields[] = {
	{ "path", FT_STR, offsetof(struct mf_binary, path), false },
	{ "dest", FT_IMGPATH, offsetof(struct mf_binary, dest), false },
	{ "src", FT_HOSTPATH, offsetof(struct mf_binary, src), false },
	{ NULL, 0, 0, false },
};
static const struct field library_fields[] = {
	{ "name", FT_STR, offsetof(struct mf_library, name), true },
	{ NULL, 0, 0, false },
};
static const struct field kmod_fields[] = {
	{ "name", FT_STR, offsetof(struct mf_kmod, name), false },
	{ "path", FT_HOSTPATH, offsetof(struct mf_kmod, path), false },
	{ "params", FT_STR, offsetof(struct mf_kmod, params), false },
	{ NULL, 0, 0, false },
};
static const struct field node_fields[] = {
	{ "path", FT_IMGPATH, offsetof(struct mf_node, path), true },
	{ "type", FT_NODETYPE, offsetof(struct mf_node, type), true },
	{ "major", FT_UINT, offsetof(struct mf_node, major), false },
	{ "minor", FT_UINT, offsetof(struct mf_node, minor), false },
	{ "mode", FT_MODE, offsetof(struct mf_node, mode), false },
	{ "uid", FT_UINT, offsetof(struct mf_node, uid), false },
	{ "gid", FT_UINT, offsetof(struct mf_node, gid), false },
	{ NULL, 0, 0, false },
};
static const struct field dir_fields[] = {
	{ "path", FT_IMGPATH, offsetof(struct mf_dir, path), true },
	{ "mode", FT_MODE, offsetof(struct mf_dir, mode), false },
	{ "uid", FT_UINT, offsetof(struct mf_dir, uid), false },
	{ "gid", FT_UINT, offsetof(struct mf_dir, gid), false },
	{ NULL, 0, 0, false },
};
static const struct field symlink_fields[] = {
	{ "path", FT_IMGPATH, offsetof(struct mf_symlink, path), true },
	{ "target", FT_STR, offsetof(struct mf_symlink, target), true },
	{ "uid", FT_UINT, offsetof(struct mf_symlink, uid), false },
	{ "gid", FT_UINT, offsetof(struct mf_symlink, gid), false },
	{ NULL, 0, 0, false },
};
static const struct field file_fields[] = {
	{ "src", FT_STR, offsetof(struct mf_file, src), false }, /* made absolute in check */
	{ "dest", FT_IMGPATH, offsetof(struct mf_file, dest), false },
	{ "content", FT_RAWSTR, offsetof(struct mf_file, content), false },
	{ "mode", FT_MODE, offsetof(struct mf_file, mode), false },
	{ "uid", FT_UINT, offsetof(struct mf_file, uid), false },
	{ "gid", FT_UINT, offsetof(struct mf_file, gid), false },
	{ NULL, 0, 0, false },
};

static void init_node(void *e) { ((struct mf_node *)e)->mode = 0; }
static void init_dir(void *e) { ((struct mf_dir *)e)->mode = 0755; }
static void init_file(void *e) { ((struct mf_file *)e)->mode = MODE_UNSET; }

static void check_node(struct reader *r, void *elem, yaml_node_t *n, unsigned long seen)
{
	struct mf_node *nd = elem;
	bool dev = nd->type == 'c' || nd->type == 'b';
	if (dev && (!(seen & (1UL << 2)) || !(seen & (1UL << 3))))
		error_at(r, n, NULL, "a %s device node needs major and minor", nd->type == 'c' ? "character" : "block");
	else if (dev && (nd->major > 4095 || nd->minor > 1048575)) /* Linux's dev_t: 12 + 20 bits */
		error_at(r, n, "Linux device numbers: major 0-4095, minor 0-1048575",
			 "device %u:%u cannot exist: the kernel would make another node", nd->major, nd->minor);
	if (!(seen & (1UL << 4)))
		nd->mode = dev ? 0600 : 0644;
}

static void check_binary(struct reader *r, void *elem, yaml_node_t *n, unsigned long seen)
{
	struct mf_binary *b = elem;
	bool dest_given = seen & (1UL << 1); /* binary_fields[1]: a bad dest was reported already */
	if (!b->path == !b->src)
		error_at(r, n, "e.g. busybox, {path: /usr/sbin/ip, dest: /sbin/ip} or {src: out/prog, dest: /usr/bin/prog}",
			 "a binary needs exactly one of path and src");
	else if (b->src && !b->dest && !dest_given)
		error_at(r, n, "a program from the host has no path in the sysroot to keep, e.g. dest: /usr/bin/prog",
			 "a binary with 'src' needs 'dest'");
}

static void check_kmod(struct reader *r, void *elem, yaml_node_t *n, unsigned long seen)
{
	(void)seen;
	struct mf_kmod *k = elem;
	if (!k->name == !k->path)
		error_at(r, n, "e.g. {name: i6300esb} or {path: ./out/mydrv.ko}", "a kmod needs exactly one of name and path");
}

static void check_file(struct reader *r, void *elem, yaml_node_t *n, unsigned long seen)
{
	struct mf_file *f = elem;
	bool dest_given = seen & (1UL << 1); /* file_fields[1]: a bad dest was reported already */
	bool src_given = seen & 1UL;         /* file_fields[0]: a bad src (unset ${VAR}) was reported */
	if (!f->src && !f->content && src_given)
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
	if (!f->dest && !dest_given) {
		if (f->content || f->src[0] == '\0') {
			error_at(r, n, NULL, "a file needs 'dest'");
			return;
		}
		error_at(r, n, "say where it goes in the image, e.g. dest: /test.sh", "a file needs 'dest'");
	}
}

static const struct section sections[] = {
	{ "binaries", sizeof(struct mf_binary), M(binaries), M(nbinaries), offsetof(struct mf_binary, loc), binary_fields, "path", NULL, check_binary },
	{ "libraries", sizeof(struct mf_library), M(libraries), M(nlibraries), offsetof(struct mf_library, loc), library_fields, "name", NULL, NULL },
	{ "kmods", sizeof(struct mf_kmod), M(kmods), M(nkmods), offsetof(struct mf_kmod, loc), kmod_fields, "name", NULL, check_kmod },
	{ "nodes", sizeof(struct mf_node), M(nodes), M(nnodes), offsetof(struct mf_node, loc), node_fields, NULL, init_node, check_node },
	{ "dirs", sizeof(struct mf_dir), M(dirs), M(ndirs), offsetof(struct mf_dir, loc), dir_fields, "path", init_dir, NULL },
	{ "symlinks", sizeof(struct mf_symlink), M(symlinks), M(nsymlinks), offsetof(struct mf_symlink, loc), symlink_fields, NULL, NULL, NULL },
	{ "files", sizeof(struct mf_file), M(files), M(nfiles), offsetof(struct mf_file, loc), file_fields, NULL, init_file, check_file },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

static void read_section_item(struct reader *r, const struct section *s, void *elem, yaml_node_t *item)
{
	char where[64];
	snprintf(where, sizeof(where), "an item of %s", s->key);
	if (s->init)
		s->init(elem);
	*(struct loc *)((char *)elem + s->loc_off) = node_loc(r, item);
	unsigned long seen;
	if (item->type == YAML_SCALAR_NODE && s->scalar_field) {
		const struct field *f = find_field(s->fields, s->scalar_field);
		set_field(r, f, elem, item);
		seen = 1UL << (f - s->fields);
	} else if (item->type == YAML_MAPPING_NODE) {
		seen = map_fields(r, item, s->fields, elem, where, NULL);
	} else {
		error_at(r, item, NULL, "%s must be a mapping%s, not %s", where,
			 s->scalar_field ? " or a scalar" : "", kind_name(item));
		return;
	}
	if (s->check)
		s->check(r, elem, item, seen);
}

static void read_section(struct reader *r, const struct section *s, yaml_node_t *v)
{
	if (!expect_kind(r, v, YAML_SEQUENCE_NODE, s->key))
		return;
	char **arr = (char **)((char *)r->m + s->arr_off);
	size_t *count = (size_t *)((char *)r->m + s->count_off);
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		*arr = xrealloc(*arr, (*count + 1) * s->elem_size);
		void *elem = *arr + *count * s->elem_size;
		memset(elem, 0, s->elem_size);
		(*count)++;
		read_section_item(r, s, elem, node(r, *it));
	}
}

/* ---- nested mappings: kernel, init, output, qemu ------------------------ */

static const struct field kernel_fields[] = {
	{ "version", FT_STR, offsetof(struct manifest, kernel.version), false },
	{ "modules", FT_HOSTPATH, offsetof(struct manifest, kernel.modules), false },
	{ "firmware", FT_HOSTPATH, offsetof(struct manifest, kernel.firmware), false },
	{ "decompress", FT_BOOL, offsetof(struct manifest, kernel.decompress), false },
	{ "tree", FT_HOSTPATH, offsetof(struct manifest, kernel.tree), false },
	{ "share", FT_STR, offsetof(struct manifest, kernel.share), false },
	{ NULL, 0, 0, false },
};

/* kernel: tree: gives the release and the modules itself, so version: and
 * modules: beside it would be a second, contradicting answer; share: 9p
 * needs the tree whose modules rdc run shares. */
static void read_kernel(struct reader *r, yaml_node_t *v)
{
	struct manifest *m = r->m;
	m->kernel.loc = node_loc(r, v);
	if (!expect_kind(r, v, YAML_MAPPING_NODE, "kernel"))
		return;
	map_fields(r, v, kernel_fields, m, "kernel", NULL);
	yaml_node_t *tree = NULL, *share = NULL, *other = NULL;
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(r, p->key);
		const char *key = k->type == YAML_SCALAR_NODE ? scalar(k) : "";
		if (!strcmp(key, "tree"))
			tree = node(r, p->value), m->kernel.tree_loc = node_loc(r, tree);
		else if (!strcmp(key, "share"))
			share = node(r, p->value), m->kernel.share_loc = node_loc(r, share);
		else if (!strcmp(key, "version") || !strcmp(key, "modules"))
			other = k;
	}
	if (tree && other)
		error_at(r, other, "drop it: the tree's include/config/kernel.release and modules.order say",
			 "kernel.%s cannot go with kernel.tree", scalar(other));
	if (share && m->kernel.share && strcmp(m->kernel.share, "9p"))
		error_at(r, share, "share: 9p is the one way there is (virtio-9p, read-only)",
			 "unknown kernel.share '%s'", m->kernel.share);
	else if (share && !tree)
		error_at(r, share, "name the kernel build directory with tree: DIR",
			 "kernel.share shares a build tree's modules, and there is no kernel.tree");
}

static const struct field init_fields[] = {
	{ "exec", FT_IMGPATH, offsetof(struct mf_init, exec), false },
	{ "mounts", FT_STRLIST, offsetof(struct mf_init, mounts), false },
	{ "modules", FT_RAWSTR, 0, false }, /* load | none: other_init */
	{ "env", FT_RAWSTR, 0, false },
	{ "hostname", FT_STR, offsetof(struct mf_init, hostname), false },
	{ "steps", FT_RAWSTR, 0, false },
	{ "on_exit", FT_STR, offsetof(struct mf_init, on_exit), false },
	{ NULL, 0, 0, false },
};

static const struct field output_fields[] = {
	{ "path", FT_HOSTPATH, offsetof(struct mf_output, path), false },
	{ "format", FT_STR, offsetof(struct mf_output, format), false },
	{ "compression", FT_RAWSTR, 0, false }, /* other_output */
	{ "single_segment", FT_BOOL, offsetof(struct mf_output, single_segment), false },
	{ NULL, 0, 0, false },
};

static const struct field compression_fields[] = {
	{ "algo", FT_STR, offsetof(struct mf_output, algo), false },
	{ "level", FT_INT, offsetof(struct mf_output, level), false },
	{ NULL, 0, 0, false },
};

static const struct field qemu_fields[] = {
	{ "memory", FT_STR, offsetof(struct mf_qemu, memory), false },
	{ "args", FT_STRLIST, offsetof(struct mf_qemu, args), false },
	{ "kernel", FT_HOSTPATH, offsetof(struct mf_qemu, kernel), false },
	{ "append", FT_STR, offsetof(struct mf_qemu, append), false },
	{ "smp", FT_INT, offsetof(struct mf_qemu, smp), false },
	{ "timeout", FT_INT, offsetof(struct mf_qemu, timeout), false },
	{ NULL, 0, 0, false },
};

/* Walk a mapping, sending the keys whose field has offset 0 and type RAWSTR
 * (the structured ones) to `other`. */
static void map_nested(struct reader *r, yaml_node_t *map, const struct field *fields, void *base,
		       const char *where, other_key_fn other)
{
	size_t n = 0;
	while (fields[n].key)
		n++;
	struct field *plain = xcalloc(n + 1, sizeof(*plain));
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (!(fields[i].type == FT_RAWSTR && fields[i].off == 0))
			plain[j++] = fields[i];
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(r, p->key);
		if (k->type != YAML_SCALAR_NODE)
			continue;
		const struct field *f = find_field(fields, scalar(k));
		if (!f)
			unknown_key(r, k, fields, where);
		else if (f->type == FT_RAWSTR && f->off == 0)
			other(r, base, scalar(k), k, node(r, p->value));
	}
	/* the plain fields, skipping the keys already handled or unknown */
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(r, p->key);
		if (!expect_kind(r, k, YAML_SCALAR_NODE, "a key"))
			continue;
		const struct field *f = find_field(plain, scalar(k));
		if (f)
			set_field(r, f, base, node(r, p->value));
	}
	free(plain);
}

static void read_steps(struct reader *r, struct mf_init *in, yaml_node_t *v)
{
	if (!expect_kind(r, v, YAML_SEQUENCE_NODE, "steps"))
		return;
	static const struct field step_fields[] = {
		{ "run", FT_RAWSTR, offsetof(struct mf_step, run), true },
		{ NULL, 0, 0, false },
	};
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *e = node(r, *it);
		in->steps = xrealloc(in->steps, (in->nsteps + 1) * sizeof(*in->steps));
		struct mf_step *st = &in->steps[in->nsteps++];
		memset(st, 0, sizeof(*st));
		st->loc = node_loc(r, e);
		if (e->type == YAML_SCALAR_NODE)
			st->run = xstrdup(scalar(e));
		else if (expect_kind(r, e, YAML_MAPPING_NODE, "a step"))
			map_fields(r, e, step_fields, st, "a step", NULL);
	}
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

static void read_env(struct reader *r, struct mf_init *in, yaml_node_t *v)
{
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

static void other_init(struct reader *r, void *base, const char *key, yaml_node_t *k, yaml_node_t *v)
{
	(void)k;
	struct mf_init *in = base;
	if (!strcmp(key, "steps")) {
		read_steps(r, in, v);
	} else if (!strcmp(key, "env")) {
		read_env(r, in, v);
	} else if (!strcmp(key, "modules")) {
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
}

static void check_init(struct reader *r, struct mf_init *in, yaml_node_t *v)
{
	static const char *const exits[] = { "poweroff", "reboot", "halt", "shell" };
	if (in->on_exit) {
		int n = sizeof(exits) / sizeof(*exits), i;
		for (i = 0; i < n; i++)
			if (!strcmp(in->on_exit, exits[i]))
				break;
		if (i == n)
			error_at(r, v, "on_exit is one of poweroff, reboot, halt, shell",
				 "unknown on_exit '%s'", in->on_exit);
	}
	for (size_t i = 0; i < in->nmounts; i++)
		if (!initgen_mount_known(in->mounts[i]))
			error_at(r, v, "known: proc sysfs devtmpfs tmpfs devpts debugfs ...",
				 "unknown mount '%s' in init.mounts", in->mounts[i]);
}

static void read_init(struct reader *r, yaml_node_t *v)
{
	struct mf_init *in = &r->m->init;
	in->present = true;
	in->loc = node_loc(r, v);
	if (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "none")) {
		in->present = false;
		return;
	}
	if (!expect_kind(r, v, YAML_MAPPING_NODE, "init"))
		return;
	map_nested(r, v, init_fields, in, "init", other_init);
	check_init(r, in, v);
}

static bool one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

static void other_output(struct reader *r, void *base, const char *key, yaml_node_t *k, yaml_node_t *v)
{
	(void)k;
	(void)key;
	struct mf_output *o = base;
	if (v->type == YAML_SCALAR_NODE) {
		set_field(r, &compression_fields[0], o, v);
		return;
	}
	if (!expect_kind(r, v, YAML_MAPPING_NODE, "compression"))
		return;
	map_fields(r, v, compression_fields, o, "output.compression", NULL);
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *pk = node(r, p->key);
		if (pk->type == YAML_SCALAR_NODE && !strcmp(scalar(pk), "level"))
			o->level_loc = node_loc(r, node(r, p->value)); /* an out-of-range level points here */
	}
}

static void read_output(struct reader *r, yaml_node_t *v)
{
	static const char *const formats[] = { "cpio", "list", "c", "S", "dir", NULL };
	static const char *const algos[] = { "none", "gzip", "zstd", "xz", "lz4", NULL };
	struct mf_output *o = &r->m->output;
	o->loc = node_loc(r, v);
	if (v->type == YAML_SCALAR_NODE) {
		set_field(r, &output_fields[0], o, v);
		return;
	}
	if (!expect_kind(r, v, YAML_MAPPING_NODE, "output"))
		return;
	map_nested(r, v, output_fields, o, "output", other_output);
	if (o->format && !one_of(o->format, formats))
		error_at(r, v, "formats: cpio list c S dir", "unknown output format '%s'", o->format);
	if (o->algo && !one_of(o->algo, algos))
		error_at(r, v, "compression: none gzip zstd xz lz4", "unknown compression '%s'", o->algo);
}

/* ---- expect: how the guest must end ------------------------------------ */

/* The outcomes a guest can end in besides reporting a status (run/runner.c
 * tells them apart). */
const char *const manifest_outcomes[] = { "watchdog", "panic", "poweroff", "timeout", NULL };

static const struct field expect_fields[] = {
	{ "status", FT_INT, offsetof(struct mf_expect, status), false },
	{ "outcome", FT_STR, offsetof(struct mf_expect, outcome), false },
	{ "console", FT_RAWSTR, 0, false },     /* other_expect: regexes, kept as written */
	{ "not_console", FT_RAWSTR, 0, false },
	{ NULL, 0, 0, false },
};

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

static void other_expect(struct reader *r, void *base, const char *key, yaml_node_t *k, yaml_node_t *v)
{
	(void)k;
	struct mf_expect *e = base;
	if (!strcmp(key, "console"))
		read_regexes(r, v, key, &e->console, &e->nconsole);
	else
		read_regexes(r, v, key, &e->not_console, &e->nnot_console);
}

static void read_expect(struct reader *r, yaml_node_t *v)
{
	struct mf_expect *e = &r->m->expect;
	e->present = true;
	e->loc = node_loc(r, v);
	if (!expect_kind(r, v, YAML_MAPPING_NODE, "expect"))
		return;
	map_nested(r, v, expect_fields, e, "expect", other_expect);
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *val = node(r, p->value);
		const char *k = scalar(node(r, p->key));
		if (!strcmp(k, "outcome") && e->outcome && !one_of(e->outcome, manifest_outcomes))
			error_at(r, val, "outcomes: watchdog panic poweroff timeout (or status: N for a status)",
				 "unknown outcome '%s'", e->outcome);
		else if (!strcmp(k, "status") && e->status > 255)
			error_at(r, val, "a status is what /init exits with: 0..255", "status %d is out of range", e->status);
		else if (!strcmp(k, "outcome") && e->outcome && e->status >= 0)
			error_at(r, val, "a guest that reports a status did not end in an outcome: keep one of the two",
				 "expect has both status and outcome");
	}
}

/* ---- the top level ----------------------------------------------------- */

const char *const manifest_top_keys[] = {
	"rdc", "include", "arch", "sysroot", "kernel", "epoch", "binaries", "libraries", "kmods",
	"nodes", "dirs", "symlinks", "files", "init", "output", "qemu", "expect", NULL,
};

static const char *const known_arches[] = { "x86_64", "aarch64", "riscv64", "i386", "arm", "ppc64le", "s390x", NULL };

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

static void read_version(struct reader *r, yaml_node_t *v)
{
	if (!expect_kind(r, v, YAML_SCALAR_NODE, "rdc"))
		return;
	if (strcmp(scalar(v), "1")) {
		error_at(r, v, "this rdc reads manifests of version 1: rdc: 1", "unsupported manifest version '%s'", scalar(v));
		return;
	}
	r->m->version = 1;
}

static void read_top_scalar(struct reader *r, const char *key, yaml_node_t *v)
{
	struct manifest *m = r->m;
	if (!expect_kind(r, v, YAML_SCALAR_NODE, key))
		return;
	char *s = expand(r, v, key);
	if (!s)
		return;
	if (!strcmp(key, "arch")) {
		if (!one_of(s, known_arches))
			error_at(r, v, "x86_64, aarch64, riscv64, i386, arm, ppc64le, s390x", "unknown arch '%s'", s);
		free(m->arch);
		m->arch = s;
		m->arch_loc = node_loc(r, v);
	} else if (!strcmp(key, "sysroot")) {
		free(m->sysroot);
		m->sysroot = host_path(r, s);
		m->sysroot_loc = node_loc(r, v);
		free(s);
	} else { /* epoch */
		unsigned long e;
		if (!parse_number(s, 10, 0xffffffffUL, &e)) /* cpio's mtime is 32 bits: more would wrap */
			error_at(r, v, "cpio stores 32-bit times: 0 to 4294967295 (2106)",
				 "epoch must be seconds since 1970, not '%s'", s);
		else
			m->epoch = (long long)e;
		free(s);
	}
}

/* qemu.memory as QEMU's -m takes it: a number, optionally k/M/G/T. */
static void check_memory(struct reader *r, yaml_node_t *map)
{
	const char *mem = r->m->qemu.memory;
	if (!mem || map->type != YAML_MAPPING_NODE)
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

static void read_top_key(struct reader *r, yaml_node_t *k, yaml_node_t *v)
{
	const char *key = scalar(k);
	for (const struct section *s = sections; s->key; s++)
		if (!strcmp(key, s->key)) {
			read_section(r, s, v);
			return;
		}
	if (!strcmp(key, "rdc"))
		read_version(r, v);
	else if (!strcmp(key, "include"))
		; /* read first, see read_document */
	else if (!strcmp(key, "arch") || !strcmp(key, "sysroot") || !strcmp(key, "epoch"))
		read_top_scalar(r, key, v);
	else if (!strcmp(key, "kernel"))
		read_kernel(r, v);
	else if (!strcmp(key, "init"))
		read_init(r, v);
	else if (!strcmp(key, "output"))
		read_output(r, v);
	else if (!strcmp(key, "expect"))
		read_expect(r, v);
	else if (!strcmp(key, "qemu")) {
		r->m->qemu.loc = node_loc(r, v);
		if (expect_kind(r, v, YAML_MAPPING_NODE, "qemu"))
			map_fields(r, v, qemu_fields, &r->m->qemu, "qemu", NULL);
		check_memory(r, v);
	} else {
		const char *best = diag_closest(key, manifest_top_keys, (int)(sizeof(manifest_top_keys) / sizeof(*manifest_top_keys)) - 1);
		char *hint = best ? xasprintf("did you mean '%s'?", best) : NULL;
		error_at(r, k, hint, "unknown key '%s'", key);
		free(hint);
	}
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
	yaml_node_pair_t *pairs = root->data.mapping.pairs.start, *end = root->data.mapping.pairs.top;
	bool *dup = duplicate_keys(r, root);
	for (yaml_node_pair_t *p = pairs; p < end; p++) {
		yaml_node_t *k = node(r, p->key);
		if (!expect_kind(r, k, YAML_SCALAR_NODE, "a key"))
			continue;
		if (dup && dup[p - pairs])
			error_at(r, k, NULL, "duplicate key '%s'", scalar(k));
		if (!strcmp(scalar(k), "rdc"))
			has_version = true;
		if (!strcmp(scalar(k), "include"))
			read_includes(r, node(r, p->value));
	}
	if (!has_version && top)
		error_at(r, root, "a manifest starts with: rdc: 1", "the manifest does not say its version (rdc: 1)");
	free(dup);
	for (yaml_node_pair_t *p = pairs; p < end; p++)
		if (node(r, p->key)->type == YAML_SCALAR_NODE)
			read_top_key(r, node(r, p->key), node(r, p->value));
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
			diag_fail("not reading %s as a manifest: it is private and not named *.yaml", path);
		errors = parent ? 0 : 1;
		goto out;
	}
	if (!real || read_file_max(real, &buf, MANIFEST_MAX_BYTES) < 0) {
		if (parent)
			error_at(parent, at, NULL, "cannot read included manifest %s: %s", path, read_strerror(errno));
		else
			diag_fail("cannot read manifest %s: %s", path, read_strerror(errno));
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

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nbinaries; i++) {
		free(m->binaries[i].path);
		free(m->binaries[i].src);
		free(m->binaries[i].dest);
	}
	for (size_t i = 0; i < m->nlibraries; i++)
		free(m->libraries[i].name);
	for (size_t i = 0; i < m->nkmods; i++) {
		free(m->kmods[i].name);
		free(m->kmods[i].path);
		free(m->kmods[i].params);
	}
	for (size_t i = 0; i < m->nnodes; i++)
		free(m->nodes[i].path);
	for (size_t i = 0; i < m->ndirs; i++)
		free(m->dirs[i].path);
	for (size_t i = 0; i < m->nsymlinks; i++) {
		free(m->symlinks[i].path);
		free(m->symlinks[i].target);
	}
	for (size_t i = 0; i < m->nfiles; i++) {
		free(m->files[i].src);
		free(m->files[i].dest);
		free(m->files[i].content);
	}
	for (size_t i = 0; i < m->init.nsteps; i++)
		free(m->init.steps[i].run);
	free(m->binaries);
	free(m->libraries);
	free(m->kmods);
	free(m->nodes);
	free(m->dirs);
	free(m->symlinks);
	free(m->files);
	free(m->init.steps);
	free(m->init.exec);
	free_strv(m->init.mounts, m->init.nmounts);
	free_strv(m->init.env, m->init.nenv);
	free(m->init.hostname);
	free(m->init.on_exit);
	free(m->output.path);
	free(m->output.format);
	free(m->output.algo);
	free_strv(m->qemu.args, m->qemu.nargs);
	free(m->qemu.memory);
	free(m->qemu.kernel);
	free(m->qemu.append);
	free(m->expect.outcome);
	free_strv(m->expect.console, m->expect.nconsole);
	free_strv(m->expect.not_console, m->expect.nnot_console);
	free(m->kernel.version);
	free(m->kernel.modules);
	free(m->kernel.firmware);
	free(m->kernel.tree);
	free(m->kernel.share);
	free(m->arch);
	free(m->sysroot);
	free(m->path);
	free(m->dir);
	sl_release(&m->file_names);
	free(m);
}
