/* build.c — the pipeline: manifest -> resolvers -> plan -> emitter.
 *
 * A rebuild where nothing changed costs only stats: the plan is rebuilt from
 * the stat index and the resolvers' memos, its key is compared with the key
 * recorded for the output (together with the output's own identity), and a
 * match leaves the output untouched. */
#include "build/build.h"
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "cache/cas.h"
#include "cache/remote.h"
#include "lib/json.h"
#include "lib/output.h"
#include "resolve/elfdeps.h"
#include "emit/emit.h"
#include "init/initgen.h"
#include "resolve/modclosure.h"
#include "plan/plan.h"
#include "build/record.h"

const char *host_arch(void)
{
	static struct utsname u;
	if (!u.machine[0])
		uname(&u);
	return u.machine;
}

void build_result_free(struct build_result *r)
{
	free(r->output);
	free(r->kver);
	free(r->arch);
	sl_release(&r->inputs);
	free(r->share);
	memset(r, 0, sizeof(*r));
}

/* -z ALGO[:LEVEL] split into its algorithm (caller frees) and level (-1: none). */
static char *split_compression(const char *word, int *level)
{
	const char *colon = strchr(word, ':');
	*level = -1;
	if (!colon)
		return xstrdup(word);
	char *end;
	long l = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || l < 0 || l > 99)
		return NULL;
	*level = (int)l;
	return xstrndup(word, (size_t)(colon - word));
}

char *build_output_path(const struct manifest *m, const struct build_opts *o)
{
	if (o->output)
		return xstrdup(o->output);
	if (m->output.path)
		return xstrdup(m->output.path);
	/* Named for what it will hold: hello.yaml -> hello.cpio.zst, hello.c,
	 * hello/ ... (a name that said otherwise would be refused) */
	const char *base = path_basename(m->path);
	size_t stem = strcspn(base, ".");
	int level;
	char *z = o->compression ? split_compression(o->compression, &level) : NULL;
	const char *suffix = emit_default_suffix(o->format ? o->format : m->output.format, z ? z : m->output.algo);
	free(z);
	return xasprintf("%.*s%s", (int)(stem ? stem : strlen(base)), base, suffix);
}

/* A host path inside the manifest's sysroot. */
static char *in_sysroot(const struct manifest *m, const char *path)
{
	if (!m->sysroot || !strcmp(m->sysroot, "/"))
		return xstrdup(path);
	return path_join(m->sysroot, path);
}

static char *modules_dir(const struct manifest *m)
{
	if (m->kernel.tree)
		return xstrdup(m->kernel.tree);
	return m->kernel.modules ? xstrdup(m->kernel.modules) : in_sysroot(m, "/lib/modules");
}

/* No kernel named, and an out-of-tree .ko: the kernel it was built for
 * (its vermagic), installed, or an error at its line — never the running
 * kernel's modules mixed with a module made for another. */
static char *oot_release(const struct manifest *m, bool *err)
{
	const struct mf_kmod *k = NULL;
	for (size_t i = 0; i < m->nkmods && !k; i++)
		if (m->kmods[i].path)
			k = &m->kmods[i];
	char *rel = k ? modclosure_module_release(k->path) : NULL;
	if (!rel)
		return NULL;
	char *moddir = modules_dir(m), *p = path_join(moddir, rel);
	struct stat st;
	if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
		diag_error(&k->loc, "name the kernel it was built against: kernel: {tree: DIR} (its build directory), "
				    "or kernel: {version:, modules:}",
			   "'%s' was built for kernel %s, which is not installed under %s", k->path, rel, moddir);
		free(rel);
		rel = NULL;
		*err = true;
	}
	free(p);
	free(moddir);
	return rel;
}

/* The reason a lower layer gave, at the line it is about. */
static void report_why(const struct loc *loc, const struct modclosure_why *why)
{
	diag_error(loc, why->hint.len ? why->hint.buf : NULL, "%s", why->text.buf);
}

void build_report_kmods(const struct modclosure *c, const struct modclosure_req *reqs, size_t n)
{
	for (size_t i = 0; i < c->nmsgs; i++) {
		const struct modclosure_msg *g = &c->msgs[i];
		const struct loc *loc = g->req >= 0 && (size_t)g->req < n ? &reqs[g->req].loc : NULL;
		if (g->level == MODCLOSURE_ERROR)
			diag_error(loc, g->hint, "%s", g->text);
		else if (g->level == MODCLOSURE_WARNING)
			diag_warn(loc, g->hint, "%s", g->text);
		else
			diag_info("%s", g->text);
	}
}

/* Resolve and report; -1 exactly when an error was reported. */
static int resolve_kmods(const struct modclosure_opts *o, const struct modclosure_req *reqs, size_t n,
			 struct modclosure *out)
{
	int rc = modclosure_resolve(o, reqs, n, out);
	build_report_kmods(out, reqs, n);
	return rc;
}

char *build_kernel_release(const struct manifest *m, bool *err)
{
	*err = false;
	if (m->kernel.tree) { /* the tree says, whatever else the manifest has */
		struct modclosure_why why = { STRBUF_INIT, STRBUF_INIT };
		char *kver = modclosure_tree_kver(m->kernel.tree, &why);
		if (!kver)
			report_why(&m->kernel.tree_loc, &why);
		modclosure_why_release(&why);
		*err = kver == NULL;
		return kver;
	}
	if (!m->kernel.version && !m->nkmods)
		return NULL;
	if (!m->kernel.version) {
		char *rel = oot_release(m, err);
		if (rel || *err)
			return rel;
	}
	char *moddir = modules_dir(m);
	/* with no kernel: section, the first kmods line is what asked for one */
	const struct loc *loc = m->kernel.loc.line || !m->nkmods ? &m->kernel.loc : &m->kmods[0].loc;
	struct modclosure_why why = { STRBUF_INIT, STRBUF_INIT };
	char *kver = modclosure_kver(moddir, m->kernel.version ? m->kernel.version : "host", loc->file != NULL, &why);
	if (!kver)
		report_why(loc, &why);
	modclosure_why_release(&why);
	free(moddir);
	*err = kver == NULL;
	return kver;
}

