#!/usr/bin/env bash
# How a boot ends, known rather than guessed, and expect: in the manifest:
# a static program as /init reports its status by exiting (the kernel's
# "Attempted to kill init! exitcode="), for a manifest of files and for an
# image made by `rdc import`; a kernel panic is its own outcome with the
# console that led to it; an expect: that is not met says what differed.
# Five boots; the watchdog is t0530's, the timeout t0520's.
. "$(dirname "$0")/lib.sh"

test_expect_success 'expect: is checked when the manifest is read, at its line' '
	printf "rdc: 1\ninit: {steps: [true]}\nexpect: {outcome: watchdgo}\n" > bad1.yaml &&
	expect_fail 1 "$RDC" check bad1.yaml &&
	expect_grep "bad1.yaml:3:.*unknown outcome .watchdgo." err &&
	expect_grep "hint: one of: watchdog, panic, poweroff, timeout (did you mean .watchdog.?); or status: N" err &&
	printf "rdc: 1\ninit: {steps: [true]}\nexpect:\n  console: [\"ok (\"]\n" > bad2.yaml &&
	expect_fail 1 "$RDC" check bad2.yaml &&
	expect_grep "bad2.yaml:4:13: error: bad regex .ok (. in expect.console" err &&
	printf "rdc: 1\ninit: {steps: [true]}\nexpect: {status: 3, outcome: panic}\n" > bad3.yaml &&
	expect_fail 1 "$RDC" check bad3.yaml &&
	expect_grep "expect has both status and outcome" err &&
	printf "rdc: 1\ninit: {steps: [true]}\nexpect: {stauts: 3}\n" > bad4.yaml &&
	expect_fail 1 "$RDC" check bad4.yaml &&
	expect_grep "did you mean .status." err
'

if ! test_have qemu-system-x86_64 || [ ! -r "/boot/vmlinuz-$KVER" ] || ! test_have gcc; then
	test_skip 'booting under QEMU' 'needs qemu-system-x86_64, gcc and a readable /boot/vmlinuz-$KVER'
	test_done
	exit
fi

# A static program that is all of /init: prints, then exits with CODE.
cat > exits.c <<'C'
#include <stdio.h>
int main(void) { printf("static init says hello\n"); fflush(stdout); return CODE; }
C

test_expect_success 'a static /init exiting 0 gives rdc run 0, with expect: met' '
	gcc -static -O2 -DCODE=0 -o init0 exits.c &&
	cat > static0.yaml <<-YAML &&
	rdc: 1
	kernel: {version: ${KVER}}
	nodes: [{path: /dev/console, type: c, major: 5, minor: 1}]
	files: [{src: init0, dest: /init, mode: "0755"}]
	expect:
	  status: 0
	  console: ["^static init says hello$", "Attempted to kill init"]
	  not_console: ["^rdc-exit"]
	YAML
	"$RDC" run static0.yaml </dev/null >out 2>err &&
	expect_grep "^static init says hello" out &&
	expect_grep "Attempted to kill init! exitcode=0x00000000" out &&
	expect_grep "rdc: as expected: /init exited with status 0" err &&
	! grep -q "warning" err
'

test_expect_success 'an image made by rdc import reports its /init'"'"'s exit status (5)' '
	gcc -static -O2 -DCODE=5 -o init5 exits.c &&
	printf "dir /dev 0755 0 0\nnod /dev/console 0600 0 0 c 5 1\nfile /init %s 0755 0 0\n" "$PWD/init5" > five.list &&
	"$RDC" import five.list -o five.yaml &&
	expect_fail 5 "$RDC" run five.yaml </dev/null &&
	expect_grep "^static init says hello" out &&
	expect_grep "rdc: /init exited with status 5" err
'

test_expect_success 'an /init killed by a signal gives 128+signal (SIGSEGV: 139)' '
	printf "int main(void) { *(volatile int *)0 = 1; return 0; }\n" > segv.c &&
	gcc -static -O0 -o initsegv segv.c &&
	printf "rdc: 1\nkernel: {version: %s}\nfiles: [{src: initsegv, dest: /init, mode: \"0755\"}]\n" "$KVER" > segv.yaml &&
	expect_fail 139 "$RDC" run segv.yaml </dev/null &&
	expect_grep "Attempted to kill init! exitcode=0x0000000b" out &&
	expect_grep "rdc: /init exited with status 139" err
'

cat > panic.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
init:
  mounts: [proc]
  steps: ["echo about to crash; echo c > /proc/sysrq-trigger; sleep 30"]
YAML

test_expect_success 'a kernel panic is its own outcome (123), with the kernel'"'"'s lines that led to it' '
	expect_fail 123 "$RDC" run panic.yaml </dev/null &&
	expect_grep "rdc: error: the kernel panicked after .* s: sysrq triggered crash" err &&
	expect_grep "the kernel.s last lines before the panic:" err &&
	expect_grep "^    .*sysrq: Trigger a crash" err &&
	expect_grep "^    .*Kernel panic - not syncing: sysrq triggered crash" err &&
	# quiet hid it while booting; the kernel'"'"'s replay of its log (panic_print)
	# brought it back for the report, and the replay is not echoed
	expect_grep "^    .*Run /init as init process" err &&
	! grep -q "Run /init as init process" out &&
	! grep -q "RDC_NONCE" err &&
	expect_grep "^about to crash" out &&
	! grep -q "printed nothing" err
'

cat > unmet.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
init:
  steps: ["echo BOOTED; echo ERROR: disk on fire; exit 3"]
expect:
  console: ["^BOOTED$", "^never printed$"]
  not_console: ["^ERROR:"]
YAML

test_expect_success 'an expect: not met says each difference and exits with the guest'"'"'s status' '
	expect_fail 3 "$RDC" run unmet.yaml </dev/null &&
	expect_grep "not as expected: expected status 0, but the guest reported status 3" err &&
	expect_grep "not as expected: no console line matched expect.console .\^never printed\$." err &&
	expect_grep "not as expected: a console line matched expect.not_console .\^ERROR:.: ERROR: disk on fire" err
'

test_done
