#!/usr/bin/env bash
# End to end, Prosody natively: XMPP client -> Prosody 0.12 (authentication =
# "xtoken", etc/prosody/mod_auth_xtoken.lua) -> `xtoken verify` (token on
# stdin) / `xtoken isuser`. SASL PLAIN with slixmpp, SASL X-TOKEN with a raw
# client. Prosody runs as user prosody when we are root (config root:prosody
# 0640, as the README says), else as the current user.
set -u
. "$(dirname "$0")/prosody-lib.sh"

pt_setup prosody-native
ALICE=alice@$PT_DOMAIN
BOB=bob@$PT_DOMAIN
OK_RE="xtoken accepted %s"
NO_RE="xtoken refused %s"

# xtoken_path points at a wrapper that records the command line of every run
# (then execs the real xtoken): the token must never appear there.
ARGV_LOG=$E2E_DIR/xtoken-argv.log
WRAPPER=$E2E_DIR/bin/xtoken-argv
cat >"$WRAPPER" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>'$ARGV_LOG'
exec '$XTOKEN' "\$@"
EOF
chmod 0755 "$WRAPPER"
: >"$ARGV_LOG"
[ -z "$PT_USER" ] || chown "$PT_USER:" "$ARGV_LOG"

ok_re() { printf "$OK_RE" "$1"; }
no_re() { printf "$NO_RE" "$1"; }
login() { pt_expect_login "$1" "$2" "$3" "$4" "$(ok_re "$3")" "$(no_re "$3")"; }
xlogin() { pt_expect_xtoken "$1" "$2" "$3" "$4" "$(ok_re "$3")" "$(no_re "$3")"; }

PLUGINS=$E2E_DIR/prosody/plugins
mkdir -p "$PLUGINS"
cp "$PT_ROOT/etc/prosody/mod_auth_xtoken.lua" "$PLUGINS/"

e2e_step "Prosody, authentication = \"xtoken\" (users: any), PLAIN through slixmpp"
prosody_start "$E2E_DIR/prosody" "authentication = \"xtoken\"
xtoken_path = \"$WRAPPER\"
xtoken_config = \"$CONF\"" || exit 1

login accept "fresh token accepted" "$ALICE" "$(mint "$ALICE")"
pt_token_checks
login refuse "garbage password refused" "$ALICE" "not a token"

e2e_step "SASL X-TOKEN (raw client)"
xlogin accept "fresh token accepted" "$BOB" "$(mint "$BOB")"
TOKEN=$(mint "$BOB")
xlogin accept "token used once" "$BOB" "$TOKEN"
xlogin refuse "the same token replayed refused" "$BOB" "$TOKEN"
login refuse "the same token replayed over PLAIN refused" "$BOB" "$TOKEN"
xlogin refuse "tampered token refused" "$BOB" "$(tamper "$(mint "$BOB")")"
xlogin refuse "token for another JID refused" "$BOB" "$(mint "$ALICE")"
out=$(XMPP_PASSWORD=$(mint "$ALICE") "$E2E_PYTHON" "$E2E_LIB_DIR/prosody-sasl-client.py" \
    --jid "ALICE@$PT_DOMAIN" --port "$PT_PORT" --mechanism X-TOKEN)
[ "$out" = "LOGIN-OK $ALICE/raw" ] && e2e_pass "X-TOKEN: authcid ALICE nodeprepped to alice, alice's token accepted" ||
    e2e_fail "X-TOKEN with authcid ALICE: $out"
TOKEN=$(mint "$ALICE")
out=$(XMPP_PASSWORD=$TOKEN "$E2E_PYTHON" "$E2E_LIB_DIR/prosody-sasl-client.py" \
    --jid "$ALICE" --port "$PT_PORT" --mechanism PLAIN)
[ "$out" = "LOGIN-OK $ALICE/raw" ] && e2e_pass "raw PLAIN: fresh token accepted, bound $ALICE/raw" ||
    e2e_fail "raw PLAIN: expected LOGIN-OK $ALICE/raw, got: $out"

e2e_step "usernames are never interpreted by a shell"
mark=$(e2e_log_mark "$PT_LOG")
out=$(XMPP_PASSWORD=$(mint "$ALICE") "$E2E_PYTHON" "$E2E_LIB_DIR/prosody-sasl-client.py" \
    --jid 'x;touch${IFS}pwned;$(touch${IFS}pwned2)@localhost' --port "$PT_PORT" --mechanism PLAIN)
