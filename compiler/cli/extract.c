/* cli/extract.c — rdc extract IMAGE DIR [--devices] [--setuid]
 *
 * Unpacks any initramfs (image/image.h) into DIR, safely whatever the
 * archive says: every name is taken relative to DIR and one with ".." is
 * refused; every directory on the way is opened with O_NOFOLLOW, so no
 * symlink (the archive's or anyone's) is followed out of DIR; files are
 * created with O_EXCL after removing what was there (as the kernel
 * replaces it).  Device nodes are created and setuid/setgid bits kept only
 * when asked, and only as root; owners are kept only as root.  DIR must be
 * missing (it is made with the first entry) or empty.  Directory modes and
 * times are applied at the end, as the kernel does, so a read-only
 * directory can still be filled. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "cli/cli.h"
#include "image/image.h"
#include "lib/diag.h"
#include "lib/util.h"

const char usage_extract[] = "usage: rdc extract IMAGE DIR [--devices] [--setuid]\n"
				    "  --devices  create device nodes (root only; else they are left out)\n"
				    "  --setuid   keep setuid and setgid bits (root only; else they are dropped)\n";

struct dirfix {
	char *path;
	unsigned mode, mtime;
};

struct ex {
	int root;          /* DIR, or -1 until the first entry makes it */
	const char *dir;
	bool devices, setuid, as_root;
	int fd;            /* the regular file being written, or -1 */
	char *cur;         /* its image path */
	unsigned perm;     /* and its permissions */
	unsigned refused, skipped_nodes, dropped_bits;
	struct dirfix *dirs;
	size_t ndirs, adirs;
	int rc;
};

/* Open the directory that holds `path` (relative, "a/b/c" -> a/b), making
 * missing ones, never following a symlink; *leaf gets the last name. */
static int open_parent(struct ex *x, const char *path, const char **leaf)
{
	int fd = dup(x->root);
	const char *p = path;
	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash) {
			*leaf = p;
			return fd;
		}
		char *name = xstrndup(p, slash - p);
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && mkdirat(fd, name, 0700) == 0)
			next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		free(name);
		close(fd);
		if (next < 0) {
			errno = e;
			return -1;
		}
		fd = next;
		p = slash + 1;
	}
}

/* What the kernel's clean_path does: whatever is at the name goes, unless
 * it is a directory and a directory comes. */
