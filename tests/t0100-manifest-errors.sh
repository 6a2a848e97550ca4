#!/usr/bin/env bash
# Bad manifests: each kind of bad input gets file:line:col, the line, a caret,
# exit status 1, and nothing at the output path.
. "$(dirname "$0")/lib.sh"

printf 'hello\n' > a.txt

# bad NAME STATUS 'message' 'line:col' <<manifest
bad() {
	cat > "$1.yaml"
	expect_fail 1 "$RDC" build "$1.yaml" -o "$1.cpio" || return 1
	expect_grep "$1.yaml:$3: error: $2" err || return 1
	grep -q '^ *| *\^' err || { echo "no caret:"; cat err; return 1; }
	[ ! -e "$1.cpio" ] || { echo "output left behind"; return 1; }
	ls -a | grep -q 'rdc-tmp' && { echo "temporary left behind"; return 1; }
	return 0
}

test_expect_success 'a YAML syntax error points at its line' '
	bad syntax "did not find expected" "[34]:[0-9]*" <<-YAML
	rdc: 1
	files:
	  - {src: a.txt, dest: /a
	YAML
'

test_expect_success 'an unknown key says did you mean' '
	bad unknown "unknown key .filez." 2:1 <<-YAML &&
	rdc: 1
	filez: []
	YAML
	expect_grep "did you mean .files." err
'

test_expect_success 'an unknown key inside an item says did you mean' '
	bad unknown2 "unknown key .dset." 3:18 <<-YAML &&
	rdc: 1
	files:
	  - {src: a.txt, dset: /a}
	YAML
	expect_grep "did you mean .dest." err
'

test_expect_success 'a wrong type is reported at the value' '
	bad wrongtype "" 2:7 <<-YAML
	rdc: 1
	dirs: {a: b}
	YAML
'

test_expect_success 'a bad mode is reported with a hint' '
	bad mode ".0999. is not a file mode" 3:22 <<-YAML
	rdc: 1
	dirs:
	  - {path: /x, mode: "0999"}
	YAML
'

test_expect_success 'a missing source names the file' '
	bad missing "cannot read .*nope.txt" 3:5 <<-YAML
	rdc: 1
	files:
	  - {src: nope.txt, dest: /nope}
	YAML
'

test_expect_success 'a dest escaping / is an error' '
	bad escape ".*escapes the image root" 3:24 <<-YAML
	rdc: 1
	files:
	  - {src: a.txt, dest: /../../etc/x}
	YAML
'

test_expect_success 'two contents for one path name both origins' '
	bad conflict "" "[34]:[0-9]*" <<-YAML &&
	rdc: 1
	files:
	  - {dest: /etc/x, content: "one"}
	  - {dest: /etc/x, content: "two"}
	YAML
	expect_grep "conflict" err && expect_grep "conflict.yaml:3" err && expect_grep "conflict.yaml:4" err
'

test_expect_success 'the same content twice at one path is fine' '
	cat > same.yaml <<-YAML &&
	rdc: 1
	files:
	  - {dest: /etc/x, content: "one"}
	  - {src: a.txt, dest: /etc/y}
	  - {src: a.txt, dest: /etc/y}
	YAML
	"$RDC" build same.yaml -o same.cpio
'

test_expect_success 'an include cycle shows the chain' '
	printf "rdc: 1\ninclude: [c2.yaml]\n" > c1.yaml &&
	printf "rdc: 1\ninclude: [c1.yaml]\n" > c2.yaml &&
	expect_fail 1 "$RDC" check c1.yaml &&
	expect_grep "c2.yaml:2:[0-9]*: error: include cycle" err &&
	expect_grep "c1.yaml" err
'

test_expect_success 'rdc: 1 is required' '
	bad noversion "" "1:1" <<-YAML
	dirs: [/x]
	YAML
'

test_expect_success 'an unset ${VAR} is an error at its value' '
	unset RDC_TEST_UNSET_VAR &&
	bad unsetvar ".*RDC_TEST_UNSET_VAR" 3:5 <<-YAML
	rdc: 1
	dirs:
	  - \${RDC_TEST_UNSET_VAR}/x
	YAML
'

test_expect_success 'duplicate keys are an error' '
	bad dupkey "duplicate" 3:1 <<-YAML
	rdc: 1
	dirs: [/a]
	dirs: [/b]
	YAML
'

test_expect_success 'a failed build keeps the previous output' '
	printf "rdc: 1\ndirs: [/a]\n" > keep.yaml &&
	"$RDC" build keep.yaml -o keep.cpio && cp keep.cpio keep.before &&
	printf "rdc: 1\nfiles:\n  - {src: gone.txt, dest: /g}\n" > keep.yaml &&
	expect_fail 1 "$RDC" build keep.yaml -o keep.cpio &&
	cmp keep.cpio keep.before
'

test_expect_success 'usage errors exit 2' '
	expect_fail 2 "$RDC" build &&
	expect_fail 2 "$RDC" frobnicate &&
	expect_grep "unknown command" err &&
	expect_fail 2 "$RDC" build --bogus x.yaml &&
	expect_fail 2 "$RDC"
'

test_expect_success 'an unknown output format is a usage-level error with choices' '
	printf "rdc: 1\ndirs: [/a]\n" > fmt.yaml &&
	expect_fail 2 "$RDC" build fmt.yaml --format cpoi &&
	expect_grep "did you mean .cpio." err &&
	expect_fail 2 "$RDC" build fmt.yaml -j 0 && expect_grep "1 to 1024" err &&
	expect_fail 2 "$RDC" build fmt.yaml -j abc &&
	expect_fail 2 "$RDC" cache gc --max-size -5
'

test_expect_success 'an unquoted ${VAR} in flow style gets a hint to quote it' '
	bad flowvar "did not find expected" 2:20 <<-YAML &&
	rdc: 1
	kernel: {version: \${KVER}}
	YAML
	expect_grep "quote a value that uses" err &&
	bad flowquoted "did not find expected" "2:9" <<-YAML &&
	rdc: 1
	kernel: {version: "\${KVER}"
	YAML
	! grep -q "quote a value" err
'

test_expect_success 'an output the manifest names but cannot be written is an error at its line' '
	printf "rdc: 1\ndirs: [/a]\noutput: no-such-dir/x.cpio\n" > od.yaml &&
	expect_fail 1 "$RDC" build od.yaml && expect_grep "^od.yaml:3:9: error: cannot write .*no-such-dir/x.cpio" err
'

# Only where the running kernel has no modules installed (this sandbox; a
# Debian CI machine booted on its own kernel may have them).
if [ ! -d "/lib/modules/$(uname -r)" ]; then
	test_expect_success 'kmods with no kernel: section, on a kernel without modules: an error at the kmods line' '
		printf "rdc: 1\nkmods: [btrfs]\n" > nk.yaml &&
		expect_fail 1 "$RDC" check nk.yaml && expect_grep "^nk.yaml:2:9: error: the running kernel .* has no modules" err
	'
else
	test_skip 'kmods with no kernel: section, on a kernel without modules' "the running kernel has /lib/modules/$(uname -r)"
fi

test_expect_success 'qemu values QEMU would refuse are errors at their line' '
	bad mem "memory .abc. is not a size QEMU takes" 2:16 <<-YAML &&
	rdc: 1
	qemu: {memory: abc}
	YAML
	bad args "args is a list; .-smp 2. would be one word" 2:14 <<-YAML &&
	rdc: 1
	qemu: {args: -smp 2}
	YAML
	expect_grep "args: \[-smp, 2\]" err &&
	printf "rdc: 1\nqemu: {memory: 1G, args: -s}\n" > okq.yaml && "$RDC" check okq.yaml
'

test_expect_success 'the BusyBox a generated /init needs says so in rdc explain' '
	printf "rdc: 1\ninit: {mounts: [proc]}\n" > bb.yaml &&
	"$RDC" explain bb.yaml /bin/busybox > bb.out &&
	expect_grep "BusyBox, which runs the generated /init (bb.yaml:2:7)" bb.out
'

test_expect_success 'manifest values the kernel could not honour are errors at their line' '
	bad major "device 5000:1 cannot exist" 3:5 <<-YAML &&
	rdc: 1
	nodes:
	  - {path: /dev/x, type: c, major: 5000, minor: 1}
	YAML
	bad default "version uses \\\${KVER:-latest}, which is not a variable name" 2:19 <<-YAML &&
	rdc: 1
	kernel: {version: "\${KVER:-latest}"}
	YAML
	expect_grep "no defaults" err &&
	bad moddir "the module directory /no/such/dir does not exist" 2:9 <<-YAML &&
	rdc: 1
	kernel: {version: x, modules: /no/such/dir}
	kmods: [btrfs]
	YAML
	bad initexec "init.exec /sbin/nothing is not in the image" 2:7 <<-YAML &&
	rdc: 1
	init: {exec: /sbin/nothing}
	YAML
	bad foreign "/usr/bin/busybox is an x86_64 binary, but the image is for aarch64" 3:12 <<-YAML &&
	rdc: 1
	arch: aarch64
	binaries: [busybox]
	YAML
	expect_grep "needs a sysroot: of its arch" err
'

test_expect_success '--help and --version' '
	"$RDC" --help > help && grep -q "^  build " help &&
	"$RDC" --version | grep -q "^rdc [0-9]"
'

test_expect_success 'an unset ${VAR} in src or in a list value is one error each, at its place' '
	printf "rdc: 1\nfiles:\n  - {src: \"\${NOPE}/x\", dest: /x}\nqemu:\n  args: [-virtfs, \"path=\${NOPE2}\"]\n" > v.yaml &&
	expect_fail 1 "$RDC" check v.yaml &&
	expect_grep "^v.yaml:3:11: error: src uses \${NOPE}, which is not set or empty" err &&
	expect_grep "^v.yaml:5:19: error: args uses \${NOPE2}, which is not set or empty" err &&
	test $(grep -c "error:" err) -eq 2
'

test_expect_success 'a compression level the compressor cannot take is an error at the level' '
	printf "rdc: 1\noutput: {path: o.img, format: cpio, compression: {algo: gzip, level: 10}}\n" > lv.yaml &&
	expect_fail 1 timeout 20 "$RDC" build lv.yaml &&
	expect_grep "^lv.yaml:2:70: error: compression level 10 is out of range" err &&
	expect_grep "gzip takes levels 1-9" err && test ! -e o.img
'

test_done
