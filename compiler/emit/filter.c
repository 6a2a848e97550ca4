/* filter.c — byte sinks into a file: raw, or through zlib, liblzma, libzstd
 * or liblz4 (directly rather than libarchive's filters: the kernel needs xz
 * with a CRC32 check and lz4 in the legacy frame format), whole or as one
 * piece of a segmented stream. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_stableInBuffer, in libzstd since 1.4.6 */
#include "emit/emit_int.h"
#include "lib/tempfile.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>
#include "cache/remote.h"
#include "lib/util.h"

/* ---- sinks: a byte stream, optionally compressed, into a file ------------ */

static void sink_out(struct sink *s, const void *data, size_t len)
{
	if (len && !s->err) {
		if (s->sum)
			XXH3_128bits_update(s->sum, data, len);
		if ((s->placed ? pwrite_all(s->fd, data, len, s->at) : write_all(s->fd, data, len)) < 0)
			s->err = errno;
		s->at += len;
	}
}

static void sink_flush(struct sink *s)
{
	sink_out(s, s->obuf, s->olen);
	s->olen = 0;
}

void sink_raw(struct sink *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len) {
		if (s->olen == s->ocap)
			sink_flush(s);
		size_t n = s->ocap - s->olen < len ? s->ocap - s->olen : len;
		memcpy(s->obuf + s->olen, p, n);
		s->olen += n;
		p += n;
		len -= n;
	}
}

static void zstd_params(ZSTD_CCtx *zc, int level)
{
	ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, output_level(EA_ZSTD, level));
	ZSTD_CCtx_setParameter(zc, ZSTD_c_checksumFlag, 1);
}

static int sink_open_zstd(struct sink *s, int level)
{
	if (!(s->zc = ZSTD_createCCtx()))
		return -1;
	zstd_params(s->zc, level);
	return 0;
}

