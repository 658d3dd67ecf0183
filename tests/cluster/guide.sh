#!/usr/bin/env bash
# doc/clusters.md followed as written, inside a pristine Debian root (as
# root; make check-guides runs it in its cluster root: tests/guides/inside.sh):
# its command blocks (<!-- snippet: NAME --> ... <!-- /snippet -->) are
# extracted and run in order, with only what a chroot needs changed:
#   - Redis is started, restarted and stopped by its init script (what the
#     unit does: the same redis.conf, user redis); nothing starts it at
#     install (policy-rc.d);
#   - 10.0.0.5 becomes 127.0.0.1 and port 6379 a free port (the network is
#     the host's, shared with other tests);
#   - the passwords the guide asks for are random ones, typed on stdin.
# Then: xtoken check-config prints what the guide shows (up to times, sizes
# and the address), a token logs in, Redis restarts, and a new token logs in
# again while the first stays used (the user and the entries persisted).
# A control first: a user made without CONFIG REWRITE is gone after a
# restart (WRONGPASS), which is the step the guide must not miss.
#   tests/cluster/guide.sh [XTOKEN]     (default build/xtoken)
set -euo pipefail
cd "$(dirname "$0")/../.."
DOC=doc/clusters.md
XTOKEN=$(realpath "${1:-build/xtoken}")
CONF=/etc/security/pam_xtoken.conf
REDIS_CONF=/etc/redis/redis.conf
ADMIN_PW=admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
NODE_PW=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export LC_ALL=C.UTF-8

