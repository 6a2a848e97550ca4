/* modclosure.c — kernel-module closures: what `modprobe --show-depends`
 * would insmod, for a kernel that is not the running one, as data.
 *
 * Two ways to know a tree:
 *   - depmod ran (modules.dep.bin exists): libkmod answers every lookup —
 *     names, aliases, modules.dep, modules.softdep, modules.builtin.bin.
 *   - depmod never ran (a fresh `make modules_install` into a staging dir
 *     with DEPMOD=true, a copied subset): every *.ko* under the release dir
 *     is read once through libkmod (kmod_module_get_info) and the graph is
 *     built here from depends=, softdep= and alias= (matched with fnmatch,
 *     as depmod's modules.alias would be).
 * Either way the result is a graph of nodes keyed by module name, which is
 * then ordered (dependencies and pre-softdeps first, post-softdeps after),
 * stably: ties go to the module the earliest request reached, then by name.
 *
 * The host's /etc/modprobe.d is deliberately not read (kmod_new gets an
 * empty config list): it configures the host, not the image. */
#include "resolve/modclosure.h"
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <getopt.h>
#include <libkmod.h>
#include <limits.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define MEMO_NS "kmods3" /* 2: modules carry how they got in; 3: and how much they matter */

struct mnode {
	char *name, *src, *rel; /* rel: image path relative to /lib/modules/<kver> */
	struct strlist deps, pre, post;              /* module names (resolved) */
	struct strlist aliases, softdeps, firmware;  /* modinfo, for the indexes */
	int req;                                     /* first request reaching it, -1 none */
	char *why;                                   /* how it got in: "depends= of btrfs" ... */
	bool done;                                   /* placed in the load order */
	bool hard;                                   /* a request or its depends=, not only a softdep's */
	int group;                                   /* one of several an alias request stands for: the request */
};

struct mc {
	const struct modclosure_opts *o;
	const struct modclosure_req *reqs;
	size_t nreqs;
	char *kdir;                /* absolute <moddir>/<kver> */
	struct kmod_ctx *ctx;      /* the kernel tree's indexes */
	struct kmod_ctx *fctx;     /* reading single files by path */
	bool depmod;               /* indexes exist */
	struct mnode *nodes;
	size_t n, alloc;
	int *slots;                /* name -> node index + 1, open addressing */
	size_t nslots;
	struct strlist builtin;    /* no-depmod: names in modules.builtin */
	struct strlist builtin_aliases; /* no-depmod: "alias\tname" from modules.builtin.modinfo */
	struct strlist *roots;     /* per request: node names it asked for */
	struct strbuf deps;        /* memo_note() of every input */
	struct strbuf msgs;        /* warnings and notes, replayed on a memo hit */
	struct strlist absent_dirs; /* noted for files that are not there (note_absent) */
	char *last_absent;
	int *order;                /* load order, node indexes */
	size_t norder;
	struct modclosure_msg *said; /* this run's errors and notes, not memoised */
	size_t nsaid, asaid;
	int errors;                /* how many of them are errors */
};

static const char *const compress_suffixes[] = { ".xz", ".zst", ".gz" };

/* ---- small helpers ---------------------------------------------------- */

static char *modname_of(const char *path)
{
	const char *b = path_basename(path), *ko = strstr(b, ".ko");
	char *s = xstrndup(b, ko ? (size_t)(ko - b) : strlen(b));
	for (char *p = s; *p; p++)
		if (*p == '-')
			*p = '_';
	return s;
}

static const char *compress_suffix(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < sizeof(compress_suffixes) / sizeof(*compress_suffixes); i++) {
		size_t l = strlen(compress_suffixes[i]);
		if (n > l && !strcmp(path + n - l, compress_suffixes[i]))
			return path + n - l;
	}
	return NULL;
}

/* The image name of a module file: as is, or without its compression suffix. */
static char *image_rel(const struct mc *mc, const char *rel)
{
	const char *suf = mc->o->decompress ? compress_suffix(rel) : NULL;
	return suf ? xstrndup(rel, suf - rel) : xstrdup(rel);
}

static size_t name_hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int node_find(const struct mc *mc, const char *name)
{
	if (!mc->nslots)
		return -1;
	for (size_t i = name_hash(name) & (mc->nslots - 1);; i = (i + 1) & (mc->nslots - 1)) {
		if (!mc->slots[i])
			return -1;
		if (!strcmp(mc->nodes[mc->slots[i] - 1].name, name))
			return mc->slots[i] - 1;
	}
}

static void slot_put(struct mc *mc, int idx)
{
	size_t i = name_hash(mc->nodes[idx].name) & (mc->nslots - 1);
	while (mc->slots[i])
		i = (i + 1) & (mc->nslots - 1);
	mc->slots[i] = idx + 1;
}

/* A new node (name must be absent); the map stays under half full. */
static int node_add(struct mc *mc, char *name)
{
	GROW(mc->nodes, mc->n + 1, mc->alloc);
	int idx = (int)mc->n++;
	mc->nodes[idx] = (struct mnode){ .name = name, .req = -1 };
	if (mc->n * 2 > mc->nslots) {
		free(mc->slots);
		mc->nslots = mc->nslots ? mc->nslots * 2 : 64;
		mc->slots = xcalloc(mc->nslots, sizeof(*mc->slots));
		for (size_t i = 0; i < mc->n; i++)
			slot_put(mc, (int)i);
	} else {
		slot_put(mc, idx);
	}
	return idx;
}

static void node_free(struct mnode *m)
{
	free(m->why);
	free(m->name);
	free(m->src);
	free(m->rel);
	sl_release(&m->deps);
	sl_release(&m->pre);
	sl_release(&m->post);
	sl_release(&m->aliases);
	sl_release(&m->softdeps);
	sl_release(&m->firmware);
}

static void msg_push(struct modclosure_msg **v, size_t *n, size_t *alloc, enum modclosure_level level, int req,
		     char *hint, char *text)
{
	GROW(*v, *n + 1, *alloc);
	(*v)[(*n)++] = (struct modclosure_msg){ level, req, text, hint };
}

static void msgs_free(struct modclosure_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].text);
		free(v[i].hint);
	}
	free(v);
}

/* A message of this run (not memoised: an error means no memo, and a memo
 * hit has no need to say how the tree was read).  Errors are counted here
 * and nowhere else: the count is what makes a closure fail. */
static void __attribute__((format(printf, 5, 6)))
mc_say(struct mc *mc, enum modclosure_level level, int req, const char *hint, const char *fmt, ...)
{
	struct strbuf text = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&text, fmt, ap);
	va_end(ap);
	msg_push(&mc->said, &mc->nsaid, &mc->asaid, level, req, hint ? xstrdup(hint) : NULL, sb_detach(&text));
	mc->errors += level == MODCLOSURE_ERROR;
}

/* Replayable messages: "<kind> <req>\t<text>\t<hint>\n" (kind W warn, I info). */
static void msg_add(struct mc *mc, char kind, int req, const char *hint, const char *text)
{
	sb_addf(&mc->msgs, "%c %d\t%s\t%s\n", kind, req, text, hint ? hint : "");
}

/* The replayable messages as records, after this run's. */
static void msgs_parse(const char *p, struct modclosure *out)
{
	char kind;
	int req, off = 0;
	while (sscanf(p, "%c %d\t%n", &kind, &req, &off) == 2 && off > 0) {
		const char *text = p + off, *tab = strchr(text, '\t'), *nl = tab ? strchr(tab, '\n') : NULL;
		if (!nl)
			break;
		char *t = xstrndup(text, tab - text), *h = tab + 1 < nl ? xstrndup(tab + 1, nl - tab - 1) : NULL;
		msg_push(&out->msgs, &out->nmsgs, &out->amsgs, kind == 'W' ? MODCLOSURE_WARNING : MODCLOSURE_INFO,
			 req, h, t);
		p = nl + 1;
	}
}

/* ---- libkmod, opened on first use ----------------------------------------
 * Linked normally, libkmod and the libcrypto it needs cost 0.7 ms of every
 * rdc start (more than any other library), yet a memoised module closure
 * never calls it.  So it is opened with dlopen when a closure is resolved. */
#define KMOD_FUNCS(X)                                                                      \
	X(kmod_new) X(kmod_unref) X(kmod_set_log_fn) X(kmod_list_next) X(kmod_module_unref)    \
	X(kmod_module_unref_list) X(kmod_module_get_path) X(kmod_module_get_name)               \
	X(kmod_module_get_module) X(kmod_module_new_from_path) X(kmod_module_new_from_lookup)   \
	X(kmod_module_get_info) X(kmod_module_info_get_key) X(kmod_module_info_get_value)       \
	X(kmod_module_info_free_list) X(kmod_module_get_softdeps) X(kmod_module_get_dependencies)

static struct {
#define KMOD_SLOT(f) __typeof__(&f) f;
	KMOD_FUNCS(KMOD_SLOT)
#undef KMOD_SLOT
} kmod_lib;

/* NULL when ready, else why not (the same answer on every call). */
static const char *kmod_open(void)
{
	static int state; /* 0: not tried, 1: ready, -1: failed */
	static char why[256];
	if (state)
		return state > 0 ? NULL : why;
	state = -1;
	void *h = dlopen(KMOD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, sizeof(why), "cannot load %s: %s", KMOD_SONAME, dlerror());
		return why;
	}
