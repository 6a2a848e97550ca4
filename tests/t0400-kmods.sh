#!/usr/bin/env bash
# Kernel-module closures on the installed Debian kernel, checked against
# kmod's own `modprobe --show-depends` (host config left out with -C, as rdc
# leaves it out: /etc/modprobe.d configures the host, not the image).
. "$(dirname "$0")/lib.sh"

MODS=/lib/modules/$KVER
oracle() { modprobe -C /dev/null ${2:+-d "$2"} -S "${3:-$KVER}" --show-depends "$1" | awk '$1 == "insmod" {print $2}'; }
# every module's modules.dep dependencies come earlier in the list $1
deps_first() {
	awk -v dir="$2/" 'NR == FNR { sub(dir, ""); pos[$0] = FNR; next }
		{ m = $1; sub(":$", "", m); if (!(m in pos)) next;
		  for (i = 2; i <= NF; i++) if (!(($i) in pos) || pos[$i] > pos[m]) { print m " before " $i; bad = 1 } }
		END { exit bad }' "$1" "$2/modules.dep"
}

test_expect_success 'a broad sample: rdc has everything modprobe --show-depends insmods' '
	{ awk -F: "NR % 67 == 1 {print \$1}" $MODS/modules.dep | sed "s|.*/||; s|\.ko.*||" &&
	  echo btrfs vfat e1000 virtio_net nvme kvm_intel xfs ext4 | tr " " "\n"; } > sample &&
	[ "$(wc -l < sample)" -ge 60 ] &&
	while read -r m; do
		{ "$RDC" kmods --kver $KVER "$m" > ours || { echo "rdc failed on $m"; exit 1; }; } &&
		oracle "$m" > theirs &&
		{ [ -s theirs ] || continue; } &&
		comm -13 <(sort -u ours) <(sort -u theirs) > missing &&
		{ [ ! -s missing ] || { echo "$m: rdc misses"; cat missing; exit 1; }; } &&
		deps_first ours $MODS || { echo "$m: bad order"; exit 1; }
	done < sample
'

# Past 64 modules the files are read ahead on every core (-j 1: on one).
test_expect_success 'a big closure read on all cores: what modprobe insmods, the image -j 1 makes' '
	awk "NR % 13 == 1" $MODS/modules.order | sed "s|.*/||; s|\.ko.*||" > many &&
	[ "$(wc -l < many)" -ge 300 ] &&
	"$RDC" kmods --kver $KVER $(cat many) > ours &&
	while read -r m; do oracle "$m"; done < many | sort -u > theirs &&
	comm -13 <(sort -u ours) theirs > missing && [ ! -s missing ] && [ -s theirs ] &&
	deps_first ours $MODS &&
	{ printf "rdc: 1\nkernel: {version: $KVER}\nkmods:\n" && sed "s/^/  - /" many; } > many.yaml &&
	RDC_CACHE_DIR=$PWD/c1 "$RDC" build many.yaml -o all.cpio 2> err &&
	RDC_CACHE_DIR=$PWD/c2 "$RDC" build -j 1 many.yaml -o one.cpio 2> err &&
	cmp all.cpio one.cpio && rm -rf c1 c2 all.cpio one.cpio
'

test_expect_success 'rdc kmods with no cache directory: a warning, the closure, exit 0' '
	env -u HOME -u RDC_CACHE_DIR -u XDG_CACHE_HOME "$RDC" kmods --kver $KVER vfat >out 2>err &&
	expect_grep "/vfat.ko" out &&
	expect_grep "^rdc: warning: no cache directory" err && ! grep -q "error" err
'

