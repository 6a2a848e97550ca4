/* qemu.c — the QEMU command line: the binary, the machine, the console,
 * the QMP monitor, the kernel, the image and the kernel command line, then
 * qemu.args and the words after "--"; and that command as shell words for
 * --dry-run and -v.
 *
 * The kernel command line is "panic=-1 [no_timer_check on x86] quiet
 * panic_print=0x20 rdinit=/init", then qemu.append,
 * then console=<the serial port>: panic=-1 turns a panic into a reboot, which
 * -no-reboot turns into QEMU exiting, and console= comes last so /dev/console
 * is the port rdc reads.  panic_print=0x20 makes a panic replay the kernel's
 * log, whose last lines (hidden by quiet) rdc reports and does not echo.
 * -v drops "quiet" and "panic_print". */
#include "run/runner.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "init/initgen.h"
#include "lib/arch.h"
#include "lib/diag.h"
#include "lib/util.h"

/* The QEMU binary `prog` names, found in PATH as execlp would (caller frees). */
char *qemu_path(const char *prog)
{
	if (strchr(prog, '/'))
		return xstrdup(prog);
	const char *p = getenv("PATH");
	for (p = p ? p : "/usr/local/bin:/usr/bin:/bin"; *p; p += strcspn(p, ":") + (p[strcspn(p, ":")] == ':')) {
		size_t n = strcspn(p, ":");
		char *f = n ? xasprintf("%.*s/%s", (int)n, p, prog) : xasprintf("./%s", prog);
		if (access(f, X_OK) == 0)
			return f;
		free(f);
	}
	return NULL;
}

/* Whether QEMU can be run at all: the same search, one copy of it. */
bool qemu_in_path(const char *prog)
{
	char *f = qemu_path(prog);
	bool ok = f && access(f, X_OK) == 0;
	free(f);
	return ok;
}

static void add_append(const struct manifest *m, const struct arch *a, const char *nonce, struct strbuf *sb)
{
	sb_adds(sb, "panic=-1");
	if (a->qemu_append)
		sb_addf(sb, " %s", a->qemu_append);
	if (!diag_verbose) /* panic_print=0x20: a panic replays the kernel's whole log, quiet's hidden lines too */
		sb_adds(sb, " quiet panic_print=0x20");
	sb_adds(sb, " rdinit=/init");
	if (nonce) /* init's environment: the generated /init signs its status with it */
		sb_addf(sb, " RDC_NONCE=%s", nonce);
	if (m->qemu.append && *m->qemu.append) {
		sb_addch(sb, ' ');
		sb_adds(sb, m->qemu.append);
	}
	sb_addf(sb, " console=%s", a->console);
}

/* QEMU's option syntax: a comma inside a value is written twice. */
static char *qemu_value(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	for (; *s; s++)
		sb_adds(&sb, *s == ',' ? ",," : (char[]){ *s, 0 });
	return sb_detach(&sb);
}

/* kernel.share: the index directory and the build tree, read-only over
 * virtio-9p, under the tags the generated /init mounts (initgen.h). */
static void share_args(const struct manifest *m, const char *share, struct strlist *av)
{
	const char *const paths[] = { share, m->kernel.tree };
	const char *const tags[] = { INITGEN_SHARE_INDEX_TAG, INITGEN_SHARE_TREE_TAG };
	for (size_t i = 0; i < 2; i++) {
		char *p = qemu_value(paths[i]);
		sl_push(av, "-virtfs");
		sl_push_owned(av, xasprintf("local,path=%s,mount_tag=%s,security_model=none,readonly=on", p, tags[i]));
		free(p);
	}
}

void qemu_argv(const struct manifest *m, const struct run_opts *o, const struct arch *a,
		      bool kvm, bool interactive, const char *kernel, const char *image, const char *nonce,
		      int qmp_fd, const char *share, struct strlist *av)
{
	sl_push(av, a->qemu);
	if (a->qemu_machine) {
		sl_push(av, "-M");
		sl_push(av, a->qemu_machine);
	}
	sl_push(av, "-accel");
	sl_push(av, kvm ? "kvm" : "tcg");
	if (kvm || a->qemu_cpu_tcg) {
		sl_push(av, "-cpu");
		sl_push(av, kvm ? "host" : a->qemu_cpu_tcg);
	}
	sl_push(av, "-m");
	sl_push(av, m->qemu.memory ? m->qemu.memory : "256M");
	sl_push(av, "-smp");
	sl_push_owned(av, xasprintf("%d", m->qemu.smp > 0 ? m->qemu.smp : 1));
	/* no default NIC, VGA, floppy or CD: faster, and nothing the manifest
	 * did not ask for; the serial port is the console on our stdio */
	static const char *const fixed[] = { "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot" };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		sl_push(av, fixed[i]);
	if (interactive) { /* ^C goes to the guest's shell, not to QEMU; Ctrl-A x (QEMU's mux) ends it */
		sl_push(av, "-chardev");
		sl_push(av, "stdio,id=rdccon,signal=off,mux=on");
		sl_push(av, "-serial");
		sl_push(av, "chardev:rdccon");
	} else {
		sl_push(av, "-serial");
		sl_push(av, "stdio");
	}
	if (qmp_fd >= 0) { /* QEMU's own events: the watchdog, the shutdown's reason */
		sl_push(av, "-chardev");
		sl_push_owned(av, xasprintf("socket,id=rdcqmp,fd=%d", qmp_fd));
		sl_push(av, "-mon");
		sl_push(av, "chardev=rdcqmp,mode=control");
	}
	sl_push(av, "-kernel");
	sl_push(av, kernel);
	sl_push(av, "-initrd");
	sl_push(av, image);
	struct strbuf ap = STRBUF_INIT;
	add_append(m, a, nonce, &ap);
	sl_push(av, "-append");
	sl_push_owned(av, sb_detach(&ap));
	if (share)
		share_args(m, share, av);
	for (size_t i = 0; i < m->qemu.nargs; i++)
		sl_push(av, m->qemu.args[i]);
	for (int i = 0; i < o->nextra; i++)
		sl_push(av, o->extra[i]);
}

/* One shell word: as is when every byte is plainly safe, else in single
 * quotes with ' written as '\''. */
void shell_word(struct strbuf *sb, const char *s)
{
	if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-") ==
			  strlen(s)) {
		sb_adds(sb, s);
		return;
	}
	sb_addch(sb, '\'');
	for (; *s; s++)
		sb_adds(sb, *s == '\'' ? "'\\''" : (char[]){ *s, 0 });
	sb_addch(sb, '\'');
}

char *qemu_command_line(const struct strlist *av)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < av->n; i++) {
		if (i)
			sb_addch(&sb, ' ');
		shell_word(&sb, av->v[i]);
	}
	return sb_detach(&sb);
}
