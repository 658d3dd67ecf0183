# tests/e2e/ejabberd-lib.sh: what the ejabberd token tests share (on top of
# lib.sh): fresh keys, token minting with build/xtoken, and login assertions
# that check both the client's result and ejabberd's log line.
#
#   ejt_setup NAME       e2e_init + keys: writes $CONF (pam_xtoken.conf made
#                        by `xtoken keygen`, replay = $E2E_DIR/replay), the
#                        users file $USERS (alice, bob), picks $EJD_USER,
#                        points $XTOKEN at a private copy (e2e_stage).
#   e2e_stage FILE       copy a build artefact to $E2E_DIR/bin, print the path.
#   mint JID [AT]        print a token for JID (xtoken issue [--at AT]).
#   tamper TOKEN         print TOKEN with one signature character changed.
#   expect_login accept|refuse DESC JID TOKEN
#                        log in with the slixmpp client; assert the exit
#                        status and ejabberd's "Accepted c2s PLAIN
#                        authentication for JID by $EJT_BACKEND backend" or
#                        "Failed c2s PLAIN authentication for JID" line.
#   expect_login_as accept|refuse DESC LOGIN_JID SERVER_JID TOKEN
#                        the same, logging in as LOGIN_JID while the log
#                        line names SERVER_JID (ejabberd lowercases).
#   expect_sendxmpp accept|refuse DESC JID TOKEN TO
#                        the same with sendxmpp (Perl, Net::XMPP) sending one
#                        message: a second real client, the one the guides use.
#   expect_offline_delivery DESC FROM TO
#                        FROM (fresh token) sends to offline TO: the server
#                        must ask the backend whether TO exists (extauth
#                        isuser / PAM acct_mgmt) and store it; TO logs in
#                        (fresh token) and must receive it.
#   ejt_token_checks     all of the token checks above against the running
#                        server, then ejt_parallel_checks: logins at the same
#                        time (fresh tokens all in; one token raced by four
#                        clients in exactly once).
#   expect_bounce DESC FROM TO
#                        FROM sends to TO, a user the backend says does not
#                        exist: the message must bounce.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EJT_ROOT=$(cd "$E2E_LIB_DIR/../.." && pwd)
XTOKEN=${XTOKEN:-$EJT_ROOT/build/xtoken}
PAM_XTOKEN_SO=${PAM_XTOKEN_SO:-$EJT_ROOT/build/pam_xtoken.so}
EJT_BACKEND=
EJT_DOMAIN=localhost

ejt_setup() {
    e2e_init "$1"
    [ -x "$XTOKEN" ] || { echo "$1: $XTOKEN is missing: run make" >&2; exit 2; }
    XTOKEN=$(e2e_stage "$XTOKEN") || exit 2
    # Run ejabberd as its own system user when we can (root, user exists):
    # that is how the Debian service runs it, and it proves the file
    # group read (0640, as the package's root:xtoken) is enough.
    if [ -z "${EJD_USER+set}" ]; then
        EJD_USER=
        if [ "$(id -u)" = 0 ] && id ejabberd >/dev/null 2>&1; then
            EJD_USER=ejabberd
        fi
    fi
    export EJD_USER
    CONF=$E2E_DIR/pam_xtoken.conf
    USERS=$E2E_DIR/users
    REPLAY=$E2E_DIR/replay
    # The replay store directory laid out like the package's /run/pam_xtoken
    # (tmpfiles.d: root's 0755, with a 0700 directory of ejabberd's own in
    # which its store is; root's store is in the directory itself).
    e2e_replay_dir "$REPLAY" "$EJD_USER" || exit 2
    (
        umask 077   # before the redirection creates the file
        { echo "replay = $REPLAY" && "$XTOKEN" keygen; } >"$CONF.new"
    ) || exit 2
    printf '%s\n' "alice@$EJT_DOMAIN" "bob@$EJT_DOMAIN" >"$USERS"
    chmod 0644 "$USERS"
    if [ -n "$EJD_USER" ]; then
        chmod 0711 "$E2E_DIR"
        chown "root:$(id -gn "$EJD_USER")" "$CONF.new"
        chmod 0640 "$CONF.new"
    else
        chmod 0600 "$CONF.new"
    fi
    mv "$CONF.new" "$CONF"
}

