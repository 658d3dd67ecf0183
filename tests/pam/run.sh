#!/usr/bin/env bash
# PAM integration tests of build/pam_xtoken.so through real Linux-PAM:
# pam_start_confdir() with service files in a temp dir (no root needed, no
# /etc/pam.d), and pam_wrapper to capture every pam_syslog line.
#   tests/pam/run.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=$(realpath "${1:-build}")
MODULE=$BUILD/pam_xtoken.so
PAMCHECK=$BUILD/tests/pamcheck
MINT="/usr/bin/python3 tests/interop/mint.py"
SEED=K5UOYGC3OJ2WG4LX
SECRET=T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe
SEED2=E3W374VRSFO4NVKEWMDJBF5SC6A7IRG2 # other.org's keys in the two-host tests
SECRET2=KHLO5N3OGXIIC3GK7DGVR5SJNAEOAO34

T=$(mktemp -d "${TMPDIR:-/tmp}/pam_xtoken-pam.XXXXXX")
trap 'rm -rf "$T"' EXIT
passed=0 failed=0

ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect "WANT" NAME pamcheck-args...: the output (all lines, space-joined)
expect() {
    local want=$1 name=$2 got
    shift 2
    mint_failed "$name" && return
    got=$("$PAMCHECK" -c "$T/pam.d" "$@" 2>>"$T/stderr" | tr '\n' ' ' | sed 's/ $//')
    if [ "$got" = "$want" ]; then ok; else fail "$name: got '$got', want '$want'"; fi
}

# mint runs inside $(...), where a failure cannot stop the script: it leaves
# a flag that the next assertion turns into a failure, so a refusal test can
# never pass on an empty token.
mint() { $MINT --seed "$SEED" --secret "$SECRET" "$@" || touch "$T/mint-failed"; }
mint_other() { $MINT --seed "$SEED2" --secret "$SECRET2" "$@" || touch "$T/mint-failed"; }
mint_failed() { # NAME
    [ -e "$T/mint-failed" ] || return 1
    rm -f "$T/mint-failed"
    fail "$1: minting the token failed"
}

write_conf() { # FILE MODE TEXT
    printf '%s\n' "$3" >"$1"
    chmod "$2" "$1"
}

service() { # NAME MODULE-ARGS...: auth and account through the module
    local name=$1
    shift
    printf 'auth required %s %s\naccount required %s %s\n' "$MODULE" "$*" "$MODULE" "$*" \
        >"$T/pam.d/$name"
}

mkdir -p "$T/pam.d"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$T/pam.d/other"
CONF=$T/xt.conf
write_conf "$CONF" 600 "otp_seed = $SEED
token_secret = $SECRET
replay = $T/replay"
write_conf "$T/sections.conf" 600 "replay = off
[example.org]
otp_seed = $SEED
token_secret = $SECRET"
write_conf "$T/unsafe.conf" 644 "otp_seed = $SEED
token_secret = $SECRET"
write_conf "$T/broken.conf" 600 "otp_seed = $SEED
token_secret = short"
write_conf "$T/nonce20.conf" 600 "otp_seed = $SEED
token_secret = $SECRET
nonce_digits = 20
replay = off"
# a key typed with ':' instead of '=': the error must not echo the secret
write_conf "$T/colon.conf" 600 "otp_seed = $SEED
token_secret: $SECRET=tail"
write_conf "$T/published.conf" 600 "otp_seed = XVGR73KMZH2M4XMY
token_secret = $SECRET"
write_conf "$T/slow.conf" 600 "otp_seed = $SEED
token_secret = $SECRET
interval = 60
replay = off"
write_conf "$T/two.conf" 600 "replay = off
[example.org]
otp_seed = $SEED
token_secret = $SECRET
[other.org]
otp_seed = $SEED2
token_secret = $SECRET2"
printf 'alice\nbob@example.org\n' >"$T/users"
service jid "conf=$CONF"
service user "conf=$CONF domain=example.org"
printf 'auth required %s\nauth required %s conf=%s use_first_pass\n' \
    "/usr/lib/$(gcc -print-multiarch)/pam_wrapper/pam_set_items.so" "$MODULE" "$CONF" >"$T/pam.d/first"
