#!/usr/bin/env bash
# The Makefile's link line: `make check SANITIZE=1` (or =thread) must link the sanitizers
# it compiled with, and every rdc must carry a GNU build-id (the build
# record and the image key tell rdc builds apart by it), whatever LDFLAGS
# the caller gives.  make -n only prints the commands (run outside the
# make check that runs this test: its SANITIZE must not leak in).
. "$(dirname "$0")/lib.sh"

link_line() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u SANITIZE make -s -n -B -C "$ROOT" "$@" | grep -e ' -o build[^ ]*/rdc '; }

test_expect_success 'SANITIZE=1 links with -fsanitize and --build-id' '
	link_line SANITIZE=1 build-san/rdc > line &&
	grep -q -e "-fsanitize=address,undefined" line && grep -q -e "--build-id" line
'

test_expect_success 'SANITIZE=thread links ThreadSanitizer into its own build directory' '
	link_line SANITIZE=thread build-tsan/rdc > line &&
	grep -q -e "-o build-tsan/rdc" line && grep -q -e "-fsanitize=thread" line && grep -q -e "--build-id" line
'

test_expect_success 'LDFLAGS on the command line keep --build-id' '
	link_line LDFLAGS=-s build/rdc > line &&
	grep -q -e " -s " line && grep -q -e "--build-id" line
'

test_done