#define KMOD_BIND(f)                                                                              \
	if (!(*(void **)&kmod_lib.f = dlsym(h, #f))) {                                             \
		snprintf(why, sizeof(why), "%s has no %s", KMOD_SONAME, #f);                      \
		dlclose(h);                                                                        \
		return why;                                                                        \
	}
	KMOD_FUNCS(KMOD_BIND)
#undef KMOD_BIND
	state = 1;
	return NULL;
}

/* From here on every kmod_* call goes through the table. */
#define KMOD_CALL(f) kmod_lib.f
#define kmod_new KMOD_CALL(kmod_new)
#define kmod_unref KMOD_CALL(kmod_unref)
#define kmod_set_log_fn KMOD_CALL(kmod_set_log_fn)
#define kmod_list_next KMOD_CALL(kmod_list_next)
#define kmod_module_unref KMOD_CALL(kmod_module_unref)
#define kmod_module_unref_list KMOD_CALL(kmod_module_unref_list)
#define kmod_module_get_path KMOD_CALL(kmod_module_get_path)
#define kmod_module_get_name KMOD_CALL(kmod_module_get_name)
#define kmod_module_get_module KMOD_CALL(kmod_module_get_module)
#define kmod_module_new_from_path KMOD_CALL(kmod_module_new_from_path)
#define kmod_module_new_from_lookup KMOD_CALL(kmod_module_new_from_lookup)
#define kmod_module_get_info KMOD_CALL(kmod_module_get_info)
#define kmod_module_info_get_key KMOD_CALL(kmod_module_info_get_key)
#define kmod_module_info_get_value KMOD_CALL(kmod_module_info_get_value)
#define kmod_module_info_free_list KMOD_CALL(kmod_module_info_free_list)
#define kmod_module_get_softdeps KMOD_CALL(kmod_module_get_softdeps)
#define kmod_module_get_dependencies KMOD_CALL(kmod_module_get_dependencies)

static void kmod_quiet(void *data, int prio, const char *file, int line, const char *fn, const char *fmt,
		       va_list args)
{
	(void)data, (void)prio, (void)file, (void)line, (void)fn, (void)fmt, (void)args;
}

/* NULL with *why set when libkmod cannot be loaded (else *why untouched). */
static struct kmod_ctx *ctx_new(const char *dir, const char **why)
{
	static const char *const no_config[] = { NULL };
	const char *no = kmod_open();
	if (no) {
		*why = no;
		return NULL;
	}
	struct kmod_ctx *ctx = kmod_new(dir, no_config);
	if (ctx)
		kmod_set_log_fn(ctx, kmod_quiet, NULL);
	return ctx;
}

/* ---- modinfo ------------------------------------------------------------ */

struct minfo {
	char *name;
	char *release; /* vermagic's first word: the kernel the module was built for */
	struct strlist depends, softdeps, aliases, firmware;
};

static void minfo_release(struct minfo *mi)
{
	free(mi->name);
	free(mi->release);
	sl_release(&mi->depends);
	sl_release(&mi->softdeps);
	sl_release(&mi->aliases);
	sl_release(&mi->firmware);
}

static void split_push(struct strlist *sl, const char *s, const char *seps)
{
	char *copy = xstrdup(s), *save = NULL;
	for (char *t = strtok_r(copy, seps, &save); t; t = strtok_r(NULL, seps, &save))
		sl_push(sl, t);
	free(copy);
}

static void minfo_take(struct minfo *mi, const char *k, const char *v)
{
	if (!strcmp(k, "name") && !mi->name && *v)
		mi->name = modname_of(v);
	else if (!strcmp(k, "depends"))
		split_push(&mi->depends, v, ",");
	else if (!strcmp(k, "softdep"))
		sl_push(&mi->softdeps, v);
	else if (!strcmp(k, "alias"))
		sl_push(&mi->aliases, v);
	else if (!strcmp(k, "firmware"))
		sl_push(&mi->firmware, v);
	else if (!strcmp(k, "vermagic") && !mi->release && *v)
		mi->release = xstrndup(v, strcspn(v, " "));
}

/* An uncompressed module's .modinfo ("key=value\0" ...), read with libelf:
 * kmod_module_get_info also decodes the signature (OpenSSL, a sprintf per
 * byte), which made it most of a whole-kernel closure's time.  0, or -1
 * when the file is no ELF with a .modinfo (libkmod then has its say). */
static int minfo_elf(const char *path, struct minfo *mi)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	if (fd < 0 || elf_version(EV_CURRENT) == EV_NONE) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL); /* pread()s the headers and .modinfo only: no mapping */
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	if (elf && elf_kind(elf) == ELF_K_ELF && elf_getshdrstrndx(elf, &shstrndx) == 0) {
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
			if (name && !strcmp(name, ".modinfo"))
				break;
		}
	}
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
	if (d && d->d_buf) {
		const char *p = d->d_buf, *end = p + d->d_size;
		while (p < end) {
			size_t n = strnlen(p, (size_t)(end - p));
			const char *eq = memchr(p, '=', n);
			if (eq && p + n < end) {
				char *k = xstrndup(p, (size_t)(eq - p));
				minfo_take(mi, k, eq + 1);
				free(k);
			}
			p += n + 1;
		}
		rc = 0;
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return rc;
}

static int minfo_read(const struct kmod_module *mod, struct minfo *mi)
{
	const char *path = kmod_module_get_path(mod);
	if (path && !compress_suffix(path) && minfo_elf(path, mi) == 0)
		return 0;
	struct kmod_list *info = NULL, *it;
	if (kmod_module_get_info(mod, &info) < 0)
		return -1;
	kmod_list_foreach(it, info) {
		const char *v = kmod_module_info_get_value(it);
		if (v)
			minfo_take(mi, kmod_module_info_get_key(it), v);
	}
	kmod_module_info_free_list(info);
	return 0;
}

static int decompress_module(struct mc *mc, const char *path, struct strbuf *out);

static int minfo_kmod_path(struct mc *mc, const char *path, struct minfo *mi)
{
	struct kmod_module *mod = NULL;
	int rc = kmod_module_new_from_path(mc->fctx, path, &mod);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	errno = 0; /* libkmod says nothing useful when the file is no module */
	rc = minfo_read(mod, mi);
	kmod_module_unref(mod);
	return rc;
}

/* libkmod reads only the compressions it was built with (Debian 12's lacks
 * zlib): unpack into a memfd and let it read that. */
static int minfo_unpacked(struct mc *mc, const char *path, struct minfo *mi)
{
	struct strbuf raw = STRBUF_INIT;
	int fd = memfd_create("rdc-module", MFD_CLOEXEC), rc = -1;
	if (fd >= 0 && decompress_module(mc, path, &raw) == 0 && write_all(fd, raw.buf, raw.len) == 0) {
		char *p = xasprintf("/proc/self/fd/%d", fd);
		rc = minfo_kmod_path(mc, p, mi);
		free(p);
	}
	if (fd >= 0)
		close(fd);
	sb_release(&raw);
	return rc;
}

/* Read a module file by path (its own context: a name already known to the
 * tree's context would make libkmod refuse the path). */
static int minfo_from_path(struct mc *mc, const char *path, struct minfo *mi)
{
	int rc = minfo_kmod_path(mc, path, mi);
	if (rc < 0 && compress_suffix(path) && access(path, R_OK) == 0)
		rc = minfo_unpacked(mc, path, mi);
	if (rc == 0 && !mi->name)
		mi->name = modname_of(path);
	return rc;
}

/* softdep= "pre: a b post: c": words after pre:/post: go to the lists */
static void softdep_split(const char *v, struct strlist *pre, struct strlist *post)
{
	struct strlist words = STRLIST_INIT;
	struct strlist *to = NULL;
	split_push(&words, v, " \t");
	for (size_t i = 0; i < words.n; i++) {
		if (!strcmp(words.v[i], "pre:"))
			to = pre;
		else if (!strcmp(words.v[i], "post:"))
			to = post;
		else if (to)
			sl_push(to, words.v[i]);
	}
	sl_release(&words);
}

static void node_set_info(struct mnode *m, struct minfo *mi)
{
	m->aliases = mi->aliases;
	m->softdeps = mi->softdeps;
	m->firmware = mi->firmware;
	mi->aliases = (struct strlist)STRLIST_INIT;
	mi->softdeps = (struct strlist)STRLIST_INIT;
	mi->firmware = (struct strlist)STRLIST_INIT;
}

/* ---- lookups: depmod ran --------------------------------------------- */

static char *rel_of(const struct mc *mc, const char *path)
{
	size_t l = strlen(mc->kdir);
	if (!strncmp(path, mc->kdir, l) && path[l] == '/')
		return xstrdup(path + l + 1);
	return xasprintf("extra/%s", path_basename(path)); /* modules.dep may name paths elsewhere */
}

static void names_of(struct mc *mc, struct kmod_list *list, struct strlist *out);
static void softdep_lookup(struct mc *mc, const struct strlist *softdeps, struct strlist *pre,
			   struct strlist *post);

/* The node for a module libkmod found (path known), creating it and
 * everything it reaches. */
static int node_from_kmod(struct mc *mc, struct kmod_module *mod)
{
	const char *name = kmod_module_get_name(mod), *path = kmod_module_get_path(mod);
	int idx = node_find(mc, name);
	if (idx >= 0)
		return idx;
	idx = node_add(mc, xstrdup(name));
	mc->nodes[idx].src = xstrdup(path);
	mc->nodes[idx].rel = rel_of(mc, path);
	memo_note(&mc->deps, path);
	struct minfo mi = { 0 };
	if (minfo_read(mod, &mi) == 0 || (compress_suffix(path) && minfo_unpacked(mc, path, &mi) == 0))
		node_set_info(&mc->nodes[idx], &mi);
	minfo_release(&mi);
	struct kmod_list *deps = kmod_module_get_dependencies(mod), *pre = NULL, *post = NULL;
	kmod_module_get_softdeps(mod, &pre, &post);
	struct strlist d = STRLIST_INIT, a = STRLIST_INIT, b = STRLIST_INIT, sd = mc->nodes[idx].softdeps;
	names_of(mc, deps, &d);
	names_of(mc, pre, &a);
	names_of(mc, post, &b);
	/* libkmod 30 keeps only the first softdep line of a module (btrfs has
	 * four: blake2b, sha256, xxhash64, crc32c); modinfo has them all */
	softdep_lookup(mc, &sd, &a, &b);
	mc->nodes[idx].deps = d; /* after the recursion: nodes may have moved */
	mc->nodes[idx].pre = a;
	mc->nodes[idx].post = b;
	kmod_module_unref_list(deps);
	kmod_module_unref_list(pre);
	kmod_module_unref_list(post);
	return idx;
}

