# Benchmarks (issue 8): `make bench` (not part of `make check`) measures the
# library, PAM round trips and extauth side by side with the alternatives;
# `make bench-e2e` measures logins against a throwaway ejabberd, then the
# Prosody login storm (`make bench-prosody` alone: bench/prosody_storm.sh).
BENCH_DIR  := $(BUILD)/bench
BENCH_BINS := $(BENCH_DIR)/xtbench $(BENCH_DIR)/pam_loop $(BENCH_DIR)/yes_responder \
              $(BENCH_DIR)/rss_floor
BENCH_PYTHON ?= /usr/bin/python3
BENCH_ARGS ?=

.PHONY: bench bench-e2e bench-prosody bench-build

$(BENCH_DIR)/xtbench: bench/xtbench.c bench/read_exact.h shared/xtoken.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

# Linked with libpam only, like epam or saslauthd.
$(BENCH_DIR)/pam_loop: bench/pam_loop.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< -lpam

$(BENCH_DIR)/yes_responder: bench/yes_responder.c bench/read_exact.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

$(BENCH_DIR)/rss_floor: bench/rss_floor.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(call pkg,--libs,openssl)

bench-build: all $(BUILD)/xtoken $(BENCH_BINS)

bench: bench-build
	$(BENCH_DIR)/xtbench --build $(BUILD) --scripts bench --python $(BENCH_PYTHON) $(BENCH_ARGS)

# Needs root and tests/install-deps.sh e2e prosody (ejabberd, Prosody, strace).
# BENCH_LOGINS=N (ejabberd); BENCH_STORM_LOGINS, BENCH_STORM_ROUNDS,
# BENCH_STORM_CLIENTS, BENCH_USER_EXISTS, BENCH_PROSODY_BEFORE=REV (Prosody).
bench-e2e: all $(BUILD)/xtoken
	bench/e2e.sh
	bench/prosody_storm.sh

bench-prosody: all $(BUILD)/xtoken
	bench/prosody_storm.sh

# The Lua binding's v:verify next to the handle called from C, same tokens,
# same loop, one run (bench/lua_bench.lua); run first by `make bench`.
$(BENCH_DIR)/lua_ref: bench/lua_ref.c shared/xtoken.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

.PHONY: bench-lua
bench-lua: $(BUILD)/lua/xtoken.so $(BENCH_DIR)/lua_ref
	LUA_CPATH_5_4='$(abspath $(BUILD))/lua/?.so' $(LUA) bench/lua_bench.lua \
	  $(abspath $(BENCH_DIR))/lua_ref $(if $(findstring --quick,$(BENCH_ARGS)),--quick)

bench: bench-lua