test_expect_success 'kernel.version: latest is the newest release under kernel.modules, or none is installed' '
	mkdir -p lm/5.10.0-1 lm/6.1.0-9 lm/6.1.0-10 nokernel &&
	printf "rdc: 1\nkernel: {version: latest, modules: lm}\ndirs: [/a]\n" > latest.yaml &&
	"$RDC" build --json latest.yaml -o latest.cpio > j && expect_grep "\"kernel\":\"6.1.0-10\"" j &&
	printf "rdc: 1\nkernel: {version: latest, modules: nokernel}\ndirs: [/a]\n" > none.yaml &&
	expect_fail 1 "$RDC" build none.yaml -o none.cpio &&
	expect_grep "^none.yaml:2:9: error: no kernel is installed under .*nokernel" err &&
	expect_grep "hint: install a kernel" err && ! test -e none.cpio
'

test_expect_success 'btrfs pulls the crc32c implementations through libcrc32c and its own softdeps' '
	"$RDC" kmods --kver $KVER btrfs > out &&
	expect_grep "/crc32c_generic.ko$" out && expect_grep "/crc32c-intel.ko$" out &&
	expect_grep "/libcrc32c.ko$" out && expect_grep "/blake2b_generic.ko$" out &&
	[ "$(tail -1 out)" = "$MODS/kernel/fs/btrfs/btrfs.ko" ] &&
	[ $(grep -n crc32c_generic out | cut -d: -f1) -lt $(grep -n libcrc32c out | cut -d: -f1) ]
'

test_expect_success 'an alias resolves: fs-vfat is vfat after fat' '
	"$RDC" kmods --kver $KVER fs-vfat > out &&
	printf "%s\n" $MODS/kernel/fs/fat/fat.ko $MODS/kernel/fs/fat/vfat.ko > want &&
	cmp want out
'

test_expect_success 'shared dependencies appear once, before both users' '
	"$RDC" kmods --kver $KVER xfs btrfs > out &&
	[ "$(grep -c /libcrc32c.ko out)" = 1 ] &&
	sort out | uniq -d > dups && [ ! -s dups ] &&
	deps_first out $MODS
'

test_expect_success 'the order does not depend on the cache or on chance' '
	"$RDC" kmods --kver $KVER ext4 nvme btrfs > a &&
	rm -rf "$RDC_CACHE_DIR" && "$RDC" kmods --kver $KVER ext4 nvme btrfs > b && cmp a b
'

test_expect_success 'a memo hit gives the same closure' '
	rm -rf "$RDC_CACHE_DIR" &&
	"$RDC" kmods --kver $KVER --dest btrfs e100 2>err1 > a &&
	ls "$RDC_CACHE_DIR"/memo/*/* > /dev/null &&
	"$RDC" kmods --kver $KVER --dest btrfs e100 2>err2 > b &&
	cmp a b && cmp err1 err2 && expect_grep "e100/d101m_ucode.bin" err2
'

test_expect_success 'an unknown module: exit 1 with a did-you-mean' '
	expect_fail 1 "$RDC" kmods --kver $KVER vfatt &&
	expect_grep "unknown kernel module .vfatt." err && expect_grep "did you mean .vfat." err &&
	expect_fail 1 "$RDC" kmods --kver $KVER btrfss vfat e1000e-nope &&
	expect_grep "unknown kernel module .btrfss." err && expect_grep "did you mean .btrfs." err &&
	expect_grep "unknown kernel module .e1000e-nope." err && [ ! -s out ]
'

test_expect_success 'usage errors exit 2; a kernel that is not installed lists the installed ones' '
	expect_fail 2 "$RDC" kmods --kver $KVER &&
	expect_fail 2 "$RDC" kmods --bogus vfat &&
	expect_fail 1 "$RDC" kmods --kver 0.0.0-nope vfat &&
	expect_grep "kernel 0.0.0-nope is not installed" err && expect_grep "$KVER" err
'

test_expect_success 'builtin modules contribute nothing and are no error' '
	b=$(sed -n "1{s|.*/||;s|\.ko.*||;p}" $MODS/modules.builtin) &&
	"$RDC" kmods -v --kver $KVER "$b" vfat > out 2> err &&
	[ "$(wc -l < out)" = 2 ] && expect_grep "built into the kernel" err
'

