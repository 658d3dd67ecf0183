#!/usr/bin/env bash
# The replay store seen from outside: through the real PAM module
# (build/pam_xtoken.so via pam_start_confdir) and the xtoken tool, which
# share one store per user. Checks the return codes a service sees for a
# used, a store-full, a corrupt and an unsafe store, and a non-root service
# user in the packaged layout (DIR root 0755, DIR/<user> the user's 0700).
#   tests/replay/stack.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=$(realpath "${1:-build}")
MODULE=$BUILD/pam_xtoken.so
PAMCHECK=$BUILD/tests/pamcheck
XTOKEN=$BUILD/xtoken
JID=alice@example.org
STORE_BYTES=$((4096 + 65536 * 16 * 16))

T=$(mktemp -d /tmp/xt-replay-stack.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 0711 "$T" # a test user must reach its own directory below
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*" >&2
}

CONF=$T/xt.conf
printf 'otp_seed = K5UOYGC3OJ2WG4LX\ntoken_secret = T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe\nreplay = %s\n' \
    "$T/replay" >"$CONF"
chmod 600 "$CONF"
mkdir "$T/pam.d"
printf 'auth required %s conf=%s\n' "$MODULE" "$CONF" >"$T/pam.d/xt"
STORE=$T/replay/$(id -u).store

token() { "$XTOKEN" issue --config "$CONF" "$JID"; }

# pam WANT NAME TOKEN: one PAM session authenticating with TOKEN
pam() {
    local got
    got=$("$PAMCHECK" -c "$T/pam.d" -t "$3" xt "$JID" auth 2>/dev/null | head -1)
    if [ "$got" = "auth=$1" ]; then ok; else fail "$2: PAM got '$got', want 'auth=$1'"; fi
}

# tool WANT_EXIT WANT_STDERR NAME TOKEN [CONF]: xtoken verify
tool() {
    local rc=0 err
    err=$(printf '%s\n' "$4" | "$XTOKEN" verify --config "${5:-$CONF}" "$JID" 2>&1 >/dev/null) || rc=$?
    if [ "$rc" = "$1" ] && [[ $err == *"$2"* ]]; then
        ok
    else
        fail "$3: xtoken verify exit $rc '$err', want $1 '*$2*'"
    fi
}

# unusable NAME WHY: a fresh token is refused with the "unavailable" code
unusable() {
    local tok
    tok=$(token)
    pam PAM_AUTHINFO_UNAVAIL "$1" "$tok"
    tool 2 "$2" "$1" "$tok"
}

fresh_store() {
    rm -rf "$T/replay"
    pam PAM_SUCCESS "first login creates the store" "$(token)"
}

# --- single use across PAM sessions and the tool ---
tok=$(token)
pam PAM_SUCCESS "first use" "$tok"
pam PAM_AUTH_ERR "second PAM session" "$tok"
tool 1 "replayed" "the tool after PAM" "$tok"
tok=$(token)
tool 0 "" "tool first" "$tok"
pam PAM_AUTH_ERR "PAM after the tool" "$tok"
# made by the first verifier: 0755 by root (other users' directories go in
# it), 0700 by anyone else
DIR_MODE=$([ "$(id -u)" = 0 ] && echo 755 || echo 700)
[ "$(stat -c '%a %s' "$T/replay" "$STORE" | tr '\n' ' ')" = "$DIR_MODE 4096 600 $STORE_BYTES " ] &&
    ok || fail "store layout: $(stat -c '%n %a %s' "$T/replay" "$STORE")"

