#!/usr/bin/env bash
# The checked-in scenarios that boot: the i6300esb watchdog ends its guest
# within seconds, as its expect: says (rdc run: 0, from QEMU's own event), and the busybox shell image
# answers commands typed on the console.  Two boots.
. "$(dirname "$0")/lib.sh"

if ! test_have qemu-system-x86_64 || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'booting under QEMU' 'needs qemu-system-x86_64 and a readable /boot/vmlinuz-$KVER'
	test_done
	exit
fi

test_expect_success 'qemu-watchdog: the watchdog fires within seconds, as expected (0)' '
	start=$(date +%s) &&
	"$RDC" run "$ROOT/manifests/qemu-watchdog.yaml" </dev/null >out 2>err &&
	took=$(( $(date +%s) - start )) &&
	echo "watchdog run took $took s" >&2 &&
	[ "$took" -lt 30 ] &&
	expect_grep "/dev/watchdog is open" out &&
	! grep -q "did not fire" out &&
	! grep -q "rdc-exit" out &&
	expect_grep "as expected: the guest.s watchdog fired after .* (QEMU.s action: poweroff)" err
'

test_expect_success 'busybox-shell: a shell on the console runs what is typed; Ctrl-A x ends it' '
	mkfifo in &&
	{ { "$RDC" run --timeout 120 "$ROOT/manifests/busybox-shell.yaml" <in >out 2>err; echo $? >rc; } & } &&
	exec 3>in &&
	for i in $(seq 300); do grep -q "rdc-exit.*: 0" out && break; sleep 0.2; done &&
	echo "echo hi-\$((6*7)); hostname; tty; echo TYPED-ALL" >&3 &&
	for i in $(seq 100); do grep -q "^TYPED-ALL" out && break; sleep 0.2; done &&
	printf "\001x" >&3 &&
	wait &&
	exec 3>&- &&
	{ [ "$(cat rc)" = 0 ] || { cat out err; false; }; } &&
	expect_grep "^hi-42" out &&
	expect_grep "^tiny" out &&
	expect_grep "^/dev/ttyS0" out &&
	expect_grep "QEMU: Terminated" out
'

test_expect_success 'a guest that never starts (16M of memory) says so, and what to look at' '
	printf "rdc: 1\nkernel: {version: $KVER}\ninit: {steps: [true]}\nqemu: {memory: 16M}\n" > lowmem.yaml &&
	expect_fail 124 timeout 120 "$RDC" run lowmem.yaml </dev/null &&
	expect_grep "without reporting a status" err &&
	expect_grep "printed nothing, so the kernel did not start" err && expect_grep "qemu.memory" err
'

test_expect_success 'a manifest with no /init is refused before booting' '
	printf "rdc: 1\ndirs: [/a]\n" > noinit.yaml &&
	expect_fail 1 "$RDC" run noinit.yaml </dev/null && expect_grep "has no /init" err &&
	! test -e noinit.cpio.zst
'

test_expect_success 'a --kernel that is not a kernel is named as such, before QEMU says something odd' '
	echo "not a kernel" > notakernel &&
	expect_fail 1 "$RDC" run --dry-run "$ROOT/manifests/hello.yaml" --kernel notakernel &&
	expect_grep "notakernel is not a kernel image" err &&
	expect_fail 1 "$RDC" run --dry-run "$ROOT/manifests/hello.yaml" --kernel /boot && expect_grep "/boot is not a file" err
'

test_done
