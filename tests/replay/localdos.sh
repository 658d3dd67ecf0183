#!/usr/bin/env bash
# Issue 19, item 3: a local user who is not a service's user cannot make
# one of its logins fail through the replay directory. An attacker (nobody,
# through setpriv, no groups) tries, before the services' first login after
# a boot, to take their store names (a file, a symlink, a FIFO, a
# directory), to fill the file system under the directory (a private 40 MiB
# tmpfs mounted where /run would be), and, once the stores exist, to swap a
# store or a directory for one of its own. After each attempt every victim
# must log in once with a fresh token and refuse the same token again.
# Victims: a service user (daemon, through `xtoken verify`, as ejabberd's
# extauth or Prosody would) and root (through the PAM module, as saslauthd).
#   tests/replay/localdos.sh BUILD_DIR [packaged|0.2.0]
# packaged (default): debian/libpam-xtoken.tmpfiles's layout, DIR root 0755
# and DIR/daemon daemon 0700. 0.2.0: that release's DIR, root 1733, where
# each user made its own DIR/<uid>.store; run it with a build of 0.2.0
# to see the attacks succeed (this test then fails).
# Needs root (setpriv, mount); in a private mount namespace (unshare).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=$(realpath "${1:-build}")
LAYOUT=${2:-packaged}
case $LAYOUT in packaged | 0.2.0) ;; *) echo "usage: $0 BUILD_DIR [packaged|0.2.0]" >&2 && exit 2 ;; esac
if [ "$(id -u)" != 0 ]; then
    echo "replay local DoS: skipped (needs root: setpriv, a private tmpfs)"
    exit 0
fi
if [ -z "${XT_LOCALDOS_NS:-}" ]; then # the tmpfs mounts stay in a namespace of our own
    XT_LOCALDOS_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
PAMCHECK=$BUILD/tests/pamcheck
XTOKEN=$BUILD/xtoken
JID=alice@example.org
VICTIM=daemon
VUID=$(id -u "$VICTIM")

T=$(mktemp -d /tmp/xt-replay-localdos.XXXXXX)
RUN=$T/run
DIR=$RUN/pam_xtoken
cleanup() {
    if mountpoint -q "$RUN"; then umount "$RUN"; fi
    rm -rf "$T"
}
trap cleanup EXIT
chmod 0711 "$T" # the victim reads its config below
mkdir "$RUN"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*" >&2
}

# One config per victim, each readable by its user only.
keys='otp_seed = K5UOYGC3OJ2WG4LX\ntoken_secret = T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe\n'
printf "${keys}replay = %s\n" "$DIR" >"$T/root.conf"
printf "${keys}replay = %s\n" "$DIR" >"$T/victim.conf"
chmod 600 "$T/root.conf" "$T/victim.conf"
chown "$VICTIM" "$T/victim.conf"
mkdir "$T/pam.d"
printf 'auth required %s conf=%s\n' "$BUILD/pam_xtoken.so" "$T/root.conf" >"$T/pam.d/xt"

attacker() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_victim() { setpriv --reuid="$VICTIM" --regid="$(id -g "$VICTIM")" --clear-groups "$@"; }
token() { "$XTOKEN" issue --config "$T/root.conf" "$JID"; }

# A fresh boot: an empty tmpfs at $RUN, DIR laid out as LAYOUT says.
boot() {
    if mountpoint -q "$RUN"; then umount "$RUN"; fi
    mount -t tmpfs -o size=40m,mode=0755 xt-localdos "$RUN"
    mkdir "$DIR"
    if [ "$LAYOUT" = packaged ]; then
        chmod 0755 "$DIR"
        install -d -o "$VICTIM" -m 0700 "$DIR/$VICTIM"
    else
        chmod 1733 "$DIR"
    fi
}

# The names a store may have, in either layout.
store_names=("$DIR/0.store" "$DIR/$VUID.store" "$DIR/$VICTIM/$VUID.store")