# The module's own name (modinfo name=, what the kernel calls it) names the
# file in the image, whatever the host file is called.
test_expect_success 'an out-of-tree module by path goes to extra/ and pulls its depends=' '
	mkdir -p x && cp $MODS/kernel/fs/fat/vfat.ko x/myvfat.ko &&
	"$RDC" kmods --kver $KVER x/myvfat.ko > out &&
	printf "%s\n" $MODS/kernel/fs/fat/fat.ko x/myvfat.ko > want && cmp want out &&
	"$RDC" kmods --kver $KVER --dest x/myvfat.ko fs-vfat > out &&
	printf "%s\n" /lib/modules/$KVER/kernel/fs/fat/fat.ko /lib/modules/$KVER/extra/vfat.ko > want && cmp want out
'

test_expect_success 'a changed out-of-tree module is re-read (the memo notices)' '
	"$RDC" kmods --kver $KVER x/myvfat.ko > a && expect_grep fat.ko a &&
	cp $MODS/kernel/drivers/nvme/host/nvme.ko x/myvfat.ko &&
	"$RDC" kmods --kver $KVER x/myvfat.ko > b && expect_grep nvme-core.ko b && ! grep -q /fat.ko b
'

test_expect_success 'an out-of-tree module whose depends= the kernel lacks is an error' '
	mkdir -p bad && printf "not a module\n" > bad/junk.ko &&
	expect_fail 1 "$RDC" kmods --kver $KVER bad/junk.ko && expect_grep "cannot read kernel module" err
'

