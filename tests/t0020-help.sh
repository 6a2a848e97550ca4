#!/usr/bin/env bash
# Every command's usage is written once, at the top of its file in cli/:
# `rdc CMD --help` and `rdc help CMD` print it on stdout and exit 0, a
# usage error prints the same text on stderr and exits 2, and `rdc --help`
# lists every command with a one-line summary.
. "$(dirname "$0")/lib.sh"

test_expect_success 'rdc --help lists the commands, one line each, and exits 0' '
	"$RDC" --help >help 2>err && ! test -s err &&
	awk "/^  [a-z]/ { print \$1 }" help > commands &&
	[ $(wc -l < commands) -ge 13 ] &&
	for c in build list check explain run test deps kmods ls extract diff import cache; do
		grep -qx "$c" commands || { echo "$c is not listed"; return 1; }
	done &&
	! grep -qx schema commands
'

test_expect_success 'rdc CMD --help and rdc help CMD: the usage of CMD on stdout, exit 0' '
	for c in $(cat commands) schema; do
		"$RDC" $c --help >h.$c 2>err && ! test -s err &&
		head -1 h.$c | grep -q "^usage: rdc $c" &&
		"$RDC" help $c >h2.$c && cmp h.$c h2.$c &&
		"$RDC" $c -h >h3.$c && cmp h.$c h3.$c || { echo "rdc $c --help:"; cat h.$c err; return 1; }
	done
'

test_expect_success 'a usage error prints the same usage on stderr and exits 2' '
	for c in $(cat commands); do
		expect_fail 2 "$RDC" $c --no-such-option &&
		grep -qF "$(head -1 h.$c)" err || { echo "rdc $c --no-such-option:"; cat err; return 1; }
	done
'

test_expect_success '--help after other arguments is still help; after -- it is for QEMU' '
	"$RDC" build nothing.yaml --help >h && cmp h h.build &&
	expect_fail 1 "$RDC" run nothing.yaml -- -h && expect_grep "nothing.yaml" err
'

test_expect_success 'help is -h or --help as a word of its own, answered in one place: in a cluster h is no option' '
	printf "rdc: 1\ndirs: [/proc]\n" > m.yaml && "$RDC" build m.yaml -o m.cpio &&
	for c in "ls -lh m.cpio" "build m.yaml -vh" "deps -wh /bin/true" "test -vh m.yaml" "run m.yaml -vh"; do
		expect_fail 2 "$RDC" $c && grep -q "invalid option -- .h." err && ! test -s out ||
			{ echo "rdc $c:"; cat out err; return 1; }
	done &&
	"$RDC" cache stats --help > h && cmp h h.cache && "$RDC" schema --markdown -h > h && cmp h h.schema
'

test_done
