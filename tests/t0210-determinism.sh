#!/usr/bin/env bash
# Same manifest, same input bytes: same image bytes, whatever the time, cwd,
# umask, locale, TZ, directory order and cache state.
. "$(dirname "$0")/lib.sh"

mkdir -p src/tree && cd src
printf 'hello\n' > a.txt
for i in 3 1 2; do echo "$i" > tree/f$i; done
cat > m.yaml <<-'YAML'
rdc: 1
dirs: [/proc]
files:
  - {src: a.txt, dest: /a}
  - {src: tree/, dest: /t}
  - {dest: /etc/motd, content: "hi\n"}
YAML
cd ..

for fmt in cpio cpio.gz cpio.zst cpio.xz cpio.lz4; do
test_expect_success "$fmt: cwd, umask, TZ, locale, time and a cold cache change nothing" '
	"$RDC" build src/m.yaml -o ref.'$fmt' &&
	mkdir -p elsewhere && (cd elsewhere && umask 077 && TZ=Asia/Tokyo LC_ALL=C.UTF-8 "$RDC" build ../src/m.yaml -o ../b.'$fmt') &&
	cmp ref.'$fmt' b.'$fmt' &&
	sleep 1 && touch src/a.txt src/tree/* &&
	RDC_CACHE_DIR=$PWD/cold "$RDC" build src/m.yaml -o c.'$fmt' && cmp ref.'$fmt' c.'$fmt' &&
	"$RDC" build -j 1 src/m.yaml -o d.'$fmt' && cmp ref.'$fmt' d.'$fmt'
'
done

test_expect_success 'directory order does not matter' '
	"$RDC" build src/m.yaml -o one.cpio &&
	rm -rf src/tree && mkdir src/tree && for i in 2 3 1; do echo "$i" > src/tree/f$i; done &&
	RDC_CACHE_DIR=$PWD/cold2 "$RDC" build src/m.yaml -o two.cpio && cmp one.cpio two.cpio
'

test_expect_success 'SOURCE_DATE_EPOCH sets every mtime' '
	SOURCE_DATE_EPOCH=1700000000 "$RDC" build src/m.yaml -o e.cpio &&
	! cpio -itv --quiet < e.cpio | grep -v "Nov 14  2023" | grep . &&
	! cmp -s e.cpio one.cpio
'

test_expect_success 'a bad SOURCE_DATE_EPOCH is an error' '
	SOURCE_DATE_EPOCH=yesterday expect_fail 1 "$RDC" build src/m.yaml -o f.cpio && [ ! -e f.cpio ]
'

test_done
