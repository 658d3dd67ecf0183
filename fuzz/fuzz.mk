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

# FUZZ_JOBS targets run at a time (one core each, the machine's cores by
# default): every target still gets FUZZ_SECONDS of a core of its own.
# A target passed when libFuzzer reached its "Done N runs" line.
FUZZ_JOBS ?= $(shell nproc 2>/dev/null || echo 1)

fuzz: fuzz-build
	@echo "fuzz: $(FUZZ_TARGETS), $(FUZZ_SECONDS) s each, $(FUZZ_JOBS) at a time"
	@printf '%s\n' $(FUZZ_TARGETS) | \
	  xargs -P $(FUZZ_JOBS) -n 1 fuzz/run-target.sh $(FUZZ_DIR) $(FUZZ_SECONDS) || true
	@set -e; for t in $(FUZZ_TARGETS); do \
	  if ! grep -q '^Done [0-9]* runs' $(FUZZ_DIR)/$$t.log; then \
	    tail -60 $(FUZZ_DIR)/$$t.log; echo "fuzz: $$t FAILED (log $(FUZZ_DIR)/$$t.log)"; exit 1; fi; \
	  echo "fuzz: $$t: $$(grep -E '^stat::number_of_executed_units' $(FUZZ_DIR)/$$t.log)"; \
	done; echo "fuzz: $(words $(FUZZ_TARGETS)) targets passed"

# .ci/run: each target for FUZZ_SECONDS (60 s by default).
CI_TARGETS += fuzz
