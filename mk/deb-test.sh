#!/usr/bin/env bash
# Package test (make deb-test, as root on Debian 12): lint the built packages
# (libpam-xtoken and lua-xtoken), install them, use them the way a sysadmin
# would (group xtoken, PAM service + pamtester, xtoken doctor on this
# machine's real ejabberd, Prosody and saslauthd configs, the Lua binding
# from lua5.4's own module path sharing the replay store with PAM and
# xtoken), check the upgrade step of postinst and the ELF hardening, purge
# them and check that nothing they added is left behind (the group included).
#   mk/deb-test.sh [DIR]    DIR holds the .deb and .changes (default build/deb)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/deb}
case $out in /*) ;; *) out=$top/$out ;; esac

PKG=libpam-xtoken
LUA_PKG=lua-xtoken
CRED_PKG=xtoken-credentials
CONF=/etc/security/pam_xtoken.conf
REPLAY_DIR=/run/pam_xtoken
SERVICE=xtoken-debtest
PAMD_JID=/etc/pam.d/$SERVICE
PAMD_LOCAL=/etc/pam.d/$SERVICE-local
DOMAIN=debtest.example
GROUP=xtoken
# The servers' real configs, edited by the doctor checks, restored at exit.
SASL_WANTS=/etc/systemd/system/multi-user.target.wants/saslauthd.service
SERVER_CONFIGS=(/etc/ejabberd/ejabberd.yml /etc/prosody/prosody.cfg.lua /etc/default/saslauthd)

say() { echo "deb-test: $*"; }
fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
is_installed() { dpkg-query -W -f='${Status}' "${1:-$PKG}" 2>/dev/null | grep -q 'ok installed'; }
is_known() { dpkg-query -W "$1" >/dev/null 2>&1; }
mode_of() { stat -c '%a %U %G' "$1"; }

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i, /etc/pam.d)"
debs=("$out/${PKG}"_*.deb)
lua_debs=("$out/${LUA_PKG}"_*.deb)
cred_debs=("$out/${CRED_PKG}"_*.deb)
changes_files=("$out"/*.changes)
deb=${debs[0]}
lua_deb=${lua_debs[0]}
cred_deb=${cred_debs[0]}
changes=${changes_files[0]}
if [ ! -f "$deb" ] || [ ! -f "$lua_deb" ] || [ ! -f "$cred_deb" ] || [ ! -f "$changes" ] \
    || [ ${#debs[@]} != 1 ] || [ ${#lua_debs[@]} != 1 ] || [ ${#cred_debs[@]} != 1 ]; then
    fail "want one ${PKG}_*.deb, one ${LUA_PKG}_*.deb, one ${CRED_PKG}_*.deb and a .changes in $out (run make deb)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deb-test.XXXXXX")
cleanup() {
    rc=$?
    rm -f "$PAMD_JID" "$PAMD_LOCAL"
    for p in "$LUA_PKG" "$PKG"; do
        if is_known "$p"; then dpkg --purge "$p" >/dev/null 2>&1 || true; fi
    done
    rm -f /run/pam_xtoken/4242.store
    if [ -e "$tmp/made-wants-link" ]; then rm -f "$SASL_WANTS"; fi
    if [ -e "$tmp/saved.conf" ]; then mv "$tmp/saved.conf" "$CONF"; fi
    for f in "${SERVER_CONFIGS[@]}"; do
        saved=$tmp/saved.$(echo "$f" | tr / _)
        if [ -e "$saved" ]; then cp -p "$saved" "$f"; fi
    done
    rm -rf "$tmp"
    [ $rc = 0 ] || echo "deb-test: FAILED (exit $rc)" >&2
    exit $rc
}
trap cleanup EXIT

# ---- lintian: no errors, no warnings ----------------------------------------
say "lintian $(basename "$deb") $(basename "$lua_deb") $(basename "$changes")"
lintian_rc=0
lintian --fail-on error,warning --display-info "$deb" "$lua_deb" "$changes" > "$tmp/lintian.txt" 2>&1 \
    || lintian_rc=$?
cat "$tmp/lintian.txt"
[ $lintian_rc = 0 ] || fail "lintian exit status $lintian_rc"
grep -q '^[EW]:' "$tmp/lintian.txt" && fail "lintian errors or warnings"

# ---- what the package contains -----------------------------------------------
pam_dir=$(pkg-config --variable=libdir pam)/security
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' > "$tmp/contents"
for f in "$pam_dir/pam_xtoken.so" /usr/bin/xtoken \
         /usr/share/man/man8/pam_xtoken.8.gz /usr/share/man/man1/xtoken.1.gz \
         /usr/share/man/man5/pam_xtoken.conf.5.gz \
         /usr/lib/tmpfiles.d/libpam-xtoken.conf \
         /usr/share/doc/libpam-xtoken/copyright; do
    grep -qx "$f" "$tmp/contents" || fail "package lacks $f"
done
# The Prosody provider and the Lua module are in lua-xtoken, not here.
lua_cmod_dir=$(pkg-config --variable=INSTALL_CMOD lua5.4)
lua_module=$lua_cmod_dir/xtoken.so
grep -q -e '^/usr/lib/prosody/' -e '/lua/5\.4/' "$tmp/contents" && fail "$PKG ships the Lua module or the Prosody provider"
dpkg-deb -c "$lua_deb" | awk '{print $NF}' | sed 's|^\./|/|' > "$tmp/lua-contents"
for f in "$lua_module" /usr/share/doc/$LUA_PKG/copyright; do
    grep -qx "$f" "$tmp/lua-contents" || fail "$LUA_PKG lacks $f"
done
if [ -f "$top/etc/prosody/mod_auth_xtoken.lua" ]; then
    grep -qx /usr/lib/prosody/modules/mod_auth_xtoken.lua "$tmp/lua-contents" \
        || fail "$LUA_PKG lacks the Prosody provider"
fi
dpkg-deb -f "$lua_deb" Depends | grep -q "$PKG (= " || fail "$LUA_PKG does not depend on $PKG"
# xtoken-credentials ships its program and its own man page; the others do not.
dpkg-deb -c "$cred_deb" | awk '{print $NF}' | sed 's|^\./|/|' > "$tmp/cred-contents"
for f in /usr/lib/cgi-bin/xtoken-credentials /usr/share/man/man8/xtoken-credentials.8.gz \
         /usr/share/doc/$CRED_PKG/examples/apache2/xtoken-chat.conf \
         /usr/share/doc/$CRED_PKG/examples/nginx/xtoken-chat.conf; do
    grep -qx "$f" "$tmp/cred-contents" || fail "$CRED_PKG lacks $f"
done
grep -q -e '^/usr/lib/cgi-bin/' -e '/xtoken-credentials\.8' "$tmp/contents" "$tmp/lua-contents" \
    && fail "$PKG or $LUA_PKG ships xtoken-credentials or its man page"
grep -q -e '^/usr/share/man/.*/pam_xtoken' -e '^/usr/share/man/.*/xtoken\.1' "$tmp/cred-contents" \
    && fail "$CRED_PKG ships a man page of $PKG"
