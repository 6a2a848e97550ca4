/* util.c — memory, strbuf, string lists, atomic files, paths. */
#include "lib/util.h"
#include "lib/tempfile.h"
#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

static const char hex_digits[] = "0123456789abcdef";

void sb_add_num(struct strbuf *sb, uint64_t v, unsigned base)
{
	char d[64]; /* UINT64_MAX in base 2 */
	size_t n = 0;
	do
		d[sizeof(d) - ++n] = hex_digits[v % base];
	while ((v /= base));
	sb_add(sb, d + sizeof(d) - n, n);
}

void sb_add_signed(struct strbuf *sb, int64_t v)
{
	if (v < 0)
		sb_addch(sb, '-');
	sb_add_num(sb, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10); /* INT64_MIN too */
}

void sb_add_hex64(struct strbuf *sb, uint64_t v)
{
	char d[16];
	for (int i = 15; i >= 0; i--, v >>= 4)
		d[i] = hex_digits[v & 15];
	sb_add(sb, d, sizeof(d));
}

/* One vsnprintf when the text fits where it goes (the buffer's room, or a
 * small one on the stack), which it nearly always does; a second only
 * when it did not.  Measuring every text first was half of a whole-kernel
 * build's formatting (~30,000 strings, most of them before the first
 * segment could start). */
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	char small[256];
	size_t room = sb->alloc - sb->len; /* 0 for an empty buffer */
	char *to = room >= sizeof(small) ? sb->buf + sb->len : small;
	size_t cap = to == small ? sizeof(small) : room;
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(to, cap, fmt, cp);
	va_end(cp);
	if (n < 0) {
		if (sb->buf)
			sb->buf[sb->len] = '\0'; /* what a failed pass left in the room is not the text */
		return;
	}
	if ((size_t)n < cap) {
		if (to == small)
			sb_add(sb, small, (size_t)n);
		else
			sb->len += (size_t)n;
		return;
	}
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

