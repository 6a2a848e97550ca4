#!/usr/bin/env bash
# Building images: every entry kind, read back with cpio; the list rdc emits
# is accepted by the kernel's gen_init_cpio and gives the same bytes.
. "$(dirname "$0")/lib.sh"

setup() {
	printf 'hello\n' > a.txt && chmod 0640 a.txt
	printf '#!/bin/sh\necho hi\n' > run.sh && chmod 0755 run.sh
	mkdir -p tree/sub tree/empty && echo deep > tree/sub/f && ln -sf sub/f tree/link
	cat > m.yaml <<-'YAML'
	rdc: 1
	dirs: [/proc, /sys, {path: /tmp, mode: "1777"}, {path: /home/u, mode: "0700", uid: 1000, gid: 1000}]
	nodes:
	  - {path: /dev/console, type: c, major: 5, minor: 1, mode: "0600"}
	  - {path: /dev/sda, type: b, major: 8, minor: 0}
	  - {path: /run/fifo, type: pipe}
	  - {path: /run/sock, type: sock, mode: "0666"}
	symlinks:
	  - {path: /bin/sh, target: busybox}
	files:
	  - {src: a.txt, dest: /etc/a.txt}
	  - {src: run.sh, dest: /run.sh}
	  - {src: a.txt, dest: /etc/a-755, mode: "0755", uid: 7, gid: 8}
	  - {dest: /etc/hostname, content: "tiny\n"}
	  - {src: tree/, dest: /opt}
	YAML
}
setup

test_expect_success 'an uncompressed image holds every entry with its mode' '
	"$RDC" build m.yaml -o m.cpio &&
	cpio -itvn --quiet < m.cpio > listing &&
	expect_grep "^drwxrwxrwt .* tmp$" listing &&
	expect_grep "^drwx------ .*1000 *1000 .* home/u$" listing &&
	expect_grep "^crw------- .* dev/console$" listing &&
	expect_grep "^brw------- .* dev/sda$" listing &&
	expect_grep "^prw-r--r-- .* run/fifo$" listing &&
	expect_grep "^srw-rw-rw- .* run/sock$" listing &&
	expect_grep "^lrwxrwxrwx .* bin/sh -> busybox$" listing &&
	expect_grep "^-rw-r----- .* etc/a.txt$" listing &&
	expect_grep "^-rwxr-xr-x .* run.sh$" listing &&
	expect_grep "^-rwxr-xr-x .*7 *8 .* etc/a-755$" listing &&
	expect_grep "^-rw-r--r-- .* etc/hostname$" listing &&
	expect_grep " opt/sub/f$" listing && expect_grep " opt/empty$" listing &&
	expect_grep "opt/link -> sub/f$" listing &&
	expect_grep "^drwxr-xr-x .* home$" listing
'

test_expect_success 'file contents come through' '
	mkdir x && (cd x && cpio -id --quiet < ../m.cpio) &&
	cmp x/etc/a.txt a.txt && [ "$(cat x/etc/hostname)" = tiny ] && [ "$(cat x/opt/sub/f)" = deep ]
'

test_expect_success 'the list is accepted by gen_init_cpio and gives the same bytes' '
	"$RDC" list m.yaml > m.list &&
	grep -q "^file /etc/a.txt " m.list &&
	gen_init_cpio -t 0 m.list > oracle.cpio &&
	cmp oracle.cpio m.cpio
'

test_expect_success 'build --format list writes the same list' '
	"$RDC" build m.yaml --format list > m2.list && cmp m.list m2.list &&
	"$RDC" build m.yaml -o m3.list && cmp m.list m3.list
'

test_expect_success 'entries are sorted with parents first and no duplicates' '
	cpio -it --quiet < m.cpio > names && sort -c names && [ -z "$(uniq -d names)" ]
'

