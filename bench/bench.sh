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
#   whole kernel  an image of every module of $KVER (a manifest generated
#                 from modules.order): rdc cold / warm (output removed) /
#                 no-op against the floor; mkinitramfs, dracut and the ldd
#                 method once each (BENCH_KERNEL_PEERS=0 skips them); zstd -3
#                 cold against one zstd stream / cores, and zstd's own
#                 all-cores mode (-T cores) on the same bytes for reference;
#                 xz -6 likewise with BENCH_KERNEL_XZ=1 (minutes of
#                 compression: off by default)
#   mkinitramfs   Debian's initramfs-tools with a private config dir (-d):
#                 MODULES=list, a hook that copy_execs the binaries, the same
#                 compressor (COMPRESS/COMPRESSLEVEL); it has no uncompressed
#                 mode, so it is measured at zstd -3 and xz -6 only
#   listing       rdc ls (and --long) vs lsinitramfs, lsinitrd and bare
#                 decompression of the same image (xz and zstd)
#
# Times are the median of BENCH_RUNS runs (5; BENCH_SLOW_RUNS=3 for the slow
# ones), from bash's EPOCHREALTIME; peak RSS from /usr/bin/time -f %M.  The
# machine's load average is printed: other work on it skews the figures.
# Every timed run's (untimed) setup ends with `sync`, for every tool alike
# (rdc, the peers and the floor): without it the previous run's dirty pages
# (402 MB at the whole kernel) are written back during the next timed run and
# compete with it — a whole-kernel rdc cold measured 520 ms unsynced, 270 ms
# synced.
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

# measure NAME RUNS SETUP CMD...: SETUP (a shell snippet, untimed) and a
# sync (the write-back of earlier runs is no run's cost) then CMD, RUNS
# times; the median wall time in ms goes to MS[NAME].  One more run under
# /usr/bin/time gives the peak RSS (kept out of the timed runs: fork and exec
# of time(1) would show in the millisecond figures).
measure() {
	local name=$1 runs=$2 setup=$3
	shift 3
	local i t0 t1 times=()
	for ((i = 0; i < runs; i++)); do
		eval "$setup"
		sync
		t0=$(now_us)
		"$@" >/dev/null 2>"$W/err" || {
			local rc=$?
			# timeout(1): 124 stopped by SIGTERM, 137 by the SIGKILL after it
			{ [ $rc = 124 ] || [ $rc = 137 ]; } && NOTE[$name]="over ${PEER_TIMEOUT}s (stopped)" && return 1
			cat "$W/err" >&2
			NOTE[$name]="failed"
			return 1
		}
		t1=$(now_us)
		times+=($(( (t1 - t0) )))
	done
	MS[$name]=$(printf '%s\n' "${times[@]}" | median | awk '{ printf "%.1f", $1 / 1000 }')
	[ "${NO_RSS:-0}" = 1 ] || peak_rss "$name" "$setup" "$@" # a slow peer: its memory is not what is measured
	printf '  %-22s %10s ms  (median of %d)\n' "$name" "${MS[$name]}" "$runs" >&2
}

# peak_rss NAME SETUP CMD...: one more run, under /usr/bin/time, for RSS[NAME]
peak_rss() {
	local name=$1 setup=$2
	shift 2
	eval "$setup"
	sync
	if declare -F "$1" >/dev/null; then # a shell function: time(1) runs it in bash
		/usr/bin/time -o "$W/rss" -f %M bash -c "$(declare -f "$1"); $*" >/dev/null 2>&1
	else
		/usr/bin/time -o "$W/rss" -f %M "$@" >/dev/null 2>&1
	fi && RSS[$name]=$(tail -1 "$W/rss")
}

