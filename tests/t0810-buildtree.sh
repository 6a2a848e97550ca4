#!/usr/bin/env bash
# A kernel from a build tree, osandov vm.py-style (manifests/buildtree.yaml):
# modules come from a `make modules_install INSTALL_MOD_PATH=stage` staging
# tree where depmod never ran, the kernel from --kernel (a bzImage stand-in),
# and the guest must have every module of the closure live.  The staging
# tree is simulated by copying a few of the Debian kernel's modules (and the
# files modules_install writes besides them) without their indexes.  Then
# the same tree shared over virtio-9p instead of packed.  Two boots.
. "$(dirname "$0")/lib.sh"

if [ -z "$KVER" ] || [ ! -d "/lib/modules/$KVER/kernel" ]; then
	test_skip 'a kernel build tree' 'needs linux-image-amd64'
	test_done
	exit
fi

# What `make modules_install INSTALL_MOD_PATH=stage DEPMOD=true` leaves: the
# modules under kernel/, modules.order, modules.builtin(.modinfo); no
# modules.dep, no .bin indexes.
stage=$PWD/stage/lib/modules/$KVER
mkdir -p "$stage"
(cd "/lib/modules/$KVER" &&
	cp --parents kernel/drivers/watchdog/watchdog.ko kernel/drivers/watchdog/i6300esb.ko \
		kernel/net/core/failover.ko kernel/drivers/net/net_failover.ko \
		kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko \
		kernel/drivers/net/virtio_net.ko kernel/drivers/virtio/virtio_pci.ko \
		kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko \
		kernel/drivers/net/dummy.ko \
		modules.builtin modules.builtin.modinfo "$stage/") || exit 1
(cd "$stage" && find kernel -name '*.ko*' | sort >modules.order)
mkdir -p arch/x86/boot && cp "/boot/vmlinuz-$KVER" arch/x86/boot/bzImage 2>/dev/null
export MODROOT=$PWD/stage

test_expect_success 'the staging tree has no depmod output' '
	! ls "$stage" | grep -q "^modules\.\(dep\|alias\|symbols\|softdep\)"
'

test_expect_success 'rdc kmods resolves it as modprobe does on the installed tree' '
	"$RDC" kmods --moddir "$MODROOT/lib/modules" --kver "$KVER" i6300esb virtio_net >got &&
	sed "s|^$MODROOT/lib/modules/$KVER/||" got | sort >got.rel &&
	for m in i6300esb virtio_net; do
		modprobe -S "$KVER" --show-depends "$m" >deps.$m &&
		awk "/^insmod/ {print \$2}" deps.$m >>want.abs || return 1
	done &&
	sed "s|^/lib/modules/$KVER/||" want.abs | sort -u >want &&
	diff want got.rel &&
	[ "$(grep -n /watchdog.ko got | cut -d: -f1)" -lt "$(grep -n /i6300esb.ko got | cut -d: -f1)" ] &&
	[ "$(grep -n /failover.ko got | cut -d: -f1)" -lt "$(grep -n /net_failover.ko got | cut -d: -f1)" ] &&
	[ "$(grep -n /virtio_ring.ko got | cut -d: -f1)" -lt "$(grep -n /virtio_net.ko got | cut -d: -f1)" ]
'

test_expect_success 'a module the staging tree lacks is an error' '
	expect_fail 1 "$RDC" kmods --moddir "$MODROOT/lib/modules" --kver "$KVER" i6300esb e100 &&
	expect_grep "e100" err
'

test_expect_success 'the image carries modules.dep written for the closure' '
	"$RDC" build "$ROOT/manifests/buildtree.yaml" -o tree/ &&
	dep=tree/lib/modules/$KVER/modules.dep &&
	{ [ ! -e tree/usr/lib/modules ] || dep=tree/usr/lib/modules/$KVER/modules.dep; } &&
	expect_grep "^kernel/drivers/watchdog/i6300esb.ko: kernel/drivers/watchdog/watchdog.ko" "$dep" &&
	expect_grep "^kernel/drivers/net/virtio_net.ko:.*net_failover.ko" "$dep" &&
	! grep -q "dummy\|virtio_pci" "$dep"
