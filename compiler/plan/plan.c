/* plan.c — the Plan: entries are collected in any order, then plan_finish
 * resolves paths through symlinked directories, merges duplicates, reports
 * conflicts with both origins, adds implied parents and sorts bytewise. */
#include "plan/plan.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "lib/util.h"

const char *const plan_seg_names[SEG_COUNT] = { "skeleton", "binaries", "libraries", "modules", "files", "init" };

struct plan {
	struct cas *cas;
	struct plan_entry *v;
	size_t n, alloc;
	int jobs;
	bool finished;
};

/* ---- hashing: only what the stat index does not know, on all cores ------
 *
 * A file the index knows (same identity, not racy) has its hash from the
 * moment it is added.  The others are "pending": an uncompressed image
 * hashes them as it streams them (a cold build reads each input once, as
 * gen_init_cpio does); other outputs hash them first (plan_hash_files),
 * since their keys (segments, the no-op record) need every hash. */

struct hash_job {
	struct plan *p;
	size_t *todo, ntodo;
	bool objects;
	atomic_size_t next;
	struct strbuf *why; /* per file: what went wrong with its source */
	bool *failed;
};

static void *hash_worker(void *arg)
{
	struct hash_job *j = arg;
	size_t i;
	while ((i = atomic_fetch_add(&j->next, 1)) < j->ntodo) {
		struct plan_entry *e = &j->p->v[j->todo[i]];
		uint64_t size;
		j->failed[i] = (j->objects ? cas_put_file(j->p->cas, e->src, &e->hash, &size, &j->why[i])
					   : cas_hash_file(j->p->cas, e->src, &e->hash, &size, &j->why[i])) < 0;
		if (!j->failed[i] && size != e->size) {
			sb_addf(&j->why[i], "%s changed while rdc was reading it", e->src);
			j->failed[i] = true;
		}
		e->hashed = !j->failed[i];
	}
	return NULL;
}

/* Hash the entries `todo` on all cores; failures are reported afterwards,
 * in plan order, at their manifest lines. */
static int hash_entries(struct plan *p, size_t *todo, size_t n, bool objects)
{
	struct hash_job j = { .p = p, .todo = todo, .ntodo = n, .objects = objects,
			      .why = xcalloc(n + 1, sizeof(*j.why)), .failed = xcalloc(n + 1, sizeof(bool)) };
	run_parallel(hash_worker, &j, p->jobs, n);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (j.failed[i]) {
			const struct plan_entry *e = &p->v[todo[i]];
			if (j.why[i].len) /* always: the cache returns its own trouble as a reason too */
				diag_error(&e->loc, NULL, "%s", j.why[i].buf);
			rc = -1;
		}
		sb_release(&j.why[i]);
	}
	free(j.why);
	free(j.failed);
	return rc;
}

/* Files (with a source) for which `pick` holds. */
static size_t *files_where(const struct plan *p, bool (*pick)(const struct plan *, size_t), size_t *n)
{
	size_t *v = xcalloc(p->n + 1, sizeof(*v));
	*n = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == PK_FILE && p->v[i].src && pick(p, i))
			v[(*n)++] = i;
	return v;
}

static bool is_pending(const struct plan *p, size_t i) { return !p->v[i].hashed; }
static bool any_file(const struct plan *p, size_t i) { (void)p, (void)i; return true; }

int plan_hash_files(struct plan *p, bool objects)
{
	size_t n, *todo = files_where(p, objects ? any_file : is_pending, &n);
	int rc = n ? hash_entries(p, todo, n, objects) : 0;
	free(todo);
	return rc;
}

size_t plan_pending(const struct plan *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->v[i].kind == PK_FILE && !p->v[i].hashed;
	return n;
}

void plan_learn_hash(const struct plan *p, const struct plan_entry *e, const struct cas_hash *h)
{
	struct plan_entry *w = &p->v[e - p->v]; /* the plan's own array: emit holds it const */
	w->hash = *h;
	w->hashed = true;
}

struct plan *plan_new(struct cas *cas, int jobs)
{
	struct plan *p = xcalloc(1, sizeof(*p));
	p->cas = cas;
	p->jobs = jobs;
	return p;
}

static void entry_release(struct plan_entry *e)
{
	free(e->path);
	free(e->target);
	free(e->src);
	free(e->origin);
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		entry_release(&p->v[i]);
	free(p->v);
	free(p);
}

size_t plan_count(const struct plan *p) { return p->n; }
const struct plan_entry *plan_entry_at(const struct plan *p, size_t i) { return &p->v[i]; }

