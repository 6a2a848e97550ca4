#!/usr/bin/env bash
# Embedded initrds and images for another architecture.
#  - `-o x.c` and `-o x.S` hold exactly the bytes of `-o x.cpio`: a program
#    that compiles them in and writes them out gives the same file, on the
#    host and (through objcopy) for riscv64 and aarch64 objects, the way a
#    hobby kernel links them.
#  - manifests/riscv64-hello.yaml: a riscv64 program and its glibc from
#    Debian's cross sysroot; unpacked, it runs under qemu-riscv64 with only
#    the image's libraries, and nothing of the x86_64 host is in it.
. "$(dirname "$0")/lib.sh"

printf 'hello\n' > a.txt
head -c 5000 /dev/urandom > blob.bin
cat > m.yaml <<'YAML'
rdc: 1
dirs: [/proc, {path: /tmp, mode: "1777"}]
nodes: [{path: /dev/console, type: c, major: 5, minor: 1, mode: "0600"}]
symlinks: [{path: /bin/sh, target: busybox}]
files:
  - {src: a.txt, dest: /etc/a.txt}
  - {src: blob.bin, dest: /blob.bin, mode: "0600"}
  - {dest: /etc/hostname, content: "embedded\n"}
YAML

cat > dump.c <<'C'
#include <stdio.h>
extern const unsigned char rdc_initramfs[];
extern const unsigned long rdc_initramfs_len;
int main(void) { return fwrite(rdc_initramfs, 1, rdc_initramfs_len, stdout) != rdc_initramfs_len; }
C
cat > dumps.c <<'C'
#include <stdio.h>
extern const unsigned char rdc_initramfs_start[], rdc_initramfs_end[];
int main(void)
{
	size_t n = (size_t)(rdc_initramfs_end - rdc_initramfs_start);
	return fwrite(rdc_initramfs_start, 1, n, stdout) != n;
}
C

test_expect_success 'the reference image' '
	"$RDC" build m.yaml -o ref.cpio && [ $(cpio_tree ref.cpio | wc -l) -ge 9 ] &&
	cpio -it --quiet < ref.cpio | grep -qx blob.bin
'

test_expect_success '-o x.c: rdc_initramfs[] and rdc_initramfs_len are the cpio bytes' '
	"$RDC" build m.yaml -o x.c &&
	cc -o dump dump.c x.c && ./dump > from-c.cpio && cmp from-c.cpio ref.cpio
'

test_expect_success '-o x.c compiles cleanly as freestanding C (no headers, no warnings)' '
	cc -std=c99 -pedantic -Wall -Wextra -Werror -ffreestanding -c x.c -o x.o &&
	nm x.o | grep -q " R rdc_initramfs$" && nm x.o | grep -q " R rdc_initramfs_len$"
'

test_expect_success '-o x.S: the .incbin between rdc_initramfs_start and _end is the cpio' '
	mkdir -p gen && "$RDC" build m.yaml -o gen/x.S &&
	cmp gen/x.cpio ref.cpio &&
	cc -c gen/x.S -Igen -o xs.o && cc -o dumps dumps.c xs.o && ./dumps > from-s.cpio && cmp from-s.cpio ref.cpio
'

test_expect_success 'an existing x.S and x.cpio are replaced, not appended to' '
	"$RDC" build m.yaml -o gen/x.S && cmp gen/x.cpio ref.cpio &&
	[ "$(grep -c incbin gen/x.S)" -eq 1 ]
'

for cross in riscv64-linux-gnu aarch64-linux-gnu; do
if test_have $cross-gcc; then
test_expect_success "the .c and .S assemble for $cross and their .rodata is the cpio" '
	'$cross'-gcc -c x.c -o '$cross'-c.o && '$cross'-gcc -c gen/x.S -Igen -o '$cross'-s.o &&
	'$cross'-objcopy -O binary -j .rodata '$cross'-s.o '$cross'-s.bin && cmp '$cross'-s.bin ref.cpio &&
	'$cross'-objcopy -O binary -j .rodata '$cross'-c.o '$cross'-c.bin &&
	head -c $(stat -c %s ref.cpio) '$cross'-c.bin | cmp - ref.cpio &&
	'$cross'-nm '$cross'-s.o | grep -q " R rdc_initramfs_end$"
