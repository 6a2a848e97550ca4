/* image.c — an initramfs reader that follows the kernel's init/initramfs.c
 * state machine (Reset, header, name, body, skip) and its outer loop: a '0'
 * at a 4-aligned offset starts a plain archive, zero bytes are skipped,
 * anything else must be a compressed stream whose output is fed to the same
 * state machine, and that must end between two entries.  The decoders are
 * the libraries' own (zlib, liblzma, libzstd, libbz2, liblz4); lz4's legacy
 * frame is only a sequence of sized blocks, read as the kernel reads it. */
#include "image/image.h"
#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include "lib/diag.h"
#include "lib/util.h"

#define CHUNK (256 * 1024)
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8 << 20)
/* The kernel's name padding: header (110 bytes) plus name end 4-aligned. */
#define N_ALIGN(len) ((((len) + 1) & ~3u) + 2)

/* ---- the input: a file read in chunks ----------------------------------- */

struct input {
	int fd;
	unsigned char *buf;
	size_t pos, len;
	uint64_t off; /* file offset of buf[0] */
	bool eof;
	int err;
};

/* At least n bytes at buf+pos unless the file ends first; returns what is there. */
static size_t in_peek(struct input *in, size_t n)
{
	if (in->len - in->pos >= n || in->eof)
		return in->len - in->pos;
	memmove(in->buf, in->buf + in->pos, in->len - in->pos);
	in->off += in->pos;
	in->len -= in->pos;
	in->pos = 0;
	while (in->len < n && !in->eof) {
		ssize_t r = read(in->fd, in->buf + in->len, CHUNK - in->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			in->eof = true;
			in->err = r < 0 ? errno : 0;
		} else {
			in->len += r;
		}
	}
	return in->len - in->pos;
}

static uint64_t in_offset(const struct input *in) { return in->off + in->pos; }

/* ---- the cpio state machine --------------------------------------------- */

enum cstate { C_RESET, C_HEADER, C_NAME, C_BODY, C_SKIP };

/* The kernel's find_link table: entries with nlink >= 2 by (dev, ino, type),
 * forgotten at each trailer.  Open addressing, so that an archive of a
 * million linked names costs a million look-ups, not their square. */
struct link {
	unsigned dmajor, dminor, ino, type;
	char *name; /* NULL: a free slot */
};

struct reader {
	const char *path;
	const struct image_ops *ops;
	void *ctx;
	struct input in;
	enum cstate st;
	uint64_t pos; /* the kernel's this_header: offset in the file or in a stream's output */
	unsigned char hdr[110];
	size_t have, need;
	char *coll; /* name (and a symlink's body) */
	uint64_t next_header, body_left;
	unsigned name_len;
	bool is_link, seg_open;
	struct image_entry e;
	int segment;
	const char *codec;
	uint64_t stream_at; /* file offset of the compressed stream being read */
	int rc;             /* a callback's status, or -1 */
	struct link *links; /* alinks slots (a power of two, or 0), nlinks used */
	size_t nlinks, alinks;
};

/* Freed whole, not cleared: many small archives after one big one must
 * not each pay for the big one's table. */
static void forget_links(struct reader *r)
{
	for (size_t i = 0; i < r->alinks; i++)
		free(r->links[i].name);
	free(r->links);
	r->links = NULL;
	r->nlinks = r->alinks = 0;
}

static size_t link_slot(const struct link *t, size_t size, unsigned dmajor, unsigned dminor, unsigned ino, unsigned type)
{
	uint64_t h = (((uint64_t)dmajor << 32 | dminor) * 0x9E3779B97F4A7C15ull) ^ (((uint64_t)type << 32 | ino) * 0xC2B2AE3D27D4EB4Full);
	size_t i = (size_t)(h ^ h >> 31) & (size - 1);
	while (t[i].name && !(t[i].ino == ino && t[i].dmajor == dmajor && t[i].dminor == dminor && t[i].type == type))
		i = (i + 1) & (size - 1);
	return i;
}

static void grow_links(struct reader *r)
{
	size_t size = r->alinks ? r->alinks * 2 : 64;
	struct link *t = xcalloc(size, sizeof(*t));
	for (size_t i = 0; i < r->alinks; i++) {
		const struct link *l = &r->links[i];
		if (l->name)
			t[link_slot(t, size, l->dmajor, l->dminor, l->ino, l->type)] = *l;
	}
	free(r->links);
	r->links = t;
	r->alinks = size;
}

