# tests/cluster/redis-lib.sh: real redis-servers for the cluster tests.
# Source it from bash after setting up an EXIT trap that calls
# redis_stop_all (tests/cluster/run.sh), or through e2e_on_exit.
#
#   redis_start NAME [CONFIG-LINE...]
#       a redis-server from Debian on 127.0.0.1:<free port>, in its own
#       directory $REDIS_BASE/NAME, with a random requirepass (in its
#       config file, never on a command line), no persistence, logging to
#       NAME/redis.log. Extra lines are appended to its config verbatim.
#       Sets REDIS_PORT, REDIS_PASSWORD, REDIS_PID, REDIS_DIR; records the
#       pid in $REDIS_BASE/pids so redis_stop_all stops it by pid.
#   redis_cli ARGS...   redis-cli against the last started server
#       (password through REDISCLI_AUTH, not argv).
#   redis_stop_all      SIGKILL every recorded pid that is still ours.

redis_free_port() {
    /usr/bin/python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

redis_start() {
    local name=$1 i
    shift
    : "${REDIS_BASE:?set REDIS_BASE to a private temp dir}"
    REDIS_DIR=$REDIS_BASE/$name
    mkdir -p "$REDIS_DIR"
    chmod 0700 "$REDIS_DIR"
    REDIS_PORT=$(redis_free_port)
    REDIS_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    (
        umask 077
        printf '%s\n' "bind 127.0.0.1" "port $REDIS_PORT" "dir $REDIS_DIR" \
            "requirepass $REDIS_PASSWORD" 'save ""' "appendonly no" "daemonize no" \
            "logfile $REDIS_DIR/redis.log" "$@" >"$REDIS_DIR/redis.conf"
    )
    # its own session: a signal to the test's process group never reaches it
    setsid redis-server "$REDIS_DIR/redis.conf" </dev/null >/dev/null 2>&1 &
    REDIS_PID=$!
    disown "$REDIS_PID"   # stopped by redis_stop_all, by pid; no job notice
    echo "$REDIS_PID $(sed 's/.*) //' /proc/$REDIS_PID/stat | cut -d' ' -f20)" >>"$REDIS_BASE/pids"
    for ((i = 0; i < 100; i++)); do
        [ "$(redis_cli PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    echo "redis_start: $name did not answer on 127.0.0.1:$REDIS_PORT" >&2
    tail -n 20 "$REDIS_DIR/redis.log" >&2
    return 1
}

redis_cli() {
    REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# Kill each recorded pid if it is still the process we started (same start
# time), never by name.
redis_stop_all() {
    local pid start
    [ -f "${REDIS_BASE:-}/pids" ] || return 0
    while read -r pid start; do
        if [ "$(sed 's/.*) //' /proc/"$pid"/stat 2>/dev/null | cut -d' ' -f20)" = "$start" ]; then
            kill -CONT "$pid" 2>/dev/null
            kill -KILL "$pid" 2>/dev/null
        fi
    done <"$REDIS_BASE/pids"
    rm -f "$REDIS_BASE/pids"
}
