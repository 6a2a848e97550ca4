/* arch.c — the architecture table (see arch.h). */
#include "lib/arch.h"
#include <elf.h>
#include <string.h>
#include <sys/utsname.h>

static const struct arch arches[] = {
	{ "x86_64", { "amd64" }, EM_X86_64, ELFCLASS64, "x86_64-linux-gnu", "x86_64", "x86_64", "/lib64/ld-linux-x86-64.so.2",
	  "qemu-system-x86_64", "qemu-system-x86", NULL, NULL, "ttyS0", "arch/x86/boot/bzImage", "no_timer_check" },
	{ "aarch64", { "arm64" }, EM_AARCH64, ELFCLASS64, "aarch64-linux-gnu", "aarch64", "aarch64", "/lib/ld-linux-aarch64.so.1",
	  "qemu-system-aarch64", "qemu-system-arm", "virt", "cortex-a57", "ttyAMA0", "arch/arm64/boot/Image", NULL },
	{ "riscv64", { NULL }, EM_RISCV, ELFCLASS64, "riscv64-linux-gnu", "riscv64", "riscv64", "/lib/ld-linux-riscv64-lp64d.so.1",
	  "qemu-system-riscv64", "qemu-system-misc", "virt", NULL, "ttyS0", "arch/riscv/boot/Image", NULL },
	{ "i386", { "i686", "i586" }, EM_386, ELFCLASS32, "i386-linux-gnu", "i686", "i386", "/lib/ld-linux.so.2",
	  "qemu-system-i386", "qemu-system-x86", NULL, NULL, "ttyS0", "arch/x86/boot/bzImage", "no_timer_check" },
	{ "arm", { "armhf", "armv7l" }, EM_ARM, ELFCLASS32, "arm-linux-gnueabihf", "v7l", "armhf", "/lib/ld-linux-armhf.so.3",
	  "qemu-system-arm", "qemu-system-arm", "virt", "cortex-a15", "ttyAMA0", "arch/arm/boot/zImage", NULL },
	{ "ppc64le", { NULL }, EM_PPC64, ELFCLASS64, "powerpc64le-linux-gnu", "power8", "powerpc64le", "/lib64/ld64.so.2",
	  "qemu-system-ppc64", "qemu-system-ppc", "pseries", NULL, "hvc0", "vmlinux", NULL },
	{ "s390x", { NULL }, EM_S390, ELFCLASS64, "s390x-linux-gnu", "z196", "s390x", "/lib/ld64.so.1",
	  "qemu-system-s390x", "qemu-system-s390x", NULL, NULL, "ttysclp0", "arch/s390/boot/bzImage", NULL },
};
#define NARCHES (sizeof(arches) / sizeof(arches[0]))

const struct arch *arch_find(const char *name)
{
	for (size_t i = 0; name && i < NARCHES; i++) {
		if (!strcmp(arches[i].name, name))
			return &arches[i];
		for (size_t j = 0; j < sizeof(arches[i].aliases) / sizeof(arches[i].aliases[0]); j++)
			if (arches[i].aliases[j] && !strcmp(arches[i].aliases[j], name))
				return &arches[i];
	}
	return NULL;
}

const struct arch *arch_by_machine(int machine)
{
	for (size_t i = 0; i < NARCHES; i++)
		if (arches[i].machine == machine)
			return &arches[i];
	return NULL;
}

const struct arch *arch_host(void)
{
	static struct utsname u;
	if (!u.machine[0] && uname(&u) != 0)
		return NULL;
	return arch_find(u.machine);
}

/* Built once, on first use, from the table (the reader runs on one thread). */
const char *const *arch_names(void)
{
	static const char *names[NARCHES + 1];
	if (!names[0])
		for (size_t i = 0; i < NARCHES; i++)
			names[i] = arches[i].name;
	return names;
}

const char *arch_list(void)
{
	static char list[NARCHES * 16];
	if (!list[0])
		for (size_t i = 0; i < NARCHES; i++) {
			if (i)
				strcat(list, ", ");
			strcat(list, arches[i].name);
		}
	return list;
}