/* The kernel's cpio reader drops a name of PATH_MAX bytes or more (with its
 * NUL) and no filesystem takes a component over NAME_MAX: such a path is an
 * error here, not an image that silently lacks it.  Returns the reason. */
static const char *path_too_long(const char *path)
{
	if (strlen(path) >= PATH_MAX)
		return "is longer than PATH_MAX (4096 bytes with its NUL), which the kernel refuses";
	for (const char *s = path; *s;) {
		s += strspn(s, "/");
		size_t n = strcspn(s, "/");
		if (n > NAME_MAX)
			return "has a name longer than NAME_MAX (255 bytes)";
		s += n;
	}
	return NULL;
}

static struct plan_entry *new_entry(struct plan *p, const char *dest, const struct loc *loc, const char *origin)
{
	char *path = path_normalize(dest);
	if (!path || !strcmp(path, "/")) {
		diag_error(loc, NULL, path ? "'%s' is the image root itself" : "'%s' escapes the image root", dest);
		free(path);
		return NULL;
	}
	const char *why = path_too_long(path);
	if (why) {
		diag_error(loc, NULL, "the image path %.64s... %s", path, why);
		free(path);
		return NULL;
	}
	GROW(p->v, p->n + 1, p->alloc);
	struct plan_entry *e = &p->v[p->n++];
	memset(e, 0, sizeof(*e));
	e->path = path;
	e->origin = xstrdup(origin ? origin : "");
	if (loc)
		e->loc = *loc;
	e->seg = SEG_SKELETON;
	e->seq = p->n - 1;
	return e;
}

int plan_add_dir(struct plan *p, const char *dest, unsigned perm, unsigned uid, unsigned gid,
		 const struct loc *loc, const char *origin)
{
	struct plan_entry *e = new_entry(p, dest, loc, origin);
	if (!e)
		return -1;
	e->kind = PK_DIR;
	e->mode = S_IFDIR | (perm & 07777);
	e->uid = uid;
	e->gid = gid;
	return 0;
}

static int add_file_hashed(struct plan *p, const char *dest, const char *src, const struct cas_hash *h,
			   uint64_t size, unsigned perm, unsigned uid, unsigned gid, enum plan_seg seg,
			   const struct loc *loc, const char *origin)
{
	struct plan_entry *e = new_entry(p, dest, loc, origin);
	if (!e)
		return -1;
	e->kind = PK_FILE;
	e->mode = S_IFREG | (perm & 07777);
	e->uid = uid;
	e->gid = gid;
	e->src = src ? xstrdup(src) : NULL;
	e->hash = *h;
	e->hashed = true;
	e->size = size;
	e->seg = seg;
	return 0;
}

/* /proc and /sys files say size 0 and read as something: an image made
 * from the stat would hold nothing.  Asked only of empty files. */
static bool on_pseudo_fs(const char *path)
{
	struct statfs fs;
	return statfs(path, &fs) == 0 && (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC ||
					  fs.f_type == DEBUGFS_MAGIC || fs.f_type == TRACEFS_MAGIC);
}

int plan_add_file(struct plan *p, const char *dest, const char *src, int perm, unsigned uid, unsigned gid,
		  enum plan_seg seg, const struct loc *loc, const char *origin)
{
	struct stat st;
	if (stat(src, &st) < 0) {
		diag_error(loc, NULL, "cannot read %s: %s", src, strerror(errno));
		return -1;
	}
	return plan_add_file_st(p, dest, src, &st, perm, uid, gid, seg, loc, origin);
}

int plan_add_file_st(struct plan *p, const char *dest, const char *src, const struct stat *st, int perm,
		     unsigned uid, unsigned gid, enum plan_seg seg, const struct loc *loc, const char *origin)
{
	if (!S_ISREG(st->st_mode)) {
		diag_error(loc, S_ISDIR(st->st_mode) ? "end src with '/' to copy a whole tree" : NULL,
			   "%s is not a regular file", src);
		return -1;
	}
	/* checked before the file is copied into the cache, not after */
	if ((uint64_t)st->st_size > 0xffffffffu) {
		diag_error(loc, NULL, "%s is larger than cpio's 4 GiB limit", src);
		return -1;
	}
	if (st->st_size == 0 && on_pseudo_fs(src)) {
		diag_error(loc, "copy it to a file first (cat it into one)",
			   "%s is on a pseudo filesystem whose files have no size: it would be empty in the image", src);
		return -1;
	}
	unsigned mode = perm == PLAN_MODE_OF_SOURCE ? (st->st_mode & 07777) : (unsigned)perm;
	struct cas_hash h = { 0 };
	bool known = cas_index_lookup(p->cas, src, st, &h);
	if (add_file_hashed(p, dest, src, &h, (uint64_t)st->st_size, mode, uid, gid, seg, loc, origin) < 0)
		return -1;
	p->v[p->n - 1].hashed = known;
	p->v[p->n - 1].src_dev = st->st_dev;
	p->v[p->n - 1].src_ino = st->st_ino;
	return 0;
}

