/* modmemo.c — the closure memo: keyed by the requests and the options,
 * valid while every input it read is unchanged, its payload the result
 * and the warnings to replay. */
#include "resolve/modclosure_int.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* " <decimal>" without printf: a whole kernel's payload has 40,000 numbers. */
static void put_num(struct strbuf *sb, long long v)
{
	char buf[24], *p = buf + sizeof(buf);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	*--p = ' ';
	sb_add(sb, p, (size_t)(buf + sizeof(buf) - p));
}

static void put_str(struct strbuf *sb, const char *s, size_t len)
{
	if (!s)
		sb_adds(sb, " -");
	else {
		put_num(sb, (long long)len);
		sb_addch(sb, ':');
		sb_add(sb, s, len);
	}
}

static void put_s(struct strbuf *sb, const char *s)
{
	put_str(sb, s, s ? strlen(s) : 0);
}

/* Parses one put_str field; *out NULL for "-".  False on malformed input. */
static bool get_str(const char **p, const char *end, char **out, size_t *len)
{
	*out = NULL;
	if (end - *p >= 2 && !memcmp(*p, " -", 2)) {
		*p += 2;
		return true;
	}
	char *colon;
	if (*p >= end || **p != ' ')
		return false;
	unsigned long long n = strtoull(*p + 1, &colon, 10);
	if (colon >= end || *colon != ':' || n > (unsigned long long)(end - colon - 1))
		return false;
	*out = xmalloc(n + 1); /* binary-safe: the .bin indexes hold NULs */
	memcpy(*out, colon + 1, n);
	(*out)[n] = '\0';
	if (len)
		*len = n;
	*p = colon + 1 + n;
	return true;
}

char *mc_memo_key(const struct mc *mc)
{
	struct strbuf k = STRBUF_INIT;
	sb_adds(&k, MEMO_NS);
	put_s(&k, mc->o->kver);
	put_s(&k, mc->kdir);
	put_s(&k, mc_fw_dir(mc));
	put_s(&k, mc->o->decompress ? "1" : "0");
	put_s(&k, mc->o->tree ? "tree" : "installed");
	for (size_t r = 0; r < mc->nreqs; r++) {
		char *p = mc->reqs[r].path ? mc_abs_path(mc->reqs[r].path) : NULL;
		put_s(&k, mc->reqs[r].name);
		put_s(&k, p);
		put_s(&k, mc->reqs[r].params);
		free(p);
	}
	return sb_detach(&k);
}

void mc_memo_save(const struct strbuf *msgs, const struct modclosure *out, struct strbuf *pl)
{
	for (size_t i = 0; i < out->nmods; i++) {
		sb_addch(pl, 'M');
		put_s(pl, out->mods[i].name);
		put_s(pl, out->mods[i].src);
		put_s(pl, out->mods[i].dest);
		put_s(pl, out->mods[i].params);
		put_s(pl, out->mods[i].why);
		put_num(pl, out->mods[i].req);
		put_num(pl, out->mods[i].soft);
		put_num(pl, out->mods[i].group);
		put_num(pl, out->mods[i].machine);
	}
	for (size_t i = 0; i < out->nfirmware; i++) {
		sb_addch(pl, 'F');
		put_s(pl, out->firmware[i].src);
		put_s(pl, out->firmware[i].dest);
	}
	for (size_t i = 0; i < out->nindexes; i++) {
		sb_addch(pl, 'X');
		put_s(pl, out->indexes[i].dest);
		put_str(pl, sb_str(&out->indexes[i].data), out->indexes[i].data.len);
	}
	sb_addch(pl, 'G');
	put_str(pl, sb_str(msgs), msgs->len);
}

/* " 12" -> 12.  Not sscanf: glibc's takes strlen of the whole rest of the
 * payload on every call, quadratic over a whole kernel's 4,000 modules. */
static bool get_int(const char **p, const char *end, int *v)
{
	char *after;
	if (*p >= end || **p != ' ')
		return false;
	long n = strtol(*p + 1, &after, 10);
	if (after == *p + 1 || after > end || n < INT_MIN || n > INT_MAX)
		return false;
	*v = (int)n;
	*p = after;
	return true;
}

