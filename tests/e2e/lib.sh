# tests/e2e/lib.sh: shared helpers for the end-to-end tests with real XMPP
# servers (ejabberd here; the Prosody and Converse.js tests reuse it).
# Source it from bash:  . "$(dirname "$0")/lib.sh"
#
# Every server started through these helpers listens on 127.0.0.1 only, gets
# a port nobody else is using, and is stopped by its pid on every exit path.
#
# Set-up and cleanup
#   e2e_init NAME        make the temp dir $E2E_DIR (mode 0700, under $E2E_TMP,
#                        default /tmp, so servers running as other users can
#                        reach it) and install an EXIT/INT/TERM trap that runs
#                        the cleanups and removes the dir (kept when
#                        E2E_KEEP=1, for post-mortems).
#   e2e_on_exit CMD...   register a cleanup command; they run last-in first-out.
#   e2e_stop_pid PID [SECS]  SIGTERM PID, wait up to SECS (default 10), then
#                        SIGKILL it; also kills descendants that outlive it
#                        (collected from /proc before the signal).
#   e2e_descendants PID  print the pids of every descendant of PID (via /proc).
#   e2e_pam_service NAME TEXT  write /etc/pam.d/NAME (root only; NAME must be
#                        unique per run, e.g. contain $$) and remove it on exit.
#
# Ports, files, waiting
#   e2e_free_port        print a TCP port that is free on 127.0.0.1 right now.
#   e2e_wait_port PORT [SECS]  wait until 127.0.0.1:PORT accepts connections
#                        (default 20 s); fails on timeout.
#   e2e_cert FILE [CN]   write a self-signed key+certificate PEM (CN default
#                        localhost, valid 2 days).
#   e2e_log_mark FILE    print the current line count of FILE (0 if missing).
#   e2e_wait_log FILE MARK REGEX [SECS]  wait until a line after line MARK of
#                        FILE matches the extended REGEX (default 10 s); prints
#                        the first matching line; fails on timeout.
#   e2e_retry SECS CMD...  run CMD every 0.2 s until it succeeds or SECS pass.
#   e2e_as USER CMD...   run CMD as USER (setpriv; environment kept) or as
#                        the current user if USER is empty.
#   e2e_readable_by USER FILE  true if USER can read FILE (and reach it).
#   e2e_replay_dir DIR [USER]  make the replay directory DIR laid out as the
#                        package's /run/pam_xtoken (debian/libpam-xtoken.tmpfiles):
#                        owned by the caller, 0755, holding DIR/USER (USER's,
#                        0700) for a service that runs as USER.
#   e2e_stage FILE       print the path of a private copy of a build artefact
#                        in $E2E_DIR/bin (mode 0755): servers running as
#                        another user may not reach the source tree (a clone
#                        under /root), and a `make` run meanwhile must not
#                        swap a binary under a running server.
#
# Tokens (need $XTOKEN and $CONF, or $MINT_CONF, set by the caller)
#   mint JID [AT]        print a token from `$XTOKEN issue`. Meant for $(...):
#                        a failure leaves a flag file instead of aborting.
#   e2e_mint_failed DESC if a mint failed since the last call, record DESC as
#                        failed and return 0: every assertion calls it first,
#                        so a refusal test cannot pass on an empty token.
#   tamper TOKEN         print TOKEN with one signature character changed.
#
# Reporting (each test script ends with e2e_done)
#   e2e_step TEXT        print a progress line.
#   e2e_npm_ci DIR       npm ci in DIR (tests/e2e/converse: converse.js,
#                        playwright-core) from its lockfile when node_modules is
#                        missing or older; checks node, npm and Debian's chromium.
#   e2e_pass TEXT / e2e_fail TEXT   record one assertion's outcome.
#   e2e_done             print the summary; exit 1 if anything failed.
#
# ejabberd (Debian 12's 23.01, 13's 24.12; run from a temp dir as a throwaway instance)
#   ejd_start DIR AUTH_YAML   write DIR/ejabberd.yml (host localhost, c2s with
#                        STARTTLS on 127.0.0.1:$EJD_PORT, self-signed cert,
#                        loglevel info, mod_offline so messages to offline
#                        users are stored), start it, wait for the port and
#                        register its stop with e2e_on_exit. AUTH_YAML is
#                        the auth part of ejabberd.yml, verbatim (it must
#                        include auth_use_cache: false for token backends).
#                        Optional environment:
#                          EJD_HOSTS   yaml list of hosts (default [localhost])
#                          EJD_HTTP=1  also listen with ejabberd_http on
#                                      127.0.0.1:$EJD_HTTP_PORT with /ws
#                                      (websocket) and /bosh (mod_bosh)
#                          EJD_EXTRA_YAML  appended to ejabberd.yml verbatim
#                          EJD_USER    run it as this user (e.g. ejabberd,
#                                      needs root): DIR is chowned to it and
#                                      $E2E_DIR opened to 0711 so it can
#                                      reach DIR; default: the current user
#                        Sets EJD_PID (the beam process), EJD_PORT,
#                        EJD_HTTP_PORT (if EJD_HTTP=1), EJD_LOG (its log file).
#   ejd_stop             stop it (SIGTERM by pid, bounded wait).
#
# Clients
#   xmpp_client ARGS...  run tests/e2e/xmpp_client.py (slixmpp) with
#                        /usr/bin/python3; see that file for its commands.
#                        The password goes in $XMPP_PASSWORD, never in argv.

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_PYTHON=/usr/bin/python3
E2E_PASSED=0
E2E_FAILED=0
E2E_CLEANUPS=()

