# rdc — the ramdisk compiler.  Every .c under compiler/ and cache/ is part of
# ./rdc; the folders are the pipeline's stages (docs/DESIGN.md, "Layout").
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
PKGS     := yaml-0.1 libarchive libelf libkmod libxxhash zlib liblzma libzstd liblz4
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
# libarchive (used only for `-o dir/`) drags libxml2, icu, libcrypto ... into
# every start when linked dynamically: ~1.2 ms of a 4.6 ms no-op build.  Its
# static archive links only the cpio reader and disk writer we use.
ARCHIVE_A  := $(wildcard $(shell pkg-config --variable=libdir libarchive)/libarchive.a)
ifneq ($(ARCHIVE_A),)
PKG_LIBS   := $(filter-out -larchive,$(PKG_LIBS)) $(ARCHIVE_A) -lacl
endif
# libkmod is dlopen()ed when a module closure is first resolved (see
# resolve/kmodlib.c): only its headers and its soname are needed at build time.
PKG_LIBS   := $(filter-out -lkmod,$(PKG_LIBS))
KMOD_SONAME := $(shell objdump -p $$(pkg-config --variable=libdir libkmod)/libkmod.so 2>/dev/null | awk '$$1 == "SONAME" { print $$2 }')
ifeq ($(KMOD_SONAME),)
KMOD_SONAME := libkmod.so.2
endif
# libcurl and hiredis (remote storage) are dlopen()ed on the first local cache
# miss (see cache/remote.c): linked, they cost ~3 ms of every start.
REMOTE_PKGS := libcurl hiredis
PKG_CFLAGS  += $(shell pkg-config --cflags $(REMOTE_PKGS))
soname = $(or $(shell objdump -p $$(pkg-config --variable=libdir $(1))/$(2) 2>/dev/null | awk '$$1 == "SONAME" { print $$2 }'),$(3))
CURL_SONAME := $(call soname,libcurl,libcurl.so,libcurl.so.4)
HIREDIS_SONAME := $(call soname,hiredis,libhiredis.so,libhiredis.so.0.14)
VERSION  := 0.1.0

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -DRDC_VERSION='"$(VERSION)"' -DKMOD_SONAME='"$(KMOD_SONAME)"' -DRDC_CURL_SONAME='"$(CURL_SONAME)"' -DRDC_HIREDIS_SONAME='"$(HIREDIS_SONAME)"' -I. -Icompiler $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lbz2 -lpthread
# rdc_build_id: the build record and the image key tell rdc builds apart.
# On the link line itself, so LDFLAGS given on make's command line keep it
# (an `override LDFLAGS` would also swallow SANITIZE's LDFLAGS below)
RDC_LDFLAGS := -Wl,--build-id

ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
BUILDDIR := build-san
else ifeq ($(SANITIZE),thread)
# ThreadSanitizer: a process that reported a race exits 66, so its test fails
CFLAGS   += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=thread
BUILDDIR := build-tsan
else
BUILDDIR := build
endif

SRCS := $(sort $(wildcard compiler/*.c compiler/*/*.c cache/*.c))
HDRS := $(wildcard compiler/*/*.h cache/*.h)
OBJS := $(patsubst %.c,$(BUILDDIR)/%.o,$(SRCS))

all: rdc

rdc: $(BUILDDIR)/rdc
	@ln -sf $(BUILDDIR)/rdc rdc

$(BUILDDIR)/rdc: $(OBJS)
	$(CC) $(LDFLAGS) $(RDC_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILDDIR)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

check: rdc
	@RDC=$(CURDIR)/$(BUILDDIR)/rdc tests/run-tests.sh $(T)

# Boot tests (x86_64 and aarch64, SSH logins included) are part of check;
# SLOW=1 is passed to the tests for anything longer.
check-slow: rdc
	@SLOW=1 RDC=$(CURDIR)/$(BUILDDIR)/rdc tests/run-tests.sh $(T)

bench: rdc
	@bench/bench.sh

FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -DRDC_VERSION='"$(VERSION)"' -DKMOD_SONAME='"$(KMOD_SONAME)"' -DRDC_CURL_SONAME='"$(CURL_SONAME)"' -DRDC_HIREDIS_SONAME='"$(HIREDIS_SONAME)"' $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined
FUZZ_LIBSRC := $(filter-out compiler/main.c,$(SRCS))
build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIBSRC) $(HDRS)
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -I. -Icompiler -o $@ $< $(FUZZ_LIBSRC) $(PKG_LIBS) -lbz2 -lpthread

fuzz: build-fuzz/fuzz_manifest build-fuzz/fuzz_elf build-fuzz/fuzz_image build-fuzz/fuzz_import build-fuzz/fuzz_cache build-fuzz/fuzz_kmemo build-fuzz/fuzz_moddep
	tests/fuzz/run-fuzz.sh

install: rdc
	install -D -m 0755 $(BUILDDIR)/rdc $(DESTDIR)$(PREFIX)/bin/rdc
	install -D -m 0644 schema/manifest.schema.json $(DESTDIR)$(PREFIX)/share/rdc/manifest.schema.json
	install -D -m 0644 tools/completion/rdc $(DESTDIR)$(PREFIX)/share/bash-completion/completions/rdc
	install -D -m 0644 docs/man/rdc.1 $(DESTDIR)$(PREFIX)/share/man/man1/rdc.1
	install -D -m 0644 docs/man/rdc-manifest.5 $(DESTDIR)$(PREFIX)/share/man/man5/rdc-manifest.5

# The schema and the README's key reference are written from the manifest
# reader's key table (tests/t0110-schema.sh checks they are current).
schema: rdc
	$(BUILDDIR)/rdc schema > schema/manifest.schema.json.tmp && mv schema/manifest.schema.json.tmp schema/manifest.schema.json
	$(BUILDDIR)/rdc schema --man > docs/man/rdc-manifest.5.tmp && mv docs/man/rdc-manifest.5.tmp docs/man/rdc-manifest.5
	$(BUILDDIR)/rdc schema --markdown > README.keys.tmp
	awk 'FNR == NR { keys = keys $$0 "\n"; next } \
	     /^<!-- end of the key reference -->/ { printf "%s", keys; skip = 0 } !skip { print } \
	     /^<!-- the key reference: / { skip = 1 }' README.keys.tmp README.md > README.md.tmp && mv README.md.tmp README.md
	rm -f README.keys.tmp

clean:
	rm -rf build build-san build-tsan build-fuzz rdc

.PHONY: all rdc check check-slow bench fuzz install clean schema