static bool load_mod(struct mc *mc, const char **p, const char *end, struct modclosure *out)
{
	char *f[5] = { NULL, NULL, NULL, NULL, NULL };
	int req = -1, soft = 0, group = -1, machine = 0;
	bool ok = get_str(p, end, &f[0], NULL) && get_str(p, end, &f[1], NULL) && get_str(p, end, &f[2], NULL) &&
		  get_str(p, end, &f[3], NULL) && get_str(p, end, &f[4], NULL) && f[0] && f[1] && f[2] && f[4] &&
		  get_int(p, end, &req) && get_int(p, end, &soft) && get_int(p, end, &group) &&
		  get_int(p, end, &machine);
	if (!ok) {
		free(f[0]), free(f[1]), free(f[2]), free(f[3]), free(f[4]);
		return false;
	}
	GROW(out->mods, out->nmods + 1, out->amods);
	struct modclosure_mod *m = &out->mods[out->nmods++];
	*m = (struct modclosure_mod){ .name = f[0], .src = f[1], .dest = f[2], .params = f[3], .why = f[4], .req = req,
				      .soft = soft != 0, .group = group, .machine = machine };
	/* decompressed bytes are not memoised: the source is still there (the
	 * memo checked it) and unpacking it costs less than storing it twice */
	return !(mc->o->decompress && mc_compress_suffix(m->src)) || mc_decompress_module(mc, m->src, &m->data) == 0;
}

static bool load_pair(const char **p, const char *end, char **a, char **b, size_t *blen)
{
	if (get_str(p, end, a, NULL) && get_str(p, end, b, blen) && *a && *b)
		return true;
	free(*a), free(*b);
	return false;
}

/* One record of the payload memo_save wrote; false when it is damaged. */
static bool memo_load_one(struct mc *mc, char tag, const char **p, const char *end, struct modclosure *out)
{
	char *a = NULL, *b = NULL;
	size_t len = 0;
	switch (tag) {
	case 'M':
		return load_mod(mc, p, end, out);
	case 'F':
		if (!load_pair(p, end, &a, &b, NULL))
			return false;
		GROW(out->firmware, out->nfirmware + 1, out->afirmware);
		out->firmware[out->nfirmware].src = a;
		out->firmware[out->nfirmware++].dest = b;
		return true;
	case 'X':
		if (!load_pair(p, end, &a, &b, &len))
			return false;
		GROW(out->indexes, out->nindexes + 1, out->aindexes);
		out->indexes[out->nindexes].dest = a;
		out->indexes[out->nindexes].data = (struct strbuf)STRBUF_INIT;
		sb_add(&out->indexes[out->nindexes++].data, b, len);
		free(b);
		return true;
	case 'G':
		if (!get_str(p, end, &a, &len) || !a)
			return false;
		sb_add(&mc->msgs, a, len);
		free(a);
		return true;
	default:
		return false;
	}
}

/* A damaged memo (or a module that no longer unpacks) is as good as none:
 * what loading it said is dropped, and resolving says it again. */
int mc_memo_load(struct mc *mc, const struct strbuf *pl, struct modclosure *out)
{
	const char *p = pl->buf, *end = pl->buf + pl->len;
	while (p < end)
		if (!memo_load_one(mc, *p++, &p, end, out)) {
			modclosure_free(out);
			sb_reset(&mc->msgs);
			mc_msgs_free(mc->said, mc->nsaid);
			mc->said = NULL, mc->nsaid = mc->asaid = 0, mc->errors = 0;
			return -1;
		}
	return 0;
}

/* The tree's indexes: their identity decides every lookup libkmod makes. */
void mc_note_indexes(struct mc *mc)
{
	static const char *const names[] = { "modules.dep",     "modules.dep.bin",     "modules.alias.bin",
					     "modules.softdep", "modules.builtin.bin", "modules.builtin.alias.bin",
					     "modules.symbols.bin", "modules.builtin", "modules.builtin.modinfo",
					     "modules.order" };
	memo_note(&mc->deps, mc->o->moddir ? mc->o->moddir : "/lib/modules");
	memo_note(&mc->deps, mc->kdir);
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		char *p = path_join(mc->kdir, names[i]);
		memo_note(&mc->deps, p);
		free(p);
	}
}
