#!/usr/bin/env bash
# Modules at boot follow modprobe's rules: btrfs, xfs, ext4 and nvme load
# under TCG's default CPU (no SSE4.2, so crc32c_intel refuses with ENODEV:
# reported, not fatal; crc32c_generic serves the alias), and a hard
# dependency that fails still stops the boot with its message and status.
# Two boots.
. "$(dirname "$0")/lib.sh"

if ! test_have qemu-system-x86_64 || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'modules at boot' 'needs qemu-system-x86_64 and a readable /boot/vmlinuz-$KVER'
	test_done
	exit
fi

cat > fs.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
kmods: [btrfs, xfs, ext4, nvme, crc32c]
init:
  mounts: [proc, sysfs, devtmpfs]
  modules: load
  steps:
    - for m in btrfs xfs ext4 nvme crc32c_generic; do grep "^\$m " /proc/modules || exit 1; done; echo ALL-LOADED
    - for f in btrfs xfs ext4; do grep -w "\$f" /proc/filesystems || exit 1; done; echo ALL-FILESYSTEMS
    - grep -q "^crc32c_intel " /proc/modules && echo CRC32C-INTEL-LOADED; true
qemu: {memory: 512M}
YAML

test_expect_success 'btrfs, xfs, ext4 and nvme boot with modules: load and are in /proc/modules' '
	{ "$RDC" run fs.yaml </dev/null >out 2>err || { tail -30 out; cat err; exit 1; }; } &&
	expect_grep "^ALL-LOADED" out &&
	expect_grep "^ALL-FILESYSTEMS" out &&
	expect_grep "^rdc-exit\[[0-9a-f]*\]: 0" out
'

test_expect_success 'a module refusing for want of the CPU feature is reported, and the boot goes on' '
	grep -q "^CRC32C-INTEL-LOADED" out ||
	expect_grep "^rdc: crc32c_intel not loaded: no such device (status 19;" out
'

cat > hard.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
kmods: [nvme, {name: nvme_core, params: "multipath=maybe"}]
init:
  mounts: [proc, sysfs, devtmpfs]
  modules: load
  steps:
    - echo STEP-RAN
YAML

test_expect_success 'a hard dependency that fails stops the boot with its message and status' '
	expect_fail 22 "$RDC" run hard.yaml </dev/null &&
	expect_grep "rdc: insmod /lib/modules/$KVER/.*/nvme-core.ko failed with status 22" out &&
	expect_grep "^rdc-exit\[[0-9a-f]*\]: 22" out &&
	! grep -q "^STEP-RAN" out &&
	! grep -q "insmod .*/nvme.ko" out
'

test_done
