# tests/e2e/prosody-lib.sh: a throwaway Prosody (0.12 on Debian 12, 13 on 13) for the
# end-to-end tests, on top of lib.sh. Source it from bash.
#
#   pt_setup NAME        e2e_init + fresh keys: $CONF (xtoken keygen, replay =
#                        $REPLAY, laid out like the package's /run/pam_xtoken),
#                        $USERS (alice, bob), $XTOKEN (a private copy of
#                        build/xtoken), $PT_USER (prosody when root, else
#                        the current user; the config is root:prosody 0640).
#   e2e_stage FILE        copy FILE into $E2E_DIR/bin (0755), print the path.
#   pt_stage_binding     copy the Lua binding ($XTOKEN_LUA_SO, default
#                        build/lua/xtoken.so) to $E2E_DIR/lua and put that
#                        dir first in Prosody's LUA_CPATH_5_4 (PT_ENV), so
#                        mod_auth_xtoken's require "xtoken" loads this build.
#   mint JID [AT]        print a token for JID (xtoken issue [--at AT]).
#   tamper TOKEN         print TOKEN with one signature character changed.
#   prosody_start DIR AUTH_LUA
#                        write DIR/prosody.cfg.lua (VirtualHost localhost,
#                        c2s with STARTTLS on 127.0.0.1:$PT_PORT, self-signed
#                        cert, modules from $PT_PLUGINS) with AUTH_LUA (the
#                        auth lines, verbatim, global scope), start it as
#                        $PT_USER, wait for the port, register its stop.
#                        PT_HTTP=1 also serves /xmpp-websocket and /http-bind
#                        on 127.0.0.1:$PT_HTTP_PORT. PT_ENV: extra
#                        environment (VAR=value words) for Prosody.
#                        PT_REQUIRE_ENCRYPTION=false: c2s_require_encryption
#                        (default true) for insecure-session tests.
#                        Sets PT_PID, PT_PORT, PT_LOG.
#   prosody_restart      stop and start the same instance on the same ports.
#   prosody_stop         stop it by pid (bounded wait).
#   pt_expect_login accept|refuse DESC JID TOKEN REGEX_ACCEPT REGEX_REFUSE
#                        log in with tests/e2e/xmpp_client.py (slixmpp,
#                        STARTTLS, PLAIN); assert the client's result and a
#                        matching line in Prosody's log after the attempt.
#   pt_expect_xtoken accept|refuse DESC JID TOKEN REGEX_ACCEPT REGEX_REFUSE
#                        the same with SASL X-TOKEN (prosody-sasl-client.py).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PT_ROOT=$(cd "$E2E_LIB_DIR/../.." && pwd)
PT_DOMAIN=localhost

pt_setup() {
    e2e_init "$1"
    local built=${XTOKEN:-$PT_ROOT/build/xtoken}
    [ -x "$built" ] || { echo "$1: $built is missing: run make" >&2; exit 2; }
    XTOKEN=$(e2e_stage "$built") || exit 2
    PT_USER=
    if [ "$(id -u)" = 0 ] && id prosody >/dev/null 2>&1; then
        PT_USER=prosody
    fi
    CONF=$E2E_DIR/pam_xtoken.conf
    USERS=$E2E_DIR/users
    REPLAY=$E2E_DIR/replay
    e2e_replay_dir "$REPLAY" "$PT_USER" || exit 2
    { echo "replay = $REPLAY"; "$XTOKEN" keygen; } >"$CONF.new" || exit 2
    if [ -n "$PT_USER" ]; then
        chmod 0711 "$E2E_DIR"
        chown "root:$(id -gn "$PT_USER")" "$CONF.new"
        chmod 0640 "$CONF.new"
    else
        chmod 0600 "$CONF.new"
    fi
    mv "$CONF.new" "$CONF"
    printf '%s\n' "alice@$PT_DOMAIN" "bob@$PT_DOMAIN" >"$USERS"
    chmod 0644 "$USERS"
}

pt_stage_binding() {
    local so=${XTOKEN_LUA_SO:-$PT_ROOT/build/lua/xtoken.so}
    [ -f "$so" ] || { echo "$E2E_NAME: $so (the Lua binding) is missing: run make" >&2; exit 2; }
    mkdir -p -m 0755 "$E2E_DIR/lua"
    cp "$so" "$E2E_DIR/lua/xtoken.so" && chmod 0644 "$E2E_DIR/lua/xtoken.so" || exit 2
    # Absolute (Prosody drops relative entries); ";;" keeps Lua's default
    # path for Prosody's other C modules.
    PT_ENV="${PT_ENV:+$PT_ENV }LUA_CPATH_5_4=$E2E_DIR/lua/?.so;;"
}

# pt_start_web_provider: Prosody on mod_auth_xtoken with this tree's provider
# and binding (authentication = "xtoken", config $CONF), its HTTP
# (websocket, BOSH) on, for the browser tests.
pt_start_web_provider() {
    mkdir -p "$E2E_DIR/prosody/plugins"
    cp "$PT_ROOT/etc/prosody/mod_auth_xtoken.lua" "$E2E_DIR/prosody/plugins/" || return 1
    PT_HTTP=1
    pt_stage_binding
    prosody_start "$E2E_DIR/prosody" "authentication = \"xtoken\"
xtoken_config = \"$CONF\""
}