'

if ! test_have qemu-system-x86_64 || [ ! -r arch/x86/boot/bzImage ]; then
	test_skip 'booting the build tree' 'needs qemu-system-x86_64 and a readable /boot/vmlinuz-$KVER'
	test_done
	exit
fi

test_expect_success 'rdc run --kernel BZIMAGE: every module of the closure is live in the guest' '
	start=$(date +%s) &&
	"$RDC" run --kernel arch/x86/boot/bzImage "$ROOT/manifests/buildtree.yaml" </dev/null >out 2>err &&
	echo "boot took $(( $(date +%s) - start )) s" >&2 &&
	expect_grep "^$KVER" out &&
	expect_grep "^i6300esb .* Live " out &&
	expect_grep "^virtio_net .* Live " out &&
	expect_grep "^buildtree: all modules live" out &&
	expect_grep "^heartbeat=7 sec" out &&
	expect_grep "^rdc-exit\(\[[0-9a-f]*\]\)\?: 0" out &&
	! grep -q "^dummy " out
'

test_expect_success 'rdc run --dry-run --kernel shows the QEMU command that boots it' '
	"$RDC" run --dry-run --kernel arch/x86/boot/bzImage "$ROOT/manifests/buildtree.yaml" >cmd &&
	[ "$(wc -l <cmd)" -eq 1 ] &&
	expect_grep " -kernel $PWD/arch/x86/boot/bzImage " cmd &&
	expect_grep " -initrd $PWD/buildtree.cpio.zst " cmd &&
	expect_grep " -device i6300esb" cmd
'

# Not packing the tree at all: only the 9p transport (and overlayfs) goes in
# the image; the guest mounts the staging tree over virtio-9p, runs depmod
# into an overlay and modprobes from it, so a module rebuilt after the image
# was made is loaded without rebuilding the image.  One boot.
(cd "/lib/modules/$KVER" &&
	cp --parents kernel/net/9p/9pnet.ko kernel/net/9p/9pnet_virtio.ko kernel/fs/9p/9p.ko \
		kernel/fs/netfs/netfs.ko kernel/fs/fscache/fscache.ko kernel/fs/overlayfs/overlay.ko "$stage/")
cat >share.yaml <<'YAML'
rdc: 1
kernel: {version: "${KVER}", modules: "${MODROOT}/lib/modules"}
kmods: [virtio_pci, 9pnet_virtio, 9p, overlay]
init:
  mounts: [proc, sysfs, devtmpfs, tmpfs]
  modules: load
  steps:
    - mkdir -p /tmp/tree /tmp/upper /tmp/work && mount -t 9p -o trans=virtio,version=9p2000.L,ro modules /tmp/tree
    - mount -t overlay -o lowerdir=/tmp/tree,upperdir=/tmp/upper,workdir=/tmp/work overlay /lib/modules
    - depmod && modprobe i6300esb heartbeat=9 && modprobe e1000 && cat /proc/modules
qemu:
  args: [-device, i6300esb]
YAML

test_expect_success 'the staging tree shared over virtio-9p: modules load from it, unpacked' '
	"$RDC" build share.yaml -o share.cpio &&
	! cpio_tree share.cpio | grep -q "i6300esb\|e1000" &&
	[ ! -e "$stage/kernel/drivers/net/ethernet/intel/e1000/e1000.ko" ] &&
	cp share.cpio share.before &&
	(cd "/lib/modules/$KVER" && cp --parents kernel/drivers/net/ethernet/intel/e1000/e1000.ko "$stage/") &&
	"$RDC" run --kernel arch/x86/boot/bzImage -o share.cpio share.yaml -- \
		-virtfs "local,path=$MODROOT/lib/modules,mount_tag=modules,security_model=none,readonly=on" \
		</dev/null >out 2>err &&
	cmp share.before share.cpio &&
	expect_grep "^i6300esb .* Live " out &&
	expect_grep "^watchdog .* Live " out &&
	expect_grep "^e1000 .* Live " out &&
	expect_grep "^rdc-exit\(\[[0-9a-f]*\]\)\?: 0" out
'

test_done
