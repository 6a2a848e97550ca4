/* initgen.c — /init generated from the manifest's init: section.
 *
 * The script is BusyBox sh (`#!/bin/busybox sh`) and is a pure function of the
 * manifest and the module closure: no time, no host name, no absolute host
 * path ends up in it, so the image stays deterministic.  In order it:
 *   1. makes the BusyBox applet links at boot (`busybox --install -s`), never
 *      by running the host's busybox at build time, so foreign arches work;
 *   2. mounts init.mounts in a fixed dependency order (devtmpfs before
 *      devpts, sysfs before debugfs ...), whatever order the manifest used;
 *   3. insmods the module closure in load order with each module's params,
 *      treating failures as modprobe would (rdc_insmod below;
 *      with kernel.share: 9p, the 9p transport's closure, then mounts the
 *      shared modules at /lib/modules/<release> and modprobes the kmods);
 *   4. exports init.env and sets the hostname;
 *   5. runs each step as its own `sh -c` child; the first failure (of a
 *      mount, a hard module or a step) stops the rest;
 *   6. prints exactly one "rdc-exit: N" line on the console, N being the
 *      first failure's status or 0, which `rdc run` turns into its own;
 *   7. ends as init.on_exit says (poweroff, the default, reboot, halt, or an
 *      interactive shell followed by poweroff). */
#include "init/initgen.h"
#include <stdlib.h>
#include <string.h>

bool initgen_needs_busybox(const struct manifest *m)
{
	return m->init.present && !m->init.exec;
}

/* Append s as one shell word: single quotes, with each ' written as '\''.
 * Inside single quotes sh interprets nothing, so any byte but NUL is safe. */
static void sq(struct strbuf *out, const char *s)
{
	sb_addch(out, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sb_adds(out, "'\\''");
		else
			sb_addch(out, *s);
	}
	sb_addch(out, '\'');
}

/* The helpers every generated init shares.  rdc_rc holds the first failure;
 * once it is set, nothing else runs. */
static const char prologue[] =
	/* The nonce (from the kernel command line) is kept in a variable the
	 * steps' `sh -c` children do not inherit: a step that prints
	 * "rdc-exit[$RDC_NONCE]: 0" cannot forge the status.  (A hostile step
	 * as root can still read /proc/cmdline: the nonce guards against
	 * accidents, not against the image's own programs.) */
	"rdc_nonce=${RDC_NONCE:-}\n"
	"unset RDC_NONCE\n"
	"export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
	"/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin\n"
	"/bin/busybox --install -s\n"
	"rdc_rc=0\n"
	"rdc_fail() { # status what\n"
	"\trdc_rc=$1\n"
	"\techo \"rdc: $2 failed with status $1\" >&2\n"
	"}\n"
	"rdc_mount() { # type dir options\n"
	"\t[ $rdc_rc -eq 0 ] || return 0\n"
	"\tmkdir -p \"$2\"\n"
	"\tmount -t \"$1\" ${3:+-o \"$3\"} \"$1\" \"$2\" || rdc_fail $? \"mount -t $1 $2\"\n"
	"}\n"
	"rdc_insmod() { # name path params hard|soft|alt:GROUP\n"
	"\t[ $rdc_rc -eq 0 ] || return 0\n"
	"\trdc_msg=$(insmod \"$2\" ${3:+\"$3\"} 2>&1)\n"
	"\tset -- \"$1\" \"$2\" \"$3\" \"$4\" $?\n"
	"\t[ -z \"$rdc_msg\" ] || echo \"$rdc_msg\" >&2\n"
	"\t# already there (requested by the kernel through modprobe): fine\n"
	"\tif [ $5 -eq 0 ] || grep -q \"^$1 \" /proc/modules 2>/dev/null; then\n"
	"\t\tcase $4 in alt:*) eval \"rdc_alt_${4#alt:}=1\" ;; esac\n"
	"\t\treturn 0\n"
	"\tfi\n"
	"\t# BusyBox insmod exits with init_module's errno: 19 ENODEV, 6 ENXIO,\n"
	"\t# the CPU feature or device is absent; other insmods say it\n"
	"\tcase \"$5 $rdc_msg\" in\n"
	"\t19\\ *|6\\ *|*\"No such device\"*)\n"
	"\t\techo \"rdc: $1 not loaded: no such device (status $5; the CPU feature or device it needs is absent)\" >&2\n"
	"\t\treturn 0 ;;\n"
	"\tesac\n"
	"\tcase $4 in\n"
	"\thard) rdc_fail $5 \"insmod $2\" ;;\n"
	"\tsoft) echo \"rdc: warning: insmod $2 failed with status $5 (a softdep: the boot goes on)\" >&2 ;;\n"
	"\t*) echo \"rdc: warning: insmod $2 failed with status $5 (one of several for one alias)\" >&2\n"
	"\t\teval \"rdc_alts_${4#alt:}=$5\" ;;\n"
	"\tesac\n"
	"}\n"
	"rdc_alias() { # group alias: fails when none of the modules it stands for loaded\n"
	"\t[ $rdc_rc -eq 0 ] || return 0\n"
	"\teval \"rdc_ok=\\${rdc_alt_$1:-} rdc_st=\\${rdc_alts_$1:-}\"\n"
	"\t[ -n \"$rdc_ok\" ] || [ -z \"$rdc_st\" ] || rdc_fail $rdc_st \"loading any module for '$2'\"\n"
	"}\n"
	"rdc_step() { # n where command\n"
	"\t[ $rdc_rc -eq 0 ] || return 0\n"
	"\tsh -c -- \"$3\"\n"
	"\tset -- \"$1\" \"$2\" $?\n"
	"\t[ $3 -eq 0 ] || rdc_fail $3 \"step $1 ($2)\"\n"
	"}\n";

