#!/usr/bin/env bash
# Pristine Debian roots for make check-fresh and make check-guides (root only).
#
#   root.sh base SUITE        print the path of the cached base tarball of SUITE
#                             (bookworm, trixie), building it first when it is
#                             missing or older than FRESH_BASE_DAYS (7) days
#   root.sh new SUITE DIR     unpack a new root of SUITE into DIR (must not exist):
#                             the base a cloud image has, plus this network's CA
#   root.sh run DIR CMD...    run CMD as root inside DIR and return its status
#   root.sh rm DIR            remove DIR (refuses while anything is mounted below it)
#
# The base is mmdebstrap --variant=important with ca-certificates, curl and
# sudo: no compiler, no make, no git. The mirror is read from this machine's
# apt sources at run time. Only the tarball is cached
# (FRESH_CACHE, default /var/cache/xtoken-fresh); a root is never reused.
#
# `run` copies in apt's download cache of that release (FRESH_CACHE/
# debs-CODENAME: packages are fetched once per machine, installed afresh in
# every root; new ones are copied back after the command), and mounts proc,
# sys, dev, dev/pts, a fresh dev/shm and /run and the root bound
# onto itself (so that unshare works inside) in a private mount namespace,
# so they are undone on every exit, however the command ends. The command
# runs in its own pid namespace: what it leaves running is listed and ended
# by pid when it returns. The network is the host's: servers inside listen
# on 127.0.0.1 like every test server.
set -euo pipefail

CACHE=${FRESH_CACHE:-/var/cache/xtoken-fresh}
BASE_DAYS=${FRESH_BASE_DAYS:-7}
BASE_PKGS=ca-certificates,curl,sudo

die() { echo "root.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, chroot, mounts)"

# The host's Debian mirror: the first URI of a deb822 source whose suites
# are not -security, else the first plain deb line.
host_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '
            /^URIs:/ { u = $2 }
            /^Suites:/ { if ($0 !~ /-security/ && u != "") { print u; exit } }
            /^$/ { u = "" }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
    [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*"
    echo "$uri"
}

# The security mirror beside it (deb.debian.org/debian -> .../debian-security).
security_mirror() {
    local mirror=$1
    local sec
    sec=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
        awk '$1 == "URIs:" || $1 == "deb" { for (i = 2; i <= NF; i++)
            if ($i ~ /^https?:.*debian-security/) { print $i; exit } }')
    echo "${sec:-${mirror%/}-security}"
}

cmd_base() {
    local suite=$1 tar tmp mirror sec
    tar=$CACHE/$suite-base.tar.zst
    tmp=$CACHE/$suite-base.new.tar.zst
    if [ -s "$tar" ] && [ -z "$(find "$tar" -mtime +"$BASE_DAYS")" ]; then
        echo "$tar"
        return
    fi
    command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (apt-get install mmdebstrap)"
    mkdir -p "$CACHE"
    mirror=$(host_mirror)
    sec=$(security_mirror "$mirror")
    echo "root.sh: building the $suite base from $mirror (cached in $tar)" >&2
    # mmdebstrap picks the format from the name's ending.
    mmdebstrap --quiet --variant=important --include="$BASE_PKGS" "$suite" "$tmp" \
        "deb $mirror $suite main" "deb $mirror $suite-updates main" \
        "deb $sec $suite-security main" >&2 ||
        { rm -f "$tmp"; die "mmdebstrap $suite failed"; }
    mv "$tmp" "$tar"
    echo "$tar"
}

