#!/usr/bin/env bash
# Installs everything rdc needs to build and everything its tests use as real
# inputs and oracles (Debian 12 package names).  Idempotent; needs root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
build=(build-essential pkg-config libyaml-dev libarchive-dev libelf-dev libkmod-dev
       libxxhash-dev libacl1-dev zlib1g-dev liblzma-dev libzstd-dev liblz4-dev libbz2-dev
       libcurl4-openssl-dev libhiredis-dev)
tests=(busybox-static linux-image-amd64 linux-source-6.1 qemu-system-x86 qemu-system-arm
       qemu-user pax-utils kmod clang libclang-rt-14-dev cpio zstd xz-utils lz4 gzip strace
       libc6-arm64-cross libc6-riscv64-cross libc6-dev-arm64-cross libc6-dev-riscv64-cross gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu
       dropbear-bin dracut-core qemu-utils python3-pyelftools socat curl hwloc-nox iproute2 ca-certificates openssh-client time
       file procps musl-tools qemu-system-misc opensbi initramfs-tools-core python3-jsonschema
       nginx-light redis-server bc flex bison libssl-dev
       gcc-riscv64-linux-gnu python3 debhelper lintian bash-completion groff-base dpkg-dev)
missing=()
for p in "${build[@]}" "${tests[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# --packages: only the packages (enough to build rdc and boot an image);
# the fixtures below are for the test suite.
[ "${1:-}" = --packages ] && exit 0
# Foreign-architecture inputs (arm64 kernel, binaries, a musl sysroot) for the cross tests.
for s in tests/setup/arm64-kernel.sh tests/setup/arm64-sysroot.sh tests/setup/musl-arm64.sh; do
	[ -x "$s" ] && "$s" >/dev/null || true
done
# The tests' own small kernels (x86_64, riscv64) from linux-source-6.1: a few
# minutes each on 2 cores, once per machine (cached by their config).
if [ -x tests/setup/test-kernels.sh ]; then
	tests/setup/test-kernels.sh >/dev/null || echo "install-deps.sh: the test kernels did not build; their tests will skip" >&2
fi
