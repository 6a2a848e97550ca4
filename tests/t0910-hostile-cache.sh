#!/usr/bin/env bash
# A damaged or hostile cache (issue 18): memos and index lines carry a
# checksum checked on use, so one changed byte is a miss that is rebuilt,
# never shipped, and `rdc cache verify` names it; an index entry naming
# another object is not believed; a FIFO or a /dev/zero-like node planted in
# the cache never hangs a build, `cache verify` or `cache stats`.
. "$(dirname "$0")/lib.sh"

printf 'aaaa\n' > a.txt && printf 'bbbbbbbbbbbbbbbbbbbbbbbb\n' > b.txt
cat > m.yaml <<'YAML'
rdc: 1
binaries: [/bin/true]
files:
  - {src: a.txt, dest: /a}
  - {src: b.txt, dest: /b}
YAML
touch -d '-1 hour' a.txt b.txt # older than the racy window: the index trusts them
xxh64() {
	local bin="$ORACLES/xxh3-64"
	if [ ! -x "$bin" ] || [ "$bin" -ot "$TESTS_DIR/tools/xxh3-64.c" ]; then
		mkdir -p "$ORACLES" && cc -O2 -o "$bin.$$" "$TESTS_DIR/tools/xxh3-64.c" -lxxhash && mv "$bin.$$" "$bin"
	fi
	"$bin"
}
fresh() { rm -rf "$RDC_CACHE_DIR" && "$RDC" build m.yaml -o "${1:-cur.cpio}"; }
with_timeout() { timeout 20 "$@"; local rc=$?; [ $rc -ne 124 ] || echo "hung: $*"; return $rc; }

test_expect_success 'reference image' '
	"$RDC" build m.yaml -o ref.cpio && cpio -it < ref.cpio 2>/dev/null | grep -q "libc.so.6$"
'

test_expect_success 'one byte changed in an ELF memo: cache verify names it, the build ships the right image' '
	fresh && memo=$(ls "$RDC_CACHE_DIR"/memo/elf/*) && sz=$(stat -c %s "$memo") &&
	flip_byte "$memo" $((sz - 10)) &&
	expect_fail 1 "$RDC" cache verify && expect_grep "damaged: $memo" out &&
	fresh && flip_byte "$memo" $((sz - 10)) &&
	"$RDC" build m.yaml -o out.cpio && cmp out.cpio ref.cpio
'

test_expect_success 'a damaged index line is dropped, seen by verify, and the file re-hashed' '
	fresh && ha=$(grep " /.*/a.txt$" "$RDC_CACHE_DIR/index" | cut -d" " -f2) &&
	hb=$(grep " /.*/b.txt$" "$RDC_CACHE_DIR/index" | cut -d" " -f2) &&
	sed -i "s|$ha\(.*/a.txt\)$|$hb\1|" "$RDC_CACHE_DIR/index" &&
	expect_fail 1 "$RDC" cache verify && expect_grep "index: 1 line (dropped)" out &&
	"$RDC" build m.yaml -o out.cpio && cmp out.cpio ref.cpio &&
	fresh && sed -i "s|$ha\(.*/a.txt\)$|$hb\1|" "$RDC_CACHE_DIR/index" &&
	"$RDC" build m.yaml -o out.cpio --format cpio && cmp out.cpio ref.cpio
'

test_expect_success 'an index entry naming another object (checksum forged) ships the right bytes' '
	fresh && idx="$RDC_CACHE_DIR/index" &&
	ha=$(grep " /.*/a.txt$" "$idx" | cut -d" " -f2) && hb=$(grep " /.*/b.txt$" "$idx" | cut -d" " -f2) &&
	line=$(grep " /.*/a.txt$" "$idx" | cut -d" " -f2- | sed "s|^$ha|$hb|") &&
	sum=$(printf %s "$line" | xxh64) &&
	{ grep -v " /.*/a.txt$" "$idx"; echo "$sum $line"; } > idx.new && cp idx.new "$idx" &&
	expect_fail 1 "$RDC" cache verify && expect_grep "the entry for .*a.txt names" out &&
	fresh && { grep -v " /.*/a.txt$" "$idx"; echo "$sum $line"; } > idx.new && cp idx.new "$idx" &&
	"$RDC" build m.yaml -o out.cpio && cmp out.cpio ref.cpio
'

test_expect_success 'a FIFO planted as an object: build, cache stats and verify do not hang' '
	fresh && o=$("$RDC" list m.yaml | awk "\$2 == \"/a\" { print \$3 }") && rm -f "$o" && mkfifo "$o" &&
	with_timeout "$RDC" build m.yaml -o out.cpio && cmp out.cpio ref.cpio &&
	rm -f "$o" && mkfifo "$o" && with_timeout "$RDC" cache stats >stats &&
	{ with_timeout "$RDC" cache verify >v; test $? = 1; } && expect_grep "damaged: $o" v && test ! -p "$o"
'

test_expect_success 'a FIFO as a segment, a zero device as a memo or the index: no hang, right image' '
	fresh cur.cpio.zst && cp cur.cpio.zst ref.cpio.zst && s=$(ls "$RDC_CACHE_DIR"/segments/* | head -1) &&
	rm -f "$s" && mkfifo "$s" && with_timeout "$RDC" build m.yaml -o out.cpio.zst && cmp out.cpio.zst ref.cpio.zst &&
	memo=$(ls "$RDC_CACHE_DIR"/memo/elf/*) && rm -f "$memo" && mknod "$memo" c 1 5 &&
	with_timeout "$RDC" build m.yaml -o out.cpio && cmp out.cpio ref.cpio &&
	rm -f "$RDC_CACHE_DIR/index" && mknod "$RDC_CACHE_DIR/index" c 1 5 &&
	with_timeout "$RDC" build m.yaml -o out.cpio && cmp out.cpio ref.cpio && test -f "$RDC_CACHE_DIR/index" &&
	memo=$(ls "$RDC_CACHE_DIR"/memo/elf/*) && rm -f "$memo" && ln -s /dev/zero "$memo" &&
	{ with_timeout "$RDC" cache verify >v; test $? = 1; } && expect_grep "damaged: $memo" v
'

test_expect_success 'a cache path with a space: rdc list says so instead of writing a broken list' '
	RDC_CACHE_DIR="$PWD/with space" expect_fail 1 "$RDC" list m.yaml &&
	expect_grep "has a space in its path" err && ! grep -q "^file " out
'

test_done
