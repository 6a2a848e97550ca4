#!/usr/bin/env bash
# Hostile inputs (issue 18): manifests, includes and lists are read only
# from regular files and with bounded size; includes have depth, count and
# size limits; symlink expansion stops as the kernel's does; costs stay
# linear (deep paths, [[[...]]], many keys, many errors); the image keeps
# to what the kernel's cpio reader takes (PATH_MAX, NAME_MAX).  Each attack
# runs under a time (and memory) limit, so a regression fails, not hangs.
. "$(dirname "$0")/lib.sh"

# bounded CMD...: the command, killed after 20 s and 1 GiB (124: it hung);
# ASan reserves terabytes of address space, so no memory limit under it
bounded() { if rdc_sanitized; then timeout 60 "$@"; else (ulimit -v 1048576 && timeout 20 "$@"); fi; }

test_expect_success 'include: /dev/zero and an included FIFO are errors at the include' '
	printf "rdc: 1\ninclude: /dev/zero\n" > z.yaml && mkfifo ff && printf "rdc: 1\ninclude: ff\n" > f.yaml &&
	expect_fail 1 bounded "$RDC" check z.yaml && expect_grep "z.yaml:2:10: error: cannot read included manifest /dev/zero: not a regular file" err &&
	expect_fail 1 bounded "$RDC" check f.yaml && expect_grep "f.yaml:2:10: error: .*ff: not a regular file" err
'

test_expect_success 'rdc check /dev/zero, rdc import /dev/zero, a list on stdin from /dev/zero' '
	expect_fail 1 bounded "$RDC" check /dev/zero && expect_grep "not a regular file" err &&
	expect_fail 1 bounded "$RDC" import /dev/zero && expect_grep "not a regular file" err &&
	expect_fail 1 bounded sh -c "\"$RDC\" import - < /dev/zero" && expect_grep "file too large" err
'

