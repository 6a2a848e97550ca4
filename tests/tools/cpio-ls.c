/* cpio-ls.c — a test oracle: lists every entry of an initramfs the way the
 * kernel's init/initramfs.c unpacks it: cpio newc archives laid end to end,
 * each plain or compressed on its own (gzip, xz, zstd, lz4 legacy), with
 * zero padding between them.  One line per entry:
 *     mode uid gid rdev size content-hash name [-> target]
 * It shares no code with rdc's writer on purpose.
 * Usage: cpio-ls < image */
#include <lz4.h>
#include <lzma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

static unsigned char *in;
static size_t in_len;

static void die(const char *msg, size_t off)
{
	fprintf(stderr, "cpio-ls: %s at offset %zu\n", msg, off);
	exit(1);
}

static unsigned long field(const unsigned char *h, int i)
{
	char buf[9];
	memcpy(buf, h + 6 + 8 * i, 8);
	buf[8] = '\0';
	return strtoul(buf, NULL, 16);
}

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

/* List the archive(s) in a plain buffer; with `one`, stop after the first
 * trailer.  Returns the bytes used. */
static size_t list_plain(const unsigned char *p, size_t len, int one)
{
	size_t off = 0;
	while (off < len) {
		if (p[off] == 0 && !one) {
			off++;
			continue;
		}
		if (len - off < 110 || memcmp(p + off, "070701", 6))
			die("bad cpio header", off);
		const unsigned char *h = p + off;
		unsigned long mode = field(h, 1), uid = field(h, 2), gid = field(h, 3), size = field(h, 6);
		unsigned long rmaj = field(h, 9), rmin = field(h, 10), namesize = field(h, 11);
		size_t name_at = off + 110, data_at = pad4(name_at + namesize);
		if (data_at + size > len)
			die("truncated entry", off);
		const char *name = (const char *)p + name_at;
		const unsigned char *data = p + data_at;
		off = pad4(data_at + size);
		if (!strcmp(name, "TRAILER!!!")) {
			if (one)
				return off;
			continue;
		}
		uint64_t fnv = 1469598103934665603ull;
		for (unsigned long i = 0; i < size; i++)
			fnv = (fnv ^ data[i]) * 1099511628211ull;
		if ((mode & 0170000) == 0120000)
			printf("%06lo %lu %lu %lu:%lu - - %s -> %.*s\n", mode, uid, gid, rmaj, rmin, name,
			       (int)strnlen((const char *)data, size), data);
		else
			printf("%06lo %lu %lu %lu:%lu %lu %016llx %s\n", mode, uid, gid, rmaj, rmin, size,
			       (unsigned long long)fnv, name);
	}
	if (one)
		die("archive without a trailer", off);
	return off;
}

struct out {
	unsigned char *buf;
	size_t len, cap;
};

static void out_add(struct out *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		o->buf = realloc(o->buf, o->cap);
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* Each decoder consumes exactly one stream and returns the bytes it used. */
static size_t gunzip(const unsigned char *p, size_t len, struct out *o)
{
	z_stream z = { 0 };
	unsigned char buf[65536];
	inflateInit2(&z, 15 + 32);
	z.next_in = (unsigned char *)p;
	z.avail_in = len;
	int rc;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		rc = inflate(&z, Z_NO_FLUSH);
		out_add(o, buf, sizeof(buf) - z.avail_out);
	} while (rc == Z_OK);
	if (rc != Z_STREAM_END)
		die("bad gzip stream", 0);
	size_t used = len - z.avail_in;
	inflateEnd(&z);
	return used;
}

static size_t unxz(const unsigned char *p, size_t len, struct out *o)
{
	lzma_stream x = LZMA_STREAM_INIT;
	unsigned char buf[65536];
	lzma_stream_decoder(&x, UINT64_MAX, 0); /* one stream: stop at its end */
	x.next_in = p;
	x.avail_in = len;
	lzma_ret rc;
	do {
		x.next_out = buf;
		x.avail_out = sizeof(buf);
		rc = lzma_code(&x, LZMA_FINISH);
		out_add(o, buf, sizeof(buf) - x.avail_out);
	} while (rc == LZMA_OK);
	if (rc != LZMA_STREAM_END)
		die("bad xz stream", 0);
	size_t used = len - x.avail_in;
	lzma_end(&x);
	return used;
}

static size_t unzstd(const unsigned char *p, size_t len, struct out *o)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer inb = { p, len, 0 };
	unsigned char buf[65536];
	size_t rc;
	do {
		ZSTD_outBuffer ob = { buf, sizeof(buf), 0 };
		rc = ZSTD_decompressStream(d, &ob, &inb);
		if (ZSTD_isError(rc))
			die("bad zstd stream", 0);
		out_add(o, buf, ob.pos);
	} while (rc != 0);
	ZSTD_freeDCtx(d);
	return inb.pos;
}

/* lz4 legacy frames have no end marker: like the kernel, read blocks until
 * the input ends (which is why lz4 may only be the last segment). */
static size_t unlz4(const unsigned char *p, size_t len, struct out *o)
{
	size_t off = 4;
	char *buf = malloc(8 << 20);
	while (off + 4 <= len) {
		uint32_t n;
		memcpy(&n, p + off, 4);
		if (n == 0x184C2102) {
			off += 4;
			continue;
		}
		if (n == 0 || off + 4 + n > len)
			break;
		int got = LZ4_decompress_safe((const char *)p + off + 4, buf, (int)n, 8 << 20);
		if (got < 0)
			die("bad lz4 block", off);
		out_add(o, buf, got);
		off += 4 + n;
	}
	free(buf);
	return len;
}

int main(void)
{
	size_t cap = 1 << 20;
	in = malloc(cap);
	size_t n;
	while ((n = fread(in + in_len, 1, cap - in_len, stdin)) > 0) {
		in_len += n;
		if (in_len == cap)
			in = realloc(in, cap *= 2);
	}
	size_t off = 0;
	while (off < in_len) {
		const unsigned char *p = in + off;
		size_t left = in_len - off;
		struct out o = { 0 };
		if (p[0] == 0) {
			off++;
			continue;
		}
		if (left >= 6 && !memcmp(p, "070701", 6)) { /* plain: up to and including its trailer */
			off += list_plain(p, left, 1);
			continue;
		}
		if (left >= 2 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9e))
			off += gunzip(p, left, &o);
		else if (left >= 6 && !memcmp(p, "\xfd" "7zXZ", 6))
			off += unxz(p, left, &o);
		else if (left >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4))
			off += unzstd(p, left, &o);
		else if (left >= 4 && !memcmp(p, "\x02\x21\x4c\x18", 4))
			off += unlz4(p, left, &o);
		else
			die("neither cpio nor a known compression", off);
		list_plain(o.buf, o.len, 0);
		free(o.buf);
	}
	return 0;
}