/* init/initramfs.c's maybe_link: regular files and nodes with nlink >= 2. */
static const char *find_link(struct reader *r, const struct image_entry *e)
{
	if (e->nlink < 2 || !(S_ISREG(e->mode) || S_ISCHR(e->mode) || S_ISBLK(e->mode) || S_ISFIFO(e->mode) || S_ISSOCK(e->mode)))
		return NULL;
	unsigned type = e->mode & S_IFMT;
	if (2 * (r->nlinks + 1) > r->alinks)
		grow_links(r);
	struct link *l = &r->links[link_slot(r->links, r->alinks, e->dmajor, e->dminor, e->ino, type)];
	if (l->name)
		return l->name;
	*l = (struct link){ e->dmajor, e->dminor, e->ino, type, xstrdup(e->name) };
	r->nlinks++;
	return NULL;
}

static void fail(struct reader *r, const char *what)
{
	if (r->rc)
		return;
	if (strcmp(r->codec, "cpio"))
		diag_error(NULL, NULL, "%s: %s at offset %llu of the %s stream at byte %llu", r->path, what,
			  (unsigned long long)r->pos, r->codec, (unsigned long long)r->stream_at);
	else
		diag_error(NULL, NULL, "%s: %s at byte %llu", r->path, what, (unsigned long long)r->pos);
	r->rc = -1;
}

static unsigned hexfield(const unsigned char *h, int i)
{
	unsigned v = 0;
	for (int k = 0; k < 8; k++) {
		unsigned char c = h[6 + 8 * i + k];
		v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0);
	}
	return v;
}

static void header_done(struct reader *r)
{
	if (memcmp(r->hdr, "070701", 6) && memcmp(r->hdr, "070702", 6)) {
		fail(r, memcmp(r->hdr, "070707", 6) ? "no cpio magic" : "an old (odc) cpio header: the kernel reads only newc");
		return;
	}
	struct image_entry *e = &r->e;
	memset(e, 0, sizeof(*e));
	e->ino = hexfield(r->hdr, 0), e->mode = hexfield(r->hdr, 1), e->uid = hexfield(r->hdr, 2);
	e->gid = hexfield(r->hdr, 3), e->nlink = hexfield(r->hdr, 4), e->mtime = hexfield(r->hdr, 5);
	e->size = hexfield(r->hdr, 6), e->dmajor = hexfield(r->hdr, 7), e->dminor = hexfield(r->hdr, 8);
	e->rmajor = hexfield(r->hdr, 9), e->rminor = hexfield(r->hdr, 10);
	r->name_len = hexfield(r->hdr, 11);
	r->next_header = (r->pos + N_ALIGN(r->name_len) + e->size + 3) & ~(uint64_t)3;
	r->st = C_SKIP; /* what the kernel does with what it cannot take */
	if (r->name_len == 0 || r->name_len > PATH_MAX)
		return;
	r->is_link = S_ISLNK(e->mode);
	if (r->is_link && e->size > PATH_MAX)
		return;
	if (!r->is_link && !S_ISREG(e->mode) && e->size)
		return;
	r->need = N_ALIGN(r->name_len) + (r->is_link ? e->size : 0);
	r->coll = xrealloc(r->coll, r->need + 1);
	r->have = 0;
	r->st = C_NAME;
}

static void entry_end(struct reader *r)
{
	if (r->ops->end && !r->rc)
		r->rc = r->ops->end(r->ctx, &r->e);
	r->st = C_SKIP;
}

static void name_done(struct reader *r)
{
	if (r->coll[r->name_len - 1] != '\0') {
		fail(r, "a name without its NUL (malformed archive)");
		return;
	}
	r->st = C_SKIP;
	if (!strcmp(r->coll, "TRAILER!!!")) {
		r->seg_open = false;
		forget_links(r);
		return;
	}
	if (!r->seg_open) { /* the first entry of a plain archive, or of a stream */
		r->seg_open = true;
		r->segment++;
	}
	struct image_entry *e = &r->e;
	e->name = r->coll;
	e->segment = r->segment;
	e->codec = r->codec;
	e->link = find_link(r, e);
	if (r->is_link) {
		char *t = r->coll + N_ALIGN(r->name_len);
		t[e->size] = '\0';
		e->target = t;
	}
	if (r->ops->begin && (r->rc = r->ops->begin(r->ctx, e)))
		return;
	r->body_left = S_ISREG(e->mode) ? e->size : 0;
	if (r->body_left)
		r->st = C_BODY;
	else
		entry_end(r);
}

