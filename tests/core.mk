# Tests of the library core and the PAM module (make check-unit, check-pam).
TEST_LIBS = $(LIB) $(LIBS) $(call pkg,--libs,$(CHECK_PKG))
TEST_CFLAGS = $(ALL_CPPFLAGS) $(call pkg,--cflags,$(CHECK_PKG)) $(ALL_CFLAGS)

UNIT_SRCS := $(wildcard tests/unit/*.c)
$(BUILD)/tests/unit: $(UNIT_SRCS) tests/unit/unit.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(ALL_LDFLAGS) -o $@ $(UNIT_SRCS) $(TEST_LIBS)

$(BUILD)/tests/pamcheck: tests/pam/pamcheck.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

.PHONY: check-unit check-pam
check-unit: $(BUILD)/tests/unit
	rm -rf $(BUILD)/tmp-unit && mkdir -p $(BUILD)/tmp-unit
	TMPDIR=$(abspath $(BUILD)/tmp-unit) $(BUILD)/tests/unit
	rm -rf $(BUILD)/tmp-unit

check-pam: $(PAM_MOD) $(BUILD)/tests/pamcheck
	tests/pam/run.sh $(BUILD)

CHECK_TARGETS += check-unit check-pam
