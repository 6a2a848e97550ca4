#!/usr/bin/env bash
# Several rdc processes on one cache at once: the same bytes as serial builds
# in fresh caches, and a cache that verifies clean afterwards.
. "$(dirname "$0")/lib.sh"

# Six manifests sharing some sources (the same objects and, for equal
# entries, the same segments are written by several processes at once) and
# each with sources of its own.
mkdir -p src
head -c 2000000 /bin/busybox > src/shared.bin
head -c 1000000 /dev/urandom > src/shared.noise
printf 'shared\n' > src/shared.txt
N=6
for i in $(seq 1 $N); do
	head -c $((300000 * i)) /dev/urandom > src/own$i.noise
	{ cat src/shared.txt; seq 1 $((20000 * i)); } > src/own$i.txt
	algo=$(echo "xz zstd gzip xz zstd xz" | cut -d" " -f$i)
	cat > src/m$i.yaml <<YAML
rdc: 1
dirs: [/proc, /sys, /m$i]
symlinks: [{path: /bin/sh, target: busybox}]
files:
  - {src: shared.bin, dest: /usr/lib/shared.bin}
  - {src: shared.noise, dest: /usr/share/shared.noise}
  - {src: shared.txt, dest: /etc/shared.txt}
  - {src: own$i.noise, dest: /m$i/noise}
  - {src: own$i.txt, dest: /m$i/text}
  - {dest: /etc/hostname, content: "m$i\n"}
output: {path: ../m$i.cpio.$( [ $algo = gzip ] && echo gz || echo $algo ), compression: {algo: $algo, level: 1}}
YAML
done
out_of() { sed -n 's/^output: {path: \.\.\/\([^,]*\),.*/\1/p' src/m$1.yaml; }
ext_of() { out_of $1 | cut -d. -f2-; } # cpio.xz ...

# build_all PREFIX [ARGS]: every manifest at once on the shared cache, into
# PREFIX<i>.<ext>; fails (showing their errors) if any build does.
build_all() {
	local prefix=$1 pids="" fails=0 i p
	shift
	for i in $(seq 1 $N); do
		RDC_CACHE_DIR=$PWD/shared-cache "$RDC" build "$@" src/m$i.yaml -o $prefix$i.$(ext_of $i) 2>err$i &
		pids="$pids $!"
	done
	for p in $pids; do wait $p || fails=$((fails + 1)); done
	[ $fails -eq 0 ] || { cat err*; return 1; }
}
# same_as_refs PREFIX: each PREFIX<i> image equals the serial reference
same_as_refs() {
	local i
	for i in $(seq 1 $N); do cmp ref$i.$(ext_of $i) $1$i.$(ext_of $i) || return 1; done
}

test_expect_success 'serial references, each in a fresh cache' '
	for i in $(seq 1 $N); do
		RDC_CACHE_DIR=$PWD/ref$i "$RDC" build src/m$i.yaml -o ref$i.$(ext_of $i) || exit 1
	done
'

for round in 1 2 3; do
test_expect_success "round $round: $N concurrent builds on one cold cache equal the serial ones" '
	rm -rf shared-cache && build_all c -j 2 && same_as_refs c &&
	RDC_CACHE_DIR=$PWD/shared-cache "$RDC" cache verify >/dev/null
'
done

test_expect_success 'concurrent builds with a warm shared cache equal the serial ones' '
	build_all w && same_as_refs w
'

test_expect_success 'four builds of one manifest to one output at once: the right bytes, no leftovers' '
	rm -rf shared-cache &&
	for k in 1 2 3 4; do
		RDC_CACHE_DIR=$PWD/shared-cache "$RDC" build src/m1.yaml -o same.cpio.xz &
	done &&
	for p in $(jobs -p); do wait $p || exit 1; done &&
	cmp same.cpio.xz ref1.cpio.xz && ! ls same.cpio.xz.rdc-tmp.* 2>/dev/null &&
	RDC_CACHE_DIR=$PWD/shared-cache "$RDC" cache verify >/dev/null
'

test_expect_success 'concurrent builds while the stat index is rewritten keep later builds right' '
	for i in $(seq 1 $N); do printf "edited %s\n" $i >> src/own$i.txt; done &&
	build_all e &&
	for i in $(seq 1 $N); do
		f=e$i.$(ext_of $i) &&
		RDC_CACHE_DIR=$PWD/fresh$i "$RDC" build src/m$i.yaml -o fresh-$f && cmp $f fresh-$f || exit 1
	done
'

# Two overlapping builds to one output: B renames its image into place, A
# renames its own over it and records it, then B records the output as
# current.  B's next build must not call A's image "unchanged".  strace holds
# B right after its first rename (the output's: its objects are cached).
if test_have strace && strace -f -qq -o /dev/null -e trace=rename -e inject=rename:delay_exit=1:when=1 true 2>/dev/null; then
test_expect_success 'overlapping builds to one output: the no-op check never keeps the other image' '
	mkdir -p ov && printf "one\n" > ov/a1 && printf "two\n" > ov/a2 &&
	printf "rdc: 1\nfiles:\n  - {src: a1, dest: /a}\n" > ov/m1.yaml &&
	printf "rdc: 1\nfiles:\n  - {src: a2, dest: /a}\n" > ov/m2.yaml &&
	export RDC_CACHE_DIR=$PWD/ov-cache &&
	"$RDC" build ov/m1.yaml -o ov/ref1.cpio && "$RDC" build ov/m2.yaml -o ov/ref2.cpio &&
	{ strace -f -qq -o /dev/null -e trace=rename -e inject=rename:delay_exit=5000000:when=1 \
		"$RDC" build ov/m2.yaml -o $PWD/ov/out.cpio & pid=$!; } &&
	sleep 1.5 && "$RDC" build ov/m1.yaml -o $PWD/ov/out.cpio && wait $pid &&
	cmp ov/out.cpio ov/ref1.cpio &&
	"$RDC" build ov/m2.yaml -o $PWD/ov/out.cpio && cmp ov/out.cpio ov/ref2.cpio
'
else
test_skip 'overlapping builds to one output: the no-op check never keeps the other image' 'strace cannot inject delays'
fi

test_done
