#!/usr/bin/env bash
# Binary closures read from ELF: the same libraries as lddtree finds, images
# whose binaries start in a chroot, and nothing executed while building.
. "$(dirname "$0")/lib.sh"

BINS="curl socat strace ip dropbear qemu-img qemu-system-x86_64 ssh"
lddtree_oracle() { /usr/bin/python3 /usr/bin/lddtree -l "$1" | xargs realpath | sort -u; }

test_expect_success 'closures equal lddtree for binaries with large closures' '
	for b in $BINS; do
		p=$(type -P $b) &&
		lddtree_oracle "$p" > want &&
		"$RDC" deps "$p" | grep -v -- " -> " | sort -u > got &&
		test $(wc -l < want) -gt 3 || test "$b" = strace &&
		diff want got || { echo "closure of $b differs"; exit 1; }
	done
'

test_expect_success 'every binary of the image starts inside a chroot of it' '
	{ echo "rdc: 1" && echo "nodes: [{path: /dev/null, type: c, major: 1, minor: 3, mode: \"0666\"}]" &&
	  echo "binaries:" && for b in $BINS; do echo "  - $b"; done; } > m.yaml &&
	"$RDC" build m.yaml -o root/ --dir-special && # /dev/null for the chroot
	for b in $BINS; do
		p=$(type -P $b) &&
		{ chroot root "$p" --version || chroot root "$p" -V || chroot root "$p" -h || true; } </dev/null >run.out 2>&1 &&
		{ ! grep -q "error while loading shared libraries\|No such file" run.out || { cat run.out; exit 1; }; } &&
		test -s run.out || { echo "$b printed nothing"; exit 1; }
	done
'

test_expect_success 'the image keeps the usrmerge layout: /lib is a symlink, libraries behind it' '
	"$RDC" build m.yaml -o m.cpio && cpio_tree m.cpio > tree &&
	expect_grep "^120777 .* lib -> usr/lib$" tree &&
	expect_grep "^120777 .* lib64 -> usr/lib64$" tree &&
	expect_grep " usr/lib/x86_64-linux-gnu/libc.so.6$" tree &&
	expect_grep "usr/lib/x86_64-linux-gnu/libz.so.1 -> libz.so.1" tree
'

test_expect_success 'building runs no other program (no ldd, nothing executed)' '
	rm -rf "$RDC_CACHE_DIR" &&
	strace -f -qq -e trace=execve -o trace "$RDC" build m.yaml -o m.cpio.zst &&
	test $(grep -c execve trace) -eq 1 || { cat trace; exit 1; }
'

test_expect_success 'a rebuild reads no library again (the closure memo)' '
	echo "# touched" >> m.yaml &&
	strace -f -qq -e trace=openat -o trace "$RDC" build m.yaml -o m2.cpio.zst &&
	! grep -q "libcurl.so" trace || { grep libcurl trace; exit 1; }
'

test_expect_success 'rdc deps --why names what needed each library' '
	"$RDC" deps --why curl > why &&
	expect_grep "libz.so.1.*DT_NEEDED libz.so.1 of " why &&
	expect_grep "ld-linux-x86-64.so.2.*PT_INTERP of /usr/bin/curl" why
'

test_expect_success 'rdc explain says why a path is in the image, and which manifest line' '
	"$RDC" explain m.yaml /usr/lib/x86_64-linux-gnu/libz.so.1 /usr > out &&
	expect_grep "^/usr/lib/x86_64-linux-gnu/libz.so.1: symlink -> libz.so.1.*, DT_NEEDED libz.so.1 of .* (m.yaml:[0-9]*:5)$" out &&
	expect_grep "^/usr: directory, implied parent directory$" out &&
	expect_fail 1 "$RDC" explain m.yaml /usr/lib/x86_64-linux-gnu/libzz.so.1 &&
	expect_grep "is not in the image (did you mean /usr/lib/x86_64-linux-gnu/libz.so.1?)" err
'

test_expect_success 'a #! script pulls in its interpreter; env scripts pull the program too' '
	printf "#!/bin/sh -e\necho hi\n" > s.sh && chmod +x s.sh &&
	printf "#!/usr/bin/env perl\nprint 1\n" > p.pl && chmod +x p.pl &&
	"$RDC" deps --why "$PWD/s.sh" "$PWD/p.pl" > out &&
	expect_grep "^/usr/bin/dash	(#! interpreter of $PWD/s.sh)" out &&
	expect_grep "^/usr/bin/perl	(#! interpreter of $PWD/p.pl)" out &&
	expect_grep "libc.so.6" out
'

test_expect_success 'a static binary is its own closure' '
	"$RDC" deps /bin/busybox > out &&
	test "$(grep -v -- " -> " out)" = /usr/bin/busybox
'