for field in Breaks Replaces; do
    [ "$(dpkg-deb -f "$lua_deb" $field)" = "$PKG (<< 0.2.0)" ] \
        || fail "$LUA_PKG $field: $(dpkg-deb -f "$lua_deb" $field)"
done
grep -qx /usr/share/doc/libpam-xtoken/README.md.gz "$tmp/contents" || fail "package lacks README.md"
# The README links the guides: every doc/*.md ships (compressed when large).
for g in "$top"/doc/*.md; do
    g=/usr/share/doc/libpam-xtoken/doc/$(basename "$g")
    grep -qx -e "$g" -e "$g.gz" "$tmp/contents" || fail "package lacks $g"
done
grep -q '^/usr/share/doc/libpam-xtoken/examples/.' "$tmp/contents" || fail "package has no examples"
grep -q '^/etc/' "$tmp/contents" && fail "package ships files in /etc (secrets must be generated)"
say "contents ok ($PKG: $(grep -vc '/$' "$tmp/contents") files, $LUA_PKG: $(grep -vc '/$' "$tmp/lua-contents") files, $lua_module)"

# ---- start clean: leftovers of an earlier run, someone's own config ----------
rm -f "$PAMD_JID" "$PAMD_LOCAL"
for p in "$LUA_PKG" "$PKG"; do
    if is_known "$p"; then
        say "purging a leftover $p"
        dpkg --purge "$p" >/dev/null
    fi
done
if [ -e "$CONF" ] || [ -L "$CONF" ]; then
    say "moving aside an existing $CONF (restored at exit)"
    mv "$CONF" "$tmp/saved.conf"
fi
# Everything the package may touch, to compare after the purge. (It ships
# nothing under /etc and its scripts write only /etc/security; /etc/pam.d
# holds only this test's own files, removed explicitly.)
watch=(/etc/security /usr/bin "$pam_dir" /usr/lib/prosody /usr/lib/tmpfiles.d "$lua_cmod_dir"
       /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man8 /usr/share/doc
       /var/lib/dpkg/info /run)
snapshot() { find "${watch[@]}" -maxdepth 2 2>/dev/null | sort; }
snapshot > "$tmp/before"

# ---- install ------------------------------------------------------------------
say "dpkg -i $(basename "$deb") $(basename "$lua_deb")"
if ! dpkg -i "$deb" "$lua_deb"; then
    say "dpkg -i failed, resolving dependencies with apt-get -f install"
    DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq
fi
is_installed || fail "$PKG is not installed"
is_installed "$LUA_PKG" || fail "$LUA_PKG is not installed"

# ---- the generated configuration and the replay directory ---------------------
[ -f "$CONF" ] || fail "postinst did not create $CONF"
gid=$(getent group "$GROUP" | cut -d: -f3) || fail "postinst did not create the group $GROUP"
[ "$gid" -lt 1000 ] || fail "group $GROUP has gid $gid: not a system group"
[ "$(mode_of "$CONF")" = "640 root $GROUP" ] || fail "$CONF is $(mode_of "$CONF"), want 640 root $GROUP"
grep -q "adduser ejabberd $GROUP" "$CONF" || fail "$CONF does not say how a service gets access"
grep -q '^otp_seed *= *[A-Z2-7]\{16,\}' "$CONF" || fail "$CONF has no otp_seed"
grep -q '^token_secret *= *.\{16,\}' "$CONF" || fail "$CONF has no token_secret"
xtoken check-config > "$tmp/check-config.txt" 2>&1 || { cat "$tmp/check-config.txt"; fail "xtoken check-config"; }
cat "$tmp/check-config.txt"
sed -n 's/^\(otp_seed\|token_secret\) *= *//p' "$CONF" > "$tmp/secrets"
grep -qFf "$tmp/secrets" "$tmp/check-config.txt" && fail "check-config printed a secret"
[ -d "$REPLAY_DIR" ] || fail "$REPLAY_DIR was not created"
[ "$(mode_of "$REPLAY_DIR")" = "755 root root" ] || fail "$REPLAY_DIR is $(mode_of "$REPLAY_DIR")"
# a directory for each service user of the tmpfiles.d file that exists here
for u in ejabberd prosody; do
    getent passwd "$u" > /dev/null || continue
    [ "$(mode_of "$REPLAY_DIR/$u")" = "700 $u $(id -gn "$u")" ] \
        || fail "$REPLAY_DIR/$u is $(mode_of "$REPLAY_DIR/$u" 2>&1)"
