/* cli/ls.c — rdc ls IMAGE [--long] [--json]
 *
 * Lists any initramfs the way the kernel unpacks it (image/image.h): one
 * line per entry in archive order, "mode uid/gid size path [-> target]
 * [major:minor]"; --long adds the content's XXH3-128 (the cache's object
 * name) and the segment it came from; --json prints a list of objects.
 * The image is streamed: the cost is its decompression. */
#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>
#include "cache/cas.h"
#include "cli/cli.h"
#include "image/image.h"
#include "lib/diag.h"
#include "lib/json.h"
#include "lib/util.h"

const char usage_ls[] = "usage: rdc ls IMAGE [--long] [--json]\n";

const char *entry_type_name(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char";
	case S_IFBLK: return "block";
	case S_IFIFO: return "pipe";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

void mode_string(unsigned mode, char out[11])
{
	static const char types[] = "?pc?d?b?-?l?s???";
	static const char rwx[] = "rwxrwxrwx";
	out[0] = types[(mode >> 12) & 15];
	for (int i = 0; i < 9; i++)
		out[1 + i] = mode & (0400 >> i) ? rwx[i] : '-';
	if (mode & S_ISUID)
		out[3] = mode & 0100 ? 's' : 'S';
	if (mode & S_ISGID)
		out[6] = mode & 0010 ? 's' : 'S';
	if (mode & S_ISVTX)
		out[9] = mode & 0001 ? 't' : 'T';
	out[10] = '\0';
}

/* A name as the terminal may show it: control bytes as \ooo. */
static void put_name(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			fprintf(out, "\\%03o", *p);
		else
			fputc(*p, out);
}

/* The first bytes of a regular file (no FIFO is read, no device opened):
 * how many, or -1. */
static ssize_t read_head(const char *path, unsigned char *head, size_t n)
{
	struct stat st;
	int fd = open_regular(path, &st);
	ssize_t got = fd >= 0 ? read(fd, head, n) : -1;
	if (fd >= 0)
		close(fd);
	return got;
}

bool cli_file_is_image(const char *path)
{
	unsigned char head[8];
	ssize_t n = read_head(path, head, sizeof(head));
	return n > 0 && image_magic(head, (size_t)n);
}

/* What a file plainly is when it is no manifest, list or image: a kernel,
 * an ELF file (image/'s table), or NULL. */
const char *cli_file_kind(const char *path)
{
	unsigned char head[IMAGE_HEAD_MAX];
	ssize_t n = read_head(path, head, sizeof(head));
	return n > 0 ? image_file_kind(head, (size_t)n, NULL) : NULL;
}

bool cli_wrong_file(const char *path, const char *command)
{
	const char *what = strcmp(command, "import") ? "manifest" : "gen_init_cpio list", *kind;
	if (cli_file_is_image(path))
		diag_error(NULL, NULL, "%s is an initramfs image, not a %s: list it with 'rdc ls %s', compare it with 'rdc diff'",
			   path, what, path);
	else if ((kind = cli_file_kind(path)))
		diag_error(NULL, strcmp(command, "import") ? "a manifest is YAML (rdc: 1 ...): a kernel to boot is rdc run's --kernel "
							    "(or qemu.kernel:), a program goes in binaries:" : NULL,
			   "%s is not a %s: it looks like %s", path, what, kind);
	else
		return false;
	return true;
}

struct ls {
	bool lng, json, hash;
	size_t count;
	XXH3_state_t *st;
};

static int ls_begin(void *ctx, const struct image_entry *e)
{
	struct ls *l = ctx;
	(void)e;
	if (l->hash)
		XXH3_128bits_reset(l->st);
	return 0;
}

static int ls_data(void *ctx, const void *buf, size_t len)
{
	struct ls *l = ctx;
	if (l->hash)
		XXH3_128bits_update(l->st, buf, len);
	return 0;
}

static void hash_of(struct ls *l, const struct image_entry *e, char hex[33])
{
	strcpy(hex, "-");
	if (!l->hash || !S_ISREG(e->mode))
		return;
	struct cas_hash h;
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(l->st));
	memcpy(h.b, c.digest, sizeof(h.b));
	cas_hash_hex(&h, hex);
}

/* A symlink's size is its target's length, as ls -l shows it (the body
 * rdc and gen_init_cpio write ends in a NUL the kernel drops). */
static unsigned long long shown_size(const struct image_entry *e)
{
	return S_ISLNK(e->mode) ? strlen(e->target) : e->size;
}

static void print_json(const struct image_entry *e, const char *path, const char *hex)
{
	printf("  {\"path\": ");
	json_string(stdout, path);
	printf(", \"type\": \"%s\", \"mode\": \"%04o\", \"uid\": %u, \"gid\": %u, \"size\": %llu",
	       entry_type_name(e->mode), e->mode & 07777, e->uid, e->gid, shown_size(e));
	if (S_ISLNK(e->mode)) {
		printf(", \"target\": ");
		json_string(stdout, e->target);
	}
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
		printf(", \"major\": %u, \"minor\": %u", e->rmajor, e->rminor);
	if (S_ISREG(e->mode))
		printf(", \"hash\": \"%s\"", hex);
	printf(", \"mtime\": %u, \"nlink\": %u, \"segment\": %u, \"codec\": \"%s\"}", e->mtime, e->nlink, e->segment,
	       e->codec);
}

static int ls_end(void *ctx, const struct image_entry *e)
{
	struct ls *l = ctx;
	char hex[33], mode[11];
	hash_of(l, e, hex);
	char *path = image_path(e->name);
	const char *shown = path ? path : e->name; /* a name with "..": shown as the archive has it */
	if (l->json) {
		fputs(l->count ? ",\n" : "[\n", stdout);
		print_json(e, shown, hex);
	} else {
		mode_string(e->mode, mode);
		printf("%s %u/%u %10llu ", mode, e->uid, e->gid, shown_size(e));
		if (l->lng)
			printf("%-32s %u:%s ", hex, e->segment, e->codec);
		put_name(stdout, shown);
		if (S_ISLNK(e->mode)) {
			fputs(" -> ", stdout);
			put_name(stdout, e->target);
		}
		if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
			printf(" %u:%u", e->rmajor, e->rminor);
		putchar('\n');
	}
	free(path);
	l->count++;
	return ferror(stdout) ? -1 : 0;
}

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = { { "long", no_argument, NULL, 'l' },
					       { "json", no_argument, NULL, 'j' },
					       { NULL, 0, NULL, 0 } };
	struct ls l = { 0 };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "lj", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': l.lng = true; break;
		case 'j': l.json = true; break;
		default: fputs(usage_ls, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage_ls, stderr);
		return 2;
	}
	l.hash = l.lng || l.json;
	l.st = XXH3_createState();
	static const struct image_ops ops = { ls_begin, ls_data, ls_end };
	int rc = image_read(argv[optind], &ops, &l);
	XXH3_freeState(l.st);
	if (l.json)
		fputs(l.count ? "\n]\n" : "[]\n", stdout);
	if (fflush(stdout) != 0 && rc == 0) {
		diag_error(NULL, NULL, "cannot write the listing");
		rc = -1;
	}
	return rc ? 1 : 0;
}
