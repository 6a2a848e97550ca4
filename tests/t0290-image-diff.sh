#!/usr/bin/env bash
# rdc diff A B: each side an image or a manifest (the image it would build,
# from the build's own plan); added, removed and changed entries by path,
# with the manifest's reason for each; exit 0 equal, 1 different, 2 trouble.
. "$(dirname "$0")/lib.sh"

mkdir -p src
printf 'v1\n' > src/conf
cat > src/m.yaml <<'YAML'
rdc: 1
binaries: [busybox]
dirs: [/proc]
nodes: [{path: /dev/console, type: c, major: 5, minor: 1}]
symlinks: [{path: /bin/sh, target: busybox}]
files:
  - {src: conf, dest: /etc/conf}
init:
  mounts: [proc]
YAML
sed 's/^binaries: \[busybox\]$/binaries: [busybox, curl]/' src/m.yaml > src/curl.yaml

test_expect_success 'an image and the manifest it was built from are equal: exit 0, no output' '
	"$RDC" build src/m.yaml -o a.cpio.zst && "$RDC" diff a.cpio.zst src/m.yaml > out && [ ! -s out ] &&
	"$RDC" diff src/m.yaml a.cpio.zst && "$RDC" build src/m.yaml -o a.cpio.gz && "$RDC" diff a.cpio.zst a.cpio.gz
'

test_expect_success 'after a one-file edit, the diff names exactly that path, with its manifest line; exit 1' '
	printf "v2, longer\n" > src/conf &&
	expect_fail 1 "$RDC" diff a.cpio.zst src/m.yaml &&
	[ $(wc -l < out) -eq 1 ] &&
	grep -qx "~ /etc/conf: size 3 -> 11, content [0-9a-f]\{12\} -> [0-9a-f]\{12\}  (files, src/m.yaml:7:5)" out &&
	"$RDC" build src/m.yaml -o b.cpio.xz && expect_fail 1 "$RDC" diff a.cpio.zst b.cpio.xz &&
	grep -qx "~ /etc/conf: size 3 -> 11, content [0-9a-f]\{12\} -> [0-9a-f]\{12\}" out
'

test_expect_success 'two manifests: the added closure says whose DT_NEEDED brought each library in' '
	expect_fail 1 "$RDC" diff src/m.yaml src/curl.yaml &&
	grep -q "^+ /usr/bin/curl: file 0755 0/0 .*, src/curl.yaml:2:" out &&
	grep -q "^+ .*/libcurl.so.4: symlink.*(DT_NEEDED libcurl.so.4 of /usr/bin/curl, src/curl.yaml:2:" out &&
	! grep -q "^-" out && [ "$(grep "^~" out | cut -d: -f1)" = "~ /init" ] &&
	expect_fail 1 "$RDC" diff src/curl.yaml src/m.yaml && grep -q "^- /usr/bin/curl: file" out &&
	grep -q "^- .*(DT_NEEDED libcurl.so.4 of /usr/bin/curl, src/curl.yaml:2:" out
'

test_expect_success 'type, mode, owner, target and device changes are each named' '
	sed "s/major: 5, minor: 1}/major: 5, minor: 2, mode: \"0666\"}/; s/target: busybox}/target: \/bin\/busybox}/; s/dirs: \[\/proc\]/dirs: [{path: \/proc, uid: 3}]/" src/m.yaml > src/n.yaml &&
	expect_fail 1 "$RDC" diff src/m.yaml src/n.yaml &&
	grep -q "^~ /dev/console: mode 0600 -> 0666, device 5:1 -> 5:2" out &&
	grep -q "^~ /bin/sh: target busybox -> /bin/busybox" out &&
	grep -q "^~ /proc: owner 0/0 -> 3/0" out &&
	printf "rdc: 1\ndirs: [/etc/conf]\n" > src/t.yaml && expect_fail 1 "$RDC" diff b.cpio.xz src/t.yaml &&
	grep -q "^~ /etc/conf: type: file 0644 0/0 11 bytes -> dir 0755 0/0" out
'

test_expect_success '--json: one object per difference, parsed by python3' '
	expect_fail 1 "$RDC" diff --json a.cpio.zst src/curl.yaml &&
	/usr/bin/python3 -c "
import json, sys
d = json.load(open(\"out\"))
st = {e[\"status\"] for e in d}
assert st == {\"added\", \"changed\"}, st
conf = [e for e in d if e[\"path\"] == \"/etc/conf\"][0]
assert conf[\"changes\"] == [\"size\", \"content\"], conf
assert conf[\"a\"][\"size\"] == 3 and conf[\"b\"][\"size\"] == 11
assert conf[\"b\"][\"origin\"].startswith(\"files, src/curl.yaml:7:\")
assert any(e[\"b\"].get(\"origin\", \"\").startswith(\"DT_NEEDED libcurl.so.4 of /usr/bin/curl\") for e in d)
" &&
	"$RDC" diff --json a.cpio.zst a.cpio.zst > same && /usr/bin/python3 -c "import json; assert json.load(open(\"same\")) == []"
'

test_expect_success 'trouble is exit 2: a missing side, a broken image, a bad manifest, usage' '
	expect_fail 2 "$RDC" diff a.cpio.zst missing.yaml &&
	head -c 4000 a.cpio.zst > cut.zst && expect_fail 2 "$RDC" diff cut.zst src/m.yaml &&
	printf "rdc: 1\nbogus: 1\n" > src/bad.yaml && expect_fail 2 "$RDC" diff src/bad.yaml a.cpio.zst &&
	grep -q "src/bad.yaml:2:1: error" err &&
	expect_fail 2 "$RDC" diff a.cpio.zst && expect_fail 2 "$RDC" diff --bogus a b
'

test_expect_success 'an empty file is neither an image nor a manifest: trouble, not an empty manifest' '
	: > empty && expect_fail 2 "$RDC" diff empty a.cpio.zst &&
	expect_grep "empty is an empty file: neither an initramfs image nor a manifest" err &&
	! grep -q "manifest is empty" err &&
	expect_fail 2 "$RDC" diff src/m.yaml empty && expect_grep "empty is an empty file" err
'

if img=$(peer_image mkinitramfs); then
	test_expect_success "mkinitramfs's image against itself is equal (hard links settled), against rdc's differs" '
		"$RDC" diff $img $img && expect_fail 1 "$RDC" diff $img a.cpio.zst && grep -q "^- /conf/initramfs.conf" out
	'
fi

test_done
