#!/usr/bin/env bash
# SIGKILL at any moment of a build: the output path holds either the previous
# image or the complete new one, the cache verifies clean (temporary files are
# not damage), and a follow-up build gives the new image's exact bytes.
. "$(dirname "$0")/lib.sh"

# 56 MiB: incompressible noise (compressed, found not to shrink, stored
# plain) and compressible binaries, in files of 2-4 MiB over several segments.
mkdir -p src
for i in 1 2; do head -c 4194304 /dev/urandom > src/noise$i; done
libs=$(ls -S /usr/lib/x86_64-linux-gnu/*.so* /usr/bin/* 2>/dev/null | head -200)
cat $libs 2>/dev/null | head -c 50331648 | split -b 3145728 -d - src/lib
printf 'version 1\n' > src/conf
{
	echo "rdc: 1"
	echo "dirs: [/proc, /sys]"
	echo "files:"
	echo "  - {src: conf, dest: /etc/conf}"
	for f in src/noise* src/lib*; do echo "  - {src: ${f#src/}, dest: /data/${f#src/}}"; done
	echo "output: {path: out.cpio.xz, compression: {algo: xz, level: 1}}"
} > src/m.yaml

test_expect_success 'the old and the new reference images' '
	[ $(du -sm src | cut -f1) -ge 50 ] &&
	RDC_CACHE_DIR=$PWD/ref-old "$RDC" build src/m.yaml -o old.cpio.xz &&
	printf "version 2\n" > src/conf && head -c 1000 /dev/urandom >> src/lib05 &&
	start=$(date +%s%N) &&
	RDC_CACHE_DIR=$PWD/ref-new "$RDC" build src/m.yaml -o new.cpio.xz &&
	echo $(( ($(date +%s%N) - start) / 1000000 )) > cold-ms &&
	! cmp -s old.cpio.xz new.cpio.xz
'

# Kill times spread over a cold build (10% to 200% of it); a build that ends
# sooner is not waited for.
# running PID: not yet exited (a zombie answers kill -0, so read its state)
running() { local st; read -r _ _ st _ < /proc/$1/stat 2>/dev/null && [ "$st" != Z ]; }
cold_ms=$(cat cold-ms 2>/dev/null || echo 3000)
# The loop stops after BUDGET seconds (a loaded machine makes builds slow);
# the iterations left are reported as skipped.
BUDGET=${KILL_BUDGET:-90}
loop_start=$SECONDS
for it in $(seq 1 20); do
	if [ $((SECONDS - loop_start)) -ge "$BUDGET" ]; then
		test_skip "kill -9, iteration $it" "the ${BUDGET} s budget is spent (cold build ${cold_ms} ms)"
		continue
	fi
	delay=$(( (it * 7 % 20 + 1) * cold_ms / 10 ))
	# Vary the cache state too: cold, left as the last kill left it, or warm
	# objects with no segments.
	case $((it % 3)) in
	0) state=cold ;; 1) state=partial ;; 2) state=objects-only ;;
	esac
	test_expect_success "kill -9 at ${delay} ms ($state cache): old or new image, clean cache" '
		case '$state' in
		cold) rm -rf "$RDC_CACHE_DIR" ;;
		objects-only) rm -rf "$RDC_CACHE_DIR"/segments ;;
		partial) ;; # as the last kill left it
		esac &&
		cp old.cpio.xz out.cpio.xz &&
		start=$(date +%s%N) &&
		{ "$RDC" build src/m.yaml -o out.cpio.xz 2>/dev/null & pid=$!; } &&
		while running $pid && [ $(( ($(date +%s%N) - start) / 1000000 )) -lt '$delay' ]; do
			sleep 0.02 || return 1
		done &&
		# the build may have ended before the kill: any status of either is fine
		{ kill -9 $pid 2>/dev/null || true; } &&
		{ wait $pid || true; } &&
		# what counts is what the kill left behind
		if cmp -s out.cpio.xz old.cpio.xz; then echo old >> outcomes
		elif cmp -s out.cpio.xz new.cpio.xz; then echo new >> outcomes
		else echo "out.cpio.xz is neither image"; ls -l out.cpio.xz old.cpio.xz new.cpio.xz; exit 1
		fi &&
		{ "$RDC" cache verify >verify.out 2>&1 || { cat verify.out; exit 1; }; }
	'
done

echo "# kills that left the old image: $(grep -c old outcomes 2>/dev/null), the new one: $(grep -c new outcomes 2>/dev/null); cold build ${cold_ms} ms"
test_expect_success 'some kills hit a running build (the output was still the old one)' '
	grep -q old outcomes
'

test_expect_success 'a build after the kills gives the new image exactly, and the cache verifies' '
	ls "$RDC_CACHE_DIR"/segments >/dev/null &&
	"$RDC" build src/m.yaml -o out.cpio.xz && cmp out.cpio.xz new.cpio.xz &&
	"$RDC" build src/m.yaml -o out2.cpio.xz && cmp out2.cpio.xz new.cpio.xz &&
	"$RDC" cache verify >/dev/null
'

test_expect_success 'leftover temporary files are not damage; gc removes stale ones only' '
	"$RDC" cache stats >/dev/null && "$RDC" cache verify >/dev/null &&
	mkdir -p "$RDC_CACHE_DIR/segments" &&
	: > "$RDC_CACHE_DIR/segments/young.rdc-tmp.abc" && : > "$RDC_CACHE_DIR/segments/stale.rdc-tmp.abc" &&
	find "$RDC_CACHE_DIR" -name "*.rdc-tmp.*" -exec touch -d "2 hours ago" {} + &&
	touch "$RDC_CACHE_DIR/segments/young.rdc-tmp.abc" &&
	"$RDC" cache verify >/dev/null && "$RDC" cache gc >/dev/null &&
	test -e "$RDC_CACHE_DIR/segments/young.rdc-tmp.abc" &&
	! find "$RDC_CACHE_DIR" -name "*.rdc-tmp.*" ! -name young.rdc-tmp.abc | grep . &&
	"$RDC" build src/m.yaml -o out3.cpio.xz && cmp out3.cpio.xz new.cpio.xz
'

test_done
