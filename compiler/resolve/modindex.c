/* modindex.c — the module indexes of the subset: modules.dep, .alias,
 * .softdep, .order, .builtin, and the .bin tries kmod's modprobe reads. */
#include "resolve/modclosure_int.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void add_index(struct modclosure *out, const char *kver, const char *name, struct strbuf *data)
{
	GROW(out->indexes, out->nindexes + 1, out->aindexes);
	struct modclosure_blob *b = &out->indexes[out->nindexes++];
	b->dest = xasprintf("/lib/modules/%s/%s", kver, name);
	b->data = *data;
	*data = (struct strbuf)STRBUF_INIT;
}

/* The hard dependencies of a node, transitively: `got` lists them, `seen`
 * marks them with this walk's generation (no clearing of n flags per node).
 * Each node's dependencies are node indexes, edges[edge0[i] .. edge0[i + 1]),
 * found by name once, not on every walk that passes them. */
struct dep_walk {
	unsigned *seen, gen;
	int *got;
	size_t ngot;
	const size_t *pos; /* each node's place in the load order */
	size_t *edge0;
	int *edges;
};

static void mark_deps(struct dep_walk *w, int i)
{
	for (size_t k = w->edge0[i]; k < w->edge0[i + 1]; k++) {
		int j = w->edges[k];
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

static void dep_edges(const struct mc *mc, struct dep_walk *w)
{
	w->edge0 = xcalloc(mc->n + 1, sizeof(*w->edge0));
	for (size_t i = 0; i < mc->n; i++)
		w->edge0[i + 1] = w->edge0[i] + mc->nodes[i].deps.n;
	w->edges = xcalloc(w->edge0[mc->n] ? w->edge0[mc->n] : 1, sizeof(*w->edges));
	for (size_t i = 0; i < mc->n; i++)
		for (size_t k = 0; k < mc->nodes[i].deps.n; k++)
			w->edges[w->edge0[i] + k] = mc_node_find(mc, mc->nodes[i].deps.v[k]);
}

/* depmod's format: "rel: dep...", dependencies listed last-loaded first
 * (modprobe loads them from the end of the line).  Each line costs its own
 * dependencies, not a pass over every module before it (quadratic at a
 * whole kernel).  rels: each node's image path. */
static void index_dep(struct mc *mc, char *const *rels, struct strbuf *sb)
{
	size_t *pos = xcalloc(mc->n ? mc->n : 1, sizeof(*pos));
	struct dep_walk w = { xcalloc(mc->n ? mc->n : 1, sizeof(unsigned)), 0,
			      xcalloc(mc->n ? mc->n : 1, sizeof(int)), 0, pos, NULL, NULL };
	dep_edges(mc, &w);
	for (size_t o = 0; o < mc->norder; o++)
		pos[mc->order[o]] = o;
	for (size_t o = 0; o < mc->norder; o++) {
		sb_adds(sb, rels[mc->order[o]]);
		sb_addch(sb, ':');
		w.gen++, w.ngot = 0;
		mark_deps(&w, mc->order[o]);
		qsort_r(w.got, w.ngot, sizeof(*w.got), later_first, pos);
		for (size_t k = 0; k < w.ngot; k++)
			if (pos[w.got[k]] < o) {
				sb_addch(sb, ' ');
				sb_adds(sb, rels[w.got[k]]);
			}
		sb_addch(sb, '\n');
	}
	free(w.seen);
	free(w.got);
	free(w.edge0);
	free(w.edges);
	free(pos);
}

/* ---- binary indexes (libkmod's trie format) ------------------------------ */

/* kmod's modprobe reads modules.dep.bin and modules.alias.bin, never the text
 * files, so an image that ships it needs them.  The format (kmod's
 * libkmod-index.c): big-endian u32s; a header (magic, version, root offset);
 * each node is [prefix NUL] [first last child-offset...] [count (prio value NUL)...],
 * its offset tagged with which parts are present.  Children are written before
 * their parent, as depmod does.
 *
 * The trie is written from its keys sorted, in one pass: a node is a run of
 * keys sharing a prefix, its children the runs that follow it by their next
 * byte.  The same bytes as inserting key by key into a tree of nodes, without
 * the 100,000 nodes a whole kernel's aliases made (16 MB of the heap). */
#define TRIE_MAGIC 0xB007F457u
#define TRIE_VERSION 0x00020001u
#define TRIE_PREFIX 0x80000000u
#define TRIE_VALUES 0x40000000u
#define TRIE_CHILDS 0x20000000u

struct tkey {
	const char *key, *val; /* val: vlen bytes, no NUL needed */
	size_t koff;           /* key NULL: the key is at t->keys.buf + koff */
	uint32_t vlen, prio, seq; /* seq: the order added, for equal priorities */
};

struct trie {
	struct tkey *k;
	size_t n, alloc;
	struct strbuf keys; /* keys made for the trie (normalised aliases), NUL-separated */
	struct {
		unsigned char c;
		uint32_t off;
	} *kids; /* the children of the nodes being written, a stack */
	size_t nkids, akids;
};

/* key NULL: the key is the string at the end of t->keys. */
static void trie_add(struct trie *t, const char *key, size_t koff, const char *val, size_t vlen, uint32_t prio)
{
	GROW(t->k, t->n + 1, t->alloc);
	t->k[t->n] = (struct tkey){ key, val, koff, (uint32_t)vlen, prio, (uint32_t)t->n };
	t->n++;
}

static int tkey_cmp(const void *a, const void *b)
{
	const struct tkey *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void put_be32(struct strbuf *sb, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };
	sb_add(sb, b, 4);
}

/* The values of keys [lo, hi): by priority, each value once (its first). */
static void trie_values(const struct tkey *k, size_t lo, size_t hi, struct strbuf *sb)
{
	uint32_t n = 0;
	size_t at = sb->len;
	put_be32(sb, 0);
	for (size_t i = lo; i < hi; i++) {
		bool dup = false;
		for (size_t j = lo; j < i && !dup; j++)
			dup = k[j].vlen == k[i].vlen && !memcmp(k[j].val, k[i].val, k[i].vlen);
		if (dup)
			continue;
		put_be32(sb, k[i].prio);
		sb_add(sb, k[i].val, k[i].vlen);
		sb_addch(sb, '\0');
		n++;
	}
	unsigned char b[4] = { n >> 24, n >> 16, n >> 8, n };
	memcpy(sb->buf + at, b, 4);
}

/* The node of keys [lo, hi), which share their first d bytes (the root
 * has no prefix of its own); returns its tagged offset. */
static uint32_t trie_node(struct trie *t, size_t lo, size_t hi, size_t d, bool root, struct strbuf *sb)
{
	const struct tkey *k = t->k;
	size_t p = 0, ends = lo, base = t->nkids;
	for (const char *a = k[lo].key + d, *b = k[hi - 1].key + d; !root && a[p] && a[p] == b[p];)
		p++;
	while (ends < hi && !k[ends].key[d + p]) /* the keys that end here sort first */
		ends++;
	for (size_t i = ends, j; i < hi; i = j) {
		unsigned char c = (unsigned char)k[i].key[d + p];
		for (j = i; j < hi && (unsigned char)k[j].key[d + p] == c;)
			j++;
		uint32_t off = trie_node(t, i, j, d + p + 1, false, sb);
		GROW(t->kids, t->nkids + 1, t->akids);
		t->kids[t->nkids].c = c;
		t->kids[t->nkids++].off = off;
	}
	uint32_t off = (uint32_t)sb->len, flags = 0;
	if (p) {
		sb_add(sb, k[lo].key + d, p);
		sb_addch(sb, '\0');
		flags |= TRIE_PREFIX;
	}
	if (t->nkids > base) {
		unsigned first = t->kids[base].c, last = t->kids[t->nkids - 1].c;
		sb_addch(sb, (char)first);
		sb_addch(sb, (char)last);
		for (unsigned c = first, i = base; c <= last; c++)
			put_be32(sb, i < t->nkids && t->kids[i].c == c ? t->kids[i++].off : 0);
		flags |= TRIE_CHILDS;
	}
	if (ends > lo) {
		trie_values(k, lo, ends, sb);
		flags |= TRIE_VALUES;
	}
	t->nkids = base;
	return off | flags;
}

/* Whether libkmod can walk to the key: it reads a node's child range as
 * signed chars, and one past 0x7f crashed every lookup of the index. */
static bool trie_key_ok(const char *key)
{
	for (; *key; key++)
		if ((unsigned char)*key > 0x7f)
			return false;
	return true;
}

static void trie_write(struct trie *t, struct strbuf *out)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) { /* t->keys no longer moves */
		if (!t->k[i].key)
			t->k[i].key = t->keys.buf + t->k[i].koff;
		if (trie_key_ok(t->k[i].key))
			t->k[n++] = t->k[i];
	}
	t->n = n;
	if (t->n)
		qsort(t->k, t->n, sizeof(*t->k), tkey_cmp);
	put_be32(out, TRIE_MAGIC);
	put_be32(out, TRIE_VERSION);
	put_be32(out, 0);
	uint32_t r = t->n ? trie_node(t, 0, t->n, 0, true, out) : (uint32_t)out->len; /* none: an empty root */
	unsigned char b[4] = { r >> 24, r >> 16, r >> 8, r };
	memcpy(out->buf + 8, b, 4);
	free(t->k);
	free(t->kids);
	sb_release(&t->keys);
}

