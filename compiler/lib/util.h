/* util.h — memory helpers, growing buffers and string lists used by every stage.
 * Allocation failure is fatal (there is nothing sensible to do in a compiler
 * that runs for milliseconds), so callers never check for NULL. */
#ifndef RDC_UTIL_H
#define RDC_UTIL_H
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow array `p` (with `alloc` slots) so that it can hold `n` elements. */
#define GROW(p, n, alloc)                                                    \
	do {                                                                 \
		if ((size_t)(n) > (alloc)) {                                 \
			(alloc) = (alloc) ? (alloc) * 2 : 8;                 \
			if ((alloc) < (size_t)(n))                           \
				(alloc) = (n);                               \
			(p) = xrealloc((p), (alloc) * sizeof(*(p)));         \
		}                                                            \
	} while (0)

/* A growing byte buffer, always NUL-terminated (git's strbuf). */
struct strbuf {
	char *buf;
	size_t len, alloc;
};
#define STRBUF_INIT { NULL, 0, 0 }
void sb_grow(struct strbuf *sb, size_t extra);
void sb_add(struct strbuf *sb, const void *data, size_t len);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addch(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
/* Numbers without printf, the bytes "%" PRIu64 (or %o, %x), "%" PRId64 and
 * "%016" PRIx64 give: a whole kernel's memos, record and stat index hold
 * tens of thousands, and vfprintf was most of the time they took. */
void sb_add_num(struct strbuf *sb, uint64_t v, unsigned base); /* base 2-16 */
void sb_add_signed(struct strbuf *sb, int64_t v);
void sb_add_hex64(struct strbuf *sb, uint64_t v);
void sb_reset(struct strbuf *sb);
char *sb_detach(struct strbuf *sb); /* caller frees; sb is reset */
void sb_release(struct strbuf *sb);
const char *sb_str(const struct strbuf *sb); /* "" for an empty buffer */

/* A list of owned strings. */
struct strlist {
	char **v;
	size_t n, alloc;
};
#define STRLIST_INIT { NULL, 0, 0 }
void sl_push(struct strlist *sl, const char *s);  /* copies s */
void sl_push_owned(struct strlist *sl, char *s); /* takes s */
bool sl_has(const struct strlist *sl, const char *s);
void sl_sort(struct strlist *sl);
/* Every name in the open directory d but . and .., in directory order,
 * appended to names (d stays open: the caller closes it). */
void dir_names(DIR *d, struct strlist *names);
bool sl_has_sorted(const struct strlist *sl, const char *s); /* binary search of a sorted list */
void sl_release(struct strlist *sl);

/* Files. */
/* Inputs are read whole, so they are read only from regular files (a FIFO
 * would hang, /dev/zero never end) and only up to a size: -1 and errno
 * EINVAL (not a regular file) or EFBIG (larger than max) besides the
 * usual ones.  read_file's limit is READ_FILE_MAX. */
#define READ_FILE_MAX (256u << 20)
int read_file(const char *path, struct strbuf *out);
int read_file_max(const char *path, struct strbuf *out, size_t max);
int read_fd_max(int fd, struct strbuf *out, size_t max); /* any fd (stdin); EFBIG past max */
/* open(O_RDONLY) that never blocks on a FIFO and fails with EINVAL unless
 * the file is a regular one; *st gets its stat. */
int open_regular(const char *path, struct stat *st);
/* strerror, naming read_file's own two errors in words. */
const char *read_strerror(int e);

/* Write `len` bytes to `path` atomically: a temporary file beside it, fsync-free
 * write, then rename.  Every file rdc writes goes through here or atomic_open. */
int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* For streamed output: open a temporary beside `path`; commit renames it into
 * place, abort removes it.  The temporary is registered (lib/tempfile.h): an
 * exit or a signal removes it; SIGKILL leaves only a ".rdc-tmp" file. */
struct tempfile;
struct atomic_file {
	int fd;
	char *path, *tmp;
	struct tempfile *reg;
	int mode; /* output_open: the mode the file gets; -1 otherwise */
};
int atomic_open(struct atomic_file *af, const char *path);
int atomic_commit(struct atomic_file *af, unsigned mode);
void atomic_abort(struct atomic_file *af);

/* The files a user names (images, a .S's .cpio, rdc import -o) replace only
 * what rdc may replace: nothing, or a regular file — never a device node,
 * FIFO, socket or directory (renaming over /dev/null as root would replace
 * it).  A symlink is followed to the regular file it names, which is then
 * replaced (as a shell's > would).  The new file gets the old one's
 * permissions, or 0666 less the umask.  The check is made again just
 * before the rename.  -1 with the reason in *why ("it is a FIFO ..."). */
int output_check(const char *path, char **target, int *mode, struct strbuf *why);
int output_open(struct atomic_file *af, const char *path, struct strbuf *why);
int output_commit(struct atomic_file *af, struct strbuf *why);
int write_output(const char *path, const void *data, size_t len, struct strbuf *why);
int write_all(int fd, const void *data, size_t len);
/* The same at a file offset (the file position is left alone). */
int pwrite_all(int fd, const void *data, size_t len, uint64_t off);
/* fd is a regular file at offset 0: one that can be written in place, or
 * truncated and started over (not a pipe). */
bool fd_at_file_start(int fd);
int mkdir_p(const char *path, unsigned mode);
void remove_tree(const char *path); /* rm -rf, never following symlinks */

/* Run fn(arg) on `jobs` threads at once (<= 0: one per core; never more
 * than `work` items need), this one included, and wait for all of them.
 * fn takes its items from a shared counter in arg. */
void run_parallel(void *(*fn)(void *), void *arg, long jobs, size_t work);

/* Paths. */
char *path_join(const char *a, const char *b);
/* `p` made absolute (from the cwd) and normalised lexically; NULL with errno
 * when the cwd is gone (a deleted working directory): never a guess. */
char *path_absolute(const char *p);
/* Normalise an image path: collapse "//", ".", resolve ".." lexically; always
 * begins with "/".  Returns NULL when ".." would climb above the root. */
char *path_normalize(const char *p);
/* The same, but ".." at the root stays there: where a symlink target in the
 * image leads (the kernel resolves "/../etc" as "/etc"). Caller frees. */
char *path_resolve_in_root(const char *p);
const char *path_basename(const char *p);
char *path_dirname(const char *p);

/* Expand ${VAR} from the environment.  An unset variable is an error: returns
 * NULL and puts the variable's name into *missing (caller frees). */
char *expand_env(const char *s, char **missing);
/* Every NAME expand_env has looked up in this process, once each: the build
 * record keeps their values (build/record.c). */
extern struct strlist expand_env_names;

/* Nanoseconds on the monotonic clock, for durations. */
/* "14.9 MB": a size as people read it, in decimal units (kB, MB, GB, TB)
 * with one decimal and kB at least ("0.0 kB"), for every summary rdc
 * prints (build, rdc cache, remote storage).  Returns buf. */
const char *size_text(uint64_t n, char *buf, size_t len);
int64_t monotonic_ns(void);
long long monotonic_ms(void);

/* The running rdc's GNU build-id in hex ("" if it has none): what tells two
 * builds of one version apart. */
const char *rdc_build_id(void);

#endif
