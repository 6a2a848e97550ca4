# tests/lib.sh — the test library every tNNNN-*.sh sources (git's t/test-lib.sh
# in miniature).  Each test runs in a fresh trash directory with its own
# cache; one behaviour per test_expect_success.
set -u
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$TESTS_DIR/.." && pwd)
RDC=${RDC:-$ROOT/build/rdc}
name=$(basename "$0" .sh)
TRASH="$TESTS_DIR/trash.$name"
rm -rf "$TRASH" && mkdir -p "$TRASH" && cd "$TRASH" || exit 1
export RDC_CACHE_DIR="$TRASH/.cache"
# Remote storage only where a test asks for it: not the user's settings.
unset RDC_REMOTE_STORAGE
export XDG_CONFIG_HOME="$TRASH/.config"
export SOURCE_DATE_EPOCH=
unset SOURCE_DATE_EPOCH
export LC_ALL=C
test_count=0 test_failed=0
ORACLES="$TESTS_DIR/.work"   # built oracles (gen_init_cpio), shared between tests

# test_expect_success 'what the user sees' 'commands'
# The body is first checked for a broken && chain (chainlint.awk), then run
# in a subshell with set -e, in a function so that `|| return 1` works.  The
# subshell's status is read on the next line, never tested by if/&&/||:
# bash ignores set -e in any command whose status is being tested, however
# deep, which made every unchained line of a body unchecked.
test_expect_success() {
	test_count=$((test_count + 1))
	local log="$TRASH.log" rc lint
	lint=$(printf '%s\n' "$2" | awk -f "$TESTS_DIR/chainlint.awk")
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "not ok $test_count - $1"
		echo "# broken && chain (tests/chainlint.awk):"
		echo "$lint" | sed 's/^/#   /'
		test_failed=$((test_failed + 1))
		return 0
	fi
	# A probe: in a context whose status is tested, set -e would be dead
	# in the body too.
	(set -e; false; true)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "not ok $test_count - $1"
		echo "# test_expect_success is called where its status is tested (if, &&, ||): set -e would not work"
		test_failed=$((test_failed + 1))
		return 0
	fi
	test_code_=$2
	(
		set -e
		test_cleanup_=
		trap test_cleanup_run_ EXIT
		test_body_() { eval "$test_code_"; }
		test_body_
	) >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok $test_count - $1"
	else
		echo "not ok $test_count - $1 (status $rc)"
		tail -30 "$log" | sed 's/^/#   /'
		test_failed=$((test_failed + 1))
	fi
	rm -f "$log"
	return 0
}
# test_when_finished 'commands': run them when the test ends, passed or
# failed (git's), e.g. to restore a file the test changes for later tests.
# A cleanup that fails fails the test.
test_when_finished() { test_cleanup_="{ $*
} && $test_cleanup_"; }
test_cleanup_run_() {
	local rc=$?
	[ -n "$test_cleanup_" ] || return 0
	set +e
	eval "$test_cleanup_ :" || { echo "test_when_finished: the cleanup failed"; [ "$rc" -ne 0 ] || rc=1; }
	exit "$rc"
}
test_skip() { test_count=$((test_count + 1)); echo "skip $test_count - $1 ($2)"; }
# A test that needs a command or file: test_have CMD || skip
test_have() { command -v "$1" >/dev/null 2>&1; }
test_done() { rm -rf "$TRASH" "$TRASH.log"; [ "$test_failed" -eq 0 ]; }

# expect_fail STATUS cmd...: runs cmd, requires that exact exit status;
# its stderr is left in ./err
expect_fail() {
	local want=$1; shift
	"$@" >out 2>err && { echo "expected status $want, got 0"; cat err; return 1; }
	local rc=$?
	[ "$rc" -eq "$want" ] || { echo "expected status $want, got $rc"; cat err; return 1; }
}
# grep with a message on failure
expect_grep() { grep -q -- "$1" "$2" || { echo "'$1' not found in $2:"; cat "$2"; return 1; }; }

# The installed kernel release (Debian's linux-image-amd64), for manifests
# that say version: ${KVER}.
KVER=$(ls /lib/modules 2>/dev/null | grep -- '-amd64$' | sort -V | tail -1)
export KVER

# cpio_tree IMAGE: a normalised, sorted listing of an image's tree (mode uid
# gid rdev size content-hash name), reading every segment of a segmented
# image; built from tests/tools/cpio-ls.c, which shares no code with rdc.
cpio_tree() {
	local f=$1 bin="$ORACLES/cpio-ls"
	if [ ! -x "$bin" ] || [ "$bin" -ot "$TESTS_DIR/tools/cpio-ls.c" ]; then
		mkdir -p "$ORACLES"
		cc -O2 -o "$bin.$$" "$TESTS_DIR/tools/cpio-ls.c" -lz -llzma -lzstd -llz4 && mv "$bin.$$" "$bin"
	fi
	"$bin" < "$f" | sort
}

# gen_init_cpio from the kernel's own source (linux-source-6.1), built once.
gen_init_cpio() {
	local bin="$ORACLES/gen_init_cpio"
	if [ ! -x "$bin" ]; then
		mkdir -p "$ORACLES"
		local tarball
		tarball=$(ls /usr/src/linux-source-*.tar.xz | head -1)
		tar -xJf "$tarball" -C "$ORACLES" --wildcards '*/usr/gen_init_cpio.c' --strip-components=2
		cc -O2 -o "$bin.$$" "$ORACLES/gen_init_cpio.c" && mv "$bin.$$" "$bin"
	fi
	"$bin" "$@"
}

# flip_byte FILE OFFSET: invert one byte in place (damage that always changes it)
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	chmod u+w "$1"
	printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# LeakSanitizer cannot run under ptrace: a sanitized rdc traced by strace
# keeps every other check but leak detection.
strace() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" command strace "$@"; }

# A sanitized build (make check SANITIZE=1 or =thread) measures memory that
# the sanitizer adds, and cannot run under ulimit -v.
rdc_sanitized() { case "$RDC" in *build-san/* | *build-tsan/*) return 0 ;; esac; return 1; }

# peer_image mkinitramfs|dracut: the path of an image that tool made for
# $KVER (small: MODULES=list / no kernel), built once and kept with the
# other slow setup; fails when the tool or the kernel is missing.
peer_image() {
	local dir=/var/cache/rdc-tests/peer-images/$KVER img
	img=$dir/$1.img
	[ -n "$KVER" ] && test_have "$1" || return 1
	if [ ! -s "$img" ]; then
		mkdir -p "$dir" || return 1
		case $1 in
		mkinitramfs)
			rm -rf "$dir/conf" && cp -r /etc/initramfs-tools "$dir/conf" &&
			sed -i "s/^MODULES=.*/MODULES=list/; s/^COMPRESS=.*/COMPRESS=gzip/" "$dir/conf/initramfs.conf" &&
			mkinitramfs -d "$dir/conf" -o "$img.tmp" "$KVER" >/dev/null 2>&1 ;;
		dracut)
			dracut --no-hostonly --no-kernel -m base --compress=zstd --force "$img.tmp" "$KVER" >/dev/null 2>&1 ;;
		esac && mv "$img.tmp" "$img" || return 1
	fi
	echo "$img"
}
