/* cas.c — the content-addressed cache: objects, the stat index, resolver
 * memos, segment paths, and `rdc cache`.
 *
 * Nothing here trusts what it reads back.  An index entry is used only when
 * the file's identity (dev, inode, size, mtime, ctime) is unchanged and the
 * entry is not "racy" (the file changed too close to the moment it was hashed
 * for the timestamps to tell a later edit apart, as git's racy-clean rule);
 * an object is re-hashed each time it is streamed into an image; a memo is
 * re-validated against every input it names. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include "cache/cas.h"
#include "cache/remote.h"
#include "lib/diag.h"

#define RACY_NS 2000000000LL /* coarse filesystem clocks tick in jiffies; 2 s is safe */
/* Version 2: every index line and every memo carries an XXH3-64 checksum of
 * itself, checked on load (a damaged one is a miss, rebuilt, never used). */
#define INDEX_MAGIC "rdc-index 2\n"
#define MEMO_MAGIC "rdc-memo 2\n"

struct ident {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
};

struct index_entry {
	char *path; /* NULL: empty slot */
	struct ident id;
	int64_t hashed_ns; /* when the content was hashed */
	struct cas_hash hash;
};

struct cas {
	char *dir;
	/* Guards the index: files are hashed on several threads, and emit's
	 * segment threads record what they streamed. */
	pthread_mutex_t lock;
	struct index_entry *slots;
	size_t nslots, used;
	bool loaded, dirty;
	size_t index_damaged; /* lines dropped when the index was loaded */
	int lockfd;           /* <dir>/lock, flocked shared (gc: exclusive); -1: none */
	struct strbuf *collect; /* cas_memo_collect: every memo's inputs, for the build record */
};

/* ---- hashing ---------------------------------------------------------- */

static void hash_from_xxh(XXH128_hash_t x, struct cas_hash *h)
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, x);
	memcpy(h->b, c.digest, 16);
}

void cas_hash_data(const void *data, size_t len, struct cas_hash *h)
{
	hash_from_xxh(XXH3_128bits(data, len), h);
}

void cas_hash_hex(const struct cas_hash *h, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[h->b[i] >> 4];
		out[2 * i + 1] = hex[h->b[i] & 15];
	}
	out[32] = 0;
}

bool cas_hash_parse(const char *s, struct cas_hash *h)
{
	for (int i = 0; i < 32; i++) {
		int c = s[i], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return false;
		h->b[i / 2] = (uint8_t)(i % 2 ? (h->b[i / 2] | v) : v << 4);
	}
	return true;
}

/* Hash an open file from its current offset to EOF. */
static int hash_fd(int fd, struct cas_hash *h, uint64_t *size)
{
	XXH3_state_t *st = XXH3_createState();
	XXH3_128bits_reset(st);
	static const size_t chunk = 1 << 20;
	char *buf = xmalloc(chunk);
	uint64_t total = 0;
	ssize_t n;
	while ((n = read(fd, buf, chunk)) > 0) {
		XXH3_128bits_update(st, buf, n);
		total += n;
	}
	if (n == 0) {
		hash_from_xxh(XXH3_128bits_digest(st), h);
		if (size)
			*size = total;
	}
	free(buf);
	XXH3_freeState(st);
	return n == 0 ? 0 : -1;
}

/* ---- identities ------------------------------------------------------- */

static int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec; }

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return ts_ns(t);
}

static void ident_of(const struct stat *st, struct ident *id)
{
	*id = (struct ident){ st->st_dev, st->st_ino, (uint64_t)st->st_size, ts_ns(st->st_mtim),
			      ts_ns(st->st_ctim) };
}

static bool ident_eq(const struct ident *a, const struct ident *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns;
}

/* ---- the stat index --------------------------------------------------- */

static size_t slot_of(const struct cas *c, const char *path)
{
	size_t i = XXH3_64bits(path, strlen(path)) & (c->nslots - 1);
	while (c->slots[i].path && strcmp(c->slots[i].path, path))
		i = (i + 1) & (c->nslots - 1);
	return i;
}

static void index_rehash(struct cas *c, size_t nslots)
{
	struct index_entry *old = c->slots;
	size_t oldn = c->nslots;
	c->slots = xcalloc(nslots, sizeof(*c->slots));
	c->nslots = nslots;
	for (size_t i = 0; i < oldn; i++)
		if (old[i].path)
			c->slots[slot_of(c, old[i].path)] = old[i];
	free(old);
}

static void index_load(struct cas *c);

static void index_set(struct cas *c, const char *path, const struct ident *id, int64_t hashed_ns,
		      const struct cas_hash *h)
{
	index_load(c);
	if ((c->used + 1) * 2 > c->nslots)
		index_rehash(c, c->nslots ? c->nslots * 2 : 1024);
	struct index_entry *e = &c->slots[slot_of(c, path)];
	if (!e->path) {
		e->path = xstrdup(path);
		c->used++;
	}
	e->id = *id;
	e->hashed_ns = hashed_ns;
	e->hash = *h;
	c->dirty = true;
}

static uint64_t sum64(const void *p, size_t n) { return XXH3_64bits(p, n); }

/* One line per entry: sum hash dev ino size mtime ctime hashed path, `sum`
 * being the checksum of the rest of the line.  Paths with a newline are
 * simply never indexed.  Damaged lines are dropped and counted. */
static void index_load(struct cas *c)
{
	if (c->loaded)
		return;
	c->loaded = true; /* index_set below must not come back here */
	char *path = path_join(c->dir, "index");
	struct strbuf sb = STRBUF_INIT;
	size_t bad = 0;
	if (read_file(path, &sb) == 0 && sb.len >= strlen(INDEX_MAGIC) &&
	    !memcmp(sb.buf, INDEX_MAGIC, strlen(INDEX_MAGIC))) {
		char *line = sb.buf + strlen(INDEX_MAGIC), *end;
		for (; (end = memchr(line, '\n', sb.buf + sb.len - line)); line = end + 1) {
			*end = 0;
			char hex[33];
			struct ident id;
			int64_t hashed;
			int off = 0;
			struct cas_hash h;
			uint64_t sum;
			char *rest;
			if (strlen(line) != (size_t)(end - line) || (sum = strtoull(line, &rest, 16), rest != line + 16) ||
			    *rest != ' ' || sum != sum64(rest + 1, (size_t)(end - rest - 1))) {
				bad++;
				continue;
			}
			if (sscanf(rest + 1, "%32s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %n",
				   hex, &id.dev, &id.ino, &id.size, &id.mtime_ns, &id.ctime_ns, &hashed, &off) == 7 &&
			    off > 0 && cas_hash_parse(hex, &h) && rest[1 + off] == '/')
				index_set(c, rest + 1 + off, &id, hashed, &h);
			else
				bad++;
		}
	}
	c->dirty = bad > 0; /* saving drops the damaged lines */
	c->index_damaged = bad;
	sb_release(&sb);
	free(path);
}

