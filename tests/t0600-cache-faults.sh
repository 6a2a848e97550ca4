#!/usr/bin/env bash
# The cache under damage: a flipped byte in an object or a segment never
# reaches an image (images read sources; lists restore objects first); `rdc cache verify` names what is
# damaged; cold, warm and incremental caches give the same bytes; a no-op
# rebuild touches nothing; `rdc cache gc` keeps what current sources use.
. "$(dirname "$0")/lib.sh"

mkdir -p src
printf 'alpha v1\n' > src/a.txt
head -c 1500000 /bin/busybox > src/bin.part
head -c 400000 /dev/urandom > src/noise
cat > src/m.yaml <<'YAML'
rdc: 1
dirs: [/proc, /sys]
symlinks: [{path: /bin/sh, target: busybox}]
files:
  - {src: a.txt, dest: /etc/a.txt}
  - {src: bin.part, dest: /usr/lib/bin.part}
  - {src: noise, dest: /var/noise}
  - {dest: /etc/hostname, content: "faults\n"}
YAML
# A second manifest with its own sources, for gc.
mkdir -p other
printf 'only in other\n' > other/o.txt
head -c 300000 /dev/urandom > other/o.bin
cat > other/o.yaml <<'YAML'
rdc: 1
files:
  - {src: o.txt, dest: /o.txt}
  - {src: o.bin, dest: /o.bin}
YAML
# Sources older than the cache's racy window (2 s), so the stat index trusts
# them from the first build on.
sleep 2.2

