/* remote.c — remote storage backends (HTTP with libcurl, Redis with
 * hiredis) behind the local cache; see remote.h for what travels and why.
 *
 * The syntax is ccache's: backends separated by whitespace, each a URL with
 * attributes after `|` (ccache >= 4.10 writes them as whitespace-separated
 * words, optionally with `@`: both are read).  Entries are named
 * "<32 hex>.seg"; over HTTP the `subdirs` layout (the
 * default) puts them at URL/ab/cdef..., `flat` at URL/abcdef...; in Redis the
 * key is "rdc:<name>".
 *
 * Both libraries are dlopen()ed on the first local miss: linked, they cost
 * about 3 ms of every start (a no-op build is ~2 ms), and a build that
 * hits its local cache never needs them. */
#define CURL_DISABLE_TYPECHECK /* curl_easy_setopt is called through a pointer */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include "cache/remote.h"
#include "lib/diag.h"
#include "lib/util.h"

#define CONNECT_MS_DEFAULT 100 /* ccache's defaults */
#define OPERATION_MS_DEFAULT 10000
#define UPLOAD_THREADS 2
#define STATS_FILE "remote-stats"

/* ---- the libraries, opened on first use -------------------------------- */

#define CURL_FUNCS(X)                                                                       \
	X(curl_global_init) X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_perform)          \
	X(curl_easy_getinfo) X(curl_easy_cleanup) X(curl_easy_reset) X(curl_easy_strerror)     \
	X(curl_slist_append) X(curl_slist_free_all)
#define REDIS_FUNCS(X) X(redisConnectWithTimeout) X(redisSetTimeout) X(redisCommandArgv) X(freeReplyObject) X(redisFree)

#define LIB_SLOT(f) __typeof__(&f) f;
static struct {
	CURL_FUNCS(LIB_SLOT)
} cu;
static struct {
	REDIS_FUNCS(LIB_SLOT)
} rd;
#undef LIB_SLOT

/* Binds names[i] into slots[i]; false (with a warning) when any is missing. */
static bool lib_bind(const char *soname, const char *const *names, void **slots, size_t n)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		diag_warn(NULL, "install it (Debian: libcurl4, libhiredis0.14) or unset RDC_REMOTE_STORAGE",
			  "remote storage needs %s: %s; building locally", soname, dlerror());
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!(slots[i] = dlsym(h, names[i]))) {
			diag_warn(NULL, NULL, "%s has no %s; remote storage is off", soname, names[i]);
			dlclose(h);
			return false;
		}
	return true;
}

