/* elfdeps.c — shared-library closures, found the way glibc's ld.so finds
 * them, by reading ELF headers with libelf.  Nothing is ever executed, so the
 * same code serves the host and a foreign sysroot.
 *
 * Search order for a DT_NEEDED name (glibc elf/dl-load.c _dl_map_object):
 *   1. a name containing '/' is a path;
 *   2. unless the needing object has DT_RUNPATH: the DT_RPATH of the needing
 *      object, then of the object that loaded it, and so on up to the
 *      executable (objects with DT_RUNPATH contribute no DT_RPATH);
 *   3. the needing object's own DT_RUNPATH;
 *   4. the directories of /etc/ld.so.conf (what ld.so.cache indexes);
 *   5. the system directories (multiarch, lib64, lib, usr/...).
 * Candidates of the wrong ELF class or machine are skipped, as ld.so skips
 * them.  An already loaded soname is reused rather than searched again.
 * A program whose PT_INTERP is musl's loader follows musl's rules instead
 * (struct musl below). */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include "lib/arch.h"
#include "lib/diag.h"
#include "resolve/elfdeps_int.h"

#define MAX_SYMLINK_HOPS 40
#define MAX_INTERP_DEPTH 4

/* ---- a string set, for "already in the closure" and "already noted" ---- */

struct strset {
	char **slots;
	size_t n, used;
};

static size_t strset_slot(const struct strset *s, const char *k)
{
	size_t i = XXH3_64bits(k, strlen(k)) & (s->n - 1);
	while (s->slots[i] && strcmp(s->slots[i], k))
		i = (i + 1) & (s->n - 1);
	return i;
}

/* Adds k; returns false when it was already there. */
static bool strset_add(struct strset *s, const char *k)
{
	if ((s->used + 1) * 2 > s->n) {
		struct strset big = { xcalloc(s->n ? s->n * 2 : 64, sizeof(char *)), s->n ? s->n * 2 : 64, s->used };
		for (size_t i = 0; i < s->n; i++)
			if (s->slots[i])
				big.slots[strset_slot(&big, s->slots[i])] = s->slots[i];
		free(s->slots);
		*s = big;
	}
	size_t i = strset_slot(s, k);
	if (s->slots[i])
		return false;
	s->slots[i] = xstrdup(k);
	s->used++;
	return true;
}

static bool strset_has(const struct strset *s, const char *k) { return s->n && s->slots[strset_slot(s, k)]; }

static void strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->slots[i]);
	free(s->slots);
	*s = (struct strset){ 0 };
}
/* ---- resolving one root into a closure ---------------------------------- */

/* musl's loader as a program names it in PT_INTERP (ldso/dynlink.c,
 * load_library): the names of its own parts (libc.so, libm.so ...) it
 * serves itself; a name is searched in the RPATH, or the RUNPATH instead
 * when there is one, of the needing object and of each object up the chain
 * that loaded it (only $ORIGIN expanded; any other $ drops the whole list),
 * then in <prefix>/etc/ld-musl-ARCH.path (dirs separated by ':' or
 * newlines; prefix is the interpreter's directory's parent), else in
 * /lib:/usr/local/lib:/usr/lib.  The first file found is the one it maps:
 * it does not go on past a file of another machine.  No ld.so.conf, no
 * multiarch dirs: nothing of glibc's. */
struct musl {
	char *interp;   /* as PT_INTERP names it */
	char *pathfile; /* image path of its ld-musl-ARCH.path */
	bool have_file; /* the path file exists (else the built-in default) */
	bool used;      /* a library was found through dirs: the image needs the path file */
	struct strlist dirs, missing;
};

static const char musl_pathfile_why[] = "musl search path";

struct object {
	char *path;           /* real image path */
	struct elf_info info; /* read once, when the object was found */
	struct strlist rpath; /* expanded DT_RPATH dirs; empty when it has DT_RUNPATH (musl: either) */
	struct strlist runpath;
	long loader;          /* index of the object that loaded it; -1 for the root */
	struct musl *musl;    /* the musl loader it runs under, or NULL for glibc's rules */
};

struct resolve {
	struct elf_ctx *e;
	struct elf_closure *c;
	struct strset items;  /* image paths already in c */
	struct strset loaded; /* names already satisfied (DT_NEEDED strings, sonames, paths) */
	struct strset noted;
	struct strbuf deps;   /* memo notes of everything looked at */
	struct object *objs;
	size_t nobjs, aobjs;
	struct strbuf *err;
	struct musl **musls;  /* the musl loaders met, by interp */
	size_t nmusls, amusls;
	struct musl *lib_musl; /* the loader of a `libraries:` root, or NULL */
	struct strbuf stop;    /* a candidate that ends the search with an error */
};

