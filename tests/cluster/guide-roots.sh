#!/usr/bin/env bash
# make check-guide-cluster: doc/clusters.md followed as written
# (tests/cluster/guide.sh) in a pristine Debian 12 and Debian 13 root each
# (tests/fresh/root.sh; as root), from the committed HEAD of this repo:
# the build's packages installed, xtoken built, then the guide's own
# `apt-get install redis-server` and every step after it.
#   tests/cluster/guide-roots.sh [SUITE...]      (default: bookworm trixie)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "guide-roots: needs root (tests/fresh/root.sh)" >&2; exit 2; }
[ $# -gt 0 ] || set -- bookworm trixie
ROOTS=()
cleanup() {
    local r
    for r in "${ROOTS[@]}"; do tests/fresh/root.sh rm "$r" || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for suite in "$@"; do
    root=$(mktemp -u "${TMPDIR:-/var/tmp}/xt-guide-cluster-$suite.XXXXXX")
    ROOTS+=("$root")
    tests/fresh/root.sh new "$suite" "$root"
    git clone -q . "$root/root/src"
    echo "== $suite: doc/clusters.md at $(git rev-parse --short HEAD)"
    tests/fresh/root.sh run "$root" bash -c '
        set -e
        cd /root/src
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends make git libhiredis-dev >/dev/null
        tests/install-deps.sh core doctor
        make -j2 build/xtoken >/tmp/build.log 2>&1 || { tail -n 40 /tmp/build.log; exit 1; }
        tests/cluster/guide.sh build/xtoken'
    tests/fresh/root.sh rm "$root"
done
echo "guide-roots: doc/clusters.md passes on: $*"
