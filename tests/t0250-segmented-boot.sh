#!/usr/bin/env bash
# Segmented images — xz blocks of one stream, deflate runs of one gzip
# member, zstd frames back to back; incompressible data and already-compressed
# modules among them — boot, and the guest sees every byte: one boot each.
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

test_expect_success 'the xz image is one stream of several blocks holding one archive' '
	"$RDC" build seg.yaml -o seg.cpio.xz &&
	"$RDC" build seg.yaml -o seg.cpio --single-segment &&
	xz -t seg.cpio.xz &&
	[ "$(xz -lvv seg.cpio.xz | grep -E "^ +Blocks: +[0-9]+$" | awk "{print \$2}")" -ge 3 ] &&
	test $(xzcat seg.cpio.xz | cpio -it --quiet | wc -l) -eq $(cpio_tree seg.cpio | wc -l) &&
	diff <(cpio_tree seg.cpio) <(cpio_tree seg.cpio.xz)
'

# One boot per layout: the kernel unpacks it in one pass and the guest sees every byte.
for f in seg.cpio.xz seg.cpio.gz seg.cpio.zst; do
	test_expect_success "$f boots and the guest sees every byte" '
		"$RDC" run seg.yaml -o $f </dev/null > out 2>&1 || { cat out; exit 1; } &&
		expect_grep "^ALL-SEGMENTS-ARRIVED" out &&
		expect_grep "^rdc-exit\[[0-9a-f]*\]: 0" out &&
		! grep -q "Initramfs unpacking failed" out
	'
done

test_expect_success 'the zstd image is frames back to back (no padding, zstd -t passes)' '
	zstd -qt seg.cpio.zst &&
	[ "$(zstd -lv seg.cpio.zst 2>&1 | grep -E "^# Zstandard Frames:" | awk "{print \$NF}")" -ge 3 ] &&
	diff <(cpio_tree seg.cpio) <(cpio_tree seg.cpio.zst)
'

test_done
