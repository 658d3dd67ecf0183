#!/usr/bin/env bash
# make bench-prosody (also run by make bench-e2e): a login storm against
# throwaway Prosody 0.12 instances (127.0.0.1, free ports, each in its own
# dir, stopped by pid on every exit), one config each, differing only in
# the authentication provider:
#   internal_plain  Prosody's own accounts (storm0..storm$N, one password;
#                   storm0 registered with prosodyctl, the rest copies of
#                   its account file)
#   xtoken          etc/prosody/mod_auth_xtoken.lua as it is in this tree
#                   (on the Lua binding build/lua/xtoken.so when the module
#                   requires it; the popen design before it)
#   xtoken_before   (only with BENCH_PROSODY_BEFORE=REV) the module of git
#                   revision REV, e.g. the last one that ran `xtoken verify`
#                   per login, for a before/after in the same run
# and the same client (bench/prosody_storm.py, raw sockets, no TLS, PLAIN)
# for each:
#   storm        BENCH_STORM_ROUNDS (3) rounds of BENCH_STORM_LOGINS (400)
#                logins of distinct users, BENCH_STORM_CLIENTS (8) at a time;
#                for xtoken each login a fresh token minted before its round.
#                Meanwhile an unrelated logged-in connection pings the
#                server: p50/p99 of its waits.
#                The instances run side by side and the rounds are
#                interleaved (A B C A B C ...), so a change in the machine's
#                load hits every provider alike.
#   user_exists  BENCH_USER_EXISTS (10000) usermanager.user_exists calls
#                inside Prosody (bench/prosody_storm_mod.lua), once timed,
#                once under strace -f -c counting the processes started
#                (clone, clone3, fork, vfork, execve; the traced run also
#                holds the client's own login); a popen module gets
#                BENCH_USER_EXISTS_POPEN (1000): a process each takes minutes.
# Plaintext c2s with allow_unencrypted_plain_auth = true, on loopback only:
# TLS would cost both providers the same and blur what differs.
# Needs root (strace attaches to Prosody; Prosody runs as user prosody) and
# tests/install-deps.sh prosody (strace is in its list).
set -u
. "$(dirname "$0")/../tests/e2e/prosody-lib.sh"

[ "$(id -u)" = 0 ] || { echo "bench-prosody: needs root (strace -p, Prosody as user prosody)" >&2; exit 2; }
command -v strace >/dev/null || { echo "bench-prosody: strace missing (tests/install-deps.sh prosody)" >&2; exit 2; }
N=${BENCH_STORM_LOGINS:-400}
CLIENTS=${BENCH_STORM_CLIENTS:-8}
ROUNDS=${BENCH_STORM_ROUNDS:-3}
UE_CALLS=${BENCH_USER_EXISTS:-10000}
UE_CALLS_POPEN=${BENCH_USER_EXISTS_POPEN:-1000}
BEFORE=${BENCH_PROSODY_BEFORE:-}
CLIENT=("$E2E_PYTHON" "$PT_ROOT/bench/prosody_storm.py")
pt_setup prosody-storm
PASSWORD=storm-$RANDOM$RANDOM$RANDOM
declare -A FIG

# The module in this tree runs on the binding when it requires "xtoken".
module_kind() {
    if grep -q 'require, *"xtoken")\|require *"xtoken"' "$1"; then echo binding; else echo popen; fi
}

