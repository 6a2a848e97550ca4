#!/usr/bin/env bash
# `rdc run` boots the Debian kernel under QEMU (TCG here) and exits with the
# guest's status: a failing step's status, steps after it not run, modules
# loaded from the closure, the README's hello, a --dry-run command that boots
# when pasted, and the timeout.  Four boots of a few seconds each.
. "$(dirname "$0")/lib.sh"

if ! test_have qemu-system-x86_64 || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'booting under QEMU' 'needs qemu-system-x86_64 and a readable /boot/vmlinuz-$KVER'
	test_done
	exit
fi

cat > status.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
kmods: [{name: i6300esb, params: "heartbeat=5"}]
init:
  mounts: [proc, sysfs, devtmpfs]
  modules: load
  env: {x: "it's here"}
  steps:
    - run: grep "^i6300esb " /proc/modules && grep "^watchdog " /proc/modules && echo MODULES-LOADED
    - run: dmesg | grep -o "heartbeat=5 sec"
    - run: echo "a'b" \$x; echo rdc-exit':' 0; sleep 6
    - run: exit 3
    - run: echo LATER-STEP-RAN
qemu:
  args: [-device, i6300esb]
YAML

test_expect_success 'a failing step'"'"'s status comes out as rdc run'"'"'s' '
	start=$(date +%s) &&
	expect_fail 3 "$RDC" run status.yaml </dev/null &&
	echo "boot took $(( $(date +%s) - start )) s" >&2 &&
	expect_grep "rdc: step 4 (status.yaml:12) failed with status 3" out &&
	# a step printed a fake tag and went on for longer than rdc waits after
	# a tag: only /init'"'"'s own, signed with the nonce of this boot, counts
	expect_grep "^rdc-exit: 0" out &&
	[ "$(grep -c "^rdc-exit\[[0-9a-f]\{16\}\]: " out)" -eq 1 ] &&
	expect_grep "^rdc-exit\[[0-9a-f]\{16\}\]: 3" out
'

test_expect_success 'steps after the failing one do not run' '
	expect_grep "a'"'"'b it'"'"'s here" out &&
	! grep -q LATER-STEP-RAN out
'

test_expect_success 'the module closure is loaded, with its params, in /proc/modules' '
	expect_grep "^MODULES-LOADED" out &&
	expect_grep "^heartbeat=5 sec" out
'

test_expect_success 'the README'"'"'s first command: manifests/hello.yaml boots and exits 0' '
	"$RDC" run "$ROOT/manifests/hello.yaml" </dev/null >out 2>err &&
	expect_grep "^hello from hello" out &&
	expect_grep "^Linux hello .* x86_64" out &&
	[ -s hello.cpio.zst ]
'

test_expect_success 'the --dry-run command boots the same image when pasted into a shell' '
	"$RDC" run --dry-run "$ROOT/manifests/hello.yaml" >cmd &&
	[ "$(wc -l <cmd)" -eq 1 ] &&
	! grep -q RDC_NONCE cmd &&
	(eval "timeout 120 $(cat cmd)") </dev/null >out 2>err &&
	expect_grep "^hello from hello" out &&
	expect_grep "^rdc-exit: 0" out
'

cat > slow.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
init:
  steps: [{run: "echo SLEEPING; sleep 600"}]
YAML

test_expect_success '--timeout kills QEMU and exits 125' '
	start=$(date +%s) &&
	expect_fail 125 "$RDC" run --timeout 8 slow.yaml </dev/null &&
	[ $(( $(date +%s) - start )) -lt 30 ] &&
	expect_grep "no status from the guest within 8 s" err &&
	! pgrep -f "initrd $PWD/slow.cpio.zst" >/dev/null
'

test_done