/* Feed bytes to the state machine; returns how many it took.  It stops
 * early only in Reset, before a byte that is neither padding nor a header,
 * or when something failed (r->rc). */
static size_t feed(struct reader *r, const unsigned char *buf, size_t len)
{
	size_t i = 0;
	while (i < len && !r->rc) {
		size_t n = len - i;
		switch (r->st) {
		case C_RESET:
			if (buf[i] == 0) {
				i++, r->pos++;
				continue;
			}
			if (buf[i] != '0')
				return i;
			if (r->pos & 3) {
				fail(r, "broken padding (a header at an offset that is not 4-aligned)");
				return i;
			}
			r->st = C_HEADER;
			r->have = 0;
			continue;
		case C_HEADER:
			n = n < 110 - r->have ? n : 110 - r->have;
			memcpy(r->hdr + r->have, buf + i, n);
			r->have += n;
			if (r->have == 110) {
				r->pos += n, i += n;
				header_done(r);
				continue;
			}
			break;
		case C_NAME:
			n = n < r->need - r->have ? n : r->need - r->have;
			memcpy(r->coll + r->have, buf + i, n);
			r->have += n;
			if (r->have == r->need) {
				r->pos += n, i += n;
				name_done(r);
				continue;
			}
			break;
		case C_BODY:
			n = n < r->body_left ? n : r->body_left;
			if (r->ops->data && (r->rc = r->ops->data(r->ctx, buf + i, n)))
				return i;
			r->body_left -= n;
			if (!r->body_left) {
				r->pos += n, i += n;
				entry_end(r);
				continue;
			}
			break;
		case C_SKIP:
			if (r->pos + n >= r->next_header) {
				n = r->next_header - r->pos;
				r->st = C_RESET;
			}
			break;
		}
		r->pos += n, i += n;
	}
	if (r->st == C_SKIP && r->pos >= r->next_header) /* the kernel's do_skip with nothing left */
		r->st = C_RESET;
	return i;
}

static void not_an_image(struct reader *r, const unsigned char *head, size_t n, const char *codec);

/* A compressed stream's output: it may hold only whole entries and padding.
 * A file that is one compressed stream of something else from its first
 * byte on is no initramfs at all (an arm64 vmlinuz is a gzip'd Image). */
static void pump(struct reader *r, const unsigned char *buf, size_t len)
{
	bool first = r->pos == 0 && r->stream_at == 0;
	size_t took = feed(r, buf, len);
	if (took < len && !r->rc && first && !took && image_file_kind(buf, len, NULL))
		not_an_image(r, buf, len, r->codec);
	else if (took < len && !r->rc)
		fail(r, "junk within the compressed archive");
}

/* ---- decoders: each consumes exactly one stream from r->in -------------- */

static bool need_input(struct reader *r, size_t *avail)
{
	*avail = in_peek(&r->in, 1);
	if (*avail)
		return true;
	fail(r, r->in.err ? strerror(r->in.err) : "the image ends inside a compressed stream");
	return false;
}

static void un_gzip(struct reader *r, unsigned char *out)
{
	z_stream z = { 0 };
	if (inflateInit2(&z, 15 + 16) != Z_OK) {
		fail(r, "cannot start zlib");
		return;
	}
	int rc = Z_OK;
	size_t avail;
	while (rc != Z_STREAM_END && !r->rc && need_input(r, &avail)) {
		z.next_in = r->in.buf + r->in.pos;
		z.avail_in = avail;
		z.next_out = out;
		z.avail_out = CHUNK;
		rc = inflate(&z, Z_NO_FLUSH);
		r->in.pos += avail - z.avail_in;
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			fail(r, z.msg ? z.msg : "bad gzip data");
		pump(r, out, CHUNK - z.avail_out);
	}
	inflateEnd(&z);
}

