/* kvm.c — choosing the accelerator: KVM when a probe shows that a guest
 * actually runs under it (remembered in the cache), else TCG. */
#include "run/runner.h"
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cache/cas.h"
#include "lib/arch.h"
#include "lib/diag.h"
#include "lib/util.h"

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

/* /dev/kvm can exist and still fail (nested virtualisation off, no
 * permission, a container, a host CPU QEMU cannot model): only a guest that
 * actually ran counts.  The probe takes up to 1.5 s where KVM hangs, so its
 * answer is remembered in the cache (memo "kvm"), keyed by what decides it:
 * the host kernel release, the user, the architecture, and the identities of
 * /dev/kvm (node, mode, owner) and of the QEMU binary; a change to any of
 * them probes again.  `probe` false (--dry-run): a remembered answer, else
 * TCG — a printed command never starts a QEMU. */
bool kvm_works(const struct arch *a, bool probe)
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