/* ---- collecting the plan ------------------------------------------------ */

struct bin_result;

struct builder {
	struct manifest *m;
	struct plan *plan;
	struct cas *cas;
	struct elf_ctx *elf;
	struct modclosure mods;
	bool have_mods;
	char *kver;
	int errors;
	int jobs;               /* -j: 1 keeps the resolvers on one thread */
	struct bin_result *bins; /* closures resolved, not yet reported or planned */
	size_t nbins, abins;
};

/* Whether work may go to a second thread. */
static bool two_cores(const struct builder *b)
{
	return b->jobs != 1 && sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

static void count(struct builder *b, int rc)
{
	if (rc < 0)
		b->errors++;
}

static void add_declared(struct builder *b)
{
	struct manifest *m = b->m;
	for (size_t i = 0; i < m->ndirs; i++) {
		struct mf_dir *d = &m->dirs[i];
		count(b, plan_add_dir(b->plan, d->path, d->mode, d->uid, d->gid, &d->loc, "dirs"));
	}
	for (size_t i = 0; i < m->nnodes; i++) {
		struct mf_node *n = &m->nodes[i];
		count(b, plan_add_node(b->plan, n->path, n->type, n->major, n->minor, n->mode, n->uid, n->gid,
				       &n->loc, "nodes"));
	}
	for (size_t i = 0; i < m->nsymlinks; i++) {
		struct mf_symlink *s = &m->symlinks[i];
		count(b, plan_add_symlink(b->plan, s->path, s->target, s->uid, s->gid, &s->loc, "symlinks"));
	}
	for (size_t i = 0; i < m->nfiles; i++) {
		struct mf_file *f = &m->files[i];
		int perm = f->mode == MODE_UNSET ? PLAN_MODE_OF_SOURCE : f->mode;
		if (f->content)
			count(b, plan_add_blob(b->plan, f->dest, f->content, f->content_len,
					       f->mode == MODE_UNSET ? 0644 : (unsigned)f->mode, f->uid, f->gid, SEG_FILES,
					       &f->loc, "files"));
		else if (f->tree)
			count(b, plan_add_tree(b->plan, f->dest, f->src, perm, f->uid, f->gid, SEG_FILES, &f->loc,
					       "files (tree)"));
		else
			count(b, plan_add_file(b->plan, f->dest, f->src, perm, f->uid, f->gid, SEG_FILES, &f->loc,
					       "files"));
	}
}

/* Put one closure into the plan.  With `dest`, the root (and the symlinks
 * that led to it) move there instead of keeping their own paths. */
static void add_closure(struct builder *b, const struct elf_closure *c, const char *dest, enum plan_seg root_seg,
			const struct loc *loc, const char *dest_origin)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct elf_item *it = &c->v[i];
		bool root = it->needed_by == NULL;
		if (root && dest && !it->target && !strcmp(it->path, elf_closure_root(c, 0))) {
			char *src = in_sysroot(b->m, it->path);
			count(b, plan_add_file(b->plan, dest, src, PLAN_MODE_OF_SOURCE, 0, 0, root_seg, loc, dest_origin));
			free(src);
			continue;
		}
		if (root && dest)
			continue;
		char *origin = it->needed_by ? xasprintf("%s of %s", it->why, it->needed_by) : xstrdup(it->why);
		if (it->target) {
			count(b, plan_add_symlink(b->plan, it->path, it->target, 0, 0, loc, origin));
		} else {
			char *src = it->src ? xstrdup(it->src) : in_sysroot(b->m, it->path);
			count(b, plan_add_file(b->plan, it->path, src, PLAN_MODE_OF_SOURCE, 0, 0, root ? root_seg : SEG_LIBS, loc,
					       origin));
			free(src);
		}
		free(origin);
	}
}

/* One binary's closure as resolved: reported and put into the plan later
 * (report_binaries), so that resolving prints nothing and can run beside
 * the module closures. */
struct bin_result {
	struct elf_closure c;
	struct strbuf err;
	char *warnings, *hint; /* elf_ctx_warnings and elf_ctx_hint of its call */
	int rc;
	const char *dest, *dest_origin;
	bool library;
	const struct loc *loc;
};

/* One binary (`name` in the sysroot, or `src` built on the host), or a library. */
static void resolve_binary(struct builder *b, const char *name, const char *src, const char *dest, bool library,
			   const struct loc *loc, const char *dest_origin)
{
	GROW(b->bins, b->nbins + 1, b->abins);
	struct bin_result *r = &b->bins[b->nbins++];
	*r = (struct bin_result){ .err = STRBUF_INIT, .dest = src ? NULL : dest, /* the closure already put src there */
				  .dest_origin = dest_origin, .library = library, .loc = loc };
	r->rc = library ? elf_add_library(b->elf, name, &r->c, &r->err)
		: src   ? elf_add_host_binary(b->elf, src, dest, &r->c, &r->err)
			: elf_add_binary(b->elf, name, &r->c, &r->err);
	r->warnings = xstrdup(elf_ctx_warnings(b->elf));
	r->hint = elf_ctx_hint(b->elf) ? xstrdup(elf_ctx_hint(b->elf)) : NULL;
}

/* What the closure found worth a warning (one per line), at the binary's line. */
static void elf_report_warnings(const char *w, const struct loc *loc)
{
	for (const char *nl; *w && (nl = strchr(w, '\n')); w = nl + 1)
		diag_warn(loc, NULL, "%.*s", (int)(nl - w), w);
}

/* The binaries' warnings and errors, in manifest order, and their closures
 * into the plan. */
