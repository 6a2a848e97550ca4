#!/usr/bin/env bash
# `rdc run` without booting: usage errors exit 2, bad input 1, and --dry-run
# prints one runnable QEMU command line and changes nothing.
. "$(dirname "$0")/lib.sh"

cat > m.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
init:
  steps: [{run: "true"}]
qemu:
  memory: 300M
  smp: 2
  append: "foo=1 bar='x y'"
  args: [-device, i6300esb, -action, watchdog=poweroff]
YAML

test_expect_success 'usage errors exit 2' '
	expect_fail 2 "$RDC" run &&
	expect_fail 2 "$RDC" run m.yaml other.yaml &&
	expect_fail 2 "$RDC" run --frobnicate m.yaml &&
	expect_fail 2 "$RDC" run --timeout soon m.yaml &&
	expect_grep "whole seconds" err &&
	expect_fail 2 "$RDC" run --timeout -5 m.yaml &&
	expect_fail 2 "$RDC" run -- -S
'

test_expect_success 'a missing manifest is bad input (1)' '
	expect_fail 1 "$RDC" run --dry-run nothere.yaml
'

test_expect_success 'a kernel that does not exist is named, with a hint' '
	expect_fail 1 "$RDC" run --dry-run --kernel "$PWD/no/bzImage" m.yaml &&
	expect_grep "no kernel image $PWD/no/bzImage" err &&
	expect_grep "^hint:" err
'

test_expect_success 'an x86 kernel is refused for an aarch64 image' '
	sed "s/^rdc: 1/rdc: 1\narch: aarch64/" m.yaml > arm.yaml &&
	expect_fail 1 "$RDC" run --dry-run arm.yaml &&
	expect_grep "is an x86 kernel, but the image is for aarch64" err
'

test_expect_success 'an output QEMU cannot boot (a list) is refused' '
	expect_fail 1 "$RDC" run --dry-run -o m.list m.yaml &&
	expect_grep "cannot boot" err
'

test_expect_success '--dry-run prints one command line and builds nothing' '
	"$RDC" run --dry-run m.yaml > cmd 2> err &&
	[ "$(wc -l < cmd)" -eq 1 ] &&
	expect_grep "^qemu-system-x86_64 " cmd &&
	expect_grep " -kernel /boot/vmlinuz-$KVER " cmd &&
	expect_grep " -initrd $PWD/m.cpio.zst " cmd &&
	expect_grep " -accel \(tcg\|kvm\) " cmd &&
	expect_grep " -m 300M -smp 2 " cmd &&
	expect_grep " -no-reboot " cmd &&
	expect_grep "does not exist yet" err &&
	[ ! -e m.cpio.zst ] && [ ! -e .cache ]
'

test_expect_success '--dry-run quotes each argument so the shell gives QEMU the same argv' '
	"$RDC" run --dry-run m.yaml -- -device "virtio-rng-pci,id=it'"'"'s" > cmd &&
	cmd=$(cat cmd) &&
	eval "printf \"<%s>\\n\" ${cmd#qemu-system-x86_64 }" > argv &&
	expect_grep "^<panic=-1 no_timer_check quiet panic_print=0x20 rdinit=/init foo=1 bar='"'"'x y'"'"' console=ttyS0>$" argv &&
	tail -6 argv > tail &&
	printf "%s\n" "<-device>" "<i6300esb>" "<-action>" "<watchdog=poweroff>" "<-device>" "<virtio-rng-pci,id=it'"'"'s>" > want &&
	diff want tail
'

test_expect_success '-v drops quiet from the kernel command line' '
	"$RDC" run --dry-run -v m.yaml > cmd 2>/dev/null &&
	expect_grep "panic=-1 no_timer_check rdinit=/init" cmd &&
	! grep -q " quiet " cmd
'

test_expect_success 'qemu.kernel and --kernel choose the kernel (--kernel wins)' '
	cp /boot/vmlinuz-$KVER bz &&
	printf "qemu: {kernel: /boot/vmlinuz-$KVER}\n" > k.yaml &&
	sed "/^qemu:/,\$d" m.yaml >> k.yaml &&
	"$RDC" run --dry-run k.yaml > cmd 2>/dev/null &&
	expect_grep " -kernel /boot/vmlinuz-$KVER " cmd &&
	"$RDC" run --dry-run --kernel bz k.yaml > cmd 2>/dev/null &&
	expect_grep " -kernel $PWD/bz " cmd
'

test_done
