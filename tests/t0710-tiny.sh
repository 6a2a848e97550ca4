#!/usr/bin/env bash
# make-tiny-image.py's jobs as checked-in manifests (manifests/tiny-*.yaml):
# each builds, and its image holds what make-tiny-image would put there —
# BusyBox and /init, the extra binaries with every library lddtree finds,
# the copied files, the modules with every dependency modprobe finds.  One
# boot: tiny-run prints its line and `rdc run` exits 0.
. "$(dirname "$0")/lib.sh"

M="$ROOT/manifests"

# tree IMAGE: the names in an image, one a line, without a leading /
tree() { cpio_tree "$1" | awk '{ print $7 }' | sort; }

build() { # NAME: build tiny-NAME.yaml into NAME.cpio and list it
	"$RDC" build "$M/tiny-$1.yaml" -o "$1.cpio" && cpio_tree "$1.cpio" > "$1.tree" && tree "$1.cpio" > "$1.names"
}

test_expect_success 'tiny-shell: BusyBox, an executable /init that ends in a console shell' '
	build shell &&
	expect_grep "^100755 0 0 .* bin/busybox$" shell.tree &&
	expect_grep "^100755 0 0 .* init$" shell.tree &&
	mkdir sx && (cd sx && cpio -id --quiet < ../shell.cpio) &&
	cmp sx/bin/busybox "$(command -v busybox)" &&
	head -1 sx/init | grep -qx "#!/bin/busybox sh" &&
	expect_grep "^setsid cttyhack sh$" sx/init &&
	expect_grep "mount proc /proc" sx/init
'

test_expect_success 'tiny-run: the command is a step of /init, followed by poweroff' '
	build run &&
	mkdir rx && (cd rx && cpio -id --quiet < ../run.cpio) &&
	expect_grep "tiny-run: kernel \$(uname -r)" rx/init &&
	expect_grep "^poweroff -f$" rx/init && ! grep -q cttyhack rx/init
'

test_expect_success 'tiny-bins: strace and ip with every library lddtree finds, symlink chains kept' '
	build bins &&
	expect_grep "^100755 .* usr/bin/strace$" bins.tree &&
	expect_grep "^100755 .* sbin/ip$" bins.tree &&
	expect_grep " bin/busybox$" bins.tree &&
	/usr/bin/python3 /usr/bin/lddtree -l /usr/bin/strace /usr/sbin/ip |
		grep -vx "/usr/bin/strace\|/usr/sbin/ip" | sort -u > oracle.libs &&
	[ $(wc -l < oracle.libs) -eq 13 ] &&
	while read -r lib; do
		for f in "$lib" "$(realpath "$lib")"; do
			grep -q "/$(basename "$f")\$" bins.names || { echo "missing $f"; exit 1; }
		done
	done < oracle.libs &&
	expect_grep "usr/lib/x86_64-linux-gnu/libbpf.so.1 -> libbpf.so" bins.tree &&
	mkdir bx && (cd bx && cpio -id --quiet < ../bins.cpio) &&
	cmp bx/sbin/ip /usr/sbin/ip && cmp bx/usr/bin/strace /usr/bin/strace
'

test_expect_success 'a step naming a binaries: program that BusyBox also has is warned about, at the step' '
	"$RDC" check "$M/tiny-bins.yaml" 2>err && ! grep -q warning err &&
	sed "s|/sbin/ip -br link .*|ip -br link|" "$M/tiny-bins.yaml" > shadow.yaml &&
	"$RDC" check shadow.yaml 2>err &&
	expect_grep "shadow.yaml:17:7: warning: .ip. here runs BusyBox.s own ip applet" err &&
	expect_grep "hint: write /sbin/ip" err && ! grep -q strace err
'

test_expect_success 'tiny-bins: the binaries run from the unpacked image with only its libraries' '
	ld=bx/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 &&
	$ld --inhibit-cache --library-path bx/usr/lib/x86_64-linux-gnu bx/sbin/ip -V | grep -q "ip utility" &&
	$ld --inhibit-cache --library-path bx/usr/lib/x86_64-linux-gnu --list bx/usr/bin/strace > ldlist &&
	cat ldlist && ! grep -q "not found" ldlist &&
	[ $(grep -c "=> bx/usr/lib/x86_64-linux-gnu/" ldlist) -ge 5 ] && ! grep -q "=> /" ldlist
'

test_expect_success 'tiny-copy: the copied file, the copied tree and the inline file' '
	build copy &&
	mkdir cx && (cd cx && cpio -id --quiet < ../copy.cpio) &&
	cmp cx/etc/os-release /etc/os-release &&
	cmp cx/root/release /etc/os-release && [ "$(stat -c %a cx/root/release)" = 600 ] &&
	[ "$(cat cx/etc/motd)" = "a tiny image" ] &&
	diff -r cx/usr/share/common-licenses /usr/share/common-licenses &&
	[ $(ls cx/usr/share/common-licenses | wc -l) -ge 5 ]
'

if [ -z "$KVER" ]; then
	test_skip 'tiny-kmod: the modules and their dependencies' 'no kernel under /lib/modules'
else
test_expect_success 'tiny-kmod: every module modprobe --show-depends names, loaded by /init' '
	build kmod &&
	for m in lpc_ich iTCO_wdt i2c_i801; do modprobe -S "$KVER" --show-depends $m; done |
		awk "/^insmod/ { print \$2 }" | sort -u > oracle.mods &&
	[ $(wc -l < oracle.mods) -eq 7 ] &&
	while read -r ko; do
		base=$(basename "$ko") &&
		grep -q "/${base%%.ko*}\.ko" kmod.names || { echo "missing $ko"; exit 1; }
	done < oracle.mods &&
	[ $(grep -c "\.ko" kmod.names) -eq 7 ] &&
	mkdir kx && (cd kx && cpio -id --quiet < ../kmod.cpio) &&
	expect_grep "insmod" kx/init &&
	for m in watchdog iTCO_vendor_support intel_pmc_bxt iTCO_wdt lpc_ich i2c-smbus i2c-i801; do
		grep -q "/$m\.ko" kx/init || { echo "/init does not load $m"; exit 1; }
	done
'
fi

if ! test_have qemu-system-x86_64 || [ -z "$KVER" ] || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'tiny-run boots' 'needs qemu-system-x86_64 and a readable /boot/vmlinuz-$KVER'
else
test_expect_success 'tiny-run boots, prints its line and rdc run exits 0' '
	"$RDC" run "$M/tiny-run.yaml" </dev/null >out 2>err &&
	expect_grep "^tiny-run: kernel $KVER, 1 cpu(s)" out &&
	expect_grep "^model name" out &&
	expect_grep "^rdc-exit\(\[[0-9a-f]*\]\)\?: 0" out &&
	[ -s tiny-run.cpio.zst ]
'

test_expect_success 'tiny-bins boots as the README says: the links, then strace at work' '
	"$RDC" run "$M/tiny-bins.yaml" </dev/null >out 2>err || { cat out err; false; } &&
	expect_grep "^lo  *DOWN .*<LOOPBACK>" out &&
	expect_grep "^uname(" out
'
fi

test_done