static void un_lzma(struct reader *r, unsigned char *out, bool alone)
{
	lzma_stream x = LZMA_STREAM_INIT;
	/* A hostile header may ask for a 4 GiB dictionary: xz -9 needs 65 MiB. */
	const uint64_t memlimit = 1ull << 30;
	if ((alone ? lzma_alone_decoder(&x, memlimit) : lzma_stream_decoder(&x, memlimit, 0)) != LZMA_OK) {
		fail(r, "cannot start liblzma");
		return;
	}
	lzma_ret rc = LZMA_OK;
	size_t avail;
	while (rc != LZMA_STREAM_END && !r->rc && need_input(r, &avail)) {
		x.next_in = r->in.buf + r->in.pos;
		x.avail_in = avail;
		x.next_out = out;
		x.avail_out = CHUNK;
		rc = lzma_code(&x, LZMA_RUN);
		r->in.pos += avail - x.avail_in;
		if (rc == LZMA_MEMLIMIT_ERROR)
			fail(r, "a stream that needs more than 1 GiB of memory to decompress");
		else if (rc != LZMA_OK && rc != LZMA_STREAM_END)
			fail(r, alone ? "bad lzma data" : "bad xz data (or a check that does not match)");
		pump(r, out, CHUNK - x.avail_out);
	}
	lzma_end(&x);
}

static void un_zstd(struct reader *r, unsigned char *out)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	size_t left = 1, avail;
	while (left && !r->rc && need_input(r, &avail)) {
		ZSTD_inBuffer ib = { r->in.buf + r->in.pos, avail, 0 };
		ZSTD_outBuffer ob = { out, CHUNK, 0 };
		left = ZSTD_decompressStream(d, &ob, &ib);
		r->in.pos += ib.pos;
		if (ZSTD_isError(left))
			fail(r, ZSTD_getErrorName(left));
		else
			pump(r, out, ob.pos);
		while (left == 0 && ob.pos == CHUNK && !r->rc) { /* a full buffer may hide more output */
			ob.pos = 0;
			ZSTD_inBuffer none = { NULL, 0, 0 };
			left = ZSTD_decompressStream(d, &ob, &none);
			pump(r, out, ob.pos);
			if (ob.pos < CHUNK)
				break;
		}
	}
	ZSTD_freeDCtx(d);
}

static void un_bzip2(struct reader *r, unsigned char *out)
{
	bz_stream b = { 0 };
	if (BZ2_bzDecompressInit(&b, 0, 0) != BZ_OK) {
		fail(r, "cannot start libbz2");
		return;
	}
	int rc = BZ_OK;
	size_t avail;
	while (rc != BZ_STREAM_END && !r->rc && need_input(r, &avail)) {
		b.next_in = (char *)r->in.buf + r->in.pos;
		b.avail_in = avail > UINT_MAX ? UINT_MAX : avail;
		b.next_out = (char *)out;
		b.avail_out = CHUNK;
		unsigned before = b.avail_in;
		rc = BZ2_bzDecompress(&b);
		r->in.pos += before - b.avail_in;
		if (rc != BZ_OK && rc != BZ_STREAM_END)
			fail(r, "bad bzip2 data");
		pump(r, out, CHUNK - b.avail_out);
	}
	BZ2_bzDecompressEnd(&b);
}

/* The legacy frame: the magic, then blocks of (le32 size, data) that each
 * decompress to at most 8 MiB.  It has no end: like the kernel, read blocks
 * until the image ends (a zero size is taken as the padding after it). */
static void un_lz4(struct reader *r, unsigned char *out)
{
	(void)out;
	int cap = LZ4_compressBound(LZ4_LEGACY_BLOCK);
	char *cbuf = xmalloc(cap), *dbuf = xmalloc(LZ4_LEGACY_BLOCK);
	r->in.pos += 4;
	while (!r->rc && in_peek(&r->in, 4) >= 4) {
		uint32_t n;
		memcpy(&n, r->in.buf + r->in.pos, 4);
		if (n == 0)
			break;
		r->in.pos += 4;
		if (n == LZ4_LEGACY_MAGIC)
			continue;
		if (n > (uint32_t)cap) {
			fail(r, "an lz4 block larger than the legacy format allows");
			break;
		}
		for (uint32_t got = 0; got < n && !r->rc;) {
			size_t avail;
			if (!need_input(r, &avail))
				break;
			size_t k = avail < n - got ? avail : n - got;
			memcpy(cbuf + got, r->in.buf + r->in.pos, k);
			r->in.pos += k;
			got += k;
		}
		int d = r->rc ? 0 : LZ4_decompress_safe(cbuf, dbuf, (int)n, LZ4_LEGACY_BLOCK);
		if (d < 0)
			fail(r, "bad lz4 data");
		else
			pump(r, (unsigned char *)dbuf, d);
	}
	free(cbuf);
	free(dbuf);
}

