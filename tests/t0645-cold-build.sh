#!/usr/bin/env bash
# A cold build costs about what writing the image costs: each source is read
# once (into the image), however many closures share it, and the ELF and
# module closures resolve side by side, reporting as a sequential build does.
. "$(dirname "$0")/lib.sh"

mkdir -p src
cat > src/m.yaml <<'YAML'
rdc: 1
kernel: {version: "${KVER}"}
binaries: [/usr/bin/curl, /usr/sbin/ip, /usr/bin/socat]
kmods: [vfat]
YAML

# read_bytes TRACE FILE: the bytes read(2)/pread(2) returned from FILE in an
# `strace -ff -y` trace (the kernel's own path of each fd; a file per thread,
# so that no call is split into "unfinished" and "resumed" lines)
read_bytes() {
	cat "$1".* | awk -v f="<$2>" 'index($0, f) && $NF ~ /^[0-9]+$/ { t += $NF } END { print t + 0 }'
}

if test_have strace; then
	test_expect_success 'binaries sharing libraries: a cold build reads each library once, no more' '
		strace -ff -qq -y -e trace=read,pread64 -o trace "$RDC" build src/m.yaml -o m.cpio &&
		libc=$(readlink -f "$("$RDC" deps /usr/bin/curl | grep "/libc\.so\.6$")") && [ -f "$libc" ] &&
		size=$(stat -c %s "$libc") && got=$(read_bytes trace "$libc") &&
		{ [ "$got" -ge "$size" ] && [ "$got" -lt $((size + 4096)) ] || { echo "read $got bytes of $libc ($size)"; false; }; }
	'
else
	test_skip 'binaries sharing libraries: a cold build reads each library once' 'no strace'
fi

if test_have strace; then
	test_expect_success 'the stat index a cold build writes is trusted by the next: a compressed rebuild reads no source' '
		# (not libc: the dynamic loader reads that for rdc itself; a file
		# dated 1969: a timestamp below zero in the index)
		printf "old\n" > src/old.txt && touch -d "1969-07-20 20:17:40.5" src/old.txt &&
		sed "s|^kmods:|files: [{src: old.txt, dest: /old.txt}]\nkmods:|" src/m.yaml > src/idx.yaml &&
		sleep 2.2 && # past the index'"'"'s racy window (the touch set the ctime now)
		rm -rf "$RDC_CACHE_DIR" && "$RDC" build src/idx.yaml -o idx.cpio.zst && rm idx.cpio.zst &&
		grep -q " -[0-9]* [0-9]* [0-9]* /.*/old.txt$" "$RDC_CACHE_DIR/index" &&
		strace -ff -qq -y -e trace=read,pread64 -o itrace "$RDC" build src/idx.yaml -o idx.cpio.zst &&
		[ "$(read_bytes itrace "$PWD/src/old.txt")" = 0 ] &&
		lib=$(readlink -f "$("$RDC" deps /usr/bin/curl | grep "/libcurl\.so\.4\.[0-9.]*$")") && [ -f "$lib" ] &&
		vfat=$(readlink -f "$(modinfo -k "$KVER" -n vfat)") && [ -f "$vfat" ] &&
		got=$(($(read_bytes itrace "$lib") + $(read_bytes itrace "$vfat"))) &&
		{ [ "$got" = 0 ] || { echo "read $got bytes of $lib and $vfat"; false; }; }
	'
fi

test_expect_success 'the image of binaries and modules is the same with one resolver thread (-j 1)' '
	rm -rf "$RDC_CACHE_DIR" && "$RDC" build -j 1 src/m.yaml -o one.cpio &&
	rm -rf "$RDC_CACHE_DIR" && "$RDC" build src/m.yaml -o two.cpio && cmp one.cpio two.cpio &&
	"$RDC" list src/m.yaml > l && gen_init_cpio -t 0 l > gic.cpio && cmp two.cpio gic.cpio
'

test_expect_success 'a bad binary and a bad module: both errors, in manifest order, the same with -j 1' '
	cat > src/bad.yaml <<-YAML &&
	rdc: 1
	kernel: {version: "\${KVER}"}
	binaries: [/usr/bin/no-such-program-here]
	kmods: [no_such_module_here]
	YAML
	rm -rf "$RDC_CACHE_DIR" && expect_fail 1 "$RDC" build src/bad.yaml -o bad.cpio && mv err err.two &&
	expect_grep "bad.yaml:3:.*no-such-program-here" err.two && expect_grep "bad.yaml:4:.*no_such_module_here" err.two &&
	[ "$(grep -o "^src/bad.yaml:[0-9]*:" err.two | tr -d "\n")" = "src/bad.yaml:3:src/bad.yaml:4:" ] &&
	rm -rf "$RDC_CACHE_DIR" && expect_fail 1 "$RDC" build -j 1 src/bad.yaml -o bad.cpio && cmp err.two err &&
	[ ! -e bad.cpio ]