static void report_binaries(struct builder *b)
{
	for (size_t i = 0; i < b->nbins; i++) {
		struct bin_result *r = &b->bins[i];
		elf_report_warnings(r->warnings, r->loc);
		if (r->rc < 0) {
			diag_error(r->loc, r->hint, "%s", r->err.len ? r->err.buf : "cannot resolve this binary");
			b->errors++;
		} else {
			add_closure(b, &r->c, r->dest, r->library ? SEG_LIBS : SEG_BINARIES, r->loc, r->dest_origin);
		}
		sb_release(&r->err);
		elf_closure_free(&r->c);
		free(r->warnings);
		free(r->hint);
	}
	free(b->bins);
	b->bins = NULL;
	b->nbins = b->abins = 0;
}

/* The ELF context, when there are binaries: false when there are none or
 * it could not be made (reported). */
static bool open_elf(struct builder *b)
{
	struct manifest *m = b->m;
	if (!m->nbinaries && !m->nlibraries && !(m->init.present && initgen_needs_busybox(m)))
		return false;
	b->elf = elf_ctx_new(m->sysroot, m->arch, b->cas);
	if (!b->elf) {
		diag_error(m->sysroot ? &m->sysroot_loc : &m->arch_loc, NULL, "cannot read binaries from %s",
			   m->sysroot ? m->sysroot : "/");
		b->errors++;
	}
	return b->elf != NULL;
}

/* Resolves them all; prints nothing and leaves b->errors alone. */
static void resolve_binaries(struct builder *b)
{
	struct manifest *m = b->m;
	bool bb = m->init.present && initgen_needs_busybox(m);
	for (size_t i = 0; i < m->nbinaries; i++)
		resolve_binary(b, m->binaries[i].path, m->binaries[i].src, m->binaries[i].dest, false,
			       &m->binaries[i].loc, "binaries (dest)");
	for (size_t i = 0; i < m->nlibraries; i++)
		resolve_binary(b, m->libraries[i].name, NULL, NULL, true, &m->libraries[i].loc, NULL);
	if (bb) /* the generated /init is a BusyBox script: the sysroot's busybox runs it */
		resolve_binary(b, "busybox", NULL, "/bin/busybox", false, &m->init.loc,
			       "BusyBox, which runs the generated /init");
}

/* The modules the guest needs to mount a 9p share: each one built in costs
 * nothing, each modular one is packed with its closure. */
static const char *const share_transport[] = { "virtio_pci", "9pnet_virtio", "9p" };
#define NSHARE_TRANSPORT (sizeof(share_transport) / sizeof(*share_transport))

/* kernel.share: the manifest's kmods are checked against the tree (errors
 * at their lines) but stay in the tree; /init modprobes them from the share.
 * Returns the requests to pack instead: the 9p transport. */
static struct modclosure_req *share_requests(struct builder *b, const struct modclosure_opts *o,
					     struct modclosure_req *reqs, size_t *n)
{
	struct manifest *m = b->m;
	for (size_t i = 0; i < m->nkmods; i++)
		if (m->kmods[i].path) {
			diag_error(&m->kmods[i].loc, "build it in the tree (make M=... in its source) or drop kernel.share",
				   "with kernel.share, modules come from the tree: '%s' is not in it", m->kmods[i].path);
			b->errors++;
		}
	struct modclosure check;
	if (!b->errors && *n) {
		count(b, resolve_kmods(o, reqs, *n, &check));
		modclosure_save_memo(&check); /* and the record collects its inputs */
		modclosure_free(&check);
	} else if (*n) {
		b->errors++;
	}
	free(reqs);
	reqs = xcalloc(NSHARE_TRANSPORT, sizeof(*reqs));
	for (size_t i = 0; i < NSHARE_TRANSPORT; i++)
		reqs[i] = (struct modclosure_req){ share_transport[i], NULL, NULL, m->kernel.share_loc };
	*n = NSHARE_TRANSPORT;
	return reqs;
}

/* A module of another machine (x86-64 modules in an aarch64 image: the
 * kernel.modules of the host) is refused at its line, as the kernel would
 * refuse it at boot.  The closure read each module's machine with its
 * .modinfo (no open of its own here); a compressed module that was not
 * unpacked (decompress: false) is checked by the kernel alone. */
static bool module_machine_ok(struct builder *b, const struct modclosure_mod *mod, const struct loc *loc)
{
	int want = elf_arch_machine(b->m->arch ? b->m->arch : host_arch()), got = mod->machine;
	if (!want || !got || got == want)
		return true;
	const char *name = elf_machine_arch(got);
	char *hint = xasprintf("the image is for %s: use its kernel's modules (kernel.modules)",
			       b->m->arch ? b->m->arch : host_arch());
	diag_error(loc, hint, "the module %s (%s) is for %s%s%d%s", mod->name, mod->src, name ? name : "machine ",
		   name ? " (EM " : "", got, name ? ")" : "");
	free(hint);
	return false;
}

/* The module closure's inputs; resolve_modules may run on a thread of its
 * own beside the ELF closures (make_plan): it touches only these, b->mods,
 * b->errors and diag, which the main thread leaves alone meanwhile. */
struct mod_job {
	struct builder *b;
	struct modclosure_req *reqs;
	size_t n;
	struct modclosure_opts o;
	char *moddir, *fw;
	struct strbuf held; /* its messages, printed after the binaries' */
};

