#!/usr/bin/env bash
# Peak memory does not grow with the image: files are streamed through the
# cache and the compressors, never held whole.  Bound: 32 MiB for a ~100 MiB
# image at zstd (peak RSS from /usr/bin/time -f %M, in KiB).
. "$(dirname "$0")/lib.sh"

LIMIT_KIB=$((32 * 1024))
if rdc_sanitized; then
	test_skip 'peak memory of a 100 MiB image' 'ASan shadow memory is not rdc'"'"'s'
	test_done
	exit
fi
if ! [ -x /usr/bin/time ]; then
	test_skip 'peak memory of a 100 MiB image' '/usr/bin/time missing (Debian package time)'
	test_done
	exit
fi

# rss MANIFEST OUT: build and print the peak RSS in KiB
rss() {
	/usr/bin/time -o rss.out -f %M "$RDC" build "$@" >/dev/null || return 1
	echo "$* $(tail -1 rss.out)" >> figures
	tail -1 rss.out
}

mkdir -p src
# 100 MiB in 4 MiB files: half noise, half compressible binaries.
for i in $(seq 1 12); do head -c 4194304 /dev/urandom > src/r$i; done
libs=$(ls -S /usr/lib/x86_64-linux-gnu/*.so* /usr/bin/* 2>/dev/null | head -300)
cat $libs 2>/dev/null | head -c 54525952 | split -b 4194304 -d - src/c
{
	echo "rdc: 1"
	echo "files:"
	for f in src/r* src/c*; do echo "  - {src: ${f#src/}, dest: /data/${f#src/}}"; done
} > src/big.yaml
printf 'rdc: 1\nfiles:\n  - {src: r1, dest: /data/r1}\n  - {src: c00, dest: /data/c00}\n' > src/small.yaml
# One 48 MiB file: a file is streamed too, not read whole.
cat src/r1 src/r2 src/r3 src/r4 src/c00 src/c01 src/c02 src/c03 src/c04 src/c05 src/c06 src/c07 > src/one.bin
printf 'rdc: 1\nfiles:\n  - {src: one.bin, dest: /one.bin}\n' > src/one.yaml

test_expect_success 'a 100 MiB image at zstd, cold cache: peak RSS under 32 MiB' '
	[ $(du -sm src | cut -f1) -ge 100 ] &&
	kib=$(rss src/big.yaml -o big.cpio.zst) && echo "peak $kib KiB" &&
	[ "$kib" -lt $LIMIT_KIB ]
'

test_expect_success 'the same image from cached objects (segments rebuilt): under 32 MiB' '
	rm -rf "$RDC_CACHE_DIR"/segments &&
	kib=$(rss src/big.yaml -o big2.cpio.zst) && echo "peak $kib KiB" &&
	[ "$kib" -lt $LIMIT_KIB ] && cmp big.cpio.zst big2.cpio.zst
'

test_expect_success 'peak RSS for 100 MiB is within 8 MiB of that for 8 MiB' '
	small=$(RDC_CACHE_DIR=$PWD/c-small rss src/small.yaml -o small.cpio.zst) &&
	big=$(RDC_CACHE_DIR=$PWD/c-big rss src/big.yaml -o big3.cpio.zst) &&
	echo "8 MiB: $small KiB, 100 MiB: $big KiB" &&
	[ $((big - small)) -lt 8192 ]
'

test_expect_success 'uncompressed 100 MiB image: under 32 MiB' '
	kib=$(rss src/big.yaml -o big.cpio) && echo "peak $kib KiB" && [ "$kib" -lt $LIMIT_KIB ]
'

test_expect_success 'one 48 MiB file, cold cache: under 32 MiB' '
	kib=$(RDC_CACHE_DIR=$PWD/c-one rss src/one.yaml -o one.cpio.zst) && echo "peak $kib KiB" &&
	[ "$kib" -lt $LIMIT_KIB ]
'

[ -f figures ] && sed 's/^/# peak RSS KiB: /' figures
test_done
