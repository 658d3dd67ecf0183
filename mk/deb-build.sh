#!/usr/bin/env bash
# Build the Debian package from a clean copy of the source tree (tracked
# files plus untracked, not-ignored ones: never build/ or node_modules/),
# with dpkg-buildpackage -us -uc -b. Results (.deb, .changes, .buildinfo)
# go to the directory given as $1 (default build/deb).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/deb}
case $out in /*) ;; *) out=$top/$out ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/pam-xtoken-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src=$work/pam-xtoken-$version
mkdir "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # --ignore-failed-read: a tracked file deleted in the work tree is skipped.
    (cd "$top" && git ls-files -z --cached --others --exclude-standard |
        tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$src"
else
    tar -C "$top" --exclude=./build --exclude=./.git --exclude=node_modules -cf - . |
        tar -xf - -C "$src"
fi
rm -rf "$src/build"

# The package build must not inherit the calling make's flags (jobserver,
# command-line variables) or it builds differently from a plain build.
(cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
    dpkg-buildpackage -us -uc -b -Jauto)

rm -rf "$out"
mkdir -p "$out"
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
ls -l "$out"
