#!/usr/bin/env bash
# End to end, Prosody natively: XMPP client -> Prosody 0.12 (authentication =
# "xtoken", etc/prosody/mod_auth_xtoken.lua) -> the Lua binding of libxtoken
# (build/lua/xtoken.so, loaded through LUA_CPATH_5_4), in Prosody's own
# process. SASL PLAIN with slixmpp, SASL X-TOKEN and insecure sessions with
# a raw client. Prosody runs as user prosody when we are root (config
# root:prosody 0640, as the README says), else as the current user.
#
# XTOKEN_LUA_SO=FILE tests another build of the binding.
set -u
. "$(dirname "$0")/prosody-lib.sh"

pt_setup prosody-native
ALICE=alice@$PT_DOMAIN
BOB=bob@$PT_DOMAIN
RAW_CLIENT=$E2E_LIB_DIR/prosody-sasl-client.py

pt_stage_binding

# login accept|refuse DESC JID TOKEN [REASON_REGEX]: SASL PLAIN through
# slixmpp; a refusal must be logged with its reason. xlogin: X-TOKEN.
ok_re() { printf 'xtoken accepted %s$' "$1"; }
no_re() { printf 'xtoken refused %s: %s' "$1" "${2:-}"; }
login() { pt_expect_login "$1" "$2" "$3" "$4" "$(ok_re "$3")" "$(no_re "$3" "${5:-}")"; }
xlogin() { pt_expect_xtoken "$1" "$2" "$3" "$4" "$(ok_re "$3")" "$(no_re "$3" "${5:-}")"; }

# raw ARGS...: the raw client (token in $XMPP_PASSWORD), its output line.
raw() {
    "$E2E_PYTHON" "$RAW_CLIENT" --port "$PT_PORT" "$@"
}

# instance NAME AUTH_LINES: a fresh Prosody in $E2E_DIR/NAME with this module.
instance() {
    mkdir -p "$E2E_DIR/$1/plugins"
    cp "$PT_ROOT/etc/prosody/mod_auth_xtoken.lua" "$E2E_DIR/$1/plugins/"
    prosody_start "$E2E_DIR/$1" "$2"
}

# A file Prosody's user may read as a pam_xtoken config, with MODE.
install_conf() {
    local target=$1 mode=$2
    cp "$CONF" "$target.new" || return 1
    [ -z "$PT_USER" ] || chown "root:$(id -gn "$PT_USER")" "$target.new"
    chmod "$mode" "$target.new"
    mv "$target.new" "$target"
}

# Prosody's log must never hold a token: no 40-digit OTP+nonce, no
# 44-character base64 signature, nor the given strings.
assert_no_token_in() {
    local log=$1 s
    shift
    if grep -Eq '[0-9]{40}|[A-Za-z0-9+/]{43}=' "$log"; then
        e2e_fail "$(basename "$(dirname "$log")"): a token appears in Prosody's log: $(grep -Em1 '[0-9]{40}|[A-Za-z0-9+/]{43}=' "$log" | cut -c1-60)..."
        return
    fi
    for s in "$@"; do
        if grep -qF -- "$s" "$log"; then
            e2e_fail "$(basename "$(dirname "$log")"): '${s:0:12}...' appears in Prosody's log"
            return
        fi
    done
    e2e_pass "$(basename "$(dirname "$log")"): no token in Prosody's log ($(grep -c 'xtoken refused' "$log") refusals logged)"
}

# strace_begin: trace Prosody's process starts (and, to show the trace
# works, its accepted connections) until strace_end MIN_ACCEPTS, which
# passes with at least MIN_ACCEPTS connections seen and no clone, fork or
# execve at all (io.popen, os.execute would show as both).
strace_begin() {
    STRACE_OUT=$E2E_DIR/strace.$PT_PID.out
    strace -f -qq -e trace=clone,clone3,fork,vfork,execve,accept,accept4 -o "$STRACE_OUT" -p "$PT_PID" &
    STRACE_PID=$!
    e2e_on_exit "e2e_stop_pid $STRACE_PID 5"
    if ! e2e_retry 10 traced; then
        e2e_fail "strace did not attach to Prosody (pid $PT_PID)"
        return 1
    fi
}
traced() { [ "$(awk '/^TracerPid:/ {print $2}' /proc/"$PT_PID"/status)" = "$STRACE_PID" ]; }
strace_end() {
    local accepts spawns
    kill -INT "$STRACE_PID" 2>/dev/null
    wait "$STRACE_PID" 2>/dev/null
    accepts=$(grep -Ec '^[0-9]+ +accept4?\(.* = [0-9]+$' "$STRACE_OUT")
    spawns=$(grep -Ec '^[0-9]+ +(clone3?|v?fork|execve)\(' "$STRACE_OUT")
    if [ "$accepts" -ge "$1" ] && [ "$spawns" = 0 ]; then
        e2e_pass "strace saw $accepts connections accepted and 0 clone/fork/execve"
    else
        e2e_fail "strace: $accepts connections accepted (want >= $1), $spawns process starts: $(grep -Em3 'clone|fork|execve' "$STRACE_OUT")"
    fi
}

