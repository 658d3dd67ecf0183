#!/usr/bin/env bash
# Where an admin finds xtoken extauth's reasons on a host without a syslog
# daemon: ejabberd 23.01 gives its external auth program its own standard
# error (it neither reads nor closes it), so with no socket at /dev/log the
# reasons xtoken writes there land wherever ejabberd's stderr goes (here a
# file; under systemd the journal of ejabberd.service; /dev/null when
# ejabberd was started detached). extauth_program has no redirection.
# Runs itself in a private mount namespace whose /dev has no /dev/log, so
# the result does not depend on this machine's syslog daemon.
set -u
if [ -z "${XT_PRIVATE_DEV:-}" ]; then
    exec unshare --mount env XT_PRIVATE_DEV=1 bash -c '
        set -e
        old=$(mktemp -d /tmp/olddev.XXXXXX)
        mount --bind /dev "$old"
        mount -t tmpfs -o mode=755 tmpfs /dev
        for n in null zero full random urandom tty; do
            touch /dev/$n && mount --bind "$old/$n" /dev/$n
        done
        ln -s /proc/self/fd /dev/fd
        mkdir /dev/pts /dev/shm
        umount -l "$old" && rmdir "$old"
        exec "$0" "$@"' "$0" "$@"
fi
. "$(dirname "$0")/ejabberd-lib.sh"

ejt_setup ejabberd-extauth-stderr
EJT_BACKEND=external
[ ! -e /dev/log ] || e2e_fail "the private /dev still has /dev/log"
yaml="auth_method: [external]
extauth_program: \"$XTOKEN extauth --config $CONF\"
extauth_pool_size: 1
auth_use_cache: false"

e2e_step "extauth without /dev/log, extauth_program without redirection, as ${EJD_USER:-$(id -un)}"
ejd_start "$E2E_DIR/ejd" "$yaml" || exit 1
ERL_OUT=$EJD_DIR/logs/erl.out
e2e_retry 10 e2e_log_match "$ERL_OUT" 0 "xtoken: config .* loaded \(start\)" >/dev/null
mark=$(e2e_log_mark "$ERL_OUT")
expect_login refuse "tampered token refused" "alice@$EJT_DOMAIN" "$(tamper "$(mint "alice@$EJT_DOMAIN")")"
if line=$(e2e_wait_log "$ERL_OUT" "$mark" "xtoken: auth: refused token for alice@$EJT_DOMAIN: bad signature" 5); then
    e2e_pass "the reason is in ejabberd's own stderr: $line"
else
    e2e_fail "no refusal reason in ejabberd's stderr ($ERL_OUT)"
    sed 's/^/    /' "$ERL_OUT" | tail -n 20
fi
if e2e_log_match "$ERL_OUT" 0 "no syslog socket at /dev/log: logging to standard error" >/dev/null; then
    e2e_pass "xtoken said once at start that it logs to standard error"
else
    e2e_fail "no 'no syslog socket' line in ejabberd's stderr"
fi
expect_login accept "fresh token accepted" "alice@$EJT_DOMAIN" "$(mint "alice@$EJT_DOMAIN")"
ejd_stop
e2e_done
