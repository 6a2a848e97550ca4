#!/usr/bin/env bash
# rdc test: many scenario manifests booted in parallel, each judged by its
# expect:, a summary table or TAP, one log per console, JUnit XML that a real
# parser (python3's xml.etree) reads; ^C stops every guest it started.
# Boots: five scenarios at -j 2 (pass, fail, panic, watchdog, timeout), two
# at -j 1 and at -j 2 (the wall times are printed, not asserted), two
# stopped by SIGINT.
. "$(dirname "$0")/lib.sh"

test_expect_success 'usage: no manifest, a bad -j, an unknown option exit 2' '
	expect_fail 2 "$RDC" test && expect_grep "which manifests" err &&
	expect_fail 2 "$RDC" test -j 0 x.yaml && expect_grep "\-j takes a number" err &&
	expect_fail 2 "$RDC" test --frob x.yaml
'

test_expect_success 'a manifest with errors is trouble (2), reported in the JUnit file as an error' '
	printf "rdc: 1\ninit: {steps: [true]}\nexpect: {outcome: boom}\n" > broken.yaml &&
	expect_fail 2 "$RDC" test --junit broken.xml broken.yaml &&
	expect_grep "broken.yaml:3:.*unknown outcome" err &&
	expect_grep "^broken  *ERROR" out &&
	python3 -c "
