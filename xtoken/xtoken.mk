# The xtoken command-line tool (issue 3): build/xtoken, make check-xtoken.
# Objects go to build/xtoken.o/ (build/xtoken itself is the program).
# XTOKEN_CORE_SRCS is every file but main.c: a fuzzer or test harness can
# link them to drive extauth_serve() / extauth_parse_request() directly.

# `xtoken doctor` (doctor*.c) reads ejabberd.yml with libyaml and runs
# Prosody's Lua config in a sandboxed Lua 5.4 state: only the program links
# them, never the library or the PAM module. The Lua half of the Prosody
# config loader (doctor_prosody.lua) becomes a C string in $(BUILD)/gen.

XTOKEN_SRCS      := $(wildcard xtoken/*.c)
XTOKEN_CORE_SRCS := $(filter-out xtoken/main.c xtoken/doctor%.c,$(XTOKEN_SRCS))
XTOKEN_OBJS      := $(XTOKEN_SRCS:xtoken/%.c=$(BUILD)/xtoken.o/%.o)
XTOKEN           := $(BUILD)/xtoken
XTOKEN_PKGS      := yaml-0.1 lua5.4
XTOKEN_GEN       := $(BUILD)/gen
XTOKEN_CPPFLAGS   = -Ixtoken -I$(XTOKEN_GEN) -DXT_PAM_MODULE_DIR='"$(PAM_MODULE_DIR)"' \
                    $(call pkg,--cflags,$(XTOKEN_PKGS))
XTOKEN_LIBS       = $(call pkg,--libs,$(XTOKEN_PKGS))

.PHONY: check-xtoken
all: $(XTOKEN)

$(BUILD)/xtoken.o/%.o: xtoken/%.c xtoken/*.h shared/xtoken.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(XTOKEN_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# Each line a C string literal: \\ and " escaped, ? too (no trigraphs in C11).
$(XTOKEN_GEN)/doctor_prosody_lua.h: xtoken/doctor_prosody.lua
	@mkdir -p $(@D)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@.tmp
	mv $@.tmp $@

$(BUILD)/xtoken.o/doctor_prosody.o: $(XTOKEN_GEN)/doctor_prosody_lua.h

$(XTOKEN): $(XTOKEN_OBJS) $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(XTOKEN_OBJS) $(LIB) $(LIBS) $(XTOKEN_LIBS)

check-xtoken: $(XTOKEN)
	XTOKEN=$(abspath $(XTOKEN)) tests/xtoken/run

CHECK_TARGETS += check-xtoken
