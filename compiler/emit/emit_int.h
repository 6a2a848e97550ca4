/* emit_int.h — what the files of emit/ share; the public header is
 * emit/emit.h.  output.c chooses the format from a path and words,
 * filter.c is the byte sinks (the compressors), cpio.c writes newc archives
 * as gen_init_cpio does (and one uncompressed stream), segments.c the cached
 * compressed pieces of one stream, carray.c the C and .S embeddings, list.c
 * the gen_init_cpio list, dir.c an unpacked tree; emit.c the keys and
 * emit_write. */
#ifndef RDC_EMIT_INT_H
#define RDC_EMIT_INT_H
#include <lzma.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>
#include "emit/emit.h"
#include "lib/util.h"

#define IO_CHUNK (256 * 1024)

/* ---- emit.c ---- */

/* A writer with nothing left to take: the first runs o->spare (once per
 * *taken, which belongs to the writers of one image). */
void emit_spare(const struct emit_opts *o, atomic_bool *taken);
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8 << 20)

/* ---- filter.c ---- */

struct sink {
	int fd;
	enum emit_algo algo;
	bool c_text;       /* write bytes as a C initialiser instead */
	uint64_t in_off;   /* uncompressed bytes so far: the cpio offset */
	bool placed;       /* written at `at` with pwrite (sink_place), not appended */
	uint64_t at;
	unsigned char *obuf;
	size_t olen, ocap;
	z_stream z;
	lzma_stream x;
	ZSTD_CCtx *zc;
	unsigned char *lbuf; /* lz4: one legacy block of input */
	size_t llen;
	/* zstd piece of up to 4 MiB: its input gathered whole, in a buffer its
	 * worker lends from piece to piece, and compressed where it lies
	 * (streaming copies every byte into libzstd's window first) */
	struct piece_mem *mem;
	unsigned char *wbuf;
	size_t wlen;
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

/* What one worker's zstd pieces reuse: the compressor and the buffer of
 * input (fresh ones cost a page fault and a cleared page for every 4 kB
 * of the image). */
struct piece_mem {
	ZSTD_CCtx *zc;
	/* xz: one encoder from block to block.  A new one per block allocated
	 * its ~90 MiB at -6 afresh and faulted it in: a whole kernel's 170
	 * blocks spent 22 s of system time there; a reused one only has its
	 * hash table cleared. */
	lzma_stream x;
	unsigned char *raw;
	size_t rcap;
};

int sink_open(struct sink *s, int fd, enum emit_algo algo, int level, bool c_text);
int sink_open_piece(struct sink *s, int fd, enum emit_algo algo, int level, bool final, struct piece_mem *mem,
		    uint64_t raw);
void piece_mem_free(struct piece_mem *m);
void sink_write(struct sink *s, const void *data, size_t len);
void sink_zeros(struct sink *s, size_t n);
int sink_close(struct sink *s);
unsigned char *sink_window(struct sink *s, size_t *room);
void sink_took(struct sink *s, size_t n);
void sink_place(struct sink *s, uint64_t off);
void sink_raw(struct sink *s, const void *data, size_t len);

/* ---- cpio.c ---- */

struct cpio {
	struct sink *s;
	struct cas *cas;
	uint32_t ino, mtime;
	int err;
};

int cpio_entries(struct sink *s, struct cas *cas, const struct plan *p, const size_t *idx, size_t n,
		uint32_t mtime, uint32_t ino, bool trailer);
int cpio_archive(struct sink *s, struct cas *cas, const struct plan *p, const size_t *idx, size_t n,
		uint32_t mtime);
void cpio_trailer(struct cpio *c);
uint64_t cpio_entry_bytes(const struct plan_entry *e);
size_t *all_indices(const struct plan *p);
int emit_stream(const struct plan *p, struct cas *cas, const struct emit_opts *o, int fd, bool c_text);

/* ---- emit.c: keys ---- */

void key_entry(XXH3_state_t *st, const struct plan_entry *e);
void key_opts(XXH3_state_t *st, const struct emit_opts *o, int seg);
void key_final(XXH3_state_t *st, struct cas_hash *key);

/* ---- segments.c, carray.c, list.c, dir.c ---- */

int emit_segmented(const struct plan *p, struct cas *cas, const struct emit_opts *o, int fd);
int emit_c(const struct plan *p, struct cas *cas, const struct emit_opts *o, int fd);
int emit_asm(const struct plan *p, struct cas *cas, const struct emit_opts *o, const char *path, int fd,
		    struct atomic_file *cpio);
int emit_list_fd(const struct plan *p, struct cas *cas, int fd);
int emit_dir(const struct plan *p, struct cas *cas, const struct emit_opts *o, const char *path);

#endif
