#!/usr/bin/env bash
# The checked-in scenarios that boot: the i6300esb watchdog ends its guest
# within seconds (rdc run: 124, no status), and the busybox shell image
# answers commands typed on the console.  Two boots.
. "$(dirname "$0")/lib.sh"

if ! test_have qemu-system-x86_64 || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'booting under QEMU' 'needs qemu-system-x86_64 and a readable /boot/vmlinuz-$KVER'
	test_done
	exit
fi

test_expect_success 'qemu-watchdog: the watchdog powers the guest off within seconds (124)' '
	start=$(date +%s) &&
	expect_fail 124 "$RDC" run "$ROOT/manifests/qemu-watchdog.yaml" </dev/null &&
	took=$(( $(date +%s) - start )) &&
	echo "watchdog run took $took s" >&2 &&
	[ "$took" -lt 30 ] &&
	expect_grep "/dev/watchdog is open" out &&
	! grep -q "did not fire" out &&
	! grep -q "rdc-exit" out &&
	expect_grep "ended without reporting a status" err
'

test_expect_success 'busybox-shell: a shell on the console runs what is typed, then powers off' '
	mkfifo in
	{ "$RDC" run --timeout 120 "$ROOT/manifests/busybox-shell.yaml" <in >out 2>err; echo $? >rc; } &
	exec 3>in
	for i in $(seq 300); do grep -q "rdc-exit.*: 0" out && break; sleep 0.2; done
	echo "echo hi-\$((6*7)); hostname; tty; poweroff -f" >&3
	wait
	exec 3>&-
	[ "$(cat rc)" = 0 ] || { cat out err; false; }
	expect_grep "^hi-42" out &&
	expect_grep "^tiny" out &&
	expect_grep "^/dev/ttyS0" out
'

test_expect_success 'a guest that never starts (16M of memory) says so, and what to look at' '
	printf "rdc: 1\nkernel: {version: $KVER}\ninit: {steps: [true]}\nqemu: {memory: 16M}\n" > lowmem.yaml &&
	expect_fail 124 timeout 120 "$RDC" run lowmem.yaml </dev/null &&
	expect_grep "kernel did not start" err && expect_grep "qemu.memory" err
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
