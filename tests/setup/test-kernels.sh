#!/usr/bin/env bash
# Builds the tests' own small kernels from Debian's linux-source-6.1, once per
# machine: tinyconfig plus what the tutorial's images need, each cached under
#
#   $RDC_TEST_KERNELS (default /var/cache/rdc-tests/kernels)/<name>-<hash>/
#
# where <hash> covers everything the build depends on (the source tarball,
# the option list, the compiler), so a changed option builds a new kernel and
# an unchanged one is never rebuilt.  The directory is the O= build tree
# itself, modules built and never installed (a "raw build tree", as a kernel
# developer has it): arch/<arch>/boot/<image>, include/config/kernel.release,
# modules.order, the .ko files beside their objects.  `build.log` holds the
# build's output and `build-seconds` how long it took.
#
#   test-kernels.sh [NAME...]     build the named kernels (default: all)
#   test-kernels.sh --path NAME   print NAME's directory if it is built, else
#                                 exit 1 (tests use this; it builds nothing)
#   test-kernels.sh --source      print the unpacked source tree's path
#   test-kernels.sh --embed NAME LIST
#                                 NAME's kernel again, with CONFIG_INITRAMFS_SOURCE=LIST
#                                 (a gen_init_cpio list): prints the image's
#                                 path.  Built in <dir>-embed/ (a tree of its
#                                 own, built whole by the first call, which
#                                 `test-kernels.sh` makes), so a list costs
#                                 only usr/ and the link;
#                                 each image is kept by the list's hash
#                                 (<dir>-embed/images/<hash>), so an unchanged
#                                 list costs nothing and a changed one rebuilds.
set -euo pipefail
CACHE=${RDC_TEST_KERNELS:-/var/cache/rdc-tests/kernels}
TARBALL=${RDC_LINUX_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
JOBS=${JOBS:-2}

# One table: each kernel's ARCH, CROSS_COMPILE, image and options on top of
# tinyconfig (scripts/config words: NAME=y, NAME=m, NAME="string").  Every
# option is checked in the final .config, so one whose dependencies are
# missing fails the build instead of quietly vanishing.
# x86_64: the tutorial's images (serial console, initrd in every compression
# rdc writes, ELF and #! programs, devtmpfs/proc/sys), loadable modules with
# two small =m ones (dummy, test_module), and virtio-9p built in (it needs INET) for sharing
# a module tree with the guest.  FUTEX/EPOLL/MULTIUSER: glibc's and
# BusyBox's expectations, which tinyconfig drops.
x86_64_arch=x86_64 x86_64_cross= x86_64_image=arch/x86/boot/bzImage
x86_64_opts=(64BIT=y PRINTK=y TTY=y SERIAL_8250=y SERIAL_8250_CONSOLE=y
	BLK_DEV_INITRD=y RD_GZIP=y RD_XZ=y RD_ZSTD=y RD_LZ4=y
	BINFMT_ELF=y BINFMT_SCRIPT=y DEVTMPFS=y PROC_FS=y SYSFS=y SHMEM=y TMPFS=y
	MULTIUSER=y FUTEX=y EPOLL=y
	MODULES=y MODULE_UNLOAD=y
	NET=y INET=y NETDEVICES=y NET_CORE=y DUMMY=m RUNTIME_TESTING_MENU=y TEST_LKM=m
	PCI=y VIRTIO_MENU=y VIRTIO_PCI=y NET_9P=y NET_9P_VIRTIO=y 9P_FS=y)
# riscv64: QEMU's virt board (its 16550 UART found through the device tree),
# an initrd, ELF and #! programs, devtmpfs/proc/sys.  FPU: Debian's riscv64
# programs are rv64gc with hard float.
riscv64_arch=riscv riscv64_cross=riscv64-linux-gnu- riscv64_image=arch/riscv/boot/Image
riscv64_opts=(ARCH_RV64I=y SOC_VIRT=y FPU=y PRINTK=y TTY=y SERIAL_8250=y SERIAL_8250_CONSOLE=y
	SERIAL_OF_PLATFORM=y BLK_DEV_INITRD=y RD_GZIP=y RD_ZSTD=y
	BINFMT_ELF=y BINFMT_SCRIPT=y DEVTMPFS=y PROC_FS=y SYSFS=y SHMEM=y TMPFS=y
	MULTIUSER=y FUTEX=y)
ALL=(x86_64 riscv64)

die() { echo "test-kernels.sh: $*" >&2; exit 1; }
var() { local n="$1_$2"; printf '%s' "${!n}"; }
opts() { local n="$1_opts[@]"; printf '%s\n' "${!n}"; }

# The source tree, unpacked once per tarball version (builds use O=, so it
# stays clean and is shared by every kernel).
source_dir() {
	[ -r "$TARBALL" ] || die "$TARBALL is missing (apt-get install linux-source-6.1)"
	local id
	id=$(stat -c '%s-%Y' "$TARBALL")
	printf '%s/src-%s' "$CACHE" "$id"
}
unpack_source() {
	local src
	src=$(source_dir)
	[ -e "$src/.unpacked" ] && return 0
	mkdir -p "$CACHE"
	local tmp
	tmp=$(mktemp -d "$CACHE/src.tmp.XXXXXX")
	tar -xJf "$TARBALL" -C "$tmp" --strip-components=1
	touch "$tmp/.unpacked"
	rm -rf "$src"
	mv "$tmp" "$src"
}

# The key: what the build depends on, hashed.
kernel_dir() {
	local name=$1 cross
	cross=$(var "$name" cross)
	local h
	h=$( {
		echo "tarball $(basename "$TARBALL") $(stat -c '%s-%Y' "$TARBALL")"
		echo "arch $(var "$name" arch) $(var "$name" image)"
		"${cross}gcc" --version | head -1
		opts "$name"
	} | sha256sum | cut -c1-16)
	printf '%s/%s-%s' "$CACHE" "$name" "$h"
}

build_one() {
	local name=$1 dir src arch cross image
	dir=$(kernel_dir "$name")
	[ -e "$dir/.built" ] && { echo "$dir"; return 0; }
	src=$(source_dir) arch=$(var "$name" arch) cross=$(var "$name" cross) image=$(var "$name" image)
	command -v "${cross}gcc" >/dev/null || die "${cross}gcc is missing"
	local tmp="$dir.tmp.$$"
	rm -rf "$tmp" && mkdir -p "$tmp"
	local mk=(make -s -C "$src" O="$tmp" ARCH="$arch" CROSS_COMPILE="$cross"
		KBUILD_BUILD_TIMESTAMP=@0 KBUILD_BUILD_USER=rdc KBUILD_BUILD_HOST=rdc-tests)
	local start=$SECONDS args=() o
	while read -r o; do
		case $o in
		*=y) args+=(--enable "${o%=y}") ;;
		*=m) args+=(--module "${o%=m}") ;;
		*=*) args+=(--set-str "${o%%=*}" "${o#*=}") ;;
		esac
	done < <(opts "$name")
	{
		"${mk[@]}" tinyconfig &&
		"$src/scripts/config" --file "$tmp/.config" "${args[@]}" &&
		"${mk[@]}" olddefconfig
	} >"$tmp/build.log" 2>&1 || die "$name: configuring failed (see $tmp/build.log)"
	while read -r o; do
		grep -qx "CONFIG_$o" "$tmp/.config" || die "$name: CONFIG_$o did not survive olddefconfig (a missing dependency)"
	done < <(opts "$name")
	local targets=("${image#arch/*/boot/}")
	grep -qx CONFIG_MODULES=y "$tmp/.config" && targets+=(modules)
	"${mk[@]}" -j"$JOBS" "${targets[@]}" >>"$tmp/build.log" 2>&1 ||
		die "$name: the build failed (see $tmp/build.log)"
	[ -s "$tmp/$image" ] || die "$name: no $image after the build"
	echo $((SECONDS - start)) >"$tmp/build-seconds"
	touch "$tmp/.built"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	echo "$dir"
}

