/* cpio.c — newc archives as the kernel's usr/gen_init_cpio writes them,
 * byte for byte (inode numbers from 721, dev 3:1, nlink 2 for directories,
 * pipes and sockets, symlink bodies with their NUL, trailer padded to 512),
 * so an uncompressed image equals what gen_init_cpio makes of `rdc list`. */
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

/* ---- cpio newc, as gen_init_cpio writes it ------------------------------- */

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

void cpio_trailer(struct cpio *c)
{
	cpio_header(c, 0, NULL, 1, 0, 0, "TRAILER!!!");
	sink_zeros(c->s, (512 - c->s->in_off % 512) % 512);
}

/* Write the entries `idx` (indices into the plan), numbered from `ino`,
 * then the trailer when `trailer` (a segment of a larger archive has none). */
int cpio_entries(struct sink *s, struct cas *cas, const struct plan *p, const size_t *idx, size_t n,
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
int cpio_archive(struct sink *s, struct cas *cas, const struct plan *p, const size_t *idx, size_t n,
			uint32_t mtime)
{
	return cpio_entries(s, cas, p, idx, n, mtime, 721, true);
}

size_t *all_indices(const struct plan *p)
{
	size_t *idx = xcalloc(plan_count(p) + 1, sizeof(*idx));
	for (size_t i = 0; i < plan_count(p); i++)
		idx[i] = i;
	return idx;
}

/* ---- an uncompressed archive on all cores ---------------------------------
 * Where each entry lies in an uncompressed archive follows from the plan
 * alone (header and name, then the body, each padded to 4 bytes), so the
 * archive is cut into runs of entries that workers write in place with
 * pwrite: reading, hashing and copying 400 MB of modules on every core
 * instead of one.  Each run numbers its inodes from its first entry's
 * index, as the sequential writer would: the bytes are the same. */

#define RUN_MIN (4u << 20) /* below this a run is not worth a thread */

struct run {
	size_t first, n;
	uint64_t at;
	struct strbuf held; /* its messages, released in the archive's order */
	int rc;
};

struct runjob {
	const struct plan *p;
	struct cas *cas;
	const struct emit_opts *o;
	uint32_t mtime;
	int fd;
	const size_t *idx;
	struct run *runs;
	size_t nruns;
	atomic_size_t next;
	atomic_bool spared; /* emit_spare */
};

static uint64_t align4(uint64_t n) { return (n + 3) & ~(uint64_t)3; }

uint64_t cpio_entry_bytes(const struct plan_entry *e)
{
	uint64_t body = e->kind == PK_FILE ? e->size : e->kind == PK_SYMLINK ? strlen(e->target) + 1 : 0;
	return align4(110 + strlen(e->path)) + align4(body); /* the name is the path without '/', and its NUL */
}

/* Runs of about equal bytes, a few per worker so that one slow run (cold
 * sources) does not leave the other cores idle at the end. */
static struct run *cut_runs(const struct plan *p, long jobs, size_t *nruns)
{
	uint64_t total = 0;
	for (size_t i = 0; i < plan_count(p); i++)
		total += cpio_entry_bytes(plan_entry_at(p, i));
	uint64_t want = total / (uint64_t)(jobs * 4);
	if (want < RUN_MIN)
		want = RUN_MIN;
	struct run *runs = NULL;
	size_t n = 0, alloc = 0;
	uint64_t at = 0, bytes = 0;
	for (size_t i = 0; i < plan_count(p); i++) {
		if (!n || bytes >= want) {
			GROW(runs, n + 1, alloc);
			runs[n++] = (struct run){ .first = i, .at = at, .held = STRBUF_INIT };
			bytes = 0;
		}
		uint64_t b = cpio_entry_bytes(plan_entry_at(p, i));
		runs[n - 1].n++;
		bytes += b;
		at += b;
	}
	*nruns = n;
	return runs;
}

static void *run_worker(void *arg)
{
	struct runjob *j = arg;
	size_t i;
	while ((i = atomic_fetch_add(&j->next, 1)) < j->nruns) {
		struct run *r = &j->runs[i];
		struct sink s;
		diag_hold(&r->held);
		sink_open(&s, j->fd, EA_NONE, 0, false);
		sink_place(&s, r->at);
		s.keyed_after = true;
		r->rc = cpio_entries(&s, j->cas, j->p, j->idx + r->first, r->n, j->mtime, 721 + (uint32_t)r->first,
				     i == j->nruns - 1);
		if (sink_close(&s) < 0 && r->rc == 0) {
			diag_error(NULL, NULL, "cannot write the image: %s", strerror(errno));
			r->rc = -1;
		}
		diag_hold(NULL);
	}
	emit_spare(j->o, &j->spared);
	return NULL;
}

/* 1 when the archive is too small to share out, or fd cannot be written in
 * place (a pipe); else the parallel writer's verdict. */
static int emit_runs(const struct plan *p, struct cas *cas, const struct emit_opts *o, int fd, const size_t *idx)
{
	long jobs = o->jobs > 0 ? o->jobs : sysconf(_SC_NPROCESSORS_ONLN);
	if (jobs < 2 || plan_count(p) == 0 || !fd_at_file_start(fd))
		return 1;
	struct runjob j = { .p = p, .cas = cas, .o = o, .mtime = o->mtime, .fd = fd, .idx = idx };
	j.runs = cut_runs(p, jobs, &j.nruns);
	int rc = 1;
	if (j.nruns > 1) {
		run_parallel(run_worker, &j, jobs, j.nruns);
		rc = 0;
	}
	for (size_t i = 0; i < j.nruns; i++) {
		diag_release(&j.runs[i].held);
		if (rc == 0 && j.runs[i].rc < 0)
			rc = -1;
	}
	free(j.runs);
	return rc;
}

/* One uncompressed stream (or a C initialiser of it) straight into fd. */
int emit_stream(const struct plan *p, struct cas *cas, const struct emit_opts *o, int fd, bool c_text)
{
	size_t *idx = all_indices(p);
	int rc = !c_text && o->algo == EA_NONE ? emit_runs(p, cas, o, fd, idx) : 1;
	if (rc <= 0) {
		free(idx);
		return rc;
	}
	struct sink s;
	sink_open(&s, fd, c_text ? EA_NONE : o->algo, o->level, c_text);
	s.keyed_after = true; /* nothing cached from this stream: its key is computed once it is written */
	rc = cpio_archive(&s, cas, p, idx, plan_count(p), o->mtime);
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
