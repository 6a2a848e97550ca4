/* ldconf.c — the context of ELF closures: the arch, the sysroot, the
 * loader's configuration (ld.so.conf and its includes, the built-in
 * directories, which libc the sysroot has), and what one build has already
 * asked the filesystem (lstat, readlink, each ELF file's parse, each memo
 * note), so that closures sharing most of their libraries cost one walk. */
#include <glob.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include "lib/arch.h"
#include "lib/diag.h"
#include "resolve/elfdeps_int.h"

static size_t strmap_slot(const struct strmap *m, const char *k)
{
	size_t i = XXH3_64bits(k, strlen(k)) & (m->n - 1);
	while (m->slots[i].k && strcmp(m->slots[i].k, k))
		i = (i + 1) & (m->n - 1);
	return i;
}

static void *strmap_get(const struct strmap *m, const char *k)
{
	return m->n ? m->slots[strmap_slot(m, k)].v : NULL;
}

/* Stores v (owned by the map) under a key not yet there. */
static void strmap_put(struct strmap *m, const char *k, void *v)
{
	if ((m->used + 1) * 2 > m->n) {
		size_t n = m->n ? m->n * 2 : 64;
		struct strmap big = { xcalloc(n, sizeof(*big.slots)), n, m->used };
		for (size_t i = 0; i < m->n; i++)
			if (m->slots[i].k)
				big.slots[strmap_slot(&big, m->slots[i].k)] = m->slots[i];
		free(m->slots);
		*m = big;
	}
	size_t i = strmap_slot(m, k);
	m->slots[i] = (struct strmap_slot){ xstrdup(k), v };
	m->used++;
}

static void strmap_free(struct strmap *m, void (*free_v)(void *))
{
	for (size_t i = 0; i < m->n; i++)
		if (m->slots[i].k) {
			free(m->slots[i].k);
			free_v(m->slots[i].v);
		}
	free(m->slots);
	*m = (struct strmap){ 0 };
}
/* ---- the context: arch, sysroot, loader configuration ------------------ */

char *ec_host_path(const struct elf_ctx *e, const char *image_path)
{
	return xasprintf("%s%s", e->sysroot, image_path);
}

static void fs_ent_free(void *v)
{
	struct fs_ent *f = v;
	free(f->link);
	free(f);
}

const struct fs_ent *ec_lstat(struct elf_ctx *e, const char *host)
{
	struct fs_ent *f = strmap_get(&e->fs, host);
	if (f)
		return f;
	f = xcalloc(1, sizeof(*f));
	struct stat st;
	f->ok = lstat(host, &st) == 0;
	f->mode = f->ok ? st.st_mode : 0;
	if (f->ok && S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t tl = readlink(host, target, sizeof(target) - 1);
		if (tl > 0)
			f->link = xstrndup(target, (size_t)tl);
	}
	strmap_put(&e->fs, host, f);
	return f;
}

/* What elf_info_read said of a host path: its result, and its reason. */
struct info_ent {
	int rc;
	struct elf_info in;
	char *why;
};

