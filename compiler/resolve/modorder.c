/* modorder.c — from the requests to a load order: the walk that records
 * how each module got in, how much it matters at boot, and a stable
 * topological order (dependencies and pre-softdeps first, post-softdeps
 * after; ties to the module the earliest request reached, then by name). */
#include "resolve/modclosure_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void missing_dep(struct mc *mc, int idx, const char *dep, int req)
{
	mc_say(mc, MODCLOSURE_ERROR, req, "copy the module into the tree, or run depmod on it",
	       "kernel module '%s' depends on '%s', which is not under %s", mc->nodes[idx].name, dep, mc->kdir);
}

/* `why`: how the module got in (taken), for rdc explain. */
void mc_visit(struct mc *mc, int idx, int req, char *why)
{
	struct mnode *m = &mc->nodes[idx];
	if (m->req >= 0) {
		free(why);
		return;
	}
	m->req = req;
	m->why = why;
	if (m->gone) /* libkmod would have dropped every dependency of its dependents, silently */
		mc_say(mc, MODCLOSURE_ERROR, req,
		       "the tree's modules.dep names it: reinstall the kernel's modules, or run depmod",
		       "cannot read kernel module %s (%s): %s", m->src, why, strerror(m->gone));
	const struct strlist *lists[] = { &m->pre, &m->deps, &m->post };
	static const char *const how[] = { "softdep pre: of", "depends= of", "softdep post: of" };
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			int j = mc_node_find(mc, lists[l]->v[i]);
			if (j >= 0)
				mc_visit(mc, j, req, xasprintf("%s %s", how[l], m->name));
			else if (l == 1) /* only without depmod: depends= names a file that is gone */
				missing_dep(mc, idx, lists[l]->v[i], req);
		}
}

/* depends= cycles.  The kernel links a module against the symbols of the
 * modules it depends on, so modules that depend on each other can never
 * load, and depmod refuses them ("Cycle detected: a -> b -> a").  softdeps
 * may cycle: modprobe skips a module it is already loading, and so does the
 * order below.  A depth-first walk of depends= from each request's modules,
 * in request order; `path` is the walk's stack, state 1 on it, 2 done. */
struct cycle_walk {
	struct mc *mc;
	unsigned char *state;
	int *path;
	size_t depth;
};

static void report_cycle(struct cycle_walk *w, int back)
{
	size_t from = w->depth;
	while (from > 0 && w->path[from - 1] != back)
		from--;
	struct strbuf sb = STRBUF_INIT;
	for (size_t k = from - 1; k < w->depth; k++)
		sb_addf(&sb, "%s -> ", w->mc->nodes[w->path[k]].name);
	sb_adds(&sb, w->mc->nodes[back].name);
	mc_say(w->mc, MODCLOSURE_ERROR, w->mc->nodes[back].req,
	       "the kernel can load none of them first (depmod says 'Cycle detected'): "
	       "rebuild them so that one does not need the other's symbols",
	       "kernel modules depend on each other in a cycle: %s", sb.buf);
	sb_release(&sb);
}

static void cycle_dfs(struct cycle_walk *w, int i)
{
	w->state[i] = 1;
	w->path[w->depth++] = i;
	const struct strlist *deps = &w->mc->nodes[i].deps;
	for (size_t k = 0; k < deps->n; k++) {
		int j = mc_node_find(w->mc, deps->v[k]);
		if (j >= 0 && w->state[j] == 1)
			report_cycle(w, j);
		else if (j >= 0 && !w->state[j])
			cycle_dfs(w, j);
	}
	w->depth--;
	w->state[i] = 2;
}

void mc_check_cycles(struct mc *mc)
{
	struct cycle_walk w = { mc, xcalloc(mc->n ? mc->n : 1, 1), xcalloc(mc->n ? mc->n : 1, sizeof(int)), 0 };
	for (size_t r = 0; r < mc->nreqs; r++)
		for (size_t i = 0; i < mc->roots[r].n; i++) {
			int j = mc_node_find(mc, mc->roots[r].v[i]);
			if (j >= 0 && !w.state[j])
				cycle_dfs(&w, j);
		}
	free(w.state);
	free(w.path);
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
		mark_hard(mc, mc_node_find(mc, mc->nodes[idx].deps.v[i]));
}