static void *resolve_modules(void *arg)
{
	struct mod_job *j = arg;
	struct builder *b = j->b;
	struct manifest *m = b->m;
	diag_hold(&j->held);
	j->n = m->nkmods;
	j->reqs = xcalloc(j->n ? j->n : 1, sizeof(*j->reqs));
	for (size_t i = 0; i < m->nkmods; i++)
		j->reqs[i] = (struct modclosure_req){ m->kmods[i].name, m->kmods[i].path, m->kmods[i].params,
						      m->kmods[i].loc };
	j->moddir = modules_dir(m);
	j->fw = m->kernel.firmware ? xstrdup(m->kernel.firmware) : in_sysroot(m, "/lib/firmware");
	j->o = (struct modclosure_opts){ .moddir = j->moddir, .kver = b->kver, .tree = m->kernel.tree != NULL,
					 .firmware = j->fw, .decompress = m->kernel.decompress, .cas = b->cas,
					 .jobs = b->jobs, .memo_later = two_cores(b) };
	if (m->kernel.share)
		j->reqs = share_requests(b, &j->o, j->reqs, &j->n);
	if (b->errors) {
		/* reported */
	} else if (resolve_kmods(&j->o, j->reqs, j->n, &b->mods) < 0) {
		b->errors++;
		modclosure_free(&b->mods);
	} else {
		b->have_mods = true;
	}
	diag_hold(NULL);
	return NULL;
}

static void *save_memo(void *mods)
{
	modclosure_save_memo(mods);
	return NULL;
}

static bool wants_modules(const struct builder *b)
{
	return b->kver && (b->m->nkmods || b->m->kernel.share);
}

/* The resolved module closure into the plan. */
static void add_modules(struct builder *b, struct mod_job *j)
{
	struct manifest *m = b->m;
	for (size_t i = 0; b->have_mods && i < b->mods.nmods; i++) {
		struct modclosure_mod *mod = &b->mods.mods[i];
		char *origin = xasprintf("module %s: %s", mod->name, mod->why);
		bool mine = !m->kernel.share && mod->req >= 0 && (size_t)mod->req < m->nkmods;
		const struct loc *loc = mine ? &m->kmods[mod->req].loc : &m->kernel.loc;
		if (!module_machine_ok(b, mod, loc)) {
			b->errors++;
			free(origin);
			continue;
		}
		if (mod->data.len)
			count(b, plan_add_blob(b->plan, mod->dest, mod->data.buf, mod->data.len, 0644, 0, 0, SEG_MODULES,
					       loc, origin));
		else if (mod->stat_known)
			count(b, plan_add_file_st(b->plan, mod->dest, mod->src, &mod->st, 0644, 0, 0, SEG_MODULES, loc,
						  origin));
		else
			count(b, plan_add_file(b->plan, mod->dest, mod->src, 0644, 0, 0, SEG_MODULES, loc, origin));
		free(origin);
	}
	for (size_t i = 0; b->have_mods && i < b->mods.nfirmware; i++)
		count(b, plan_add_file(b->plan, b->mods.firmware[i].dest, b->mods.firmware[i].src, 0644, 0, 0,
				       SEG_MODULES, &m->kernel.loc, "firmware"));
	for (size_t i = 0; b->have_mods && i < b->mods.nindexes; i++)
		count(b, plan_add_blob(b->plan, b->mods.indexes[i].dest, b->mods.indexes[i].data.buf,
				       b->mods.indexes[i].data.len, 0644, 0, 0, SEG_MODULES, &m->kernel.loc,
				       "module index"));
	free(j->moddir);
	free(j->fw);
	free(j->reqs);
}

static bool declares(const struct manifest *m, const char *path)
{
	for (size_t i = 0; i < m->nnodes; i++)
		if (!strcmp(m->nodes[i].path, path))
			return true;
	return false;
}

static void add_init(struct builder *b)
{
	struct manifest *m = b->m;
	if (!m->init.present)
		return;
	/* The kernel opens /dev/console before /init runs; without it the init
	 * has no stdout. */
	if (!declares(m, "/dev/console"))
		count(b, plan_add_node(b->plan, "/dev/console", 'c', 5, 1, 0600, 0, 0, &m->init.loc, "init console"));
	if (m->init.exec) {
		count(b, plan_add_symlink(b->plan, "/init", m->init.exec, 0, 0, &m->init.loc, "init.exec"));
		return;
	}
	struct strbuf script = STRBUF_INIT;
	if (initgen_script(m, b->have_mods ? &b->mods : NULL, b->kver, &script) < 0)
		b->errors++;
	else
		count(b, plan_add_blob(b->plan, "/init", script.buf, script.len, 0755, 0, 0, SEG_INIT, &m->init.loc,
				       "generated init"));
	sb_release(&script);
}

/* ---- output choice and the no-op check ---------------------------------- */

bool build_compression_known(const char *word)
{
	int level;
	char *algo = split_compression(word, &level);
	bool ok = algo && emit_algo_known(algo);
	if (ok && level >= 0 && !strcmp(algo, "none")) {
		fprintf(stderr, "rdc: --compression %s: none takes no level\n", word);
		ok = false;
	}
	if (!algo)
		fprintf(stderr, "rdc: --compression %s: ALGO or ALGO:LEVEL, e.g. xz or zstd:19\n", word);
	/* A level out of range is the command line's mistake too: a usage
	 * error now, not a failed build later (the manifest's is at its line) */
	for (int i = 0; ok && level >= 0 && i < EA_COUNT; i++) {
		const struct output_algo *al = &output_algos[i];
		if (i != EA_NONE && !strcmp(algo, al->name) && (level < al->min || level > al->max)) {
			fprintf(stderr, "rdc: --compression %s: %s takes levels %d-%d\n", word, al->name, al->min, al->max);
			ok = false;
		}
	}
	free(algo);
	return ok;
}

/* The command line's -z wins over the manifest's compression: and its level. */
static int choose_command_line(const struct build_opts *o, const char *path, struct emit_opts *eo)
{
	int level;
	char *algo = split_compression(o->compression, &level);
	int rc = emit_choose(path, o->format, algo, NULL, eo);
	free(algo);
	eo->level = level;
	if (rc == 0)
		rc = emit_check_level(eo, NULL);
	return rc;
}

