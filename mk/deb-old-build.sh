#!/usr/bin/env bash
# Build the Debian package of an older release from this clone's git
# history, for the upgrade tests (mk/deb-upgrade-test.sh,
# mk/deb-upgrade-replay-test.sh).
#   mk/deb-old-build.sh OLD_REV SRC_DIR OUT_DIR
# The tree of OLD_REV is unpacked into SRC_DIR (which must not exist) and its
# packages are built into OUT_DIR; the build's output goes to OUT_DIR.log.
#
# The releases before 0.3.0 were made on Debian 12 and do not build on
# Debian 13 as they are: their Redis reply functions predate hiredis 1.x,
# and their package lists the PAM module under lib/ (before the /usr merge).
# Where this system has what they lack (told by pkg-config, not by release
# names), exactly those two things are ported, nothing else:
# mk/old-release-hiredis1.patch, and the .install line pointed at the
# module directory of this system's pam.pc.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:?OLD_REV}
src=${2:?SRC_DIR}
out=${3:?OUT_DIR}

git -C "$top" cat-file -e "$rev^{commit}" 2>/dev/null ||
    { echo "deb-old-build: no commit $rev in this clone (shallow clone or tarball)" >&2; exit 1; }
mkdir "$src"
git -C "$top" archive "$rev" | tar -x -C "$src"

if [ "$(pkg-config --modversion hiredis | cut -d. -f1)" -ge 1 ] &&
    grep -q 'reply_string, reply_array, reply_integer, reply_nil, reply_free' \
        "$src/shared/replay_redis.c" 2>/dev/null; then
    patch -s -d "$src" -p1 <"$top/mk/old-release-hiredis1.patch"
    echo "deb-old-build: $rev: Redis reply functions ported to hiredis $(pkg-config --modversion hiredis)"
fi
moddir=$(pkg-config --variable=libdir pam)/security
if [ "$moddir" != "/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/security" ] &&
    grep -q '^lib/\*/security/pam_xtoken.so$' "$src/debian/libpam-xtoken.install"; then
    sed -i "s|^lib/\\*/security/pam_xtoken.so\$|${moddir#/}/pam_xtoken.so|" "$src/debian/libpam-xtoken.install"
    echo "deb-old-build: $rev: the PAM module listed in $moddir"
fi
"$src/mk/deb-build.sh" "$out" >"$out.log" 2>&1 ||
    { tail -n 30 "$out.log" >&2; echo "deb-old-build: building $rev failed" >&2; exit 1; }
