# Replay store tests (issue 4): `make check-replay`, part of `make check`.
# Runs as any user; the chown/setuid cases run only as root (as in CI).
# Needs what tests/deps/core.apt installs (check, python3), and setpriv,
# unshare and mountpoint (util-linux).
REPLAY_CHECK := $(BUILD)/tests/replay/check_replay
REPLAY_BENCH := $(BUILD)/tests/replay/bench_replay
REPLAY_TEST_LIBS = $(call pkg,--libs,check openssl liboath pam hiredis)

$(BUILD)/tests/replay/%: tests/replay/%.c tests/replay/testkeys.h $(LIB) shared/xtoken.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(call pkg,--cflags,check) $(ALL_CFLAGS) $(ALL_LDFLAGS) \
	  -o $@ $< $(LIB) $(REPLAY_TEST_LIBS)

.PHONY: check-replay bench-replay
# Check unit and multi-process tests, then the store through the real PAM
# module and the xtoken tool (tests/replay/stack.sh), then a local user
# trying to make a service's logins fail through the replay directory
# (tests/replay/localdos.sh: as root, in a mount namespace of its own).
check-replay: $(REPLAY_CHECK) $(PAM_MOD) $(BUILD)/tests/pamcheck $(BUILD)/xtoken
	$(REPLAY_CHECK)
	tests/replay/stack.sh $(BUILD)
	tests/replay/localdos.sh $(BUILD)

# Cost of one xt_replay_use (not part of check): long-lived handle and
# one handle per use (the PAM module's case).
bench-replay: $(REPLAY_BENCH)
	$(REPLAY_BENCH)

CHECK_TARGETS += check-replay