static void info_ent_free(void *v)
{
	struct info_ent *c = v;
	elf_info_free(&c->in);
	free(c->why);
	free(c);
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

static void sl_copy(struct strlist *to, const struct strlist *from)
{
	for (size_t i = 0; i < from->n; i++)
		sl_push(to, from->v[i]);
}

static void elf_info_copy(struct elf_info *to, const struct elf_info *from)
{
	*to = (struct elf_info){ from->cls, from->machine, from->type, dup_or_null(from->interp),
				 dup_or_null(from->rpath), dup_or_null(from->runpath), dup_or_null(from->soname),
				 from->has_runpath, STRLIST_INIT, STRLIST_INIT, STRLIST_INIT };
	sl_copy(&to->needed, &from->needed);
	sl_copy(&to->dlopen, &from->dlopen);
	sl_copy(&to->dlopen_required, &from->dlopen_required);
}

int ec_elf_info(struct elf_ctx *e, const char *host, struct elf_info *in, struct strbuf *err)
{
	struct info_ent *c = strmap_get(&e->infos, host);
	if (!c) {
		struct strbuf why = STRBUF_INIT;
		c = xcalloc(1, sizeof(*c));
		c->rc = elf_info_read(host, &c->in, &why);
		c->why = xstrdup(sb_str(&why));
		sb_release(&why);
		strmap_put(&e->infos, host, c);
	}
	if (c->rc < 0) {
		*in = (struct elf_info){ 0 };
		sb_adds(err, c->why);
	} else {
		elf_info_copy(in, &c->in);
	}
	return c->rc;
}

const char *ec_note_line(struct elf_ctx *e, const char *host)
{
	char *line = strmap_get(&e->notes, host);
	if (!line) {
		struct strbuf sb = STRBUF_INIT;
		memo_note(&sb, host);
		line = sb_detach(&sb);
		strmap_put(&e->notes, host, line);
	}
	return line;
}

static void conf_read(struct elf_ctx *e, const char *image_path, int depth);

/* Every directory glob(pattern) lists: before each component with a
 * wildcard, each match of the pattern up to it (a new file or directory
 * there changes the result).  For /etc/conf2/X/Y.conf, X and Y wildcards,
 * the dirname alone is a path with a wildcard that never exists: /etc/conf2
 * and each of its subdirectories are what ldconfig reads. */
static void note_glob_dirs(struct elf_ctx *e, const char *pattern)
{
	for (const char *c = pattern; *c; c++) {
		if (*c != '/')
			continue;
		const char *next = c + 1 + strcspn(c + 1, "/");
		if (!memchr(c + 1, '*', (size_t)(next - c - 1)) && !memchr(c + 1, '?', (size_t)(next - c - 1)) &&
		    !memchr(c + 1, '[', (size_t)(next - c - 1)))
			continue;
		char *prefix = c == pattern ? xstrdup("/") : xstrndup(pattern, (size_t)(c - pattern));
		glob_t g;
		if (!strpbrk(prefix, "*?[")) {
			memo_note(&e->conf_deps, prefix);
		} else if (glob(prefix, GLOB_ONLYDIR, NULL, &g) == 0) {
			for (size_t i = 0; i < g.gl_pathc; i++)
				memo_note(&e->conf_deps, g.gl_pathv[i]);
			globfree(&g);
		}
		free(prefix);
	}
}

static void conf_include(struct elf_ctx *e, const char *conf_dir, const char *pattern, int depth)
{
	char *abs = pattern[0] == '/' ? xstrdup(pattern) : xasprintf("%s/%s", conf_dir, pattern);
	char *host = ec_host_path(e, abs);
	glob_t g;
	note_glob_dirs(e, host); /* a new file in ld.so.conf.d changes the search */
	if (glob(host, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			conf_read(e, g.gl_pathv[i] + strlen(e->sysroot), depth + 1);
		globfree(&g);
	}
	free(abs);
	free(host);
}

/* /etc/ld.so.conf: one directory per line (or several separated by spaces,
 * commas or colons, as ldconfig accepts), "include GLOB", '#' comments. */
static void conf_read(struct elf_ctx *e, const char *image_path, int depth)
{
	char *host = ec_host_path(e, image_path), *dir = path_dirname(image_path);
	struct strbuf sb = STRBUF_INIT;
	memo_note(&e->conf_deps, host);
	if (depth < 8 && read_file(host, &sb) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(sb.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			line[strcspn(line, "#")] = 0;
			char *w = line + strspn(line, " \t");
			if (!strncmp(w, "include", 7) && (w[7] == ' ' || w[7] == '\t')) {
				char *pat = w + 7 + strspn(w + 7, " \t");
				pat[strcspn(pat, " \t")] = 0;
				conf_include(e, dir, pat, depth);
				continue;
			}
			if (!strncmp(w, "hwcap", 5))
				continue;
			char *save2 = NULL;
			for (char *d = strtok_r(w, " \t,:", &save2); d; d = strtok_r(NULL, " \t,:", &save2)) {
				char *norm = d[0] == '/' ? path_normalize(d) : NULL;
				if (norm && !sl_has(&e->conf_dirs, norm))
					sl_push(&e->conf_dirs, norm);
				free(norm);
			}
		}
	}
	sb_release(&sb);
	free(host);
	free(dir);
}

static void system_dirs(struct elf_ctx *e)
{
	const char *ma = e->arch->multiarch;
	char *v[] = { xasprintf("/lib/%s", ma), xasprintf("/usr/lib/%s", ma),
		      e->arch->elfclass == ELFCLASS64 ? xstrdup("/lib64") : NULL,
		      e->arch->elfclass == ELFCLASS64 ? xstrdup("/usr/lib64") : NULL,
		      xstrdup("/lib"), xstrdup("/usr/lib") };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (v[i])
			sl_push_owned(&e->system_dirs, v[i]);
}

/* A sysroot with musl's loader and not glibc's is a musl system: its
 * `libraries:` roots follow musl's rules (a program follows the loader it
 * names in PT_INTERP, whatever the sysroot holds). */
static void sysroot_libc(struct elf_ctx *e)
{
	char *musl = xasprintf("/lib/ld-musl-%s.so.1", e->arch->musl), *mh = ec_host_path(e, musl),
	     *gh = ec_host_path(e, e->arch->glibc_ldso);
	struct stat st;
	memo_note(&e->conf_deps, mh);
	memo_note(&e->conf_deps, gh);
	if (lstat(mh, &st) == 0 && lstat(gh, &st) < 0)
		e->musl_ldso = musl;
	else
		free(musl);
	free(mh);
	free(gh);
}

const struct arch *ec_host_arch(void)
{
	const struct arch *a = arch_host();
	return a ? a : arch_find("x86_64");
}

struct elf_ctx *elf_ctx_new(const char *sysroot, const char *arch, struct cas *cas)
{
	const struct arch *a = arch ? arch_find(arch) : ec_host_arch();
	if (!a) {
		diag_error(NULL, NULL, "unknown architecture '%s': one of %s", arch, arch_list());
		return NULL;
	}
	struct stat st;
	if (sysroot && (stat(sysroot, &st) < 0 || !S_ISDIR(st.st_mode))) {
		diag_error(NULL, NULL, "sysroot %s is not a directory", sysroot);
		return NULL;
	}
	elf_version(EV_CURRENT);
	struct elf_ctx *e = xcalloc(1, sizeof(*e));
	e->sysroot = xstrdup(sysroot && strcmp(sysroot, "/") ? sysroot : "");
	size_t l = strlen(e->sysroot);
	while (l > 0 && e->sysroot[l - 1] == '/')
		e->sysroot[--l] = 0;
	e->arch = a;
	e->cas = cas;
	conf_read(e, "/etc/ld.so.conf", 0);
	system_dirs(e);
	sysroot_libc(e);
	return e;
}

void elf_ctx_free(struct elf_ctx *e)
{
	if (!e)
		return;
	free(e->sysroot);
	sl_release(&e->conf_dirs);
	sl_release(&e->system_dirs);
	sb_release(&e->conf_deps);
	free(e->musl_ldso);
	sb_release(&e->warnings);
	sb_release(&e->hint);
	sl_release(&e->warned);
	strmap_free(&e->fs, fs_ent_free);
	strmap_free(&e->infos, info_ent_free);
	strmap_free(&e->notes, free);
	free(e);
}
