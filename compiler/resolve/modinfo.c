/* modinfo.c — one module file: its .modinfo (read with libelf, or by
 * libkmod when it is compressed), the module's name, its bytes unpacked. */
#include "resolve/modclosure_int.h"
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <lzma.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static const char *const compress_suffixes[] = { ".xz", ".zst", ".gz" };

/* ---- names ------------------------------------------------------------ */

char *mc_modname_of(const char *path)
{
	const char *b = path_basename(path), *ko = strstr(b, ".ko");
	char *s = xstrndup(b, ko ? (size_t)(ko - b) : strlen(b));
	for (char *p = s; *p; p++)
		if (*p == '-')
			*p = '_';
	return s;
}

const char *mc_compress_suffix(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < sizeof(compress_suffixes) / sizeof(*compress_suffixes); i++) {
		size_t l = strlen(compress_suffixes[i]);
		if (n > l && !strcmp(path + n - l, compress_suffixes[i]))
			return path + n - l;
	}
	return NULL;
}

void minfo_release(struct minfo *mi)
{
	free(mi->name);
	free(mi->release);
	sl_release(&mi->depends);
	sl_release(&mi->softdeps);
	sl_release(&mi->aliases);
	sl_release(&mi->firmware);
}

static void split_push(struct strlist *sl, const char *s, const char *seps)
{
	char *copy = xstrdup(s), *save = NULL;
	for (char *t = strtok_r(copy, seps, &save); t; t = strtok_r(NULL, seps, &save))
		sl_push(sl, t);
	free(copy);
}

static void minfo_take(struct minfo *mi, const char *k, const char *v)
{
	if (!strcmp(k, "name") && !mi->name && *v)
		mi->name = mc_modname_of(v);
	else if (!strcmp(k, "depends"))
		split_push(&mi->depends, v, ",");
	else if (!strcmp(k, "softdep"))
		sl_push(&mi->softdeps, v);
	else if (!strcmp(k, "alias"))
		sl_push(&mi->aliases, v);
	else if (!strcmp(k, "firmware"))
		sl_push(&mi->firmware, v);
	else if (!strcmp(k, "vermagic") && !mi->release && *v)
		mi->release = xstrndup(v, strcspn(v, " "));
}

/* An uncompressed module's .modinfo ("key=value\0" ...), read with libelf:
 * kmod_module_get_info also decodes the signature (OpenSSL, a sprintf per
 * byte), which made it most of a whole-kernel closure's time.  0, or -1
 * when the file is no ELF with a .modinfo (libkmod then has its say). */
static int minfo_elf_fd(int fd, struct minfo *mi)
{
	int rc = -1;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL); /* pread()s the headers and .modinfo only: no mapping */
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	if (elf && elf_kind(elf) == ELF_K_ELF && gelf_getehdr(elf, &eh))
		mi->machine = eh.e_machine; /* the image's machine check needs no read of its own */
	if (elf && elf_kind(elf) == ELF_K_ELF && elf_getshdrstrndx(elf, &shstrndx) == 0) {
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
			if (name && !strcmp(name, ".modinfo"))
				break;
		}
	}
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
	if (d && d->d_buf) {
		const char *p = d->d_buf, *end = p + d->d_size;
		while (p < end) {
			size_t n = strnlen(p, (size_t)(end - p));
			const char *eq = memchr(p, '=', n);
			if (eq && p + n < end) {
				char *k = xstrndup(p, (size_t)(eq - p));
				minfo_take(mi, k, eq + 1);
				free(k);
			}
			p += n + 1;
		}
		rc = 0;
	}
	if (elf)
		elf_end(elf);
	return rc;
}

static int minfo_elf(const char *path, struct minfo *mi)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = fd < 0 ? -1 : minfo_elf_fd(fd, mi);
	if (fd >= 0)
		close(fd);
	return rc;
}

int minfo_read(const struct kmod_module *mod, struct minfo *mi)
{
	const char *path = kmod_module_get_path(mod);
	if (path && !mc_compress_suffix(path) && minfo_elf(path, mi) == 0)
		return 0;
	struct kmod_list *info = NULL, *it;
	if (kmod_module_get_info(mod, &info) < 0)
		return -1;
	kmod_list_foreach(it, info) {
		const char *v = kmod_module_info_get_value(it);
		if (v)
			minfo_take(mi, kmod_module_info_get_key(it), v);
	}
	kmod_module_info_free_list(info);
	return 0;
}

