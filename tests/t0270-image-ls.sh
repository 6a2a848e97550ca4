#!/usr/bin/env bash
# rdc ls reads any initramfs as the kernel does — rdc's, mkinitramfs's,
# dracut's, an early plain cpio before a compressed one, zero padding, every
# compressor the kernel knows but lzo — and agrees entry for entry with the
# independent reader tests/tools/cpio-ls.c (or with cpio -t where that has
# no decoder).
. "$(dirname "$0")/lib.sh"

# rdc ls --json in cpio-ls's line shape, without the content hash
ls_as_oracle() {
	"$RDC" ls --json "$1" > ls.json && python3 -c '
import json, sys
types = {"file": 0o100000, "dir": 0o40000, "symlink": 0o120000, "char": 0o20000,
         "block": 0o60000, "pipe": 0o10000, "socket": 0o140000}
for e in json.load(open(sys.argv[1])):
    mode = types[e["type"]] | int(e["mode"], 8)
    name = e["path"].lstrip("/") or "."
    rdev = "%d:%d" % (e.get("major", 0), e.get("minor", 0))
    if e["type"] == "symlink":
        print("%06o %d %d %s - - %s -> %s" % (mode, e["uid"], e["gid"], rdev, name, e["target"]))
    else:
        print("%06o %d %d %s %d %s" % (mode, e["uid"], e["gid"], rdev, e["size"], name))
' ls.json | sort
}
# cpio-ls without its hash column, names without "./"
oracle() {
	cpio_tree "$1" | awk '$5 == "-" { print; next } { $6 = ""; print }' | sed -E 's/  / /; s#^((\S+ ){5})\./#\1#' | sort
}
agree() {
	oracle "$1" > want.ls && ls_as_oracle "$1" > got.ls && diff want.ls got.ls && [ -s got.ls ]
}

mkdir -p src
head -c 500000 /dev/urandom > src/noise
cat > src/m.yaml <<'YAML'
rdc: 1
binaries: [busybox]
dirs: [/proc, {path: /tmp, mode: "1777"}]
nodes: [{path: /dev/console, type: c, major: 5, minor: 1}, {path: /dev/fifo, type: pipe}]
symlinks: [{path: /bin/sh, target: busybox}]
files:
  - {src: noise, dest: /data/noise, mode: "4755"}
  - {dest: /etc/hostname, content: "ls\n"}
init:
  mounts: [proc]
YAML

for f in m.cpio m.cpio.gz m.cpio.zst m.cpio.xz m.cpio.lz4; do
	test_expect_success "rdc ls agrees with cpio-ls on rdc's $f" '
		"$RDC" build src/m.yaml -o $f && agree $f
	'
done

test_expect_success 'one line per entry: mode, owner, size, path, -> target, major:minor' '
	"$RDC" ls m.cpio.zst > out &&
	[ $(wc -l < out) -eq $("$RDC" list src/m.yaml | grep -vc "^#") ] &&
	grep -qx "lrwxrwxrwx 0/0 *7 /bin/sh -> busybox" out &&
	grep -qx "crw------- 0/0 *0 /dev/console 5:1" out &&
	grep -qx "prw-r--r-- 0/0 *0 /dev/fifo" out &&
	grep -qx "drwxrwxrwt 0/0 *0 /tmp" out &&
	grep -qx -- "-rwsr-xr-x 0/0 *500000 /data/noise" out
'

test_expect_success '--long: the content hash names the cache object with those bytes, and the segment' '
	"$RDC" ls --long m.cpio.zst > out &&
	h=$(awk "\$NF == \"/data/noise\" { print \$4 }" out) &&
	cmp src/noise "$RDC_CACHE_DIR/objects/${h:0:2}/${h:2}" &&
	[ "$(awk "{ print \$5 }" out | sort -u | wc -l)" -ge 3 ]
'

test_expect_success 'an early plain cpio, zero padding, then gzip, bzip2, lzma, xz, zstd and lz4 archives' '
	mkdir -p e/kernel/x86/microcode && echo ucode > e/kernel/x86/microcode/GenuineIntel.bin &&
	(cd e && find . | sort | cpio -o -H newc --quiet) > early.cpio &&
	n=0 && : > want.names && cp early.cpio multi.img &&
	(cd e && find . | sort | sed "s|^\./||") >> want.names &&
	for z in "gzip -n" bzip2 "xz --format=lzma" "xz --check=crc32" zstd "lz4 -l"; do
		n=$((n + 1)) && mkdir -p d$n/dir$n && echo "$z" > d$n/dir$n/file$n &&
		(cd d$n && find . -mindepth 1 | sort | cpio -o -H newc --quiet) | $z -c > part$n &&
		(cd d$n && find . -mindepth 1 | sort) | sed "s|^\./||" >> want.names &&
		head -c 512 /dev/zero >> multi.img && cat part$n >> multi.img || exit 1
	done &&
	"$RDC" ls multi.img | awk "{print \$NF}" | sed "s|^/||; s|^$|.|" > got.names &&
	diff <(sed "s|^\.$||" want.names | sed "s|^$|.|" | sort) <(sort got.names) &&
	"$RDC" ls --long multi.img | awk "{print \$5}" | uniq > codecs &&
	diff - codecs <<-EOT
	0:cpio
	1:gzip
	2:bzip2
	3:lzma
	4:xz
	5:zstd
	6:lz4
	EOT
'

