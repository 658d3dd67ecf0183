# shellcheck shell=bash disable=SC2034 # the names are used by the scripts that source this
# What both upgrade tests (deb-upgrade-test.sh, deb-upgrade-replay-test.sh)
# start with: their arguments, the packages' names and paths, messages
# prefixed with the test's NAME, the checks before anything is installed,
# and a temporary directory whose cleanup purges the packages and puts back
# a config the test moved aside. Sourced after setting NAME:
#   NAME=deb-upgrade-test; . "$(dirname "$0")/deb-upgrade-lib.sh" "$@"
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
new_dir=${1:?NEW_DEB_DIR}
old_rev=${2:?OLD_REV}
case $new_dir in /*) ;; *) new_dir=$top/$new_dir ;; esac

PKG=libpam-xtoken
LUA_PKG=lua-xtoken
CONF=/etc/security/pam_xtoken.conf
REPLAY_DIR=/run/pam_xtoken
JID=alice@upgrade.example

say() { echo "$NAME: $*"; }
fail() { echo "$NAME: FAIL: $*" >&2; exit 1; }
is_known() { dpkg-query -W "$1" >/dev/null 2>&1; }
purge_all() {
    for p in "$LUA_PKG" "$PKG"; do
        if is_known "$p"; then dpkg --purge "$p" >/dev/null 2>&1 || true; fi
    done
}

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
# lua-xtoken first: unpacked while an old libpam-xtoken still owns the
# provider, the order in which only Replaces avoids a file conflict; its
# Breaks has the old package deconfigured until it is upgraded too.
new_debs=("$new_dir/${LUA_PKG}"_*.deb "$new_dir/${PKG}"_*.deb)
for d in "${new_debs[@]}"; do [ -f "$d" ] || fail "no $d (run make deb)"; done
git -C "$top" cat-file -e "$old_rev^{commit}" 2>/dev/null \
    || fail "no commit $old_rev in this clone (shallow clone or tarball): cannot build the old package"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX")
cleanup() {
    rc=$?
    purge_all
    if [ -e "$tmp/saved.conf" ]; then mv "$tmp/saved.conf" "$CONF"; fi
    rm -rf "$tmp"
    [ $rc = 0 ] || echo "$NAME: FAILED (exit $rc)" >&2
    exit $rc
}
trap cleanup EXIT

# Start clean: leftovers of an earlier run; someone's own config kept aside.
purge_all
if [ -e "$CONF" ] || [ -L "$CONF" ]; then
    say "moving aside an existing $CONF (restored at exit)"
    mv "$CONF" "$tmp/saved.conf"
fi
