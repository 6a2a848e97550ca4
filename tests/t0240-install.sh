#!/usr/bin/env bash
# make install PREFIX=... DESTDIR=... puts rdc and its schema in place.
. "$(dirname "$0")/lib.sh"

test_expect_success 'make install installs a working rdc and the schema' '
	make -s -C "$ROOT" install PREFIX=/opt/rdc DESTDIR="$PWD/stage" >/dev/null &&
	[ -x stage/opt/rdc/bin/rdc ] && stage/opt/rdc/bin/rdc --version | grep -q "^rdc " &&
	[ -f stage/opt/rdc/share/rdc/manifest.schema.json ]
'
test_done
