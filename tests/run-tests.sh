#!/usr/bin/env bash
# Runs every tests/tNNNN-*.sh (or those named) and prints one closing line:
# "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")"
export RDC="${RDC:-$(cd .. && pwd)/build/rdc}"
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(t[0-9][0-9][0-9][0-9]-*.sh)
pass=0 fail=0 skip=0 failed=()
for t in "${tests[@]}"; do
	t=${t#tests/}
	out=$(bash "$t" 2>&1); rc=$?
	echo "$out" | grep -E '^(ok|not ok|skip|#)' | sed "s|^|$t: |"
	p=$(echo "$out" | grep -c '^ok ' || true)
	f=$(echo "$out" | grep -c '^not ok ' || true)
	s=$(echo "$out" | grep -c '^skip ' || true)
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1; echo "$t: not ok - script exited $rc"; echo "$out" | tail -20
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	[ "$f" -gt 0 ] && failed+=("$t")
done
[ ${#failed[@]} -gt 0 ] && echo "failed scripts: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
