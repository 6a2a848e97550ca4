#!/usr/bin/env bash
# Every compressor's default (segmented) output is one standard stream:
# the tools people inspect initramfs images with see every entry of it.
. "$(dirname "$0")/lib.sh"

mkdir -p src
head -c 2000000 /dev/urandom > src/noise
seq 1 300000 > src/counting
cat > src/m.yaml <<'YAML'
rdc: 1
binaries: [busybox, curl]
dirs: [/proc, /sys, {path: /tmp, mode: "1777"}]
nodes: [{path: /dev/console, type: c, major: 5, minor: 1}]
symlinks: [{path: /bin/sh, target: busybox}]
files:
  - {src: noise, dest: /data/noise}
  - {src: counting, dest: /data/counting}
  - {dest: /etc/hostname, content: "tools\n"}
init:
  mounts: [proc]
YAML
"$RDC" list src/m.yaml | grep -v '^#' | awk '{print $2}' | sed 's|^/||' | sort > want
n=$(wc -l < want)
# trailers IMAGE: cpio trailer headers in the decompressed bytes (BusyBox's
# own cpio applet holds the bare name, so match the whole header)
trailers() {
	case $1 in *.gz) zcat "$1";; *.xz) xzcat "$1";; *.zst) zstdcat "$1";; esac |
		grep -aEo "070701[0-9A-F]{88}0000000B00000000TRAILER!!!" | wc -l
}

for a in gz zst xz lz4 ""; do
	f=m.cpio${a:+.$a}
	test_expect_success "$f: cpio -t, lsinitramfs, unmkinitramfs and lsinitrd see all $n entries" '
		"$RDC" build src/m.yaml -o $f &&
		case "$a" in gz) gzip -t $f && cat=zcat;; zst) zstd -qt $f && cat=zstdcat;; xz) xz -t $f && cat=xzcat;;
			lz4) cat="lz4 -dc";; *) cat=cat;; esac &&
		$cat $f | cpio -t --quiet | sort > got.cpio && diff want got.cpio &&
		lsinitramfs $f | grep -v "^\.$" | sort > got.lsinitramfs && diff want got.lsinitramfs &&
		rm -rf un && { unmkinitramfs $f un 2>/dev/null || [ -z "$a" ]; } &&
		root=un && { [ -n "$a" ] || root=un/early; } &&
		(cd $root && find . -mindepth 1 | sed "s|^\./||" | sort) > got.un &&
		diff want got.un &&
		{ lsinitrd $f 2>/dev/null || true; } | grep -E "^[-dlcbps][rwxsStT-]{9} " | awk "{print \$NF==\"->\" ? \$0 : \$0}" |
			sed -E "s/ -> .*//; s/.* //" | sort > got.lsinitrd && diff want got.lsinitrd
	'
done

test_expect_success 'gzip: one member around every segment (no trailing data), with a right CRC and ISIZE' '
	python3 -c "
import sys, zlib
d = zlib.decompressobj(31)
out = d.decompress(open(sys.argv[1], \"rb\").read())
assert d.eof and not d.unused_data, \"more than one member\"
" m.cpio.gz && [ "$(trailers m.cpio.gz)" -eq 1 ]
'

test_expect_success 'xz: one stream of several independent blocks, one trailer' '
	xz -lvv m.cpio.xz > info &&
	grep -Eq "^ +Streams: +1$" info &&
	[ "$(grep -E "^ +Blocks: +[0-9]+$" info | awk "{print \$2}")" -ge 3 ] &&
	[ "$(trailers m.cpio.xz)" -eq 1 ]
'

test_expect_success 'zstd: frames back to back, no padding, one trailer across them' '
	zstd -lv m.cpio.zst > info 2>&1 &&
	[ "$(grep -E "^# Zstandard Frames:" info | awk "{print \$NF}")" -ge 3 ] &&
	[ "$(trailers m.cpio.zst)" -eq 1 ]
'

test_expect_success 'the decompressed bytes are the same archive for gzip, xz and zstd' '
	zcat m.cpio.gz > a && xzcat m.cpio.xz > b && zstdcat m.cpio.zst > c &&
	cmp a b && cmp a c && [ $(( $(stat -c %s a) % 512 )) -eq 0 ]
'

test_expect_success '--single-segment: one stream (one block, one frame) holding exactly the plain .cpio' '
	for a in gz xz zst; do
		"$RDC" build --single-segment src/m.yaml -o one.cpio.$a || exit 1
	done &&
	gzip -t one.cpio.gz && xz -t one.cpio.xz && zstd -qt one.cpio.zst &&
	[ "$(xz -lvv one.cpio.xz | grep -E "^ +Blocks: +[0-9]+$" | awk "{print \$2}")" -eq 1 ] &&
	[ "$(zstd -lv one.cpio.zst 2>&1 | grep -E "^# Zstandard Frames:" | awk "{print \$NF}")" -eq 1 ] &&
	zcat one.cpio.gz | cmp - m.cpio && xzcat one.cpio.xz | cmp - m.cpio && zstdcat one.cpio.zst | cmp - m.cpio
'

test_expect_success 'incompressible data is stored by the codec itself: barely larger than plain cpio' '
	for a in gz zst xz; do
		[ $(stat -c %s m.cpio.$a) -lt $(stat -c %s m.cpio) ] || exit 1
	done
'

test_done
