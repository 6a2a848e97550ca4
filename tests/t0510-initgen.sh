#!/usr/bin/env bash
# The generated /init, read without booting: a BusyBox script whose steps,
# env and module params survive any quoting, mounts in dependency order,
# modules in load order, one status line, and bytes that depend on nothing
# but the manifest.
. "$(dirname "$0")/lib.sh"

cat > m.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
kmods:
  - {name: i6300esb, params: "heartbeat=2 x=\"a b\""}
init:
  mounts: [devpts, tmpfs, devtmpfs, sysfs, proc, debugfs]
  modules: load
  env: {GREETING: "it's \$HOME \`x\`", PLAIN: yes}
  hostname: "tiny's"
  steps:
    - run: echo "a'b" \$x
    - run: printf '%s\n' "it's" \`uname\` \$(hostname) '\\\\n'
    - run: |
        for i in 1 2; do
          echo "line \$i"
        done
YAML
cat > want-steps <<'EOF'
echo "a'b" $x
---
printf '%s\n' "it's" `uname` $(hostname) '\\n'
---
for i in 1 2; do
  echo "line $i"
done

---
EOF

test_expect_success 'the image has /init (a BusyBox script, 0755) and /bin/busybox' '
	"$RDC" build m.yaml -o m.cpio &&
	cpio_tree m.cpio > tree &&
	expect_grep " init$" tree &&
	expect_grep " bin/busybox$" tree &&
	"$RDC" build m.yaml -o img/ &&
	[ "$(head -1 img/init)" = "#!/bin/busybox sh" ] &&
	expect_grep "^/bin/busybox --install -s$" img/init
'

test_expect_success 'each step reaches sh -c exactly as written' '
	sed -n "/^rdc_step /,/^rdc_tag=/p" img/init | sed "\$d" > steps.sh &&
	[ "$(grep -c "^rdc_step " steps.sh)" -eq 3 ] &&
	sh -c "rdc_step() { printf \"%s\\n---\\n\" \"\$3\"; }; . ./steps.sh" > got-steps &&
	diff want-steps got-steps
'

test_expect_success 'steps name their manifest line, not a host path' '
	expect_grep "^rdc_step 1 '"'"'m.yaml:11'"'"' " img/init &&
	! grep -q "$PWD" img/init
'

test_expect_success 'env values and the hostname are exported literally' '
	grep "^export \(GREETING\|PLAIN\)=" img/init > env.sh &&
	HOME=/nowhere sh -c ". ./env.sh; printf \"%s|%s\\n\" \"\$GREETING\" \"\$PLAIN\"" > got &&
	printf "%s\n" "it'"'"'s \$HOME \`x\`|yes" > want &&
	diff want got &&
	expect_grep "^hostname '"'"'tiny'"'"'\\\\'"'"''"'"'s'"'"' " img/init
'

test_expect_success 'mounts come in dependency order whatever the manifest order' '
	grep "^rdc_mount " img/init | cut -d" " -f2,3 > mounts &&
	printf "%s\n" "proc /proc" "sysfs /sys" "devtmpfs /dev" "devpts /dev/pts" "tmpfs /tmp" \
		"debugfs /sys/kernel/debug" > want &&
	diff want mounts
'

test_expect_success 'modules are insmodded in modprobe'"'"'s order, params as one argument' '
	grep "^rdc_insmod " img/init > mods &&
	sed -n "s/^rdc_insmod [^ ]* '"'"'\([^'"'"']*\)'"'"'.*/\1/p" mods > got &&
	modprobe -S "$KVER" --show-depends i6300esb | sed -n "s|^insmod /lib/modules/[^/]*/\([^ ]*\).*|/lib/modules/$KVER/\1|p" > want &&
	diff want got &&
	sh -c "rdc_insmod() { printf \"<%s>\\n\" \"\$3\"; }; . ./mods" | tail -1 > params &&
	printf "%s\n" "<heartbeat=2 x=\"a b\">" > want &&
	diff want params
'

test_expect_success 'modules say how much they matter: modules.dep is hard, softdeps soft, an alias'"'"'s modules alternatives' '
	printf "rdc: 1\nkernel: {version: $KVER}\nkmods: [btrfs, crc32c]\ninit: {modules: load}\n" > bt.yaml &&
	"$RDC" build bt.yaml -o bt/ &&
	sed -n "s/^rdc_insmod '"'"'\([^'"'"']*\)'"'"' .* hard$/\1/p" bt/init | sort > hard &&
	{ echo btrfs; sed -n "s|^kernel/fs/btrfs/btrfs.ko[^:]*:||p" "/lib/modules/$KVER/modules.dep" | tr " " "\n" |
		sed -n "s|.*/\([^/]*\)\.ko.*|\1|p" | tr - _; } | sort > want &&
	diff want hard &&
	sed -n "s/^rdc_insmod '"'"'\([^'"'"']*\)'"'"' .* alt:1$/\1/p" bt/init | sort > alts &&
	modprobe -S "$KVER" -R crc32c | sort > want &&
	diff want alts &&
	grep -A1 "^rdc_insmod .* alt:1$" bt/init | tail -1 | grep -qx "rdc_alias 1 '"'"'crc32c'"'"'" &&
	expect_grep "^rdc_insmod '"'"'blake2b_generic'"'"' .* soft$" bt/init
'

test_expect_success 'one status line, then poweroff (the default)' '
	[ "$(grep -c "^rdc_tag=" img/init)" -eq 1 ] &&
	[ "$(grep -c "^echo \"\$rdc_tag\"" img/init)" -eq 1 ] &&
	expect_grep "^poweroff -f$" img/init &&
	! grep -q "^reboot\|cttyhack" img/init
'

test_expect_success 'on_exit reboot, halt and shell' '
	for how in reboot halt shell; do
		printf "rdc: 1\ninit: {on_exit: $how}\n" > $how.yaml &&
		"$RDC" build $how.yaml -o $how/ || return 1
	done &&
	expect_grep "^reboot -f$" reboot/init &&
	expect_grep "^halt -f$" halt/init &&
	expect_grep "^setsid cttyhack sh$" shell/init &&
	expect_grep "^poweroff -f$" shell/init &&
	expect_grep "^rdc_tag=" shell/init
'

test_expect_success 'the script depends only on the manifest (not on cwd or the path given)' '
	mkdir -p sub && (cd sub && "$RDC" build ../m.yaml -o ../o2/) &&
	"$RDC" build "$PWD/m.yaml" -o o3/ &&
	cmp img/init o2/init && cmp img/init o3/init
'

test_expect_success 'init: {exec: PATH} makes /init a symlink and needs no busybox' '
	printf "rdc: 1\nfiles: [{dest: /myinit, content: \"x\", mode: \"0755\"}]\ninit: {exec: /myinit}\n" > e.yaml &&
	"$RDC" build e.yaml -o e.cpio &&
	cpio_tree e.cpio > tree &&
	expect_grep " init -> /myinit$" tree &&
	! grep -q busybox tree
'

test_expect_success 'init.exec must name an executable the image has (through its symlinks)' '
	printf "rdc: 1\ninit: {exec: /sbin/myinit}\n" > nx.yaml &&
	expect_fail 1 "$RDC" check nx.yaml && expect_grep "nx.yaml:2:7: error: init.exec /sbin/myinit is not in the image" err &&
	printf "rdc: 1\nfiles: [{dest: /etc/x, content: \"x\"}]\ninit: {exec: /etc/x}\n" > nexec.yaml &&
	expect_fail 1 "$RDC" build nexec.yaml -o nexec.cpio && expect_grep "is not an executable file" err && ! test -e nexec.cpio &&
	printf "rdc: 1\nfiles: [{dest: /usr/bin/real, content: \"x\", mode: \"0755\"}]\nsymlinks: [{path: /bin, target: usr/bin}, {path: /sbin/init, target: ../bin/real}]\ninit: {exec: /sbin/init}\n" > via.yaml &&
	"$RDC" check via.yaml
'

test_expect_success 'an unknown mount is an error at its line' '
	printf "rdc: 1\ninit:\n  mounts: [proc, procfs]\n" > bad.yaml &&
	expect_fail 1 "$RDC" build bad.yaml -o bad.cpio &&
	expect_grep "bad.yaml:.*unknown mount '"'"'procfs'"'"'" err
'

test_done