void mc_classify(struct mc *mc)
{
	for (size_t i = 0; i < mc->n; i++)
		mc->nodes[i].hard = false, mc->nodes[i].group = -1;
	for (size_t r = 0; r < mc->nreqs; r++)
		for (size_t i = 0; mc->roots[r].n == 1 && i < mc->roots[r].n; i++)
			mark_hard(mc, mc_node_find(mc, mc->roots[r].v[i]));
	for (size_t r = 0; r < mc->nreqs; r++)
		for (size_t i = 0; mc->roots[r].n > 1 && i < mc->roots[r].n; i++) {
			int j = mc_node_find(mc, mc->roots[r].v[i]);
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
				int j = mc_node_find(mc, before[l]->v[k]);
				if (j >= 0 && j != (int)i)
					pred_add(&p[i], j);
			}
		for (size_t k = 0; k < m->post.n; k++) {
			int j = mc_node_find(mc, m->post.v[k]);
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

/* The ready nodes, first by goes_first on top. */
struct ready {
	const struct mc *mc;
	int *v;
	size_t n;
};

static bool ready_before(const struct ready *h, size_t a, size_t b)
{
	return goes_first(&h->mc->nodes[h->v[a]], &h->mc->nodes[h->v[b]]);
}

static void ready_swap(struct ready *h, size_t a, size_t b)
{
	int t = h->v[a];
	h->v[a] = h->v[b];
	h->v[b] = t;
}

static void ready_push(struct ready *h, int i)
{
	size_t k = h->n++;
	h->v[k] = i;
	for (; k > 0 && ready_before(h, k, (k - 1) / 2); k = (k - 1) / 2)
		ready_swap(h, k, (k - 1) / 2);
}

static int ready_pop(struct ready *h)
{
	int top = h->v[0];
	h->v[0] = h->v[--h->n];
	for (size_t k = 0;;) {
		size_t l = 2 * k + 1, r = l + 1, m = k;
		if (l < h->n && ready_before(h, l, m))
			m = l;
		if (r < h->n && ready_before(h, r, m))
			m = r;
		if (m == k)
			return top;
		ready_swap(h, k, m);
		k = m;
	}
}

/* Inside a cycle (softdeps can make one) no node is ready: the first one
 * left goes, by the same rule. */
static int first_left(const struct mc *mc)
{
	int any = -1;
	for (size_t i = 0; i < mc->n; i++) {
		const struct mnode *m = &mc->nodes[i];
		if (m->req >= 0 && !m->done && (any < 0 || goes_first(m, &mc->nodes[any])))
			any = (int)i;
	}
	return any;
}

/* Kahn's algorithm, taking the first ready node by (request, name), a cycle
 * broken at its first node by the same rule.  Each node counts the
 * predecessors it still waits for and the ready ones wait in a heap:
 * scanning every node for the next one was quadratic (16 M readiness checks
 * at a whole kernel). */
void mc_order_nodes(struct mc *mc)
{
	struct preds *p = build_preds(mc), *succ = xcalloc(mc->n ? mc->n : 1, sizeof(*succ));
	size_t total = 0, *waiting = xcalloc(mc->n ? mc->n : 1, sizeof(*waiting));
	struct ready h = { mc, xcalloc(mc->n ? mc->n : 1, sizeof(int)), 0 };
	for (size_t i = 0; i < mc->n; i++) {
		if (mc->nodes[i].req < 0)
			continue;
		total++;
		waiting[i] = p[i].n;
		for (size_t k = 0; k < p[i].n; k++)
			pred_add(&succ[p[i].v[k]], (int)i);
		if (!waiting[i])
			ready_push(&h, (int)i);
	}
	mc->order = xcalloc(total ? total : 1, sizeof(*mc->order));
	while (mc->norder < total) {
		int best = h.n ? ready_pop(&h) : first_left(mc);
		mc->nodes[best].done = true;
		mc->order[mc->norder++] = best;
		for (size_t k = 0; k < succ[best].n; k++) {
			int s = succ[best].v[k];
			if (--waiting[s] == 0 && !mc->nodes[s].done && mc->nodes[s].req >= 0)
				ready_push(&h, s);
		}
	}
	for (size_t i = 0; i < mc->n; i++) {
		free(p[i].v);
		free(succ[i].v);
	}
	free(p);
	free(succ);
	free(waiting);
	free(h.v);
}
