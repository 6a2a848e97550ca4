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
#include <fcntl.h>
#include <gelf.h>
#include <getopt.h>
#include <glob.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include "lib/arch.h"
#include "lib/diag.h"
#include "resolve/elfdeps.h"

#define MAX_SYMLINK_HOPS 40
#define MAX_INTERP_DEPTH 4
#define NT_FDO_DLOPEN 0x407c0c0a

int elf_arch_machine(const char *arch)
{
	const struct arch *a = arch_find(arch);
	return a ? a->machine : 0;
}

const char *elf_machine_arch(int machine)
{
	const struct arch *a = arch_by_machine(machine);
	return a ? a->name : NULL;
}

/* e_machine of an ELF image's first bytes (either byte order), 0 if none. */
int elf_head_machine(const unsigned char *h, size_t n)
{
	if (n < 20 || memcmp(h, ELFMAG, SELFMAG))
		return 0;
	return h[EI_DATA] == ELFDATA2MSB ? h[18] << 8 | h[19] : h[19] << 8 | h[18];
}

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

/* ---- a string map: what one build has already asked the filesystem -------
 * Five binaries share most of their closures and every library lookup walks
 * the same directories: without these memos a bench build made ~3,000
 * stat calls for 240 distinct paths and parsed libc five times.  A build
 * takes its sysroot as it is when first looked at (one ctx, one build). */

struct strmap_slot {
	char *k;
	void *v;
};

struct strmap {
	struct strmap_slot *slots;
	size_t n, used;
};

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

struct elf_ctx {
	char *sysroot; /* "" for the host */
	const struct arch *arch;
	struct cas *cas;
	struct strlist conf_dirs;   /* from /etc/ld.so.conf, in order */
	struct strlist system_dirs; /* the loader's built-in directories */
	struct strbuf conf_deps;    /* memo notes for the ld.so.conf files read */
	char *musl_ldso;            /* the sysroot's musl loader when it has no glibc one, else NULL */
	struct strbuf warnings;     /* of the last elf_add_* call, one per line */
	struct strbuf hint;         /* for the last failure, or empty */
	struct strlist warned;      /* musl path files already warned about */
	struct strmap fs;           /* host path -> struct fs_ent: lstat and readlink, once per build */
	struct strmap infos;        /* host path -> struct info_ent: each ELF file parsed once per build */
	struct strmap notes;        /* host path -> its memo note line, stat()ed once per build */
};

/* ---- reading one ELF file ---------------------------------------------- */

void elf_info_free(struct elf_info *in)
{
	free(in->interp);
	free(in->rpath);
	free(in->runpath);
	free(in->soname);
	sl_release(&in->needed);
	sl_release(&in->dlopen);
	sl_release(&in->dlopen_required);
	*in = (struct elf_info){ 0 };
}

struct phdrs {
	GElf_Phdr interp, dynamic, *loads, *notes;
	size_t nloads, nnotes, aloads, anotes;
	bool has_interp, has_dynamic;
};

static int read_phdrs(Elf *elf, struct phdrs *ph)
{
	size_t n;
	if (elf_getphdrnum(elf, &n) < 0)
		return -1;
	for (size_t i = 0; i < n && i < 65536; i++) {
		GElf_Phdr p;
		if (!gelf_getphdr(elf, (int)i, &p))
			return -1;
		if (p.p_type == PT_INTERP && !ph->has_interp) {
			ph->interp = p;
			ph->has_interp = true;
		} else if (p.p_type == PT_DYNAMIC && !ph->has_dynamic) {
			ph->dynamic = p;
			ph->has_dynamic = true;
		} else if (p.p_type == PT_LOAD) {
			GROW(ph->loads, ph->nloads + 1, ph->aloads);
			ph->loads[ph->nloads++] = p;
		} else if (p.p_type == PT_NOTE) {
			GROW(ph->notes, ph->nnotes + 1, ph->anotes);
			ph->notes[ph->nnotes++] = p;
		}
	}
	return 0;
}

/* DT_STRTAB is an address; the loader maps it through the PT_LOAD segments. */
static bool vaddr_to_offset(const struct phdrs *ph, uint64_t addr, uint64_t *off)
{
	for (size_t i = 0; i < ph->nloads; i++) {
		const GElf_Phdr *p = &ph->loads[i];
		if (addr >= p->p_vaddr && addr - p->p_vaddr < p->p_filesz) {
			*off = addr - p->p_vaddr + p->p_offset;
			return true;
		}
	}
	return false;
}

