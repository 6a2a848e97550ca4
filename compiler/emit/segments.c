/* segments.c — compressed images as cached segments: the plan cut into
 * pieces, each compressed on its own (on all cores) and kept in the cache,
 * joined into one standard stream. */
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
#include <pthread.h>
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

/* ---- segments -------------------------------------------------------- */

struct segment {
	size_t *idx, n, alloc;
	struct cas_hash key;
	char *path; /* in the cache; NULL until the key is known (a pending segment) */
	int rc;
	uint64_t raw; /* its bytes of the archive */
	atomic_bool finished; /* rc is set (and the segment in the cache unless rc < 0) */
	uint64_t bound;
};

/* The stream the segments are joined into (see stream_head). */
struct stream {
	uint32_t crc;
	uint64_t total;
	lzma_index *index;
};

struct segjob {
	const struct plan *p;
	struct cas *cas;
	const struct emit_opts *o;
	struct segment *segs;
	size_t nsegs;
	size_t *order; /* largest first (no big one is left for the end), or the archive's for a quick codec */
	atomic_size_t next, done;
	atomic_bool spared; /* emit_spare */
	int64_t start_ns;
	/* A quick codec's image is joined while segments are compressed: by
	 * whichever worker finds the next one finished. */
	bool joining;
	int fd;
	pthread_mutex_t join_lock;
	atomic_size_t joined; /* segments [0, joined) are in fd */
	struct stream st;
	atomic_int join_rc;   /* the first failure, which stops the joining: 1 damaged, -1 not written */
	int join_errno;
};

static void join_finished(struct segjob *j);

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
static int segment_encode(struct segjob *j, struct segment *s, int fd, struct piece_mem *mem)
{
	struct sink k;
	if (sink_open_piece(&k, fd, j->o->algo, j->o->level, j->o->single_segment, mem, s->raw) < 0) {
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
static int segment_build(struct segjob *j, struct segment *s, struct piece_mem *mem)
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
	if (segment_encode(j, s, af.fd, mem) == 0) {
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

/* Its bytes of the archive: headers, names and bodies (and the trailer a
 * single segment holds, padded to 512). */
static uint64_t segment_raw(const struct segjob *j, const struct segment *s)
{
	uint64_t raw = j->o->single_segment ? 124 + 511 : 0;
	for (size_t k = 0; k < s->n; k++)
		raw += cpio_entry_bytes(plan_entry_at(j->p, s->idx[k]));
	return raw;
}

/* The most its file in the cache can be: its bytes, the codecs' framing
 * (well under 1/64 of the data for stored blocks), meta and trailer. */
static uint64_t segment_bound(const struct segment *s)
{
	return s->raw + s->raw / 64 + (1 << 20);
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
	struct piece_mem mem = { 0 };
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
		s->rc = rc < 0 ? -1 : cached ? 0 : segment_build(j, s, &mem);
		if (!cached && s->rc == 0)
			remote_store_segment(j->cas, &s->key);
		if (j->o->stats)
			atomic_fetch_add(cached ? &j->o->stats->segments_reused : &j->o->stats->segments_built, 1);
		segment_progress(j);
		atomic_store(&s->finished, true);
		if (j->joining)
			join_finished(j);
	}
	piece_mem_free(&mem);
	emit_spare(j->o, &j->spared);
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
		j->segs[i].raw = segment_raw(j, &j->segs[i]);
		j->segs[i].bound = segment_bound(&j->segs[i]);
	}
	if (!j->joining)
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
		int rc = sink_open_piece(&k, fd, o->algo, o->algo == EA_XZ ? 0 : 1, true, NULL, 0);
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

/* ---- joining while compressing ------------------------------------------
 * A quick codec (zstd -3 of the whole kernel: 170 segments of 2 MB, each a
 * few milliseconds) has its segments taken in the archive's order, and each
 * worker that finishes one appends what is finished to the image: the
 * join's 90 MB of copying overlaps compression instead of following it.
 * Largest first suits slow codecs (xz: seconds a segment), whose join
 * waits for the end.  Any failure stops the joining; the image is then
 * made again at the end by concat_segments, which repairs or reports. */

static bool join_next(struct segjob *j)
{
	size_t n = atomic_load(&j->joined);
	return j->join_rc == 0 && n < j->nsegs && atomic_load(&j->segs[n].finished);
}

static void join_finished(struct segjob *j)
{
	while (pthread_mutex_trylock(&j->join_lock) == 0) {
		while (join_next(j)) {
			struct segment *s = &j->segs[atomic_load(&j->joined)];
			struct seg_meta m;
			int rc = s->rc < 0 ? -1 : segment_copy(s, j->fd, &m);
			if (rc == 0 && stream_add(j->o, &j->st, &m) < 0)
				rc = -1;
			if (rc != 0) {
				j->join_rc = rc;
				j->join_errno = errno;
				break;
			}
			atomic_fetch_add(&j->joined, 1);
		}
		pthread_mutex_unlock(&j->join_lock);
		if (!join_next(j)) /* else one finished while the lock was held, and its worker went on */
			break;
	}
}

/* Joining pays only into a file that can be started over (and a quick
 * codec); a pipe gets the image once every segment is known good. */
static bool join_while_compressing(const struct emit_opts *o, int fd)
{
	int quick = output_algos[o->algo].quick;
	return quick && output_level(o->algo, o->level) <= quick && o->jobs != 1 && fd_at_file_start(fd);
}

/* The end of a joined image: 0 when it is whole, 1 when it must be made
 * again (a damaged segment), -1 when it cannot be written. */
static int join_end(struct segjob *j)
{
	join_finished(j); /* none is left unless a worker's last check raced */
	int rc = j->join_rc;
	if (rc < 0)
		errno = j->join_errno;
	else if (rc == 0)
		rc = stream_tail(j->o, j->fd, &j->st);
	if (rc > 0 && (ftruncate(j->fd, 0) < 0 || lseek(j->fd, 0, SEEK_SET) < 0))
		rc = -1;
	return rc;
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
		struct piece_mem mem = { 0 };
		int built = segment_build(j, &j->segs[bad], &mem);
		piece_mem_free(&mem);
		if (built < 0)
			return -1;
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			break;
	}
	if (rc == 0)
		return 0;
	diag_error(NULL, NULL, "cannot write the image: %s", strerror(errno));
	return -1;
}

int emit_segmented(const struct plan *p, struct cas *cas, const struct emit_opts *o, int fd)
{
	struct segjob j = { .p = p, .cas = cas, .o = o, .fd = fd, .join_lock = PTHREAD_MUTEX_INITIALIZER };
	j.segs = split_segments(p, o, &j.nsegs);
	for (size_t i = 0; i < j.nsegs; i++) {
		bool all;
		if (!segment_pending(p, &j.segs[i], &all))
			segment_locate(&j, &j.segs[i]);
	}
	j.joining = join_while_compressing(o, fd) && stream_head(o, fd, &j.st) == 0;
	int rc = build_segments(&j);
	if (rc == 0 && j.joining && (rc = join_end(&j)) < 0)
		diag_error(NULL, NULL, "cannot write the image: %s", strerror(errno));
	if (rc > 0 || (rc == 0 && !j.joining))
		rc = concat_segments(&j, fd);
	lzma_index_end(j.st.index, NULL);
	for (size_t i = 0; i < j.nsegs; i++) {
		free(j.segs[i].idx);
		free(j.segs[i].path);
	}
	free(j.segs);
	return rc;
}