int plan_add_blob(struct plan *p, const char *dest, const void *data, size_t len, unsigned perm, unsigned uid,
		  unsigned gid, enum plan_seg seg, const struct loc *loc, const char *origin)
{
	struct cas_hash h;
	if (cas_put_blob(p->cas, data, len, &h) < 0) {
		diag_error(loc, NULL, "cannot store %s in the cache: %s", dest, strerror(errno));
		return -1;
	}
	return add_file_hashed(p, dest, NULL, &h, len, perm, uid, gid, seg, loc, origin);
}

int plan_add_symlink(struct plan *p, const char *dest, const char *target, unsigned uid, unsigned gid,
		     const struct loc *loc, const char *origin)
{
	if (!*target) {
		diag_error(loc, NULL, "the symlink %s has an empty target", dest);
		return -1;
	}
	if (strlen(target) >= PATH_MAX) { /* the kernel skips such a symlink */
		diag_error(loc, NULL, "the target of the symlink %s is longer than PATH_MAX (4096 bytes with its NUL)",
			   dest);
		return -1;
	}
	struct plan_entry *e = new_entry(p, dest, loc, origin);
	if (!e)
		return -1;
	e->kind = PK_SYMLINK;
	e->mode = S_IFLNK | 0777;
	e->target = xstrdup(target);
	e->uid = uid;
	e->gid = gid;
	return 0;
}

int plan_add_node(struct plan *p, const char *dest, char type, unsigned major, unsigned minor, unsigned perm,
		  unsigned uid, unsigned gid, const struct loc *loc, const char *origin)
{
	struct plan_entry *e = new_entry(p, dest, loc, origin);
	if (!e)
		return -1;
	unsigned fmt = type == 'c' ? S_IFCHR : type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFSOCK;
	e->kind = PK_NODE;
	e->mode = fmt | (perm & 07777);
	e->rmajor = major;
	e->rminor = minor;
	e->uid = uid;
	e->gid = gid;
	return 0;
}

/* One entry of a host tree. */
static int add_tree_entry(struct plan *p, const char *dest, const char *src, const struct stat *st,
			  unsigned uid, unsigned gid, enum plan_seg seg, const struct loc *loc, const char *origin)
{
	if (S_ISDIR(st->st_mode))
		return plan_add_tree(p, dest, src, PLAN_MODE_OF_SOURCE, uid, gid, seg, loc, origin);
	if (S_ISREG(st->st_mode))
		return plan_add_file(p, dest, src, PLAN_MODE_OF_SOURCE, uid, gid, seg, loc, origin);
	if (S_ISLNK(st->st_mode)) {
		char buf[4096];
		ssize_t n = readlink(src, buf, sizeof(buf) - 1);
		if (n < 0) {
			diag_error(loc, NULL, "cannot read link %s: %s", src, strerror(errno));
			return -1;
		}
		buf[n] = '\0';
		return plan_add_symlink(p, dest, buf, uid, gid, loc, origin);
	}
	char type = S_ISCHR(st->st_mode) ? 'c' : S_ISBLK(st->st_mode) ? 'b' : S_ISFIFO(st->st_mode) ? 'p' : 's';
	return plan_add_node(p, dest, type, major(st->st_rdev), minor(st->st_rdev), st->st_mode & 07777,
			     uid, gid, loc, origin);
}

/* Inside a source tree, what rdc itself writes is no source: a -o DIR/ tree
 * (marked .rdc-tree) under the tree would otherwise be archived into the
 * next image, and that into the next (every build re-archived itself), and
 * temporaries of a running build come and go. */
static bool rdc_own(const char *path, const char *name, const struct stat *st)
{
	if (strstr(name, ".rdc-tmp.") || strstr(name, ".rdc-old."))
		return true;
	if (!S_ISDIR(st->st_mode))
		return false;
	char *mark = path_join(path, ".rdc-tree");
	struct stat ms;
	bool ours = lstat(mark, &ms) == 0 && S_ISREG(ms.st_mode);
	free(mark);
	return ours;
}