#define LIB_NAME(f) #f,
static bool curl_open(void)
{
	static const char *const names[] = { CURL_FUNCS(LIB_NAME) };
	if (!lib_bind(RDC_CURL_SONAME, names, (void **)&cu, sizeof(names) / sizeof(*names)))
		return false;
	return cu.curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static bool redis_open(void)
{
	static const char *const names[] = { REDIS_FUNCS(LIB_NAME) };
	return lib_bind(RDC_HIREDIS_SONAME, names, (void **)&rd, sizeof(names) / sizeof(*names));
}
#undef LIB_NAME

/* ---- backends ----------------------------------------------------------- */

enum scheme { SCHEME_HTTP, SCHEME_REDIS };

struct backend {
	char *url; /* as configured, for messages */
	enum scheme scheme;
	char *base;                    /* http: the URL without a trailing '/' */
	char *bearer;                  /* http: ccache's bearer-token */
	char *host, *user, *password; /* redis */
	int port, db;
	bool flat, read_only;
	long connect_ms, operation_ms;
	atomic_bool down;      /* failed: not asked again this run */
	atomic_bool no_writes; /* refused a write */
	atomic_bool warned;
	atomic_uint damaged;
	pthread_mutex_t lock; /* guards the idle connections and first_damaged */
	void **idle;
	size_t nidle, aidle;
	char first_damaged[40];
};

static struct {
	pthread_once_t once;
	struct backend *b;
	size_t n;
	atomic_bool touched;
	atomic_uint_fast64_t hits, misses, errors, bytes_in, uploads, bytes_out;
	/* uploads, drained by background threads */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct upload *q;
	size_t qhead, qn, qalloc;
	bool closing;
	pthread_t threads[UPLOAD_THREADS];
	int nthreads;
} R = { .once = PTHREAD_ONCE_INIT, .qlock = PTHREAD_MUTEX_INITIALIZER, .qcond = PTHREAD_COND_INITIALIZER };

struct upload {
	char name[40];
	char *path;
	struct cas_hash key;
	uint64_t to; /* a bit per backend to write */
};
#define MAX_BACKENDS 64

/* The first failure of a backend is warned about and ends its use for this
 * run: a remote that is down costs one timeout, not one per entry. */
static void backend_failed(struct backend *b, bool writing, const char *why)
{
	R.errors++;
	atomic_store(writing ? &b->no_writes : &b->down, true);
	if (!atomic_exchange(&b->warned, true))
		diag_warn(NULL, NULL, "remote storage %s: %s; %s", b->url, why,
			  writing ? "not writing to it in this build" : "not using it in this build, building locally");
}

static bool parse_ms(const char *v, long *out)
{
	char *end;
	errno = 0;
	long n = v && *v >= '0' && *v <= '9' ? strtol(v, &end, 10) : -1;
	if (n <= 0 || errno) /* 0 would mean "no limit" to libcurl */
		return false;
	if (!strcmp(end, "s"))
		n *= 1000;
	else if (*end && strcmp(end, "ms"))
		return false;
	*out = n;
	return true;
}

static const char *const attr_names[] = { "read-only", "connect-timeout", "operation-timeout", "layout", "bearer-token" };

/* One attribute (`key` or `key=value`, ccache's names). */
static bool backend_attr(struct backend *b, const char *attr, const char *origin)
{
	char *key = xstrdup(attr[0] == '@' ? attr + 1 : attr), *val = strchr(key, '=');
	if (val)
		*val++ = 0;
	bool ok = true;
	if (!strcmp(key, "read-only")) {
		ok = !val || !strcmp(val, "true") || !strcmp(val, "false");
		b->read_only = !val || !strcmp(val, "true");
	} else if (!strcmp(key, "connect-timeout"))
		ok = parse_ms(val, &b->connect_ms);
	else if (!strcmp(key, "operation-timeout"))
		ok = parse_ms(val, &b->operation_ms);
	else if (!strcmp(key, "layout") && b->scheme == SCHEME_HTTP) {
		ok = val && (!strcmp(val, "subdirs") || !strcmp(val, "flat"));
		b->flat = ok && !strcmp(val, "flat");
	} else if (!strcmp(key, "bearer-token") && b->scheme == SCHEME_HTTP) {
		ok = val && *val;
		free(b->bearer);
		b->bearer = ok ? xstrdup(val) : NULL;
	} else {
		const char *near = diag_closest(key, attr_names, sizeof(attr_names) / sizeof(*attr_names));
		char hint[64];
		snprintf(hint, sizeof(hint), "did you mean '%s'?", near ? near : "");
		diag_warn(NULL, near ? hint : "known: read-only, connect-timeout=MS, operation-timeout=MS, layout=subdirs|flat and bearer-token=T (http)",
			  "%s: remote storage %s: unknown attribute '%s'; ignoring this backend", origin, b->url, key);
		free(key);
		return false;
	}
	if (!ok)
		diag_warn(NULL, "timeouts are milliseconds (100, 100ms or 2s); layout is subdirs or flat; read-only takes true or false",
			  "%s: remote storage %s: bad value for '%s'; ignoring this backend", origin, b->url, key);
	free(key);
	return ok;
}

/* redis://[[user:]password@]host[:port][/db] */
static bool parse_redis(struct backend *b, const char *rest)
{
	const char *at = strchr(rest, '@'), *hp = at ? at + 1 : rest;
	if (at) {
		char *cred = xstrndup(rest, at - rest), *colon = strchr(cred, ':');
		if (colon) {
			*colon = 0;
			b->user = xstrdup(cred);
			b->password = xstrdup(colon + 1);
		} else
			b->password = xstrdup(cred);
		free(cred);
	}
	size_t hl = strcspn(hp, ":/");
	b->host = xstrndup(hp, hl);
	b->port = 6379;
	const char *p = hp + hl;
	char *end;
	if (*p == ':') {
		long port = strtol(p + 1, &end, 10);
		if (end == p + 1 || port <= 0 || port > 65535)
			return false;
		b->port = (int)port;
		p = end;
	}
	if (*p == '/' && p[1]) {
		long db = strtol(p + 1, &end, 10);
		if (end == p + 1 || *end || db < 0)
			return false;
		b->db = (int)db;
	} else if (*p && strcmp(p, "/"))
		return false;
	return *b->host != 0;
}

/* The URL for messages: CI logs are read by many, so a password in it
 * (http://user:pw@host, redis://pw@host) is shown as ***. */
static char *url_shown(const char *url)
{
	const char *rest = strstr(url, "://"), *at = rest ? strchr(rest + 3, '@') : NULL;
	if (!at || memchr(rest + 3, '/', at - rest - 3))
		return xstrdup(url);
	return xasprintf("%.*s***%s", (int)(rest + 3 - url), url, at);
}

static bool backend_init(struct backend *b, const char *url)
{
	*b = (struct backend){ .url = url_shown(url), .connect_ms = CONNECT_MS_DEFAULT, .operation_ms = OPERATION_MS_DEFAULT };
	if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)) {
		b->scheme = SCHEME_HTTP;
		b->base = xstrdup(url);
		size_t host = (size_t)(strstr(url, "://") + 3 - url); /* "http://" alone: no host to strip to */
		for (size_t l = strlen(b->base); l > host && b->base[l - 1] == '/'; l--)
			b->base[l - 1] = 0;
		return b->base[host] && b->base[host] != '/';
	}
	if (!strncmp(url, "redis://", 8)) {
		b->scheme = SCHEME_REDIS;
		return parse_redis(b, url + 8);
	}
	return false;
}