service noreplay "conf=$CONF noreplay debug"
service sections "conf=$T/sections.conf"
service missing "conf=$T/nonexistent.conf"
service unsafe "conf=$T/unsafe.conf"
service broken "conf=$T/broken.conf"
service badarg "conf=$CONF frobnicate"
service badwindow "conf=$CONF window=eleven"
service relconf "conf=relative.conf"
service win0 "conf=$CONF window=0 noreplay"
service userlist "conf=$CONF users=$T/users"
service nss "conf=$CONF users=nss"
service nonce20 "conf=$T/nonce20.conf"
service colon "conf=$T/colon.conf"
service published "conf=$T/published.conf"
service slowwide "conf=$T/slow.conf window=6"
service two-shared "conf=$T/two.conf domain=example.org"
service two-jid "conf=$T/two.conf"
service two-other "conf=$T/two.conf domain=other.org"

# --- the built module: exports the PAM entry points and nothing else ---
exported=$(nm -D --defined-only "$MODULE" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort | tr '\n' ' ')
if [ "$exported" = "pam_sm_acct_mgmt pam_sm_authenticate pam_sm_setcred " ]; then
    ok
else
    fail "exported symbols: '$exported'"
fi
# stays mapped after pam_end (no loader work per authentication), full RELRO
flags=$(readelf -d "$MODULE")
if grep -q 'FLAGS_1.*NODELETE' <<<"$flags" && grep -q 'BIND_NOW' <<<"$flags"; then
    ok
else
    fail "module lacks NODELETE or BIND_NOW: $flags"
fi

# --- success in both user forms (epam: auth then acct, one prompt) ---
expect "auth=PAM_SUCCESS acct=PAM_SUCCESS prompts=1" "jid form" \
    -t "$(mint alice@example.org)" jid alice@example.org auth acct
expect "auth=PAM_SUCCESS acct=PAM_SUCCESS prompts=1" "username + domain=" \
    -t "$(mint alice@example.org)" user alice auth acct
expect "auth=PAM_USER_UNKNOWN prompts=0" "domain= and another domain" \
    -t "$(mint alice@example.net)" user alice@example.net auth

# --- refusals: PAM_AUTH_ERR ---
good=$(mint alice@example.org)
# replace the character at $2 of $1 by another one of the same class
tamper() {
    local c=${1:$2:1} n=A
    case $c in [0-8]) n=$((c + 1)) ;; 9) n=0 ;; A) n=B ;; esac
    printf '%s' "${1:0:$2}$n${1:$(($2 + 1))}"
}
tampered=$(tamper "$good" 50)
expect "auth=PAM_AUTH_ERR prompts=1" "tampered signature" -t "$tampered" jid alice@example.org auth
tampered_otp=$(tamper "$good" 0)
expect "auth=PAM_AUTH_ERR prompts=1" "tampered OTP" -t "$tampered_otp" jid alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "token of another user" -t "$good" jid bob@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "expired" \
    -t "$(mint --at $(($(date +%s) - 120)) alice@example.org)" jid alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "not yet valid" \
    -t "$(mint --at $(($(date +%s) + 120)) alice@example.org)" jid alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "malformed" -t "hello world" jid alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "empty token" -t "" jid alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "256-byte token" \
    -t "$(printf '%0256d' 0)" jid alice@example.org auth
# window=0 accepts only the current step: a token from two steps ago fails
expect "auth=PAM_AUTH_ERR prompts=1" "window=0, old token" \
    -t "$(mint --at $(($(date +%s) - 60)) alice@example.org)" win0 alice@example.org auth

