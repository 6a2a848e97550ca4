/* emit.c — writes the Plan out.
 *
 * The cpio writer reproduces the kernel's usr/gen_init_cpio byte for byte
 * (newc headers, inode numbers from 721, dev 3:1, nlink 2 for directories,
 * pipes and sockets, symlink bodies with their NUL, trailer padded to 512),
 * so an uncompressed image equals what gen_init_cpio makes of `rdc list`.
 *
 * Compression uses zlib, liblzma, libzstd and liblz4 directly rather than
 * libarchive's filters because the kernel needs two things those filters do
 * not offer: xz with a CRC32 check (the kernel's xz decoder has no CRC64) and
 * lz4 in the legacy frame format (lib/decompress_unlz4.c). */
#include "emit/emit.h"
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

#define IO_CHUNK (256 * 1024)
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8 << 20)

/* ---- choosing the format ---------------------------------------------- */

/* The names and suffixes are lib/output.c's table. */
#define algo_names (output_algo_names())
#define format_names (output_format_names())

const char *emit_algo_name(enum emit_algo a) { return output_algos[a].name; }
const char *emit_format_name(enum emit_format f) { return output_formats[f].name; }

static int index_of(const char *word, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(word, names[i]))
			return i;
	return -1;
}

bool emit_format_known(const char *format)
{
	if (index_of(format, format_names, EF_COUNT) >= 0)
		return true;
	const char *close = diag_closest(format, format_names, EF_COUNT);
	fprintf(stderr, "rdc: --format %s: one of", format);
	for (int i = 0; i < EF_COUNT; i++)
		fprintf(stderr, "%s %s", i ? "," : "", format_names[i]);
	if (close)
		fprintf(stderr, " (did you mean '%s'?)", close);
	fputc('\n', stderr);
	return false;
}

const char *emit_default_suffix(const char *format, const char *algo)
{
	int f = format ? index_of(format, format_names, EF_COUNT) : -1;
	int a = algo ? index_of(algo, algo_names, EA_COUNT) : -1;
	if (f > EF_CPIO)
		return output_formats[f].suffix;
	return output_algos[a >= 0 ? a : EA_ZSTD].suffix;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

static bool ends_with_nocase(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcasecmp(s + n - m, suffix);
}

/* The format and compression a name asks for; returns true when the name
 * spells a compression (.cpio: none) rather than leaving it open (.img). */
static bool choose_from_suffix(const char *path, struct emit_opts *o)
{
	o->format = EF_CPIO;
	o->algo = EA_ZSTD;
	if (!path)
		return false;
	/* x.gz, x.cpio.zst ... (any case), x.cpio: a cpio image so compressed */
	for (int a = 0; a < EA_COUNT; a++) {
		const char *ext = output_algos[a].ext ? output_algos[a].ext : output_algos[a].suffix;
		if (ends_with_nocase(path, ext)) {
			o->algo = a;
			return true;
		}
	}
	for (int f = EF_CPIO + 1; f < EF_COUNT; f++)
		if (ends_with(path, output_formats[f].suffix) ||
		    (output_formats[f].alt && ends_with(path, output_formats[f].alt))) {
			o->format = f;
			o->algo = EA_NONE;
			return false;
		}
	return false;
}

bool emit_suffix_names(const char *path, enum emit_format *format)
{
	struct emit_opts o;
	bool compression = choose_from_suffix(path, &o);
	if (format)
		*format = o.format;
	return compression || o.format != EF_CPIO;
}

/* Compressions the kernel may take but rdc does not write: a name ending so
 * would be a lie about its content. */
static const char *unwritten_suffix(const char *path)
{
	static const char *const other[] = { ".bz2", ".lzma", ".lzo", ".zip", ".tar", ".tgz", ".7z", ".br", ".lz" };
	for (size_t i = 0; path && i < sizeof(other) / sizeof(other[0]); i++)
		if (ends_with_nocase(path, other[i]))
			return other[i];
	return NULL;
}

static int pick(const char *word, const char *const *names, int n, const struct loc *loc, const char *what)
{
	int i = index_of(word, names, n);
	if (i >= 0)
		return i;
	struct strbuf hint = STRBUF_INIT;
	sb_adds(&hint, "one of:");
	for (int i = 0; i < n; i++)
		sb_addf(&hint, " %s", names[i]);
	const char *close = diag_closest(word, names, n);
	if (close)
		sb_addf(&hint, " (did you mean '%s'?)", close);
	if (loc)
		diag_error(loc, hint.buf, "unknown %s '%s'", what, word);
	else
		diag_error(NULL, NULL, "unknown %s '%s'; %s", what, word, hint.buf);
	sb_release(&hint);
	return -1;
}

bool emit_algo_known(const char *algo) { return pick(algo, algo_names, EA_COUNT, NULL, "compression") >= 0; }

int emit_check_level(const struct emit_opts *o, const struct loc *loc)
{
	const struct output_algo *al = &output_algos[o->algo];
	if (o->level < 0 || o->algo == EA_NONE || (o->level >= al->min && o->level <= al->max))
		return 0;
	char *hint = xasprintf("%s takes levels %d-%d", al->name, al->min, al->max);
	if (loc && loc->line)
		diag_error(loc, hint, "compression level %d is out of range", o->level);
	else
		diag_error(NULL, NULL, "compression level %d is out of range: %s", o->level, hint);
	free(hint);
	return -1;
}

int emit_choose(const char *path, const char *format, const char *algo, const struct loc *loc,
		struct emit_opts *o)
{
	const char *bad = unwritten_suffix(path);
	if (bad) {
		const char *hint = "name it .cpio, .cpio.gz, .cpio.zst, .cpio.xz or .cpio.lz4 (or .img and say compression:)";
		if (loc && loc->line)
			diag_error(loc, hint, "rdc does not write %s files (%s)", bad, path);
		else
			diag_error(NULL, NULL, "rdc does not write %s files (%s); %s", bad, path, hint);
		return -1;
	}
	bool named = choose_from_suffix(path, o);
	enum emit_algo by_name = o->algo;
	if (format) {
		int f = pick(format, format_names, EF_COUNT, loc, "output format");
		if (f < 0)
			return -1;
		if (!named || (enum emit_format)f != o->format)
			o->algo = EA_NONE; /* --format cpio on "x.img" means plain cpio */
		o->format = f;
	}
	if (algo) {
		int a = pick(algo, algo_names, EA_COUNT, loc, "compression");
		if (a < 0)
			return -1;
		if (named && o->format == EF_CPIO && (enum emit_algo)a != by_name) {
			const char *hint = "rename the output, or drop compression: and let the name decide";
			if (loc && loc->line)
				diag_error(loc, hint, "the output %s is named for %s, but compression is %s", path,
					   output_algos[by_name].name, output_algos[a].name);
			else
				diag_error(NULL, NULL, "the output %s is named for %s, but compression is %s", path, output_algos[by_name].name,
					  output_algos[a].name);
			return -1;
		}
		o->algo = a;
	}
	if (o->format != EF_CPIO && algo && o->algo != EA_NONE) {
		/* lists, C arrays and directories are never compressed: say so */
		const char *hint = "a .c or .S embeds the plain cpio (the kernel's build compresses it); drop compression:";
		if (loc && loc->line)
			diag_error(loc, hint, "a %s output cannot be compressed (compression: %s)", output_formats[o->format].name,
				   output_algos[o->algo].name);
		else
			diag_error(NULL, NULL, "a %s output cannot be compressed (--compression %s); %s", output_formats[o->format].name,
				  output_algos[o->algo].name, hint);
		return -1;
	}
	if (o->format != EF_CPIO)
		o->algo = EA_NONE;
	if (o->algo == EA_NONE || o->algo == EA_LZ4)
		o->single_segment = true; /* lz4 swallows what follows it: one stream */
	return 0;
}

/* ---- keys ---------------------------------------------------------------- */

static void key_entry(XXH3_state_t *st, const struct plan_entry *e)
{
	uint32_t f[6] = { e->mode, e->uid, e->gid, e->rmajor, e->rminor, (uint32_t)e->kind };
	XXH3_128bits_update(st, e->path, strlen(e->path) + 1);
	XXH3_128bits_update(st, f, sizeof(f));
	if (e->target)
		XXH3_128bits_update(st, e->target, strlen(e->target) + 1);
	if (e->kind == PK_FILE) {
		XXH3_128bits_update(st, e->hash.b, sizeof(e->hash.b));
		XXH3_128bits_update(st, &e->size, sizeof(e->size));
	}
}

/* The compressor's release is part of every key: another release may write
 * other bytes for the same input, and an image must not depend on which
 * machine (or which runner, through remote storage) compressed a segment. */
static int32_t codec_version(enum emit_algo a)
{
	switch (a) {
	case EA_GZIP: return (int32_t)XXH32(zlibVersion(), strlen(zlibVersion()), 0);
	case EA_ZSTD: return (int32_t)ZSTD_versionNumber();
	case EA_XZ: return (int32_t)lzma_version_number();
	case EA_LZ4: return LZ4_versionNumber();
	default: return 0;
	}
}

static void key_opts(XXH3_state_t *st, const struct emit_opts *o, int seg)
{
	int32_t f[7] = { 3 /* layout version: 3 makes segments pieces of one stream */, o->format, o->algo, o->level, seg,
			 (int32_t)o->mtime, codec_version(o->algo) };
	XXH3_128bits_update(st, f, sizeof(f));
}

static void key_final(XXH3_state_t *st, struct cas_hash *key)
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	memcpy(key->b, c.digest, sizeof(key->b));
}