ejt_log_accept() {
    echo "Accepted c2s PLAIN authentication for $1 by $EJT_BACKEND backend"
}

ejt_log_refuse() {
    echo "Failed c2s PLAIN authentication for $1 "
}

# ejt_check accept|refuse DESC JID MARK STATUS OUTPUT: the shared assertions.
ejt_check() {
    local want=$1 desc=$2 jid=$3 mark=$4 status=$5 out=$6 line
    e2e_mint_failed "$desc" && return
    if [ "$want" = accept ]; then
        if [ "$status" != 0 ]; then
            e2e_fail "$desc: client exit $status ($out), expected success"
        elif ! line=$(e2e_wait_log "$EJD_LOG" "$mark" "$(ejt_log_accept "$jid")" 5); then
            e2e_fail "$desc: client ok but no '$(ejt_log_accept "$jid")' in ejabberd's log"
        else
            e2e_pass "$desc (server: ${line#*) })"
        fi
    else
        if [ "$status" = 0 ]; then
            e2e_fail "$desc: client logged in ($out), expected a refusal"
        elif ! line=$(e2e_wait_log "$EJD_LOG" "$mark" "$(ejt_log_refuse "$jid")" 5); then
            e2e_fail "$desc: client exit $status ($out) but no '$(ejt_log_refuse "$jid")' in the log"
        elif e2e_log_match "$EJD_LOG" "$mark" "Accepted c2s PLAIN authentication for $jid " >/dev/null; then
            e2e_fail "$desc: refused, yet ejabberd also logged an accepted login"
        else
            e2e_pass "$desc (server: ${line#*) })"
        fi
    fi
}

expect_login() {
    expect_login_as "$1" "$2" "$3" "$3" "$4"
}

# expect_login_as accept|refuse DESC LOGIN_JID SERVER_JID TOKEN: log in as
# LOGIN_JID; ejabberd's log line names SERVER_JID (what it made of it).
expect_login_as() {
    local want=$1 desc=$2 jid=$3 server_jid=$4 token=$5 mark out status
    mark=$(e2e_log_mark "$EJD_LOG")
    out=$(XMPP_PASSWORD=$token xmpp_client login --jid "$jid" --port "$EJD_PORT")
    status=$?
    ejt_check "$want" "$desc" "$server_jid" "$mark" "$status" "$out"
}

expect_sendxmpp() {
    local want=$1 desc=$2 jid=$3 token=$4 to=$5 mark out status
    mark=$(e2e_log_mark "$EJD_LOG")
    # -j: the server to connect to, -o: the domain of the JID; -t STARTTLS,
    # -n: no certificate check (self-signed test server).
    out=$(echo "sendxmpp says hi" | timeout 20 sendxmpp -t -n -j "127.0.0.1:$EJD_PORT" \
        -o "${jid#*@}" -u "${jid%%@*}" -p "$token" "$to" 2>&1)
    status=$?
    ejt_check "$want" "sendxmpp: $desc" "$jid" "$mark" "$status" "${out:-sent}"
}

expect_offline_delivery() {
    local desc=$1 from=$2 to=$3 body out status
    body="offline message $$ $RANDOM"
    out=$(XMPP_PASSWORD=$(mint "$from") xmpp_client send --jid "$from" --port "$EJD_PORT" \
        --to "$to" --body "$body" --bounce-wait 1.5)
    status=$?
    if [ "$status" != 0 ]; then
        e2e_fail "$desc: sending as $from failed: $out"
        return
    fi
    out=$(XMPP_PASSWORD=$(mint "$to") xmpp_client receive --jid "$to" --port "$EJD_PORT" \
        --body "$body" --timeout 10)
    status=$?
    e2e_mint_failed "$desc" && return
    if [ "$status" = 0 ] && [ "$out" = "RECEIVED from $from" ]; then
        e2e_pass "$desc ($to: $out)"
    else
        e2e_fail "$desc: $to did not get the message: $out"
    fi
}

expect_bounce() {
    local desc=$1 from=$2 to=$3 out status
    out=$(XMPP_PASSWORD=$(mint "$from") xmpp_client send --jid "$from" --port "$EJD_PORT" \
        --to "$to" --body "to nobody $$" --bounce-wait 3)
    status=$?
    e2e_mint_failed "$desc" && return
    case $out in
        BOUNCED*) e2e_pass "$desc ($out)" ;;
        *) e2e_fail "$desc: expected a bounce, got exit $status: $out" ;;
    esac
}

