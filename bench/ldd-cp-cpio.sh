#!/usr/bin/env bash
# ldd-cp-cpio.sh — the classic way to make a tiny initramfs, as
# make-tiny-image.py does it, for bench.sh to compare rdc against:
# ldd on every binary and, recursively, on every library it finds; modinfo
# for module depends and softdeps, recursively; cp everything into a staging
# tree; `find | cpio -o -H newc | compressor`.
#
#   ldd-cp-cpio.sh -o OUT [-c 'xz -6 --check=crc32'] [-k KVER] [-m MODULE]...
#                  [-f SRC:DEST]... BINARY...
#   ldd-cp-cpio.sh --deps BINARY...     # print the ldd closure only (for timing)
set -eu
out="" compress="xz -6 --check=crc32" kver="" deps_only=0
mods=() files=() bins=()
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift 2 ;;
	-c) compress=$2; shift 2 ;;
	-k) kver=$2; shift 2 ;;
	-m) mods+=("$2"); shift 2 ;;
	-f) files+=("$2"); shift 2 ;;
	--deps) deps_only=1; shift ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	-*) echo "ldd-cp-cpio.sh: unknown option $1" >&2; exit 2 ;;
	*) bins+=("$1"); shift ;;
	esac
done

declare -A seen=()
closure=()

# ldd prints "libfoo.so.1 => /path (addr)" and "/lib64/ld-linux... (addr)".
ldd_walk() {
	local f=$1 lib
	[ -n "${seen[$f]:-}" ] && return
	seen[$f]=1
	closure+=("$f")
	for lib in $(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		ldd_walk "$lib"
	done
}

for b in "${bins[@]}"; do
	p=$(command -v "$b" || true)
	[ -n "$p" ] || { echo "ldd-cp-cpio.sh: $b not found" >&2; exit 1; }
	ldd_walk "$(readlink -f "$p")"
	[ "$(readlink -f "$p")" = "$p" ] || closure+=("$p")
done
if [ $deps_only = 1 ]; then
	printf '%s\n' "${closure[@]}"
	exit 0
fi
[ -n "$out" ] || { echo "ldd-cp-cpio.sh: -o OUT is required" >&2; exit 2; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/ldd-cp-cpio.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Binaries and libraries at their own paths; a library reached through a
# symlink (libfoo.so.1 -> libfoo.so.1.2.3) is copied as the file it names.
for f in "${closure[@]}"; do
	mkdir -p "$stage$(dirname "$f")"
	cp -L "$f" "$stage$f"
done

# Modules: modinfo's depends and softdeps (pre and post), recursively.
declare -A mseen=()
mod_walk() {
	local m=$1 file dep
	[ -n "${mseen[$m]:-}" ] && return
	mseen[$m]=1
	file=$(modinfo -k "$kver" -F filename "$m" 2>/dev/null | head -1) || true
	case $file in /*) ;; *) return ;; esac # builtin or unknown
	mkdir -p "$stage$(dirname "$file")"
	cp "$file" "$stage$file"
	for dep in $(modinfo -k "$kver" -F depends "$m" | tr , ' '); do
		mod_walk "$dep"
	done
	for dep in $(modinfo -k "$kver" -F softdep "$m" | tr ' ' '\n' | grep -v -e '^pre:$' -e '^post:$' -e '^$'); do
		mod_walk "$dep"
	done
}
if [ ${#mods[@]} -gt 0 ]; then
	[ -n "$kver" ] || kver=$(uname -r)
	for m in "${mods[@]}"; do mod_walk "$m"; done
	mkdir -p "$stage/lib/modules/$kver"
	cp /lib/modules/"$kver"/modules.{order,builtin,builtin.modinfo} "$stage/lib/modules/$kver/" 2>/dev/null || true
	depmod -b "$stage" "$kver"
fi

for fd in "${files[@]}"; do
	mkdir -p "$stage$(dirname "${fd#*:}")"
	cp "${fd%%:*}" "$stage${fd#*:}"
done

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | $compress > "$out.tmp"
mv "$out.tmp" "$out"
