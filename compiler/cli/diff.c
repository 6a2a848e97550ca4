/* cli/diff.c — rdc diff A B [--json]
 *
 * What differs between two images, each side an image file (read as the
 * kernel unpacks it, image/image.h) or a manifest (the image it would build:
 * the build's own plan, nothing written).  Entries added, removed and
 * changed (type, mode, owner, size, content, target, device numbers), by
 * path; an entry from a manifest side says why it is there ("DT_NEEDED of
 * /usr/bin/curl, m.yaml:7:5").  Exit 0 equal, 1 different, 2 trouble, as
 * diff(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>
#include "build/build.h"
#include "cache/cas.h"
#include "cli/cli.h"
#include "image/image.h"
#include "lib/diag.h"
#include "lib/json.h"
#include "lib/util.h"
#include "manifest/manifest.h"
#include "plan/plan.h"

const char usage_diff[] = "usage: rdc diff A B [--json]\n"
				 "  A and B: each an image (.cpio, .cpio.zst, dracut's ...) or a manifest\n"
				 "  exit status: 0 equal, 1 different, 2 trouble\n";

/* One entry of either side, reduced to what the kernel makes of it. */
struct dent {
	char *path;
	unsigned mode, uid, gid, rmajor, rminor;
	uint64_t size;
	char *target;
	struct cas_hash hash; /* regular files */
	char *why;            /* manifest side: origin and line */
	char *group;          /* image side: the first name of its hard-link group */
	size_t seq;           /* order of reading: of two entries with one path the later wins */
};

struct side {
	const char *name;
	bool manifest;
	struct dent *e;
	size_t n, alloc;
	/* reading an image */
	XXH3_state_t *st;
};

static struct dent *side_add(struct side *s, const char *path)
{
	GROW(s->e, s->n + 1, s->alloc);
	struct dent *d = &s->e[s->n++];
	memset(d, 0, sizeof(*d));
	d->path = xstrdup(path);
	d->seq = s->n - 1;
	return d;
}

/* ---- a manifest side: the plan ------------------------------------------ */

static int from_plan(const struct plan *p, void *ctx)
{
	struct side *s = ctx;
	for (size_t i = 0; i < plan_count(p); i++) {
		const struct plan_entry *e = plan_entry_at(p, i);
		struct dent *d = side_add(s, e->path);
		d->mode = e->mode, d->uid = e->uid, d->gid = e->gid;
		d->rmajor = e->rmajor, d->rminor = e->rminor;
		d->size = e->kind == PK_FILE ? e->size : e->target ? strlen(e->target) : 0;
		d->target = e->target ? xstrdup(e->target) : NULL;
		d->hash = e->hash;
		const char *why = e->implied ? "implied parent directory" : e->origin ? e->origin : "";
		d->why = e->loc.line ? xasprintf("%s, %s:%d:%d", why, e->loc.file, e->loc.line, e->loc.col) : xstrdup(why);
	}
	return 0;
}

static int load_manifest(struct side *s)
{
	struct manifest *m = manifest_load(s->name);
	if (!m)
		return -1;
	struct build_opts o = { .check_only = true, .plan_cb = from_plan, .plan_ctx = s };
	struct build_result r;
	int rc = build_manifest(m, &o, &r);
	build_result_free(&r);
	manifest_free(m);
	return rc;
}

/* ---- an image side -------------------------------------------------------- */

static int img_begin(void *ctx, const struct image_entry *e)
{
	struct side *s = ctx;
	(void)e;
	XXH3_128bits_reset(s->st);
	return 0;
}

static int img_data(void *ctx, const void *buf, size_t len)
{
	struct side *s = ctx;
	XXH3_128bits_update(s->st, buf, len);
	return 0;
}

static int img_end(void *ctx, const struct image_entry *e)
{
	struct side *s = ctx;
	char *path = image_path(e->name);
	if (!path) /* the kernel would write it somewhere; compare it by its name */
		path = xstrdup(e->name);
	struct dent *d = side_add(s, path);
	free(path);
	d->mode = e->mode, d->uid = e->uid, d->gid = e->gid;
	d->rmajor = e->rmajor, d->rminor = e->rminor;
	d->size = S_ISLNK(e->mode) ? strlen(e->target) : e->size;
	d->target = S_ISLNK(e->mode) ? xstrdup(e->target) : NULL;
	if (S_ISREG(e->mode)) {
		XXH128_canonical_t c;
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s->st));
		memcpy(d->hash.b, c.digest, sizeof(d->hash.b));
	}
	if (e->nlink >= 2 && S_ISREG(e->mode))
		d->group = xstrdup(e->link ? e->link : e->name);
	return 0;
}

static int by_group(const void *a, const void *b)
{
	const struct dent *x = *(const struct dent *const *)a, *y = *(const struct dent *const *)b;
	int c = strcmp(x->group, y->group);
	return c ? c : x->seq < y->seq ? -1 : 1;
}