int sink_open(struct sink *s, int fd, enum emit_algo algo, int level, bool c_text)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->algo = algo;
	s->level = level;
	s->c_text = c_text;
	s->ocap = IO_CHUNK;
	s->obuf = xmalloc(s->ocap);
	switch (algo) {
	case EA_GZIP: /* zlib's gzip header has mtime 0 and no name: deterministic */
		if (deflateInit2(&s->z, output_level(EA_GZIP, level), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		break;
	case EA_XZ:
		if (lzma_easy_encoder(&s->x, (uint32_t)output_level(EA_XZ, level), LZMA_CHECK_CRC32) != LZMA_OK)
			return -1;
		break;
	case EA_ZSTD:
		if (sink_open_zstd(s, level) < 0)
			return -1;
		break;
	case EA_LZ4: {
		uint32_t magic = LZ4_LEGACY_MAGIC;
		sink_raw(s, &magic, 4); /* little-endian hosts only, like the kernel's own tools */
		s->lbuf = xmalloc(LZ4_LEGACY_BLOCK);
		break;
	}
	case EA_NONE:
		break;
	}
	return 0;
}

/* A piece larger than this is streamed instead: the buffer is memory on
 * every worker (4 MiB holds two thirds of a whole kernel's bytes, pieces
 * of 1.7 MB typically). */
#define WHOLE_MAX (4u << 20)

/* One xz block: its header now, the encoder for the rest.  The block keeps
 * no sizes in its header (they are in the index), as xz itself writes it. */
static int xz_block_open(struct sink *s, int level)
{
	if (lzma_lzma_preset(&s->lzopt, (uint32_t)output_level(EA_XZ, level)))
		return -1;
	s->filters[0] = (lzma_filter){ .id = LZMA_FILTER_LZMA2, .options = &s->lzopt };
	s->filters[1] = (lzma_filter){ .id = LZMA_VLI_UNKNOWN };
	s->block = (lzma_block){ .version = 0, .check = LZMA_CHECK_CRC32, .filters = s->filters,
				 .compressed_size = LZMA_VLI_UNKNOWN, .uncompressed_size = LZMA_VLI_UNKNOWN };
	unsigned char head[LZMA_BLOCK_HEADER_SIZE_MAX];
	if (lzma_block_header_size(&s->block) != LZMA_OK || lzma_block_header_encode(&s->block, head) != LZMA_OK)
		return -1;
	sink_raw(s, head, s->block.header_size);
	return lzma_block_encoder(&s->x, &s->block) == LZMA_OK ? 0 : -1;
}

/* A piece of one stream: gzip gives a raw deflate run that ends on a full
 * flush (byte-aligned, no back-references into it), or with the final
 * block when `final`; xz an independent block; zstd a frame.  lz4 and none
 * have no pieces. */
int sink_open_piece(struct sink *s, int fd, enum emit_algo algo, int level, bool final, struct piece_mem *mem,
		    uint64_t raw)
{
	if (sink_open(s, fd, EA_NONE, level, false) < 0)
		return -1;
	s->algo = algo;
	s->piece = true;
	s->final = final;
	switch (algo) {
	case EA_GZIP:
		return deflateInit2(&s->z, output_level(EA_GZIP, level), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK ? 0 : -1;
	case EA_XZ:
		if (mem) { /* lent, given back at sink_close */
			s->x = mem->x;
			mem->x = (lzma_stream)LZMA_STREAM_INIT;
			s->mem = mem;
		}
		if (xz_block_open(s, level) == 0)
			return 0;
		if (mem) /* a compressor that did not start is never closed: given back here */
			mem->x = s->x, s->mem = NULL;
		return -1;
	case EA_ZSTD:
		if (!mem || raw > WHOLE_MAX) /* the trailer alone, or too big to hold: streamed */
			return sink_open_zstd(s, level);
		if (!mem->zc && !(mem->zc = ZSTD_createCCtx()))
			return -1;
		ZSTD_CCtx_reset(mem->zc, ZSTD_reset_session_and_parameters);
		s->zc = mem->zc;
		s->mem = mem;
		zstd_params(s->zc, level);
		if (mem->rcap < raw) { /* kept from piece to piece, so grown seldom */
			free(mem->raw);
			for (mem->rcap = IO_CHUNK; mem->rcap < raw;)
				mem->rcap *= 2;
			mem->raw = xmalloc(mem->rcap);
		}
		s->wbuf = mem->raw;
		return 0;
	default:
		return -1;
	}
}

static void lz4_block(struct sink *s)
{
	if (!s->llen)
		return;
	int cap = LZ4_compressBound((int)s->llen);
	char *out = xmalloc(cap);
	int n = s->level > 2 ? LZ4_compress_HC((char *)s->lbuf, out, (int)s->llen, cap, s->level)
			     : LZ4_compress_default((char *)s->lbuf, out, (int)s->llen, cap);
	uint32_t n32 = (uint32_t)n;
	sink_raw(s, &n32, 4);
	sink_raw(s, out, n);
	free(out);
	s->llen = 0;
}

static void c_text_write(struct sink *s, const unsigned char *p, size_t len)
{
	char line[16 * 6 + 4];
	for (size_t i = 0; i < len; i++) {
		uint64_t at = s->in_off - len + i;
		int n = snprintf(line, sizeof(line), "%s0x%02x,", at % 16 ? " " : "\n\t", p[i]);
		sink_raw(s, line, n);
	}
}

/* Compress `len` bytes (flush: finish the stream). */
static void sink_codec(struct sink *s, const void *data, size_t len, bool finish)
{
	unsigned char tmp[IO_CHUNK];
	if (s->algo == EA_GZIP) {
		s->z.next_in = (unsigned char *)data;
		s->z.avail_in = len;
		int rc, flush = !finish ? Z_NO_FLUSH : s->piece && !s->final ? Z_FULL_FLUSH : Z_FINISH;
		do {
			s->z.next_out = tmp;
			s->z.avail_out = sizeof(tmp);
			rc = deflate(&s->z, flush);
			if (rc == Z_STREAM_ERROR) { /* never loop on, never ship a truncated stream */
				s->err = EIO;
				return;
			}
			sink_raw(s, tmp, sizeof(tmp) - s->z.avail_out);
		} while (s->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
	} else if (s->algo == EA_XZ) {
		s->x.next_in = data;
		s->x.avail_in = len;
		lzma_ret rc;
		do {
			s->x.next_out = tmp;
			s->x.avail_out = sizeof(tmp);
			rc = lzma_code(&s->x, finish ? LZMA_FINISH : LZMA_RUN);
			if (rc != LZMA_OK && rc != LZMA_STREAM_END && rc != LZMA_BUF_ERROR) { /* BUF: no progress, not fatal */
				s->err = rc == LZMA_MEM_ERROR ? ENOMEM : EIO;
				return;
			}
			sink_raw(s, tmp, sizeof(tmp) - s->x.avail_out);
		} while (s->x.avail_out == 0 || (finish && rc == LZMA_OK));
	} else if (s->algo == EA_ZSTD) {
		ZSTD_inBuffer in = { data, len, 0 };
		size_t left;
		do {
			ZSTD_outBuffer out = { tmp, sizeof(tmp), 0 };
			left = ZSTD_compressStream2(s->zc, &out, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left)) {
				s->err = EIO;
				return;
			}
			sink_raw(s, tmp, out.pos);
		} while (finish ? left != 0 : in.pos < in.size);
	}
}

/* Room for `len` more bytes of a gathered zstd piece (sized for the
 * piece when it opened: only a source longer than planned, which its
 * stream reports, can need more). */
static void whole_grow(struct sink *s, size_t len)
{
	struct piece_mem *m = s->mem;
	if (s->wlen + len > m->rcap) {
		while (s->wlen + len > m->rcap)
			m->rcap *= 2;
		s->wbuf = m->raw = xrealloc(m->raw, m->rcap);
	}
}

/* Compress a gathered zstd piece where it lies (a stable input buffer),
 * out through the sink's own small buffer. */
static void whole_finish(struct sink *s)
{
	sink_flush(s);
	if (ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_stableInBuffer, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(s->zc, s->wlen))) { /* an older libzstd: streamed */
		sink_codec(s, s->wbuf, s->wlen, true);
		return;
	}
	ZSTD_inBuffer in = { s->wbuf, s->wlen, 0 };
	size_t left;
	do {
		ZSTD_outBuffer out = { s->obuf, s->ocap, 0 };
		left = ZSTD_compressStream2(s->zc, &out, &in, ZSTD_e_end);
		if (ZSTD_isError(left)) {
			s->err = EIO;
			return;
		}
		sink_out(s, s->obuf, out.pos);
	} while (left);
}

void piece_mem_free(struct piece_mem *m)
{
	ZSTD_freeCCtx(m->zc);
	lzma_end(&m->x);
	free(m->raw);
	memset(m, 0, sizeof(*m));
}

void sink_write(struct sink *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	if (s->wbuf) {
		whole_grow(s, len);
		memcpy(s->wbuf + s->wlen, p, len);
		s->wlen += len;
		s->in_off += len;
		return;
	}
	s->in_off += len;
	if (s->piece && s->algo == EA_GZIP)
		s->crc = crc32(s->crc, p, len);
	if (s->c_text) {
		c_text_write(s, p, len);
	} else if (s->algo == EA_NONE) {
		sink_raw(s, p, len);
	} else if (s->algo == EA_LZ4) {
		while (len) {
			size_t n = LZ4_LEGACY_BLOCK - s->llen < len ? LZ4_LEGACY_BLOCK - s->llen : len;
			memcpy(s->lbuf + s->llen, p, n);
			s->llen += n;
			p += n;
			len -= n;
			if (s->llen == LZ4_LEGACY_BLOCK)
				lz4_block(s);
		}
	} else {
		sink_codec(s, p, len, false);
	}
}

void sink_zeros(struct sink *s, size_t n)
{
	static const unsigned char zeros[512];
	sink_write(s, zeros, n);
}

/* Finish the stream; returns 0 or -1 with errno. */
int sink_close(struct sink *s)
{
	if (s->algo == EA_LZ4)
		lz4_block(s);
	else if (s->wbuf)
		whole_finish(s);
	else if (s->algo != EA_NONE)
		sink_codec(s, NULL, 0, true);
	sink_flush(s);
	if (s->algo == EA_GZIP)
		deflateEnd(&s->z);
	if (s->algo == EA_XZ && s->mem)
		s->mem->x = s->x;
	else if (s->algo == EA_XZ)
		lzma_end(&s->x);
	if (!s->mem) /* a lent compressor stays with its worker */
		ZSTD_freeCCtx(s->zc);
	free(s->lbuf);
	free(s->obuf);
	if (s->err) {
		errno = s->err;
		return -1;
	}
	return 0;
}

/* Room to read input straight into, when the sink writes it unchanged (an
 * uncompressed image): one copy fewer, as gen_init_cpio reads into its own
 * buffer and writes it.  NULL when the bytes must go through sink_write. */
unsigned char *sink_window(struct sink *s, size_t *room)
{
	if (s->wbuf) {
		if (s->wlen == s->mem->rcap)
			whole_grow(s, *room);
		if (*room > s->mem->rcap - s->wlen)
			*room = s->mem->rcap - s->wlen;
		return s->wbuf + s->wlen;
	}
	if (s->c_text || s->algo != EA_NONE)
		return NULL;
	if (s->olen == s->ocap)
		sink_flush(s);
	*room = s->ocap - s->olen;
	return s->obuf + s->olen;
}

/* An uncompressed sink that writes a run of the archive in its place: from
 * file offset `off`, which is also its cpio offset (for the padding). */
void sink_place(struct sink *s, uint64_t off)
{
	s->placed = true;
	s->at = s->in_off = off;
}

void sink_took(struct sink *s, size_t n)
{
	if (s->wbuf)
		s->wlen += n;
	else
		s->olen += n;
	s->in_off += n;
}
