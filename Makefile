# dhis2sync — one Makefile, top to bottom.
#   make            optimized build/dhis2sync and build/dhis2-emulator
#   make asan       the same with AddressSanitizer + UBSan, in build/asan/
#   make test       the whole suite (unit + integration); `make asan test` runs it on the ASan build
#   make run        sets up a private PostgreSQL under var/pg and serves on :4999
#   make deps       installs every package the build, the server and the tests need (apt-get, npm)
#   make bench      one table of throughput, CPU and memory against the usual script; asserts nothing
#   make long-test  the 10-minute scheduling acceptance run (not part of `make test`)
#   make soak       the long reliability cases: outages of minutes (about 25 minutes; not in `make test`)
#   make docker-test  builds the image and runs it (needs root and docker.io; not part of `make test`)
#   make demo       two DHIS2 emulators and dhis2sync between them, a job run once; Ctrl-C stops it

PKGS     := lua5.4 libcurl libpq libmicrohttpd libcjson libcrypto zlib libdeflate
# pkg-config is asked when a recipe first needs its answer ($@ is set), not when make reads
# this file: `make deps run` reads it before deps has installed anything. Only a good answer is
# kept; keep PKG_CFLAGS and PKG_LIBS out of `:=`, which would ask while reading.
pkg_config = $(or $(pkg_$1),$(eval pkg_$1 := $(shell pkg-config --$1 $(PKGS)))$(if \
  $(filter-out 0,$(.SHELLSTATUS)),$(eval pkg_$1 :=)$(if $@,$(error pkg-config does not find \
  all of $(PKGS): run `make deps`)))$(pkg_$1))
PKG_CFLAGS = $(call pkg_config,cflags)
PKG_LIBS   = $(call pkg_config,libs) -lcrypt -lpthread -lm
# `make deps run` (even with -j): nothing is compiled before deps has finished
DEPS_FIRST := $(filter deps,$(MAKECMDGOALS))

ifneq ($(filter asan,$(MAKECMDGOALS)),)
BUILD    := build/asan
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow
LDOPT    := -fsanitize=address,undefined,float-cast-overflow
else
BUILD    := build
OPT      := -O2 -g
LDOPT    :=
endif

CC       ?= cc
# snprintf truncation is how we bound every path and message, so that warning is off
CFLAGS   = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -MMD -MP $(OPT) -Ihost $(PKG_CFLAGS)
LDFLAGS  := $(LDOPT)

HOST_SRC := $(filter-out host/main.c,$(wildcard host/*.c))
HOST_OBJ := $(HOST_SRC:%.c=$(BUILD)/%.o)
EMU_SRC  := $(wildcard spec/emulator/*.c)
EMU_OBJ  := $(EMU_SRC:%.c=$(BUILD)/%.o)
SPEC_SRC := $(wildcard spec/*.c spec/reliability/*.c spec/fuzz/*_fuzz.c)
SPEC_OBJ := $(SPEC_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC := $(wildcard bench/*.c)

.PHONY: all asan test long-test soak docker-test demo run deps bench bench-meta clean
all: $(BUILD)/dhis2sync $(if $(EMU_SRC),$(BUILD)/dhis2-emulator) $(BUILD)/spec/run
asan: all

$(BUILD)/%.o: %.c | $(DEPS_FIRST)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libhost.a: $(HOST_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/dhis2sync: $(BUILD)/host/main.o $(BUILD)/libhost.a
	@echo "  LINK  $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/dhis2-emulator: $(EMU_OBJ) $(BUILD)/libhost.a
	@echo "  LINK  $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/spec/run: $(SPEC_OBJ) $(BUILD)/libhost.a
	@echo "  LINK  $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libhost.a | $(DEPS_FIRST)
	@mkdir -p $(dir $@)
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(PKG_LIBS)

# The suite runs the binaries of the build it was asked with (build/ or build/asan/).
test: all $(BUILD)/bench/sync_bench
	DHIS2SYNC_BUILD=$(BUILD) $(BUILD)/spec/run $(T)

# Outside the normal suite (about 10 minutes): a */1 schedule across serve and two workers.
long-test: all
	BUILD=$(BUILD) sh spec/long/run.sh

# Outside the normal suite (about 25 minutes): spec/reliability/soak/, outages of minutes.
soak: all
	BUILD=$(BUILD) sh spec/reliability/soak/run.sh $(T)

# The image built from Debian's packages alone and run: health, non-root, a sync, backup/restore.
docker-test: all
	BUILD=$(BUILD) bash spec/docker/test.sh

demo: all
	BUILD=$(BUILD) bash spec/demo/run.sh

run: $(BUILD)/dhis2sync
	$(BUILD)/dhis2sync serve

deps:
	bash .ci/deps.sh

# One table (bench/sync_bench.c, about 10 minutes; BENCH_MAX=1000000 leaves out 10 M values),
# also written to bench/results.json. The other bench/ programs are built to be run by hand.
bench: $(BENCH_SRC:%.c=$(BUILD)/%) all
	DHIS2SYNC_BUILD=$(BUILD) BENCH_MAX=$(BENCH_MAX) $(BUILD)/bench/sync_bench

# the metadata kind's memory at 50 000 objects alone (also part of `make bench`)
bench-meta: $(BUILD)/bench/meta_bench all
	DHIS2SYNC_BUILD=$(BUILD) $(BUILD)/bench/meta_bench

clean:
	rm -rf build

-include $(HOST_OBJ:.o=.d) $(EMU_OBJ:.o=.d) $(SPEC_OBJ:.o=.d) $(BUILD)/host/main.d

# ---- fuzzing: `make fuzz [FUZZ_S=60]` builds the libFuzzer harnesses of spec/fuzz/ with clang
# into build/fuzz/ and runs each for FUZZ_S seconds, two at a time (see spec/fuzz/run.sh).
FUZZ_S      ?= 60
FUZZ_CC     ?= clang
FUZZ_CFLAGS  = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP -g -O1 -fno-omit-frame-pointer \
              -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -Ihost $(PKG_CFLAGS)
FUZZ_NAMES  := $(patsubst spec/fuzz/%_fuzz.c,%,$(wildcard spec/fuzz/*_fuzz.c))
FUZZ_OBJ    := $(HOST_SRC:%.c=build/fuzz/%.o)

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (fuzz)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

build/fuzz/%_fuzz: build/fuzz/spec/fuzz/%_fuzz.o spec/fuzz/libfuzzer.c $(FUZZ_OBJ)
	@echo "  LINK  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -DFUZZ_ENTRY=fuzz_$* -o $@ spec/fuzz/libfuzzer.c \
		$(filter %.o,$^) $(PKG_LIBS)

.PHONY: fuzz
.PRECIOUS: build/fuzz/%.o
fuzz: $(FUZZ_NAMES:%=build/fuzz/%_fuzz)
	sh spec/fuzz/run.sh $(FUZZ_S) $(FUZZ_NAMES)

-include $(wildcard build/fuzz/host/*.d build/fuzz/spec/fuzz/*.d)