static int choose_output(const struct manifest *m, const struct build_opts *o, const char *path,
			 struct emit_opts *eo)
{
	memset(eo, 0, sizeof(*eo));
	int rc;
	if (o->compression)
		rc = choose_command_line(o, path, eo);
	else if (o->output) /* -o's suffix speaks for itself; the manifest fills the gaps */
		rc = emit_choose(path, o->format ? o->format : emit_suffix_names(path, NULL) ? NULL : m->output.format,
				 emit_suffix_names(path, NULL) ? NULL : m->output.algo, &m->output.loc, eo);
	else
		rc = emit_choose(path, o->format ? o->format : m->output.format, m->output.algo, &m->output.loc, eo);
	if (!o->compression) {
		/* a level belongs to the manifest's compressor, not to one -o chose instead */
		bool same_algo = !m->output.algo || !strcmp(m->output.algo, emit_algo_name(eo->algo));
		eo->level = same_algo ? m->output.level : -1;
		if (rc == 0)
			rc = emit_check_level(eo, m->output.level_loc.line ? &m->output.level_loc : &m->output.loc);
	}
	eo->jobs = o->jobs;
	eo->loc = o->output ? NULL : &m->output.loc;
	eo->single_segment |= o->single_segment || m->output.single_segment;
	eo->dir_special = o->dir_special;
	return rc;
}

static int epoch(const struct manifest *m, uint32_t *out)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	if (s && *s) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 10);
		if (errno || *end || v > 0xffffffffull) {
			diag_error(NULL, NULL, "SOURCE_DATE_EPOCH='%s' is not seconds since 1970", s);
			return -1;
		}
		*out = (uint32_t)v;
	} else {
		*out = m->epoch > 0 ? (uint32_t)m->epoch : 0;
	}
	return 0;
}

/* The output memo is keyed by the absolute path; build_manifest made sure
 * there is one (a deleted cwd has none). */
static char *output_memo_key(const char *path)
{
	char *key = path_absolute(path);
	return key ? key : xstrdup(path);
}

/* What the record of the output at `path` says ("<key> <dev>:<ino>"), when
 * the file there is still the one rdc wrote; NULL otherwise (caller frees). */
static char *output_recorded(struct cas *cas, const char *path)
{
	char *mkey = output_memo_key(path);
	struct strbuf payload = STRBUF_INIT;
	char *said = cas_memo_get(cas, "output", mkey, &payload) == 1 ? xstrdup(sb_str(&payload)) : NULL;
	sb_release(&payload);
	free(mkey);
	return said;
}

