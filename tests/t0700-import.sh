#!/usr/bin/env bash
# `rdc import LIST`: a gen_init_cpio list becomes a manifest whose image holds
# the tree the kernel's own gen_init_cpio makes of the list.  One difference
# by design: gen_init_cpio writes a file's extra names as hard links (one
# inode, the data on the last name, the others empty in the archive); rdc
# has no hard links yet, so each name is a full copy with the same content.
# The unpacked trees have the same names, modes and contents either way.
. "$(dirname "$0")/lib.sh"

mkdir -p src/sub man
printf 'hello\n' > src/a.txt
printf '#!/bin/sh\necho hi\n' > src/run.sh
printf 'linked\n' > src/sub/linked
head -c 70000 /dev/urandom > src/big.bin
export IMPORT_SRC="$PWD/src"

# Every type: files with modes and owners, dirs, char and block nodes,
# symlinks, a pipe, a socket, a ${VAR} location, a hard-link group.
cat > every.list <<'LIST'
# every kind of gen_init_cpio entry

dir /dev 0755 0 0
dir /bin 0755 0 0
dir /etc 0755 0 0
dir /home 0755 0 0
dir /home/u 0700 1000 1000
dir /tmp 1777 0 0
dir /run 0755 0 0
nod /dev/console 0600 0 0 c 5 1
nod /dev/sda 0660 0 6 b 8 0
slink /bin/sh busybox 0777 0 0
slink /etc/mtab /proc/self/mounts 777 0 0
pipe /run/fifo 0644 0 0
sock /run/sock 0666 0 0
file /etc/a.txt src/a.txt 0640 7 8
file	/run.sh	src/run.sh	0755	0	0
file /big.bin ${IMPORT_SRC}/big.bin 0600 0 0
file /bin/linked ${IMPORT_SRC}/sub/linked 4755 0 0 /bin/linked2 /etc/linked3
LIST

hardlinks='bin/linked$|bin/linked2$|etc/linked3$'

test_expect_success 'an imported list builds the tree gen_init_cpio makes of it' '
	"$RDC" import every.list -o man/every.yaml &&
	"$RDC" build man/every.yaml -o every.cpio &&
	gen_init_cpio -t 0 every.list > oracle.cpio &&
	cpio_tree every.cpio | grep -Ev "$hardlinks" > rdc.tree &&
	cpio_tree oracle.cpio | grep -Ev "$hardlinks" > oracle.tree &&
	diff oracle.tree rdc.tree && [ $(wc -l < rdc.tree) -eq 16 ]
'

test_expect_success 'hard links become copies: same names, modes and contents when unpacked' '
	mkdir rx ox && (cd rx && cpio -idm --quiet < ../every.cpio) && (cd ox && cpio -idm --quiet < ../oracle.cpio) &&
	for f in bin/linked bin/linked2 etc/linked3; do
		cmp rx/$f src/sub/linked && cmp ox/$f src/sub/linked &&
		[ "$(stat -c %a rx/$f)" = 4755 ] && [ "$(stat -c %a ox/$f)" = 4755 ] || exit 1
	done &&
	[ "$(stat -c %h ox/bin/linked)" = 3 ] && [ "$(stat -c %h rx/bin/linked)" = 1 ] &&
	cpio_tree every.cpio | grep -E "$hardlinks" | awk "{print \$1, \$5, \$6}" | sort -u > copies &&
	[ $(wc -l < copies) -eq 1 ] &&
	[ "$(grep -c "rdc has no hard links yet" man/every.yaml)" -eq 2 ] &&
	(cd ox && find . -printf "%p %y %m %U %G %s %l\n" | sort) > ox.find &&
	(cd rx && find . -printf "%p %y %m %U %G %s %l\n" | sort) > rx.find &&
	diff ox.find rx.find && [ $(wc -l < rx.find) -eq 20 ] &&
	for f in $(cd ox && find . -type f); do cmp ox/$f rx/$f || exit 1; done
'