done
say "system group $GROUP (gid $gid), config 640 root:$GROUP with fresh keys, check-config ok, $REPLAY_DIR 755 root:root, $(cd "$REPLAY_DIR" && echo */) 700 each its user's"

# ---- PAM, as a sysadmin sets it up: module named without a path ---------------
printf 'auth     required  pam_xtoken.so\naccount  required  pam_xtoken.so\n' > "$PAMD_JID"
printf 'auth     required  pam_xtoken.so domain=%s\naccount  required  pam_xtoken.so domain=%s\n' \
    "$DOMAIN" "$DOMAIN" > "$PAMD_LOCAL"

# pamtester takes the password from stdin when stdin is not a terminal.
pam_auth() { # SERVICE USER TOKEN -> pamtester's exit status
    printf '%s\n' "$3" | pamtester "$1" "$2" authenticate > "$tmp/pamtester.out" 2>&1
}
expect_auth() { # ok|refused SERVICE USER TOKEN WHAT
    local want=$1 got=refused
    pam_auth "$2" "$3" "$4" && got=ok
    [ "$got" = "$want" ] || { cat "$tmp/pamtester.out" >&2; fail "$5: $got, want $want"; }
    # A refusal must be PAM_AUTH_ERR, not an unusable config or store.
    if [ "$want" = refused ] && ! grep -q 'Authentication failure' "$tmp/pamtester.out"; then
        cat "$tmp/pamtester.out" >&2
        fail "$5: refused for the wrong reason"
    fi
    say "pamtester $2 $3: $5 -> $got"
}
alice=alice@$DOMAIN
good=$(xtoken issue "$alice")
good2=$(xtoken issue "$alice")
bob_token=$(xtoken issue "bob@$DOMAIN")
# Tamper with the signature: change its first character.
sig=${good#* }
first=${sig:0:1}; [ "$first" = A ] && swap=B || swap=A
bad="${good%% *} ${swap}${sig:1}"

expect_auth refused "$SERVICE" "$alice" "$bad" "tampered token"
expect_auth refused "$SERVICE" "$alice" "$bob_token" "bob's token for alice"
expect_auth refused "$SERVICE" "$alice" "" "empty token"
expect_auth ok "$SERVICE" "$alice" "$good" "fresh token"
expect_auth refused "$SERVICE" "$alice" "$good" "the same token again (replay)"
expect_auth ok "$SERVICE-local" alice "$good2" "second fresh token, localpart + domain="
expect_auth ok "$SERVICE" "bob@$DOMAIN" "$bob_token" "bob's own token"
pamtester "$SERVICE" "$alice" acct_mgmt < /dev/null > "$tmp/pamtester.out" 2>&1 \
    || { cat "$tmp/pamtester.out" >&2; fail "acct_mgmt for $alice"; }
say "pamtester acct_mgmt $alice -> ok (no prompt)"
[ "$(mode_of "$REPLAY_DIR/0.store")" = "600 root root" ] \
    || fail "root's replay store: $(mode_of "$REPLAY_DIR/0.store" 2>&1)"

# ---- a non-root service user reads the config through the group ---------------
# (as ejabberd's extauth or Prosody's mod_auth_xtoken would, after adduser)
as_nobody() { setpriv --reuid=nobody --regid=nogroup --init-groups "$@"; }
if as_nobody xtoken issue "$alice" > /dev/null 2>&1; then
    fail "nobody read $CONF before joining the group $GROUP"
fi
adduser --quiet nobody "$GROUP"
tok=$(as_nobody xtoken issue "$alice")
# a user without its directory in the replay directory is refused, told how
# to make one; then does it
if printf '%s\n' "$tok" | as_nobody xtoken verify "$alice" 2> "$tmp/verify.err"; then
    fail "nobody verified without a directory in $REPLAY_DIR"
fi
grep -qF "its directory is missing; as root: install -d -o nobody -m 0700 $REPLAY_DIR/nobody" "$tmp/verify.err" \
    || { cat "$tmp/verify.err" >&2; fail "nobody's refusal does not say how to make its directory"; }
say "user nobody without a directory: $(cat "$tmp/verify.err")"
install -d -o nobody -m 0700 "$REPLAY_DIR/nobody"
printf '%s\n' "$tok" | as_nobody xtoken verify "$alice" || fail "verify as nobody"
if printf '%s\n' "$tok" | as_nobody xtoken verify "$alice" 2> "$tmp/verify.err"; then
    fail "replayed token accepted as nobody"
fi
grep -q replay "$tmp/verify.err" || { cat "$tmp/verify.err" >&2; fail "replay reason missing"; }
[ "$(mode_of "$REPLAY_DIR/nobody/65534.store")" = "600 nobody nogroup" ] \
    || fail "nobody's store: $(mode_of "$REPLAY_DIR/nobody/65534.store" 2>&1)"
say "user nobody: refused before, after adduser nobody $GROUP and its directory verifies once, replay refused, own store in $REPLAY_DIR/nobody"

# ---- the Lua binding, found by lua5.4 where the package put it ------------------
found=$(env -u LUA_CPATH -u LUA_CPATH_5_4 lua5.4 -e 'print(package.searchpath("xtoken", package.cpath))')
[ "$found" = "$lua_module" ] || fail "lua5.4 finds xtoken at '$found', want $lua_module"
env -u LUA_CPATH -u LUA_CPATH_5_4 lua5.4 -e 'require "xtoken"' || fail "lua5.4 -e 'require \"xtoken\"'"
lua_version=$(lua5.4 -e 'print(require("xtoken").version)')
[ "xtoken $lua_version" = "$(xtoken --version)" ] || fail "module version $lua_version, tool $(xtoken --version)"
# A verifier on the default config, as Prosody's provider makes one: prints
# "true" or "false<TAB>reason" for $JID and $TOKEN (in the environment).
lua_verify() { # [setpriv...] -> output
    "$@" env -u LUA_CPATH -u LUA_CPATH_5_4 lua5.4 -e '
        local v, err = require("xtoken").new("'"$CONF"'")
        if not v then print("new: " .. err) os.exit(1) end
        print(v:verify(os.getenv("JID"), os.getenv("TOKEN")))'
}
expect_lua() { # WANT WHAT [setpriv...]
    local want=$1 what=$2 got
    shift 2
    got=$(lua_verify "$@") || fail "$what: lua5.4 failed: $got"
    [ "$got" = "$want" ] || fail "$what: Lua said '$got', want '$want'"
    say "lua5.4 ${1:+(as nobody) }$what -> $got"
}
tok=$(xtoken issue "$alice")
JID=$alice TOKEN=$tok expect_lua true "verify a fresh token as root"
expect_auth refused "$SERVICE" "$alice" "$tok" "the token Lua used"
tok=$(xtoken issue "$alice")
expect_auth ok "$SERVICE" "$alice" "$tok" "a fresh token"
JID=$alice TOKEN=$tok expect_lua "$(printf 'false\treplayed')" "the token PAM used"
tok=$(as_nobody xtoken issue "$alice")
JID=$alice TOKEN=$tok expect_lua true "verify a fresh token" as_nobody
printf '%s\n' "$tok" | as_nobody xtoken verify "$alice" 2> "$tmp/verify.err" \
    && fail "xtoken verify accepted the token Lua used as nobody"
grep -q replay "$tmp/verify.err" || { cat "$tmp/verify.err" >&2; fail "replay reason missing"; }
say "xtoken verify (as nobody): the token Lua used is refused ($(cat "$tmp/verify.err"))"
JID=$alice TOKEN=garbage expect_lua "$(printf 'false\tmalformed token')" "a malformed token" as_nobody

# ---- xtoken doctor on this machine's real server configs -----------------------
# Debian's own ejabberd.yml, prosody.cfg.lua (with its conf.d Include) and
# /etc/default/saslauthd, switched to tokens with both cache traps left in
# and neither service in the group: doctor must name each problem with its
# fix; after doing exactly what it says, it must find no FAIL.
for f in "${SERVER_CONFIGS[@]}"; do
    [ -f "$f" ] || fail "$f is missing: install ejabberd, prosody and sasl2-bin (tests/deps/deb.apt)"
    cp -p "$f" "$tmp/saved.$(echo "$f" | tr / _)"
done
yml=/etc/ejabberd/ejabberd.yml
printf '\n# deb-test\nauth_method: [external]\nextauth_program: "/usr/bin/xtoken extauth"\n' >> "$yml"
sed -i 's/^authentication = .*/authentication = "xtoken"/' /etc/prosody/prosody.cfg.lua
# saslauthd enabled at boot, as doc/prosody.md does (the doctor judges only an
# enabled or used saslauthd): START=yes for the init script (Debian 12); for
# the native unit (Debian 13) what "systemctl enable" makes, without systemd.
sed -i 's/^#* *START=.*/START=yes/' /etc/default/saslauthd
for unit in /usr/lib/systemd/system/saslauthd.service /lib/systemd/system/saslauthd.service; do
    [ -f "$unit" ] || continue
    [ -e "$SASL_WANTS" ] || { mkdir -p "${SASL_WANTS%/*}" && ln -s "$unit" "$SASL_WANTS" && : > "$tmp/made-wants-link"; }
    break
done
doctor_run() { # WANTED-EXIT: run xtoken doctor on / and show what it says
    local rc=0
    xtoken doctor > "$tmp/doctor.out" 2> "$tmp/doctor.err" || rc=$?
    sed 's/^/    /' "$tmp/doctor.out"
    [ ! -s "$tmp/doctor.err" ] || { cat "$tmp/doctor.err" >&2; fail "xtoken doctor wrote to stderr"; }
    [ "$rc" = "$1" ] || fail "xtoken doctor exit $rc, want $1"
}
expect_line() { grep -qxF -- "$1" "$tmp/doctor.out" || fail "xtoken doctor did not say: $1"; }
why_cache="ejabberd keeps the last password that worked for up to an hour and answers from it without asking xtoken: a used or expired token logs in again, a fresh one is refused"
cannot_read() { # USER WHO
    echo "FAIL $2: user $1 cannot read $CONF ($CONF is root:$GROUP 0640): every login is refused (config unusable); fix: adduser $1 $GROUP; then restart the service that runs as $1"
}
doctor_run 1
expect_line "FAIL ejabberd host localhost: auth_use_cache is not set, so the auth cache is on: $why_cache; fix: add the line 'auth_use_cache: false' at the top level of $yml, then restart ejabberd"
expect_line "$(cannot_read ejabberd "ejabberd host localhost (extauth)")"
expect_line "$(cannot_read prosody "prosody host localhost (mod_auth_xtoken)")"
expect_line "FAIL saslauthd: OPTIONS has -c: saslauthd caches a password that worked and accepts it again without asking PAM, so a used token logs in again for hours; fix: OPTIONS=\"-m /var/run/saslauthd\" in /etc/default/saslauthd, then systemctl restart saslauthd"
expect_line "ok   $PAMD_JID: names pam_xtoken.so, module $pam_dir/pam_xtoken.so found"
expect_line "ok   ejabberd host localhost: auth_method external, extauth_program runs /usr/bin/xtoken extauth (config $CONF)"
say "xtoken doctor: both cache traps and both unreadable-config services found, exit 1"
printf 'auth_use_cache: false\n' >> "$yml"
adduser --quiet ejabberd "$GROUP"
adduser --quiet prosody "$GROUP"
sed -i 's|^OPTIONS=.*|OPTIONS="-m /var/run/saslauthd"|' /etc/default/saslauthd
doctor_run 0
expect_line "ok   ejabberd host localhost: auth cache off (top level)"
expect_line "ok   ejabberd host localhost (extauth): user ejabberd can read $CONF (root:$GROUP 0640)"
expect_line "ok   prosody host localhost (mod_auth_xtoken): user prosody can read $CONF (root:$GROUP 0640)"
expect_line "ok   saslauthd: MECHANISMS=\"pam\", OPTIONS=\"-m /var/run/saslauthd\" without -c (no cache)"
expect_line "ok   replay ($CONF): $REPLAY_DIR (root:root 0755): each service user keeps its own store, in a directory no one else can write"
say "xtoken doctor: after the fixes it printed, no FAIL, exit 0"

# ---- Prosody finds the provider where the package put it -----------------------
if [ -f /usr/lib/prosody/modules/mod_auth_xtoken.lua ] && command -v prosodyctl > /dev/null; then
    timeout 30 prosodyctl about > "$tmp/prosody-about.txt" 2>&1 || true
    sed -n '/^Plugin directories:/,/^$/p' "$tmp/prosody-about.txt" | grep -q '^ */usr/lib/prosody/modules/\?$' \
        || { cat "$tmp/prosody-about.txt" >&2; fail "Prosody does not search /usr/lib/prosody/modules"; }
    say "prosodyctl about: /usr/lib/prosody/modules (mod_auth_xtoken.lua) is a plugin directory"
fi

# ---- man pages ------------------------------------------------------------------
# Minimal images (debian:*-slim) tell dpkg not to install man pages: then
# render the pages from the package instead of from /usr/share/man.
man_from_deb=
if grep -qs '^path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg /etc/dpkg/dpkg.cfg.d/*; then
    say "dpkg excludes /usr/share/man here: rendering the pages from the .deb"
    dpkg-deb -x "$deb" "$tmp/root"
    man_from_deb=$tmp/root/usr/share/man
fi
for page in "8 pam_xtoken" "5 pam_xtoken.conf" "1 xtoken"; do
    read -r sec name <<< "$page"
    man_args=("$sec" "$name")
    [ -z "$man_from_deb" ] || man_args=(-l "$man_from_deb/man$sec/$name.$sec.gz")
    LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings "${man_args[@]}" > "$tmp/man.txt" 2> "$tmp/man.err" \
        || fail "man $sec $name"
    [ ! -s "$tmp/man.err" ] || { cat "$tmp/man.err" >&2; fail "man $sec $name: warnings"; }
    if ! grep -q "^NAME" "$tmp/man.txt" || ! grep -q "^ *$name " "$tmp/man.txt"; then
        fail "man $sec $name renders badly"
    fi
done
# xtoken-credentials is not installed here: its page is rendered from its .deb.
dpkg-deb -x "$cred_deb" "$tmp/cred-root"
LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$tmp/cred-root/usr/share/man/man8/xtoken-credentials.8.gz" \
    > "$tmp/man.txt" 2> "$tmp/man.err" || fail "man -l xtoken-credentials.8.gz"
[ ! -s "$tmp/man.err" ] || { cat "$tmp/man.err" >&2; fail "man 8 xtoken-credentials: warnings"; }
if ! grep -q "^NAME" "$tmp/man.txt" || ! grep -q "^ *xtoken-credentials " "$tmp/man.txt"; then
    fail "man 8 xtoken-credentials renders badly"
fi
say "man pam_xtoken, pam_xtoken.conf(5), xtoken(1), xtoken-credentials(8) render without warnings"

# ---- hardening of the installed ELF files ---------------------------------------
hardening-check /usr/bin/xtoken "$pam_dir/pam_xtoken.so" "$lua_module" > "$tmp/hardening.txt" || true
cat "$tmp/hardening.txt"
hardening_field() { # FILE FIELD -> the verdict
    awk -v f="$1:" -v k="$2" '$0 == f {in_f=1; next} /^[^ ]/ {in_f=0}
        in_f && index($0, k ":") {sub(/^[^:]*: */, ""); print; exit}' "$tmp/hardening.txt"
}
for field in "Position Independent Executable" "Stack protected" "Fortify Source functions" \
             "Read-only relocations" "Immediate binding"; do
    v=$(hardening_field /usr/bin/xtoken "$field")
    case $v in yes*) ;; *) fail "xtoken: $field: $v" ;; esac