void emit_image_key(const struct plan *p, const struct emit_opts *o, struct cas_hash *key)
{
	XXH3_state_t *st = XXH3_createState();
	XXH3_128bits_reset(st);
	key_opts(st, o, o->single_segment ? -1 : -2);
	for (size_t i = 0; i < plan_count(p); i++)
		key_entry(st, plan_entry_at(p, i));
	key_final(st, key);
	XXH3_freeState(st);
}

/* ---- sinks: a byte stream, optionally compressed, into a file ------------ */

struct sink {
	int fd;
	enum emit_algo algo;
	bool c_text;       /* write bytes as a C initialiser instead */
	uint64_t in_off;   /* uncompressed bytes so far: the cpio offset */
	unsigned char *obuf;
	size_t olen, ocap;
	z_stream z;
	lzma_stream x;
	ZSTD_CCtx *zc;
	unsigned char *lbuf; /* lz4: one legacy block of input */
	size_t llen;
	int level;
	int err;           /* errno of the first failure */
	XXH3_state_t *sum; /* hash of what reaches fd (segment trailers) */
	bool keyed_after;  /* no segment cache: a source's true hash may replace the plan's (cas_stream.adopt) */
	/* A piece of a segmented image (sink_open_piece): a raw deflate run, an
	 * xz block or a zstd frame, joined into one stream by stream_*(). */
	bool piece, final; /* final: the run that ends the deflate stream */
	uint32_t crc;      /* gzip: CRC-32 of the uncompressed bytes */
	lzma_block block;  /* xz: sizes for the stream's index */
	lzma_filter filters[2];
	lzma_options_lzma lzopt;
};

static void sink_flush(struct sink *s)
{
	if (s->olen && !s->err) {
		if (s->sum)
			XXH3_128bits_update(s->sum, s->obuf, s->olen);
		if (write_all(s->fd, s->obuf, s->olen) < 0)
			s->err = errno;
	}
	s->olen = 0;
}

static void sink_raw(struct sink *s, const void *data, size_t len)
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

