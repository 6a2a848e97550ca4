#!/usr/bin/env bash
# schema/manifest.schema.json and the README's key reference are written
# from the reader's own key table (make schema), and the schema agrees with
# the reader: checked with python3-jsonschema, which shares nothing with rdc,
# on the project's manifests and on manifests the reader accepts or refuses.
. "$(dirname "$0")/lib.sh"

SCHEMA=$ROOT/schema/manifest.schema.json
schema_ok() { /usr/bin/python3 "$TESTS_DIR/tools/schema-check.py" "$SCHEMA" "$@"; }

if ! /usr/bin/python3 -c "import jsonschema, yaml" 2>/dev/null; then
	test_skip 'the schema agrees with the reader' 'needs python3-jsonschema and python3-yaml'
	test_done
	exit
fi

test_expect_success 'the checked-in schema is the one the key table gives (make schema)' '
	"$RDC" schema > schema.json &&
	diff -u "$SCHEMA" schema.json
'

test_expect_success 'the README key reference is the one the key table gives (make schema)' '
	"$RDC" schema --markdown > keys.md &&
	sed -n "/^<!-- the key reference: /,/^<!-- end of the key reference -->/p" "$ROOT/README.md" |
		sed "1d;\$d" > readme-keys.md &&
	diff -u readme-keys.md keys.md
'

test_expect_success 'every manifest in manifests/ is valid (puipui says qemu.timeout: 0)' '
	find "$ROOT/manifests" -name "*.yaml" | sort > list &&
	[ $(wc -l < list) -ge 10 ] &&
	schema_ok $(cat list)
'

# Each case: a manifest both the reader and the schema refuse.
n=0
while IFS='|' read -r what yaml; do
	[ -n "$what" ] || continue
	n=$((n + 1))
	printf "$yaml\n" > bad$n.yaml
	test_expect_success "refused by the reader and by the schema: $what" '
		expect_fail 1 "$RDC" check bad'$n'.yaml &&
		! schema_ok bad'$n'.yaml
	'
done <<'CASES'
an unknown key|rdc: 1\nfilez: [/x]
an unknown key in a mapping|rdc: 1\nkernel: {versoin: host}
an unknown mount|rdc: 1\ninit: {mounts: [prco]}
a kmod that is an empty mapping|rdc: 1\nkmods: [{}]
a kmod with both name and path|rdc: 1\nkmods: [{name: vfat, path: x.ko}]
a mode that is not octal|rdc: 1\ndirs: [{path: /a, mode: "0999"}]
a mode too large|rdc: 1\ndirs: [{path: /a, mode: "17777"}]
an unknown on_exit|rdc: 1\ninit: {on_exit: explode}
an unknown output format|rdc: 1\ndirs: [/a]\noutput: {path: x.img, format: tar}
an unknown compression|rdc: 1\ndirs: [/a]\noutput: {path: x.img, compression: bzip2}
a negative level|rdc: 1\ndirs: [/a]\noutput: {path: x.cpio.gz, compression: {algo: gzip, level: -1}}
a character device without major|rdc: 1\nnodes: [{path: /dev/x, type: c, minor: 1}]
a device number Linux cannot have|rdc: 1\nnodes: [{path: /dev/x, type: c, major: 5000, minor: 1}]
an unknown node type|rdc: 1\nnodes: [{path: /dev/x, type: x}]
a binary with src and no dest|rdc: 1\nbinaries: [{src: prog}]
a file with both src and content|rdc: 1\nfiles: [{src: a, content: b, dest: /x}]
a file with neither src nor content|rdc: 1\nfiles: [{dest: /x}]
a file with no dest|rdc: 1\nfiles: [{content: x}]
an env entry that is not NAME=VALUE|rdc: 1\ninit: {env: [NOEQUALS]}
an env name /init reserves|rdc: 1\ninit: {env: {rdc_x: y}}
qemu args as one string with a space|rdc: 1\nqemu: {args: "-smp 2"}
a memory size QEMU does not take|rdc: 1\nqemu: {memory: lots}
an image path that is not absolute|rdc: 1\ndirs: [relative]
manifest version 2|rdc: 2\ndirs: [/a]
an unknown arch|rdc: 1\narch: sparc\ndirs: [/a]
a symlink without target|rdc: 1\nsymlinks: [{path: /x}]
a negative uid|rdc: 1\ndirs: [{path: /a, uid: -1}]
CASES

# And manifests both accept.
n=0
while IFS='|' read -r what yaml; do
	[ -n "$what" ] || continue
	n=$((n + 1))
	printf "$yaml\n" > good$n.yaml
	test_expect_success "accepted by the reader and by the schema: $what" '
		"$RDC" check good'$n'.yaml &&
		schema_ok good'$n'.yaml
	'
done <<'CASES'
a mode written 0o755|rdc: 1\ndirs: [{path: /a, mode: "0o755"}]
a mode unquoted|rdc: 1\ndirs: [{path: /a, mode: 0700}]
qemu.timeout 0 and smp 0|rdc: 1\ndirs: [/a]\nqemu: {timeout: 0, smp: 0, memory: 512M, args: -nographic}
the version as a string|rdc: "1"\ndirs: [/a]
init: none|rdc: 1\ndirs: [/a]\ninit: none
the output as a path, compression as a word|rdc: 1\ndirs: [/a]\noutput: {path: x.img, compression: xz}
the output as a scalar|rdc: 1\ndirs: [/a]\noutput: x.cpio.gz
a pipe with no major or minor|rdc: 1\nnodes: [{path: /run/p, type: pipe}]
a file from content|rdc: 1\nfiles: [{dest: /etc/hostname, content: "tiny\\\\n", mode: "0600"}]
CASES

test_done
