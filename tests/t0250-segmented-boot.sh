#!/usr/bin/env bash
# A segmented image with mixed compression — xz segments, a plain segment of
# incompressible data, already-compressed modules — boots, and the guest
# sees every byte: one boot.
. "$(dirname "$0")/lib.sh"

if ! test_have qemu-system-x86_64 || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'booting a segmented image' 'needs qemu-system-x86_64 and /boot/vmlinuz-$KVER'
	test_done
	exit
fi

head -c 3000000 /dev/urandom > random.bin
seq 1 200000 > counting.txt
sha=$(sha256sum random.bin | cut -d" " -f1)
cat > seg.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
kmods: [vfat]
files:
  - {src: random.bin, dest: /data/random.bin}
  - {src: counting.txt, dest: /data/counting.txt}
init:
  mounts: [proc, sysfs, devtmpfs]
  modules: load
  steps:
    - run: test "\$(sha256sum /data/random.bin | cut -d' ' -f1)" = $sha
    - run: test "\$(tail -1 /data/counting.txt)" = 200000
    - run: grep -q "^vfat " /proc/modules
    - run: echo ALL-SEGMENTS-ARRIVED
YAML

test_expect_success 'the image really is several streams, some xz and some plain' '
	"$RDC" build seg.yaml -o seg.cpio.xz &&
	"$RDC" build seg.yaml -o seg.cpio --single-segment &&
	test $(cpio -it --quiet < seg.cpio | wc -l) -eq $(cpio_tree seg.cpio | wc -l) &&
	test $(grep -a -o "7zXZ" seg.cpio.xz | wc -l) -ge 2 &&
	test $(grep -c -a "TRAILER!!!" seg.cpio.xz) -ge 1 &&
	diff <(cpio_tree seg.cpio) <(cpio_tree seg.cpio.xz)
'

test_expect_success 'the kernel unpacks it in one pass and the guest sees every byte' '
	"$RDC" run seg.yaml -o seg.cpio.xz </dev/null > out 2>&1 || { cat out; exit 1; } &&
	expect_grep "^ALL-SEGMENTS-ARRIVED" out &&
	expect_grep "^rdc-exit\[[0-9a-f]*\]: 0" out
'

test_expect_success 'zstd segments (any length) with a plain one after them boot too: segments are 4-aligned' '
	"$RDC" build seg.yaml -o seg.cpio.zst &&
	for off in $(grep -a -b -o "070701" seg.cpio.zst | cut -d: -f1); do
		[ $((off % 4)) -eq 0 ] || { echo "cpio header at unaligned offset $off"; exit 1; }
	done &&
	"$RDC" run seg.yaml -o seg.cpio.zst </dev/null > out 2>&1 || { cat out; exit 1; } &&
	expect_grep "^ALL-SEGMENTS-ARRIVED" out
'

test_done
