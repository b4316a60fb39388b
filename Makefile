# certkeep: `make` builds the static binary; `make test` sets up and runs every test.
VERSION    := 0.1.0
MUSL_DEPS  := build/deps/musl
GLIBC_DEPS := build/deps/glibc
ARM64_DEPS := build/deps/arm64
ARM64_CC   := aarch64-linux-musl-gcc

WARN    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
           -Wshadow -Wformat=2 -Wno-format-nonliteral
DEFS    := -DCK_VERSION=\"$(VERSION)\"
CFLAGS  ?= -Os  # size over speed: the heavy lifting is in BearSSL
# curl's TLS client init is replaced by lib/http's, which links only the suites we offer.
LIBS    := -Wl,--wrap=br_ssl_client_init_full -lcurl -lbearssl -lcjson -lyaml -lpthread

LIB_SRC  := $(sort $(wildcard lib/*/*.c))
CMD_SRC  := $(sort $(wildcard cmd/certkeep/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

MUSL_LIB_OBJ := $(LIB_SRC:%.c=build/musl/%.o)
MUSL_CMD_OBJ := $(CMD_SRC:%.c=build/musl/%.o)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=build/asan/%.o)
ASAN_CMD_OBJ := $(CMD_SRC:%.c=build/asan/%.o)
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
ARM64_OBJ    := $(CMD_SRC:%.c=build/arm64-obj/%.o) $(LIB_SRC:%.c=build/arm64-obj/%.o)

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

# Hardening of the static binaries (tests/e2e/t_elf.sh checks each in the ELF).
# Debian's musl-gcc specs turn -static-pie into a dynamic PIE with an interpreter,
# so a static PIE is linked by hand: cmd/certkeep/crt/relr_start.c relocates the binary itself.
HARDEN_CC := -fstack-protector-strong
# Relocations are packed as DT_RELR (20 KB less), applied by cmd/certkeep/crt/relr_start.c.
HARDEN_LD := -Wl,-z,relro,-z,now -Wl,-pie -Wl,--no-dynamic-linker -Wl,-z,text -nostartfiles \
             -Wl,-z,pack-relative-relocs
# arm64 links for 64 KiB pages: RELRO pads the file up to 64 KiB (17.7 KiB today)
# and PIE adds 22 KiB of relocations; with either it exceeds 700,000 bytes, so it
# is a static non-PIE binary without RELRO (which static musl never applied anyway).
ARM64_HARDEN_LD := -Wl,-z,norelro
# pie_start/pie_end MUSL_LIBDIR CC: the start files around the objects and libraries
# (our relr_start.o in place of musl's rcrt1.o, which knows no DT_RELR).
pie_start = build/musl/crt/relr_start.o $(1)/crti.o $(shell $(2) -print-file-name=crtbeginS.o)
pie_end   = $(shell $(2) -print-file-name=crtendS.o) $(1)/crtn.o

.PHONY: all static deps asan arm64 unit test e2e demo bench clean setup fuzz fuzz-tools fuzz-seeds image image-index test-containers
all: build/certkeep
static: build/certkeep
	@ls -l build/certkeep && file build/certkeep

deps: $(MUSL_DEPS)/.done $(GLIBC_DEPS)/.done
$(MUSL_DEPS)/.done: scripts/deps.sh scripts/deps.lock
	scripts/deps.sh musl $(MUSL_DEPS)
$(GLIBC_DEPS)/.done: scripts/deps.sh scripts/deps.lock
	scripts/deps.sh glibc $(GLIBC_DEPS)

build/musl/%.o: %.c $(wildcard lib/*/*.h cmd/certkeep/*.h) Makefile | $(MUSL_DEPS)/.done
	@mkdir -p $(@D)
	musl-gcc $(WARN) $(DEFS) $(CFLAGS) $(HARDEN_CC) -fPIE -ffunction-sections -fdata-sections \
	    -fno-asynchronous-unwind-tables -fno-unwind-tables -I$(MUSL_DEPS)/include -c $< -o $@

# The prime filter of RSA key generation is the one hot loop of ours: speed, not size.
build/musl/lib/crypto/rsagen.o: CFLAGS := -O2

# Runs before relocation and TLS exist: no stack protector there.
build/musl/crt/relr_start.o: cmd/certkeep/crt/relr_start.c Makefile
	@mkdir -p $(@D)
	musl-gcc $(WARN) -Os -fPIE -fno-stack-protector -fno-asynchronous-unwind-tables -c $< -o $@

build/certkeep: $(MUSL_CMD_OBJ) $(MUSL_LIB_OBJ) build/musl/crt/relr_start.o
	musl-gcc -static -s -Wl,--gc-sections -Wl,-z,noseparate-code -Wl,--build-id=none $(HARDEN_LD) \
	    -Wl,-Map=build/certkeep.map \
	    -o $@ $(call pie_start,/usr/lib/x86_64-linux-musl,musl-gcc) $(MUSL_CMD_OBJ) $(MUSL_LIB_OBJ) \
	    -L$(MUSL_DEPS)/lib $(LIBS) \
	    $(call pie_end,/usr/lib/x86_64-linux-musl,musl-gcc)

# arm64: the same sources, flags and pinned deps, cross-built with Debian's
# aarch64 gcc and musl (make setup installs them). Not part of `make deps`.
arm64: build/arm64/certkeep
$(ARM64_DEPS)/.done: scripts/deps.sh scripts/deps.lock
	scripts/deps.sh arm64 $(ARM64_DEPS)

# -mcmodel=tiny: one adr instead of adrp+add per address (8.5 KB less); the whole
# binary must stay under 1 MB, and the link fails if it does not.
build/arm64-obj/%.o: %.c $(wildcard lib/*/*.h cmd/certkeep/*.h) Makefile | $(ARM64_DEPS)/.done
	@mkdir -p $(@D)
	$(ARM64_CC) $(WARN) $(DEFS) $(CFLAGS) $(HARDEN_CC) -fno-pie -mcmodel=tiny -ffunction-sections -fdata-sections \
	    -fno-asynchronous-unwind-tables -fno-unwind-tables -I$(ARM64_DEPS)/include -c $< -o $@

build/arm64-obj/lib/crypto/rsagen.o: CFLAGS := -O2

build/arm64/certkeep: $(ARM64_OBJ)
	@mkdir -p $(@D)
	$(ARM64_CC) -static -s -Wl,--gc-sections -Wl,-z,noseparate-code -Wl,--build-id=none \
	    $(ARM64_HARDEN_LD) -o $@ $^ -L$(ARM64_DEPS)/lib $(LIBS)

# Release tarballs (scripts/dist.sh): amd64, and arm64 when build/arm64/certkeep exists
# (`make arm64` first, or `make dist ARCHES="amd64 arm64"` to build it).
.PHONY: dist
ARCHES ?= amd64$(if $(wildcard build/arm64/certkeep), arm64)
DIST_BIN_amd64 := build/certkeep
DIST_BIN_arm64 := build/arm64/certkeep
dist: $(foreach a,$(ARCHES),$(DIST_BIN_$(a))) scripts/dist.sh docker/INSTALL
	scripts/dist.sh $(VERSION) $(foreach a,$(ARCHES),$(a)=$(DIST_BIN_$(a)))

build/asan/%.o: %.c $(wildcard lib/*/*.h cmd/certkeep/*.h) | $(GLIBC_DEPS)/.done
	@mkdir -p $(@D)
	$(CC) $(WARN) $(DEFS) -O1 -g $(SAN) -I$(GLIBC_DEPS)/include -c $< -o $@

build/asan/libcertkeep.a: $(ASAN_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

build/asan/certkeep: $(ASAN_CMD_OBJ) build/asan/libcertkeep.a
	$(CC) $(SAN) -o $@ $^ -L$(GLIBC_DEPS)/lib $(LIBS)

build/asan/tests/%: tests/unit/%.c build/asan/libcertkeep.a
	@mkdir -p $(@D)
	$(CC) $(WARN) $(DEFS) -O1 -g $(SAN) -I$(GLIBC_DEPS)/include -Ilib -o $@ $< \
	    build/asan/libcertkeep.a -L$(GLIBC_DEPS)/lib $(LIBS) -lcmocka

asan: build/asan/certkeep $(UNIT_BIN)

# Coverage-guided fuzzing of every parser of untrusted input (clang's libFuzzer).
# FUZZ_TIME seconds per target (make fuzz FUZZ_TIME=10 for a short round).
FUZZ_BIN  := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TIME ?= 60
FUZZ_OBJ  := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
.SECONDARY: $(FUZZ_OBJ)
# Targets that include lib/http/http.c themselves (to replace ck_http_do) link without it.
FUZZ_NOT_fuzz_acme := build/fuzz/obj/lib/http/http.o
FUZZ_NOT_fuzz_http := build/fuzz/obj/lib/http/http.o
build/fuzz/obj/%.o: %.c $(wildcard lib/*/*.h) | $(GLIBC_DEPS)/.done
	@mkdir -p $(@D)
	clang $(WARN) $(DEFS) -g -O1 -fsanitize=fuzzer-no-link,address,undefined -I$(GLIBC_DEPS)/include -c $< -o $@
build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ) $(wildcard lib/*/*.h) | $(GLIBC_DEPS)/.done
	@mkdir -p $(@D)
	clang $(WARN) $(DEFS) -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -I$(GLIBC_DEPS)/include \
	    -o $@ $< $(filter-out $(FUZZ_NOT_$*),$(FUZZ_OBJ)) -L$(GLIBC_DEPS)/lib $(LIBS)

fuzz-tools:  # clang and its fuzzer runtime come from scripts/setup.sh (make setup)
	@command -v clang >/dev/null || { echo "fuzz: clang missing: run make setup" >&2; exit 1; }

# Part of make test: every harness builds and runs over the seeds once (no fuzzing).
fuzz-seeds: fuzz-tools
	$(MAKE) $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do $$f -runs=0 tests/fuzz/seeds >build/fuzz/$${f##*/}.seeds.log 2>&1 \
	    || { tail -n 30 build/fuzz/$${f##*/}.seeds.log; exit 1; }; done; echo "fuzz-seeds: $(words $(FUZZ_BIN)) harnesses ran their seeds"

fuzz: setup fuzz-tools
	$(MAKE) $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do echo "== $$f ($(FUZZ_TIME) s)"; mkdir -p build/fuzz/corpus-$${f##*/}; \
	    $$f -max_total_time=$(FUZZ_TIME) build/fuzz/corpus-$${f##*/} \
	        $$(test -d tests/fuzz/seeds && echo tests/fuzz/seeds) >build/fuzz/$${f##*/}.log 2>&1 \
	        || { tail -n 30 build/fuzz/$${f##*/}.log; exit 1; }; tail -n 1 build/fuzz/$${f##*/}.log; done

setup:
	scripts/setup.sh

# Every test: unit tests under ASan+UBSan, end-to-end against the static binary, then
# the container tests (their engines from Debian: scripts/containers-setup.sh).
test: setup
	scripts/containers-setup.sh
	$(MAKE) build/certkeep asan arm64 fuzz-seeds
	tests/run.sh

unit: asan
	tests/run.sh unit

e2e: build/certkeep build/asan/libcertkeep.a build/asan/certkeep build/arm64/certkeep
	tests/run.sh e2e

# The FROM scratch image certkeep:local (docker/Dockerfile), built by a real dockerd:
# $$DOCKER_HOST's, else a private one (scripts/image.sh). Installs docker.io when missing.
image:
	scripts/image.sh $(VERSION)

# The two-architecture image: certkeep:local (amd64) and the arm64 binary in one OCI
# image index (private podman; OCI layout in build/containers/certkeep-oci).
image-index: build/arm64/certkeep
	scripts/containers-setup.sh
	scripts/image-index.sh $(VERSION)

# The container tests alone (tests/containers, also part of `make test`): one private
# dockerd, the image, compose up, podman kube play, the image index.
test-containers: build/certkeep build/arm64/certkeep
	scripts/containers-setup.sh
	tests/run.sh containers

demo: setup
	$(MAKE) build/certkeep
	scripts/demo.sh

bench: setup
	$(MAKE) build/certkeep
	bench/run.sh

clean:
	rm -rf build/musl build/asan build/fuzz build/certkeep build/arm64 build/arm64-obj