static void note(struct resolve *r, const char *image_path)
{
	if (strset_add(&r->noted, image_path)) {
		char *h = ec_host_path(r->e, image_path);
		sb_adds(&r->deps, ec_note_line(r->e, h));
		free(h);
	}
}

static void item_add(struct resolve *r, const char *path, const char *target, const char *needed_by, const char *why)
{
	if (!strset_add(&r->items, path))
		return;
	GROW(r->c->v, r->c->n + 1, r->c->alloc);
	r->c->v[r->c->n++] = (struct elf_item){ xstrdup(path), target ? xstrdup(target) : NULL,
						 needed_by ? xstrdup(needed_by) : NULL, xstrdup(why), NULL };
}

/* Follow `path` through the sysroot one component at a time, as the kernel
 * would inside a chroot.  With `add`, every symlink met becomes an item (so
 * the image keeps the sysroot's layout) and the final file too.  Returns the
 * real image path of a regular file (of a directory with `dir`), or NULL. */
static char *walk_to(struct resolve *r, const char *path, bool add, const char *needed_by, const char *why, bool dir)
{
	char *todo = path_normalize(path), *cur = xstrdup("");
	int hops = 0;
	size_t pos = 1; /* todo[0] == '/' */
	while (todo && todo[pos]) {
		size_t len = strcspn(todo + pos, "/");
		bool last = todo[pos + len] == 0;
		char *cand = xasprintf("%s/%.*s", cur, (int)len, todo + pos), *host = ec_host_path(r->e, cand);
		const struct fs_ent *f = ec_lstat(r->e, host);
		/* A name missing from a directory this walk has noted needs no note
		 * of its own: the directory's mtime changes when the name appears
		 * (most library lookups are such misses: /usr/local/lib ...). */
		if (f->ok || !*cur)
			note(r, cand);
		mode_t mode = f->mode;
		const char *target = f->link;
		free(host);
		if (!f->ok || (!last && !S_ISDIR(mode) && !S_ISLNK(mode)) ||
		    (S_ISLNK(mode) && (!target || ++hops > MAX_SYMLINK_HOPS))) {
			free(cand), free(todo), free(cur);
			return NULL;
		}
		pos += len + (last ? 0 : 1);
		if (S_ISLNK(mode)) {
			if (add)
				item_add(r, cand, target, needed_by, last ? why : "symlink");
			char *rest = xasprintf("%s/%s/%s", target[0] == '/' ? "" : cur, target, todo + pos), *n = path_normalize(rest);
			free(rest), free(todo), free(cur), free(cand);
			if (!n)
				return NULL;
			todo = n, cur = xstrdup(""), pos = 1;
			continue;
		}
		free(cur);
		cur = cand;
		if (last && !(dir ? S_ISDIR(mode) : S_ISREG(mode))) {
			free(todo), free(cur);
			return NULL;
		}
	}
	free(todo);
	if (!*cur) { /* the path was "/" */
		free(cur);
		return dir ? xstrdup("/") : NULL;
	}
	if (add)
		item_add(r, cur, NULL, needed_by, why);
	return cur;
}

static char *walk(struct resolve *r, const char *path, bool add, const char *needed_by, const char *why)
{
	return walk_to(r, path, add, needed_by, why, false);
}

/* $ORIGIN, $LIB and $PLATFORM (also as ${...}) in one RPATH/RUNPATH entry. */
static char *expand_dst(const struct resolve *r, const char *s, const char *origin)
{
	struct strbuf sb = STRBUF_INIT;
	char *lib = xasprintf("lib/%s", r->e->arch->multiarch);
	static const char *const names[] = { "ORIGIN", "LIB", "PLATFORM" };
	const char *vals[] = { origin, lib, r->e->arch->platform };
	while (*s) {
		size_t i = 0, nl = 0;
		if (*s == '$') {
			for (i = 0; i < 3; i++) {
				nl = strlen(names[i]);
				if (!strncmp(s + 1, names[i], nl) && !(s[1 + nl] == '_' || (s[1 + nl] >= 'A' && s[1 + nl] <= 'Z')))
					break;
				if (s[1] == '{' && !strncmp(s + 2, names[i], nl) && s[2 + nl] == '}') {
					nl += 2;
					break;
				}
			}
		}
		if (*s == '$' && i < 3) {
			sb_adds(&sb, vals[i]);
			s += 1 + nl;
		} else {
			sb_addch(&sb, *s++);
		}
	}
	free(lib);
	char *n = sb.len && sb.buf[0] == '/' ? path_normalize(sb.buf) : NULL;
	sb_release(&sb);
	return n;
}

static void split_path_list(const struct resolve *r, const char *list, const char *origin, struct strlist *out)
{
	char *copy = xstrdup(list ? list : ""), *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *x = expand_dst(r, d, origin);
		if (x)
			sl_push_owned(out, x);
	}
	free(copy);
}

