#!/usr/bin/env bash
# End to end in a real browser: headless Chromium (Debian) driven by
# playwright-core opens a stand-in web app (tests/e2e/converse/webapp.mjs)
# that serves etc/converse/index.html; Converse.js 14 fetches {jid, password}
# from /credentials (a fresh token from build/xtoken) and logs in:
#   ejabberd (23.01 on Debian 12, 24.12 on 13; extauth: xtoken extauth) over websocket and over BOSH,
#   Prosody (0.12 on Debian 12, 13 on 13; mod_auth_xtoken) over websocket (and BOSH),
# each through the web app's reverse proxy (/xmpp-websocket, /http-bind).
# Also: a tampered token shows the login failure; after the XMPP server
# restarts, Converse fetches a fresh token and reconnects by itself.
# SASL: PLAIN everywhere by default; with etc/converse/xtoken-sasl.js
# (?sasl=x-token) Converse logs in to Prosody with X-TOKEN and never sends
# PLAIN (the browser's frames and Prosody's debug log both show it), and
# against ejabberd, or a Prosody offering PLAIN, SCRAM and legacy iq:auth
# but no X-TOKEN, it sends no token at all.
# Screenshots go to $E2E_OUT (default build/e2e/converse/).
# Needs tests/install-deps.sh prosody e2e converse, node + npm (npm ci here, from the
# committed lockfile).
set -u
. "$(dirname "$0")/prosody-lib.sh"

