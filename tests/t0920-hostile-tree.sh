#!/usr/bin/env bash
# -o DIR/ on the host (issue 18): safe by default even as root — no device
# nodes, no setuid/setgid bits unless --dir-special asks for them; a parent
# reached through a symlink resolves as for file outputs; a build killed
# while swapping the trees leaves DIR (old or new), and what killed builds
# left beside it is removed by the next one.
. "$(dirname "$0")/lib.sh"

cp /usr/bin/id myid
cat > m.yaml <<'YAML'
rdc: 1
files:
  - {src: myid, dest: /bin/id, mode: "4755"}
  - {src: myid, dest: /bin/gid, mode: "2755"}
  - {dest: /etc/v, content: "1\n"}
nodes:
  - {path: /dev/mem, type: c, major: 1, minor: 1, mode: "0666"}
  - {path: /dev/sda, type: b, major: 8, minor: 0}
  - {path: /run/fifo, type: pipe}
YAML

test_expect_success 'by default the tree has no device nodes and no setuid/setgid bits' '
	"$RDC" build m.yaml -o t/ && test -x t/bin/id && test -p t/run/fifo &&
	test "$(stat -c %a t/bin/id)" = 755 && test "$(stat -c %a t/bin/gid)" = 755 &&
	test ! -e t/dev/mem && test ! -e t/dev/sda &&
	find t -perm /6000 -o -type c -o -type b > special && test ! -s special
'

test_expect_success 'the setuid copy does not give nobody euid 0' '
	chmod 0755 . && "$RDC" build m.yaml -o t/ &&
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups t/bin/id -u) && test "$out" = 65534
'

test_expect_success '--dir-special creates the nodes and keeps the bits, as asked' '
	"$RDC" build m.yaml -o s/ --dir-special &&
	test "$(stat -c %a s/bin/id)" = 4755 && test -c s/dev/mem && test -b s/dev/sda
'

test_expect_success '-o under a symlinked parent writes through it, .. as the kernel resolves it' '
	mkdir -p real/deep && ln -s real/deep lnk &&
	"$RDC" build m.yaml -o lnk/t/ && test -f real/deep/t/etc/v &&
	"$RDC" build m.yaml -o lnk/../u/ && test -f real/u/etc/v
'

test_expect_success 'a build killed while swapping trees leaves DIR whole; the next one sweeps leftovers' '
	"$RDC" build m.yaml -o k/ && printf "rdc: 1\nfiles: [{dest: /etc/v, content: \"2\\\\n\"}]\n" > m2.yaml &&
	{ strace -f -o strace.log -e trace=renameat2 -e inject=renameat2:signal=SIGKILL "$RDC" build m2.yaml -o k/ 2>err; test $? -ne 0; } &&
	test -d k && test -f k/.rdc-tree && test -f k/etc/v &&
	ls -d k.rdc-* > left && test -s left &&
	"$RDC" build m2.yaml -o k/ && test "$(cat k/etc/v)" = 2 && ! ls -d k.rdc-* 2>/dev/null
'

test_expect_success 'leftovers of a dead build (tmp and old trees) are removed, a live build'"'"'s are not' '
	dead=$(sh -c "echo \$\$") && mkdir -p k.rdc-tmp.$dead/x k.rdc-old.$dead/y && : > k.rdc-tmp.$dead.cpio &&
	mkdir k.rdc-tmp.$$ && "$RDC" build m.yaml -o k/ &&
	! test -e k.rdc-tmp.$dead && ! test -e k.rdc-old.$dead && ! test -e k.rdc-tmp.$dead.cpio && test -d k.rdc-tmp.$$
'

test_expect_success 'a tree output inside a tree source is not archived into the next build' '
	mkdir -p src/etc && echo conf > src/etc/c &&
	printf "rdc: 1\nfiles: [{src: src/, dest: /}]\n" > t.yaml &&
	"$RDC" build t.yaml -o src/out/ && test -f src/out/etc/c &&
	"$RDC" build t.yaml -o src/out/ && test ! -e src/out/out &&
	"$RDC" build t.yaml -o t.cpio && ! cpio -it < t.cpio 2>/dev/null | grep -q "^out"
'

test_done
