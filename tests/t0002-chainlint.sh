#!/usr/bin/env bash
# Every test body of every script has an unbroken && chain, checked without
# running it: lib.sh checks a body only when it runs, and some run only on
# machines that have QEMU, KVM, an arm64 kernel ...
. "$(dirname "$0")/lib.sh"

test_expect_success 'every test_expect_success body of tests/t*.sh passes the chain check' '
	/usr/bin/python3 "$TESTS_DIR/tools/chainlint-files.py" "$TESTS_DIR/chainlint.awk" "$TESTS_DIR"/t[0-9]*.sh
'

test_expect_success 'the check finds a broken chain in a script' '
	printf "%s\n" ". lib.sh" "test_expect_success \"x\" \"" "	true" "	false" "\"" > t9999-broken.sh &&
	! /usr/bin/python3 "$TESTS_DIR/tools/chainlint-files.py" "$TESTS_DIR/chainlint.awk" t9999-broken.sh > out &&
	expect_grep "no && after: true" out
'

test_done
