#!/usr/bin/env bash
# kernel: {tree: DIR, share: 9p} — vm.py's way for trees too big to pack: no
# module goes into the image; `rdc run` shares the tree and depmod-style
# indexes for it read-only over virtio-9p, the generated /init mounts them
# at /lib/modules/<release> and modprobes the kmods from there, so a module
# rebuilt after the image was made loads without a new image.  The tree is
# a copy of the x86_64 test kernel's (its bzImage, two of its modules and
# the files make leaves beside them) plus a module built against it, so the
# test can rebuild that module.  Two boots.
. "$(dirname "$0")/lib.sh"

if ! K=$("$TESTS_DIR/setup/test-kernels.sh" --path x86_64); then
	test_skip 'modules shared over 9p' 'the x86_64 test kernel is not built (tests/setup/test-kernels.sh x86_64)'
	test_done
	exit
fi
REL=$(cat "$K/include/config/kernel.release")

T=$PWD/tree
mkdir -p "$T/include/config" "$T/arch/x86/boot" "$T/drivers/net" "$T/lib" "$T/drivers/misc" hello
cp "$K/include/config/kernel.release" "$T/include/config/" &&
cp "$K/arch/x86/boot/bzImage" "$T/arch/x86/boot/" &&
cp "$K/drivers/net/dummy.ko" "$T/drivers/net/" &&
cp "$K/lib/test_module.ko" "$T/lib/" &&
cp "$K/modules.builtin" "$K/modules.builtin.modinfo" "$T/" &&
printf "drivers/net/dummy.ko\nlib/test_module.ko\ndrivers/misc/rdchello.ko\n" >"$T/modules.order" || exit 1
echo 'obj-m := rdchello.o' >hello/Kbuild
hello_module() { # a module whose message says which build it is
	cat >hello/rdchello.c <<C &&
#include <linux/module.h>
static int __init rdchello_init(void) { pr_info("rdchello: build $1\n"); return 0; }
module_init(rdchello_init);
MODULE_LICENSE("GPL");
C
	make -s -C "$K" M="$PWD/hello" modules >hello/log 2>&1 &&
	cp hello/rdchello.ko "$T/drivers/misc/rdchello.ko"
}

run_share() { # the console in out, rdc's words in err; both shown on failure
	"$RDC" run --timeout 240 -o share.cpio share.yaml </dev/null >out 2>err ||
		{ echo "rdc run: status $?"; tail -15 out err; return 1; }
}

cat >share.yaml <<YAML
rdc: 1
kernel: {tree: $T, share: 9p}
kmods: [rdchello, dummy]
init:
  mounts: [proc, sysfs, devtmpfs]
  modules: load
  steps:
    - grep "^rdchello " /proc/modules && grep "^dummy " /proc/modules
    - 'dmesg | grep -o "rdchello: build [a-z]*"'
    - modprobe test_module && grep -o "^test_module " /proc/modules   # named nowhere: the kernel's tree has it
  on_exit: reboot     # the test kernel has no ACPI: poweroff would only halt it
YAML

test_expect_success 'the image has no module: only the mounts and modprobes of the share' '
	hello_module one &&
	"$RDC" build share.yaml -o share.cpio &&
	! cpio_tree share.cpio | grep -q "\.ko" &&
	"$RDC" build share.yaml -o img/ &&
	expect_grep "mount -t 9p -o trans=virtio,version=9p2000.L,ro rdc-modules ./lib/modules/$REL." img/init &&
	expect_grep "mount -t 9p -o trans=virtio,version=9p2000.L,ro rdc-tree ./lib/modules/$REL/kernel." img/init &&
	expect_grep "modprobe .rdchello." img/init
'

test_expect_success 'a module of the kmods the tree lacks is still an error at its line' '
	sed "s/kmods: \[rdchello, dummy\]/kmods: [rdchello, e1000]/" share.yaml >bad.yaml &&
	expect_fail 1 "$RDC" check bad.yaml &&
	expect_grep "^bad.yaml:3:.*unknown kernel module .e1000." err
'

