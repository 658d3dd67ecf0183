#!/usr/bin/env bash
# make check-fresh: this repository on a pristine Debian root, as a new user
# would meet it (root only; needs mmdebstrap: tests/install-deps.sh fresh).
#
#   tests/fresh/check.sh SUITE [STAGE...]      SUITE: bookworm (12), trixie (13)
#
# A new root of SUITE (tests/fresh/root.sh: the base of a cloud image, no
# compiler, no make, no git), a clone of this repository's HEAD in
# /root/pam_xtoken, then the stages in order, each as root inside the root:
#   readme   the README's commands, extracted from its marked blocks and run
#            as written: the setup line (git, make), then `make demo` and
#            `make check` in the clone
#   check    the README's setup line, then `make check` alone (no make demo
#            first: it must install what it needs itself)
#   deb      make deb-test, deb-test-upgrade and deb-test-upgrade-replay
#            (build, lintian, install, use, upgrades from the releases
#            before, purge)
#   e2e      make e2e: ejabberd (PAM, extauth, cluster), Prosody (native,
#            saslauthd), Converse.js in Debian's chromium
#   analyze  make analyze with this release's cppcheck and clang-tidy
# Default: readme. The whole output goes to build/fresh/SUITE-STAGES.log; a failing
# stage prints its last lines. The root is removed on every exit.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/fresh
suite=${1:?usage: check.sh SUITE [STAGE...]}
shift
[ $# -gt 0 ] || set -- readme

log_dir=$top/build/fresh
mkdir -p "$log_dir"
log=$log_dir/$suite-$(IFS=-; echo "$*").log
: >"$log"
dir=${FRESH_DIR:-/var/tmp}/xtoken-fresh-$suite.$$
src=/root/pam_xtoken
FRESH_VERSIONS="gcc libpam0g-dev libssl-dev libhiredis-dev liboath-dev liblua5.4-dev check
ejabberd prosody redis-server python3-slixmpp sendxmpp chromium nodejs npm clang-tidy cppcheck"

say() { printf 'check-fresh %s: %s\n' "$suite" "$*"; }
cleanup() {
    "$here/root.sh" rm "$dir" || say "could not remove $dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$(git -C "$top" status --porcelain --untracked-files=no)" ]; then
    say "note: uncommitted changes are not tested (the root gets a clone of HEAD)"
fi

# stage NAME SCRIPT: run SCRIPT (bash, set -ex) in the clone inside the root.
stage() {
    local name=$1 script=$2 start status
    start=$(date +%s)
    printf '%s\n' "set -ex" "$script" >"$dir/root/fresh-$name.sh"
    printf '\n===== stage %s =====\n' "$name" >>"$log"
    "$here/root.sh" run "$dir" bash "/root/fresh-$name.sh" >>"$log" 2>&1
    status=$?
    if [ "$status" != 0 ]; then
        tail -n 60 "$log" | sed 's/^/  | /'
        say "stage $name FAILED (exit $status) after $(($(date +%s) - start)) s; whole log: $log"
        exit 1
    fi
    say "stage $name passed in $(($(date +%s) - start)) s"
}

block() { "$here/readme-block.sh" "$top/README.md" "$1" || exit 1; }

start=$(date +%s)
"$here/root.sh" new "$suite" "$dir" >>"$log" 2>&1 || { tail -n 20 "$log"; say "no root"; exit 1; }
git clone -q "$top" "$dir$src" || { say "git clone failed"; exit 1; }
say "pristine root in $dir ($(cat "$dir/etc/debian_version")), clone of $(git -C "$top" rev-parse --short HEAD)"

for s in "$@"; do
    case $s in
    readme)
        # The setup line comes before the clone in the README; here the
        # clone is made from outside (git is not in the root yet).
        stage readme "$(block setup)
cd $src
$(block commands)" ;;
    check)
        stage check "$(block setup)
cd $src
make check" ;;
    deb)
        stage deb "cd $src
tests/install-deps.sh deb deb-test
make deb-test
make deb-test-upgrade
make deb-test-upgrade-replay" ;;
    e2e)
        stage e2e "cd $src
tests/install-deps.sh e2e prosody converse web
make e2e" ;;
    analyze)
        stage analyze "cd $src
tests/install-deps.sh build quality
make analyze" ;;
    *) say "unknown stage $s"; exit 2 ;;
    esac
done
# What was tested, for the versions table in doc/development.md.
# shellcheck disable=SC2086 # one word per package
"$here/root.sh" run "$dir" dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' \
    $FRESH_VERSIONS 2>/dev/null | awk '$1 == "ii" { print "    " $2, $3 }'
say "PASS in $(($(date +%s) - start)) s"