e2e_step "Prosody, authentication = \"xtoken\" on the binding (users: any), PLAIN through slixmpp"
instance prosody "authentication = \"xtoken\"
xtoken_config = \"$CONF\"" || exit 1
line=$(e2e_wait_log "$PT_LOG" 0 "xtoken verifier for $PT_DOMAIN" 5) &&
    e2e_pass "the binding is loaded at startup (${line##*	})" ||
    e2e_fail "no 'xtoken verifier for $PT_DOMAIN' line at startup: $(grep -m3 xtoken "$PT_LOG")"
e2e_log_match "$PT_LOG" 0 "xtoken config .* unusable|cannot load the Lua module" >/dev/null &&
    e2e_fail "a good config is reported as a problem at startup" ||
    e2e_pass "a good config: no problem reported at startup"

login accept "fresh token accepted" "$ALICE" "$(mint "$ALICE")"
login refuse "tampered token refused, reason logged" "$ALICE" "$(tamper "$(mint "$ALICE")")" "bad signature"
login refuse "token for another JID refused, reason logged" "$ALICE" "$(mint "$BOB")" "bad signature"
login refuse "expired token (minted 120 s ago) refused, reason logged" "$ALICE" \
    "$(mint "$ALICE" $(($(date +%s) - 120)))" "expired"
TOKEN1=$(mint "$ALICE")
login accept "token used once" "$ALICE" "$TOKEN1"
login refuse "the same token replayed refused, reason logged" "$ALICE" "$TOKEN1" "replayed"
login refuse "garbage password refused" "$ALICE" "not a token" "malformed"
login accept "two fresh tokens in a row: first" "$ALICE" "$(mint "$ALICE")"
login accept "two fresh tokens in a row: second" "$ALICE" "$(mint "$ALICE")"

e2e_step "SASL X-TOKEN (raw client)"
xlogin accept "fresh token accepted" "$BOB" "$(mint "$BOB")"
TOKEN2=$(mint "$BOB")
xlogin accept "token used once" "$BOB" "$TOKEN2"
xlogin refuse "the same token replayed refused" "$BOB" "$TOKEN2" "replayed"
login refuse "the same token replayed over PLAIN refused" "$BOB" "$TOKEN2" "replayed"
xlogin refuse "tampered token refused" "$BOB" "$(tamper "$(mint "$BOB")")" "bad signature"
xlogin refuse "token for another JID refused" "$BOB" "$(mint "$ALICE")" "bad signature"
out=$(XMPP_PASSWORD=$(mint "$ALICE") raw --jid "ALICE@$PT_DOMAIN" --mechanism X-TOKEN)
[ "$out" = "LOGIN-OK $ALICE/raw" ] && e2e_pass "X-TOKEN: authcid ALICE nodeprepped to alice, alice's token accepted" ||
    e2e_fail "X-TOKEN with authcid ALICE: $out"
out=$(XMPP_PASSWORD=$(mint "$ALICE") raw --jid "$ALICE" --mechanism PLAIN)
[ "$out" = "LOGIN-OK $ALICE/raw" ] && e2e_pass "raw PLAIN: fresh token accepted, bound $ALICE/raw" ||
    e2e_fail "raw PLAIN: expected LOGIN-OK $ALICE/raw, got: $out"

e2e_step "one replay store with \`xtoken verify\` run as Prosody's user"
TOKEN3=$(mint "$ALICE")
if printf '%s\n' "$TOKEN3" | e2e_as "$PT_USER" "$XTOKEN" verify --config "$CONF" "$ALICE" 2>/dev/null; then
    login refuse "a token used by xtoken verify is refused by Prosody" "$ALICE" "$TOKEN3" "replayed"
else
    e2e_fail "xtoken verify as ${PT_USER:-$(id -un)} refused a fresh token"
fi
TOKEN4=$(mint "$ALICE")
login accept "a fresh token through Prosody" "$ALICE" "$TOKEN4"
err=$(printf '%s\n' "$TOKEN4" | e2e_as "$PT_USER" "$XTOKEN" verify --config "$CONF" "$ALICE" 2>&1)
status=$?
[ "$status" = 1 ] && [[ $err == *replayed* ]] &&
    e2e_pass "the token Prosody accepted is refused by xtoken verify ($err)" ||
    e2e_fail "xtoken verify after Prosody: exit $status ($err), expected 1 and 'replayed'"

