#!/usr/bin/env bash
# make e2e-web: the whole web side of token logins with no code of the site's
# own (issue 21). A real Apache 2.4 (mod_cgid, mod_auth_basic + htpasswd)
# and then nginx + fcgiwrap (auth_basic), each on 127.0.0.1 with the very
# example of etc/apache2 and etc/nginx (paths and ports replaced), serve
# etc/converse/index.html at /chat/, run build/xtoken-credentials as
# /chat/credentials and proxy websocket and BOSH to ejabberd 23.01 (extauth)
# and Prosody 0.12 (mod_auth_xtoken). Headless Chromium answers the basic-
# auth challenge and Converse.js logs in with the token the CGI minted:
# Prosody with SASL X-TOKEN, ejabberd with PLAIN, over websocket and BOSH; a
# reload logs in again with a new token; a wrong password gets no page, no
# token and no chat; a user the allow-list leaves out gets a 403 and no chat.
# curl checks the answers (401/403/405/200, the exact JSON, a Remote-User
# header ignored, the token verifies for alice and for no one else) and
# the logs: the CGI's lines in the web server's error log (no syslog in the
# servers' private /dev), never a token in any web server log.
# Screenshots in $E2E_OUT (default build/e2e/web/).
set -u
. "$(dirname "$0")/web-lib.sh"

[ "$(id -u)" = 0 ] || { echo "e2e-web: needs root (www-data, private /dev)" >&2; exit 2; }
for cmd in apache2 htpasswd nginx fcgiwrap curl; do
    command -v "$cmd" >/dev/null || { echo "e2e-web: $cmd missing (tests/install-deps.sh web)" >&2; exit 2; }
