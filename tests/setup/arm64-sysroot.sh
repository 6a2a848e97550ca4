#!/usr/bin/env bash
# tests/setup/arm64-sysroot.sh — an arm64 sysroot and an arm64 kernel for the
# aarch64 PUI PUI image (manifests/puipui-aarch64.yaml, tests/t0800-puipui.sh),
# made on an x86_64 Debian 12 host from Debian's own arm64 packages:
#
#   /var/cache/rdc-tests/arm64-sysroot   busybox-static dropbear-bin socat curl
#                                        ca-certificates and every library they
#                                        need, unpacked with dpkg -x (nothing is
#                                        installed or run), plus the CA bundle
#                                        update-ca-certificates would have made
#   /var/cache/rdc-tests/arm64-kernel    linux-image-<kver>-arm64 unpacked:
#                                        boot/vmlinuz-<kver>, lib/modules/<kver>
#
# Idempotent: a directory with its .stamp is left alone.  Needs root (dpkg
# --add-architecture arm64, apt-get update) and Debian's apt repositories.
# When tests/setup/arm64-kernel.sh exists, it provides the kernel instead.
# RDC_ARM64_SYSROOT / RDC_ARM64_KERNEL override the two directories.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
SYSROOT=${RDC_ARM64_SYSROOT:-/var/cache/rdc-tests/arm64-sysroot}
KROOT=${RDC_ARM64_KERNEL:-/var/cache/rdc-tests/arm64-kernel}
PKGS=(busybox-static dropbear-bin socat curl libcurl4)
here=$(cd "$(dirname "$0")" && pwd)

# The kernel tree is complete once its kver file names a release (the
# layout tests/setup/arm64-kernel.sh makes, which is used when present).
kernel_done() { [ -s "$KROOT/kver" ] && [ -d "$KROOT/lib/modules/$(cat "$KROOT/kver")/kernel" ]; }
if [ -e "$SYSROOT/.stamp" ] && kernel_done; then
	exit 0
fi
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
mkdir -p "$(dirname "$SYSROOT")" "$(dirname "$KROOT")" 2>/dev/null || $SUDO mkdir -p "$(dirname "$SYSROOT")" "$(dirname "$KROOT")"

# One setup at a time (install-deps and a test may both call this).
exec 9>"$(dirname "$SYSROOT")/.arm64-setup.lock"
flock 9

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	$SUDO dpkg --add-architecture arm64
	$SUDO apt-get update -qq
elif ! apt-cache show busybox-static:arm64 >/dev/null 2>&1; then
	$SUDO apt-get update -qq
fi

# download_into DIR PKG...: apt-get download each package and dpkg -x it into
# DIR (a fresh temporary dir renamed into place, so a failed run leaves no
# half-made tree behind).
download_into() {
	local dest=$1; shift
	local tmp dl
	tmp=$(mktemp -d "$dest.tmp.XXXXXX")
	dl="$tmp/.debs"
	mkdir -p "$dl"
	chmod 0755 "$tmp" "$dl" # apt-get download drops root for _apt
	(cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "$@" >/dev/null)
	for deb in "$dl"/*.deb; do
		dpkg -x "$deb" "$tmp"
	done
	printf '%s\n' "$@" >"$tmp/.packages"
	rm -rf "$dl"
	echo "$tmp"
}

if [ ! -e "$SYSROOT/.stamp" ]; then
	# The packages and their whole Depends/Pre-Depends closure in arm64 (and
	# arch: all), as apt would install them; virtual names (<...>) dropped.
	mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances "${PKGS[@]/%/:arm64}" |
		grep -v '^[ <]' | grep -v ':amd64$' | sort -u)
	# Only real packages with a candidate (virtual ones have none).
	pkgs=()
	for p in "${closure[@]}"; do
		apt-cache show --no-all-versions "$p" >/dev/null 2>&1 && pkgs+=("$p")
	done
	# ca-certificates is arch: all; only its certificates are wanted (its
	# Depends are openssl and debconf, for the postinst that is not run).
	pkgs+=(ca-certificates)
	echo "arm64-sysroot: ${#pkgs[@]} packages into $SYSROOT" >&2
	tmp=$(download_into "$SYSROOT" "${pkgs[@]}")
	# The CA bundle is made by update-ca-certificates at install time: make
	# it the same way, from the certificates the package ships.
	mkdir -p "$tmp/etc/ssl/certs"
	find "$tmp/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat \
		>"$tmp/etc/ssl/certs/ca-certificates.crt"
	[ -s "$tmp/etc/ssl/certs/ca-certificates.crt" ]
	touch "$tmp/.stamp"
	rm -rf "$SYSROOT"
	mv "$tmp" "$SYSROOT"
fi

if ! kernel_done; then
	if [ -x "$here/arm64-kernel.sh" ]; then
		RDC_ARM64_KERNEL="$KROOT" "$here/arm64-kernel.sh"
	else
		# Debian 12's current arm64 kernel: what linux-image-arm64 depends on.
		kpkg=$(apt-cache depends linux-image-arm64:arm64 |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*-arm64\).*/\1/p' | head -1)
		[ -n "$kpkg" ] || { echo "arm64-sysroot: no linux-image-*-arm64 candidate" >&2; exit 1; }
		echo "arm64-sysroot: $kpkg into $KROOT" >&2
		tmp=$(download_into "$KROOT" "$kpkg:arm64")
		kver=${kpkg#linux-image-}
		[ -e "$tmp/boot/vmlinuz-$kver" ]
		depmod -b "$tmp" "$kver" # as the package's postinst would
		echo "$kver" >"$tmp/kver"
		rm -rf "$KROOT"
		mv "$tmp" "$KROOT"
	fi
fi