/* Hard links share one file: every name of a group gets what was written
 * into it last (newc puts the body on one of the names only).  Sorted by
 * group, so that many groups cost n log n, not n squared. */
static void settle_links(struct side *s)
{
	struct dent **g = xmalloc((s->n ? s->n : 1) * sizeof(*g));
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].group)
			g[n++] = &s->e[i];
	qsort(g, n, sizeof(*g), by_group);
	for (size_t i = 0, end; i < n; i = end) {
		const struct dent *last = NULL; /* the last of the group with a body */
		for (end = i; end < n && !strcmp(g[end]->group, g[i]->group); end++)
			if (g[end]->size)
				last = g[end];
		for (size_t k = i; last && k < end; k++) {
			g[k]->size = last->size;
			g[k]->hash = last->hash;
		}
	}
	free(g);
}

static int by_path(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	return c ? c : x->seq < y->seq ? -1 : 1; /* the later of two equal paths sorts last (qsort is not stable) */
}

static void free_dent(struct dent *d)
{
	free(d->path);
	free(d->target);
	free(d->why);
	free(d->group);
}

/* Sorted by path; of two entries with one path the later wins, as in the
 * kernel's unpacking. */
static void settle(struct side *s)
{
	settle_links(s);
	if (s->n) /* an empty image has no array: qsort's pointer may not be NULL */
		qsort(s->e, s->n, sizeof(*s->e), by_path);
	size_t out = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (out && !strcmp(s->e[out - 1].path, s->e[i].path)) {
			free_dent(&s->e[out - 1]);
			s->e[out - 1] = s->e[i];
		} else {
			s->e[out++] = s->e[i];
		}
	}
	s->n = out;
}

static int load_image(struct side *s)
{
	static const struct image_ops ops = { img_begin, img_data, img_end };
	s->st = XXH3_createState();
	int rc = image_read(s->name, &ops, s);
	XXH3_freeState(s->st);
	return rc ? -1 : 0;
}