void dir_names(DIR *d, struct strlist *names)
{
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			sl_push(names, de->d_name);
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

int open_regular(const char *path, struct stat *st)
{
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		int e = S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
		close(fd);
		errno = e;
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

int read_fd_max(int fd, struct strbuf *out, size_t max)
{
	size_t start = out->len;
	for (;;) {
		sb_grow(out, 65536);
		size_t room = out->alloc - out->len - 1;
		ssize_t n = read(fd, out->buf + out->len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		out->len += (size_t)n;
		out->buf[out->len] = '\0';
		if (out->len - start > max) { /* grew while read, or not a file at all */
			errno = EFBIG;
			return -1;
		}
	}
}

int read_file_max(const char *path, struct strbuf *out, size_t max)
{
	struct stat st;
	int fd = open_regular(path, &st);
	if (fd < 0)
		return -1;
	int rc = -1;
	if ((uint64_t)st.st_size > max)
		errno = EFBIG;
	else
		rc = read_fd_max(fd, out, max);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int read_file(const char *path, struct strbuf *out) { return read_file_max(path, out, READ_FILE_MAX); }

const char *read_strerror(int e)
{
	return e == EINVAL ? "not a regular file" : e == EFBIG ? "file too large" : strerror(e);
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

bool fd_at_file_start(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && lseek(fd, 0, SEEK_CUR) == 0;
}

int pwrite_all(int fd, const void *data, size_t len, uint64_t off)
{
	const char *p = data;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int atomic_open(struct atomic_file *af, const char *path)
{
	af->path = xstrdup(path);
	af->tmp = xasprintf("%s.rdc-tmp.XXXXXX", path);
	af->mode = -1;
	af->reg = NULL;
	af->fd = mkostemp(af->tmp, O_CLOEXEC);
	if (af->fd < 0) {
		int e = errno;
		free(af->path);
		free(af->tmp);
		af->path = af->tmp = NULL;
		errno = e;
		return -1;
	}
	af->reg = tempfile_register(af->tmp, 0);
	return 0;
}

static void atomic_release(struct atomic_file *af)
{
	tempfile_forget(af->reg);
	af->reg = NULL;
	free(af->path);
	free(af->tmp);
	af->path = af->tmp = NULL;
}

/* Unlinking a file of hundreds of MB takes as long as writing a quarter of
 * it (its page cache is freed: ~90 ms for a whole kernel's image), so a
 * large one is left to a grandchild, with no descriptor of ours, and the
 * build returns at once.  The name is a temporary nobody else uses. */
#define UNLINK_LATER (64 << 20)

static void unlink_old(const char *path, off_t size)
{
	pid_t pid = size >= UNLINK_LATER ? fork() : -1;
	if (pid == 0) {
		if (fork() == 0) {
			close_range(0, ~0u, 0);
			unlink(path);
		}
		_exit(0);
	}
	if (pid < 0)
		unlink(path);
	else
		waitpid(pid, NULL, 0);
}

/* Renamed over an existing file, ext4 (auto_da_alloc) writes the new
 * file's data out inside rename(2): 220 ms for a whole kernel's 402 MB image,
 * on every rebuild in place.  Exchanged with it (RENAME_EXCHANGE) it does
 * not; the old file, now under the temporary name, is then unlinked.  Still
 * one atomic step: the path names the old file or the new one at every
 * moment.  Where there is nothing to exchange with, or the file system
 * cannot, a plain rename. */
static int replace_file(const char *tmp, const char *path)
{
	struct stat st;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) < 0)
		return rename(tmp, path);
	if (lstat(tmp, &st) < 0)
		st.st_size = 0;
	else if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		/* a directory or a node appeared there since output_check: rename
		 * would not replace it, and neither does this */
		renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE);
		errno = S_ISDIR(st.st_mode) ? EISDIR : EEXIST;
		return -1;
	}
	unlink_old(tmp, st.st_size); /* should that fail it stays, as a killed build's temporary does */
	return 0;
}

int atomic_commit(struct atomic_file *af, unsigned mode)
{
	int rc = 0;
	if (fchmod(af->fd, mode) < 0 || close(af->fd) < 0)
		rc = -1;
	af->fd = -1;
	if (rc == 0 && (af->mode >= 0 ? replace_file(af->tmp, af->path) : rename(af->tmp, af->path)) < 0)
		rc = -1;
	int e = errno;
	if (rc)
		unlink(af->tmp);
	atomic_release(af);
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
	atomic_release(af);
	af->fd = -1;
}

/* ---- outputs: replace only what may be replaced ------------------------ */

static const char *kind_of(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
	     : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISLNK(m) ? "a symlink" : "not a regular file";
}

static mode_t creation_mode(void)
{
	/* umask can only be read by setting it: once, before any thread runs
	 * (outputs are opened on the main thread) */
	static int cached = -1;
	if (cached < 0) {
		mode_t u = umask(022);
		umask(u);
		cached = (int)(0666 & ~u);
	}
	return (mode_t)cached;
}

int output_check(const char *path, char **target, int *mode, struct strbuf *why)
{
	struct stat st;
	char *real = NULL;
	*target = NULL;
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT) {
			sb_addf(why, "%s", strerror(errno));
			return -1;
		}
		*target = xstrdup(path);
		*mode = (int)creation_mode();
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		real = realpath(path, NULL);
		if (!real || stat(real, &st) < 0) {
			sb_addf(why, "it is a symlink to nothing that exists; rdc replaces only regular files");
			free(real);
			return -1;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		sb_addf(why, "it is %s%s; rdc replaces only regular files", real ? "a symlink to " : "",
			kind_of(st.st_mode));
		free(real);
		return -1;
	}
	*target = real ? real : xstrdup(path);
	*mode = (int)(st.st_mode & 0777);
	return 0;
}

int output_open(struct atomic_file *af, const char *path, struct strbuf *why)
{
	char *target;
	int mode;
	af->fd = -1;
	af->tmp = af->path = NULL;
	af->reg = NULL;
	if (output_check(path, &target, &mode, why) < 0)
		return -1;
	int rc = atomic_open(af, target);
	if (rc < 0)
		sb_addf(why, "%s", strerror(errno));
	else
		af->mode = mode;
	free(target);
	return rc;
}

int output_commit(struct atomic_file *af, struct strbuf *why)
{
	char *target;
	int mode; /* the mode chosen at open: the file there now may be a stranger's */
	/* again, just before the rename: something may have appeared meanwhile */
	if (output_check(af->path, &target, &mode, why) < 0) {
		atomic_abort(af);
		return -1;
	}
	free(target);
	if (atomic_commit(af, (unsigned)af->mode) < 0) {
		sb_addf(why, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

int write_output(const char *path, const void *data, size_t len, struct strbuf *why)
{
	struct atomic_file af;
	if (output_open(&af, path, why) < 0)
		return -1;
	if (write_all(af.fd, data, len) < 0) {
		sb_addf(why, "%s", strerror(errno));
		atomic_abort(&af);
		return -1;
	}
	return output_commit(&af, why);
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

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void remove_tree(const char *path)
{
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *path_absolute(const char *p)
{
	char *cwd = NULL;
	if (p[0] != '/' && !(cwd = getcwd(NULL, 0)))
		return NULL;
	/* a cwd that was deleted reads "(unreachable)/..." on some kernels */
	if (cwd && cwd[0] != '/') {
		free(cwd);
		errno = ENOENT;
		return NULL;
	}
	char *joined = cwd ? path_join(cwd, p) : xstrdup(p);
	free(cwd);
	/* ".." above the root is the root, as the kernel resolves it */
	struct strbuf sb = STRBUF_INIT;
	const char *s = joined;
	while (*s) {
		while (*s == '/')
			s++;
		const char *e = s + strcspn(s, "/");
		size_t n = (size_t)(e - s);
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (sb.len && sb.buf[sb.len - 1] != '/')
				sb.len--;
			if (sb.len)
				sb.len--;
			sb.buf[sb.len] = 0;
		} else if (n && !(n == 1 && s[0] == '.')) {
			sb_addch(&sb, '/');
			sb_add(&sb, s, n);
		}
		s = e;
	}
	free(joined);
	if (!sb.len)
		sb_addch(&sb, '/');
	return sb_detach(&sb);
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

/* clamp: ".." at the root stays at the root, as the kernel resolves a
 * symlink's target inside the root; otherwise it is an error (NULL). */
static char *normalize(const char *p, bool clamp)
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
			if (parts.n == 0 && !clamp) {
				sl_release(&parts);
				return NULL;
			}
			if (parts.n)
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

char *path_normalize(const char *p) { return normalize(p, false); }
char *path_resolve_in_root(const char *p) { return normalize(p, true); }

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

struct strlist expand_env_names = STRLIST_INIT;

char *expand_env(const char *s, char **missing)
{
	struct strbuf sb = STRBUF_INIT;
	*missing = NULL;
	while (*s) {
		const char *end;
		if (s[0] == '$' && s[1] == '{' && (end = strchr(s + 2, '}'))) {
			char *name = xstrndup(s + 2, (size_t)(end - s - 2));
			const char *val = getenv(name);
			if (!sl_has(&expand_env_names, name))
				sl_push(&expand_env_names, name);
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

int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long monotonic_ms(void) { return monotonic_ns() / 1000000; }

const char *size_text(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "kB", "MB", "GB", "TB" };
	double v = (double)n / 1e3;
	int u = 0;
	while (v >= 1000 && u < 3)
		v /= 1000, u++;
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

/* rdc's own build: the GNU build-id note of the running program, read from
 * its mapped program headers (no file read).  Another binary with the same
 * version string, or the binary replaced in place, has another. */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *ctx)
{
	(void)size;
	char *out = ctx;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
		while (ph->p_type == PT_NOTE && (size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof(*n), *desc = name + ((n->n_namesz + 3) & ~3u);
			if (desc + n->n_descsz > end)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && !memcmp(name, "GNU", 4)) {
				for (size_t k = 0; k < n->n_descsz && k < 64; k++)
					sprintf(out + 2 * k, "%02x", (unsigned char)desc[k]);
				return 1;
			}
			p = desc + ((n->n_descsz + 3) & ~3u);
		}
	}
	return 1; /* the first object is the program itself */
}

static char build_id[129];

static void read_build_id(void)
{
	dl_iterate_phdr(find_build_id, build_id);
}

const char *rdc_build_id(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, read_build_id);
	return build_id;
}
