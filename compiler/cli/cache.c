/* cache.c — `rdc cache stats [--json]|verify|path|gc [--max-size SIZE]`: what the
 * content-addressed store holds, checked, or trimmed.  The store counts and
 * repairs (cache/cas.h); this file parses the command and prints. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cache/cas.h"
#include "cache/remote.h"
#include "lib/json.h"
#include "lib/util.h"

const char usage_cache[] = "usage: rdc cache stats [--json] | verify | path\n"
			   "       rdc cache gc [--max-size SIZE]   (SIZE in bytes, or with K, M, G)\n";

static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9') /* strtoull would take "-5" as a huge size */
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = !*end ? 0 : strchr("kK", *end) ? 10 : strchr("mM", *end) ? 20 : strchr("gG", *end) ? 30 : -1;
	if (errno || end == s || shift < 0 || (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B")) ||
	    v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

/* "(1.5 MB)": a size as people read it, beside the exact bytes. */
static const char *human_size(uint64_t n, char *buf, size_t len)
{
	char t[32];
	snprintf(buf, len, "(%s)", size_text(n, t, sizeof(t)));
	return buf;
}

static int print_stats(struct cas *c)
{
	struct cas_stats st;
	if (cas_stats(c, &st) < 0)
		return 1;
	char h[32];
	printf("cache     %s\n", cas_dir(c));
	for (int k = 0; k < CAS_NKINDS; k++)
		printf("%-9s %8" PRIu64 " files %14" PRIu64 " bytes  %s\n", cas_kind_names[k], st.files[k], st.bytes[k],
		       human_size(st.bytes[k], h, sizeof(h)));
	printf("index     %8zu entries (sources whose content is known by their stat)\n", st.index_entries);
	printf("total     %29" PRIu64 " bytes  %s\n", st.total, human_size(st.total, h, sizeof(h)));
	remote_print_stats(cas_dir(c));
	return 0;
}

/* {"dir", "index_entries", "total_bytes", "kinds": {"objects": {"files", "bytes"}, ...}} */
static int print_stats_json(struct cas *c)
{
	struct cas_stats st;
	if (cas_stats(c, &st) < 0)
		return 1;
	struct json j;
	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_str(&j, "dir", cas_dir(c));
	json_u64(&j, "index_entries", st.index_entries);
	json_u64(&j, "total_bytes", st.total);
	json_object_begin(&j, "kinds");
	for (int k = 0; k < CAS_NKINDS; k++) {
		json_object_begin(&j, cas_kind_names[k]);
		json_u64(&j, "files", st.files[k]);
		json_u64(&j, "bytes", st.bytes[k]);
		json_object_end(&j);
	}
	json_object_end(&j);
	json_object_end(&j);
	json_done(&j);
	return 0;
}

static int print_verify(struct cas *c)
{
	struct strlist damaged = STRLIST_INIT;
	size_t checked = 0;
	if (cas_verify(c, &damaged, &checked) < 0)
		return 1;
	for (size_t i = 0; i < damaged.n; i++)
		printf("damaged: %s\n", damaged.v[i]);
	size_t bad = damaged.n;
	if (bad)
		fprintf(stderr, "rdc: %zu damaged cache file%s removed; the next build recreates %s\n", bad,
			bad == 1 ? "" : "s", bad == 1 ? "it" : "them");
	else
		printf("all %zu files verified\n", checked);
	sl_release(&damaged);
	return bad ? 1 : 0;
}

static int print_gc(struct cas *c, uint64_t max_size)
{
	struct cas_gc g;
	if (cas_gc(c, max_size, &g) < 0)
		return 1;
	char h[32];
	printf("removed %" PRIu64 " files, %" PRIu64 " bytes %s", g.removed, g.freed, human_size(g.freed, h, sizeof(h)));
	for (int k = 0, first = 1; k < CAS_NKINDS; k++)
		if (g.removed_by_kind[k]) {
			printf("%s%" PRIu64 " %s", first ? ": " : ", ", g.removed_by_kind[k], cas_kind_names[k]);
			first = 0;
		}
	printf("; %" PRIu64 " bytes remain %s\n", g.remain, human_size(g.remain, h, sizeof(h)));
	return 0;
}

int cmd_cache(int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : "";
	uint64_t max_size = UINT64_MAX;
	bool known = !strcmp(sub, "stats") || !strcmp(sub, "verify") || !strcmp(sub, "gc") || !strcmp(sub, "path");
	int extra = argc - 2;
	bool as_json = !strcmp(sub, "stats") && extra == 1 && !strcmp(argv[2], "--json");
	if (as_json)
		extra = 0;
	if (!strcmp(sub, "gc") && extra == 2 && !strcmp(argv[2], "--max-size") && parse_size(argv[3], &max_size))
		extra = 0;
	else if (!strcmp(sub, "gc") && extra == 1 && !strncmp(argv[2], "--max-size=", 11) && parse_size(argv[2] + 11, &max_size))
		extra = 0;
	if (!known || extra) {
		if (!known && *sub)
			fprintf(stderr, "rdc cache: unknown command '%s'\n", sub);
		else if (!strcmp(sub, "gc") && extra >= 1 && !strncmp(argv[2], "--max-size", 10))
			fprintf(stderr, "rdc cache gc: --max-size takes a size in bytes, or with K, M or G (e.g. 500M)\n");
		else if (extra)
			fprintf(stderr, "rdc cache %s: unexpected '%s'\n", sub, argv[2]);
		fputs(usage_cache, stderr);
		return 2;
	}
	struct cas *c = cas_open(NULL);
	if (!c)
		return 1;
	int rc = 0;
	if (!strcmp(sub, "path"))
		printf("%s\n", cas_dir(c));
	else
		rc = as_json ? print_stats_json(c) : !strcmp(sub, "stats") ? print_stats(c) : !strcmp(sub, "verify") ? print_verify(c) : print_gc(c, max_size);
	cas_close(c);
	return rc;
}