static void clear_leaf(int dir, const char *leaf, unsigned mode)
{
	struct stat st;
	if (fstatat(dir, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (S_ISDIR(st.st_mode) && S_ISDIR(mode))
		return;
	if (unlinkat(dir, leaf, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 && S_ISDIR(st.st_mode))
		diag_warn(NULL, NULL, "cannot replace the directory %s (not empty)", leaf);
}

static unsigned perm_of(struct ex *x, const struct image_entry *e)
{
	unsigned perm = e->mode & 07777;
	if ((perm & (S_ISUID | S_ISGID)) && !x->setuid) {
		perm &= ~(unsigned)(S_ISUID | S_ISGID);
		x->dropped_bits++;
	}
	return perm;
}

static void refuse(struct ex *x, const struct image_entry *e, const char *why)
{
	diag_warn(NULL, NULL, "not extracting %s: %s", e->name, why);
	x->refused++;
}

static void set_owner_time(struct ex *x, int dir, const char *leaf, int fd, const struct image_entry *e)
{
	struct timespec t[2] = { { .tv_sec = e->mtime }, { .tv_sec = e->mtime } };
	if (x->as_root && (fd >= 0 ? fchown(fd, e->uid, e->gid) : fchownat(dir, leaf, e->uid, e->gid, AT_SYMLINK_NOFOLLOW)) < 0)
		diag_warn(NULL, NULL, "cannot set the owner of %s: %s", e->name, strerror(errno));
	if (fd >= 0)
		futimens(fd, t);
	else
		utimensat(dir, leaf, t, AT_SYMLINK_NOFOLLOW);
}

/* A hard link to an earlier entry, as the kernel makes it: the name is
 * linked to that file (found inside DIR the safe way), and a body, if any,
 * is written into the shared file.  An earlier entry that was refused (it
 * climbed out, or its parent was a symlink) is not there to link to: this
 * one is refused too, with that reason, and the rest goes on. */
static int make_link(struct ex *x, int dir, const char *leaf, const char *path, const struct image_entry *e)
{
	char *old = image_path(e->link);
	const char *oleaf;
	int odir = old && strcmp(old, "/") ? open_parent(x, old + 1, &oleaf) : -1;
	int rc = -1;
	clear_leaf(dir, leaf, 0);
	if (odir >= 0)
		rc = linkat(odir, oleaf, dir, leaf, 0); /* no AT_SYMLINK_FOLLOW: a symlink is linked, not its target */
	if (rc < 0 && (odir < 0 || errno == ENOENT)) {
		char *why = xasprintf("a hard link to %s, which is not extracted", e->link);
		refuse(x, e, why);
		free(why);
		rc = 0;
	} else if (rc == 0 && S_ISREG(e->mode)) {
		x->fd = openat(dir, leaf, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		x->cur = xstrdup(path);
		x->perm = perm_of(x, e);
		rc = x->fd < 0 ? -1 : 0;
	}
	int saved = errno; /* for the caller's message */
	if (odir >= 0)
		close(odir);
	free(old);
	errno = saved;
	return rc;
}

static int make_entry(struct ex *x, int dir, const char *leaf, const char *path, const struct image_entry *e)
{
	if (e->link && (S_ISREG(e->mode) || x->devices || !(S_ISCHR(e->mode) || S_ISBLK(e->mode))))
		return make_link(x, dir, leaf, path, e);
	unsigned perm = perm_of(x, e);
	clear_leaf(dir, leaf, e->mode);
	if (S_ISREG(e->mode)) {
		x->fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (x->fd < 0)
			return -1;
		x->cur = xstrdup(path);
		x->perm = perm; /* set after the owner: chown clears setuid bits */
		return 0;
	}
	int rc;
	if (S_ISDIR(e->mode)) {
		rc = mkdirat(dir, leaf, 0700);
		if (rc < 0 && errno == EEXIST)
			rc = 0;
		GROW(x->dirs, x->ndirs + 1, x->adirs);
		x->dirs[x->ndirs++] = (struct dirfix){ xstrdup(path), perm, e->mtime };
		return rc;
	} else if (S_ISLNK(e->mode)) {
		rc = symlinkat(e->target, dir, leaf);
	} else if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		if (!x->devices) {
			x->skipped_nodes++;
			return 0;
		}
		rc = mknodat(dir, leaf, (e->mode & S_IFMT) | perm, makedev(e->rmajor, e->rminor));
	} else if (S_ISFIFO(e->mode) || S_ISSOCK(e->mode)) {
		rc = mknodat(dir, leaf, (e->mode & S_IFMT) | perm, 0);
	} else {
		refuse(x, e, "an unknown file type");
		return 0;
	}
	if (rc == 0) {
		set_owner_time(x, dir, leaf, -1, e);
		if (!S_ISLNK(e->mode)) /* after the owner; mknod's mode went through the umask */
			fchmodat(dir, leaf, perm, 0);
	}
	return rc;
}

static int open_target(const char *dir);

static int ex_begin(void *ctx, const struct image_entry *e)
{
	struct ex *x = ctx;
	if (x->root < 0 && (x->root = open_target(x->dir)) < 0)
		return -1;
	char *path = image_path(e->name);
	if (!path) {
		refuse(x, e, "its name climbs out with ..");
		return 0;
	}
	if (!strcmp(path, "/")) { /* DIR itself: the user's, left as it is */
		free(path);
		return 0;
	}
	const char *leaf;
	int dir = open_parent(x, path + 1, &leaf);
	if (dir < 0) {
		refuse(x, e, errno == ELOOP || errno == ENOTDIR ? "a parent is a symlink or not a directory" : strerror(errno));
		free(path);
		return 0;
	}
	if (make_entry(x, dir, leaf, path, e) < 0) {
		diag_error(NULL, NULL, "cannot create %s in the directory: %s", path, strerror(errno));
		x->rc = 1;
	}
	close(dir);
	free(path);
	return x->rc ? -1 : 0;
}

static int ex_data(void *ctx, const void *buf, size_t len)
{
	struct ex *x = ctx;
	if (x->fd >= 0 && write_all(x->fd, buf, len) < 0) {
		diag_error(NULL, NULL, "cannot write %s: %s", x->cur, strerror(errno));
		return -1;
	}
	return 0;
}

static int ex_end(void *ctx, const struct image_entry *e)
{
	struct ex *x = ctx;
	if (x->fd < 0)
		return 0;
	set_owner_time(x, -1, NULL, x->fd, e);
	int rc = fchmod(x->fd, x->perm);
	rc |= close(x->fd);
	x->fd = -1;
	if (rc < 0)
		diag_error(NULL, NULL, "cannot write %s: %s", x->cur, strerror(errno));
	free(x->cur);
	x->cur = NULL;
	return rc < 0 ? -1 : 0;
}

/* Directory modes and times last (deepest first), each opened again
 * without following symlinks: a later entry may have replaced it. */
static void fix_dirs(struct ex *x)
{
	for (size_t i = x->ndirs; i-- > 0;) {
		const char *leaf;
		int dir = open_parent(x, x->dirs[i].path + 1, &leaf);
		int fd = dir < 0 ? -1 : openat(dir, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			struct timespec t[2] = { { .tv_sec = x->dirs[i].mtime }, { .tv_sec = x->dirs[i].mtime } };
			fchmod(fd, x->dirs[i].mode);
			futimens(fd, t);
			close(fd);
		}
		if (dir >= 0)
			close(dir);
		free(x->dirs[i].path);
	}
	free(x->dirs);
}

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return false;
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

/* DIR: made when missing, else an empty directory; returns its fd. */
static int open_target(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		diag_error(NULL, NULL, "cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		diag_error(NULL, NULL, "%s: %s", dir, errno == ENOTDIR ? "exists and is not a directory" : strerror(errno));
		return -1;
	}
	if (!dir_empty(dir)) {
		diag_error(NULL, NULL, "%s is not empty: rdc extract unpacks only into a new or empty directory", dir);
		close(fd);
		return -1;
	}
	return fd;
}

int cmd_extract(int argc, char **argv)
{
	static const struct option opts[] = { { "devices", no_argument, NULL, 'd' },
					       { "setuid", no_argument, NULL, 's' },
					       { NULL, 0, NULL, 0 } };
	struct ex x = { .root = -1, .fd = -1, .as_root = geteuid() == 0 };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': x.devices = true; break;
		case 's': x.setuid = true; break;
		default: fputs(usage_extract, stderr); return 2;
		}
	}
	if (optind != argc - 2) {
		fputs(usage_extract, stderr);
		return 2;
	}
	if ((x.devices || x.setuid) && !x.as_root) {
		diag_error(NULL, NULL, "%s needs root: only root may create device nodes or setuid files",
			  x.devices ? "--devices" : "--setuid");
		return 2;
	}
	/* A DIR that exists is checked now; a missing one is made with the
	 * first entry, so that an image that cannot be read at all (a typo,
	 * a kernel) leaves nothing behind. */
	x.dir = argv[optind + 1];
	struct stat st;
	bool exists = lstat(x.dir, &st) == 0;
	if (exists && (x.root = open_target(x.dir)) < 0)
		return 1;
	static const struct image_ops ops = { ex_begin, ex_data, ex_end };
	int rc = image_read(argv[optind], &ops, &x);
	if (rc == 0 && x.root < 0 && (x.root = open_target(x.dir)) < 0) /* an empty image: an empty DIR */
		rc = 1;
	if (x.fd >= 0) /* the image ended inside this file */
		close(x.fd);
	free(x.cur);
	if (x.root >= 0) {
		fix_dirs(&x);
		close(x.root);
	}
	if (x.skipped_nodes)
		diag_warn(NULL, NULL, "left out %u device node%s (--devices, as root, creates them)", x.skipped_nodes,
			  x.skipped_nodes == 1 ? "" : "s");
	if (x.dropped_bits)
		diag_warn(NULL, NULL, "dropped the setuid/setgid bits of %u file%s (--setuid, as root, keeps them)",
			  x.dropped_bits, x.dropped_bits == 1 ? "" : "s");
	if (x.refused) {
		diag_error(NULL, NULL, "refused %u entr%s (named above); %s holds the rest", x.refused, x.refused == 1 ? "y" : "ies",
			  argv[optind + 1]);
		return 1;
	}
	return rc || x.rc ? 1 : 0;
}