/* A NUL-terminated string at `idx` of a string table of `size` bytes. */
static char *strtab_get(const Elf_Data *tab, uint64_t idx)
{
	if (!tab || idx >= tab->d_size)
		return NULL;
	const char *s = (const char *)tab->d_buf + idx;
	size_t max = tab->d_size - idx, len = strnlen(s, max);
	return len < max ? xstrndup(s, len) : NULL;
}

struct dyn_refs {
	uint64_t strtab, strsz, rpath, runpath, soname;
	bool has_strtab, has_rpath, has_runpath, has_soname;
	uint64_t *needed;
	size_t nneeded, aneeded;
};

static int read_dynamic(Elf *elf, const GElf_Phdr *dyn, struct dyn_refs *r)
{
	Elf_Data *d = elf_getdata_rawchunk(elf, dyn->p_offset, dyn->p_filesz, ELF_T_DYN);
	if (!d)
		return -1;
	GElf_Dyn e;
	for (int i = 0; gelf_getdyn(d, i, &e) && e.d_tag != DT_NULL; i++) {
		switch (e.d_tag) {
		case DT_NEEDED:
			GROW(r->needed, r->nneeded + 1, r->aneeded);
			r->needed[r->nneeded++] = e.d_un.d_val;
			break;
		case DT_STRTAB: r->strtab = e.d_un.d_ptr; r->has_strtab = true; break;
		case DT_STRSZ: r->strsz = e.d_un.d_val; break;
		case DT_RPATH: r->rpath = e.d_un.d_val; r->has_rpath = true; break;
		case DT_RUNPATH: r->runpath = e.d_un.d_val; r->has_runpath = true; break;
		case DT_SONAME: r->soname = e.d_un.d_val; r->has_soname = true; break;
		}
	}
	return 0;
}

static int fill_dynamic(Elf *elf, const struct phdrs *ph, struct elf_info *in, struct strbuf *err)
{
	struct dyn_refs r = { 0 };
	uint64_t off;
	int rc = -1;
	if (read_dynamic(elf, &ph->dynamic, &r) < 0) {
		sb_addf(err, "its dynamic section is unreadable (%s)", elf_errmsg(-1));
		goto out;
	}
	if (!r.has_strtab) {
		rc = r.nneeded || r.has_rpath || r.has_runpath ? (sb_adds(err, "it has no DT_STRTAB"), -1) : 0;
		goto out;
	}
	Elf_Data *tab = vaddr_to_offset(ph, r.strtab, &off) ? elf_getdata_rawchunk(elf, off, r.strsz, ELF_T_BYTE) : NULL;
	if (!tab) {
		sb_adds(err, "its dynamic string table lies outside the file");
		goto out;
	}
	for (size_t i = 0; i < r.nneeded; i++) {
		char *s = strtab_get(tab, r.needed[i]);
		if (!s || !*s) {
			free(s);
			sb_adds(err, "a DT_NEEDED entry points outside its string table");
			goto out;
		}
		sl_push_owned(&in->needed, s);
	}
	in->rpath = r.has_rpath ? strtab_get(tab, r.rpath) : NULL;
	in->runpath = r.has_runpath ? strtab_get(tab, r.runpath) : NULL;
	in->soname = r.has_soname ? strtab_get(tab, r.soname) : NULL;
	in->has_runpath = r.has_runpath;
	rc = 0;
out:
	free(r.needed);
	return rc;
}

/* The freedesktop dlopen-metadata note holds a JSON array of objects, each
 * with a "soname" array and a "priority" (required, recommended, suggested).
 * Only those two keys matter here, so a small scanner does. */
static const char *json_string(const char *p, const char *end, struct strbuf *out)
{
	sb_reset(out);
	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		sb_addch(out, *p);
	}
	return p < end ? p + 1 : end;
}

/* Past one JSON value (string, number, nested object or array) at p. */
static const char *json_skip(const char *p, const char *end, struct strbuf *tmp)
{
	int depth = 0;
	do {
		if (*p == '"')
			p = json_string(p, end, tmp);
		else {
			depth += *p == '{' || *p == '[';
			depth -= *p == '}' || *p == ']';
			if (depth <= 0 && (*p == ',' || *p == '}' || *p == ']'))
				return *p == ',' && depth == 0 ? p : p + 1; /* a stray closer: past it */
			p++;
		}
	} while (p < end && depth > 0);
	return p;
}

static const char *json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

