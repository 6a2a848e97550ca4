#!/usr/bin/env bash
# rdc cache gc beside running builds (issue 18): a build holds the cache
# (a shared lock on $RDC_CACHE_DIR/lock) from start to end, gc takes it
# exclusively, so gc never removes what a running build is about to read
# (it removed generated content and made 4 of 8 concurrent builds fail).
. "$(dirname "$0")/lib.sh"

head -c 30000000 /dev/urandom > big
printf 'rdc: 1\nfiles:\n  - {src: big, dest: /big}\n  - {dest: /etc/x, content: "generated\\n"}\n' > m.yaml

test_expect_success 'gc started while a build writes its image waits for it; the build succeeds' '
	"$RDC" build m.yaml -o warm.cpio && # every object in the cache already
	{ "$RDC" build m.yaml -o out.cpio.xz -z xz:9 --single-segment 2>build.err & pid=$!; } &&
	for i in $(seq 400); do compgen -G "out.cpio.xz.rdc-tmp.*" >/dev/null && break; sleep 0.05; done &&
	compgen -G "out.cpio.xz.rdc-tmp.*" >/dev/null &&
	"$RDC" cache gc >gc.out 2>gc.err && wait $pid &&
	expect_grep "waiting for the builds" gc.err &&
	xz -dc out.cpio.xz | cpio -i --to-stdout etc/x 2>/dev/null | grep -qx generated
'

test_expect_success 'a gc with no build running does not wait' '
	timeout 20 "$RDC" cache gc >gc2.out 2>gc2.err && ! grep -q waiting gc2.err
'

test_done
