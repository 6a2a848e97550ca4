/* fuzz_manifest.c — libFuzzer target for the manifest reader: any bytes must
 * give a manifest or diagnostics, never a crash, leak or undefined behaviour. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "manifest/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest *m = manifest_load_buffer("fuzz.yaml", "/nonexistent", (const char *)data, size);
	manifest_free(m);
	return 0;
}
