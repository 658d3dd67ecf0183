#!/usr/bin/env bash
# Upgrade test of the replay directory (make deb-test-upgrade-replay, as
# root on Debian 12 with ejabberd and prosody installed, in a throwaway
# root: tests/fresh/root.sh). The package of 0.2.0 (built from this
# clone's git history: OLD_REV) made /run/pam_xtoken root 1733 with every
# store directly in it. It is installed and used by root and prosody; user
# nobody then plants entries there (a service's directory name, a service's
# store name, a big file, a symlink). Then this tree's packages are
# installed over it. Checks: the directory is root's 0755, ejabberd and
# prosody have their 0700 directories, prosody's store moved into its own
# (the token it used is still refused), root's kept, nobody's entries gone,
# postinst printed its restart notice; fresh tokens verify for root, prosody
# and ejabberd; nobody cannot create anything there any more; purge removes it.
#   mk/deb-upgrade-replay-test.sh NEW_DEB_DIR OLD_REV
set -euo pipefail
NAME=deb-upgrade-replay-test
# shellcheck source=mk/deb-upgrade-lib.sh
. "$(dirname "$0")/deb-upgrade-lib.sh" "$@"
mode_of() { stat -c '%a %U %G' "$1"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
verify_as() { # USER TOKEN: xtoken verify as USER (root: directly), stderr to $tmp/verify.err
    if [ "$1" = root ]; then
        printf '%s\n' "$2" | xtoken verify "$JID" 2> "$tmp/verify.err"
    else
        printf '%s\n' "$2" | runuser -u "$1" -- xtoken verify "$JID" 2> "$tmp/verify.err"
    fi
}
for u in ejabberd prosody; do
    getent passwd "$u" > /dev/null || fail "no user $u: install ejabberd and prosody (tests/deps/deb.apt)"
done
rm -rf "$REPLAY_DIR"

# ---- 0.2.0, used -----------------------------------------------------------------
say "building $PKG from $old_rev"
"$top/mk/deb-old-build.sh" "$old_rev" "$tmp/old" "$tmp/old-debs" || fail "building the old package"
grep -q '^d /run/pam_xtoken 1733 ' "$tmp/old/debian/libpam-xtoken.tmpfiles" \
    || fail "$old_rev does not make $REPLAY_DIR 1733: not the layout this test upgrades from"
old_version=$(dpkg-parsechangelog -l "$tmp/old/debian/changelog" -S Version)
dpkg -i "$tmp/old-debs/${PKG}_${old_version}_"*.deb "$tmp/old-debs/${LUA_PKG}_${old_version}_"*.deb \
    > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -i the old packages"; }
[ "$(mode_of "$REPLAY_DIR")" = "1733 root root" ] || fail "old $REPLAY_DIR is $(mode_of "$REPLAY_DIR")"
adduser --quiet prosody xtoken
adduser --quiet ejabberd xtoken
prosody_uid=$(id -u prosody)
ejabberd_uid=$(id -u ejabberd)
root_tok=$(xtoken issue "$JID")
prosody_tok=$(xtoken issue "$JID")
verify_as root "$root_tok" || { cat "$tmp/verify.err" >&2; fail "verify as root with $old_version"; }
verify_as prosody "$prosody_tok" || { cat "$tmp/verify.err" >&2; fail "verify as prosody with $old_version"; }
[ -f "$REPLAY_DIR/$prosody_uid.store" ] || fail "$old_version made no $REPLAY_DIR/$prosody_uid.store"
inodes=$(stat -c %i "$REPLAY_DIR/0.store" "$REPLAY_DIR/$prosody_uid.store" | tr '\n' ' ')
# what any local user could do there
as_nobody mkdir "$REPLAY_DIR/ejabberd"
as_nobody sh -c ": > '$REPLAY_DIR/$ejabberd_uid.store'"
as_nobody sh -c "head -c 4M /dev/zero > '$REPLAY_DIR/fill'"
as_nobody ln -s /etc/shadow "$REPLAY_DIR/.link"
say "$PKG $old_version: $REPLAY_DIR 1733, stores of root and prosody; nobody planted: $(cd "$REPLAY_DIR" && ls -A | tr '\n' ' ')"

# ---- the upgrade ---------------------------------------------------------------------
dpkg -i "${new_debs[@]}" > "$tmp/upgrade.out" 2>&1 || { cat "$tmp/upgrade.out" >&2; fail "dpkg -i over $old_version"; }
[ "$(mode_of "$REPLAY_DIR")" = "755 root root" ] || fail "$REPLAY_DIR is $(mode_of "$REPLAY_DIR") after the upgrade"
[ "$(cd "$REPLAY_DIR" && ls -A | tr '\n' ' ')" = "0.store ejabberd prosody " ] \
    || { ls -la "$REPLAY_DIR" >&2; fail "$REPLAY_DIR holds $(cd "$REPLAY_DIR" && ls -A | tr '\n' ' ')"; }
for u in ejabberd prosody; do
    [ "$(mode_of "$REPLAY_DIR/$u")" = "700 $u $(id -gn "$u")" ] || fail "$REPLAY_DIR/$u is $(mode_of "$REPLAY_DIR/$u")"
done
[ -z "$(ls -A "$REPLAY_DIR/ejabberd")" ] || fail "ejabberd's directory holds $(ls -A "$REPLAY_DIR/ejabberd")"
[ "$(stat -c %i "$REPLAY_DIR/0.store" "$REPLAY_DIR/prosody/$prosody_uid.store" | tr '\n' ' ')" = "$inodes" ] \
    || fail "root's store was not kept or prosody's not moved"
[ "$(mode_of /etc/shadow)" = "640 root shadow" ] || fail "/etc/shadow is $(mode_of /etc/shadow)"
notice=$(grep '^libpam-xtoken: restart' "$tmp/upgrade.out") || { cat "$tmp/upgrade.out" >&2; fail "no restart notice"; }
say "upgraded: $REPLAY_DIR 755 root, ejabberd/ and prosody/ 700 their users', prosody's store moved, root's kept, nobody's entries gone"
say "postinst said: $notice"

# ---- tokens after the upgrade ---------------------------------------------------------
verify_as prosody "$prosody_tok" && fail "prosody accepted the token it used before the upgrade"
grep -q replayed "$tmp/verify.err" || { cat "$tmp/verify.err" >&2; fail "prosody: wrong refusal"; }
verify_as root "$root_tok" && fail "root accepted the token it used before the upgrade"
grep -q replayed "$tmp/verify.err" || { cat "$tmp/verify.err" >&2; fail "root: wrong refusal"; }
for u in root prosody ejabberd; do
    verify_as "$u" "$(xtoken issue "$JID")" || { cat "$tmp/verify.err" >&2; fail "a fresh token as $u"; }
done
[ -f "$REPLAY_DIR/ejabberd/$ejabberd_uid.store" ] || fail "no store for ejabberd in its directory"
say "the tokens used before are refused as replayed; fresh tokens verify as root, prosody and ejabberd"
for d in "$REPLAY_DIR" "$REPLAY_DIR/ejabberd" "$REPLAY_DIR/prosody"; do
    as_nobody sh -c ": > '$d/x'" 2> /dev/null && fail "nobody created a file in $d"
done
say "nobody cannot create anything in $REPLAY_DIR or the services' directories"

purge_all
[ -e "$REPLAY_DIR" ] && fail "purge left $REPLAY_DIR"
say "PASS"
