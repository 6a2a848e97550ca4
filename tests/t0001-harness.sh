#!/usr/bin/env bash
# The harness itself: a failing line fails its test wherever it stands in
# the body, a broken && chain is reported before the body runs, and
# test_when_finished runs whether the test passed or not.
. "$(dirname "$0")/lib.sh"

# inner NAME 'script body': runs a test script on lib.sh, output in NAME.out
inner() {
	printf '. "%s/lib.sh"\n%s\ntest_done\n' "$TESTS_DIR" "$2" > "$1.sh" &&
	bash "$1.sh" > "$1.out" 2>&1
}

test_expect_success 'a failing command that is not the last line fails the test' '
	! inner mid "test_expect_success \"mid\" \"false; true\"" &&
	expect_grep "^not ok 1 - mid" mid.out
'

# (Called before an && a function runs without set -e, as bash wants: helper
# functions chain their commands with && like bodies do.)
test_expect_success 'a failing command inside a function the body ends with fails the test' '
	! inner fn "f() { false; true; }
test_expect_success \"fn\" \"true && f\"" &&
	expect_grep "^not ok 1 - fn" fn.out
'

test_expect_success 'a line without && is reported as a broken chain, and the body does not run' '
	! inner chain "test_expect_success \"chain\" \"
	true
	touch ran
\"" &&
	expect_grep "^not ok 1 - chain" chain.out &&
	expect_grep "line 2: no && after: true" chain.out && ! test -e ran
'

test_expect_success 'a loop body must say || return 1; with it a failing iteration fails the test' '
	! inner loop "test_expect_success \"loop\" \"
	for i in 1 2; do
		test \\\$i = 2
	done
\"" &&
	expect_grep "a loop body that fails must say || return 1" loop.out &&
	! inner loop2 "test_expect_success \"loop2\" \"
	for i in 1 2; do
		test \\\$i = 2 || return 1
	done
\"" &&
	expect_grep "^not ok 1 - loop2 (status 1)" loop2.out
'

test_expect_success 'a && before a line that ends in & is reported: it would background the chain' '
	! inner bg "test_expect_success \"bg\" \"
	true &&
	sleep 1 &
	wait
\"" &&
	expect_grep "in the background" bg.out
'

test_expect_success 'heredocs, quotes spanning lines, case and if are understood' '
	inner ok "test_expect_success \"constructs\" \"
	cat >f <<-EOT &&
	a line; with no chain
	another
	EOT
	x=\\\$(echo one
		echo two) &&
	case \\\$x in
	one*) echo y ;;
	*) false ;;
	esac &&
	if test -s f; then
		echo yes
	else
		false
	fi &&
	test \\\"\\\$x\\\" = \\\"one
two\\\"
\"" &&
	expect_grep "^ok 1 - constructs" ok.out
'

test_expect_success 'test_when_finished runs after a failure too, and a failing cleanup fails the test' '
	! inner fin "test_expect_success \"fin\" \"test_when_finished \\\"echo cleaned > $PWD/cleaned\\\" && false\"
test_expect_success \"fin2\" \"test_when_finished false && true\"" &&
	expect_grep "cleaned" cleaned &&
	expect_grep "^not ok 2 - fin2" fin.out && expect_grep "the cleanup failed" fin.out
'

test_expect_success 'test_expect_success where its status is tested is refused (set -e would be dead)' '
	! inner cond "test_expect_success \"cond\" \"true\" || true" &&
	expect_grep "where its status is tested" cond.out
'

test_done
