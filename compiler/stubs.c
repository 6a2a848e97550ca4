/* stubs.c — TEMPORARY weak fallbacks so ./rdc links while modules are being
 * written in parallel.  A real module's strong definitions replace these.
 * This file is deleted once every module exists. */
#include <errno.h>
#include <stdio.h>
#include "build.h"
#include "cas.h"
#include "elfdeps.h"
#include "import.h"
#include "initgen.h"
#include "modclosure.h"
#include "runner.h"

#define WEAK __attribute__((weak))
static int missing(const char *what)
{
	fprintf(stderr, "rdc: error: %s is not built into this rdc yet\n", what);
	return -1;
}



WEAK char *modclosure_kver(const char *m, const char *v, const struct loc *l) { (void)m; (void)l; return xstrdup(v); }
WEAK int modclosure_resolve(const struct modclosure_opts *o, const struct modclosure_req *r, size_t n, struct modclosure *out) { (void)o; (void)r; (void)n; (void)out; return missing("module resolver"); }
WEAK void modclosure_free(struct modclosure *c) { (void)c; }
WEAK int cmd_kmods(int argc, char **argv) { (void)argc; (void)argv; missing("rdc kmods"); return 1; }

WEAK int initgen_script(const struct manifest *m, const struct modclosure *mc, struct strbuf *out) { (void)m; (void)mc; (void)out; return missing("init generator"); }
WEAK bool initgen_needs_busybox(const struct manifest *m) { (void)m; return false; }
WEAK bool initgen_mount_known(const char *n) { (void)n; return true; }

WEAK int cmd_run(int argc, char **argv) { (void)argc; (void)argv; missing("rdc run"); return 1; }
WEAK int cmd_import(int argc, char **argv) { (void)argc; (void)argv; missing("rdc import"); return 1; }