# A tree where depmod never ran: a few modules copied (some compressed), no indexes.
staging() {
	rm -rf st && mkdir -p st/$KVER/kernel &&
	for f in fs/fat/fat.ko fs/fat/vfat.ko lib/libcrc32c.ko crypto/crc32c_generic.ko \
		 fs/xfs/xfs.ko; do
		mkdir -p st/$KVER/kernel/${f%/*} && cp $MODS/kernel/$f st/$KVER/kernel/$f || return 1
	done &&
	xz st/$KVER/kernel/fs/fat/fat.ko && zstd -q --rm st/$KVER/kernel/lib/libcrc32c.ko
}

# (.gz too, which Debian's libkmod cannot read itself)
test_expect_success 'a tree without depmod: names, aliases, depends= and softdeps from modinfo' '
	staging && gzip st/$KVER/kernel/crypto/crc32c_generic.ko &&
	"$RDC" kmods --moddir st --kver $KVER fs-vfat xfs > out &&
	sed "s|.*/$KVER/||" out > got &&
	printf "%s\n" kernel/fs/fat/fat.ko.xz kernel/fs/fat/vfat.ko kernel/crypto/crc32c_generic.ko.gz \
		kernel/lib/libcrc32c.ko.zst kernel/fs/xfs/xfs.ko > want &&
	cmp want got
'

test_expect_success 'without depmod: the closure matches the indexed tree (less what is not copied)' '
	"$RDC" kmods --kver $KVER --dest xfs vfat > full &&
	"$RDC" kmods --moddir st --kver $KVER --dest --decompress xfs vfat > part &&
	grep -F -x -f part full > common && cmp part common && [ $(wc -l < part) = 5 ]
'

test_expect_success 'without depmod: a module whose dependency is gone is an error (memo re-checked)' '
	"$RDC" kmods --moddir st --kver $KVER vfat > /dev/null &&
	rm st/$KVER/kernel/fs/fat/fat.ko.xz &&
	expect_fail 1 "$RDC" kmods --moddir st --kver $KVER vfat &&
	expect_grep "depends on .fat." err
'

# (modprobe, through libkmod, drops every dependency of vfat then, silently;
# 64 requests take modules.dep itself)
test_expect_success 'depmod ran: a dependency whose file is gone is an error at the request' '
	rm -rf dm && mkdir -p dm/lib/modules/$KVER/kernel/fs/fat &&
	cp $MODS/kernel/fs/fat/fat.ko $MODS/kernel/fs/fat/vfat.ko dm/lib/modules/$KVER/kernel/fs/fat/ &&
	depmod -b dm $KVER 2> depmod.err && "$RDC" kmods --moddir dm/lib/modules --kver $KVER vfat > out &&
	[ $(wc -l < out) = 2 ] && rm dm/lib/modules/$KVER/kernel/fs/fat/fat.ko &&
	expect_fail 1 "$RDC" kmods --moddir dm/lib/modules --kver $KVER vfat &&
	expect_grep "error: cannot read kernel module .*/fat.ko (depends= of vfat): No such file" err &&
	expect_fail 1 "$RDC" kmods --moddir dm/lib/modules --kver $KVER $(yes vfat | head -64) &&
	expect_grep "error: cannot read kernel module .*/fat.ko (depends= of vfat): No such file" err &&
	printf "rdc: 1\nkernel: {version: $KVER, modules: dm/lib/modules}\nkmods:\n  - vfat\n" > gone.yaml &&
	expect_fail 1 "$RDC" build gone.yaml -o gone.cpio &&
	expect_grep "^gone.yaml:4:5: error: cannot read kernel module .*/fat.ko (depends= of vfat)" err &&
	[ $(grep -c "error:" err) -eq 1 ] && [ ! -e gone.cpio ]
'

# 64 requests read modules.dep's text, but modprobe (libkmod) reads
# modules.dep.bin alone: a text that is cut short, empty, has NUL bytes or
# CRLF line ends, or is a FIFO, gives what modprobe gives (never a module
# silently taken for a builtin, never a hang), and so does a text edited
# by hand after depmod wrote both (newer than modules.dep.bin: modprobe
# never reads it).  The damaged texts are dated before modules.dep.bin, as
# depmod dates its own, so that rdc reads them.
test_expect_success 'depmod ran: a damaged or hand-edited modules.dep text changes nothing, 64 requests or 1' '
	rm -rf dt && mkdir -p dt/lib/modules/$KVER/kernel/fs/fat &&
	cp $MODS/kernel/fs/fat/fat.ko $MODS/kernel/fs/fat/vfat.ko dt/lib/modules/$KVER/kernel/fs/fat/ &&
	depmod -b dt $KVER 2> depmod.err && D=dt/lib/modules/$KVER/modules.dep && cp $D dep.good &&
	before=@$(($(stat -c %Y $D.bin) - 60)) &&
	oracle vfat dt > want && [ $(wc -l < want) = 2 ] &&
	for how in empty nul crlf fifo edited; do
		rm -f $D &&
		case $how in
		empty) : > $D ;;
		nul) printf "\0" | cat - dep.good > $D ;;
		crlf) sed "s/\$/\r/" dep.good > $D ;;
		fifo) mkfifo $D ;;
		edited) sed "s|^\(kernel/fs/fat/vfat.ko:\).*|\1|" dep.good > $D && ! cmp -s $D dep.good ;;
		esac &&
		{ [ $how = edited ] || touch -d $before $D; } &&
		oracle vfat dt > theirs && cmp want theirs &&
		timeout 60 "$RDC" kmods --moddir dt/lib/modules --kver $KVER vfat > one &&
		timeout 60 "$RDC" kmods --moddir dt/lib/modules --kver $KVER $(yes vfat | head -64) > many &&
		cmp want one && cmp one many || { echo "modules.dep $how"; return 1; }
	done
'

# (a whole kernel's modules.dep is 0.5 MB: one of 1 GiB, NULs past its
# lines, was read whole into memory, 1 GB of RSS and seconds)
# (modprobe finds nothing in an empty modules.dep.bin; the did-you-mean,
# taken from the text, offered the very name asked for)
test_expect_success 'depmod ran: an empty modules.dep.bin is an error that says to run depmod' '
	B=dt/lib/modules/$KVER/modules.dep.bin && cp $B bin.good && : > $B &&
	expect_fail 1 "$RDC" kmods --moddir dt/lib/modules --kver $KVER vfat &&
	expect_grep "error: unknown kernel module .vfat." err && expect_grep "^hint: .*depmod" err &&
	! grep -q "did you mean .vfat." err && cp bin.good $B
'

