#!/usr/bin/env bash
# Interrupted builds (issue 17 item 5, issue 18): every temporary file is
# registered (lib/tempfile.c) and removed when rdc dies of SIGINT, SIGTERM
# or SIGHUP — beside the output and in the cache — and the signal still
# ends rdc with its usual status.
. "$(dirname "$0")/lib.sh"

head -c 120000000 /dev/urandom > big
printf 'rdc: 1\nfiles: [{src: big, dest: /big}]\n' > m.yaml

# interrupt SIG PATTERN [BUILD ARGS]: start a build (SIGINT at its default
# even in the background), wait for a temporary matching PATTERN, send SIG,
# wait.
interrupt() {
	local sig=$1 pattern=$2
	shift 2
	[ $# -gt 0 ] || set -- -o out.cpio.xz -z xz:9 --single-segment
	rm -rf "$RDC_CACHE_DIR" out.* || return 1
	perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' "$RDC" build m.yaml "$@" 2>/dev/null &
	local pid=$! i
	for i in $(seq 3000); do
		compgen -G "$pattern" >/dev/null && break
		sleep 0.01
	done
	compgen -G "$pattern" >/dev/null || { echo "no temporary $pattern appeared"; kill -9 $pid; return 1; }
	kill -"$sig" $pid
	wait $pid
	echo $? > status
}
no_temps() {
	find . -name "*.rdc-tmp.*" > temps
	test ! -s temps || { echo "left behind:"; cat temps; return 1; }
}

for sig in TERM INT HUP; do
	test_expect_success "SIG$sig while the output is written leaves no temporary file" '
		interrupt '$sig' "out.cpio.xz.rdc-tmp.*" && test "$(cat status)" = $((128 + $(kill -l '$sig'))) &&
		no_temps && test ! -e out.cpio.xz
	'
done

test_expect_success 'SIGTERM while a source is copied into the cache leaves no temporary there' '
	interrupt TERM "$RDC_CACHE_DIR/objects/incoming.rdc-tmp.*" -o out.list && test "$(cat status)" = 143 && no_temps
'

test_done
