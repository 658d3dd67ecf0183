#!/usr/bin/env bash
# End to end through extauth: XMPP client -> ejabberd (23.01, 24.12)
# (auth_method: [external]) -> `xtoken extauth` (build/xtoken) over the
# 2-byte-framed pipe protocol. Uses the shipped etc/ejabberd/ejabberd-extauth.yml
# with only extauth_program's paths filled in (plus --users and --verbose so
# the test can read xtoken's log lines from stderr).
# Then the faults: config removed / unreadable while running (refused, no
# crash loop, works again once restored: automatic reload and SIGHUP), and
# kill -9 of an extauth process (ejabberd starts a new one; logins work).
set -u
. "$(dirname "$0")/ejabberd-lib.sh"

ejt_setup ejabberd-extauth
EJT_BACKEND=external
XT=$XTOKEN   # the private copy made by ejt_setup
XT_REAL=$(readlink -f "$XT")
EJD=$E2E_DIR/ejd
EXTLOG=$EJD/logs/extauth.log
POOL=2

yaml=$(sed -e "s#^extauth_program: .*#extauth_program: \"$XT extauth --config $CONF --users $USERS --verbose 2>>$EXTLOG\"#" \
    -e "s#^extauth_pool_size: .*#extauth_pool_size: $POOL#" \
    "$EJT_ROOT/etc/ejabberd/ejabberd-extauth.yml")

# The extauth processes: descendants of this ejabberd's beam process whose
# executable is our xtoken (found through /proc, never by name).
extauth_pids() {
    local pid
    for pid in $(e2e_descendants "$EJD_PID"); do
        [ "$(readlink -f /proc/"$pid"/exe 2>/dev/null)" = "$XT_REAL" ] && echo "$pid"
    done | sort -n
}

pool_is_full() {
    [ "$(extauth_pids | wc -l)" = "$POOL" ]
}

# Assert ejabberd is alive, the pool is complete and no extauth start failed
# since log line MARK.
expect_no_crash_loop() {
    local desc=$1 mark=$2 failed
    failed=$(tail -n +"$((mark + 1))" "$EJD_LOG" | grep -c "Failed to start external authentication program")
    if ! kill -0 "$EJD_PID" 2>/dev/null; then
        e2e_fail "$desc: ejabberd died"
    elif [ "$failed" != 0 ]; then
        e2e_fail "$desc: ejabberd logged $failed failed extauth starts (crash loop)"
    elif ! pool_is_full; then
        e2e_fail "$desc: $(extauth_pids | wc -l) extauth processes, expected $POOL"
    else
        e2e_pass "$desc"
    fi
}

e2e_step "extauth: extauth_program \"xtoken extauth ...\", pool of $POOL, as user ${EJD_USER:-$(id -un)}"
ejd_start "$EJD" "$yaml" || exit 1
e2e_retry 10 pool_is_full || e2e_fail "extauth pool did not start: $(extauth_pids | wc -l) of $POOL"
ejt_token_checks
expect_bounce "message to a user not in --users bounces (isuser says no)" \
    "alice@$EJT_DOMAIN" "carol@$EJT_DOMAIN"

e2e_step "extauth faults: config file removed while ejabberd runs"
pids_before=$(extauth_pids)
mark=$(e2e_log_mark "$EJD_LOG")
xmark=$(e2e_log_mark "$EXTLOG")
mv "$CONF" "$CONF.away"
MINT_CONF=$CONF.away
sleep 1.2   # xtoken stats the file at most once a second
expect_login refuse "config removed: fresh token refused" "alice@$EJT_DOMAIN" "$(mint "alice@$EJT_DOMAIN")"
expect_login refuse "config removed: second fresh token refused" "alice@$EJT_DOMAIN" "$(mint "alice@$EJT_DOMAIN")"
expect_no_crash_loop "config removed: ejabberd and the extauth pool keep running" "$mark"
if [ "$(extauth_pids)" = "$pids_before" ]; then
    e2e_pass "config removed: no extauth process restarted"
else
    e2e_fail "config removed: extauth processes changed ($pids_before -> $(extauth_pids))"