static int sink_open(struct sink *s, int fd, enum emit_algo algo, int level, bool c_text)
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
		if (deflateInit2(&s->z, level < 0 ? output_algos[EA_GZIP].def : level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		break;
	case EA_XZ:
		if (lzma_easy_encoder(&s->x, (uint32_t)(level < 0 ? output_algos[EA_XZ].def : level), LZMA_CHECK_CRC32) != LZMA_OK)
			return -1;
		break;
	case EA_ZSTD:
		s->zc = ZSTD_createCCtx();
		ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, level < 0 ? output_algos[EA_ZSTD].def : level);
		ZSTD_CCtx_setParameter(s->zc, ZSTD_c_checksumFlag, 1);
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

/* One xz block: its header now, the encoder for the rest.  The block keeps
 * no sizes in its header (they are in the index), as xz itself writes it. */
static int xz_block_open(struct sink *s, int level)
{
	if (lzma_lzma_preset(&s->lzopt, (uint32_t)(level < 0 ? output_algos[EA_XZ].def : level)))
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
static int sink_open_piece(struct sink *s, int fd, enum emit_algo algo, int level, bool final)
{
	if (sink_open(s, fd, EA_NONE, level, false) < 0)
		return -1;
	s->algo = algo;
	s->piece = true;
	s->final = final;
	switch (algo) {
	case EA_GZIP:
		return deflateInit2(&s->z, level < 0 ? output_algos[EA_GZIP].def : level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK ? 0 : -1;
	case EA_XZ:
		return xz_block_open(s, level);
	case EA_ZSTD:
		s->zc = ZSTD_createCCtx();
		ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, level < 0 ? output_algos[EA_ZSTD].def : level);
		ZSTD_CCtx_setParameter(s->zc, ZSTD_c_checksumFlag, 1);
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

static void sink_write(struct sink *s, const void *data, size_t len)
{
	const unsigned char *p = data;
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

static void sink_zeros(struct sink *s, size_t n)
{
	static const unsigned char zeros[512];
	sink_write(s, zeros, n);
}

/* Finish the stream; returns 0 or -1 with errno. */
static int sink_close(struct sink *s)
{
	if (s->algo == EA_LZ4)
		lz4_block(s);
	else if (s->algo != EA_NONE)
		sink_codec(s, NULL, 0, true);
	sink_flush(s);
	if (s->algo == EA_GZIP)
		deflateEnd(&s->z);
	if (s->algo == EA_XZ)
		lzma_end(&s->x);
	ZSTD_freeCCtx(s->zc);
	free(s->lbuf);
	free(s->obuf);
	if (s->err) {
		errno = s->err;
		return -1;
	}
	return 0;
}

/* ---- cpio newc, as gen_init_cpio writes it ------------------------------- */

struct cpio {
	struct sink *s;
	struct cas *cas;
	uint32_t ino, mtime;
	int err;
};

static void cpio_header(struct cpio *c, unsigned mode, const struct plan_entry *e, unsigned nlink,
			uint32_t mtime, uint32_t size, const char *name)
{
	char h[111];
	size_t namesize = strlen(name) + 1;
	snprintf(h, sizeof(h), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 e ? c->ino++ : 0, mode, e ? e->uid : 0, e ? e->gid : 0, nlink, mtime, size, e ? 3 : 0,
		 e ? 1 : 0, e ? e->rmajor : 0, e ? e->rminor : 0, (unsigned)namesize, 0);
	sink_write(c->s, h, 110);
	sink_write(c->s, name, namesize);
	sink_zeros(c->s, (4 - (110 + namesize) % 4) % 4);
}

static void cpio_pad4(struct cpio *c)
{
	sink_zeros(c->s, (4 - c->s->in_off % 4) % 4);
}

/* Room to read input straight into, when the sink writes it unchanged (an
 * uncompressed image): one copy fewer, as gen_init_cpio reads into its own
 * buffer and writes it.  NULL when the bytes must go through sink_write. */
static unsigned char *sink_window(struct sink *s, size_t *room)
{
	if (s->c_text || s->algo != EA_NONE)
		return NULL;
	if (s->olen == s->ocap)
		sink_flush(s);
	*room = s->ocap - s->olen;
	return s->obuf + s->olen;
}

static void sink_took(struct sink *s, size_t n)
{
	s->olen += n;
	s->in_off += n;
}

/* A file's bytes come from its source (or, for inline content, its cache
 * object), hashed on the way: they reach the image only through an output
 * written under a temporary name, and a mismatch fails the build before
 * that name is committed, so nothing that differs from the plan ships. */
static int cpio_file_body(struct cpio *c, const struct plan *p, const struct plan_entry *e)
{
	struct cas_stream st;
	struct strbuf why = STRBUF_INIT;
	int rc = cas_stream_open(c->cas, &st, e->src, e->hashed ? &e->hash : NULL, e->size, &why);
	st.adopt = c->s->keyed_after;
	unsigned char *buf = rc == 0 ? xmalloc(IO_CHUNK) : NULL;
	while (rc == 0 && st.left) {
		size_t room = IO_CHUNK;
		unsigned char *at = sink_window(c->s, &room);
		ssize_t n = cas_stream_read(&st, at ? at : buf, room);
		if (n <= 0)
			break; /* short: cas_stream_close says so */
		if (at)
			sink_took(c->s, (size_t)n);
		else
			sink_write(c->s, buf, (size_t)n);
	}
	free(buf);
	struct cas_hash got;
	bool opened = rc == 0;
	if (opened)
		rc = cas_stream_close(c->cas, &st, &got, &why);
	if (rc == 0 && (!e->hashed || memcmp(&got, &e->hash, sizeof(got))))
		plan_learn_hash(p, e, &got);
	if (rc < 0 && why.len)
		diag_error(&e->loc, opened && e->src ? "run the build again once it has settled" : NULL, "%s", why.buf);
	sb_release(&why);
	return rc;
}

/* After a failure the archive is lost anyway: the other sources are only
 * opened, so that every one that cannot be read is reported at its line. */
static void cpio_check_source(struct cpio *c, const struct plan_entry *e)
{
	struct cas_stream st;
	struct strbuf why = STRBUF_INIT;
	if (cas_stream_open(c->cas, &st, e->src, e->hashed ? &e->hash : NULL, e->size, &why) < 0)
		diag_error(&e->loc, NULL, "%s", why.buf);
	else
		cas_stream_abandon(&st);
	sb_release(&why);
}

static int cpio_entry(struct cpio *c, const struct plan *p, const struct plan_entry *e)
{
	const char *name = e->path + 1; /* gen_init_cpio drops the leading '/' */
	switch (e->kind) {
	case PK_FILE:
		if (e->size > 0xffffffffu) {
			diag_error(&e->loc, NULL, "%s is larger than cpio's 4 GiB limit", e->path);
			return -1;
		}
		cpio_header(c, e->mode, e, 1, c->mtime, (uint32_t)e->size, name);
		if (cpio_file_body(c, p, e) < 0)
			return -1;
		break;
	case PK_SYMLINK:
		cpio_header(c, e->mode, e, 1, c->mtime, strlen(e->target) + 1, name);
		sink_write(c->s, e->target, strlen(e->target) + 1);
		break;
	case PK_DIR:
		cpio_header(c, e->mode, e, 2, c->mtime, 0, name);
		break;
	case PK_NODE:
		cpio_header(c, e->mode, e, S_ISCHR(e->mode) || S_ISBLK(e->mode) ? 1 : 2, c->mtime, 0, name);
		break;
	}
	cpio_pad4(c);
	return 0;
}

static void cpio_trailer(struct cpio *c)
{
	cpio_header(c, 0, NULL, 1, 0, 0, "TRAILER!!!");
	sink_zeros(c->s, (512 - c->s->in_off % 512) % 512);
}

/* Write the entries `idx` (indices into the plan), numbered from `ino`,
 * then the trailer when `trailer` (a segment of a larger archive has none). */
static int cpio_entries(struct sink *s, struct cas *cas, const struct plan *p, const size_t *idx, size_t n,
			uint32_t mtime, uint32_t ino, bool trailer)
{
	struct cpio c = { .s = s, .cas = cas, .ino = ino, .mtime = mtime };
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const struct plan_entry *e = plan_entry_at(p, idx[i]);
		if (rc == 0 && cpio_entry(&c, p, e) < 0)
			rc = -1;
		else if (rc < 0 && e->kind == PK_FILE && e->src)
			cpio_check_source(&c, e); /* every unreadable source in one run, writing nothing more */
	}
	if (rc == 0 && trailer)
		cpio_trailer(&c);
	return rc;
}

/* Write the entries as one complete archive, as gen_init_cpio numbers it. */
static int cpio_archive(struct sink *s, struct cas *cas, const struct plan *p, const size_t *idx, size_t n,
			uint32_t mtime)
{
	return cpio_entries(s, cas, p, idx, n, mtime, 721, true);
}

/* ---- segments -------------------------------------------------------- */

struct segment {
	size_t *idx, n, alloc;
	struct cas_hash key;
	char *path; /* in the cache; NULL until the key is known (a pending segment) */
	int rc;
	uint64_t bound;
};

struct segjob {
	const struct plan *p;
	struct cas *cas;
	const struct emit_opts *o;
	struct segment *segs;
	size_t nsegs;
	size_t *order; /* the segments, largest first: no big one is left for the end */
	atomic_size_t next, done;
	int64_t start_ns;
};

/* Long compressions (xz -9 of every module) show how far they are, once a
 * second has passed: a silent 15 s build looks hung. */
static void segment_progress(struct segjob *j)
{
	size_t done = atomic_fetch_add(&j->done, 1) + 1;
	if (!j->o->progress || monotonic_ns() - j->start_ns < 1000000000LL)
		return;
	fprintf(stderr, "\r\033[Kcompressing: %zu/%zu segments", done, j->nsegs);
	if (done == j->nsegs)
		fputs("\r\033[K", stderr);
}

static enum plan_seg entry_segment(const struct plan_entry *e)
{
	return e->kind == PK_FILE ? e->seg : SEG_SKELETON;
}

/* Large classes are cut into chunks so an edit recompresses about a chunk,
 * not a whole class.  Cuts fall after entries whose path hashes to a fixed
 * residue (once a chunk holds SEG_CUT_MIN bytes), so they stay put when file
 * contents change; SEG_CUT_MAX bounds a chunk whatever the paths. */
#define SEG_CUT_MIN (1u << 20)
#define SEG_CUT_MAX (8u << 20)

static bool cut_after(const struct plan_entry *e, uint64_t bytes)
{
	if (bytes >= SEG_CUT_MAX)
		return true;
	return bytes >= SEG_CUT_MIN && (XXH3_64bits(e->path, strlen(e->path)) & 7) == 0;
}

static struct segment *split_segments(const struct plan *p, const struct emit_opts *o, size_t *nsegs)
{
	struct segment *segs = NULL;
	size_t n = 0, alloc = 0;
	for (int cls = 0; cls < SEG_COUNT; cls++) {
		uint64_t bytes = 0;
		bool open = false;
		for (size_t i = 0; i < plan_count(p); i++) {
			const struct plan_entry *e = plan_entry_at(p, i);
			if (!o->single_segment && entry_segment(e) != (enum plan_seg)cls)
				continue;
			if (!open) {
				GROW(segs, n + 1, alloc);
				memset(&segs[n++], 0, sizeof(*segs));
				open = true;
				bytes = 0;
			}
			struct segment *s = &segs[n - 1];
			GROW(s->idx, s->n + 1, s->alloc);
			s->idx[s->n++] = i;
			bytes += e->size + strlen(e->path) + 110;
			if (!o->single_segment && cut_after(e, bytes))
				open = false;
		}
		if (o->single_segment)
			break;
	}
	if (!n) { /* an empty plan is still an archive: the trailer alone */
		segs = xcalloc(1, sizeof(*segs));
		n = 1;
	}
	*nsegs = n;
	return segs;
}

/* Equal entries give equal bytes, so the key names only entries and codec. */
static void segment_key(const struct plan *p, const struct emit_opts *o, struct segment *s)
{
	XXH3_state_t *st = XXH3_createState();
	XXH3_128bits_reset(st);
	key_opts(st, o, o->single_segment); /* a single segment holds the trailer */
	for (size_t i = 0; i < s->n; i++)
		key_entry(st, plan_entry_at(p, s->idx[i]));
	key_final(st, &s->key);
	XXH3_freeState(st);
}

/* A segment in the cache is one piece of the image's stream (see
 * sink_open_piece), then what joining it needs, then the XXH3-128 of both:
 *     piece | struct seg_meta (little-endian) | xxh3-128 */
#define SEG_META_MAGIC 0x33474553u /* "SEG3" */
struct seg_meta {
	uint32_t magic;
	uint32_t crc;      /* gzip: CRC-32 of the uncompressed bytes */
	uint64_t raw;      /* uncompressed bytes */
	uint64_t unpadded; /* xz: the block's unpadded size, for the index */
	uint64_t piece;    /* bytes of the piece */
};

/* Inode numbers: entries that share one (dev, ino) with nlink >= 2 are hard
 * links to the kernel and to cpio readers, so numbers must not repeat there.
 * All such entries (directories, pipes, sockets) are in the skeleton, which
 * is numbered from 721 as gen_init_cpio does.  Other segments hold only
 * files (nlink 1) and start at a base of their own, from their first path,
 * so that an edit elsewhere never renumbers (and recompresses) them. */
static uint32_t segment_ino(const struct plan *p, const struct emit_opts *o, const struct segment *s)
{
	if (o->single_segment || !s->n || entry_segment(plan_entry_at(p, s->idx[0])) == SEG_SKELETON)
		return 721;
	const char *first = plan_entry_at(p, s->idx[0])->path;
	return 721 + ((uint32_t)((XXH3_64bits(first, strlen(first)) & 0x7fff) + 1) << 16);
}

/* Write one segment's piece into fd, then its meta and trailer.  Only a
 * single-segment image carries the cpio trailer in its segment: otherwise
 * the segments are one archive and stream_tail() ends it. */
static int segment_encode(struct segjob *j, struct segment *s, int fd)
{
	struct sink k;
	if (sink_open_piece(&k, fd, j->o->algo, j->o->level, j->o->single_segment) < 0) {
		/* never close (and so "finish") a compressor that did not start */
		diag_error(NULL, NULL, "cannot start the %s compressor at level %d", output_algos[j->o->algo].name, j->o->level);
		free(k.obuf);
		return -1;
	}
	XXH3_state_t *sum = k.sum = XXH3_createState();
	XXH3_128bits_reset(sum);
	int rc = cpio_entries(&k, j->cas, j->p, s->idx, s->n, j->o->mtime, segment_ino(j->p, j->o, s),
			      j->o->single_segment);
	struct seg_meta m = { .magic = SEG_META_MAGIC, .raw = k.in_off };
	if (sink_close(&k) < 0 && rc == 0) {
		diag_error(NULL, NULL, "cannot write %s: %s", s->path, strerror(errno));
		rc = -1;
	}
	m.crc = k.crc;
	m.unpadded = j->o->algo == EA_XZ ? lzma_block_unpadded_size(&k.block) : 0;
	off_t end = lseek(fd, 0, SEEK_CUR);
	m.piece = end > 0 ? (uint64_t)end : 0;
	XXH3_128bits_update(sum, &m, sizeof(m)); /* little-endian hosts, like the lz4 writer */
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(sum));
	XXH3_freeState(sum);
	if (rc == 0 && (write_all(fd, &m, sizeof(m)) < 0 || write_all(fd, c.digest, sizeof(c.digest)) < 0))
		rc = -1;
	return rc;
}

/* Compress one segment into the cache.  Data that does not shrink needs no
 * special case: deflate stores it in stored blocks, LZMA2 in uncompressed
 * chunks and zstd in raw blocks, so unpacking it costs about a copy.  A
 * pending segment (no key yet: its sources are hashed as they are
 * compressed) is written under a provisional name and renamed to its key's
 * once every hash is known. */
static int segment_build(struct segjob *j, struct segment *s)
{
	struct atomic_file af;
	static const struct cas_hash provisional;
	char *at = s->path ? xstrdup(s->path) : cas_segment_path(j->cas, &provisional);
	if (atomic_open(&af, at) < 0) {
		diag_error(NULL, NULL, "cannot write %s: %s", at, strerror(errno));
		free(at);
		return -1;
	}
	free(at);
	if (segment_encode(j, s, af.fd) == 0) {
		if (!s->path) {
			segment_key(j->p, j->o, s);
			s->path = cas_segment_path(j->cas, &s->key);
			free(af.path);
			af.path = xstrdup(s->path);
		}
		if (atomic_commit(&af, 0444) == 0)
			return 0;
	}
	atomic_abort(&af);
	return -1;
}

/* Pending files of a segment that also holds files the index knew: hashed
 * here, on this worker, so that its key can be looked up before anything
 * is compressed (the touched file of an edit loop is seldom changed). */
static int segment_hash_pending(struct segjob *j, struct segment *s)
{
	int rc = 0;
	for (size_t k = 0; k < s->n; k++) {
		const struct plan_entry *e = plan_entry_at(j->p, s->idx[k]);
		if (e->kind != PK_FILE || e->hashed || !e->src)
			continue;
		struct cas_hash h;
		uint64_t size;
		struct strbuf why = STRBUF_INIT;
		if (cas_hash_file(j->cas, e->src, &h, &size, &why) == 0 && size != e->size)
			sb_addf(&why, "%s changed while rdc was reading it", e->src);
		if (why.len) {
			diag_error(&e->loc, NULL, "%s", why.buf);
			rc = -1;
		} else {
			plan_learn_hash(j->p, e, &h);
		}
		sb_release(&why);
	}
	return rc;
}

/* A segment none of whose sources the index knew is compressed while they
 * are hashed (one read each: a cold build); one that holds some known
 * files has the others hashed first, and is looked up by its key. */
static bool segment_pending(const struct plan *p, const struct segment *s, bool *all)
{
	size_t pending = 0, files = 0;
	for (size_t k = 0; k < s->n; k++) {
		const struct plan_entry *e = plan_entry_at(p, s->idx[k]);
		if (e->kind == PK_FILE && e->src) {
			files++;
			pending += !e->hashed;
		}
	}
	*all = pending == files;
	return pending > 0;
}

/* The most a segment's file can be: its entries stored uncompressed, with
 * cpio headers and names, the codecs' framing (well under 1/64 of the data
 * for stored blocks) and the trailer. */
static uint64_t segment_bound(const struct segjob *j, const struct segment *s)
{
	uint64_t raw = 0;
	for (size_t k = 0; k < s->n; k++) {
		const struct plan_entry *e = plan_entry_at(j->p, s->idx[k]);
		raw += 512 + strlen(e->path) + (e->target ? strlen(e->target) : 0) + (e->kind == PK_FILE ? e->size : 0);
	}
	return raw + raw / 64 + (1 << 20);
}

/* The key and the cache path of a segment whose hashes are all known. */
static void segment_locate(struct segjob *j, struct segment *s)
{
	segment_key(j->p, j->o, s);
	s->path = cas_segment_path(j->cas, &s->key);
}

static void *segment_worker(void *arg)
{
	struct segjob *j = arg;
	size_t i;
	while ((i = atomic_fetch_add(&j->next, 1)) < j->nsegs) {
		struct segment *s = &j->segs[j->order[i]];
		bool all, pending = segment_pending(j->p, s, &all), cached = false;
		int rc = 0;
		if (pending && !all) {
			rc = segment_hash_pending(j, s);
			pending = false;
		}
		if (rc == 0 && !pending && !s->path)
			segment_locate(j, s);
		if (rc == 0 && s->path) {
			cached = access(s->path, F_OK) == 0; /* a damaged one is caught when copied */
			/* from remote storage: checked before it was installed */
			cached = cached || remote_fetch_segment(j->cas, &s->key, s->bound);
		}
		s->rc = rc < 0 ? -1 : cached ? 0 : segment_build(j, s);
		if (!cached && s->rc == 0)
			remote_store_segment(j->cas, &s->key);
		if (j->o->stats)
			atomic_fetch_add(cached ? &j->o->stats->segments_reused : &j->o->stats->segments_built, 1);
		segment_progress(j);
	}
	return NULL;
}

static int by_bound_desc(const void *a, const void *b, void *arg)
{
	const struct segment *s = arg;
	uint64_t x = s[*(const size_t *)a].bound, y = s[*(const size_t *)b].bound;
	return x < y ? 1 : x > y ? -1 : (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

static int build_segments(struct segjob *j)
{
	j->start_ns = monotonic_ns();
	j->order = xcalloc(j->nsegs, sizeof(*j->order));
	for (size_t i = 0; i < j->nsegs; i++) {
		j->order[i] = i;
		j->segs[i].bound = segment_bound(j, &j->segs[i]);
	}
	qsort_r(j->order, j->nsegs, sizeof(*j->order), by_bound_desc, j->segs);
	if (j->o->stats)
		atomic_store(&j->o->stats->segments_total, j->nsegs);
	run_parallel(segment_worker, j, j->o->jobs, j->nsegs);
	free(j->order);
	int rc = 0;
	for (size_t i = 0; i < j->nsegs; i++)
		rc |= j->segs[i].rc;
	return rc;
}

/* Append a cached segment's piece to fd, checking its trailer and reading
 * its meta; 1 when damaged. */
static int segment_copy(const struct segment *s, int fd, struct seg_meta *m)
{
	struct stat st;
	int in = open_regular(s->path, &st); /* a FIFO planted in the cache must not hang the build */
	const off_t tail = sizeof(*m) + 16;
	if (in < 0 || st.st_size < tail || pread(in, m, sizeof(*m), st.st_size - tail) != sizeof(*m) ||
	    m->magic != SEG_META_MAGIC || m->piece != (uint64_t)(st.st_size - tail)) {
		if (in >= 0)
			close(in);
		return 1;
	}
	uint64_t left = m->piece;
	unsigned char *buf = xmalloc(IO_CHUNK);
	XXH3_state_t *sum = XXH3_createState();
	XXH3_128bits_reset(sum);
	int rc = 0;
	while (left && rc == 0) {
		ssize_t n = read(in, buf, left < IO_CHUNK ? left : IO_CHUNK);
		if (n <= 0)
			rc = 1;
		else if (XXH3_128bits_update(sum, buf, n), write_all(fd, buf, n) < 0)
			rc = -1;
		else
			left -= n;
	}
	XXH3_128bits_update(sum, m, sizeof(*m));
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(sum));
	if (rc == 0 && (pread(in, buf, 16, st.st_size - 16) != 16 || memcmp(buf, c.digest, 16)))
		rc = 1;
	XXH3_freeState(sum);
	free(buf);
	close(in);
	return rc;
}

/* ---- one stream around the pieces ---------------------------------------
 * gzip: one member (RFC 1952) whose deflate data is the segments' runs and a
 * last run holding the trailer; the CRC is combined from the pieces'.
 * xz: one stream (stream header, the blocks, index, footer).  zstd: the
 * frames back to back with no padding; the kernel needs each compressed
 * stream to end between two entries, which every segment does (its entries
 * are padded to 4 bytes and start at a 4-byte offset).  In all three the
 * uncompressed bytes are ONE cpio archive with one trailer. */
struct stream {
	uint32_t crc;
	uint64_t total;
	lzma_index *index;
};

static int stream_head(const struct emit_opts *o, int fd, struct stream *st)
{
	memset(st, 0, sizeof(*st));
	if (o->algo == EA_GZIP) { /* no name, mtime 0, OS Unix; XFL as zlib sets it */
		unsigned char h[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, o->level == 9 ? 2 : o->level == 1 ? 4 : 0, 3 };
		return write_all(fd, h, sizeof(h));
	}
	if (o->algo == EA_XZ) {
		lzma_stream_flags f = { .version = 0, .check = LZMA_CHECK_CRC32 };
		unsigned char h[LZMA_STREAM_HEADER_SIZE];
		if (!(st->index = lzma_index_init(NULL)) || lzma_stream_header_encode(&f, h) != LZMA_OK)
			return -1;
		return write_all(fd, h, sizeof(h));
	}
	return 0;
}

static int stream_add(const struct emit_opts *o, struct stream *st, const struct seg_meta *m)
{
	st->crc = crc32_combine(st->crc, m->crc, (z_off_t)m->raw);
	st->total += m->raw;
	if (o->algo == EA_XZ && lzma_index_append(st->index, NULL, m->unpadded, m->raw) != LZMA_OK)
		return -1;
	return 0;
}

/* The cpio trailer in a piece of its own (padded to 512 bytes of the whole
 * archive, as gen_init_cpio pads it), then gzip's or xz's stream end.  The
 * trailer piece is tiny: a small level spares xz -9's 674 MiB of tables. */
static int stream_tail(const struct emit_opts *o, int fd, struct stream *st)
{
	if (!o->single_segment) {
		struct sink k;
		int rc = sink_open_piece(&k, fd, o->algo, o->algo == EA_XZ ? 0 : 1, true);
		k.in_off = st->total;
		struct cpio c = { .s = &k };
		if (rc == 0)
			cpio_trailer(&c);
		struct seg_meta m = { .raw = k.in_off - st->total };
		rc |= sink_close(&k);
		m.crc = k.crc;
		m.unpadded = o->algo == EA_XZ && rc == 0 ? lzma_block_unpadded_size(&k.block) : 0;
		if (rc < 0 || stream_add(o, st, &m) < 0)
			return -1;
	}
	if (o->algo == EA_GZIP) {
		unsigned char t[8];
		for (int i = 0; i < 4; i++) {
			t[i] = st->crc >> (8 * i);
			t[4 + i] = (uint32_t)st->total >> (8 * i); /* ISIZE: the length mod 2^32 */
		}
		return write_all(fd, t, sizeof(t));
	}
	if (o->algo == EA_XZ) {
		lzma_stream_flags f = { .version = 0, .check = LZMA_CHECK_CRC32, .backward_size = lzma_index_size(st->index) };
		size_t n = lzma_index_size(st->index), pos = 0;
		unsigned char *buf = xmalloc(n + LZMA_STREAM_HEADER_SIZE);
		int rc = lzma_index_buffer_encode(st->index, buf, &pos, n) == LZMA_OK &&
				 lzma_stream_footer_encode(&f, buf + n) == LZMA_OK
			 ? write_all(fd, buf, n + LZMA_STREAM_HEADER_SIZE)
			 : -1;
		free(buf);
		return rc;
	}
	return 0;
}

/* One pass over the segments; 1 (after naming it in *bad) when a cached
 * segment is damaged. */
static int concat_once(struct segjob *j, int fd, size_t *bad)
{
	struct stream st;
	int rc = stream_head(j->o, fd, &st);
	for (size_t i = 0; i < j->nsegs && rc == 0; i++) {
		struct seg_meta m;
		rc = segment_copy(&j->segs[i], fd, &m);
		if (rc == 0)
			rc = stream_add(j->o, &st, &m);
		else if (rc > 0)
			*bad = i;
	}
	if (rc == 0)
		rc = stream_tail(j->o, fd, &st);
	lzma_index_end(st.index, NULL);
	return rc;
}

static int concat_segments(struct segjob *j, int fd)
{
	size_t bad = 0;
	int rc;
	while ((rc = concat_once(j, fd, &bad)) > 0) { /* damaged in the cache: rebuild it, start over */
		diag_warn(NULL, NULL, "cached segment %s was damaged; rebuilding it", j->segs[bad].path);
		unlink(j->segs[bad].path);
		if (segment_build(j, &j->segs[bad]) < 0)
			return -1;
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			break;
	}
	if (rc == 0)
		return 0;
	diag_error(NULL, NULL, "cannot write the image: %s", strerror(errno));
	return -1;
}

static int emit_segmented(const struct plan *p, struct cas *cas, const struct emit_opts *o, int fd)
{
	struct segjob j = { .p = p, .cas = cas, .o = o };
	j.segs = split_segments(p, o, &j.nsegs);
	for (size_t i = 0; i < j.nsegs; i++) {
		bool all;
		if (!segment_pending(p, &j.segs[i], &all))
			segment_locate(&j, &j.segs[i]);
	}
	int rc = build_segments(&j);
	if (rc == 0)
		rc = concat_segments(&j, fd);
	for (size_t i = 0; i < j.nsegs; i++) {
		free(j.segs[i].idx);
		free(j.segs[i].path);
	}
	free(j.segs);
	return rc;
}

/* ---- whole outputs ---------------------------------------------------- */

static size_t *all_indices(const struct plan *p)
{
	size_t *idx = xcalloc(plan_count(p) + 1, sizeof(*idx));
	for (size_t i = 0; i < plan_count(p); i++)
		idx[i] = i;
	return idx;
}

/* One uncompressed stream (or a C initialiser of it) straight into fd. */
static int emit_stream(const struct plan *p, struct cas *cas, const struct emit_opts *o, int fd, bool c_text)
{
	struct sink s;
	sink_open(&s, fd, c_text ? EA_NONE : o->algo, o->level, c_text);
	s.keyed_after = true; /* nothing cached from this stream: its key is computed once it is written */
	size_t *idx = all_indices(p);
	int rc = cpio_archive(&s, cas, p, idx, plan_count(p), o->mtime);
	free(idx);
	uint64_t len = s.in_off;
	if (sink_close(&s) < 0 && rc == 0) {
		diag_error(NULL, NULL, "cannot write the image: %s", strerror(errno));
		rc = -1;
	}
	if (c_text && rc == 0) {
		char *tail = xasprintf("\n};\nconst unsigned long rdc_initramfs_len = %llu;\n", (unsigned long long)len);
		rc = write_all(fd, tail, strlen(tail));
		free(tail);
	}
	return rc;
}

static int emit_c(const struct plan *p, struct cas *cas, const struct emit_opts *o, int fd)
{
	static const char head[] = "/* Generated by rdc: an initramfs (uncompressed cpio newc). */\n"
				   "const unsigned char rdc_initramfs[] __attribute__((aligned(4))) = {";
	if (write_all(fd, head, sizeof(head) - 1) < 0)
		return -1;
	return emit_stream(p, cas, o, fd, true);
}

/* foo.S .incbins foo.cpio, written beside it; assemble with -I<its dir>.
 * The companion is left uncommitted in *cpio: emit_write puts it in place
 * only once foo.S is, so a failed build leaves neither behind. */
static int emit_asm(const struct plan *p, struct cas *cas, const struct emit_opts *o, const char *path, int fd,
		    struct atomic_file *cpio)
{
	char *cpio_path = emit_companion(o, path);
	struct strbuf why = STRBUF_INIT;
	int rc = output_open(cpio, cpio_path, &why);
	if (rc == 0)
		rc = emit_stream(p, cas, o, cpio->fd, false);
	if (rc == 0) {
		char *s = xasprintf("/* Generated by rdc: the initramfs %s between two symbols. */\n"
				    "\t.section .rodata\n\t.balign 4\n"
				    "\t.globl rdc_initramfs_start\nrdc_initramfs_start:\n"
				    "\t.incbin \"%s\"\n"
				    "\t.globl rdc_initramfs_end\nrdc_initramfs_end:\n"
				    "\t.section .note.GNU-stack,\"\",%%progbits\n",
				    path_basename(cpio_path), path_basename(cpio_path));
		rc = write_all(fd, s, strlen(s));
		free(s);
	} else if (why.len) {
		diag_error(NULL, NULL, "cannot write %s: %s", cpio_path, why.buf);
	}
	sb_release(&why);
	free(cpio_path);
	return rc;
}

int emit_list(const struct plan *p, struct cas *cas, FILE *out)
{
	fputs(RDC_LIST_HEADER "\n", out);
	for (size_t i = 0; i < plan_count(p); i++) {
		const struct plan_entry *e = plan_entry_at(p, i);
		if (strpbrk(e->path, " \t\n") || (e->target && strpbrk(e->target, " \t\n"))) {
			diag_error(&e->loc, "gen_init_cpio splits lines at spaces; build a cpio instead",
				   "%s cannot be written in a gen_init_cpio list", e->path);
			return -1;
		}
		unsigned perm = e->mode & 07777;
		switch (e->kind) {
		case PK_DIR:
			fprintf(out, "dir %s %04o %u %u\n", e->path, perm, e->uid, e->gid);
			break;
		case PK_FILE: {
			char *obj = cas_object_path(cas, &e->hash);
			if (strpbrk(obj, " \t\n")) { /* gen_init_cpio would split the line there */
				diag_error(NULL, NULL, "the cache %s has a space in its path, which a gen_init_cpio list cannot hold: "
					  "set RDC_CACHE_DIR to a path without one", cas_dir(cas));
				free(obj);
				return -1;
			}
			fprintf(out, "file %s %s %04o %u %u\n", e->path, obj, perm, e->uid, e->gid);
			free(obj);
			break;
		}
		case PK_SYMLINK:
			fprintf(out, "slink %s %s %04o %u %u\n", e->path, e->target, perm, e->uid, e->gid);
			break;
		case PK_NODE:
			if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
				fprintf(out, "nod %s %04o %u %u %c %u %u\n", e->path, perm, e->uid, e->gid,
					S_ISCHR(e->mode) ? 'c' : 'b', e->rmajor, e->rminor);
			else
				fprintf(out, "%s %s %04o %u %u\n", S_ISFIFO(e->mode) ? "pipe" : "sock", e->path, perm,
					e->uid, e->gid);
			break;
		}
	}
	return ferror(out) ? -1 : 0;
}

static int emit_list_fd(const struct plan *p, struct cas *cas, int fd)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc = emit_list(p, cas, f);
	fclose(f);
	if (rc == 0)
		rc = write_all(fd, buf, len);
	free(buf);
	return rc;
}

/* A tree is unpacked on the host, where a setuid-root program or a 0666
 * device node is a hole (the copied `id` gave euid 0 to anyone): unless
 * --dir-special asks for them, device nodes are left out and setuid/setgid
 * bits dropped.  Returns false for an entry to skip. */
static bool tame_entry(struct archive_entry *ae, bool special, unsigned *skipped, unsigned *tamed)
{
	if (special)
		return true;
	unsigned ft = archive_entry_filetype(ae);
	if (ft == AE_IFCHR || ft == AE_IFBLK) {
		(*skipped)++;
		return false;
	}
	mode_t perm = archive_entry_perm(ae);
	if (perm & 06000) {
		archive_entry_set_perm(ae, perm & ~06000);
		(*tamed)++;
	}
	return true;
}

/* An unpacked tree: our own cpio read back by libarchive into a temporary
 * directory that is then renamed into place. */
static int extract_cpio(const char *cpio_path, const char *dir, bool special, const char *shown)
{
	unsigned skipped = 0, tamed = 0;
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	archive_read_support_format_cpio(in);
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER * (geteuid() == 0) |
						    ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	int rc = archive_read_open_filename(in, cpio_path, IO_CHUNK) == ARCHIVE_OK ? 0 : -1, r = ARCHIVE_EOF;
	struct archive_entry *ae;
	while (rc == 0 && (r = archive_read_next_header(in, &ae)) == ARCHIVE_OK) {
		char *full = path_join(dir, archive_entry_pathname(ae));
		archive_entry_set_pathname(ae, full);
		free(full);
		if (!tame_entry(ae, special, &skipped, &tamed))
			continue;
		if (archive_entry_filetype(ae) == AE_IFLNK) { /* our symlink bodies end in NUL */
			char *t = xstrdup(archive_entry_symlink(ae));
			archive_entry_set_symlink(ae, t);
			free(t);
		}
		if (archive_write_header(out, ae) < ARCHIVE_WARN) { /* never leave a tree with holes */
			diag_error(NULL, NULL, "cannot unpack %s: %s", archive_entry_pathname(ae), archive_error_string(out));
			rc = -1;
			break;
		}
		const void *buf;
		size_t size;
		la_int64_t off;
		while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK)
			if (archive_write_data_block(out, buf, size, off) < ARCHIVE_OK) {
				r = ARCHIVE_FATAL;
				break;
			}
		if (r != ARCHIVE_EOF || archive_write_finish_entry(out) < ARCHIVE_WARN) { /* a full disk, say */
			diag_error(NULL, NULL, "cannot unpack %s: %s", archive_entry_pathname(ae), archive_error_string(out));
			rc = -1;
		}
	}
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = -1;
	if (archive_write_close(out) != ARCHIVE_OK && rc == 0) {
		diag_error(NULL, NULL, "cannot finish unpacking: %s", archive_error_string(out));
		rc = -1;
	}
	archive_write_free(out);
	archive_read_free(in);
	if (skipped || tamed)
		diag_info("%s: %u device node%s left out, %u setuid/setgid mode%s dropped (--dir-special keeps them)",
			  shown, skipped, skipped == 1 ? "" : "s", tamed, tamed == 1 ? "" : "s");
	return rc;
}

/* A tree rdc wrote carries this file, so that `-o DIR/` replaces only such
 * trees (or empty directories) and never a directory of the user's. */
#define TREE_MARK ".rdc-tree"

static bool replaceable_dir(const char *dir)
{
	struct stat st;
	if (lstat(dir, &st) < 0)
		return errno == ENOENT;
	if (!S_ISDIR(st.st_mode))
		return false;
	char *mark = path_join(dir, TREE_MARK);
	bool ours = lstat(mark, &st) == 0 && S_ISREG(st.st_mode);
	free(mark);
	if (ours)
		return true;
	DIR *d = opendir(dir);
	struct dirent *de;
	bool empty = d != NULL;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	if (d)
		closedir(d);
	return empty;
}

/* Where `-o DIR/` goes, resolved as the kernel resolves a file output's
 * path: the parent through its symlinks (libarchive refuses to write
 * through a symlink, and ".." after one means its target's parent), the
 * last component as it is.  NULL after a message. */
static char *tree_path(const char *path)
{
	char *abs = path_absolute(path);
	if (!abs) { /* never a guess such as "/": the tree would land at the root */
		diag_error(NULL, NULL, "cannot write %s: the current directory is gone (%s)", path, strerror(errno));
		return NULL;
	}
	char *t = xstrdup(path);
	while (strlen(t) > 1 && t[strlen(t) - 1] == '/')
		t[strlen(t) - 1] = '\0';
	const char *base = path_basename(t);
	char *clean = NULL;
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(t, "/")) {
		clean = realpath(t, NULL);
	} else {
		char *parent = path_dirname(t), *real = realpath(parent, NULL);
		if (real)
			clean = path_join(real, base);
		else
			diag_error(NULL, NULL, "cannot write %s: %s: %s", path, parent, strerror(errno));
		free(parent);
		free(real);
	}
	if (!clean && !diag_error_count())
		diag_error(NULL, NULL, "cannot write %s: %s", path, strerror(errno));
	free(t);
	free(abs);
	return clean;
}

/* What a killed build left beside DIR: NAME.rdc-tmp.PID and NAME.rdc-old.PID
 * of processes that no longer run (a live build's are its own). */
static void sweep_stale(const char *clean)
{
	char *dir = path_dirname(clean);
	const char *base = path_basename(clean);
	size_t bl = strlen(base);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *n = de->d_name, *tail = n + bl;
		if (strncmp(n, base, bl) || (strncmp(tail, ".rdc-tmp.", 9) && strncmp(tail, ".rdc-old.", 9)))
			continue;
		char *end;
		long pid = strtol(tail + 9, &end, 10);
		if (pid <= 0 || (*end && strcmp(end, ".cpio") && strncmp(end, ".cpio.rdc-tmp.", 14)) ||
		    !(kill((pid_t)pid, 0) < 0 && errno == ESRCH))
			continue;
		char *full = path_join(dir, n);
		remove_tree(full);
		free(full);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* Put the new tree in place.  With an old tree there, the two are swapped
 * in one step (renameat2 RENAME_EXCHANGE): a SIGKILL at any moment leaves
 * DIR, old or new, never nothing. */
static int swap_in(const char *tmpdir, const char *clean)
{
	if (renameat2(AT_FDCWD, tmpdir, AT_FDCWD, clean, RENAME_EXCHANGE) == 0) {
		remove_tree(tmpdir); /* now the old tree */
		return 0;
	}
	if (errno == ENOENT) /* no old tree */
		return rename(tmpdir, clean);
	if (errno != EINVAL && errno != ENOSYS) /* a filesystem without exchange: two renames */
		return -1;
	char *old = xasprintf("%s.rdc-old.%d", clean, (int)getpid());
	bool had_old = rename(clean, old) == 0;
	int rc = rename(tmpdir, clean);
	if (rc < 0 && had_old)
		rename(old, clean); /* put the previous tree back */
	else if (had_old)
		remove_tree(old);
	free(old);
	return rc;
}

static int emit_dir(const struct plan *p, struct cas *cas, const struct emit_opts *o, const char *path)
{
	char *clean = tree_path(path); /* libarchive refuses ".." in the paths it writes */
	if (!clean)
		return -1;
	struct stat st;
	if (lstat(clean, &st) == 0 && !S_ISDIR(st.st_mode)) {
		diag_error(NULL, NULL, "%s exists and is not a directory: not replacing it with a tree", clean);
		free(clean);
		return -1;
	}
	if (!replaceable_dir(clean)) {
		diag_error(NULL, NULL, "%s is not empty and not a tree rdc wrote (no %s in it): not replacing it; remove it or "
			  "choose another output", clean, TREE_MARK);
		free(clean);
		return -1;
	}
	sweep_stale(clean);
	char *tmpdir = xasprintf("%s.rdc-tmp.%d", clean, (int)getpid());
	char *cpio = xasprintf("%s.cpio", tmpdir);
	struct tempfile *reg = tempfile_register(tmpdir, 1);
	struct atomic_file af;
	int rc = atomic_open(&af, cpio);
	if (rc == 0 && emit_stream(p, cas, o, af.fd, false) < 0) {
		atomic_abort(&af);
		rc = -1;
	} else if (rc == 0) {
		rc = atomic_commit(&af, 0600);
	}
	struct tempfile *creg = rc == 0 ? tempfile_register(cpio, 0) : NULL;
	if (rc == 0 && mkdir(tmpdir, 0755) < 0)
		rc = -1;
	if (rc == 0)
		rc = extract_cpio(cpio, tmpdir, o->dir_special, clean);
	unlink(cpio);
	tempfile_forget(creg);
	if (rc == 0) {
		char *mark = path_join(tmpdir, TREE_MARK);
		static const char text[] = "This tree was written by rdc build; the next build replaces it whole.\n";
		rc = write_file_atomic(mark, text, sizeof(text) - 1, 0644);
		free(mark);
	}
	if (rc == 0)
		rc = swap_in(tmpdir, clean);
	if (rc < 0) {
		diag_error(NULL, NULL, "cannot write the directory %s: %s", clean, strerror(errno));
		remove_tree(tmpdir); /* the previous tree, if any, is still in place */
	}
	tempfile_forget(reg);
	free(cpio);
	free(tmpdir);
	free(clean);
	return rc;
}

/* at the output: line when the manifest named the path */
static void output_error(const struct emit_opts *o, const char *path, const char *why)
{
	if (o->loc && o->loc->line)
		diag_error(o->loc, NULL, "cannot write %s: %s", path, why);
	else
		diag_error(NULL, NULL, "cannot write %s: %s", path, why);
}

bool emit_is_output(const char *path)
{
	static const struct { const char *magic; size_t len; } heads[] = {
		{ "070701", 6 }, { "\x1f\x8b", 2 }, { "\x28\xb5\x2f\xfd", 4 }, { "\xfd" "7zXZ", 5 },
		{ "\x02\x21\x4c\x18", 4 }, { "/* Generated by rdc", 19 }, { RDC_LIST_HEADER, sizeof(RDC_LIST_HEADER) - 1 },
	};
	struct stat st;
	char buf[64];
	int fd = open_regular(path, &st);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	for (size_t i = 0; n > 0 && i < sizeof(heads) / sizeof(heads[0]); i++)
		if ((size_t)n >= heads[i].len && !memcmp(buf, heads[i].magic, heads[i].len))
			return true;
	return n == 0; /* an empty file holds nothing to lose */
}

char *emit_companion(const struct emit_opts *o, const char *path)
{
	size_t n = strlen(path);
	if (o->format != EF_S || n < 2)
		return NULL;
	return xasprintf("%.*s.cpio", (int)(n - 2), path);
}

bool emit_is_segmented(const struct emit_opts *o)
{
	return o->format == EF_CPIO && o->algo != EA_NONE && o->algo != EA_LZ4;
}

int emit_write(const struct plan *p, struct cas *cas, const struct emit_opts *o, const char *path,
	       struct stat *written)
{
	if (o->format == EF_LIST && !strcmp(path, "-"))
		return emit_list(p, cas, stdout);
	if (o->format == EF_DIR)
		return emit_dir(p, cas, o, path);
	struct atomic_file af, companion = { .fd = -1 };
	struct strbuf why = STRBUF_INIT;
	if (output_open(&af, path, &why) < 0) {
		output_error(o, path, why.buf);
		sb_release(&why);
		return -1;
	}
	int rc;
	switch (o->format) {
	case EF_LIST: rc = emit_list_fd(p, cas, af.fd); break;
	case EF_C: rc = emit_c(p, cas, o, af.fd); break;
	case EF_S: rc = emit_asm(p, cas, o, path, af.fd, &companion); break;
	default:
		rc = emit_is_segmented(o) ? emit_segmented(p, cas, o, af.fd) : emit_stream(p, cas, o, af.fd, false);
	}
	if (rc == 0 && written && fstat(af.fd, written) < 0)
		rc = -1;
	if (rc == 0 && output_commit(&af, &why) == 0) {
		char *name = companion.tmp ? xstrdup(companion.path) : NULL;
		rc = name && output_commit(&companion, &why) < 0 ? -1 : 0;
		if (rc < 0)
			output_error(o, name, why.buf);
		free(name);
		sb_release(&why);
		return rc;
	}
	if (rc == 0)
		output_error(o, path, why.len ? why.buf : strerror(errno));
	atomic_abort(&af);
	if (companion.tmp)
		atomic_abort(&companion);
	sb_release(&why);
	return -1;
}