for c in gz zst xz lz4; do
test_expect_success "a .cpio.$c image holds the same tree and its tool reads it" '
	"$RDC" build m.yaml -o m.cpio.'$c' &&
	case '$c' in gz) gzip -t m.cpio.gz;; zst) zstd -qt m.cpio.zst;; xz) xz -t m.cpio.xz;; lz4) lz4 -qt m.cpio.lz4;; esac &&
	[ "$(cpio_tree m.cpio.'$c')" = "$(cpio_tree m.cpio)" ] && [ $(cpio_tree m.cpio | wc -l) -gt 20 ]
'
done

test_expect_success 'single-segment compressed images decompress to the plain cpio' '
	"$RDC" build m.yaml --single-segment -o s.cpio.xz && xz -dc s.cpio.xz | cmp - m.cpio &&
	"$RDC" build m.yaml --single-segment -o s.cpio.gz && gzip -dc s.cpio.gz | cmp - m.cpio &&
	"$RDC" build m.yaml -o s.cpio.lz4 && lz4 -dc s.cpio.lz4 | cmp - m.cpio
'

test_expect_success 'xz streams use a CRC32 check (the kernel has no CRC64)' '
	xz -lv m.cpio.xz | grep -q "CRC32" && ! xz -lv m.cpio.xz | grep -q "CRC64"
'

test_expect_success 'gzip headers carry no time and no name' '
	[ "$(od -An -tx1 -j3 -N5 m.cpio.gz | tr -d " ")" = "0000000000" ]
'

test_expect_success 'the default output is <stem>.cpio.zst in the cwd' '
	mkdir -p out && (cd out && "$RDC" build ../m.yaml) && [ -f out/m.cpio.zst ] &&
	[ "$(cpio_tree out/m.cpio.zst)" = "$(cpio_tree m.cpio)" ]
'

test_expect_success 'output.path is relative to the manifest and the compression key works' '
	mkdir -p sub && cp a.txt sub/ &&
	cat > sub/o.yaml <<-YAML &&
	rdc: 1
	files: [{src: a.txt, dest: /a}]
	output: {path: built/o.img, compression: {algo: gzip, level: 9}}
	YAML
	mkdir -p sub/built && "$RDC" build sub/o.yaml && gzip -t sub/built/o.img
'

test_expect_success 'an included manifest adds its entries' '
	printf "rdc: 1\ndirs: [/from-base]\nfiles: [{src: a.txt, dest: /base.txt}]\n" > base.yaml &&
	printf "rdc: 1\ninclude: [base.yaml]\ndirs: [/top]\n" > top.yaml &&
	"$RDC" build top.yaml -o top.cpio && cpio -it --quiet < top.cpio > n &&
	grep -qx from-base n && grep -qx top n && grep -qx base.txt n
'

test_expect_success 'rdc check validates and writes nothing' '
	mkdir chk && cd chk && "$RDC" check ../m.yaml && [ -z "$(ls)" ]
'

test_expect_success '--format c compiles and holds the cpio bytes' '
	"$RDC" build m.yaml -o img.c &&
	cat > dump.c <<-C &&
	#include <stdio.h>
	extern const unsigned char rdc_initramfs[]; extern const unsigned long rdc_initramfs_len;
	int main(void) { fwrite(rdc_initramfs, 1, rdc_initramfs_len, stdout); return 0; }
	C
	cc -o dump dump.c img.c && ./dump | cmp - m.cpio
'

test_expect_success '--format S assembles and spans the cpio bytes' '
	"$RDC" build m.yaml -o img.S && cmp img.cpio m.cpio &&
	cat > dumps.c <<-C &&
	#include <stdio.h>
	extern const unsigned char rdc_initramfs_start[], rdc_initramfs_end[];
	int main(void) { fwrite(rdc_initramfs_start, 1, rdc_initramfs_end - rdc_initramfs_start, stdout); return 0; }
	C
	cc -o dumps dumps.c img.S && ./dumps | cmp - m.cpio
'

test_expect_success 'a directory output holds the tree' '
	"$RDC" build m.yaml -o tree-out/ && cmp tree-out/etc/a.txt a.txt &&
	[ "$(readlink tree-out/bin/sh)" = busybox ] && [ -d tree-out/opt/empty ]
'

# a private copy of the inputs, away from what earlier tests left here
inputs_in() { mkdir "$1" && cp m.yaml a.txt run.sh "$1"/ && cp -r tree "$1"/ && cd "$1"; }