test_expect_success 'the manifest is readable YAML: relative src from its own dir, ${VAR} noted' '
	expect_grep "^rdc: 1$" man/every.yaml &&
	expect_grep "{src: ../src/a.txt, dest: /etc/a.txt, mode: \"0640\", uid: 7, gid: 8}" man/every.yaml &&
	expect_grep "{path: /dev/sda, type: b, major: 8, minor: 0, mode: \"0660\", gid: 6}" man/every.yaml &&
	expect_grep "{path: /run/fifo, type: pipe, mode: \"0644\"}" man/every.yaml &&
	expect_grep "{path: /tmp, mode: \"1777\"}" man/every.yaml &&
	expect_grep "# src from \${IMPORT_SRC}/big.bin" man/every.yaml &&
	expect_grep "{src: $PWD/src/big.bin, dest: /big.bin" man/every.yaml
'

test_expect_success 'relative src paths follow the manifest when the tree moves' '
	mkdir moved && cp -r src man moved/ && rm -rf moved/src/big.bin moved/src/sub &&
	sed -i "/big.bin\|linked/d" moved/man/every.yaml &&
	(cd / && "$RDC" build "$OLDPWD/moved/man/every.yaml" -o "$OLDPWD/moved.cpio") &&
	mkdir mx && (cd mx && cpio -id --quiet < ../moved.cpio) && cmp mx/etc/a.txt src/a.txt
'

test_expect_success 'without -o the manifest goes to stdout with absolute src paths' '
	"$RDC" import every.list > stdout.yaml &&
	expect_grep "{src: $PWD/src/a.txt, dest: /etc/a.txt" stdout.yaml &&
	! grep -q "src: \.\./" stdout.yaml &&
	(cd / && "$RDC" build "$OLDPWD/stdout.yaml" -o "$OLDPWD/stdout.cpio") &&
	[ "$(cpio_tree stdout.cpio)" = "$(cpio_tree every.cpio)" ]
'

test_expect_success 'a list from stdin (-) imports the same' '
	"$RDC" import - -o man/stdin.yaml < every.list &&
	diff <(grep -v "^# Imported" man/every.yaml) <(grep -v "^# Imported" man/stdin.yaml)
'

test_expect_success 'names that YAML would misread are quoted and come back intact' '
	printf "file /true src/a.txt 0644 0 0\nfile /0755 src/a.txt 0644 0 0\nfile /a:b,c#d{e} src/a.txt 0644 0 0\nslink /null - 0777 0 0\n" > odd.list &&
	"$RDC" import odd.list -o odd.yaml && "$RDC" build odd.yaml -o odd.cpio &&
	gen_init_cpio -t 0 odd.list > odd-oracle.cpio &&
	diff <(cpio_tree odd-oracle.cpio) <(cpio_tree odd.cpio) &&
	expect_grep "dest: \"/a:b,c#d{e}\"" odd.yaml
'

test_expect_success 'round trip: rdc list of a manifest, imported, builds the same image' '
	printf "tiny\n" > host.txt &&
	mkdir -p tree/d && echo deep > tree/d/f && ln -s d/f tree/l &&
	cat > orig.yaml <<-YAML &&
	rdc: 1
	dirs: [/proc, {path: /tmp, mode: "1777"}, {path: /home/u, mode: "0700", uid: 1000, gid: 100}]
	nodes:
	  - {path: /dev/console, type: c, major: 5, minor: 1, mode: "0600"}
	  - {path: /dev/loop0, type: b, major: 7, minor: 0, mode: "0660", gid: 6}
	  - {path: /run/p, type: pipe}
	  - {path: /run/s, type: sock}
	symlinks: [{path: /bin/sh, target: busybox}]
	files:
	  - {src: host.txt, dest: /etc/host.txt, mode: "0600", uid: 3, gid: 4}
	  - {dest: /etc/hostname, content: "tiny\n"}
	  - {src: tree/, dest: /opt}
	YAML
	"$RDC" build orig.yaml -o orig.cpio &&
	"$RDC" list orig.yaml > orig.list &&
	"$RDC" import orig.list -o back.yaml 2>imp.err &&
	expect_grep "orig.list:1:1: warning: this list was written by rdc" imp.err &&
	"$RDC" build back.yaml -o back.cpio &&
	cmp orig.cpio back.cpio &&
	"$RDC" list back.yaml | diff orig.list -
'

# Errors: LIST:line:col, the line, a caret; nothing written; exit 1.
check_error() { # LINE-IN-LIST EXPECTED-LOCATION EXPECTED-MESSAGE
	printf "dir /ok 0755 0 0\n%s\n" "$1" > bad.list &&
	echo previous > bad.yaml &&
	expect_fail 1 "$RDC" import bad.list -o bad.yaml &&
	expect_grep "^bad.list:$2: error: $3" err &&
	[ "$(cat bad.yaml)" = previous ] && [ -z "$(ls -A | grep rdc-tmp)" ]
}