static void backend_release(struct backend *b)
{
	for (size_t i = 0; i < b->nidle; i++) {
		if (b->scheme == SCHEME_HTTP)
			cu.curl_easy_cleanup(b->idle[i]);
		else
			rd.redisFree(b->idle[i]);
	}
	free(b->idle);
	free(b->url);
	free(b->base);
	free(b->bearer);
	free(b->host);
	free(b->user);
	free(b->password);
}

/* ---- settings ------------------------------------------------------------- */

static char *config_path(void)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (x && *x == '/')
		return xasprintf("%s/rdc/rdc.conf", x);
	return home && *home ? xasprintf("%s/.config/rdc/rdc.conf", home) : NULL;
}

/* Where the setting came from: the environment, or rdc.conf's line and the
 * column of the value's first byte, so that each backend's warning can name
 * its own place (as "PATH:LINE:COL: ...", never echoing the line: it may
 * hold a password). */
struct origin {
	char *name; /* RDC_REMOTE_STORAGE or rdc.conf's path */
	int line, col; /* 0: the environment */
	const char *value;
};

/* "PATH:LINE:COL" of the word at `at` in the value, or the variable's name. */
static char *origin_of(const struct origin *o, const char *at)
{
	if (!o->line)
		return xstrdup(o->name);
	return xasprintf("%s:%d:%d", o->name, o->line, o->col + (int)(at - o->value));
}

/* `key = value` lines, `#` comments; the environment wins over the file. */
static char *settings(struct origin *o)
{
	const char *env = getenv("RDC_REMOTE_STORAGE");
	if (env) {
		o->name = xstrdup("RDC_REMOTE_STORAGE");
		return xstrdup(env);
	}
	char *path = config_path(), *value = NULL;
	struct strbuf sb = STRBUF_INIT;
	o->name = path;
	if (!path || read_file(path, &sb) < 0)
		return NULL;
	int lineno = 0;
	for (char *line = sb.buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		lineno++;
		char *eq = strchr(line, '='), *k = line + strspn(line, " \t");
		if (!*k || *k == '#')
			continue;
		size_t kl = eq ? strcspn(k, " \t=") : 0;
		if (kl == strlen("remote_storage") && !strncmp(k, "remote_storage", kl)) {
			free(value);
			value = xstrdup(eq + 1);
			o->line = lineno;
			o->col = (int)(eq + 1 - line) + 1;
		} else {
			struct loc loc = { path, lineno, (int)(k - line) + 1 };
			diag_warn(&loc, "rdc.conf knows: remote_storage = URL...", "unknown setting; ignored");
		}
	}
	sb_release(&sb);
	return value;
}

static void backend_warn_bad(const char *origin, const char *url)
{
	char *shown = url_shown(url);
	diag_warn(NULL, "backends are http://HOST[:PORT]/PATH or redis://HOST[:PORT][/DB], with |ATTR=VALUE after them",
		  "%s: remote storage '%s' is not a URL rdc can use; ignoring it", origin, shown);
	free(shown);
}

/* Parse the setting into R.b; a backend with a bad URL or attribute is
 * dropped with a warning (the build still works, locally). */