/* libkmod's alias_normalize, appended to keys with its NUL: '-' is '_' except
 * inside [...]; the index keys are normalised because lookups are.  False,
 * keys untouched, for an alias libkmod refuses too. */
static bool alias_normalize_to(const char *a, struct strbuf *keys)
{
	for (const char *p = a; *p; p++) /* a ']' outside a class, a class never closed */
		if (*p == ']' || (*p == '[' && !(p = strchr(p, ']'))))
			return false;
	for (const char *p = a; *p; p++) {
		const char *e = *p == '[' ? strchr(p, ']') : NULL;
		if (e) {
			sb_add(keys, p, (size_t)(e - p + 1)); /* a class is kept as is */
			p = e;
		} else {
			sb_addch(keys, *p == '-' ? '_' : *p);
		}
	}
	sb_addch(keys, '\0');
	return true;
}

/* modules.dep.bin: name -> its modules.dep line.  Priority: the load order,
 * as depmod uses modules.order. */
static void index_dep_bin(const struct mc *mc, const struct strbuf *dep, struct strbuf *depbin)
{
	struct trie d = { .keys = STRBUF_INIT };
	const char *line = sb_str(dep);
	for (uint32_t o = 0; o < mc->norder; o++) {
		const struct mnode *m = &mc->nodes[mc->order[o]];
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		trie_add(&d, m->name, 0, line, len, o);
		line += len + (nl != NULL);
	}
	trie_write(&d, depbin);
}

