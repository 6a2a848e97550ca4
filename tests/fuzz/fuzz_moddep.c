/* fuzz_moddep.c — libFuzzer target for the module closure's reading of a
 * tree's modules.dep text (resolve/modclosure.c, 64 requests on): any bytes
 * give a table of lines whose names, paths and dependency paths lie inside
 * it, or no table, never a crash, a leak or undefined behaviour.  The bytes
 * are written as modules.dep in a private directory under $FUZZ_DIR
 * (default build-fuzz), with no modules.dep.bin: the text is read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "resolve/modclosure_int.h"

static char dir[4096], dep[4200];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!*dir) {
		const char *base = getenv("FUZZ_DIR");
		snprintf(dir, sizeof(dir), "%s/moddep.%d", base && *base ? base : "build-fuzz", (int)getpid());
		snprintf(dep, sizeof(dep), "%s/modules.dep", dir);
		mkdir(dir, 0755);
	}
	if (write_file_atomic(dep, data, size, 0644) < 0)
		return 0;
	struct modclosure_opts o = { .kver = "6.1.0-fuzz" };
	struct mc mc = { .o = &o, .kdir = dir };
	mc_dep_table_read(&mc);
	size_t sum = 0;
	for (size_t i = 0; mc.dloaded && i < mc.ndtab; i++) {
		const struct mdep *d = &mc.dtab[i];
		sum += strlen(d->name) + strlen(d->rel);
		if (d->dep0 + d->ndep > mc.ndpaths)
			abort();
		for (size_t k = 0; k < d->ndep; k++)
			sum += strlen(mc.dpaths[d->dep0 + k]);
	}
	mc_dep_table_release(&mc);
	return sum == (size_t)-1;
}
