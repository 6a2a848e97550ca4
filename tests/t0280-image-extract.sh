#!/usr/bin/env bash
# rdc extract unpacks any initramfs into a new or empty DIR and nothing
# outside it, whatever the archive says; device nodes and setuid bits only
# when asked, and only as root.
. "$(dirname "$0")/lib.sh"

# newc ENTRY...: a cpio newc archive on stdout; ENTRY is TYPE:NAME[:BODY]
# (TYPE f file, d dir, l symlink with BODY its target, c/b node BODY maj,min,
# s setuid file, h a file of the one hard-link group: nlink 2, ino 9) —
# hostile names are the point, so no cpio(1) here.
newc() {
	python3 - "$@" <<'PY'
import sys
out = sys.stdout.buffer
def entry(ino, mode, name, body=b"", rdev=(0, 0), nlink=1):
    n = name.encode() + b"\0"
    h = b"070701" + b"".join(b"%08X" % v for v in
        (ino, mode, 0, 0, nlink, 0, len(body), 3, 1, rdev[0], rdev[1], len(n), 0))
    rec = h + n
    rec += b"\0" * (-len(rec) % 4) + body
    rec += b"\0" * (-len(rec) % 4)
    out.write(rec)
for i, arg in enumerate(sys.argv[1:]):
    t, name, *rest = arg.split(":", 2)
    body = rest[0] if rest else ""
    if t == "f": entry(721 + i, 0o100644, name, body.encode())
    if t == "s": entry(721 + i, 0o104755, name, body.encode())
    if t == "h": entry(9, 0o100644, name, body.encode(), nlink=2)
    if t == "d": entry(721 + i, 0o40755, name)
    if t == "l": entry(721 + i, 0o120777, name, body.encode())
    if t in "cb": entry(721 + i, (0o20000 if t == "c" else 0o60000) | 0o600, name, rdev=tuple(map(int, body.split(","))))
entry(0, 0, "TRAILER!!!")
PY
}

cat > m.yaml <<'YAML'
rdc: 1
binaries: [busybox]
dirs: [{path: /ro, mode: "0555"}]
nodes: [{path: /dev/console, type: c, major: 5, minor: 1}, {path: /dev/fifo, type: pipe}]
symlinks: [{path: /bin/sh, target: busybox}]
files:
  - {dest: /ro/inside, content: "in a read-only dir\n"}
  - {dest: /etc/hostname, content: "x\n", mode: "0640", uid: 7, gid: 8}
init:
  mounts: [proc]
YAML

test_expect_success 'an rdc image unpacks whole: contents, modes, owners, links (as root)' '
	"$RDC" build m.yaml -o m.cpio.zst && "$RDC" build m.yaml -o m/ &&
	"$RDC" extract m.cpio.zst x1 2>err &&
	cmp x1/bin/busybox m/bin/busybox && cmp x1/init m/init &&
	[ "$(readlink x1/bin/sh)" = busybox ] &&
	[ "$(stat -c %a x1/ro)" = 555 ] && cmp x1/ro/inside m/ro/inside &&
	[ "$(stat -c "%a %u %g" x1/etc/hostname)" = "640 7 8" ] &&
	[ -p x1/dev/fifo ] && [ ! -e x1/dev/console ] && grep -q "left out 1 device node" err
'

test_expect_success 'an existing non-empty DIR is refused, an empty one is used' '
	mkdir full && : > full/mine &&
	expect_fail 1 "$RDC" extract m.cpio.zst full && grep -q "not empty" err && [ "$(ls full)" = mine ] &&
	mkdir empty && "$RDC" extract m.cpio.zst empty && [ -x empty/bin/busybox ] &&
	: > afile && expect_fail 1 "$RDC" extract m.cpio.zst afile
'

test_expect_success 'names with .. are refused and nothing lands outside DIR; absolute names stay inside' '
	mkdir jail && newc "f:../escaped:x" "f:a/../../escaped2:x" "f:/abs/file:y" "f:ok:z" > dotdot.cpio &&
	expect_fail 1 "$RDC" extract dotdot.cpio jail/d &&
	[ ! -e jail/escaped ] && [ ! -e escaped ] && [ ! -e jail/escaped2 ] && [ ! -e escaped2 ] &&
	[ "$(cat jail/d/abs/file)" = y ] && [ "$(cat jail/d/ok)" = z ] &&
	grep -q "not extracting ../escaped" err && grep -q "refused 2 entries" err
'

test_expect_success 'a symlink then a file through it: the file is refused, nothing written outside' '
	mkdir -p outside && newc "l:link:$PWD/outside" "f:link/pwned:owned" "l:up:.." "f:up/pwned2:owned" \
		"d:dir" "l:dir:$PWD/outside" "f:dir/pwned3:owned" > through.cpio &&
	expect_fail 1 "$RDC" extract through.cpio t &&
	[ -z "$(ls outside)" ] && [ ! -e pwned2 ] && [ ! -e t/pwned2 ] &&
	[ "$(readlink t/link)" = "$PWD/outside" ] && grep -q "refused 3 entries" err
