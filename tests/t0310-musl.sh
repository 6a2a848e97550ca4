#!/usr/bin/env bash
# musl closures follow musl's loader (ldso/dynlink.c), not glibc's: the
# program's PT_INTERP /lib/ld-musl-ARCH.so.1, its /etc/ld-musl-ARCH.path (else
# /lib:/usr/local/lib:/usr/lib), RPATH/RUNPATH searched up the chain, libc.so
# and friends served by the loader itself.  Oracles: musl's own ldd inside the
# sysroot, and the programs running from the unpacked image (chroot, or
# qemu-aarch64 for the arm64 musl sysroot tests/setup/musl-arm64.sh unpacks).
. "$(dirname "$0")/lib.sh"

if ! test_have musl-gcc || [ ! -e /lib/ld-musl-x86_64.so.1 ]; then
	test_skip 'musl closures' 'needs musl-tools (musl-gcc)'
	test_done
	exit
fi

cat > hello.c <<'C'
#include <stdio.h>
#include <math.h>
extern int greet(void);
int main(int argc, char **argv) { printf("hello from musl %d %.0f\n", greet(), sqrt(argc * 16.0)); return 3; }
C
echo 'extern int inner(void); int greet(void) { return inner() + 1; }' > greet.c
echo 'int inner(void) { return 41; }' > inner.c
echo '#include <stdio.h>
int main(void) { puts("plain musl"); return 0; }' > plain.c

# musl's ldd is its loader under the name ldd; run inside the sysroot it
# lists what the loader maps ("name => path (addr)"), each path here made
# real inside the sysroot (it writes $ORIGIN/.. as is, and libc.so as the
# loader's symlink).
musl_ldd() {
	chroot "$1" /usr/bin/ldd "$2" | sed -n 's/^.* => \([^ ]*\) .*/\1/p' |
		while read -r p; do realpath -m "$1$p"; done | sed "s|^$(realpath "$1")||" | sort -u
}

test_expect_success 'a musl program built here: rdc deps ./prog is its loader and nothing of glibc' '
	musl-gcc -o plain plain.c &&
	"$RDC" deps ./plain > got &&
	expect_grep "^/usr/lib/ld-musl-x86_64.so.1 -> x86_64-linux-musl/libc.so$" got &&
	expect_grep "^/usr/lib/x86_64-linux-musl/libc.so$" got &&
	! grep -q "linux-gnu\|ld-linux\|ld-musl-x86_64.path" got &&
	[ $(wc -l < got) -eq 4 ]
'

test_expect_success 'binaries: {src:, dest:} with musl-tools: the image runs it in a chroot' '
	cat > m.yaml <<-YAML &&
	rdc: 1
	binaries: [{src: plain, dest: /usr/bin/plain}]
	YAML
	"$RDC" build m.yaml -o root/ &&
	chroot root /usr/bin/plain > run.out &&
	expect_grep "^plain musl$" run.out &&
	! find root -name "libc.so.6" | grep -q .
'

# A musl sysroot of its own: the loader, a path file naming /opt/lib first,
# libgreet there, libinner only in a RUNPATH dir of the program (musl
# searches the program's RUNPATH for libgreet's needs too; glibc would not),
# and decoys where glibc's rules would look.
make_sysroot() {
	rm -rf sr && mkdir -p sr/lib/x86_64-linux-musl sr/etc sr/opt/lib sr/usr/bin sr/usr/lib2 \
		sr/usr/lib/x86_64-linux-gnu sr/usr/lib/x86_64-linux-musl &&
	cp /usr/lib/x86_64-linux-musl/libc.so sr/lib/x86_64-linux-musl/ &&
	ln -s x86_64-linux-musl/libc.so sr/lib/ld-musl-x86_64.so.1 &&
	ln -s /lib/ld-musl-x86_64.so.1 sr/usr/bin/ldd &&
	printf "/opt/lib\n/lib/x86_64-linux-musl:/usr/lib/x86_64-linux-musl\n" > sr/etc/ld-musl-x86_64.path &&
	musl-gcc -shared -fPIC -o sr/usr/lib2/libinner.so inner.c &&
	musl-gcc -shared -fPIC -o sr/opt/lib/libgreet.so greet.c -Lsr/usr/lib2 -linner &&
	echo "not a library" > sr/usr/lib/libgreet.so &&
	cp sr/opt/lib/libgreet.so sr/usr/lib/x86_64-linux-gnu/ &&
	musl-gcc -o sr/usr/bin/hello hello.c -Lsr/opt/lib -lgreet -Lsr/usr/lib2 -lm \
		-Wl,--enable-new-dtags,-rpath,"\$ORIGIN/../lib2",-rpath-link,sr/usr/lib2
}