test_expect_success 'a missing library is an error at the manifest line naming the needing object and the search' '
	mkdir -p lib && printf "int gone(void){return 1;}\n" > gone.c &&
	cc -shared -fPIC -o lib/libgone.so gone.c &&
	printf "int gone(void);\nint main(void){return gone();}\n" > use.c &&
	cc -o use use.c -Llib -lgone && rm lib/libgone.so &&
	printf "rdc: 1\nbinaries:\n  - /bin/true\n  - %s/use\n" "$PWD" > bad.yaml &&
	expect_fail 1 "$RDC" build bad.yaml -o bad.cpio &&
	expect_grep "^bad.yaml:4:5: error: libgone.so needed by $PWD/use not found (searched: .*/usr/lib/x86_64-linux-gnu" err &&
	test ! -e bad.cpio
'

test_expect_success 'non-ELF, truncated and hostile ELF files are clear errors, never crashes' '
	head -c 200 /bin/true > trunc && chmod +x trunc &&
	head -c 3000 /usr/bin/curl > trunc2 && chmod +x trunc2 &&
	printf "\177ELF\002\001\001garbage-garbage-garbage" > hostile && chmod +x hostile &&
	echo "plain text" > text && chmod +x text &&
	for f in trunc trunc2 hostile text; do
		expect_fail 1 "$RDC" deps "$PWD/$f" &&
		expect_grep "^rdc: error: $PWD/$f: it" err || exit 1
	done
'

test_expect_success 'DT_RPATH is inherited down the loader chain; DT_RUNPATH is not' '
	mkdir -p r && printf "int b(void){return 0;}\n" > b.c && cc -shared -fPIC -o r/libb.so b.c &&
	printf "int b(void);int a(void){return b();}\n" > a.c && cc -shared -fPIC -o liba.so a.c -Lr -lb &&
	printf "int a(void);int main(void){return a();}\n" > main.c &&
	cc -o with-rpath main.c -L. -la -Wl,--disable-new-dtags,-rpath,$PWD:$PWD/r -Wl,--no-as-needed &&
	cc -o with-runpath main.c -L. -la -Wl,--enable-new-dtags,-rpath,$PWD:$PWD/r &&
	"$RDC" deps "$PWD/with-rpath" > out && expect_grep "^$PWD/r/libb.so$" out &&
	LD_LIBRARY_PATH= ./with-rpath &&
	expect_fail 1 "$RDC" deps "$PWD/with-runpath" &&
	expect_grep "libb.so needed by $PWD/liba.so not found" err &&
	! ./with-runpath 2>/dev/null
'

test_expect_success 'a library of the wrong machine earlier in the path is skipped as ld.so skips it' '
	mkdir -p wrong right &&
	printf "int w(void){return 0;}\n" > w.c &&
	aarch64-linux-gnu-gcc -shared -fPIC -o wrong/libw.so w.c &&
	cc -shared -fPIC -o right/libw.so w.c &&
	printf "int w(void);int main(void){return w();}\n" > mw.c &&
	cc -o mw mw.c -Lright -lw -Wl,-rpath,$PWD/wrong:$PWD/right &&
	"$RDC" deps "$PWD/mw" > out &&
	expect_grep "^$PWD/right/libw.so$" out && ! grep -q "wrong/libw.so" out
'

test_expect_success '.note.dlopen metadata pulls in recommended and required libraries, not suggested ones' '
	cat > note.c <<-"C" &&
	#define J "[{\"feature\":\"z\",\"soname\":[\"libz.so.1\"],\"priority\":\"recommended\"},{\"soname\":[\"libbz2.so.1.0\"],\"priority\":\"suggested\"}]"
	struct note { unsigned n, d, t; char name[4]; char desc[(sizeof(J) + 3) & ~3]; };
	__attribute__((used, section(".note.dlopen"), aligned(4)))
	static const struct note n = { 4, sizeof(J), 0x407c0c0a, "FDO", J };
	int main(void) { return 0; }
	C
	cc -o noted note.c &&
	"$RDC" deps --why "$PWD/noted" > out &&
	expect_grep "libz.so.1.*.note.dlopen of $PWD/noted" out &&
	! grep -q libbz2 out
'

test_expect_success 'libraries: adds a dlopen()ed library by soname with its closure' '
	printf "rdc: 1\nlibraries: [libnss_files.so.2, libcurl.so.4]\n" > lib.yaml &&
	"$RDC" build lib.yaml -o lib.cpio && cpio_tree lib.cpio > tree &&
	expect_grep " usr/lib/x86_64-linux-gnu/libnss_files.so.2$" tree &&
	expect_grep " usr/lib/x86_64-linux-gnu/libnghttp2.so.14" tree
'

test_expect_success 'a foreign binary without arch: is an error saying so' '
	printf "int main(void){return 0;}\n" > hello.c && aarch64-linux-gnu-gcc -o hello-arm hello.c &&
	expect_fail 1 "$RDC" deps "$PWD/hello-arm" &&
	expect_grep "is an aarch64 binary, but the image is for x86_64 (set arch: to build for it)" err
'

