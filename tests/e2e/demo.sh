#!/usr/bin/env bash
# make demo: the whole flow on a throwaway setup, step by step.
# On a fresh Debian 12 machine, as root: installs the packages it needs,
# builds, writes fresh secrets to a temp dir, starts ejabberd on 127.0.0.1
# wired to the built build/pam_xtoken.so through PAM, mints a token with
# build/xtoken, logs in with a real XMPP client, shows ejabberd's log line,
# shows a replayed and a tampered token refused, and stops everything.
# Never prints a secret or a whole token.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
MAKE=${MAKE:-make}
N=9
STEP=0

step() {
    STEP=$((STEP + 1))
    printf '\n[%d/%d] %s\n' "$STEP" "$N" "$*"
}
say() { printf '      %s\n' "$*"; }
die() {
    printf '\nDEMO FAILED: %s\n' "$*"
    exit 1
}

if [ "$(id -u)" != 0 ]; then
    echo "make demo: run it as root (it installs packages and writes a PAM service to /etc/pam.d)." >&2
    exit 2
fi

echo "pam_xtoken demo: an XMPP login to a real ejabberd through PAM with a one-time token"

step "Installing the Debian packages it needs (tests/install-deps.sh build e2e)"
tests/install-deps.sh build e2e || die "package installation failed"
say "ejabberd $(dpkg-query -W -f='${Version}' ejabberd), erlang-p1-pam (epam), python3-slixmpp"

step "Building ($MAKE)"
BUILD_LOG=$(mktemp)
if ! $MAKE -s -j"$(nproc)" >"$BUILD_LOG" 2>&1; then
    tail -n 40 "$BUILD_LOG" | sed 's/^/      | /'
    rm -f "$BUILD_LOG"
    die "the build failed (the last lines of its output are above)"
fi
rm -f "$BUILD_LOG"
say "build/pam_xtoken.so  build/xtoken  build/libxtoken.a"

. tests/e2e/lib.sh
e2e_init xtoken-demo
MODULE=$ROOT/build/pam_xtoken.so
XTOKEN=$ROOT/build/xtoken
CONF=$E2E_DIR/pam_xtoken.conf
JID=alice@localhost

# Run ejabberd as its own user (as the Debian service does) when that user
# can read the built module; a tree under /root is closed to it.
EJD_USER=
if id ejabberd >/dev/null 2>&1 && e2e_readable_by ejabberd "$MODULE"; then
    EJD_USER=ejabberd
fi

step "Writing fresh secrets: build/xtoken keygen > $CONF"
# The replay store directory, laid out like the package's /run/pam_xtoken.
e2e_replay_dir "$E2E_DIR/replay" "$EJD_USER" || die "cannot make $E2E_DIR/replay"
(umask 077 && { echo "replay = $E2E_DIR/replay" && "$XTOKEN" keygen; } >"$CONF") ||
    die "xtoken keygen failed"
if [ -n "$EJD_USER" ]; then
    chmod 0711 "$E2E_DIR"
    chown root:ejabberd "$CONF"
    chmod 0640 "$CONF"
else
    chmod 0600 "$CONF"
fi
sed -e 's/^\(otp_seed\|token_secret\) = .*/\1 = (secret, not shown)/' "$CONF" | sed 's/^/      | /'
say "mode $(stat -c '%a %U:%G' "$CONF"); the web app gets the same otp_seed and token_secret"

step "PAM service /etc/pam.d/xtoken-demo-$$ naming the built module by absolute path"
SERVICE=xtoken-demo-$$
e2e_pam_service "$SERVICE" "auth     required  $MODULE conf=$CONF
account  required  $MODULE conf=$CONF" || die "cannot write /etc/pam.d/$SERVICE"
sed 's/^/      | /' "/etc/pam.d/$SERVICE"

step "Starting a throwaway ejabberd on 127.0.0.1 (auth_method: [pam])"
AUTH="auth_method: [pam]
pam_service: $SERVICE
pam_userinfotype: jid
auth_use_cache: false"
printf '%s\n' "$AUTH" | sed 's/^/      | /'
export EJD_USER
ejd_start "$E2E_DIR/ejd" "$AUTH" || die "ejabberd did not start"
say "ejabberd pid $EJD_PID, user ${EJD_USER:-root}, listening on 127.0.0.1:$EJD_PORT (STARTTLS, self-signed)"
[ -n "$EJD_USER" ] || say "(as root: the ejabberd user cannot read $MODULE; make e2e runs it as ejabberd)"

step "Minting a token for $JID: build/xtoken issue --config $CONF $JID"
TOKEN=$("$XTOKEN" issue --config "$CONF" "$JID") || die "xtoken issue failed"
say "got a ${#TOKEN}-byte token: 8-digit TOTP + 32-digit nonce + ' ' + base64 HMAC-SHA256 (not shown)"
say "it is valid for 30-60 s and only once"

login() {
    local token=$1 mark out
    mark=$(e2e_log_mark "$EJD_LOG")
    out=$(XMPP_PASSWORD=$token xmpp_client login --jid "$JID" --port "$EJD_PORT")
    LOGIN_STATUS=$?
    say "client: $out"
    LOGIN_LINE=$(e2e_wait_log "$EJD_LOG" "$mark" "(Accepted|Failed) c2s PLAIN authentication for $JID " 5)
    say "ejabberd: ${LOGIN_LINE#*) }"
}

step "Logging in as $JID with the token (python3-slixmpp, SASL PLAIN over STARTTLS)"
login "$TOKEN"
[ "$LOGIN_STATUS" = 0 ] && [[ $LOGIN_LINE == *"Accepted c2s PLAIN authentication for $JID by pam backend"* ]] ||
    die "the fresh token was not accepted"

step "The same token again (a replay): must be refused"
login "$TOKEN"
[ "$LOGIN_STATUS" = 1 ] && [[ $LOGIN_LINE == *"Failed c2s PLAIN authentication for $JID "* ]] ||
    die "the replayed token was not refused"

step "A fresh token with one signature character changed: must be refused"
TOKEN=$("$XTOKEN" issue --config "$CONF" "$JID") || die "xtoken issue failed"
pos=$((${#TOKEN} - 20))
if [ "${TOKEN:pos:1}" = A ]; then c=B; else c=A; fi
login "${TOKEN:0:pos}$c${TOKEN:pos+1}"
[ "$LOGIN_STATUS" = 1 ] && [[ $LOGIN_LINE == *"Failed c2s PLAIN authentication for $JID "* ]] ||
    die "the tampered token was not refused"

printf '\nStopping ejabberd (pid %s), removing /etc/pam.d/%s and %s\n' "$EJD_PID" "$SERVICE" "$E2E_DIR"
ejd_stop
printf '\nDemo OK: a fresh token logs in; a replayed or tampered one does not.\n'