test_expect_success 'a musl sysroot: the closure is what musl'"'"'s ldd maps there, plus the path file' '
	make_sysroot &&
	musl_ldd sr /usr/bin/hello > want &&
	test $(wc -l < want) -eq 3 &&
	"$RDC" deps --sysroot sr --why /usr/bin/hello > why &&
	grep -v -- " -> \|ld-musl-x86_64.path\|/usr/bin/hello\s" why | cut -f1 | sort -u > got &&
	diff want got &&
	expect_grep "^/etc/ld-musl-x86_64.path	(musl search path of /lib/ld-musl-x86_64.so.1)$" why &&
	expect_grep "^/usr/lib2/libinner.so	(DT_NEEDED libinner.so of /opt/lib/libgreet.so)$" why &&
	! grep -q "libm\|x86_64-linux-gnu" why
'

test_expect_success 'the image runs the sysroot'"'"'s musl program in a chroot' '
	cat > s.yaml <<-YAML &&
	rdc: 1
	sysroot: sr
	binaries: [/usr/bin/hello]
	dirs: [/proc]
	YAML
	"$RDC" build s.yaml -o img/ 2>err && ! grep -q warning err &&
	test -f img/etc/ld-musl-x86_64.path &&
	# musl finds $ORIGIN of the program in /proc/self/exe
	expect_fail 3 unshare -m sh -c "mount -t proc proc img/proc && exec chroot img /usr/bin/hello" &&
	expect_grep "^hello from musl 42 4$" out
'

test_expect_success 'libraries: in a sysroot with musl'"'"'s loader and not glibc'"'"'s follow musl'"'"'s path' '
	expect_fail 1 "$RDC" deps --sysroot sr --library libgreet.so &&
	expect_grep "libinner.so needed by /opt/lib/libgreet.so not found (searched: /opt/lib, /lib/x86_64-linux-musl, /usr/lib/x86_64-linux-musl)" err &&
	expect_grep "hint: .*ld-musl-x86_64.so.1" err &&
	echo /usr/lib2 >> sr/etc/ld-musl-x86_64.path &&
	"$RDC" deps --sysroot sr --library libgreet.so > got &&
	printf "%s\n" /opt/lib/libgreet.so /usr/lib2/libinner.so /etc/ld-musl-x86_64.path > want &&
	diff want got &&
	"$RDC" deps --sysroot sr --library libc.so > got &&
	expect_grep "^/lib/x86_64-linux-musl/libc.so$" got &&
	make_sysroot
'

test_expect_success 'a library musl cannot find: the error names musl'"'"'s path at the binary'"'"'s line' '
	rm sr/usr/lib2/libinner.so &&
	expect_fail 1 "$RDC" build s.yaml -o img2/ &&
	expect_grep "^s.yaml:3:12: error: libinner.so needed by /opt/lib/libgreet.so not found (searched: /usr/lib2, /opt/lib, /lib/x86_64-linux-musl, /usr/lib/x86_64-linux-musl)" err &&
	expect_grep "hint: .*musl.s loader /lib/ld-musl-x86_64.so.1, which searches the RPATH/RUNPATH chain, then /etc/ld-musl-x86_64.path" err &&
	! test -e img2
'

test_expect_success 'a path file naming a directory the sysroot lacks is a warning at the binary, every build' '
	make_sysroot &&
	echo "/nonexistent/lib" >> sr/etc/ld-musl-x86_64.path &&
	"$RDC" build s.yaml -o img3/ 2>err &&
	expect_grep "^s.yaml:3:12: warning: /etc/ld-musl-x86_64.path names /nonexistent/lib, which .*/sr does not have" err &&
	"$RDC" build s.yaml -o img3/ 2>err2 &&
	expect_grep "warning: /etc/ld-musl-x86_64.path names /nonexistent/lib" err2
'

