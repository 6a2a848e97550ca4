#!/usr/bin/env bash
# A first user's look at the command line: what `rdc --help` promises.
. "$(dirname "$0")/lib.sh"

test_expect_success 'rdc CMD --help of every command rdc --help lists: its usage on stdout, exit 0' '
	"$RDC" --help > help &&
	cmds=$(awk "/^  [a-z]/ { print \$1 }" help) &&
	[ "$(echo $cmds | wc -w)" -ge 13 ] &&
	for c in $cmds; do
		{ "$RDC" $c --help > out 2> err || { echo "rdc $c --help: status $?"; cat err; return 1; }; } &&
		grep -q "^usage: rdc $c" out || { echo "rdc $c --help printed:"; cat out err; return 1; }
	done
'

test_expect_success 'a wrong option is still a usage error (2), its usage on stderr' '
	for c in build list check cache; do
		expect_fail 2 "$RDC" $c --no-such-option &&
		grep -q "usage: rdc $c" err || { cat err; return 1; }
	done
'

# help_lacks README HELP: each option of a `rdc CMD ...` line of the
# README's Commands section that HELP (lines "  CMD ...") does not name for CMD
help_lacks() {
	python3 - "$1" "$2" <<'PY'
import re, sys
readme, helptext = open(sys.argv[1]).read(), open(sys.argv[2]).read()
block = readme.split("## Commands", 1)[1].split("\n\n", 2)[1]
cmds, cur = {}, None   # rdc --help: each command's lines, up to the next command
for line in helptext.splitlines():
    m = re.match(r"  ([a-z]+) ", line)
    if m:
        cur = m.group(1)
    if cur:
        cmds[cur] = cmds.get(cur, "") + line
for line in block.splitlines():
    m = re.match(r"\s+rdc ([a-z]+) (.*)", line)
    if not m:
        continue
    for opt in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", m.group(2).split("#")[0]):
        if not re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", cmds.get(m.group(1), "")):
            print("rdc %s %s" % (m.group(1), opt))
PY
}

# rdc --help lists the commands; each one's options are in its own --help
test_expect_success 'rdc CMD --help names every option the README'"'"'s Commands section gives CMD' '
	for c in $(awk "/^  [a-z]/ { print \$1 }" help); do
		"$RDC" $c --help | sed "s/^/  $c /" || return 1
	done > helps &&
	help_lacks "$ROOT/README.md" helps > lacks &&
	{ [ ! -s lacks ] || { echo "rdc --help lacks:"; cat lacks; return 1; }; }
'

test_expect_success 'rdc(1) shows no troff request as text (a synopsis line ran into .br)' '
	groff -man -Tutf8 -P-cbou "$ROOT/docs/man/rdc.1" 2>/dev/null > man.txt &&
	expect_grep "rdc test \[options\] MANIFEST" man.txt &&
	! grep -n "\.br\|^\.[A-Z][A-Z]* " man.txt
'

test_expect_success 'every rdc page rdc(1) refers to is one the tree ships' '
	sed -n "s/^\.BR* rdc\\\\-\([a-z-]*\) (\([0-9]\)).*/rdc-\1.\2/p" "$ROOT/docs/man/rdc.1" > refs &&
	while read -r page; do
		[ -f "$ROOT/docs/man/$page" ] || { echo "rdc(1) refers to $page, which is not shipped"; return 1; }
	done < refs
'

test_expect_success '"-o -" is stdout for a list only: an image is never written to a file named -' '
	printf "rdc: 1\nfiles: [{dest: /a, content: x}]\n" > m.yaml &&
	"$RDC" build m.yaml --format list -o - > list &&
	expect_grep "^file /a " list &&
	expect_fail 2 "$RDC" build m.yaml -o - &&
	expect_grep "takes only --format list" err &&
	expect_fail 2 "$RDC" build m.yaml --format cpio -o - &&
	expect_fail 2 "$RDC" run --dry-run m.yaml -o - &&
	[ ! -e ./- ]
'

test_expect_success '--json is one object on stdout, or a usage error where stdout is a list or no image is written' '
	printf "rdc: 1\nfiles: [{dest: /a, content: x}]\n" > m.yaml &&
	"$RDC" build m.yaml -o m.cpio --json > j &&
	"$RDC" build m.yaml --json > j2 &&
	expect_grep "\"output\":\"m.cpio.zst\"" j2 &&
	python3 -c "import json, sys; d = json.load(open(\"j\")); assert d[\"entries\"] == 1 and d[\"output\"] == \"m.cpio\", d" &&
	expect_fail 2 "$RDC" list m.yaml --json &&
	[ ! -s out ] &&
	expect_fail 2 "$RDC" build m.yaml --format list --json &&
	expect_fail 2 "$RDC" check m.yaml --json &&
	expect_grep "rdc check writes none" err
'

test_expect_success 'rdc test: a --junit or --logs that cannot be written is a usage error before any build' '
	printf "rdc: 1\ninit: {steps: [true]}\n" > s.yaml &&
	mkdir -p adir &&
	: > afile &&
	expect_fail 2 "$RDC" test --junit adir s.yaml &&
	expect_grep "junit adir: is a directory" err &&
	expect_fail 2 "$RDC" test --junit nodir/r.xml s.yaml &&
	expect_grep "its directory does not exist" err &&
	expect_fail 2 "$RDC" test --logs afile s.yaml &&
	expect_grep "logs afile: exists and is not a directory" err &&
	[ ! -e s.cpio.zst ]
'

test_expect_success 'RDC_REMOTE_STORAGE with no host (http://, https:///) is a warning, and the build succeeds locally' '
	printf "rdc: 1\nfiles: [{dest: /a, content: x}]\n" > r.yaml &&
	for url in "http://" "https:///" "http:////x"; do
		rm -rf "$RDC_CACHE_DIR" r.cpio.zst &&
		RDC_REMOTE_STORAGE="$url" "$RDC" build r.yaml -o r.cpio.zst 2> err &&
		expect_grep "is not a URL rdc can use; ignoring it" err || return 1
	done
'

test_expect_success 'rdc explain takes --json after the manifest too, as every command takes its options' '
	printf "rdc: 1\nfiles: [{dest: /a, content: x}]\n" > x.yaml &&
	"$RDC" explain x.yaml --json /a > j &&
	python3 -c "import json; d = json.load(open(\"j\")); assert d[0][\"path\"] == \"/a\", d" &&
	"$RDC" explain x.yaml /a --json > j &&
	python3 -c "import json; json.load(open(\"j\"))" &&
	expect_fail 2 "$RDC" explain x.yaml &&
	expect_fail 2 "$RDC" explain --bogus x.yaml /a
'

test_expect_success '-z with a level out of range is a usage error (2), as an unknown algorithm is' '
	printf "rdc: 1\nfiles: [{dest: /a, content: x}]\n" > z.yaml &&
	expect_fail 2 "$RDC" build z.yaml -z zstd:99 &&
	expect_grep "zstd takes levels 1-22" err &&
	expect_fail 2 "$RDC" build z.yaml -z gzip:0 &&
	expect_fail 2 "$RDC" run --dry-run z.yaml -z xz:10 &&
	expect_fail 2 "$RDC" build z.yaml -z bz2 &&
	"$RDC" build z.yaml -z zstd:19 -o z.cpio.zst &&
	[ ! -e z.cpio.gz ]
'

test_done