'

test_expect_success 'a file over a symlink replaces the symlink, never writes through it' '
	echo precious > target.txt &&
	newc "l:x:$PWD/target.txt" "f:x:overwritten" > over.cpio &&
	"$RDC" extract over.cpio o && [ "$(cat target.txt)" = precious ] && [ "$(cat o/x)" = overwritten ] && [ ! -L o/x ]
'

test_expect_success 'device nodes and setuid bits: left out and dropped unless asked; as root when asked' '
	newc "c:null2:1,3" "b:disk:8,0" "s:suid:#!/bin/sh" > special.cpio &&
	"$RDC" extract special.cpio plain 2>err && [ ! -e plain/null2 ] && [ ! -e plain/disk ] &&
	[ "$(stat -c %a plain/suid)" = 755 ] && grep -q "left out 2 device nodes" err && grep -q "dropped the setuid" err &&
	"$RDC" extract --devices --setuid special.cpio asked &&
	[ -c asked/null2 ] && [ "$(stat -c %t:%T asked/null2)" = 1:3 ] && [ -b asked/disk ] &&
	[ "$(stat -c %a asked/suid)" = 4755 ]
'

if test_have setpriv; then
test_expect_success 'as another user --devices and --setuid are refused before anything is written' '
	mkdir -m 0777 shared &&
	(cd shared && expect_fail 2 setpriv --reuid=65534 --regid=65534 --clear-groups "$RDC" extract --devices ../special.cpio x) &&
	grep -q "needs root" shared/err && [ ! -e shared/x ] &&
	(cd shared && setpriv --reuid=65534 --regid=65534 --clear-groups "$RDC" extract ../special.cpio y) 2>err &&
	[ ! -e shared/y/null2 ] && [ "$(stat -c "%a %u" shared/y/suid)" = "755 65534" ]
'
fi

tree() { (cd "$1" && find . -printf "%p %y %m %s %n %U %G %l\n" | sort); }
for peer in mkinitramfs dracut; do
	if img=$(peer_image $peer); then
		test_expect_success "$peer's image (hard links and all) unpacks as unmkinitramfs unpacks it" '
			"$RDC" extract --devices --setuid $img by-rdc-$peer && unmkinitramfs $img by-peer-$peer &&
			diff <(tree by-rdc-$peer) <(tree by-peer-$peer) && diff -r --no-dereference by-rdc-$peer by-peer-$peer
		'
	else
		test_skip "rdc extract on $peer's image" "needs $peer and an installed kernel"
	fi
done

test_expect_success 'a hard link to a refused entry is refused too, and the rest is unpacked' '
	newc "h:../escaped:body" "h:inside:" "f:after:ok" > link-out.cpio &&
	expect_fail 1 "$RDC" extract link-out.cpio lo &&
	[ ! -e escaped ] && [ ! -e lo/inside ] && [ "$(cat lo/after)" = ok ] &&
	expect_grep "not extracting inside: a hard link to ../escaped, which is not extracted" err &&
	expect_grep "refused 2 entries" err && ! grep -q "cannot create" err &&
	mkdir -p outside2 && newc "l:sym:$PWD/outside2" "h:sym/x:body" "h:y:" "f:after:ok" > link-sym.cpio &&
	expect_fail 1 "$RDC" extract link-sym.cpio ls2 &&
	[ -z "$(ls outside2)" ] && [ ! -e ls2/y ] && [ "$(cat ls2/after)" = ok ] &&
	expect_grep "not extracting y: a hard link to sym/x, which is not extracted" err &&
	expect_grep "refused 2 entries" err && ! grep -q "cannot create" err
'

test_expect_success 'an image that cannot be read at all (missing, not an initramfs) leaves no DIR; an empty one an empty DIR' '
	expect_fail 1 "$RDC" extract missing.img nodir && [ ! -e nodir ] &&
	printf "hello" > junk.img && expect_fail 1 "$RDC" extract junk.img nodir && [ ! -e nodir ] &&
	expect_grep "junk.img is not an initramfs image" err &&
	: > empty.img && "$RDC" extract empty.img emptydir && [ -d emptydir ] && [ -z "$(ls -A emptydir)" ]
'

test_expect_success 'a broken image stops with an error; usage errors exit 2' '
	head -c 5000 m.cpio.zst > cut.zst && expect_fail 1 "$RDC" extract cut.zst cut &&
	expect_fail 2 "$RDC" extract m.cpio.zst && expect_fail 2 "$RDC" extract --bogus m.cpio.zst z
'

test_done
