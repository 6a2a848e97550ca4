#!/usr/bin/env bash
# A short fuzzing run of every target (make fuzz); FUZZ_SECONDS to go longer.
# Seeds: the checked-in manifests for the manifest reader, real ELF files
# (and truncated ones) for the ELF reader, small initramfs images in every
# compression for the image reader.
set -eu
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-20}
work=build-fuzz/corpus
mkdir -p "$work/manifest" "$work/elf" "$work/image"
cp manifests/*.yaml "$work/manifest/" 2>/dev/null || true
for f in /bin/true /usr/lib/x86_64-linux-gnu/libc.so.6 /bin/busybox; do
	[ -f "$f" ] && head -c 65536 "$f" > "$work/elf/$(basename "$f")"
done
# initramfs images, small: a plain cpio and each compressor the reader knows
(cd manifests && ls | cpio -o -H newc --quiet) > "$work/image/plain.cpio"
for z in gz:gzip bz2:bzip2 xz:xz zst:zstd lz4:"lz4 -l" lzma:"xz --format=lzma"; do
	${z#*:} -c < "$work/image/plain.cpio" > "$work/image/plain.${z%%:*}" 2>/dev/null || true
done
for t in manifest elf image; do
	[ -x build-fuzz/fuzz_$t ] || continue
	echo "fuzz_$t: ${secs}s"
	build-fuzz/fuzz_$t -max_total_time="$secs" -max_len=65536 -print_final_stats=0 \
		"$work/$t" 2>&1 | grep -E '^(#[0-9]+ *DONE|==|SUMMARY|Done)' || true
	ls crash-* leak-* timeout-* 2>/dev/null && { echo "fuzz_$t found a failure"; exit 1; }
done
echo "fuzzing found nothing"