static void add_mounts(const struct mf_init *in, struct strbuf *out)
{
	bool dev = false, proc = false;
	for (size_t i = 0; i < manifest_nmounts; i++) {
		const struct mf_mount *mt = &manifest_mounts[i];
		size_t j;
		for (j = 0; j < in->nmounts && strcmp(in->mounts[j], mt->name); j++)
			;
		if (j == in->nmounts)
			continue;
		sb_addf(out, "rdc_mount %s %s%s", mt->type, mt->dir, mt->opts ? " " : "");
		if (mt->opts)
			sb_adds(out, mt->opts);
		sb_addch(out, '\n');
		dev |= !strcmp(mt->name, "devtmpfs");
		proc |= !strcmp(mt->name, "proc");
	}
	/* devtmpfs has no /dev/fd or /dev/std*; shells and udev-less programs
	 * expect them. */
	if (dev && proc)
		sb_adds(out, "ln -sf /proc/self/fd /dev/fd\n"
			     "ln -sf fd/0 /dev/stdin\nln -sf fd/1 /dev/stdout\nln -sf fd/2 /dev/stderr\n");
}

/* Each module says how much it matters (modclosure's soft and group): a
 * failing hard one stops the boot, a softdep only warns, and of the modules
 * an alias request stands for one loading is enough: the check for that
 * follows the last of them. */
static void add_modules(const struct modclosure *mods, const struct manifest *m, struct strbuf *out)
{
	for (size_t i = 0; mods && i < mods->nmods; i++) {
		const struct modclosure_mod *mod = &mods->mods[i];
		sb_adds(out, "rdc_insmod ");
		sq(out, mod->name);
		sb_addch(out, ' ');
		sq(out, mod->dest);
		/* one argument: busybox insmod hands it to the kernel as is,
		 * so foo="a b" keeps its quotes */
		sb_addch(out, ' ');
		sq(out, mod->params ? mod->params : "");
		if (mod->group >= 0)
			sb_addf(out, " alt:%d\n", mod->group);
		else
			sb_addf(out, " %s\n", mod->soft ? "soft" : "hard");
		size_t k = i + 1;
		while (mod->group >= 0 && k < mods->nmods && mods->mods[k].group != mod->group)
			k++;
		if (mod->group >= 0 && k == mods->nmods) { /* the group's last */
			const char *alias = (size_t)mod->group < m->nkmods && m->kmods[mod->group].name
						    ? m->kmods[mod->group].name : mod->name;
			sb_addf(out, "rdc_alias %d ", mod->group);
			sq(out, alias);
			sb_addch(out, '\n');
		}
	}
}

/* kernel.share: 9p.  The shares are read-only: modprobe only reads. */
static void add_share(const struct manifest *m, const char *kver, struct strbuf *out)
{
	static const char *const opts = "trans=virtio,version=9p2000.L,ro";
	char *dir = xasprintf("/lib/modules/%s", kver ? kver : "unknown");
	const char *const tags[] = { INITGEN_SHARE_INDEX_TAG, INITGEN_SHARE_TREE_TAG };
	for (size_t i = 0; i < 2; i++) {
		char *at = i ? xasprintf("%s/kernel", dir) : xstrdup(dir);
		sb_adds(out, "[ $rdc_rc -ne 0 ] || { mkdir -p ");
		sq(out, at);
		sb_addf(out, " && mount -t 9p -o %s %s ", opts, tags[i]);
		sq(out, at);
		char *what = xasprintf("mount -t 9p %s %s", tags[i], at);
		sb_adds(out, " || rdc_fail $? ");
		sq(out, what);
		sb_adds(out, "; }\n");
		free(what);
		free(at);
	}
	free(dir);
	for (size_t i = 0; m->init.load_modules && i < m->nkmods; i++) {
		sb_adds(out, "[ $rdc_rc -ne 0 ] || modprobe ");
		sq(out, m->kmods[i].name);
		if (m->kmods[i].params && *m->kmods[i].params) {
			sb_addch(out, ' ');
			sq(out, m->kmods[i].params);
		}
		char *what = xasprintf("modprobe %s", m->kmods[i].name);
		sb_adds(out, " || rdc_fail $? ");
		sq(out, what);
		sb_addch(out, '\n');
		free(what);
	}
}

