#!/usr/bin/env bash
# bench.sh — rdc against the other ways of making the same initramfs, in one
# run, side by side, with the project's targets next to the figures.
#
#   bench/bench.sh            (or `make bench`)
#
# Content (bench/bench.yaml): BusyBox, curl, strace, ip and socat with their
# shared-library closures, and btrfs, vfat and virtio_net with their
# dependencies and softdeps from the installed Debian kernel, at xz -6.
#
#   rdc cold      an empty cache
#   rdc no-op     nothing changed
#   rdc edit      one file edited (recompresses its segment only)
#   ldd-cp-cpio   bench/ldd-cp-cpio.sh: ldd recursion + cp + cpio + xz, as make-tiny-image.py
#   dracut        dracut --no-hostonly -m base (skipped when dracut is absent)
#   floor         the kernel's gen_init_cpio archiving `rdc list` | xz: the cost of
#                 writing and compressing these bytes once, with nothing resolved
#
# Times are the median of BENCH_RUNS runs (5; BENCH_SLOW_RUNS=3 for the slow
# ones), from bash's EPOCHREALTIME; peak RSS from /usr/bin/time -f %M.  The
# machine's load average is printed: other work on it skews the figures.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RDC=${RDC:-$ROOT/build/rdc}
RUNS=${BENCH_RUNS:-5}
SLOW_RUNS=${BENCH_SLOW_RUNS:-3}
KVER=${KVER:-$(ls /lib/modules 2>/dev/null | grep -- '-amd64$' | sort -V | tail -1)}
BINS=(/usr/bin/busybox /usr/bin/curl /usr/bin/strace /usr/sbin/ip /usr/bin/socat)
MODS=(btrfs vfat virtio_net)
export KVER LC_ALL=C
unset SOURCE_DATE_EPOCH

die() { echo "bench.sh: $*" >&2; exit 1; }
[ -x "$RDC" ] || die "no rdc at $RDC (run make)"
[ -n "$KVER" ] && [ -d "/lib/modules/$KVER" ] || die "no kernel under /lib/modules (apt-get install linux-image-amd64)"
for b in "${BINS[@]}"; do [ -x "$b" ] || die "$b is missing (see tests/setup/install-deps.sh)"; done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"

