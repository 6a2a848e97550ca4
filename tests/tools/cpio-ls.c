/* cpio-ls.c — a test oracle: lists every entry of a stream of cpio newc
 * archives laid end to end (as the kernel unpacks a segmented initramfs),
 * one line each: mode uid gid rdev size content-hash name [-> target].
 * It shares no code with rdc's writer on purpose. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long field(const char *h, int i)
{
	char buf[9];
	memcpy(buf, h + 6 + 8 * i, 8);
	buf[8] = '\0';
	return strtoul(buf, NULL, 16);
}

static void skip(FILE *f, unsigned long n)
{
	while (n--)
		(void)getc(f);
}

int main(void)
{
	char h[110];
	unsigned long off = 0;
	for (;;) {
		int c = getc(stdin);
		if (c == EOF)
			return 0;
		if (c == 0 && off % 4 == 0) { /* zero padding between archives */
			skip(stdin, 3);
			off += 4;
			continue;
		}
		h[0] = (char)c;
		if (fread(h + 1, 1, 109, stdin) != 109 || memcmp(h, "070701", 6)) {
			fprintf(stderr, "cpio-ls: bad header at offset %lu\n", off);
			return 1;
		}
		unsigned long mode = field(h, 1), uid = field(h, 2), gid = field(h, 3), size = field(h, 6);
		unsigned long rmaj = field(h, 9), rmin = field(h, 10), namesize = field(h, 11);
		char *name = malloc(namesize + 1), *data = malloc(size + 1);
		if (fread(name, 1, namesize, stdin) != namesize)
			return 1;
		off += 110 + namesize;
		skip(stdin, (4 - off % 4) % 4);
		off += (4 - off % 4) % 4;
		if (fread(data, 1, size, stdin) != size)
			return 1;
		data[size] = '\0';
		off += size;
		skip(stdin, (4 - off % 4) % 4);
		off += (4 - off % 4) % 4;
		if (strcmp(name, "TRAILER!!!")) {
			uint64_t fnv = 1469598103934665603ull;
			for (unsigned long i = 0; i < size; i++)
				fnv = (fnv ^ (unsigned char)data[i]) * 1099511628211ull;
			if ((mode & 0170000) == 0120000)
				printf("%06lo %lu %lu %lu:%lu - - %s -> %s\n", mode, uid, gid, rmaj, rmin, name, data);
			else
				printf("%06lo %lu %lu %lu:%lu %lu %016llx %s\n", mode, uid, gid, rmaj, rmin, size,
				       (unsigned long long)fnv, name);
		}
		free(name);
		free(data);
	}
}
