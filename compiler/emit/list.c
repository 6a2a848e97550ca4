/* list.c — the gen_init_cpio list of the plan, naming cache objects. */
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

int emit_list_fd(const struct plan *p, struct cas *cas, int fd)
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