# start_prosody NAME AUTH_LUA [MODULE_FILE]: a fresh instance in $E2E_DIR/NAME,
# left running (every instance is stopped by its pid on exit).
declare -A PORT PID ARGS KINDOF
NAMES=()
LABEL=()
start_prosody() {
    local name=$1 auth=$2 module=${3:-} dir=$E2E_DIR/$1
    mkdir -p "$dir/plugins"
    cp "$PT_ROOT/bench/prosody_storm_mod.lua" "$dir/plugins/mod_prosody_storm.lua"
    [ -z "$module" ] || cp "$module" "$dir/plugins/mod_auth_xtoken.lua"
    # Later assignments win in Prosody's config: plaintext c2s with PLAIN
    # allowed, and a lean module list, the same for every provider.
    PT_LOG_LEVEL=info prosody_start "$dir" "$auth
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
modules_enabled = { \"saslauth\", \"ping\", \"posix\", \"prosody_storm\" }" || return 1
    e2e_on_exit "e2e_stop_pid $PT_PID 10"
    PORT[$name]=$PT_PORT
    PID[$name]=$PT_PID
    NAMES+=("$name")
}

# client COMMAND NAME ARGS...: bench/prosody_storm.py against instance NAME.
client() {
    local command=$1 name=$2
    shift 2
    # ARGS[NAME]: --password PW or --config CONF (word-split on purpose)
    # shellcheck disable=SC2086
    "${CLIENT[@]}" "$command" --port "${PORT[$name]}" --domain "$PT_DOMAIN" ${ARGS[$name]} "$@"
}

# warm_up NAME: a few logins, and a wrong password / tampered token refused
# (or the figures would mean nothing).
warm_up() {
    local name=$1
    client storm "$name" --count 16 --rounds 1 --clients "$CLIENTS" >/dev/null ||
        { e2e_fail "$name: warm-up logins failed"; return 1; }
    if client login "$name" --jid "storm1@$PT_DOMAIN" --tamper >/dev/null 2>&1; then
        e2e_fail "$name: a wrong password or tampered token was accepted"
        return 1
    fi
    e2e_pass "$name: warm-up logins accepted, a wrong password / tampered token refused"
}

# cpu_ticks PID: CPU time of PID and its reaped children (utime stime
# cutime cstime of /proc/PID/stat), in clock ticks.
cpu_ticks() {
    sed 's/.*) //' /proc/"$1"/stat | awk '{ print $12 + $13 + $14 + $15 }'
}

# storm_round NAME: one round of N logins; adds to FIG[NAME,logins|seconds|
# client_cpu_s|server_ticks].
storm_round() {
    local name=$1 out key value ticks
    declare -A got=()
    ticks=$(cpu_ticks "${PID[$name]}")
    if ! out=$(client storm "$name" --count "$N" --rounds 1 --clients "$CLIENTS" \
        --samples "$E2E_DIR/$name.samples"); then
        FIG[$name,failed]=1
        return 1
    fi
    while read -r key value; do got[$key]=$value; done <<<"$out"
    FIG[$name,server_ticks]=$(( ${FIG[$name,server_ticks]:-0} + $(cpu_ticks "${PID[$name]}") - ticks ))
    FIG[$name,client_cpu_s]=$(awk -v a="${FIG[$name,client_cpu_s]:-0}" -v b="${got[client_cpu_s]}" 'BEGIN { printf "%.6f", a + b }')
    FIG[$name,logins]=$(( ${FIG[$name,logins]:-0} + ${got[logins]} ))
    FIG[$name,seconds]=$(awk -v a="${FIG[$name,seconds]:-0}" -v b="${got[seconds]}" 'BEGIN { printf "%.6f", a + b }')
}

# user_exists NAME: UE calls timed, then the same under strace -f -c.
user_exists() {
    local name=$1 calls=$UE_CALLS out key value trace tpid status
    # a process per call takes minutes for 10,000: fewer calls there
    [ "${KINDOF[$name]:-}" = popen ] && calls=$UE_CALLS_POPEN
    e2e_step "$name: $calls user_exists calls, then again under strace"
    if ! out=$(client user-exists "$name" --count "$calls"); then
        e2e_fail "$name: user_exists run failed"
        return
    fi
    while read -r key value; do FIG[$name,ue_$key]=$value; done <<<"$out"
    trace=$E2E_DIR/$name.strace
    strace -f -c -e trace=clone,clone3,fork,vfork,execve -o "$trace" -p "${PID[$name]}" 2>"$trace.err" &
    tpid=$!
    e2e_on_exit "e2e_stop_pid $tpid 5"
    # attached once Prosody's thread shows strace as its tracer
    if ! e2e_retry 10 grep -q "^TracerPid:[[:space:]]*$tpid\$" /proc/"${PID[$name]}"/status; then
        e2e_fail "$name: strace did not attach: $(cat "$trace.err")"
        return
    fi
    out=$(client user-exists "$name" --count "$calls")
    status=$?
    kill -INT "$tpid"
    wait "$tpid"
    [ "$status" = 0 ] || { e2e_fail "$name: user_exists run under strace failed"; return; }
    FIG[$name,ue_traced_calls]=$(awk '$1 == "calls" { print $2 }' <<<"$out")
    # strace -c columns: % time, seconds, usecs/call, calls, [errors,] syscall
    FIG[$name,ue_clones]=$(awk '$NF ~ /^(clone|clone3|fork|vfork)$/ { n += $4 } END { print n + 0 }' "$trace")
    FIG[$name,ue_execs]=$(awk '$NF == "execve" { n += $4 } END { print n + 0 }' "$trace")
    e2e_pass "$name: ${FIG[$name,ue_calls]} user_exists calls (${FIG[$name,ue_found]} found) at ${FIG[$name,ue_calls_per_s]}/s; under strace: ${FIG[$name,ue_traced_calls]:-?} calls, ${FIG[$name,ue_clones]} clone/fork, ${FIG[$name,ue_execs]} execve"
}

# --- the instances -------------------------------------------------------------
# internal_plain: Prosody's own accounts
start_prosody internal_plain 'authentication = "internal_plain"' || exit 1
e2e_as "$PT_USER" prosodyctl --config "$PT_DIR/prosody.cfg.lua" register storm0 "$PT_DOMAIN" "$PASSWORD" \
    >"$E2E_DIR/prosodyctl.out" 2>&1 || { e2e_fail "prosodyctl register: $(tail -n3 "$E2E_DIR/prosodyctl.out")"; e2e_done; exit 1; }
ACCOUNTS=$PT_DIR/data/$PT_DOMAIN/accounts
[ -f "$ACCOUNTS/storm0.dat" ] || { e2e_fail "prosodyctl wrote no $ACCOUNTS/storm0.dat"; e2e_done; exit 1; }
for ((i = 1; i <= N; i++)); do cp -p "$ACCOUNTS/storm0.dat" "$ACCOUNTS/storm$i.dat"; done
ARGS[internal_plain]="--password $PASSWORD"
LABEL+=(internal_plain)

XT_AUTH="authentication = \"xtoken\"
xtoken_path = \"$XTOKEN\"
xtoken_config = \"$CONF\""
# xtoken_before: the module of git revision $BEFORE (started before the
# binding is staged: it never sees LUA_CPATH)
if [ -n "$BEFORE" ]; then
    git -C "$PT_ROOT" show "$BEFORE:etc/prosody/mod_auth_xtoken.lua" >"$E2E_DIR/mod_auth_xtoken.before.lua" ||
        { echo "bench-prosody: no etc/prosody/mod_auth_xtoken.lua at $BEFORE" >&2; exit 2; }
    start_prosody xtoken_before "$XT_AUTH" "$E2E_DIR/mod_auth_xtoken.before.lua" || exit 1
    ARGS[xtoken_before]="--config $CONF"
    KINDOF[xtoken_before]=$(module_kind "$E2E_DIR/mod_auth_xtoken.before.lua")
    LABEL+=("xtoken@$(git -C "$PT_ROOT" rev-parse --short "$BEFORE") ($(module_kind "$E2E_DIR/mod_auth_xtoken.before.lua"))")
fi

# xtoken: the module of this tree
KIND=$(module_kind "$PT_ROOT/etc/prosody/mod_auth_xtoken.lua")
if [ "$KIND" = binding ]; then
    declare -F pt_stage_binding >/dev/null ||
        { echo "bench-prosody: the module needs the binding but prosody-lib.sh has no pt_stage_binding" >&2; exit 2; }
    pt_stage_binding
fi
start_prosody xtoken "$XT_AUTH" "$PT_ROOT/etc/prosody/mod_auth_xtoken.lua" || exit 1
ARGS[xtoken]="--config $CONF"
KINDOF[xtoken]=$KIND
LABEL+=("xtoken ($KIND)")

# --- storm: rounds interleaved across the instances, so a change in the
# machine's load (other jobs) hits every provider alike ------------------------
for name in "${NAMES[@]}"; do warm_up "$name" || { e2e_done; exit 1; }; done
e2e_step "storm: $ROUNDS rounds x $N logins, $CLIENTS at a time, interleaved: ${NAMES[*]}"
for ((r = 1; r <= ROUNDS; r++)); do
    for name in "${NAMES[@]}"; do
        storm_round "$name" || e2e_fail "$name: logins failed in round $r"
    done
done
for name in "${NAMES[@]}"; do
    [ -z "${FIG[$name,failed]:-}" ] || continue
    FIG[$name,logins_per_s]=$(awk -v n="${FIG[$name,logins]}" -v s="${FIG[$name,seconds]}" 'BEGIN { printf "%.1f", n / s }')
    # Prosody's CPU (its own thread, plus the processes it started and
    # reaped) and the client's, per login: what the wall clock hides when
    # other jobs share the machine
    FIG[$name,server_cpu_ms]=$(awk -v t="${FIG[$name,server_ticks]}" -v hz="$(getconf CLK_TCK)" -v n="${FIG[$name,logins]}" 'BEGIN { printf "%.3f", t / hz * 1000 / n }')
    FIG[$name,client_cpu_ms]=$(awk -v c="${FIG[$name,client_cpu_s]}" -v n="${FIG[$name,logins]}" 'BEGIN { printf "%.3f", c * 1000 / n }')
    while read -r key value; do FIG[$name,$key]=$value; done < <("${CLIENT[@]}" summary --samples "$E2E_DIR/$name.samples")
    e2e_pass "$name: ${FIG[$name,logins_per_s]} logins/s; probe waits p50 ${FIG[$name,probe_storm_p50_ms]} ms, p99 ${FIG[$name,probe_storm_p99_ms]} ms (${FIG[$name,probe_storm_samples]} pings during the storm)"
done

# --- user_exists ---------------------------------------------------------------------
for name in "${NAMES[@]}"; do user_exists "$name"; done
for name in "${NAMES[@]}"; do e2e_stop_pid "${PID[$name]}" 10; done

# --- side by side -------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
fig() { echo "${FIG[$1,$2]:-n/a}"; }
echo
echo "Prosody login storm: $ROUNDS x $N logins, $CLIENTS clients at a time; $(nproc) CPUs; $(uname -r)"
printf '%-30s' ""
for i in "${!NAMES[@]}"; do printf ' %20s' "${LABEL[$i]}"; done
echo
row() {
    local title=$1 key=$2 name
    printf '%-30s' "$title"
    for name in "${NAMES[@]}"; do printf ' %20s' "$(fig "$name" "$key")"; done
    echo
}
row "logins/s" logins_per_s
row "Prosody CPU/login (ms)" server_cpu_ms
row "client CPU/login (ms)" client_cpu_ms
row "probe wait idle p50 (ms)" probe_idle_p50_ms
row "probe wait storm p50 (ms)" probe_storm_p50_ms
row "probe wait storm p99 (ms)" probe_storm_p99_ms
row "probe wait storm max (ms)" probe_storm_max_ms
row "pings during the storm" probe_storm_samples
row "user_exists calls" ue_calls
row "user_exists/s" ue_calls_per_s
row "  under strace: calls" ue_traced_calls
row "  processes: clone/fork" ue_clones
row "  programs: execve" ue_execs
echo
for name in "${NAMES[@]:1}"; do
    rate=$(ratio "$(fig "$name" logins_per_s)" "$(fig internal_plain logins_per_s)")
    p99=$(ratio "$(fig "$name" probe_storm_p99_ms)" "$(fig internal_plain probe_storm_p99_ms)")
    met_rate=$(awk -v r="$rate" 'BEGIN { print (r != "n/a" && r >= 0.8) ? "met" : "MISSED" }')
    met_p99=$(awk -v r="$p99" 'BEGIN { print (r != "n/a" && r <= 2) ? "met" : "MISSED" }')
    echo "$name vs internal_plain: logins/s ratio $rate (target >= 0.8: $met_rate), probe p99 ratio $p99 (target <= 2: $met_p99)"
    FIG[$name,rate_ratio]=$rate
    FIG[$name,p99_ratio]=$p99
done
# The binding's promise: no process for any user_exists (the popen module's
# count is a measurement, not an assertion).
if [ "$KIND" = binding ]; then
    if [ "$(fig xtoken ue_traced_calls)" = "$UE_CALLS" ] && [ "$(fig xtoken ue_clones)" = 0 ] &&
        [ "$(fig xtoken ue_execs)" = 0 ]; then
        e2e_pass "xtoken (binding): $UE_CALLS user_exists calls started no process"
    else
        e2e_fail "xtoken (binding): user_exists started processes: clone/fork $(fig xtoken ue_clones), execve $(fig xtoken ue_execs), calls $(fig xtoken ue_traced_calls)"
    fi
fi
echo
for name in "${NAMES[@]}"; do
    for key in logins_per_s server_cpu_ms client_cpu_ms probe_idle_p50_ms probe_storm_p50_ms probe_storm_p99_ms ue_calls_per_s ue_clones ue_execs rate_ratio p99_ratio; do
        [ -n "${FIG[$name,$key]:-}" ] && echo "bench prosody_${name}_$key ${FIG[$name,$key]}"
    done
done
e2e_done