/* A library ld.so would load: right class and machine, a shared object.
 * On success *in holds what it says (the caller's, to free). */
static bool acceptable_lib(struct resolve *r, const char *real, struct elf_info *in)
{
	char *host = ec_host_path(r->e, real);
	struct strbuf ignore = STRBUF_INIT;
	int rc = ec_elf_info(r->e, host, in, &ignore);
	bool ok = rc == 1 && in->cls == r->e->arch->elfclass && in->machine == r->e->arch->machine && in->type == ET_DYN;
	if (!ok)
		elf_info_free(in);
	sb_release(&ignore);
	free(host);
	return ok;
}

/* ---- musl's loader ------------------------------------------------------ */

/* "/lib/ld-musl-x86_64.so.1" -> "x86_64", or NULL when it is not musl's. */
static char *musl_arch(const char *interp)
{
	const char *base = path_basename(interp), *suffix = ".so.1";
	size_t n = strlen(base), pl = strlen("ld-musl-"), sl = strlen(suffix);
	if (n <= pl + sl || strncmp(base, "ld-musl-", pl) || strcmp(base + n - sl, suffix))
		return NULL;
	return xstrndup(base + pl, n - pl - sl);
}

/* The path file: directories separated by ':' or newlines, as path_open
 * reads it.  Relative entries would be searched from the cwd of the
 * program: no image path, so they are left out.  `missing` gets the
 * directories the sysroot does not have. */
static void musl_path_read(struct resolve *r, const char *pathfile, bool *have, struct strlist *dirs,
			   struct strlist *missing)
{
	char *real = walk(r, pathfile, false, NULL, NULL), *host = real ? ec_host_path(r->e, real) : NULL;
	struct strbuf sb = STRBUF_INIT;
	*have = host && read_file(host, &sb) == 0;
	char *save = NULL;
	for (char *d = *have ? strtok_r(sb.buf, ":\n", &save) : NULL; d; d = strtok_r(NULL, ":\n", &save)) {
		char *norm = d[0] == '/' ? path_normalize(d) : NULL;
		if (norm && !sl_has(dirs, norm)) {
			char *found = walk_to(r, norm, false, NULL, NULL, true);
			if (!found)
				sl_push(missing, norm);
			free(found);
			sl_push(dirs, norm);
		}
		free(norm);
	}
	sb_release(&sb);
	free(host);
	free(real);
}

/* The musl loader `interp` names, or NULL when it is not musl's. */
static struct musl *musl_of(struct resolve *r, const char *interp)
{
	char *arch = interp ? musl_arch(interp) : NULL;
	if (!arch)
		return NULL;
	for (size_t i = 0; i < r->nmusls; i++)
		if (!strcmp(r->musls[i]->interp, interp)) {
			free(arch);
			return r->musls[i];
		}
	struct musl *m = xcalloc(1, sizeof(*m));
	char *dir = path_dirname(interp), *prefix = path_dirname(dir);
	m->interp = xstrdup(interp);
	m->pathfile = xasprintf("%s/etc/ld-musl-%s.path", strcmp(prefix, "/") ? prefix : "", arch);
	musl_path_read(r, m->pathfile, &m->have_file, &m->dirs, &m->missing);
	if (!m->have_file) {
		static const char *const dflt[] = { "/lib", "/usr/local/lib", "/usr/lib" };
		for (size_t i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++)
			sl_push(&m->dirs, dflt[i]);
	}
	GROW(r->musls, r->nmusls + 1, r->amusls);
	r->musls[r->nmusls++] = m;
	free(dir), free(prefix), free(arch);
	return m;
}

static void musl_free(struct musl *m)
{
	free(m->interp);
	free(m->pathfile);
	sl_release(&m->dirs);
	sl_release(&m->missing);
	free(m);
}

/* The names musl's loader answers with itself (load_library's "reserved"
 * list, matched as a prefix: libc.so, libc.so.6, libm.so ...), and its own
 * path. */
static bool musl_serves(const struct musl *m, const char *name)
{
	static const char *const parts[] = { "c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet." };
	if (!strcmp(name, m->interp))
		return true;
	for (size_t i = 0; !strncmp(name, "lib", 3) && i < sizeof(parts) / sizeof(parts[0]); i++)
		if (!strncmp(name + 3, parts[i], strlen(parts[i])))
			return true;
	return false;
}

/* A musl object's search list: its RUNPATH, else its RPATH; musl expands
 * only $ORIGIN and ignores a list with any other $ (fixup_rpath). */