done
pt_setup web
OUT=${E2E_OUT:-$PT_ROOT/build/e2e/web}
mkdir -p "$OUT"
rm -f "$OUT"/*.png
ALICE=alice@$PT_DOMAIN
TOKENS=$E2E_DIR/tokens   # every token handed out, to search the logs for
: >"$TOKENS"
chmod 0600 "$TOKENS"

e2e_step "npm ci (converse.js, playwright-core) from the lockfile; the page and the keys"
web_npm_ci
web_setup
web_stage_dist

# ---- the XMPP servers, both up for the whole run ----------------------------
e2e_step "ejabberd 23.01 (xtoken extauth) and Prosody 0.12 (mod_auth_xtoken), websocket and BOSH"
EJD_USER=
EJD_HTTP=1
ejd_start "$E2E_DIR/ejd" "$(sed -e "s#^extauth_program: .*#extauth_program: \"$XTOKEN extauth --config $CONF\"#" \
    "$PT_ROOT/etc/ejabberd/ejabberd-extauth.yml")" || exit 1
PT_LOG_LEVEL=debug   # Received[c2s_unauthed]: <auth mechanism=...> lines (throwaway log)
pt_start_web_provider || exit 1
EJD_WS=http://127.0.0.1:$EJD_HTTP_PORT/ws
EJD_BOSH=http://127.0.0.1:$EJD_HTTP_PORT/bosh
PT_WS=http://127.0.0.1:$PT_HTTP_PORT/xmpp-websocket
PT_BOSH=http://127.0.0.1:$PT_HTTP_PORT/http-bind

# ---- helpers -----------------------------------------------------------------
# expect DESC WANT_STATUS OUTPUT: OUTPUT is web_curl's (body, then status).
expect_status() {
    local desc=$1 want=$2 out=$3
    if [ "${out##*$'\n'}" = "$want" ]; then
        e2e_pass "$desc ($want)"
    else
        e2e_fail "$desc: status ${out##*$'\n'}, expected $want: ${out%$'\n'*}"
    fi
}

# cgi_log_count REGEX: lines of the current web server's error log with REGEX.
cgi_log_count() {
    cat "$WEB_LOGS/error.log" 2>/dev/null | grep -c -E -- "$1"
}

# The answers, through the real server, and what reached the program.
curl_checks() {
    local web=$1 out token body issued before
    e2e_step "$web: the answers of /chat/credentials (curl)"
    before=$(cgi_log_count 'xtoken-credentials')
    expect_status "$web: no credentials: the web server's own 401" 401 "$(web_curl '' '' /chat/credentials)"
    expect_status "$web: wrong password: the web server's own 401" 401 \
        "$(web_curl alice wrong-password /chat/credentials)"
    if [ "$(cgi_log_count 'xtoken-credentials')" = "$before" ]; then
        e2e_pass "$web: without valid credentials the program never ran (no log line)"
    else
        e2e_fail "$web: the program ran for an unauthenticated request: $(tail -n 2 "$WEB_LOGS/error.log")"
    fi
    out=$(web_curl alice "$WEB_PW_alice" /chat/credentials -D "$E2E_DIR/headers")
    body=${out%$'\n'*}
    token=$(sed -n 's/^{"jid": "alice@localhost", "password": "\([0-9]\{40\} [A-Za-z0-9+/]\{43\}=\)"}$/\1/p' <<<"$body")
    printf '%s\n' "$token" >>"$TOKENS"
    if [ "${out##*$'\n'}" = 200 ] && [ -n "$token" ] &&
        grep -qi '^Content-Type: application/json' "$E2E_DIR/headers" &&
        grep -qi '^Cache-Control: no-store' "$E2E_DIR/headers" &&
        ! grep -qi '^Access-Control-' "$E2E_DIR/headers"; then
        e2e_pass "$web: alice: 200, JSON {\"jid\": \"$ALICE\", \"password\": <token>}, no-store, no CORS header"
    else
        e2e_fail "$web: alice: ${out##*$'\n'} $(tr -d '\r' <"$E2E_DIR/headers" | tr '\n' '|') body=${body:0:30}..."
    fi
    if [ -n "$token" ] && printf '%s\n' "$token" | "$XTOKEN" verify --no-replay --config "$CONF" "$ALICE" &&
        ! printf '%s\n' "$token" | "$XTOKEN" verify --no-replay --config "$CONF" "bob@$PT_DOMAIN" 2>/dev/null; then
        e2e_pass "$web: the token verifies for $ALICE and not for bob@$PT_DOMAIN"
    else
        e2e_fail "$web: the token does not verify for $ALICE only"
    fi
    out=$(web_curl alice "$WEB_PW_alice" /chat/credentials -H 'Remote-User: bob' -H 'X-Remote-User: bob')
    token=$(sed -n 's/.*"password": "\([^"]*\)".*/\1/p' <<<"${out%$'\n'*}")
    printf '%s\n' "$token" >>"$TOKENS"
    case ${out%$'\n'*} in
        '{"jid": "alice@localhost", '*) e2e_pass "$web: a Remote-User: bob header changes nothing (a token for $ALICE)" ;;
        *) e2e_fail "$web: with a Remote-User header: $out" ;;
    esac
    expect_status "$web: carol (a web user the allow-list leaves out): 403" 403 \
        "$(web_curl carol "$WEB_PW_carol" /chat/credentials)"
    out=$(web_curl alice "$WEB_PW_alice" /chat/credentials -X PUT -D "$E2E_DIR/headers")
    expect_status "$web: PUT: 405" 405 "$out"
    grep -qi '^Allow: GET, POST' "$E2E_DIR/headers" && e2e_pass "$web: 405 says Allow: GET, POST" ||
        e2e_fail "$web: no Allow header: $(tr -d '\r' <"$E2E_DIR/headers" | tr '\n' '|')"
    out=$(web_curl alice "$WEB_PW_alice" '/chat/credentials?--check+--help')
    token=$(sed -n 's/.*"password": "\([^"]*\)".*/\1/p' <<<"${out%$'\n'*}")
    printf '%s\n' "$token" >>"$TOKENS"
    expect_status "$web: a query without '=' (argv of a CGI program) is no option: still a token" 200 "$out"
    issued=$(cgi_log_count "xtoken-credentials: issued a token to user 'alice' as $ALICE")
    if [ "$issued" -ge 3 ] &&
        [ "$(cgi_log_count "xtoken-credentials: refused user 'carol': not in credentials_allow")" -ge 1 ] &&
        [ "$(cgi_log_count "xtoken-credentials: refused a PUT request")" -ge 1 ]; then
        e2e_pass "$web: the program's lines are in the web server's error log ($issued issued, carol refused, PUT refused)"
    else
        e2e_fail "$web: missing log lines in $WEB_LOGS/error.log: $(grep xtoken-credentials "$WEB_LOGS/error.log" | tail -n 5)"
    fi
}

# nginx only: the popular unauthenticated /cgi-bin/ recipe runs the same
# program with $remote_user from a forged Authorization header.
forged_checks() {
    local out
    e2e_step "nginx: an unauthenticated /cgi-bin/ location and a forged Authorization header"
    out=$(web_curl alice not-her-password /cgi-bin/xtoken-credentials)
    # nginx writes its access log line after the answer: wait for it
    if [ "$out" = $'{"error": "not authenticated"}\n\n401' ] &&
        e2e_retry 5 grep -q ' - alice \[.*"GET /cgi-bin/xtoken-credentials HTTP/1.1" 401 ' \
            "$WEB_LOGS/access.log" &&
        [ "$(cgi_log_count 'refused a request with REMOTE_USER but no AUTH_TYPE')" -ge 1 ]; then
        e2e_pass "nginx passed REMOTE_USER=alice unchecked (access log); the program refused it without AUTH_TYPE: 401"
    else
        e2e_fail "forged Authorization through /cgi-bin/: $out; $(tail -n 2 "$WEB_LOGS/access.log")"
    fi
}

