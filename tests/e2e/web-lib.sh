# tests/e2e/web-lib.sh: real web servers in front of xtoken-credentials
# (issue 21), for tests/e2e/web.sh, tests/e2e/demo-web.sh and bench/web.sh.
# On top of prosody-lib.sh (and so lib.sh). Source it from bash; needs root
# (the servers' workers and the CGI program run as www-data, as on Debian)
# and tests/install-deps.sh build e2e prosody converse web.
#
#   web_setup            after pt_setup: $WEB_DIR with the page (etc/converse/
#                        index.html, xtoken-sasl.js, Converse.js's dist/),
#                        $WEB_CGI (a private copy of build/xtoken-credentials),
#                        $WEB_CONF (credentials_domain, credentials_allow =
#                        $WEB_DIR/chatters: alice and bob, and the keys of
#                        $CONF; root:www-data 0640 as doc/webapp.md says),
#                        $WEB_HTPASSWD with alice, bob and carol (passwords in
#                        WEB_PW_alice, WEB_PW_bob, WEB_PW_carol).
#   web_apache_start NAME WS_URL BOSH_URL
#                        Apache 2.4 with etc/apache2/xtoken-chat.conf (its
#                        paths and XMPP URLs replaced, nothing else) on
#                        127.0.0.1:$WEB_PORT; logs in $WEB_LOGS.
#   web_nginx_start NAME WS_URL BOSH_URL
#                        fcgiwrap (as www-data, -f, -p $WEB_CGI) and nginx with
#                        etc/nginx/xtoken-chat.conf the same way, plus the
#                        popular unauthenticated "location /cgi-bin/" recipe
#                        for the same fcgiwrap (to prove REMOTE_USER without
#                        AUTH_TYPE gets nothing).
#   web_stop             stop the web server (and fcgiwrap) by pid.
#   web_npm_ci           npm ci in tests/e2e/converse (e2e_npm_ci, as converse.sh).
#   web_curl USER PASSWORD PATH [curl args]   a request with basic auth to
#                        $WEB_BASE; prints the body, then the status code on
#                        a last line of its own.
# Servers run in a mount namespace whose /dev has no /dev/log: the CGI
# program's log lines go to its stderr, i.e. the web server's error log.

. "$(dirname "${BASH_SOURCE[0]}")/prosody-lib.sh"

WEB_CV_DIR=$E2E_LIB_DIR/converse
WEB_PID=
FCGI_PID=

web_setup() {
    local u var
    WEB_DIR=$E2E_DIR/web
    WEB_USER=www-data
    [ "$(id -u)" = 0 ] && id "$WEB_USER" >/dev/null 2>&1 ||
        { echo "$E2E_NAME: needs root and the user www-data (apache2)" >&2; exit 2; }
    chmod 0711 "$E2E_DIR"
    mkdir -p -m 0755 "$WEB_DIR" "$WEB_DIR/www" "$WEB_DIR/www/chat"
    WEB_CGI=$(e2e_stage "${CREDENTIALS:-$PT_ROOT/build/xtoken-credentials}") || exit 2
    cp "$PT_ROOT/etc/converse/index.html" "$PT_ROOT/etc/converse/xtoken-sasl.js" "$WEB_DIR/www/chat/"
    WEB_CONF=$WEB_DIR/credentials.conf
    printf '%s\n' alice bob >"$WEB_DIR/chatters"
    chmod 0644 "$WEB_DIR/chatters"
    {
        echo "# tests/e2e/web-lib.sh: the keys of $CONF"
        echo "credentials_domain = $PT_DOMAIN"
        echo "credentials_allow = $WEB_DIR/chatters"
        grep -v '^replay' "$CONF"
    } >"$WEB_CONF.new" || exit 2
    chown "root:$WEB_USER" "$WEB_CONF.new" && chmod 0640 "$WEB_CONF.new" && mv "$WEB_CONF.new" "$WEB_CONF"
    WEB_HTPASSWD=$WEB_DIR/htpasswd
    : >"$WEB_HTPASSWD"
    for u in alice bob carol; do
        printf -v "WEB_PW_$u" '%s' "$(openssl rand -hex 12)"
        var=WEB_PW_$u
        # -i: the password on stdin, not in argv
        printf '%s\n' "${!var}" | htpasswd -B -C 5 -i "$WEB_HTPASSWD" "$u" 2>/dev/null ||
            { echo "$E2E_NAME: htpasswd failed" >&2; exit 2; }
    done
    chown "root:$WEB_USER" "$WEB_HTPASSWD" && chmod 0640 "$WEB_HTPASSWD"
}

