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
#   rdc cold / no-op / one-file edit   the edit loop at xz -6: an empty cache,
#                 nothing changed, one file edited (recompresses its segment)
#   rdc warm remote     an empty local cache and a warm remote storage (nginx
#                 WebDAV on 127.0.0.1, filled by one build): a CI runner's
#                 first build once another runner has built the same content
#   cold, same output   rdc, bench/ldd-cp-cpio.sh (ldd recursion + cp + cpio,
#                 make-tiny-image.py's method), dracut --no-hostonly -m base
#                 (skipped when absent) and the floor (the kernel's
#                 gen_init_cpio archiving `rdc list`: writing these bytes
#                 once, nothing resolved), each writing an uncompressed cpio
#                 (what make-tiny-image.py writes), then zstd -3, then xz -6,
#                 the same compressor command and all cores for every tool
#   closures      rdc deps vs lddtree vs ldd recursion
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
stop_nginx() { [ -s "$W/ng/nginx.pid" ] && kill "$(cat "$W/ng/nginx.pid")" 2>/dev/null; rm -f "$W/ng/nginx.pid"; }
trap 'stop_nginx; rm -rf "$W"' EXIT
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

# A WebDAV store on a free loopback port: one build fills it, then every run
# starts from an empty local cache.
start_nginx() {
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
	mkdir -p "$W/ng/store"
	cat > "$W/ng/conf" <<NGINX
$([ "$(id -u)" -eq 0 ] && echo 'user root;')
events { worker_connections 64; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port;
    location / { root $W/ng/store; dav_methods PUT; create_full_put_path on; client_max_body_size 0; }
  }
}
NGINX
	nginx -p "$W/ng" -e "$W/ng/err" -c "$W/ng/conf" -g "daemon off; pid $W/ng/pid; error_log $W/ng/err;" >/dev/null 2>&1 &
	echo $! > "$W/ng/nginx.pid"
	REMOTE="http://127.0.0.1:$port/rdc|connect-timeout=2000"
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0; sleep 0.1; done
	return 1
}
if command -v nginx >/dev/null && command -v python3 >/dev/null && start_nginx; then
	RDC_CACHE_DIR=$W/rfill RDC_REMOTE_STORAGE=$REMOTE "$RDC" build "$MANIFEST" -o "$W/rdc-remote.cpio.xz" >/dev/null 2>&1
	measure "rdc warm remote" "$RUNS" 'rm -rf "$W/rcache" "$W/rdc-remote.cpio.xz"' \
		env RDC_CACHE_DIR="$W/rcache" RDC_REMOTE_STORAGE="$REMOTE" "$RDC" build "$MANIFEST" -o "$W/rdc-remote.cpio.xz"
	SIZE["rdc warm remote"]=$(size_of "$W/rdc-remote.cpio.xz")
	cmp -s "$W/rdc-remote.cpio.xz" "$W/rdc.cpio.xz" || NOTE["rdc warm remote"]="differs from the local build"
	stop_nginx
else
	NOTE["rdc warm remote"]="skipped (needs nginx-light and python3)"
fi

# ---- cold builds at equal output ----------------------------------------
# Each tool writes the same kind of image with the same compressor command,
# given all cores (-T0) as rdc uses them: "none" is the archive
# make-tiny-image.py itself writes; zstd -3 and xz -6 add the compression
# every tool pays alike.  The ratio that a tool can change is the one at none.
ALGOS=(none zstd xz)
declare -A LEVEL=([none]=0 [zstd]=3 [xz]=6) CMD=([none]=cat [zstd]="zstd -3 -T0 -q" [xz]="xz -6 -T0 --check=crc32")
have_dracut=0
command -v dracut >/dev/null 2>&1 && have_dracut=1
for a in "${ALGOS[@]}"; do
	if [ "$a" = none ]; then comp="compression: none"; else comp="compression: {algo: $a, level: ${LEVEL[$a]}}"; fi
	sed "s/^  compression: .*/  $comp/" "$MANIFEST" > "$W/bench-$a.yaml"
	measure "rdc cold, $a" "$SLOW_RUNS" "rm -rf '$W/cache-$a' '$W/rdc-$a.img'" \
		env RDC_CACHE_DIR="$W/cache-$a" "$RDC" build "$W/bench-$a.yaml" -o "$W/rdc-$a.img" || die "rdc build failed"
	SIZE["rdc cold, $a"]=$(size_of "$W/rdc-$a.img")
	ldd_args=(-k "$KVER" -c "${CMD[$a]}" -f "$BENCH_EDIT:/etc/bench-edit")
	for m in "${MODS[@]}"; do ldd_args+=(-m "$m"); done
	measure "ldd-cp-cpio, $a" "$SLOW_RUNS" ':' "$ROOT/bench/ldd-cp-cpio.sh" -o "$W/ldd-$a.img" "${ldd_args[@]}" "${BINS[@]}"
	SIZE["ldd-cp-cpio, $a"]=$(size_of "$W/ldd-$a.img")
	if [ $have_dracut = 1 ]; then
		if [ "$a" = none ]; then dc=(--no-compress); else dc=(--compress "${CMD[$a]}"); fi
		measure "dracut, $a" "$SLOW_RUNS" ':' dracut --quiet --no-hostonly -m base --install "${BINS[*]} $BENCH_EDIT" \
			--add-drivers "${MODS[*]}" --kver "$KVER" --force "${dc[@]}" --no-early-microcode "$W/dracut-$a.img"
		SIZE["dracut, $a"]=$(size_of "$W/dracut-$a.img")
	else
		NOTE["dracut, $a"]="skipped: dracut not installed (apt-get install dracut-core)"
	fi
