# Fuzzing (issue 8): `make fuzz FUZZ_SECONDS=N` builds every target with
# clang + libFuzzer + ASan + UBSan (leak detection on) and runs each for N
# seconds from its committed seed corpus (fuzz/corpus/<target>/). New inputs
# go to $(BUILD)/fuzz/corpus/<target>/, crashes to $(BUILD)/fuzz/artifacts/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# Others' code must not break the fuzz build on a clang-only warning.
FUZZ_CFLAGS  := -g -O1 $(filter-out -Werror,$(WARN)) $(FUZZ_SAN)
FUZZ_CPPFLAGS = -D_GNU_SOURCE -Ishared $(call pkg,--cflags,$(PKGS))
FUZZ_LIB_OBJS := $(LIB_SRCS:shared/%.c=$(FUZZ_DIR)/obj/shared/%.o)

# extauth links the tool's code without main.c (as XTOKEN_CORE_SRCS in
# xtoken/xtoken.mk, which is included after this file).
FUZZ_TARGETS := verify config replay extauth redis credentials
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
# (doctor*.c, reached from main.c only, would drag in libyaml and Lua.)
FUZZ_XTOKEN_SRCS := $(filter-out xtoken/main.c xtoken/doctor%.c,$(wildcard xtoken/*.c))
FUZZ_XTOKEN_OBJS := $(FUZZ_XTOKEN_SRCS:xtoken/%.c=$(FUZZ_DIR)/obj/xtoken/%.o)

.PHONY: fuzz fuzz-build
.PRECIOUS: $(FUZZ_DIR)/obj/shared/%.o $(FUZZ_DIR)/obj/xtoken/%.o
fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/shared/%.o: shared/%.c shared/*.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/obj/xtoken/%.o: xtoken/%.c xtoken/*.h shared/xtoken.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -Ixtoken $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/fuzz_extauth: fuzz/fuzz_extauth.c $(FUZZ_XTOKEN_OBJS) $(FUZZ_LIB_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -Ixtoken $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	  $(FUZZ_XTOKEN_OBJS) $(FUZZ_LIB_OBJS) $(LIBS)

# xtoken-credentials' code without main.c, and the log functions it calls.
FUZZ_CRED_OBJS := $(patsubst credentials/%.c,$(FUZZ_DIR)/obj/credentials/%.o,\
                    $(filter-out credentials/main.c,$(wildcard credentials/*.c))) \
                  $(FUZZ_DIR)/obj/xtoken/log.o
.PRECIOUS: $(FUZZ_DIR)/obj/credentials/%.o

$(FUZZ_DIR)/obj/credentials/%.o: credentials/%.c credentials/*.h shared/xtoken.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -Icredentials -Ixtoken $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/fuzz_credentials: fuzz/fuzz_credentials.c $(FUZZ_CRED_OBJS) $(FUZZ_LIB_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -Icredentials $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	  $(FUZZ_CRED_OBJS) $(FUZZ_LIB_OBJS) $(LIBS)

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(LIBS)

# -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds memory.
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t- \
	    $(FUZZ_DIR)/corpus/$$t fuzz/corpus/$$t 2>$(FUZZ_DIR)/$$t.log \
	    || { tail -60 $(FUZZ_DIR)/$$t.log; echo "fuzz: $$t FAILED (log $(FUZZ_DIR)/$$t.log)"; exit 1; }; \
	  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' $(FUZZ_DIR)/$$t.log || true; \
	done; echo "fuzz: $(words $(FUZZ_TARGETS)) targets passed"

# .ci/run: each target for FUZZ_SECONDS (60 s by default).
CI_TARGETS += fuzz