/* modules.alias.bin: normalised alias -> name, by the load order too. */
static void *index_alias_bin(void *arg)
{
	struct mc_aliasbin *j = arg;
	const struct mc *mc = j->mc;
	struct trie a = { .keys = STRBUF_INIT };
	for (uint32_t o = 0; o < mc->norder; o++) {
		const struct mnode *m = &mc->nodes[mc->order[o]];
		for (size_t k = 0; k < m->aliases.n; k++) {
			size_t at = a.keys.len;
			if (alias_normalize_to(m->aliases.v[k], &a.keys))
				trie_add(&a, NULL, at, m->name, strlen(m->name), o);
		}
	}
	trie_write(&a, &j->out);
	return NULL;
}

/* A whole kernel's 26,000 aliases make the largest trie: it is written on
 * a thread of its own (reading only the nodes, which stay as they are)
 * while this one writes the firmware list and the other indexes.  Only for
 * a big closure, never with -j 1. */
void mc_indexes_begin(struct mc *mc)
{
	struct mc_aliasbin *j = mc->aliasbin = xcalloc(1, sizeof(*mc->aliasbin));
	j->mc = mc;
	j->threaded = mc->norder >= MC_MANY && mc->o->jobs != 1 && sysconf(_SC_NPROCESSORS_ONLN) > 1 &&
		      pthread_create(&j->t, NULL, index_alias_bin, j) == 0;
}

static void indexes_end(struct mc *mc, struct strbuf *aliasbin)
{
	if (!mc->aliasbin)
		mc_indexes_begin(mc);
	if (mc->aliasbin->threaded)
		pthread_join(mc->aliasbin->t, NULL);
	else
		index_alias_bin(mc->aliasbin);
	*aliasbin = mc->aliasbin->out;
	free(mc->aliasbin);
	mc->aliasbin = NULL;
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

/* "a b c\n" */
static void add_words(struct strbuf *sb, const char *a, const char *b, const char *c)
{
	sb_adds(sb, a);
	sb_addch(sb, ' ');
	sb_adds(sb, b);
	sb_addch(sb, ' ');
	sb_adds(sb, c);
	sb_addch(sb, '\n');
}

void mc_add_indexes(struct mc *mc, struct modclosure *out)
{
	struct strbuf dep = STRBUF_INIT, alias = STRBUF_INIT, soft = STRBUF_INIT, order = STRBUF_INIT,
		      builtin = STRBUF_INIT;
	char **rels = xcalloc(mc->n ? mc->n : 1, sizeof(*rels)); /* written up to three times each */
	for (size_t o = 0; o < mc->norder; o++)
		rels[mc->order[o]] = mc_image_rel(mc, mc->nodes[mc->order[o]].rel);
	index_dep(mc, rels, &dep);
	sb_adds(&alias, "# Aliases extracted from modules themselves.\n");
	sb_adds(&soft, "# Soft dependencies extracted from modules themselves.\n");
	for (size_t o = 0; o < mc->norder; o++) {
		const struct mnode *m = &mc->nodes[mc->order[o]];
		for (size_t k = 0; k < m->aliases.n; k++)
			add_words(&alias, "alias", m->aliases.v[k], m->name);
		for (size_t k = 0; k < m->softdeps.n; k++)
			add_words(&soft, "softdep", m->name, m->softdeps.v[k]);
		sb_adds(&order, rels[mc->order[o]]);
		sb_addch(&order, '\n');
	}
	for (size_t i = 0; i < mc->n; i++)
		free(rels[i]);
	free(rels);
	char *bpath = path_join(mc->kdir, "modules.builtin");
	memo_note(&mc->deps, bpath);
	if (read_file(bpath, &builtin) < 0)
		sb_reset(&builtin);
	free(bpath);
	struct strbuf depbin = STRBUF_INIT, aliasbin = STRBUF_INIT;
	index_dep_bin(mc, &dep, &depbin);
	indexes_end(mc, &aliasbin);
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