test_expect_success 'a directory output replaces only a tree rdc wrote, or an empty directory' '
	inputs_in o-dir && mkdir mine && echo precious > mine/notes.txt &&
	expect_fail 1 "$RDC" build m.yaml -o mine/ && expect_grep "mine is not empty and not a tree rdc wrote" err &&
	test "$(cat mine/notes.txt)" = precious && test "$(ls -A mine)" = notes.txt &&
	expect_fail 1 "$RDC" build m.yaml -o ./ && test -f m.yaml && test -f a.txt &&
	mkdir empty-out && "$RDC" build m.yaml -o empty-out/ && test -f empty-out/.rdc-tree && test -f empty-out/run.sh &&
	echo stale > empty-out/stale && "$RDC" build m.yaml -o empty-out/ && ! test -e empty-out/stale &&
	expect_fail 1 "$RDC" build m.yaml -o a.txt/ && expect_grep "is not a directory" err && test "$(cat a.txt)" = hello
'

test_expect_success 'the output is never the manifest or one of its sources' '
	inputs_in o-self && cp m.yaml self.yaml && expect_fail 1 "$RDC" build self.yaml -o self.yaml &&
	expect_grep "is the manifest" err && cmp self.yaml m.yaml &&
	expect_fail 1 "$RDC" build m.yaml -o a.txt && expect_grep "m.yaml:[0-9]*:[0-9]*: error: the output a.txt is the source of /etc/a" err &&
	test "$(cat a.txt)" = hello
'

test_expect_success 'an output name must tell the truth about its content' '
	inputs_in o-name && expect_fail 1 "$RDC" build m.yaml -o x.cpio.bz2 && expect_grep "does not write .bz2" err && ! test -e x.cpio.bz2 &&
	"$RDC" build m.yaml -o up.CPIO.GZ && gzip -t up.CPIO.GZ &&
	{ cat m.yaml; echo "output: {path: named.cpio.gz, compression: xz}"; } > lie.yaml &&
	expect_fail 1 "$RDC" build lie.yaml && expect_grep "lie.yaml:[0-9]*:[0-9]*: error: the output .*named.cpio.gz is named for gzip, but compression is xz" err &&
	! test -e named.cpio.gz
'

test_expect_success 'a failed .S output leaves no .cpio companion behind' '
	inputs_in o-asm && mkdir blocked.S &&
	expect_fail 1 "$RDC" build m.yaml -o blocked.S && ! test -e blocked.cpio &&
	test -z "$(find . -name "*rdc-tmp*")"
'

test_expect_success 'without -o the default name follows the format and the compression' '
	inputs_in o-default &&
	"$RDC" build m.yaml --format c && grep -q "rdc_initramfs" m.c &&
	"$RDC" build m.yaml --format dir && test -f m/.rdc-tree &&
	{ cat m.yaml; echo "output: {compression: xz}"; } > x.yaml && "$RDC" build x.yaml && xz -t x.cpio.xz &&
	! test -e m.cpio.zst
'

test_expect_success 'building needs no root: device nodes and owners come out of an unprivileged build' '
	nr=$(mktemp -d /tmp/rdc-nonroot.XXXXXX) && # the checkout may not be reachable for nobody
	cp m.yaml a.txt run.sh "$RDC" $nr/ && cp -r tree $nr/ && chmod -R a+rwX $nr &&
	if [ "$(id -u)" -eq 0 ]; then
		(cd $nr && RDC_CACHE_DIR=$nr/.c setpriv --reuid=65534 --regid=65534 --clear-groups ./rdc build m.yaml -o nr.cpio) &&
		test "$(stat -c %u $nr/nr.cpio)" = 65534
	else
		(cd $nr && ./rdc build m.yaml -o nr.cpio)
	fi &&
	cpio -itvn --quiet < $nr/nr.cpio > listing && rm -rf $nr &&
	expect_grep "^crw------- .* 0 *0 *5, *1 .* dev/console$" listing &&
	expect_grep "^drwx------ .*1000 *1000 .* home/u$" listing
