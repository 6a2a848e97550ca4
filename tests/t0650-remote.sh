#!/usr/bin/env bash
# Remote storage (RDC_REMOTE_STORAGE, ccache-style URLs) against real servers
# started here on 127.0.0.1: nginx with WebDAV PUT, and redis-server.  An
# empty local cache and a warm remote give the bytes of a local build;
# damaged or misfiled remote entries never reach an image and are
# overwritten; a server that is down, stopped mid-build or silent costs a
# warning, never the build; `|read-only` never writes.
. "$(dirname "$0")/lib.sh"

if ! test_have nginx || ! test_have redis-server || ! test_have python3; then
	test_skip 'remote storage' 'needs nginx-light, redis-server, python3 (tests/setup/install-deps.sh)'
	test_done
	exit
fi

mkdir -p src
head -c 400000 /bin/busybox > src/tool.bin
head -c 200000 /dev/urandom > src/noise
seq 1 40000 > src/numbers.txt
cat > src/m.yaml <<'YAML'
rdc: 1
binaries: [/bin/busybox]
dirs: [/proc, /sys]
symlinks: [{path: /bin/sh, target: busybox}]
files:
  - {src: tool.bin, dest: /usr/lib/tool.bin}
  - {src: noise, dest: /var/noise}
  - {src: numbers.txt, dest: /etc/numbers.txt}
  - {dest: /etc/hostname, content: "remote\n"}