W=$(mktemp -d "${TMPDIR:-/tmp}/rdc-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
export BENCH_EDIT=$W/edit.txt RDC_CACHE_DIR=$W/cache
echo "edit 0" > "$BENCH_EDIT"
MANIFEST=$ROOT/bench/bench.yaml

declare -A MS RSS SIZE NOTE

now_us() { echo "${EPOCHREALTIME/./}"; }

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure NAME RUNS SETUP CMD...: SETUP (a shell snippet, untimed) then CMD,
# RUNS times; the median wall time in ms goes to MS[NAME].  One more run under
# /usr/bin/time gives the peak RSS (kept out of the timed runs: fork and exec
# of time(1) would show in the millisecond figures).
measure() {
	local name=$1 runs=$2 setup=$3
	shift 3
	local i t0 t1 times=()
	for ((i = 0; i < runs; i++)); do
		eval "$setup"
		t0=$(now_us)
		"$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; NOTE[$name]="failed"; return 1; }
		t1=$(now_us)
		times+=($(( (t1 - t0) )))
	done
	MS[$name]=$(printf '%s\n' "${times[@]}" | median | awk '{ printf "%.1f", $1 / 1000 }')
	eval "$setup"
	if declare -F "$1" >/dev/null; then # a shell function: time(1) runs it in bash
		/usr/bin/time -o "$W/rss" -f %M bash -c "$(declare -f "$1"); $*" >/dev/null 2>&1
	else
		/usr/bin/time -o "$W/rss" -f %M "$@" >/dev/null 2>&1
	fi && RSS[$name]=$(tail -1 "$W/rss")
	printf '  %-22s %10s ms  (median of %d)\n' "$name" "${MS[$name]}" "$runs" >&2
}

size_of() { stat -c %s "$1" 2>/dev/null || echo -; }

echo "rdc bench: kernel $KVER, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "work directory $W" >&2

# ---- rdc ----------------------------------------------------------------
measure "rdc cold" "$SLOW_RUNS" 'rm -rf "$RDC_CACHE_DIR" "$W/rdc.cpio.xz"' "$RDC" build "$MANIFEST" -o "$W/rdc.cpio.xz" ||
	die "rdc build failed"
SIZE["rdc cold"]=$(size_of "$W/rdc.cpio.xz")
sleep 2.1 # past the stat index's racy window, as in any real edit loop
"$RDC" build "$MANIFEST" -o "$W/rdc.cpio.xz" >/dev/null 2>&1
measure "rdc no-op" "$RUNS" ':' "$RDC" build "$MANIFEST" -o "$W/rdc.cpio.xz"
SIZE["rdc no-op"]=$(size_of "$W/rdc.cpio.xz")
edits=0
measure "rdc one-file edit" "$RUNS" 'edits=$((edits + 1)); echo "edit $edits" >> "$BENCH_EDIT"' \
	"$RDC" build "$MANIFEST" -o "$W/rdc.cpio.xz"
SIZE["rdc one-file edit"]=$(size_of "$W/rdc.cpio.xz")

# ---- ldd + cp + cpio + xz -----------------------------------------------
ldd_args=(-k "$KVER" -c "xz -6 --check=crc32" -f "$BENCH_EDIT:/etc/bench-edit")
for m in "${MODS[@]}"; do ldd_args+=(-m "$m"); done
measure "ldd-cp-cpio" "$SLOW_RUNS" ':' "$ROOT/bench/ldd-cp-cpio.sh" -o "$W/ldd.cpio.xz" "${ldd_args[@]}" "${BINS[@]}"
SIZE["ldd-cp-cpio"]=$(size_of "$W/ldd.cpio.xz")

# ---- dracut --------------------------------------------------------------
if command -v dracut >/dev/null 2>&1; then
	measure "dracut" "$SLOW_RUNS" ':' dracut --quiet --no-hostonly -m base --install "${BINS[*]} $BENCH_EDIT" \
		--add-drivers "${MODS[*]}" --kver "$KVER" --force --xz --no-early-microcode "$W/dracut.img"
	SIZE["dracut"]=$(size_of "$W/dracut.img")
else
	NOTE[dracut]="skipped: dracut not installed (apt-get install dracut-core)"
fi

# ---- the same at zstd: what is left when compression is cheap ----------------
measure "rdc cold, zstd" "$SLOW_RUNS" 'rm -rf "$RDC_CACHE_DIR.z" "$W/rdc.cpio.zst"' \
	env RDC_CACHE_DIR="$RDC_CACHE_DIR.z" "$RDC" build "$MANIFEST" -o "$W/rdc.cpio.zst"
SIZE["rdc cold, zstd"]=$(size_of "$W/rdc.cpio.zst")
ldd_args[3]="zstd -3 -q"
measure "ldd-cp-cpio, zstd" "$SLOW_RUNS" ':' "$ROOT/bench/ldd-cp-cpio.sh" -o "$W/ldd.cpio.zst" "${ldd_args[@]}" "${BINS[@]}"
SIZE["ldd-cp-cpio, zstd"]=$(size_of "$W/ldd.cpio.zst")
if command -v dracut >/dev/null 2>&1; then
	measure "dracut, zstd" "$SLOW_RUNS" ':' dracut --quiet --no-hostonly -m base --install "${BINS[*]} $BENCH_EDIT" \
		--add-drivers "${MODS[*]}" --kver "$KVER" --force --zstd --no-early-microcode "$W/dracut.zst.img"
	SIZE["dracut, zstd"]=$(size_of "$W/dracut.zst.img")
fi

# ---- the floor: gen_init_cpio | xz ---------------------------------------
GIC=$W/gen_init_cpio
export W GIC
if tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | head -1) && [ -n "$tarball" ] &&
	tar -xJf "$tarball" -C "$W" --wildcards '*/usr/gen_init_cpio.c' --strip-components=2 &&
	cc -O2 -o "$GIC" "$W/gen_init_cpio.c"; then
	"$RDC" list "$MANIFEST" > "$W/list"
	floor() { "$GIC" -t 0 "$W/list" | xz -6 --check=crc32 > "$W/floor.cpio.xz"; }
	floor_cpio() { "$GIC" -t 0 "$W/list" > "$W/floor.cpio"; }
	measure "floor (gen_init_cpio|xz)" "$SLOW_RUNS" ':' floor
	SIZE["floor (gen_init_cpio|xz)"]=$(size_of "$W/floor.cpio.xz")
	measure "gen_init_cpio alone" "$RUNS" ':' floor_cpio
	SIZE["gen_init_cpio alone"]=$(size_of "$W/floor.cpio")
else
	NOTE["floor (gen_init_cpio|xz)"]="skipped: no /usr/src/linux-source-*.tar.xz (apt-get install linux-source-6.1)"
fi

# ---- closures: rdc deps vs lddtree vs ldd recursion -----------------------
measure "closure: rdc deps cold" "$RUNS" 'rm -rf "$W/dcache"' env RDC_CACHE_DIR="$W/dcache" "$RDC" deps "${BINS[@]}"
measure "closure: rdc deps warm" "$RUNS" ':' env RDC_CACHE_DIR="$W/dcache" "$RDC" deps "${BINS[@]}"
if command -v lddtree >/dev/null 2>&1; then
	# Debian's lddtree is Python (python3-pyelftools): the system's python3
	measure "closure: lddtree" "$RUNS" ':' env PATH=/usr/sbin:/usr/bin:/sbin:/bin lddtree -l "${BINS[@]}"
