/* output.c — the output format and compressor table (see output.h). */
#include "lib/output.h"
#include <stddef.h>

const struct output_format output_formats[EF_COUNT] = {
	[EF_CPIO] = { "cpio", NULL, NULL },
	[EF_LIST] = { "list", ".list", ".txt" },
	[EF_C] = { "c", ".c", NULL },
	[EF_S] = { "S", ".S", NULL },
	[EF_DIR] = { "dir", "/", NULL },
};

/* Levels as each library takes them, gzip's as gzip(1) (zlib's 0 would
 * store, not compress); the defaults are each tool's own (gzip -6, xz -6,
 * zstd -3); lz4 -1 and -2 are its fast default, 3-12 high compression. */
const struct output_algo output_algos[EA_COUNT] = {
	[EA_NONE] = { "none", NULL, ".cpio", 0, 0, 0, 0 },
	[EA_GZIP] = { "gzip", ".gz", ".cpio.gz", 1, 9, 6, 0 },
	[EA_ZSTD] = { "zstd", ".zst", ".cpio.zst", 1, 22, 3, 5 },
	[EA_XZ] = { "xz", ".xz", ".cpio.xz", 0, 9, 6, 0 },
	[EA_LZ4] = { "lz4", ".lz4", ".cpio.lz4", 1, 12, 1, 0 },
};

int output_level(enum emit_algo algo, int level)
{
	return level < 0 ? output_algos[algo].def : level;
}

const char *const *output_format_names(void)
{
	static const char *names[EF_COUNT + 1];
	if (!names[0])
		for (int i = 0; i < EF_COUNT; i++)
			names[i] = output_formats[i].name;
	return names;
}

const char *const *output_algo_names(void)
{
	static const char *names[EA_COUNT + 1];
	if (!names[0])
		for (int i = 0; i < EA_COUNT; i++)
			names[i] = output_algos[i].name;
	return names;
}