e2e_step "no process is started for a login (strace on Prosody)"
if strace_begin; then
    login accept "under strace: PLAIN" "$ALICE" "$(mint "$ALICE")"
    xlogin accept "under strace: X-TOKEN" "$BOB" "$(mint "$BOB")"
    login refuse "under strace: a refusal" "$ALICE" "$(tamper "$(mint "$ALICE")")" "bad signature"
    login accept "under strace: PLAIN again" "$ALICE" "$(mint "$ALICE")"
    strace_end 4
fi
prosody_stop
assert_no_token_in "$PT_LOG" "$TOKEN1" "$TOKEN2" "$TOKEN3" "$TOKEN4" "not a token"

e2e_step "xtoken_users = $USERS (alice, bob): user_exists follows the users policy"
instance prosody-users "authentication = \"xtoken\"
xtoken_config = \"$CONF\"
xtoken_users = \"$USERS\"" || exit 1
e2e_step "... under strace: user lookups (user_exists) start no process either"
strace_begin || exit 1
login refuse "valid token of a user not in the users file refused" "carol@$PT_DOMAIN" \
    "$(mint "carol@$PT_DOMAIN")" "not a user"
login accept "valid token of a listed user accepted" "$ALICE" "$(mint "$ALICE")"
# (raw client: slixmpp's message event ignores Prosody's body-less bounce)
out=$(XMPP_PASSWORD=$(mint "$ALICE") raw --jid "$ALICE" --mechanism PLAIN --message-to "carol@$PT_DOMAIN")
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
strace_end 5
prosody_stop

e2e_step "X-TOKEN is offered where PLAIN is: insecure sessions (no STARTTLS)"
PT_REQUIRE_ENCRYPTION=false
instance prosody-insecure "authentication = \"xtoken\"
xtoken_config = \"$CONF\"" || exit 1
out=$(raw --jid "$ALICE" --no-tls --offered)
if [[ $out == OFFERED* && " $out " != *" PLAIN "* && " $out " != *" X-TOKEN "* ]]; then
    e2e_pass "insecure session, allow_unencrypted_plain_auth unset: neither PLAIN nor X-TOKEN offered ($out)"
else
    e2e_fail "insecure session, plain auth not allowed: $out"
fi
mark=$(e2e_log_mark "$PT_LOG")
out=$(XMPP_PASSWORD=$(mint "$ALICE") raw --jid "$ALICE" --no-tls --mechanism X-TOKEN --force)
[ "$out" = "AUTH-FAILED invalid-mechanism" ] && ! e2e_log_match "$PT_LOG" "$mark" "xtoken (accepted|refused)" >/dev/null &&
    e2e_pass "insecure session: X-TOKEN sent anyway is refused before any check ($out)" ||
    e2e_fail "insecure session, X-TOKEN forced: $out; log: $(e2e_log_match "$PT_LOG" "$mark" xtoken)"
out=$(raw --jid "$ALICE" --offered)
[ "$out" = "OFFERED PLAIN X-TOKEN" ] && e2e_pass "the same server over STARTTLS offers both ($out)" ||
    e2e_fail "STARTTLS session: $out"
prosody_stop

instance prosody-insecure-plain "authentication = \"xtoken\"
xtoken_config = \"$CONF\"
allow_unencrypted_plain_auth = true" || exit 1
out=$(raw --jid "$ALICE" --no-tls --offered)
[ "$out" = "OFFERED PLAIN X-TOKEN" ] &&
    e2e_pass "insecure session, allow_unencrypted_plain_auth = true: both offered ($out)" ||
    e2e_fail "insecure session with allow_unencrypted_plain_auth: $out"
out=$(XMPP_PASSWORD=$(mint "$BOB") raw --jid "$BOB" --no-tls --mechanism X-TOKEN)
[ "$out" = "LOGIN-OK $BOB/raw" ] && e2e_pass "insecure session: X-TOKEN login accepted ($out)" ||
    e2e_fail "insecure session, X-TOKEN login: $out"
prosody_stop