import xml.etree.ElementTree as ET
r = ET.parse(\"broken.xml\").getroot()
tc = r.findall(\".//testcase\")
assert [t.get(\"name\") for t in tc] == [\"broken\"], tc
e = tc[0].find(\"error\")
assert e is not None and \"errors\" in e.get(\"message\"), e
"
'

test_expect_success 'no more guests at once than MemAvailable holds by qemu.memory, and it says so' '
	avail=$(awk "/^MemAvailable:/ { print int(\$2 / 1024) }" /proc/meminfo) &&
	for i in 1 2; do
		printf "rdc: 1\ninit: {steps: [true]}\nqemu: {memory: %dM}\n" $((avail * 2)) > big$i.yaml || return 1
	done &&
	expect_fail 2 "$RDC" test -j 2 --kernel /nonexistent big1.yaml big2.yaml &&
	expect_grep "one guest at a time, not 2: .* MiB of memory available does not hold even one of $((avail * 2)) MiB" err &&
	expect_grep "^big1  *ERROR  *error  *-  .*no kernel image /nonexistent" out &&
	half=$((avail * 7 / 20)) &&
	for i in 1 2 3; do
		printf "rdc: 1\ninit: {steps: [true]}\nqemu: {memory: %dM}\n" $half > mid$i.yaml || return 1
	done &&
	expect_fail 2 "$RDC" test -j 3 --kernel /nonexistent mid1.yaml mid2.yaml mid3.yaml &&
	expect_grep "2 guests at a time, not 3: .* holds 2 of $half MiB" err
'

if ! test_have qemu-system-x86_64 || [ ! -r "/boot/vmlinuz-$KVER" ]; then
	test_skip 'booting under QEMU' 'needs qemu-system-x86_64 and a readable /boot/vmlinuz-$KVER'
	test_done
	exit
fi

mkdir -p s
cat > s/pass.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
init: {steps: ["echo all good"]}
expect: {console: ["^all good\$"]}
YAML
# expect: without a status means 0; two differences, two reasons; the
# console has XML's specials and an ANSI escape
cat > s/fail.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
init: {steps: ["echo 'bad <thing> & \"q\"'; printf '\\\\033[31mred\\\\033[0m\\\\n'; exit 4"]}
expect: {console: ["^never printed\$"]}
YAML
cat > s/panic.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
init: {mounts: [proc], steps: ["echo c > /proc/sysrq-trigger"]}
expect: {outcome: panic}
YAML
cat > s/hang.yaml <<YAML
rdc: 1
kernel: {version: ${KVER}}
init: {steps: ["echo serving; sleep 600"]}
expect: {outcome: timeout, console: ["^serving\$"]}
qemu: {timeout: 60}
YAML
cp "$ROOT/manifests/qemu-watchdog.yaml" s/watchdog.yaml

test_expect_success 'five scenarios at -j 2: each reported as it ended, the table, the logs, exit 1' '
	start=$(date +%s) &&
	expect_fail 1 "$RDC" test -j 2 --junit junit.xml --logs logs \
		s/pass.yaml s/fail.yaml s/panic.yaml s/hang.yaml s/watchdog.yaml </dev/null &&
	echo "five scenarios at -j 2: $(( $(date +%s) - start )) s" >&2 &&
	expect_grep "^pass  *ok  *status  *0 " out &&
	expect_grep "^fail  *FAIL  *status  *4 .*expected status 0, but the guest reported status 4 after [0-9.]* s; no console line matched expect.console" out &&
	expect_grep "^panic  *ok  *panic " out &&
	expect_grep "^hang  *ok  *timeout " out &&
	expect_grep "^watchdog  *ok  *watchdog " out &&
	expect_grep "^4 passed, 1 failed" out &&
	expect_grep "^all good" logs/pass.log &&
	expect_grep "Kernel panic - not syncing: sysrq triggered crash" logs/panic.log &&
	expect_grep "rdc: as expected: the guest.s watchdog fired" logs/watchdog.log &&
	expect_grep "^serving" logs/hang.log
'

test_expect_success 'the JUnit file: one testcase per manifest, the failure with its reason and console, escaped' '
	python3 -c "
import xml.etree.ElementTree as ET
r = ET.parse(\"junit.xml\").getroot()
tc = {t.get(\"name\"): t for t in r.iter(\"testcase\")}
assert sorted(tc) == [\"fail\", \"hang\", \"panic\", \"pass\", \"watchdog\"], sorted(tc)
assert r.find(\"testsuite\").get(\"tests\") == \"5\" and r.find(\"testsuite\").get(\"failures\") == \"1\"
for n in (\"pass\", \"hang\", \"panic\", \"watchdog\"):
    assert len(tc[n]) == 0, (n, list(tc[n]))
f = tc[\"fail\"].find(\"failure\")
assert \"expected status 0, but the guest reported status 4\" in f.get(\"message\"), f.get(\"message\")
assert \"bad <thing> & \\\"q\\\"\" in f.text, f.text
assert \"red\" in f.text and \"\\x1b\" not in f.text
assert tc[\"fail\"].get(\"file\") == \"s/fail.yaml\"
"
'

# the same name in two directories: two logs, two images, two testcases
mkdir -p other && cp s/fail.yaml other/pass.yaml

test_expect_success 'two boots at -j 1 and at -j 2 (TAP), figures on stderr; pass.yaml twice' '
	t1=$(date +%s%N) &&
	expect_fail 1 "$RDC" test -j 1 --tap --logs logs2 s/pass.yaml other/pass.yaml </dev/null &&
	t2=$(date +%s%N) &&
	expect_grep "^1\.\.2$" out &&
	expect_grep "^ok 1 - pass (status" out &&
	expect_grep "^not ok 2 - pass-2 (status" out &&
	expect_grep "^# expected status 0, but the guest reported status 4" out &&
	expect_grep "^all good" logs2/pass.log &&
	expect_grep "^bad <thing>" logs2/pass-2.log &&
	[ -s pass.cpio.zst ] && [ -s pass-2.cpio.zst ] &&
	expect_fail 1 "$RDC" test -j 2 --tap s/pass.yaml other/pass.yaml </dev/null &&
	t3=$(date +%s%N) &&
	expect_grep "^ok 1 - pass (status" out &&
	expect_grep "^not ok 2 - pass-2 (status" out &&
	echo "two boots: -j 1 $(( (t2 - t1) / 1000000 )) ms, -j 2 $(( (t3 - t2) / 1000000 )) ms" >&2
'

test_expect_success 'SIGINT stops rdc test and every QEMU it started' '
	cp s/hang.yaml s/hang2.yaml &&
	{ "$RDC" test -j 2 s/hang.yaml s/hang2.yaml </dev/null >out 2>err & } &&
	pid=$! &&
	for i in $(seq 600); do [ "$(pgrep -fc "qemu-system.*$PWD/hang")" -ge 2 ] && break; sleep 0.2; done &&
	[ "$(pgrep -fc "qemu-system.*$PWD/hang")" -ge 2 ] &&
	kill -INT $pid &&
	{ wait $pid; rc=$?; } &&
	[ "$rc" -eq 130 ] &&
	! pgrep -fa "qemu-system.*$PWD/" &&
	expect_grep "interrupted" err &&
	expect_grep "^hang  *ERROR  *interrupted" out
'

test_done