e2e_init() {
    local name=${1:-e2e}
    E2E_NAME=$name
    # Under /tmp (E2E_TMP), not $TMPDIR: a server running as another user
    # must be able to reach its directory.
    E2E_DIR=$(mktemp -d "${E2E_TMP:-/tmp}/$name.XXXXXX")
    chmod 0700 "$E2E_DIR"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

e2e_on_exit() {
    E2E_CLEANUPS+=("$*")
}

e2e_cleanup() {
    local status=$? i
    trap - EXIT
    for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${E2E_CLEANUPS[$i]}" || true
    done
    E2E_CLEANUPS=()
    if [ -n "${E2E_DIR:-}" ] && [ -d "$E2E_DIR" ]; then
        if [ "${E2E_KEEP:-0}" = 1 ]; then
            echo "e2e: kept $E2E_DIR" >&2
        else
            rm -rf "$E2E_DIR"
        fi
    fi
    exit "$status"
}

e2e_descendants() {
    local parent=$1 child children
    # /proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN; ps as fallback.
    if [ -e /proc/"$parent"/task/"$parent"/children ]; then
        children=$(cat /proc/"$parent"/task/*/children 2>/dev/null)
    else
        children=$(ps -o pid= --ppid "$parent" 2>/dev/null)
    fi
    for child in $children; do
        echo "$child"
        e2e_descendants "$child"
    done
}

# Start time of a process (field 22 of /proc/PID/stat), to tell a pid from a
# later process that reused it.
e2e_start_time() {
    sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f20
}

e2e_stop_pid() {
    local pid=$1 secs=${2:-10} kids=() kid i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    for kid in $(e2e_descendants "$pid"); do
        kids+=("$kid:$(e2e_start_time "$kid")")
    done
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        # A zombie child of this shell counts as gone.
        [ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" = Z ] && break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Descendants that outlived it (same pid AND same start time only).
    for kid in "${kids[@]}"; do
        [ "$(e2e_start_time "${kid%%:*}")" = "${kid#*:}" ] &&
            kill -KILL "${kid%%:*}" 2>/dev/null
    done
    return 0
}

e2e_pam_service() {
    local name=$1 text=$2
    case $name in
        */* | '' | .*) echo "e2e_pam_service: bad name '$name'" >&2; return 1 ;;
    esac
    [ ! -e "/etc/pam.d/$name" ] || { echo "e2e_pam_service: /etc/pam.d/$name exists" >&2; return 1; }
    e2e_on_exit "rm -f '/etc/pam.d/$name'"
    printf '%s\n' "$text" >"/etc/pam.d/$name"
}

e2e_free_port() {
    "$E2E_PYTHON" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

e2e_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

e2e_retry() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        "$@" && return 0
        sleep 0.2
    done
    "$@"
}

e2e_wait_port() {
    e2e_retry "${2:-20}" e2e_port_open "$1" || {
        echo "e2e: nothing listens on 127.0.0.1:$1 after ${2:-20} s" >&2
        return 1
    }
}

e2e_cert() {
    local file=$1 cn=${2:-localhost}
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=$cn" -addext "subjectAltName=DNS:$cn" -days 2 \
        -keyout "$file.key" -out "$file.crt" 2>/dev/null || return 1
    cat "$file.key" "$file.crt" >"$file"
    rm -f "$file.key" "$file.crt"
    chmod 0600 "$file"
}

e2e_log_mark() {
    if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

e2e_log_match() {
    [ -f "$1" ] && tail -n +"$(($2 + 1))" "$1" | grep -E -m1 -- "$3"
}

e2e_wait_log() {
    local file=$1 mark=$2 regex=$3 secs=${4:-10}
    e2e_retry "$secs" e2e_log_match "$file" "$mark" "$regex" >/dev/null || return 1
    e2e_log_match "$file" "$mark" "$regex"
}

e2e_as() {
    local user=$1
    shift
    if [ -z "$user" ] || [ "$user" = "$(id -un)" ]; then
        "$@"
    else
        setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"
    fi
}

e2e_readable_by() {
    e2e_as "$1" test -r "$2"
}

e2e_replay_dir() {
    mkdir -m 0755 "$1" || return 1
    if [ -n "${2:-}" ] && [ "$2" != "$(id -un)" ]; then
        install -d -o "$2" -m 0700 "$1/$2" || return 1
    fi
}

e2e_stage() {
    local file=$1 copy
    mkdir -p "$E2E_DIR/bin"
    chmod 0755 "$E2E_DIR/bin"
    copy=$E2E_DIR/bin/$(basename "$file")
    cp "$file" "$copy" && chmod 0755 "$copy" || return 1
    echo "$copy"
}

mint() {
    "$XTOKEN" issue --config "${MINT_CONF:-$CONF}" ${2:+--at "$2"} "$1" ||
        touch "$E2E_DIR/mint-failed"
}

e2e_mint_failed() {
    [ -e "$E2E_DIR/mint-failed" ] || return 1
    rm -f "$E2E_DIR/mint-failed"
    e2e_fail "$1: xtoken issue failed, no token to test with"
}

# A character in the middle of the signature: not the last one before '=',
# whose low bits are padding a lax decoder might ignore.
tamper() {
    local token=$1 pos c
    pos=$((${#token} - 20))
    c=${token:pos:1}
    if [ "$c" = A ]; then c=B; else c=A; fi
    echo "${token:0:pos}$c${token:pos+1}"
}

# The lockfile needs npm 10 or later; Debian 12 and 13 ship npm 9.2, which
# cannot `npm ci` it: that npm then fetches npm 10 from the registry into
# build/npm10 once, and node runs it from there (nothing system-wide).
E2E_NPM_PIN=10.9.4
e2e_npm_ci() {
    local dir=$1 npm10
    local npm=(npm)
    command -v node >/dev/null && command -v npm >/dev/null ||
        { echo "${E2E_NAME:-e2e}: node and npm are needed (tests/install-deps.sh converse)" >&2; return 2; }
    [ -x /usr/bin/chromium ] ||
        { echo "${E2E_NAME:-e2e}: /usr/bin/chromium missing (tests/install-deps.sh converse)" >&2; return 2; }
    if [ "$(npm --version | cut -d. -f1)" -lt 10 ]; then
        npm10=$E2E_LIB_DIR/../../build/npm10
        if [ ! -f "$npm10/node_modules/npm/bin/npm-cli.js" ]; then
            e2e_step "npm $(npm --version) is too old for the lockfile: npm $E2E_NPM_PIN into build/npm10"
            timeout 300 npm install --prefix "$npm10" --no-audit --no-fund --loglevel=error \
                "npm@$E2E_NPM_PIN" >/dev/null ||
                { echo "${E2E_NAME:-e2e}: cannot install npm $E2E_NPM_PIN from the registry" >&2; return 2; }
        fi
        npm=(node "$npm10/node_modules/npm/bin/npm-cli.js")
    fi
    if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
        [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        e2e_step "npm ci in $dir, npm $("${npm[@]}" --version), node $(node --version)"
        (cd "$dir" && timeout 300 "${npm[@]}" ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
            { echo "${E2E_NAME:-e2e}: npm ci failed" >&2; return 2; }
    fi
}

e2e_step() {
    echo "== $*"
}

e2e_pass() {
    E2E_PASSED=$((E2E_PASSED + 1))
    echo "ok   $*"
}

e2e_fail() {
    E2E_FAILED=$((E2E_FAILED + 1))
    echo "FAIL $*"
}

# e2e_browser_verdict DESC NAME STATUS OUT SHOTS: a browser scenario passed if
# its script exited 0 and left its screenshot SHOTS/NAME.png; either way the
# line says what the page saw (the script's PASS line, or its last errors).
e2e_browser_verdict() {
    local desc=$1 name=$2 status=$3 out=$4 shots=$5
    if [ "$status" = 0 ] && [ -s "$shots/$name.png" ]; then
        e2e_pass "$desc (${out##*PASS }; $shots/$name.png)"
    else
        e2e_fail "$desc: exit $status: $out $(tail -n 5 "$E2E_DIR/browser-$name.err")"
    fi
}

e2e_done() {
    echo "${E2E_NAME:-e2e}: $E2E_PASSED passed, $E2E_FAILED failed"
    [ "$E2E_FAILED" = 0 ] && [ "$E2E_PASSED" -gt 0 ]
}

xmpp_client() {
    "$E2E_PYTHON" "$E2E_LIB_DIR/xmpp_client.py" "$@"
}

# ---- ejabberd --------------------------------------------------------------

EJD_ERL_LIBS=/usr/lib/x86_64-linux-gnu

ejd_write_config() {
    local dir=$1 auth=$2
    {
        cat <<EOF
# Throwaway ejabberd written by tests/e2e/lib.sh: loopback only.
hosts: ${EJD_HOSTS:-[localhost]}
loglevel: info
acme:
  auto: false
certfiles:
  - "$dir/cert.pem"
listen:
  -
    port: $EJD_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: true
    starttls_required: false
EOF
        if [ "${EJD_HTTP:-0}" = 1 ]; then
            cat <<EOF
  -
    port: $EJD_HTTP_PORT
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /ws: ejabberd_http_ws
      /bosh: mod_bosh
EOF
        fi
        cat <<EOF
acl:
  local:
    user_regexp: ""
access_rules:
  c2s:
    allow: all
  local:
    allow: local
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_stream_mgmt: {}
  mod_offline: {}
EOF
        [ "${EJD_HTTP:-0}" = 1 ] && echo "  mod_bosh: {}"
        echo "# --- auth ---"
        printf '%s\n' "$auth"
        [ -z "${EJD_EXTRA_YAML:-}" ] || printf '%s\n' "$EJD_EXTRA_YAML"
    } >"$dir/ejabberd.yml"
}

ejd_start() {
    local dir=$1 auth=$2
    mkdir -p "$dir/logs" "$dir/spool"
    EJD_PORT=$(e2e_free_port)
    [ "${EJD_HTTP:-0}" = 1 ] && EJD_HTTP_PORT=$(e2e_free_port)
    [ -f "$dir/cert.pem" ] || e2e_cert "$dir/cert.pem" localhost || return 1
    ejd_write_config "$dir" "$auth"
    EJD_LOG=$dir/logs/ejabberd.log
    EJD_DIR=$dir
    local as_user=()
    if [ -n "${EJD_USER:-}" ] && [ "$EJD_USER" != "$(id -un)" ]; then
        chmod 0711 "$E2E_DIR"
        chown -R "$EJD_USER:" "$dir" || return 1
        as_user=(setpriv --reuid="$EJD_USER" --regid="$(id -g "$EJD_USER")" --init-groups --)
    fi
    # Its own session, so a signal to this script's group never reaches it;
    # stopped by pid (ejd_stop), never by name.
    (
        cd "$dir" || exit 1
        HOME=$dir EJABBERD_CONFIG_PATH=$dir/ejabberd.yml EJABBERD_LOG_PATH=$EJD_LOG \
            ERL_LIBS=$EJD_ERL_LIBS exec setsid "${as_user[@]}" erl -noinput -noshell \
            -mnesia dir "\"$dir/spool\"" -s ejabberd
    ) </dev/null >"$dir/logs/erl.out" 2>&1 &
    EJD_PID=$!
    e2e_on_exit ejd_stop
    if ! e2e_wait_port "$EJD_PORT" 30; then
        echo "e2e: ejabberd did not start; last log lines:" >&2
        tail -n 20 "$EJD_LOG" "$dir/logs/erl.out" >&2 2>/dev/null
        return 1
    fi
    if [ "${EJD_HTTP:-0}" = 1 ] && ! e2e_wait_port "$EJD_HTTP_PORT" 10; then
        return 1
    fi
}

ejd_stop() {
    [ -n "${EJD_PID:-}" ] || return 0
    e2e_stop_pid "$EJD_PID" 15
    EJD_PID=
}
