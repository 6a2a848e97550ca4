/* fuzz_elf.c — libFuzzer target for the ELF reader: any bytes, handed to
 * libelf and then to rdc's program-header, dynamic-section and note parsing,
 * must give a result or a reason, never a crash or a leak. */
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "resolve/elfdeps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		elf_version(EV_CURRENT);
		ready = 1;
	}
	char *copy = xmalloc(size + 1); /* elf_memory may write into its buffer */
	memcpy(copy, data, size);
	Elf *elf = elf_memory(copy, size);
	if (elf) {
		struct elf_info in;
		struct strbuf err = STRBUF_INIT;
		if (elf_info_from_elf(elf, &in, &err) == 0)
			elf_info_free(&in);
		sb_release(&err);
		elf_end(elf);
	}
	free(copy);
	return 0;
}