static void musl_rpath(const struct resolve *r, const struct elf_info *in, const char *origin, struct strlist *out)
{
	const char *list = in->has_runpath ? in->runpath : in->rpath;
	for (const char *t = list ? strchr(list, '$') : NULL; t; t = strchr(t + 1, '$'))
		if (strncmp(t, "$ORIGIN", 7) && strncmp(t, "${ORIGIN}", 9))
			return;
	split_path_list(r, list, origin, out);
}

/* musl's first candidate dir/name that exists, walked into the closure; a
 * first candidate musl could not map is an error in r->stop, not skipped. */
static char *musl_search(struct resolve *r, const struct strlist *dirs, const char *name, const char *needed_by,
			 const char *why, struct strbuf *tried, struct elf_info *in)
{
	for (size_t i = 0; i < dirs->n; i++) {
		char *cand = path_join(dirs->v[i], name), *real = walk(r, cand, false, NULL, NULL), *got = NULL;
		if (!strstr(sb_str(tried), dirs->v[i]))
			sb_addf(tried, "%s%s", tried->len ? ", " : "", dirs->v[i]);
		if (real && acceptable_lib(r, real, in))
			got = walk(r, cand, true, needed_by, why);
		else if (real)
			sb_addf(&r->stop, "%s needed by %s is %s, which is no %s shared object: musl's loader maps the first "
				"file it finds and does not search on", name, needed_by ? needed_by : "the image", real,
				r->e->arch->name);
		free(real);
		free(cand);
		if (got || real)
			return got;
	}
	return NULL;
}

/* The library musl's loader `m` maps for `name` needed by object `from`;
 * a first candidate it could not map is left in r->stop. */
static char *musl_find(struct resolve *r, struct musl *m, long from, const char *name, const char *why,
		       struct strbuf *tried, struct elf_info *in)
{
	const char *needed_by = from >= 0 ? r->objs[from].path : NULL;
	char *got = NULL;
	for (long l = from; l >= 0 && !got && !r->stop.len; l = r->objs[l].loader)
		got = musl_search(r, &r->objs[l].rpath, name, needed_by, why, tried, in);
	if (!got && !r->stop.len && (got = musl_search(r, &m->dirs, name, needed_by, why, tried, in)))
		m->used = true;
	return got;
}

/* The first acceptable candidate `dir/name`, walked into the closure. */
static char *search_dirs(struct resolve *r, const struct strlist *dirs, const char *name, const char *needed_by,
			 const char *why, struct strbuf *tried, struct elf_info *in)
{
	for (size_t i = 0; i < dirs->n; i++) {
		char *cand = path_join(dirs->v[i], name), *real = walk(r, cand, false, NULL, NULL);
		if (tried && !strstr(sb_str(tried), dirs->v[i]))
			sb_addf(tried, "%s%s", tried->len ? ", " : "", dirs->v[i]);
		if (real && acceptable_lib(r, real, in)) {
			free(real);
			real = walk(r, cand, true, needed_by, why);
			free(cand);
			return real;
		}
		free(real);
		free(cand);
	}
	return NULL;
}

/* The library ld.so would load for `name` needed by object `from` (-1: none),
 * walked into the closure; *in gets what it says. */
static char *find_library(struct resolve *r, long from, const char *name, const char *why, struct strbuf *tried,
			  struct elf_info *in)
{
	const char *needed_by = from >= 0 ? r->objs[from].path : NULL;
	if (strchr(name, '/')) {
		char *p = name[0] == '/' ? xstrdup(name) : xasprintf("/%s", name);
		char *real = walk(r, p, false, NULL, NULL), *got = NULL;
		if (real && acceptable_lib(r, real, in))
			got = walk(r, p, true, needed_by, why);
		sb_adds(tried, p);
		free(real);
		free(p);
		return got;
	}
	struct musl *m = from >= 0 ? r->objs[from].musl : r->lib_musl;
	if (m)
		return musl_find(r, m, from, name, why, tried, in);
	char *got = NULL;
	if (from < 0 || !r->objs[from].runpath.n) /* DT_RPATH chain, unless this object has DT_RUNPATH */
		for (long l = from; l >= 0 && !got; l = r->objs[l].loader)
			got = search_dirs(r, &r->objs[l].rpath, name, needed_by, why, tried, in);
	if (!got && from >= 0)
		got = search_dirs(r, &r->objs[from].runpath, name, needed_by, why, tried, in);
	if (!got)
		got = search_dirs(r, &r->e->conf_dirs, name, needed_by, why, tried, in);
	if (!got)
		got = search_dirs(r, &r->e->system_dirs, name, needed_by, why, tried, in);
	return got;
}

/* Takes `real` and the contents of *in (left empty).  `musl`: the musl
 * loader it runs under, or NULL. */
