#!/usr/bin/env bash
# A cold build costs about what writing the image costs: each source is read
# once (into the image), however many closures share it, and the ELF and
# module closures resolve side by side, reporting as a sequential build does.
. "$(dirname "$0")/lib.sh"

mkdir -p src
cat > src/m.yaml <<'YAML'
rdc: 1
kernel: {version: "${KVER}"}
binaries: [/usr/bin/curl, /usr/sbin/ip, /usr/bin/socat]
kmods: [vfat]
YAML

# read_bytes TRACE FILE: the bytes read(2)/pread(2) returned from FILE in an
# `strace -y` trace (the kernel's own path of each fd)
read_bytes() {
	awk -v f="<$2>" 'index($0, f) && $NF ~ /^[0-9]+$/ { t += $NF } END { print t + 0 }' "$1"
}

if test_have strace; then
	test_expect_success 'binaries sharing libraries: a cold build reads each library once, no more' '
		strace -f -qq -y -e trace=read,pread64 -o trace "$RDC" build src/m.yaml -o m.cpio &&
		libc=$(readlink -f "$("$RDC" deps /usr/bin/curl | grep "/libc\.so\.6$")") && [ -f "$libc" ] &&
		size=$(stat -c %s "$libc") && got=$(read_bytes trace "$libc") &&
		{ [ "$got" -ge "$size" ] && [ "$got" -lt $((size + 4096)) ] || { echo "read $got bytes of $libc ($size)"; false; }; }
	'
else
	test_skip 'binaries sharing libraries: a cold build reads each library once' 'no strace'
fi

test_expect_success 'the image of binaries and modules is the same with one resolver thread (-j 1)' '
	rm -rf "$RDC_CACHE_DIR" && "$RDC" build -j 1 src/m.yaml -o one.cpio &&
	rm -rf "$RDC_CACHE_DIR" && "$RDC" build src/m.yaml -o two.cpio && cmp one.cpio two.cpio &&
	"$RDC" list src/m.yaml > l && gen_init_cpio -t 0 l > gic.cpio && cmp two.cpio gic.cpio
'

test_expect_success 'a bad binary and a bad module: both errors, in manifest order, the same with -j 1' '
	cat > src/bad.yaml <<-YAML &&
	rdc: 1
	kernel: {version: "\${KVER}"}
	binaries: [/usr/bin/no-such-program-here]
	kmods: [no_such_module_here]
	YAML
	rm -rf "$RDC_CACHE_DIR" && expect_fail 1 "$RDC" build src/bad.yaml -o bad.cpio && mv err err.two &&
	expect_grep "bad.yaml:3:.*no-such-program-here" err.two && expect_grep "bad.yaml:4:.*no_such_module_here" err.two &&
	[ "$(grep -o "^src/bad.yaml:[0-9]*:" err.two | tr -d "\n")" = "src/bad.yaml:3:src/bad.yaml:4:" ] &&
	rm -rf "$RDC_CACHE_DIR" && expect_fail 1 "$RDC" build -j 1 src/bad.yaml -o bad.cpio && cmp err.two err &&
	[ ! -e bad.cpio ]
'

test_done