fail() { echo "guide: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# The block of snippet NAME, without the fences.
snippet() {
    awk -v name="$1" '
        $0 == "<!-- snippet: " name " -->" { on = 1; next }
        on && /^<!-- \/snippet -->/ { exit }
        on && !/^```/ { print }' "$DOC"
}

redis_init() { /etc/init.d/redis-server "$1" >/dev/null; }
redis_up() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(REDISCLI_AUTH=$ADMIN_PW redis-cli --no-auth-warning -p "$PORT" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    tail -n 20 /var/log/redis/redis-server.log >&2
    fail "redis-server did not answer on 127.0.0.1:$PORT"
}
# Stopped by the init script: start-stop-daemon --pidfile, i.e. by its pid.
trap '[ -x /etc/init.d/redis-server ] && /etc/init.d/redis-server stop >/dev/null 2>&1 || true' EXIT

step "redis-install"
[ -n "$(snippet redis-install)" ] || fail "no redis-install block in $DOC"
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
bash -euo pipefail -c "$(snippet redis-install | sed 's/apt-get install /apt-get install -y -qq /')" >/dev/null
rm -f /usr/sbin/policy-rc.d
echo "redis-server $(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')"

step "redis-conf: each line replaces the setting's active line, or is added"
snippet redis-conf | grep -v '^#' | sed -e 's/10\.0\.0\.5 //' -e "s/ADMIN-PASSWORD/$ADMIN_PW/" |
    while read -r key rest; do
        if grep -q "^$key " "$REDIS_CONF"; then
            sed -i "s|^$key .*|$key $rest|" "$REDIS_CONF"
        else
            echo "$key $rest" >>"$REDIS_CONF"
        fi
    done
sed -i "s/^port 6379$/port $PORT/" "$REDIS_CONF"
grep -q "^port $PORT$" "$REDIS_CONF" || fail "no 'port 6379' line in Debian's redis.conf"
redis_init start
redis_up

step "control: a user made without CONFIG REWRITE does not survive a restart"
REDISCLI_AUTH=$ADMIN_PW redis-cli --no-auth-warning -p "$PORT" ACL SETUSER lost on '>lost-pw' '+ping' >/dev/null
[ "$(redis-cli -p "$PORT" --user lost --pass lost-pw --no-auth-warning PING)" = PONG ] || fail "control user"
redis_init restart
redis_up
out=$(redis-cli -p "$PORT" --user lost --pass lost-pw --no-auth-warning PING 2>&1 || true)
case $out in *WRONGPASS*) echo "after a restart: $out" ;; *) fail "control user survived a restart: $out" ;; esac

step "redis-acl (bash, the two passwords on stdin)"
acl=$(snippet redis-acl | sed "s/^redis-cli /redis-cli -p $PORT /")
# (its two `echo`s end the lines the hidden reads leave open: blank here)
out=$(printf '%s\n%s\n' "$ADMIN_PW" "$NODE_PW" | bash -euo pipefail -c "$acl" 2>&1 | sed '/^$/d')
[ "$out" = $'OK\nOK' ] || fail "redis-acl printed: $out"
case $(grep -c "$NODE_PW" "$REDIS_CONF" /root/.rediscli_history 2>/dev/null || true) in
*:[1-9]*) fail "the nodes' password is in a file" ;;
esac
grep -q '^user xtoken on .*~xtoken:replay:\*' "$REDIS_CONF" || fail "CONFIG REWRITE wrote no xtoken user"

step "node-conf: keygen's global keys, then the guide's block"
umask 077
"$XTOKEN" keygen >"$CONF"
snippet node-conf | sed -e "s/10\.0\.0\.5:6379/127.0.0.1:$PORT/" \
    -e "s/PASSWORD-FOR-THE-NODES/$NODE_PW/" >>"$CONF"
umask 022

step "check-config prints what the guide shows"
normalize() {
    sed -E -e "s/127\.0\.0\.1:$PORT/10.0.0.5:6379/g" -e 's/[-+]?[0-9]+\.[0-9]+ (ms|s)/N \1/g' \
        -e 's/used [0-9]+ bytes/used N bytes/'
}
want=$(snippet check-config | sed -n 's/^\$ //p')
[ "$want" = "xtoken check-config --config $CONF" ] || fail "check-config block: $want"
got=$("$XTOKEN" check-config --config "$CONF" | normalize)
expected=$(snippet check-config | sed '1d' | normalize)
[ "$got" = "$expected" ] || { diff <(echo "$expected") <(echo "$got") >&2 || true; fail "check-config output differs from the guide"; }
echo "$got"

step "node-login, Redis restarted, node-login again"
login=$(snippet node-login | sed -n 's/^\$ //p' | sed "s|xtoken |$XTOKEN |g")
[ "$(bash -o pipefail -c "$login")" = valid ] || fail "node-login before the restart"
first=$("$XTOKEN" issue alice@example.org)
echo "$first" | "$XTOKEN" verify alice@example.org || fail "a first token"
redis_init restart
redis_up
[ "$(bash -o pipefail -c "$login")" = valid ] || fail "node-login after the restart (the user was not kept)"
rc=0
echo "$first" | "$XTOKEN" verify alice@example.org 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "a token used before the restart: exit $rc, want 1 (replayed: appendonly yes)"
echo "logins after the restart: ok; the token used before it: refused (replayed)"

step "the Unix socket of 'No TLS': unixsocketperm 770, a service user in group redis"
sed -i -e 's|^# *unixsocket /run/redis/redis-server.sock$|unixsocket /run/redis/redis-server.sock|' \
    -e 's|^# *unixsocketperm .*|unixsocketperm 770|' "$REDIS_CONF"
grep -q '^unixsocket /run/redis/redis-server.sock$' "$REDIS_CONF" || fail "Debian's redis.conf has no unixsocket line"
redis_init restart
redis_up
id xtsvc >/dev/null 2>&1 || useradd --system --no-create-home xtsvc
adduser --quiet xtsvc redis
# the service user's own copy of the tool and the config (root's stay 0700/0600)
svc_dir=$(mktemp -d /tmp/xtsvc.XXXXXX)
chmod 755 "$svc_dir"
install -m 755 "$XTOKEN" "$svc_dir/xtoken"
sed 's|^replay = .*|replay = redis+unix:///run/redis/redis-server.sock|' "$CONF" >"$svc_dir/conf"
chown xtsvc "$svc_dir/conf"
chmod 600 "$svc_dir/conf"
"$XTOKEN" issue alice@example.org |
    su -s /bin/sh xtsvc -c "$svc_dir/xtoken verify --config $svc_dir/conf alice@example.org" ||
    fail "a login through the Unix socket as a member of group redis"
echo "login through redis+unix:// as xtsvc (group redis): ok"
rm -rf "$svc_dir"

step "the other settings the guide names exist in this Redis"
for name in min-replicas-to-write min-replicas-max-lag appendfsync maxmemory-policy; do
    grep -q "\b$name\b" "$DOC" || fail "$DOC no longer names $name: update this list"
    got=$(REDISCLI_AUTH=$ADMIN_PW redis-cli --no-auth-warning -p "$PORT" CONFIG GET "$name" | head -n 1)
    [ "$got" = "$name" ] || fail "redis-server has no setting $name"
done
echo "min-replicas-to-write min-replicas-max-lag appendfsync maxmemory-policy: ok"

redis_init stop
echo "guide: doc/clusters.md passes on $(. /etc/os-release && echo "$PRETTY_NAME")"