'

# Files are copied into the cache on several threads; a file that passes
# stat() but cannot be read must still get its manifest line, in order.
if [ "$(id -u)" -eq 0 ]; then
	test_expect_success 'unreadable files: each reported at its line, in manifest order, nothing written' '
		nr=$(mktemp -d /tmp/rdc-nonroot.XXXXXX) &&
		for i in 1 2 3 4 5 6; do echo "file $i" > $nr/f$i; done &&
		chmod 0600 $nr/f2 $nr/f5 && chmod a+rwx $nr && cp "$RDC" $nr/ &&
		{ echo "rdc: 1"; echo "files:"; for i in 1 2 3 4 5 6; do echo "  - {src: f$i, dest: /f$i}"; done; } > $nr/m.yaml &&
		chmod a+r $nr/m.yaml $nr/f1 $nr/f3 $nr/f4 $nr/f6 &&
		(cd $nr && RDC_CACHE_DIR=$nr/.c expect_fail 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
			./rdc build m.yaml -o o.cpio -j 4) && mv $nr/err err &&
		grep ": error:" err > errs && test "$(wc -l < errs)" = 2 &&
		grep -q "^m.yaml:4:.*: error: cannot read .*/f2: Permission denied" errs &&
		grep -q "^m.yaml:7:.*: error: cannot read .*/f5: Permission denied" errs &&
		test "$(sed -n 1p errs | cut -d: -f2)" = 4 && test "$(sed -n 2p errs | cut -d: -f2)" = 7 &&
		test ! -e $nr/o.cpio && test -z "$(find $nr -name "*rdc-tmp*")" &&
		rm -rf $nr
	'

	test_expect_success 'an unreadable file is reported even when the manifest has another error' '
		nr=$(mktemp -d /tmp/rdc-nonroot.XXXXXX) && chmod a+rwx $nr && cp "$RDC" $nr/ &&
		echo secret > $nr/f2 && chmod 0600 $nr/f2 &&
		printf "rdc: 1\nfiles:\n  - {src: f2, dest: /f2}\n  - {src: nosuch, dest: /n}\n" > $nr/m.yaml &&
		chmod a+r $nr/m.yaml &&
		(cd $nr && RDC_CACHE_DIR=$nr/.c expect_fail 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
			./rdc build m.yaml -o o.cpio) && mv $nr/err err &&
		expect_grep "^m.yaml:3:5: error: cannot read .*/f2: Permission denied" err &&
		expect_grep "^m.yaml:4:5: error: cannot read .*/nosuch" err && rm -rf $nr
	'

	test_expect_success 'a source that became unreadable (its cache object damaged too): says why, writes nothing' '
		nr=$(mktemp -d /tmp/rdc-nonroot.XXXXXX) && chmod a+rwx $nr && cp "$RDC" $nr/ &&
		echo secret > $nr/f1 && chmod 0600 $nr/f1 &&
		printf "rdc: 1\nfiles:\n  - {src: f1, dest: /f1}\n" > $nr/m.yaml && chmod a+r $nr/m.yaml &&
		sleep 2.2 && (cd $nr && RDC_CACHE_DIR=$nr/.c ./rdc build m.yaml -o root.cpio) &&
		obj=$(RDC_CACHE_DIR=$nr/.c "$RDC" list $nr/m.yaml | awk "\$2 == \"/f1\" { print \$3 }") &&
		chmod -R a+rwX $nr/.c && flip_byte "$obj" 0 &&
		(cd $nr && RDC_CACHE_DIR=$nr/.c expect_fail 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
			./rdc build m.yaml -o o.cpio) && mv $nr/err err &&
		expect_grep "^m.yaml:3:5: error: cannot read .*/f1: Permission denied" err &&
		test ! -e $nr/o.cpio && rm -rf $nr
	'
else
	test_skip 'unreadable files: each reported at its line' 'needs root to drop to another user'
	test_skip 'an unreadable file is reported even when the manifest has another error' 'needs root'
	test_skip 'a damaged object whose source cannot be read: says why' 'needs root'
fi

test_done