static long object_add(struct resolve *r, char *real, long loader, struct elf_info *in, struct musl *musl)
{
	GROW(r->objs, r->nobjs + 1, r->aobjs);
	struct object *o = &r->objs[r->nobjs];
	*o = (struct object){ real, *in, STRLIST_INIT, STRLIST_INIT, loader, musl };
	*in = (struct elf_info){ 0 };
	in = &o->info;
	char *origin = path_dirname(real);
	if (musl)
		musl_rpath(r, in, origin, &o->rpath);
	else if (in->has_runpath) /* ld.so ignores DT_RPATH when DT_RUNPATH is present */
		split_path_list(r, in->runpath, origin, &o->runpath);
	else
		split_path_list(r, in->rpath, origin, &o->rpath);
	free(origin);
	strset_add(&r->loaded, real);
	if (in->soname && !musl) /* musl knows a library by the name it was searched as */
		strset_add(&r->loaded, in->soname);
	return (long)r->nobjs++;
}

static int need(struct resolve *r, long from, const char *name, const char *why_kind, bool required);

/* Queues what the object at index `i` needs.  need() may grow r->objs, so
 * the object is looked up afresh each time, never held by pointer. */
static int process_object(struct resolve *r, long i)
{
	struct strbuf why = STRBUF_INIT;
	int rc = 0;
	for (size_t k = 0; rc == 0 && k < r->objs[i].info.needed.n; k++) {
		const char *name = r->objs[i].info.needed.v[k];
		sb_reset(&why);
		sb_addf(&why, "DT_NEEDED %s", name);
		rc = need(r, i, name, why.buf, true);
	}
	for (size_t k = 0; rc == 0 && k < r->objs[i].info.dlopen_required.n; k++)
		rc = need(r, i, r->objs[i].info.dlopen_required.v[k], ".note.dlopen", true);
	for (size_t k = 0; rc == 0 && k < r->objs[i].info.dlopen.n; k++)
		rc = need(r, i, r->objs[i].info.dlopen.v[k], ".note.dlopen", false);
	sb_release(&why);
	return rc;
}

/* Everything the objects from index `first` on need, breadth first as ld.so
 * loads them. */
static int load_from(struct resolve *r, long first)
{
	int rc = 0;
	for (size_t k = (size_t)first; rc == 0 && k < r->nobjs; k++)
		rc = process_object(r, (long)k);
	return rc;
}

/* Where musl's loader `m` looked, for the hint of a library it cannot find. */
static void musl_explain(struct resolve *r, const struct musl *m)
{
	struct strbuf *h = &r->e->hint;
	sb_reset(h);
	if (m->have_file)
		sb_addf(h, "%s runs under musl's loader %s, which searches the RPATH/RUNPATH chain, then %s", r->objs[0].path,
			m->interp, m->pathfile);
	else
		sb_addf(h, "%s runs under musl's loader %s; with no %s in the sysroot it searches /lib:/usr/local/lib:/usr/lib",
			r->nobjs ? r->objs[0].path : "the library", m->interp, m->pathfile);
	for (size_t i = 0; i < m->missing.n; i++)
		sb_addf(h, "%s%s names %s, which the sysroot does not have", i ? ", " : "; ", m->pathfile, m->missing.v[i]);
}

static int need(struct resolve *r, long from, const char *name, const char *why, bool required)
{
	struct musl *m = from >= 0 ? r->objs[from].musl : r->lib_musl;
	if (strset_has(&r->loaded, name) || (m && musl_serves(m, name)))
		return 0;
	struct strbuf tried = STRBUF_INIT;
	struct elf_info in = { 0 };
	char *real = find_library(r, from, name, why, &tried, &in);
	if (!real) {
		if (!required) /* an optional .note.dlopen library: not even a bad candidate matters */
			sb_reset(&r->stop);
		int rc = required ? -1 : 0;
		if (r->stop.len)
			sb_add(r->err, r->stop.buf, r->stop.len);
		else if (required)
			sb_addf(r->err, "%s needed by %s not found (searched: %s)", name, r->objs[from].path,
				tried.len ? tried.buf : "nothing");
		if (rc && m)
			musl_explain(r, m);
		sb_release(&tried);
		return rc;
	}
	sb_release(&tried);
	strset_add(&r->loaded, name);
	if (strset_has(&r->loaded, real)) {
		free(real);
		elf_info_free(&in);
		return 0;
	}
	object_add(r, real, from, &in, m);
	return 0;
}

static int add_root(struct resolve *r, const char *path, const char *needed_by, const char *why, int depth);

