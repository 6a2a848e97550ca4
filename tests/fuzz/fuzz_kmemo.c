/* fuzz_kmemo.c — libFuzzer target for the module closure's memo payload
 * (resolve/modmemo.c, and the replayed messages of its "G" record): any
 * bytes give a closure or "damaged", never a crash, leak or undefined
 * behaviour.  The cache checks a memo's checksum first, so these bytes are
 * what a forgery that passes it, or a bug in memo_save, would hand over. */
#include <stdint.h>
#include <stdlib.h>
#include "resolve/modclosure_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* decompress stays off: it would read the files the payload names */
	struct modclosure_opts o = { .kver = "6.1.0-fuzz" };
	struct mc mc = { .o = &o };
	struct strbuf pl = STRBUF_INIT;
	struct modclosure out = { 0 };
	sb_add(&pl, data, size);
	if (mc_memo_load(&mc, &pl, &out) == 0) {
		mc_msgs_parse(sb_str(&mc.msgs), &out);
		modclosure_free(&out);
	}
	sb_release(&mc.msgs);
	mc_msgs_free(mc.said, mc.nsaid);
	sb_release(&pl);
	return 0;
}
