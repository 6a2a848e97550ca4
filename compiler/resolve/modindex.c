/* modindex.c — the module indexes of the subset: modules.dep, .alias,
 * .softdep, .order, .builtin, and the .bin tries kmod's modprobe reads. */
#include "resolve/modclosure_int.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_index(struct modclosure *out, const char *kver, const char *name, struct strbuf *data)
{
	GROW(out->indexes, out->nindexes + 1, out->aindexes);
	struct modclosure_blob *b = &out->indexes[out->nindexes++];
	b->dest = xasprintf("/lib/modules/%s/%s", kver, name);
	b->data = *data;
	*data = (struct strbuf)STRBUF_INIT;
}

/* The hard dependencies of a node, transitively: `got` lists them, `seen`
 * marks them with this walk's generation (no clearing of n flags per node). */
struct dep_walk {
	const struct mc *mc;
	unsigned *seen, gen;
	int *got;
	size_t ngot;
	const size_t *pos; /* each node's place in the load order */
};

static void mark_deps(struct dep_walk *w, int i)
{
	const struct mnode *m = &w->mc->nodes[i];
	for (size_t k = 0; k < m->deps.n; k++) {
		int j = mc_node_find(w->mc, m->deps.v[k]);
		if (j >= 0 && j != i && w->seen[j] != w->gen) {
			w->seen[j] = w->gen;
			w->got[w->ngot++] = j;
			mark_deps(w, j);
		}
	}
}

static int later_first(const void *a, const void *b, void *pos)
{
	size_t pa = ((const size_t *)pos)[*(const int *)a], pb = ((const size_t *)pos)[*(const int *)b];
	return pa < pb ? 1 : pa > pb ? -1 : 0;
}

/* depmod's format: "rel: dep...", dependencies listed last-loaded first
 * (modprobe loads them from the end of the line).  Each line costs its own
 * dependencies, not a pass over every module before it (quadratic at a
 * whole kernel). */
static void index_dep(struct mc *mc, struct strbuf *sb)
{
	size_t *pos = xcalloc(mc->n ? mc->n : 1, sizeof(*pos));
	struct dep_walk w = { mc, xcalloc(mc->n ? mc->n : 1, sizeof(unsigned)), 0,
			      xcalloc(mc->n ? mc->n : 1, sizeof(int)), 0, pos };
	for (size_t o = 0; o < mc->norder; o++)
		pos[mc->order[o]] = o;
	for (size_t o = 0; o < mc->norder; o++) {
		char *rel = mc_image_rel(mc, mc->nodes[mc->order[o]].rel);
		sb_addf(sb, "%s:", rel);
		free(rel);
		w.gen++, w.ngot = 0;
		mark_deps(&w, mc->order[o]);
		qsort_r(w.got, w.ngot, sizeof(*w.got), later_first, pos);
		for (size_t k = 0; k < w.ngot; k++)
			if (pos[w.got[k]] < o) {
				rel = mc_image_rel(mc, mc->nodes[w.got[k]].rel);
				sb_addf(sb, " %s", rel);
				free(rel);
			}
		sb_addch(sb, '\n');
	}
	free(w.seen);
	free(w.got);
	free(pos);
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

void mc_add_indexes(struct mc *mc, struct modclosure *out)
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
		char *rel = mc_image_rel(mc, m->rel);
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
