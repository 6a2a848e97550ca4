#!/usr/bin/env bash
# A whole riscv64 system: the test kernel built from linux-source-6.1
# (tests/setup/test-kernels.sh riscv64: tinyconfig, virt, 8250 on the device
# tree, initrd), an image of a riscv64 program and its glibc closure taken
# from Debian's cross sysroot, booted by `rdc run` under
# qemu-system-riscv64 -M virt (OpenSBI through QEMU's -bios default); the
# program is PID 1 and its status comes out as rdc run's.  One boot.
. "$(dirname "$0")/lib.sh"

if ! K=$("$TESTS_DIR/setup/test-kernels.sh" --path riscv64); then
	test_skip 'a riscv64 system' 'the riscv64 test kernel is not built (tests/setup/test-kernels.sh riscv64)'
	test_done
	exit
fi
if ! test_have riscv64-linux-gnu-gcc || ! test_have qemu-system-riscv64; then
	test_skip 'a riscv64 system' 'needs gcc-riscv64-linux-gnu and qemu-system-misc'
	test_done
	exit
fi

# PID 1: says where it runs, prints the plain tag an init: {exec:} program
# may print, and powers off (through SBI's system reset).
cat >rvinit.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <unistd.h>
int main(void)
{
	struct utsname u;
	uname(&u);
	const char *s = getenv("RV_STATUS");
	printf("rvinit: %s %s, pid %d\n", u.machine, u.release, (int)getpid());
	printf("rdc-exit: %d\n", s ? atoi(s) : 1);
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
C

cat >rv.yaml <<YAML
rdc: 1
arch: riscv64
sysroot: /usr/riscv64-linux-gnu
kernel: {tree: $K}
binaries: [{src: rvinit, dest: /sbin/rvinit}]   # its libraries come from the sysroot
init: {exec: /sbin/rvinit}
qemu: {append: RV_STATUS=7}   # unknown NAME=value words are init's environment
YAML

test_expect_success 'the image holds the riscv64 program and its glibc closure, nothing of the host' '
	riscv64-linux-gnu-gcc -O2 -o rvinit rvinit.c &&
	"$RDC" build rv.yaml -o rv/ &&
	file -L rv/sbin/rvinit | grep -q "RISC-V" &&
	file -L rv/lib/ld-linux-riscv64-lp64d.so.1 | grep -q "RISC-V" &&
	! find rv -type f -exec file {} + | grep "ELF" | grep -v "RISC-V"
'

test_expect_success 'rdc run boots it under qemu-system-riscv64 -M virt with the tree'"'"'s Image' '
	"$RDC" run --dry-run rv.yaml >cmd &&
	expect_grep "^qemu-system-riscv64 -M virt " cmd &&
	expect_grep " -kernel $K/arch/riscv/boot/Image " cmd &&
	expect_grep "RV_STATUS=7 console=ttyS0" cmd
'

test_expect_success 'the riscv64 program runs as PID 1 and its status is rdc run'"'"'s' '
	start=$(date +%s) &&
	expect_fail 7 "$RDC" run --timeout 240 rv.yaml </dev/null &&
	echo "boot took $(( $(date +%s) - start )) s" >&2 &&
	expect_grep "^rvinit: riscv64 $(cat "$K/include/config/kernel.release"), pid 1" out
'

test_done