/* ---- the outer loop ------------------------------------------------------ */

enum codec { K_GZIP, K_BZIP2, K_LZMA, K_XZ, K_LZO, K_LZ4, K_ZSTD };

/* lib/decompress.c's table: two bytes decide, as in the kernel. */
static const struct {
	unsigned char magic[2];
	enum codec codec;
	const char *name;
} methods[] = {
	{ { 0x1f, 0x8b }, K_GZIP, "gzip" }, { { 0x1f, 0x9e }, K_GZIP, "gzip" }, { { 0x42, 0x5a }, K_BZIP2, "bzip2" },
	{ { 0x5d, 0x00 }, K_LZMA, "lzma" }, { { 0xfd, 0x37 }, K_XZ, "xz" },     { { 0x89, 0x4c }, K_LZO, "lzo" },
	{ { 0x02, 0x21 }, K_LZ4, "lz4" },   { { 0x28, 0xb5 }, K_ZSTD, "zstd" },
};

/* Junk at the very start (of the file, or of what its first compressed
 * stream holds, `codec`): the file is no initramfs at all, which is worth
 * more words than an offset, most of all when it is a kernel (vmlinuz and
 * initrd.img sit side by side in /boot). */
static void not_an_image(struct reader *r, const unsigned char *head, size_t n, const char *codec)
{
	const char *kind = image_file_kind(head, n, NULL);
	const char *hint = "rdc ls, extract and diff read initramfs images: cpio archives, plain or compressed (gzip, xz, zstd, lz4 ...), "
			   "e.g. /boot/initrd.img-*";
	if (kind && codec)
		diag_error(NULL, hint, "%s is not an initramfs image: %s-compressed, it looks like %s", r->path, codec, kind);
	else if (kind)
		diag_error(NULL, hint, "%s is not an initramfs image: it looks like %s", r->path, kind);
	else
		diag_error(NULL, hint, "%s is not an initramfs image: neither a cpio archive nor a compressed stream "
			   "(invalid magic) at byte 0", r->path);
	r->rc = -1;
}

static void decompress_one(struct reader *r, unsigned char *out)
{
	size_t i, n = sizeof(methods) / sizeof(methods[0]);
	bool two = in_peek(&r->in, 2) >= 2; /* may move the buffer: p only after it */
	const unsigned char *p = r->in.buf + r->in.pos;
	for (i = 0; i < n && (!two || memcmp(p, methods[i].magic, 2)); i++)
		;
	if (i == n && in_offset(&r->in) == 0) {
		size_t have = in_peek(&r->in, IMAGE_HEAD_MAX);
		not_an_image(r, r->in.buf + r->in.pos, have, NULL);
		return;
	}
	if (i == n) {
		fail(r, "neither a cpio archive nor a compressed stream (invalid magic)");
		return;
	}
	uint64_t saved = r->pos;
	r->codec = methods[i].name;
	r->stream_at = in_offset(&r->in);
	r->pos = 0;
	r->seg_open = false;
	uint64_t start = in_offset(&r->in);
	switch (methods[i].codec) {
	case K_GZIP: un_gzip(r, out); break;
	case K_BZIP2: un_bzip2(r, out); break;
	case K_LZMA: un_lzma(r, out, true); break;
	case K_XZ: un_lzma(r, out, false); break;
	case K_LZ4: un_lz4(r, out); break;
	case K_ZSTD: un_zstd(r, out); break;
	case K_LZO: fail(r, "lzo: rdc cannot read it (the kernel can; unpack it with lzop)"); break;
	}
	if (!r->rc && r->st != C_RESET)
		fail(r, "junk at the end of the compressed archive (it ends inside an entry)");
	r->codec = "cpio";
	r->seg_open = false; /* the next plain archive is a segment of its own */
	r->pos = saved + (in_offset(&r->in) - start);
}