done

# ---- the floor: gen_init_cpio [| compressor] -------------------------------
GIC=$W/gen_init_cpio
export W GIC
if tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | head -1) && [ -n "$tarball" ] &&
	tar -xJf "$tarball" -C "$W" --wildcards '*/usr/gen_init_cpio.c' --strip-components=2 &&
	cc -O2 -o "$GIC" "$W/gen_init_cpio.c"; then
	"$RDC" list "$MANIFEST" > "$W/list"
	for a in "${ALGOS[@]}"; do
		export FLOOR_CMD="${CMD[$a]}"
		floor() { "$GIC" -t 0 "$W/list" | $FLOOR_CMD > "$W/floor.img"; }
		measure "floor, $a" "$SLOW_RUNS" ':' floor
		SIZE["floor, $a"]=$(size_of "$W/floor.img")
	done
else
	for a in "${ALGOS[@]}"; do
		NOTE["floor, $a"]="skipped: no /usr/src/linux-source-*.tar.xz (apt-get install linux-source-6.1)"
	done
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
row() { # row NAME BASE: one line of the table, the ratio against MS[BASE]
	if [ -n "${NOTE[$1]:-}" ]; then
		printf '%-28s %s\n' "$1" "${NOTE[$1]}"
	else
		printf '%-28s %12s %10s %12s %10s\n' "$1" "${MS[$1]:--}" "${RSS[$1]:--}" "${SIZE[$1]:--}" \
			"$( [ -n "$2" ] && ratio "$1" "${MS[$2]:-1}" || echo)"
	fi
}
echo
printf '%-28s %12s %10s %12s %10s\n' "" "median ms" "peak KiB" "image bytes" "vs rdc"
echo "edit loop, xz -6:"
for name in "rdc cold" "rdc no-op" "rdc one-file edit" "rdc warm remote"; do row "$name" "rdc cold"; done
for a in "${ALGOS[@]}"; do
	echo "cold, same output ($a):"
	for t in "rdc cold" ldd-cp-cpio dracut floor; do row "$t, $a" "rdc cold, $a"; done
done
echo "closures of the five binaries:"
for name in "closure: rdc deps cold" "closure: rdc deps warm" "closure: lddtree" "closure: ldd recursion"; do
	row "$name" "closure: rdc deps cold"
done
row "100 MiB image, zstd, cold" ""

# target OK WHAT FIGURE
target() { printf '  %-4s %-52s %s\n' "$([ "$1" = 1 ] && echo met || echo MISS)" "$2" "$3"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }' && echo 1 || echo 0; }
echo
echo "targets:"
for a in "${ALGOS[@]}"; do
	r=$(ratio "ldd-cp-cpio, $a" "${MS["rdc cold, $a"]}")
	target "$(ge "${r%x}" 20)" "rdc cold >= 20x faster than ldd-cp-cpio ($a)" "$r"
	if [ $have_dracut = 1 ]; then
		r=$(ratio "dracut, $a" "${MS["rdc cold, $a"]}")
		target "$(ge "${r%x}" 50)" "rdc cold >= 50x faster than dracut ($a)" "$r"
	fi
done
target "$(ge 5 "${MS["rdc no-op"]}")" "rdc no-op <= 5 ms" "${MS["rdc no-op"]} ms"
target "$(ge "$(awk -v c="$cold" 'BEGIN { print c / 10 }')" "${MS["rdc one-file edit"]}")" \
	"rdc one-file edit at xz <= 10% of cold" \
	"$(awk -v e="${MS["rdc one-file edit"]}" -v c="$cold" 'BEGIN { printf "%.1f%%", 100 * e / c }')"
[ -n "${MS["rdc warm remote"]:-}" ] &&
	target "$(ge "$(awk -v c="$cold" 'BEGIN { print c / 10 }')" "${MS["rdc warm remote"]}")" \
		"rdc warm remote (empty local cache) <= 10% of cold" \
		"$(awk -v e="${MS["rdc warm remote"]}" -v c="$cold" 'BEGIN { printf "%.1f%%", 100 * e / c }')"
target "$(ge 32768 "${RSS["100 MiB image, zstd, cold"]:-999999}")" "peak RSS <= 32 MiB for a 100 MiB image (zstd)" \
	"${RSS["100 MiB image, zstd, cold"]:-?} KiB"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