int plan_add_tree(struct plan *p, const char *dest, const char *src, int perm, unsigned uid, unsigned gid,
		  enum plan_seg seg, const struct loc *loc, const char *origin)
{
	struct stat st;
	DIR *d = opendir(src);
	if (!d || fstat(dirfd(d), &st) < 0) {
		diag_error(loc, NULL, "cannot read directory %s: %s", src, strerror(errno));
		if (d)
			closedir(d);
		return -1;
	}
	int rc = 0;
	if (strcmp(dest, "/"))
		rc = plan_add_dir(p, dest, perm == PLAN_MODE_OF_SOURCE ? (st.st_mode & 07777) : (unsigned)perm, uid, gid,
				  loc, origin);
	struct strlist names = STRLIST_INIT;
	dir_names(d, &names);
	closedir(d);
	sl_sort(&names); /* directory order must not matter */
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		char *s = path_join(src, names.v[i]), *t = path_join(dest, names.v[i]);
		if (lstat(s, &st) < 0) {
			diag_error(loc, NULL, "cannot read %s: %s", s, strerror(errno));
			rc = -1;
		} else if (rdc_own(s, names.v[i], &st)) {
			diag_info("%s: left out, rdc wrote it (a -o DIR/ tree or a temporary)", s);
		} else {
			rc = add_tree_entry(p, t, s, &st, uid, gid, seg, loc, origin);
		}
		free(s);
		free(t);
	}
	sl_release(&names);
	return rc;
}

/* ---- finishing --------------------------------------------------------- */

static int cmp_entry(const void *a, const void *b)
{
	const struct plan_entry *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	if (c)
		return c;
	/* explicit before implied, then the order they were added */
	if (x->implied != y->implied)
		return x->implied ? 1 : -1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const struct plan_entry *find_sorted(const struct plan_entry *v, size_t n, const char *path)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(v[mid].path, path);
		if (c == 0)
			return &v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct plan_entry *plan_lookup(const struct plan *p, const char *path)
{
	return find_sorted(p->v, p->n, path);
}

/* Sort, keeping for each path the first entry (in add order among explicit
 * ones).  The others are checked against it. */
static void sort_entries(struct plan *p)
{
	size_t i = 1;
	while (i < p->n && cmp_entry(&p->v[i - 1], &p->v[i]) <= 0) /* often sorted already: n compares */
		i++;
	if (i < p->n) /* qsort(NULL, 0) is undefined behaviour */
		qsort(p->v, p->n, sizeof(*p->v), cmp_entry);
}

static const char *kind_word(const struct plan_entry *e)
{
	switch (e->kind) {
	case PK_DIR: return "a directory";
	case PK_FILE: return "a file";
	case PK_SYMLINK: return "a symlink";
	default: return "a device node";
	}
}

static void describe(struct strbuf *sb, const struct plan_entry *e)
{
	sb_adds(sb, kind_word(e));
	if (e->kind == PK_FILE && e->src)
		sb_addf(sb, " from %s", e->src);
	else if (e->kind == PK_SYMLINK)
		sb_addf(sb, " to %s", e->target);
	if (*e->origin)
		sb_addf(sb, " (%s)", e->origin);
	if (e->loc.file && e->loc.line)
		sb_addf(sb, " at %s:%d:%d", e->loc.file, e->loc.line, e->loc.col);
}

/* The same source file (one identity when added) at the same mode: the
 * same bytes without reading them.  A library in five closures is one
 * file, not five to hash. */
static bool same_source(const struct plan_entry *a, const struct plan_entry *b)
{
	return a->kind == PK_FILE && b->kind == PK_FILE && a->src && b->src && a->src_dev == b->src_dev &&
	       a->src_ino == b->src_ino && a->mode == b->mode && a->uid == b->uid && a->gid == b->gid;
}

static bool same_thing(const struct plan_entry *a, const struct plan_entry *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == PK_DIR && (a->implied || b->implied))
		return true;
	if (a->mode != b->mode || a->uid != b->uid || a->gid != b->gid)
		return false;
	switch (a->kind) {
	case PK_FILE: return same_source(a, b) || !memcmp(&a->hash, &b->hash, sizeof(a->hash));
	case PK_SYMLINK: return !strcmp(a->target, b->target);
	case PK_NODE: return a->rmajor == b->rmajor && a->rminor == b->rminor;
	default: return true;
	}
}