static void index_save(struct cas *c)
{
	struct strbuf sb = STRBUF_INIT, line = STRBUF_INIT;
	sb_adds(&sb, INDEX_MAGIC);
	for (size_t i = 0; i < c->nslots; i++) {
		const struct index_entry *e = &c->slots[i];
		char hex[33];
		if (!e->path)
			continue;
		cas_hash_hex(&e->hash, hex);
		sb_reset(&line); /* "HASH DEV INO SIZE MTIME_NS CTIME_NS HASHED_NS PATH" */
		sb_add(&line, hex, 32);
		const uint64_t u[] = { e->id.dev, e->id.ino, e->id.size };
		for (size_t k = 0; k < 3; k++)
			sb_addch(&line, ' '), sb_add_num(&line, u[k], 10);
		const int64_t t[] = { e->id.mtime_ns, e->id.ctime_ns, e->hashed_ns };
		for (size_t k = 0; k < 3; k++)
			sb_addch(&line, ' '), sb_add_signed(&line, t[k]);
		sb_addch(&line, ' ');
		sb_adds(&line, e->path);
		sb_add_hex64(&sb, sum64(line.buf, line.len));
		sb_addch(&sb, ' ');
		sb_add(&sb, line.buf, line.len); /* not through %s: the lines are most of the index */
		sb_addch(&sb, '\n');
	}
	char *path = path_join(c->dir, "index");
	if (write_file_atomic(path, sb.buf, sb.len, 0644) < 0)
		diag_warn(NULL, NULL, "cannot save the cache index %s: %s", path, strerror(errno));
	free(path);
	sb_release(&sb);
	sb_release(&line);
}

/* ---- open / close ----------------------------------------------------- */

static char *default_dir(void)
{
	const char *env = getenv("RDC_CACHE_DIR");
	if (env && *env)
		return xstrdup(env);
	env = getenv("XDG_CACHE_HOME");
	if (env && *env == '/')
		return path_join(env, "rdc");
	env = getenv("HOME");
	if (env && *env)
		return xasprintf("%s/.cache/rdc", env);
	return NULL;
}

/* Every user of the cache holds a shared flock on <dir>/lock from open to
 * close; `rdc cache gc` takes it exclusively, so it never removes what a
 * running build has put into the plan and not yet read back (gc beside
 * running builds made them fail: generated content missing).  A cache
 * that cannot hold the file (read-only) goes unlocked. */
