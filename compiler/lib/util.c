/* util.c — memory, strbuf, string lists, atomic files, paths. */
#include "lib/util.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void oom(void)
{
	fputs("rdc: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	return sb_detach(&sb);
}

void sb_grow(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->alloc)
		return;
	size_t want = sb->alloc ? sb->alloc : 64;
	while (want < sb->len + extra + 1)
		want *= 2;
	sb->buf = xrealloc(sb->buf, want);
	sb->alloc = want;
}

void sb_add(struct strbuf *sb, const void *data, size_t len)
{
	sb_grow(sb, len);
	if (len)
		memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void sb_adds(struct strbuf *sb, const char *s) { sb_add(sb, s, strlen(s)); }
void sb_addch(struct strbuf *sb, char c) { sb_add(sb, &c, 1); }

void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	sb_grow(sb, (size_t)n);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(sb, fmt, ap);
	va_end(ap);
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

char *sb_detach(struct strbuf *sb)
{
	char *p = sb->buf ? sb->buf : xstrdup("");
	sb->buf = NULL;
	sb->len = sb->alloc = 0;
	return p;
}

void sb_release(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->alloc = 0;
}

const char *sb_str(const struct strbuf *sb) { return sb->buf ? sb->buf : ""; }

void sl_push_owned(struct strlist *sl, char *s)
{
	GROW(sl->v, sl->n + 1, sl->alloc);
	sl->v[sl->n++] = s;
}

void sl_push(struct strlist *sl, const char *s) { sl_push_owned(sl, xstrdup(s)); }

bool sl_has(const struct strlist *sl, const char *s)
{
	for (size_t i = 0; i < sl->n; i++)
		if (!strcmp(sl->v[i], s))
			return true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sl_sort(struct strlist *sl)
{
	if (sl->n)
		qsort(sl->v, sl->n, sizeof(*sl->v), cmp_str);
}

bool sl_has_sorted(const struct strlist *sl, const char *s)
{
	return sl->n && bsearch(&s, sl->v, sl->n, sizeof(*sl->v), cmp_str);
}

void sl_release(struct strlist *sl)
{
	for (size_t i = 0; i < sl->n; i++)
		free(sl->v[i]);
	free(sl->v);
	sl->v = NULL;
	sl->n = sl->alloc = 0;
}

int read_file(const char *path, struct strbuf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		sb_grow(out, 65536);
		ssize_t n = read(fd, out->buf + out->len, out->alloc - out->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->buf[out->len] = '\0';
	}
	close(fd);
	return 0;
}

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int atomic_open(struct atomic_file *af, const char *path)
{
	af->path = xstrdup(path);
	af->tmp = xasprintf("%s.rdc-tmp.XXXXXX", path);
	af->fd = mkostemp(af->tmp, O_CLOEXEC);
	if (af->fd < 0) {
		int e = errno;
		free(af->path);
		free(af->tmp);
		af->path = af->tmp = NULL;
		errno = e;
		return -1;
	}
	return 0;
}

int atomic_commit(struct atomic_file *af, unsigned mode)
{
	int rc = 0;
	if (fchmod(af->fd, mode) < 0 || close(af->fd) < 0)
		rc = -1;
	af->fd = -1;
	if (rc == 0 && rename(af->tmp, af->path) < 0)
		rc = -1;
	int e = errno;
	if (rc)
		unlink(af->tmp);
	free(af->path);
	free(af->tmp);
	af->path = af->tmp = NULL;
	errno = e;
	return rc;
}

void atomic_abort(struct atomic_file *af)
{
	if (!af->tmp)
		return;
	if (af->fd >= 0)
		close(af->fd);
	unlink(af->tmp);
	free(af->path);
	free(af->tmp);
	af->path = af->tmp = NULL;
	af->fd = -1;
}

int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	struct atomic_file af;
	if (atomic_open(&af, path) < 0)
		return -1;
	if (write_all(af.fd, data, len) < 0) {
		int e = errno;
		atomic_abort(&af);
		errno = e;
		return -1;
	}
	return atomic_commit(&af, mode);
}

int mkdir_p(const char *path, unsigned mode)
{
	/* Usually only the last level is missing (a cache object's fan-out
	 * directory), or none is: one call instead of one per component. */
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, mode);
	free(p);
	return rc < 0 && errno != EEXIST ? -1 : 0;
}

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (la == 1 && a[0] == '/')
		return xasprintf("/%s", b);
	return xasprintf("%.*s/%s", (int)la, a, b);
}

char *path_normalize(const char *p)
{
	struct strlist parts = STRLIST_INIT;
	const char *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		size_t n = (size_t)(e - s);
		if (n == 0 || (n == 1 && s[0] == '.')) {
			/* skip */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (parts.n == 0) {
				sl_release(&parts);
				return NULL;
			}
			free(parts.v[--parts.n]);
		} else {
			sl_push_owned(&parts, xstrndup(s, n));
		}
		s = e;
	}
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < parts.n; i++) {
		sb_addch(&sb, '/');
		sb_adds(&sb, parts.v[i]);
	}
	if (!sb.len)
		sb_addch(&sb, '/');
	sl_release(&parts);
	return sb_detach(&sb);
}

const char *path_basename(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

char *path_dirname(const char *p)
{
	const char *s = strrchr(p, '/');
	if (!s)
		return xstrdup(".");
	if (s == p)
		return xstrdup("/");
	return xstrndup(p, (size_t)(s - p));
}

char *expand_env(const char *s, char **missing)
{
	struct strbuf sb = STRBUF_INIT;
	*missing = NULL;
	while (*s) {
		const char *end;
		if (s[0] == '$' && s[1] == '{' && (end = strchr(s + 2, '}'))) {
			char *name = xstrndup(s + 2, (size_t)(end - s - 2));
			const char *val = getenv(name);
			if (!val || !*val) {
				*missing = name;
				sb_release(&sb);
				return NULL;
			}
			sb_adds(&sb, val);
			free(name);
			s = end + 1;
		} else {
			sb_addch(&sb, *s++);
		}
	}
	return sb_detach(&sb);
}

void run_parallel(void *(*fn)(void *), void *arg, long jobs, size_t work)
{
	if (jobs <= 0)
		jobs = sysconf(_SC_NPROCESSORS_ONLN);
	if (jobs < 1)
		jobs = 1;
	if ((size_t)jobs > work)
		jobs = work ? (long)work : 1;
	pthread_t *t = xcalloc(jobs, sizeof(*t));
	long started = 0;
	for (long i = 1; i < jobs; i++) /* a thread that cannot start leaves its share to the others */
		if (pthread_create(&t[started], NULL, fn, arg) == 0)
			started++;
	fn(arg);
	for (long i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
}