test_expect_success 'an unknown type is an error at its column, with a suggestion' '
	check_error "fiel /x src/a.txt 0644 0 0" 2:1 "unknown entry type .fiel." &&
	expect_grep "did you mean .file." err && expect_grep "^      | ^$" err
'

test_expect_success 'a line that starts with blanks is an error (gen_init_cpio skips it)' '
	check_error "	file /x src/a.txt 0644 0 0" 2:1 "an entry must start in the first column" &&
	check_error "  # a comment" 2:1 "an entry must start in the first column"
'

test_expect_success 'a file whose location is missing or not a file is an error at the location, as gen_init_cpio would stop' '
	check_error "file /x src/nosuch.txt 0644 0 0" 2:9 "cannot read .*src/nosuch.txt: No such file" &&
	check_error "file /x /etc 0644 0 0" 2:9 "/etc is not a regular file"
'

test_expect_success 'a wrong number of fields is an error naming the syntax' '
	check_error "dir /x 0755 0" 2:14 "dir takes 4 fields, this line has 3" &&
	expect_grep "hint: dir NAME MODE UID GID" err &&
	check_error "nod /dev/x 0600 0 0 c 1 3 9" 2:27 "nod takes 7 fields, this line has 8"
'

test_expect_success 'bad modes, ids, device types and numbers are errors at their field' '
	check_error "file /x src/a.txt 0855 0 0" 2:19 "bad mode .0855." &&
	check_error "dir /x 17777 0 0" 2:8 "bad mode .17777." &&
	check_error "dir /x 0755 root 0" 2:13 "uid must be a non-negative decimal number" &&
	check_error "nod /dev/x 0600 0 0 x 1 3" 2:21 "device type must be c" &&
	check_error "nod /dev/x 0600 0 0 c 4096 3" 2:23 "bad major number"
'

test_expect_success 'an unset ${VAR} in a location is an error at the variable' '
	unset NOT_SET_ANYWHERE &&
	check_error "file /x \${IMPORT_SRC}/\${NOT_SET_ANYWHERE}/a 0644 0 0" 2:23 "\${NOT_SET_ANYWHERE} is not set or empty"
'

test_expect_success 'names that climb out of the root or name it are errors' '
	check_error "dir /../x 0755 0 0" 2:5 "name ./\.\./x. climbs out of the image root" &&
	check_error "file /x src/a.txt 0644 0 0 /y/../../z" 2:28 "hard link name"
'

test_expect_success 'every bad line is reported, not just the first' '
	printf "dir /a 0755 0 0\nbogus\ndir /b 0999 0 0\ndir /c 0755 0 0\n" > many.list &&
	expect_fail 1 "$RDC" import many.list &&
	expect_grep "^many.list:2:1: error" err && expect_grep "^many.list:3:8: error" err && [ ! -s out ]
'

test_expect_success 'a file that is no list at all: 20 errors, then one that says so' '
	seq 1 500 | sed "s/^/garbage line /" >notalist &&
	expect_fail 1 "$RDC" import notalist &&
	test "$(grep -c "error:" err)" -eq 21 &&
	expect_grep "notalist:20:1: error: giving up after 20 errors" err &&
	expect_grep "is it a gen_init_cpio list" err
'

test_expect_success 'a name listed twice: identical lines kept once, different ones an error' '
	printf "dir /a 0755 0 0\ndir /a 0755 0 0\n" > dup.list &&
	"$RDC" import dup.list > dup.yaml && [ "$(grep -c "^  - /a$" dup.yaml)" -eq 1 ] &&
	printf "dir /a 0755 0 0\ndir /a 0700 0 0\n" > dup2.list &&
	expect_fail 1 "$RDC" import dup2.list && expect_grep "^dup2.list:2:5: error: /a is listed twice" err &&
	expect_grep "line 1 already makes /a" err
'

test_expect_success 'usage errors exit 2' '
	expect_fail 2 "$RDC" import && expect_grep "usage: rdc import" err &&
	expect_fail 2 "$RDC" import a b &&
	expect_fail 2 "$RDC" import --bogus every.list &&
	expect_fail 1 "$RDC" import no-such.list && expect_grep "cannot read no-such.list" err
'

test_done