# --- the nonce has one length: digits cannot move between the nonce and a
# localpart that starts with digits (login as another user), in both user
# forms (PAM_USER a JID, or a localpart with domain=) ---
N32=12345678901234567890123456789012
one=$(mint --nonce "$N32" 1alice@example.org)
expect "auth=PAM_SUCCESS prompts=1" "numeric localpart, jid form" -t "$one" jid 1alice@example.org auth
one=$(mint --nonce "${N32:1}0" 1alice@example.org) # another nonce: not a replay of the first
expect "auth=PAM_SUCCESS prompts=1" "numeric localpart, domain=" -t "$one" user 1alice auth
moved="${one:0:40}1 ${one:41}" # the localpart's leading 1 moved into the nonce
expect "auth=PAM_AUTH_ERR prompts=1" "digit moved into the nonce, jid form" \
    -t "$moved" jid alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "digit moved into the nonce, domain=" -t "$moved" user alice auth
bobs=$(mint --nonce "${N32:0:30}12" bob@example.org)
cut="${bobs:0:38} ${bobs:41}" # the nonce's last two digits cut off into the localpart
expect "auth=PAM_AUTH_ERR prompts=1" "nonce digits cut into the localpart, jid form" \
    -t "$cut" jid 12bob@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "nonce digits cut into the localpart, domain=" \
    -t "$cut" user 12bob auth
expect "auth=PAM_SUCCESS prompts=1" "nonce_digits = 20: a 20-digit nonce" \
    -t "$(mint --nonce "${N32:0:20}" alice@example.org)" nonce20 alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "nonce_digits = 20: a 32-digit nonce" \
    -t "$(mint alice@example.org)" nonce20 alice@example.org auth

# --- replay: the same token twice, in two separate PAM sessions ---
once=$(mint alice@example.org)
expect "auth=PAM_SUCCESS prompts=1" "first use" -t "$once" jid alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "replayed" -t "$once" jid alice@example.org auth
expect "auth=PAM_SUCCESS prompts=1" "second token, same user and step" \
    -t "$(mint alice@example.org)" jid alice@example.org auth
nr=$(mint alice@example.org)
expect "auth=PAM_SUCCESS prompts=1" "noreplay first" -t "$nr" noreplay alice@example.org auth
expect "auth=PAM_SUCCESS prompts=1" "noreplay second" -t "$nr" noreplay alice@example.org auth

# --- users and domains: PAM_USER_UNKNOWN, never a prompt ---
expect "auth=PAM_USER_UNKNOWN prompts=0" "unknown domain" \
    -t "$(mint alice@example.net)" sections alice@example.net auth
expect "auth=PAM_SUCCESS prompts=1" "listed domain" \
    -t "$(mint alice@example.org)" sections alice@example.org auth
expect "auth=PAM_USER_UNKNOWN prompts=0" "no @ and no domain=" -t "$good" jid alice auth
expect "auth=PAM_USER_UNKNOWN prompts=0" "malformed user" -t "$good" jid "al ice@example.org" auth

# --- two virtual hosts, example.org and other.org, each with its own keys.
# One PAM service with domain= (ejabberd's pam_userinfotype: username,
# saslauthd without -r): PAM_USER is the bare "alice" whichever host asks,
# and nothing else PAM is given names the host (epam sets PAM_RUSER to the
# same name and PAM_RHOST to the client's address or "", saslauthd only the
# service), so every bare name is alice@example.org: example.org's token
# logs in alice on either host, other.org's own token never works. This is
# the setup pam_xtoken(8) forbids; the test pins down what it does. ---
expect "auth=PAM_SUCCESS acct=PAM_SUCCESS prompts=1" "one service, two hosts: example.org's token" \
    -t "$(mint alice@example.org)" two-shared alice auth acct
expect "auth=PAM_AUTH_ERR prompts=1" "one service, two hosts: other.org's token" \
    -t "$(mint_other alice@other.org)" two-shared alice auth
# the fixes. The JID as PAM_USER (pam_userinfotype: jid, saslauthd -r), one
# service without domain=: each host's token for its own host only
expect "auth=PAM_SUCCESS acct=PAM_SUCCESS prompts=1" "JID form, two hosts: example.org" \
    -t "$(mint alice@example.org)" two-jid alice@example.org auth acct
expect "auth=PAM_SUCCESS acct=PAM_SUCCESS prompts=1" "JID form, two hosts: other.org" \
    -t "$(mint_other alice@other.org)" two-jid alice@other.org auth acct
