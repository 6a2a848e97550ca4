#!/usr/bin/env bash
# tests/setup/musl-arm64.sh — a foreign musl sysroot for the musl tests
# (tests/t0310-musl.sh): Debian's musl and musl-dev for arm64, unpacked with
# dpkg -x (nothing is installed or run) into
#
#   /var/cache/rdc-tests/musl-arm64   lib/ld-musl-aarch64.so.1, lib/aarch64-linux-musl/libc.so,
#                                     etc/ld-musl-aarch64.path, usr/lib/aarch64-linux-musl/{crt*.o,...},
#                                     usr/include/aarch64-linux-musl
#
# Idempotent: a directory with its .stamp is left alone.  Needs root the
# first time (dpkg --add-architecture arm64, apt-get update) and Debian's
# apt repositories.  RDC_MUSL_ARM64 overrides the directory.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
DEST=${RDC_MUSL_ARM64:-/var/cache/rdc-tests/musl-arm64}
[ -e "$DEST/.stamp" ] && exit 0
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
mkdir -p "$(dirname "$DEST")" 2>/dev/null || $SUDO mkdir -p "$(dirname "$DEST")"
exec 9>"$(dirname "$DEST")/.musl-arm64-setup.lock"
flock 9
[ -e "$DEST/.stamp" ] && exit 0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	$SUDO dpkg --add-architecture arm64
	$SUDO apt-get update -qq
elif ! apt-cache show musl:arm64 >/dev/null 2>&1; then
	$SUDO apt-get update -qq
fi
# A fresh temporary dir renamed into place: a failed run leaves no
# half-made tree behind.
tmp=$(mktemp -d "$DEST.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
mkdir -m 0755 "$tmp/.debs" # apt-get download drops root for _apt
(cd "$tmp/.debs" && apt-get download -qq -o APT::Sandbox::User=root musl:arm64 musl-dev:arm64 >/dev/null)
for deb in "$tmp"/.debs/*.deb; do
	dpkg -x "$deb" "$tmp"
done
rm -rf "$tmp/.debs"
[ -e "$tmp/lib/ld-musl-aarch64.so.1" ] && [ -e "$tmp/usr/lib/aarch64-linux-musl/Scrt1.o" ]
touch "$tmp/.stamp"
rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