'
else
	test_skip "embedding for $cross" "needs $cross-gcc"
fi
done

# riscv64: a sysroot-like tree (Debian's cross glibc, copied, and the
# program built into it) given to the checked-in manifest by including it.
RV=/usr/riscv64-linux-gnu
if ! test_have riscv64-linux-gnu-gcc || ! test_have qemu-riscv64 || [ ! -e $RV/lib/libc.so.6 ]; then
	test_skip 'riscv64-hello' 'needs gcc-riscv64-linux-gnu, libc6-riscv64-cross and qemu-user'
	test_done
	exit
fi

export RISCV64_HELLO=/usr/bin/hello
test_expect_success 'riscv64-hello builds from a sysroot-like tree with the program in it' '
	mkdir -p rvroot/usr/bin && cp -a $RV/lib rvroot/lib &&
	riscv64-linux-gnu-gcc -O2 -o rvroot/usr/bin/hello "$ROOT/manifests/src/hello.c" &&
	readelf -l rvroot/usr/bin/hello | grep -q "interpreter: /lib/ld-linux-riscv64-lp64d.so.1" &&
	printf "rdc: 1\ninclude: [%s]\nsysroot: %s\n" "$ROOT/manifests/riscv64-hello.yaml" "$PWD/rvroot" > rv.yaml &&
	"$RDC" build rv.yaml -o rv.cpio && cpio_tree rv.cpio > rv.tree &&
	expect_grep " lib/ld-linux-riscv64-lp64d.so.1$" rv.tree &&
	expect_grep " lib/libc.so.6$" rv.tree &&
	expect_grep "^100755 .* usr/bin/hello$" rv.tree
'

test_expect_success 'riscv64-hello: nothing of the x86_64 host, every ELF file is RISC-V' '
	! grep -q "x86_64\|x86-64\|lib64" rv.tree &&
	mkdir rx && (cd rx && cpio -idm --quiet < ../rv.cpio) &&
	n=0 && for f in $(find rx -type f); do
		{ readelf -h "$f" | grep -q "Machine: *RISC-V" || { echo "$f is not RISC-V"; exit 1; }; } &&
		n=$((n + 1)) || return 1
	done && [ $n -eq 3 ] &&
	cmp rx/lib/libc.so.6 $RV/lib/libc.so.6
'

test_expect_success 'riscv64-hello: unpacked, the program runs under qemu-riscv64 -L <root>' '
	qemu-riscv64 -L rx rx/usr/bin/hello image > said &&
	[ "$(cat said)" = "hello from image on riscv64" ] &&
	"$RDC" build rv.yaml -o rvdir/ && qemu-riscv64 -L rvdir rvdir/usr/bin/hello dir | grep -qx "hello from dir on riscv64"
'

test_expect_success 'riscv64-hello: without the image'"'"'s libc.so.6 it does not run (the image is what runs)' '
	rm rx/lib/libc.so.6 && ! qemu-riscv64 -L rx rx/usr/bin/hello image 2>err &&
	grep -q "libc.so.6" err
'

test_expect_success 'riscv64-hello as checked in, with Debian'"'"'s sysroot: glibc itself as the program' '
	RISCV64_HELLO=/lib/libc.so.6 "$RDC" build "$ROOT/manifests/riscv64-hello.yaml" -o deb/ &&
	[ "$(cd deb && find . -type f ! -name .rdc-tree | sort | tr "\n" " ")" = "./lib/ld-linux-riscv64-lp64d.so.1 ./lib/libc.so.6 " ] &&
	qemu-riscv64 -L deb deb/lib/libc.so.6 | grep -q "^GNU C Library"
'

test_expect_success 'riscv64-hello: an unset RISCV64_HELLO is an error at its line' '
	unset RISCV64_HELLO &&
	expect_fail 1 "$RDC" build "$ROOT/manifests/riscv64-hello.yaml" -o never.cpio &&
	expect_grep "riscv64-hello.yaml:[0-9]*:[0-9]*: error: .*RISCV64_HELLO" err && [ ! -e never.cpio ]
'

test_done
