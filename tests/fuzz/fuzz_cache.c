/* fuzz_cache.c — libFuzzer target for the cache's readers: any bytes as the
 * stat index, or as a memo, are damage to drop or a miss, never a crash, a
 * leak, or a hit on content that was not written.  The first byte picks the
 * reader; the cache is a private directory under $FUZZ_DIR (default
 * build-fuzz). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cache/cas.h"
#include "lib/util.h"

static char dir[4096], src[4200];

static void setup(void)
{
	const char *base = getenv("FUZZ_DIR");
	snprintf(dir, sizeof(dir), "%s/cache.%d", base && *base ? base : "build-fuzz", (int)getpid());
	snprintf(src, sizeof(src), "%s-src", dir);
	mkdir(dir, 0755);
	FILE *f = fopen(src, "w");
	if (f) {
		fputs("source\n", f);
		fclose(f);
	}
}

static void write_raw(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fwrite(data, 1, size, f);
		fclose(f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready++)
		setup();
	if (!size)
		return 0;
	struct cas *c = cas_open(dir);
	if (!c)
		return 0;
	if (data[0] & 1) { /* a memo: put one, overwrite it with the input, get it */
		struct strbuf deps = STRBUF_INIT, payload = STRBUF_INIT, got = STRBUF_INIT;
		sb_adds(&payload, "payload");
		cas_memo_put(c, "fuzz", "key", &deps, &payload);
		struct cas_hash h;
		char hex[33];
		cas_hash_data("key", 3, &h);
		cas_hash_hex(&h, hex);
		char *path = xasprintf("%s/memo/fuzz/%s", dir, hex);
		write_raw(path, data + 1, size - 1);
		if (cas_memo_get(c, "fuzz", "key", &got) == 1 && (got.len != 7 || memcmp(got.buf, "payload", 7)) &&
		    getenv("FUZZ_CACHE_STRICT")) {
			/* a forged memo can pass only with a right checksum, which random
			 * bytes almost never have */
			abort();
		}
		free(path);
		sb_release(&deps);
		sb_release(&payload);
		sb_release(&got);
		cas_close(c);
	} else { /* the index: load it (through a lookup), then save it */
		cas_close(c);
		char *path = xasprintf("%s/index", dir);
		write_raw(path, data + 1, size - 1);
		c = cas_open(dir);
		struct cas_hash h;
		uint64_t n;
		struct strbuf why = STRBUF_INIT;
		if (c)
			cas_put_file(c, src, &h, &n, &why);
		sb_release(&why);
		cas_close(c);
		free(path);
	}
	return 0;
}