static struct cas *open_dir(char *d, bool create)
{
	struct cas *c = xcalloc(1, sizeof(*c));
	c->dir = d;
	pthread_mutex_init(&c->lock, NULL);
	char *lock = path_join(d, "lock");
	c->lockfd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0), 0644);
	struct stat st;
	if (c->lockfd >= 0 && (fstat(c->lockfd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(c->lockfd);
		c->lockfd = -1;
	}
	if (c->lockfd >= 0)
		while (flock(c->lockfd, LOCK_SH) < 0 && errno == EINTR)
			;
	free(lock);
	return c;
}

struct cas *cas_open_existing(const char *dir)
{
	char *d = dir ? xstrdup(dir) : default_dir();
	struct stat st;
	if (!d || stat(d, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(d);
		return NULL;
	}
	return open_dir(d, false);
}

struct cas *cas_open_why(const char *dir, struct strbuf *why)
{
	char *d = dir ? xstrdup(dir) : default_dir();
	if (!d) {
		sb_adds(why, "no cache directory: set RDC_CACHE_DIR or HOME");
		return NULL;
	}
	static const char *const subdirs[] = { "objects", "memo", "segments" };
	for (size_t i = 0; i < 3; i++) {
		char *sub = path_join(d, subdirs[i]);
		int rc = mkdir_p(sub, 0755);
		free(sub);
		if (rc < 0) {
			sb_addf(why, "cannot create the cache in %s: %s", d, strerror(errno));
			free(d);
			return NULL;
		}
	}
	return open_dir(d, true); /* the index is read when first needed: memos and probes do without it */
}

struct cas *cas_open(const char *dir)
{
	struct strbuf why = STRBUF_INIT;
	struct cas *c = cas_open_why(dir, &why);
	if (!c)
		diag_error(NULL, NULL, "%s", why.buf);
	sb_release(&why);
	return c;
}

void cas_close(struct cas *c)
{
	if (!c)
		return;
	if (c->dirty)
		index_save(c);
	remote_finish(c->dir); /* uploads end here, after the output's rename */
	for (size_t i = 0; i < c->nslots; i++)
		free(c->slots[i].path);
	free(c->slots);
	pthread_mutex_destroy(&c->lock);
	if (c->lockfd >= 0)
		close(c->lockfd); /* releases the flock */
	free(c->dir);
	free(c);
}

const char *cas_dir(const struct cas *c) { return c->dir; }

/* ---- objects ---------------------------------------------------------- */

char *cas_object_path(const struct cas *c, const struct cas_hash *h)
{
	char hex[33];
	cas_hash_hex(h, hex);
	return xasprintf("%s/objects/%.2s/%s", c->dir, hex, hex + 2);
}

char *cas_segment_path(const struct cas *c, const struct cas_hash *key)
{
	char hex[33];
	cas_hash_hex(key, hex);
	return xasprintf("%s/segments/%s", c->dir, hex);
}

/* Objects are read-only and dated 1970 so that a gen_init_cpio list naming
 * them builds the same bytes as rdc (gen_init_cpio takes a file's mtime).
 * -1 with errno, silently: the caller says which content, at its line. */
static int object_write(struct cas *c, const struct cas_hash *h, const void *data, size_t len)
{
	char *path = cas_object_path(c, h), *dir = path_dirname(path);
	struct atomic_file af;
	int rc = mkdir_p(dir, 0755);
	if (rc == 0)
		rc = atomic_open(&af, path);
	if (rc == 0) {
		static const struct timespec epoch[2] = { { 0, 0 }, { 0, 0 } };
		if (write_all(af.fd, data, len) < 0 || futimens(af.fd, epoch) < 0) {
			atomic_abort(&af);
			rc = -1;
		} else {
			rc = atomic_commit(&af, 0444);
		}
	}
	int err = errno;
	free(path);
	free(dir);
	errno = err;
	return rc;
}

/* An index entry says "this source has that content": the object it names
 * must at least be a regular file of the source's size, or the entry names
 * some other object (damage, a stale entry) and the source is hashed again.
 * The content itself is re-hashed where it ships (cas_stream_close, and
 * cas_put_file for lists). */
static bool object_fits(const struct cas *c, const struct cas_hash *h, uint64_t size)
{
	char *path = cas_object_path(c, h);
	struct stat st;
	bool ok = lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
	free(path);
	return ok;
}

int cas_put_blob(struct cas *c, const void *data, size_t len, struct cas_hash *h)
{
	cas_hash_data(data, len, h);
	return object_fits(c, h, len) ? 0 : object_write(c, h, data, len);
}

static const struct index_entry *index_hit(struct cas *c, const char *src, const struct ident *id)
{
	index_load(c);
	if (!c->nslots)
		return NULL;
	const struct index_entry *e = &c->slots[slot_of(c, src)];
	bool racy = e->path && (e->id.mtime_ns > e->hashed_ns - RACY_NS || e->id.ctime_ns > e->hashed_ns - RACY_NS);
	return e->path && !racy && ident_eq(&e->id, id) ? e : NULL;
}

/* Stream `src` into a temporary object while hashing it, then rename it to
 * its name: memory stays flat whatever the file's size.  With `expect`, the
 * object is only (re)placed when the content hashes to it (repair); returns 1
 * on a mismatch.  *id gets the identity of the file as opened.  On -1 *why
 * says what failed, the source or the cache: either way the caller reports
 * it at the manifest line that named the source. */
static int stream_in(struct cas *c, const char *src, const struct cas_hash *expect, struct cas_hash *h,
		     struct ident *id, struct strbuf *why)
{
	struct stat st;
	int in = open_regular(src, &st), rc = -1;
	struct atomic_file af = { .fd = -1 };
	char *stage = path_join(c->dir, "objects/incoming");
	if (in < 0) { /* the source's fault: the caller says where it came from */
		sb_addf(why, "cannot read %s: %s", src, read_strerror(errno));
		goto out;
	}
	if (atomic_open(&af, stage) < 0) {
		sb_addf(why, "cannot store %s in the cache: %s (%s)", src, strerror(errno), stage);
		goto out;
	}
	ident_of(&st, id);
	XXH3_state_t *x = XXH3_createState();
	XXH3_128bits_reset(x);
	static const size_t chunk = 1 << 20;
	char *buf = xmalloc(chunk);
	ssize_t n;
	int werr = 0; /* the cache's failure, as opposed to the source's (n < 0) */
	while ((n = read(in, buf, chunk)) > 0) {
		if (write_all(af.fd, buf, n) < 0) {
			werr = errno;
			break;
		}
		XXH3_128bits_update(x, buf, n);
	}
	int rerr = n < 0 ? errno : 0;
	free(buf);
	hash_from_xxh(XXH3_128bits_digest(x), h);
	XXH3_freeState(x);
	static const struct timespec epoch[2] = { { 0, 0 }, { 0, 0 } };
	if (!rerr && !werr && futimens(af.fd, epoch) < 0)
		werr = errno;
	if (rerr || werr) {
		if (rerr)
			sb_addf(why, "cannot read %s: %s", src, read_strerror(rerr));
		else
			sb_addf(why, "cannot store %s in the cache: %s", src, strerror(werr));
		atomic_abort(&af);
		goto out;
	}
	if (expect && memcmp(h, expect, sizeof(*h))) {
		atomic_abort(&af);
		rc = 1;
		goto out;
	}
	char *obj = cas_object_path(c, h), *dir = path_dirname(obj);
	if (!expect && access(obj, F_OK) == 0) { /* already there: keep the old one */
		atomic_abort(&af);
		rc = 0;
	} else {
		free(af.path);
		af.path = xstrdup(obj);
		rc = mkdir_p(dir, 0755) == 0 && atomic_commit(&af, 0444) == 0 ? 0 : -1;
		if (rc < 0)
			sb_addf(why, "cannot store %s in the cache: %s (%s)", src, strerror(errno), obj);
		if (af.tmp)
			atomic_abort(&af);
	}
	free(obj);
	free(dir);
out:
	if (in >= 0)
		close(in);
	free(stage);
	return rc;
}

static int open_if_intact(const char *path, const struct cas_hash *h)
{
	struct stat st;
	int fd = open_regular(path, &st); /* a FIFO planted in the cache is damage, not a wait */
	struct cas_hash got;
	if (fd < 0)
		return -1;
	if (hash_fd(fd, &got, NULL) == 0 && !memcmp(&got, h, sizeof(got)) && lseek(fd, 0, SEEK_SET) == 0)
		return fd;
	close(fd);
	return -1;
}

/* Hash and store a file whose identity was `before`.  A file that changes
 * while being read is an error rather than a silently mixed image. */
static int ingest(struct cas *c, const char *src, const struct ident *before, struct cas_hash *h,
		  struct strbuf *why)
{
	int64_t hashed_ns = now_ns();
	struct ident opened, after;
	struct stat st;
	if (stream_in(c, src, NULL, h, &opened, why) < 0)
		return -1;
	if (stat(src, &st) < 0 || (ident_of(&st, &after), !ident_eq(&after, before)) || !ident_eq(&opened, before)) {
		sb_addf(why, "%s changed while rdc was reading it", src);
		return -1;
	}
	if (src[0] == '/' && !strchr(src, '\n')) {
		pthread_mutex_lock(&c->lock);
		index_set(c, src, before, hashed_ns, h);
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

int cas_put_file(struct cas *c, const char *src, struct cas_hash *h, uint64_t *size, struct strbuf *why)
{
	struct stat st;
	if (stat(src, &st) < 0) {
		sb_addf(why, "cannot read %s: %s", src, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		sb_addf(why, "%s is not a regular file", src);
		return -1;
	}
	struct ident id;
	ident_of(&st, &id);
	*size = id.size;
	char *abs = src[0] == '/' ? xstrdup(src) : realpath(src, NULL);
	/* Safe on several threads at once: only the index lookup and update
	 * are locked; the copy goes to a private temporary name. */
	pthread_mutex_lock(&c->lock);
	const struct index_entry *e = abs ? index_hit(c, abs, &id) : NULL;
	bool known = e != NULL;
	if (known)
		*h = e->hash;
	pthread_mutex_unlock(&c->lock);
	/* A list names the object itself (gen_init_cpio reads it): one that is
	 * damaged is replaced from the source, which still matches the index. */
	bool intact = false;
	if (known && object_fits(c, h, id.size)) {
		char *obj = cas_object_path(c, h);
		int fd = open_if_intact(obj, h);
		intact = fd >= 0;
		if (fd >= 0)
			close(fd);
		else {
			char hex[33];
			cas_hash_hex(h, hex);
			unlink(obj);
			diag_warn(NULL, NULL, "cache object %s was damaged; restored it from %s", hex, src);
		}
		free(obj);
	}
	int rc = intact ? 0 : ingest(c, abs ? abs : src, &id, h, why);
	free(abs);
	return rc;
}

/* ---- sources straight into images ------------------------------------ */

/* The index's key for src: absolute (relative sources are rare: the
 * manifest's own files), NULL when it has none. */
static char *index_key(const char *src)
{
	char *abs = src[0] == '/' ? xstrdup(src) : realpath(src, NULL);
	if (abs && strchr(abs, '\n')) { /* one line per entry: never indexed */
		free(abs);
		abs = NULL;
	}
	return abs;
}

int cas_index_lookup(struct cas *c, const char *src, const struct stat *st, struct cas_hash *h)
{
	struct ident id;
	ident_of(st, &id);
	char *key = index_key(src);
	pthread_mutex_lock(&c->lock);
	const struct index_entry *e = key ? index_hit(c, key, &id) : NULL;
	if (e)
		*h = e->hash;
	pthread_mutex_unlock(&c->lock);
	free(key);
	return e != NULL;
}

static void index_record(struct cas *c, const char *src, const struct ident *id, int64_t hashed_ns,
			 const struct cas_hash *h)
{
	char *key = index_key(src);
	if (key) {
		pthread_mutex_lock(&c->lock);
		index_set(c, key, id, hashed_ns, h);
		pthread_mutex_unlock(&c->lock);
	}
	free(key);
}

int cas_hash_file(struct cas *c, const char *src, struct cas_hash *h, uint64_t *size, struct strbuf *why)
{
	int64_t hashed_ns = now_ns();
	struct stat st;
	struct ident before, after;
	int fd = open_regular(src, &st);
	if (fd < 0) {
		if (errno == EINVAL)
			sb_addf(why, "%s is not a regular file", src);
		else
			sb_addf(why, "cannot read %s: %s", src, strerror(errno));
		return -1;
	}
	ident_of(&st, &before);
	int rc = hash_fd(fd, h, size);
	if (rc < 0)
		sb_addf(why, "cannot read %s: %s", src, strerror(errno));
	else if (fstat(fd, &st) < 0 || (ident_of(&st, &after), !ident_eq(&before, &after)) || *size != before.size) {
		sb_addf(why, "%s changed while rdc was reading it", src);
		rc = -1;
	}
	close(fd);
	if (rc == 0)
		index_record(c, src, &before, hashed_ns, h);
	return rc;
}

/* The stream's hash state lives behind a void pointer so that cas.h needs
 * no xxhash.h. */
int cas_stream_open(struct cas *c, struct cas_stream *s, const char *src, const struct cas_hash *expect,
		    uint64_t size, struct strbuf *why)
{
	memset(s, 0, sizeof(*s));
	s->src = src;
	s->known = expect != NULL;
	if (expect)
		s->expect = *expect;
	s->left = size;
	s->opened_ns = now_ns();
	char *obj = src ? NULL : cas_object_path(c, expect);
	s->fd = open_regular(src ? src : obj, &s->before); /* a source swapped for a FIFO must not hang us */
	int err = errno;
	free(obj);
	if (s->fd < 0) {
		if (src)
			sb_addf(why, "cannot read %s: %s", src, strerror(err));
		else
			s->damaged = true;
		return src ? -1 : cas_stream_close(c, s, NULL, why);
	}
	if ((uint64_t)s->before.st_size != size) {
		if (src)
			sb_addf(why, "%s changed while rdc was reading it (its size is now %jd bytes, not %ju)", src,
				(intmax_t)s->before.st_size, (uintmax_t)size);
		else
			s->damaged = true;
		close(s->fd);
		s->fd = -1;
		return src ? -1 : cas_stream_close(c, s, NULL, why);
	}
	XXH3_state_t *x = XXH3_createState();
	XXH3_128bits_reset(x);
	s->state = x;
	return 0;
}

void cas_stream_abandon(struct cas_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->state)
		XXH3_freeState(s->state);
	s->state = NULL;
}

ssize_t cas_stream_read(struct cas_stream *s, void *buf, size_t n)
{
	if (n > s->left)
		n = s->left;
	ssize_t got = n ? read(s->fd, buf, n) : 0;
	if (got > 0) {
		XXH3_128bits_update(s->state, buf, (size_t)got);
		s->left -= (uint64_t)got;
	}
	return got;
}

/* The bytes streamed are the image's only if they hash to what the plan (and
 * so every key) says, and the file did not change while it was read; a
 * source the index did not know is recorded now.  A damaged object (inline
 * content) is removed, so the next build writes it afresh. */
int cas_stream_close(struct cas *c, struct cas_stream *s, struct cas_hash *got, struct strbuf *why)
{
	struct cas_hash h = { 0 };
	struct stat after;
	bool complete = s->fd >= 0 && s->left == 0;
	if (s->state) {
		hash_from_xxh(XXH3_128bits_digest(s->state), &h);
		XXH3_freeState(s->state);
		s->state = NULL;
	}
	struct ident before, now;
	ident_of(&s->before, &before);
	bool changed = s->fd >= 0 && (fstat(s->fd, &after) < 0 || (ident_of(&after, &now), !ident_eq(&before, &now)));
	bool wrong = s->known && memcmp(&h, &s->expect, sizeof(h));
	if (wrong && s->adopt && s->src && !changed && complete) {
		/* The index was wrong (or the file was edited, keeping its
		 * identity, before it was opened): what was read is the file's
		 * content, read whole and unchanged, and the caller keys its
		 * output after writing it.  The index learns the truth. */
		wrong = false;
		s->known = false;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	int rc = 0;
	char hex[33];
	cas_hash_hex(&s->expect, hex);
	if (s->src && (changed || !complete || wrong)) {
		sb_addf(why, "%s changed while rdc was reading it", s->src);
		if (wrong && !changed) /* the index was wrong about it: hash it afresh next time */
			index_record(c, s->src, &before, 0, &s->expect);
		rc = -1;
	} else if (!s->src && (s->damaged || changed || !complete || wrong)) {
		char *obj = cas_object_path(c, &s->expect);
		unlink(obj);
		free(obj);
		sb_addf(why, "cache object %s (generated content) was missing or damaged: removed it; run the build again",
			hex);
		rc = -1;
	} else if (s->src && !s->known) {
		index_record(c, s->src, &before, s->opened_ns, &h);
	}
	if (rc == 0 && got)
		*got = h;
	return rc;
}

/* ---- memos ------------------------------------------------------------ */

/* A dependency record: "<len> <path> <identity>\n".  The identity covers the
 * entry itself (lstat) and, for a symlink, what it points at. */
/* dev:ino:size:mtime:ctime */
static void add_ident(struct strbuf *out, const struct stat *st)
{
	sb_add_num(out, (uint64_t)st->st_dev, 10);
	sb_addch(out, ':');
	sb_add_num(out, (uint64_t)st->st_ino, 10);
	sb_addch(out, ':');
	sb_add_num(out, (uint64_t)st->st_size, 10);
	sb_addch(out, ':');
	sb_add_signed(out, ts_ns(st->st_mtim));
	sb_addch(out, ':');
	sb_add_signed(out, ts_ns(st->st_ctim));
}

static bool racy_since(const struct stat *st, int64_t since_ns)
{
	return since_ns && (ts_ns(st->st_mtim) > since_ns - RACY_NS || ts_ns(st->st_ctim) > since_ns - RACY_NS);
}

/* Appends path's identity; true when it (or what a symlink points at)
 * changed after since_ns - RACY_NS (since_ns 0: no racy rule). */
static bool ident_text_lst(const char *path, const struct stat *lst, struct strbuf *out, int64_t since_ns,
			   struct stat *last)
{
	struct stat st = *lst;
	bool racy = racy_since(&st, since_ns);
	sb_add_num(out, (unsigned long)st.st_mode, 8);
	sb_addch(out, ':');
	add_ident(out, &st);
	if (S_ISLNK(st.st_mode)) {
		if (stat(path, &st) < 0) {
			sb_adds(out, ">-");
			return racy;
		}
		sb_addch(out, '>');
		add_ident(out, &st);
		racy |= racy_since(&st, since_ns);
	}
	*last = st;
	return racy;
}

static bool ident_text_st(const char *path, struct strbuf *out, int64_t since_ns, struct stat *last)
{
	struct stat st;
	memset(last, 0, sizeof(*last));
	if (lstat(path, &st) < 0) {
		sb_adds(out, "-");
		return false;
	}
	return ident_text_lst(path, &st, out, since_ns, last);
}

/* A record's "<len> <path> " (no printf: 4,000 of them at a whole kernel). */
static void dep_head(struct strbuf *out, const char *path)
{
	size_t n = strlen(path);
	sb_add_num(out, n, 10);
	sb_addch(out, ' ');
	sb_add(out, path, n);
	sb_addch(out, ' ');
}

static bool ident_text(const char *path, struct strbuf *out, int64_t since_ns)
{
	struct stat last;
	return ident_text_st(path, out, since_ns, &last);
}

void memo_note_own(struct strbuf *deps, const char *path)
{
	dep_head(deps, path);
	ident_text(path, deps, 0);
	sb_addch(deps, '\n');
}

/* An input changed within RACY_NS of now may change again without its
 * identity showing it (coarse timestamps, same size): such a note gets a mark
 * no later identity carries, so the memo misses until the input has settled
 * — git's racy-clean rule, as for the stat index. */
void memo_note(struct strbuf *deps, const char *path)
{
	memo_note_since(deps, path, now_ns());
}

void memo_note_since(struct strbuf *deps, const char *path, int64_t since_ns)
{
	dep_head(deps, path);
	if (ident_text(path, deps, since_ns))
		sb_adds(deps, "~racy");
	sb_addch(deps, '\n');
}

void memo_note_lstat(struct strbuf *deps, const char *path, const struct stat *lst)
{
	struct stat last;
	dep_head(deps, path);
	if (ident_text_lst(path, lst, deps, now_ns(), &last))
		sb_adds(deps, "~racy");
	sb_addch(deps, '\n');
}

/* One use: its identity now, marked racy when that is not the identity
 * the build used (a memo's line, the dev/inode a source was read from). */
static void note_use(struct strbuf *out, struct memo_use *u, int64_t since_ns, int64_t now)
{
	dep_head(out, u->path);
	size_t at = out->len;
	struct stat last;
	if (ident_text_st(u->path, out, since_ns, &last))
		u->racy = ts_ns(last.st_mtim) > now || ts_ns(last.st_ctim) > now ? MEMO_FUTURE : MEMO_RECENT;
	if (u->differ || (u->id && (u->idlen != out->len - at || memcmp(u->id, out->buf + at, u->idlen))) ||
	    (u->read && ((uint64_t)last.st_dev != u->dev || (uint64_t)last.st_ino != u->ino)))
		u->racy = MEMO_SWAPPED;
	if (u->racy)
		sb_adds(out, "~racy");
	sb_addch(out, '\n');
}

/* A whole kernel's record notes 4,000 paths, a stat each: in chunks on all
 * cores, each into its own buffer, joined in order. */
#define NOTE_CHUNK 512
struct note_job {
	struct memo_use *uses;
	size_t n, nchunks;
	int64_t since_ns, now;
	struct strbuf *out; /* one per chunk */
	_Atomic size_t next;
};

static void *note_worker(void *arg)
{
	struct note_job *j = arg;
	for (size_t c; (c = atomic_fetch_add(&j->next, 1)) < j->nchunks;)
		for (size_t i = c * NOTE_CHUNK; i < j->n && i < (c + 1) * NOTE_CHUNK; i++)
			note_use(&j->out[c], &j->uses[i], j->since_ns, j->now);
	return NULL;
}

void memo_note_used(struct strbuf *deps, struct memo_use *uses, size_t n, int64_t since_ns)
{
	struct note_job j = { .uses = uses, .n = n, .nchunks = (n + NOTE_CHUNK - 1) / NOTE_CHUNK, .since_ns = since_ns,
			      .now = now_ns() };
	j.out = xcalloc(j.nchunks ? j.nchunks : 1, sizeof(*j.out));
	run_parallel(note_worker, &j, 0, j.nchunks);
	for (size_t c = 0; c < j.nchunks; c++) {
		sb_add(deps, sb_str(&j.out[c]), j.out[c].len);
		sb_release(&j.out[c]);
	}
	free(j.out);
}

void memo_note_many(struct strbuf *deps, const char *const *paths, size_t n, int64_t since_ns)
{
	struct memo_use *u = xcalloc(n ? n : 1, sizeof(*u));
	for (size_t i = 0; i < n; i++)
		u[i].path = paths[i];
	memo_note_used(deps, u, n, since_ns);
	free(u);
}

bool memo_deps_racy(const struct strbuf *deps)
{
	return deps->len && memmem(deps->buf, deps->len, "~racy\n", 6);
}

/* The end of the dependency record at p (the start of the next), or NULL
 * when it is not one. */
static const char *dep_next(const char *p, const char *end, const char **path, const char **id)
{
	char *sp;
	if (p >= end || *p < '0' || *p > '9') /* strtoul takes spaces and a sign ("-1": ULONG_MAX) */
		return NULL;
	errno = 0;
	unsigned long n = strtoul(p, &sp, 10);
	if (sp == p || errno || *sp != ' ' || (size_t)(end - sp) < n + 2 || memchr(sp + 1, 0, n))
		return NULL;
	const char *nl = memchr(sp + 2 + n, '\n', (size_t)(end - (sp + 2 + n)));
	*path = sp + 1; /* it ends at *id - 1 */
	*id = sp + 2 + n;
	return nl ? nl + 1 : NULL;
}

/* Re-check the identities recorded in [p, end); `why` gets the first path
 * that differs.  Gives up early (its answer then unused) once *stop. */
static bool deps_range(const char *p, const char *end, struct strbuf *why, _Atomic bool *stop)
{
	struct strbuf now = STRBUF_INIT, path = STRBUF_INIT;
	bool ok = true;
	while (ok && p < end && !(stop && *stop)) {
		const char *pp, *id, *next = dep_next(p, end, &pp, &id);
		if (!next) {
			ok = false;
			break;
		}
		size_t len = (size_t)(id - pp - 1), idlen = (size_t)(next - 1 - id);
		sb_reset(&path);
		sb_add(&path, pp, len);
		sb_reset(&now);
		ident_text(path.buf, &now, 0);
		ok = idlen == now.len && !memcmp(id, now.buf, now.len);
		if (!ok)
			sb_addf(why, "%s %s", path.buf, idlen >= 5 && !memcmp(next - 6, "~racy", 5) ?
				"had changed too recently to be trusted" : "changed");
		p = next;
	}
	sb_release(&path);
	sb_release(&now);
	return ok;
}

/* A whole kernel's memo or record is 4,000 identities, a stat each (2 us
 * on a VM): checked in chunks on all cores. */
#define DEPS_CHUNK 512
struct deps_job {
	const char **cut; /* chunk i is cut[i] .. cut[i + 1] */
	size_t nchunks;
	_Atomic size_t next;
	_Atomic bool failed;
	pthread_mutex_t lock;
	struct strbuf why;
};

static void *deps_worker(void *arg)
{
	struct deps_job *j = arg;
	struct strbuf why = STRBUF_INIT;
	for (size_t i; !j->failed && (i = atomic_fetch_add(&j->next, 1)) < j->nchunks;) {
		if (deps_range(j->cut[i], j->cut[i + 1], &why, &j->failed))
			continue;
		pthread_mutex_lock(&j->lock);
		if (!j->why.len) /* the first path found to differ */
			sb_add(&j->why, why.buf, why.len);
		j->failed = true;
		pthread_mutex_unlock(&j->lock);
	}
	sb_release(&why);
	return NULL;
}

/* Re-check every recorded identity; `why` gets the path that differs. */
static bool deps_current(const char *p, const char *end, struct strbuf *why)
{
	struct deps_job j = { .lock = PTHREAD_MUTEX_INITIALIZER, .why = STRBUF_INIT };
	size_t n = 0, alloc = 0;
	for (const char *q = p, *path, *id; q < end; n++) {
		if (n % DEPS_CHUNK == 0) {
			GROW(j.cut, j.nchunks + 2, alloc);
			j.cut[j.nchunks++] = q;
		}
		if (!(q = dep_next(q, end, &path, &id))) {
			free(j.cut);
			sb_adds(why, "it is damaged");
			return false;
		}
	}
	bool ok;
	if (j.nchunks < 2) {
		ok = deps_range(p, end, why, NULL);
	} else {
		j.cut[j.nchunks] = end;
		run_parallel(deps_worker, &j, 0, j.nchunks);
		ok = !j.failed;
		sb_add(why, sb_str(&j.why), j.why.len);
	}
	free(j.cut);
	sb_release(&j.why);
	pthread_mutex_destroy(&j.lock);
	return ok;
}

static char *memo_path(struct cas *c, const char *ns, const char *key)
{
	char hex[33];
	struct cas_hash h;
	cas_hash_data(key, strlen(key), &h);
	cas_hash_hex(&h, hex);
	return xasprintf("%s/memo/%s/%s", c->dir, ns, hex);
}

/* File: magic, "<keylen> <deplen> <payloadlen> <sum>\n", key, deps, payload;
 * `sum` is the XXH3-64 of key, deps and payload.  Returns 1 and the parts
 * when the file is whole and undamaged. */
static bool memo_parse(const struct strbuf *sb, const char **k, size_t *kl, const char **d, size_t *dl,
		       const char **pay, size_t *pl)
{
	size_t ml = strlen(MEMO_MAGIC);
	uint64_t sum;
	int off = 0;
	if (sb->len <= ml || memcmp(sb->buf, MEMO_MAGIC, ml) ||
	    sscanf(sb->buf + ml, "%zu %zu %zu %" SCNx64 "\n%n", kl, dl, pl, &sum, &off) != 4 || off <= 0)
		return false;
	size_t body = sb->len - ml - (size_t)off;
	if (*kl > body || *dl > body - *kl || *pl != body - *kl - *dl)
		return false;
	*k = sb->buf + ml + off;
	*d = *k + *kl;
	*pay = *d + *dl;
	return sum64(*k, body) == sum;
}

#define MEMO_MAX (64u << 20) /* closures of thousands of files are a few MiB */

static void collect_deps(struct cas *c, const char *d, size_t dl)
{
	pthread_mutex_lock(&c->lock);
	if (c->collect)
		sb_add(c->collect, d, dl);
	pthread_mutex_unlock(&c->lock);
}

void cas_memo_seen(struct cas *c, const struct strbuf *deps)
{
	collect_deps(c, sb_str(deps), deps->len);
}

void cas_memo_collect(struct cas *c, struct strbuf *sink)
{
	pthread_mutex_lock(&c->lock);
	c->collect = sink;
	pthread_mutex_unlock(&c->lock);
}

void memo_deps_each(const char *d, size_t dl, memo_dep_fn *fn, void *ctx)
{
	const char *path, *id, *next;
	for (const char *p = d, *end = d + dl; p < end && (next = dep_next(p, end, &path, &id)); p = next)
		fn(ctx, path, (size_t)(id - path - 1), id, (size_t)(next - 1 - id));
}

void memo_deps_paths(const char *d, size_t dl, struct strlist *out)
{
	const char *path, *id;
	for (const char *p = d, *end = d + dl; p < end && (p = dep_next(p, end, &path, &id));)
		sl_push_owned(out, xstrndup(path, (size_t)(id - path - 1)));
}

int cas_memo_get(struct cas *c, const char *ns, const char *key, struct strbuf *payload)
{
	return cas_memo_get_why(c, ns, key, payload, NULL);
}

int cas_memo_get_why(struct cas *c, const char *ns, const char *key, struct strbuf *payload, struct strbuf *why)
{
	char *path = memo_path(c, ns, key);
	struct strbuf sb = STRBUF_INIT, ignored = STRBUF_INIT;
	int hit = 0;
	const char *k, *d, *pay;
	size_t kl, dl, pl;
	if (!why)
		why = &ignored;
	if (read_file_max(path, &sb, MEMO_MAX) < 0)
		sb_adds(why, errno == ENOENT ? "there is none" : "it cannot be read");
	else if (!memo_parse(&sb, &k, &kl, &d, &dl, &pay, &pl))
		sb_adds(why, "it is damaged");
	else if (kl != strlen(key) || memcmp(k, key, kl))
		sb_adds(why, "it is another's");
	else if (deps_current(d, d + dl, why)) {
		/* the payload moves to the front of the buffer read, which is
		 * handed over: no second copy of megabytes */
		collect_deps(c, d, dl);
		memmove(sb.buf, pay, pl);
		sb.len = pl;
		sb.buf[pl] = '\0';
		sb_release(payload);
		*payload = sb;
		sb = (struct strbuf)STRBUF_INIT;
		hit = 1;
	}
	sb_release(&sb);
	sb_release(&ignored);
	free(path);
	return hit;
}

int cas_memo_put(struct cas *c, const char *ns, const char *key, const struct strbuf *deps,
		 const struct strbuf *payload)
{
	char *path = memo_path(c, ns, key), *dir = path_dirname(path);
	/* Written piece by piece, never copied whole: a whole kernel's module
	 * memo is megabytes, and two copies of it were a build's peak memory. */
	collect_deps(c, sb_str(deps), deps->len);
	const void *piece[3] = { key, sb_str(deps), sb_str(payload) };
	size_t len[3] = { strlen(key), deps->len, payload->len };
	XXH3_state_t *x = XXH3_createState();
	XXH3_64bits_reset(x);
	for (int i = 0; i < 3; i++)
		XXH3_64bits_update(x, piece[i], len[i]);
	char *head = xasprintf(MEMO_MAGIC "%zu %zu %zu %016" PRIx64 "\n", len[0], len[1], len[2], XXH3_64bits_digest(x));
	XXH3_freeState(x);
	struct atomic_file af;
	int rc = mkdir_p(dir, 0755) == 0 && atomic_open(&af, path) == 0 ? 0 : -1;
	if (rc == 0) {
		rc = write_all(af.fd, head, strlen(head));
		for (int i = 0; i < 3 && rc == 0; i++)
			rc = write_all(af.fd, piece[i], len[i]);
		if (rc == 0)
			rc = atomic_commit(&af, 0644);
		else
			atomic_abort(&af);
	}
	free(head);
	free(path);
	free(dir);
	return rc; /* a memo that could not be written only costs time later */
}

static bool memo_intact(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	const char *k, *d, *pay;
	size_t kl, dl, pl;
	bool ok = read_file_max(path, &sb, MEMO_MAX) == 0 && memo_parse(&sb, &k, &kl, &d, &dl, &pay, &pl);
	sb_release(&sb);
	return ok;
}

/* ---- what rdc cache shows: the store counts, cli/cache.c prints --------- */

enum ckind { CK_OBJECT, CK_SEGMENT, CK_MEMO, CK_TEMP, CK_NKINDS };
_Static_assert(CK_NKINDS == CAS_NKINDS, "cas.h's kinds are these");
const char *const cas_kind_names[CAS_NKINDS] = { "objects", "segments", "memos", "temp" };

struct cfile {
	char *path;
	uint64_t size;
	int64_t mtime_ns;
	enum ckind kind;
	bool odd; /* not a regular file */
};

struct cwalk {
	struct cas *c;
	struct cfile *v;
	size_t n, alloc;
};
static struct cwalk *g_walk; /* nftw has no user pointer */

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type != FTW_F && type != FTW_SL && type != FTW_SLN)
		return 0;
	struct cwalk *w = g_walk;
	const char *rel = path + strlen(w->c->dir);
	enum ckind k = strstr(rel, ".rdc-tmp.")      ? CK_TEMP
		       : !strncmp(rel, "/objects/", 9)  ? CK_OBJECT
		       : !strncmp(rel, "/segments/", 10) ? CK_SEGMENT
		       : !strncmp(rel, "/memo/", 6)      ? CK_MEMO
							 : CK_NKINDS;
	if (k == CK_NKINDS)
		return 0; /* the index itself */
	GROW(w->v, w->n + 1, w->alloc);
	/* only rdc's own regular files belong here: a symlink, FIFO or device
	 * node is damage (opening a FIFO would wait for ever) */
	w->v[w->n++] = (struct cfile){ xstrdup(path), (uint64_t)st->st_size, ts_ns(st->st_mtim), k,
				       !S_ISREG(st->st_mode) };
	return 0;
}

static int cache_scan(struct cas *c, struct cwalk *w)
{
	*w = (struct cwalk){ .c = c };
	g_walk = w;
	if (nftw(c->dir, walk_one, 16, FTW_PHYS) < 0) {
		diag_error(NULL, NULL, "cannot read the cache %s: %s", c->dir, strerror(errno));
		return -1;
	}
	return 0;
}

static void cache_scan_free(struct cwalk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].path);
	free(w->v);
}

static bool object_intact(const char *path)
{
	const char *slash = strrchr(path, '/');
	char hex[33];
	struct cas_hash h;
	if (!slash || slash - path < 2 || strlen(slash + 1) != 30)
		return false;
	memcpy(hex, slash - 2, 2);
	memcpy(hex + 2, slash + 1, 31);
	if (!cas_hash_parse(hex, &h))
		return false;
	int fd = open_if_intact(path, &h);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

static bool segment_intact(const char *path)
{
	struct stat st;
	int fd = open_regular(path, &st);
	if (fd < 0)
		return false;
	bool ok = false;
	unsigned char tail[16];
	if (st.st_size >= 16 && pread(fd, tail, 16, st.st_size - 16) == 16) {
		XXH3_state_t *x = XXH3_createState();
		XXH3_128bits_reset(x);
		static const size_t chunk = 1 << 20;
		char *buf = xmalloc(chunk);
		uint64_t left = (uint64_t)st.st_size - 16;
		ssize_t n = 1;
		while (left && (n = read(fd, buf, left < chunk ? left : chunk)) > 0) {
			XXH3_128bits_update(x, buf, (size_t)n);
			left -= (uint64_t)n;
		}
		struct cas_hash h;
		hash_from_xxh(XXH3_128bits_digest(x), &h);
		ok = !left && !memcmp(h.b, tail, 16);
		free(buf);
		XXH3_freeState(x);
	}
	close(fd);
	return ok;
}

/* An entry's claim, checked against the source itself: images are read
 * from sources, so an entry whose (unchanged) source no longer hashes to it
 * would only fail builds.  A source that changed is a stale entry, not
 * damage. */
static bool entry_lies(const struct index_entry *e)
{
	struct stat st;
	struct ident now;
	if (stat(e->path, &st) < 0 || (ident_of(&st, &now), !ident_eq(&now, &e->id)))
		return false;
	int fd = open_regular(e->path, &st);
	struct cas_hash got;
	uint64_t size;
	bool lies = fd >= 0 && hash_fd(fd, &got, &size) == 0 && memcmp(&got, &e->hash, sizeof(got));
	if (fd >= 0)
		close(fd);
	return lies;
}

/* Damaged index lines were dropped on load; an entry naming an object that
 * is there but cannot hold the source's content names the wrong one, and
 * so does one its source does not hash to. */
static uint64_t index_verify(struct cas *c, struct strlist *damaged)
{
	index_load(c);
	uint64_t bad = c->index_damaged;
	if (bad)
		sl_push_owned(damaged, xasprintf("%s/index: %zu line%s (dropped)", c->dir, c->index_damaged,
						 c->index_damaged == 1 ? "" : "s"));
	for (size_t i = 0; i < c->nslots; i++) {
		struct index_entry *e = &c->slots[i];
		char *obj = e->path ? cas_object_path(c, &e->hash) : NULL;
		struct stat st;
		if (obj && ((lstat(obj, &st) == 0 && !object_fits(c, &e->hash, e->id.size)) || entry_lies(e))) {
			sl_push_owned(damaged, xasprintf("%s/index: the entry for %s names %s (dropped)", c->dir, e->path, obj));
			free(e->path);
			*e = (struct index_entry){ 0 };
			c->used--;
			c->dirty = true;
			bad++;
		}
		free(obj);
	}
	if (c->dirty)
		index_rehash(c, c->nslots);
	return bad;
}

static void cache_verify(struct cwalk *w, struct strlist *damaged)
{
	for (size_t i = 0; i < w->n; i++) {
		struct cfile *f = &w->v[i];
		bool ok = f->odd ? false
			: f->kind == CK_OBJECT ? object_intact(f->path)
			: f->kind == CK_SEGMENT ? segment_intact(f->path)
			: f->kind == CK_MEMO ? memo_intact(f->path) : true;
		if (!ok) {
			sl_push_owned(damaged, xasprintf("%s (removed)", f->path));
			unlink(f->path);
		}
	}
	index_verify(w->c, damaged);
}

/* Index entries whose source changed or vanished are dead; the objects the
 * remaining ones name are what current sources still use. */
static void index_prune(struct cas *c)
{
	index_load(c);
	for (size_t i = 0; i < c->nslots; i++) {
		struct index_entry *e = &c->slots[i];
		struct stat st;
		struct ident id;
		if (!e->path || (stat(e->path, &st) == 0 && (ident_of(&st, &id), ident_eq(&id, &e->id))))
			continue;
		free(e->path);
		*e = (struct index_entry){ 0 };
		c->used--;
		c->dirty = true;
	}
	index_rehash(c, c->nslots); /* close the holes left in probe chains */
}


static int cmp_oldest(const void *a, const void *b)
{
	const struct cfile *x = a, *y = b;
	return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns ? 1 : strcmp(x->path, y->path);
}

/* Everything in the cache can be recreated, so gc is only about space:
 * first what no current input uses (objects of changed sources, stale
 * temporaries), then — to get under --max-size — the oldest segments and
 * memos, then any object. */
static void cache_gc(struct cwalk *w, uint64_t max_size, struct cas_gc *g)
{
	struct cas *c = w->c;
	uint64_t total = 0, freed = 0, nfreed = 0, *nkind = g->removed_by_kind;
	int64_t stale_tmp = now_ns() - 3600LL * 1000000000LL; /* a live build may still own younger ones */
	index_prune(c);
	struct strlist live = STRLIST_INIT;
	for (size_t i = 0; i < c->nslots; i++)
		if (c->slots[i].path)
			sl_push_owned(&live, cas_object_path(c, &c->slots[i].hash));
	sl_sort(&live);
	for (size_t i = 0; i < w->n; i++)
		total += w->v[i].size;
	if (w->n)
		qsort(w->v, w->n, sizeof(*w->v), cmp_oldest);
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < w->n; i++) {
			struct cfile *f = &w->v[i];
			bool drop;
			if (!f->path)
				continue;
			if (pass == 0)
				drop = f->kind == CK_TEMP ? f->mtime_ns < stale_tmp
				       : f->kind == CK_OBJECT ? !sl_has_sorted(&live, f->path)
							      : false;
			else
				drop = max_size != UINT64_MAX && total > max_size && f->kind != CK_TEMP &&
				       (pass == 2 || f->kind != CK_OBJECT);
			if (drop && unlink(f->path) == 0) {
				total -= f->size;
				freed += f->size;
				nfreed++;
				nkind[f->kind]++;
				free(f->path);
				f->path = NULL;
			}
		}
	}
	sl_release(&live);
	g->removed = nfreed;
	g->freed = freed;
	g->remain = total;
}