static int report_conflict(const struct plan_entry *keep, const struct plan_entry *other)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	describe(&a, keep);
	describe(&b, other);
	const struct loc *loc = other->loc.file ? &other->loc : &keep->loc;
	char *hint = xasprintf("first: %s", a.buf);
	diag_error(loc, hint, "conflict at %s: %s differs from what is already there", other->path, b.buf);
	free(hint);
	sb_release(&a);
	sb_release(&b);
	return -1;
}

/* Drop duplicates (keeping the first), reporting real conflicts. */
static int merge_duplicates(struct plan *p)
{
	int rc = 0;
	size_t out = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (out && !strcmp(p->v[out - 1].path, p->v[i].path)) {
			if (!same_thing(&p->v[out - 1], &p->v[i]))
				rc = report_conflict(&p->v[out - 1], &p->v[i]);
			entry_release(&p->v[i]);
			continue;
		}
		p->v[out++] = p->v[i];
	}
	p->n = out;
	return rc;
}

/* If a proper prefix of `path` is a symlink entry, rewrite the path through
 * it (usrmerge: /lib/modules/x with /lib -> usr/lib becomes
 * /usr/lib/modules/x), so the archive never writes through a symlink.
 * As the kernel, it gives up (NULL) after 40 symlinks or once the path is
 * longer than PATH_MAX: a symlink that extends itself (/a -> a/a/a) would
 * otherwise grow the path, and the parents added for it, without end. */
#define MAX_SYMLINK_HOPS 40
static char *through_symlinks(const struct plan *p, const char *path)
{
	char *cur = xstrdup(path);
	for (int hops = 0; hops <= MAX_SYMLINK_HOPS && strlen(cur) < PATH_MAX; hops++) {
		bool changed = false;
		for (char *s = strchr(cur + 1, '/'); s; s = strchr(s + 1, '/')) {
			*s = '\0';
			const struct plan_entry *e = find_sorted(p->v, p->n, cur);
			if (e && e->kind == PK_SYMLINK) {
				char *dir = path_dirname(cur);
				char *base = e->target[0] == '/' ? xstrdup(e->target) : path_join(dir, e->target);
				char *joined = path_join(base, s + 1);
				char *norm = path_resolve_in_root(joined);
				free(dir);
				free(base);
				free(joined);
				if (!norm)
					break;
				free(cur);
				cur = norm;
				changed = true;
				break;
			}
			*s = '/';
		}
		if (!changed)
			return cur;
	}
	free(cur);
	return NULL;
}

/* The symlink entry at exactly `path` among the sorted entries, if any. */
static const struct plan_entry *symlink_at(const struct plan *p, size_t i)
{
	for (size_t j = i; j-- > 0 && !strcmp(p->v[j].path, p->v[i].path);)
		if (p->v[j].kind == PK_SYMLINK)
			return &p->v[j];
	for (size_t j = i + 1; j < p->n && !strcmp(p->v[j].path, p->v[i].path); j++)
		if (p->v[j].kind == PK_SYMLINK)
			return &p->v[j];
	return NULL;
}

/* A directory asked for where a symlink is (dirs: [/lib] in a usrmerge image)
 * is the directory the symlink points at. */
static char *dir_behind_symlink(const struct plan *p, size_t i)
{
	const struct plan_entry *l = p->v[i].kind == PK_DIR ? symlink_at(p, i) : NULL;
	if (!l)
		return NULL;
	char *dir = path_dirname(l->path);
	char *joined = l->target[0] == '/' ? xstrdup(l->target) : path_join(dir, l->target);
	char *norm = path_resolve_in_root(joined);
	free(dir);
	free(joined);
	return norm;
}

/* All new paths are computed before any is changed: lookups need the entries
 * still sorted. */
static void cannot_place(const struct plan *p, size_t i)
{
	diag_error(p->v[i].loc.file ? &p->v[i].loc : NULL, "a symlink in its parents loops or extends itself",
		   "%s cannot be placed: more than %d symlinks or a path longer than PATH_MAX", p->v[i].path,
		   MAX_SYMLINK_HOPS);
}

/* Without a symlink entry no path goes through one, and only a path too
 * long to place is wrong (a whole kernel: 5,000 entries whose every prefix
 * was looked up for nothing, 10 ms). */
static int check_unsymlinked(const struct plan *p)
{
	int rc = 0;
	for (size_t i = 0; i < p->n; i++)
		if (strlen(p->v[i].path) >= PATH_MAX) {
			cannot_place(p, i);
			rc = -1;
		}
	return rc;
}

