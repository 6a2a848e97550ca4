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
#include "resolve/modclosure_int.h"
#include "resolve/elfdeps.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- nodes by name, messages ------------------------------------------ */

/* The image name of a module file: as is, or without its compression suffix. */
char *mc_image_rel(const struct mc *mc, const char *rel)
{
	const char *suf = mc->o->decompress ? mc_compress_suffix(rel) : NULL;
	return suf ? xstrndup(rel, suf - rel) : xstrdup(rel);
}

static size_t name_hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int mc_node_find(const struct mc *mc, const char *name)
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

void mc_msgs_free(struct modclosure_msg *v, size_t n)
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
void __attribute__((format(printf, 5, 6)))
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
void mc_msg_add(struct mc *mc, char kind, int req, const char *hint, const char *text)
{
	sb_addf(&mc->msgs, "%c %d\t%s\t%s\n", kind, req, text, hint ? hint : "");
}

/* The replayable messages as records, after this run's. */
void mc_msgs_parse(const char *p, struct modclosure *out)
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

/* ---- lookups: depmod ran --------------------------------------------- */

static char *rel_of(const struct mc *mc, const char *path)
{
	size_t l = strlen(mc->kdir);
	if (!strncmp(path, mc->kdir, l) && path[l] == '/')
		return xstrdup(path + l + 1);
	return xasprintf("extra/%s", path_basename(path)); /* modules.dep may name paths elsewhere */
}

static void names_of(struct mc *mc, struct kmod_list *list, struct strlist *out);
static int lookup(struct mc *mc, const char *what, int req, struct strlist *out);
static void softdep_lookup(struct mc *mc, const struct strlist *softdeps, struct strlist *pre,
			   struct strlist *post);

/* The module file opened (*fd, -1 when it cannot be) and stat()ed once,
 * for its memo note and for the plan: opened without following a symlink,
 * its fstat is what lstat would say (one walk of the path, not two); a
 * symlink's note also needs its target's (memo_note takes it).  0, or the
 * errno of lstat. */