# obj MANIFEST DEST: the cache object holding DEST's content (from `rdc list`)
obj() { "$RDC" list "$1" | awk -v d="$2" '$1 == "file" && $2 == d { print $3 }'; }
nosegs() { rm -f "$RDC_CACHE_DIR"/segments/*; }
cold() { RDC_CACHE_DIR=$(mktemp -d "$PWD/cold.XXXXXX") "$RDC" build "$@"; }

test_expect_success 'references: cold builds in fresh caches' '
	cold src/m.yaml -o ref.cpio.zst && cold src/m.yaml -o ref.cpio &&
	"$RDC" build src/m.yaml -o out.cpio.zst && cmp out.cpio.zst ref.cpio.zst &&
	"$RDC" cache verify >verify.out
'

# (d) verify
test_expect_success 'cache verify exits 0 on a clean cache' '
	"$RDC" cache verify >v 2>verr && ! grep -q damaged v verr
'

test_expect_success 'cache verify exits non-zero and names a damaged object' '
	o=$(obj src/m.yaml /usr/lib/bin.part) && test -f "$o" &&
	flip_byte "$o" 1000 &&
	expect_fail 1 "$RDC" cache verify && expect_grep "damaged: $o" out &&
	"$RDC" cache verify
'

test_expect_success 'cache verify exits non-zero and names a damaged segment' '
	s=$(ls "$RDC_CACHE_DIR"/segments/* | head -1) && test -f "$s" &&
	flip_byte "$s" 20 &&
	expect_fail 1 "$RDC" cache verify && expect_grep "damaged: $s" out &&
	"$RDC" cache verify
'

test_expect_success 'cache verify notices a truncated segment and a truncated object' '
	s=$(ls -S "$RDC_CACHE_DIR"/segments/* | head -1) && chmod u+w "$s" && truncate -s -1 "$s" &&
	o=$(obj src/m.yaml /var/noise) && chmod u+w "$o" && truncate -s 10 "$o" &&
	expect_fail 1 "$RDC" cache verify && expect_grep "damaged: $s" out && expect_grep "damaged: $o" out &&
	"$RDC" cache verify
'

test_expect_success 'after verify removed damage, a build gives the reference bytes' '
	"$RDC" build src/m.yaml -o after-verify.cpio.zst && cmp after-verify.cpio.zst ref.cpio.zst &&
	"$RDC" build src/m.yaml -o after-verify.cpio && cmp after-verify.cpio ref.cpio &&
	"$RDC" cache verify
'

# (c) a flipped byte in an object.  Images stream their files from the
# sources (objects only back lists and inline content), so a damaged object
# never reaches an image; a list restores it before naming it.
test_expect_success 'a damaged object does not reach a compressed image; a list restores it, with a warning' '
	o=$(obj src/m.yaml /usr/lib/bin.part) &&
	flip_byte "$o" 77 && nosegs &&
	"$RDC" build src/m.yaml -o fixed.cpio.zst && cmp fixed.cpio.zst ref.cpio.zst &&
	"$RDC" list src/m.yaml > fixed.list 2>warn && expect_grep restored warn &&
	"$RDC" cache verify
'

test_expect_success 'a damaged object does not reach an uncompressed image' '
	o=$(obj src/m.yaml /etc/a.txt) &&
	flip_byte "$o" 0 &&
	"$RDC" build src/m.yaml -o fixed2.cpio && cmp fixed2.cpio ref.cpio &&
	"$RDC" list src/m.yaml > l2 2>warn && expect_grep restored warn &&
	gen_init_cpio -t 0 l2 > fromlist.cpio && cmp fromlist.cpio ref.cpio
'

test_expect_success 'a damaged object whose segment is cached is not needed: right bytes' '
	o=$(obj src/m.yaml /var/noise) &&
	flip_byte "$o" 5 &&
	"$RDC" build src/m.yaml -o seg-cached.cpio.zst && cmp seg-cached.cpio.zst ref.cpio.zst &&
	"$RDC" build src/m.yaml -o seg-cached.cpio && cmp seg-cached.cpio ref.cpio &&
	"$RDC" list src/m.yaml >/dev/null 2>warn && expect_grep restored warn
'

test_expect_success 'a damaged object and a source edited before the build: the new bytes, right' '
	o=$(obj src/m.yaml /etc/a.txt) && flip_byte "$o" 2 && nosegs &&
	printf "alpha v2\n" > src/a.txt &&
	"$RDC" build src/m.yaml -o edited.cpio.zst &&
	cold src/m.yaml -o edited-ref.cpio.zst && cmp edited.cpio.zst edited-ref.cpio.zst &&
	printf "alpha v1\n" > src/a.txt
'

# A source is read while its segment is compressed; strace holds one of its
# reads for a few seconds, long enough to edit it in between: the segment
# must not be kept, nor the image written.
if test_have strace && strace -f -qq -o /dev/null -e trace=openat -e inject=openat:delay_enter=1 true 2>/dev/null; then
test_expect_success 'a source edited while its segment is compressed: an error, no output written' '
	sleep 2.2 && "$RDC" build src/m.yaml -o warm.cpio.zst && cmp warm.cpio.zst ref.cpio.zst && nosegs &&
	cp ref.cpio.zst prev.cpio.zst && before=$(stat -c %i:%Y:%s prev.cpio.zst) &&
	{ strace -f -qq -o /dev/null -P "$PWD/src/bin.part" -e trace=read -e inject=read:delay_enter=4000000:when=2 \
		"$RDC" build src/m.yaml -o prev.cpio.zst >/dev/null 2>race.err & pid=$!; } &&
	sleep 2 && printf XX | dd of=src/bin.part bs=1 seek=1400000 conv=notrunc 2>/dev/null && { wait $pid; rc=$?; } &&
	cat race.err && [ "$rc" -eq 1 ] && expect_grep "bin.part changed while rdc was reading it" race.err &&
	[ "$(stat -c %i:%Y:%s prev.cpio.zst)" = "$before" ] && cmp prev.cpio.zst ref.cpio.zst &&
	! ls prev.cpio.zst.rdc-tmp.* 2>/dev/null && ! ls "$RDC_CACHE_DIR"/segments/*.rdc-tmp.* 2>/dev/null &&
	head -c 1500000 /bin/busybox > src/bin.part
'
else
test_skip 'a source edited while its segment is compressed: an error, no output written' 'strace cannot inject delays'
fi

test_expect_success 'after the race the cache recovers: the reference bytes again' '
	"$RDC" build src/m.yaml -o recovered.cpio.zst && cmp recovered.cpio.zst ref.cpio.zst
'

# Inline content has no source to restore from: the build must fail rather
# than ship it, and the next build must work (the damaged object goes away).
test_expect_success 'a damaged inline-content object: never shipped, and the next build recovers' '
	o=$(obj src/m.yaml /etc/hostname) && flip_byte "$o" 0 && nosegs &&
	expect_fail 1 "$RDC" build src/m.yaml -o inline.cpio.zst && ! test -e inline.cpio.zst &&
	"$RDC" build src/m.yaml -o inline.cpio.zst && cmp inline.cpio.zst ref.cpio.zst
'
"$RDC" cache verify >/dev/null 2>&1 # whatever the last test left, start clean

# (e) cold, warm, incremental
for fmt in cpio cpio.gz cpio.zst cpio.xz cpio.lz4; do
test_expect_success "$fmt: cold, warm and incremental caches give the same bytes" '
	rm -rf ccold && RDC_CACHE_DIR=$PWD/ccold "$RDC" build src/m.yaml -o e-cold.'$fmt' &&
	RDC_CACHE_DIR=$PWD/ccold "$RDC" build src/m.yaml -o e-warm.'$fmt' && cmp e-cold.'$fmt' e-warm.'$fmt' &&
	printf "alpha v0 (an older version)\n" > src/a.txt &&
	rm -rf cinc && RDC_CACHE_DIR=$PWD/cinc "$RDC" build src/m.yaml -o e-old.'$fmt' &&
	printf "alpha v1\n" > src/a.txt &&
	RDC_CACHE_DIR=$PWD/cinc "$RDC" build src/m.yaml -o e-old.'$fmt' && cmp e-cold.'$fmt' e-old.'$fmt' &&
	RDC_CACHE_DIR=$PWD/cinc "$RDC" build -j 1 src/m.yaml -o e-inc1.'$fmt' && cmp e-cold.'$fmt' e-inc1.'$fmt'
'
done

# (f) no-op
test_expect_success 'a no-op rebuild leaves the output untouched (inode and mtime)' '
	sleep 2.2 && "$RDC" build src/m.yaml -o noop.cpio.xz && before=$(stat -c %i:%Y:%Z noop.cpio.xz) &&
	sleep 1.1 && "$RDC" build -v src/m.yaml -o noop.cpio.xz 2>noop.err &&
	[ "$(stat -c %i:%Y:%Z noop.cpio.xz)" = "$before" ] && expect_grep unchanged noop.err &&
	touch src/a.txt && "$RDC" build src/m.yaml -o noop.cpio.xz &&
	[ "$(stat -c %i:%Y:%Z noop.cpio.xz)" = "$before" ]
'

test_expect_success 'a replaced output is noticed and rebuilt' '
	cp ref.cpio noop.cpio.xz && "$RDC" build src/m.yaml -o noop.cpio.xz &&
	cold src/m.yaml -o noop-ref.cpio.xz && cmp noop.cpio.xz noop-ref.cpio.xz
'

if test_have strace; then
test_expect_success 'a no-op build opens no source file' '
	sleep 2.2 && "$RDC" build src/m.yaml -o noop.cpio.xz &&
	strace -f -qq -e trace=openat,open -o trace "$RDC" build src/m.yaml -o noop.cpio.xz &&
	grep -q "src/m.yaml" trace &&
	! grep -E "a\.txt|bin\.part|noise|/objects/|/segments/" trace
'
else
test_skip 'a no-op build opens no source file' 'no strace'
fi

# (g) gc
test_expect_success 'cache gc drops the objects of removed sources and keeps the live ones' '
	"$RDC" build other/o.yaml -o other.cpio.zst &&
	oo=$(obj other/o.yaml /o.bin) && ot=$(obj other/o.yaml /o.txt) &&
	mo=$(obj src/m.yaml /usr/lib/bin.part) && mn=$(obj src/m.yaml /var/noise) && ma=$(obj src/m.yaml /etc/a.txt) &&
	test -f "$oo" && test -f "$ot" && rm -rf other &&
	"$RDC" cache gc >gc.out && cat gc.out &&
	! test -e "$oo" && ! test -e "$ot" && test -f "$mo" && test -f "$mn" && test -f "$ma" &&
	"$RDC" cache verify
'

test_expect_success 'after gc a build still gives the reference bytes' '
	"$RDC" build src/m.yaml -o after-gc.cpio.zst && cmp after-gc.cpio.zst ref.cpio.zst &&
	nosegs && "$RDC" build src/m.yaml -o after-gc2.cpio.zst && cmp after-gc2.cpio.zst ref.cpio.zst &&
	"$RDC" build src/m.yaml -o after-gc.cpio && cmp after-gc.cpio ref.cpio
'

# A cache that cannot take a source's bytes (here: a 1 KiB file size limit,
# SIGXFSZ ignored so that write(2) says EFBIG) fails at the manifest line
# that named the source, once, with the cache's reason.
test_expect_success 'a source or inline content the cache cannot store is an error at its manifest line, once' '
	mkdir -p lim && head -c 100000 /dev/urandom > lim/big &&
	printf "rdc: 1\ndirs: [/d]\nfiles:\n  - {src: big, dest: /big}\n" > lim/src.yaml &&
	printf "rdc: 1\nfiles:\n  - {dest: /inline, content: \"%s\"}\n" "$(head -c 3000 /dev/zero | tr "\\0" x)" > lim/inline.yaml &&
	(trap "" XFSZ && ulimit -f 1 && RDC_CACHE_DIR=$PWD/lim/c expect_fail 1 "$RDC" list lim/src.yaml) &&
	expect_grep "^lim/src.yaml:4:5: error: cannot store .*lim/big in the cache: File too large" err &&
	[ "$(grep -c error: err)" = 1 ] &&
	(trap "" XFSZ && ulimit -f 1 && RDC_CACHE_DIR=$PWD/lim/c expect_fail 1 "$RDC" list lim/inline.yaml) &&
	expect_grep "^lim/inline.yaml:3:5: error: cannot store /inline in the cache: File too large" err &&
	[ "$(grep -c error: err)" = 1 ]
'

test_done
