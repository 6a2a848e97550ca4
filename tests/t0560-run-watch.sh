#!/usr/bin/env bash
# rdc run --watch: an input of the image changing stops the guest that runs
# the old image, rebuilds and boots again; after a boot that ended it waits
# for the next change; ^C ends it with no QEMU left.  Two boots.
. "$(dirname "$0")/lib.sh"

if ! test_have qemu-system-x86_64 || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'booting under QEMU' 'needs qemu-system-x86_64 and a readable /boot/vmlinuz-$KVER'
	test_done
	exit
fi

cat > w.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
files: [{src: msg.txt, dest: /msg.txt}]
init: {steps: ["cat /msg.txt; grep -q second /msg.txt || sleep 600"]}
YAML

test_expect_success 'an edit during a boot reboots the new image; then it waits; ^C ends it' '
	echo "first message" > msg.txt &&
	{ "$RDC" run --watch w.yaml </dev/null >out 2>err & } &&
	pid=$! &&
	for i in $(seq 600); do grep -q "^first message" out && break; sleep 0.2; done &&
	expect_grep "^first message" out &&
	echo "second message" > msg.txt.new && mv msg.txt.new msg.txt &&
	for i in $(seq 600); do grep -q "watching" err && break; sleep 0.2; done &&
	expect_grep "msg.txt changed: the guest was stopped" err &&
	expect_grep "msg.txt changed: rebuilding" err &&
	expect_grep "^second message" out &&
	expect_grep "rdc: watching [0-9]* files for changes" err &&
	kill -INT $pid &&
	{ wait $pid; rc=$?; } &&
	[ "$rc" -eq 130 ] &&
	! pgrep -fa "qemu-system.*$PWD/" &&
	expect_grep "stopped watching" err
'

test_done