static int note_module(struct mc *mc, struct mnode *m, int *fd)
{
	*fd = open(m->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int rc = *fd >= 0 ? (fstat(*fd, &m->st) == 0 ? 0 : errno) : lstat(m->src, &m->st) == 0 ? 0 : errno;
	m->stat_known = rc == 0 && S_ISREG(m->st.st_mode);
	if (rc == 0 && !S_ISLNK(m->st.st_mode))
		memo_note_lstat(&mc->deps, m->src, &m->st);
	else
		memo_note(&mc->deps, m->src);
	return rc;
}

/* A new node for a module file of the tree (name absent): its file noted,
 * its .modinfo and machine read, or taken from r when it was read ahead;
 * its depends= names to *depends when that is not NULL. */
static int node_new(struct mc *mc, const char *name, char *path, struct mread *r, struct strlist *depends)
{
	int idx = node_add(mc, xstrdup(name)), fd = -1;
	struct mnode *m = &mc->nodes[idx];
	m->src = path;
	m->rel = rel_of(mc, path);
	struct minfo mi = { 0 };
	if (r && r->done) {
		m->st = r->st, m->stat_known = true;
		memo_note_lstat(&mc->deps, path, &m->st);
		mi = r->mi, r->mi = (struct minfo){ 0 };
		mc_node_set_info(m, &mi);
	} else {
		m->gone = note_module(mc, m, &fd);
		if (minfo_read_file(mc, fd, path, &mi) == 0 ||
		    (mc_compress_suffix(path) && minfo_unpacked(mc, path, &mi) == 0))
			mc_node_set_info(m, &mi);
	}
	if (fd >= 0)
		close(fd);
	mc->nodes[idx].machine = mi.machine; /* the header, even of a file that is no module */
	if (depends)
		*depends = mi.depends, mi.depends = (struct strlist)STRLIST_INIT;
	minfo_release(&mi);
	return idx;
}

/* The node's edges, once every module they reach has its node. */
static void node_edges(struct mc *mc, int idx, struct strlist *deps, struct strlist *pre, struct strlist *post)
{
	/* libkmod 30 keeps only the first softdep line of a module (btrfs has
	 * four: blake2b, sha256, xxhash64, crc32c); modinfo has them all */
	struct strlist sd = mc->nodes[idx].softdeps;
	softdep_lookup(mc, &sd, pre, post);
	mc->nodes[idx].deps = *deps; /* after the recursion: nodes may have moved */
	mc->nodes[idx].pre = *pre;
	mc->nodes[idx].post = *post;
}

/* The node for a module libkmod found (path known), creating it and
 * everything it reaches: a tree whose modules.dep could not be read. */
static int node_from_kmod(struct mc *mc, struct kmod_module *mod)
{
	const char *name = kmod_module_get_name(mod), *path = kmod_module_get_path(mod);
	int idx = mc_node_find(mc, name);
	if (idx >= 0)
		return idx;
	struct strlist named = STRLIST_INIT;
	idx = node_new(mc, name, xstrdup(path), NULL, &named);
	struct kmod_list *deps = kmod_module_get_dependencies(mod), *pre = NULL, *post = NULL;
	kmod_module_get_softdeps(mod, &pre, &post);
	struct strlist d = STRLIST_INIT, a = STRLIST_INIT, b = STRLIST_INIT;
	names_of(mc, deps, &d);
	/* libkmod drops every dependency of a line when one's file is gone (its
	 * parse stat()s each): then they are found by the names depends= gives,
	 * and the missing file is an error at the request (mc_visit) */
	for (size_t k = 0; !deps && k < named.n; k++)
		lookup(mc, named.v[k], -2, &d);
	sl_release(&named);
	names_of(mc, pre, &a);
	names_of(mc, post, &b);
	node_edges(mc, idx, &d, &a, &b);
	kmod_module_unref_list(deps);
	kmod_module_unref_list(pre);
	kmod_module_unref_list(post);
	return idx;
}

/* ---- lookups: depmod ran, modules.dep read once ----------------------- */

/* libkmod's module name of a path (path_to_modname): the basename up to its
 * first '.', '-' as '_'.  depmod keys modules.dep.bin by it.  Written to
 * out (room for the path's length + 1). */
static char *kmod_modname_to(const char *path, char *out)
{
	const char *b = path_basename(path);
	size_t n = strcspn(b, ".");
	for (size_t i = 0; i < n; i++)
		out[i] = b[i] == '-' ? '_' : b[i];
	out[n] = '\0';
	return out;
}

static char *kmod_modname(const char *path)
{
	return kmod_modname_to(path, xmalloc(strlen(path) + 1));
}

static int dep_find(const struct mc *mc, const char *name)
{
	if (!mc->ndslots)
		return -1;
	for (size_t i = name_hash(name) & (mc->ndslots - 1);; i = (i + 1) & (mc->ndslots - 1)) {
		if (!mc->dslots[i])
			return -1;
		if (!strcmp(mc->dtab[mc->dslots[i] - 1].name, name))
			return mc->dslots[i] - 1;
	}
}

/* One line "rel: dep dep ...", split in place, its name written at *names;
 * a name already read keeps its first line. */
static void dep_line(struct mc *mc, char *l, char **names)
{
	char *colon = strchr(l, ':'), *save = NULL;
	if (!colon)
		return;
	*colon = '\0';
	struct mdep *d = &mc->dtab[mc->ndtab];
	*d = (struct mdep){ .name = kmod_modname_to(l, *names), .rel = l, .dep0 = mc->ndpaths };
	if (dep_find(mc, d->name) >= 0)
		return;
	*names += strlen(d->name) + 1;
	for (char *t = strtok_r(colon + 1, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save))
		mc->dpaths[mc->ndpaths++] = t;
	d->ndep = mc->ndpaths - d->dep0;
	size_t i = name_hash(d->name) & (mc->ndslots - 1);
	while (mc->dslots[i])
		i = (i + 1) & (mc->ndslots - 1);
	mc->dslots[i] = (int)++mc->ndtab;
}

static void prefetch_release(struct mc *mc);

void mc_dep_table_release(struct mc *mc)
{
	prefetch_release(mc);
	if (mc->dmap)
		munmap(mc->dmap, mc->dlen);
	if (mc->tmap)
		munmap(mc->tmap, mc->tlen);
	mc->dmap = mc->tmap = NULL, mc->dtab = NULL, mc->dslots = NULL, mc->dpaths = NULL;
	mc->ndtab = mc->ndslots = mc->ndpaths = 0;
	mc->dloaded = false;
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* An anonymous mapping of n bytes, or NULL. */
static void *map_anon(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Whether the text is newer than modules.dep.bin, which depmod writes after
 * it: edited by hand since, it says what modprobe (the .bin) does not. */
static bool dep_text_newer(const struct mc *mc, const struct stat *st)
{
	char *path = path_join(mc->kdir, "modules.dep.bin");
	struct stat bin;
	bool newer = stat(path, &bin) == 0 && (st->st_mtim.tv_sec > bin.st_mtim.tv_sec ||
						(st->st_mtim.tv_sec == bin.st_mtim.tv_sec &&
						 st->st_mtim.tv_nsec > bin.st_mtim.tv_nsec));
	free(path);
	return newer;
}

/* modules.dep's text, NUL-terminated, in dmap; false when it cannot be read
 * (O_NONBLOCK: a FIFO there is no regular file, not a wait for a writer), is
 * larger than any file rdc reads whole (a whole kernel's is 0.5 MB), or is
 * not the one depmod wrote with modules.dep.bin. */
static bool dep_text_read(struct mc *mc, size_t *len)
{
	char *path = path_join(mc->kdir, "modules.dep");
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	free(path);
	bool ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= READ_FILE_MAX &&
		  !dep_text_newer(mc, &st) &&
		  (mc->dmap = map_anon(mc->dlen = (size_t)st.st_size + 1)) &&
		  pread(fd, mc->dmap, (size_t)st.st_size, 0) == st.st_size;
	if (fd >= 0)
		close(fd);
	*len = ok ? (size_t)st.st_size : 0;
	return ok;
}

/* The tree's modules.dep and its table, in mappings of their own, unmapped
 * when the graph is built: through malloc, its 0.5 MB stayed in the heap
 * (and freeing it raised malloc's mmap threshold) for +600 KiB of peak RSS.
 * When it cannot be read, libkmod answers alone. */
void mc_dep_table_read(struct mc *mc)
{
	size_t len, lines = 1, words = 1, colons = 0;
	if (!dep_text_read(mc, &len)) {
		mc_dep_table_release(mc);
		return;
	}
	char *text = mc->dmap, *save = NULL;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n', words += text[i] == ' ' || text[i] == '\t', colons += text[i] == ':';
	for (mc->ndslots = 64; mc->ndslots < 2 * colons;)
		mc->ndslots *= 2;
	/* names (each shorter than its line), the lines, their paths, the slots */
	size_t at_tab = align8(len + 1), at_paths = at_tab + align8(colons * sizeof(*mc->dtab)),
	       at_slots = at_paths + align8((words + lines) * sizeof(*mc->dpaths));
	char *t = map_anon(mc->tlen = at_slots + mc->ndslots * sizeof(*mc->dslots)), *names = t;
	if (!(mc->tmap = t)) {
		mc_dep_table_release(mc);
		return;
	}
	mc->dtab = (struct mdep *)(t + at_tab);
	mc->dpaths = (const char **)(t + at_paths);
	mc->dslots = (int *)(t + at_slots);
	for (char *l = strtok_r(text, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save))
		dep_line(mc, l, &names);
	mc->dloaded = true;
}

/* Whether libkmod's softdep config names the module (kmod_new reads
 * modules.softdep beside the empty modprobe.d list): asking libkmod for
 * every module fnmatch()ed each of its entries 4,000 times.  Matched as
 * libkmod does, with fnmatch only for the entries that are patterns. */
static bool softdep_configured(struct mc *mc, const char *name)
{
	if (!mc->soft_read) {
		mc->soft_read = true;
		struct kmod_config_iter *it = kmod_config_get_softdeps(mc->ctx);
		while (it && kmod_config_iter_next(it)) {
			const char *k = kmod_config_iter_get_key(it);
			sl_push(strpbrk(k, "*?[\\") ? &mc->soft_globs : &mc->soft_names, k);
		}
		if (it)
			kmod_config_iter_free_iter(it);
		sl_sort(&mc->soft_names);
	}
	if (sl_has_sorted(&mc->soft_names, name))
		return true;
	for (size_t i = 0; i < mc->soft_globs.n; i++)
		if (fnmatch(mc->soft_globs.v[i], name, 0) == 0)
			return true;
	return false;
}

static int node_from_dep(struct mc *mc, const char *name, const char *rel, int d);

/* The host path of a modules.dep path, as libkmod makes it. */
static char *dep_path(const struct mc *mc, const char *rel)
{
	return rel[0] == '/' ? xstrdup(rel) : xasprintf("%s/%s", mc->kdir, rel);
}

/* The node of a dependency path: its own line's, by its name (as libkmod
 * finds it), or a node of the file alone when modules.dep has no line. */
static int node_of_dep_path(struct mc *mc, const char *rel)
{
	char *name = kmod_modname(rel);
	int d = dep_find(mc, name), idx = node_from_dep(mc, name, d >= 0 ? mc->dtab[d].rel : rel, d);
	free(name);
	return idx;
}

/* The node for module `name` at rel (line d of modules.dep, -1 none),
 * creating it and everything it reaches: what libkmod gives, without its
 * stat() of every dependency path (a missing file is an error at the
 * request, mc_visit, where libkmod silently drops every dependency of the
 * line that names it). */
static int node_from_dep(struct mc *mc, const char *name, const char *rel, int d)
{
	int idx = mc_node_find(mc, name);
	if (idx >= 0)
		return idx;
	struct mread *r = mc->pre && d >= 0 && mc->pre[d].path ? &mc->pre[d] : NULL;
	idx = node_new(mc, name, r ? r->path : dep_path(mc, rel), r, NULL);
	if (r)
		r->path = NULL; /* the node's now */
	struct strlist dl = STRLIST_INIT, a = STRLIST_INIT, b = STRLIST_INIT;
	/* in libkmod's order: it prepends each dependency of the line */
	for (size_t k = d >= 0 ? mc->dtab[d].ndep : 0; k-- > 0;) {
		int j = node_of_dep_path(mc, mc->dpaths[mc->dtab[d].dep0 + k]); /* first: it may move mc->nodes */
		sl_push(&dl, mc->nodes[j].name);
	}
	struct kmod_module *km = NULL;
	if (softdep_configured(mc, name) && kmod_module_new_from_name(mc->ctx, name, &km) == 0) {
		struct kmod_list *pre = NULL, *post = NULL;
		kmod_module_get_softdeps(km, &pre, &post);
		names_of(mc, pre, &a);
		names_of(mc, post, &b);
		kmod_module_unref_list(pre);
		kmod_module_unref_list(post);
		kmod_module_unref(km);
	}
	node_edges(mc, idx, &dl, &a, &b);
	return idx;
}

/* The node of a module libkmod returned, or -1 when it has no file (a
 * builtin). */
static int node_of_kmod(struct mc *mc, struct kmod_module *m)
{
	if (!mc->dloaded)
		return kmod_module_get_path(m) ? node_from_kmod(mc, m) : -1;
	const char *name = kmod_module_get_name(m);
	int d = dep_find(mc, name);
	if (d < 0) /* no line in the text (cut short, edited) but in modules.dep.bin: libkmod's */
		return kmod_module_get_path(m) ? node_from_kmod(mc, m) : -1;
	return node_from_dep(mc, name, mc->dtab[d].rel, d);
}

/* A request that names a module of modules.dep: what libkmod's lookup finds
 * first (its config, where an alias could come first, is empty).  The name
 * normalised as libkmod's alias_normalize does, brackets aside. */
static int dep_of_request(const struct mc *mc, const char *what)
{
	if (!mc->dloaded || strpbrk(what, "[]"))
		return -1;
	char *n = xstrdup(what);
	for (char *p = n; *p; p++)
		if (*p == '-')
			*p = '_';
	int d = dep_find(mc, n);
	free(n);
	return d;
}

/* Reading module files is most of a big closure's time, one file after
 * another: the files the requests surely need (named modules, and what
 * their modules.dep lines reach) are read first, on every core.  Only for
 * a big closure: threads cost more than a few files. */
static void prefetch_modules(struct mc *mc)
{
	if (!mc->dloaded || mc->o->jobs == 1 || sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	int *todo = xcalloc(mc->ndtab ? mc->ndtab : 1, sizeof(*todo));
	mc->pre = xcalloc(mc->ndtab ? mc->ndtab : 1, sizeof(*mc->pre));
	size_t n = 0;
	for (size_t r = 0; r < mc->nreqs; r++) {
		int d = mc->reqs[r].path || !mc->reqs[r].name ? -1 : dep_of_request(mc, mc->reqs[r].name);
		if (d >= 0 && !mc->pre[d].path)
			mc->pre[d].path = dep_path(mc, mc->dtab[d].rel), todo[n++] = d;
	}
	for (size_t i = 0; i < n; i++) { /* n grows: a walk of every line reached */
		const struct mdep *e = &mc->dtab[todo[i]];
		for (size_t k = 0; k < e->ndep; k++) {
			char *name = kmod_modname(mc->dpaths[e->dep0 + k]);
			int d = dep_find(mc, name);
			free(name);
			if (d >= 0 && !mc->pre[d].path)
				mc->pre[d].path = dep_path(mc, mc->dtab[d].rel), todo[n++] = d;
		}
	}
	/* by default at most 4 threads: each one's malloc arena counts in the
	 * peak RSS, and the reads gain little past that */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (n >= MC_MANY)
		minfo_read_many(mc->pre, todo, n, mc->o->jobs ? mc->o->jobs : cores < 4 ? (int)cores : 4);
	free(todo);
}

static void prefetch_release(struct mc *mc)
{
	for (size_t i = 0; mc->pre && i < mc->ndtab; i++) {
		free(mc->pre[i].path);
		minfo_release(&mc->pre[i].mi);
	}
	free(mc->pre);
	mc->pre = NULL;
}

/* req -2: a lookup made for the whole tree, not worth a note */
static void note_builtin(struct mc *mc, const char *name, int req)
{
	if (req < -1)
		return;
	char *t = xasprintf("'%s' is built into the kernel: nothing to copy", name);
	mc_msg_add(mc, 'I', req, NULL, t);
	free(t);
}

static void names_of(struct mc *mc, struct kmod_list *list, struct strlist *out)
{
	struct kmod_list *it;
	kmod_list_foreach(it, list) {
		struct kmod_module *m = kmod_module_get_module(it);
		int idx = node_of_kmod(mc, m); /* first: it may move mc->nodes */
		if (idx >= 0)
			sl_push(out, mc->nodes[idx].name);
		kmod_module_unref(m);
	}
}

/* Names of the modules `what` (name or alias) stands for; builtins add
 * nothing.  Returns -1 when the tree does not know it at all. */
static int lookup_depmod(struct mc *mc, const char *what, int req, struct strlist *out)
{
	int d = dep_of_request(mc, what);
	if (d >= 0) {
		int idx = node_from_dep(mc, mc->dtab[d].name, mc->dtab[d].rel, d);
		sl_push(out, mc->nodes[idx].name);
		return 0;
	}
	struct kmod_list *list = NULL, *it;
	if (kmod_module_new_from_lookup(mc->ctx, what, &list) < 0 || !list)
		return -1;
	kmod_list_foreach(it, list) {
		struct kmod_module *m = kmod_module_get_module(it);
		int idx = node_of_kmod(mc, m); /* first: it may move mc->nodes */
		if (idx >= 0)
			sl_push(out, mc->nodes[idx].name);
		else
			note_builtin(mc, kmod_module_get_name(m), req);
		kmod_module_unref(m);
	}
	kmod_module_unref_list(list);
	return 0;
}

/* ---- lookups: no depmod run ------------------------------------------ */

static bool is_module_file(const char *name)
{
	const char *ko = strstr(name, ".ko");
	return ko && (!ko[3] || (mc_compress_suffix(name) && mc_compress_suffix(name) == ko + 3));
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
			return mc_modname_of(tab + 1);
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
			sl_push_owned(&mc->builtin, mc_modname_of(l));
		sl_sort(&mc->builtin);
	}
	sb_release(&sb);
	free(path);
	read_builtin_aliases(mc);
}

static int lookup_nodepmod(struct mc *mc, const char *what, int req, struct strlist *out)
{
	char *norm = mc_modname_of(what);
	int idx = mc_node_find(mc, norm);
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
		if (minfo_from_path(mc, files.v[i], &mi) == 0 && mc_node_find(mc, mi.name) < 0) {
			int idx = node_add(mc, mi.name);
			mi.name = NULL;
			struct mnode *m = &mc->nodes[idx];
			m->src = xstrdup(files.v[i]);
			m->rel = rels.n ? xstrdup(rels.v[i]) : rel_of(mc, files.v[i]);
			for (size_t j = 0; j < mi.depends.n; j++)
				sl_push_owned(&m->deps, mc_modname_of(mi.depends.v[j]));
			mc_node_set_info(m, &mi);
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
		mc_softdep_split(softdeps->v[i], &sp, &so);
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
	const char *suf = mc_compress_suffix(path);
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
	int idx = mc_node_find(mc, mi.name);
	if (idx < 0)
		idx = node_add(mc, xstrdup(mi.name));
	struct mnode *m = &mc->nodes[idx];
	char *name = m->name;
	m->name = NULL;
	node_free(m);
	*m = (struct mnode){ .name = name, .src = xstrdup(q->path), .rel = oot_rel(name, q->path),
			     .deps = deps, .pre = pre, .post = post, .req = -1 };
	mc_node_set_info(m, &mi);
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
				sl_push_owned(out, mc_modname_of(l));
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
	char *norm = mc_modname_of(q->name);
	const char *close = diag_closest(norm, (const char *const *)names.v, (int)names.n);
	/* the name itself: modules.dep has its line, the .bin libkmod reads does not */
	char *hint = close && !strcmp(close, norm)
			     ? xasprintf("modules.dep names it but modules.dep.bin does not: run depmod for %s", mc->kdir)
		     : close ? xasprintf("did you mean '%s'?", close)
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
 * stands for); two requests for one module concatenate theirs.  `with`: the
 * requests that have params. */
static char *params_for(const struct mc *mc, const int *with, size_t nwith, const char *name)
{
	char *p = NULL;
	for (size_t k = 0; k < nwith; k++)
		if (sl_has(&mc->roots[with[k]], name))
			p = join_params(p, mc->reqs[with[k]].params);
	return p;
}

static int add_mod(struct mc *mc, const struct mnode *m, const int *with, size_t nwith, struct modclosure *out)
{
	GROW(out->mods, out->nmods + 1, out->amods);
	struct modclosure_mod *mod = &out->mods[out->nmods++];
	char *rel = mc_image_rel(mc, m->rel);
	*mod = (struct modclosure_mod){ .name = xstrdup(m->name), .src = xstrdup(m->src),
					.dest = xasprintf("/lib/modules/%s/%s", mc->o->kver, rel),
					.params = params_for(mc, with, nwith, m->name), .why = xstrdup(m->why ? m->why : "kmods"),
					.req = m->req, .soft = !m->hard, .group = m->hard ? -1 : m->group,
					.machine = m->machine, .stat_known = m->stat_known, .st = m->st };
	free(rel);
	if (!mc->o->decompress || !mc_compress_suffix(m->src))
		return 0;
	int rc = mc_decompress_module(mc, m->src, &mod->data);
	mod->machine = elf_head_machine((const unsigned char *)mod->data.buf, mod->data.len);
	return rc;
}

static int build_result(struct mc *mc, struct modclosure *out)
{
	/* the requests with params, once: most have none, and asking each of
	 * 4,023 requests for each of 4,023 modules was 2% of a whole kernel */
	mc_indexes_begin(mc); /* while the modules and their firmware are listed */
	int *with = xcalloc(mc->nreqs ? mc->nreqs : 1, sizeof(*with)), rc = 0;
	size_t nwith = 0;
	for (size_t r = 0; r < mc->nreqs; r++)
		if (mc->reqs[r].params && *mc->reqs[r].params)
			with[nwith++] = (int)r;
	for (size_t o = 0; o < mc->norder; o++)
		if (add_mod(mc, &mc->nodes[mc->order[o]], with, nwith, out) < 0)
			rc = -1;
	free(with);
	mc_add_all_firmware(mc, out);
	mc_add_indexes(mc, out);
	return rc;
}

char *mc_abs_path(const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	char *cwd = getcwd(NULL, 0), *r = path_join(cwd ? cwd : ".", p);
	free(cwd);
	return r;
}

/* ---- entry points -------------------------------------------------------- */

bool mc_is_dir(const char *p)
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
	mc_note_indexes(mc);
	if (!mc_is_dir(mc->kdir)) {
		mc_say(mc, MODCLOSURE_ERROR, mc->nreqs ? 0 : -1, "check kernel.version and kernel.modules",
		       "no kernel modules directory %s", mc->kdir);
		return -1;
	}
	const char *why = NULL;
	mc->ctx = mc_ctx_new_indexed(mc->kdir, &why);
	mc->fctx = mc_ctx_new(mc->kdir, &why);
	if (!mc->ctx || !mc->fctx) {
		if (why)
			mc_say(mc, MODCLOSURE_ERROR, -1, NULL, "%s", why);
		mc_say(mc, MODCLOSURE_ERROR, -1, NULL, "libkmod cannot open %s", mc->kdir);
		return -1;
	}
	mc->depmod = !mc->o->tree && exists(mc->kdir, "modules.dep.bin");
	if (mc->depmod && mc->nreqs >= MC_MANY) /* a few lookups cost less than reading it */
		mc_dep_table_read(mc);
	prefetch_modules(mc);
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
			mc_visit(mc, mc_node_find(mc, mc->roots[r].v[i]), (int)r, why);
		}
	mc_check_cycles(mc);
	if (mc->errors)
		return -1;
	kmod_unload_resources(mc->ctx); /* the graph is built: no more lookups, and the mapped
					   indexes need not stay in memory beside the result */
	mc_dep_table_release(mc);
	mc_classify(mc);
	mc_order_nodes(mc);
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
	mc_dep_table_release(mc);
	sl_release(&mc->soft_names);
	sl_release(&mc->soft_globs);
	sb_release(&mc->deps);
	sb_release(&mc->msgs);
	sl_release(&mc->absent_dirs);
	free(mc->last_absent);
	free(mc->last_asked);
	free(mc->order);
	free(mc->kdir);
	mc_msgs_free(mc->said, mc->nsaid);
	if (mc->ctx)
		kmod_unref(mc->ctx);
	if (mc->fctx)
		kmod_unref(mc->fctx);
}

/* A new memo still to be written: the resolve's graph, kept past its
 * return (its deps and messages go into the memo), and freed once it is
 * written.  A whole kernel's takes 10-15 ms to write and 3-4 ms to free,
 * which a build spends beside its plan instead of before it. */
struct modclosure_memo {
	struct cas *cas; /* the opts' (the graph's opts may be gone by then) */
	char *key;
	struct mc *graph;
};

static void memo_drop(struct modclosure *c)
{
	if (!c->memo)
		return;
	mc_release(c->memo->graph);
	free(c->memo->graph);
	free(c->memo->key);
	free(c->memo);
	c->memo = NULL;
}

void modclosure_save_memo(struct modclosure *c)
{
	struct modclosure_memo *w = c->memo;
	if (!w)
		return;
	struct strbuf pl = STRBUF_INIT;
	mc_memo_save(&w->graph->msgs, c, &pl);
	cas_memo_put(w->cas, MEMO_NS, w->key, &w->graph->deps, &pl);
	sb_release(&pl);
	memo_drop(c);
}

int modclosure_resolve(const struct modclosure_opts *o, const struct modclosure_req *reqs, size_t n,
		       struct modclosure *out)
{
	memset(out, 0, sizeof(*out));
	struct mc mc = { .o = o, .reqs = reqs, .nreqs = n };
	char *base = mc_abs_path(o->moddir ? o->moddir : "/lib/modules");
	mc.kdir = o->tree ? xstrdup(base) : path_join(base, o->kver);
	free(base);
	mc.roots = xcalloc(n ? n : 1, sizeof(*mc.roots));
	char *key = mc_memo_key(&mc);
	struct strbuf pl = STRBUF_INIT;
	bool fresh = !o->cas || !cas_memo_get(o->cas, MEMO_NS, key, &pl) || mc_memo_load(&mc, &pl, out) < 0;
	if (fresh)
		mc_run(&mc, out);
	int rc = mc.errors ? -1 : 0; /* the messages decide, so the caller's status agrees with them */
	if (rc < 0)
		modclosure_free(out);
	out->msgs = mc.said, out->nmsgs = mc.nsaid, out->amsgs = mc.asaid;
	mc.said = NULL, mc.nsaid = 0;
	mc_msgs_parse(sb_str(&mc.msgs), out);
	sb_release(&pl);
	if (fresh && rc == 0 && o->cas) {
		struct modclosure_memo *w = out->memo = xmalloc(sizeof(*w));
		*w = (struct modclosure_memo){ .cas = o->cas, .key = key, .graph = xmalloc(sizeof(mc)) };
		*w->graph = mc;
		if (!o->memo_later)
			modclosure_save_memo(out);
	} else {
		free(key);
		mc_release(&mc);
	}
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
	mc_msgs_free(c->msgs, c->nmsgs);
	memo_drop(c);
	free(c->mods);
	free(c->firmware);
	free(c->indexes);
	memset(c, 0, sizeof(*c));
}