test_expect_success 'without a path file musl searches /lib:/usr/local/lib:/usr/lib, and the first file found is the one' '
	make_sysroot &&
	rm sr/etc/ld-musl-x86_64.path &&
	expect_fail 1 "$RDC" deps --sysroot sr /usr/bin/hello &&
	expect_grep "libgreet.so needed by /usr/bin/hello is /usr/lib/libgreet.so, which is no x86_64 shared object" err &&
	rm sr/usr/lib/libgreet.so && mv sr/opt/lib/libgreet.so sr/usr/lib/ &&
	"$RDC" deps --sysroot sr /usr/bin/hello > got &&
	expect_grep "^/usr/lib/libgreet.so$" got &&
	! grep -q "ld-musl-x86_64.path" got &&
	musl_ldd sr /usr/bin/hello > want && expect_grep "^/usr/lib/libgreet.so$" want
'

if test_have qemu-system-x86_64 && [ -r "/boot/vmlinuz-$KVER" ]; then
test_expect_success 'an x86_64 image boots and its step runs the dynamically linked musl programs' '
	make_sysroot &&
	mkdir -p sr/bin && cp "$(type -P busybox)" sr/bin/busybox &&
	cat > boot.yaml <<-YAML &&
	rdc: 1
	sysroot: sr
	binaries:
	  - /usr/bin/hello
	  - {src: plain, dest: /usr/bin/plain}
	init:
	  mounts: [proc, sysfs, devtmpfs]
	  steps:
	    - /usr/bin/plain
	    - /usr/bin/hello; test \$? = 3
	YAML
	{ "$RDC" run boot.yaml --kernel "/boot/vmlinuz-$KVER" </dev/null >out 2>err || { tail -15 out; cat err; exit 1; }; } &&
	expect_grep "^plain musl" out &&
	expect_grep "^hello from musl 42 4" out
'
else
	test_skip 'booting a musl program' 'needs qemu-system-x86_64 and /boot/vmlinuz-$KVER'
fi

S=${RDC_MUSL_ARM64:-/var/cache/rdc-tests/musl-arm64}
if [ ! -e "$S/.stamp" ] && [ -x "$TESTS_DIR/setup/musl-arm64.sh" ]; then
	"$TESTS_DIR/setup/musl-arm64.sh" >/dev/null 2>&1 || true
fi
if [ ! -e "$S/.stamp" ] || ! test_have aarch64-linux-gnu-gcc || ! test_have qemu-aarch64; then
	test_skip 'a foreign musl sysroot' 'needs tests/setup/musl-arm64.sh, gcc-aarch64-linux-gnu, qemu-user'
	test_done
	exit
fi

# Cross-built against the unpacked musl:arm64 with the cross gcc: musl's
# headers and crt files, its loader as -dynamic-linker.
cross_musl() {
	local M=$S/usr/lib/aarch64-linux-musl CC=aarch64-linux-gnu-gcc
	$CC -nostdinc -isystem "$S/usr/include/aarch64-linux-musl" -isystem "$($CC -print-file-name=include)" \
		-nostdlib "$@" -L"$S/lib/aarch64-linux-musl" -lc "$($CC -print-libgcc-file-name)"
}

test_expect_success 'arch: aarch64 from a musl sysroot: the unpacked image runs under qemu-aarch64' '
	mkdir -p asr/usr/bin asr/usr/lib/aarch64-linux-musl &&
	cp -a "$S/lib" "$S/etc" asr/ &&
	cross_musl -shared -fPIC -o asr/usr/lib/aarch64-linux-musl/libinner.so inner.c &&
	cross_musl -shared -fPIC -o asr/usr/lib/aarch64-linux-musl/libgreet.so greet.c -Lasr/usr/lib/aarch64-linux-musl -linner &&
	cross_musl -Wl,-dynamic-linker,/lib/ld-musl-aarch64.so.1 "$S/usr/lib/aarch64-linux-musl/Scrt1.o" \
		"$S/usr/lib/aarch64-linux-musl/crti.o" hello.c -Lasr/usr/lib/aarch64-linux-musl -lgreet -lm \
		-Wl,-rpath-link,asr/usr/lib/aarch64-linux-musl "$S/usr/lib/aarch64-linux-musl/crtn.o" -o hello-arm64 &&
	cat > a.yaml <<-YAML &&
	rdc: 1
	arch: aarch64
	sysroot: asr
	binaries: [{src: hello-arm64, dest: /usr/bin/hello}]
	YAML
	"$RDC" build a.yaml -o aimg/ &&
	test -f aimg/etc/ld-musl-aarch64.path &&
	test -f aimg/usr/lib/aarch64-linux-musl/libinner.so &&
	! find aimg -name "*linux-gnu*" | grep -q . &&
	expect_fail 3 qemu-aarch64 -L aimg aimg/usr/bin/hello &&
	expect_grep "^hello from musl 42 4$" out
'

test_done
