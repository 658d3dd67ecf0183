#!/usr/bin/env bash
# make demo-web: chat on a web site with no code of its own (issue 21).
# As root on Debian 12 or 13: installs what it needs, builds, starts Prosody
# (mod_auth_xtoken, websocket) and Apache on 127.0.0.1 with
# etc/apache2/xtoken-chat.conf: basic auth for the page, xtoken-credentials
# as /chat/credentials, Converse.js at /chat/. Prints the URL, the user and
# its (throwaway) password. With a display, waits while you log in from a
# browser on this machine (Enter stops it); without one, logs in with
# headless Chromium and prints the screenshot's path. Never prints a key or
# a token.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
MAKE=${MAKE:-make}

say() { printf '      %s\n' "$*"; }
die() {
    printf '\nDEMO FAILED: %s\n' "$*"
    exit 1
}

if [ "$(id -u)" != 0 ]; then
    echo "make demo-web: run it as root (it installs packages; Apache's workers run as www-data)." >&2
    exit 2
fi

echo "xtoken-credentials demo: Converse.js behind Apache's basic auth, tokens from a CGI program"
echo "[1/4] Installing the Debian packages it needs (tests/install-deps.sh build e2e prosody converse web)"
tests/install-deps.sh build e2e prosody converse web || die "package installation failed"
echo "[2/4] Building ($MAKE) and fetching Converse.js (npm ci in tests/e2e/converse)"
$MAKE -s -j"$(nproc)" >/dev/null || die "the build failed (run make to see why)"

. tests/e2e/web-lib.sh
pt_setup demo-web
web_npm_ci
web_setup
web_stage_dist

echo "[3/4] Starting Prosody (authentication = \"xtoken\") and Apache on 127.0.0.1"
mkdir -p "$E2E_DIR/prosody/plugins"
cp etc/prosody/mod_auth_xtoken.lua "$E2E_DIR/prosody/plugins/"
PT_HTTP=1
pt_stage_binding
prosody_start "$E2E_DIR/prosody" "authentication = \"xtoken\"
xtoken_config = \"$CONF\"" || die "Prosody did not start"
web_apache_start demo "http://127.0.0.1:$PT_HTTP_PORT/xmpp-websocket" \
    "http://127.0.0.1:$PT_HTTP_PORT/http-bind"
say "Prosody pid $PT_PID (c2s 127.0.0.1:$PT_PORT, HTTP 127.0.0.1:$PT_HTTP_PORT)"
say "Apache pid $WEB_PID, config: ${WEB_LOGS%/logs}/xtoken-chat.conf (etc/apache2/xtoken-chat.conf, paths replaced)"
say "xtoken-credentials config: $WEB_CONF ($(stat -c '%a %U:%G' "$WEB_CONF"), keys not shown)"

URL="$WEB_BASE/chat/?sasl=x-token"
printf '\n      Open:     %s\n      User:     alice\n      Password: %s\n\n' "$URL" "$WEB_PW_alice"

if { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; } && [ -t 0 ]; then
    echo "[4/4] Log in from a browser on this machine; press Enter to stop everything."
    read -r _
else
    echo "[4/4] No display: logging in with headless Chromium (basic auth, then Converse.js)"
    OUT=$ROOT/build/demo-web
    mkdir -p "$OUT"
    mark=$(e2e_log_mark "$PT_LOG")
    if line=$(cd "$WEB_CV_DIR" && WEB_PASSWORD=$WEB_PW_alice timeout 150 node webserver.mjs \
        --base "$WEB_BASE" --page /chat/ --user alice --scenario login --reload \
        --query '?sasl=x-token' --expect-sasl X-TOKEN --out "$OUT" --name demo-web 2>"$E2E_DIR/browser.err"); then
        say "${line#PASS }"
    else
        die "the browser did not get online: $line $(tail -n 3 "$E2E_DIR/browser.err")"
    fi
    say "Apache's error log (the CGI program's lines; no syslog in Apache's private /dev):"
    grep -o 'xtoken-credentials: .*' "$WEB_LOGS/error.log" | sed 's/^/        /'
    say "Prosody: $(tail -n +"$((mark + 1))" "$PT_LOG" | grep -c 'xtoken accepted alice@localhost') x 'xtoken accepted alice@localhost'"
    say "Screenshot: $OUT/demo-web.png"
fi
printf '\nStopping Apache and Prosody, removing %s\n' "$E2E_DIR"
web_stop
prosody_stop
printf 'Demo OK.\n'