fi
problems=$(tail -n +"$((xmark + 1))" "$EXTLOG" | grep -c -F "$CONF")
if [ "$problems" -ge 1 ] && [ "$problems" -le "$POOL" ]; then
    e2e_pass "config removed: logged once per extauth process ($problems lines naming $CONF)"
else
    e2e_fail "config removed: $problems log lines naming $CONF, expected 1..$POOL"
    tail -n +"$((xmark + 1))" "$EXTLOG" | sed 's/^/    /'
fi

# A process that ejabberd starts while the config is missing must not die
# at once (ejabberd would treat that as a failed start and retry forever).
victim=$(extauth_pids | head -n 1)
[ -n "$victim" ] && kill -KILL "$victim"
e2e_retry 10 pool_is_full
sleep 1.5
expect_no_crash_loop "config missing: a restarted extauth process stays up" "$mark"
expect_login refuse "config missing: refused by the restarted pool too" "alice@$EJT_DOMAIN" "$(mint "alice@$EJT_DOMAIN")"

e2e_step "extauth faults: config restored (automatic reload on change)"
mv "$CONF.away" "$CONF"
MINT_CONF=
sleep 1.2
expect_login accept "config restored: fresh token accepted" "alice@$EJT_DOMAIN" "$(mint "alice@$EJT_DOMAIN")"
expect_login accept "config restored: another fresh token accepted" "alice@$EJT_DOMAIN" "$(mint "alice@$EJT_DOMAIN")"

e2e_step "extauth faults: config made unreadable for the server, then fixed + SIGHUP"
mark=$(e2e_log_mark "$EJD_LOG")
xmark=$(e2e_log_mark "$EXTLOG")
token=$(mint "alice@$EJT_DOMAIN")   # before: xtoken issue refuses an unsafe file too
if [ -n "$EJD_USER" ]; then
    chmod 0600 "$CONF"   # root:ejabberd 0600: the ejabberd user cannot read it
    what="unreadable"
else
    chmod 0644 "$CONF"   # readable by others: refused as unsafe
    what="unsafe (0644)"
fi
sleep 1.2
expect_login refuse "config $what: fresh token refused" "alice@$EJT_DOMAIN" "$token"
expect_no_crash_loop "config $what: ejabberd and the extauth pool keep running" "$mark"
if [ -n "$EJD_USER" ]; then chmod 0640 "$CONF"; else chmod 0600 "$CONF"; fi
for pid in $(extauth_pids); do kill -HUP "$pid"; done
e2e_retry 5 e2e_log_match "$EXTLOG" "$xmark" "loaded \(SIGHUP\)" >/dev/null
expect_login accept "config fixed, SIGHUP: fresh token accepted" "alice@$EJT_DOMAIN" "$(mint "alice@$EJT_DOMAIN")"
if e2e_log_match "$EXTLOG" "$xmark" "loaded \(SIGHUP\)" >/dev/null; then
    e2e_pass "SIGHUP reloaded the config (xtoken: $(e2e_log_match "$EXTLOG" "$xmark" "loaded \(SIGHUP\)"))"
else
    e2e_fail "no 'loaded (SIGHUP)' line from xtoken after SIGHUP"
fi

e2e_step "extauth faults: kill -9 of an extauth process"
mark=$(e2e_log_mark "$EJD_LOG")
pids_before=$(extauth_pids)
victim=$(echo "$pids_before" | head -n 1)
[ -n "$victim" ] && kill -KILL "$victim"
e2e_retry 10 pool_is_full
if [ -z "$victim" ]; then
    e2e_fail "kill -9: no extauth process found"
elif extauth_pids | grep -qx "$victim"; then
    e2e_fail "kill -9: process $victim is still there"
else
    e2e_pass "kill -9 $victim: ejabberd started a new extauth process ($(extauth_pids | tr '\n' ' '))"
fi
expect_login accept "after kill -9: fresh token accepted" "alice@$EJT_DOMAIN" "$(mint "alice@$EJT_DOMAIN")"
expect_login accept "after kill -9: another fresh token accepted" "bob@$EJT_DOMAIN" "$(mint "bob@$EJT_DOMAIN")"
expect_no_crash_loop "after kill -9: ejabberd and the pool are fine" "$mark"

ejd_stop
e2e_done
