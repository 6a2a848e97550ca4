/* runner.c — `rdc run`: build the image, boot it in QEMU, exit with the
 * guest's status.
 *
 * usage: rdc run MANIFEST [-o OUT] [--kernel PATH] [--timeout S] [--dry-run] [-v]
 *                         [-- QEMU ARGS]
 *
 * The image is built (incrementally) as `rdc build` would, then booted with
 * qemu-system-<arch>: the kernel is --kernel, else qemu.kernel, else
 * <sysroot>/boot/vmlinuz-<kernel.version>; KVM when a probe shows it works
 * (/dev/kvm can exist and fail), else TCG; the serial console on stdio; no
 * reboot.  The console streams to stdout as it arrives and is scanned for the
 * "rdc-exit[NONCE]: N" line the generated /init prints (initgen.h), for the
 * kernel's panic line (PID 1 exiting is one: "Attempted to kill init!
 * exitcode=0x..." gives its status), and for expect:'s regexes; QEMU's QMP
 * monitor on a socketpair (qmp.c) says when the watchdog fired and why QEMU
 * shut down.
 *
 * Exit status: the guest's N, or how it ended otherwise (runner.h: 122
 * watchdog, 123 panic, 124 no status, 125 timeout, 130 Ctrl-A x); with
 * expect: 0 when it ended as expected, else that code (121 where it is 0);
 * 1 for a failed build or a QEMU that could not start; 2 for usage errors.
 * The timeout is --timeout, else qemu.timeout, else 300 s (1800 s for
 * on_exit: shell); 0 means none.
 *
 * The kernel command line is "panic=-1 [no_timer_check on x86] quiet
 * panic_print=0x20 rdinit=/init", then qemu.append,
 * then console=<the serial port>: panic=-1 turns a panic into a reboot, which
 * -no-reboot turns into QEMU exiting, and console= comes last so /dev/console
 * is the port rdc reads.  panic_print=0x20 makes a panic replay the kernel's
 * log, whose last lines (hidden by quiet) rdc reports and does not echo.
 * -v drops "quiet" and "panic_print". */
#include "run/runner.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/kvm.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "build/build.h"
#include "lib/arch.h"
#include "cache/cas.h"
#include "emit/emit.h"
#include "image/image.h"
#include "lib/diag.h"
#include "init/initgen.h"
#include "manifest/manifest.h"
#include "lib/util.h"

#define RUN_DEFAULT_TIMEOUT 300 /* seconds */
#define RUN_SHELL_TIMEOUT 1800  /* on_exit: shell: a forgotten console still ends */
#define RUN_GRACE_MS 5000       /* after the tag: time QEMU gets to power off */
#define RUN_TERM_MS 2000        /* after SIGTERM: time QEMU gets before SIGKILL */

/* ---- choosing QEMU, the kernel and the accelerator ----------------------- */


/* The cheap half of the KVM probe: the device opens, speaks the API and
 * makes a VM. */
static bool kvm_ioctls_work(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
	if (ok) {
		int vm = ioctl(fd, KVM_CREATE_VM, 0);
		ok = vm >= 0;
		if (vm >= 0)
			close(vm);
	}
	close(fd);
	return ok;
}

