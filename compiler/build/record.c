/* record.c — the whole-build record (record.h).
 *
 * It is a memo of the cache (namespace "record", keyed by the output's
 * absolute path), so it is checksummed, read with a size limit and
 * re-checked like every memo: its deps are the identity of every input and
 * of the output, its payload the build's fingerprint (options, variables,
 * cwd ...) and what the build reported.  On-disk format: cache/README.md.
 *
 * The racy rule is the stat index's (2 s), counted from the moment this
 * process started rather than from when the record is written: an input
 * read early in a long build and edited after it was read has a timestamp
 * after the start, so the record is marked racy and never trusted. */
#include "build/record.h"
#include <errno.h>
#include <dirent.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "lib/diag.h"
#include "plan/plan.h"

#define RECORD_NS "record"
#define RECORD_KEY "rdc-record 1 " /* then the output's absolute path */

static int64_t started_ns; /* CLOCK_REALTIME when this process started */

__attribute__((constructor)) static void note_start(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	started_ns = (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

struct uses {
	struct memo_use *v;
	size_t n, alloc;
};

struct record {
	struct cas *cas;
	const struct manifest *m;
	const struct emit_opts *eo;
	char *path, *key;
	struct strbuf fp;    /* what else decides the output: options, variables, cwd */
	struct strbuf reads; /* the deps of every memo the resolvers used */
	struct strbuf said;  /* warnings and notes, replayed by a current record */
	struct strbuf early; /* note_early: the identities of rdc and the manifest as read */
	bool whole;          /* rdc's own path could be listed */
	/* record_note_inputs: from the emit's spare core, or record_save */
	pthread_mutex_t noting;
	bool noted, noted_whole;
	struct uses used;    /* every input, each once, with what the build used of it */
	struct strbuf inputs; /* their identities as noted */
};

/* ---- fields: "tag LEN:BYTES\n", any bytes ------------------------------- */

static void field(struct strbuf *sb, const char *tag, const char *val)
{
	if (!val)
		val = "\x01unset";
	sb_addf(sb, "%s %zu:", tag, strlen(val));
	sb_adds(sb, val);
	sb_addch(sb, '\n');
}

static void field_num(struct strbuf *sb, const char *tag, unsigned long long v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", v);
	field(sb, tag, buf);
}

/* The next field, which must be `tag`; false when the text is not one. */
static bool next_field(const char **p, const char *end, const char *tag, const char **val, size_t *len)
{
	size_t tl = strlen(tag);
	if ((size_t)(end - *p) < tl + 3 || memcmp(*p, tag, tl) || (*p)[tl] != ' ')
		return false;
	const char *q = *p + tl + 1;
	size_t n = 0;
	for (; q < end && *q >= '0' && *q <= '9' && n < ((size_t)1 << 40); q++)
		n = n * 10 + (size_t)(*q - '0');
	if (q >= end || *q != ':' || (size_t)(end - q - 1) < n + 1 || q[1 + n] != '\n')
		return false;
	*val = q + 1;
	*len = n;
	*p = q + 2 + n;
	return true;
}

static bool next_num(const char **p, const char *end, const char *tag, unsigned long long *v)
{
	const char *s;
	size_t n;
	if (!next_field(p, end, tag, &s, &n) || n == 0 || n > 20)
		return false;
	char buf[24], *e;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (buf[0] < '0' || buf[0] > '9') /* strtoull takes " 1", "+1" and "-1" (as 2^64 - 1) */
		return false;
	errno = 0;
	*v = strtoull(buf, &e, 10);
	return *e == 0 && errno == 0;
}

/* ---- the fingerprint ---------------------------------------------------- */

static void fingerprint(struct record *rec, const struct build_opts *o)
{
	struct strbuf *fp = &rec->fp;
	const struct emit_opts *eo = rec->eo;
	char *manifest = path_absolute(rec->m->path), cwd[4096];
	struct utsname u;
	field(fp, "rdc", RDC_VERSION);
	field(fp, "build-id", rdc_build_id()); /* another rdc of the same version, or this one rebuilt */
	field(fp, "preload", getenv("LD_PRELOAD")); /* what else runs inside rdc */
	field(fp, "libpath", getenv("LD_LIBRARY_PATH"));
	field(fp, "manifest", manifest ? manifest : rec->m->path);
	field(fp, "cwd", getcwd(cwd, sizeof(cwd)) ? cwd : NULL);
	field(fp, "cache", cas_dir(rec->cas));
	field(fp, "format", emit_format_name(eo->format));
	field(fp, "algo", emit_algo_name(eo->algo));
	field_num(fp, "level", (unsigned long long)(eo->level + 1));
	field_num(fp, "single", eo->single_segment);
	field_num(fp, "mtime", eo->mtime);
	field_num(fp, "named", o->output != NULL); /* -o: may replace what output: may not */
	field(fp, "arch", rec->m->arch ? rec->m->arch : host_arch());
	field(fp, "uname", uname(&u) == 0 ? u.release : NULL); /* kernel: {version: host} */
	/* Every ${NAME} the manifest's reading looked up: equal values and
	 * unchanged files read the same manifest. */
	for (size_t i = 0; i < expand_env_names.n; i++) {
		field(fp, "env", expand_env_names.v[i]);
		field(fp, "val", getenv(expand_env_names.v[i]));
	}
	free(manifest);
}

struct record *record_new(struct cas *cas, const struct manifest *m, const struct build_opts *o,
			  const struct emit_opts *eo, const char *path)
{
	if (!cas || o->check_only || !strcmp(path, "-") || m->kernel.share ||
	    (eo->format != EF_CPIO && eo->format != EF_C))
		return NULL;
	if (!*rdc_build_id()) /* linked without one: another build of rdc could not be told from this one */
		return NULL;
	char *abs = path_absolute(path);
	if (!abs)
		return NULL;
	struct record *rec = xcalloc(1, sizeof(*rec));
	*rec = (struct record){ .cas = cas, .m = m, .eo = eo, .path = abs, .key = xasprintf(RECORD_KEY "%s", abs),
				.fp = STRBUF_INIT, .reads = STRBUF_INIT, .said = STRBUF_INIT, .early = STRBUF_INIT,
				.noting = PTHREAD_MUTEX_INITIALIZER, .inputs = STRBUF_INIT };
	fingerprint(rec, o);
	return rec;
}

void record_free(struct record *rec)
{
	if (!rec)
		return;
	record_watch(rec, false);
	free(rec->path);
	free(rec->key);
	sb_release(&rec->fp);
	sb_release(&rec->reads);
	sb_release(&rec->said);
	sb_release(&rec->early);
	for (size_t i = 0; i < rec->used.n; i++)
		free((char *)rec->used.v[i].path);
	free(rec->used.v);
	sb_release(&rec->inputs);
	pthread_mutex_destroy(&rec->noting);
	free(rec);
}

void record_watch(struct record *rec, bool on)
{
	if (!rec)
		return;
	cas_memo_collect(rec->cas, on ? &rec->reads : NULL);
	diag_capture(on ? &rec->said : NULL);
}

/* ---- checking ----------------------------------------------------------- */

static void note_early(struct record *rec);

/* The payload after the fingerprint: what the summary needs, what the
 * build said, the inputs rdc run --watch watches. */
static bool parse_result(const char *p, const char *end, struct build_result *r, struct cas_hash *key,
			 unsigned long long *verbose, const char **said, size_t *saidlen)
{
	const char *s;
	size_t n;
	unsigned long long entries, content, ninputs;
	if (!next_field(&p, end, "image", &s, &n) || n != 32 || !cas_hash_parse(s, key))
		return false;
	if (!next_field(&p, end, "kver", &s, &n) || !next_num(&p, end, "entries", &entries) ||
	    !next_num(&p, end, "content", &content) || !next_num(&p, end, "verbose", verbose) ||
	    !next_field(&p, end, "said", said, saidlen) ||
	    !next_num(&p, end, "inputs", &ninputs))
		return false;
	if (!(n == 6 && !memcmp(s, "\x01unset", 6)))
		r->kver = xstrndup(s, n);
	r->entries = (size_t)entries;
	r->content_bytes = content;
	for (unsigned long long i = 0; i < ninputs; i++) {
		if (!next_field(&p, end, "in", &s, &n))
			return false;
		sl_push_owned(&r->inputs, xstrndup(s, n));
	}
	return p == end;
}

bool record_current(struct record *rec, struct build_result *r)
{
	if (!rec)
		return false;
	struct strbuf pl = STRBUF_INIT, why = STRBUF_INIT;
	const char *said = NULL;
	size_t saidlen = 0;
	bool ok = cas_memo_get_why(rec->cas, RECORD_NS, rec->key, &pl, &why) == 1;
	if (ok && (pl.len < rec->fp.len || memcmp(pl.buf, rec->fp.buf, rec->fp.len))) {
		sb_adds(&why, "it was made by another rdc, with other options, variables or another directory");
		ok = false;
	}
	struct build_result got = { 0 };
	unsigned long long verbose = 0;
	struct cas_hash key;
	if (ok && !parse_result(pl.buf + rec->fp.len, pl.buf + pl.len, &got, &key, &verbose, &said, &saidlen)) {
		sb_adds(&why, "it is damaged");
		ok = false;
	}
	/* The output's own memo names the inode rdc wrote and what it holds: a
	 * file another build renamed over it is never taken for this one. */
	if (ok && !build_output_is(rec->cas, rec->path, &key)) {
		sb_adds(&why, "the output is not the image it recorded");
		ok = false;
	}
	/* What a build says depends on -v: its warnings sum up what -v lists
	 * in full, and a -v build's words hold -v's lines. */
	if (ok && saidlen && diag_verbose) {
		sb_adds(&why, "it is current, but -v lists in full what its warnings sum up");
		ok = false;
	} else if (ok && saidlen && verbose) {
		sb_adds(&why, "it is current, but its warnings were said with -v");
		ok = false;
	}
	if (!ok) {
		diag_info("%s: not current from the build record (%s): resolving", rec->path, why.buf);
		note_early(rec);
	}
	if (ok) {
		fwrite(said, 1, saidlen, stderr);
		free(r->kver);
		r->kver = got.kver;
		got.kver = NULL;
		r->inputs = got.inputs;
		got.inputs = (struct strlist)STRLIST_INIT;
		r->entries = got.entries;
		r->content_bytes = got.content_bytes;
		r->format = emit_format_name(rec->eo->format);
		r->compression = emit_algo_name(rec->eo->algo);
		r->unchanged = true;
		struct stat st;
		if (stat(rec->path, &st) == 0 && S_ISREG(st.st_mode))
			r->bytes = (uint64_t)st.st_size;
		diag_info("%s: %zu entries, %s%s (unchanged: current from the build record, nothing resolved)",
			  r->output, r->entries, rec->eo->format == EF_CPIO ? "compression " : "",
			  rec->eo->format == EF_CPIO ? r->compression : r->format);
	}
	build_result_free(&got);
	sb_release(&pl);
	sb_release(&why);
	return ok;
}

/* ---- saving ------------------------------------------------------------- */

/* A tree's listing as plan_add_tree walks it: the top followed (opendir),
 * below it every entry by lstat, into directories only, with the plan's
 * path_join names.  nftw(FTW_PHYS) did not enter a top that is a symlink.
 * False when some directory could not be listed. */
static bool tree_paths(const char *dir, struct strlist *v)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct strlist names = STRLIST_INIT;
	dir_names(d, &names);
	closedir(d);
	bool whole = true;
	for (size_t i = 0; i < names.n; i++) {
		char *s = path_join(dir, names.v[i]);
		struct stat st;
		if (lstat(s, &st) == 0 && S_ISDIR(st.st_mode))
			whole &= tree_paths(s, v);
		sl_push_owned(v, s);
	}
	sl_release(&names);
	return whole;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *ctx)
{
	(void)size;
	if (info->dlpi_name && info->dlpi_name[0] == '/')
		sl_push(ctx, info->dlpi_name);
	return 0;
}

/* What the build read before anything recorded it: rdc itself, its
 * libraries, the manifest's files.  Their identities are taken once the
 * record is found not current, before resolving: a file swapped later in
 * the build (a parent directory renamed, a symlink retargeted) then no
 * longer matches what the record saves. */
static void note_early(struct record *rec)
{
	struct strlist v = STRLIST_INIT;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	rec->whole = n > 0;
	if (rec->whole) {
		exe[n] = 0;
		sl_push(&v, exe);
	}
	dl_iterate_phdr(add_object, &v); /* a new liblzma may compress to other bytes */
	for (size_t i = 0; i < rec->m->file_names.n; i++)
		sl_push(&v, rec->m->file_names.v[i]);
	memo_note_many(&rec->early, (const char *const *)v.v, v.n, 0);
	sl_release(&v);
}

/* ---- the inputs and what the build used of them ------------------------ */

static struct memo_use *use_add(struct uses *u, char *path)
{
	GROW(u->v, u->n + 1, u->alloc);
	u->v[u->n] = (struct memo_use){ .path = path };
	return &u->v[u->n++];
}

static void use_dep(void *ctx, const char *path, size_t plen, const char *id, size_t idlen)
{
	struct memo_use *x = use_add(ctx, xstrndup(path, plen));
	x->id = id;
	x->idlen = idlen;
}

static int cmp_use(const void *a, const void *b)
{
	return strcmp(((const struct memo_use *)a)->path, ((const struct memo_use *)b)->path);
}

/* Each path once, with everything the build used of it; two uses that
 * disagree mean it changed during the build. */
static void uses_merge(struct uses *u)
{
	if (u->n)
		qsort(u->v, u->n, sizeof(*u->v), cmp_use);
	size_t n = 0;
	for (size_t i = 0; i < u->n; i++) {
		struct memo_use *x = &u->v[i], *k = n ? &u->v[n - 1] : NULL;
		if (!k || strcmp(x->path, k->path)) {
			u->v[n++] = *x;
			continue;
		}
		if (x->id && k->id)
			k->differ |= x->idlen != k->idlen || memcmp(x->id, k->id, x->idlen);
		else if (x->id)
			k->id = x->id, k->idlen = x->idlen;
		if (x->read && k->read)
			k->differ |= x->dev != k->dev || x->ino != k->ino;
		else if (x->read)
			k->read = true, k->dev = x->dev, k->ino = x->ino;
		k->differ |= x->differ;
		free((char *)x->path);
	}
	u->n = n;
}

/* Everything whose identity decides the output, besides the output; false
 * when some of it could not be listed (the record must not be trusted). */
static bool inputs_of(struct record *rec, const struct plan *p, struct uses *u)
{
	const struct manifest *m = rec->m;
	bool whole = rec->whole;
	memo_deps_each(sb_str(&rec->early), rec->early.len, use_dep, u);
	memo_deps_each(sb_str(&rec->reads), rec->reads.len, use_dep, u);
	for (size_t i = 0; i < plan_count(p); i++) {
		const struct plan_entry *e = plan_entry_at(p, i);
		if (!e->src)
			continue;
		struct memo_use *x = use_add(u, xstrdup(e->src));
		x->read = e->src_ino != 0; /* what the source was read as: a swap since is a change */
		x->dev = e->src_dev;
		x->ino = e->src_ino;
	}
	struct strlist v = STRLIST_INIT;
	for (size_t i = 0; i < m->nfiles; i++) /* a tree's listing: every directory, file and symlink */
		if (m->files[i].tree && m->files[i].src) {
			sl_push(&v, m->files[i].src);
			whole &= tree_paths(m->files[i].src, &v);
		}
	/* The kernel's release: its listing decides "latest", the tree's
	 * kernel.release a tree's (build.c's modules_dir says where). */
	if (m->kernel.tree) {
		sl_push_owned(&v, path_join(m->kernel.tree, "include/config/kernel.release"));
	} else if (m->kernel.version || m->nkmods) {
		const char *root = m->sysroot && strcmp(m->sysroot, "/") ? m->sysroot : "";
		sl_push_owned(&v, m->kernel.modules ? xstrdup(m->kernel.modules) : xasprintf("%s/lib/modules", root));
	}
	for (size_t i = 0; i < v.n; i++)
		use_add(u, v.v[i]);
	free(v.v);
	uses_merge(u);
	return whole;
}

static int64_t newest_ns(const struct stat *st)
{
	int64_t m = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	int64_t c = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
	return m > c ? m : c;
}

/* The output has no racy rule (rdc just wrote it), so a same-size write
 * over it in the timestamp tick of rdc's own must not go unseen.  Kernels
 * without fine-grained timestamps (before 6.13: Debian 12's 6.1) stamp
 * files with CLOCK_REALTIME_COARSE, a jiffy apart: a script's
 * `rdc build && dd conv=notrunc of=IMAGE` in that tick would leave the
 * identity as recorded and the record current.  Once the coarse clock is
 * past the output's stamps, any later write stamps it later.  A build that
 * wrote its output waits at most a tick (4 ms at HZ=250); a no-op none. */
static void output_settle(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return;
	int64_t stamp = newest_ns(&st);
	for (int i = 0; i < 20; i++) { /* 20 ms at most: a stamp in the future is not waited for */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
		if ((int64_t)now.tv_sec * 1000000000LL + now.tv_nsec > stamp)
			return;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
}

/* Once, from whichever thread comes first (the other waits for it). */
void record_note_inputs(struct record *rec, const struct plan *p)
{
	if (!rec)
		return;
	pthread_mutex_lock(&rec->noting);
	if (!rec->noted) {
		rec->noted_whole = inputs_of(rec, p, &rec->used);
		memo_note_used(&rec->inputs, rec->used.v, rec->used.n, started_ns);
		rec->noted = true;
	}
	pthread_mutex_unlock(&rec->noting);
}

void record_save(struct record *rec, const struct plan *p, const struct cas_hash *key, const struct build_result *r)
{
	if (!rec)
		return;
	record_watch(rec, false);
	record_note_inputs(rec, p);
	const struct uses u = rec->used;
	struct strbuf deps = STRBUF_INIT, pl = STRBUF_INIT;
	sb_add(&pl, rec->fp.buf, rec->fp.len); /* first: time for the output's stamps to settle */
	char hex[33];
	cas_hash_hex(key, hex);
	field(&pl, "image", hex);
	field(&pl, "kver", r->kver);
	field_num(&pl, "entries", r->entries);
	field_num(&pl, "content", r->content_bytes);
	field_num(&pl, "verbose", diag_verbose != 0);
	field(&pl, "said", sb_str(&rec->said));
	field_num(&pl, "inputs", r->inputs.n);
	for (size_t i = 0; i < r->inputs.n; i++)
		field(&pl, "in", r->inputs.v[i]);
	for (size_t i = 0; i < u.n; i++) /* written all the same: it replaces the last one, and never matches */
		if (u.v[i].racy) {
			diag_info("%s: the build record is not trusted yet: %s %s", rec->path, u.v[i].path,
				  u.v[i].racy == MEMO_FUTURE  ? "has a timestamp in the future" :
				  u.v[i].racy == MEMO_SWAPPED ? "is not what the build read (changed or replaced during it)" :
								"changed less than 2 s before this build, or during it");
			break;
		}
	output_settle(rec->path);
	memo_note_own(&deps, rec->path); /* first: a deleted output is the first identity to differ */
	sb_add(&deps, sb_str(&rec->inputs), rec->inputs.len);
	if (!rec->noted_whole) /* a line no identity matches: this record replaces the last one and is never current */
		sb_adds(&deps, "1 / unlisted~racy\n");
	cas_memo_put(rec->cas, RECORD_NS, rec->key, &deps, &pl);
	sb_release(&deps);
	sb_release(&pl);
}
