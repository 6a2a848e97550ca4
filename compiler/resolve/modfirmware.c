/* modfirmware.c — the firmware the closure's modules name: copied when
 * present (as is or compressed), one warning for all that is missing. */
#include "resolve/modclosure_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *mc_fw_dir(const struct mc *mc)
{
	return mc->o->firmware ? mc->o->firmware : "/lib/firmware";
}

static bool have_firmware(const struct modclosure *out, const char *dest)
{
	for (size_t i = 0; i < out->nfirmware; i++)
		if (!strcmp(out->firmware[i].dest, dest))
			return true;
	return false;
}

/* The nearest directory of dir's that exists (dir itself, when it does).
 * The last answer is kept: the three names of one firmware file, and most
 * files of one module, share their directory (a whole kernel asked 6,091
 * times about /lib/firmware, once per name per missing file). */
static const char *nearest_dir(struct mc *mc, const char *dir)
{
	if (mc->last_absent && !strcmp(mc->last_asked, dir))
		return mc->last_absent;
	char *near = xstrdup(dir);
	struct stat st;
	while (strcmp(near, "/") && strcmp(near, ".") && stat(near, &st) < 0) {
		char *up = path_dirname(near);
		free(near);
		near = up;
	}
	free(mc->last_asked);
	free(mc->last_absent);
	mc->last_asked = xstrdup(dir);
	mc->last_absent = near;
	return near;
}

/* A file that is not there is noted by the nearest directory that is: a
 * file created under it changes that directory's mtime (or, deeper, creates
 * a subdirectory that does).  A whole kernel misses thousands of firmware
 * files in a few dozen directories, and each note costs a stat on every
 * build. */
static void note_absent(struct mc *mc, const char *near)
{
	if (!sl_has(&mc->absent_dirs, near)) {
		memo_note(&mc->deps, near);
		sl_push(&mc->absent_dirs, near);
	}
}

/* A firmware file as is or compressed (the kernel's loader takes .xz/.zst). */
static bool find_firmware(struct mc *mc, const char *fw, struct modclosure *out)
{
	static const char *const sufs[] = { "", ".xz", ".zst" };
	for (size_t i = 0; i < 3; i++) {
		char *src = xasprintf("%s/%s%s", mc_fw_dir(mc), fw, sufs[i]), *dir = path_dirname(src);
		char *dest = xasprintf("/lib/firmware/%s%s", fw, sufs[i]), *norm = path_normalize(dest);
		const char *near = nearest_dir(mc, dir);
		struct stat st;
		/* in a directory that is not there, no file is */
		bool ok = norm && !strncmp(norm, "/lib/firmware/", 14) && !strcmp(near, dir) && stat(src, &st) == 0 &&
			  S_ISREG(st.st_mode);
		if (ok)
			memo_note(&mc->deps, src);
		else
			note_absent(mc, near);
		if (ok && !have_firmware(out, norm)) {
			GROW(out->firmware, out->nfirmware + 1, out->afirmware);
			out->firmware[out->nfirmware].src = src;
			out->firmware[out->nfirmware++].dest = norm;
			src = norm = NULL;
		}
		free(src);
		free(dir);
		free(dest);
		free(norm);
		if (ok)
			return true;
	}
	return false;
}

/* Copies the firmware `m` names that is present; the names of the missing
 * files go to *missing ("a, b, c, d"), their count is returned. */
static size_t add_firmware(struct mc *mc, const struct mnode *m, struct modclosure *out, struct strbuf *missing)
{
	size_t nmissing = 0;
	for (size_t i = 0; i < m->firmware.n; i++)
		if (!find_firmware(mc, m->firmware.v[i], out))
			sb_addf(missing, "%s%s", nmissing++ ? ", " : "", m->firmware.v[i]);
	return nmissing;
}

/* "a, b, c and 2 more" of a list of k names. */
static char *first_names(const char *list, size_t k, size_t few)
{
	const char *end = list;
	for (size_t i = 0; i < few && i < k; i++)
		end += strcspn(end, ",") + (i + 1 < few && i + 1 < k);
	return k > few ? xasprintf("%.*s and %zu more", (int)(end - list), list, k - few) : xstrdup(list);
}

/* Missing firmware is common (a whole-kernel image lacks hundreds of files)
 * and the same words for every module: one warning with the counts and the
 * first few names; every module's whole list is a note that -v shows. */
void mc_add_all_firmware(struct mc *mc, struct modclosure *out)
{
	static const char hint[] = "the module loads, but the device may not work without it";
	struct strbuf notes = STRBUF_INIT, first = STRBUF_INIT, one = STRBUF_INIT;
	char *single = NULL;
	size_t nmods = 0, nfiles = 0;
	int req = -1;
	for (size_t o = 0; o < mc->norder; o++) {
		const struct mnode *m = &mc->nodes[mc->order[o]];
		sb_reset(&one);
		size_t k = add_firmware(mc, m, out, &one);
		if (!k)
			continue;
		char *few = first_names(one.buf, k, 3);
		free(single);
		single = xasprintf("module '%s' wants firmware that is not under %s: %s", m->name, mc_fw_dir(mc), few);
		free(few);
		sb_addf(&notes, "I %d\tmodule '%s' wants firmware that is not under %s: %s\t\n", m->req, m->name,
			mc_fw_dir(mc), one.buf);
		if (nmods < 3) { /* "ccp (amd/sev.sbin ...)": the first few modules, each with its first file */
			few = first_names(one.buf, k, 1);
			sb_addf(&first, "%s%s (%.*s%s)", nmods ? ", " : "", m->name, (int)strcspn(few, " "), few,
				k > 1 ? " ..." : "");
			free(few);
		}
		req = nmods++ == 0 || req == m->req ? m->req : -1; /* a place only when all came from one line */
		nfiles += k;
	}
	if (nmods == 1) {
		mc_msg_add(mc, 'W', req, hint, single);
	} else if (nmods > 1) {
		char *t = xasprintf("%zu modules want %zu firmware files that are not under %s: %s%s (-v lists them all)",
				    nmods, nfiles, mc_fw_dir(mc), first.buf, nmods > 3 ? ", ..." : "");
		mc_msg_add(mc, 'W', req, NULL, t);
		free(t);
	}
	if (nmods > 1 || nfiles > 3)
		sb_add(&mc->msgs, notes.buf, notes.len);
	free(single);
	sb_release(&notes);
	sb_release(&first);
	sb_release(&one);
}