/* "#!/usr/bin/env python3" needs env and python3; "#!/bin/sh -e" needs sh. */
static int add_interpreter(struct resolve *r, const char *script, const char *line, int depth)
{
	char *copy = xstrdup(line), *save = NULL, *interp = strtok_r(copy, " \t", &save);
	int rc = 0;
	if (!interp) {
		sb_addf(r->err, "%s has an empty #! line", script);
		rc = -1;
	} else {
		rc = add_root(r, interp, script, "#! interpreter", depth + 1);
		char *arg = strtok_r(NULL, " \t", &save);
		while (rc == 0 && arg && arg[0] == '-' && !strcmp(path_basename(interp), "env"))
			arg = strtok_r(NULL, " \t", &save);
		if (rc == 0 && arg && !strcmp(path_basename(interp), "env"))
			rc = add_root(r, arg, script, "#! interpreter", depth + 1);
	}
	free(copy);
	return rc;
}

static const char *const exec_path[] = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" };

static char *find_in_path(struct resolve *r, const char *name)
{
	for (size_t i = 0; i < sizeof(exec_path) / sizeof(exec_path[0]); i++) {
		char *cand = path_join(exec_path[i], name), *real = walk(r, cand, false, NULL, NULL);
		if (real) {
			free(real);
			return cand;
		}
		free(cand);
	}
	return NULL;
}

static int root_checks(struct resolve *r, const char *path, const struct elf_info *in)
{
	const struct arch *got = arch_by_machine(in->machine);
	if (in->machine != r->e->arch->machine || in->cls != r->e->arch->elfclass) {
		/* an x86_64 program in an aarch64 image: the sysroot is missing,
		 * not the arch (which the image already names) */
		const char *fix = !got ? ""
				  : got == ec_host_arch() && r->e->arch != ec_host_arch()
				      ? " (a foreign image needs a sysroot: of its arch, e.g. /usr/aarch64-linux-gnu)"
				      : " (set arch: to build for it)";
		sb_addf(r->err, "%s is %s %s binary, but the image is for %s%s", path, got ? "an" : "a",
			got ? got->name : "foreign", r->e->arch->name, fix);
		return -1;
	}
	if (in->type != ET_EXEC && in->type != ET_DYN) {
		sb_addf(r->err, "%s is not an executable or shared object", path);
		return -1;
	}
	return 0;
}

static int add_root(struct resolve *r, const char *name, const char *needed_by, const char *why, int depth)
{
	char *path = name[0] == '/' ? xstrdup(name) : strchr(name, '/') ? xasprintf("/%s", name) : find_in_path(r, name);
	if (!path) {
		sb_addf(r->err, "%s not found in PATH (%s/usr/local/sbin:...:/bin)", name, r->e->sysroot);
		return -1;
	}
	if (strset_has(&r->loaded, path) || depth > MAX_INTERP_DEPTH) {
		int rc = depth > MAX_INTERP_DEPTH ? (sb_addf(r->err, "%s: #! interpreters nest too deep", path), -1) : 0;
		free(path);
		return rc;
	}
	char *real = walk(r, path, true, needed_by, why);
	if (!real) {
		sb_addf(r->err, "%s%s does not exist or is not a regular file", r->e->sysroot, path);
		free(path);
		return -1;
	}
	strset_add(&r->loaded, path);
	char *host = ec_host_path(r->e, real);
	struct elf_info in;
	struct strbuf why_not = STRBUF_INIT;
	int kind = ec_elf_info(r->e, host, &in, &why_not), rc = 0;
	if (kind < 0) {
		sb_addf(r->err, "%s: %s", path, why_not.buf);
		rc = -1;
	} else if (kind == 0) {
		rc = add_interpreter(r, real, in.interp, depth);
	} else if ((rc = root_checks(r, path, &in)) == 0) {
		long i = object_add(r, xstrdup(real), -1, &in, musl_of(r, in.interp));
		const char *interp = r->objs[i].info.interp; /* owned by the object; the string never moves */
		if (interp)
			rc = add_root(r, interp, real, "PT_INTERP", depth + 1);
		if (rc == 0)
			rc = load_from(r, i);
	}
	elf_info_free(&in);
	sb_release(&why_not);
	free(host);
	free(real);
	free(path);
	return rc;
}

static int add_host_root(struct resolve *r, const char *src, const char *dest)
{
	struct elf_info in;
	struct strbuf why_not = STRBUF_INIT;
	memo_note(&r->deps, src);
	int kind = ec_elf_info(r->e, src, &in, &why_not), rc = 0;
	if (kind >= 0) {
		item_add(r, dest, NULL, NULL, "root");
		r->c->v[r->c->n - 1].src = xstrdup(src);
		strset_add(&r->loaded, dest);
	}
	if (kind < 0) {
		sb_addf(r->err, "%s: %s", src, why_not.buf);
		rc = -1;
	} else if (kind == 0) {
		rc = add_interpreter(r, dest, in.interp, 0);
	} else if ((rc = root_checks(r, src, &in)) == 0) {
		long i = object_add(r, xstrdup(dest), -1, &in, musl_of(r, in.interp));
		const char *interp = r->objs[i].info.interp;
		if (interp)
			rc = add_root(r, interp, dest, "PT_INTERP", 1);
		if (rc == 0)
			rc = load_from(r, i);
	}
	elf_info_free(&in);
	sb_release(&why_not);
	return rc;
}