static int load(struct side *s)
{
	struct stat st;
	if (stat(s->name, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
		/* read as a manifest it would be "the manifest is empty", as if it were one */
		diag_error(NULL, "rdc diff compares two images (rdc's, dracut's ...) or manifests",
			   "%s is an empty file: neither an initramfs image nor a manifest", s->name);
		return -1;
	}
	s->manifest = !cli_file_is_image(s->name);
	const char *kind = s->manifest ? cli_file_kind(s->name) : NULL;
	if (kind) { /* read as a manifest it would be "control characters are not allowed" */
		diag_error(NULL, NULL, "%s is neither an initramfs image nor a manifest: it looks like %s", s->name, kind);
		return -1;
	}
	int rc = s->manifest ? load_manifest(s) : load_image(s);
	if (rc == 0)
		settle(s);
	return rc;
}

/* ---- comparing ------------------------------------------------------------ */

enum change { CH_TYPE = 1, CH_MODE = 2, CH_OWNER = 4, CH_SIZE = 8, CH_CONTENT = 16, CH_TARGET = 32, CH_RDEV = 64 };

static unsigned changes(const struct dent *a, const struct dent *b)
{
	unsigned c = 0;
	if ((a->mode & S_IFMT) != (b->mode & S_IFMT))
		return CH_TYPE;
	if ((a->mode & 07777) != (b->mode & 07777))
		c |= CH_MODE;
	if (a->uid != b->uid || a->gid != b->gid)
		c |= CH_OWNER;
	if (S_ISREG(a->mode) && a->size != b->size)
		c |= CH_SIZE;
	if (S_ISREG(a->mode) && memcmp(a->hash.b, b->hash.b, sizeof(a->hash.b)))
		c |= CH_CONTENT;
	if (S_ISLNK(a->mode) && strcmp(a->target, b->target))
		c |= CH_TARGET;
	if ((S_ISCHR(a->mode) || S_ISBLK(a->mode)) && (a->rmajor != b->rmajor || a->rminor != b->rminor))
		c |= CH_RDEV;
	return c;
}

static void describe(const struct dent *d, struct strbuf *sb)
{
	sb_addf(sb, "%s %04o %u/%u", entry_type_name(d->mode), d->mode & 07777, d->uid, d->gid);
	if (S_ISREG(d->mode))
		sb_addf(sb, " %llu bytes", (unsigned long long)d->size);
	if (S_ISLNK(d->mode))
		sb_addf(sb, " -> %s", d->target);
	if (S_ISCHR(d->mode) || S_ISBLK(d->mode))
		sb_addf(sb, " %u:%u", d->rmajor, d->rminor);
}

static void print_text(const struct dent *a, const struct dent *b, unsigned c)
{
	struct strbuf sb = STRBUF_INIT;
	const struct dent *d = b ? b : a;
	if (!a || !b) {
		describe(d, &sb);
		printf("%c %s: %s", a ? '-' : '+', d->path, sb.buf);
	} else {
		char h1[33], h2[33];
		printf("~ %s:", d->path);
		const char *sep = " ";
		if (c & CH_TYPE) {
			describe(a, &sb);
			sb_adds(&sb, " -> ");
			describe(b, &sb);
			printf("%stype: %s", sep, sb.buf), sep = ", ";
		}
		if (c & CH_MODE)
			printf("%smode %04o -> %04o", sep, a->mode & 07777, b->mode & 07777), sep = ", ";
		if (c & CH_OWNER)
			printf("%sowner %u/%u -> %u/%u", sep, a->uid, a->gid, b->uid, b->gid), sep = ", ";
		if (c & CH_SIZE)
			printf("%ssize %llu -> %llu", sep, (unsigned long long)a->size, (unsigned long long)b->size), sep = ", ";
		if (c & CH_CONTENT) {
			cas_hash_hex(&a->hash, h1), cas_hash_hex(&b->hash, h2);
			printf("%scontent %.12s -> %.12s", sep, h1, h2), sep = ", ";
		}
		if (c & CH_TARGET)
			printf("%starget %s -> %s", sep, a->target, b->target), sep = ", ";
		if (c & CH_RDEV)
			printf("%sdevice %u:%u -> %u:%u", sep, a->rmajor, a->rminor, b->rmajor, b->rminor);
	}
	const char *why = b && b->why ? b->why : a ? a->why : NULL; /* only a manifest side knows */
	if (why)
		printf("  (%s)", why);
	putchar('\n');
	sb_release(&sb);
}

static void json_entry(struct json *j, const char *key, const struct dent *d)
{
	char hex[33];
	char mode[8];
	json_object_begin(j, key);
	json_str(j, "type", entry_type_name(d->mode));
	snprintf(mode, sizeof(mode), "%04o", d->mode & 07777);
	json_str(j, "mode", mode);
	json_u64(j, "uid", d->uid);
	json_u64(j, "gid", d->gid);
	json_u64(j, "size", d->size);
	if (S_ISREG(d->mode)) {
		cas_hash_hex(&d->hash, hex);
		json_str(j, "hash", hex);
	}
	if (d->target)
		json_str(j, "target", d->target);
	if (S_ISCHR(d->mode) || S_ISBLK(d->mode)) {
		json_u64(j, "major", d->rmajor);
		json_u64(j, "minor", d->rminor);
	}
	if (d->why)
		json_str(j, "origin", d->why);
	json_object_end(j);
}

static void print_json(struct json *j, const struct dent *a, const struct dent *b, unsigned c)
{
	static const char *const names[] = { "type", "mode", "owner", "size", "content", "target", "device" };
	json_object_begin(j, NULL);
	json_str(j, "path", (b ? b : a)->path);
	json_str(j, "status", !a ? "added" : !b ? "removed" : "changed");
	if (a && b) {
		json_array_begin(j, "changes");
		for (int i = 0; i < 7; i++)
			if (c & (1u << i))
				json_str(j, NULL, names[i]);
		json_array_end(j);
	}
	if (a)
		json_entry(j, "a", a);
	if (b)
		json_entry(j, "b", b);
	json_object_end(j);
}

/* Walk both sorted sides; returns how many entries differ. */
static size_t compare(const struct side *A, const struct side *B, bool as_json)
{
	struct json j;
	json_init(&j, stdout);
	if (as_json)
		json_array_begin(&j, NULL);
	size_t i = 0, k = 0, differ = 0;
	while (i < A->n || k < B->n) {
		int c = i == A->n ? 1 : k == B->n ? -1 : strcmp(A->e[i].path, B->e[k].path);
		const struct dent *a = c <= 0 ? &A->e[i] : NULL, *b = c >= 0 ? &B->e[k] : NULL;
		unsigned ch = a && b ? changes(a, b) : 0;
		if (!a || !b || ch) {
			differ++;
			if (as_json)
				print_json(&j, a, b, ch);
			else
				print_text(a, b, ch);
		}
		i += a != NULL;
		k += b != NULL;
	}
	if (as_json) {
		json_array_end(&j);
		json_done(&j);
	}
	return differ;
}

static void side_free(struct side *s)
{
	for (size_t i = 0; i < s->n; i++)
		free_dent(&s->e[i]);
	free(s->e);
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					       { NULL, 0, NULL, 0 } };
	bool as_json = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': as_json = true; break;
		default: fputs(usage_diff, stderr); return 2;
		}
	}
	if (optind != argc - 2) {
		fputs(usage_diff, stderr);
		return 2;
	}
	struct side A = { .name = argv[optind] }, B = { .name = argv[optind + 1] };
	int rc = load(&A) == 0 && load(&B) == 0 ? 0 : 2;
	if (rc == 0) {
		rc = compare(&A, &B, as_json) ? 1 : 0;
		if (fflush(stdout) != 0)
			rc = 2;
	}
	side_free(&A);
	side_free(&B);
	return rc;
}