/* One object's own keys only: a "soname" inside a nested object (or a
 * string value that reads "soname") names no library. */
static void dlopen_object(const char *p, const char *end, struct elf_info *in)
{
	struct strbuf s = STRBUF_INIT;
	struct strlist names = STRLIST_INIT;
	char priority[16] = "recommended";
	while ((p = json_ws(p, end)) < end) {
		if (*p != '"') {
			p = *p == ',' ? p + 1 : json_skip(p, end, &s);
			continue;
		}
		p = json_ws(json_string(p, end, &s), end);
		if (p >= end || *p != ':')
			continue;
		bool soname = !strcmp(sb_str(&s), "soname"), prio = !strcmp(sb_str(&s), "priority");
		p = json_ws(p + 1, end);
		if (soname && p < end && *p == '[') {
			for (p++; (p = json_ws(p, end)) < end && *p != ']';) {
				if (*p == '"') {
					p = json_string(p, end, &s);
					if (s.len && !strchr(s.buf, '\n'))
						sl_push(&names, s.buf);
				} else {
					p = *p == ',' ? p + 1 : json_skip(p, end, &s);
				}
			}
			p = p < end ? p + 1 : end;
		} else if (prio && p < end && *p == '"') {
			p = json_string(p, end, &s);
			snprintf(priority, sizeof(priority), "%s", sb_str(&s));
		} else if (p < end) {
			p = json_skip(p, end, &s);
		}
	}
	for (size_t i = 0; i < names.n; i++)
		if (strcmp(priority, "suggested"))
			sl_push(!strcmp(priority, "required") ? &in->dlopen_required : &in->dlopen, names.v[i]);
	sl_release(&names);
	sb_release(&s);
}

static void dlopen_json(const char *p, size_t len, struct elf_info *in)
{
	const char *end = p + len, *start = NULL;
	int depth = 0;
	bool str = false;
	for (; p < end && *p; p++) {
		if (str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				str = false;
		} else if (*p == '"') {
			str = true;
		} else if (*p == '{' && depth++ == 0) {
			start = p;
		} else if (*p == '}' && depth > 0 && --depth == 0) {
			dlopen_object(start + 1, p, in);
		}
	}
}

static void read_notes(Elf *elf, const struct phdrs *ph, struct elf_info *in)
{
	for (size_t i = 0; i < ph->nnotes; i++) {
		const GElf_Phdr *p = &ph->notes[i];
		Elf_Data *d = elf_getdata_rawchunk(elf, p->p_offset, p->p_filesz, p->p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		GElf_Nhdr n;
		size_t off = 0, next, name_off, desc_off;
		while (d && (next = gelf_getnote(d, off, &n, &name_off, &desc_off)) > 0) {
			const char *name = (const char *)d->d_buf + name_off;
			if (n.n_type == NT_FDO_DLOPEN && n.n_namesz == 4 && !memcmp(name, "FDO", 4))
				dlopen_json((const char *)d->d_buf + desc_off, n.n_descsz, in);
			off = next;
		}
	}
}

int elf_info_from_elf(Elf *elf, struct elf_info *in, struct strbuf *err)
{
	GElf_Ehdr eh;
	struct phdrs ph = { 0 };
	int rc = -1;
	*in = (struct elf_info){ 0 };
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) {
		sb_addf(err, "it is not a valid ELF file (%s)", elf_errmsg(-1));
		return -1;
	}
	in->cls = gelf_getclass(elf);
	in->machine = eh.e_machine;
	in->type = eh.e_type;
	if (read_phdrs(elf, &ph) < 0) {
		sb_addf(err, "its program headers are unreadable (%s)", elf_errmsg(-1));
		goto out;
	}
	if (ph.has_interp) {
		Elf_Data *d = elf_getdata_rawchunk(elf, ph.interp.p_offset, ph.interp.p_filesz, ELF_T_BYTE);
		in->interp = d ? strtab_get(d, 0) : NULL;
		if (!in->interp || !*in->interp) {
			sb_adds(err, "its PT_INTERP is unreadable");
			goto out;
		}
	}
	if (ph.has_dynamic && fill_dynamic(elf, &ph, in, err) < 0)
		goto out;
	read_notes(elf, &ph, in);
	rc = 0;
out:
	free(ph.loads);
	free(ph.notes);
	if (rc)
		elf_info_free(in);
	return rc;
}

/* Reads `path` (a host path).  Returns 1 for ELF (filled in), 0 for a
 * "#!" script (interp filled in), -1 with a reason otherwise. */
