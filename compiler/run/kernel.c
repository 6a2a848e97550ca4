/* kernel.c — choosing the kernel to boot: --kernel, else qemu.kernel, else
 * the build tree's image, else <sysroot>/boot/vmlinuz-<kernel.version> (the
 * newest one when the manifest names no release); what can only fail to
 * boot (no file, unreadable, no kernel image, another arch's) is refused at
 * the manifest's line before QEMU starts. */
#include "run/runner.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "build/build.h"
#include "image/image.h"
#include "lib/arch.h"
#include "lib/diag.h"
#include "lib/util.h"

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

char *kernel_pick(const struct manifest *m, const struct run_opts *o, const struct arch *a,
			 bool foreign)
{
	const char *arch = a->name;
	char *path;
	const struct loc *loc = NULL;
	if (o->kernel) {
		path = run_absolute(o->kernel);
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
