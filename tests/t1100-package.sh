#!/usr/bin/env bash
# Shipped like a Debian tool: bash completion, man pages, the .deb.
. "$(dirname "$0")/lib.sh"

# complete WORDS...: what bash completion offers for the last word.
complete_words() {
	bash -c '. /usr/share/bash-completion/bash_completion
		. "$1"; shift
		PATH="$(dirname "$RDC"):$PATH"
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_rdc; printf "%s\n" "${COMPREPLY[@]}"' _ "$ROOT/tools/completion/rdc" "$@"
}

if test_have dpkg-buildpackage && [ -r /usr/share/bash-completion/bash_completion ]; then
test_expect_success 'bash completes the commands rdc --help lists' '
	ln -s "$RDC" rdc &&
	complete_words ./rdc "" >got &&
	"$RDC" --help | awk "/^  [a-z]/ { print \$1 }" | sort >want &&
	sort got >got.sorted &&
	diff -u want got.sorted &&
	complete_words ./rdc bu >got &&
	echo build >want && diff -u want got
'

test_expect_success 'bash completes each command'"'"'s options and --format values' '
	ln -sf "$RDC" rdc &&
	complete_words ./rdc build --sing >got &&
	echo --single-segment >want && diff -u want got &&
	complete_words ./rdc build --format "" >got &&
	grep -qx dir got && grep -qx cpio got &&
	complete_words ./rdc cache v >got &&
	echo verify >want && diff -u want got
'

test_expect_success 'bash completes manifests for build' '
	ln -sf "$RDC" rdc &&
	mkdir sub && : >sub/a.yaml && : >sub/b.txt &&
	complete_words ./rdc build sub/ >got &&
	echo sub/a.yaml >want && diff -u want got
'

test_expect_success 'rdc(1) renders without groff warnings' '
	groff -man -ww -z "$ROOT/docs/man/rdc.1" 2>warnings &&
	[ ! -s warnings ]
'

test_expect_success 'rdc(1) documents every command and every long option rdc has' '
	sed "s/\\\\-/-/g" "$ROOT/docs/man/rdc.1" >man.txt &&
	for cmd in $("$RDC" --help | awk "/^  [a-z]/ { print \$1 }"); do
		{ grep -q "^\.B $cmd\b" man.txt || grep -q "^\.B $cmd \\\\f" man.txt ||
			{ echo "rdc(1) lacks the command $cmd"; exit 1; }; } &&
		for opt in $("$RDC" $cmd --help 2>&1 | grep -o -- "--[a-z][a-z-]*" | sort -u); do
			{ [ "$opt" != --help ] || continue; } &&
			# a word of the help text, not an option of this command
			{ ! "$RDC" $cmd $opt </dev/null 2>&1 | grep -q "unrecognized option" || continue; } &&
			grep -q -- "$opt" man.txt || { echo "rdc(1) lacks $cmd $opt"; exit 1; }
		done
	done
'

test_expect_success 'rdc-manifest(5) is current, renders without warnings and names every key of the schema' '
	"$RDC" schema --man >man5 &&
	diff -u "$ROOT/docs/man/rdc-manifest.5" man5 &&
	groff -man -ww -z man5 2>warnings && [ ! -s warnings ] &&
	"$RDC" schema >schema.json &&
	/usr/bin/python3 - schema.json man5 <<-PY
	import json, sys
	keys = set()
	def walk(node):
	    if isinstance(node, dict):
	        keys.update(node.get("properties", {}))
	        for v in node.values():
	            walk(v)
	    elif isinstance(node, list):
	        for v in node:
	            walk(v)
	walk(json.load(open(sys.argv[1])))
	named = {l[3:].strip().replace("\\\\-", "-") for l in open(sys.argv[2]) if l.startswith(".B ")}
	missing = sorted(keys - named)
	assert len(keys) > 40 and not missing, missing
	PY
'

# The package is built from the committed tree, as CI's clean clone has it.
test_expect_success 'dpkg-buildpackage builds rdc_VERSION_ARCH.deb from a clean checkout' '
	mkdir src &&
	git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 cp --parents -t "$TRASH/src") &&
	(cd src && dpkg-buildpackage -b -us -uc >../dpkg.log 2>&1) &&
	ls rdc_*_"$(dpkg --print-architecture)".deb >debs &&
	[ "$(wc -l <debs)" -eq 1 ]
'

test_expect_success 'the .deb holds rdc, the completion and the schema; Depends names libkmod' '
	deb=$(cat debs) &&
	dpkg-deb -c "$deb" >contents &&
	expect_grep "./usr/bin/rdc$" contents &&
	expect_grep "./usr/share/bash-completion/completions/rdc$" contents &&
	expect_grep "./usr/share/rdc/manifest.schema.json$" contents &&
	expect_grep "./usr/share/man/man1/rdc.1.gz$" contents &&
	expect_grep "./usr/share/man/man5/rdc-manifest.5.gz$" contents &&
	dpkg-deb -f "$deb" Depends >depends &&
	expect_grep libkmod2 depends && expect_grep libyaml depends
'

test_expect_success 'unpacked, the packaged rdc builds manifests/hello.yaml' '
	dpkg-deb -x "$(cat debs)" root &&
	root/usr/bin/rdc build "$ROOT/manifests/hello.yaml" -o hello.cpio &&
	cpio_tree hello.cpio >tree &&
	expect_grep " init$" tree
'

test_expect_success 'lintian finds no errors in the package' '
	if ! test_have lintian; then echo "lintian not installed"; false; fi &&
	changes=$(ls rdc_*.changes) &&
	{ lintian "$changes" >lintian.out 2>&1 || true; } &&
	cat lintian.out &&
	! grep "^E:" lintian.out
'
else
	test_skip 'packaging' 'dpkg-buildpackage or bash-completion not installed'
fi

test_done
