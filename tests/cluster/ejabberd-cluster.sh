#!/usr/bin/env bash
# Two ejabberd instances, one Redis: single use across a cluster, end to end.
# Node A: ejabberd 23.01 -> `xtoken extauth` (pool of 2) with config A.
# Node B: ejabberd 23.01 -> epam -> /etc/pam.d/<unique> -> pam_xtoken.so with
# config B. Both configs hold the same keys and `replay = redis://...` of one
# redis-server started here (127.0.0.1, free port, requirepass). Each node
# has its own port, directory and log. A real client (slixmpp) logs in:
# a token used on one node is refused on the other (both ways), one token
# raced by four clients (two per node) gets in exactly once, and with Redis
# stopped (SIGSTOP) both nodes refuse and keep running, then accept again.
# Needs root (PAM service file, ejabberd as its user) and
# tests/install-deps.sh build check e2e. Everything is stopped by pid on exit.
set -u
. "$(dirname "$0")/../e2e/ejabberd-lib.sh"
. "$(dirname "$0")/redis-lib.sh"

[ "$(id -u)" = 0 ] || { echo "ejabberd-cluster: needs root (writes /etc/pam.d)" >&2; exit 2; }
ejt_setup ejabberd-cluster
ETC=$EJT_ROOT/etc/ejabberd
MODULE=$(e2e_stage "$PAM_XTOKEN_SO") || exit 2
XT=$XTOKEN
REDIS_BASE=$E2E_DIR/redis
mkdir -p "$REDIS_BASE"
e2e_on_exit redis_stop_all
redis_start shared "maxmemory-policy noeviction" || exit 1

# node_conf NAME: $CONF's keys, the replay store on the shared Redis.
node_conf() {
    local conf=$E2E_DIR/$1.conf
    (
        umask 077
        { grep -v '^replay' "$CONF"
          echo "replay = redis://127.0.0.1:$REDIS_PORT/0"
          echo "redis_password = $REDIS_PASSWORD"
          echo "redis_timeout_ms = 500"; } >"$conf"
    )
    if [ -n "$EJD_USER" ]; then
        chown "root:$(id -gn "$EJD_USER")" "$conf"
        chmod 0640 "$conf"
    fi
    echo "$conf"
}
CONF_A=$(node_conf node-a)
CONF_B=$(node_conf node-b)
"$XT" check-config --config "$CONF_A" >"$E2E_DIR/check-config.out" 2>&1 &&
    grep -q "connected, authenticated, PING answered" "$E2E_DIR/check-config.out" &&
    e2e_pass "xtoken check-config reaches the shared Redis ($(grep PING "$E2E_DIR/check-config.out"))" ||
    e2e_fail "check-config: $(cat "$E2E_DIR/check-config.out")"

e2e_step "node A: extauth, config A"
EXTLOG=$E2E_DIR/node-a/logs/extauth.log
mkdir -p "$E2E_DIR/node-a/logs"
yaml_a=$(sed -e "s#^extauth_program: .*#extauth_program: \"$XT extauth --config $CONF_A --verbose 2>>$EXTLOG\"#" \
    "$ETC/ejabberd-extauth.yml")
ejd_start "$E2E_DIR/node-a" "$yaml_a" || exit 1
A_PORT=$EJD_PORT A_LOG=$EJD_LOG A_PID=$EJD_PID
e2e_on_exit "e2e_stop_pid $A_PID 15"

e2e_step "node B: PAM (epam), config B"
SERVICE=xtoken-cluster-$$
e2e_pam_service "$SERVICE" "$(sed -e "s#pam_xtoken\.so#$MODULE conf=$CONF_B#" "$ETC/pam.d/ejabberd")"
ejd_start "$E2E_DIR/node-b" "$(sed -e "s#^pam_service: .*#pam_service: $SERVICE#" "$ETC/ejabberd-pam.yml")" || exit 1
B_PORT=$EJD_PORT B_LOG=$EJD_LOG B_PID=$EJD_PID
e2e_on_exit "e2e_stop_pid $B_PID 15"

on_node() { # A|B: the node the next assertions talk to
    if [ "$1" = A ]; then
        EJD_PORT=$A_PORT EJD_LOG=$A_LOG EJD_PID=$A_PID EJT_BACKEND=external
    else
        EJD_PORT=$B_PORT EJD_LOG=$B_LOG EJD_PID=$B_PID EJT_BACKEND=pam
    fi
}

alice=alice@$EJT_DOMAIN
e2e_step "a token used on one node is refused on the other"
for order in "A B" "B A"; do
    set -- $order
    token=$(mint "$alice")
    on_node "$1"; expect_login accept "node $1: fresh token accepted" "$alice" "$token"
    on_node "$2"; expect_login refuse "node $2: the token used on node $1 refused" "$alice" "$token"
    on_node "$1"; expect_login refuse "node $1: and refused there too" "$alice" "$token"
done
on_node B; expect_login accept "node B: another fresh token accepted" "$alice" "$(mint "$alice")"

e2e_step "one token raced by four clients, two per node"
token=$(mint "$alice")
marks="$(e2e_log_mark "$A_LOG") $(e2e_log_mark "$B_LOG")"
pids=()
for i in 1 2 3 4; do
    if [ $((i % 2)) = 0 ]; then port=$A_PORT; else port=$B_PORT; fi
    XMPP_PASSWORD=$token xmpp_client login --jid "$alice" --port "$port" >"$E2E_DIR/race.$i" 2>&1 &
    pids+=($!)
done
ok=0
for pid in "${pids[@]}"; do wait "$pid" && ok=$((ok + 1)); done
sleep 0.5
set -- $marks
acc_a=$(tail -n +"$(($1 + 1))" "$A_LOG" | grep -c "Accepted c2s PLAIN authentication for $alice ")
acc_b=$(tail -n +"$(($2 + 1))" "$B_LOG" | grep -c "Accepted c2s PLAIN authentication for $alice ")
if [ "$ok" = 1 ] && [ $((acc_a + acc_b)) = 1 ]; then
    e2e_pass "raced token: one client in (node A $acc_a, node B $acc_b accepted)"
else
    e2e_fail "raced token: $ok clients in, accepted A=$acc_a B=$acc_b, expected exactly one"
fi

e2e_step "Redis stopped: both nodes refuse within the timeout and keep running"
kill -STOP "$REDIS_PID"
on_node A; expect_login refuse "node A (extauth), Redis stopped: refused" "$alice" "$(mint "$alice")"
on_node B; expect_login refuse "node B (PAM), Redis stopped: refused" "$alice" "$(mint "$alice")"
kill -CONT "$REDIS_PID"
if grep -q "no reply within 500 ms" "$EXTLOG"; then
    e2e_pass "node A logged why: $(grep -m1 -o 'replay store unusable.*' "$EXTLOG")"
else
    e2e_fail "node A did not log the Redis timeout"
fi
if kill -0 "$A_PID" 2>/dev/null && kill -0 "$B_PID" 2>/dev/null; then
    e2e_pass "both ejabberd nodes still run"
else
    e2e_fail "an ejabberd node died"
fi
on_node A; expect_login accept "node A: Redis back, fresh token accepted" "$alice" "$(mint "$alice")"
on_node B; expect_login accept "node B: Redis back, fresh token accepted" "$alice" "$(mint "$alice")"
if grep -q -F "$REDIS_PASSWORD" "$EXTLOG" "$A_LOG" "$B_LOG" "$E2E_DIR/check-config.out"; then
    e2e_fail "the Redis password appears in a log"
else
    e2e_pass "the Redis password is in no log"
fi
e2e_done