static void parse_backends(char *value, struct origin *o)
{
	o->value = value;
	size_t alloc = 0;
	bool skipping = false; /* the attributes of a dropped backend */
	for (char *p = value; *p; p++)
		if (*p == '|') /* ccache reads `|` as a space too */
			*p = ' ';
	char *save = NULL;
	for (char *tok = strtok_r(value, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
		char *origin = origin_of(o, tok);
		if (strstr(tok, "://") && R.n == MAX_BACKENDS) {
			diag_warn(NULL, NULL, "%s: more than %d remote storage backends; ignoring the rest", origin, MAX_BACKENDS);
			free(origin);
			break;
		}
		if (strstr(tok, "://")) {
			GROW(R.b, R.n + 1, alloc);
			skipping = !backend_init(&R.b[R.n], tok);
			if (skipping) {
				backend_warn_bad(origin, tok);
				backend_release(&R.b[R.n]);
			} else
				R.n++;
		} else if (!skipping && !R.n) {
			backend_warn_bad(origin, tok);
			skipping = true;
		} else if (!skipping && !backend_attr(&R.b[R.n - 1], tok, origin)) {
			backend_release(&R.b[--R.n]);
			skipping = true;
		}
		free(origin);
	}
}

/* Drops the backends of a scheme whose library cannot be loaded. */
static void drop_scheme(enum scheme s)
{
	size_t k = 0;
	for (size_t i = 0; i < R.n; i++)
		if (R.b[i].scheme == s)
			backend_release(&R.b[i]);
		else
			R.b[k++] = R.b[i];
	R.n = k;
}

static void remote_init(void)
{
	struct origin o = { 0 };
	char *value = settings(&o);
	if (value)
		parse_backends(value, &o);
	free(value);
	free(o.name);
	bool http = false, redis = false;
	for (size_t i = 0; i < R.n; i++) {
		http |= R.b[i].scheme == SCHEME_HTTP;
		redis |= R.b[i].scheme == SCHEME_REDIS;
	}
	if (http && !curl_open())
		drop_scheme(SCHEME_HTTP);
	if (redis && !redis_open())
		drop_scheme(SCHEME_REDIS);
	for (size_t i = 0; i < R.n; i++) /* the array no longer moves */
		pthread_mutex_init(&R.b[i].lock, NULL);
}

static bool remote_ready(void)
{
	pthread_once(&R.once, remote_init);
	return R.n > 0;
}

/* ---- connections: one per thread at a time, kept for reuse ------------------ */

static struct timeval ms_tv(long ms) { return (struct timeval){ ms / 1000, (ms % 1000) * 1000 }; }

/* A reply, or NULL with *why set (a transport failure or an error reply). */
static redisReply *redis_cmd(redisContext *ctx, int argc, const char **argv, const size_t *lens, bool *refused,
			     struct strbuf *why)
{
	redisReply *r = rd.redisCommandArgv(ctx, argc, argv, lens);
	*refused = false;
	if (!r) {
		sb_addf(why, "%s", ctx->errstr[0] ? ctx->errstr : "no reply");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		sb_addf(why, "%s answered %s", argv[0], r->str);
		*refused = true;
		rd.freeReplyObject(r);
		return NULL;
	}
	return r;
}

static redisContext *redis_connect(struct backend *b, struct strbuf *why)
{
	redisContext *ctx = rd.redisConnectWithTimeout(b->host, b->port, ms_tv(b->connect_ms));
	if (!ctx || ctx->err) {
		sb_addf(why, "cannot connect to %s:%d: %s", b->host, b->port, ctx ? ctx->errstr : "out of memory");
		if (ctx)
			rd.redisFree(ctx);
		return NULL;
	}
	rd.redisSetTimeout(ctx, ms_tv(b->operation_ms));
	char db[16];
	snprintf(db, sizeof(db), "%d", b->db);
	const char *auth[] = { "AUTH", b->user ? b->user : b->password, b->password }, *sel[] = { "SELECT", db };
	size_t alen[] = { 4, strlen(auth[1] ? auth[1] : ""), b->password ? strlen(b->password) : 0 }, slen[] = { 6, strlen(db) };
	bool refused;
	redisReply *r = NULL;
	if ((b->password && !(r = redis_cmd(ctx, b->user ? 3 : 2, auth, alen, &refused, why))) ||
	    (r && (rd.freeReplyObject(r), 0)) || (b->db && !(r = redis_cmd(ctx, 2, sel, slen, &refused, why)))) {
		rd.redisFree(ctx);
		return NULL;
	}
	if (b->db)
		rd.freeReplyObject(r);
	return ctx;
}

static void *conn_take(struct backend *b, struct strbuf *why)
{
	void *h = NULL;
	pthread_mutex_lock(&b->lock);
	if (b->nidle)
		h = b->idle[--b->nidle];
	pthread_mutex_unlock(&b->lock);
	if (h)
		return h;
	if (b->scheme == SCHEME_REDIS)
		return redis_connect(b, why);
	if (!(h = cu.curl_easy_init()))
		sb_adds(why, "cannot start libcurl");
	return h;
}

static void conn_give(struct backend *b, void *h)
{
	pthread_mutex_lock(&b->lock);
	GROW(b->idle, b->nidle + 1, b->aidle);
	b->idle[b->nidle++] = h;
	pthread_mutex_unlock(&b->lock);
}

static void conn_drop(struct backend *b, void *h)
{
	if (!h)
		return;
	if (b->scheme == SCHEME_HTTP)
		cu.curl_easy_cleanup(h);
	else
		rd.redisFree(h);
}

/* ---- HTTP ------------------------------------------------------------------- */

static char *http_url(const struct backend *b, const char *name)
{
	return b->flat ? xasprintf("%s/%s", b->base, name) : xasprintf("%s/%.2s/%s", b->base, name, name + 2);
}

/* curl_easy_reset keeps the handle's live connection: keep-alive for free. */
static void http_setup(struct backend *b, CURL *h, const char *url)
{
	cu.curl_easy_reset(h);
	cu.curl_easy_setopt(h, CURLOPT_URL, url);
	cu.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* several threads */
	cu.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, b->connect_ms);
	cu.curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, b->operation_ms);
	cu.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (b->bearer) {
		cu.curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		cu.curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, b->bearer);
	}
}