static int read_all(struct reader *r)
{
	unsigned char *out = xmalloc(CHUNK);
	size_t avail;
	while (!r->rc && (avail = in_peek(&r->in, 1)) > 0) {
		unsigned char c = r->in.buf[r->in.pos];
		if (c == 0 || (c == '0' && !(r->pos & 3)) || r->st != C_RESET) {
			size_t k = feed(r, r->in.buf + r->in.pos, avail);
			r->in.pos += k;
			if (k == avail || r->rc)
				continue;
		}
		decompress_one(r, out);
	}
	if (!r->rc && r->in.err)
		fail(r, strerror(r->in.err));
	if (!r->rc && r->st != C_RESET)
		fail(r, "the image ends inside an entry");
	free(out);
	return r->rc;
}

int image_read(const char *path, const struct image_ops *ops, void *ctx)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0) {
		diag_error(NULL, NULL, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	bool known = fstat(fd, &st) == 0;
	if (known && S_ISDIR(st.st_mode)) {
		diag_error(NULL, NULL, "%s is a directory, not an image", path);
		close(fd);
		return -1;
	}
	if (known && fd && S_ISCHR(st.st_mode)) { /* /dev/zero would be padding for ever, a tty would wait */
		diag_error(NULL, NULL, "%s is a character device, not an image (a stream on stdin is read with -)", path);
		close(fd);
		return -1;
	}
	struct reader r = { .path = path, .ops = ops, .ctx = ctx, .st = C_RESET, .segment = -1, .codec = "cpio" };
	r.in = (struct input){ .fd = fd, .buf = xmalloc(CHUNK) };
	int rc = read_all(&r);
	free(r.in.buf);
	free(r.coll);
	forget_links(&r);
	if (fd)
		close(fd);
	return rc;
}

bool image_magic(const unsigned char *b, size_t n)
{
	static const struct {
		const char *bytes;
		size_t len;
	} magic[] = {
		{ "070701", 6 }, { "070702", 6 }, { "070707", 6 }, { "\x1f\x8b", 2 }, { "\xfd" "7zXZ\0", 6 },
		{ "\x28\xb5\x2f\xfd", 4 }, { "\x02\x21\x4c\x18", 4 }, { "\x5d\0\0", 3 }, { "\x89LZO", 4 },
	};
	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		if (n >= magic[i].len && !memcmp(b, magic[i].bytes, magic[i].len))
			return true;
	return n >= 4 && !memcmp(b, "BZh", 3) && b[3] >= '1' && b[3] <= '9';
}

/* The boot protocols' own marks: an x86 bzImage has "HdrS" at 0x202
 * (Documentation/arch/x86/boot.rst), arm64 and riscv Images a magic at
 * 0x38 (arm64/booting.rst, riscv/boot-image-header.rst). */
static const struct {
	size_t at;
	const char *magic, *arch, *kind;
} kernel_marks[] = {
	{ 0x202, "HdrS", "x86", "an x86 kernel image (bzImage)" },
	{ 0x38, "ARM\x64", "aarch64", "an arm64 kernel Image" },
	{ 0x38, "RSC\x05", "riscv64", "a riscv64 kernel Image" },
};

const char *image_file_kind(const unsigned char *h, size_t n, const char **arch)
{
	if (arch)
		*arch = NULL;
	for (size_t i = 0; i < sizeof(kernel_marks) / sizeof(kernel_marks[0]); i++)
		if (n >= kernel_marks[i].at + 4 && !memcmp(h + kernel_marks[i].at, kernel_marks[i].magic, 4)) {
			if (arch)
				*arch = kernel_marks[i].arch;
			return kernel_marks[i].kind;
		}
	if (n >= 4 && !memcmp(h, "\177ELF", 4))
		return "an ELF file (a vmlinux, or a program)";
	return NULL;
}

char *image_path(const char *name)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = name;
	while (*p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 2 && !strncmp(p, "..", 2)) {
			sb_release(&sb);
			return NULL;
		}
		if (n && !(n == 1 && *p == '.')) {
			sb_adds(&sb, "/");
			sb_add(&sb, p, n);
		}
		p += n;
	}
	if (!sb.len)
		sb_adds(&sb, "/");
	return sb_detach(&sb);
}
