/* image.h — reads an initramfs the way the kernel's init/initramfs.c
 * unpacks it: cpio newc archives laid end to end, each plain (an early
 * microcode archive, say) or compressed on its own (gzip, xz, lzma, bzip2,
 * zstd, lz4 legacy), zero padding between them, later entries replacing
 * earlier ones.  rdc's, dracut's and mkinitramfs's images are all of this
 * shape.  The image is streamed: memory does not grow with its size.
 * Used by `rdc ls`, `rdc extract` and `rdc diff`. */
#ifndef RDC_IMAGE_H
#define RDC_IMAGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct image_entry {
	const char *name;    /* as the archive spells it: "bin/sh", "./x", "." */
	unsigned mode, uid, gid, nlink, ino, mtime;
	unsigned dmajor, dminor; /* the archive's dev (hard links) */
	unsigned rmajor, rminor; /* char and block devices */
	uint64_t size;       /* body bytes */
	const char *target;  /* symlinks: the body, without the NUL rdc and gen_init_cpio add */
	const char *link;    /* a hard link (nlink >= 2, same dev and ino and type as an earlier
			      * entry of this archive): that entry's name, as the kernel links
			      * them; its body, if any, is then written into the shared file */
	unsigned segment;    /* which archive or compressed stream, from 0 */
	const char *codec;   /* that segment's: "cpio", "gzip", "xz", "lzma", "bzip2", "zstd", "lz4" */
};

/* Called for each entry: begin with its header, data with each piece of a
 * regular file's body, end after it.  Any may be NULL; a non-zero return
 * stops the read, and image_read returns it. */
struct image_ops {
	int (*begin)(void *ctx, const struct image_entry *e);
	int (*data)(void *ctx, const void *buf, size_t len);
	int (*end)(void *ctx, const struct image_entry *e);
};

/* Read the image at `path` ("-": stdin).  Returns 0, a callback's non-zero
 * status, or -1 after a message naming the offset where the image stops
 * making sense (for a compressed stream, the offset in its output). */
int image_read(const char *path, const struct image_ops *ops, void *ctx);

/* Whether the first bytes of a file look like an initramfs (cpio magic or
 * a compressor's) rather than text: for commands that want a manifest. */
bool image_magic(const unsigned char *buf, size_t len);

/* What a file that is no initramfs plainly is, from its first `len` bytes
 * (IMAGE_HEAD_MAX of them suffice): "an x86 kernel image (bzImage)", "an
 * ELF file ..." or NULL.  *arch, if not NULL, gets a kernel image's
 * architecture from its boot header ("x86" for a bzImage, "aarch64",
 * "riscv64"; NULL when the header does not say).  Shared by rdc ls, which
 * names what it was given, and rdc run, which checks the kernel it boots. */
#define IMAGE_HEAD_MAX 0x210
const char *image_file_kind(const unsigned char *head, size_t len, const char **arch);

/* The image path of an archive name: "/bin/sh" for "bin/sh" or "./bin/sh",
 * "/" for "." (caller frees; NULL when the name climbs out with ".."). */
char *image_path(const char *name);

#endif