# browser SCENARIO NAME DESC USER PASSWORD [QUERY] [args]
browser() {
    local scenario=$1 name=$2 desc=$3 user=$4 password=$5 query=${6:-} out status
    shift $(($# < 6 ? $# : 6))
    out=$(cd "$WEB_CV_DIR" && WEB_PASSWORD=$password timeout 150 node webserver.mjs --base "$WEB_BASE" \
        --page /chat/ --user "$user" --scenario "$scenario" --out "$OUT" --name "$name" \
        --query "$query" --tokens-out "$TOKENS" "$@" 2>"$E2E_DIR/browser-$name.err")
    status=$?
    e2e_browser_verdict "$desc" "$name" "$status" "$out" "$OUT"
}

# server_logins DESC LOG MARK REGEX N: at least N lines after MARK match.
server_logins() {
    local desc=$1 log=$2 mark=$3 regex=$4 n=$5 got
    sleep 0.5
    got=$(tail -n +"$((mark + 1))" "$log" | grep -c -E -- "$regex")
    if [ "$got" -ge "$n" ]; then
        e2e_pass "$desc ($got x /$regex/)"
    else
        e2e_fail "$desc: $got x /$regex/, expected $n"
    fi
}

# logins WEB: Converse through WEB to both servers, each transport.
# Websocket: a reload logs in again with a new token. BOSH: one login (after
# a reload Converse re-attaches its BOSH session where the server lets it).
logins() {
    local web=$1 mark transport query reload n
    for transport in websocket bosh; do
        query= reload=--reload n=2
        [ "$transport" = bosh ] && query="?transport=bosh" reload= n=1
        web_$web\_start "ejabberd-$transport" "$EJD_WS" "$EJD_BOSH"
        [ "$transport" = websocket ] && curl_checks "$web"
        [ "$transport" = websocket ] && [ "$web" = nginx ] && forged_checks
        mark=$(e2e_log_mark "$EJD_LOG")
        browser login "$web-ejabberd-$transport" \
            "$web -> ejabberd, $transport: basic auth, Converse logs in with the CGI's token (PLAIN)${reload:+, reload: again}" \
            alice "$WEB_PW_alice" "$query" --expect-sasl PLAIN $reload
        server_logins "$web -> ejabberd, $transport: accepted logins" "$EJD_LOG" "$mark" \
            "Accepted c2s PLAIN authentication for $ALICE by external backend" "$n"
        if [ "$transport" = websocket ]; then
            browser refused "$web-wrong-password" "$web: wrong basic-auth password: no page, no token, no chat" \
                alice wrong-password
            browser forbidden "$web-not-allowed" "$web: carol (not in the allow-list): page, 403, no chat" \
                carol "$WEB_PW_carol" "?auto_reconnect=0"
        fi
        web_stop
        web_$web\_start "prosody-$transport" "$PT_WS" "$PT_BOSH"
        mark=$(e2e_log_mark "$PT_LOG")
        browser login "$web-prosody-$transport" \
            "$web -> Prosody, $transport: basic auth, Converse logs in with SASL X-TOKEN${reload:+, reload: again}" \
            alice "$WEB_PW_alice" "?sasl=x-token${query:+&transport=bosh}" --expect-sasl X-TOKEN $reload
        server_logins "$web -> Prosody, $transport: X-TOKEN <auth/> received" "$PT_LOG" "$mark" \
            "Received\[c2s_unauthed\]: <auth [^>]*mechanism='X-TOKEN'" "$n"
        server_logins "$web -> Prosody, $transport: tokens accepted" "$PT_LOG" "$mark" "xtoken accepted $ALICE" "$n"
        web_stop
    done
}

e2e_step "Apache 2.4 (mod_cgid, mod_auth_basic, mod_proxy_http) with etc/apache2/xtoken-chat.conf"
logins apache
e2e_step "nginx + fcgiwrap (auth_basic) with etc/nginx/xtoken-chat.conf"
logins nginx

e2e_step "no token in any web server log"
sed -i '/^$/d' "$TOKENS"
n=$(sort -u "$TOKENS" | wc -l)
if [ "$n" -lt 10 ]; then
    e2e_fail "only $n tokens were handed out: nothing to search the logs for"
else
    hits=$(grep -rlF -D skip -f "$TOKENS" "$WEB_DIR"/apache-* "$WEB_DIR"/nginx-*)
    case $? in
        1) e2e_pass "none of the $n tokens handed out is in any access, error or fcgiwrap log" ;;
        0) e2e_fail "a token in a web server log: $hits" ;;
        *) e2e_fail "could not search the web server logs" ;;
    esac
fi
e2e_done