cmd_new() {
    local suite=$1 dir=$2 tar
    [ ! -e "$dir" ] || die "$dir exists: a root is never reused"
    tar=$(cmd_base "$suite")
    mkdir -p "$dir"
    tar --zstd -xpf "$tar" -C "$dir" || die "cannot unpack $tar"
    # What the network needs: the resolver, and the local CA every TLS
    # connection (npm, the mirror over https) goes through here.
    cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
    if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
        cp /usr/local/share/ca-certificates/* "$dir/usr/local/share/ca-certificates/"
        cmd_run "$dir" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in $dir"
    fi
    echo "root.sh: new $suite root in $dir" >&2
}

# The part that runs in the private mount and pid namespaces.
inside() {
    local dir=$1 status=0 left
    shift
    mount --bind "$dir" "$dir"
    mount -t proc proc "$dir/proc"
    mount --rbind /sys "$dir/sys"
    mount --rbind /dev "$dir/dev"
    mount -t tmpfs -o mode=1777,nosuid,nodev shm "$dir/dev/shm"
    mount -t tmpfs -o mode=0755,nosuid,nodev run "$dir/run"
    mkdir -p "$dir/run/lock"
    chroot "$dir" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        ${FRESH_ENV:-} "$@" || status=$?
    # This shell is pid 1 of the namespace: whatever else is still running
    # was left by the command. Name it and end it by pid.
    # ps writes to a file: a command substitution would list its own subshell.
    ps -eo pid=,args= >"$dir/run/.ps" || true
    left=$(awk '$1 != 1 && $2 != "ps" { print substr($0, 1, 160) }' "$dir/run/.ps")
    if [ -n "$left" ]; then
        echo "root.sh: left running in $dir (ended by pid):" >&2
        echo "$left" | sed 's/^/    /' >&2
        echo "$left" | awk '{print $1}' | xargs -r kill -TERM 2>/dev/null || true
        sleep 2
        echo "$left" | awk '{print $1}' | xargs -r kill -KILL 2>/dev/null || true
    fi
    return "$status"
}

cmd_run() {
    local dir=$1
    shift
    [ -x "$dir/usr/bin/env" ] || die "$dir is not a root made by root.sh new"
    dir=$(cd "$dir" && pwd -P)
    # Downloaded packages are kept per release between runs (never the root
    # itself): copied into the root's own apt cache before the command and
    # the new ones back after it. Not a shared mount: apt locks its cache
    # directory, and roots of one release run side by side.
    debs=$CACHE/debs-$(. "$dir/etc/os-release" && echo "$VERSION_CODENAME")
    mkdir -p "$debs"
    copy_debs "$debs" "$dir/var/cache/apt/archives"
    # The namespace's own /proc comes from the mount inside; ps below reads it.
    local status=0
    unshare --mount --pid --fork --propagation private --mount-proc \
        bash -c "$(declare -f inside); inside \"\$@\"" inside "$dir" "$@" || status=$?
    copy_debs "$dir/var/cache/apt/archives" "$debs"
    return "$status"
}

# copy_debs FROM TO: the complete .deb files of FROM that TO lacks, as hard
# links where both are on one file system. Two runs may add the same file
# at once: the one that loses finds it there, which is what it wanted.
copy_debs() {
    local deb
    for deb in "$1"/*.deb; do
        [ -f "$deb" ] && [ ! -e "$2/${deb##*/}" ] || continue
        ln "$deb" "$2/" 2>/dev/null || cp -p "$deb" "$2/" 2>/dev/null || true
    done
}

cmd_rm() {
    local dir=$1
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd -P)
    if awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        die "something is still mounted below $dir: not removing it"
    fi
    rm -rf --one-file-system "$dir"
}

case "${1:-}" in
base) [ $# = 2 ] || die "usage: root.sh base SUITE"; cmd_base "$2" ;;
new) [ $# = 3 ] || die "usage: root.sh new SUITE DIR"; cmd_new "$2" "$3" ;;
run) [ $# -ge 3 ] || die "usage: root.sh run DIR CMD..."; shift; cmd_run "$@" ;;
rm) [ $# = 2 ] || die "usage: root.sh rm DIR"; cmd_rm "$2" ;;
*) die "usage: root.sh base|new|run|rm ..." ;;
esac
