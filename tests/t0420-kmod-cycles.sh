#!/usr/bin/env bash
# Module dependency cycles (issue 18): a depends= cycle is an error naming
# the cycle, as depmod's "Cycle detected: a -> b -> a" (the kernel can load
# none of its modules first), never a hang or a silently truncated order;
# a softdep cycle stays legal, as modprobe takes it.  The modules are real:
# a small module of the installed kernel with its .modinfo rewritten by
# objcopy (vermagic kept to the tree's release), in a kernel build tree
# laid out as t0820's (include/config/kernel.release, modules.order).
. "$(dirname "$0")/lib.sh"

REL=6.1.0-rdc-cycle
SRC=$(find /lib/modules/$KVER/kernel/net/6lowpan -name "nhc_*.ko" | sort | head -1)

# mkmod NAME MODINFO...: kernel/NAME.ko in the tree, its .modinfo holding
# name=NAME, vermagic= the tree's release and the key=value strings given
mkmod() {
	local name=$1; shift
	{ printf "name=%s\0vermagic=%s SMP preempt mod_unload modversions \0" "$name" "$REL" &&
	  for kv in "$@"; do printf "%s\0" "$kv"; done; } > mi.$name &&
	objcopy --remove-section=.modinfo --add-section .modinfo=mi.$name \
		--set-section-flags .modinfo=alloc,readonly "$SRC" tree/kernel/$name.ko &&
	echo "kernel/$name.ko" >> tree/modules.order
}

# manifest NAME KMODS: NAME.yaml for the tree, kmods: on line 3
manifest() { printf "rdc: 1\nkernel: {tree: tree}\nkmods: [%s]\n" "$2" > $1.yaml; }

test_expect_success 'setup: a build tree whose modules depend on each other' '
	test -n "$SRC" &&
	mkdir -p tree/include/config tree/kernel && echo $REL > tree/include/config/kernel.release &&
	mkmod cyca depends=cycb && mkmod cycb depends=cyca && mkmod cycuser depends=cyca &&
	mkmod ring1 depends=ring2 && mkmod ring2 depends=ring3 && mkmod ring3 depends=ring1 &&
	mkmod self depends=self && mkmod plain depends= &&
	mkmod softa depends= "softdep=pre: softb" && mkmod softb depends= "softdep=pre: softa" &&
	modinfo -F depends tree/kernel/cyca.ko > d && echo cycb | cmp - d &&
	modinfo -F vermagic tree/kernel/cyca.ko | grep -q "^$REL "
'

test_expect_success 'a depends= cycle is an error at the request, naming the cycle' '
	manifest two "plain, cycuser" &&
	expect_fail 1 timeout 60 "$RDC" check two.yaml &&
	expect_grep "^two.yaml:3:16: error: kernel modules depend on each other in a cycle: cyca -> cycb -> cyca" err &&
	expect_grep "^hint: " err && [ $(grep -c "error:" err) -eq 1 ] &&
	expect_fail 1 timeout 60 "$RDC" build two.yaml -o two.cpio && ! test -e two.cpio
'

test_expect_success 'a longer cycle is named whole; a module that depends on itself too' '
	manifest ring "ring2" &&
	expect_fail 1 timeout 60 "$RDC" check ring.yaml &&
	expect_grep "error: kernel modules depend on each other in a cycle: ring2 -> ring3 -> ring1 -> ring2" err &&
	manifest self "self" &&
	expect_fail 1 timeout 60 "$RDC" check self.yaml &&
	expect_grep "error: kernel modules depend on each other in a cycle: self -> self" err
'

# An indexed tree (modules.dep and modules.dep.bin, which libkmod reads)
# with a cycle: depmod refuses to write one, so it is made by hand: rdc's own
# indexes for depa -> depb -> depc (a tree without depmod, built to a
# directory), then depb's line edited to name depa, in both files.  kmod's
# modprobe --show-depends depb then prints depa and depb without depc, a
# silently truncated order.
test_expect_success 'a hand-edited modules.dep with a cycle: the same error' '
	mkdir -p st/$REL/kernel &&
	for m in depa:depb depb:depc depc:; do
		mkmod ${m%%:*} depends=${m#*:} && mv tree/kernel/${m%%:*}.ko st/$REL/kernel/ || return 1
	done &&
	printf "rdc: 1\nkernel: {version: $REL, modules: st}\nkmods: [depa]\n" > st.yaml &&
	"$RDC" build st.yaml -o img/ &&
	idx=img/lib/modules/$REL && grep -q "^kernel/depb.ko: kernel/depc.ko$" $idx/modules.dep &&
	sed -i "s|depb.ko: kernel/depc.ko|depb.ko: kernel/depa.ko|" $idx/modules.dep $idx/modules.dep.bin &&
	grep -q "^kernel/depb.ko: kernel/depa.ko$" $idx/modules.dep && grep -q "depb.ko: kernel/depa.ko" $idx/modules.dep.bin &&
	printf "rdc: 1\nkernel: {version: $REL, modules: img/lib/modules}\nkmods: [depc, depb]\n" > dep.yaml &&
	expect_fail 1 timeout 60 "$RDC" check dep.yaml &&
	expect_grep "^dep.yaml:3:15: error: kernel modules depend on each other in a cycle: depb -> depa -> depb" err &&
	expect_fail 1 timeout 60 "$RDC" kmods --moddir img/lib/modules --kver $REL depa &&
	expect_grep "^rdc: error: kernel modules depend on each other in a cycle: depa -> depb -> depa" err
'

test_expect_success 'rdc kmods: the same error, exit 1, no closure printed' '
	expect_fail 1 timeout 60 "$RDC" kmods --tree tree cycb &&
	expect_grep "^rdc: error: kernel modules depend on each other in a cycle: cycb -> cyca -> cycb" err &&
	[ ! -s out ]
'

test_expect_success 'modules beside the cycle, and softdep cycles (modprobe takes them), still resolve' '
	"$RDC" kmods --tree tree plain softa > out &&
	printf "%s\n" tree/kernel/plain.ko tree/kernel/softb.ko tree/kernel/softa.ko | sed "s|^|$PWD/|" > want &&
	sort want > want.s && sort out > out.s && cmp want.s out.s
'

# An alias with a byte past 0x7f (objcopy puts any bytes in .modinfo):
# libkmod reads a trie node's child range as signed chars, so such a key in
# modules.alias.bin made every modprobe in the image crash, whatever it
# asked (depmod itself crashes on it).  It stays in the text modules.alias.
test_expect_success 'an alias with non-ASCII bytes: the image'"'"'s modprobe still resolves the others' '
	mkmod hiali depends= "alias=hi-ascii" "alias=$(printf "hi-\\377\\376")" &&
	manifest hi "hiali" && "$RDC" build hi.yaml -o hi/ &&
	idx=hi/lib/modules/$REL && grep -q "^alias hi-ascii hiali$" $idx/modules.alias &&
	modprobe -C /dev/null -d hi -S $REL -R hi-ascii > got && echo hiali | cmp - got &&
	modprobe -C /dev/null -d hi -S $REL --show-depends hiali > got && grep -q "hiali.ko" got &&
	expect_fail 1 modprobe -C /dev/null -d hi -S $REL -R nothing-such
'

test_done