pt_setup converse
CV_DIR=$E2E_LIB_DIR/converse
OUT=${E2E_OUT:-$PT_ROOT/build/e2e/converse}
mkdir -p "$OUT"
rm -f "$OUT"/*.png
ALICE=alice@$PT_DOMAIN

e2e_npm_ci "$CV_DIR" || exit 2
[ -f "$CV_DIR/node_modules/converse.js/dist/converse.min.js" ] || { echo "converse: no converse.js dist" >&2; exit 2; }

# webapp_start NAME WS_URL BOSH_URL: the stand-in web app for one XMPP server.
webapp_start() {
    local name=$1 port
    port=$(e2e_free_port)
    WEBAPP_PORT=$port XTOKEN=$XTOKEN XTOKEN_CONFIG=$CONF XMPP_DOMAIN=$PT_DOMAIN \
        CONVERSE_DIST=$CV_DIR/node_modules/converse.js/dist PAGE=$PT_ROOT/etc/converse/index.html \
        PLUGIN=$PT_ROOT/etc/converse/xtoken-sasl.js \
        XMPP_WS=$2 XMPP_BOSH=$3 setsid node "$CV_DIR/webapp.mjs" </dev/null >"$E2E_DIR/webapp-$name.log" 2>&1 &
    WEBAPP_PID=$!
    e2e_on_exit "e2e_stop_pid $WEBAPP_PID 5"
    WEBAPP_LOG=$E2E_DIR/webapp-$name.log
    WEBAPP=http://127.0.0.1:$port
    e2e_wait_port "$port" 10
}

# browser SCENARIO NAME DESC [QUERY] [extra args]: run one browser scenario.
browser() {
    local scenario=$1 name=$2 desc=$3 query=${4:-} out status
    shift $(($# < 4 ? $# : 4))
    out=$(cd "$CV_DIR" && timeout 150 node browser.mjs --base "$WEBAPP" --user alice \
        --scenario "$scenario" --out "$OUT" --name "$name" --query "$query" "$@" 2>"$E2E_DIR/browser-$name.err")
    status=$?
    e2e_browser_verdict "$desc" "$name" "$status" "$out" "$OUT"
}

# reconnect NAME DESC RESTART_FUNCTION [QUERY]: online, restart the server, online again.
reconnect() {
    local name=$1 desc=$2 restart=$3 query=${4:-} signal=$E2E_DIR/restarted-$1 bpid before after
    (cd "$CV_DIR" && exec timeout 150 node browser.mjs --base "$WEBAPP" --user alice \
        --scenario reconnect --out "$OUT" --name "$name" --query "$query" --signal "$signal" \
        >"$E2E_DIR/browser-$name.out" 2>"$E2E_DIR/browser-$name.err") &
    bpid=$!
    if ! e2e_retry 40 grep -q READY "$E2E_DIR/browser-$name.out"; then
        wait "$bpid"
        e2e_fail "$desc: never online before the restart: $(cat "$E2E_DIR/browser-$name.out")"
        return
    fi
    before=$(grep -c 'token #' "$WEBAPP_LOG")
    "$restart"
    touch "$signal"
    wait "$bpid"
    local status=$?
    after=$(grep -c 'token #' "$WEBAPP_LOG")
    if [ "$status" = 0 ] && [ "$after" -gt "$before" ]; then
        e2e_pass "$desc ($(tail -n1 "$E2E_DIR/browser-$name.out" | sed 's/^PASS //'); tokens minted: $before before, $after after)"
    else
        e2e_fail "$desc: exit $status, tokens $before -> $after: $(tail -n2 "$E2E_DIR/browser-$name.out") $(tail -n 3 "$E2E_DIR/browser-$name.err")"
    fi
}

# ---- ejabberd (extauth), websocket and BOSH --------------------------------
e2e_step "ejabberd $(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null) (extauth: xtoken extauth), Converse.js over websocket and BOSH"
EJD_USER=
EJD_HTTP=1
ejd_start "$E2E_DIR/ejd" "$(sed -e "s#^extauth_program: .*#extauth_program: \"$XTOKEN extauth --config $CONF\"#" \
    "$PT_ROOT/etc/ejabberd/ejabberd-extauth.yml")" || exit 1
webapp_start ejabberd "ws://127.0.0.1:$EJD_HTTP_PORT/ws" "http://127.0.0.1:$EJD_HTTP_PORT/bosh"

code=$(curl -s -o /dev/null -w '%{http_code}' "$WEBAPP/credentials")
[ "$code" = 401 ] && e2e_pass "web app: /credentials without the session cookie is 401" ||
    e2e_fail "web app: /credentials without a cookie answered $code"

mark=$(e2e_log_mark "$EJD_LOG")
browser login ejabberd-websocket "ejabberd, websocket: Converse logs in with a fresh token" "" --expect-sasl PLAIN
e2e_wait_log "$EJD_LOG" "$mark" "Accepted c2s PLAIN authentication for $ALICE by external backend" 5 >/dev/null &&
    e2e_pass "ejabberd logged the accepted token login" || e2e_fail "no accepted login in ejabberd's log"
browser login ejabberd-bosh "ejabberd, BOSH: Converse logs in with a fresh token" "?transport=bosh" --expect-sasl PLAIN
mark=$(e2e_log_mark "$EJD_LOG")
browser tamper ejabberd-tampered "ejabberd: a tampered token shows the login failure" "?auto_reconnect=0"
e2e_wait_log "$EJD_LOG" "$mark" "Failed c2s PLAIN authentication for $ALICE" 5 >/dev/null &&
    e2e_pass "ejabberd logged the refused token" || e2e_fail "no refused login in ejabberd's log"

ejd_relaunch() {
    # Same config, same ports: a restart, as an admin would do it.
    ejd_stop
    (
        cd "$EJD_DIR" || exit 1
        HOME=$EJD_DIR EJABBERD_CONFIG_PATH=$EJD_DIR/ejabberd.yml EJABBERD_LOG_PATH=$EJD_LOG \
            ERL_LIBS=$EJD_ERL_LIBS exec setsid erl -noinput -noshell \
            -mnesia dir "\"$EJD_DIR/spool\"" -s ejabberd
    ) </dev/null >>"$EJD_DIR/logs/erl.out" 2>&1 &
    EJD_PID=$!
    e2e_wait_port "$EJD_HTTP_PORT" 30
}
browser no-sasl ejabberd-no-xtoken \
    "ejabberd (no X-TOKEN) with the X-TOKEN plugin: Converse sends the token under no mechanism" \
    "?sasl=x-token&auto_reconnect=0"
reconnect ejabberd-reconnected "ejabberd restarted: Converse fetches a fresh token and reconnects by itself" ejd_relaunch
ejd_stop
e2e_stop_pid "$WEBAPP_PID" 5

# ---- Prosody (mod_auth_xtoken), websocket ----------------------------------
e2e_step "Prosody $(dpkg-query -W -f='${Version}' prosody 2>/dev/null) (authentication = \"xtoken\"), Converse.js over websocket and BOSH"
# debug: Prosody's "Received[c2s_unauthed]: <auth mechanism=...>" lines
# (stanza_router logs the top tag only; mod_bosh at debug logs whole request
# bodies, tokens included: fine for this throwaway log, never in production)
PT_LOG_LEVEL=debug
pt_start_web_provider || exit 1
webapp_start prosody "ws://127.0.0.1:$PT_HTTP_PORT/xmpp-websocket" "http://127.0.0.1:$PT_HTTP_PORT/http-bind"
mark=$(e2e_log_mark "$PT_LOG")
browser login prosody-websocket "Prosody, websocket: Converse logs in with a fresh token" "" --expect-sasl PLAIN
e2e_wait_log "$PT_LOG" "$mark" "xtoken accepted $ALICE" 5 >/dev/null &&
    e2e_pass "Prosody logged the accepted token" || e2e_fail "no 'xtoken accepted' in Prosody's log"
browser login prosody-bosh "Prosody, BOSH: Converse logs in with a fresh token" "?transport=bosh" --expect-sasl PLAIN
mark=$(e2e_log_mark "$PT_LOG")
browser tamper prosody-tampered "Prosody: a tampered token shows the login failure" "?auto_reconnect=0"
e2e_wait_log "$PT_LOG" "$mark" "xtoken refused $ALICE" 5 >/dev/null &&
    e2e_pass "Prosody logged the refused token" || e2e_fail "no 'xtoken refused' in Prosody's log"

# pt_sasl_proof DESC MARK MECHANISM OUTCOME_REGEX: Prosody's debug log after
# MARK shows an <auth/> with MECHANISM, then OUTCOME_REGEX, and no PLAIN.
pt_sasl_proof() {
    local desc=$1 mark=$2 mech=$3 outcome=$4 line
    if ! line=$(e2e_wait_log "$PT_LOG" "$mark" "Received\[c2s_unauthed\]: <auth [^>]*mechanism='$mech'" 5); then
        e2e_fail "$desc: no <auth mechanism='$mech'> in Prosody's debug log"
    elif ! e2e_wait_log "$PT_LOG" "$mark" "$outcome" 5 >/dev/null; then
        e2e_fail "$desc: no /$outcome/ in Prosody's log"
    elif e2e_log_match "$PT_LOG" "$mark" "mechanism='PLAIN'" >/dev/null; then
        e2e_fail "$desc: Prosody also received an <auth mechanism='PLAIN'>"
    else
        e2e_pass "$desc (${line##*Received})"
    fi
}
for transport in websocket bosh; do
    query="?sasl=x-token"
    [ "$transport" = bosh ] && query="?sasl=x-token&transport=bosh"
    mark=$(e2e_log_mark "$PT_LOG")
    browser login "prosody-xtoken-$transport" \
        "Prosody, $transport, X-TOKEN plugin: Converse logs in with SASL X-TOKEN, never PLAIN" \
        "$query" --expect-sasl X-TOKEN
    pt_sasl_proof "Prosody's log: X-TOKEN chosen over $transport and the login accepted, no PLAIN" \
        "$mark" X-TOKEN "xtoken accepted $ALICE"
done
mark=$(e2e_log_mark "$PT_LOG")
browser tamper prosody-xtoken-tampered "Prosody, X-TOKEN plugin: a tampered token shows the login failure" \
    "?sasl=x-token&auto_reconnect=0" --expect-sasl X-TOKEN
pt_sasl_proof "Prosody's log: the tampered token came as X-TOKEN and was refused" "$mark" X-TOKEN "xtoken refused $ALICE"
reconnect prosody-reconnected "Prosody restarted: Converse fetches a fresh token and reconnects by itself" prosody_restart
prosody_stop

# ---- Prosody without X-TOKEN, with legacy auth: the plugin sends nothing ------
# internal_plain offers PLAIN and SCRAM, mod_legacyauth the XEP-0078 iq:auth
# that Strophe falls back to when no SASL mechanism matches: the plugin must
# refuse that fallback as well.
e2e_step "Prosody without X-TOKEN (internal_plain + legacyauth), Converse.js with the X-TOKEN plugin"
prosody_start "$E2E_DIR/prosody-plain" "authentication = \"internal_plain\"
modules_enabled = { \"saslauth\", \"tls\", \"disco\", \"ping\", \"posix\", \"websocket\", \"legacyauth\" }" || exit 1
e2e_stop_pid "$WEBAPP_PID" 5
webapp_start prosody-plain "ws://127.0.0.1:$PT_HTTP_PORT/xmpp-websocket" "http://127.0.0.1:$PT_HTTP_PORT/http-bind"
# Prosody 13.0.1's own mod_legacyauth does not load (it requires a module
# 13 renamed): that Prosody offers no iq:auth, and the legacy half of the
# plugin's refusal is proven where the module loads (Prosody 0.12).
if e2e_log_match "$PT_LOG" 0 "legacyauth.*(rror|nable|not found)" >/dev/null; then
    legacy=() offer="PLAIN and SCRAM (its mod_legacyauth does not load)"
else
    legacy=(--expect-legacy-offer) offer="PLAIN, SCRAM and legacy iq:auth"
fi
mark=$(e2e_log_mark "$PT_LOG")
browser no-sasl prosody-no-xtoken \
    "Prosody offering $offer but no X-TOKEN: the plugin sends the token under none" \
    "?sasl=x-token&auto_reconnect=0" "${legacy[@]}"
if line=$(e2e_log_match "$PT_LOG" "$mark" "Received\[c2s_unauthed\]: <(auth|iq)[ >]"); then
    e2e_fail "Prosody received an authentication attempt anyway: $line"
else
    e2e_pass "Prosody's debug log: no <auth/> and no iq:auth from the browser"
fi
prosody_stop

e2e_done