# ejt_parallel_logins JID TOKEN...: log in once per TOKEN, all at the same
# time; print how many clients got in and how many Accepted lines ejabberd
# logged for JID ("OK ACCEPTED").
ejt_parallel_logins() {
    local jid=$1 mark i pids=() ok=0 accepted
    shift
    mark=$(e2e_log_mark "$EJD_LOG")
    i=0
    for token in "$@"; do
        XMPP_PASSWORD=$token xmpp_client login --jid "$jid" --port "$EJD_PORT" \
            >"$E2E_DIR/par.$i" 2>&1 &
        pids+=($!)
        i=$((i + 1))
    done
    for i in "${pids[@]}"; do
        wait "$i" && ok=$((ok + 1))
    done
    sleep 0.5   # let the log catch up
    accepted=$(tail -n +"$((mark + 1))" "$EJD_LOG" | grep -c -F "$(ejt_log_accept "$jid")")
    echo "$ok $accepted"
}

# Logins at the same time: fresh tokens all get in; one token raced by
# several clients gets in exactly once, whichever process (extauth pool)
# or PAM call answers.
ejt_parallel_checks() {
    local alice=alice@$EJT_DOMAIN n=4 tokens=() token result i
    for ((i = 0; i < n; i++)); do tokens+=("$(mint "$alice")"); done
    result=$(ejt_parallel_logins "$alice" "${tokens[@]}")
    if e2e_mint_failed "parallel fresh tokens"; then
        :
    elif [ "$result" = "$n $n" ]; then
        e2e_pass "$n logins at once with $n fresh tokens: all accepted"
    else
        e2e_fail "$n logins at once with $n fresh tokens: clients ok / accepted = $result"
    fi
    token=$(mint "$alice")
    result=$(ejt_parallel_logins "$alice" "$token" "$token" "$token" "$token")
    if e2e_mint_failed "one token raced"; then
        :
    elif [ "$result" = "1 1" ]; then
        e2e_pass "one token used by $n clients at once: accepted exactly once"
    else
        e2e_fail "one token used by $n clients at once: clients ok / accepted = $result, expected 1 1"
    fi
}

# The standard token checks for one running server (alice and bob exist).
ejt_token_checks() {
    local alice=alice@$EJT_DOMAIN bob=bob@$EJT_DOMAIN token
    expect_login accept "fresh token accepted" "$alice" "$(mint "$alice")"
    expect_login refuse "tampered token refused" "$alice" "$(tamper "$(mint "$alice")")"
    expect_login refuse "token for another JID refused" "$alice" "$(mint "$bob")"
    expect_login refuse "expired token (minted 120 s ago) refused" "$alice" \
        "$(mint "$alice" $(($(date +%s) - 120)))"
    expect_login refuse "token from the future (minted for now + 120 s) refused" "$alice" \
        "$(mint "$alice" $(($(date +%s) + 120)))"
    # ejabberd lowercases the user name before asking the backend: tokens
    # must be signed for the lowercase JID, whatever the user typed.
    expect_login_as accept "login as Alice@..., token for the lowercase JID: accepted" \
        "Alice@$EJT_DOMAIN" "$alice" "$(mint "$alice")"
    expect_login refuse "token signed for Alice@... (not lowercase) refused" "$alice" \
        "$(mint "Alice@$EJT_DOMAIN")"
    token=$(mint "$alice")
    expect_login accept "token used once" "$alice" "$token"
    expect_login refuse "the same token replayed refused" "$alice" "$token"
    expect_login accept "second consecutive login, fresh token 1" "$alice" "$(mint "$alice")"
    expect_login accept "second consecutive login, fresh token 2" "$alice" "$(mint "$alice")"
    expect_login refuse "garbage password refused" "$alice" "not a token"
    token=$(mint "$bob")
    expect_sendxmpp accept "fresh token accepted" "$bob" "$token" "$alice"
    expect_sendxmpp refuse "replayed token refused" "$bob" "$token" "$alice"
    expect_offline_delivery "message to an offline user stored and delivered" "$alice" "$bob"
    ejt_parallel_checks
}
