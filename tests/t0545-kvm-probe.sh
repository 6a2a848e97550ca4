#!/usr/bin/env bash
# The KVM probe (a QEMU booting tools/kvm-probe.S) runs once: its answer is
# remembered in the cache, keyed by the host kernel, /dev/kvm and the QEMU
# binary, and --dry-run never probes.  No guest boots here: QEMU is given an
# option it refuses, so each run ends right after the probe would have run.
. "$(dirname "$0")/lib.sh"

if ! test_have qemu-system-x86_64 || ! test_have strace || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'the KVM probe is remembered' 'needs qemu-system-x86_64, strace and /boot/vmlinuz-$KVER'
	test_done
	exit
fi

printf 'rdc: 1\nkernel: {version: %s}\ninit: {steps: [{run: "echo hi"}]}\n' "$KVER" > m.yaml
mkdir -p bin && ln -s "$(command -v qemu-system-x86_64)" bin/qemu-system-x86_64
export PATH="$PWD/bin:$PATH"
# probes TRACE: how many QEMUs ran the probe firmware (-bios rdc-kvm-probe.*)
probes() { grep -c 'execve("[^"]*qemu-system-x86_64", .*"-bios", "[^"]*rdc-kvm-probe' "$1"; }
run_traced() { strace -f -qq -e trace=execve,openat -s 256 -o "$1" "$RDC" run m.yaml -o m.cpio.zst "${@:2}"; }

test_expect_success '--dry-run does not probe: no QEMU started, /dev/kvm not opened, nothing remembered' '
	run_traced dry.trace --dry-run > cmd &&
	expect_grep "qemu-system-x86_64 -accel tcg" cmd &&
	[ "$(probes dry.trace)" = 0 ] && ! grep -q "execve(\"[^\"]*qemu" dry.trace &&
	! grep -q "/dev/kvm" dry.trace && ! test -e "$RDC_CACHE_DIR/memo/kvm"
'

# A memo noted within 2 s of an input's change is never trusted (the racy
# rule; the symlink above is that new): the first run waits that long.
test_expect_success 'the first run probes and remembers the answer' '
	sleep 2.1 &&
	expect_fail 1 run_traced first.trace -- -no-such-option &&
	expect_grep "no-such-option" err &&
	{ ! test -e /dev/kvm || grep -q "/dev/kvm" first.trace; } && [ "$(probes first.trace)" -le 1 ] &&
	[ "$(ls "$RDC_CACHE_DIR/memo/kvm" | wc -l)" = 1 ]
'

test_expect_success 'the next run uses the remembered answer: no probe, the same accelerator' '
	expect_fail 1 run_traced second.trace -v -- -no-such-option &&
	[ "$(probes second.trace)" = 0 ] && ! grep -q "/dev/kvm" second.trace &&
	expect_grep "KVM .* (remembered" err &&
	"$RDC" run --dry-run m.yaml -o m.cpio.zst > cmd2 &&
	grep -o -- "-accel [a-z]*" cmd2 > accel2 && grep -o -- "-accel [a-z]*" err > accel1 && cmp accel1 accel2
'

test_expect_success 'another QEMU binary (a new identity) is probed again' '
	rm bin/qemu-system-x86_64 && cp "$(command -v qemu-system-x86_64)" bin/ &&
	expect_fail 1 run_traced third.trace -v -- -no-such-option &&
	! grep -q "(remembered" err && [ "$(probes third.trace)" = "$(probes first.trace)" ] &&
	{ ! test -e /dev/kvm || grep -q "/dev/kvm" third.trace; }
'

test_done