static int resolve_symlinked_parents(struct plan *p)
{
	bool any = false;
	for (size_t i = 0; i < p->n && !any; i++)
		any = p->v[i].kind == PK_SYMLINK;
	if (!any)
		return check_unsymlinked(p);
	char **np = xcalloc(p->n + 1, sizeof(*np));
	int rc = 0;
	for (size_t i = 0; i < p->n; i++) {
		char *behind = dir_behind_symlink(p, i);
		np[i] = through_symlinks(p, behind ? behind : p->v[i].path);
		if (!np[i]) {
			cannot_place(p, i);
			np[i] = xstrdup(p->v[i].path);
			rc = -1;
		}
		free(behind);
	}
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		p->v[i].path = np[i];
	}
	free(np);
	return rc;
}

static int add_implied_parents(struct plan *p)
{
	size_t n = p->n;
	int rc = 0;
	char *done = NULL; /* the last directory whose whole chain was found or added */
	for (size_t i = 0; i < n; i++) {
		char *dir = path_dirname(p->v[i].path);
		if (done && !strcmp(dir, done)) { /* sorted: siblings come together (4,000 modules, 200 dirs) */
			free(dir);
			continue;
		}
		free(done);
		done = xstrdup(dir);
		while (strcmp(dir, "/")) {
			const struct plan_entry *e = find_sorted(p->v, n, dir);
			if (e && e->kind != PK_DIR) {
				struct strbuf a = STRBUF_INIT;
				describe(&a, e);
				diag_error(p->v[i].loc.file ? &p->v[i].loc : NULL, NULL,
					   "%s needs %s to be a directory, but it is %s", p->v[i].path, dir, a.buf);
				sb_release(&a);
				rc = -1;
				free(done); /* report it for every entry under it, as before */
				done = NULL;
				break;
			}
			if (!e) {
				struct plan_entry *d = new_entry(p, dir, NULL, "parent directory");
				d->kind = PK_DIR;
				d->mode = S_IFDIR | 0755;
				d->implied = true;
			}
			char *up = path_dirname(dir);
			free(dir);
			dir = up;
		}
		free(dir);
	}
	free(done);
	return rc;
}

/* Two entries at one path are the same thing only if their contents are:
 * the pending files of such a run are hashed now, unless the whole run is
 * one source file (same_source).  Linear: each run is scanned twice. */
static size_t *shared_paths(const struct plan *p, size_t *n)
{
	size_t *v = xcalloc(p->n + 1, sizeof(*v));
	*n = 0;
	for (size_t a = 0, b; a < p->n; a = b) {
		bool uniform = true;
		for (b = a + 1; b < p->n && !strcmp(p->v[b].path, p->v[a].path); b++)
			uniform = uniform && same_source(&p->v[a], &p->v[b]);
		for (size_t k = a; !uniform && k < b; k++)
			if (p->v[k].kind == PK_FILE && p->v[k].src && !p->v[k].hashed)
				v[(*n)++] = k;
	}
	return v;
}

int plan_finish(struct plan *p)
{
	sort_entries(p);
	if (resolve_symlinked_parents(p) < 0) {
		p->finished = true;
		return -1; /* the parents such paths would need are the cost */
	}
	sort_entries(p);
	size_t n, *dups = shared_paths(p, &n);
	int hashed = n ? hash_entries(p, dups, n, false) : 0;
	free(dups);
	if (hashed < 0)
		return -1; /* a file with no content has no place in the plan */
	int rc = merge_duplicates(p);
	if (add_implied_parents(p) < 0)
		rc = -1;
	sort_entries(p);
	if (merge_duplicates(p) < 0)
		rc = -1;
	p->finished = true;
	return rc;
}

const struct plan_entry *plan_resolve(const struct plan *p, const char *path)
{
	char *cur = path_normalize(path);
	const struct plan_entry *e = NULL;
	for (int hops = 0; cur && hops < MAX_SYMLINK_HOPS; hops++) {
		char *through = through_symlinks(p, cur);
		free(cur);
		cur = through;
		if (!cur)
			break;
		e = find_sorted(p->v, p->n, cur);
		if (!e || e->kind != PK_SYMLINK)
			break;
		char *dir = path_dirname(cur);
		char *next = e->target[0] == '/' ? xstrdup(e->target) : path_join(dir, e->target);
		free(dir);
		free(cur);
		cur = path_normalize(next);
		free(next);
		e = NULL;
	}
	free(cur);
	return e;
}
