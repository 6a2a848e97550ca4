#!/usr/bin/env bash
# -z/--compression on the command line, above the manifest's compression:.
. "$(dirname "$0")/lib.sh"

cat >m.yaml <<'YAML'
rdc: 1
files:
  - {dest: /hello, content: "hello\n"}
output:
  compression: {algo: gzip, level: 9}
YAML

test_expect_success '-z xz writes xz and names the default output for it' '
	"$RDC" build m.yaml -z xz &&
	[ -f m.cpio.xz ] && [ ! -e m.cpio.gz ] &&
	xz -t m.cpio.xz &&
	xz -dc m.cpio.xz | cpio -it 2>/dev/null | grep -qx hello
'

test_expect_success '--compression zstd:19 writes zstd at level 19' '
	"$RDC" build m.yaml --compression zstd:19 -o a.cpio.zst &&
	zstd -t a.cpio.zst &&
	"$RDC" build m.yaml --compression zstd:1 -o b.cpio.zst &&
	! cmp -s a.cpio.zst b.cpio.zst
'

test_expect_success '-o x.img --format cpio writes a plain cpio, not the default zstd' '
	"$RDC" build m.yaml -o tiny-initrd.img --format cpio -z none &&
	head -c 6 tiny-initrd.img >magic && echo -n 070701 >want && cmp magic want &&
	cat >plain.yaml <<-YAML &&
	rdc: 1
	files:
	  - {dest: /hello, content: "hello\n"}
	YAML
	"$RDC" build plain.yaml -o t2.img --format cpio &&
	head -c 6 t2.img >magic && cmp magic want
'

test_expect_success 'a bad -z is a usage error that names the choices' '
	expect_fail 2 "$RDC" build m.yaml -z bogus &&
	expect_grep "one of: none gzip zstd xz lz4" err &&
	expect_fail 2 "$RDC" build m.yaml -z xz:abc &&
	expect_fail 2 "$RDC" build m.yaml -z xz:42 &&
	expect_grep "xz takes levels 0-9" err &&
	expect_fail 2 "$RDC" build m.yaml -z none:3 &&
	expect_grep "none takes no level" err
'

test_expect_success 'a name that says otherwise is an error: -o x.cpio.gz -z xz' '
	expect_fail 1 "$RDC" build m.yaml -o x.cpio.gz -z xz &&
	expect_grep "named for gzip, but compression is xz" err &&
	[ ! -e x.cpio.gz ]
'

test_expect_success 'compression: for a .c or .S output is an error at its line' '
	cat >c.yaml <<-YAML &&
	rdc: 1
	files:
	  - {dest: /hello, content: "hello\n"}
	output:
	  path: out.c
	  compression: xz
	YAML
	expect_fail 1 "$RDC" build c.yaml &&
	expect_grep "c.yaml:5:3: error: a c output cannot be compressed" err &&
	[ ! -e out.c ] &&
	expect_fail 1 "$RDC" build m.yaml -o y.S -z xz &&
	[ ! -e y.S ] && [ ! -e y.cpio ]
'

test_expect_success 'rdc run takes -z too (shown by --dry-run)' '
	cat >r.yaml <<-YAML &&
	rdc: 1
	init:
	  mounts: [proc]
	YAML
	"$RDC" run r.yaml --dry-run -z xz >out 2>&1 &&
	expect_grep "r.cpio.xz" out
'

test_done