done
for so in "$pam_dir/pam_xtoken.so" "$lua_module"; do
    for field in "Stack protected" "Fortify Source functions" "Read-only relocations" "Immediate binding"; do
        v=$(hardening_field "$so" "$field")
        case $v in yes*) ;; *) fail "$so: $field: $v" ;; esac
    done
done
say "hardening: PIE (xtoken), stack protector, fortify, RELRO, BIND_NOW (xtoken, both modules)"

# ---- postinst on an upgrade from before 0.2.0 -------------------------------------
# Stores of the old format are refused by this version: the upgrade removes
# them and says which services to restart; any later configure keeps them.
postinst=/var/lib/dpkg/info/$PKG.postinst
old_store=$REPLAY_DIR/4242.store
printf 'an old store\n' > "$old_store"
"$postinst" configure 0.2.0 > "$tmp/postinst.out" 2>&1 || { cat "$tmp/postinst.out" >&2; fail "postinst configure 0.2.0"; }
[ -e "$old_store" ] || fail "postinst configure 0.2.0 removed a store"
[ ! -s "$tmp/postinst.out" ] || { cat "$tmp/postinst.out" >&2; fail "postinst configure 0.2.0 printed something"; }
"$postinst" configure 0.1.0 > "$tmp/postinst.out" 2>&1 || { cat "$tmp/postinst.out" >&2; fail "postinst configure 0.1.0"; }
[ -e "$old_store" ] && fail "postinst configure 0.1.0 (upgrade) kept $old_store"
[ "$(wc -l < "$tmp/postinst.out")" = 1 ] && grep -q 'restart.*Prosody' "$tmp/postinst.out" \
    || { cat "$tmp/postinst.out" >&2; fail "postinst configure 0.1.0: want a one-line restart notice"; }