static int add_env(const struct mf_init *in, struct strbuf *out)
{
	for (size_t i = 0; i < in->nenv; i++) {
		const char *kv = in->env[i], *eq = strchr(kv, '=');
		size_t n = eq ? (size_t)(eq - kv) : 0;
		if (!n || strspn(kv, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != n ||
		    (kv[0] >= '0' && kv[0] <= '9')) {
			diag_error(&in->loc, "env names are letters, digits and _, not starting with a digit",
				   "'%s' is not NAME=VALUE", kv);
			return -1;
		}
		if (n == 9 && !memcmp(kv, "RDC_NONCE", 9)) { /* the status's signature is rdc run's alone */
			diag_error(&in->loc, "rdc run sets RDC_NONCE for each boot", "init.env may not set RDC_NONCE");
			return -1;
		}
		sb_addf(out, "export %.*s=", (int)n, kv);
		sq(out, eq + 1);
		sb_addch(out, '\n');
	}
	return 0;
}

/* s with control characters as '?': for comments and messages */
static void add_printable(struct strbuf *out, const char *s)
{
	for (; *s; s++)
		sb_addch(out, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static void add_steps(const struct mf_init *in, struct strbuf *out)
{
	for (size_t i = 0; i < in->nsteps; i++) {
		const struct mf_step *st = &in->steps[i];
		/* where the step came from, for the failure message: the file's
		 * base name only, so the image does not depend on the cwd */
		char *where = st->loc.file && st->loc.line > 0
				      ? xasprintf("%s:%d", path_basename(st->loc.file), st->loc.line)
				      : xasprintf("init.steps[%zu]", i);
		sb_addf(out, "rdc_step %zu ", i + 1);
		struct strbuf w = STRBUF_INIT; /* printed in messages: one line */
		add_printable(&w, where);
		sq(out, w.buf);
		sb_release(&w);
		sb_addch(out, ' ');
		sq(out, st->run);
		sb_addch(out, '\n');
		free(where);
	}
}

static void add_exit(const struct mf_init *in, struct strbuf *out)
{
	const char *how = in->on_exit ? in->on_exit : "poweroff";
	/* The tag goes to the console itself (the serial port `rdc run` reads,
	 * since its console= comes last on the command line), on a line of its
	 * own.  Writing it is the init's last word before power goes: the short
	 * sleep lets the UART drain, which poweroff -f does not wait for. */
	/* RDC_NONCE comes from the kernel command line (rdc run puts it there,
	 * the kernel hands unknown NAME=value words to init as environment):
	 * the tag then carries it, and no step's output can pass for it. */
	sb_adds(out, "rdc_tag=\"rdc-exit${rdc_nonce:+[$rdc_nonce]}: $rdc_rc\"\n");
	sb_adds(out, "echo \"$rdc_tag\" >/dev/console 2>/dev/null || echo \"$rdc_tag\"\n");
	if (!strcmp(how, "shell")) {
		/* setsid + cttyhack give the shell the console as its controlling
		 * tty, so ^C and job control work */
		sb_adds(out, "setsid cttyhack sh\n");
	} else {
		sb_adds(out, "sleep 0.1 2>/dev/null || sleep 1\n");
	}
	if (!strcmp(how, "reboot"))
		sb_adds(out, "reboot -f\n");
	else if (!strcmp(how, "halt"))
		sb_adds(out, "halt -f\n");
	else
		sb_adds(out, "poweroff -f\n");
	/* PID 1 must not exit (that panics): wait for the power to go */
	sb_adds(out, "while :; do sleep 1; done\n");
}

int initgen_script(const struct manifest *m, const struct modclosure *mods, const char *kver, struct strbuf *out)
{
	const struct mf_init *in = &m->init;
	if (!initgen_needs_busybox(m)) {
		diag_error(&in->loc, NULL, "no /init to generate: %s",
			   in->exec ? "init.exec names the program that runs as PID 1" : "the manifest has no init:");
		return -1;
	}
	sb_adds(out, "#!/bin/busybox sh\n# /init generated by rdc");
	if (m->path) { /* in a comment: a newline in the name would start a command */
		sb_adds(out, " from ");
		add_printable(out, path_basename(m->path));
	}
	sb_adds(out, "; it prints \"rdc-exit[NONCE]: N\" on the console when the steps end.\n");
	sb_adds(out, prologue);
	add_mounts(in, out);
	if (in->load_modules || m->kernel.share) /* the share needs its transport */
		add_modules(mods, m, out);
	if (m->kernel.share)
		add_share(m, kver, out);
	if (add_env(in, out) < 0)
		return -1;
	if (in->hostname) {
		sb_adds(out, "hostname ");
		sq(out, in->hostname);
		sb_adds(out, " || echo \"rdc: cannot set the hostname\" >&2\n");
	}
	add_steps(in, out);
	add_exit(in, out);
	return 0;
}
