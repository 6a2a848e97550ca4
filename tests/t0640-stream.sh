#!/usr/bin/env bash
# An uncompressed image streams its sources straight in, hashing them on the
# way (the stat index learns the hashes): a cold build copies no input into
# the cache, gives the bytes a warm build and gen_init_cpio give, and a
# source that changes while it is read is an error, never an image.
. "$(dirname "$0")/lib.sh"

mkdir -p src
head -c 3000000 /dev/urandom > src/big
printf 'small\n' > src/small.txt
cat > src/m.yaml <<'YAML'
rdc: 1
binaries: [/usr/bin/busybox]
files:
  - {src: big, dest: /data/big}
  - {src: small.txt, dest: /etc/small.txt}
  - {dest: /etc/hostname, content: "stream\n"}
YAML
sleep 2.2 # past the stat index's racy window
objects() { find "$RDC_CACHE_DIR/objects" -type f | wc -l; }

test_expect_success 'a cold uncompressed build copies no input into the cache' '
	"$RDC" build src/m.yaml -o cold.cpio &&
	[ "$(objects)" = 1 ] && [ "$(du -sk "$RDC_CACHE_DIR" | cut -f1)" -lt 1000 ] &&
	expect_grep "src/big$" "$RDC_CACHE_DIR/index"
'

test_expect_success 'streamed cold build == warm build == gen_init_cpio of rdc list' '
	rm cold.cpio && rm -rf "$RDC_CACHE_DIR" && "$RDC" build src/m.yaml -o cold.cpio &&
	"$RDC" build src/m.yaml -o warm.cpio && cmp cold.cpio warm.cpio &&
	strace -f -qq -e trace=openat -o warm.trace "$RDC" build src/m.yaml -o warm2.cpio && cmp cold.cpio warm2.cpio &&
	grep -q "src/big" warm.trace && [ "$(grep -c "/objects/" warm.trace)" = 1 ] &&
	"$RDC" list src/m.yaml > l && gen_init_cpio -t 0 l > gic.cpio && cmp cold.cpio gic.cpio &&
	RDC_CACHE_DIR=$PWD/c2 "$RDC" build src/m.yaml -o m.cpio.zst && RDC_CACHE_DIR=$PWD/c2 "$RDC" build src/m.yaml -o m2.cpio &&
	cmp m2.cpio cold.cpio && [ "$(cpio_tree m.cpio.zst | md5sum)" = "$(cpio_tree cold.cpio | md5sum)" ]
'

test_expect_success 'a no-op rebuild after a streamed cold build leaves the output alone' '
	sleep 2.2 && rm -rf "$RDC_CACHE_DIR" && "$RDC" build src/m.yaml -o noop.cpio && before=$(stat -c %i:%Y noop.cpio) &&
	"$RDC" build -v src/m.yaml -o noop.cpio 2> err && expect_grep unchanged err &&
	[ "$(stat -c %i:%Y noop.cpio)" = "$before" ]
'

# Enough bytes for several runs of entries, each written in place by a worker:
# odd sizes (padding), names of every length mod 4, links, a node and
# directories between the files.
mkdir -p par/d1 par/d22 par/d333
for i in 1 2 3 4 5; do head -c $((1700000 + i * 333333 + i)) /dev/urandom > par/f$i || exit 1; done
cat > src/par.yaml <<'YAML'
rdc: 1
files:
  - {src: ../par/f1, dest: /a/f1}
  - {src: ../par/f2, dest: /a/bb/f22}
  - {src: ../par/f3, dest: /c/ccc/f333}
  - {src: ../par/f4, dest: /d/f4444}
  - {src: ../par/f5, dest: /e/x/y/f5}
  - {dest: /b/hello, content: "odd\n"}
symlinks:
  - {path: /b/link, target: ../a/f1}
nodes:
  - {path: /dev/console, type: c, major: 5, minor: 1}
dirs: [/c/empty, /e/x/z]
YAML

test_expect_success 'an image written in place by two workers (-j 2) is gen_init_cpio'"'"'s, byte for byte' '
	rm -rf "$RDC_CACHE_DIR" && strace -f -qq -e trace=pwrite64 -o par.trace "$RDC" build -j 2 src/par.yaml -o two.cpio &&
	[ "$(awk "/pwrite64/ { print \$1 }" par.trace | sort -u | wc -l)" -ge 2 ] &&
	"$RDC" list src/par.yaml > par.list && gen_init_cpio -t 0 par.list > par-gic.cpio && cmp two.cpio par-gic.cpio
