#!/usr/bin/env bash
# A first user's and an attacker's look at the image readers (rdc ls,
# extract, diff): an input costs about its size, never its square.
. "$(dirname "$0")/lib.sh"

# links.cpio: N empty files, each nlink=2 with an inode of its own (a
# crafted archive: 300,000 entries are 35 MB plain, 0.6 MB as zstd).
linked_archive() {
	python3 - "$1" "$2" "$3" <<'PY'
import sys
n, body, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
def ent(name, mode, data=b"", ino=0, nlink=1):
    nm = name.encode() + b"\0"
    h = b"070701" + b"".join(b"%08X" % v for v in
        [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(nm), 0])
    h += nm + b"\0" * (-(110 + len(nm)) % 4)
    return h + data + b"\0" * (-len(data) % 4)
with open(out, "wb") as f:
    for i in range(n):
        f.write(ent("f%d" % i, 0o100644, body, ino=i + 1, nlink=2))
    f.write(ent("TRAILER!!!", 0))
PY
}

test_expect_success 'rdc ls of 300,000 hard-linked names takes seconds, not hours' '
	linked_archive 300000 "" links.cpio &&
	zstd -q links.cpio &&
	timeout 30 "$RDC" ls links.cpio.zst > ls.out &&
	[ "$(wc -l < ls.out)" -eq 300000 ] &&
	expect_grep " /f299999$" ls.out
'

test_expect_success 'rdc diff of two such images likewise, and it finds the one change' '
	linked_archive 300000 "" a.cpio &&
	linked_archive 300000 "x" b.cpio &&
	expect_fail 1 timeout 30 "$RDC" diff a.cpio b.cpio &&
	[ "$(grep -c "^~ /f[0-9]*: size 0 -> 1" out)" -eq 300000 ]
'

test_expect_success 'rdc diff of an empty image against one with entries: exit 1, each entry added' '
	linked_archive 0 "" empty.cpio &&
	linked_archive 2 "" two.cpio &&
	expect_fail 1 "$RDC" diff empty.cpio two.cpio &&
	[ "$(grep -c "^+ /f[01]: file" out)" -eq 2 ] &&
	"$RDC" diff empty.cpio empty.cpio
'

test_expect_success 'rdc extract of an image cut inside a file: exit 1, the offset named, nothing leaked' '
	linked_archive 1 "$(printf "%0200d" 0)" one.cpio &&
	head -c 200 one.cpio > cut.cpio &&
	expect_fail 1 "$RDC" extract cut.cpio x &&
	expect_grep "cut.cpio: the image ends inside an entry at byte 200" err &&
	! grep -q Sanitizer err
'

test_expect_success 'rdc ls of a character device (/dev/zero: padding for ever) is refused, not read for ever' '
	expect_fail 1 timeout 20 "$RDC" ls /dev/zero &&
	expect_grep "/dev/zero is a character device, not an image" err &&
	linked_archive 1 "" one.cpio &&
	zstd -q -c one.cpio | "$RDC" ls - > out &&
	expect_grep " /f0$" out
'

# odd.cpio: names and a target with bytes that are not UTF-8 beside UTF-8
odd_archive() {
	python3 - "$1" <<'PY'
import sys
def ent(name, mode, data=b""):
    nm = name + b"\0"
    h = b"070701" + b"".join(b"%08X" % v for v in [1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0])
    h += nm + b"\0" * (-(110 + len(nm)) % 4)
    return h + data + b"\0" * (-len(data) % 4)
with open(sys.argv[1], "wb") as f:
    f.write(ent("b\xe9".encode() + b"\xff\xc3(\xed\xa0\x80", 0o100644) +
            ent(b"l", 0o120777, b"\xf5x\xe2\x82\xac") + ent(b"TRAILER!!!", 0))
PY
}

test_expect_success 'rdc ls --json of names that are not UTF-8: valid UTF-8 JSON, and the bytes come back' '
	odd_archive odd.cpio &&
	"$RDC" ls --json odd.cpio > odd.json &&
	python3 -c "
import json
d = json.loads(open(\"odd.json\", \"rb\").read().decode(\"utf-8\"))  # strict: raw bytes would fail
back = lambda s: s.encode(\"utf-8\", \"surrogateescape\")
assert back(d[0][\"path\"]) == \"/b\\xe9\".encode() + b\"\\xff\\xc3(\\xed\\xa0\\x80\", d
assert back(d[1][\"target\"]) == b\"\\xf5x\\xe2\\x82\\xac\", d
"
'

test_done