test_expect_success 'a stream whose magic straddles two reads of the image (256 KiB) is found' '
	for at in 262143 262144 524287; do
		{ cat early.cpio && head -c $((at - $(stat -c %s early.cpio))) /dev/zero && cat part1; } > straddle.img &&
		"$RDC" ls --long straddle.img > out && grep -q " 1:gzip /dir1/file1$" out || exit 1
	done
'

# Peers' images, built once per kernel and kept with the other slow setup.
if img=$(peer_image mkinitramfs); then
	test_expect_success "rdc ls agrees with cpio-ls on mkinitramfs's image (lsinitramfs too)" '
		agree $img &&
		diff <(lsinitramfs $img | grep -v "^\.$" | sort) \
			<("$RDC" ls $img | sed -E "s/ -> .*//; s/ [0-9]+:[0-9]+$//" | awk "{print \$NF}" | sed "s|^/||" | grep . | sort)
	'
else
	test_skip "rdc ls on mkinitramfs's image" 'needs mkinitramfs and an installed kernel'
fi
if img=$(peer_image dracut); then
	test_expect_success "rdc ls agrees with cpio-ls on dracut's image" '
		agree $img
	'
else
	test_skip "rdc ls on dracut's image" 'needs dracut and an installed kernel'
fi

test_expect_success 'a damaged or truncated image is an error at its offset, exit 1; usage exit 2' '
	head -c 3000 m.cpio.zst > cut.zst &&
	expect_fail 1 "$RDC" ls cut.zst && grep -q "cut.zst: .*zstd stream" err &&
	printf "hello" > junk && expect_fail 1 "$RDC" ls junk && grep -q "invalid magic" err &&
	head -c 1000 m.cpio > cut.cpio && expect_fail 1 "$RDC" ls cut.cpio && grep -q "ends inside an entry" err &&
	expect_fail 1 "$RDC" ls missing.img &&
	expect_fail 2 "$RDC" ls && expect_fail 2 "$RDC" ls --bogus m.cpio
'

kernel=$(ls /boot/vmlinuz-* 2>/dev/null | tail -1)
if [ -n "$kernel" ]; then
test_expect_success 'a kernel image is not an initramfs: rdc ls says what it looks like, with a hint' '
	expect_fail 1 "$RDC" ls "$kernel" &&
	expect_grep "$kernel is not an initramfs image: it looks like an x86 kernel image (bzImage)" err &&
	expect_grep "hint: rdc ls, extract and diff read initramfs images" err &&
	head -c 64 /bin/true > elf && expect_fail 1 "$RDC" ls elf && expect_grep "elf is not an initramfs image: it looks like an ELF file" err &&
	expect_fail 1 "$RDC" ls junk && expect_grep "junk is not an initramfs image" err && expect_grep "hint: rdc ls, extract and diff read initramfs images" err
'

test_expect_success 'a compressed kernel (an arm64 vmlinuz is a gzip of its Image) is named too, with its compressor' '
	head -c 65536 "$kernel" | gzip -1 > vmlinuz.gz && expect_fail 1 "$RDC" ls vmlinuz.gz &&
	expect_grep "vmlinuz.gz is not an initramfs image: gzip-compressed, it looks like an x86 kernel image (bzImage)" err &&
	head -c 65536 "$kernel" | zstd -q > vmlinuz.zst && expect_fail 1 "$RDC" ls vmlinuz.zst &&
	expect_grep "vmlinuz.zst is not an initramfs image: zstd-compressed, it looks like an x86 kernel" err &&
	printf "hello" | gzip > junk.gz && expect_fail 1 "$RDC" ls junk.gz && expect_grep "junk within the compressed archive" err
'

test_expect_success 'a kernel image given where a manifest, a list or an image goes says what it looks like' '
	for c in build check list run; do
		expect_fail 1 "$RDC" $c "$kernel" && expect_grep "$kernel is not a manifest: it looks like an x86 kernel image (bzImage)" err &&
			! grep -q "control characters" err || return 1
	done &&
	expect_fail 1 "$RDC" explain "$kernel" /init && expect_grep "is not a manifest: it looks like an x86 kernel" err &&
	expect_fail 1 "$RDC" import "$kernel" && expect_grep "is not a gen_init_cpio list: it looks like an x86 kernel" err &&
	expect_fail 2 "$RDC" diff "$kernel" m.cpio && expect_grep "$kernel is neither an initramfs image nor a manifest: it looks like an x86 kernel" err &&
	expect_fail 1 "$RDC" extract "$kernel" kx && expect_grep "hint: rdc ls, extract and diff read initramfs images" err
'
else
	test_skip 'rdc ls of a kernel image' 'needs a /boot/vmlinuz-*'
fi

test_expect_success 'rdc ls reads stdin and an empty image' '
	"$RDC" ls - < m.cpio.xz > a && "$RDC" ls m.cpio.xz > b && cmp a b &&
	: > empty && "$RDC" ls empty > out && [ ! -s out ] && "$RDC" ls --json empty | python3 -c "import json,sys; assert json.load(sys.stdin) == []"
'

test_expect_success 'a command that wants a manifest, given an image, says so and names rdc ls' '
	for c in list build check run; do
		expect_fail 1 "$RDC" $c m.cpio.zst && grep -q "m.cpio.zst is an initramfs image.*rdc ls m.cpio.zst" err || exit 1
	done &&
	expect_fail 1 "$RDC" explain m.cpio.gz /init && grep -q "rdc ls m.cpio.gz" err &&
	expect_fail 1 "$RDC" import m.cpio && grep -q "not a gen_init_cpio list" err &&
	expect_fail 1 "$RDC" list multi.img && grep -q "rdc ls" err
'

test_done
