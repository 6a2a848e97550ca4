/* common.c — what several commands share. */
#include "cli/cli.h"
#include "cache/cas.h"
#include "lib/diag.h"
#include "lib/util.h"

/* The cache for a command that works without one (rdc deps, rdc kmods):
 * without it nothing is memoised, which is worth a warning, not an error
 * (the command still does its job and exits 0). */
struct cas *cli_cache_or_none(void)
{
	struct strbuf why = STRBUF_INIT;
	struct cas *c = cas_open_why(NULL, &why);
	if (!c)
		diag_warn(NULL, "closures are not memoised between runs",
			  "%s; going on without a cache", why.buf);
	sb_release(&why);
	return c;
}
