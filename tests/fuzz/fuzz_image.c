/* fuzz_image.c — libFuzzer target for the initramfs reader (rdc ls,
 * extract, diff): any bytes, read as the kernel reads an initramfs (cpio
 * state machine, zero padding, every decoder), must give entries or a
 * reason, never a crash, a leak or a hang.  The bytes go through a memfd
 * because the reader streams from a file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "image/image.h"
#include "lib/util.h"

static int on_entry(void *ctx, const struct image_entry *e)
{
	size_t *n = ctx;
	char *p = image_path(e->name);
	*n += p ? strlen(p) : 1;
	free(p);
	return 0;
}

static int on_data(void *ctx, const void *buf, size_t len)
{
	(void)buf;
	*(size_t *)ctx += len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0)
		fd = memfd_create("image", 0);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	size_t seen = 0;
	static const struct image_ops ops = { on_entry, on_data, NULL };
	image_read(path, &ops, &seen);
	return 0;
}