output: {path: m.cpio.xz, compression: {algo: xz, level: 1}}
YAML
sleep 2.2 # older than the racy window: the stat index trusts them at once

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Servers run in the background of test bodies (subshells): their pids go
# to files, and every one still running is stopped at the end.
mkdir -p pids
stop_all() { for f in pids/*; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; done; }
trap stop_all EXIT

# start_nginx DIR [EXTRA]: a WebDAV store in DIR/store, access log
# DIR/access.log; EXTRA goes into its location, DAV= turns PUT off.
start_nginx() {
	local d=$PWD/$1 port user=
	port=$(free_port)
	mkdir -p "$d/store"
	[ "$(id -u)" -eq 0 ] && user='user root;'
	cat > "$d/conf" <<EOF
$user
worker_processes 1;
events { worker_connections 64; }
http {
  access_log $d/access.log;
  server {
    listen 127.0.0.1:$port;
    location / { root $d/store; ${DAV-dav_methods PUT; create_full_put_path on;} client_max_body_size 0; ${2:-} }
  }
}
EOF
	nginx -p "$d" -e "$d/err" -c "$d/conf" -g "daemon off; pid $d/pid; error_log $d/err;" >/dev/null 2>&1 &
	echo $! > "$d/nginx.pid"
	echo $! > "pids/$1"
	echo "$port" > "$d/port"
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0; sleep 0.1; done
	cat "$d/err"
	return 1
}
stop_server() { kill "$(cat "$1")" && while kill -0 "$(cat "$1")" 2>/dev/null; do sleep 0.05; done; rm -f "pids/$(dirname "$1")"; }
url_of() { echo "http://127.0.0.1:$(cat "$1/port")/rdc"; }
# Where the server is up, a connect timeout a loaded machine always meets
# (the default, ccache's 100 ms, is for a quiet LAN).
CT='|connect-timeout=5000'


# start_redis DIR [OPTIONS...]
start_redis() {
	local d=$PWD/$1 port
	port=$(free_port)
	mkdir -p "$d"
	(cd "$d" && exec redis-server --port "$port" --save '' --appendonly no --bind 127.0.0.1 --dir "$d" "${@:2}" >"$d/log" 2>&1) &
	echo $! > "$d/redis.pid"
	echo $! > "pids/$1"
	echo "$port" > "$d/port"
	for _ in $(seq 50); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
	cat "$d/log"
	return 1
}
rcli() { redis-cli -p "$(cat "$1/port")" "${@:2}"; }

# build CACHE OUT [-v]: a build with its own local cache
build() { RDC_CACHE_DIR=$PWD/$1 "$RDC" build -v src/m.yaml -o "$2" 2>"$2.err"; }
puts() { grep -c '"PUT ' "$1/access.log" || true; }

test_expect_success 'a local build without remote storage is the reference' '
	RDC_REMOTE_STORAGE= build local ref.cpio.xz &&
	! grep -q "remote storage" ref.cpio.xz.err
'

test_expect_success 'http: a cold build uploads its segments; an empty local cache and a warm remote give the same bytes' '
	start_nginx ng &&
	export RDC_REMOTE_STORAGE="$(url_of ng)$CT" &&
	build c1 one.cpio.xz &&
	cmp ref.cpio.xz one.cpio.xz &&
	expect_grep "remote storage: 0 hits" one.cpio.xz.err &&
	test "$(find ng/store -name "*.seg" | wc -l)" -ge 3 &&
	find ng/store -name "*.seg" | grep -q "/rdc/[0-9a-f][0-9a-f]/[0-9a-f]\{30\}\.seg$" &&
	build c2 two.cpio.xz &&
	cmp ref.cpio.xz two.cpio.xz &&
	n=$(find ng/store -name "*.seg" | wc -l) &&
	expect_grep "remote storage: .*$n hits, 0 misses, 0 errors" two.cpio.xz.err &&
	grep -q "\"GET /rdc/.*\.seg HTTP/1.1\" 200" ng/access.log &&
	! grep -q warning two.cpio.xz.err
'

test_expect_success 'rdc cache stats shows what the remote did' '
	export RDC_REMOTE_STORAGE="$(url_of ng)$CT" &&
	RDC_CACHE_DIR=$PWD/c2 "$RDC" cache stats > stats &&
	expect_grep "^remote    [0-9]* hits, 0 misses, 0 errors; .* fetched" stats &&
	expect_grep "^remote    $(url_of ng)$" stats &&
	RDC_REMOTE_STORAGE="$(url_of ng)|read-only redis://pw@127.0.0.1:9" "$RDC" cache stats > stats2 &&
	expect_grep "^remote    $(url_of ng) (read-only)$" stats2 &&
	expect_grep "^remote    redis://\*\*\*@127.0.0.1:9$" stats2
'

test_expect_success 'the stats file is folded into one line of sums when it grows' '
	export RDC_REMOTE_STORAGE="$(url_of ng)$CT" &&
	n=$(find ng/store -name "*.seg" | wc -l) &&
	for i in $(seq 6000); do echo "1 0 0 10 0 0"; done > c2b-stats &&
	mkdir -p c2b && mv c2b-stats c2b/remote-stats &&
	build c2b twob.cpio.xz &&
	test "$(wc -l < c2b/remote-stats)" -eq 1 &&
	RDC_CACHE_DIR=$PWD/c2b "$RDC" cache stats > stats &&
	expect_grep "^remote    $((6000 + n)) hits, 0 misses" stats
'

test_expect_success 'a FIFO or a symlink planted as remote-stats is neither waited on nor followed' '
	export RDC_REMOTE_STORAGE="$(url_of ng)$CT" &&
	mkdir -p c2f c2s && mkfifo c2f/remote-stats &&
	timeout 60 env RDC_CACHE_DIR=$PWD/c2f "$RDC" build src/m.yaml -o twof.cpio.xz &&
	cmp ref.cpio.xz twof.cpio.xz &&
	echo outside > outside && ln -s "$PWD/outside" c2s/remote-stats &&
	RDC_CACHE_DIR=$PWD/c2s "$RDC" build src/m.yaml -o twos.cpio.xz &&
	test "$(cat outside)" = outside &&
	timeout 60 env RDC_CACHE_DIR=$PWD/c2f "$RDC" cache stats > /dev/null
'

test_expect_success 'a build that hits its local cache never asks the remote, nor loads libcurl' '
	export RDC_REMOTE_STORAGE="$(url_of ng)$CT" &&
	before=$(wc -l < ng/access.log) &&
	RDC_CACHE_DIR=$PWD/c2 LD_DEBUG=libs "$RDC" build src/m.yaml -o two.cpio.xz 2> ld.log &&
	test "$(wc -l < ng/access.log)" -eq "$before" &&
	! grep -q "libcurl" ld.log
'

test_expect_success 'flipped bytes in every remote entry never reach an image; each is rebuilt and overwritten' '
	export RDC_REMOTE_STORAGE="$(url_of ng)$CT" &&
	for f in $(find ng/store -type f -name "*.seg"); do
		size=$(stat -c %s "$f") && flip_byte "$f" $((size / 2)) || exit 1
	done &&
	build c3 three.cpio.xz &&
	cmp ref.cpio.xz three.cpio.xz &&
	expect_grep "warning: remote storage http://.*: [0-9]* entries were damaged" three.cpio.xz.err &&
	test "$(grep -c warning three.cpio.xz.err)" -eq 1 &&
	expect_grep "remote storage: 0 hits" three.cpio.xz.err &&
	build c4 four.cpio.xz &&
	cmp ref.cpio.xz four.cpio.xz &&
	expect_grep "remote storage: .*0 misses, 0 errors" four.cpio.xz.err
'

test_expect_success 'a valid segment filed under another name is not used' '
	export RDC_REMOTE_STORAGE="$(url_of ng)$CT" &&
	set -- $(find ng/store -type f -name "*.seg" -size +1k | sort) &&
	test $# -ge 2 &&
	cp "$1" "$2" &&
	build c5 five.cpio.xz &&
	cmp ref.cpio.xz five.cpio.xz &&
	expect_grep "1 entry was damaged or not what its name said" five.cpio.xz.err
'

test_expect_success 'a remote entry larger than its segment could be is refused before it fills the disk' '
	export RDC_REMOTE_STORAGE="$(url_of ng)$CT" &&
	f=$(find ng/store -type f -name "*.seg" -size +1k | sort | head -1) &&
	truncate -s +200M "$f" &&
	build c5b big.cpio.xz &&
	cmp ref.cpio.xz big.cpio.xz &&
	expect_grep "more than the entry can hold" big.cpio.xz.err &&
	test -z "$(find c5b -type f -size +20M)" &&
	truncate -s -200M "$f"
'

test_expect_success '|read-only reads the remote and never writes to it' '
	start_nginx ro &&
	export RDC_REMOTE_STORAGE="$(url_of ro)|read-only$CT" &&
	build c6 six.cpio.xz &&
	cmp ref.cpio.xz six.cpio.xz &&
	test "$(puts ro)" -eq 0 &&
	test -z "$(find ro/store -type f)" &&
	grep -q "\"GET " ro/access.log &&
	export RDC_REMOTE_STORAGE="$(url_of ng)|read-only|connect-timeout=5000" &&
	build c7 seven.cpio.xz &&
	cmp ref.cpio.xz seven.cpio.xz &&
	expect_grep "remote storage: .* 0 misses, 0 errors; .*, 0 uploads" seven.cpio.xz.err
'

test_expect_success 'backends are tried in order: a miss in the first, a hit in the second' '
	start_nginx empty &&
	export RDC_REMOTE_STORAGE="$(url_of empty)|read-only$CT $(url_of ng)|layout=subdirs$CT" &&
	build c8 eight.cpio.xz &&
	cmp ref.cpio.xz eight.cpio.xz &&
	expect_grep "remote storage: .* 0 misses, 0 errors" eight.cpio.xz.err &&
	grep -q "\"GET /rdc/.*\.seg HTTP/1.1\" 404" empty/access.log
'

test_expect_success 'a hit in a later backend fills the earlier ones that missed it or had it damaged' '
	start_nginx second &&
	export RDC_REMOTE_STORAGE="$(url_of second)$CT $(url_of ng)$CT" &&
	build c14 fourteen.cpio.xz &&
	cmp ref.cpio.xz fourteen.cpio.xz &&
	n=$(grep -c "\"GET /rdc/.*\.seg HTTP/1.1\" 404" second/access.log) &&
	test "$n" -ge 3 &&
	test "$(find second/store -name "*.seg" | wc -l)" -eq "$n" &&
	for f in $(find second/store -type f -name "*.seg"); do
		flip_byte "$f" 20 || exit 1
	done &&
	build c15 fifteen.cpio.xz &&
	cmp ref.cpio.xz fifteen.cpio.xz &&
	expect_grep "remote storage $(url_of second): [0-9]* entries were damaged" fifteen.cpio.xz.err &&
	export RDC_REMOTE_STORAGE="$(url_of second)$CT" &&
	build c16 sixteen.cpio.xz &&
	cmp ref.cpio.xz sixteen.cpio.xz &&
	expect_grep "remote storage: $n hits, 0 misses, 0 errors" sixteen.cpio.xz.err
'

test_expect_success 'layout=flat puts entries straight under the URL' '
	export RDC_REMOTE_STORAGE="$(url_of ng)/flat|layout=flat$CT" &&
	build c9 nine.cpio.xz &&
	cmp ref.cpio.xz nine.cpio.xz &&
	find ng/store/rdc/flat -maxdepth 1 -type f -name "*.seg" | grep -q "/flat/[0-9a-f]\{32\}\.seg$" &&
	test -z "$(find ng/store/rdc/flat -mindepth 1 -type d)"
'

test_expect_success 'a server that is down costs one warning; the build succeeds locally' '
	stop_server ro/nginx.pid &&
	export RDC_REMOTE_STORAGE="$(url_of ro)" &&
	build c10 ten.cpio.xz &&
	cmp ref.cpio.xz ten.cpio.xz &&
	test "$(grep -c warning ten.cpio.xz.err)" -eq 1 &&
	expect_grep "warning: remote storage http://127.0.0.1:[0-9]*/rdc: \(GET\|PUT\) failed: Couldn.t connect to server; not using it in this build" ten.cpio.xz.err
'

test_expect_success 'a server that accepts and never answers costs its timeouts, not the build' '
	port=$(free_port) &&
	{ python3 -c "import socket,time,sys; s=socket.socket(); s.bind((\"127.0.0.1\", int(sys.argv[1]))); s.listen(64); time.sleep(60)" "$port" >/dev/null 2>&1 & } &&
	silent=$! && echo $silent > pids/silent &&
	for _ in $(seq 50); do (: </dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done &&
	export RDC_REMOTE_STORAGE="http://127.0.0.1:$port/rdc|connect-timeout=200|operation-timeout=400" &&
	t0=$(date +%s%N) &&
	build c11 eleven.cpio.xz &&
	t1=$(date +%s%N) &&
	kill $silent && rm pids/silent &&
	cmp ref.cpio.xz eleven.cpio.xz &&
	test "$(grep -c warning eleven.cpio.xz.err)" -eq 1 &&
	expect_grep "Timeout" eleven.cpio.xz.err &&
	cold_ms=$(( (t1 - t0) / 1000000 )) && echo "$cold_ms ms" &&
	test "$cold_ms" -lt 30000
'

test_expect_success 'the server stopped mid-build: the build still succeeds, with a warning' '
	start_nginx slow "limit_rate 100k;" &&
	cp -r ng/store/rdc slow/store/ &&
	export RDC_REMOTE_STORAGE="$(url_of slow)$CT" &&
	{ (sleep 1 && stop_server slow/nginx.pid) & } &&
	build c12 twelve.cpio.xz &&
	wait &&
	cmp ref.cpio.xz twelve.cpio.xz &&
	test "$(grep -c warning twelve.cpio.xz.err)" -eq 1 &&
	expect_grep "remote storage http://.*; not using it in this build" twelve.cpio.xz.err
'

test_expect_success '|bearer-token is sent as Authorization: Bearer, and never shown' '
	start_nginx auth "if (\$http_authorization != \"Bearer s3cret\") { return 401; }" &&
	export RDC_REMOTE_STORAGE="$(url_of auth)|bearer-token=s3cret$CT" &&
	build c17 seventeen.cpio.xz &&
	cmp ref.cpio.xz seventeen.cpio.xz &&
	test "$(grep -c "\"PUT /rdc/.* 201 " auth/access.log)" -ge 3 &&
	build c18 eighteen.cpio.xz &&
	expect_grep "remote storage: [0-9]* hits, 0 misses, 0 errors" eighteen.cpio.xz.err &&
	export RDC_REMOTE_STORAGE="$(url_of auth)|bearer-token=wrong$CT" &&
	build c19 nineteen.cpio.xz &&
	cmp ref.cpio.xz nineteen.cpio.xz &&
	expect_grep "GET answered HTTP 401" nineteen.cpio.xz.err &&
	! grep -q "wrong\|s3cret" nineteen.cpio.xz.err
'

test_expect_success 'a server that refuses writes: one warning, the build succeeds' '
	DAV= start_nginx nodav &&
	export RDC_REMOTE_STORAGE="$(url_of nodav)$CT" &&
	build c13 thirteen.cpio.xz &&
	cmp ref.cpio.xz thirteen.cpio.xz &&
	test "$(grep -c warning thirteen.cpio.xz.err)" -eq 1 &&
	expect_grep "PUT answered HTTP 405; not writing to it" thirteen.cpio.xz.err
'

test_expect_success 'redis: a warm remote gives the same bytes; damaged entries are overwritten; read-only never writes' '
	start_redis rs &&
	export RDC_REMOTE_STORAGE="redis://127.0.0.1:$(cat rs/port)/2$CT" &&
	build r1 r1.cpio.xz &&
	cmp ref.cpio.xz r1.cpio.xz &&
	n=$(rcli rs -n 2 dbsize) && test "$n" -ge 3 &&
	build r2 r2.cpio.xz &&
	cmp ref.cpio.xz r2.cpio.xz &&
	expect_grep "remote storage: .*0 misses, 0 errors" r2.cpio.xz.err &&
	for k in $(rcli rs -n 2 --scan --pattern "rdc:*.seg"); do
		rcli rs -n 2 setrange "$k" 40 "XXXX" >/dev/null || exit 1
	done &&
	build r3 r3.cpio.xz &&
	cmp ref.cpio.xz r3.cpio.xz &&
	expect_grep "entries were damaged" r3.cpio.xz.err &&
	build r4 r4.cpio.xz &&
	expect_grep "remote storage: .*0 misses, 0 errors" r4.cpio.xz.err &&
	cmp ref.cpio.xz r4.cpio.xz &&
	rcli rs -n 3 dbsize | grep -qx 0 &&
	export RDC_REMOTE_STORAGE="redis://127.0.0.1:$(cat rs/port)/3|read-only$CT" &&
	build r5 r5.cpio.xz &&
	cmp ref.cpio.xz r5.cpio.xz &&
	rcli rs -n 3 dbsize | grep -qx 0 &&
	stop_server rs/redis.pid &&
	export RDC_REMOTE_STORAGE="redis://127.0.0.1:$(cat rs/port)" &&
	build r6 r6.cpio.xz &&
	cmp ref.cpio.xz r6.cpio.xz &&
	test "$(grep -c warning r6.cpio.xz.err)" -eq 1
'

test_expect_success 'redis that refuses writes (maxmemory): one warning, the build succeeds' '
	start_redis full --maxmemory 100kb --maxmemory-policy noeviction &&
	export RDC_REMOTE_STORAGE="redis://127.0.0.1:$(cat full/port)$CT" &&
	build r7 r7.cpio.xz &&
	cmp ref.cpio.xz r7.cpio.xz &&
	test "$(grep -c warning r7.cpio.xz.err)" -eq 1 &&
	expect_grep "SET answered OOM .*; not writing to it in this build" r7.cpio.xz.err &&
	rcli full dbsize | grep -qx 0 &&
	stop_server full/redis.pid
'

test_expect_success 'remote_storage in rdc.conf; the environment wins, even empty' '
	export XDG_CONFIG_HOME=$PWD/conf && mkdir -p conf/rdc &&
	printf "# shared cache\nremote_storage = %s|read-only%s\n" "$(url_of ng)" "$CT" > conf/rdc/rdc.conf &&
	unset RDC_REMOTE_STORAGE &&
	build f1 f1.cpio.xz &&
	cmp ref.cpio.xz f1.cpio.xz &&
	expect_grep "remote storage: .*0 misses" f1.cpio.xz.err &&
	RDC_REMOTE_STORAGE= build f2 f2.cpio.xz &&
	! grep -q "remote storage" f2.cpio.xz.err
'

test_expect_success 'a bad URL or attribute is a warning; the build goes on locally; passwords are never shown' '
	RDC_REMOTE_STORAGE="ftp://example/x" build b1 b1.cpio.xz &&
	expect_grep "not a URL rdc can use" b1.cpio.xz.err &&
	RDC_REMOTE_STORAGE="$(url_of ng)|read-onyl" build b2 b2.cpio.xz &&
	expect_grep "unknown attribute .read-onyl." b2.cpio.xz.err &&
	expect_grep "did you mean .read-only." b2.cpio.xz.err &&
	RDC_REMOTE_STORAGE="$(url_of ng)|connect-timeout=soon" build b3 b3.cpio.xz &&
	expect_grep "bad value for .connect-timeout." b3.cpio.xz.err &&
	cmp ref.cpio.xz b3.cpio.xz &&
	RDC_REMOTE_STORAGE="redis://s3cret@127.0.0.1:1|connect-timeout=2000" build b4 b4.cpio.xz &&
	expect_grep "remote storage redis://\*\*\*@127.0.0.1:1: cannot connect" b4.cpio.xz.err &&
	! grep -q s3cret b4.cpio.xz.err &&
	RDC_REMOTE_STORAGE="http://u:s3cret@127.0.0.1:1/x" build b5 b5.cpio.xz &&
	expect_grep "remote storage http://\*\*\*@127.0.0.1:1/x: GET failed" b5.cpio.xz.err &&
	! grep -q s3cret b5.cpio.xz.err
'

test_expect_success 'a bad backend in rdc.conf is named at its line and column, without echoing the line' '
	export XDG_CONFIG_HOME=$PWD/conf5 && mkdir -p conf5/rdc && unset RDC_REMOTE_STORAGE &&
	printf "# shared\nremote_storage = redis://s3cret@127.0.0.1:1|read-onyl ftp://x/y\n" > conf5/rdc/rdc.conf &&
	build b6 b6.cpio.xz && cmp ref.cpio.xz b6.cpio.xz &&
	expect_grep "conf5/rdc/rdc.conf:2:45: remote storage redis://\*\*\*@127.0.0.1:1: unknown attribute .read-onyl." b6.cpio.xz.err &&
	expect_grep "conf5/rdc/rdc.conf:2:55: remote storage .ftp://x/y. is not a URL" b6.cpio.xz.err &&
	! grep -q s3cret b6.cpio.xz.err
'

stop_all
test_done