test_expect_success 'depmod ran: a modules.dep of 1 GiB is not read into memory, 64 requests' '
	D=dt/lib/modules/$KVER/modules.dep && rm -f $D && cp dep.good $D && truncate -s 1G $D &&
	touch -d @$(($(stat -c %Y $D.bin) - 60)) $D &&
	/usr/bin/time -f %M -o rss "$RDC" kmods --moddir dt/lib/modules --kver $KVER $(yes vfat | head -64) > many &&
	cmp want many && [ "$(tail -1 rss)" -lt 200000 ] &&
	rm $D && cp dep.good $D
'

test_expect_success 'decompress: plain .ko bytes, dest without the suffix' '
	staging && mkdir -p dec && "$RDC" kmods --moddir st --kver $KVER --decompress --dest fs-vfat > out &&
	expect_grep "^/lib/modules/$KVER/kernel/fs/fat/fat.ko$" out
'

test_expect_success 'firmware: copied when present (also .xz), a warning naming it when not' '
	mkdir -p fw/e100 && echo m > fw/e100/d101m_ucode.bin && echo s | xz > fw/e100/d101s_ucode.bin.xz &&
	"$RDC" kmods --kver $KVER --fwdir fw --firmware --dest e100 > out 2> err &&
	expect_grep "^/lib/firmware/e100/d101m_ucode.bin$" out &&
	expect_grep "^/lib/firmware/e100/d101s_ucode.bin.xz$" out &&
	expect_grep "warning: module .e100. wants firmware" err && expect_grep "d102e_ucode.bin" err &&
	! grep -q d101m err
'

# ---- in a manifest -----------------------------------------------------

test_expect_success 'an unknown module in a manifest: file:line:col and did-you-mean' '
	printf "rdc: 1\nkernel: {version: $KVER}\nkmods:\n  - vfat\n  - vfatt\n" > bad.yaml &&
	expect_fail 1 "$RDC" build bad.yaml -o bad.cpio &&
	expect_grep "bad.yaml:5:5: error: unknown kernel module .vfatt." err &&
	expect_grep "did you mean .vfat." err && [ ! -e bad.cpio ]
'

test_expect_success 'every module error once, at its own line, with its hint; exit 1 cold and again' '
	printf "not a module\n" > junk.ko &&
	printf "rdc: 1\nkernel: {version: $KVER}\nkmods:\n  - vfat\n  - nosuchmod\n  - {path: junk.ko}\n  - {path: gone.ko}\n" > errs.yaml &&
	for run in cold again; do
		expect_fail 1 "$RDC" build errs.yaml -o errs.cpio &&
		[ $(grep -c "error:" err) -eq 3 ] &&
		[ $(grep -c "^errs.yaml:5:5: error: unknown kernel module .nosuchmod." err) -eq 1 ] &&
		[ $(grep -c "^errs.yaml:6:5: error: cannot read kernel module .*/junk.ko.: " err) -eq 1 ] &&
		[ $(grep -c "^errs.yaml:7:5: error: cannot read kernel module .*/gone.ko.: No such file" err) -eq 1 ] &&
		[ $(grep -c "^hint: did you mean" err) -eq 1 ] && [ ! -e errs.cpio ] || return 1
	done
'

test_expect_success 'a module of another machine is refused cold, from the memo, and unpacked' '
	mkdir -p mach && cp $(find $MODS -name af_key.ko | head -1) mach/af_key.ko && xz -k mach/af_key.ko &&
	for ko in af_key.ko af_key.ko.xz; do
		printf "rdc: 1\narch: aarch64\nkernel: {version: $KVER, decompress: true}\nkmods:\n  - {path: mach/$ko}\n" > mach.yaml &&
		for run in cold memo; do
			expect_fail 1 "$RDC" build mach.yaml -o mach.cpio &&
			expect_grep "^mach.yaml:5:5: error: the module af_key .*/$ko) is for x86_64 (EM 62)" err || return 1
		done &&
		sed -i "s/^arch: aarch64$/arch: x86_64/" mach.yaml && "$RDC" build mach.yaml -o mach.cpio || return 1
	done
