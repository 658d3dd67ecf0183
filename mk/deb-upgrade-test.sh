#!/usr/bin/env bash
# Upgrade test (make deb-test-upgrade, as root on Debian 12): the package of
# an older release, built from this clone's git history, is installed and
# used; then this tree's libpam-xtoken and lua-xtoken are installed over it.
# Checks: the Prosody provider moves from libpam-xtoken to lua-xtoken
# without a file conflict (Breaks/Replaces), postinst removes the replay
# stores of the old format and prints its one-line restart notice, the
# config and its keys are kept, and tokens verify through xtoken and the
# Lua binding afterwards; then both are purged.
#   mk/deb-upgrade-test.sh NEW_DEB_DIR OLD_REV
set -euo pipefail
NAME=deb-upgrade-test
# shellcheck source=mk/deb-upgrade-lib.sh
. "$(dirname "$0")/deb-upgrade-lib.sh" "$@"
PROVIDER=/usr/lib/prosody/modules/mod_auth_xtoken.lua
version_of() { dpkg-query -W -f='${Version}' "$1"; }

# ---- the old release's package ---------------------------------------------------
say "building $PKG from $old_rev"
"$top/mk/deb-old-build.sh" "$old_rev" "$tmp/old" "$tmp/old-debs" || fail "building the old package"
old_version=$(dpkg-parsechangelog -l "$tmp/old/debian/changelog" -S Version)
new_version=$(dpkg-deb -f "${new_debs[0]}" Version)
dpkg --compare-versions "$old_version" lt 0.2.0 \
    || fail "$old_rev is version $old_version: want one before 0.2.0"
old_deb=$(ls "$tmp/old-debs/${PKG}_${old_version}_"*.deb)
dpkg -i "$old_deb" > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -i $old_deb"; }
[ "$(version_of "$PKG")" = "$old_version" ] || fail "$PKG $old_version is not installed"
dpkg -S "$PROVIDER" 2>/dev/null | grep -q "^$PKG: " || fail "$PKG $old_version does not ship $PROVIDER"
tok=$(xtoken issue "$JID")
printf '%s\n' "$tok" | xtoken verify "$JID" || fail "verify with $PKG $old_version"
[ -f "$REPLAY_DIR/0.store" ] || fail "the old version made no store $REPLAY_DIR/0.store"
conf_sum=$(sha256sum < "$CONF")
say "$PKG $old_version installed, ships $PROVIDER, a token verified: $REPLAY_DIR/0.store exists"

# ---- the upgrade ---------------------------------------------------------------
dpkg --auto-deconfigure -i "${new_debs[@]}" > "$tmp/upgrade.out" 2>&1 || { cat "$tmp/upgrade.out" >&2; fail "dpkg -i over $old_version"; }
for p in "$PKG" "$LUA_PKG"; do
    [ "$(version_of "$p")" = "$new_version" ] || fail "$p is $(version_of "$p"), want $new_version"
done
owner=$(dpkg -S "$PROVIDER" 2>/dev/null | cut -d: -f1)
[ "$owner" = "$LUA_PKG" ] || fail "$PROVIDER belongs to '$owner' after the upgrade, want $LUA_PKG"
[ -e "$REPLAY_DIR/0.store" ] && fail "the upgrade kept the old store $REPLAY_DIR/0.store"
notice=$(grep '^libpam-xtoken: restart' "$tmp/upgrade.out") \
    || { cat "$tmp/upgrade.out" >&2; fail "no restart notice"; }
[ "$(sha256sum < "$CONF")" = "$conf_sum" ] || fail "the upgrade changed $CONF"
say "upgraded to $new_version: $PROVIDER now in $LUA_PKG, old store removed, $CONF kept"
say "postinst said: $notice"

# ---- tokens after the upgrade: one store, shared by xtoken and Lua --------------
tok=$(xtoken issue "$JID")
got=$(JID=$JID TOKEN=$tok env -u LUA_CPATH -u LUA_CPATH_5_4 lua5.4 -e '
    local v = assert(require("xtoken").new("'"$CONF"'"))
    print(v:verify(os.getenv("JID"), os.getenv("TOKEN")))')
[ "$got" = true ] || fail "Lua after the upgrade: $got"
printf '%s\n' "$tok" | xtoken verify "$JID" 2> "$tmp/verify.err" && fail "xtoken verify accepted the token Lua used"
grep -q replayed "$tmp/verify.err" || { cat "$tmp/verify.err" >&2; fail "wrong refusal"; }
say "a fresh token: Lua accepts it, then xtoken verify refuses it as replayed"

# ---- purge ------------------------------------------------------------------------
purge_all
for p in "$LUA_PKG" "$PKG"; do is_known "$p" && fail "$p still known to dpkg after purge"; done
[ -e "$PROVIDER" ] && fail "purge left $PROVIDER"
[ -e "$CONF" ] && fail "purge left $CONF"
getent group xtoken > /dev/null && fail "purge left the group xtoken"
say "PASS"