if [ "${out%% *}" = AUTH-FAILED ] && [ ! -e "$PT_DIR/pwned" ] && [ ! -e "$PT_DIR/pwned2" ] &&
    e2e_wait_log "$PT_LOG" "$mark" "refused a login: unusable username" 5 >/dev/null; then
    e2e_pass "username with shell metacharacters refused before any xtoken run, nothing ran ($out)"
else
    e2e_fail "username with shell metacharacters: $out; files: $(ls "$PT_DIR")"
fi

e2e_step "the token never appears on a command line"
runs=$(grep -c '^verify ' "$ARGV_LOG")
if [ "$runs" -ge 10 ] && ! grep -q '[0-9]\{40\}\| .*=$' "$ARGV_LOG" && ! grep -qF "$TOKEN" "$ARGV_LOG"; then
    e2e_pass "$runs xtoken verify runs, argv holds JIDs only (e.g. '$(grep -m1 '^verify ' "$ARGV_LOG" | sed "s#$E2E_DIR#\$E2E_DIR#g")')"
else
    e2e_fail "xtoken argv log ($runs verify runs) shows a token or too few runs: $(head -3 "$ARGV_LOG")"
fi
prosody_stop

e2e_step "xtoken_users = $USERS (alice, bob): user_exists follows the users policy"
prosody_start "$E2E_DIR/prosody" "authentication = \"xtoken\"
xtoken_path = \"$XTOKEN\"
xtoken_config = \"$CONF\"
xtoken_users = \"$USERS\"" || exit 1
login refuse "valid token of a user not in the users file refused" "carol@$PT_DOMAIN" "$(mint "carol@$PT_DOMAIN")"
login accept "valid token of a listed user accepted" "$ALICE" "$(mint "$ALICE")"
# (raw client: slixmpp's message event ignores Prosody's body-less bounce)
out=$(XMPP_PASSWORD=$(mint "$ALICE") "$E2E_PYTHON" "$E2E_LIB_DIR/prosody-sasl-client.py" \
    --jid "$ALICE" --port "$PT_PORT" --mechanism PLAIN --message-to "carol@$PT_DOMAIN")
case $out in
    BOUNCED*) e2e_pass "message to a user the policy does not know bounces ($out)" ;;
    *) e2e_fail "message to carol: expected a bounce, got: $out" ;;
esac
body="offline message $$ $RANDOM"
out=$(XMPP_PASSWORD=$(mint "$ALICE") xmpp_client send --jid "$ALICE" --port "$PT_PORT" \
    --to "$BOB" --body "$body" --bounce-wait 1.5)
out2=$(XMPP_PASSWORD=$(mint "$BOB") xmpp_client receive --jid "$BOB" --port "$PT_PORT" --body "$body" --timeout 10)
if [ "$out" = SENT ] && [ "$out2" = "RECEIVED from $ALICE" ]; then
    e2e_pass "message to an offline listed user stored and delivered ($out2)"
else
    e2e_fail "offline delivery alice -> bob: send '$out', receive '$out2'"
fi
prosody_stop

e2e_step "an unusable config is reported at startup and refuses logins"
mkdir -p "$E2E_DIR/prosody-badconf/plugins"
cp "$PT_ROOT/etc/prosody/mod_auth_xtoken.lua" "$E2E_DIR/prosody-badconf/plugins/"
prosody_start "$E2E_DIR/prosody-badconf" "authentication = \"xtoken\"
xtoken_path = \"$XTOKEN\"
xtoken_config = \"$E2E_DIR/missing.conf\"" || exit 1
e2e_wait_log "$PT_LOG" 0 "check-config --config $E2E_DIR/missing.conf. failed \(exit 2\)" 5 >/dev/null &&
    e2e_pass "startup error logged for a missing config" || e2e_fail "no check-config error in Prosody's log"
pt_expect_login refuse "login refused while the config is missing" "$ALICE" "$(mint "$ALICE")" \
    "xtoken accepted $ALICE" "xtoken verify failed for $ALICE \(exit 2\)"
prosody_stop

e2e_done
