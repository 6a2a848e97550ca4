#!/usr/bin/env bash
# A short fuzzing run of every target (make fuzz); FUZZ_SECONDS to go longer.
# Seeds: the checked-in manifests for the manifest reader, real ELF files
# (and truncated ones) for the ELF reader, small initramfs images in every
# compression for the image reader, lists rdc writes and hand-made ones for
# the import reader, a real cache's index and memos (first byte 0: the
# index, 1: a memo) for the cache readers, a module closure's memo payload
# for its reader, the installed kernel's modules.dep (its first lines) and a
# hand-made one for the modules.dep reader.  Everything is written under
# build-fuzz/.
set -eu
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-20}
work=build-fuzz/corpus
export FUZZ_DIR=$PWD/build-fuzz
mkdir -p "$work/manifest" "$work/elf" "$work/image" "$work/import" "$work/cache" "$work/kmemo" "$work/moddep"
# a module closure's memo payload, one record of each kind (modmemo.c's format)
printf 'M 3:fat 11:/m/k/fat.ko 27:/lib/modules/6.1.0/k/fat.ko - 16:depends= of vfat 0 1 -1 62M 4:vfat 12:/m/k/vfat.ko 28:/lib/modules/6.1.0/k/vfat.ko 3:a=1 5:kmods 0 0 -1 62F 9:/fw/a.bin 19:/lib/firmware/a.bin X 27:/lib/modules/6.1.0/mods.dep 5:a: b\nG 26:W 0\tmissing firmware\thint\n' > "$work/kmemo/two"
for d in /lib/modules/*/modules.dep; do
	[ -f "$d" ] && head -c 16384 "$d" > "$work/moddep/real" && break
done
printf 'kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\r\nkernel/fs/fat/fat.ko:\n\nno colon\n/abs/x.ko: ../y.ko x.ko x.ko\n' > "$work/moddep/hand"
cp manifests/*.yaml "$work/manifest/" 2>/dev/null || true
for f in /bin/true /usr/lib/x86_64-linux-gnu/libc.so.6 /bin/busybox; do
	[ -f "$f" ] && head -c 65536 "$f" > "$work/elf/$(basename "$f")"
done
# initramfs images, small: a plain cpio and each compressor the reader knows
(cd manifests && ls | cpio -o -H newc --quiet) > "$work/image/plain.cpio"
for z in gz:gzip bz2:bzip2 xz:xz zst:zstd lz4:"lz4 -l" lzma:"xz --format=lzma"; do
	${z#*:} -c < "$work/image/plain.cpio" > "$work/image/plain.${z%%:*}" 2>/dev/null || true
done
printf 'dir /etc 0755 0 0\nfile /etc/hostname /etc/hostname 0644 0 0\nslink /bin/sh busybox 0777 0 0\nnod /dev/console 0600 0 0 c 5 1\npipe /run/p 0644 0 0\nsock /run/s 0644 0 0\n' > "$work/import/hand.list"
printf '# comment\nfile /a ${SRC}/a 0644 0 0\nfile /b /etc/passwd 0644 0 0 /c /d\n' > "$work/import/vars.list"
if [ -x build/rdc ]; then # a real cache: its index and memos
	seedc=build-fuzz/seedcache && rm -rf "$seedc" "$seedc.m" && mkdir -p "$seedc.m" &&
	printf 'rdc: 1\nbinaries: [/bin/true]\nfiles: [{src: m.yaml, dest: /m}]\n' > "$seedc.m/m.yaml" &&
	RDC_CACHE_DIR=$PWD/$seedc build/rdc build "$seedc.m/m.yaml" -o "$seedc.m/m.cpio" 2>/dev/null &&
	RDC_CACHE_DIR=$PWD/$seedc build/rdc list "$seedc.m/m.yaml" > "$work/import/rdc.list" 2>/dev/null || true
	[ -f "$seedc/index" ] && { printf '\0'; cat "$seedc/index"; } > "$work/cache/index"
	i=0
	for m in "$seedc"/memo/*/*; do
		[ -f "$m" ] && { printf '\1'; cat "$m"; } > "$work/cache/memo$((i += 1))"
	done
fi
for t in manifest elf image import cache kmemo moddep; do
	[ -x build-fuzz/fuzz_$t ] || continue
	echo "fuzz_$t: ${secs}s"
	# -close_fd_mask=3: the targets' diagnostics are expected output; libFuzzer's own still shows
	build-fuzz/fuzz_$t -max_total_time="$secs" -max_len=65536 -close_fd_mask=3 -print_final_stats=1 \
		"$work/$t" 2>&1 | grep -E '^(#[0-9]+ *DONE|==|SUMMARY|Done|stat::number_of_executed_units|stat::peak_rss)' || true
	ls crash-* leak-* timeout-* 2>/dev/null && { echo "fuzz_$t found a failure"; exit 1; }
done
rm -rf build-fuzz/cache.* build-fuzz/moddep.*
echo "fuzzing found nothing"