static int wait_bounded(pid_t pid, int ms)
{
	int st;
	for (long long end = monotonic_ms() + ms; monotonic_ms() < end; usleep(10000))
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* The faithful half, for x86: QEMU itself with -accel kvm -cpu host runs a
 * 64 KiB firmware (tools/kvm-probe.S) that goes from real mode through
 * protected mode into long mode with paging, as a kernel does, then writes 1
 * to an isa-debug-exit port, so a working KVM makes QEMU exit with
 * (1 << 1) | 1 = 3 in a few ms.  On some hosts /dev/kvm runs real mode yet
 * the vCPU hangs entering long mode (our CI machines), or QEMU aborts setting
 * MSRs: both give anything but 3. */
static const unsigned char kvm_probe_code[] = {
		0xfa, 0x2e, 0x66, 0x0f, 0x01, 0x16, 0xb8, 0x00, 0x0f, 0x20, 0xc0, 0x66,
		0x83, 0xc8, 0x01, 0x0f, 0x22, 0xc0, 0x66, 0xea, 0x1a, 0x00, 0x0f, 0x00,
		0x08, 0x00, 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0,
		0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00, 0x00, 0xc7, 0x05,
		0x04, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x20,
		0x00, 0x00, 0x03, 0x30, 0x00, 0x00, 0xc7, 0x05, 0x04, 0x20, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x83, 0x00,
		0x00, 0x00, 0xc7, 0x05, 0x04, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, 0xb8, 0x00, 0x10,
		0x00, 0x00, 0x0f, 0x22, 0xd8, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32,
		0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f, 0x20, 0xc0, 0x0d, 0x00,
		0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xea, 0x91, 0x00, 0x0f, 0x00, 0x18,
		0x00, 0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00,
		0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, 0xff, 0xff, 0x00, 0x00,
		0x00, 0x9a, 0xaf, 0x00, 0x1f, 0x00, 0x98, 0x00, 0x0f,
};
static const unsigned char kvm_probe_reset[] = { 0xea, 0x00, 0x00, 0x00, 0xf0 }; /* ljmp $0xf000, $0 */

static bool kvm_qemu_works(const struct arch *a)
{
	const char *tmpdir = getenv("TMPDIR");
	char *bios = xasprintf("%s/rdc-kvm-probe.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	int fd = mkstemp(bios);
	bool ok = false;
	if (fd >= 0) {
		static unsigned char img[65536];
		memcpy(img, kvm_probe_code, sizeof(kvm_probe_code));
		memcpy(img + 0xfff0, kvm_probe_reset, sizeof(kvm_probe_reset));
		ok = write_all(fd, img, sizeof(img)) == 0;
		close(fd);
	}
	pid_t pid = ok ? fork() : -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed rdc never leaves a hung probe behind */
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		if (!diag_verbose)
			dup2(null, 2);
		execlp(a->qemu, a->qemu, "-accel", "kvm", "-cpu", "host", "-M", "pc", "-nodefaults", "-no-user-config",
		       "-display", "none", "-serial", "none", "-monitor", "none", "-m", "16M", "-bios", bios, "-device",
		       "isa-debug-exit,iobase=0xf4,iosize=4", (char *)NULL);
		_exit(127);
	}
	int st = pid > 0 ? wait_bounded(pid, 1500) : -1;
	ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 3;
	if (fd >= 0)
		unlink(bios);
	free(bios);
	return ok;
}

/* The QEMU binary `prog` names, found in PATH as execlp would (caller frees). */
static char *qemu_path(const char *prog)
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

/* /dev/kvm can exist and still fail (nested virtualisation off, no
 * permission, a container, a host CPU QEMU cannot model): only a guest that
 * actually ran counts.  The probe takes up to 1.5 s where KVM hangs, so its
 * answer is remembered in the cache (memo "kvm"), keyed by what decides it:
 * the host kernel release, the user, the architecture, and the identities of
 * /dev/kvm (node, mode, owner) and of the QEMU binary; a change to any of
 * them probes again.  `probe` false (--dry-run): a remembered answer, else
 * TCG — a printed command never starts a QEMU. */
static bool kvm_works(const struct arch *a, bool probe)
{
	struct utsname u;
	char *qemu = qemu_path(a->qemu);
	if (!qemu || uname(&u) < 0) {
		free(qemu);
		return false;
	}
	char *key = xasprintf("%s %s %u %s", a->name, u.release, (unsigned)geteuid(), qemu);
	struct strbuf deps = STRBUF_INIT, said = STRBUF_INIT;
	memo_note(&deps, "/dev/kvm");
	memo_note(&deps, qemu);
	struct cas *c = probe ? cas_open(NULL) : cas_open_existing(NULL);
	bool known = c && cas_memo_get(c, "kvm", key, &said) == 1 && said.len == 1, ok = known && said.buf[0] == '1';
	if (!known && probe) {
		ok = kvm_ioctls_work();
		if (ok && (!strcmp(a->name, "x86_64") || !strcmp(a->name, "i386")))
			ok = kvm_qemu_works(a);
		sb_reset(&said);
		sb_addch(&said, ok ? '1' : '0');
		if (c)
			cas_memo_put(c, "kvm", key, &deps, &said);
	}
	if (known || probe)
		diag_info("KVM %s%s", ok ? "works: using it" : "does not work here: using TCG",
			  known ? " (remembered; a new kernel, QEMU or /dev/kvm probes again)" : "");
	else
		diag_info("KVM not probed for --dry-run: the command shows TCG");
	cas_close(c);
	sb_release(&deps);
	sb_release(&said);
	free(key);
	free(qemu);
	return ok;
}

static char *absolute(const char *p)
{
	if (p[0] == '/' || !strcmp(p, "-"))
		return xstrdup(p);
	char *cwd = getcwd(NULL, 0);
	char *r = cwd ? path_join(cwd, p) : xstrdup(p);
	free(cwd);
	return r;
}

static char *in_sysroot(const struct manifest *m, const char *p)
{
	return m->sysroot && strcmp(m->sysroot, "/") ? path_join(m->sysroot, p) : xstrdup(p);
}

/* The newest <sysroot>/boot/vmlinuz-*, for a manifest that names no kernel. */
static char *newest_vmlinuz(const struct manifest *m)
{
	char *boot = in_sysroot(m, "/boot");
	struct dirent **names;
	int n = scandir(boot, &names, NULL, versionsort);
	char *found = NULL;
	for (int i = n - 1; i >= 0; i--) {
		if (!found && !strncmp(names[i]->d_name, "vmlinuz-", 8))
			found = path_join(boot, names[i]->d_name);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	free(boot);
	return found;
}

static const struct loc *kernel_loc(const struct manifest *m)
{
	return m->kernel.loc.line ? &m->kernel.loc : m->qemu.loc.line ? &m->qemu.loc : NULL;
}

/* The architecture a kernel image is plainly built for, from its boot
 * header (image/'s table), or NULL when the image does not say (gzip'd,
 * ELF, unknown); *elf: whether it is an ELF file (a vmlinux). */
static const char *kernel_image_arch(const char *path, bool *elf)
{
	unsigned char h[IMAGE_HEAD_MAX];
	const char *arch = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, h, sizeof(h)) : -1;
	if (fd >= 0)
		close(fd);
	*elf = n > 0 && image_file_kind(h, (size_t)n, &arch) && !arch;
	return arch;
}

static bool kernel_fits(const char *karch, const char *arch)
{
	if (!strcmp(karch, "x86"))
		return !strcmp(arch, "x86_64") || !strcmp(arch, "i386");
	return !strcmp(karch, arch);
}

static char *pick_kernel(const struct manifest *m, const struct run_opts *o, const struct arch *a,
			 bool foreign)
{
	const char *arch = a->name;
	char *path;
	const struct loc *loc = NULL;
	if (o->kernel) {
		path = absolute(o->kernel);
	} else if (m->qemu.kernel) {
		path = xstrdup(m->qemu.kernel);
		loc = &m->qemu.loc;
	} else if (m->kernel.tree) { /* the image the tree's build left, for the manifest's arch */
		path = path_join(m->kernel.tree, a->kernel_image);
		loc = &m->kernel.tree_loc;
	} else {
		bool err;
		char *kver = build_kernel_release(m, &err);
		if (err)
			return NULL;
		loc = kernel_loc(m);
		if (kver) {
			char *rel = xasprintf("/boot/vmlinuz-%s", kver);
			path = in_sysroot(m, rel);
			free(rel);
			free(kver);
		} else if (!(path = newest_vmlinuz(m))) {
			diag_error(loc, "set kernel.version (e.g. ${KVER} or latest) or qemu.kernel, or pass --kernel PATH",
				   "no kernel to boot: the manifest names none and %s has no vmlinuz-*",
				   m->sysroot && strcmp(m->sysroot, "/") ? "the sysroot's /boot" : "/boot");
			return NULL;
		}
	}
	if (access(path, F_OK) < 0) {
		bool tree = m->kernel.tree && !o->kernel && !m->qemu.kernel;
		char *hint = tree ? xasprintf("build it (make %s in the tree), or give qemu.kernel or --kernel PATH",
					      path_basename(a->kernel_image))
			     : foreign ? xasprintf("this host has no %s kernel there: give qemu.kernel or --kernel PATH "
						 "(e.g. a Debian linux-image package unpacked into the sysroot)",
						 arch)
				     : o->kernel || m->qemu.kernel ? xstrdup("check the path (a kernel build leaves arch/x86/boot/bzImage)")
				     : xstrdup("install the kernel package for this release, or give qemu.kernel "
					       "or --kernel PATH (e.g. arch/x86/boot/bzImage)");
		diag_error(loc, hint, "no kernel image %s", path);
		free(hint);
		free(path);
		return NULL;
	}
	if (access(path, R_OK) < 0) {
		char *hint = xasprintf("some distributions make vmlinuz readable only by root: "
				       "sudo chmod 0644 %s, or copy it and pass --kernel", path);
		diag_error(loc, hint, "cannot read the kernel image %s: %s", path, strerror(errno));
		free(hint);
		free(path);
		return NULL;
	}
	struct stat st;
	bool elf;
	const char *karch = kernel_image_arch(path, &elf);
	bool x86 = !strcmp(arch, "x86_64") || !strcmp(arch, "i386");
	if (stat(path, &st) == 0 && (!S_ISREG(st.st_mode) || (x86 && !karch && !elf))) {
		/* QEMU's own words for these ("linux kernel too old to load a ram disk") mislead */
		diag_error(loc, "a kernel build leaves arch/x86/boot/bzImage; distributions install /boot/vmlinuz-*",
			   S_ISREG(st.st_mode) ? "%s is not a kernel image (no bzImage header)" : "%s is not a file", path);
		free(path);
		return NULL;
	}
	if (karch && !kernel_fits(karch, arch)) {
		diag_error(loc, "give a kernel built for the manifest's arch (qemu.kernel or --kernel), or set arch:",
			   "%s is an %s kernel, but the image is for %s", path, karch, arch);
		free(path);
		return NULL;
	}
	return path;
}

/* QEMU can boot a cpio, compressed or not; not a list, C source or tree. */
static bool bootable_output(const struct manifest *m, const char *path, const struct run_opts *o)
{
	enum emit_format f;
	if (emit_suffix_names(path, &f) && f != EF_CPIO)
		return false;
	if (!o->output && m->output.format && strcmp(m->output.format, "cpio"))
		return false;
	return true;
}

static bool in_path(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	const char *p = getenv("PATH");
	if (!p)
		p = "/usr/local/bin:/usr/bin:/bin";
	while (*p) {
		size_t n = strcspn(p, ":");
		char *f = n ? xasprintf("%.*s/%s", (int)n, p, prog) : xasprintf("./%s", prog); /* "" is the cwd */
		bool ok = access(f, X_OK) == 0;
		free(f);
		if (ok)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* ---- the command line ------------------------------------------------------ */

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

static void qemu_argv(const struct manifest *m, const struct run_opts *o, const struct arch *a,
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
static void shell_word(struct strbuf *sb, const char *s)
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

static char *command_line(const struct strlist *av)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < av->n; i++) {
		if (i)
			sb_addch(&sb, ' ');
		shell_word(&sb, av->v[i]);
	}
	return sb_detach(&sb);
}

/* ---- running QEMU and reading the console -------------------------------- */

static volatile sig_atomic_t run_signal;
static volatile pid_t run_child;

static void on_signal(int sig)
{
	run_signal = sig;
	if (run_child > 0)
		kill(run_child, SIGTERM);
}

#define TAIL_LINES 16    /* console lines kept for the report */
#define PANIC_CONTEXT 12 /* of which shown with a panic: what led to it */
#define PANIC_LINE "Kernel panic - not syncing: "
#define INIT_EXIT "Attempted to kill init! exitcode=0x"
#define MUX_QUIT "QEMU: Terminated" /* what QEMU's console mux prints on Ctrl-A x */

/* The console, a line at a time: the status tags, the kernel's panic line
 * (printed even under `quiet`: panic() raises the console loglevel), the
 * expect: regexes, and the last lines for the report. */
struct scan {
	struct strbuf line;
	const char *tag;     /* "rdc-exit[NONCE]: ", which only the generated /init knows */
	bool plain_too;      /* also "rdc-exit: " (init.exec programs print that) */
	bool interactive;    /* on_exit: shell: a status does not end the boot */
	int status;          /* from the signed tag, -1 until seen; the last one wins */
	int plain;           /* from a plain tag, -1 */
	int init_exit;       /* from the kernel's "Attempted to kill init! exitcode=", -1 */
	char *panic;         /* the reason of the first other panic */
	struct strbuf before; /* the kernel's lines up to and with that panic line */
	double panic_ts;     /* its printk timestamp, or -1 */
	bool after_panic;    /* from the panic line on, the console is echoed a line at a time */
	bool replaying;      /* the kernel's replay of its log (panic_print): scanned for the context, not echoed */
	int out_fd;          /* where the console goes */
	bool escape;         /* QEMU's console mux said it ended the guest (Ctrl-A x) */
	uint64_t bytes;      /* console output seen */
	char *tail[TAIL_LINES];
	size_t lines;
	regex_t *want, *deny; /* expect.console, expect.not_console */
	bool *seen;
	char **denied;       /* the first line each deny regex matched */
	size_t nwant, ndeny;
};

/* Does the line end in `tag` N?  Junk before the tag is allowed: a kernel
 * message can share the console line. */
static int tag_status(const char *l, size_t n, const char *tag)
{
	size_t d = n;
	while (d && l[d - 1] >= '0' && l[d - 1] <= '9')
		d--;
	size_t t = strlen(tag);
	if (d == n || n - d > 3 || d < t || memcmp(l + d - t, tag, t))
		return -1;
	int v = atoi(l + d);
	return v <= 255 ? v : -1;
}

/* A printk line's "[    4.927249]" timestamp, or -1. */
static double line_ts(const char *l)
{
	if (*l != '[')
		return -1;
	char *end;
	double t = strtod(l + 1, &end);
	return end != l + 1 && *end == ']' ? t : -1;
}

/* The lines before the panic line (which is the newest in the ring) and
 * it; the nonce the kernel lists in init's environment stays out. */
static void take_context(struct scan *s)
{
	size_t n = s->lines < PANIC_CONTEXT ? s->lines : PANIC_CONTEXT;
	sb_reset(&s->before);
	for (size_t i = s->lines - n; i < s->lines; i++)
		if (!strstr(s->tail[i % TAIL_LINES], "RDC_NONCE="))
			sb_addf(&s->before, "    %s\n", s->tail[i % TAIL_LINES]);
}

/* After a panic, panic_print=0x20 makes the kernel print its whole log
 * again: its lines are older than the panic (or start at its banner). */
static bool replay_begins(const struct scan *s, const char *l)
{
	double t = line_ts(l);
	return (t >= 0 && s->panic_ts >= 0 && t < s->panic_ts) || strstr(l, "Linux version ");
}

/* PID 1's exit as the kernel reports it: the wait status (exit code << 8,
 * or the signal) becomes a shell-style status, N or 128+signal. */
static void scan_panic(struct scan *s, const char *l)
{
	const char *p = strstr(l, PANIC_LINE);
	if (!p || s->panic || s->init_exit >= 0)
		return;
	p += strlen(PANIC_LINE);
	s->after_panic = true;
	s->panic_ts = line_ts(l);
	if (!strncmp(p, INIT_EXIT, strlen(INIT_EXIT))) {
		unsigned long ec = strtoul(p + strlen(INIT_EXIT), NULL, 16);
		s->init_exit = ec & 0x7f ? 128 + (int)(ec & 0x7f) : (int)((ec >> 8) & 0xff);
		return;
	}
	s->panic = xstrdup(p);
	take_context(s);
}

static void scan_expect(struct scan *s, const char *l)
{
	for (size_t i = 0; i < s->nwant; i++)
		if (!s->seen[i] && !regexec(&s->want[i], l, 0, NULL, 0))
			s->seen[i] = true;
	for (size_t i = 0; i < s->ndeny; i++)
		if (!s->denied[i] && !regexec(&s->deny[i], l, 0, NULL, 0))
			s->denied[i] = xstrdup(l);
}

static void scan_line(struct scan *s)
{
	char *l = s->line.buf;
	size_t n = s->line.len;
	while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
		n--;
	l[n] = '\0';
	if (s->after_panic && !s->replaying && replay_begins(s, l))
		s->replaying = true;
	free(s->tail[s->lines % TAIL_LINES]);
	s->tail[s->lines++ % TAIL_LINES] = xstrdup(l);
	if (s->replaying) { /* its panic line: the context, quiet's lines included */
		if (s->panic && strstr(l, PANIC_LINE))
			take_context(s);
		return;
	}
	int v = tag_status(l, n, s->tag);
	if (v >= 0)
		s->status = v;
	else if (s->plain_too && (v = tag_status(l, n, INITGEN_EXIT_TAG)) >= 0)
		s->plain = v;
	scan_panic(s, l);
	if (s->interactive && n >= strlen(MUX_QUIT) && !strcmp(l + n - strlen(MUX_QUIT), MUX_QUIT))
		s->escape = true;
	scan_expect(s, l);
}

/* A whole line from the panic on, unless it is the kernel's replay. */
static void echo_line(struct scan *s)
{
	if (!s->replaying) {
		write_all(s->out_fd, s->line.buf, strlen(s->line.buf)); /* a closed stdout does not stop the run */
		write_all(s->out_fd, "\n", 1);
	}
}

/* Scans the console and echoes it: as it comes (a prompt without its
 * newline shows at once), and from the panic line on a line at a time. */
static void scan_bytes(struct scan *s, const char *p, size_t n)
{
	s->bytes += n;
	size_t raw = 0; /* p[raw..] is still to be echoed as it came */
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			bool live = !s->after_panic;
			if (s->line.len)
				scan_line(s);
			if (live && s->after_panic) /* that was the panic line */
				write_all(s->out_fd, p + raw, i + 1 - raw);
			else if (!live && s->line.len)
				echo_line(s);
			if (s->after_panic)
				raw = i + 1;
			sb_reset(&s->line);
			continue;
		}
		/* a line that never ends: keep its tail, where a tag would be */
		if (s->line.len >= 4096) {
			memmove(s->line.buf, s->line.buf + s->line.len - 64, 64);
			s->line.len = 64;
		}
		sb_addch(&s->line, p[i]);
	}
	if (!s->after_panic && raw < n)
		write_all(s->out_fd, p + raw, n - raw);
}