struct fd_io {
	int fd;
	uint64_t n;
	const unsigned char *tail; /* sent after the file */
	size_t tlen, toff;
	bool eof;
	uint64_t max; /* GET: more than this is refused (a broken or hostile server must not fill the disk) */
};

static size_t to_fd(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fd_io *io = arg;
	size_t n = size * nmemb;
	if (io->n + n > io->max || write_all(io->fd, p, n) < 0)
		return 0;
	io->n += n;
	return n;
}

static size_t from_fd(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fd_io *io = arg;
	size_t want = size * nmemb;
	if (!io->eof) {
		ssize_t n = read(io->fd, p, want);
		if (n < 0)
			return CURL_READFUNC_ABORT;
		if (n > 0)
			return (size_t)n;
		io->eof = true;
	}
	size_t k = io->tlen - io->toff < want ? io->tlen - io->toff : want;
	memcpy(p, io->tail + io->toff, k);
	io->toff += k;
	return k;
}

/* 1: the entry is in fd, 0: the server has none, -1: failed (why). */
static int http_get(struct backend *b, CURL *h, const char *name, int fd, uint64_t max, uint64_t *n,
		    struct strbuf *why)
{
	char *url = http_url(b, name);
	struct fd_io io = { .fd = fd, .max = max };
	http_setup(b, h, url);
	cu.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_fd);
	cu.curl_easy_setopt(h, CURLOPT_WRITEDATA, &io);
	CURLcode rc = cu.curl_easy_perform(h);
	long status = 0;
	cu.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	free(url);
	*n = io.n;
	if (rc == CURLE_WRITE_ERROR && io.n + CURL_MAX_WRITE_SIZE > max)
		sb_addf(why, "GET sent more than %" PRIu64 " bytes, more than the entry can hold", max);
	else if (rc != CURLE_OK)
		sb_addf(why, "GET failed: %s", cu.curl_easy_strerror(rc));
	else if (status != 200 && status != 404)
		sb_addf(why, "GET answered HTTP %ld", status);
	return rc != CURLE_OK || (status != 200 && status != 404) ? -1 : status == 200;
}

/* 0: stored, 1: refused (HTTP status), -1: failed. */
static int http_put(struct backend *b, CURL *h, const char *name, struct fd_io *io, uint64_t size,
		    struct strbuf *why)
{
	char *url = http_url(b, name);
	struct curl_slist *hdr = cu.curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
	http_setup(b, h, url);
	cu.curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	cu.curl_easy_setopt(h, CURLOPT_READFUNCTION, from_fd);
	cu.curl_easy_setopt(h, CURLOPT_READDATA, io);
	cu.curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(size + io->tlen));
	cu.curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	CURLcode rc = cu.curl_easy_perform(h);
	long status = 0;
	cu.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	cu.curl_slist_free_all(hdr);
	free(url);
	if (rc != CURLE_OK) {
		sb_addf(why, "PUT failed: %s", cu.curl_easy_strerror(rc));
		return -1;
	}
	if (status < 200 || status > 299) {
		sb_addf(why, "PUT answered HTTP %ld", status);
		return 1;
	}
	return 0;
}

/* ---- Redis ---------------------------------------------------------------- */