/* gc waits for the builds that have the cache open (their shared locks). */
static void lock_exclusive(struct cas *c)
{
	if (c->lockfd < 0)
		return;
	if (flock(c->lockfd, LOCK_EX | LOCK_NB) == 0)
		return;
	fprintf(stderr, "rdc cache gc: waiting for the builds using %s\n", c->dir);
	while (flock(c->lockfd, LOCK_EX) < 0 && errno == EINTR)
		;
}

int cas_stats(struct cas *c, struct cas_stats *st)
{
	struct cwalk w;
	*st = (struct cas_stats){ 0 };
	if (cache_scan(c, &w) < 0)
		return -1;
	for (size_t i = 0; i < w.n; i++) {
		st->files[w.v[i].kind]++;
		st->bytes[w.v[i].kind] += w.v[i].size;
		st->total += w.v[i].size;
	}
	index_load(c);
	st->index_entries = c->used;
	cache_scan_free(&w);
	return 0;
}

int cas_verify(struct cas *c, struct strlist *damaged, size_t *checked)
{
	struct cwalk w;
	if (cache_scan(c, &w) < 0)
		return -1;
	cache_verify(&w, damaged);
	*checked = w.n;
	cache_scan_free(&w);
	return 0;
}

int cas_gc(struct cas *c, uint64_t max_size, struct cas_gc *g)
{
	struct cwalk w;
	*g = (struct cas_gc){ 0 };
	lock_exclusive(c);
	if (cache_scan(c, &w) < 0)
		return -1;
	cache_gc(&w, max_size, g);
	cache_scan_free(&w);
	return 0;
}

char *cas_default_dir(void)
{
	return default_dir();
}