expect "auth=PAM_AUTH_ERR prompts=1" "JID form: example.org's token for other.org" \
    -t "$(mint alice@example.org)" two-jid alice@other.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "JID form: other.org's token for example.org" \
    -t "$(mint_other alice@other.org)" two-jid alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=1" "JID form, shared keys: a token for another host's JID" \
    -t "$(mint alice@example.org)" jid alice@other.org auth
# a JID of the other host through a service with domain=: unknown user
expect "auth=PAM_USER_UNKNOWN prompts=0" "domain=example.org, PAM_USER alice@other.org" \
    -t "$(mint_other alice@other.org)" two-shared alice@other.org auth
# one service per host (pam_service under host_config, one
# cyrus_service_name per VirtualHost): a token for one host fails on the other
expect "auth=PAM_SUCCESS acct=PAM_SUCCESS prompts=1" "service per host: other.org" \
    -t "$(mint_other alice@other.org)" two-other alice auth acct
expect "auth=PAM_AUTH_ERR prompts=1" "service per host: example.org's token on other.org's" \
    -t "$(mint alice@example.org)" two-other alice auth
expect "auth=PAM_AUTH_ERR prompts=1" "service per host: other.org's token on example.org's" \
    -t "$(mint_other alice@other.org)" two-shared alice auth
# a bare name and no domain=: refused, never guessed
expect "auth=PAM_USER_UNKNOWN prompts=0" "bare name, no domain=, two hosts" \
    -t "$(mint alice@example.org)" two-jid alice auth

# --- acct_mgmt alone, without a conversation (ejabberd's isuser) ---
expect "acct=PAM_SUCCESS prompts=0" "acct alone" -n jid alice@example.org acct
expect "acct=PAM_USER_UNKNOWN prompts=0" "acct unknown domain" -n sections bob@example.net acct
expect "acct=PAM_SUCCESS prompts=0" "users=FILE localpart" -n userlist alice@example.org acct
expect "acct=PAM_SUCCESS prompts=0" "users=FILE jid" -n userlist bob@example.org acct
expect "acct=PAM_USER_UNKNOWN prompts=0" "users=FILE unlisted" -n userlist carol@example.org acct
expect "acct=PAM_SUCCESS prompts=0" "users=nss root" -n nss root@example.org acct
expect "acct=PAM_USER_UNKNOWN prompts=0" "users=nss unknown" -n nss nosuchuser-xt@example.org acct
expect "auth=PAM_USER_UNKNOWN prompts=0" "auth follows users=FILE" \
    -t "$(mint carol@example.org)" userlist carol@example.org auth

# --- use_first_pass: the token an earlier module stored, no prompt ---
PAM_AUTHTOK=$(mint alice@example.org) expect "auth=PAM_SUCCESS prompts=0" "use_first_pass" \
    -n first alice@example.org auth
expect "auth=PAM_AUTH_ERR prompts=0" "use_first_pass, nothing stored" -n first alice@example.org auth

# --- configuration and argument errors ---
expect "auth=PAM_AUTHINFO_UNAVAIL prompts=0" "missing config" -t "$good" missing alice@example.org auth
expect "auth=PAM_AUTHINFO_UNAVAIL prompts=0" "unsafe config" -t "$good" unsafe alice@example.org auth
expect "auth=PAM_AUTHINFO_UNAVAIL prompts=0" "invalid config" -t "$good" broken alice@example.org auth
expect "acct=PAM_AUTHINFO_UNAVAIL prompts=0" "acct, missing config" -n missing alice@example.org acct
expect "auth=PAM_SERVICE_ERR prompts=0" "unknown argument" -t "$good" badarg alice@example.org auth
expect "auth=PAM_SERVICE_ERR prompts=0" "malformed window=" -t "$good" badwindow alice@example.org auth
expect "auth=PAM_SERVICE_ERR prompts=0" "relative conf=" -t "$good" relconf alice@example.org auth
expect "auth=PAM_AUTHINFO_UNAVAIL prompts=0" "published example seed" \
    -t "$good" published alice@example.org auth
