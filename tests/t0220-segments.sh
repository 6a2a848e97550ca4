#!/usr/bin/env bash
# Segmented images: each segment is a piece of one compressed stream (an xz
# block, a deflate run, a zstd frame), cached; an edit recompresses only its
# own segment, and the result equals a cold build.
. "$(dirname "$0")/lib.sh"

mkdir -p src
head -c 300000 /bin/busybox > src/big.bin
printf 'v1\n' > src/conf
cat > src/m.yaml <<'YAML'
rdc: 1
dirs: [/proc, /sys]
symlinks: [{path: /bin/sh, target: busybox}]
files:
  - {src: big.bin, dest: /usr/lib/big.bin}
  - {src: conf, dest: /etc/conf}
  - {src: big.bin, dest: /bin/busybox, mode: "0755"}
init:
  exec: /bin/sh
YAML
segs() { ls "$RDC_CACHE_DIR/segments" | grep -v rdc-tmp | wc -l; }

test_expect_success 'a compressed image is several segments: blocks of one xz stream' '
	"$RDC" build src/m.yaml -o a.cpio.xz &&
	xz -t a.cpio.xz &&
	[ "$(xz -lvv a.cpio.xz | grep -E "^ +Blocks: +[0-9]+$" | awk "{print \$2}")" -ge 3 ] &&
	[ "$(segs)" -ge 2 ]
'

test_expect_success 'an edit recompresses only its segment' '
	before=$(segs) &&
	printf "v2\n" > src/conf &&
	"$RDC" build src/m.yaml -o a.cpio.xz &&
	[ "$(segs)" -eq $((before + 1)) ]
'

test_expect_success 'the incremental result equals a cold build' '
	RDC_CACHE_DIR=$PWD/cold "$RDC" build src/m.yaml -o cold.cpio.xz &&
	cmp a.cpio.xz cold.cpio.xz
'

test_expect_success 'reverting the edit gives the first bytes again' '
	cp a.cpio.xz v2.cpio.xz && printf "v1\n" > src/conf &&
	"$RDC" build src/m.yaml -o v1.cpio.xz &&
	RDC_CACHE_DIR=$PWD/cold1 "$RDC" build src/m.yaml -o v1cold.cpio.xz && cmp v1.cpio.xz v1cold.cpio.xz &&
	! cmp -s v1.cpio.xz v2.cpio.xz
'

