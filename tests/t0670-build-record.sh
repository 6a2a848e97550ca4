#!/usr/bin/env bash
# The whole-build record: a build where nothing changed is current from the
# record (nothing resolved, the output untouched, the warnings said again),
# and every kind of change defeats it — an edited, touched or replaced
# source, a library new earlier in a RUNPATH, an include, a variable, the
# output itself, -o and -z, a damaged record, an input edited too recently.
. "$(dirname "$0")/lib.sh"

# Each scenario has its own manifest and output, so one wait past the racy
# window serves them all.
mkdir -p src "$RDC_CACHE_DIR"
printf 'one\n' > src/a.txt
printf 'same\n' > src/same.txt
printf 'touch\n' > src/touched.txt
printf 'old\n' > src/renamed.txt
printf 'dirs: [/from-base]\n' > src/base.yaml
mkdir -p src/tree/sub && printf 'a\n' > src/tree/sub/a
mkdir -p src/real/sub && printf 'a\n' > src/real/sub/a && ln -s real src/tlink
mkdir -p src/v1 src/v2 && printf 'v1\n' > src/v1/a.txt && printf 'v2, older\n' > src/v2/a.txt && ln -s v1 src/cur
# sysroot(DIR, RUNPATH): a program needing libfoo.so (in the RUNPATH's last
# directory) and no libc, in a sysroot of its own: ELF lookups note every
# directory on the way, and this test's directory changes all the time.
sysroot() {
	local d=$1 rp=$2 last=${2##*:}
	mkdir -p "$d/lib64" "$d${rp%%:*}" "$d$last" &&
	printf 'int foo(void) { return 2; }\n' > foo.c &&
	printf 'int foo(void);\nvoid _start(void) { __asm__ volatile ("syscall" :: "a"(60), "D"(foo())); }\n' > main.c &&
	cc -shared -fPIC -nostdlib -o "$d$last/libfoo.so" foo.c &&
	cc -nostdlib -o "$d/prog" main.c -L"$d$last" -lfoo -Wl,--enable-new-dtags,-rpath,"$rp" &&
	cp -L /lib64/ld-linux-x86-64.so.2 "$d/lib64/"
}
# globsys(DIR): a program needing libfoo.so, found in /usr/lib (a default
# directory) until ld.so.conf's 'include /etc/conf2/*/*.conf' names /opt/lib.
globsys() {
	local d=$1
	mkdir -p "$d/lib64" "$d/usr/lib" "$d/opt/lib" "$d/etc/conf2/sub" &&
	printf 'int foo(void) { return 2; }\n' > foo.c &&
	printf 'int foo(void);\nvoid _start(void) { __asm__ volatile ("syscall" :: "a"(60), "D"(foo())); }\n' > main.c &&
	cc -shared -fPIC -nostdlib -o "$d/usr/lib/libfoo.so" foo.c && cp "$d/usr/lib/libfoo.so" "$d/opt/lib/" &&
	cc -nostdlib -o "$d/prog" main.c -L"$d/usr/lib" -lfoo && cp -L /lib64/ld-linux-x86-64.so.2 "$d/lib64/" &&
	echo 'include /etc/conf2/*/*.conf' > "$d/etc/ld.so.conf"
}
globsys "$PWD/gsys" && globsys "$PWD/gsys2"
tab=$(printf '\t')
sysroot "$PWD/sys" /rp1:/rp2 && sysroot "$PWD/sys-tab" "/t${tab}1:/t${tab}2"
scenario() { # scenario NAME YAML-LINES...: src/NAME.yaml building NAME.cpio
	local n=$1
	shift
	{ echo 'rdc: 1' && printf '%s\n' "$@" && echo "output: ../$n.cpio"; } > "src/$n.yaml"
}
scenario edit 'files: [{src: a.txt, dest: /a.txt}]'
scenario same 'files: [{src: same.txt, dest: /same.txt}]'
scenario touch 'files: [{src: touched.txt, dest: /touched.txt}]'
scenario rename 'files: [{src: renamed.txt, dest: /renamed.txt}]'
scenario runpath "sysroot: $PWD/sys" 'binaries: [/prog]'
scenario unmemoised "sysroot: $PWD/sys-tab" 'binaries: [/prog]'
scenario include 'include: [base.yaml]' 'dirs: [/own]'
scenario tree 'files: [{src: tree/, dest: /t}]'
scenario linktree 'files: [{src: tlink/, dest: /t}]'
scenario swap 'files: [{src: cur/a.txt, dest: /a.txt}]'
scenario rebuilt 'dirs: [/r]'
scenario ldglob "sysroot: $PWD/gsys" 'binaries: [/prog]'
scenario ldglob2 "sysroot: $PWD/gsys2" 'binaries: [/prog]'
scenario env 'dirs: ["/${RECORD_DIR}"]'
scenario output 'dirs: [/x]'
scenario options 'dirs: [/y]'
scenario damage 'dirs: [/z]'
scenario racy 'files: [{src: a.txt, dest: /a.txt}]'
scenario warn 'binaries: [/usr/sbin/ip]' 'init: {steps: [ip link]}'
export RECORD_DIR=one
names="edit same touch rename runpath unmemoised include tree linktree swap ldglob ldglob2 env output options damage racy warn"
# rdc2: this rdc with another build-id (its note rewritten), as another
# build of the same version would be.
mkdir -p bin && cp "$RDC" bin/rdc && cp "$RDC" rdc2 &&
objcopy --dump-section .note.gnu.build-id=note rdc2 && flip_byte note $(($(stat -c %s note) - 1)) &&
objcopy --update-section .note.gnu.build-id=note rdc2 || exit 1
sleep 2.2 # past the racy window: these inputs can be trusted

current() { expect_grep "(unchanged: current from the build record" "$1"; }
not_current() { expect_grep "not current from the build record" "$1"; }
has() { cpio_tree "$1" | grep -q " ${2#/}\$" || { echo "$2 not in $1:" && cpio_tree "$1"; return 1; }; }
record_of() { grep -l "rdc-record 1 $PWD/$1.cpio" "$RDC_CACHE_DIR"/memo/record/*; }
content() { "$RDC" extract "$1" x.$$ && cat "x.$$$2" && rm -rf x.$$; }

test_expect_success 'a build where nothing changed is current from the record (-v says so), output untouched' '
	for n in $names; do "$RDC" build -q src/$n.yaml 2> /dev/null || return 1; done &&
	for n in $names; do
		before=$(stat -c %i:%Y:%Z $n.cpio) &&
		"$RDC" build -v src/$n.yaml 2> $n.err &&
		{ [ $n = warn ] || current $n.err; } &&
		[ "$(stat -c %i:%Y:%Z $n.cpio)" = "$before" ] || return 1
	done &&
	expect_grep "unchanged" edit.err
'

test_expect_success 'the record resolves nothing and says the warnings again (not those of a -v build)' '
	rm "$(record_of warn)" && "$RDC" build src/warn.yaml 2> first.err && expect_grep "BusyBox" first.err &&
	rm -rf "$RDC_CACHE_DIR/memo/elf" &&
	"$RDC" build src/warn.yaml 2> again.err && cmp first.err again.err &&
	! ls "$RDC_CACHE_DIR/memo/elf" 2>/dev/null &&
	"$RDC" build -v src/warn.yaml 2> v.err && expect_grep "lists in full what its warnings sum up" v.err &&
	rm -rf "$RDC_CACHE_DIR/memo/elf" && "$RDC" build src/warn.yaml 2> again.err && cmp first.err again.err &&
	ls "$RDC_CACHE_DIR/memo/elf" > /dev/null &&
	rm -rf "$RDC_CACHE_DIR/memo/elf" && "$RDC" build src/warn.yaml 2> again.err && cmp first.err again.err &&
	! ls "$RDC_CACHE_DIR/memo/elf" 2>/dev/null
'

test_expect_success 'an edited source defeats it' '
	printf "two, longer\n" > src/a.txt && "$RDC" build -v src/edit.yaml 2> err && not_current err &&
	expect_grep "a.txt changed" err && [ "$(content edit.cpio /a.txt)" = "two, longer" ]
'

test_expect_success 'an edit of the same size defeats it, and so does a touch' '
	printf "SAME\n" > src/same.txt && "$RDC" build -v src/same.yaml 2> err && not_current err &&
	[ "$(content same.cpio /same.txt)" = SAME ] &&
	touch src/touched.txt && "$RDC" build -v src/touch.yaml 2> err && not_current err &&
	[ "$(content touch.cpio /touched.txt)" = touch ]
'

test_expect_success 'a source replaced by rename defeats it' '
	printf "new\n" > src/renamed.new && touch -r src/renamed.txt src/renamed.new && mv src/renamed.new src/renamed.txt &&
	"$RDC" build -v src/rename.yaml 2> err && not_current err && [ "$(content rename.cpio /renamed.txt)" = new ]
'

test_expect_success 'a library new earlier in the RUNPATH defeats it: the image takes that one' '
	"$RDC" build -v src/runpath.yaml 2> err && current err && has runpath.cpio /rp2/libfoo.so &&
	cp sys/rp2/libfoo.so sys/rp1/libfoo.so && "$RDC" build -v src/runpath.yaml 2> err && not_current err &&
	has runpath.cpio /rp1/libfoo.so && ! cpio_tree runpath.cpio | grep -q rp2/libfoo
'

test_expect_success 'so it does for a closure that could not be memoised (a tab in its paths)' '
	"$RDC" build -v src/unmemoised.yaml 2> err && current err && ! grep -rqa sys-tab "$RDC_CACHE_DIR/memo/elf" &&
	has unmemoised.cpio "/t${tab}2/libfoo.so" && cp "sys-tab/t${tab}2/libfoo.so" "sys-tab/t${tab}1/" &&
	"$RDC" build -v src/unmemoised.yaml 2> err && not_current err && has unmemoised.cpio "/t${tab}1/libfoo.so"
'

test_expect_success 'a file new where an ld.so.conf include with wildcard directories looks defeats it' '
	"$RDC" build -v src/ldglob.yaml 2> err && current err && has ldglob.cpio /usr/lib/libfoo.so &&
	echo /opt/lib > gsys/etc/conf2/sub/a.conf && "$RDC" build -v src/ldglob.yaml 2> err && not_current err &&
	has ldglob.cpio /opt/lib/libfoo.so && ! cpio_tree ldglob.cpio | grep -q usr/lib/libfoo
'

test_expect_success 'and the ELF closure memo alone (no record) sees it too' '
	rm "$(record_of ldglob2)" && "$RDC" build src/ldglob2.yaml && ls "$RDC_CACHE_DIR/memo/elf" > /dev/null &&
	rm "$(record_of ldglob2)" && echo /opt/lib > gsys2/etc/conf2/sub/a.conf &&
	"$RDC" build src/ldglob2.yaml && has ldglob2.cpio /opt/lib/libfoo.so
'

test_expect_success 'a changed include defeats it' '
	printf "dirs: [/from-base-2]\n" > src/base.yaml && "$RDC" build -v src/include.yaml 2> err && not_current err &&
	has include.cpio /from-base-2 && has include.cpio /own
'

test_expect_success 'a file new deep in a src: dir/ tree defeats it' '
	printf "b\n" > src/tree/sub/b && "$RDC" build -v src/tree.yaml 2> err && not_current err && has tree.cpio /t/sub/b
'

test_expect_success 'so does one new deep in a tree whose top is a symlink (the build follows it)' '
	printf "b\n" > src/real/sub/b && "$RDC" build -v src/linktree.yaml 2> err && not_current err &&
	has linktree.cpio /t/sub/b
'

# The image's rename is held back 1.5 s (strace delays the first rename):
# the symlink on the way to a source is retargeted after the build read it.
test_expect_success 'a parent symlink retargeted during a build never leaves the old image trusted' '
	size=$(stat -c %s swap.cpio) && rm swap.cpio &&
	{ strace -f -qq -o trace.out -e trace=rename -e inject=rename:delay_enter=1500000:when=1 \
		"$RDC" build -v src/swap.yaml 2> swap.err & } &&
	# retargeted once the image is whole, in the rename that is held back
	# (the temporary file alone exists before the source is read: a loaded
	# CI machine read v2)
	for i in $(seq 500); do [ "$(stat -c %s swap.cpio.rdc-tmp.* 2>/dev/null)" = "$size" ] && break; sleep 0.02; done &&
	ln -sfn v2 src/cur && wait $! && [ "$(content swap.cpio /a.txt)" = v1 ] &&
	expect_grep "not trusted yet: .*/cur/a.txt is not what the build read" swap.err && sleep 2.2 &&
	"$RDC" build -v src/swap.yaml 2> err && not_current err && [ "$(content swap.cpio /a.txt)" = "v2, older" ]
'

test_expect_success 'another rdc of the same version, or rdc replaced in place, is not current (nor its output memo)' '
	bin/rdc build src/rebuilt.yaml -o rebuilt.c 2> /dev/null && bin/rdc build -v src/rebuilt.yaml -o rebuilt.c 2> err &&
	current err && ./rdc2 build -v src/rebuilt.yaml -o rebuilt.c 2> err && not_current err &&
	expect_grep "another rdc" err && bin/rdc build src/rebuilt.yaml -o rebuilt.c 2> /dev/null &&
	bin/rdc build -v src/rebuilt.yaml -o rebuilt.c 2> err && current err &&
	LD_LIBRARY_PATH=/nowhere bin/rdc build -v src/rebuilt.yaml -o rebuilt.c 2> err && not_current err &&
	expect_grep "another rdc" err && bin/rdc build src/rebuilt.yaml -o rebuilt.c 2> /dev/null &&
	before=$(stat -c %i rebuilt.c) && mv rdc2 bin/rdc &&
	bin/rdc build -v src/rebuilt.yaml -o rebuilt.c 2> err && not_current err && ! grep "(unchanged)" err &&
	[ "$(stat -c %i rebuilt.c)" != "$before" ]
'

test_expect_success 'an rdc linked without a build-id keeps no record (it could not tell another rdc from itself)' '
	cp "$RDC" nobid && objcopy --remove-section .note.gnu.build-id nobid &&
	./nobid build src/rebuilt.yaml -o nobid.c 2> /dev/null && ./nobid build -v src/rebuilt.yaml -o nobid.c 2> err &&
	! grep "build record" err && ! ls "$RDC_CACHE_DIR"/memo/record/* | xargs grep -l "$PWD/nobid.c"
'

test_expect_success 'a C output the record does not vouch for but its output memo does says its format' '
	rm "$(grep -l "rdc-record 1 $PWD/rebuilt.c" "$RDC_CACHE_DIR"/memo/record/*)" &&
	bin/rdc build -v src/rebuilt.yaml -o rebuilt.c 2> err && expect_grep "1 entries, c (unchanged)" err
'

test_expect_success 'a source with a timestamp in the future is said to have one' '
	printf "later\n" > future.txt && touch -d "+1 hour" future.txt &&
	printf "rdc: 1\nfiles: [{src: future.txt, dest: /f}]\n" > future.yaml &&
	"$RDC" build -v future.yaml -o future.cpio 2> err && expect_grep "future.txt has a timestamp in the future" err
'

test_expect_success 'a variable the manifest expands, changed, defeats it' '
	RECORD_DIR=two "$RDC" build -v src/env.yaml 2> err && not_current err && has env.cpio /two &&
	RECORD_DIR=two "$RDC" build -v src/env.yaml 2> err && current err &&
	RECORD_DIR=one "$RDC" build -v src/env.yaml 2> err && not_current err && has env.cpio /one
'

test_expect_success 'a deleted or modified output is built again, and one its output memo does not vouch for' '
	cp output.cpio output.good && rm output.cpio && "$RDC" build -v src/output.yaml 2> err && not_current err &&
	cmp output.cpio output.good &&
	"$RDC" build -v src/output.yaml 2> err && current err &&
	flip_byte output.cpio 300 && "$RDC" build -v src/output.yaml 2> err && not_current err &&
	cmp output.cpio output.good &&
	rm $(grep -l "$PWD/output.cpio" "$RDC_CACHE_DIR"/memo/output/*) && "$RDC" build -v src/output.yaml 2> err && not_current err &&
	expect_grep "the output is not the image it recorded" err && cmp output.cpio output.good
'

# Before 6.13 a kernel stamps files a jiffy apart: the record waits for the
# output's tick to pass (on a kernel with fine-grained timestamps this holds
# anyway).
test_expect_success 'a same-size write over the output right after its build defeats it' '
	rm output.cpio && "$RDC" build src/output.yaml && flip_byte output.cpio 300 &&
	"$RDC" build -v src/output.yaml 2> err && not_current err && cmp output.cpio output.good
'

test_expect_success 'another -o or -z is not current from the record' '
	"$RDC" build -v src/options.yaml -o other.cpio 2> err && not_current err && has other.cpio /y &&
	"$RDC" build -v src/options.yaml -o options.cpio.zst -z zstd:3 2> err && not_current err &&
	"$RDC" build -v src/options.yaml -o options.cpio.zst -z zstd:3 2> err && current err &&
	"$RDC" build -v src/options.yaml -o options.cpio.zst -z zstd:19 2> err && not_current err &&
	has options.cpio.zst /y
'

test_expect_success 'a damaged record is never trusted: built again, then recorded again' '
	"$RDC" build -v src/damage.yaml 2> err && current err && rec=$(record_of damage) &&
	for off in 20 $(($(stat -c %s $rec) / 2)) $(($(stat -c %s $rec) - 3)); do
		cp $rec rec.keep && flip_byte $rec $off &&
		"$RDC" build -v src/damage.yaml 2> err &&
		not_current err && has damage.cpio /z &&
		"$RDC" build -v src/damage.yaml 2> err && current err || return 1
	done &&
	head -c 100 rec.keep > $rec && "$RDC" build -v src/damage.yaml 2> err && not_current err && expect_grep damaged err
'

test_expect_success 'a compressed image, its inputs noted beside its last segments: current, and an edit defeats it' '
	printf "z1\n" > src/z.txt &&
	printf "rdc: 1\nfiles: [{src: z.txt, dest: /z.txt}]\noutput: ../z.cpio.zst\n" > src/z.yaml && sleep 2.2 &&
	"$RDC" build -v src/z.yaml 2> err && "$RDC" build -v src/z.yaml 2> err && current err &&
	printf "z2, longer\n" > src/z.txt && "$RDC" build -v src/z.yaml 2> err && not_current err &&
	expect_grep "z.txt changed" err && [ "$(content z.cpio.zst /z.txt)" = "z2, longer" ]
'

test_expect_success 'an input edited less than 2 s before a build is not trusted until a build after that' '
	printf "racy\n" > src/a.txt && "$RDC" build -v src/racy.yaml 2> err && not_current err &&
	expect_grep "not trusted yet" err &&
	"$RDC" build -v src/racy.yaml 2> err && not_current err && expect_grep "too recently" err &&
	sleep 2.2 && "$RDC" build -v src/racy.yaml 2> err && not_current err &&
	"$RDC" build -v src/racy.yaml 2> err && current err && [ "$(content racy.cpio /a.txt)" = racy ]
'

test_done
