/* modrelease.c — which kernel: the one choice of a release (host, latest,
 * a release) among those installed, and what a kernel build tree says. */
#include "resolve/modclosure_int.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

/* Releases installed under dir, in version order. */
static void installed(const char *dir, struct strlist *out)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, versionsort);
	for (int i = 0; i < n; i++) {
		char *p = path_join(dir, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && mc_is_dir(p))
			sl_push(out, ents[i]->d_name);
		free(p);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

/* Why `rel` is no release under dir, with the ones that are.  "latest"
 * comes here only when none is installed. */
static void kver_error(const char *dir, const char *rel, bool host, bool manifest, struct modclosure_why *why)
{
	struct strlist have = STRLIST_INIT;
	struct strbuf *hint = &why->hint;
	if (!mc_is_dir(dir)) {
		const char *h = "name the directory that holds <release>/ (kernel.modules:, or --moddir)";
		sb_addf(&why->text, "the module directory %s does not exist", dir);
		if (manifest)
			sb_adds(hint, h);
		else /* on the command line, one line */
			sb_addf(&why->text, "; %s", h);
		return;
	}
	installed(dir, &have);
	bool latest = !strcmp(rel, "latest");
	if (!have.n && latest)
		sb_adds(hint, "install a kernel (e.g. apt-get install linux-image-amd64) or set kernel.modules");
	else if (!have.n)
		sb_addf(hint, "no kernel is installed under %s (e.g. apt-get install linux-image-amd64)", dir);
	else
		sb_addf(hint, "installed under %s:", dir);
	for (size_t i = 0; i < have.n; i++)
		sb_addf(hint, " %s", have.v[i]);
	if (have.n) /* a manifest line, or the command line */
		sb_addf(hint, manifest ? " (say version: %s, or latest)" : " (--kver %s)", have.v[have.n - 1]);
	if (host)
		sb_addf(&why->text, "the running kernel %s has no modules under %s", rel, dir);
	else if (latest)
		sb_addf(&why->text, "no kernel is installed under %s", dir);
	else
		sb_addf(&why->text, "kernel %s is not installed under %s", rel, dir);
	sl_release(&have);
}

void modclosure_why_release(struct modclosure_why *w)
{
	sb_release(&w->text);
	sb_release(&w->hint);
}

/* The one choice of a kernel release (build, run, rdc kmods): host is
 * uname -r, latest the newest installed under moddir in version order (a
 * manifest that boots whatever the machine has when uname -r is not an
 * installed one: containers, CI), anything else a release as named. */
char *modclosure_kver(const char *moddir, const char *version, bool manifest, struct modclosure_why *why)
{
	const char *dir = moddir ? moddir : "/lib/modules";
	bool host = !version || !*version || !strcmp(version, "host");
	struct utsname u;
	char *rel = NULL;
	if (host)
		rel = xstrdup(uname(&u) == 0 ? u.release : "unknown");
	else if (!strcmp(version, "latest")) {
		struct strlist have = STRLIST_INIT;
		installed(dir, &have);
		rel = xstrdup(have.n ? have.v[have.n - 1] : "latest");
		sl_release(&have);
	} else
		rel = xstrdup(version);
	char *p = path_join(dir, rel);
	bool ok = !strchr(rel, '/') && mc_is_dir(p);
	free(p);
	if (!ok) {
		kver_error(dir, rel, host, manifest, why);
		free(rel);
		rel = NULL;
	}
	return rel;
}

char *modclosure_tree_kver(const char *dir, struct modclosure_why *why)
{
	char *path = path_join(dir, "include/config/kernel.release");
	struct strbuf sb = STRBUF_INIT;
	char *rel = NULL;
	if (read_file(path, &sb) == 0) {
		while (sb.len && (sb.buf[sb.len - 1] == '\n' || sb.buf[sb.len - 1] == ' '))
			sb.buf[--sb.len] = '\0';
		if (sb.len && !strchr(sb.buf, '/') && !strchr(sb.buf, '\n'))
			rel = sb_detach(&sb);
	}
	if (!rel) {
		const char *hint = mc_is_dir(dir) ? "name the directory `make O=DIR` built into (or the source tree of an "
						 "in-tree build): it has include/config/kernel.release"
					       : "name the kernel build directory (make O=DIR)";
		sb_adds(&why->hint, hint);
		sb_addf(&why->text, "%s is not a kernel build tree (%s)", dir,
			mc_is_dir(dir) ? "no include/config/kernel.release" : "no such directory");
	}
	sb_release(&sb);
	free(path);
	return rel;
}

void modclosure_tree_names(const char *dir, struct strlist *out)
{
	char *path = path_join(dir, "modules.order");
	struct strbuf sb = STRBUF_INIT;
	if (read_file(path, &sb) == 0) {
		char *save = NULL;
		for (char *l = strtok_r(sb.buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			sl_push_owned(out, mc_modname_of(l));
	}
	sb_release(&sb);
	free(path);
}
