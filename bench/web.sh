#!/usr/bin/env bash
# make bench-web (run by make bench): tokens per second from xtoken-credentials
# through the two ways a web server runs it, each next to the same server
# serving a static file of the same size as the answer and running the
# cheapest CGI program there is (bench/cgi_floor.c: the same headers and
# body length, nothing else: the floor of fork+exec), behind the same basic
# auth:
#   apache   Apache 2.4, mod_cgid: the cgid daemon forks and execs the
#            program per request
#   nginx    nginx + fcgiwrap (2 workers): fcgiwrap forks and execs per request
# Both run etc/apache2 / etc/nginx's xtoken-chat.conf (tests/e2e/web-lib.sh).
# ab (apache2-utils) sends BENCH_WEB_N requests (default 2000; 10x for the
# static file) with BENCH_WEB_C at a time (default 2, the cores CI has),
# keep-alive off (a browser's credentials request is one request). The
# htpasswd hash is SHA-1 here, not bcrypt, so that the auth's cost (the same
# on both paths) does not hide the program's. Every answer must be a 200.
# Needs root and tests/install-deps.sh web.
set -u
. "$(dirname "$0")/../tests/e2e/web-lib.sh"

[ "$(id -u)" = 0 ] || { echo "bench-web: needs root (www-data)" >&2; exit 2; }
command -v ab >/dev/null || { echo "bench-web: ab missing (tests/install-deps.sh web)" >&2; exit 2; }
N=${BENCH_WEB_N:-2000}
C=${BENCH_WEB_C:-2}
pt_setup bench-web
web_setup
# a cheap hash: the auth costs the same on both paths, bcrypt would hide the CGI's cost
printf '%s\n' "$WEB_PW_alice" | htpasswd -s -i "$WEB_HTPASSWD" alice 2>/dev/null || exit 2
declare -A RATE

# rate NAME PATH COUNT: requests per second, every one a 200.
rate() {
    local name=$1 path=$2 count=$3 out failed non2xx rps
    ab -q -n 20 -c "$C" -A "alice:$WEB_PW_alice" "$WEB_BASE$path" >/dev/null 2>&1 # warm-up
    if ! out=$(ab -q -n "$count" -c "$C" -A "alice:$WEB_PW_alice" "$WEB_BASE$path" 2>&1); then
        e2e_fail "$name: ab failed: $(tail -n 3 <<<"$out")"
        return
    fi
    failed=$(awk '/^Failed requests:/ { print $3 }' <<<"$out")
    non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' <<<"$out")
    rps=$(awk '/^Requests per second:/ { printf "%.0f", $4 }' <<<"$out")
    if [ "${failed:-1}" != 0 ] || [ -n "$non2xx" ] || [ -z "$rps" ]; then
        e2e_fail "$name: failed $failed, non-2xx ${non2xx:-0}"
        return
    fi
    RATE[$name]=$rps
    e2e_pass "$name: $rps requests/s ($count requests, $C at a time)"
}

measure() {
    local web=$1 size cgi=$WEB_CGI
    # the static file: exactly as long as the answer's body
    size=$(web_curl alice "$WEB_PW_alice" /chat/credentials | head -n 1 | wc -c)
    head -c "$((size - 1))" /dev/zero | tr '\0' 'x' >"$WEB_DIR/www/chat/static.json"
    echo >>"$WEB_DIR/www/chat/static.json"
    chmod 0644 "$WEB_DIR/www/chat/static.json"
    e2e_step "$web: /chat/credentials ($size-byte answers) and /chat/static.json ($size bytes)"
    rate "${web}_cgi" /chat/credentials "$N"
    rate "${web}_static" /chat/static.json "$((N * 10))"
    # the same server, /chat/credentials now the floor program
    web_stop
    WEB_CGI=$FLOOR
    web_${web}_start bench-floor http://127.0.0.1:9/ws http://127.0.0.1:9/bosh
    WEB_CGI=$cgi
    [ "$(web_curl alice "$WEB_PW_alice" "/chat/credentials?n=$size" | head -n 1 | wc -c)" = "$size" ] ||
        e2e_fail "$web: the floor program's answer is not $size bytes"
    rate "${web}_cgi_floor" "/chat/credentials?n=$size" "$N"
    web_stop
}

FLOOR=$(e2e_stage "${CGI_FLOOR:-$PT_ROOT/build/bench/cgi_floor}") || exit 2
web_apache_start bench http://127.0.0.1:9/ws http://127.0.0.1:9/bosh
measure apache
web_nginx_start bench http://127.0.0.1:9/ws http://127.0.0.1:9/bosh
measure nginx

echo
printf '%-48s %10s %s\n' figure value unit
for web in apache nginx; do
    cgi=${RATE[${web}_cgi]:-0} static=${RATE[${web}_static]:-0}
    label=$([ "$web" = apache ] && echo "Apache mod_cgid" || echo "nginx + fcgiwrap")
    floor=${RATE[${web}_cgi_floor]:-0}
    printf '%-48s %10s %s\n' "tokens/s, $label (fork+exec)" "$cgi" "req/s" \
        "cheapest CGI program, $label" "$floor" "req/s" \
        "static file, $label" "$static" "req/s"
    [ "$cgi" -gt 0 ] && printf '%-48s %10s %s\n' \
        "static / tokens, $label" "$(awk -v s="$static" -v c="$cgi" 'BEGIN { printf "%.1f", s / c }')" "x" \
        "cheapest CGI / tokens, $label" "$(awk -v s="$floor" -v c="$cgi" 'BEGIN { printf "%.2f", s / c }')" "x"
done
echo
for k in apache_cgi apache_cgi_floor apache_static nginx_cgi nginx_cgi_floor nginx_static; do
    echo "bench web_${k}_per_s ${RATE[$k]:-0} req/s"
done
e2e_done