say "postinst: upgrade from 0.1.0 removes the old stores and says: $(cat "$tmp/postinst.out")"

# ---- postinst on 0.2.0's replay directory (root 1733) ----------------------------
# Its stores were directly in it, and anyone could add entries. postinst
# closes it, moves the services' stores into their directories (the same
# files: a token used before is still refused), keeps root's, and removes
# what another user put there.
prosody_uid=$(id -u prosody)
tok=$(xtoken issue "$alice")
rm -rf "${REPLAY_DIR:?}"/*
install -d -o prosody -m 0700 "$tmp/prosody-replay" # a store made as 0.2.0 did
sed "s|^# *replay *=.*||" "$CONF" > "$tmp/prosody.conf"
echo "replay = $tmp/prosody-replay" >> "$tmp/prosody.conf"
chown prosody "$tmp/prosody.conf"; chmod 600 "$tmp/prosody.conf"
chmod 0711 "$tmp"
printf '%s\n' "$tok" | runuser -u prosody -- xtoken verify --config "$tmp/prosody.conf" "$alice" \
    || fail "verify as prosody in its own directory"
mv "$tmp/prosody-replay/$prosody_uid.store" "$REPLAY_DIR/$prosody_uid.store"
printf '%s\n' "$(xtoken issue "$alice")" | xtoken verify "$alice" || fail "verify as root"
chmod 1733 "$REPLAY_DIR"
inodes=$(stat -c %i "$REPLAY_DIR/0.store" "$REPLAY_DIR/$prosody_uid.store" | tr '\n' ' ')
as_nobody mkdir "$REPLAY_DIR/ejabberd"                      # the name of a service's directory
as_nobody sh -c ": > '$REPLAY_DIR/$(id -u ejabberd).store'"  # a service's store name
as_nobody sh -c "head -c 1M /dev/zero > '$REPLAY_DIR/fill'"   # filling /run
as_nobody ln -s /etc/shadow "$REPLAY_DIR/.link"
"$postinst" configure 0.2.0 > "$tmp/postinst.out" 2>&1 || { cat "$tmp/postinst.out" >&2; fail "postinst configure 0.2.0 on a 1733 directory"; }
[ "$(mode_of "$REPLAY_DIR")" = "755 root root" ] || fail "after the migration $REPLAY_DIR is $(mode_of "$REPLAY_DIR")"
[ "$(cd "$REPLAY_DIR" && ls -A | tr '\n' ' ')" = "0.store ejabberd prosody " ] \
    || { ls -la "$REPLAY_DIR" >&2; fail "after the migration $REPLAY_DIR holds $(cd "$REPLAY_DIR" && ls -A | tr '\n' ' ')"; }
[ "$(ls -A "$REPLAY_DIR/ejabberd")" = "" ] && [ "$(mode_of "$REPLAY_DIR/ejabberd")" = "700 ejabberd $(id -gn ejabberd)" ] \
    || fail "ejabberd's directory after the migration: $(mode_of "$REPLAY_DIR/ejabberd"), $(ls -A "$REPLAY_DIR/ejabberd")"
[ "$(stat -c %i "$REPLAY_DIR/0.store" "$REPLAY_DIR/prosody/$prosody_uid.store" | tr '\n' ' ')" = "$inodes" ] \
    || fail "the migration did not keep root's store and move prosody's"
[ -e /etc/shadow ] && [ "$(mode_of /etc/shadow)" = "640 root shadow" ] || fail "/etc/shadow: $(mode_of /etc/shadow)"
grep -q '^libpam-xtoken: restart.*Prosody' "$tmp/postinst.out" \
    || { cat "$tmp/postinst.out" >&2; fail "postinst configure 0.2.0 on a 1733 directory: want the restart notice"; }
printf '%s\n' "$tok" | runuser -u prosody -- xtoken verify "$alice" 2> "$tmp/verify.err" \
    && fail "prosody accepted the token it used before the migration"
grep -q replayed "$tmp/verify.err" || { cat "$tmp/verify.err" >&2; fail "wrong refusal after the migration"; }
printf '%s\n' "$(xtoken issue "$alice")" | runuser -u prosody -- xtoken verify "$alice" \
    || fail "prosody after the migration"
say "postinst on 0.2.0's 1733 directory: 755 root, prosody's store moved (the token it used is still refused), root's kept, what nobody put there removed; said: $(cat "$tmp/postinst.out")"

# ---- upgrade (reinstall) and remove keep the config; purge removes all -------
dpkg -L "$PKG" "$LUA_PKG" > "$tmp/files"
rm -f "$PAMD_JID" "$PAMD_LOCAL"     # the sysadmin's own files, not the package's
conf_sum=$(sha256sum < "$CONF")
dpkg -i "$deb" "$lua_deb" > /dev/null
[ "$(sha256sum < "$CONF")" = "$conf_sum" ] || fail "reinstalling changed $CONF"
dpkg --remove "$LUA_PKG" "$PKG" > /dev/null
[ -e /usr/bin/xtoken ] && fail "remove left /usr/bin/xtoken"
[ -e "$lua_module" ] && fail "remove left $lua_module"
[ "$(sha256sum < "$CONF")" = "$conf_sum" ] || fail "remove changed or deleted $CONF"
say "reinstall and remove keep $CONF unchanged"
say "dpkg --purge $LUA_PKG $PKG"
# (remove already took lua-xtoken entirely: it has no conffiles)
for p in "$LUA_PKG" "$PKG"; do
    if is_known "$p"; then dpkg --purge "$p"; fi
done
for p in "$LUA_PKG" "$PKG"; do
    is_installed "$p" && fail "$p still installed"
    is_known "$p" && fail "$p still known to dpkg after purge"
done
while read -r f; do
    [ -d "$f" ] && continue        # shared directories like /usr/bin stay
    [ -e "$f" ] && fail "left behind: $f"
done < "$tmp/files"
[ -e "$CONF" ] && fail "purge left $CONF"
[ -e "$REPLAY_DIR" ] && fail "purge left $REPLAY_DIR"
getent group "$GROUP" > /dev/null && fail "purge left the group $GROUP"
id -nG nobody | tr ' ' '\n' | grep -qx "$GROUP" && fail "nobody is still in $GROUP"
snapshot > "$tmp/after"
# What appeared since the snapshot and carries the package's name (every
# path the package or its scripts create does): other tests or apt runs on a
# shared machine may add and remove their own files in the meantime.
comm -13 "$tmp/before" "$tmp/after" | grep -i 'xtoken' > "$tmp/added" || true
[ ! -s "$tmp/added" ] || { cat "$tmp/added" >&2; fail "files left after the purge"; }
say "purge removed the package's files, $CONF, $REPLAY_DIR and the group $GROUP"
say "PASS"
