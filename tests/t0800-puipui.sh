#!/usr/bin/env bash
# The PUI PUI images (manifests/puipui-*.yaml): BusyBox init, dropbear SSH
# with an authorized key, socat, curl, a virtio network, vsock_port= read
# from the kernel command line.  Each is built and booted with `rdc run`
# under QEMU with user networking forwarding a loopback port to the guest's
# port 22; the test logs in with ssh, checks the machine, powers it off, and
# rdc run exits 0.  Two boots: x86_64 (Debian's amd64 kernel) and aarch64
# (built on this host from the arm64 sysroot and kernel that
# tests/setup/arm64-sysroot.sh unpacks; -M virt under TCG).  Each boot
# reaches SSH in about 10-15 s here.
. "$(dirname "$0")/lib.sh"

for c in qemu-system-x86_64 ssh ssh-keygen ss; do
	test_have $c || { test_skip 'PUI PUI images' "needs $c"; test_done; exit; }
done
if [ ! -r "/boot/vmlinuz-$KVER" ] || [ ! -x /usr/sbin/dropbear ] || [ ! -x /usr/bin/socat ] || [ ! -x /usr/bin/curl ]; then
	test_skip 'PUI PUI images' 'needs /boot/vmlinuz-$KVER, dropbear-bin, socat and curl'
	test_done
	exit
fi

ssh-keygen -q -t ed25519 -N '' -C puipui-test -f key || exit 1
export PUIPUI_AUTHORIZED_KEYS=$PWD/key.pub

# free_port: a loopback TCP port nothing listens on
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 30000))
		ss -Htln "sport = :$p" | grep -q . || { echo $p; return; }
	done
	return 1
}

guest_ssh() { # PORT COMMAND
	local port=$1; shift
	timeout 60 ssh -i key -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR root@127.0.0.1 "$@"
}

# boot NAME MANIFEST NETDEV-DEVICE [QEMU ARGS]: rdc run in the background (console in
# NAME.out, stderr in NAME.err, status in NAME.rc), then waits for its SSH;
# the port is in NAME.port, the seconds to SSH in NAME.secs.
boot() {
	local name=$1 manifest=$2 dev=$3 port start
	shift 3
	port=$(free_port) || return 1
	echo "$port" >"$name.port"
	start=$(date +%s)
	# the pid is timeout's: a SIGTERM to it reaches rdc run, which stops QEMU
	{
		timeout -k 10 300 "$RDC" run "$manifest" -- \
			-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device "$dev,netdev=n0" "$@" \
			</dev/null >"$name.out" 2>"$name.err" &
		echo $! >"$name.pid"
		wait $!
		echo $? >"$name.rc"
	} >/dev/null 2>&1 &
	for _ in $(seq 50); do [ -s "$name.pid" ] && break; sleep 0.1; done
	for _ in $(seq 200); do
		[ -e "$name.rc" ] && { echo "rdc run ended early: $(cat "$name.rc")"; cat "$name.err" "$name.out"; return 1; }
		if guest_ssh "$port" true 2>/dev/null; then
			echo $(( $(date +%s) - start )) >"$name.secs"
			echo "$name: SSH answered $(cat "$name.secs") s after rdc run started" >&2
			return 0
		fi
		sleep 1
	done
	echo "no SSH on port $port"; cat "$name.err" "$name.out"
	return 1
}

# halt NAME: poweroff over SSH, then rdc run must end by itself with 0;
# QEMU is stopped whatever happens (rdc run stops it on SIGTERM).
halt() {
	local name=$1
	guest_ssh "$(cat "$name.port")" poweroff 2>/dev/null
	for _ in $(seq 60); do [ -e "$name.rc" ] && break; sleep 1; done
	if [ ! -e "$name.rc" ]; then
		kill "$(cat "$name.pid")" 2>/dev/null
		echo "rdc run did not end after poweroff"; cat "$name.err"
		return 1
	fi
	[ "$(cat "$name.rc")" = 0 ] || { echo "rdc run exited $(cat "$name.rc")"; cat "$name.err"; tail -20 "$name.out"; return 1; }
}
# whatever fails, no QEMU outlives the test
stop_all() {
	local f
	for f in *.pid; do # the runs still going
		[ -e "$f" ] && [ ! -e "${f%.pid}.rc" ] && kill "$(cat "$f")" 2>/dev/null
	done
	[ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
	HTTP_PID=
}
trap stop_all EXIT

# A one-line HTTP server on the host, reached from the guest through QEMU's
# user network (10.0.2.2 is the host's loopback): curl over virtio-net.
# It reads the whole request first: closing with bytes unread would reset
# the connection under curl's feet.
cat >http.sh <<'SH'
#!/bin/sh
while read -r line; do
	case $line in "$(printf '\r')" | "") break ;; esac
done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello-from-the-host\n'
SH
chmod +x http.sh
HTTP_PORT=$(free_port)
socat "TCP-LISTEN:$HTTP_PORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:$PWD/http.sh" 2>/dev/null &
HTTP_PID=$!
# boot_time NAME: a "#" line run-tests.sh shows, with the seconds to SSH
boot_time() { [ -s "$1.secs" ] && echo "# $1: SSH answered $(cat "$1.secs") s after rdc run started"; }

