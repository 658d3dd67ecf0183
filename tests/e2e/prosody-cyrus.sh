#!/usr/bin/env bash
# End to end, Prosody through PAM: XMPP client -> Prosody (0.12, 13)
# (authentication = "cyrus": mod_auth_cyrus from prosody-modules, lua-cyrussasl)
# -> libsasl2 (pwcheck_method: saslauthd) -> saslauthd -a pam ->
# /etc/pam.d/<unique service> -> build/pam_xtoken.so domain=localhost.
# Uses the shipped etc/prosody/ files (Prosody snippet, SASL application
# config, PAM service) with only paths and names filled in.
# Needs root (saslauthd, /etc/pam.d/xtoken-e2e-sasl-*, removed on exit).
set -u
. "$(dirname "$0")/prosody-lib.sh"

[ "$(id -u)" = 0 ] || { echo "prosody-cyrus: needs root (saslauthd, /etc/pam.d)" >&2; exit 2; }
pt_setup prosody-cyrus
ETC=$PT_ROOT/etc/prosody
ALICE=alice@$PT_DOMAIN
BOB=bob@$PT_DOMAIN
MODULE=$(e2e_stage "$PT_ROOT/build/pam_xtoken.so") || exit 2
SERVICE=xtoken-e2e-sasl-$$

# The PAM service: the shipped file, naming the built module by path.
e2e_pam_service "$SERVICE" "$(sed -e "s#pam_xtoken\.so#$MODULE conf=$CONF#" \
    -e "s#domain=example\.org#domain=$PT_DOMAIN#" "$ETC/pam.d/xmpp-saslauthd")" || exit 1

# saslauthd with its own socket directory, in its own session (it signals
# its whole process group on SIGTERM), stopped by pid. -d: foreground, and
# its "auth success/fail" lines go to $SASL_OUT.
MUX_DIR=$E2E_DIR/saslauthd
mkdir "$MUX_DIR"
# Like Debian's /run/saslauthd (root:sasl 0710, prosody in group sasl).
chgrp "$(id -gn "${PT_USER:-root}")" "$MUX_DIR"
chmod 0710 "$MUX_DIR"
SASL_OUT=$E2E_DIR/saslauthd.out
setsid saslauthd -d -a pam -n 0 -m "$MUX_DIR" </dev/null >"$SASL_OUT" 2>&1 &
SASL_PID=$!
e2e_on_exit "e2e_stop_pid $SASL_PID 5"
e2e_retry 10 test -S "$MUX_DIR/mux" || { echo "saslauthd did not start:" >&2; cat "$SASL_OUT" >&2; exit 1; }

e2e_step "saslauthd -a pam alone (testsaslauthd, service $SERVICE)"
sasl_check() {
    local want=$1 desc=$2 user=$3 token=$4 out
    # testsaslauthd takes the password on its command line: only here, in a
    # test, with a throwaway key.
    out=$(timeout 10 testsaslauthd -f "$MUX_DIR/mux" -s "$SERVICE" -u "$user" -p "$token" 2>&1)
    case $want:$out in
        accept:*'0: OK'*) e2e_pass "$desc ($out)" ;;
        refuse:*'0: NO'*) e2e_pass "$desc ($out)" ;;
        *) e2e_fail "$desc: $out" ;;
    esac
}
sasl_check accept "fresh token accepted" alice "$(mint "$ALICE")"
sasl_check refuse "token for another JID refused" alice "$(mint "$BOB")"

# The SASL application config (SASL_CONF_PATH/prosody.conf), pointed at our
# saslauthd socket.
SASL_CONF=$E2E_DIR/sasl
mkdir "$SASL_CONF"
sed -e "s#^saslauthd_path: .*#saslauthd_path: $MUX_DIR/mux#" "$ETC/sasl2/prosody.conf" >"$SASL_CONF/prosody.conf"
chmod 0755 "$SASL_CONF"
chmod 0644 "$SASL_CONF/prosody.conf"

OK_RE='Successful authentication as %s'
NO_RE='Failed authentication attempt \(not-authorized\) for user %s'
login() {
    pt_expect_login "$1" "$2" "$3" "$4" "$(printf "$OK_RE" "$3")" "$(printf "$NO_RE" "$3")"
}

e2e_step "Prosody, authentication = \"cyrus\" -> saslauthd -> PAM ($SERVICE) -> pam_xtoken"
PT_ENV="SASL_CONF_PATH=$SASL_CONF"
prosody_start "$E2E_DIR/prosody" "$(sed -e "s#^cyrus_service_name = .*#cyrus_service_name = \"$SERVICE\"#" \
    "$ETC/prosody-cyrus.cfg.lua")" || exit 1

sasl_mark=$(e2e_log_mark "$SASL_OUT")
login accept "fresh token accepted" "$ALICE" "$(mint "$ALICE")"
if e2e_wait_log "$SASL_OUT" "$sasl_mark" "auth success: \[user=alice\] \[service=$SERVICE\]" 5 >/dev/null; then
    e2e_pass "the login went through saslauthd (auth success: [user=alice] [service=$SERVICE])"
else
    e2e_fail "no 'auth success' for alice in saslauthd's output"
fi
pt_token_checks
login accept "another user, fresh token" "$BOB" "$(mint "$BOB")"
prosody_stop

e2e_done
