#!/usr/bin/env bash
# make check-guides: the guides followed as written, each on a pristine
# Debian root of its own, as a new sysadmin would (root only; needs
# mmdebstrap: tests/install-deps.sh fresh).
#
#   tests/guides/check.sh SUITE [ROOT...]     SUITE: bookworm (12), trixie (13)
#
# ROOTs, in this order (default: all):
#   build     the README's setup line (git, make), then its Install section:
#             the build tools, make deb (nothing started or enabled by them),
#             the packages installed alone, xtoken check-config
#   ejabberd  doc/ejabberd.md (extauth, then the PAM variant) and the
#             README's Uninstall
#   prosody   doc/prosody.md (native, then the saslauthd variant) and the
#             README's Uninstall
#   cluster   README's install, then doc/clusters.md by tests/cluster/guide.sh
# Each root is new (tests/fresh/root.sh) and gets a clone of HEAD in
# /root/pam_xtoken; the server roots get the packages the build root made
# in its build/deb/ (build on the release you install on: README). Inside,
# tests/guides/inside.sh sets up what a chroot lacks and tests/guides/run.sh
# runs the marked blocks (tests/guides/blocks.awk). Then every marked block
# of README.md and doc/*.md must have run in one of the roots.
# Output: build/guides/SUITE.log (everything), build/guides/SUITE/ROOT/
# (the generated script, captures; samples.patch when samples differ),
# build/guides/SUITE-debs/ (the build root's packages: a later run of
# server roots alone uses them).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/guides
fresh=$top/tests/fresh
suite=${1:?usage: check.sh SUITE [ROOT...]}
shift
[ $# -gt 0 ] || set -- build ejabberd prosody cluster
all_roots="build ejabberd prosody cluster"

out=$top/build/guides/$suite
mkdir -p "$out"
log=$top/build/guides/$suite.log
: >"$log"
src=/root/pam_xtoken
dir=
failed=

say() { printf 'check-guides %s: %s\n' "$suite" "$*"; }
cleanup() {
    [ -z "$dir" ] || "$fresh/root.sh" rm "$dir" || say "could not remove $dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$(git -C "$top" status --porcelain --untracked-files=no)" ]; then
    say "note: uncommitted changes are not tested (each root gets a clone of HEAD)"
fi
# The commit every root and the coverage check below use, even if HEAD
# moves during the run.
head=$(git -C "$top" rev-parse HEAD)

new_root() {
    dir=${GUIDES_DIR:-/var/tmp}/xtoken-guides-$suite-$1.$$
    printf '\n########## root %s (%s)\n' "$1" "$suite" >>"$log"
    "$fresh/root.sh" new "$suite" "$dir" >>"$log" 2>&1 || { tail -n 20 "$log"; say "no root"; exit 1; }
    { git clone -q "$top" "$dir$src" && git -C "$dir$src" checkout -q "$head"; } ||
        { say "git clone failed"; exit 1; }
}

# run_root NAME CMD...: CMD as root inside the current root; its output to the log.
run_root() {
    local name=$1 start status
    shift
    start=$(date +%s)
    rm -rf "${out:?}/$name"
    "$fresh/root.sh" run "$dir" "$@" >>"$log" 2>&1
    status=$?
    mkdir -p "$out/$name"
    [ ! -d "$dir/root/guides-out" ] || cp -a "$dir/root/guides-out/." "$out/$name/"
    if [ "$status" != 0 ]; then
        grep -n -A 40 -E '^(FAIL|SAMPLE DIFFERS)' "$log" | tail -n 80 | sed 's/^/  | /'
        [ ! -s "$out/$name/samples.patch" ] ||
            say "the samples as printed: $out/$name/samples.patch (git apply after a review)"
        say "root $name FAILED (exit $status) after $(($(date +%s) - start)) s; whole log: $log"
        failed="$failed $name"
        return 1
    fi
    say "root $name passed in $(($(date +%s) - start)) s"
}

drop_root() {
    "$fresh/root.sh" rm "$dir" || say "could not remove $dir"
    dir=
}

block() { "$fresh/readme-block.sh" "$top/README.md" "$1" || exit 1; }

start=$(date +%s)
# The build root's packages, kept for later runs of single server roots.
debs=$top/build/guides/$suite-debs
for r in "$@"; do
    case " $all_roots " in *" $r "*) ;; *) say "unknown root $r"; exit 2 ;; esac
    if [ "$r" != build ] && ! compgen -G "$debs/libpam-xtoken_*.deb" >/dev/null; then
        say "root $r needs the packages of the build root: run it first"
        exit 2
    fi
    new_root "$r"
    case $r in
    build)
        # The README's setup line first: the clone came from outside, as
        # in make check-fresh (a new cloud image has no git yet).
        printf '%s\n' "set -ex" "$(block setup)" >"$dir/root/guides-setup.sh"
        run_root build-setup bash /root/guides-setup.sh &&
            run_root build "$src/tests/guides/inside.sh" build &&
            { rm -rf "$debs" && mkdir -p "$debs" && cp "$dir$src"/build/deb/*.deb "$debs"/; }
        ;;
    cluster)
        mkdir -p "$dir$src/build/deb"
        cp "$debs"/*.deb "$dir$src/build/deb/"
        run_root cluster "$src/tests/guides/inside.sh" cluster
        ;;
    *)
        mkdir -p "$dir$src/build/deb"
        cp "$debs"/*.deb "$dir$src/build/deb/"
        run_root "$r" "$src/tests/guides/inside.sh" "$r"
        ;;
    esac
    drop_root
    [ "$r" != build ] || [ -z "$failed" ] || break
done

# Every marked block ran somewhere (only when every root ran).
if [ -z "$failed" ] && [ "$*" = "$all_roots" ]; then
    tmp=$(mktemp -d)
    for doc in $(git -C "$top" ls-tree --name-only "$head" README.md doc/ | grep '\.md$'); do
        mkdir -p "$tmp/$doc"
        git -C "$top" show "$head:$doc" >"$tmp/$doc.md"
        awk -v out="$tmp/$doc" -f "$here/blocks.awk" "$tmp/$doc.md" || exit 1
        awk -F'|' -v doc="$doc" 'NF { print doc ":" $2 + 1 }' "$tmp/$doc/index"
    done | sort >"$tmp/all"
    cat "$out"/*/ran 2>/dev/null | awk '{ print $1 }' | sort -u >"$tmp/ran"
    missed=$(comm -23 "$tmp/all" "$tmp/ran")
    rm -rf "$tmp"
    if [ -n "$missed" ]; then
        say "marked blocks no root ran (give them an if= tag a root has):"
        echo "$missed" | sed 's/^/    /'
        failed="$failed coverage"
    fi
fi

if [ -n "$failed" ]; then
    say "FAIL:$failed ($(($(date +%s) - start)) s)"
    exit 1
fi
say "PASS: $* in $(($(date +%s) - start)) s"