# interleave RUNS NAME SETUP FN [NAME SETUP FN]...: the shell functions in
# turns, RUNS times each, so that all meet the same machine (page cache,
# load, write-back): the ratio of two of them is a target, and on this
# machine one command alone swings 2x between minutes (the kernel's floor ran
# 220-520 ms).  Medians to MS, peak RSS as measure() takes it.
interleave() {
	local runs=$1 i j t0 n
	shift
	local -A times=()
	for ((i = 0; i < runs; i++)); do
		for ((j = 1; j <= $#; j += 3)); do
			n=${!j}
			eval "${@:j+1:1}"
			sync
			t0=$(now_us)
			"${@:j+2:1}" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; NOTE[$n]="failed"; return 1; }
			times[$n]+="$(( $(now_us) - t0 )) "
		done
	done
	for ((j = 1; j <= $#; j += 3)); do
		n=${!j}
		MS[$n]=$(printf '%s\n' ${times[$n]} | median | awk '{ printf "%.1f", $1 / 1000 }')
		peak_rss "$n" "${@:j+1:1}" "${@:j+2:1}"
		printf '  %-22s %10s ms  (median of %d, in turns with the others)\n' "$n" "${MS[$n]}" "$runs" >&2
	done
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
# warm_remote NAME RUNS MANIFEST LOCAL: one build with its own cache fills
# the remote; then each run has an empty local cache.  The image must be
# LOCAL's bytes.
warm_remote() {
	local name=$1 runs=$2 man=$3 ref=$4 out=$W/remote-out.${4##*/}
	if [ -z "${REMOTE:-}" ]; then
		NOTE[$name]="skipped (needs nginx-light and python3)"
		return
	fi
	RDC_CACHE_DIR=$W/rfill RDC_REMOTE_STORAGE=$REMOTE "$RDC" build "$man" -o "$out" >/dev/null 2>&1
	rm -rf "$W/rfill"
	measure "$name" "$runs" "rm -rf '$W/rcache' '$out'" \
		env RDC_CACHE_DIR="$W/rcache" RDC_REMOTE_STORAGE="$REMOTE" "$RDC" build "$man" -o "$out"
	SIZE[$name]=$(size_of "$out")
	cmp -s "$out" "$ref" || NOTE[$name]="differs from the local build!"
	rm -rf "$W/rcache" "$out"
}
command -v nginx >/dev/null && command -v python3 >/dev/null && start_nginx || REMOTE=
warm_remote "rdc warm remote" "$RUNS" "$MANIFEST" "$W/rdc.cpio.xz"

# ---- mkinitramfs: Debian's generator, at equal output ----------------------
# mkinit_conf DIR ALGO MODULE...: a private initramfs-tools config dir (the
# machine's /etc/initramfs-tools is not touched): MODULES=list with these
# modules, the bench's binaries through a copy_exec hook (none with
# MKINIT_NO_BINS=1), the compressor ALGO at the bench's level.
have_mkinit=0
command -v mkinitramfs >/dev/null 2>&1 && [ -d /etc/initramfs-tools ] && have_mkinit=1
mkinit_conf() {
	local dir=$1 algo=$2
	shift 2
	rm -rf "$dir" && mkdir -p "$dir/hooks" "$dir/conf.d" "$dir/scripts" && cp /etc/initramfs-tools/initramfs.conf "$dir/" &&
		sed -i "s/^MODULES=.*/MODULES=list/; s/^COMPRESS=.*/COMPRESS=$([ "$algo" = xz ] && echo xz || echo zstd)/" \
			"$dir/initramfs.conf" &&
		echo "COMPRESSLEVEL=${LEVEL[$algo]:-3}" >> "$dir/initramfs.conf" && printf '%s\n' "$@" > "$dir/modules" || return 1
	[ "${MKINIT_NO_BINS:-0}" = 1 ] && return 0
	{
		echo '#!/bin/sh'
		echo '[ "$1" = prereqs ] && exit 0'
		echo '. /usr/share/initramfs-tools/hook-functions'
		echo "for b in ${BINS[*]} $BENCH_EDIT; do copy_exec \"\$b\" /bin; done"
	} > "$dir/hooks/rdc-bench" && chmod +x "$dir/hooks/rdc-bench"
}
# mkinitramfs has no uncompressed mode (an unknown COMPRESS falls back to
# gzip, and it sets its own PATH): it is measured at zstd -3 and xz -6 only.
mkinit() { # mkinit DIR ALGO OUT
	TMPDIR=$W mkinitramfs -d "$1" -o "$3" "$KVER"
}

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
		measure "dracut, $a" "$SLOW_RUNS" ':' dracut --quiet --tmpdir "$W" --no-hostonly -m base --install "${BINS[*]} $BENCH_EDIT" \
			--add-drivers "${MODS[*]}" --kver "$KVER" --force "${dc[@]}" --no-early-microcode "$W/dracut-$a.img"
		SIZE["dracut, $a"]=$(size_of "$W/dracut-$a.img")
	else
		NOTE["dracut, $a"]="skipped: dracut not installed (apt-get install dracut-core)"
	fi
	if [ "$a" = none ]; then
		NOTE["mkinitramfs, $a"]="no uncompressed mode (see zstd)"
	elif [ $have_mkinit = 1 ] && mkinit_conf "$W/mkinit-$a" "$a" "${MODS[@]}"; then
		measure "mkinitramfs, $a" "$SLOW_RUNS" ':' mkinit "$W/mkinit-$a" "$a" "$W/mkinit-$a.img"
		SIZE["mkinitramfs, $a"]=$(size_of "$W/mkinit-$a.img")
	else
		NOTE["mkinitramfs, $a"]="skipped: no mkinitramfs (apt-get install initramfs-tools)"
	fi
done
# warm: the cache kept, the output removed (every hash known, every byte
# streamed again from its source)
measure "rdc warm, none" "$RUNS" "rm -f '$W/rdc-none.img'" \
	env RDC_CACHE_DIR="$W/cache-none" "$RDC" build "$W/bench-none.yaml" -o "$W/rdc-none.img"

# ---- the floor: gen_init_cpio [| compressor] -------------------------------
GIC=$W/gen_init_cpio
export W GIC
if tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | head -1) && [ -n "$tarball" ] &&
	tar -xJf "$tarball" -C "$W" --wildcards '*/usr/gen_init_cpio.c' --strip-components=2 &&
	cc -O2 -o "$GIC" "$W/gen_init_cpio.c"; then
	"$RDC" list "$W/bench-none.yaml" > "$W/list" # a list names plain files: the manifest without compression
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

# ---- listing an image: rdc ls vs lsinitramfs, lsinitrd, bare decompression --
# The segmented xz image of the edit loop and the zstd one of the cold
# builds; the floor is decompressing it (to nowhere), nothing listed.
LS_IMGS=("$W/rdc.cpio.xz" "$W/rdc-zstd.img")
LS_CAT=(xzcat zstdcat)
for i in 0 1; do
	img=${LS_IMGS[$i]} z=${LS_CAT[$i]%cat}
	[ -s "$img" ] || continue
	measure "ls $z: rdc ls" "$RUNS" ':' "$RDC" ls "$img"
	measure "ls $z: rdc ls --long" "$RUNS" ':' "$RDC" ls --long "$img"
	if command -v lsinitramfs >/dev/null 2>&1; then
		measure "ls $z: lsinitramfs" "$SLOW_RUNS" ':' lsinitramfs "$img"
	else
		NOTE["ls $z: lsinitramfs"]="skipped: apt-get install initramfs-tools-core"
	fi
	if command -v lsinitrd >/dev/null 2>&1; then
		measure "ls $z: lsinitrd" "$SLOW_RUNS" ':' lsinitrd "$img"
	else
		NOTE["ls $z: lsinitrd"]="skipped: apt-get install dracut-core"
	fi
	measure "ls $z: ${LS_CAT[$i]}" "$RUNS" ':' "${LS_CAT[$i]}" "$img"
done

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

# ---- the whole kernel: every module of $KVER --------------------------------
KMAN=$W/kernel.yaml
NKMODS=$(wc -l < "/lib/modules/$KVER/modules.order")
{
	echo "rdc: 1"
	echo 'kernel: {version: "${KVER}"}'
	echo "kmods:"
	sed 's|.*/||; s|\.ko.*$||; s|^|  - |' "/lib/modules/$KVER/modules.order"
} > "$KMAN"
KENV=(env RDC_CACHE_DIR="$W/kcache")
export RDC KMAN # the timed functions run in bash -c too, under time(1) for their RSS
kcold() { env RDC_CACHE_DIR="$W/kcache" "$RDC" build "$KMAN" -o "$W/k.cpio"; }
if [ -x "$GIC" ]; then # cold and the floor in turns: their ratio is the target
	RDC_CACHE_DIR=$W/klcache "$RDC" list "$KMAN" > "$W/klist" 2>/dev/null # its own cache: cold runs empty kcache
	kfloor() { "$GIC" -t 0 "$W/klist" > "$W/kfloor.cpio"; }
	interleave "$RUNS" "kernel: rdc cold" 'rm -rf "$W/kcache" "$W/k.cpio"' kcold "kernel: floor" 'rm -f "$W/kfloor.cpio"' kfloor ||
		die "rdc build of the whole kernel failed"
	SIZE["kernel: floor"]=$(size_of "$W/kfloor.cpio")
	cmp -s "$W/kfloor.cpio" "$W/k.cpio" || NOTE["kernel: rdc cold"]="differs from the floor's bytes!"
else
	measure "kernel: rdc cold" "$SLOW_RUNS" 'rm -rf "$W/kcache" "$W/k.cpio"' kcold || die "rdc build of the whole kernel failed"
fi
SIZE["kernel: rdc cold"]=$(size_of "$W/k.cpio")
measure "kernel: rdc warm" "$RUNS" 'rm -f "$W/k.cpio"' "${KENV[@]}" "$RDC" build "$KMAN" -o "$W/k.cpio"
sleep 2.1 # past the racy window: the no-op trusts every index entry
"${KENV[@]}" "$RDC" build "$KMAN" -o "$W/k.cpio" >/dev/null 2>&1
measure "kernel: rdc no-op" "$RUNS" ':' "${KENV[@]}" "$RDC" build "$KMAN" -o "$W/k.cpio"
# The peers take minutes here (mkinitramfs copies and depmods 4,000 modules
# through shell functions): one run each, stopped after PEER_TIMEOUT.
PEER_TIMEOUT=${BENCH_PEER_TIMEOUT:-120}
if [ "${BENCH_KERNEL_PEERS:-1}" = 1 ]; then
	mapfile -t KMODS < <(sed 's|.*/||; s|\.ko.*$||' "/lib/modules/$KVER/modules.order")
	if [ $have_mkinit = 1 ] && MKINIT_NO_BINS=1 mkinit_conf "$W/kmkinit" zstd "${KMODS[@]}"; then
		# at zstd -3 (it has no plain mode): an upper bound of its uncompressed time
		NO_RSS=1 measure "kernel: mkinitramfs" 1 ':' timeout -k 5 "$PEER_TIMEOUT" env TMPDIR="$W" \
			mkinitramfs -d "$W/kmkinit" -o "$W/kmkinit.img" "$KVER"
		SIZE["kernel: mkinitramfs"]=$(size_of "$W/kmkinit.img")
	fi
	if [ $have_dracut = 1 ]; then
		NO_RSS=1 measure "kernel: dracut" 1 ':' timeout -k 5 "$PEER_TIMEOUT" dracut --quiet --tmpdir "$W" --no-hostonly -m base \
			--add-drivers "${KMODS[*]}" --kver "$KVER" --force --no-compress --no-early-microcode "$W/kdracut.img"
		SIZE["kernel: dracut"]=$(size_of "$W/kdracut.img")
	fi
	kldd=(-k "$KVER" -c cat)
	for m in "${KMODS[@]}"; do kldd+=(-m "$m"); done
	NO_RSS=1 measure "kernel: ldd-cp-cpio" 1 ':' timeout -k 5 "$PEER_TIMEOUT" "$ROOT/bench/ldd-cp-cpio.sh" \
		-o "$W/kldd.img" "${kldd[@]}"
	SIZE["kernel: ldd-cp-cpio"]=$(size_of "$W/kldd.img")
fi
# Compressed at this size the work is the compressor's: rdc's segments
# compress on all cores, against one stream of the same bytes / cores.
NCPU=$(nproc)
sed 's/^rdc: 1$/rdc: 1\noutput: {compression: {algo: zstd, level: 3}}/' "$KMAN" > "$W/kernel-zstd.yaml"
kzcold() { env RDC_CACHE_DIR="$W/kzcache" "$RDC" build "$W/kernel-zstd.yaml" -o "$W/k.cpio.zst"; }
if [ -s "$W/kfloor.cpio" ]; then
	kz1() { zstd -3 -T1 -q -c "$W/kfloor.cpio" > "$W/kz1.zst"; }
	# the compressor's own parallel mode on the same bytes and cores: what
	# the target above asks of rdc, asked of zstd itself (a reference row)
	kzn() { zstd -3 -T"$NCPU" -q -c "$W/kfloor.cpio" > "$W/kzn.zst"; }
	# a ratio target on a machine whose speed swings: the pair in RUNS turns, not SLOW_RUNS
	interleave "$RUNS" "kernel: rdc cold, zstd" 'rm -rf "$W/kzcache" "$W/k.cpio.zst"' kzcold \
		"kernel: zstd -3, one stream" ':' kz1 "kernel: zstd -3 -T$NCPU" ':' kzn
	SIZE["kernel: zstd -3, one stream"]=$(size_of "$W/kz1.zst")
	SIZE["kernel: zstd -3 -T$NCPU"]=$(size_of "$W/kzn.zst")
else
	measure "kernel: rdc cold, zstd" 1 'rm -rf "$W/kzcache" "$W/k.cpio.zst"' kzcold
fi
SIZE["kernel: rdc cold, zstd"]=$(size_of "$W/k.cpio.zst")
warm_remote "kernel: rdc warm remote, zstd" 1 "$W/kernel-zstd.yaml" "$W/k.cpio.zst"
if [ "${BENCH_KERNEL_XZ:-0}" = 1 ] && [ -s "$W/kfloor.cpio" ]; then
	sed 's/^rdc: 1$/rdc: 1\noutput: {compression: {algo: xz, level: 6}}/' "$KMAN" > "$W/kernel-xz.yaml"
	measure "kernel: rdc cold, xz" 1 'rm -rf "$W/kxcache" "$W/k.cpio.xz"' env RDC_CACHE_DIR="$W/kxcache" \
		"$RDC" build "$W/kernel-xz.yaml" -o "$W/k.cpio.xz"
	warm_remote "kernel: rdc warm remote, xz" 1 "$W/kernel-xz.yaml" "$W/k.cpio.xz"
	kx1() { xz -6 -T1 --check=crc32 -c "$W/kfloor.cpio" > "$W/kx1.xz"; }
	measure "kernel: xz -6, one stream" 1 ':' kx1
	kxn() { xz -6 -T"$NCPU" --check=crc32 -c "$W/kfloor.cpio" > "$W/kxn.xz"; }
	measure "kernel: xz -6 -T$NCPU" 1 ':' kxn
fi

# ---- the table -------------------------------------------------------------
cold=${MS["rdc cold"]}
ratio() { [ -n "${MS[$1]:-}" ] && [ -n "${2:-}" ] && awk -v a="${MS[$1]}" -v b="$2" 'BEGIN { printf "%.3gx", a / b }' || echo -; }
row() { # row NAME RDC FLOOR: one line of the table, its ratios against MS[RDC] and MS[FLOOR]
	if [ -n "${NOTE[$1]:-}" ]; then
		printf '%-30s %s\n' "$1" "${NOTE[$1]}"
	else
		printf '%-30s %11s %9s %12s %9s %9s\n' "$1" "${MS[$1]:--}" "${RSS[$1]:--}" "${SIZE[$1]:--}" \
			"$( [ -n "$2" ] && ratio "$1" "${MS[$2]:-}" || echo)" "$( [ -n "${3:-}" ] && ratio "$1" "${MS[$3]:-}" || echo)"
	fi
}
echo
printf '%-30s %11s %9s %12s %9s %9s\n' "" "median ms" "peak KiB" "image bytes" "vs rdc" "vs floor"
echo "edit loop, xz -6:"
for name in "rdc cold" "rdc no-op" "rdc one-file edit" "rdc warm remote"; do row "$name" "rdc cold"; done
for a in "${ALGOS[@]}"; do
	echo "cold, same output ($a):"
	for t in "rdc cold" ldd-cp-cpio dracut mkinitramfs floor; do row "$t, $a" "rdc cold, $a" "floor, $a"; done
	[ "$a" = none ] && row "rdc warm, none" "rdc cold, none" "floor, none"
done
echo "the whole kernel: $NKMODS modules of $KVER, uncompressed:"
for t in "rdc cold" "rdc warm" "rdc no-op" mkinitramfs dracut ldd-cp-cpio floor; do
	row "kernel: $t" "kernel: rdc cold" "kernel: floor"
done
echo "the whole kernel, compressed (vs floor: against one compressor stream):"
row "kernel: rdc cold, zstd" "kernel: rdc cold, zstd" "kernel: zstd -3, one stream"
row "kernel: zstd -3, one stream" "kernel: rdc cold, zstd" ""
row "kernel: zstd -3 -T$NCPU" "kernel: rdc cold, zstd" "kernel: zstd -3, one stream"
row "kernel: rdc warm remote, zstd" "kernel: rdc cold, zstd" ""
if [ -n "${MS["kernel: rdc cold, xz"]:-}" ]; then
	row "kernel: rdc cold, xz" "kernel: rdc cold, xz" "kernel: xz -6, one stream"
	row "kernel: rdc warm remote, xz" "kernel: rdc cold, xz" ""
	row "kernel: xz -6, one stream" "kernel: rdc cold, xz" ""
	row "kernel: xz -6 -T$NCPU" "kernel: rdc cold, xz" "kernel: xz -6, one stream"
fi
echo "closures of the five binaries:"
for name in "closure: rdc deps cold" "closure: rdc deps warm" "closure: lddtree" "closure: ldd recursion"; do
	row "$name" "closure: rdc deps cold"
done
row "100 MiB image, zstd, cold" ""
for z in xz zstd; do
	echo "listing the $z image:"
	for t in "rdc ls" "rdc ls --long" lsinitramfs lsinitrd ${z}cat; do row "ls $z: $t" "ls $z: rdc ls"; done
done

# target OK WHAT FIGURE
target() { printf '  %-4s %-60s %s\n' "$([ "$1" = 1 ] && echo met || echo MISS)" "$2" "$3"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }' && echo 1 || echo 0; }
at_most() { # at_most NAME BASE FACTOR WHAT: MS[NAME] <= FACTOR * MS[BASE]
	local r
	r=$(ratio "$1" "${MS[$2]:-}")
	target "$(ge "$3" "${r%x}")" "$4" "$r"
}
echo
echo "targets:"
at_most "rdc cold, none" "floor, none" 1.5 "rdc cold <= 1.5x the floor (bench content, uncompressed)"
at_most "kernel: rdc cold" "kernel: floor" 1.5 "rdc cold <= 1.5x the floor (whole kernel)"
at_most "rdc warm, none" "floor, none" 1.2 "rdc warm <= 1.2x the floor (bench content)"
at_most "kernel: rdc warm" "kernel: floor" 1.2 "rdc warm <= 1.2x the floor (whole kernel)"
target "$(ge 5 "${MS["rdc no-op"]}")" "rdc no-op <= 5 ms (bench content)" "${MS["rdc no-op"]} ms"
target "$(ge 20 "${MS["kernel: rdc no-op"]:-999}")" "rdc no-op <= 20 ms (whole kernel)" "${MS["kernel: rdc no-op"]:-?} ms"
target "$(ge "$(awk -v c="$cold" 'BEGIN { print c / 100 }')" "${MS["rdc one-file edit"]}")" \
	"rdc one-file edit at xz <= 1% of cold" \
	"$(awk -v e="${MS["rdc one-file edit"]}" -v c="$cold" 'BEGIN { printf "%.2f%%", 100 * e / c }')"
target "$(ge 32768 "${RSS["kernel: rdc cold"]:-999999}")" "peak RSS <= 32 MiB, whole kernel uncompressed" \
	"${RSS["kernel: rdc cold"]:-?} KiB"
target "$(ge 32768 "${RSS["rdc cold, none"]:-999999}")" "peak RSS <= 32 MiB, bench content uncompressed" \
	"${RSS["rdc cold, none"]:-?} KiB"
if [ -n "${MS["kernel: zstd -3, one stream"]:-}" ]; then
	MS["kernel: zstd / cores"]=$(awk -v t="${MS["kernel: zstd -3, one stream"]}" -v n="$NCPU" 'BEGIN { print t / n }')
	at_most "kernel: rdc cold, zstd" "kernel: zstd / cores" 1.2 "whole kernel zstd cold <= 1.2x (one zstd stream / $NCPU cores)"
	[ -n "${MS["kernel: zstd -3 -T$NCPU"]:-}" ] && printf '  %-4s %-60s %s\n' "" "zstd -3 -T$NCPU itself, against one zstd stream / $NCPU cores" \
		"$(ratio "kernel: zstd -3 -T$NCPU" "${MS["kernel: zstd / cores"]}")"
fi
if [ -n "${MS["kernel: xz -6, one stream"]:-}" ]; then
	MS["kernel: xz / cores"]=$(awk -v t="${MS["kernel: xz -6, one stream"]}" -v n="$NCPU" 'BEGIN { print t / n }')
	at_most "kernel: rdc cold, xz" "kernel: xz / cores" 1.2 "whole kernel xz cold <= 1.2x (one xz stream / $NCPU cores)"
	[ -n "${MS["kernel: xz -6 -T$NCPU"]:-}" ] && printf '  %-4s %-60s %s\n' "" "xz -6 -T$NCPU itself, against one xz stream / $NCPU cores" \
		"$(ratio "kernel: xz -6 -T$NCPU" "${MS["kernel: xz / cores"]}")"
fi
for a in "${ALGOS[@]}"; do # the peers, for the record
	for t in ldd-cp-cpio dracut mkinitramfs; do
		[ -n "${MS["$t, $a"]:-}" ] && printf '  %-4s %-60s %s\n' "" "$t / rdc cold ($a)" "$(ratio "$t, $a" "${MS["rdc cold, $a"]}")"
	done
done
[ -n "${MS["rdc warm remote"]:-}" ] &&
	target "$(ge "$(awk -v c="$cold" 'BEGIN { print c / 10 }')" "${MS["rdc warm remote"]}")" \
		"rdc warm remote (empty local cache) <= 10% of cold" \
		"$(awk -v e="${MS["rdc warm remote"]}" -v c="$cold" 'BEGIN { printf "%.1f%%", 100 * e / c }')"
target "$(ge 32768 "${RSS["100 MiB image, zstd, cold"]:-999999}")" "peak RSS <= 32 MiB for a 100 MiB image (zstd)" \
	"${RSS["100 MiB image, zstd, cold"]:-?} KiB"

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