static int minfo_kmod_path(struct mc *mc, const char *path, struct minfo *mi)
{
	struct kmod_module *mod = NULL;
	int rc = kmod_module_new_from_path(mc->fctx, path, &mod);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	errno = 0; /* libkmod says nothing useful when the file is no module */
	rc = minfo_read(mod, mi);
	kmod_module_unref(mod);
	return rc;
}

int minfo_read_file(struct mc *mc, int fd, const char *path, struct minfo *mi)
{
	if (!mc_compress_suffix(path) && (fd >= 0 ? minfo_elf_fd(fd, mi) : minfo_elf(path, mi)) == 0)
		return 0;
	return minfo_kmod_path(mc, path, mi);
}

static void mread_one(struct mread *r)
{
	int fd = mc_compress_suffix(r->path) ? -1 : open(r->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;
	r->done = fstat(fd, &r->st) == 0 && S_ISREG(r->st.st_mode) && minfo_elf_fd(fd, &r->mi) == 0;
	if (!r->done) {
		minfo_release(&r->mi);
		r->mi = (struct minfo){ 0 };
	}
	close(fd);
}

#define MREAD_CHUNK 64
struct mread_job {
	struct mread *v;
	const int *which;
	size_t n, nchunks;
	_Atomic size_t next;
};

static void *mread_worker(void *arg)
{
	struct mread_job *j = arg;
	for (size_t c; (c = atomic_fetch_add(&j->next, 1)) < j->nchunks;)
		for (size_t i = c * MREAD_CHUNK; i < j->n && i < (c + 1) * MREAD_CHUNK; i++)
			mread_one(&j->v[j->which[i]]);
	return NULL;
}

void minfo_read_many(struct mread *v, const int *which, size_t n, int jobs)
{
	struct mread_job j = { .v = v, .which = which, .n = n, .nchunks = (n + MREAD_CHUNK - 1) / MREAD_CHUNK };
	elf_version(EV_CURRENT); /* libelf's one global, set before the threads read */
	run_parallel(mread_worker, &j, jobs, j.nchunks);
}

/* libkmod reads only the compressions it was built with (Debian 12's lacks
 * zlib): unpack into a memfd and let it read that. */
int minfo_unpacked(struct mc *mc, const char *path, struct minfo *mi)
{
	struct strbuf raw = STRBUF_INIT;
	int fd = memfd_create("rdc-module", MFD_CLOEXEC), rc = -1;
	if (fd >= 0 && mc_decompress_module(mc, path, &raw) == 0 && write_all(fd, raw.buf, raw.len) == 0) {
		char *p = xasprintf("/proc/self/fd/%d", fd);
		rc = minfo_kmod_path(mc, p, mi);
		free(p);
	}
	if (fd >= 0)
		close(fd);
	sb_release(&raw);
	return rc;
}

/* Read a module file by path (its own context: a name already known to the
 * tree's context would make libkmod refuse the path). */
int minfo_from_path(struct mc *mc, const char *path, struct minfo *mi)
{
	int rc = minfo_kmod_path(mc, path, mi);
	if (rc < 0 && mc_compress_suffix(path) && access(path, R_OK) == 0)
		rc = minfo_unpacked(mc, path, mi);
	if (rc == 0 && !mi->name)
		mi->name = mc_modname_of(path);
	return rc;
}

/* softdep= "pre: a b post: c": words after pre:/post: go to the lists */
void mc_softdep_split(const char *v, struct strlist *pre, struct strlist *post)
{
	struct strlist words = STRLIST_INIT;
	struct strlist *to = NULL;
	split_push(&words, v, " \t");
	for (size_t i = 0; i < words.n; i++) {
		if (!strcmp(words.v[i], "pre:"))
			to = pre;
		else if (!strcmp(words.v[i], "post:"))
			to = post;
		else if (to)
			sl_push(to, words.v[i]);
	}
	sl_release(&words);
}

void mc_node_set_info(struct mnode *m, struct minfo *mi)
{
	m->aliases = mi->aliases;
	m->softdeps = mi->softdeps;
	m->firmware = mi->firmware;
	m->machine = mi->machine;
	mi->aliases = (struct strlist)STRLIST_INIT;
	mi->softdeps = (struct strlist)STRLIST_INIT;
	mi->firmware = (struct strlist)STRLIST_INIT;
}

/* ---- decompression ------------------------------------------------------- */

static int unxz(const struct strbuf *in, struct strbuf *out)
{
	lzma_stream s = LZMA_STREAM_INIT;
	if (lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
		return -1;
	s.next_in = (const uint8_t *)in->buf;
	s.avail_in = in->len;
	lzma_ret rc;
	do {
		sb_grow(out, 1 << 16);
		s.next_out = (uint8_t *)out->buf + out->len;
		s.avail_out = out->alloc - out->len - 1;
		rc = lzma_code(&s, LZMA_FINISH);
		out->len = (char *)s.next_out - out->buf;
	} while (rc == LZMA_OK);
	lzma_end(&s);
	out->buf[out->len] = '\0';
	return rc == LZMA_STREAM_END ? 0 : -1;
}

static int unzstd(const struct strbuf *in, struct strbuf *out)
{
	ZSTD_DStream *z = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in->buf, in->len, 0 };
	size_t rc = 1;
	while (rc != 0 && !ZSTD_isError(rc)) {
		sb_grow(out, 1 << 16);
		ZSTD_outBuffer ob = { out->buf + out->len, out->alloc - out->len - 1, 0 };
		rc = ZSTD_decompressStream(z, &ob, &ib);
		out->len += ob.pos;
		if (!ZSTD_isError(rc) && rc != 0 && ib.pos == ib.size && ob.pos == 0)
			rc = (size_t)-1; /* truncated input: no progress possible */
	}
	ZSTD_freeDStream(z);
	out->buf[out->len] = '\0';
	return rc == 0 ? 0 : -1;
}

static int ungzip(const struct strbuf *in, struct strbuf *out)
{
	z_stream z = { 0 };
	if (inflateInit2(&z, 15 + 32) != Z_OK) /* +32: gzip or zlib header */
		return -1;
	z.next_in = (Bytef *)in->buf;
	z.avail_in = (uInt)in->len;
	int rc;
	do {
		sb_grow(out, 1 << 16);
		z.next_out = (Bytef *)out->buf + out->len;
		z.avail_out = (uInt)(out->alloc - out->len - 1);
		rc = inflate(&z, Z_NO_FLUSH);
		out->len = (char *)z.next_out - out->buf;
	} while (rc == Z_OK);
	inflateEnd(&z);
	out->buf[out->len] = '\0';
	return rc == Z_STREAM_END ? 0 : -1;
}

/* libkmod decompresses only internally; the image needs the bytes. */
int mc_decompress_module(struct mc *mc, const char *path, struct strbuf *out)
{
	const char *suf = mc_compress_suffix(path);
	struct strbuf in = STRBUF_INIT;
	int rc = read_file(path, &in);
	if (rc == 0)
		rc = !strcmp(suf, ".xz") ? unxz(&in, out) : !strcmp(suf, ".zst") ? unzstd(&in, out) : ungzip(&in, out);
	sb_release(&in);
	if (rc < 0)
		mc_say(mc, MODCLOSURE_ERROR, -1, NULL, "cannot decompress kernel module %s", path);
	return rc;
}

char *modclosure_module_release(const char *path)
{
	const char *why = NULL; /* then resolving the closure says it */
	struct kmod_ctx *ctx = mc_ctx_new(NULL, &why);
	struct mc mc = { .fctx = ctx };
	struct minfo mi = { 0 };
	char *rel = NULL;
	if (ctx && minfo_from_path(&mc, path, &mi) == 0) {
		rel = mi.release;
		mi.release = NULL;
	}
	minfo_release(&mi);
	mc_msgs_free(mc.said, mc.nsaid); /* an unreadable module: resolving it says why */
	if (ctx)
		kmod_unref(ctx);
	return rel;
}
