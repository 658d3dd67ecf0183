# The Lua 5.4 binding of libxtoken (issue 12): build/lua/xtoken.so, loaded
# with require "xtoken" (LUA_CPATH_5_4="build/lua/?.so;;" runs an
# uninstalled build); make check-lua runs tests/lua/ with lua5.4.
#
# Linked like the PAM module: libxtoken.a (built -fPIC) inside, only
# luaopen_xtoken exported, -z nodelete (libxtoken installs a SIGBUS handler
# whose code must stay mapped after lua_close dlcloses the module). Not
# linked with liblua5.4 and not -Wl,--no-undefined: the Lua API comes from
# the interpreter that loads the module (a second copy of Lua in the process
# would break it). --as-needed: only the libraries the library really uses
# (no libpam, no libyaml).

LUA_PKG     := lua5.4
LUA_MOD     := $(BUILD)/lua/xtoken.so
LUA_OBJS    := $(BUILD)/lua/binding.o
LUA_CFLAGS   = $(call pkg,--cflags,$(LUA_PKG)) -Ixtoken
LUA_MOD_LIBS = $(call pkg,--libs,openssl liboath hiredis)
# Where Debian's lua5.4 looks for C modules (/usr/lib/<multiarch>/lua/5.4).
LUA_CMOD_DIR ?= $(shell $(PKG) --variable=INSTALL_CMOD $(LUA_PKG) 2>/dev/null || \
                  echo /usr/lib/$$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || \
                  $(CC) -print-multiarch)/lua/5.4)
LUA          ?= lua5.4

.PHONY: check-lua
all: $(LUA_MOD)

$(BUILD)/lua/%.o: lua/%.c shared/xtoken.h xtoken/tool.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(LUA_CFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LUA_MOD): $(LUA_OBJS) $(LIB) lua/binding.map
	$(CC) -shared $(ALL_CFLAGS) $(ALL_LDFLAGS) -Wl,--version-script=lua/binding.map \
	  -Wl,-z,nodelete -Wl,--as-needed -o $@ $(LUA_OBJS) $(LIB) $(LUA_MOD_LIBS)

# LUA_PRELOAD: set by check-asan to the ASan runtime (lua5.4 itself is not
# built with it).
check-lua: $(LUA_MOD) $(BUILD)/xtoken $(PAM_MOD) $(BUILD)/tests/pamcheck
	LUA='$(LUA)' LUA_PRELOAD='$(LUA_PRELOAD)' tests/lua/run.sh $(BUILD)

CHECK_TARGETS += check-lua