# --- store full: fill both buckets of a token's HMAC with live entries ---
fill_buckets() { # TOKEN EXPIRES
    /usr/bin/python3 - "$STORE" "$1" "$2" <<'EOF'
import base64, struct, sys
path, token, expires = sys.argv[1], sys.argv[2], int(sys.argv[3])
mac = base64.b64decode(token.split(" ")[1])
b0 = struct.unpack("<Q", mac[0:8])[0] & 65535
b1 = struct.unpack("<Q", mac[8:16])[0] & 65535
if b1 == b0:
    b1 ^= 1
with open(path, "r+b") as f:  # 16 slots of 16 bytes: 12 key bytes, uint32 expires
    for b in (b0, b1):
        for i in range(16):
            f.seek(4096 + b * 256 + i * 16)
            f.write(struct.pack("<IIII", 0xdead, b, i, expires))
EOF
}
tok=$(token)
fill_buckets "$tok" 4000000000
pam PAM_AUTHINFO_UNAVAIL "store full" "$tok"
tool 2 "full" "store full" "$tok"
fill_buckets "$tok" 1 # those entries expire: their slots are reused
pam PAM_SUCCESS "after the entries expired" "$tok"
pam PAM_AUTH_ERR "after the entries expired, again" "$tok"

# --- corrupt stores fail closed ---
fresh_store
truncate -s 100 "$STORE"
unusable "truncated store" "truncated"
fresh_store
: >"$STORE" # emptied: never taken for a new store (that would forget used tokens)
unusable "emptied store" "file is 0 bytes (truncated"
tok=$(token)
rm "$STORE"
pam PAM_SUCCESS "removing the file is the way out" "$tok"
fresh_store
head -c "$STORE_BYTES" /dev/zero >"$STORE"
unusable "zeroed store" "all zeros"
fresh_store
head -c "$STORE_BYTES" /dev/urandom >"$STORE"
unusable "garbage store" "bad magic"
fresh_store
mv "$STORE" "$T/elsewhere"
ln -s "$T/elsewhere" "$STORE"
unusable "symlinked store" "symlink"

# --- unsafe directories ---
rm -rf "$T/replay"
mkdir -m 0777 "$T/replay"
unusable "world-writable directory" "writable by group or other (mode 0777)"
chmod 1733 "$T/replay" # 0.2.0's packaged layout: anyone could take a store's name
unusable "sticky world-writable directory" "writable by group or other (mode 1733)"
if [ "$(id -u)" = 0 ]; then
    chown nobody "$T/replay"
    chmod 0700 "$T/replay"
    unusable "directory owned by nobody" "owned by uid"
fi

# --- the packaged layout: DIR root 0755 with root's store, DIR/<user> ---
rm -rf "$T/replay"
mkdir -m 0755 "$T/replay"
pam PAM_SUCCESS "root in the root-owned dir" "$(token)"
if [ "$(id -u)" = 0 ]; then
    NOBODY_CONF=$T/nobody.conf
    NOBODY_STORE=$T/replay/nobody/$(id -u nobody).store
    cp "$CONF" "$NOBODY_CONF"
    chown nobody "$NOBODY_CONF"
    asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
    nobody_verify() { # WANT_EXIT WANT_STDERR NAME TOKEN
        local rc=0 err
        err=$(printf '%s\n' "$4" | asnobody "$XTOKEN" verify --config "$NOBODY_CONF" "$JID" 2>&1) ||
            rc=$?
        if [ "$rc" = "$1" ] && [[ $err == *"$2"* ]]; then ok; else fail "$3: exit $rc '$err'"; fi
    }
    tok=$(token)
    # no directory of its own yet: refused, with the command that makes it
    nobody_verify 2 "its directory is missing; as root: install -d -o nobody -m 0700 $T/replay/nobody" \
        "nobody without its directory" "$tok"
    install -d -o nobody -m 0700 "$T/replay/nobody" # what the reason said
    nobody_verify 0 "" "nobody: first use" "$tok"
    nobody_verify 1 "replayed" "nobody: replay" "$tok"
    [ "$(stat -c '%U %a' "$NOBODY_STORE")" = "nobody 600" ] && ok ||
        fail "nobody's store: $(stat -c '%U %a' "$NOBODY_STORE")"
    # a user with its own store: root's entry is not in it (separate stores)
    pam PAM_SUCCESS "root, same token, own store" "$tok"
fi

echo "replay stack: $passed passed, $failed failed"
[ "$failed" = 0 ]