test_expect_success 'a damaged cached segment is detected and rebuilt, never shipped' '
	for f in "$RDC_CACHE_DIR"/segments/*; do
		flip_byte "$f" 40 || return 1
	done &&
	"$RDC" build src/m.yaml -o fixed.cpio.xz 2>warn &&
	cmp fixed.cpio.xz v1cold.cpio.xz && grep -q damaged warn
'

test_expect_success 'any one damaged segment, first, middle or last: rebuilt with one warning, the bytes of a cold build' '
	printf "rdc: 1\nbinaries: [/usr/bin/true]\ndirs: [/proc]\nfiles:\n  - {src: big.bin, dest: /usr/lib/big.bin}\n" > src/d.yaml &&
	sleep 2.2 && # past the stat index'"'"'s racy window: every segment is then taken from the cache
	RDC_CACHE_DIR=$PWD/one "$RDC" build src/d.yaml -o d-ref.cpio.zst && n=0 &&
	for seg in one/segments/*; do
		rm -rf dmg && cp -a one dmg && flip_byte "dmg/segments/${seg##*/}" 40 && n=$((n + 1)) &&
		RDC_CACHE_DIR=$PWD/dmg "$RDC" build src/d.yaml -o d$n.cpio.zst 2>warn$n &&
		cmp d$n.cpio.zst d-ref.cpio.zst && [ "$(grep -c "segment .*${seg##*/} was damaged" warn$n)" = 1 ] || return 1
	done && [ $n -ge 3 ]
'

test_expect_success '--single-segment gives one stream' '
	"$RDC" build --single-segment src/m.yaml -o one.cpio.zst &&
	[ "$(zstd -qdc one.cpio.zst | grep -c "TRAILER!!!")" -eq 1 ] &&
	[ "$(cpio_tree one.cpio.zst)" = "$(cpio_tree v1cold.cpio.xz)" ]
'

test_expect_success 'an incompressible segment costs about its size (zstd raw blocks), and zstd -t passes' '
	head -c 3000000 /dev/urandom > src/noise &&
	printf "rdc: 1\ndirs: [/d]\nfiles:\n  - {src: noise, dest: /noise}\n  - {dest: /bin/sh, content: x, mode: \"0755\"}\ninit: {exec: /bin/sh}\n" > src/n.yaml &&
	"$RDC" build src/n.yaml -o n.cpio.zst && "$RDC" build src/n.yaml -o n.cpio && zstd -qt n.cpio.zst &&
	[ $(stat -c %s n.cpio.zst) -lt $(( $(stat -c %s n.cpio) + 4096 )) ] &&
	[ "$(cpio_tree n.cpio.zst)" = "$(cpio_tree n.cpio)" ] &&
	cpio_tree n.cpio.zst | grep -q " 3000000 .* noise$"
'

test_expect_success 'a zstd segment past 4 MiB (one big file) is streamed, not held whole: every byte is there' '
	printf "small before\n" > src/a && yes "$(head -c 60 /bin/busybox | base64 -w0)" | head -c 7000000 > src/huge &&
	printf "rdc: 1\nfiles:\n  - {src: a, dest: /f/a}\n  - {src: huge, dest: /f/b}\n  - {src: a, dest: /f/c}\n" > src/h.yaml &&
	"$RDC" build src/h.yaml -o h.cpio.zst && "$RDC" build src/h.yaml -o h.cpio &&
	zstd -qt h.cpio.zst && [ "$(cpio_tree h.cpio.zst)" = "$(cpio_tree h.cpio)" ] &&
	cpio_tree h.cpio.zst | grep -q " 7000000 .* f/b$"
'

test_expect_success 'zstd joined while compressing (-j 2, -j 4) has the bytes of the join at the end (-j 1), cold and after an edit' '
	mkdir -p src/many && for i in $(seq 10 69); do head -c 100000 /dev/urandom > src/many/f$i; done &&
	printf "rdc: 1\nfiles:\n  - {src: many/, dest: /m}\n" > src/many.yaml &&
	RDC_CACHE_DIR=$PWD/j1 "$RDC" build -j 1 src/many.yaml -o j1.cpio.zst &&
	[ "$(ls j1/segments | wc -l)" -ge 4 ] &&
	RDC_CACHE_DIR=$PWD/j2 "$RDC" build -j 2 src/many.yaml -o j2.cpio.zst && cmp j1.cpio.zst j2.cpio.zst &&
	RDC_CACHE_DIR=$PWD/j4 "$RDC" build -j 4 src/many.yaml -o j4.cpio.zst && cmp j1.cpio.zst j4.cpio.zst &&
	head -c 100000 /dev/urandom > src/many/f40 &&
	RDC_CACHE_DIR=$PWD/j2 "$RDC" build -j 2 src/many.yaml -o j2.cpio.zst &&
	RDC_CACHE_DIR=$PWD/j1 "$RDC" build -j 1 src/many.yaml -o j1.cpio.zst && cmp j1.cpio.zst j2.cpio.zst &&
	zstd -qt j2.cpio.zst && cpio_tree j2.cpio.zst | grep -q "$(xxhsum -H128 src/many/f40 2>/dev/null | cut -c1-8)\|m/f40$"
'

test_expect_success 'an image that cannot be written while it is joined: an error, no output, the old one kept' '
	echo old > lim.cpio.zst &&
	limited() { (trap "" XFSZ && ulimit -f 4096 && exec "$@"); } &&
	RDC_CACHE_DIR=$PWD/lim expect_fail 1 limited "$RDC" build -j 2 src/many.yaml -o lim.cpio.zst &&
	grep -q "cannot write the image: File too large" err && [ "$(cat lim.cpio.zst)" = old ] &&
	[ "$(ls -A | grep -c rdc-tmp)" = 0 ]
'

test_done