# The kernel's own initramfs (usr/gen_initramfs.sh reads the list and the
# files it names at build time).  Its output goes to stderr: stdout is the
# image's path.
embed() {
	local name=$1 list=$2 dir src arch image
	dir=$(kernel_dir "$name")
	[ -e "$dir/.built" ] || die "$name is not built (test-kernels.sh $name)"
	[ -r "$list" ] || die "cannot read the list $list"
	src=$(source_dir) arch=$(var "$name" arch) image=$(var "$name" image)
	list=$(cd "$(dirname "$list")" && pwd)/$(basename "$list")
	local h e="$dir-embed"
	h=$(sha256sum <"$list" | cut -c1-16)
	exec 8>"$CACHE/.lock-embed"
	flock 8
	if [ ! -s "$e/images/$h" ]; then
		local start=$SECONDS
		# Its own tree, built whole by the first call and in place: kbuild
		# rebuilds every object of a tree that moved (a copy of NAME's tree
		# was rebuilt whole too).  Later lists redo only usr/ and the link.
		# No .built: a first build that did not finish, started again.
		[ -e "$e/.built" ] || { rm -rf "$e" && mkdir -p "$e" && cp "$dir/.config" "$e/"; }
		local mk=(make -s -C "$src" O="$e" ARCH="$arch" CROSS_COMPILE="$(var "$name" cross)"
			KBUILD_BUILD_TIMESTAMP=@0 KBUILD_BUILD_USER=rdc KBUILD_BUILD_HOST=rdc-tests)
		{
			"$src/scripts/config" --file "$e/.config" --set-str INITRAMFS_SOURCE "$list" &&
			"${mk[@]}" olddefconfig && "${mk[@]}" -j"$JOBS" "${image#arch/*/boot/}"
		} >"$e/embed.log" 2>&1 || die "$name: the build with INITRAMFS_SOURCE=$list failed (see $e/embed.log)"
		touch "$e/.built"
		mkdir -p "$e/images"
		cp "$e/$image" "$e/images/$h.tmp" && mv "$e/images/$h.tmp" "$e/images/$h"
		echo "test-kernels.sh: $name built with INITRAMFS_SOURCE=$list in $((SECONDS - start)) s" >&2
	fi
	echo "$e/images/$h"
}