/* req -2: a lookup made for the whole tree, not worth a note */
static void note_builtin(struct mc *mc, const char *name, int req)
{
	if (req < -1)
		return;
	char *t = xasprintf("'%s' is built into the kernel: nothing to copy", name);
	msg_add(mc, 'I', req, NULL, t);
	free(t);
}

static void names_of(struct mc *mc, struct kmod_list *list, struct strlist *out)
{
	struct kmod_list *it;
	kmod_list_foreach(it, list) {
		struct kmod_module *m = kmod_module_get_module(it);
		if (kmod_module_get_path(m)) {
			int idx = node_from_kmod(mc, m); /* first: it may move mc->nodes */
			sl_push(out, mc->nodes[idx].name);
		}
		kmod_module_unref(m);
	}
}

/* Names of the modules `what` (name or alias) stands for; builtins add
 * nothing.  Returns -1 when the tree does not know it at all. */
static int lookup_depmod(struct mc *mc, const char *what, int req, struct strlist *out)
{
	struct kmod_list *list = NULL, *it;
	if (kmod_module_new_from_lookup(mc->ctx, what, &list) < 0 || !list)
		return -1;
	kmod_list_foreach(it, list) {
		struct kmod_module *m = kmod_module_get_module(it);
		if (kmod_module_get_path(m)) {
			int idx = node_from_kmod(mc, m); /* first: it may move mc->nodes */
			sl_push(out, mc->nodes[idx].name);
		} else {
			note_builtin(mc, kmod_module_get_name(m), req);
		}
		kmod_module_unref(m);
	}
	kmod_module_unref_list(list);
	return 0;
}

/* ---- lookups: no depmod run ------------------------------------------ */

static bool is_module_file(const char *name)
{
	const char *ko = strstr(name, ".ko");
	return ko && (!ko[3] || (compress_suffix(name) && compress_suffix(name) == ko + 3));
}

/* Every *.ko* under dir (symlinks such as build/ and source/ not followed),
 * sorted so that duplicates resolve the same way every time. */