else
	NOTE["closure: lddtree"]="skipped: no lddtree (apt-get install pax-utils)"
fi
measure "closure: ldd recursion" "$RUNS" ':' "$ROOT/bench/ldd-cp-cpio.sh" --deps "${BINS[@]}"

# ---- peak RSS for a 100 MiB image at zstd ---------------------------------
mkdir -p "$W/big"
for i in $(seq 1 12); do head -c 4194304 /dev/urandom > "$W/big/r$i"; done
ls -S /usr/lib/x86_64-linux-gnu/*.so* /usr/bin/* 2>/dev/null | head -300 | xargs cat 2>/dev/null |
	head -c 54525952 | split -b 4194304 -d - "$W/big/c"
{
	echo "rdc: 1"
	echo "files:"
	for f in "$W"/big/*; do echo "  - {src: $f, dest: /data/${f##*/}}"; done
} > "$W/big.yaml"
measure "100 MiB image, zstd, cold" 1 'rm -rf "$W/bigcache" "$W/big.cpio.zst"' \
	env RDC_CACHE_DIR="$W/bigcache" "$RDC" build "$W/big.yaml" -o "$W/big.cpio.zst"
SIZE["100 MiB image, zstd, cold"]=$(size_of "$W/big.cpio.zst")

# ---- the table -------------------------------------------------------------
cold=${MS["rdc cold"]}
ratio() { [ -n "${MS[$1]:-}" ] && awk -v a="${MS[$1]}" -v b="$2" 'BEGIN { printf "%.3gx", a / b }' || echo -; }
echo
printf '%-28s %12s %10s %12s %14s\n' "" "median ms" "peak KiB" "image bytes" "vs rdc cold"
for name in "rdc cold" "rdc no-op" "rdc one-file edit" "ldd-cp-cpio" "dracut" "floor (gen_init_cpio|xz)" \
	"gen_init_cpio alone" "closure: rdc deps cold" "closure: rdc deps warm" "closure: lddtree" \
	"closure: ldd recursion" "100 MiB image, zstd, cold" "rdc cold, zstd" "ldd-cp-cpio, zstd" "dracut, zstd"; do
	if [ -n "${NOTE[$name]:-}" ]; then
		printf '%-28s %s\n' "$name" "${NOTE[$name]}"
		continue
	fi
	printf '%-28s %12s %10s %12s %14s\n' "$name" "${MS[$name]:--}" "${RSS[$name]:--}" "${SIZE[$name]:--}" \
		"$(ratio "$name" "$cold")"
done
echo "(closures: ratios against rdc deps cold are $(ratio "closure: lddtree" "${MS["closure: rdc deps cold"]}") for lddtree," \
	"$(ratio "closure: ldd recursion" "${MS["closure: rdc deps cold"]}") for ldd recursion)"

# target NAME OK WHAT FIGURE
target() { printf '  %-4s %-52s %s\n' "$([ "$2" = 1 ] && echo met || echo MISS)" "$3" "$4"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }' && echo 1 || echo 0; }
echo
echo "targets:"
target x "$(ge "$(ratio ldd-cp-cpio "$cold" | tr -d x)" 20)" "rdc cold >= 20x faster than ldd-cp-cpio" \
	"$(ratio ldd-cp-cpio "$cold")"
if [ -n "${MS[dracut]:-}" ]; then
	target x "$(ge "$(ratio dracut "$cold" | tr -d x)" 50)" "rdc cold >= 50x faster than dracut" "$(ratio dracut "$cold")"
else
	echo "  -    rdc cold >= 50x faster than dracut                   (dracut skipped)"
fi
target x "$(ge 5 "${MS["rdc no-op"]}")" "rdc no-op <= 5 ms" "${MS["rdc no-op"]} ms"
target x "$(ge "$(awk -v c="$cold" 'BEGIN { print c / 10 }')" "${MS["rdc one-file edit"]}")" \
	"rdc one-file edit at xz <= 10% of cold" \
	"$(awk -v e="${MS["rdc one-file edit"]}" -v c="$cold" 'BEGIN { printf "%.1f%%", 100 * e / c }')"
target x "$(ge 32768 "${RSS["100 MiB image, zstd, cold"]:-999999}")" "peak RSS <= 32 MiB for a 100 MiB image (zstd)" \
	"${RSS["100 MiB image, zstd, cold"]:-?} KiB"
if [ -n "${MS["rdc cold, zstd"]:-}" ]; then
	echo "  at zstd: rdc cold is $(ratio "ldd-cp-cpio, zstd" "${MS["rdc cold, zstd"]}") faster than ldd-cp-cpio" \
		"and $(ratio "dracut, zstd" "${MS["rdc cold, zstd"]}") faster than dracut"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