static regex_t *compile_all(char **res, size_t n)
{
	regex_t *v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		if (regcomp(&v[i], res[i], REG_EXTENDED | REG_NOSUB)) /* checked when the manifest was read */
			regcomp(&v[i], "$^", REG_EXTENDED | REG_NOSUB);
	return v;
}

static void scan_init(struct scan *s, const struct manifest *m, const char *tag, bool interactive)
{
	memset(s, 0, sizeof(*s));
	s->tag = tag;
	s->plain_too = m->init.exec != NULL || !m->init.present;
	s->interactive = interactive;
	s->status = s->plain = s->init_exit = -1;
	s->panic_ts = -1;
	s->out_fd = STDOUT_FILENO;
	s->nwant = m->expect.nconsole;
	s->ndeny = m->expect.nnot_console;
	s->want = compile_all(m->expect.console, s->nwant);
	s->deny = compile_all(m->expect.not_console, s->ndeny);
	s->seen = xcalloc(s->nwant + 1, sizeof(*s->seen));
	s->denied = xcalloc(s->ndeny + 1, sizeof(*s->denied));
}

static void scan_release(struct scan *s)
{
	for (size_t i = 0; i < s->nwant; i++)
		regfree(&s->want[i]);
	for (size_t i = 0; i < s->ndeny; i++) {
		regfree(&s->deny[i]);
		free(s->denied[i]);
	}
	for (size_t i = 0; i < TAIL_LINES; i++)
		free(s->tail[i]);
	free(s->want);
	free(s->deny);
	free(s->seen);
	free(s->denied);
	free(s->panic);
	sb_release(&s->before);
	sb_release(&s->line);
}

