#!/usr/bin/env bash
# Lua tests of the binding (make check-lua): the built module's symbols and
# flags, then tests/lua/binding.lua run by lua5.4 against BUILD/lua/xtoken.so
# (never an installed one), with BUILD's xtoken and pamcheck + pam_xtoken.so
# for the replay store shared with the tool and the PAM module.
#   tests/lua/run.sh BUILD_DIR
# LUA: the interpreter (default lua5.4). LUA_PRELOAD: a library to preload
# into it (check-asan: the ASan runtime, lua5.4 itself is not built with it).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=$(realpath "${1:-build}")
LUA=${LUA:-lua5.4}
MODULE=$BUILD/lua/xtoken.so

fail() { echo "FAIL: $*" >&2; exit 1; }

# --- the module exports luaopen_xtoken only, stays mapped, full RELRO ---
exported=$(nm -D --defined-only "$MODULE" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort | tr '\n' ' ')
[ "$exported" = "luaopen_xtoken " ] || fail "exported symbols: '$exported'"
flags=$(readelf -d "$MODULE")
grep -q 'FLAGS_1.*NODELETE' <<<"$flags" && grep -q 'BIND_NOW' <<<"$flags" \
    || fail "module lacks NODELETE or BIND_NOW: $flags"
# the interpreter provides the Lua API: a second liblua in the process breaks it
! grep -q 'NEEDED.*liblua' <<<"$flags" || fail "module is linked with liblua"
echo "check-lua: $MODULE exports luaopen_xtoken only, NODELETE, BIND_NOW, no liblua"

T=$(mktemp -d "${TMPDIR:-/tmp}/xtoken-lua.XXXXXX")
trap 'rm -rf "$T"' EXIT
# Config files the tests write must not be group/other-readable.
umask 077
env ${LUA_PRELOAD:+LD_PRELOAD="$LUA_PRELOAD"} \
    LUA_CPATH_5_4="$BUILD/lua/?.so" LUA_PATH_5_4="$PWD/tests/lua/?.lua" \
    XT_TEST_DIR="$T" XTOKEN="$BUILD/xtoken" PAMCHECK="$BUILD/tests/pamcheck" \
    PAM_MODULE="$BUILD/pam_xtoken.so" \
    "$LUA" tests/lua/binding.lua