static int add_library_root(struct resolve *r, const char *name)
{
	struct strbuf tried = STRBUF_INIT;
	struct elf_info in = { 0 };
	r->lib_musl = r->e->musl_ldso ? musl_of(r, r->e->musl_ldso) : NULL;
	if (r->lib_musl && musl_serves(r->lib_musl, name)) /* libc.so of a musl system is its loader */
		return add_root(r, r->lib_musl->interp, NULL, "root", 0);
	char *real = find_library(r, -1, name, "root", &tried, &in);
	if (!real) {
		if (r->stop.len)
			sb_add(r->err, r->stop.buf, r->stop.len);
		else
			sb_addf(r->err, "library %s not found (searched: %s)", name, tried.len ? tried.buf : "nothing");
		if (r->lib_musl)
			musl_explain(r, r->lib_musl);
		sb_release(&tried);
		return -1;
	}
	sb_release(&tried);
	strset_add(&r->loaded, name);
	return load_from(r, object_add(r, real, -1, &in, r->lib_musl));
}

static void resolve_free(struct resolve *r)
{
	strset_free(&r->items);
	strset_free(&r->loaded);
	strset_free(&r->noted);
	sb_release(&r->deps);
	for (size_t i = 0; i < r->nobjs; i++) {
		free(r->objs[i].path);
		elf_info_free(&r->objs[i].info);
		sl_release(&r->objs[i].rpath);
		sl_release(&r->objs[i].runpath);
	}
	free(r->objs);
	for (size_t i = 0; i < r->nmusls; i++)
		musl_free(r->musls[i]);
	free(r->musls);
	sb_release(&r->stop);
}

/* The path file of every musl loader that searched it goes into the image:
 * without it the loader would search its default path instead. */
static void musl_add_pathfiles(struct resolve *r)
{
	for (size_t i = 0; i < r->nmusls; i++) {
		struct musl *m = r->musls[i];
		if (m->used && m->have_file) {
			char *got = walk(r, m->pathfile, true, m->interp, musl_pathfile_why);
			free(got);
		}
	}
}

/* A path file naming a directory the sysroot lacks is a warning (musl skips
 * such a directory, so nothing fails; but a library meant to be there is
 * not), once per file, on every build: it is found again from the closure
 * whether or not the closure came from the memo. */
static void musl_warn(struct elf_ctx *e, const struct elf_closure *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct elf_item *it = &c->v[i];
		if (strcmp(it->why, musl_pathfile_why) || it->target || sl_has(&e->warned, it->path))
			continue;
		sl_push(&e->warned, it->path);
		struct resolve r = { .e = e };
		struct strlist dirs = STRLIST_INIT, missing = STRLIST_INIT;
		bool have;
		musl_path_read(&r, it->path, &have, &dirs, &missing);
		for (size_t k = 0; k < missing.n; k++)
			sb_addf(&e->warnings, "%s names %s, which %s does not have (musl's loader skips it)\n", it->path,
				missing.v[k], e->sysroot[0] ? e->sysroot : "the host");
		sl_release(&dirs);
		sl_release(&missing);
		resolve_free(&r);
	}
}

/* ---- memo: a closure as text, one item per line ------------------------- */

static bool closure_serialize(const struct elf_closure *c, struct strbuf *out)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct elf_item *it = &c->v[i];
		const char *f[] = { it->path, it->target ? it->target : "", it->needed_by ? it->needed_by : "", it->why,
				    it->src ? it->src : "" };
		for (int k = 0; k < 5; k++)
			if (strpbrk(f[k], "\t\n"))
				return false;
		sb_addf(out, "%s\t%s\t%s\t%s\t%s\n", f[0], f[1], f[2], f[3], f[4]);
	}
	return true;
}

static bool closure_parse(const char *s, struct elf_closure *c)
{
	while (*s) {
		const char *f[5], *nl = strchr(s, '\n');
		size_t len[5];
		if (!nl)
			return false;
		for (int k = 0; k < 5; k++) {
			const char *end = k < 4 ? memchr(s, '\t', nl - s) : nl;
			if (!end)
				return false;
			f[k] = s;
			len[k] = end - s;
			s = end + 1;
		}
		GROW(c->v, c->n + 1, c->alloc);
		c->v[c->n++] = (struct elf_item){ xstrndup(f[0], len[0]), len[1] ? xstrndup(f[1], len[1]) : NULL,
						  len[2] ? xstrndup(f[2], len[2]) : NULL, xstrndup(f[3], len[3]),
						  len[4] ? xstrndup(f[4], len[4]) : NULL };
	}
	return true;
}

