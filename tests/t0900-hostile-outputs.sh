#!/usr/bin/env bash
# Hostile output paths (issue 18): an output replaces only a regular file
# rdc may replace — never a device node, FIFO, socket or a symlink to one —
# with the same checks for every file a build writes (a .S's .cpio, rdc
# import -o, a manifest's output:); a deleted working directory is an
# error, not a crash or a tree at /; modes follow the umask.  Every node
# here is made in the trash directory (mknod as root), never under /dev.
. "$(dirname "$0")/lib.sh"

cat > m.yaml <<'YAML'
rdc: 1
files:
  - {dest: /etc/x, content: "hi\n"}
YAML
is_chr() { test -c "$1" || { echo "$1 is no longer a character device"; ls -l "$1"; return 1; }; }

test_expect_success '-o a device node is refused and the node stays' '
	mknod null c 1 3 &&
	expect_fail 1 "$RDC" build m.yaml -o null &&
	expect_grep "not writing null: it is a character device" err &&
	is_chr null && expect_fail 1 "$RDC" build m.yaml -o null --format cpio && is_chr null
'

test_expect_success '-o a FIFO, a socket, a symlink to a device are refused' '
	mkfifo fifo && ln -s null to-null &&
	python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")" &&
	expect_fail 1 "$RDC" build m.yaml -o fifo && expect_grep "it is a FIFO" err && test -p fifo &&
	expect_fail 1 "$RDC" build m.yaml -o sock && expect_grep "it is a socket" err && test -S sock &&
	expect_fail 1 "$RDC" build m.yaml -o to-null && expect_grep "symlink to a character device" err &&
	test -L to-null && is_chr null &&
	! ls -a | grep -q rdc-tmp
'

test_expect_success '-o a symlink to a regular file writes that file and keeps the link' '
	echo old > real.cpio && ln -s real.cpio link.cpio &&
	"$RDC" build m.yaml -o link.cpio && test -L link.cpio &&
	cpio -it < real.cpio 2>/dev/null | grep -qx etc/x
'

test_expect_success 'a .S companion gets the main output'"'"'s checks: a device there is refused' '
	mknod dev.cpio c 1 3 &&
	expect_fail 1 "$RDC" build m.yaml -o dev.S && expect_grep "not writing dev.cpio: it is a character device" err &&
	is_chr dev.cpio && test ! -e dev.S
'

test_expect_success 'a .S companion may not overwrite the manifest (rdc build self.cpio -o self.S)' '
	cp m.yaml self.cpio && cp self.cpio self.before &&
	expect_fail 1 "$RDC" build self.cpio -o self.S && expect_grep "is the manifest" err &&
	cmp self.cpio self.before && test ! -e self.S
'

test_expect_success 'rdc import -o a device node or its own input is refused' '
	printf "dir /etc 0755 0 0\n" > l.list && cp l.list l.before &&
	expect_fail 1 "$RDC" import l.list -o null && expect_grep "it is a character device" err && is_chr null &&
	expect_fail 1 "$RDC" import l.list -o l.list && expect_grep "is the list" err && cmp l.list l.before
'

test_expect_success 'output: in a manifest replaces an image rdc wrote, never another file' '
	mkdir -p sub && echo "precious" > victim.txt &&
	printf "rdc: 1\nfiles: [{dest: /x, content: \"x\"}]\noutput: ../victim.txt\n" > sub/v.yaml &&
	expect_fail 1 "$RDC" build sub/v.yaml && expect_grep "v.yaml:3:.*victim.txt exists and is not an image rdc wrote" err &&
	test "$(cat victim.txt)" = precious &&
	printf "rdc: 1\nfiles: [{dest: /x, content: \"x\"}]\noutput: ../img.cpio\n" > sub/i.yaml &&
	"$RDC" build sub/i.yaml && printf "rdc: 1\nfiles: [{dest: /y, content: \"y\"}]\noutput: ../img.cpio\n" > sub/i.yaml &&
	"$RDC" build sub/i.yaml && cpio -it < img.cpio 2>/dev/null | grep -qx y &&
	"$RDC" build sub/v.yaml -o victim.txt --format cpio && cpio -it < victim.txt 2>/dev/null | grep -qx x
'

test_expect_success 'a deleted working directory: -o x.cpio and -o rel/ fail cleanly' '
	top=$PWD && mkdir gone && (
		cd gone && rmdir "$top/gone" &&
		{ "$RDC" build "$top/m.yaml" -o x.cpio 2>"$top/err1"; echo $? >"$top/rc1"; } &&
		{ "$RDC" build "$top/m.yaml" -o rdc-hostile-rel/ 2>"$top/err2"; echo $? >"$top/rc2"; }
	) && test "$(cat rc1)" = 1 && test "$(cat rc2)" = 1 && test ! -e /rdc-hostile-rel &&
	expect_grep "current directory is gone" err1 && expect_grep "current directory is gone" err2
'

test_expect_success 'outputs honour the umask, and an existing output keeps its mode' '
	(umask 077 && "$RDC" build m.yaml -o private.cpio) && test "$(stat -c %a private.cpio)" = 600 &&
	(umask 022 && "$RDC" build m.yaml -o public.cpio) && test "$(stat -c %a public.cpio)" = 644 &&
	chmod 0640 public.cpio && printf "rdc: 1\ndirs: [/d]\n" > m2.yaml &&
	"$RDC" build m2.yaml -o public.cpio && test "$(stat -c %a public.cpio)" = 640
'

test_expect_success 'an image rebuilt in place is exchanged with the old one: a hard link keeps the old bytes, nothing left beside' '
	"$RDC" build m.yaml -o x.cpio && cp x.cpio first.cpio && ln x.cpio old-link && printf "rdc: 1\ndirs: [/d]\n" > m3.yaml &&
	strace -f -qq -e trace=rename,renameat,renameat2 -o x.trace "$RDC" build m3.yaml -o x.cpio &&
	expect_grep "renameat2(.*\"x.cpio\", RENAME_EXCHANGE) = 0" x.trace && ! grep -q "^[0-9]* rename(.*\"x.cpio\")" x.trace &&
	cmp old-link first.cpio && ! cmp -s x.cpio first.cpio && [ "$(cpio_tree x.cpio | grep -c " d$")" = 1 ] &&
	! ls x.cpio.rdc-tmp.* 2>/dev/null
'

test_expect_success 'a large old image (64 MiB and more) is unlinked by a process of its own, and goes' '
	{ printf 070701 && head -c 70000000 /dev/zero; } > big.cpio && ino=$(stat -c %i big.cpio) &&
	"$RDC" build m.yaml -o big.cpio && cmp big.cpio first.cpio && [ "$(stat -c %i big.cpio)" != "$ino" ] &&
	for i in $(seq 100); do ls big.cpio.rdc-tmp.* >/dev/null 2>&1 || break; sleep 0.1; done &&
	! ls big.cpio.rdc-tmp.* 2>/dev/null
'

test_done