static int redis_get(redisContext *ctx, const char *name, int fd, uint64_t max, uint64_t *n, struct strbuf *why)
{
	char *key = xasprintf("rdc:%s", name);
	const char *argv[] = { "GET", key };
	size_t lens[] = { 3, strlen(key) };
	bool refused;
	redisReply *r = redis_cmd(ctx, 2, argv, lens, &refused, why);
	free(key);
	if (!r)
		return -1;
	int rc = r->type == REDIS_REPLY_STRING;
	if (rc && r->len > max) {
		sb_addf(why, "GET returned %zu bytes, more than the entry can hold", r->len);
		rc = -1;
	} else if (rc && write_all(fd, r->str, r->len) < 0) {
		sb_addf(why, "cannot write the local cache: %s", strerror(errno));
		rc = -1;
	}
	*n = rc > 0 ? r->len : 0;
	rd.freeReplyObject(r);
	return rc;
}

/* Redis takes a value whole: the entry is read into memory first. */
static int redis_put(redisContext *ctx, const char *name, struct fd_io *io, uint64_t size, struct strbuf *why)
{
	char *key = xasprintf("rdc:%s", name), *val = xmalloc(size + io->tlen + 1);
	ssize_t got = pread(io->fd, val, size, 0);
	int rc = -1;
	if (got != (ssize_t)size)
		sb_addf(why, "cannot read the local entry: %s", got < 0 ? strerror(errno) : "short read");
	else {
		memcpy(val + size, io->tail, io->tlen);
		const char *argv[] = { "SET", key, val };
		size_t lens[] = { 3, strlen(key), size + io->tlen };
		bool refused;
		redisReply *r = redis_cmd(ctx, 3, argv, lens, &refused, why);
		rc = r ? 0 : refused ? 1 : -1;
		if (r)
			rd.freeReplyObject(r);
	}
	free(val);
	free(key);
	return rc;
}

/* ---- one entry, one backend ------------------------------------------------- */

static int backend_get(struct backend *b, const char *name, int fd, uint64_t max, uint64_t *n)
{
	struct strbuf why = STRBUF_INIT;
	void *h = conn_take(b, &why);
	int rc = !h ? -1
		 : b->scheme == SCHEME_HTTP ? http_get(b, h, name, fd, max, n, &why)
					     : redis_get(h, name, fd, max, n, &why);
	if (rc < 0) {
		conn_drop(b, h);
		backend_failed(b, false, why.buf);
	} else
		conn_give(b, h);
	sb_release(&why);
	return rc;
}

static void backend_put(struct backend *b, const char *name, struct fd_io *io, uint64_t size)
{
	struct strbuf why = STRBUF_INIT;
	void *h = conn_take(b, &why);
	int rc = !h ? -1 : b->scheme == SCHEME_HTTP ? http_put(b, h, name, io, size, &why) : redis_put(h, name, io, size, &why);
	if (rc < 0)
		conn_drop(b, h);
	else
		conn_give(b, h);
	if (rc == 0) {
		R.uploads++;
		R.bytes_out += size + io->tlen;
	} else
		backend_failed(b, rc > 0, why.buf);
	sb_release(&why);
}

static bool writable(const struct backend *b)
{
	return !b->read_only && !atomic_load(&b->down) && !atomic_load(&b->no_writes);
}

/* ---- checking what came back ------------------------------------------------ */

static bool hash_range(int fd, uint64_t len, struct cas_hash *h)
{
	XXH3_state_t *st = XXH3_createState();
	XXH3_128bits_reset(st);
	enum { CHUNK = 1 << 20 };
	char *buf = xmalloc(CHUNK);
	uint64_t off = 0;
	while (off < len) {
		ssize_t n = pread(fd, buf, len - off < CHUNK ? len - off : CHUNK, off);
		if (n <= 0)
			break;
		XXH3_128bits_update(st, buf, n);
		off += n;
	}
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	memcpy(h->b, c.digest, 16);
	free(buf);
	XXH3_freeState(st);
	return off == len;
}

/* A segment travels with a tag after its trailer, XXH3-128(key, trailer):
 * the trailer proves the bytes intact, the tag that they are the segment
 * of this key and not another one filed under its name. */
static void segment_tag(const struct cas_hash *key, const unsigned char trailer[16], struct cas_hash *tag)
{
	unsigned char both[32];
	memcpy(both, key->b, 16);
	memcpy(both + 16, trailer, 16);
	cas_hash_data(both, sizeof(both), tag);
}

static bool segment_ok(int fd, uint64_t size, const struct cas_hash *key, uint64_t *keep)
{
	unsigned char end[32];
	struct cas_hash body, tag;
	if (size < 32 || pread(fd, end, 32, size - 32) != 32 || !hash_range(fd, size - 32, &body))
		return false;
	segment_tag(key, end, &tag);
	*keep = size - 16;
	return !memcmp(body.b, end, 16) && !memcmp(tag.b, end + 16, 16);
}

