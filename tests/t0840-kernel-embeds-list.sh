#!/usr/bin/env bash
# The kernel's own embedding: the x86_64 test kernel built again with
# CONFIG_INITRAMFS_SOURCE set to the gen_init_cpio list `rdc list` writes
# (its file lines name objects in rdc's cache), booted with no -initrd: its
# /init is rdc's.  The kernel build is kept by the list's hash, so a re-run
# is cheap, and an edited manifest (a new list) really builds a new kernel.
# Two boots; the first run of the test also relinks the kernel twice.
. "$(dirname "$0")/lib.sh"

if ! K=$("$TESTS_DIR/setup/test-kernels.sh" --path x86_64); then
	test_skip 'a kernel embedding rdc'"'"'s list' 'the x86_64 test kernel is not built (tests/setup/test-kernels.sh x86_64)'
	test_done
	exit
fi
if [ ! -w "$(dirname "$K")" ]; then
	test_skip 'a kernel embedding rdc'"'"'s list' "its builds go to $(dirname "$K"), which is not writable here"
	test_done
	exit
fi
if ! test_have qemu-system-x86_64; then
	test_skip 'a kernel embedding rdc'"'"'s list' 'needs qemu-system-x86_64'
	test_done
	exit
fi

manifest() { # the line its /init prints
	cat >embed.yaml <<YAML
rdc: 1
init:
  mounts: [proc]
  steps:
    - 'echo "embedded: $1 from \$(cat /proc/cmdline)"'
  on_exit: reboot
YAML
}

# Boots the image with no initrd: the status line is the unsigned one
# (no RDC_NONCE on this command line), then the reboot ends QEMU.
boot() {
	timeout 240 qemu-system-x86_64 -accel tcg -m 256M -nodefaults -no-user-config -display none -no-reboot \
		-serial stdio -kernel "$1" -append "panic=-1 quiet console=ttyS0" </dev/null >"$2" 2>&1
}

test_expect_success 'the kernel built with rdc list'"'"'s output runs its /init, with no -initrd' '
	manifest one &&
	"$RDC" list embed.yaml >one.list &&
	expect_grep "^file /init $RDC_CACHE_DIR/objects/" one.list &&
	img=$("$TESTS_DIR/setup/test-kernels.sh" --embed x86_64 one.list) &&
	echo "$img" >img1 &&
	start=$(date +%s) &&
	boot "$img" boot1 &&
	echo "boot took $(( $(date +%s) - start )) s" >&2 &&
	expect_grep "^embedded: one from panic=-1 quiet console=ttyS0" boot1 &&
	expect_grep "^rdc-exit: 0" boot1
'

test_expect_success 'the same list again is the kernel already built' '
	[ -s one.list ] &&
	a=$("$TESTS_DIR/setup/test-kernels.sh" --embed x86_64 one.list 2>log) &&
	[ ! -s log ] &&
	[ "$a" = "$(cat img1)" ]
'

test_expect_success 'an edited manifest is a new list and a new kernel, which runs the new /init' '
	manifest two &&
	"$RDC" list embed.yaml >two.list &&
	! cmp -s one.list two.list &&
	img2=$("$TESTS_DIR/setup/test-kernels.sh" --embed x86_64 two.list) &&
	[ "$img2" != "$(cat img1)" ] && ! cmp -s "$(cat img1)" "$img2" &&
	boot "$img2" boot2 &&
	expect_grep "^embedded: two from" boot2 &&
	! grep -q "embedded: one" boot2
'

test_done