/* Something the guest did ends the boot: what follows is only QEMU exiting. */
static bool guest_ended(const struct scan *s, const struct qmp *q)
{
	return (!s->interactive && (s->status >= 0 || s->plain >= 0)) || s->init_exit >= 0 || s->panic || q->watchdog;
}

/* Ask QEMU to stop (it restores the terminal on SIGTERM), then insist. */
static int stop_child(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	for (long long end = monotonic_ms() + RUN_TERM_MS; monotonic_ms() < end;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

struct outcome {
	bool exited;     /* QEMU exited by itself */
	bool timed_out;  /* the deadline passed with the guest still going */
	bool killed;     /* stopped by rdc after the guest ended (QEMU did not exit) */
	bool changed;    /* --watch: stopped because an input changed */
	int wstatus;     /* QEMU's wait status */
	long long ms;
};

/* One console read: to the user (or the log), then to the scanner. */
static bool pump_console(int fd, int out_fd, struct scan *s)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	s->out_fd = out_fd;
	scan_bytes(s, buf, (size_t)n);
	return true;
}

static void pump(int fd, struct qmp *q, struct watch *w, pid_t pid, int timeout_s, int out_fd, struct scan *s,
		 struct outcome *out)
{
	long long start = monotonic_ms(), deadline = timeout_s ? start + timeout_s * 1000LL : 0;
	bool eof = false, ended = false;
	int qfd = q->fd;
	while (!out->exited) {
		if (!ended && guest_ended(s, q)) {
			ended = true;
			if (!deadline || monotonic_ms() + RUN_GRACE_MS < deadline)
				deadline = monotonic_ms() + RUN_GRACE_MS;
		}
		long long left = deadline ? deadline - monotonic_ms() : -1;
		if (deadline && left <= 0)
			break;
		if (eof && waitpid(pid, &out->wstatus, WNOHANG) == pid) {
			out->exited = true;
			break;
		}
		struct pollfd p[3] = { { eof ? -1 : fd, POLLIN, 0 }, { qfd, POLLIN, 0 }, { w ? w->fd : -1, POLLIN, 0 } };
		int wait_ms = eof ? 20 : 1000;
		poll(p, 3, left >= 0 && left < wait_ms ? (int)left : wait_ms);
		if (p[1].revents && !qmp_read(q))
			qfd = -1;
		if (p[0].revents && !pump_console(fd, out_fd, s))
			eof = true;
		if (p[2].revents && watch_read(w)) { /* --watch: this guest runs an old image */
			out->changed = true;
			break;
		}
	}
	if (s->line.len) { /* the last line may lack its newline */
		bool live = !s->after_panic;
		scan_line(s);
		if (!live)
			echo_line(s);
	}
	if (!out->exited) {
		out->wstatus = stop_child(pid);
		out->killed = ended;
		out->timed_out = !ended && !run_signal && !out->changed;
	}
	if (qfd >= 0) { /* QEMU is gone: what it sent last is all there */
		fcntl(qfd, F_SETFL, 0);
		qmp_read(q);
	}
	out->ms = monotonic_ms() - start;
}

static pid_t spawn(const struct strlist *av, int keep_fd, int *fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		diag_error(NULL, NULL, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		diag_error(NULL, NULL, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		char **v = xcalloc(av->n + 1, sizeof(*v));
		memcpy(v, av->v, av->n * sizeof(*v));
		dup2(p[1], STDOUT_FILENO);
		if (keep_fd >= 0) /* QEMU's end of the QMP socketpair */
			fcntl(keep_fd, F_SETFD, 0);
		signal(SIGPIPE, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* nor a guest running with nobody reading it */
		execvp(v[0], v);
		fprintf(stderr, "rdc: error: cannot run %s: %s\n", av->v[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* ---- how the boot ended, and was it as expected -------------------------- */

enum end_kind { END_STATUS, END_WATCHDOG, END_PANIC, END_POWEROFF, END_TIMEOUT, END_ESCAPE, END_INTERRUPTED, END_ERROR };

/* One row per way a boot ends: its name (expect.outcome's words), the exit
 * status it gives, and how an expectation of it reads. */
static const struct end_info {
	const char *name;
	int code; /* -1: the guest's status */
	const char *wanted;
} ends[] = {
	[END_STATUS] = { "status", -1, "status" },
	[END_WATCHDOG] = { "watchdog", RUN_EXIT_WATCHDOG, "the watchdog to fire" },
	[END_PANIC] = { "panic", RUN_EXIT_PANIC, "a kernel panic" },
	[END_POWEROFF] = { "poweroff", RUN_EXIT_NO_STATUS, "a poweroff without a status" },
	[END_TIMEOUT] = { "timeout", RUN_EXIT_TIMEOUT, "the guest to be running still at the timeout" },
	[END_ESCAPE] = { "escape", RUN_EXIT_ESCAPE, "" },
	[END_INTERRUPTED] = { "interrupted", 130, "" },
	[END_ERROR] = { "error", 1, "" },
};

struct ending {
	enum end_kind kind;
	int status;     /* END_STATUS: the guest's */
	char *what;     /* one line: how it ended */
};

/* What ended the boot, in order of authority: the signed tag, PID 1's own
 * exit, a plain tag, QEMU's watchdog event, the kernel's panic line, the
 * deadline, the console's escape; a QEMU that exited by itself with none of
 * these saw the guest power off, reboot or halt. */
static void classify(const struct scan *s, const struct qmp *q, const struct outcome *out, const char *qemu,
		     int timeout_s, struct ending *e)
{
	double secs = out->ms / 1000.0;
	e->status = -1;
	if (run_signal) {
		e->kind = END_INTERRUPTED;
		e->what = xasprintf("interrupted by signal %d; QEMU was stopped", (int)run_signal);
	} else if (s->status >= 0 || s->init_exit >= 0 || s->plain >= 0) {
		e->kind = END_STATUS;
		e->status = s->status >= 0 ? s->status : s->init_exit >= 0 ? s->init_exit : s->plain;
		e->what = xasprintf("%s %d after %.1f s", s->status >= 0 ? "the guest reported status"
						  : s->init_exit >= 0 ? "/init exited with status" : "the guest printed status",
				    e->status, secs);
	} else if (q->watchdog) {
		e->kind = END_WATCHDOG;
		e->what = xasprintf("the guest's watchdog fired after %.1f s (QEMU's action: %s)", secs,
				    q->watchdog_action ? q->watchdog_action : "?");
	} else if (s->panic) {
		e->kind = END_PANIC;
		e->what = xasprintf("the kernel panicked after %.1f s: %s", secs, s->panic);
	} else if (out->timed_out) {
		e->kind = END_TIMEOUT;
		e->what = xasprintf("the guest was still running at the timeout (%d s); QEMU was killed", timeout_s);
	} else if (s->escape) {
		e->kind = END_ESCAPE;
		e->what = xasprintf("the console's escape (Ctrl-A x) ended the guest after %.1f s", secs);
	} else if (!WIFEXITED(out->wstatus) || WEXITSTATUS(out->wstatus)) {
		e->kind = END_ERROR;
		e->what = WIFEXITED(out->wstatus) ? xasprintf("%s failed (exit status %d)", qemu, WEXITSTATUS(out->wstatus))
						  : xasprintf("%s was killed by signal %d", qemu, WTERMSIG(out->wstatus));
	} else {
		const char *r = q->shutdown ? q->shutdown : "";
		e->kind = END_POWEROFF;
		e->what = xasprintf("the guest %s without reporting a status after %.1f s",
				    !strcmp(r, "guest-reset") ? "rebooted" : !strcmp(r, "guest-shutdown") ? "powered off"
									    : "ended", secs);
	}
}

static int end_code(const struct ending *e)
{
	return e->kind == END_STATUS ? e->status : e->kind == END_INTERRUPTED ? 128 + run_signal : ends[e->kind].code;
}

static enum end_kind find_end(const char *name)
{
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		if (!strcmp(ends[i].name, name))
			return (enum end_kind)i;
	return END_STATUS;
}

/* expect: against what happened; each difference one line in `why`. */
static bool met(const struct mf_expect *x, const struct ending *e, const struct scan *s, struct strbuf *why)
{
	if (x->outcome && strcmp(x->outcome, ends[e->kind].name))
		sb_addf(why, "expected %s, but %s\n", ends[find_end(x->outcome)].wanted, e->what);
	else if (!x->outcome) {
		int want = x->status >= 0 ? x->status : 0;
		if (e->kind != END_STATUS || e->status != want)
			sb_addf(why, "expected status %d, but %s\n", want, e->what);
	}
	for (size_t i = 0; i < s->nwant; i++)
		if (!s->seen[i])
			sb_addf(why, "no console line matched expect.console '%s'\n", x->console[i]);
	for (size_t i = 0; i < s->ndeny; i++)
		if (s->denied[i])
			sb_addf(why, "a console line matched expect.not_console '%s': %s\n", x->not_console[i], s->denied[i]);
	return why->len == 0;
}

static void print_tail(const struct scan *s)
{
	fprintf(stderr, "rdc: the kernel's last lines before the panic:\n%s", sb_str(&s->before));
}

/* What the user is told about an ending nobody declared in expect:. */
static void explain_end(const struct ending *e, const struct scan *s, int timeout_s)
{
	switch (e->kind) {
	case END_STATUS:
		if (s->status < 0 && s->init_exit >= 0) /* the kernel's "Attempted to kill init" reads like a crash */
			fprintf(stderr, "rdc: %s (the kernel's 'Attempted to kill init' is how a boot ends when PID 1 exits)\n", e->what);
		else
			diag_info("%s", e->what);
		return;
	case END_TIMEOUT:
		diag_error(NULL, "raise --timeout (or qemu.timeout in the manifest); 0 means no limit",
			   "no status from the guest within %d s; QEMU was killed", timeout_s);
		return;
	case END_PANIC:
		diag_error(NULL, NULL, "%s", e->what);
		print_tail(s);
		return;
	case END_POWEROFF:
		diag_error(NULL,
			   !s->bytes /* not even the kernel's first lines: it never got going */
				   ? "the guest printed nothing, so the kernel did not start: too little memory for "
				     "the kernel and this image (qemu.memory), or a kernel that is not for this machine"
				   : "a status comes from /init exiting (its exit code), or from a line 'rdc-exit: N' "
				     "printed before the poweroff (the generated /init prints one)",
			   "%s", e->what);
		return;
	case END_WATCHDOG:
	case END_ESCAPE:
		fprintf(stderr, "rdc: %s\n", e->what);
		return;
	case END_INTERRUPTED:
	case END_ERROR:
		diag_error(NULL, NULL, "%s", e->what);
		return;
	}
}

/* The exit status of the boot: the ending's own, or under expect: 0 when it
 * was as expected, else the ending's (121 where that would be 0). */
static int judge(const struct manifest *m, const struct ending *e, const struct scan *s, int timeout_s,
		 struct run_report *rep)
{
	int code = end_code(e);
	struct strbuf why = STRBUF_INIT;
	bool ok = code == 0;
	if (!m->expect.present || e->kind == END_INTERRUPTED || e->kind == END_ERROR) {
		explain_end(e, s, timeout_s);
		if (!ok && m->expect.present) /* interrupted, or QEMU trouble */
			sb_adds(&why, e->what);
		else if (!ok) /* no expect: is expect: {status: 0} */
			sb_addf(&why, "expected status 0, but %s", e->what);
	} else if ((ok = met(&m->expect, e, s, &why))) {
		fprintf(stderr, "rdc: as expected: %s\n", e->what);
		code = 0;
	} else {
		for (char *l = why.buf, *nl; (nl = strchr(l, '\n')); l = nl + 1)
			fprintf(stderr, "rdc: error: not as expected: %.*s\n", (int)(nl - l), l);
		if (e->kind == END_PANIC)
			print_tail(s);
		if (!code)
			code = RUN_EXIT_UNEXPECTED;
		while (why.len && why.buf[why.len - 1] == '\n')
			why.buf[--why.len] = '\0';
	}
	if (rep) {
		rep->outcome = ends[e->kind].name;
		rep->status = e->status;
		rep->code = code;
		rep->as_expected = ok;
		rep->reason = ok ? NULL : xstrdup(sb_str(&why));
	}
	sb_release(&why);
	return code;
}

static int boot(const struct manifest *m, const struct strlist *av, struct qmp *q, struct watch *w, int timeout_s,
		struct scan *s, bool powers_off, struct run_report *rep)
{
	struct termios saved;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	int fd;
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term, old_hup, old_pipe;
	struct sigaction ign = { .sa_handler = SIG_IGN };
	pid_t pid = spawn(av, q->child_fd, &fd);
	if (pid < 0)
		return 1;
	close(q->child_fd);
	q->child_fd = -1;
	run_child = pid;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sigaction(SIGPIPE, &ign, &old_pipe);
	struct outcome out = { 0 };
	pump(fd, q, w, pid, timeout_s, STDOUT_FILENO, s, &out);
	close(fd);
	run_child = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	if (tty) /* QEMU puts the terminal in raw mode; a killed QEMU leaves it so */
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);

	if (out.changed) {
		fprintf(stderr, "\nrdc: %s changed: the guest was stopped\n", w->changed);
		return 0;
	}
	struct ending e;
	classify(s, q, &out, av->v[0], timeout_s, &e);
	if (e.kind == END_STATUS && out.killed && powers_off && s->status >= 0)
		diag_warn(NULL, "something in the guest kept running after /init reported; the status is /init's own",
			  "QEMU had not stopped %d s after the guest reported status %d; rdc stopped it",
			  RUN_GRACE_MS / 1000, e.status);
	int code = judge(m, &e, s, timeout_s, rep);
	if (rep)
		rep->ms = out.ms;
	free(e.what);
	return code;
}

/* ---- the command ---------------------------------------------------------- */

/* /init from files:, symlinks: or a tree copied to the root (which may hold one) */
static bool provides_init(const struct manifest *m)
{
	for (size_t i = 0; i < m->nfiles; i++)
		if (!strcmp(m->files[i].dest, "/init") || (m->files[i].tree && !strcmp(m->files[i].dest, "/")))
			return true;
	for (size_t i = 0; i < m->nsymlinks; i++)
		if (!strcmp(m->symlinks[i].path, "/init"))
			return true;
	return false;
}

/* --watch: the build's inputs and the manifest files, watched from now on. */
static void start_watch(struct watch *w, const struct manifest *m, const struct build_result *r)
{
	struct strlist all = STRLIST_INIT;
	for (size_t i = 0; i < r->inputs.n; i++)
		sl_push(&all, r->inputs.v[i]);
	for (size_t i = 0; i < m->file_names.n; i++)
		sl_push_owned(&all, absolute(m->file_names.v[i]));
	if (watch_start(w, &all) == 0)
		w->started = true;
	sl_release(&all);
}

/* Blocks until an input changes or a signal comes; true on a change. */
static bool wait_for_change(struct watch *w)
{
	fprintf(stderr, "rdc: watching %zu files for changes (^C ends)\n", w->files.n);
	while (!run_signal) {
		struct pollfd p = { w->fd, POLLIN, 0 };
		if (poll(&p, 1, 1000) > 0 && watch_read(w))
			return true;
	}
	return false;
}

int run_watch(const struct run_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	while (!run_signal) {
		struct watch w = { .fd = -1 };
		struct run_opts ro = *o;
		ro.watcher = &w;
		struct manifest *m = manifest_load(o->manifest);
		if (m) {
			run_manifest(m, &ro);
			manifest_free(m);
		}
		if (!w.started) { /* it did not load (or not that far): watch the manifest itself */
			struct strlist one = STRLIST_INIT;
			sl_push_owned(&one, absolute(o->manifest));
			w.started = watch_start(&w, &one) == 0;
			sl_release(&one);
		}
		if (!w.started)
			return 1;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		bool changed = w.changed || wait_for_change(&w);
		if (changed) {
			usleep(200000); /* an editor's save is several events: take them as one */
			watch_read(&w);
			fprintf(stderr, "rdc: %s changed: rebuilding\n", w.changed);
		}
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		watch_stop(&w);
	}
	fprintf(stderr, "rdc: stopped watching (signal %d)\n", (int)run_signal);
	return 128 + run_signal;
}

static void print_dry_run(const struct run_opts *o, const char *cmd, const char *image)
{
	printf("%s\n", cmd);
	if (access(image, F_OK) < 0) {
		struct strbuf b = STRBUF_INIT;
		sb_adds(&b, "rdc build ");
		shell_word(&b, o->manifest);
		if (o->output) {
			sb_adds(&b, " -o ");
			shell_word(&b, o->output);
		}
		diag_note(NULL, NULL, "%s does not exist yet: `%s` makes it", image, b.buf);
		sb_release(&b);
	}
}

/* --dry-run: where the share would be, without writing it. */
static char *dry_share_dir(const struct manifest *m)
{
	bool err;
	char *kver = build_kernel_release(m, &err), *cache = kver ? cas_default_dir() : NULL;
	char *dir = cache ? build_share_dir(m, cache, kver) : NULL;
	free(cache);
	free(kver);
	return dir;
}

int run_manifest(struct manifest *m, const struct run_opts *o)
{
	const char *arch = m->arch ? m->arch : host_arch();
	const struct arch *a = arch_find(arch);
	if (!a) {
		char *hint = xasprintf("rdc run knows %s", arch_list());
		diag_error(m->arch_loc.line ? &m->arch_loc : NULL, hint, "no QEMU machine for arch '%s'", arch);
		free(hint);
		return 1;
	}
	bool native = arch_find(host_arch()) == a;
	struct build_opts bo = { .output = o->output, .compression = o->compression };
	char *out = build_output_path(m, &bo);
	if (!bootable_output(m, out, o)) {
		diag_error(m->output.loc.line ? &m->output.loc : NULL,
			   "rdc run needs a cpio image: give -o NAME.cpio.zst (or .cpio, .cpio.gz ...)",
			   "QEMU cannot boot %s as an initrd", out);
		free(out);
		return 1;
	}
	char *kernel = pick_kernel(m, o, a, !native);
	if (!kernel) {
		free(out);
		return 1;
	}
	if (!m->init.present && !provides_init(m)) { /* a boot that can only end in a panic */
		diag_error(NULL, "add an init: section (steps, or {exec: PATH}), or a file at /init",
			   "%s has no /init: the kernel would panic with nothing to run", o->manifest);
		free(kernel);
		free(out);
		return 1;
	}
	bool kvm = native && in_path(a->qemu) && kvm_works(a, !o->dry_run);
	bool interactive = m->init.present && !m->init.exec && m->init.on_exit && !strcmp(m->init.on_exit, "shell");
	int timeout = o->timeout >= 0 ? o->timeout : m->qemu.timeout >= 0 ? m->qemu.timeout
						   : interactive ? RUN_SHELL_TIMEOUT : RUN_DEFAULT_TIMEOUT;
	int rc = 0;
	char *image = NULL, *share = NULL;
	if (!o->dry_run && !in_path(a->qemu)) {
		char *hint = xasprintf("install %s (Debian: apt-get install %s)", a->qemu, a->qemu_package);
		diag_error(NULL, hint, "%s is not in PATH", a->qemu);
		free(hint);
		rc = 1;
	} else if (o->dry_run) {
		image = absolute(out);
		if (m->kernel.share && !(share = dry_share_dir(m)))
			rc = 1;
	} else {
		struct build_result r;
		bo.stage_share = true;
		if (build_manifest(m, &bo, &r) < 0) {
			rc = 1;
		} else {
			image = absolute(r.output);
			share = r.share ? xstrdup(r.share) : NULL;
		}
		if (o->watcher)
			start_watch(o->watcher, m, &r);
		build_result_free(&r);
	}
	if (!rc) {
		struct strlist av = STRLIST_INIT;
		/* a fresh nonce per boot; none in a printed command, which has
		 * nobody watching for the status */
		char nonce[17] = "", tag[40];
		uint64_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)monotonic_ms() ^ ((uint64_t)getpid() << 32);
		snprintf(nonce, sizeof(nonce), "%016llx", (unsigned long long)r);
		snprintf(tag, sizeof(tag), "rdc-exit[%s]: ", nonce);
		const char *how = m->init.on_exit ? m->init.on_exit : "poweroff";
		bool powers_off = !m->init.exec && (!strcmp(how, "poweroff") || !strcmp(how, "reboot"));
		struct qmp q;
		if (!o->dry_run && qmp_open(&q) < 0) {
			diag_error(NULL, NULL, "socketpair: %s", strerror(errno));
			rc = 1;
		}
		qemu_argv(m, o, a, kvm, interactive, kernel, image, o->dry_run ? NULL : nonce, o->dry_run ? -1 : q.child_fd,
			  share, &av);
		char *cmd = command_line(&av);
		if (o->dry_run) {
			print_dry_run(o, cmd, image);
		} else if (!rc) {
			diag_info("%s", cmd);
			struct scan s;
			scan_init(&s, m, tag, interactive);
			rc = boot(m, &av, &q, o->watcher, timeout, &s, powers_off, o->report);
			scan_release(&s);
			qmp_close(&q);
		}
		free(cmd);
		sl_release(&av);
	}
	free(image);
	free(share);
	free(kernel);
	free(out);
	return rc;
}