# checks NAME ARCH VSOCK_PORT: what the image must do, seen over SSH
checks() {
	local name=$1 arch=$2 vp=$3 port
	port=$(cat "$name.port")
	guest_ssh "$port" 'uname -m; cat /run/vsock_port; cat /proc/modules; id -u; echo $SHELL;
		socat -V | grep -m1 "socat version";
		curl -sS file:///etc/hostname;
		curl -sS --max-time 20 http://10.0.2.2:'"$HTTP_PORT"'/;
		wc -c </etc/ssl/certs/ca-certificates.crt; curl -V | head -1' >"$name.ssh" 2>&1 &&
	cat "$name.ssh" &&
	[ "$(sed -n 1p "$name.ssh")" = "$arch" ] &&
	[ "$(sed -n 2p "$name.ssh")" = "$vp" ] &&
	expect_grep "^virtio_net " "$name.ssh" &&
	expect_grep "^socat version" "$name.ssh" &&
	expect_grep "^puipui$" "$name.ssh" &&
	expect_grep "^hello-from-the-host" "$name.ssh" &&
	expect_grep "OpenSSL" "$name.ssh" &&
	[ "$(grep -x '[0-9]*' "$name.ssh" | sort -n | tail -1)" -gt 100000 ] &&
	expect_grep "^puipui: vsock_port=$vp" "$name.out" &&
	expect_grep "^puipui: eth0 10.0.2.15/24" "$name.out" &&
	expect_grep "Pubkey auth succeeded for 'root'" "$name.out"
}

export PUIPUI_VSOCK_PORT=1025
# a second console, hvc0 (virtio-console), written to a file
test_expect_success 'x86_64: rdc run boots the image and dropbear lets the key in' '
	boot x86 "$ROOT/manifests/puipui-x86_64.yaml" virtio-net-pci \
		-device virtio-serial-pci -chardev "file,id=hvc,path=$PWD/hvc0.out" -device virtconsole,chardev=hvc
'
test_expect_success 'x86_64: uname -m, vsock_port= from /proc/cmdline, virtio_net, curl, socat' '
	checks x86 x86_64 1025
'
test_expect_success 'x86_64: BusyBox init runs a shell on each console there is: ttyS0 and hvc0' '
	expect_grep "built-in shell (ash)" x86.out &&
	expect_grep "built-in shell (ash)" hvc0.out &&
	expect_grep "^virtio_console " x86.ssh
'
test_expect_success 'x86_64: poweroff over SSH ends rdc run with status 0' '
	halt x86 &&
	expect_grep "^rdc-exit\(\[[0-9a-f]*\]\)\?: 0" x86.out &&
	! pgrep -f "initrd $PWD/puipui-x86_64" >/dev/null
'
boot_time x86

# The aarch64 image needs the arm64 sysroot and kernel (made once, from
# Debian's apt repositories, by tests/setup/arm64-sysroot.sh).
ARM64_SYSROOT=/var/cache/rdc-tests/arm64-sysroot
ARM64_ROOT=/var/cache/rdc-tests/arm64-kernel
if [ ! -e "$ARM64_SYSROOT/.stamp" ] || [ ! -s "$ARM64_ROOT/kver" ]; then
	"$TESTS_DIR/setup/arm64-sysroot.sh" >/dev/null 2>&1
fi
if ! test_have qemu-system-aarch64 || [ ! -e "$ARM64_SYSROOT/.stamp" ] || [ ! -s "$ARM64_ROOT/kver" ]; then
	test_skip 'aarch64: the PUI PUI image over SSH' 'needs qemu-system-aarch64 and tests/setup/arm64-sysroot.sh'
	test_done
	exit
fi
ARM64_KVER=$(cat "$ARM64_ROOT/kver")
export ARM64_SYSROOT ARM64_ROOT ARM64_KVER

export PUIPUI_VSOCK_PORT=2049
test_expect_success 'aarch64: built from the arm64 sysroot, nothing of the host in it' '
	"$RDC" build "$ROOT/manifests/puipui-aarch64.yaml" -o a64.cpio &&
	cpio_tree a64.cpio >tree &&
	expect_grep " usr/bin/curl$" tree &&
	expect_grep " lib/modules/$ARM64_KVER/kernel/drivers/net/virtio_net.ko$" tree &&
	! grep -q "x86_64-linux-gnu\|-amd64" tree
'
test_expect_success 'aarch64: rdc run boots it (-M virt, TCG) and dropbear lets the key in' '
	boot a64 "$ROOT/manifests/puipui-aarch64.yaml" virtio-net-pci
'
test_expect_success 'aarch64: uname -m, vsock_port= from /proc/cmdline, virtio_net, curl, socat' '
	checks a64 aarch64 2049
'
test_expect_success 'aarch64: a shell on ttyAMA0; poweroff over SSH ends rdc run with status 0' '
	expect_grep "built-in shell (ash)" a64.out &&
	halt a64 &&
	expect_grep "^rdc-exit\(\[[0-9a-f]*\]\)\?: 0" a64.out
'
boot_time a64

stop_all
test_done