'

test_expect_success 'an image with kmods holds the modules and indexes for the subset' '
	printf "rdc: 1\nkernel: {version: $KVER}\nkmods: [fs-vfat, {name: btrfs, params: \"x=1\"}]\n" > m.yaml &&
	"$RDC" build m.yaml -o m.cpio &&
	cpio_tree m.cpio > tree &&
	for f in kernel/fs/fat/vfat.ko kernel/fs/fat/fat.ko kernel/fs/btrfs/btrfs.ko kernel/lib/libcrc32c.ko \
		 modules.dep modules.alias modules.softdep modules.builtin modules.order; do
		expect_grep " lib/modules/$KVER/$f$" tree || exit 1
	done &&
	mkdir img && (cd img && cpio -id --quiet < ../m.cpio) &&
	expect_grep "^kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko$" img/lib/modules/$KVER/modules.dep &&
	expect_grep "^alias fs-vfat vfat$" img/lib/modules/$KVER/modules.alias &&
	expect_grep "^softdep libcrc32c pre: crc32c$" img/lib/modules/$KVER/modules.softdep &&
	cmp img/lib/modules/$KVER/kernel/fs/btrfs/btrfs.ko $MODS/kernel/fs/btrfs/btrfs.ko
'

test_expect_success 'the image is the same from a cold cache and from the memo' '
	rm -rf "$RDC_CACHE_DIR" && "$RDC" build m.yaml -o cold.cpio &&
	ls "$RDC_CACHE_DIR"/memo/kmods4/* > /dev/null &&
	"$RDC" build m.yaml -o warm.cpio && cmp cold.cpio warm.cpio && cmp cold.cpio m.cpio
'

test_expect_success 'rdc explain names the kmods line and the chain that pulled a module in, memoised or not' '
	for run in cold memo; do
		{ [ $run = memo ] || rm -rf "$RDC_CACHE_DIR"; } &&
		"$RDC" explain m.yaml /lib/modules/$KVER/kernel/fs/fat/vfat.ko /lib/modules/$KVER/kernel/fs/fat/fat.ko \
			/lib/modules/$KVER/kernel/lib/libcrc32c.ko /lib/modules/$KVER/kernel/fs/btrfs/btrfs.ko > ex.$run &&
		expect_grep "vfat.ko: .*module vfat: kmods (alias fs-vfat) (m.yaml:3:9)" ex.$run &&
		expect_grep "fat/fat.ko: .*module fat: depends= of vfat (m.yaml:3:9)" ex.$run &&
		expect_grep "libcrc32c.ko: .*module libcrc32c: depends= of btrfs (m.yaml:3:18)" ex.$run &&
		expect_grep "btrfs.ko: .*module btrfs: kmods (m.yaml:3:18)" ex.$run || exit 1
	done &&
	cmp ex.cold ex.memo
'

test_expect_success 'kmod modprobe resolves inside the image from the indexes rdc wrote' '
	for f in modules.dep.bin modules.alias.bin modules.builtin.bin; do
		[ -s img/lib/modules/$KVER/$f ] || { echo "no $f"; exit 1; }
	done &&
	for m in fs-vfat vfat btrfs crypto-crc32c; do
		modprobe -C /dev/null -d img -S $KVER --show-depends $m | sed "s|^insmod $PWD/img/|insmod /|" | sort > in &&
		modprobe -C /dev/null -S $KVER --show-depends $m | sort > host &&
		cmp in host || { echo "$m differs"; diff in host; exit 1; }
	done &&
	expect_fail 1 modprobe -C /dev/null -d img -S $KVER --show-depends e1000
'

test_expect_success 'params attach to what the request resolved to; /init loads in closure order' '
	printf "rdc: 1\nkernel: {version: $KVER}\nkmods: [{name: fs-vfat, params: a=1}, {name: vfat, params: b=2}]\ninit: {modules: load}\n" > p.yaml &&
	"$RDC" build p.yaml -o p.cpio && mkdir p && (cd p && cpio -id --quiet < ../p.cpio) &&
	grep "^rdc_insmod " p/init | tr -d "\047" > loads &&
	printf "%s\n" "rdc_insmod fat /lib/modules/$KVER/kernel/fs/fat/fat.ko  hard" \
		"rdc_insmod vfat /lib/modules/$KVER/kernel/fs/fat/vfat.ko a=1 b=2 hard" > want &&
	cmp want loads
'

# "mod: deps" with the deps sorted: depmod lists them in its own order
norm_dep() {
	while read -r m deps; do echo "$m $(printf "%s\n" $deps | sort | tr "\n" " ")"; done < "$1" | sort
}

test_expect_success 'depmod run on the image agrees with the modules.dep rdc wrote' '
	d=img/lib/modules/$KVER &&
	norm_dep $d/modules.dep > ours && [ $(wc -l < ours) -ge 8 ] &&
	depmod -b img $KVER && norm_dep $d/modules.dep > theirs && cmp ours theirs
'

test_expect_success 'kernel.decompress in a manifest stores plain .ko files' '
	staging && mkdir -p st2/lib/modules && mv st/$KVER st2/lib/modules/ && depmod -b st2 $KVER 2>/dev/null &&
	printf "rdc: 1\nkernel: {version: $KVER, modules: st2/lib/modules, decompress: true}\nkmods: [vfat, xfs]\n" > d.yaml &&
	"$RDC" build d.yaml -o d.cpio && rm -rf dimg && mkdir dimg && (cd dimg && cpio -id --quiet < ../d.cpio) &&
	cmp dimg/lib/modules/$KVER/kernel/fs/fat/fat.ko $MODS/kernel/fs/fat/fat.ko &&
	cmp dimg/lib/modules/$KVER/kernel/lib/libcrc32c.ko $MODS/kernel/lib/libcrc32c.ko &&
	! ls dimg/lib/modules/$KVER/kernel/fs/fat/ | grep -q "\.xz" &&
	expect_grep "^kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko$" dimg/lib/modules/$KVER/modules.dep &&
	"$RDC" build d.yaml -o d2.cpio && cmp d.cpio d2.cpio
'

# ---- a foreign architecture: Debian's arm64 kernel (tests/setup/arm64-kernel.sh) ----

A64=${RDC_ARM64_KERNEL:-/var/cache/rdc-tests/arm64-kernel}
if [ -s "$A64/kver" ] && [ -d "$A64/lib/modules/$(cat "$A64/kver")/kernel" ]; then
	AK=$(cat "$A64/kver")
	test_expect_success 'arm64: virtio_net and btrfs resolve against the arm64 tree as modprobe does' '
		for m in virtio_net btrfs virtio_blk fs-vfat; do
			"$RDC" kmods --moddir $A64/lib/modules --kver $AK $m > ours &&
			oracle $m $A64 $AK > theirs && [ -s theirs ] &&
			comm -13 <(sort ours) <(sort theirs) > missing && [ ! -s missing ] || { echo $m; cat missing; exit 1; }
		done &&
		expect_grep "arch/arm64" <("$RDC" kmods --moddir $A64/lib/modules --kver $AK btrfs)
	'
	test_expect_success 'arm64: the same tree without depmod gives the same closure' '
		mkdir -p nd && { cp -al $A64/lib/modules/$AK nd/ 2>/dev/null || cp -a $A64/lib/modules/$AK nd/; } &&
		rm -f nd/$AK/modules.*dep* nd/$AK/modules.alias* nd/$AK/modules.symbols* nd/$AK/modules.*.bin &&
		"$RDC" kmods --moddir nd --kver $AK --dest virtio_net btrfs fs-vfat > a &&
		"$RDC" kmods --moddir $A64/lib/modules --kver $AK --dest virtio_net btrfs fs-vfat > b &&
		cmp a b
	'
else
	test_skip 'arm64 module closures' "run tests/setup/arm64-kernel.sh first"
fi

test_done
