#!/usr/bin/env bash
# kernel: {tree: DIR} — the kernel a developer just built, straight from its
# O= build directory (tests/setup/test-kernels.sh builds one from
# linux-source-6.1: modules built, never installed, no depmod): the release
# from include/config/kernel.release, modules from modules.order, the image
# to boot from arch/x86/boot/bzImage without --kernel.  Out-of-tree modules
# resolve against that kernel only.  One boot.
. "$(dirname "$0")/lib.sh"

# What needs no kernel: the errors.
test_expect_success 'a directory that is not a kernel build tree is an error at tree:, with a hint' '
	mkdir -p src &&
	printf "rdc: 1\nkernel:\n  tree: src\n" >notree.yaml &&
	expect_fail 1 "$RDC" check notree.yaml &&
	expect_grep "^notree.yaml:3:9: error: .*/src is not a kernel build tree (no include/config/kernel.release)" err &&
	expect_grep "hint: .*make O=DIR" err &&
	printf "rdc: 1\nkernel: {tree: src, version: 6.1.0}\n" >both.yaml &&
	expect_fail 1 "$RDC" check both.yaml &&
	expect_grep "^both.yaml:2:21: error: kernel.version cannot go with kernel.tree" err
'

test_expect_success 'kernel.share is 9p, and shares a tree' '
	printf "rdc: 1\nkernel: {tree: src, share: nfs}\n" >nfs.yaml &&
	expect_fail 1 "$RDC" check nfs.yaml &&
	expect_grep "^nfs.yaml:2:28: error: unknown kernel.share .nfs." err &&
	printf "rdc: 1\nkernel: {version: 6.1.0, share: 9p}\n" >notree2.yaml &&
	expect_fail 1 "$RDC" check notree2.yaml &&
	expect_grep "^notree2.yaml:2:.*error: kernel.share shares a build tree.s modules, and there is no kernel.tree" err
'

if ! K=$("$TESTS_DIR/setup/test-kernels.sh" --path x86_64); then
	test_skip 'a raw kernel build tree' 'the x86_64 test kernel is not built (tests/setup/test-kernels.sh x86_64)'
	test_done
	exit
fi
REL=$(cat "$K/include/config/kernel.release")

cat >tree.yaml <<YAML
rdc: 1
kernel: {tree: $K}
kmods: [dummy, {name: test_module}, {path: hello/rdchello.ko, params: "who=tree"}]
init:
  mounts: [proc, sysfs, devtmpfs]
  modules: load
  steps:
    - uname -r
    - cat /proc/modules
    - grep -q "^dummy " /proc/modules && grep -q "^rdchello " /proc/modules
    - 'dmesg | grep -o "rdchello: hello, tree"'    # its params reached it
  on_exit: reboot     # the test kernel has no ACPI: poweroff would only halt it
YAML

# A driver developer's module, built against the tree (make -C TREE M=).
mkdir -p hello
cat >hello/rdchello.c <<'C'
#include <linux/module.h>
static char *who = "nobody";
module_param(who, charp, 0444);
static int __init rdchello_init(void) { pr_info("rdchello: hello, %s\n", who); return 0; }
static void __exit rdchello_exit(void) { }
module_init(rdchello_init);
module_exit(rdchello_exit);
MODULE_LICENSE("GPL");
C
echo 'obj-m := rdchello.o' >hello/Kbuild

test_expect_success 'rdc kmods --tree: the closure from the build tree, image paths at kernel/<path>' '
	"$RDC" kmods --tree "$K" dummy test_module >got &&
	printf "%s\n" "$K/drivers/net/dummy.ko" "$K/lib/test_module.ko" | sort >want &&
	sort got | diff want - &&
	"$RDC" kmods --dest --tree "$K" dummy >got &&
	[ "$(cat got)" = "/lib/modules/$REL/kernel/drivers/net/dummy.ko" ] &&
	expect_fail 2 "$RDC" kmods --tree "$K" --kver "$REL" dummy
'

test_expect_success 'an alias of a builtin module (modules.builtin.modinfo) is built in, not unknown' '
	tr "\0" "\n" <"$K/modules.builtin.modinfo" | grep -qx "9p.alias=fs-9p" &&
	"$RDC" kmods -v --tree "$K" fs-9p >got 2>err &&
	[ ! -s got ] &&
	expect_grep "9p. is built into the kernel" err &&
	expect_fail 1 "$RDC" kmods --tree "$K" fs-nosuch
'

test_expect_success 'an out-of-tree module builds against the tree (make -C TREE M=)' '
	make -s -C "$K" M="$PWD/hello" modules >hello/log 2>&1 &&
	modinfo -F vermagic hello/rdchello.ko | grep -q "^$REL "
'

test_expect_success 'the release and modules come from the tree: kernel/<path>, as modules_install would put them' '
	"$RDC" build tree.yaml -o img/ &&
	d=img/lib/modules/$REL &&
	cmp "$K/drivers/net/dummy.ko" "$d/kernel/drivers/net/dummy.ko" &&
	cmp "$K/lib/test_module.ko" "$d/kernel/lib/test_module.ko" &&
	cmp hello/rdchello.ko "$d/extra/rdchello.ko" &&
	expect_grep "^kernel/drivers/net/dummy.ko:" "$d/modules.dep" &&
	[ "$(ls img/lib/modules)" = "$REL" ]
'

test_expect_success 'an out-of-tree module is resolved against the manifest'"'"'s kernel only, never the host'"'"'s' '
	printf "rdc: 1\nkmods:\n  - {path: hello/rdchello.ko}\n" >nokernel.yaml &&
	expect_fail 1 "$RDC" check nokernel.yaml &&
	expect_grep "^nokernel.yaml:3:5: error: .*/hello/rdchello.ko. was built for kernel $REL, which is not installed under /lib/modules" err &&
	expect_grep "hint: .*kernel: {tree: DIR}" err &&
	if [ -n "$KVER" ]; then
		host=$(find "/lib/modules/$KVER/kernel/drivers/net" -name dummy.ko | head -1) &&
		printf "rdc: 1\nkernel: {tree: %s}\nkmods:\n  - {path: %s}\n" "$K" "$host" >mixed.yaml &&
		expect_fail 1 "$RDC" check mixed.yaml &&
		expect_grep "^mixed.yaml:4:5: error: .* was built for kernel $KVER, but the manifest.s kernel is $REL" err
	fi
'

if ! test_have qemu-system-x86_64; then
	test_skip 'booting the tree' 'needs qemu-system-x86_64'
	test_done
	exit
fi

test_expect_success 'rdc run --dry-run boots the tree'"'"'s own bzImage' '
	"$RDC" run --dry-run tree.yaml >cmd &&
	expect_grep " -kernel $K/arch/x86/boot/bzImage " cmd
'

test_expect_success 'rdc run with no --kernel: the tree'"'"'s kernel boots and loads its modules' '
	start=$(date +%s) &&
	{ "$RDC" run --timeout 240 tree.yaml </dev/null >out 2>err || { tail -15 out err; false; }; } &&
	! grep -q "QEMU had not stopped" err &&
	echo "boot took $(( $(date +%s) - start )) s" >&2 &&
	expect_grep "^$REL" out &&
	expect_grep "^dummy " out &&
	expect_grep "^test_module " out &&
	expect_grep "^rdchello " out &&
	expect_grep "^rdchello: hello, tree" out &&
	expect_grep "^rdc-exit\[[0-9a-f]*\]: 0" out
'

test_done
