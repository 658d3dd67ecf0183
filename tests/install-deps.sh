#!/bin/sh
# Install the Debian packages listed in tests/deps/<area>.apt (all areas if
# none are named). Needs root; does nothing for packages already installed.
#   build     what `make` needs            check     make check's suites
#   deb       make deb (with build)        deb-test  the package tests
#   e2e       ejabberd tests, make demo    prosody   Prosody tests
#   converse  Chromium, node, npm          quality   fuzz, sanitizers, analyzers
#   fresh     make check-fresh/check-guides (mmdebstrap)
set -eu
cd "$(dirname "$0")/deps"
if [ $# -eq 0 ]; then
    for list in ./*.apt; do
        list=${list#./}
        set -- "$@" "${list%.apt}"
    done
fi
pkgs=$(for a in "$@"; do sed -e 's/#.*//' "$a.apt"; done | tr -s ' \n' '\n' | sort -u)
# A name counts as there when a package of that name is installed or an
# installed package provides it (a nodejs built elsewhere that includes npm).
provided=$(dpkg-query -W -f='${db:Status-Abbrev} ${Provides}\n' 2>/dev/null |
    awk '$1 == "ii" { $1 = ""; print }' | tr ',' '\n' | sed 's/(.*//; s/ //g' | sort -u)
missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' && continue
    printf '%s\n' "$provided" | grep -qx -- "$p" || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Servers installed for the tests (ejabberd, prosody, saslauthd) must not
# start their stock services on all interfaces: tests start their own on
# 127.0.0.1. policy-rc.d exit 101 tells invoke-rc.d not to start anything.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
# Another apt run (a second test, the daily timer) holds the lock for a while: wait.
apt_opts="-o DPkg::Lock::Timeout=600"
apt-get $apt_opts update -qq
# shellcheck disable=SC2086 # one word per package
apt-get $apt_opts install -y -qq --no-install-recommends $missing >/dev/null