test_expect_success 'rdc run --dry-run shares the tree and its indexes read-only over virtio-9p' '
	"$RDC" run --dry-run share.yaml >cmd &&
	expect_grep " -kernel $T/arch/x86/boot/bzImage " cmd &&
	expect_grep " -virtfs local,path=$RDC_CACHE_DIR/share/[0-9a-f]*,mount_tag=rdc-modules,security_model=none,readonly=on" cmd &&
	expect_grep " -virtfs local,path=$T,mount_tag=rdc-tree,security_model=none,readonly=on" cmd
'

if ! test_have qemu-system-x86_64; then
	test_skip 'booting with shared modules' 'needs qemu-system-x86_64'
	test_done
	exit
fi

test_expect_success 'the guest modprobes the kmods and any other module of the tree from the share' '
	run_share &&
	expect_grep "^rdchello " out &&
	expect_grep "^dummy " out &&
	expect_grep "^rdchello: build one" out &&
	expect_grep "^test_module " out &&
	expect_grep "^rdc-exit\[[0-9a-f]*\]: 0" out &&
	cp share.cpio before.cpio &&
	idx=$(ls -d "$RDC_CACHE_DIR"/share/*) &&
	expect_grep "^kernel/drivers/misc/rdchello.ko:" "$idx/modules.dep"
'

test_expect_success 'a module rebuilt in the tree loads in the next boot with the same image' '
	hello_module two &&
	run_share &&
	cmp before.cpio share.cpio &&
	expect_grep "^rdchello: build two" out &&
	expect_grep "^rdc-exit\[[0-9a-f]*\]: 0" out
'

# A tree whose 9p is modular (Debian's kernel, laid out as its build tree
# would be: modules beside their objects, no depmod): the image packs the
# transport's closure and nothing else, /init insmods it, then mounts and
# modprobes from the share.  One boot.
if [ -z "$KVER" ] || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'a modular 9p transport' 'needs linux-image-amd64 and a readable /boot/vmlinuz-$KVER'
	test_done
	exit
fi
D=$PWD/debtree
mkdir -p "$D/include/config" "$D/arch/x86/boot" &&
echo "$KVER" >"$D/include/config/kernel.release" &&
cp "/boot/vmlinuz-$KVER" "$D/arch/x86/boot/bzImage" &&
cp "/lib/modules/$KVER/modules.builtin" "/lib/modules/$KVER/modules.builtin.modinfo" "$D/" &&
for m in virtio_pci 9pnet_virtio 9p i6300esb; do
	modprobe -S "$KVER" --show-depends "$m"
done | awk "/^insmod/ {print \$2}" | sort -u | sed "s|^/lib/modules/$KVER/kernel/||" >"$D/modules.order" &&
while read -r f; do
	mkdir -p "$D/$(dirname "$f")" && cp "/lib/modules/$KVER/kernel/$f" "$D/$f" || exit 1
done <"$D/modules.order" || exit 1
cat >deb.yaml <<YAML
rdc: 1
kernel: {tree: $D, share: 9p}
kmods: [{name: i6300esb, params: "heartbeat=7"}]
init:
  mounts: [proc, sysfs, devtmpfs]
  modules: load
  steps:
    - grep "^9pnet_virtio " /proc/modules && grep "^i6300esb " /proc/modules
    - 'dmesg | grep -o "heartbeat=7 sec"'
qemu:
  args: [-device, i6300esb]
YAML

test_expect_success 'a modular 9p: its closure is packed and loaded first, the kmods come over the share' '
	"$RDC" build deb.yaml -o deb/ &&
	(cd deb && find . -name "*.ko" | sed "s|.*/||" | sort) >packed &&
	printf "%s\n" 9p.ko 9pnet.ko 9pnet_virtio.ko fscache.ko netfs.ko virtio.ko virtio_pci.ko \
		virtio_pci_legacy_dev.ko virtio_pci_modern_dev.ko virtio_ring.ko | diff - packed &&
	{ "$RDC" run --timeout 240 deb.yaml </dev/null >out 2>err || { tail -15 out err; false; }; } &&
	expect_grep "^i6300esb " out &&
	expect_grep "^heartbeat=7 sec" out &&
	expect_grep "^rdc-exit\[[0-9a-f]*\]: 0" out
'

test_done
