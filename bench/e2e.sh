#!/usr/bin/env bash
# make bench-e2e: sequential SASL PLAIN logins per second against a
# throwaway ejabberd 23.01 on 127.0.0.1, with three backends in turn:
#   internal  ejabberd's own stored password (in-band registered once)
#   pam       auth_method: [pam] -> epam -> build/pam_xtoken.so
#   pam_permit    the same PAM path through pam_permit.so: the PAM floor
#   extauth   auth_method: [external] -> build/xtoken extauth
# The same raw-socket client (bench/xmpp_login_bench.py, no TLS, no XMPP
# library) logs in BENCH_LOGINS times (default 300) for each; for the token
# backends it mints a fresh token before each login, outside the timed part.
# Uses the ejabberd tests' helpers (tests/e2e/ejabberd-lib.sh): keys, replay
# store laid out like the package's, servers stopped by pid on every exit.
# Needs root (writes /etc/pam.d/xtoken-bench-*) and tests/install-deps.sh e2e.
set -u
. "$(dirname "$0")/../tests/e2e/ejabberd-lib.sh"

[ "$(id -u)" = 0 ] || { echo "bench-e2e: needs root (writes /etc/pam.d)" >&2; exit 2; }
N=${BENCH_LOGINS:-300}
CLIENT=("$E2E_PYTHON" "$EJT_ROOT/bench/xmpp_login_bench.py")
JID=alice@$EJT_DOMAIN
ejt_setup bench-e2e
MODULE=$(e2e_stage "$PAM_XTOKEN_SO") || exit 2
declare -A RATE

# run_logins NAME ARGS...: N timed logins; RATE[NAME] = logins per second.
run_logins() {
    local name=$1 out count secs
    shift
    e2e_step "$name: $N sequential logins"
    # one untimed warm-up login (first connection, code loading)
    "${CLIENT[@]}" --port "$EJD_PORT" --jid "$JID" --count 1 "$@" >/dev/null || {
        e2e_fail "$name: warm-up login refused"; return; }
    if ! out=$("${CLIENT[@]}" --port "$EJD_PORT" --jid "$JID" --count "$N" "$@"); then
        e2e_fail "$name: a login was refused"
        return
    fi
    read -r count secs <<<"$out"
    RATE[$name]=$(awk -v n="$count" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
    e2e_pass "$name: ${RATE[$name]} logins/s"
}

# --- internal: stored password, registered in band once ---------------------
PASSWORD=bench-$RANDOM-$RANDOM
EJD_EXTRA_YAML="registration_timeout: infinity
host_config:
  $EJT_DOMAIN:
    modules:
      mod_register:
        access: all
        ip_access: all" \
    ejd_start "$E2E_DIR/ejd-internal" "auth_method: [internal]
auth_use_cache: false" || exit 1
"${CLIENT[@]}" --port "$EJD_PORT" --jid "$JID" --register --password "$PASSWORD" >/dev/null ||
    { e2e_fail "internal: in-band registration refused"; e2e_done; exit 1; }
run_logins internal --password "$PASSWORD"
# a wrong password must fail, or the figure means nothing
if "${CLIENT[@]}" --port "$EJD_PORT" --jid "$JID" --count 1 --password wrong >/dev/null 2>&1; then
    e2e_fail "internal: wrong password accepted"
fi
ejd_stop

# --- pam: epam -> pam_xtoken.so -----------------------------------------------
SERVICE=xtoken-bench-$$
e2e_pam_service "$SERVICE" "auth     required  $MODULE conf=$CONF users=$USERS
account  required  $MODULE conf=$CONF users=$USERS"
ejd_start "$E2E_DIR/ejd-pam" "auth_method: [pam]
pam_service: $SERVICE
pam_userinfotype: jid
auth_use_cache: false" || exit 1
run_logins pam --config "$CONF"
ejd_stop

# --- pam_permit: the same PAM path with pam_permit.so (any password): what
# epam and Linux-PAM themselves cost per login, the floor for the PAM figures
SERVICE_PERMIT=xtoken-bench-permit-$$
e2e_pam_service "$SERVICE_PERMIT" "auth     required  pam_permit.so
account  required  pam_permit.so"
ejd_start "$E2E_DIR/ejd-pam-permit" "auth_method: [pam]
pam_service: $SERVICE_PERMIT
pam_userinfotype: jid
auth_use_cache: false" || exit 1
run_logins pam_permit --config "$CONF"
ejd_stop

# --- extauth: xtoken extauth --------------------------------------------------
ejd_start "$E2E_DIR/ejd-extauth" "auth_method: [external]
extauth_program: \"$XTOKEN extauth --config $CONF --users $USERS\"
extauth_pool_size: 2
auth_use_cache: false" || exit 1
run_logins extauth --config "$CONF"
ejd_stop

echo
printf '%-34s %10s %s\n' figure value unit
for b in internal pam pam_permit extauth; do
    printf '%-34s %10s %s\n' "ejabberd_logins_per_s_$b" "${RATE[$b]:-n/a}" "1/s"
done
echo
for b in internal pam pam_permit extauth; do
    echo "bench ejabberd_logins_per_s_$b ${RATE[$b]:-n/a} 1/s"
done
e2e_done