static void walk_modules(struct mc *mc, const char *dir, struct strlist *out)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	memo_note(&mc->deps, dir); /* a file added or removed changes its mtime */
	for (int i = 0; i < n; i++) {
		const char *e = ents[i]->d_name;
		char *p = path_join(dir, e);
		struct stat st;
		if (e[0] != '.' && lstat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				walk_modules(mc, p, out);
			else if (S_ISREG(st.st_mode) && is_module_file(e))
				sl_push(out, p);
		}
		free(p);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

/* modules.builtin.modinfo: "name.key=value" strings, NUL-separated; the
 * aliases of builtin modules (what depmod turns into
 * modules.builtin.alias.bin), so kmods: [fs-9p] is a builtin, not unknown. */
static void read_builtin_aliases(struct mc *mc)
{
	char *path = path_join(mc->kdir, "modules.builtin.modinfo");
	struct strbuf sb = STRBUF_INIT;
	memo_note(&mc->deps, path);
	if (read_file(path, &sb) < 0)
		sb_reset(&sb);
	/* sb.buf is NUL-terminated past len, so the last string ends too */
	for (size_t off = 0; off < sb.len; off += strlen(sb.buf + off) + 1) {
		const char *e = sb.buf + off, *dot = strchr(e, '.');
		if (dot && !strncmp(dot + 1, "alias=", 6) && dot[7])
			sl_push_owned(&mc->builtin_aliases, xasprintf("%s\t%.*s", dot + 7, (int)(dot - e), e));
	}
	sb_release(&sb);
	free(path);
}

/* The builtin module an alias stands for, or NULL. */
static char *builtin_alias(const struct mc *mc, const char *what)
{
	for (size_t i = 0; i < mc->builtin_aliases.n; i++) {
		const char *a = mc->builtin_aliases.v[i], *tab = strchr(a, '\t');
		char *pat = xstrndup(a, tab - a);
		bool hit = fnmatch(pat, what, 0) == 0;
		free(pat);
		if (hit)
			return modname_of(tab + 1);
	}
	return NULL;
}

static void read_builtin_list(struct mc *mc)
{
	char *path = path_join(mc->kdir, "modules.builtin");
	struct strbuf sb = STRBUF_INIT;
	memo_note(&mc->deps, path);
	if (read_file(path, &sb) == 0) {
		char *save = NULL;
		for (char *l = strtok_r(sb.buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			sl_push_owned(&mc->builtin, modname_of(l));
		sl_sort(&mc->builtin);
	}
	sb_release(&sb);
	free(path);
	read_builtin_aliases(mc);
}

static int lookup_nodepmod(struct mc *mc, const char *what, int req, struct strlist *out)
{
	char *norm = modname_of(what);
	int idx = node_find(mc, norm);
	size_t before = out->n;
	if (idx >= 0)
		sl_push(out, norm);
	for (size_t i = 0; idx < 0 && i < mc->n; i++)
		for (size_t j = 0; j < mc->nodes[i].aliases.n; j++)
			if (fnmatch(mc->nodes[i].aliases.v[j], what, 0) == 0) {
				sl_push(out, mc->nodes[i].name);
				break;
			}
	bool builtin = out->n == before && sl_has_sorted(&mc->builtin, norm);
	char *via = out->n == before && !builtin ? builtin_alias(mc, what) : NULL;
	if (builtin)
		note_builtin(mc, norm, req);
	else if (via)
		note_builtin(mc, via, req), builtin = true;
	free(via);
	free(norm);
	return out->n > before || builtin ? 0 : -1;
}

static int lookup(struct mc *mc, const char *what, int req, struct strlist *out)
{
	return mc->depmod ? lookup_depmod(mc, what, req, out) : lookup_nodepmod(mc, what, req, out);
}

/* A build tree's modules: the .ko files modules.order names (6.1 writes
 * "drivers/net/dummy.ko", later kernels "drivers/net/dummy.o"), in its
 * order, never a walk of the sources.  rels are where modules_install would
 * put them (kernel/<path>). */
static void tree_modules(struct mc *mc, struct strlist *files, struct strlist *rels)
{
	char *path = path_join(mc->kdir, "modules.order");
	struct strbuf sb = STRBUF_INIT;
	memo_note(&mc->deps, path);
	if (read_file(path, &sb) == 0) {
		char *save = NULL;
		for (char *l = strtok_r(sb.buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			size_t n = strlen(l);
			char *rel = n > 2 && !strcmp(l + n - 2, ".o") ? xasprintf("%.*s.ko", (int)(n - 2), l)
								     : xstrdup(l);
			sl_push_owned(files, path_join(mc->kdir, rel));
			sl_push_owned(rels, xasprintf("kernel/%s", rel));
			free(rel);
		}
	}
	sb_release(&sb);
	free(path);
}

/* Read the whole tree; nodes are sorted by file path (a build tree: in
 * modules.order's order), so alias matches come out in a fixed order. */
static void load_tree(struct mc *mc)
{
	struct strlist files = STRLIST_INIT, rels = STRLIST_INIT;
	if (mc->o->tree)
		tree_modules(mc, &files, &rels);
	else
		walk_modules(mc, mc->kdir, &files);
	for (size_t i = 0; i < files.n; i++) {
		struct minfo mi = { 0 };
		memo_note(&mc->deps, files.v[i]);
		if (minfo_from_path(mc, files.v[i], &mi) == 0 && node_find(mc, mi.name) < 0) {
			int idx = node_add(mc, mi.name);
			mi.name = NULL;
			struct mnode *m = &mc->nodes[idx];
			m->src = xstrdup(files.v[i]);
			m->rel = rels.n ? xstrdup(rels.v[i]) : rel_of(mc, files.v[i]);
			for (size_t j = 0; j < mi.depends.n; j++)
				sl_push_owned(&m->deps, modname_of(mi.depends.v[j]));
			node_set_info(m, &mi);
		}
		minfo_release(&mi);
	}
	sl_release(&files);
	sl_release(&rels);
	read_builtin_list(mc);
	/* softdeps name aliases too: resolve them once every alias is known */
	for (size_t i = 0; i < mc->n; i++)
		softdep_lookup(mc, &mc->nodes[i].softdeps, &mc->nodes[i].pre, &mc->nodes[i].post);
}

/* Every name a module's softdep= lines give, looked up (names the tree does
 * not have are skipped, as modprobe skips them). */
static void softdep_lookup(struct mc *mc, const struct strlist *softdeps, struct strlist *pre,
			   struct strlist *post)
{
	struct strlist sp = STRLIST_INIT, so = STRLIST_INIT, p = STRLIST_INIT, q = STRLIST_INIT;
	for (size_t i = 0; i < softdeps->n; i++)
		softdep_split(softdeps->v[i], &sp, &so);
	for (size_t k = 0; k < sp.n; k++)
		lookup(mc, sp.v[k], -2, &p);
	for (size_t k = 0; k < so.n; k++)
		lookup(mc, so.v[k], -2, &q);
	for (size_t k = 0; k < p.n; k++)
		if (!sl_has(pre, p.v[k]))
			sl_push(pre, p.v[k]);
	for (size_t k = 0; k < q.n; k++)
		if (!sl_has(post, q.v[k]))
			sl_push(post, q.v[k]);
	sl_release(&sp);
	sl_release(&so);
	sl_release(&p);
	sl_release(&q);
}

/* ---- requests ------------------------------------------------------------ */

static char *oot_rel(const char *name, const char *path)
{
	const char *suf = compress_suffix(path);
	return xasprintf("extra/%s.ko%s", name, suf ? suf : "");
}

/* Resolve an out-of-tree module's depends= against the kernel. */
static void lookup_all(struct mc *mc, const struct strlist *words, int req, struct strlist *out, const char *who)
{
	for (size_t i = 0; i < words->n; i++)
		if (lookup(mc, words->v[i], req, out) < 0)
			mc_say(mc, MODCLOSURE_ERROR, req, "build it for this kernel, or add the module it needs",
			       "'%s' depends on module '%s', which kernel %s does not have", who, words->v[i],
			       mc->o->kver);
}

/* An out-of-tree module: it goes to extra/<name>.ko, and replaces a tree
 * module of the same name (what a driver developer rebuilding one wants). */
static int node_from_path(struct mc *mc, size_t r)
{
	const struct modclosure_req *q = &mc->reqs[r];
	struct minfo mi = { 0 };
	memo_note(&mc->deps, q->path);
	if (access(q->path, R_OK) < 0 || minfo_from_path(mc, q->path, &mi) < 0) {
		mc_say(mc, MODCLOSURE_ERROR, (int)r, NULL, "cannot read kernel module '%s': %s", q->path,
		       errno ? strerror(errno) : "not a kernel module");
		minfo_release(&mi);
		return -1;
	}
	struct strlist deps = STRLIST_INIT, pre = STRLIST_INIT, post = STRLIST_INIT;
	int before = mc->errors;
	/* the kernel refuses a module whose vermagic is another release's, and
	 * its depends= name that release's modules: never mix two kernels */
	if (mi.release && strcmp(mi.release, mc->o->kver))
		mc_say(mc, MODCLOSURE_ERROR, (int)r,
		       "build it against this kernel (make -C KERNEL_BUILD_DIR M=$PWD), or name its kernel",
		       "'%s' was built for kernel %s, but the manifest's kernel is %s", q->path, mi.release,
		       mc->o->kver);
	else
		lookup_all(mc, &mi.depends, (int)r, &deps, q->path);
	softdep_lookup(mc, &mi.softdeps, &pre, &post);
	int idx = node_find(mc, mi.name);
	if (idx < 0)
		idx = node_add(mc, xstrdup(mi.name));
	struct mnode *m = &mc->nodes[idx];
	char *name = m->name;
	m->name = NULL;
	node_free(m);
	*m = (struct mnode){ .name = name, .src = xstrdup(q->path), .rel = oot_rel(name, q->path),
			     .deps = deps, .pre = pre, .post = post, .req = -1 };
	node_set_info(m, &mi);
	minfo_release(&mi);
	return mc->errors > before ? -1 : idx;
}

/* Module names from the tree, for "did you mean". */
static void candidate_names(struct mc *mc, struct strlist *out)
{
	if (!mc->depmod) {
		for (size_t i = 0; i < mc->n; i++)
			sl_push(out, mc->nodes[i].name);
		return;
	}
	char *path = path_join(mc->kdir, "modules.dep");
	struct strbuf sb = STRBUF_INIT;
	if (read_file(path, &sb) == 0) {
		char *save = NULL;
		for (char *l = strtok_r(sb.buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char *colon = strchr(l, ':');
			if (colon) {
				*colon = '\0';
				sl_push_owned(out, modname_of(l));
			}
		}
	}
	sb_release(&sb);
	free(path);
}

static void report_unknown(struct mc *mc, int r)
{
	const struct modclosure_req *q = &mc->reqs[r];
	struct strlist names = STRLIST_INIT;
	candidate_names(mc, &names);
	char *norm = modname_of(q->name);
	const char *close = diag_closest(norm, (const char *const *)names.v, (int)names.n);
	char *hint = close ? xasprintf("did you mean '%s'?", close)
			   : xasprintf("no module or alias of that name under %s", mc->kdir);
	mc_say(mc, MODCLOSURE_ERROR, r, hint, "unknown kernel module '%s'", q->name);
	free(hint);
	free(norm);
	sl_release(&names);
}

/* Every failure is reported before giving up. */
static int resolve_requests(struct mc *mc)
{
	int bad = 0;
	for (size_t r = 0; r < mc->nreqs; r++)
		if (mc->reqs[r].path) {
			int idx = node_from_path(mc, r);
			if (idx < 0)
				bad++;
			else
				sl_push(&mc->roots[r], mc->nodes[idx].name);
		}
	for (size_t r = 0; r < mc->nreqs; r++)
		if (!mc->reqs[r].path && mc->reqs[r].name && lookup(mc, mc->reqs[r].name, (int)r, &mc->roots[r]) < 0) {
			report_unknown(mc, (int)r);
			bad++;
		}
	return bad ? -1 : 0;
}

/* ---- ordering ------------------------------------------------------------ */

static void missing_dep(struct mc *mc, int idx, const char *dep, int req)
{
	mc_say(mc, MODCLOSURE_ERROR, req, "copy the module into the tree, or run depmod on it",
	       "kernel module '%s' depends on '%s', which is not under %s", mc->nodes[idx].name, dep, mc->kdir);
}

/* `why`: how the module got in (taken), for rdc explain. */
static void visit(struct mc *mc, int idx, int req, char *why)
{
	struct mnode *m = &mc->nodes[idx];
	if (m->req >= 0) {
		free(why);
		return;
	}
	m->req = req;
	m->why = why;
	const struct strlist *lists[] = { &m->pre, &m->deps, &m->post };
	static const char *const how[] = { "softdep pre: of", "depends= of", "softdep post: of" };
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			int j = node_find(mc, lists[l]->v[i]);
			if (j >= 0)
				visit(mc, j, req, xasprintf("%s %s", how[l], m->name));
			else if (l == 1) /* only without depmod: depends= names a file that is gone */
				missing_dep(mc, idx, lists[l]->v[i], req);
		}
}

/* How much a module matters at boot, as modprobe sees it: a request that
 * stands for one module, and its depends= down the tree, must load; a module
 * reached only through softdeps may fail (libkmod ignores errors from
 * softdeps); of the several modules an alias request stands for (crc32c:
 * crc32c_intel, crc32c_generic) one loading is enough, and their own
 * depends= matter only through them. */
static void mark_hard(struct mc *mc, int idx)
{
	if (idx < 0 || mc->nodes[idx].hard)
		return;
	mc->nodes[idx].hard = true;
	mc->nodes[idx].group = -1;
	for (size_t i = 0; i < mc->nodes[idx].deps.n; i++)
		mark_hard(mc, node_find(mc, mc->nodes[idx].deps.v[i]));
}

static void classify(struct mc *mc)
{
	for (size_t i = 0; i < mc->n; i++)
		mc->nodes[i].hard = false, mc->nodes[i].group = -1;
	for (size_t r = 0; r < mc->nreqs; r++)
		for (size_t i = 0; mc->roots[r].n == 1 && i < mc->roots[r].n; i++)
			mark_hard(mc, node_find(mc, mc->roots[r].v[i]));
	for (size_t r = 0; r < mc->nreqs; r++)
		for (size_t i = 0; mc->roots[r].n > 1 && i < mc->roots[r].n; i++) {
			int j = node_find(mc, mc->roots[r].v[i]);
			if (j >= 0 && !mc->nodes[j].hard && mc->nodes[j].group < 0)
				mc->nodes[j].group = (int)r;
		}
}

struct preds {
	int *v;
	size_t n, alloc;
};

static void pred_add(struct preds *p, int j)
{
	GROW(p->v, p->n + 1, p->alloc);
	p->v[p->n++] = j;
}

/* Who must come before each node: its deps and pre-softdeps, and every module
 * that names it as a post-softdep. */
static struct preds *build_preds(struct mc *mc)
{
	struct preds *p = xcalloc(mc->n, sizeof(*p));
	for (size_t i = 0; i < mc->n; i++) {
		struct mnode *m = &mc->nodes[i];
		if (m->req < 0)
			continue;
		const struct strlist *before[] = { &m->deps, &m->pre };
		for (size_t l = 0; l < 2; l++)
			for (size_t k = 0; k < before[l]->n; k++) {
				int j = node_find(mc, before[l]->v[k]);
				if (j >= 0 && j != (int)i)
					pred_add(&p[i], j);
			}
		for (size_t k = 0; k < m->post.n; k++) {
			int j = node_find(mc, m->post.v[k]);
			if (j >= 0 && j != (int)i)
				pred_add(&p[j], (int)i);
		}
	}
	return p;
}

static bool goes_first(const struct mnode *a, const struct mnode *b)
{
	return a->req != b->req ? a->req < b->req : strcmp(a->name, b->name) < 0;
}

static bool is_ready(const struct mc *mc, const struct preds *p)
{
	for (size_t k = 0; k < p->n; k++)
		if (!mc->nodes[p->v[k]].done)
			return false;
	return true;
}

/* Kahn's algorithm, taking the first ready node by (request, name); a cycle
 * (softdeps can make one) is broken at its first node by the same rule. */
static void order_nodes(struct mc *mc)
{
	struct preds *p = build_preds(mc);
	size_t total = 0;
	for (size_t i = 0; i < mc->n; i++)
		total += mc->nodes[i].req >= 0;
	mc->order = xcalloc(total ? total : 1, sizeof(*mc->order));
	while (mc->norder < total) {
		int best = -1, any = -1;
		for (size_t i = 0; i < mc->n; i++) {
			const struct mnode *m = &mc->nodes[i];
			if (m->req < 0 || m->done)
				continue;
			if (any < 0 || goes_first(m, &mc->nodes[any]))
				any = (int)i;
			if (is_ready(mc, &p[i]) && (best < 0 || goes_first(m, &mc->nodes[best])))
				best = (int)i;
		}
		if (best < 0)
			best = any;
		mc->nodes[best].done = true;
		mc->order[mc->norder++] = best;
	}
	for (size_t i = 0; i < mc->n; i++)
		free(p[i].v);
	free(p);
}

/* ---- decompression ------------------------------------------------------- */

static int unxz(const struct strbuf *in, struct strbuf *out)
{
	lzma_stream s = LZMA_STREAM_INIT;
	if (lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
		return -1;
	s.next_in = (const uint8_t *)in->buf;
	s.avail_in = in->len;
	lzma_ret rc;
	do {
		sb_grow(out, 1 << 16);
		s.next_out = (uint8_t *)out->buf + out->len;
		s.avail_out = out->alloc - out->len - 1;
		rc = lzma_code(&s, LZMA_FINISH);
		out->len = (char *)s.next_out - out->buf;
	} while (rc == LZMA_OK);
	lzma_end(&s);
	out->buf[out->len] = '\0';
	return rc == LZMA_STREAM_END ? 0 : -1;
}

static int unzstd(const struct strbuf *in, struct strbuf *out)
{
	ZSTD_DStream *z = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in->buf, in->len, 0 };
	size_t rc = 1;
	while (rc != 0 && !ZSTD_isError(rc)) {
		sb_grow(out, 1 << 16);
		ZSTD_outBuffer ob = { out->buf + out->len, out->alloc - out->len - 1, 0 };
		rc = ZSTD_decompressStream(z, &ob, &ib);
		out->len += ob.pos;
		if (!ZSTD_isError(rc) && rc != 0 && ib.pos == ib.size && ob.pos == 0)
			rc = (size_t)-1; /* truncated input: no progress possible */
	}
	ZSTD_freeDStream(z);
	out->buf[out->len] = '\0';
	return rc == 0 ? 0 : -1;
}

static int ungzip(const struct strbuf *in, struct strbuf *out)
{
	z_stream z = { 0 };
	if (inflateInit2(&z, 15 + 32) != Z_OK) /* +32: gzip or zlib header */
		return -1;
	z.next_in = (Bytef *)in->buf;
	z.avail_in = (uInt)in->len;
	int rc;
	do {
		sb_grow(out, 1 << 16);
		z.next_out = (Bytef *)out->buf + out->len;
		z.avail_out = (uInt)(out->alloc - out->len - 1);
		rc = inflate(&z, Z_NO_FLUSH);
		out->len = (char *)z.next_out - out->buf;
	} while (rc == Z_OK);
	inflateEnd(&z);
	out->buf[out->len] = '\0';
	return rc == Z_STREAM_END ? 0 : -1;
}

/* libkmod decompresses only internally; the image needs the bytes. */
static int decompress_module(struct mc *mc, const char *path, struct strbuf *out)
{
	const char *suf = compress_suffix(path);
	struct strbuf in = STRBUF_INIT;
	int rc = read_file(path, &in);
	if (rc == 0)
		rc = !strcmp(suf, ".xz") ? unxz(&in, out) : !strcmp(suf, ".zst") ? unzstd(&in, out) : ungzip(&in, out);
	sb_release(&in);
	if (rc < 0)
		mc_say(mc, MODCLOSURE_ERROR, -1, NULL, "cannot decompress kernel module %s", path);
	return rc;
}

/* ---- the result ---------------------------------------------------------- */

static char *join_params(char *old, const char *add)
{
	if (!add || !*add)
		return old;
	char *s = old ? xasprintf("%s %s", old, add) : xstrdup(add);
	free(old);
	return s;
}

/* Params attach to whatever the request resolved to (every module an alias
 * stands for); two requests for one module concatenate theirs. */
static char *params_for(const struct mc *mc, const char *name)
{
	char *p = NULL;
	for (size_t r = 0; r < mc->nreqs; r++) /* most requests have none: 4,023 x 4,023 strcmps else */
		if (mc->reqs[r].params && *mc->reqs[r].params && sl_has(&mc->roots[r], name))
			p = join_params(p, mc->reqs[r].params);
	return p;
}

static int add_mod(struct mc *mc, const struct mnode *m, struct modclosure *out)
{
	GROW(out->mods, out->nmods + 1, out->amods);
	struct modclosure_mod *mod = &out->mods[out->nmods++];
	char *rel = image_rel(mc, m->rel);
	*mod = (struct modclosure_mod){ .name = xstrdup(m->name), .src = xstrdup(m->src),
					.dest = xasprintf("/lib/modules/%s/%s", mc->o->kver, rel),
					.params = params_for(mc, m->name), .why = xstrdup(m->why ? m->why : "kmods"),
					.req = m->req, .soft = !m->hard, .group = m->hard ? -1 : m->group };
	free(rel);
	if (mc->o->decompress && compress_suffix(m->src))
		return decompress_module(mc, m->src, &mod->data);
	return 0;
}

static const char *fw_dir(const struct mc *mc)
{
	return mc->o->firmware ? mc->o->firmware : "/lib/firmware";
}

static bool have_firmware(const struct modclosure *out, const char *dest)
{
	for (size_t i = 0; i < out->nfirmware; i++)
		if (!strcmp(out->firmware[i].dest, dest))
			return true;
	return false;
}

/* A firmware file as is or compressed (the kernel's loader takes .xz/.zst). */
/* A file that is not there is noted by the nearest directory that is: a
 * file created under it changes that directory's mtime (or, deeper, creates
 * a subdirectory that does).  A whole kernel misses thousands of firmware
 * files in a few dozen directories, and each note costs a stat on every
 * build. */
static void note_absent(struct mc *mc, const char *path)
{
	char *dir = path_dirname(path);
	struct stat st;
	while (strcmp(dir, "/") && strcmp(dir, ".") && stat(dir, &st) < 0) {
		char *up = path_dirname(dir);
		free(dir);
		dir = up;
	}
	if (strcmp(dir, mc->last_absent ? mc->last_absent : "") && !sl_has(&mc->absent_dirs, dir)) {
		memo_note(&mc->deps, dir);
		sl_push(&mc->absent_dirs, dir);
	}
	free(mc->last_absent);
	mc->last_absent = dir;
}

static bool find_firmware(struct mc *mc, const char *fw, struct modclosure *out)
{
	static const char *const sufs[] = { "", ".xz", ".zst" };
	for (size_t i = 0; i < 3; i++) {
		char *src = xasprintf("%s/%s%s", fw_dir(mc), fw, sufs[i]);
		char *dest = xasprintf("/lib/firmware/%s%s", fw, sufs[i]), *norm = path_normalize(dest);
		struct stat st;
		bool ok = norm && !strncmp(norm, "/lib/firmware/", 14) && stat(src, &st) == 0 && S_ISREG(st.st_mode);
		if (ok)
			memo_note(&mc->deps, src);
		else
			note_absent(mc, src);
		if (ok && !have_firmware(out, norm)) {
			GROW(out->firmware, out->nfirmware + 1, out->afirmware);
			out->firmware[out->nfirmware].src = src;
			out->firmware[out->nfirmware++].dest = norm;
			src = norm = NULL;
		}
		free(src);
		free(dest);
		free(norm);
		if (ok)
			return true;
	}
	return false;
}

/* Copies the firmware `m` names that is present; the names of the missing
 * files go to *missing ("a, b, c, d"), their count is returned. */
static size_t add_firmware(struct mc *mc, const struct mnode *m, struct modclosure *out, struct strbuf *missing)
{
	size_t nmissing = 0;
	for (size_t i = 0; i < m->firmware.n; i++)
		if (!find_firmware(mc, m->firmware.v[i], out))
			sb_addf(missing, "%s%s", nmissing++ ? ", " : "", m->firmware.v[i]);
	return nmissing;
}

/* "a, b, c and 2 more" of a list of k names. */
static char *first_names(const char *list, size_t k, size_t few)
{
	const char *end = list;
	for (size_t i = 0; i < few && i < k; i++)
		end += strcspn(end, ",") + (i + 1 < few && i + 1 < k);
	return k > few ? xasprintf("%.*s and %zu more", (int)(end - list), list, k - few) : xstrdup(list);
}

/* Missing firmware is common (a whole-kernel image lacks hundreds of files)
 * and the same words for every module: one warning with the counts and the
 * first few names; every module's whole list is a note that -v shows. */
static void add_all_firmware(struct mc *mc, struct modclosure *out)
{
	static const char hint[] = "the module loads, but the device may not work without it";
	struct strbuf notes = STRBUF_INIT, first = STRBUF_INIT, one = STRBUF_INIT;
	char *single = NULL;
	size_t nmods = 0, nfiles = 0;
	int req = -1;
	for (size_t o = 0; o < mc->norder; o++) {
		const struct mnode *m = &mc->nodes[mc->order[o]];
		sb_reset(&one);
		size_t k = add_firmware(mc, m, out, &one);
		if (!k)
			continue;
		char *few = first_names(one.buf, k, 3);
		free(single);
		single = xasprintf("module '%s' wants firmware that is not under %s: %s", m->name, fw_dir(mc), few);
		free(few);
		sb_addf(&notes, "I %d\tmodule '%s' wants firmware that is not under %s: %s\t\n", m->req, m->name,
			fw_dir(mc), one.buf);
		if (nmods < 3) { /* "ccp (amd/sev.sbin ...)": the first few modules, each with its first file */
			few = first_names(one.buf, k, 1);
			sb_addf(&first, "%s%s (%.*s%s)", nmods ? ", " : "", m->name, (int)strcspn(few, " "), few,
				k > 1 ? " ..." : "");
			free(few);
		}
		req = nmods++ == 0 || req == m->req ? m->req : -1; /* a place only when all came from one line */
		nfiles += k;
	}
	if (nmods == 1) {
		msg_add(mc, 'W', req, hint, single);
	} else if (nmods > 1) {
		char *t = xasprintf("%zu modules want %zu firmware files that are not under %s: %s%s (-v lists them all)",
				    nmods, nfiles, fw_dir(mc), first.buf, nmods > 3 ? ", ..." : "");
		msg_add(mc, 'W', req, NULL, t);
		free(t);
	}
	if (nmods > 1 || nfiles > 3)
		sb_add(&mc->msgs, notes.buf, notes.len);
	free(single);
	sb_release(&notes);
	sb_release(&first);
	sb_release(&one);
}

static void add_index(struct modclosure *out, const char *kver, const char *name, struct strbuf *data)
{
	GROW(out->indexes, out->nindexes + 1, out->aindexes);
	struct modclosure_blob *b = &out->indexes[out->nindexes++];
	b->dest = xasprintf("/lib/modules/%s/%s", kver, name);
	b->data = *data;
	*data = (struct strbuf)STRBUF_INIT;
}

/* Every hard dependency of node i, transitively, marked in `in`. */
static void mark_deps(const struct mc *mc, int i, bool *in)
{
	const struct mnode *m = &mc->nodes[i];
	for (size_t k = 0; k < m->deps.n; k++) {
		int j = node_find(mc, m->deps.v[k]);
		if (j >= 0 && j != i && !in[j]) {
			in[j] = true;
			mark_deps(mc, j, in);
		}
	}
}

/* depmod's format: "rel: dep...", dependencies listed last-loaded first
 * (modprobe loads them from the end of the line). */
static void index_dep(struct mc *mc, struct strbuf *sb)
{
	bool *in = xcalloc(mc->n, sizeof(*in));
	for (size_t o = 0; o < mc->norder; o++) {
		char *rel = image_rel(mc, mc->nodes[mc->order[o]].rel);
		sb_addf(sb, "%s:", rel);
		free(rel);
		memset(in, 0, mc->n * sizeof(*in));
		mark_deps(mc, mc->order[o], in);
		for (size_t k = o; k-- > 0;)
			if (in[mc->order[k]]) {
				rel = image_rel(mc, mc->nodes[mc->order[k]].rel);
				sb_addf(sb, " %s", rel);
				free(rel);
			}
		sb_addch(sb, '\n');
	}
	free(in);
}

/* ---- binary indexes (libkmod's trie format) ------------------------------ */

/* kmod's modprobe reads modules.dep.bin and modules.alias.bin, never the text
 * files, so an image that ships it needs them.  The format (kmod's
 * libkmod-index.c): big-endian u32s; a header (magic, version, root offset);
 * each node is [prefix NUL] [first last child-offset...] [count (prio value NUL)...],
 * its offset tagged with which parts are present.  Children are written before
 * their parent, as depmod does. */
#define TRIE_MAGIC 0xB007F457u
#define TRIE_VERSION 0x00020001u
#define TRIE_PREFIX 0x80000000u
#define TRIE_VALUES 0x40000000u
#define TRIE_CHILDS 0x20000000u

struct tnode {
	char *prefix;
	unsigned char *ch; /* sorted; kid[i] follows ch[i] */
	struct tnode **kid;
	size_t nk, ak;
	struct strlist vals; /* sorted by priority */
	uint32_t *prio;
	size_t aprio;
};

static struct tnode *tnode_new(const char *prefix)
{
	struct tnode *t = xcalloc(1, sizeof(*t));
	t->prefix = xstrdup(prefix);
	return t;
}

static void tnode_free(struct tnode *t)
{
	for (size_t i = 0; i < t->nk; i++)
		tnode_free(t->kid[i]);
	free(t->prefix);
	free(t->ch);
	free(t->kid);
	sl_release(&t->vals);
	free(t->prio);
	free(t);
}

static struct tnode **tnode_kid(struct tnode *t, unsigned char c)
{
	size_t i = 0;
	while (i < t->nk && t->ch[i] < c)
		i++;
	if (i < t->nk && t->ch[i] == c)
		return &t->kid[i];
	if (t->nk == t->ak) {
		t->ak = t->ak ? t->ak * 2 : 4;
		t->kid = xrealloc(t->kid, t->ak * sizeof(*t->kid));
		t->ch = xrealloc(t->ch, t->ak);
	}
	memmove(t->kid + i + 1, t->kid + i, (t->nk - i) * sizeof(*t->kid));
	memmove(t->ch + i + 1, t->ch + i, t->nk - i);
	t->ch[i] = c;
	t->kid[i] = NULL;
	t->nk++;
	return &t->kid[i];
}

static void tnode_value(struct tnode *t, const char *val, uint32_t prio)
{
	if (sl_has(&t->vals, val))
		return;
	size_t i = 0, n = t->vals.n;
	while (i < n && t->prio[i] <= prio)
		i++;
	sl_push(&t->vals, val);
	GROW(t->prio, n + 1, t->aprio);
	char *v = t->vals.v[n];
	memmove(t->vals.v + i + 1, t->vals.v + i, (n - i) * sizeof(char *));
	memmove(t->prio + i + 1, t->prio + i, (n - i) * sizeof(*t->prio));
	t->vals.v[i] = v;
	t->prio[i] = prio;
}

/* t keeps prefix[0..j); the rest, with t's children and values, moves down. */
static void tnode_split(struct tnode *t, size_t j)
{
	struct tnode *n = tnode_new(t->prefix + j + 1);
	unsigned char c = (unsigned char)t->prefix[j];
	n->ch = t->ch, n->kid = t->kid, n->nk = t->nk, n->ak = t->ak;
	n->vals = t->vals, n->prio = t->prio, n->aprio = t->aprio;
	t->ch = NULL, t->kid = NULL, t->nk = t->ak = 0;
	t->vals = (struct strlist)STRLIST_INIT, t->prio = NULL, t->aprio = 0;
	t->prefix[j] = '\0';
	*tnode_kid(t, c) = n;
}

static void trie_insert(struct tnode *t, const char *key, const char *val, uint32_t prio)
{
	for (size_t i = 0;;) {
		size_t j = 0;
		while (t->prefix[j] && t->prefix[j] == key[i + j])
			j++;
		if (t->prefix[j])
			tnode_split(t, j);
		i += j;
		if (!key[i]) {
			tnode_value(t, val, prio);
			return;
		}
		struct tnode **k = tnode_kid(t, (unsigned char)key[i]);
		if (!*k) {
			*k = tnode_new(key + i + 1);
			tnode_value(*k, val, prio);
			return;
		}
		t = *k;
		i++;
	}
}

static void put_be32(struct strbuf *sb, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };
	sb_add(sb, b, 4);
}

static uint32_t trie_write(const struct tnode *t, struct strbuf *sb)
{
	uint32_t *offs = xcalloc(t->nk ? t->nk : 1, sizeof(*offs)), flags = 0;
	for (size_t i = 0; i < t->nk; i++)
		offs[i] = trie_write(t->kid[i], sb);
	uint32_t off = (uint32_t)sb->len;
	if (*t->prefix) {
		sb_add(sb, t->prefix, strlen(t->prefix) + 1);
		flags |= TRIE_PREFIX;
	}
	if (t->nk) {
		sb_addch(sb, (char)t->ch[0]);
		sb_addch(sb, (char)t->ch[t->nk - 1]);
		for (unsigned c = t->ch[0], i = 0; c <= t->ch[t->nk - 1]; c++)
			put_be32(sb, t->ch[i] == c ? offs[i++] : 0);
		flags |= TRIE_CHILDS;
	}
	if (t->vals.n) {
		put_be32(sb, (uint32_t)t->vals.n);
		for (size_t i = 0; i < t->vals.n; i++) {
			put_be32(sb, t->prio[i]);
			sb_add(sb, t->vals.v[i], strlen(t->vals.v[i]) + 1);
		}
		flags |= TRIE_VALUES;
	}
	free(offs);
	return off | flags;
}

static void trie_finish(struct tnode *root, struct strbuf *out)
{
	put_be32(out, TRIE_MAGIC);
	put_be32(out, TRIE_VERSION);
	put_be32(out, 0);
	uint32_t r = trie_write(root, out);
	unsigned char b[4] = { r >> 24, r >> 16, r >> 8, r };
	memcpy(out->buf + 8, b, 4);
	tnode_free(root);
}

/* libkmod's alias_normalize: '-' is '_' except inside [...]; the index keys
 * are normalised because lookups are. */
static char *alias_normalize(const char *a)
{
	char *s = xstrdup(a);
	for (char *p = s; *p; p++) {
		bool bad = *p == ']'; /* outside a class */
		if (*p == '[')
			bad = !(p = strchr(p, ']')); /* a class is kept as is */
		else if (*p == '-')
			*p = '_';
		if (bad) {
			free(s); /* libkmod refuses it too */
			return NULL;
		}
	}
	return s;
}

/* modules.dep.bin: name -> its modules.dep line; modules.alias.bin:
 * normalised alias -> name.  Priority: the load order, as depmod uses
 * modules.order. */
static void index_bins(struct mc *mc, const struct strbuf *dep, struct strbuf *depbin,
		       struct strbuf *aliasbin)
{
	struct tnode *d = tnode_new(""), *a = tnode_new("");
	const char *line = sb_str(dep);
	for (uint32_t o = 0; o < mc->norder; o++) {
		const struct mnode *m = &mc->nodes[mc->order[o]];
		const char *nl = strchr(line, '\n');
		char *l = xstrndup(line, nl ? (size_t)(nl - line) : strlen(line));
		trie_insert(d, m->name, l, o);
		free(l);
		line = nl ? nl + 1 : line + strlen(line);
		for (size_t k = 0; k < m->aliases.n; k++) {
			char *key = alias_normalize(m->aliases.v[k]);
			if (key)
				trie_insert(a, key, m->name, o);
			free(key);
		}
	}
	trie_finish(d, depbin);
	trie_finish(a, aliasbin);
}

/* The builtin indexes describe the kernel, not the subset: copied as they are. */
static void copy_index(struct mc *mc, struct modclosure *out, const char *name)
{
	char *p = path_join(mc->kdir, name);
	struct strbuf sb = STRBUF_INIT;
	if (read_file(p, &sb) == 0)
		add_index(out, mc->o->kver, name, &sb);
	sb_release(&sb);
	free(p);
}

static void add_indexes(struct mc *mc, struct modclosure *out)
{
	struct strbuf dep = STRBUF_INIT, alias = STRBUF_INIT, soft = STRBUF_INIT, order = STRBUF_INIT,
		      builtin = STRBUF_INIT;
	index_dep(mc, &dep);
	sb_adds(&alias, "# Aliases extracted from modules themselves.\n");
	sb_adds(&soft, "# Soft dependencies extracted from modules themselves.\n");
	for (size_t o = 0; o < mc->norder; o++) {
		const struct mnode *m = &mc->nodes[mc->order[o]];
		for (size_t k = 0; k < m->aliases.n; k++)
			sb_addf(&alias, "alias %s %s\n", m->aliases.v[k], m->name);
		for (size_t k = 0; k < m->softdeps.n; k++)
			sb_addf(&soft, "softdep %s %s\n", m->name, m->softdeps.v[k]);
		char *rel = image_rel(mc, m->rel);
		sb_addf(&order, "%s\n", rel);
		free(rel);
	}
	char *bpath = path_join(mc->kdir, "modules.builtin");
	memo_note(&mc->deps, bpath);
	if (read_file(bpath, &builtin) < 0)
		sb_reset(&builtin);
	free(bpath);
	struct strbuf depbin = STRBUF_INIT, aliasbin = STRBUF_INIT;
	index_bins(mc, &dep, &depbin, &aliasbin);
	add_index(out, mc->o->kver, "modules.dep", &dep);
	add_index(out, mc->o->kver, "modules.dep.bin", &depbin);
	add_index(out, mc->o->kver, "modules.alias.bin", &aliasbin);
	copy_index(mc, out, "modules.builtin.bin");
	copy_index(mc, out, "modules.builtin.alias.bin");
	add_index(out, mc->o->kver, "modules.alias", &alias);
	add_index(out, mc->o->kver, "modules.softdep", &soft);
	add_index(out, mc->o->kver, "modules.builtin", &builtin);
	add_index(out, mc->o->kver, "modules.order", &order);
	if (mc->o->tree) /* what depmod would turn into modules.builtin.alias.bin */
		copy_index(mc, out, "modules.builtin.modinfo");
}

static int build_result(struct mc *mc, struct modclosure *out)
{
	int rc = 0;
	for (size_t o = 0; o < mc->norder; o++)
		if (add_mod(mc, &mc->nodes[mc->order[o]], out) < 0)
			rc = -1;
	add_all_firmware(mc, out);
	add_indexes(mc, out);
	return rc;
}

/* ---- memo ---------------------------------------------------------------- */

static void put_str(struct strbuf *sb, const char *s, size_t len)
{
	if (!s)
		sb_adds(sb, " -");
	else {
		sb_addf(sb, " %zu:", len);
		sb_add(sb, s, len);
	}
}

static void put_s(struct strbuf *sb, const char *s)
{
	put_str(sb, s, s ? strlen(s) : 0);
}

/* Parses one put_str field; *out NULL for "-".  False on malformed input. */
static bool get_str(const char **p, const char *end, char **out, size_t *len)
{
	*out = NULL;
	if (end - *p >= 2 && !memcmp(*p, " -", 2)) {
		*p += 2;
		return true;
	}
	char *colon;
	if (*p >= end || **p != ' ')
		return false;
	unsigned long long n = strtoull(*p + 1, &colon, 10);
	if (colon >= end || *colon != ':' || n > (unsigned long long)(end - colon - 1))
		return false;
	*out = xmalloc(n + 1); /* binary-safe: the .bin indexes hold NULs */
	memcpy(*out, colon + 1, n);
	(*out)[n] = '\0';
	if (len)
		*len = n;
	*p = colon + 1 + n;
	return true;
}

static char *abs_path(const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	char *cwd = getcwd(NULL, 0), *r = path_join(cwd ? cwd : ".", p);
	free(cwd);
	return r;
}

static char *memo_key(const struct mc *mc)
{
	struct strbuf k = STRBUF_INIT;
	sb_adds(&k, MEMO_NS);
	put_s(&k, mc->o->kver);
	put_s(&k, mc->kdir);
	put_s(&k, fw_dir(mc));
	put_s(&k, mc->o->decompress ? "1" : "0");
	put_s(&k, mc->o->tree ? "tree" : "installed");
	for (size_t r = 0; r < mc->nreqs; r++) {
		char *p = mc->reqs[r].path ? abs_path(mc->reqs[r].path) : NULL;
		put_s(&k, mc->reqs[r].name);
		put_s(&k, p);
		put_s(&k, mc->reqs[r].params);
		free(p);
	}
	return sb_detach(&k);
}

static void memo_save(const struct mc *mc, const struct modclosure *out, struct strbuf *pl)
{
	for (size_t i = 0; i < out->nmods; i++) {
		sb_addch(pl, 'M');
		put_s(pl, out->mods[i].name);
		put_s(pl, out->mods[i].src);
		put_s(pl, out->mods[i].dest);
		put_s(pl, out->mods[i].params);
		put_s(pl, out->mods[i].why);
		sb_addf(pl, " %d %d %d", out->mods[i].req, out->mods[i].soft, out->mods[i].group);
	}
	for (size_t i = 0; i < out->nfirmware; i++) {
		sb_addch(pl, 'F');
		put_s(pl, out->firmware[i].src);
		put_s(pl, out->firmware[i].dest);
	}
	for (size_t i = 0; i < out->nindexes; i++) {
		sb_addch(pl, 'X');
		put_s(pl, out->indexes[i].dest);
		put_str(pl, sb_str(&out->indexes[i].data), out->indexes[i].data.len);
	}
	sb_addch(pl, 'G');
	put_str(pl, sb_str(&mc->msgs), mc->msgs.len);
}

/* " 12" -> 12.  Not sscanf: glibc's takes strlen of the whole rest of the
 * payload on every call, quadratic over a whole kernel's 4,000 modules. */
static bool get_int(const char **p, const char *end, int *v)
{
	char *after;
	if (*p >= end || **p != ' ')
		return false;
	long n = strtol(*p + 1, &after, 10);
	if (after == *p + 1 || after > end || n < INT_MIN || n > INT_MAX)
		return false;
	*v = (int)n;
	*p = after;
	return true;
}

static bool load_mod(struct mc *mc, const char **p, const char *end, struct modclosure *out)
{
	char *f[5] = { NULL, NULL, NULL, NULL, NULL };
	int req = -1, soft = 0, group = -1;
	bool ok = get_str(p, end, &f[0], NULL) && get_str(p, end, &f[1], NULL) && get_str(p, end, &f[2], NULL) &&
		  get_str(p, end, &f[3], NULL) && get_str(p, end, &f[4], NULL) && f[0] && f[1] && f[2] && f[4] &&
		  get_int(p, end, &req) && get_int(p, end, &soft) && get_int(p, end, &group);
	if (!ok) {
		free(f[0]), free(f[1]), free(f[2]), free(f[3]), free(f[4]);
		return false;
	}
	GROW(out->mods, out->nmods + 1, out->amods);
	struct modclosure_mod *m = &out->mods[out->nmods++];
	*m = (struct modclosure_mod){ f[0], f[1], f[2], STRBUF_INIT, f[3], f[4], req, soft != 0, group };
	/* decompressed bytes are not memoised: the source is still there (the
	 * memo checked it) and unpacking it costs less than storing it twice */
	return !(mc->o->decompress && compress_suffix(m->src)) || decompress_module(mc, m->src, &m->data) == 0;
}

static bool load_pair(const char **p, const char *end, char **a, char **b, size_t *blen)
{
	if (get_str(p, end, a, NULL) && get_str(p, end, b, blen) && *a && *b)
		return true;
	free(*a), free(*b);
	return false;
}

/* One record of the payload memo_save wrote; false when it is damaged. */
static bool memo_load_one(struct mc *mc, char tag, const char **p, const char *end, struct modclosure *out)
{
	char *a = NULL, *b = NULL;
	size_t len = 0;
	switch (tag) {
	case 'M':
		return load_mod(mc, p, end, out);
	case 'F':
		if (!load_pair(p, end, &a, &b, NULL))
			return false;
		GROW(out->firmware, out->nfirmware + 1, out->afirmware);
		out->firmware[out->nfirmware].src = a;
		out->firmware[out->nfirmware++].dest = b;
		return true;
	case 'X':
		if (!load_pair(p, end, &a, &b, &len))
			return false;
		GROW(out->indexes, out->nindexes + 1, out->aindexes);
		out->indexes[out->nindexes].dest = a;
		out->indexes[out->nindexes].data = (struct strbuf)STRBUF_INIT;
		sb_add(&out->indexes[out->nindexes++].data, b, len);
		free(b);
		return true;
	case 'G':
		if (!get_str(p, end, &a, &len) || !a)
			return false;
		sb_add(&mc->msgs, a, len);
		free(a);
		return true;
	default:
		return false;
	}
}

/* A damaged memo (or a module that no longer unpacks) is as good as none:
 * what loading it said is dropped, and resolving says it again. */
static int memo_load(struct mc *mc, const struct strbuf *pl, struct modclosure *out)
{
	const char *p = pl->buf, *end = pl->buf + pl->len;
	while (p < end)
		if (!memo_load_one(mc, *p++, &p, end, out)) {
			modclosure_free(out);
			sb_reset(&mc->msgs);
			msgs_free(mc->said, mc->nsaid);
			mc->said = NULL, mc->nsaid = mc->asaid = 0, mc->errors = 0;
			return -1;
		}
	return 0;
}

/* The tree's indexes: their identity decides every lookup libkmod makes. */
static void note_indexes(struct mc *mc)
{
	static const char *const names[] = { "modules.dep",     "modules.dep.bin",     "modules.alias.bin",
					     "modules.softdep", "modules.builtin.bin", "modules.builtin.alias.bin",
					     "modules.symbols.bin", "modules.builtin", "modules.builtin.modinfo",
					     "modules.order" };
	memo_note(&mc->deps, mc->o->moddir ? mc->o->moddir : "/lib/modules");
	memo_note(&mc->deps, mc->kdir);
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		char *p = path_join(mc->kdir, names[i]);
		memo_note(&mc->deps, p);
		free(p);
	}
}

/* ---- entry points -------------------------------------------------------- */

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *dir, const char *name)
{
	char *p = path_join(dir, name);
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

static int mc_run(struct mc *mc, struct modclosure *out)
{
	note_indexes(mc);
	if (!is_dir(mc->kdir)) {
		mc_say(mc, MODCLOSURE_ERROR, mc->nreqs ? 0 : -1, "check kernel.version and kernel.modules",
		       "no kernel modules directory %s", mc->kdir);
		return -1;
	}
	const char *why = NULL;
	mc->ctx = ctx_new(mc->kdir, &why);
	mc->fctx = ctx_new(mc->kdir, &why);
	if (!mc->ctx || !mc->fctx) {
		if (why)
			mc_say(mc, MODCLOSURE_ERROR, -1, NULL, "%s", why);
		mc_say(mc, MODCLOSURE_ERROR, -1, NULL, "libkmod cannot open %s", mc->kdir);
		return -1;
	}
	mc->depmod = !mc->o->tree && exists(mc->kdir, "modules.dep.bin");
	if (!mc->depmod) {
		mc_say(mc, MODCLOSURE_INFO, -1, NULL, "%s %s: reading every module's modinfo", mc->kdir,
		       mc->o->tree ? "is a build tree" : "has no modules.dep.bin (depmod never ran)");
		load_tree(mc);
	}
	if (resolve_requests(mc) < 0)
		return -1;
	for (size_t r = 0; r < mc->nreqs; r++)
		for (size_t i = 0; i < mc->roots[r].n; i++) {
			const char *asked = mc->reqs[r].name;
			char *why = !asked || !strcmp(asked, mc->roots[r].v[i]) ? xstrdup("kmods")
				    : xasprintf("kmods (alias %s)", asked);
			visit(mc, node_find(mc, mc->roots[r].v[i]), (int)r, why);
		}
	if (mc->errors)
		return -1;
	classify(mc);
	order_nodes(mc);
	return build_result(mc, out);
}

static void mc_release(struct mc *mc)
{
	for (size_t i = 0; i < mc->n; i++)
		node_free(&mc->nodes[i]);
	free(mc->nodes);
	free(mc->slots);
	for (size_t r = 0; r < mc->nreqs; r++)
		sl_release(&mc->roots[r]);
	free(mc->roots);
	sl_release(&mc->builtin);
	sl_release(&mc->builtin_aliases);
	sb_release(&mc->deps);
	sb_release(&mc->msgs);
	sl_release(&mc->absent_dirs);
	free(mc->last_absent);
	free(mc->order);
	free(mc->kdir);
	msgs_free(mc->said, mc->nsaid);
	if (mc->ctx)
		kmod_unref(mc->ctx);
	if (mc->fctx)
		kmod_unref(mc->fctx);
}

int modclosure_resolve(const struct modclosure_opts *o, const struct modclosure_req *reqs, size_t n,
		       struct modclosure *out)
{
	memset(out, 0, sizeof(*out));
	struct mc mc = { .o = o, .reqs = reqs, .nreqs = n };
	char *base = abs_path(o->moddir ? o->moddir : "/lib/modules");
	mc.kdir = o->tree ? xstrdup(base) : path_join(base, o->kver);
	free(base);
	mc.roots = xcalloc(n ? n : 1, sizeof(*mc.roots));
	char *key = memo_key(&mc);
	struct strbuf pl = STRBUF_INIT;
	if (!o->cas || !cas_memo_get(o->cas, MEMO_NS, key, &pl) || memo_load(&mc, &pl, out) < 0) {
		mc_run(&mc, out);
		sb_reset(&pl);
		if (!mc.errors && o->cas) {
			memo_save(&mc, out, &pl);
			cas_memo_put(o->cas, MEMO_NS, key, &mc.deps, &pl);
		}
	}
	int rc = mc.errors ? -1 : 0; /* the messages decide, so the caller's status agrees with them */
	if (rc < 0)
		modclosure_free(out);
	out->msgs = mc.said, out->nmsgs = mc.nsaid, out->amsgs = mc.asaid;
	mc.said = NULL, mc.nsaid = 0;
	msgs_parse(sb_str(&mc.msgs), out);
	sb_release(&pl);
	free(key);
	mc_release(&mc);
	return rc;
}

void modclosure_free(struct modclosure *c)
{
	for (size_t i = 0; i < c->nmods; i++) {
		free(c->mods[i].name);
		free(c->mods[i].src);
		free(c->mods[i].dest);
		free(c->mods[i].params);
		free(c->mods[i].why);
		sb_release(&c->mods[i].data);
	}
	for (size_t i = 0; i < c->nfirmware; i++) {
		free(c->firmware[i].src);
		free(c->firmware[i].dest);
	}
	for (size_t i = 0; i < c->nindexes; i++) {
		free(c->indexes[i].dest);
		sb_release(&c->indexes[i].data);
	}
	msgs_free(c->msgs, c->nmsgs);
	free(c->mods);
	free(c->firmware);
	free(c->indexes);
	memset(c, 0, sizeof(*c));
}

bool modclosure_failed(const struct modclosure *c)
{
	for (size_t i = 0; i < c->nmsgs; i++)
		if (c->msgs[i].level == MODCLOSURE_ERROR)
			return true;
	return false;
}

/* ---- kernel release ------------------------------------------------------ */

/* Releases installed under dir, in version order. */
static void installed(const char *dir, struct strlist *out)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, versionsort);
	for (int i = 0; i < n; i++) {
		char *p = path_join(dir, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && is_dir(p))
			sl_push(out, ents[i]->d_name);
		free(p);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

/* Why `rel` is no release under dir, with the ones that are.  "latest"
 * comes here only when none is installed. */
static void kver_error(const char *dir, const char *rel, bool host, bool manifest, struct modclosure_why *why)
{
	struct strlist have = STRLIST_INIT;
	struct strbuf *hint = &why->hint;
	if (!is_dir(dir)) {
		const char *h = "name the directory that holds <release>/ (kernel.modules:, or --moddir)";
		sb_addf(&why->text, "the module directory %s does not exist", dir);
		if (manifest)
			sb_adds(hint, h);
		else /* on the command line, one line */
			sb_addf(&why->text, "; %s", h);
		return;
	}
	installed(dir, &have);
	bool latest = !strcmp(rel, "latest");
	if (!have.n && latest)
		sb_adds(hint, "install a kernel (e.g. apt-get install linux-image-amd64) or set kernel.modules");
	else if (!have.n)
		sb_addf(hint, "no kernel is installed under %s (e.g. apt-get install linux-image-amd64)", dir);
	else
		sb_addf(hint, "installed under %s:", dir);
	for (size_t i = 0; i < have.n; i++)
		sb_addf(hint, " %s", have.v[i]);
	if (have.n) /* a manifest line, or the command line */
		sb_addf(hint, manifest ? " (say version: %s, or latest)" : " (--kver %s)", have.v[have.n - 1]);
	if (host)
		sb_addf(&why->text, "the running kernel %s has no modules under %s", rel, dir);
	else if (latest)
		sb_addf(&why->text, "no kernel is installed under %s", dir);
	else
		sb_addf(&why->text, "kernel %s is not installed under %s", rel, dir);
	sl_release(&have);
}

void modclosure_why_release(struct modclosure_why *w)
{
	sb_release(&w->text);
	sb_release(&w->hint);
}

/* The one choice of a kernel release (build, run, rdc kmods): host is
 * uname -r, latest the newest installed under moddir in version order (a
 * manifest that boots whatever the machine has when uname -r is not an
 * installed one: containers, CI), anything else a release as named. */
char *modclosure_kver(const char *moddir, const char *version, bool manifest, struct modclosure_why *why)
{
	const char *dir = moddir ? moddir : "/lib/modules";
	bool host = !version || !*version || !strcmp(version, "host");
	struct utsname u;
	char *rel = NULL;
	if (host)
		rel = xstrdup(uname(&u) == 0 ? u.release : "unknown");
	else if (!strcmp(version, "latest")) {
		struct strlist have = STRLIST_INIT;
		installed(dir, &have);
		rel = xstrdup(have.n ? have.v[have.n - 1] : "latest");
		sl_release(&have);
	} else
		rel = xstrdup(version);
	char *p = path_join(dir, rel);
	bool ok = !strchr(rel, '/') && is_dir(p);
	free(p);
	if (!ok) {
		kver_error(dir, rel, host, manifest, why);
		free(rel);
		rel = NULL;
	}
	return rel;
}


char *modclosure_tree_kver(const char *dir, struct modclosure_why *why)
{
	char *path = path_join(dir, "include/config/kernel.release");
	struct strbuf sb = STRBUF_INIT;
	char *rel = NULL;
	if (read_file(path, &sb) == 0) {
		while (sb.len && (sb.buf[sb.len - 1] == '\n' || sb.buf[sb.len - 1] == ' '))
			sb.buf[--sb.len] = '\0';
		if (sb.len && !strchr(sb.buf, '/') && !strchr(sb.buf, '\n'))
			rel = sb_detach(&sb);
	}
	if (!rel) {
		const char *hint = is_dir(dir) ? "name the directory `make O=DIR` built into (or the source tree of an "
						 "in-tree build): it has include/config/kernel.release"
					       : "name the kernel build directory (make O=DIR)";
		sb_adds(&why->hint, hint);
		sb_addf(&why->text, "%s is not a kernel build tree (%s)", dir,
			is_dir(dir) ? "no include/config/kernel.release" : "no such directory");
	}
	sb_release(&sb);
	free(path);
	return rel;
}

char *modclosure_module_release(const char *path)
{
	const char *why = NULL; /* then resolving the closure says it */
	struct kmod_ctx *ctx = ctx_new(NULL, &why);
	struct mc mc = { .fctx = ctx };
	struct minfo mi = { 0 };
	char *rel = NULL;
	if (ctx && minfo_from_path(&mc, path, &mi) == 0) {
		rel = mi.release;
		mi.release = NULL;
	}
	minfo_release(&mi);
	msgs_free(mc.said, mc.nsaid); /* an unreadable module: resolving it says why */
	if (ctx)
		kmod_unref(ctx);
	return rel;
}

void modclosure_tree_names(const char *dir, struct strlist *out)
{
	char *path = path_join(dir, "modules.order");
	struct strbuf sb = STRBUF_INIT;
	if (read_file(path, &sb) == 0) {
		char *save = NULL;
		for (char *l = strtok_r(sb.buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			sl_push_owned(out, modname_of(l));
	}
	sb_release(&sb);
	free(path);
}