expect "auth=PAM_AUTHINFO_UNAVAIL prompts=0" "window= beyond what the store keeps" \
    -t "$good" slowwide alice@example.org auth

# --- log lines: the reason and the user, never a token or a secret ---
# pam_wrapper (plain pam_start, services from PAM_WRAPPER_SERVICE_DIR) puts
# every pam_syslog line on stderr.
logged() { # EXPECTED-SUBSTRING TOKEN SERVICE USER
    local out
    mint_failed "log for $3/$4" && return
    out=$(LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
        PAM_WRAPPER_DEBUGLEVEL=2 "$PAMCHECK" -t "$2" "$3" "$4" auth 2>&1)
    if ! grep -q -- "$1" <<<"$out"; then
        fail "log for $3/$4 lacks '$1': $out"
    elif grep -q -e "$SECRET" -e "$SEED" -e "${2:0:40}" -e "${2:41}" <<<"$out"; then
        fail "log for $3/$4 contains the token or a secret: $out"
    else
        ok
    fi
    printf '%s\n' "$out" >>"$T/logs"
}
logged "user alice@example.org: token refused: bad signature" "$tampered" jid alice@example.org
logged "user bob@example.org: token refused: bad signature" "$(mint alice@example.org)" jid bob@example.org
logged "token refused: expired" "$(mint --at $(($(date +%s) - 120)) alice@example.org)" jid alice@example.org
logged "token refused: not yet valid" "$(mint --at $(($(date +%s) + 120)) alice@example.org)" jid alice@example.org
logged "token refused: malformed token" "12345678 notbase64notbase64notbase64notbase64notbase64" jid alice@example.org
# A token used just now: $once may have expired by here when the tests run
# slowly (under valgrind, make check-valgrind).
used=$(mint alice@example.org)
expect "auth=PAM_SUCCESS prompts=1" "first use before the replay log" -t "$used" jid alice@example.org auth
logged "token refused: replayed" "$used" jid alice@example.org
logged "user alice@example.net: unknown domain" "$(mint alice@example.net)" sections alice@example.net
logged "readable by others" "$good" unsafe alice@example.org
logged "token_secret is 5 bytes long" "$good" broken alice@example.org
logged "unknown argument: frobnicate" "$good" badarg alice@example.org
logged "colon.conf:2: malformed line (expected key = value)" "$good" colon alice@example.org
logged "otp_seed is the example seed published" "$good" published alice@example.org
logged "window=6: interval x (window + 1) = 420 s" "$good" slowwide alice@example.org
logged "token refused: expired: minted about 1" \
    "$(mint --at $(($(date +%s) - 120)) alice@example.org)" jid alice@example.org
logged "token refused: malformed" "$moved" jid alice@example.org
# names from clients: every byte outside printable ASCII escaped (here a
# right-to-left override, U+202E), never raw in the log
logged 'user al\\xe2\\x80\\xaece@example.org: token refused: bad signature' "$good" jid \
    "$(printf 'al\xe2\x80\xaece@example.org')"
logged "user alice@example.org: accepted" "$(mint alice@example.org)" noreplay alice@example.org
# account management's debug line ("exists") escapes the name as well
rlo=$(printf 'al\xe2\x80\xaece@example.org')
acct_log=$(LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
    PAM_WRAPPER_DEBUGLEVEL=2 "$PAMCHECK" -n noreplay "$rlo" acct 2>&1)
if ! grep -q 'user al\\xe2\\x80\\xaece@example.org exists (users=any)' <<<"$acct_log"; then
    fail "acct debug line lacks the escaped name: $acct_log"
elif grep -q "$rlo" <<<"$acct_log"; then
    fail "acct debug line has the raw name: $acct_log"
else
    ok
fi
# a successful login without debug logs nothing at all
quiet=$(LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
    PAM_WRAPPER_DEBUGLEVEL=2 "$PAMCHECK" -t "$(mint alice@example.org)" jid alice@example.org auth 2>&1)
if grep -q "SYSLOG(.*pam_xtoken\|SYSLOG([0-7]): user" <<<"$quiet"; then
    fail "success logged without debug: $quiet"
else
    ok
fi

echo "pam: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