static int elf_info_read(const char *path, struct elf_info *in, struct strbuf *err)
{
	*in = (struct elf_info){ 0 };
	struct stat st;
	int fd = open_regular(path, &st); /* a FIFO in a sysroot must not hang the build */
	if (fd < 0) {
		sb_addf(err, "cannot open %s: %s", path, read_strerror(errno));
		return -1;
	}
	char head[256];
	ssize_t n = pread(fd, head, sizeof(head) - 1, 0);
	int rc = -1;
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		head[n] = 0;
		in->interp = xstrndup(head + 2, strcspn(head + 2, "\n"));
		rc = 0;
	} else if (n >= 4 && !memcmp(head, ELFMAG, SELFMAG)) {
		Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		rc = elf && elf_info_from_elf(elf, in, err) == 0 ? 1 : -1;
		if (!elf)
			sb_addf(err, "it is not a valid ELF file (%s)", elf_errmsg(-1));
		elf_end(elf);
	} else {
		sb_adds(err, "it is neither an ELF file nor a #! script");
	}
	close(fd);
	return rc;
}

/* ---- the context: arch, sysroot, loader configuration ------------------ */

static char *host_path(const struct elf_ctx *e, const char *image_path)
{
	return xasprintf("%s%s", e->sysroot, image_path);
}

/* What lstat and readlink said of a host path (link NULL when it is no
 * symlink or readlink failed). */
struct fs_ent {
	bool ok;
	mode_t mode;
	char *link;
};

static void fs_ent_free(void *v)
{
	struct fs_ent *f = v;
	free(f->link);
	free(f);
}

static const struct fs_ent *fs_lstat(struct elf_ctx *e, const char *host)
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

/* elf_info_read, once per host path and build: *in is the caller's copy. */
static int elf_info_cached(struct elf_ctx *e, const char *host, struct elf_info *in, struct strbuf *err)
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

/* memo_note's line for a host path, once per build. */
static const char *note_line(struct elf_ctx *e, const char *host)
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

static void conf_include(struct elf_ctx *e, const char *conf_dir, const char *pattern, int depth)
{
	char *abs = pattern[0] == '/' ? xstrdup(pattern) : xasprintf("%s/%s", conf_dir, pattern);
	char *host = host_path(e, abs), *host_dir = path_dirname(host);
	glob_t g;
	memo_note(&e->conf_deps, host_dir); /* a new file in ld.so.conf.d changes the search */
	if (glob(host, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			conf_read(e, g.gl_pathv[i] + strlen(e->sysroot), depth + 1);
		globfree(&g);
	}
	free(abs);
	free(host);
	free(host_dir);
}

/* /etc/ld.so.conf: one directory per line (or several separated by spaces,
 * commas or colons, as ldconfig accepts), "include GLOB", '#' comments. */
static void conf_read(struct elf_ctx *e, const char *image_path, int depth)
{
	char *host = host_path(e, image_path), *dir = path_dirname(image_path);
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
	char *musl = xasprintf("/lib/ld-musl-%s.so.1", e->arch->musl), *mh = host_path(e, musl),
	     *gh = host_path(e, e->arch->glibc_ldso);
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

static const struct arch *host_arch(void)
{
	const struct arch *a = arch_host();
	return a ? a : arch_find("x86_64");
}

struct elf_ctx *elf_ctx_new(const char *sysroot, const char *arch, struct cas *cas)
{
	const struct arch *a = arch ? arch_find(arch) : host_arch();
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
		char *h = host_path(r->e, image_path);
		sb_adds(&r->deps, note_line(r->e, h));
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
		char *cand = xasprintf("%s/%.*s", cur, (int)len, todo + pos), *host = host_path(r->e, cand);
		note(r, cand);
		const struct fs_ent *f = fs_lstat(r->e, host);
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
	char *host = host_path(r->e, real);
	struct strbuf ignore = STRBUF_INIT;
	int rc = elf_info_cached(r->e, host, in, &ignore);
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
	char *real = walk(r, pathfile, false, NULL, NULL), *host = real ? host_path(r->e, real) : NULL;
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
				  : got == host_arch() && r->e->arch != host_arch()
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
	char *host = host_path(r->e, real);
	struct elf_info in;
	struct strbuf why_not = STRBUF_INIT;
	int kind = elf_info_cached(r->e, host, &in, &why_not), rc = 0;
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
	int kind = elf_info_cached(r->e, src, &in, &why_not), rc = 0;
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