# Converse.js's dist/ next to the page (after web_npm_ci): no source maps.
web_stage_dist() {
    local dist=$WEB_CV_DIR/node_modules/converse.js/dist
    [ -f "$dist/converse.min.js" ] || { echo "$E2E_NAME: no $dist (web_npm_ci)" >&2; exit 2; }
    cp -r "$dist" "$WEB_DIR/www/chat/dist" && find "$WEB_DIR/www/chat/dist" -name '*.map' -delete ||
        exit 2
    chmod -R go+rX "$WEB_DIR/www"
}

web_npm_ci() {
    e2e_npm_ci "$WEB_CV_DIR" || exit 2
}

# The commands after a private /dev without /dev/log is mounted (as
# ejabberd-extauth-stderr.sh does); "$@" is the server, exec'd: same pid.
WEB_PRIVATE_DEV='set -e
old=$(mktemp -d /tmp/olddev.XXXXXX)
mount --bind /dev "$old"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero full random urandom tty; do touch /dev/$n && mount --bind "$old/$n" /dev/$n; done
ln -s /proc/self/fd /dev/fd
mkdir /dev/pts /dev/shm
umount -l "$old" && rmdir "$old"
exec "$@"'

# web_spawn DIR OUT CMD...: CMD in the background, in DIR, in its own
# session and mount namespace with the private /dev, output to OUT. $! is
# CMD's pid (every step execs the next); stopped by pid.
web_spawn() {
    local dir=$1 out=$2
    shift 2
    (cd "$dir" && exec setsid unshare --mount --propagation private \
        bash -c "$WEB_PRIVATE_DEV" bash "$@") </dev/null >"$out" 2>&1 &
}

# web_example FILE SED_ARGS...: the example with the replacements, each of
# which must have matched (a renamed path in the example fails loudly).
web_example() {
    local file=$1 out
    shift
    out=$(sed "$@" "$file") || return 1
    if grep -nE '^[^#]*(/usr/lib/cgi-bin|/var/www|/etc/|127\.0\.0\.1:5280|/run/fcgiwrap)' <<<"$out" >&2; then
        echo "$E2E_NAME: a path of $file was not replaced (above)" >&2
        return 1
    fi
    printf '%s\n' "$out"
}

web_paths() {
    echo -e "s#/usr/lib/cgi-bin/xtoken-credentials#$WEB_CGI#g"
    echo -e "s#/var/www/chat#$WEB_DIR/www/chat#g"
    echo -e "s#/etc/xtoken/credentials.conf#$WEB_CONF#g"
}

web_apache_start() {
    local name=$1 ws=$2 bosh=$3 dir=$WEB_DIR/apache-$1 m
    mkdir -p -m 0755 "$dir" "$dir/run" "$dir/logs"
    WEB_PORT=$(e2e_free_port)
    WEB_BASE=http://127.0.0.1:$WEB_PORT
    WEB_LOGS=$dir/logs
    web_example "$PT_ROOT/etc/apache2/xtoken-chat.conf" $(web_paths | sed 's/^/-e /') \
        -e "s#^Define XTOKEN_CHAT_WS .*#Define XTOKEN_CHAT_WS $ws#" \
        -e "s#^Define XTOKEN_CHAT_BOSH .*#Define XTOKEN_CHAT_BOSH $bosh#" \
        -e "s#/etc/apache2/xtoken-chat.htpasswd#$WEB_HTPASSWD#g" >"$dir/xtoken-chat.conf" || exit 2
    {
        echo "# tests/e2e/web-lib.sh: a throwaway Apache on 127.0.0.1"
        for m in mpm_event authz_core authz_user authn_core authn_file auth_basic alias mime \
            dir env cgid proxy proxy_http; do
            echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_$m.so"
        done
        cat <<EOF
ServerName 127.0.0.1
Listen 127.0.0.1:$WEB_PORT
DefaultRuntimeDir $dir/run
PidFile $dir/run/apache2.pid
Mutex file:$dir/run default
ScriptSock $dir/run/cgid.sock
User $WEB_USER
Group $WEB_USER
ErrorLog $dir/logs/error.log
LogLevel warn
LogFormat "%h %l %u %t \"%r\" %>s %b" common
CustomLog $dir/logs/access.log common
TypesConfig /etc/mime.types
DirectoryIndex index.html
<Directory />
    AllowOverride None
    Require all denied
</Directory>
Include $dir/xtoken-chat.conf
EOF
    } >"$dir/apache2.conf"
    apache2 -t -f "$dir/apache2.conf" >"$dir/logs/configtest" 2>&1 ||
        { cat "$dir/logs/configtest" >&2; exit 2; }
    web_spawn "$dir" "$dir/logs/stdout" apache2 -f "$dir/apache2.conf" -DFOREGROUND
    WEB_PID=$!
    e2e_on_exit web_stop
    e2e_wait_port "$WEB_PORT" 20 || { tail -n 20 "$dir/logs/error.log" "$dir/logs/stdout" >&2; exit 2; }
}