static bool output_current(const char *recorded, const char *path, const struct cas_hash *key)
{
	char hex[33];
	cas_hash_hex(key, hex);
	struct stat st;
	char *want = NULL;
	if (recorded && stat(path, &st) == 0)
		want = xasprintf("%s %ju:%ju", hex, (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	bool same = want && !strcmp(recorded, want);
	free(want);
	return same;
}

bool build_output_is(struct cas *cas, const char *path, const struct cas_hash *key)
{
	char *recorded = output_recorded(cas, path);
	bool same = output_current(recorded, path, key);
	free(recorded);
	return same;
}

/* Files the stat index did not know are hashed before anything is written,
 * except where the output streams them: an uncompressed image (or C array,
 * .S, tree) hashes them as it copies them, so a cold build reads each input
 * once, like gen_init_cpio.  That needs no record to compare with (nothing
 * to be a no-op against).  Segments need their keys first, except those
 * nobody can have yet: with no record and no remote storage, a segment of
 * files the index did not know is compressed as they are hashed (emit).
 * Lists name cache objects, so every file goes into objects/. */
static int hash_before_writing(struct plan *p, const struct emit_opts *eo, bool recorded)
{
	bool streams = eo->format == EF_CPIO ? eo->algo == EA_NONE : eo->format != EF_LIST;
	if (eo->format == EF_LIST)
		return plan_hash_files(p, true);
	if (!plan_pending(p) || (streams && !recorded))
		return 0;
	if (emit_is_segmented(eo) && !recorded && !remote_configured())
		return 0;
	return plan_hash_files(p, false);
}

/* Writing the image over its own manifest or one of its sources would
 * destroy the input (and the next build would archive the image). */
static bool clobbers_input(const struct manifest *m, const struct plan *p, const char *out)
{
	struct stat o, s;
	if (stat(out, &o) < 0 || !S_ISREG(o.st_mode))
		return false;
	for (size_t i = 0; i < m->file_names.n; i++) {
		if (stat(m->file_names.v[i], &s) == 0 && s.st_dev == o.st_dev && s.st_ino == o.st_ino) {
			diag_error(NULL, NULL, "the output %s is the manifest %s: not overwriting it", out, m->file_names.v[i]);
			return true;
		}
	}
	for (size_t i = 0; i < plan_count(p); i++) {
		const struct plan_entry *e = plan_entry_at(p, i);
		if (e->src && e->src_dev == o.st_dev && e->src_ino == o.st_ino) {
			diag_error(&e->loc, NULL, "the output %s is the source of %s: not overwriting it", out, e->path);
			return true;
		}
	}
	return false;
}

/* One file the build will replace: only what rdc may replace (a regular
 * file or nothing, lib/util.h), never an input, and — when the manifest
 * rather than -o names it — only an image rdc wrote: `output: ../x.txt`
 * in a manifest from elsewhere must not destroy a file of the user's. */
static bool refuses(const struct manifest *m, const struct plan *p, const struct build_opts *o,
		    const struct emit_opts *eo, const char *out)
{
	struct strbuf why = STRBUF_INIT;
	char *target = NULL;
	int mode;
	bool bad = eo->format != EF_DIR && output_check(out, &target, &mode, &why) < 0;
	if (bad) {
		if (o->output || !m->output.loc.line)
			diag_error(NULL, NULL, "not writing %s: %s", out, why.buf);
		else
			diag_error(&m->output.loc, NULL, "not writing %s: %s", out, why.buf);
	}
	sb_release(&why);
	free(target);
	if (bad || clobbers_input(m, p, out))
		return true;
	struct stat st;
	if (!o->output && eo->format != EF_DIR && stat(out, &st) == 0 && !emit_is_output(out)) {
		diag_error(m->output.loc.line ? &m->output.loc : NULL,
			   "remove it, or name it with -o to replace it",
			   "%s exists and is not an image rdc wrote: not replacing it", out);
		return true;
	}
	return false;
}

static bool outputs_refused(const struct manifest *m, const struct plan *p, const struct build_opts *o,
			    const struct emit_opts *eo, const char *path)
{
	char *companion = emit_companion(eo, path);
	bool bad = refuses(m, p, o, eo, path) || (companion && refuses(m, p, o, eo, companion));
	free(companion);
	return bad;
}

/* `written`: the file this build wrote.  The memo names its inode, so a file a
 * concurrent build renamed over it in the meantime is never taken as ours. */
static void output_record(struct cas *cas, const char *path, const struct cas_hash *key, const struct stat *written)
{
	char *mkey = output_memo_key(path), hex[33];
	struct strbuf deps = STRBUF_INIT, payload = STRBUF_INIT;
	cas_hash_hex(key, hex);
	memo_note_own(&deps, path);
	sb_addf(&payload, "%s %ju:%ju", hex, (uintmax_t)written->st_dev, (uintmax_t)written->st_ino);
	cas_memo_put(cas, "output", mkey, &deps, &payload);
	sb_release(&deps);
	sb_release(&payload);
	free(mkey);
}

static void builder_release(struct builder *b)
{
	plan_free(b->plan);
	elf_ctx_free(b->elf);
	if (b->have_mods)
		modclosure_free(&b->mods);
	free(b->kver);
}

/* Resolve everything into a finished plan; -1 after reporting errors. */
/* Does `cmd` use `word` as a word (a command name, most likely)? */
static bool mentions(const char *cmd, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = cmd; (p = strstr(p, word)); p += n) {
		bool start = p == cmd || strchr(" \t;|&(`$", p[-1]);
		if (start && (!p[n] || strchr(" \t;|&)`", p[n])))
			return true;
	}
	return false;
}

/* BusyBox's applet names, from the table it keeps ("[", "[[", "acpid" ...,
 * NUL-separated and sorted); empty when the file does not look like it. */
static void busybox_applets(const char *path, struct strlist *out)
{
	struct strbuf sb = STRBUF_INIT;
	if (read_file(path, &sb) == 0 && sb.len > 6) {
		const char *p = memmem(sb.buf, sb.len, "[\0[[\0", 5), *end = sb.buf + sb.len;
		while (p && p < end && *p) {
			size_t n = strnlen(p, (size_t)(end - p));
			if (n == 0 || n > 32 || strspn(p, "[]abcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
				break;
			sl_push(out, p);
			p += n + 1;
		}
	}
	sb_release(&sb);
}

/* BusyBox's sh runs its own applet for a bare name before looking in PATH:
 * a step that says "ip" gets BusyBox's ip, not the iproute2 ip of binaries:.
 * Say so at the step, where the fix (the full path) goes. */
static void warn_applet_shadowing(struct builder *b)
{
	const struct manifest *m = b->m;
	if (!m->init.present || m->init.exec || !m->init.nsteps)
		return;
	const struct plan_entry *bb = plan_resolve(b->plan, "/bin/busybox");
	struct strlist applets = STRLIST_INIT;
	for (size_t i = 0; bb && bb->src && i < plan_count(b->plan); i++) {
		const struct plan_entry *e = plan_entry_at(b->plan, i);
		const char *base = strrchr(e->path, '/') + 1;
		if (e->seg != SEG_BINARIES || e->kind != PK_FILE || e == bb || !strcmp(base, "busybox"))
			continue;
		for (size_t s = 0; s < m->init.nsteps; s++) {
			if (!mentions(m->init.steps[s].run, base))
				continue;
			if (!applets.n)
				busybox_applets(bb->src, &applets);
			if (!sl_has(&applets, base))
				break;
			char *hint = xasprintf("write %s to run the one from binaries:", e->path);
			diag_warn(&m->init.steps[s].loc, hint, "'%s' here runs BusyBox's own %s applet (its sh prefers "
				  "applets to PATH), not %s", base, base, e->path);
			free(hint);
		}
	}
	sl_release(&applets);
}

/* init: {exec: PATH} must name a program the image has, or the kernel
 * panics with "No working init found". */
static bool init_exec_missing(struct builder *b)
{
	const struct manifest *m = b->m;
	if (!m->init.present || !m->init.exec)
		return false;
	const struct plan_entry *e = plan_resolve(b->plan, m->init.exec);
	if (e && e->kind == PK_FILE && (e->mode & 0111))
		return false;
	diag_error(&m->init.loc, "add it under binaries: or files: (with an executable mode)",
		   e ? "init.exec %s is in the image but is not an executable file" : "init.exec %s is not in the image",
		   m->init.exec);
	return true;
}

static int make_plan(struct builder *b)
{
	bool kerr;
	b->kver = build_kernel_release(b->m, &kerr);
	if (kerr)
		return -1;
	add_declared(b);
	/* The ELF and the module closures are independent: on two cores the
	 * modules resolve on a thread while the binaries resolve here (a third
	 * of a small cold build).  Both hold their messages, so the binaries
	 * report first, then the modules, as a sequential build would; the
	 * plan gets the binaries first as before.  A bad binary no longer
	 * keeps the modules from being checked: all errors in one run. */
	struct mod_job mj = { .b = b, .held = STRBUF_INIT };
	pthread_t t;
	bool bins = open_elf(b), mods = wants_modules(b);
	bool threaded = bins && mods && two_cores(b) && pthread_create(&t, NULL, resolve_modules, &mj) == 0;
	if (bins)
		resolve_binaries(b);
	if (threaded)
		pthread_join(t, NULL);
	else if (mods)
		resolve_modules(&mj);
	report_binaries(b);
	diag_release(&mj.held);
	/* A new module memo is written beside the plan's last steps, which only
	 * read the closure (a whole kernel's: 10-15 ms off a cold build), and
	 * before make_plan returns: the build record collects its inputs. */
	pthread_t saver;
	bool saving = b->mods.memo && pthread_create(&saver, NULL, save_memo, &b->mods) == 0;
	if (mods)
		add_modules(b, &mj);
	add_init(b);
	/* Even after an error: unreadable files and conflicts are reported in
	 * the same run, not one at a time. */
	int rc = plan_finish(b->plan);
	if (saving)
		pthread_join(saver, NULL);
	modclosure_save_memo(&b->mods); /* when no thread took it */
	if (b->errors && rc == 0)
		plan_hash_files(b->plan, false); /* unreadable files are reported in the same run too */
	if (rc == 0 && init_exec_missing(b))
		rc = -1;
	if (rc == 0)
		warn_applet_shadowing(b);
	return b->errors ? -1 : rc;
}

static const char *kind_name(const struct plan_entry *e)
{
	switch (e->kind) {
	case PK_DIR: return "directory";
	case PK_FILE: return "file";
	case PK_SYMLINK: return "symlink";
	default: return S_ISCHR(e->mode) ? "char device" : S_ISBLK(e->mode) ? "block device"
		 : S_ISFIFO(e->mode) ? "pipe" : "socket";
	}
}

static void explain_json(struct json *j, const struct plan_entry *e)
{
	json_object_begin(j, NULL);
	json_str(j, "path", e->path);
	json_str(j, "type", kind_name(e));
	if (e->target)
		json_str(j, "target", e->target);
	if (e->src)
		json_str(j, "source", e->src);
	json_str(j, "why", e->implied ? "implied parent directory" : e->origin);
	if (e->loc.line) {
		json_str(j, "file", e->loc.file);
		json_u64(j, "line", (uint64_t)e->loc.line);
		json_u64(j, "col", (uint64_t)e->loc.col);
	}
	json_object_end(j);
}

/* One line per path: what it is, why it is there, which manifest line;
 * with --json one array of objects with those fields. */
static int explain(const struct plan *p, char **paths, size_t n, bool as_json)
{
	int rc = 0;
	struct json j;
	json_init(&j, stdout);
	if (as_json)
		json_array_begin(&j, NULL);
	for (size_t i = 0; i < n; i++) {
		char *norm = path_normalize(paths[i]);
		const struct plan_entry *e = norm ? plan_lookup(p, norm) : NULL;
		if (!e) {
			const char **cands = xcalloc(plan_count(p) + 1, sizeof(*cands));
			for (size_t k = 0; k < plan_count(p); k++)
				cands[k] = plan_entry_at(p, k)->path;
			const char *close = norm ? diag_closest(norm, cands, (int)plan_count(p)) : NULL;
			diag_error(NULL, NULL, "%s is not in the image%s%s%s", paths[i], close ? " (did you mean " : "",
				  close ? close : "", close ? "?)" : "");
			free(cands);
			free(norm);
			rc = -1;
			continue;
		}
		if (as_json) {
			explain_json(&j, e);
			free(norm);
			continue;
		}
		printf("%s: %s", e->path, kind_name(e));
		if (e->target)
			printf(" -> %s", e->target);
		if (e->src)
			printf(" from %s", e->src);
		printf(", %s", e->implied ? "implied parent directory" : e->origin);
		if (e->loc.line)
			printf(" (%s:%d:%d)", e->loc.file, e->loc.line, e->loc.col);
		printf("\n");
		free(norm);
	}
	if (as_json) {
		json_array_end(&j);
		json_done(&j);
	}
	return rc;
}

/* What the summary line and --json report of a build. */
static void note_result(struct build_result *r, const struct plan *p, const struct emit_opts *eo,
			const struct emit_stats *stats, const char *path)
{
	r->format = emit_format_name(eo->format);
	r->compression = emit_algo_name(eo->algo);
	r->entries = plan_count(p);
	for (size_t i = 0; i < r->entries; i++) {
		const struct plan_entry *e = plan_entry_at(p, i);
		if (e->kind == PK_FILE)
			r->content_bytes += e->size;
		if (e->kind == PK_FILE && e->src)
			sl_push(&r->inputs, e->src);
	}
	struct stat st;
	if (strcmp(path, "-") && stat(path, &st) == 0 && S_ISREG(st.st_mode))
		r->bytes = (uint64_t)st.st_size;
	r->segments_built = atomic_load(&stats->segments_built);
	r->segments_reused = atomic_load(&stats->segments_reused);
}

/* kernel.share: the host side of the share.  The guest mounts the tree
 * itself at /lib/modules/<release>/kernel and this directory — depmod's
 * indexes for every module of the tree, written here as rdc writes them for
 * an image — over /lib/modules/<release>, so modprobe finds kernel/<path>
 * in modules.dep.  Made again on each run (memoised: a rebuilt module is
 * one changed identity), so nothing in the image goes stale. */
char *build_share_dir(const struct manifest *m, const char *cache_dir, const char *kver)
{
	struct cas_hash h;
	char hex[33], *id = xasprintf("%s\n%s", m->kernel.tree, kver);
	cas_hash_data(id, strlen(id), &h);
	cas_hash_hex(&h, hex);
	free(id);
	return xasprintf("%s/share/%s", cache_dir, hex);
}

static char *stage_share(const struct manifest *m, struct cas *cas, const char *kver)
{
	struct strlist names = STRLIST_INIT;
	modclosure_tree_names(m->kernel.tree, &names);
	struct modclosure_req *reqs = xcalloc(names.n ? names.n : 1, sizeof(*reqs));
	for (size_t i = 0; i < names.n; i++)
		reqs[i] = (struct modclosure_req){ names.v[i], NULL, NULL, m->kernel.share_loc };
	struct modclosure_opts o = { .moddir = m->kernel.tree, .kver = kver, .tree = true, .cas = cas };
	struct modclosure c;
	char *dir = NULL;
	if (resolve_kmods(&o, reqs, names.n, &c) == 0) {
		dir = build_share_dir(m, cas_dir(cas), kver);
		char *kdir = path_join(dir, "kernel"); /* the tree's mount point */
		int rc = mkdir_p(kdir, 0755);
		for (size_t i = 0; rc == 0 && i < c.nindexes; i++) {
			char *p = path_join(dir, path_basename(c.indexes[i].dest));
			rc = write_file_atomic(p, c.indexes[i].data.buf, c.indexes[i].data.len, 0644);
			free(p);
		}
		if (rc < 0) {
			diag_error(NULL, NULL, "cannot write the shared module indexes in %s: %s", dir, strerror(errno));
			free(dir);
			dir = NULL;
		}
		free(kdir);
	}
	modclosure_free(&c);
	free(reqs);
	sl_release(&names);
	return dir;
}

/* emit_opts.spare: the record's stats on a core the image's writers leave idle */
struct spare_note {
	struct record *rec;
	const struct plan *p;
};

static void note_inputs(void *arg)
{
	struct spare_note *n = arg;
	record_note_inputs(n->rec, n->p);
}

int build_manifest(struct manifest *m, const struct build_opts *o, struct build_result *r)
{
	int64_t start = monotonic_ns();
	memset(r, 0, sizeof(*r));
	struct emit_opts eo;
	char *path = build_output_path(m, o);
	r->output = path;
	r->arch = xstrdup(m->arch ? m->arch : host_arch());
	if (choose_output(m, o, path, &eo) < 0 || epoch(m, &eo.mtime) < 0)
		return -1;
	char *abs = strcmp(path, "-") && !o->check_only ? path_absolute(path) : NULL;
	if (!abs && strcmp(path, "-") && !o->check_only) { /* never a guess at where a relative path went */
		diag_error(NULL, NULL, "cannot write %s: the current directory is gone (%s)", path, strerror(errno));
		return -1;
	}
	free(abs);
	struct emit_stats stats = { 0 };
	eo.stats = &stats;
	eo.progress = o->progress;
	struct builder b = { .m = m, .cas = cas_open(o->cache_dir), .jobs = o->jobs };
	if (!b.cas)
		return -1;
	struct record *rec = record_new(b.cas, m, o, &eo, path); /* nothing changed: nothing to resolve */
	if (record_current(rec, r)) {
		record_free(rec);
		cas_close(b.cas);
		r->ms = (double)(monotonic_ns() - start) / 1e6;
		return 0;
	}
	b.plan = plan_new(b.cas, o->jobs);
	record_watch(rec, true);
	int rc = make_plan(&b);
	record_watch(rec, false);
	int64_t planned = monotonic_ns();
	r->plan_ms = (double)(planned - start) / 1e6;
	if (b.kver)
		r->kver = xstrdup(b.kver);
	if (rc == 0 && o->nexplain)
		rc = explain(b.plan, o->explain, o->nexplain, o->json);
	if (rc == 0 && o->check_only && !o->nexplain)
		rc = plan_hash_files(b.plan, false); /* every source readable, and known to the index */
	if (rc == 0 && o->check_only && o->plan_cb)
		rc = o->plan_cb(b.plan, o->plan_ctx);
	if (rc == 0 && !o->check_only) {
		struct cas_hash key;
		bool cacheable = eo.format == EF_CPIO || eo.format == EF_C || eo.format == EF_LIST;
		bool to_stdout = !strcmp(path, "-");
		char *recorded = cacheable && !to_stdout ? output_recorded(b.cas, path) : NULL;
		if (!to_stdout && outputs_refused(m, b.plan, o, &eo, path)) {
			rc = -1;
		} else if (hash_before_writing(b.plan, &eo, recorded != NULL) < 0) {
			rc = -1;
		} else if (recorded && (emit_image_key(b.plan, &eo, &key), output_current(recorded, path, &key))) {
			r->unchanged = true;
		} else {
			struct stat written;
			struct spare_note note = { rec, b.plan };
			eo.spare = rec ? note_inputs : NULL;
			eo.spare_arg = &note;
			rc = emit_write(b.plan, b.cas, &eo, path, &written);
			eo.spare = NULL;
			if (rc == 0 && cacheable && !to_stdout) {
				emit_image_key(b.plan, &eo, &key); /* every hash is known now */
				output_record(b.cas, path, &key, &written);
			}
		}
		r->write_ms = (double)(monotonic_ns() - planned) / 1e6;
		free(recorded);
		diag_info("%s: %zu entries, %s%s%s", path, plan_count(b.plan), eo.format == EF_CPIO ? "compression " : "",
			  eo.format == EF_CPIO ? emit_algo_name(eo.algo) : emit_format_name(eo.format),
			  r->unchanged ? " (unchanged)" : "");
		note_result(r, b.plan, &eo, &stats, path);
		if (rc == 0)
			record_save(rec, b.plan, &key, r);
	}
	record_free(rec);
	r->ms = (double)(monotonic_ns() - start) / 1e6;
	if (rc == 0 && o->stage_share && m->kernel.share && !(r->share = stage_share(m, b.cas, b.kver)))
		rc = -1;
	builder_release(&b);
	cas_close(b.cas);
	return rc;
}

