#!/usr/bin/env bash
# What a build says: one summary line on a terminal, nothing otherwise,
# a JSON object with --json.
. "$(dirname "$0")/lib.sh"

cat >m.yaml <<'YAML'
rdc: 1
files:
  - {dest: /a, content: "aaaa\n"}
  - {dest: /b, content: "bbbb\n"}
YAML

# on_tty CMD...: runs CMD with a terminal as stdin/stdout/stderr (script(1)),
# its output in ./tty.out
on_tty() { script -qec "$*" tty.out >/dev/null; }

test_expect_success '--json prints one object with the documented fields' '
	"$RDC" build m.yaml --json >out.json 2>err &&
	[ ! -s err ] &&
	/usr/bin/python3 - out.json <<-PY
	import json, sys
	d = json.load(open(sys.argv[1]))
	want = {"output", "format", "compression", "entries", "bytes", "segments_reused", "segments_built", "ms",
	        "plan_ms", "write_ms", "content_bytes", "unchanged", "arch", "kernel"}
	assert want <= set(d), set(d) ^ want
	assert d["output"] == "m.cpio.zst" and d["format"] == "cpio" and d["compression"] == "zstd", d
	assert d["entries"] == 2 and d["content_bytes"] == 10, d
	import os
	assert d["bytes"] == os.path.getsize("m.cpio.zst"), d
	assert d["segments_built"] >= 1 and d["segments_reused"] == 0 and not d["unchanged"], d
	assert 0 < d["plan_ms"] and 0 < d["write_ms"] and d["plan_ms"] + d["write_ms"] <= d["ms"], d
	PY
'

test_expect_success '--json of a rebuild says unchanged; of an edit, what was reused' '
	"$RDC" build m.yaml --json >again.json &&
	/usr/bin/python3 -c "import json; d = json.load(open(\"again.json\")); assert d[\"unchanged\"], d" &&
	sed -i "s/bbbb/cccc/" m.yaml &&
	"$RDC" build m.yaml -z xz --json >xz.json &&
	/usr/bin/python3 -c "import json; d = json.load(open(\"xz.json\")); assert d[\"compression\"] == \"xz\" and d[\"output\"] == \"m.cpio.xz\", d"
'

test_expect_success 'rdc explain --json: one object per path, with its manifest line' '
	"$RDC" explain --json m.yaml /a /b >ex.json &&
	/usr/bin/python3 - ex.json <<-PY
	import json, sys
	d = json.load(open(sys.argv[1]))
	assert [e["path"] for e in d] == ["/a", "/b"], d
	assert all(e["type"] == "file" and e["file"] == "m.yaml" and e["line"] in (3, 4) for e in d), d
	PY
'

test_expect_success 'rdc deps --json equals rdc deps, entry for entry' '
	"$RDC" deps --json /usr/bin/ls >deps.json &&
	"$RDC" deps /usr/bin/ls >deps.txt &&
	/usr/bin/python3 - deps.json deps.txt <<-PY
	import json, sys
	d = json.load(open(sys.argv[1]))
	lines = open(sys.argv[2]).read().split("\n")[:-1]
	assert [e["path"] + (" -> " + e["target"] if e["target"] else "") for e in d] == lines, (d, lines)
	assert any(e["path"].endswith("/libc.so.6") for e in d)
	PY
'

if [ -n "$KVER" ]; then
test_expect_success 'rdc kmods --json equals rdc kmods, module for module' '
	"$RDC" kmods --kver "$KVER" --json btrfs >k.json &&
	"$RDC" kmods --kver "$KVER" btrfs >k.txt &&
	/usr/bin/python3 - k.json k.txt <<-PY
	import json, sys
	d = json.load(open(sys.argv[1]))
	lines = open(sys.argv[2]).read().split("\n")[:-1]
	assert [m["src"] for m in d["modules"]] == lines, (d, lines)
	assert d["modules"][-1]["name"] == "btrfs" and d["firmware"] == []
	assert any(m["soft"] for m in d["modules"])
	PY
'
fi

test_expect_success 'rdc cache stats --json: the same counts as rdc cache stats' '
	"$RDC" cache stats --json >cs.json &&
	"$RDC" cache stats >cs.txt &&
	/usr/bin/python3 - cs.json cs.txt <<-PY
	import json, sys
	d = json.load(open(sys.argv[1]))
	text = {l.split()[0]: l.split() for l in open(sys.argv[2])}
	for kind, v in d["kinds"].items():
	    assert int(text[kind][1]) == v["files"] and int(text[kind][3]) == v["bytes"], (kind, v, text[kind])
	assert d["kinds"]["segments"]["files"] > 0 and d["total_bytes"] == int(text["total"][1]), d
	PY
'

test_expect_success 'rdc cache stats writes sizes as the build summary does (kB, MB ... beside the bytes)' '
	"$RDC" cache stats >cs.txt &&
	/usr/bin/python3 - cs.txt <<-PY
	import re, sys
	n = 0
	for l in open(sys.argv[1]):
	    m = re.search(r" ([0-9]+) bytes  \\(([0-9]+\\.[0-9]) (kB|MB|GB)\\)$", l)
	    if not m:
	        continue
	    b, v, u = int(m.group(1)), float(m.group(2)), m.group(3)
	    want = b / {"kB": 1e3, "MB": 1e6, "GB": 1e9}[u]
	    assert abs(v - want) <= 0.05 + 1e-9 and (u == "kB" or want >= 1), l
	    n += 1
	assert n >= 2, open(sys.argv[1]).read()
	PY
'

if test_have script; then
test_expect_success 'on a terminal a build ends with one summary line' '
	on_tty "$RDC" build m.yaml -o t.cpio.gz &&
	grep -a "t.cpio.gz: 2 entries, 0.0 kB -> .* gzip, .* ms" tty.out
'

test_expect_success 'not on a terminal, or with -q, a build says nothing' '
	"$RDC" build m.yaml -o u.cpio.gz >out 2>err &&
	[ ! -s out ] && [ ! -s err ] &&
	on_tty "$RDC" build m.yaml -o v.cpio.gz -q &&
	! grep -a "entries" tty.out
'
fi

test_done
