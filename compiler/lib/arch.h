/* arch.h — the one table of architectures: the manifest's arch: word and
 * the names the host and Debian use for it, the ELF machine and class that
 * ld.so matches, the multiarch directory and $PLATFORM, and how QEMU boots
 * it.  The reader, the schema, the ELF resolver and `rdc run` all read this
 * table; adding an arch is adding a row. */
#ifndef RDC_ARCH_H
#define RDC_ARCH_H

struct arch {
	const char *name;          /* x86_64, aarch64 ... (arch:, uname -m) */
	const char *aliases[3];    /* other spellings: Debian's (amd64, arm64), uname's (i686) */
	int machine, elfclass;     /* EM_*, ELFCLASS32/64 */
	const char *multiarch;     /* x86_64-linux-gnu: /lib/<multiarch> */
	const char *platform;      /* $PLATFORM in DT_RPATH/DT_RUNPATH */
	const char *musl;          /* musl's LDSO_ARCH: /lib/ld-musl-<musl>.so.1 */
	const char *glibc_ldso;    /* where glibc puts its loader */
	const char *qemu;          /* qemu-system-x86_64 */
	const char *qemu_package;  /* the Debian package that has it */
	const char *qemu_machine;  /* -M, or NULL for QEMU's default */
	const char *qemu_cpu_tcg;  /* -cpu under TCG, or NULL for QEMU's default */
	const char *console;       /* the serial port's name in the guest */
	const char *kernel_image;  /* what a kernel build leaves to boot, in its tree */
	/* on the kernel command line first: a loaded host (CI) stalls TCG's
	 * vCPU long enough that x86's IO-APIC timer check fails and the kernel
	 * panics ("IO-APIC + timer doesn't work!") before /init runs */
	const char *qemu_append;
};

/* By name or alias; NULL when unknown. */
const struct arch *arch_find(const char *name);
/* By ELF e_machine; NULL when no row has it. */
const struct arch *arch_by_machine(int machine);
/* The machine rdc runs on (uname -m); NULL when the table lacks it. */
const struct arch *arch_host(void);
/* The names, NULL-terminated: arch:'s values. */
const char *const *arch_names(void);
/* "x86_64, aarch64, ..." for hints. */
const char *arch_list(void);

#endif