test_expect_success 'aarch64: a $ORIGIN/../lib RUNPATH library in a sysroot, run under qemu-aarch64' '
	sr=$PWD/sysroot && mkdir -p $sr/opt/app/bin $sr/opt/app/lib &&
	cp -a /usr/aarch64-linux-gnu/lib $sr/lib &&
	printf "const char *greet(void){return \"hello from aarch64\";}\n" > g.c &&
	aarch64-linux-gnu-gcc -shared -fPIC -o $sr/opt/app/lib/libgreet.so g.c &&
	printf "#include <stdio.h>\nconst char *greet(void);\nint main(void){puts(greet());return 0;}\n" > app.c &&
	aarch64-linux-gnu-gcc -o $sr/opt/app/bin/app app.c -L$sr/opt/app/lib -lgreet -Wl,--enable-new-dtags,-rpath,\$ORIGIN/../lib &&
	printf "rdc: 1\narch: aarch64\nsysroot: sysroot\nbinaries: [/opt/app/bin/app]\n" > arm.yaml &&
	"$RDC" build arm.yaml -o armroot/ &&
	test -f armroot/opt/app/lib/libgreet.so && test -f armroot/lib/ld-linux-aarch64.so.1 &&
	qemu-aarch64 -L armroot armroot/opt/app/bin/app > out &&
	expect_grep "^hello from aarch64$" out &&
	! find armroot -type f -exec file {} + | grep -q "x86-64"
'

test_expect_success 'a program built on the host goes to dest with its libraries from the aarch64 sysroot' '
	mkdir -p hostbuild && aarch64-linux-gnu-gcc -o hostbuild/app2 app.c -L$PWD/sysroot/opt/app/lib -lgreet -Wl,--enable-new-dtags,-rpath,\$ORIGIN/../lib &&
	printf "rdc: 1\narch: aarch64\nsysroot: sysroot\nbinaries:\n  - {src: hostbuild/app2, dest: /opt/app/bin/app2}\n" > host.yaml &&
	"$RDC" build host.yaml -o hostroot/ &&
	test -f hostroot/opt/app/lib/libgreet.so &&
	qemu-aarch64 -L hostroot hostroot/opt/app/bin/app2 > out.txt &&
	expect_grep "^hello from aarch64$" out.txt &&
	"$RDC" explain host.yaml /opt/app/bin/app2 > ex &&
	expect_grep "from $PWD/hostbuild/app2, root (host.yaml:5:5)" ex
'

test_expect_success 'a binary with src needs dest, and exactly one of path and src' '
	printf "rdc: 1\nbinaries:\n  - {src: hostbuild/app2}\n" > nodest.yaml &&
	expect_fail 1 "$RDC" check nodest.yaml &&
	expect_grep "^nodest.yaml:3:5: error: a binary with .src. needs .dest." err &&
	printf "rdc: 1\nbinaries:\n  - {src: hostbuild/app2, path: /bin/true, dest: /x}\n" > both.yaml &&
	expect_fail 1 "$RDC" check both.yaml &&
	expect_grep "^both.yaml:3:5: error: a binary needs exactly one of path and src" err
'

test_expect_success 'rdc deps ./prog reads a host file, at its absolute path; a manifest says how to write it' '
	cp /usr/bin/true hostprog && "$RDC" deps ./hostprog > hp.out &&
	test "$(head -1 hp.out)" = "$PWD/hostprog" && grep -q "/libc.so.6$" hp.out &&
	expect_fail 1 "$RDC" deps ./no-such-prog && expect_grep "no-such-prog: No such file" err &&
	printf "rdc: 1\nbinaries: [./hostprog]\n" > rel.yaml &&
	expect_fail 1 "$RDC" build rel.yaml -o rel.cpio &&
	expect_grep "rel.yaml:2:12: error: ./hostprog is a relative path" err &&
	expect_grep "{src: ./hostprog, dest: /usr/bin/hostprog}" err &&
	printf "rdc: 1\nbinaries: [usr/bin/true]\n" > sysrel.yaml && "$RDC" list sysrel.yaml > sysrel.list &&
	grep -q "^file /usr/bin/true " sysrel.list
'

# The closure memo follows git'"'"'s racy-clean rule: an input changed within 2 s
# of being noted is never trusted (a coarse clock could hide a second edit).
if test_have strace; then
	test_expect_success 'a closure memo is not trusted while its input is fresh, and is once it settles' '
		cp /usr/bin/true racyprog && "$RDC" deps ./racyprog >/dev/null &&
		strace -f -qq -e trace=openat -o fresh.trace "$RDC" deps ./racyprog >/dev/null &&
		grep -q "racyprog" fresh.trace &&
		sleep 2.2 && "$RDC" deps ./racyprog >/dev/null &&
		strace -f -qq -e trace=openat -o settled.trace "$RDC" deps ./racyprog >/dev/null &&
		! grep -q "racyprog" settled.trace
	'
else
	test_skip 'a closure memo is not trusted while its input is fresh' 'no strace'
fi

test_expect_success 'rdc deps with no cache directory: a warning, the closure, exit 0' '
	env -u HOME -u RDC_CACHE_DIR -u XDG_CACHE_HOME "$RDC" deps /bin/true >out 2>err &&
	expect_grep "libc.so.6" out &&
	expect_grep "^rdc: warning: no cache directory" err && ! grep -q "error" err
'

test_done