test_expect_success 'includes that multiply (9 files, each including the previous 10 times) stop early' '
	printf "rdc: 1\ndirs: [/d]\n" > f0.yaml &&
	for i in 1 2 3 4 5 6 7 8 9; do
		printf "rdc: 1\ninclude: [f%s.yaml, f%s.yaml, f%s.yaml, f%s.yaml, f%s.yaml, f%s.yaml, f%s.yaml, f%s.yaml, f%s.yaml, f%s.yaml]\n" \
			$((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) $((i-1)) > f$i.yaml || exit 1
	done &&
	expect_fail 1 bounded "$RDC" check f9.yaml && expect_grep "the includes read more than 1000 files" err &&
	test "$(grep -c "error:" err)" = 1
'

test_expect_success 'a symlink that extends itself is an error, in bounded time and memory' '
	t=$(printf "a/%.0s" $(seq 1000)) &&
	printf "rdc: 1\nsymlinks: [{path: /a, target: \"%s\"}]\nfiles: [{dest: /a/x, content: \"x\"}]\n" "$t" > sl.yaml &&
	expect_fail 1 bounded "$RDC" build sl.yaml -o sl.cpio && expect_grep "more than 40 symlinks or a path longer than PATH_MAX" err &&
	test ! -e sl.cpio
'

test_expect_success 'a 40 KB deep path, a name over NAME_MAX, a 70 KB symlink target are errors' '
	p=$(printf "/d%.0s" $(seq 20000)) && printf "rdc: 1\ndirs: [\"%s\"]\n" "$p" > deep.yaml &&
	expect_fail 1 bounded "$RDC" build deep.yaml -o deep.cpio && expect_grep "longer than PATH_MAX" err &&
	n=$(printf "n%.0s" $(seq 300)) && printf "rdc: 1\ndirs: [/%s]\n" "$n" > name.yaml &&
	expect_fail 1 "$RDC" build name.yaml -o n.cpio && expect_grep "longer than NAME_MAX" err &&
	t=$(printf "t%.0s" $(seq 70000)) && printf "rdc: 1\nsymlinks: [{path: /l, target: %s}]\n" "$t" > tgt.yaml &&
	expect_fail 1 "$RDC" build tgt.yaml -o t.cpio && expect_grep "target of the symlink /l is longer than PATH_MAX" err
'

test_expect_success '400 KB of [[[...]]] is an error at once' '
	{ printf "rdc: 1\nfiles: "; head -c 200000 /dev/zero | tr "\\0" "["; head -c 200000 /dev/zero | tr "\\0" "]"; echo; } > br.yaml &&
	expect_fail 1 bounded "$RDC" check br.yaml && expect_grep "nested more than 64 levels deep" err &&
	test "$(wc -c < err)" -lt 2000
'

test_expect_success 'many keys and many errors cost linear time (20000 of each)' '
	{ echo "rdc: 1"; for i in $(seq 20000); do echo "k$i: 1"; done; } > top.yaml &&
	{ echo "rdc: 1"; echo "files:"; for i in $(seq 20000); do echo "  - {dest: /f$i, contnt: x}"; done; } > errs.yaml &&
	limit=$(rdc_sanitized && echo 60 || echo 10) && start=$(date +%s) && expect_fail 1 bounded "$RDC" check top.yaml && expect_fail 1 bounded "$RDC" check errs.yaml &&
	test "$(grep -c "unknown key .contnt." err)" = 20000 && test $(( $(date +%s) - start )) -lt "$limit"
'

test_expect_success 'a second YAML document is an error, not ignored' '
	printf "rdc: 1\ndirs: [/a]\n---\nrdc: 1\ndirs: [/b]\n" > two.yaml &&
	expect_fail 1 "$RDC" check two.yaml && expect_grep "two.yaml:3:1: error: a second YAML document" err
'

test_expect_success 'control characters of a manifest are not echoed to the terminal' '
	printf "rdc: 1\nfoo\033]0;pwned\007: 1\n" > ctl.yaml &&
	expect_fail 1 "$RDC" check ctl.yaml && ! grep -q "$(printf "\033")" err &&
	printf "rdc: 1\n\"foo\\\\e]0;pwned\\\\a\": 1\n" > esc.yaml && grep -q "e]0" esc.yaml &&
	expect_fail 1 "$RDC" check esc.yaml && expect_grep "unknown key" err && ! grep -q "$(printf "\033")" err
'

test_expect_success 'include: of a private file that is no manifest does not print its lines' '
	echo "root:\$y\$secrethash:19000:0:99999:7:::" > shadow && chmod 0600 shadow &&
	printf "rdc: 1\ninclude: shadow\n" > s.yaml &&
	expect_fail 1 "$RDC" check s.yaml && expect_grep "s.yaml:2:10: error: not reading .*shadow as a manifest" err && ! grep -q secrethash err &&
	expect_fail 1 "$RDC" check shadow && ! grep -q secrethash err
'

test_expect_success 'silent changes are errors: epoch past 32 bits, a NUL byte, gzip level 0' '
	printf "rdc: 1\nepoch: 4294967296\ndirs: [/d]\n" > ep.yaml &&
	expect_fail 1 "$RDC" build ep.yaml -o ep.cpio && expect_grep "ep.yaml:2:8: error: epoch must be" err &&
	printf "rdc: 1\nepoch: 4294967295\ndirs: [/d]\n" > ep2.yaml && "$RDC" build ep2.yaml -o ep2.cpio &&
	printf "rdc: 1\nfiles: [{dest: \"/a\\\\0b\", content: x}]\n" > nul.yaml && grep -q "a.0b" nul.yaml &&
	expect_fail 1 "$RDC" build nul.yaml -o nul.cpio && expect_grep "a NUL byte in a manifest value" err &&
	printf "rdc: 1\ndirs: [/d]\noutput: {path: g.cpio.gz, compression: {algo: gzip, level: 0}}\n" > g0.yaml &&
	expect_fail 1 "$RDC" build g0.yaml && expect_grep "compression level 0 is out of range" err && test ! -e g.cpio.gz
'

test_expect_success 'rdc import refuses names a manifest cannot hold (surrogate, C1, NEL, bad bytes)' '
	for name in "$(printf "/a\355\240\200")" "$(printf "/a\302\233x")" "$(printf "/a\302\205b")" "$(printf "/a\377")"; do
		printf "dir %s 0755 0 0\n" "$name" > bad.list &&
		expect_fail 1 "$RDC" import bad.list -o bad.yaml && expect_grep "cannot be written in a manifest" err &&
		test ! -e bad.yaml || exit 1
	done &&
	printf "dir /caf\303\251 0755 0 0\n" > ok.list && "$RDC" import ok.list -o ok.yaml && "$RDC" check ok.yaml
'

test_expect_success 'a 4.5 GiB source is refused before it is copied; a /proc source is refused, not shipped empty' '
	truncate -s 4500M huge && printf "rdc: 1\nfiles: [{src: huge, dest: /huge}]\n" > huge.yaml &&
	(ulimit -f 102400 && expect_fail 1 timeout 20 "$RDC" build huge.yaml -o huge.cpio) &&
	expect_grep "huge.yaml:2:.*larger than cpio.s 4 GiB limit" err && test ! -e huge.cpio &&
	test -z "$(find "$RDC_CACHE_DIR" -size +1M 2>/dev/null)" && rm -f huge &&
	printf "rdc: 1\nfiles: [{src: /proc/cpuinfo, dest: /cpuinfo}]\n" > proc.yaml &&
	expect_fail 1 "$RDC" build proc.yaml -o proc.cpio && expect_grep "pseudo filesystem" err
'

test_expect_success 'x86-64 modules are refused in an aarch64 image, at the kmods line' '
	ko=$(find /lib/modules/$KVER -name af_key.ko | head -1) && test -f "$ko" &&
	printf "rdc: 1\narch: aarch64\nkernel: {version: $KVER}\nkmods:\n  - {path: $ko}\n" > arm.yaml &&
	expect_fail 1 "$RDC" build arm.yaml -o arm.cpio && expect_grep "arm.yaml:5:.*af_key .* is for x86_64" err &&
	test ! -e arm.cpio &&
	printf "rdc: 1\nkernel: {version: $KVER}\nkmods:\n  - {path: $ko}\n" > host.yaml && "$RDC" build host.yaml -o host.cpio
'

# A program whose .note.dlopen nests a "soname" key inside another key.
cat > note.c <<\EOF
__asm__(".pushsection .note.dlopen,\"a\",@note\n.balign 4\n.long 4\n.long 2f-1f\n.long 0x407c0c0a\n.asciz \"FDO\"\n"
	"1: .asciz \"[{\\\"feature\\\":\\\"soname\\\",\\\"nested\\\":{\\\"soname\\\":[\\\"libevil.so.9\\\"]},\\\"soname\\\":[\\\"libz.so.1\\\"],\\\"priority\\\":\\\"required\\\"}]\"\n"
	"2: .balign 4\n.popsection");
int main(void) { return 0; }
EOF

test_expect_success 'a .note.dlopen soname nested in another key names no library' '
	cc -o note note.c && "$RDC" deps ./note > deps.out && expect_grep "libz.so.1" deps.out && ! grep -q libevil deps.out
'

test_done