web_nginx_start() {
    local name=$1 ws=$2 bosh=$3 dir=$WEB_DIR/nginx-$1 t
    mkdir -p -m 0755 "$dir" "$dir/logs" "$dir/tmp" "$dir/sock"
    for t in body proxy fastcgi uwsgi scgi; do mkdir -p "$dir/tmp/$t"; done
    chown -R "$WEB_USER:" "$dir/tmp" "$dir/sock"
    WEB_PORT=$(e2e_free_port)
    WEB_BASE=http://127.0.0.1:$WEB_PORT
    WEB_LOGS=$dir/logs
    cp /etc/nginx/fastcgi_params "$dir/"
    web_example "$PT_ROOT/etc/nginx/xtoken-chat.conf" $(web_paths | sed 's/^/-e /') \
        -e "s#proxy_pass http://127.0.0.1:5280/ws;#proxy_pass $ws;#" \
        -e "s#proxy_pass http://127.0.0.1:5280/bosh;#proxy_pass $bosh;#" \
        -e "s#unix:/run/fcgiwrap.socket#unix:$dir/sock/fcgiwrap#g" \
        -e "s#/etc/nginx/xtoken-chat.htpasswd#$WEB_HTPASSWD#g" >"$dir/xtoken-chat.conf" || exit 2
    cat >"$dir/nginx.conf" <<EOF
# tests/e2e/web-lib.sh: a throwaway nginx on 127.0.0.1
user $WEB_USER;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$WEB_PORT;
        server_name 127.0.0.1;
        include $dir/xtoken-chat.conf;
        # The popular recipe for CGI scripts, without authentication: nginx
        # still sets \$remote_user from any Authorization header.
        location ~ ^/cgi-bin/(.+)\$ {
            include fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $E2E_DIR/bin/\$1;
            fastcgi_pass unix:$dir/sock/fcgiwrap;
        }
    }
}
EOF
    # fcgiwrap as Debian's fcgiwrap.service runs it (www-data, -f: the CGI's
    # stderr to nginx's error log), restricted to the one program.
    web_spawn "$dir" "$dir/logs/fcgiwrap" setpriv --reuid="$WEB_USER" --regid="$WEB_USER" \
        --init-groups -- fcgiwrap -f -c 2 -s "unix:$dir/sock/fcgiwrap" -p "$WEB_CGI"
    FCGI_PID=$!
    e2e_on_exit web_stop
    e2e_retry 10 test -S "$dir/sock/fcgiwrap" || { cat "$dir/logs/fcgiwrap" >&2; exit 2; }
    nginx -t -q -c "$dir/nginx.conf" -p "$dir/" -e "$dir/logs/error.log" 2>"$dir/logs/configtest" ||
        { cat "$dir/logs/configtest" >&2; exit 2; }
    web_spawn "$dir" "$dir/logs/stdout" nginx -c "$dir/nginx.conf" -p "$dir/" \
        -e "$dir/logs/error.log" -g 'daemon off;'
    WEB_PID=$!
    e2e_wait_port "$WEB_PORT" 20 || { tail -n 20 "$dir/logs/error.log" "$dir/logs/stdout" >&2; exit 2; }
}

web_stop() {
    [ -z "$WEB_PID" ] || e2e_stop_pid "$WEB_PID" 10
    [ -z "$FCGI_PID" ] || e2e_stop_pid "$FCGI_PID" 5
    WEB_PID=
    FCGI_PID=
}

web_curl() {
    local user=$1 password=$2 path=$3
    shift 3
    # the password through a config on stdin, not argv; no user: no auth
    if [ -n "$user" ]; then
        printf 'user = "%s:%s"\n' "$user" "$password" |
            curl -s -K - -w '\n%{http_code}' "$@" "$WEB_BASE$path"
    else
        curl -s -w '\n%{http_code}' "$@" "$WEB_BASE$path"
    fi
}