'

test_expect_success 'the same bytes written by one worker (-j 1), and warm' '
	rm -rf "$RDC_CACHE_DIR" && "$RDC" build -j 1 src/par.yaml -o one.cpio && cmp one.cpio par-gic.cpio &&
	rm two.cpio && "$RDC" build -j 2 src/par.yaml -o two.cpio && cmp two.cpio par-gic.cpio
'

if strace -f -qq -o /dev/null -e trace=openat -e inject=openat:delay_enter=1 true 2>/dev/null; then
# slow FILE CALL N CMD...: CMD with its Nth CALL (read, openat) on FILE held 3 s
slow() {
	local file=$1 call=$2 n=$3
	shift 3
	strace -f -qq -o /dev/null -P "$file" -e trace="$call" -e inject="$call":delay_enter=3000000:when=$n "$@"
}
test_expect_success 'a source edited while a cold build reads it: an error at its line, no output' '
	rm -rf "$RDC_CACHE_DIR" && cp cold.cpio prev.cpio &&
	{ slow "$PWD/src/big" read 2 "$RDC" build src/m.yaml -o prev.cpio >/dev/null 2> race.err & pid=$!; } &&
	sleep 1.5 && printf "EDITED" | dd of=src/big bs=1 seek=2500000 conv=notrunc 2>/dev/null &&
	{ wait $pid; rc=$?; } && cat race.err && [ "$rc" = 1 ] &&
	expect_grep "m.yaml:4:5: error: .*src/big changed while rdc was reading it" race.err &&
	cmp prev.cpio cold.cpio && ! ls prev.cpio.* 2>/dev/null
'

test_expect_success 'a source of a later run edited while two workers write: an error at its line, no output' '
	rm -rf "$RDC_CACHE_DIR" && cp par-gic.cpio prev2.cpio &&
	{ slow "$PWD/par/f5" read 2 "$RDC" build -j 2 src/par.yaml -o prev2.cpio >/dev/null 2> race3.err & pid=$!; } &&
	sleep 1.5 && printf "EDITED" | dd of=par/f5 bs=1 seek=100 conv=notrunc 2>/dev/null &&
	{ wait $pid; rc=$?; } && cat race3.err && [ "$rc" = 1 ] &&
	expect_grep "par.yaml:7:5: error: .*par/f5 changed while rdc was reading it" race3.err &&
	[ "$(grep -c error: race3.err)" = 1 ] && cmp prev2.cpio par-gic.cpio && ! ls prev2.cpio.* 2>/dev/null
'

test_expect_success 'after the edit settles, the build has the new bytes' '
	sleep 2.2 && "$RDC" build src/m.yaml -o new.cpio && RDC_CACHE_DIR=$PWD/c3 "$RDC" build src/m.yaml -o new-ref.cpio &&
	cmp new.cpio new-ref.cpio && ! cmp -s new.cpio cold.cpio
'

test_expect_success 'a source the index knows, edited before it is streamed (same size and mtime): its new bytes' '
	sleep 2.2 && "$RDC" build src/m.yaml -o known.cpio && rm known.cpio &&
	{ slow "$PWD/src/big" openat 1 "$RDC" build src/m.yaml -o known.cpio >/dev/null 2> race2.err & pid=$!; } &&
	sleep 1.5 && cp -p src/big big.keep && printf "AGAIN!" | dd of=src/big bs=1 seek=100 conv=notrunc 2>/dev/null &&
	touch -r big.keep src/big && wait $pid && RDC_CACHE_DIR=$PWD/c4 "$RDC" build src/m.yaml -o known-ref.cpio &&
	cmp known.cpio known-ref.cpio && ! grep -q error race2.err &&
	"$RDC" build src/m.yaml -o known.cpio.zst && RDC_CACHE_DIR=$PWD/c4 "$RDC" build src/m.yaml -o known-ref.cpio.zst &&
	cmp known.cpio.zst known-ref.cpio.zst
'

else
test_skip 'sources edited while a build reads them' 'strace cannot inject delays'
fi

test_done