static void merge(struct elf_closure *out, struct elf_closure *c)
{
	struct strset have = { 0 };
	for (size_t i = 0; i < out->n; i++)
		strset_add(&have, out->v[i].path);
	for (size_t i = 0; i < c->n; i++) {
		if (!strset_add(&have, c->v[i].path)) {
			free(c->v[i].path), free(c->v[i].target), free(c->v[i].needed_by), free(c->v[i].why);
			free(c->v[i].src);
			continue;
		}
		GROW(out->v, out->n + 1, out->alloc);
		out->v[out->n++] = c->v[i];
	}
	free(c->v);
	*c = (struct elf_closure){ 0 };
	strset_free(&have);
}

enum root_kind { ROOT_BINARY, ROOT_LIBRARY, ROOT_HOST };

/* name: the binary or library; for ROOT_HOST the host file, with `dest`. */
static int closure_of(struct elf_ctx *e, const char *name, const char *dest, enum root_kind kind,
		      struct elf_closure *out, struct strbuf *err)
{
	static const char *const kinds[] = { "bin", "lib", "host" };
	char *key = xasprintf("v3 %s %s %s %s %s", e->arch->name, e->sysroot[0] ? e->sysroot : "/", kinds[kind], name,
			      dest ? dest : "");
	struct strbuf payload = STRBUF_INIT;
	struct elf_closure c = { 0 };
	int rc = 0;
	sb_reset(&e->warnings);
	sb_reset(&e->hint);
	if (e->cas && cas_memo_get(e->cas, "elf", key, &payload) == 1 && closure_parse(payload.buf, &c)) {
		musl_warn(e, &c);
		merge(out, &c);
	} else {
		elf_closure_free(&c);
		struct resolve r = { .e = e, .c = &c, .err = err };
		sb_add(&r.deps, sb_str(&e->conf_deps), e->conf_deps.len);
		rc = kind == ROOT_LIBRARY ? add_library_root(&r, name)
		     : kind == ROOT_HOST  ? add_host_root(&r, name, dest)
					  : add_root(&r, name, NULL, "root", 0);
		if (rc == 0)
			musl_add_pathfiles(&r);
		sb_reset(&payload);
		if (rc == 0 && e->cas && closure_serialize(&c, &payload))
			cas_memo_put(e->cas, "elf", key, &r.deps, &payload);
		else if (e->cas)
			cas_memo_seen(e->cas, &r.deps); /* not memoised, but the build record's all the same */
		resolve_free(&r);
		if (rc == 0) {
			musl_warn(e, &c);
			merge(out, &c);
		}
		elf_closure_free(&c);
	}
	sb_release(&payload);
	free(key);
	return rc;
}

bool is_dot_relative(const char *name)
{
	return !strncmp(name, "./", 2) || !strncmp(name, "../", 3);
}

int elf_add_binary(struct elf_ctx *e, const char *name, struct elf_closure *out, struct strbuf *err)
{
	if (is_dot_relative(name)) { /* "./prog": relative to what? say so */
		const char *base = strrchr(name, '/') + 1;
		sb_addf(err, "%s is a relative path: name a program (found in PATH) or give its absolute path in "
			"the sysroot; for one built here write {src: %s, dest: /usr/bin/%s}", name, name, *base ? base : "prog");
		return -1;
	}
	return closure_of(e, name, NULL, ROOT_BINARY, out, err);
}

int elf_add_library(struct elf_ctx *e, const char *name, struct elf_closure *out, struct strbuf *err)
{
	return closure_of(e, name, NULL, ROOT_LIBRARY, out, err);
}

int elf_add_host_binary(struct elf_ctx *e, const char *src, const char *dest, struct elf_closure *out,
			struct strbuf *err)
{
	return closure_of(e, src, dest, ROOT_HOST, out, err);
}

const char *elf_ctx_warnings(const struct elf_ctx *e)
{
	return sb_str(&e->warnings);
}

const char *elf_ctx_hint(const struct elf_ctx *e)
{
	return e->hint.len ? e->hint.buf : NULL;
}

const char *elf_closure_root(const struct elf_closure *c, size_t first_index)
{
	for (size_t i = first_index; i < c->n; i++)
		if (!c->v[i].needed_by && !c->v[i].target)
			return c->v[i].path;
	return NULL;
}

void elf_closure_free(struct elf_closure *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].path);
		free(c->v[i].target);
		free(c->v[i].needed_by);
		free(c->v[i].why);
		free(c->v[i].src);
	}
	free(c->v);
	*c = (struct elf_closure){ 0 };
}