case ${1:-} in
--embed)
	[ $# -eq 3 ] || die "usage: test-kernels.sh --embed NAME LIST"
	embed "$2" "$3"
	exit 0 ;;
--path)
	[ $# -eq 2 ] || die "usage: test-kernels.sh --path NAME"
	dir=$(kernel_dir "$2")
	[ -e "$dir/.built" ] || exit 1
	echo "$dir"
	exit 0 ;;
--source)
	unpack_source
	source_dir
	echo
	exit 0 ;;
esac
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for n in "${names[@]}"; do
	case " ${ALL[*]} " in *" $n "*) ;; *) die "unknown kernel '$n' (known: ${ALL[*]})" ;; esac
done
mkdir -p "$CACHE"
# One builder at a time per machine: concurrent test runs wait, then find
# the kernel built.
exec 9>"$CACHE/.lock"
flock 9
unpack_source
for n in "${names[@]}"; do
	build_one "$n"
done
# The x86_64 embedding's tree too, so a test relinks instead of building
# it whole (an empty initramfs list to start from).
case " ${names[*]} " in *" x86_64 "*)
	printf '# the embed tree of test-kernels.sh: nothing yet\n' >"$CACHE/empty.list"
	embed x86_64 "$CACHE/empty.list" >/dev/null ;;
esac
