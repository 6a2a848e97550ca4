#!/usr/bin/env bash
# Unpacks Debian's arm64 kernel image package (the kernel and its ~4,000
# modules) and runs depmod on it, as its postinst would, into a fixed directory, so tests can resolve
# module closures for a foreign architecture (rdc kmods --moddir) and boot it
# under qemu-system-aarch64.  Idempotent: exits quietly when already there.
#
#   $RDC_ARM64_KERNEL (default /var/cache/rdc-tests/arm64-kernel)/
#       boot/vmlinuz-<kver>  lib/modules/<kver>/  kver (the release)
# Needs root (dpkg --add-architecture, apt-get update) on the first run.
set -euo pipefail
DEST=${RDC_ARM64_KERNEL:-/var/cache/rdc-tests/arm64-kernel}
if [ -s "$DEST/kver" ] && [ -d "$DEST/lib/modules/$(cat "$DEST/kver")/kernel" ]; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	$SUDO dpkg --add-architecture arm64
	$SUDO apt-get update -qq
fi
# linux-image-arm64 is the metapackage; the image it depends on names the release.
pkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-arm64\).*/\1/p' | head -1)
if [ -z "$pkg" ]; then
	$SUDO apt-get update -qq
	pkg=$(apt-cache depends linux-image-arm64:arm64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-arm64\).*/\1/p' | head -1)
fi
[ -n "$pkg" ] || { echo "arm64-kernel.sh: no linux-image-*-arm64 package in apt" >&2; exit 1; }
kver=${pkg#linux-image-}
work=$(mktemp -d "${DEST%/*}/arm64-kernel.tmp.XXXXXX" 2>/dev/null || { mkdir -p "${DEST%/*}" && mktemp -d "${DEST%/*}/arm64-kernel.tmp.XXXXXX"; })
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work" # apt-get download drops to the _apt user
(cd "$work" && apt-get -o APT::Sandbox::User=root download -qq "$pkg:arm64" >/dev/null)
dpkg -x "$work"/"$pkg"_*_arm64.deb "$work/root"
[ -d "$work/root/lib/modules/$kver/kernel" ] || { echo "arm64-kernel.sh: $pkg has no modules for $kver" >&2; exit 1; }
# The package's postinst runs depmod on a real system; do the same, so the
# tree looks installed (tests make their own copies without the indexes).
depmod -b "$work/root" "$kver"
echo "$kver" > "$work/root/kver"
rm -rf "$DEST"
mv "$work/root" "$DEST"
