#!/usr/bin/env bash
# Missing firmware is reported once, not once per module: a whole-kernel
# image lacks hundreds of files.  -v lists every module's missing files.
. "$(dirname "$0")/lib.sh"

want() { modinfo -k "$KVER" -F firmware "$@" | wc -l; }

test_expect_success 'several modules missing firmware: one warning with the counts and the first names' '
	mkdir -p nofw &&
	printf "rdc: 1\nkernel: {version: $KVER, firmware: nofw}\nkmods: [e100, tg3, bnx2, r8169]\n" > m.yaml &&
	"$RDC" build m.yaml -o m.cpio 2> err &&
	[ "$(grep -c warning: err)" = 1 ] && [ "$(wc -l < err)" = 1 ] &&
	files=$(want e100 tg3 bnx2 r8169) &&
	expect_grep "warning: 4 modules want $files firmware files that are not under [^ ]*nofw: " err &&
	expect_grep "(-v lists them all)" err &&
	"$RDC" build m.yaml -o m.cpio 2> again && cmp err again
'

test_expect_success '-v lists every module and every missing file' '
	"$RDC" build -v m.yaml -o m.cpio 2> err &&
	[ "$(grep -c warning: err)" = 1 ] &&
	for m in e100 tg3 bnx2 r8169; do
		{ expect_grep "module .$m. wants firmware that is not under [^ ]*nofw: " err || exit 1; } &&
		for f in $(modinfo -k "$KVER" -F firmware $m); do
			grep "module .$m. wants" err | grep -qF "$f" || { echo "$m: $f not listed"; exit 1; }
		done
	done
'

test_expect_success 'one module missing firmware keeps its own warning, at its manifest line' '
	printf "rdc: 1\nkernel: {version: $KVER, firmware: nofw}\nkmods:\n  - e100\n" > one.yaml &&
	"$RDC" build one.yaml -o one.cpio 2> err &&
	expect_grep "one.yaml:4:5: warning: module .e100. wants firmware that is not under [^ ]*nofw: " err &&
	[ "$(grep -c warning: err)" = 1 ]
'

# Missing files are remembered by the nearest directory that exists (the
# closure's memo re-checks a few dozen directories, not thousands of paths):
# a file that appears there, or in a new subdirectory, must still be seen.
test_expect_success 'firmware that appears later is picked up (in its directory, or in a new one)' '
	rm -rf fw2 && mkdir -p fw2/e100 &&
	printf "rdc: 1\nkernel: {version: $KVER, firmware: fw2}\nkmods: [e100, tg3]\n" > late.yaml &&
	sleep 2.2 && "$RDC" build late.yaml -o late.cpio 2> err && "$RDC" build late.yaml -o late.cpio 2> err &&
	! cpio_tree late.cpio | grep -q d102e_ucode &&
	echo ucode > fw2/e100/d102e_ucode.bin && "$RDC" build late.yaml -o late.cpio 2> err &&
	cpio_tree late.cpio | grep -q "lib/firmware/e100/d102e_ucode.bin" &&
	tg3=$(modinfo -k "$KVER" -F firmware tg3 | head -1) && ! test -d "fw2/$(dirname "$tg3")" &&
	sleep 2.2 && "$RDC" build late.yaml -o late.cpio 2> err &&
	mkdir -p "fw2/$(dirname "$tg3")" && echo fw > "fw2/$tg3" && "$RDC" build late.yaml -o late.cpio 2> err &&
	cpio_tree late.cpio | grep -q "lib/firmware/$tg3"
'

test_done
