/* fuzz_import.c — libFuzzer target for rdc import: any bytes as a
 * gen_init_cpio list give a manifest or diagnostics, never a crash, leak or
 * undefined behaviour; and a manifest import writes must be one the
 * manifest reader takes (import wrote manifests rdc could not read). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "lib/util.h"
#include "manifest/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf text = STRBUF_INIT, yaml = STRBUF_INIT;
	sb_add(&text, data, size);
	if (import_text("fuzz.list", &text, NULL, &yaml) == 0) {
		struct manifest *m = manifest_load_buffer("imported.yaml", "/", yaml.buf, yaml.len);
		if (!m && getenv("FUZZ_IMPORT_ROUNDTRIP")) {
			fprintf(stdout, "import wrote a manifest the reader refuses:\n%s\n", yaml.buf);
			abort();
		}
		manifest_free(m);
	}
	sb_release(&text);
	sb_release(&yaml);
	return 0;
}