# The token checks both Prosody paths make, through the caller's
# `login accept|refuse DESC JID TOKEN`: tampered, other JID, expired,
# replayed, and two fresh tokens in a row.
pt_token_checks() {
    local token
    login refuse "tampered token refused" "$ALICE" "$(tamper "$(mint "$ALICE")")"
    login refuse "token for another JID refused" "$ALICE" "$(mint "$BOB")"
    login refuse "expired token (minted 120 s ago) refused" "$ALICE" "$(mint "$ALICE" $(($(date +%s) - 120)))"
    token=$(mint "$ALICE")
    login accept "token used once" "$ALICE" "$token"
    login refuse "the same token replayed refused" "$ALICE" "$token"
    login accept "two fresh tokens in a row: first" "$ALICE" "$(mint "$ALICE")"
    login accept "two fresh tokens in a row: second" "$ALICE" "$(mint "$ALICE")"
}

pt_write_config() {
    local dir=$1 auth=$2
    cat >"$dir/prosody.cfg.lua" <<EOF
-- Throwaway Prosody written by tests/e2e/prosody-lib.sh: loopback only.
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
plugin_paths = { "$dir/plugins" }
log = { ${PT_LOG_LEVEL:-info} = "$dir/prosody.log" }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $PT_PORT }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { ${PT_HTTP_PORT:-} }
http_interfaces = { "127.0.0.1" }
https_ports = { }
c2s_require_encryption = ${PT_REQUIRE_ENCRYPTION:-true}
ssl = { key = "$dir/cert.pem", certificate = "$dir/cert.pem" }
consider_websocket_secure = true
consider_bosh_secure = true
certificates = "$dir/certs"
log_auth_ips = "all"
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "posix", "offline", "log_auth"$( [ "${PT_HTTP:-0}" = 1 ] && echo ', "websocket", "bosh"') }
modules_disabled = { "s2s" }
-- --- auth ---
$auth
VirtualHost "$PT_DOMAIN"
EOF
}

pt_launch() {
    local dir=$PT_DIR as_user=()
    [ -z "$PT_USER" ] || [ "$PT_USER" = "$(id -un)" ] ||
        as_user=(setpriv --reuid="$PT_USER" --regid="$(id -g "$PT_USER")" --init-groups --)
    # Its own session (signals to our group never reach it); stopped by pid.
    (
        cd "$dir" || exit 1
        exec env ${PT_ENV:-} setsid "${as_user[@]}" prosody -F --config "$dir/prosody.cfg.lua"
    ) </dev/null >"$dir/prosody.out" 2>&1 &
    PT_PID=$!
    if ! e2e_wait_port "$PT_PORT" 20; then
        echo "e2e: prosody did not start; last lines:" >&2
        tail -n 20 "$PT_LOG" "$dir/prosody.out" >&2 2>/dev/null
        return 1
    fi
    if [ "${PT_HTTP:-0}" = 1 ] && ! e2e_wait_port "$PT_HTTP_PORT" 10; then
        return 1
    fi
}

prosody_start() {
    local dir=$1 auth=$2
    mkdir -p "$dir/data" "$dir/plugins" "$dir/certs"
    PT_DIR=$dir
    PT_PORT=$(e2e_free_port)
    PT_HTTP_PORT=
    [ "${PT_HTTP:-0}" = 1 ] && PT_HTTP_PORT=$(e2e_free_port)
    [ -f "$dir/cert.pem" ] || e2e_cert "$dir/cert.pem" "$PT_DOMAIN" || return 1
    pt_write_config "$dir" "$auth"
    PT_LOG=$dir/prosody.log
    if [ -n "$PT_USER" ]; then
        chown -R "$PT_USER:" "$dir" || return 1
    fi
    e2e_on_exit prosody_stop
    pt_launch
}

prosody_restart() {
    prosody_stop
    pt_launch
}

prosody_stop() {
    [ -n "${PT_PID:-}" ] || return 0
    e2e_stop_pid "$PT_PID" 10
    PT_PID=
}

# pt_check WANT DESC MARK STATUS OUT REGEX_ACCEPT REGEX_REFUSE
pt_check() {
    local want=$1 desc=$2 mark=$3 status=$4 out=$5 yes=$6 no=$7 line
    if [ "$want" = accept ]; then
        if [ "$status" != 0 ]; then
            e2e_fail "$desc: client exit $status ($out), expected success"
        elif ! line=$(e2e_wait_log "$PT_LOG" "$mark" "$yes" 5); then
            e2e_fail "$desc: client ok but no /$yes/ in Prosody's log"
        else
            e2e_pass "$desc (${line##*	})"
        fi
    else
        if [ "$status" != 1 ]; then
            e2e_fail "$desc: client exit $status ($out), expected an authentication failure"
        elif ! line=$(e2e_wait_log "$PT_LOG" "$mark" "$no" 5); then
            e2e_fail "$desc: refused ($out) but no /$no/ in Prosody's log"
        elif e2e_log_match "$PT_LOG" "$mark" "$yes" >/dev/null; then
            e2e_fail "$desc: refused, yet the log also says /$yes/"
        else
            e2e_pass "$desc (${line##*	})"
        fi
    fi
}

pt_expect_login() {
    local want=$1 desc=$2 jid=$3 token=$4 mark out status
    e2e_mint_failed "$desc" && return
    mark=$(e2e_log_mark "$PT_LOG")
    out=$(XMPP_PASSWORD=$token xmpp_client login --jid "$jid" --port "$PT_PORT")
    status=$?
    pt_check "$want" "$desc" "$mark" "$status" "$out" "$5" "$6"
}

pt_expect_xtoken() {
    local want=$1 desc=$2 jid=$3 token=$4 mark out status
    e2e_mint_failed "X-TOKEN: $desc" && return
    mark=$(e2e_log_mark "$PT_LOG")
    out=$(XMPP_PASSWORD=$token "$E2E_PYTHON" "$E2E_LIB_DIR/prosody-sasl-client.py" \
        --jid "$jid" --port "$PT_PORT" --mechanism X-TOKEN)
    status=$?
    pt_check "$want" "X-TOKEN: $desc" "$mark" "$status" "$out" "$5" "$6"
}
