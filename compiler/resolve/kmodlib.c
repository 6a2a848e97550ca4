/* kmodlib.c — libkmod, opened with dlopen on first use and called through
 * one table (modclosure_int.h says why). */
#define MC_KMOD_TABLE
#include "resolve/modclosure_int.h"
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kmod_table kmod_lib;

/* NULL when ready, else why not (the same answer on every call). */
static const char *kmod_open(void)
{
	static int state; /* 0: not tried, 1: ready, -1: failed */
	static char why[256];
	if (state)
		return state > 0 ? NULL : why;
	state = -1;
	void *h = dlopen(KMOD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, sizeof(why), "cannot load %s: %s", KMOD_SONAME, dlerror());
		return why;
	}
#define KMOD_BIND(f)                                                                              \
	if (!(*(void **)&kmod_lib.f = dlsym(h, #f))) {                                             \
		snprintf(why, sizeof(why), "%s has no %s", KMOD_SONAME, #f);                      \
		dlclose(h);                                                                        \
		return why;                                                                        \
	}
	KMOD_FUNCS(KMOD_BIND)
#undef KMOD_BIND
	state = 1;
	return NULL;
}

static void kmod_quiet(void *data, int prio, const char *file, int line, const char *fn, const char *fmt,
		       va_list args)
{
	(void)data, (void)prio, (void)file, (void)line, (void)fn, (void)fmt, (void)args;
}

/* NULL with *why set when libkmod cannot be loaded (else *why untouched). */
struct kmod_ctx *mc_ctx_new(const char *dir, const char **why)
{
	static const char *const no_config[] = { NULL };
	const char *no = kmod_open();
	if (no) {
		*why = no;
		return NULL;
	}
	struct kmod_ctx *ctx = kmod_lib.kmod_new(dir, no_config);
	if (ctx)
		kmod_lib.kmod_set_log_fn(ctx, kmod_quiet, NULL);
	return ctx;
}

struct kmod_ctx *mc_ctx_new_indexed(const char *dir, const char **why)
{
	struct kmod_ctx *ctx = mc_ctx_new(dir, why);
	if (ctx)
		kmod_lib.kmod_load_resources(ctx); /* a tree without them: lookups open what there is */
	return ctx;
}
