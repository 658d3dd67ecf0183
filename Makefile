# pam_xtoken — top-level build.
#   make              build/pam_xtoken.so, build/libxtoken.a, build/xtoken
#   make check        every test (unit, PAM, tool, replay, ...)
#   make demo         the whole flow end to end on a throwaway setup
# Area-specific rules live in */*.mk fragments included at the end. Each one
# appends its targets to CHECK_TARGETS (run by `make check`), E2E_TARGETS
# (run by `make e2e`, real servers) or CI_TARGETS (run by `make ci` after
# check, in the order listed; .ci/run runs `make check` then `make ci`).

CC       ?= cc
PKG      ?= pkg-config
BUILD    ?= build
PREFIX   ?= /usr
DESTDIR  ?=

PKGS      := pam openssl liboath hiredis
CHECK_PKG := check

WARN := -std=c11 -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wwrite-strings -Wcast-qual -Wnull-dereference
# Hardening defaults; dpkg-buildflags (CFLAGS/CPPFLAGS/LDFLAGS) may add more.
HARDEN_CFLAGS  := -fstack-protector-strong -fPIC
HARDEN_LDFLAGS := -Wl,-z,relro -Wl,-z,now

# $(call pkg,OPTION,PACKAGES): pkg-config's answer, asked once and only when
# a recipe needs it, so that `make check` and `make demo` can install the
# build dependencies first; a missing package is named, with the fix.
empty :=
space := $(empty) $(empty)
pkg_key = _pkg$(subst =,_,$(subst $(space),_,$(strip $1 $2)))
pkg = $(if $(filter undefined,$(origin $(pkg_key))),$(eval $(pkg_key) := $(call pkg_ask,$1,$2)))$($(pkg_key))
pkg_ask = $(if $(shell $(PKG) --exists $2 2>/dev/null && echo y),$(shell $(PKG) $1 $2),$(error \
  missing build dependencies (pkg-config finds no $(shell for p in $2; do $(PKG) --exists $$p \
  2>/dev/null || printf '%s ' $$p; done)): as root, run tests/install-deps.sh build))

CFLAGS   ?= -O2 -g
CPPFLAGS ?= -D_FORTIFY_SOURCE=2
ALL_CPPFLAGS  = -D_GNU_SOURCE -Ishared $(CPPFLAGS) $(call pkg,--cflags,$(PKGS))
ALL_CFLAGS   := $(WARN) $(HARDEN_CFLAGS) $(CFLAGS)
ALL_LDFLAGS  := $(HARDEN_LDFLAGS) $(LDFLAGS)
LIBS          = $(call pkg,--libs,$(PKGS))

LIB_SRCS := $(wildcard shared/*.c)
LIB_OBJS := $(LIB_SRCS:shared/%.c=$(BUILD)/shared/%.o)
LIB      := $(BUILD)/libxtoken.a
PAM_MOD  := $(BUILD)/pam_xtoken.so

CHECK_TARGETS :=
E2E_TARGETS   :=
CI_TARGETS    :=

.PHONY: all check check-run e2e ci clean
all: $(LIB) $(PAM_MOD)

$(BUILD)/shared/%.o: shared/%.c shared/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/pam_xtoken/%.o: pam_xtoken/%.c pam_xtoken/*.h shared/xtoken.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

PAM_OBJS := $(patsubst pam_xtoken/%.c,$(BUILD)/pam_xtoken/%.o,$(wildcard pam_xtoken/*.c))
# -z nodelete: Linux-PAM dlopens the module at every pam_start and dlcloses
# it at pam_end; staying mapped (the module has no global state) spares the
# dynamic loader per authentication, which otherwise costs more than the
# whole check (make bench: pam_auth_per_s against pam_permit.so).
$(PAM_MOD): $(PAM_OBJS) $(LIB) pam_xtoken/pam_xtoken.map
	$(CC) -shared $(ALL_CFLAGS) $(ALL_LDFLAGS) -Wl,--version-script=pam_xtoken/pam_xtoken.map \
	  -Wl,--no-undefined -Wl,-z,nodelete -o $@ $(PAM_OBJS) $(LIB) $(LIBS)

clean:
	rm -rf $(BUILD)

include $(sort $(wildcard */*.mk tests/*/*.mk))

# make check first installs what its suites need (as root, on Debian: the
# lists in tests/deps/; nothing when they are there), then runs them.
# After the fragments, so every CHECK_TARGETS += has been seen.
CHECK_DEPS := build check
check:
	@tests/install-deps.sh $(CHECK_DEPS)
	@$(MAKE) --no-print-directory check-run
check-run: all $(CHECK_TARGETS)
e2e: all $(E2E_TARGETS)
ci:
	set -e; for t in $(CI_TARGETS); do $(MAKE) $$t; done