'

test_expect_success 'a library new in an earlier search directory is found by the next build (the memo misses)' '
	"$RDC" deps --library libz.so.1 | sed "s/ ->.*//" > zfiles && mkdir -p sr/etc sr/opt/lib &&
	while read -r f; do mkdir -p "sr${f%/*}" && cp -a "$f" "sr$f" || return 1; done < zfiles &&
	echo /opt/lib > sr/etc/ld.so.conf && sleep 2.2 && # past the racy window: the memo is trusted
	"$RDC" deps --sysroot sr --library libz.so.1 > before && expect_grep "^/usr/lib/.*/libz.so.1 " before &&
	cp sr/usr/lib/*/libz.so.1 sr/opt/lib/libz.so.1 &&
	"$RDC" deps --sysroot sr --library libz.so.1 > after && expect_grep "^/opt/lib/libz.so.1$" after &&
	! grep -q "^/usr/lib/.*/libz" after
'

# a segmented image of files nobody hashed yet: compressed as they are hashed
mkdir -p big && head -c 3000000 /dev/urandom > big/r && seq 200000 > big/s
cat > src/z.yaml <<'YAML'
rdc: 1
files:
  - {src: ../big/r, dest: /data/r}
  - {src: ../big/s, dest: /data/s}
YAML

if test_have strace; then
	test_expect_success 'a cold compressed build reads each source once (compressing it as it hashes it)' '
		RDC_CACHE_DIR=$PWD/plain "$RDC" build src/z.yaml -o big.cpio && rm -rf "$RDC_CACHE_DIR" &&
		strace -ff -qq -y -e trace=read,pread64 -o ztrace "$RDC" build src/z.yaml -o z.cpio.zst &&
		for f in big/r big/s; do
			got=$(read_bytes ztrace "$(readlink -f "$f")") && size=$(stat -c %s "$f") &&
			{ [ "$got" = "$size" ] || { echo "read $got bytes of $f ($size)"; false; }; } || return 1
		done &&
		zstd -t z.cpio.zst && [ "$(cpio_tree z.cpio.zst | md5sum)" = "$(cpio_tree big.cpio | md5sum)" ]
	'
else
	test_skip 'a cold compressed build reads each source once' 'no strace'
fi

test_expect_success 'keyed after compressing or before: the same segments, the same image, the index used after' '
	"$RDC" build src/z.yaml -o plain.cpio && rm -rf "$RDC_CACHE_DIR" &&
	"$RDC" build src/z.yaml -o cold.cpio.xz && ls "$RDC_CACHE_DIR/segments" | sort > cold.segs &&
	[ -s cold.segs ] && ! ls "$RDC_CACHE_DIR/segments" | grep -q rdc-tmp &&
	rm -rf "$RDC_CACHE_DIR/segments" && mkdir "$RDC_CACHE_DIR/segments" &&
	"$RDC" build src/z.yaml -o warm.cpio.xz && ls "$RDC_CACHE_DIR/segments" | sort > warm.segs &&
	cmp cold.segs warm.segs && cmp cold.cpio.xz warm.cpio.xz && xz -t cold.cpio.xz &&
	[ "$(cpio_tree cold.cpio.xz | md5sum)" = "$(cpio_tree plain.cpio | md5sum)" ] &&
	rm -rf "$RDC_CACHE_DIR" && "$RDC" build -j 1 src/z.yaml -o one.cpio.xz && cmp one.cpio.xz cold.cpio.xz
'

if strace -f -qq -o /dev/null -e trace=openat -e inject=openat:delay_enter=1 true 2>/dev/null; then
	test_expect_success 'a source edited while a cold compressed build hashes and compresses it: an error, nothing kept' '
		rm -rf "$RDC_CACHE_DIR" && "$RDC" build src/z.yaml -o prev.cpio.zst && cp prev.cpio.zst keep.zst &&
		rm -rf "$RDC_CACHE_DIR" &&
		{ strace -f -qq -o /dev/null -P "$PWD/big/r" -e trace=read -e inject=read:delay_enter=3000000:when=2 \
			"$RDC" build src/z.yaml -o prev.cpio.zst >/dev/null 2> race.err & pid=$!; } &&
		sleep 1.5 && printf "EDITED" | dd of=big/r bs=1 seek=2500000 conv=notrunc 2>/dev/null &&
		{ wait $pid; rc=$?; } && cat race.err && [ "$rc" = 1 ] &&
		expect_grep "z.yaml:3:.* error: .*big/r changed while rdc was reading it" race.err &&
		cmp prev.cpio.zst keep.zst && ! ls prev.cpio.zst.* 2>/dev/null &&
		! ls "$RDC_CACHE_DIR/segments" | grep -q rdc-tmp
	'
else
	test_skip 'a source edited while a cold compressed build reads it' 'strace cannot inject delays'
fi

test_done