# attempt WHAT CMD...: run CMD as the attacker; say what it managed to do.
attempt() {
    local what=$1
    shift
    if attacker "$@" 2>/dev/null; then
        echo "    attacker: $what: done"
    fi
}

# The victims log in: a fresh token once, then refused as replayed; or
# (REPLAYED TOKEN) a token they accepted before: still refused.
victim_root() { # WHEN [TOKEN]
    local tok got
    tok=${2:-$(token)}
    if [ -z "${2:-}" ]; then
        got=$("$PAMCHECK" -c "$T/pam.d" -t "$tok" xt "$JID" auth 2>/dev/null | head -1)
        [ "$got" = auth=PAM_SUCCESS ] && ok || fail "$1: root (PAM) fresh token: $got"
    fi
    got=$("$PAMCHECK" -c "$T/pam.d" -t "$tok" xt "$JID" auth 2>/dev/null | head -1)
    [ "$got" = auth=PAM_AUTH_ERR ] && ok || fail "$1: root (PAM) same token again: $got"
    ROOT_TOKEN=$tok
}
victim_service() { # WHEN [TOKEN]
    local tok rc err
    tok=${2:-$(token)}
    if [ -z "${2:-}" ]; then
        rc=0
        err=$(printf '%s\n' "$tok" | as_victim "$XTOKEN" verify --config "$T/victim.conf" "$JID" 2>&1) ||
            rc=$?
        [ $rc = 0 ] && ok || fail "$1: $VICTIM (xtoken verify) fresh token: exit $rc: $err"
    fi
    rc=0
    err=$(printf '%s\n' "$tok" | as_victim "$XTOKEN" verify --config "$T/victim.conf" "$JID" 2>&1) ||
        rc=$?
    [ $rc = 1 ] && [[ $err == *replayed* ]] && ok ||
        fail "$1: $VICTIM (xtoken verify) same token again: exit $rc: $err"
    SERVICE_TOKEN=$tok
}
victims() { # WHEN
    victim_root "$1"
    victim_service "$1"
}

echo "replay local DoS ($LAYOUT layout, $BUILD), attacker nobody, victims root and $VICTIM:"

# --- take the store names first, before the services' first login ---
for kind in file symlink fifo directory; do
    boot
    echo "  pre-create ($kind):"
    for name in "${store_names[@]}" "$DIR/$VICTIM"; do
        case $kind in
        file) attempt "create $name" sh -c ': > "$1"' - "$name" ;;
        symlink) attempt "symlink $name" ln -s /dev/null "$name" ;;
        fifo) attempt "mkfifo $name" mkfifo "$name" ;;
        directory) attempt "mkdir $name" mkdir "$name" ;;
        esac
    done
    victims "store names taken first ($kind)"
done

# --- fill the file system before the services make their stores ---
boot
echo "  fill:"
for d in "$DIR" "$DIR/$VICTIM" "$RUN"; do
    attempt "write into $d until it is full" sh -c 'head -c 64M /dev/zero > "$1/fill"; [ -s "$1/fill" ]' - "$d"
done
df -h "$RUN" | sed -n 2p | awk '{print "    tmpfs: " $3 " used of " $2}'
victims "file system filled first"

# --- swap a store or a directory once they exist ---
boot
victims "before the swap"
echo "  swap:"
for name in "${store_names[@]}" "$DIR/$VICTIM"; do
    [ -e "$name" ] || continue
    attempt "rename $name away" mv "$name" "$DIR/stolen"
    attempt "replace $name" sh -c 'rm -rf "$1" && mkdir "$1"' - "$name"
done
victim_root "after the swap attempts: the token root used" "$ROOT_TOKEN"
victim_service "after the swap attempts: the token $VICTIM used" "$SERVICE_TOKEN"
victims "after the swap attempts"

echo "replay local DoS ($LAYOUT layout): $passed passed, $failed failed"
[ "$failed" = 0 ]