static void note_damaged(struct backend *b, const char *name)
{
	R.errors++;
	if (atomic_fetch_add(&b->damaged, 1) == 0) {
		pthread_mutex_lock(&b->lock);
		snprintf(b->first_damaged, sizeof(b->first_damaged), "%s", name);
		pthread_mutex_unlock(&b->lock);
	}
	diag_info("remote storage %s: %s is damaged or not what its name says; not used", b->url, name);
}

/* ---- fetch and store ---------------------------------------------------------- */

static void entry_name(const struct cas_hash *h, const char *kind, char out[40])
{
	char hex[33];
	cas_hash_hex(h, hex);
	snprintf(out, 40, "%s.%s", hex, kind);
}

static void store(const char *name, char *path, const struct cas_hash *key, uint64_t to);

/* Download `name` into a temporary beside `path` from the first backend with
 * an intact copy, check it, and rename it into place.  The backends asked
 * before it (which had none, or a damaged one) get it uploaded. */
static bool fetch(const char *name, const char *path, const struct cas_hash *key, uint64_t max)
{
	uint64_t lacking = 0;
	char *dir = path_dirname(path);
	struct atomic_file af;
	bool ok = mkdir_p(dir, 0755) == 0 && atomic_open(&af, path) == 0;
	free(dir);
	if (!ok)
		return false;
	atomic_store(&R.touched, true);
	ok = false;
	for (size_t i = 0; i < R.n && !ok; i++) {
		struct backend *b = &R.b[i];
		uint64_t n = 0, keep = 0;
		int got = 0;
		if (atomic_load(&b->down) || ftruncate(af.fd, 0) < 0 || lseek(af.fd, 0, SEEK_SET) < 0 ||
		    (got = backend_get(b, name, af.fd, max, &n)) <= 0) {
			lacking |= (uint64_t)(got == 0) << i;
			continue;
		}
		R.bytes_in += n;
		if (segment_ok(af.fd, n, key, &keep) && ftruncate(af.fd, keep) == 0)
			ok = true;
		else {
			note_damaged(b, name);
			lacking |= (uint64_t)1 << i;
		}
	}
	if (ok && atomic_commit(&af, 0444) == 0) {
		R.hits++;
		if (lacking)
			store(name, xstrdup(path), key, lacking);
		return true;
	}
	atomic_abort(&af);
	R.misses++;
	return false;
}

static void *upload_worker(void *arg);

/* Queue an upload of the local file `path` (taken) to the backends in `to`. */
static void store(const char *name, char *path, const struct cas_hash *key, uint64_t to)
{
	bool any = false;
	for (size_t i = 0; remote_ready() && i < R.n; i++)
		any |= (to >> i & 1) && writable(&R.b[i]);
	if (!any) {
		free(path);
		return;
	}
	atomic_store(&R.touched, true);
	pthread_mutex_lock(&R.qlock);
	GROW(R.q, R.qn + 1, R.qalloc);
	struct upload *u = &R.q[R.qn++];
	*u = (struct upload){ .path = path, .key = *key, .to = to };
	snprintf(u->name, sizeof(u->name), "%s", name);
	if (R.nthreads < UPLOAD_THREADS && (size_t)R.nthreads < R.qn - R.qhead &&
	    pthread_create(&R.threads[R.nthreads], NULL, upload_worker, NULL) == 0)
		R.nthreads++;
	pthread_cond_signal(&R.qcond);
	pthread_mutex_unlock(&R.qlock);
}

static void upload_one(struct upload *u)
{
	struct stat st;
	int fd = open_regular(u->path, &st); /* a FIFO planted in the cache must not hang the upload */
	unsigned char trailer[16];
	struct cas_hash tag;
	if (fd < 0 || st.st_size < 16 || pread(fd, trailer, 16, st.st_size - 16) != 16) {
		if (fd >= 0)
			close(fd);
		return; /* gone from the local cache (gc): nothing to share */
	}
	segment_tag(&u->key, trailer, &tag);
	for (size_t i = 0; i < R.n; i++) {
		struct fd_io io = { .fd = fd, .tail = tag.b, .tlen = 16 };
		if ((u->to >> i & 1) && writable(&R.b[i]) && lseek(fd, 0, SEEK_SET) == 0)
			backend_put(&R.b[i], u->name, &io, (uint64_t)st.st_size);
	}
	close(fd);
}

static void *upload_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&R.qlock);
	for (;;) {
		while (R.qhead == R.qn && !R.closing)
			pthread_cond_wait(&R.qcond, &R.qlock);
		if (R.qhead == R.qn)
			break;
		struct upload u = R.q[R.qhead++];
		pthread_mutex_unlock(&R.qlock);
		upload_one(&u);
		free(u.path);
		pthread_mutex_lock(&R.qlock);
	}
	pthread_mutex_unlock(&R.qlock);
	return NULL;
}

