#!/usr/bin/env bash
# The plan: paths through symlinked directories (usrmerge), a directory asked
# for where a symlink is, parents that are not directories.
. "$(dirname "$0")/lib.sh"
printf 'x\n' > f

test_expect_success 'entries under a symlinked directory land behind it' '
	cat > u.yaml <<-YAML &&
	rdc: 1
	symlinks:
	  - {path: /lib, target: usr/lib}
	  - {path: /lib64, target: /usr/lib64}
	files:
	  - {src: f, dest: /lib/libx.so.1}
	  - {src: f, dest: /lib64/ld.so}
	  - {src: f, dest: /usr/lib/libx.so.1}
	YAML
	"$RDC" list u.yaml > l &&
	grep -q "^slink /lib usr/lib " l && grep -q "^file /usr/lib/libx.so.1 " l &&
	grep -q "^file /usr/lib64/ld.so " l && ! grep -q "^file /lib" l &&
	[ "$(grep -c "^file /usr/lib/libx.so.1 " l)" = 1 ]
'

test_expect_success 'a directory asked for at a symlink is the directory behind it' '
	printf "rdc: 1\nsymlinks:\n  - {path: /lib, target: usr/lib}\ndirs: [/lib]\n" > d.yaml &&
	"$RDC" list d.yaml > l && grep -q "^slink /lib " l && grep -q "^dir /usr/lib " l
'

test_expect_success 'a file where a directory is needed is an error naming both' '
	printf "rdc: 1\nfiles:\n  - {src: f, dest: /etc}\n  - {src: f, dest: /etc/x}\n" > p.yaml &&
	expect_fail 1 "$RDC" list p.yaml &&
	expect_grep "p.yaml:4:5: error: /etc/x needs /etc to be a directory" err &&
	expect_grep "p.yaml:3:5" err
'

test_expect_success 'implied parents are 0755 root and come before their children' '
	printf "rdc: 1\nfiles:\n  - {src: f, dest: /a/b/c/d, uid: 5}\n" > i.yaml &&
	"$RDC" list i.yaml > l &&
	[ "$(grep -v "^#" l | cut -d" " -f1-5 | head -3 | tr "\n" ";")" = "dir /a 0755 0 0;dir /a/b 0755 0 0;dir /a/b/c 0755 0 0;" ]
'
test_expect_success 'a symlink whose target climbs above / leads where the kernel takes it (/c -> ../etc is /etc)' '
	cat >up.yaml <<-YAML &&
	rdc: 1
	symlinks:
	  - {path: /c, target: ../etc}
	files:
	  - {dest: /c/x, content: "x\n"}
	YAML
	"$RDC" build up.yaml -o up.cpio &&
	cpio_tree up.cpio >tree &&
	expect_grep " etc/x$" tree &&
	expect_grep " c -> ../etc$" tree &&
	! grep -q " c/x$" tree
'
test_done