# mod_saslauth's other knob: PLAIN taken out of insecure_sasl_mechanisms.
instance prosody-insecure-list "authentication = \"xtoken\"
xtoken_config = \"$CONF\"
insecure_sasl_mechanisms = { \"LOGIN\" }" || exit 1
out=$(raw --jid "$ALICE" --no-tls --offered)
[ "$out" = "OFFERED PLAIN X-TOKEN" ] &&
    e2e_pass "insecure session, insecure_sasl_mechanisms = { \"LOGIN\" }: both offered ($out)" ||
    e2e_fail "insecure session with insecure_sasl_mechanisms = { LOGIN }: $out"
prosody_stop
PT_REQUIRE_ENCRYPTION=true

e2e_step "a missing config: reported at startup, logins refused, picked up once it exists"
LATE=$E2E_DIR/late.conf
instance prosody-missing "authentication = \"xtoken\"
xtoken_config = \"$LATE\"" || exit 1
e2e_wait_log "$PT_LOG" 0 "xtoken config $LATE unusable: .*$LATE" 5 >/dev/null &&
    e2e_pass "startup error logged for a missing config" ||
    e2e_fail "no startup error for the missing config: $(grep -m3 xtoken "$PT_LOG")"
login refuse "login refused while the config is missing" "$ALICE" "$(mint "$ALICE")" "config: "
install_conf "$LATE" 0640
sleep 1.1 # the verifier looks at the file at most once a second
login accept "the config now exists: login accepted without a restart" "$ALICE" "$(mint "$ALICE")"
e2e_log_match "$PT_LOG" 0 "xtoken config $LATE usable again" >/dev/null &&
    e2e_pass "the recovery is logged" || e2e_fail "no 'usable again' line"
prosody_stop

e2e_step "an unsafe config (group-writable): reported at startup and once per change"
UNSAFE=$E2E_DIR/unsafe.conf
install_conf "$UNSAFE" 0660
instance prosody-unsafe "authentication = \"xtoken\"
xtoken_config = \"$UNSAFE\"" || exit 1
e2e_wait_log "$PT_LOG" 0 "xtoken config $UNSAFE unusable: .*writable by group or others" 5 >/dev/null &&
    e2e_pass "startup error logged for a group-writable config" ||
    e2e_fail "no startup error for the unsafe config: $(grep -m3 xtoken "$PT_LOG")"
login refuse "login refused while the config is unsafe" "$ALICE" "$(mint "$ALICE")" "config: .*writable"
chmod 0640 "$UNSAFE"
sleep 1.1
login accept "mode fixed to 0640: login accepted without a restart" "$ALICE" "$(mint "$ALICE")"
chmod 0660 "$UNSAFE"
sleep 1.1
mark=$(e2e_log_mark "$PT_LOG")
login refuse "unsafe again: first login refused" "$ALICE" "$(mint "$ALICE")" "config: .*writable"
login refuse "unsafe again: second login refused" "$BOB" "$(mint "$BOB")" "config: .*writable"
errors=$(tail -n +"$((mark + 1))" "$PT_LOG" | grep -c "xtoken config $UNSAFE unusable")
refusals=$(tail -n +"$((mark + 1))" "$PT_LOG" | grep -c "xtoken refused .*: config: ")
[ "$errors" = 1 ] && [ "$refusals" = 2 ] &&
    e2e_pass "the problem that appeared after startup is logged once, each refusal with it" ||
    e2e_fail "after the config broke: $errors problem lines (want 1), $refusals refusals (want 2)"
prosody_stop

e2e_step "a binding that does not load: the error names lua-xtoken, every login refused"
mkdir -m 0755 "$E2E_DIR/broken"
echo "not a shared object" >"$E2E_DIR/broken/xtoken.so"
chmod 0644 "$E2E_DIR/broken/xtoken.so"
PT_ENV_SAVED=$PT_ENV
PT_ENV="LUA_CPATH_5_4=$E2E_DIR/broken/?.so;;"
instance prosody-nobinding "authentication = \"xtoken\"
xtoken_config = \"$CONF\"" || exit 1
PT_ENV=$PT_ENV_SAVED
e2e_wait_log "$PT_LOG" 0 "cannot load the Lua module xtoken" 5 >/dev/null &&
    e2e_log_match "$PT_LOG" 0 "install the package lua-xtoken.*every login on $PT_DOMAIN is refused" >/dev/null &&
    e2e_pass "startup error names the package lua-xtoken" ||
    e2e_fail "no binding error at startup: $(grep -m3 xtoken "$PT_LOG")"
login refuse "login refused without the binding" "$ALICE" "$(mint "$ALICE")" "the Lua module xtoken did not load"
xlogin refuse "X-TOKEN login refused without the binding" "$ALICE" "$(mint "$ALICE")" "the Lua module xtoken did not load"
e2e_port_open "$PT_PORT" && kill -0 "$PT_PID" 2>/dev/null &&
    e2e_pass "Prosody keeps running (and refusing)" || e2e_fail "Prosody died without the binding"
prosody_stop

for log in "$E2E_DIR"/prosody-*/prosody.log; do
    assert_no_token_in "$log"
done

e2e_done