bool remote_configured(void) { return remote_ready(); }

bool remote_fetch_segment(struct cas *c, const struct cas_hash *key, uint64_t max)
{
	if (!remote_ready())
		return false;
	char name[40], *path = cas_segment_path(c, key);
	entry_name(key, "seg", name);
	bool ok = fetch(name, path, key, max);
	free(path);
	return ok;
}

void remote_store_segment(struct cas *c, const struct cas_hash *key)
{
	char name[40];
	entry_name(key, "seg", name);
	store(name, cas_segment_path(c, key), key, ~(uint64_t)0);
}

/* ---- the end of a run ----------------------------------------------------- */

static void print_counts(FILE *f, const char *lead, const uint64_t v[6])
{
	char in[32], out[32];
	fprintf(f, "%s%" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " errors; %s fetched, %" PRIu64 " uploads (%s)\n",
		lead, v[0], v[1], v[2], size_text(v[3], in, sizeof(in)), v[4], size_text(v[5], out, sizeof(out)));
}

static int stats_line(char *buf, size_t len, const uint64_t v[6])
{
	return snprintf(buf, len, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", v[0], v[1],
			v[2], v[3], v[4], v[5]);
}

/* The sums of the stats file's lines; false when it cannot be read. */
static bool stats_sum(const char *path, uint64_t sum[6])
{
	struct strbuf sb = STRBUF_INIT;
	uint64_t v[6];
	memset(sum, 0, 6 * sizeof(*sum));
	bool ok = read_file(path, &sb) == 0;
	for (char *line = sb.buf, *nl; ok && line && (nl = strchr(line, '\n')); line = nl + 1)
		if (sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5]) == 6)
			for (int i = 0; i < 6; i++)
				sum[i] += v[i];
	sb_release(&sb);
	return ok;
}

/* One line per run, appended in one write() so that concurrent builds never
 * mix lines; past 64 KiB the file is folded into one line of sums (a run
 * appending in that instant may lose its line: these are statistics). */
static void stats_add(const char *cache_dir, const uint64_t v[6])
{
	char *path = path_join(cache_dir, STATS_FILE), line[160];
	/* only a regular file: never a FIFO's reader (O_NONBLOCK) or a symlink's target */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	int n = stats_line(line, sizeof(line), v);
	struct stat st;
	uint64_t sum[6];
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0 && write(fd, line, n) == n && fstat(fd, &st) == 0 && st.st_size > (64 << 10) && stats_sum(path, sum)) {
		n = stats_line(line, sizeof(line), sum);
		write_file_atomic(path, line, n, 0644);
	}
	if (fd >= 0)
		close(fd);
	free(path);
}

void remote_finish(const char *cache_dir)
{
	if (!atomic_exchange(&R.touched, false))
		return;
	pthread_mutex_lock(&R.qlock);
	R.closing = true;
	pthread_cond_broadcast(&R.qcond);
	pthread_mutex_unlock(&R.qlock);
	for (int i = 0; i < R.nthreads; i++)
		pthread_join(R.threads[i], NULL);
	R.nthreads = 0;
	R.closing = false;
	R.qhead = R.qn = 0;
	for (size_t i = 0; i < R.n; i++) {
		struct backend *b = &R.b[i];
		unsigned n = atomic_exchange(&b->damaged, 0);
		if (n)
			diag_warn(NULL, NULL, "remote storage %s: %u entr%s damaged or not what %s name said (%s%s): not used, built here%s", b->url, n,
				  n == 1 ? "y was" : "ies were", n == 1 ? "its" : "their", b->first_damaged, n > 1 ? ", ..." : "",
				  writable(b) ? " and overwritten" : "");
	}
	uint64_t v[6] = { R.hits, R.misses, R.errors, R.bytes_in, R.uploads, R.bytes_out };
	R.hits = R.misses = R.errors = R.bytes_in = R.uploads = R.bytes_out = 0;
	if (diag_verbose)
		print_counts(stderr, "rdc: remote storage: ", v);
	stats_add(cache_dir, v);
}

void remote_print_stats(const char *cache_dir)
{
	char *path = path_join(cache_dir, STATS_FILE);
	uint64_t sum[6];
	for (size_t i = 0; remote_ready() && i < R.n; i++) /* the settings, as this process reads them */
		printf("remote    %s%s%s\n", R.b[i].url, R.b[i].read_only ? " (read-only)" : "",
		       R.b[i].flat ? " (layout=flat)" : "");
	if (stats_sum(path, sum))
		print_counts(stdout, "remote    ", sum);
	free(path);
}
