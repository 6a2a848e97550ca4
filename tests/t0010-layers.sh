#!/usr/bin/env bash
# The layer rule of docs/DESIGN.md ("Layout"): a file includes headers of
# its own layer or a lower one only,
#     lib <- cache <- plan <- manifest <- {resolve, init, emit, image} <- build <- run <- cli <- main
# so the tree shows the pipeline and no stage depends on a later one.
. "$(dirname "$0")/lib.sh"

# layer FILE-OR-HEADER: the rank of the folder it is in
layer() {
	case $1 in
	compiler/main.c) echo 8 ;;
	compiler/lib/* | lib/*) echo 0 ;;
	cache/*) echo 1 ;;
	compiler/plan/* | plan/*) echo 2 ;;
	compiler/manifest/* | manifest/*) echo 3 ;;
	compiler/resolve/* | resolve/* | compiler/init/* | init/* | compiler/emit/* | emit/* | compiler/image/* | image/*) echo 4 ;;
	compiler/build/* | build/*) echo 5 ;;
	compiler/run/* | run/*) echo 6 ;;
	compiler/cli/* | cli/*) echo 7 ;;
	*) echo "?" ;;
	esac
}

test_expect_success 'every file of rdc is in a folder of the rule, every include names one' '
	(cd "$ROOT" && ls compiler/*.c compiler/*/*.[ch] cache/*.[ch]) > files &&
	[ $(wc -l < files) -ge 20 ] &&
	while read -r f; do
		{ [ "$(layer "$f")" != "?" ] || { echo "$f is in no layer"; return 1; }; } &&
		sed -n "s/^#include \"\\(.*\\)\".*/\\1/p" "$ROOT/$f" > incs &&
		while read -r h; do
			[ "$(layer "$h")" != "?" ] || { echo "$f includes \"$h\", which is in no layer (include by folder)"; return 1; }
		done < incs || return 1
	done < files
'

test_expect_success 'no file includes a header of a later layer' '
	(cd "$ROOT" && grep -H "^#include \"" compiler/*.c compiler/*/*.[ch] cache/*.[ch]) |
		sed "s/:#include \"\\(.*\\)\".*/ \\1/" > edges &&
	[ $(wc -l < edges) -ge 50 ] &&
	while read -r f h; do
		[ "$(layer "$h")" -le "$(layer "$f")" ] || echo "$f includes $h" >> bad || return 1
	done < edges &&
	{ ! test -s bad || { echo "layer rule broken:"; cat bad; false; }; }
'

test_expect_success 'the check itself fails on an edge against the rule' '
	[ "$(layer manifest/manifest.h)" -lt "$(layer init/initgen.h)" ] &&
	[ "$(layer plan/plan.h)" -lt "$(layer manifest/manifest.h)" ] &&
	[ "$(layer compiler/lib/util.c)" -eq 0 ] && [ "$(layer compiler/main.c)" -eq 8 ]
'

test_done
