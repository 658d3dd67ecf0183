#!/bin/bash
# make check-guides, inside one pristine root (tests/guides/check.sh makes it
# and runs this as root there): a machine as a reader of the guides has it,
# then the guides of one kind of root followed as written (tests/guides/run.sh).
#   inside.sh build|ejabberd|prosody|cluster
# The clone of this repository is /root/pam_xtoken; in the server roots its
# build/deb/ holds the packages the build root made (the README's build).
#
# What a chroot needs, and nothing else:
#   - a /dev of its own with the root's systemd-journald on /dev/log (the
#     journal the guides read with journalctl), since the host's /dev is
#     shared and has no syslog;
#   - systemctl (tests/guides/systemctl in /usr/local/sbin): no systemd runs
#     in a root, so units are started from their unit files as systemd would;
#   - apt-get answers yes itself (APT::Get::Assume-Yes) and debconf asks
#     nothing (DEBIAN_FRONTEND=noninteractive): a reader types "y" and takes
#     the defaults;
#   - servers: the server roots run the guides in a network namespace of
#     their own with only the loopback interface, so the stock services
#     (ejabberd on every address, epmd, Prosody) and the guides' fixed ports
#     (5222, 4369, ...) reach nothing outside and collide with nothing.
#     apt-get install cannot download there: the packages the guides' own
#     apt-get install lines need are downloaded first (--download-only).
set -euo pipefail
kind=${1:?usage: inside.sh build|ejabberd|prosody|cluster}
src=/root/pam_xtoken
here=$src/tests/guides
out=/root/guides-out

# The documents (and sections) each kind of root follows, in order, and the
# tags that select the blocks meant for it.
case $kind in
build) docs=("README.md#install"); tags=build ;;
ejabberd) docs=(doc/ejabberd.md "README.md#uninstall"); tags=ejabberd ;;
prosody) docs=(doc/prosody.md "README.md#uninstall"); tags=prosody ;;
cluster) docs=("README.md#install"); tags=cluster ;;
*) echo "inside.sh: unknown kind $kind" >&2; exit 2 ;;
esac

export DEBIAN_FRONTEND=noninteractive
echo 'APT::Get::Assume-Yes "true";' >/etc/apt/apt.conf.d/90guides-assume-yes

# A /dev of this root's own (the mount namespace is private: root.sh).
private_dev() {
    local d=/run/guides-dev n
    mkdir -p "$d"
    mount -t tmpfs -o mode=755,nosuid dev "$d"
    for n in null zero full random urandom tty; do
        touch "$d/$n"
        mount --bind "/dev/$n" "$d/$n"
    done
    mkdir "$d/pts" "$d/shm"
    mount --bind /dev/pts "$d/pts"
    mount -t tmpfs -o mode=1777,nosuid,nodev shm "$d/shm"
    ln -s pts/ptmx "$d/ptmx"
    ln -s /proc/self/fd "$d/fd"
    for n in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${n%%:*}" "$d/${n#*:}"; done
    mount --move "$d" /dev
}

# systemd-journald, as systemd-journald.socket and -dev-log.socket give it.
journald=
start_journald() {
    local i
    mkdir -p /run/systemd/journal
    setsid /usr/lib/systemd/systemd-journald </dev/null >/dev/null 2>&1 &
    journald=$!
    for ((i = 0; i < 50; i++)); do
        [ -S /run/systemd/journal/dev-log ] && break
        sleep 0.1
    done
    [ -S /run/systemd/journal/dev-log ] || { echo "inside.sh: journald did not start" >&2; exit 1; }
    ln -sf /run/systemd/journal/dev-log /dev/log
}

# Download what the guides' apt-get install lines will install.
prefetch() {
    local spec doc section d line
    apt-get update -qq
    d=$(mktemp -d)
    for spec in "${docs[@]}"; do
        doc=${spec%%#*}
        section=
        [ "$doc" = "$spec" ] || section=${spec#*#}
        rm -rf "${d:?}"/*
        awk -v out="$d" -v section="$section" -f "$here/blocks.awk" "$src/$doc"
        while IFS='|' read -r id _ k _ tag; do
            [ "$k" = run ] || continue
            [ -z "$tag" ] || [[ ",$tag," == *",$tags,"* ]] || continue
            grep -o 'apt-get install [^#;&|]*' "$d/$id.body" || true
        done <"$d/index"
    done | while IFS= read -r line; do
        echo "prefetch: ${line/apt-get install/apt-get install --download-only}"
        (cd "$src" && eval "${line/apt-get install/apt-get install -qq --download-only}") >/dev/null
    done
    rm -rf "$d"
}

# At the end, as a shutdown would: the units the guides left running, then
# the journal, each by its pid.
shutdown() {
    local f
    for f in /run/guides-systemctl/*.pid; do
        [ -f "$f" ] || continue
        f=${f##*/}
        systemctl stop "${f%.pid}" || true
    done
    # for a post-mortem (check.sh copies $out out of the root)
    cp /run/guides-systemctl/log "$out/systemctl.log" 2>/dev/null || true
    journalctl --no-pager >"$out/journal.txt" 2>/dev/null || true
    if [ -n "$journald" ]; then
        kill -TERM "$journald" 2>/dev/null || true
        # gone before root.sh looks for what was left running
        for ((f = 0; f < 50; f++)); do
            kill -0 "$journald" 2>/dev/null || break
            sleep 0.1
        done
    fi
    mkdir -p "$out/log"
    cp -a /var/log/ejabberd /var/log/prosody "$out/log/" 2>/dev/null || true
}

setup() {
    trap shutdown EXIT
    private_dev
    start_journald
    install -m 755 "$here/systemctl" /usr/local/sbin/systemctl
    # What a boot does: the tmpfiles.d directories in the new /run.
    systemd-tmpfiles --create >/dev/null 2>&1 || true
}

guides() {
    "$here/run.sh" -t "$tags" -H "$here/hooks.sh" -o "$out" "$src" "${docs[@]}" </dev/null
}

case ${2:-} in
--offline)
    # In the root's own network namespace: loopback only, a host name.
    ip link set lo up
    hostname xmpp
    setup
    guides
    exit
    ;;
esac

case $kind in
build)
    # The build needs the network (the build tools).
    setup
    guides
    ;;
cluster)
    # README, Install (the packages, networked), then doc/clusters.md as its
    # own runner follows it: Redis from its init script on 127.0.0.1 and a
    # free port (it picks one with /usr/bin/python3).
    setup
    # The README's setup line (apt-get update && ...) ran before the clone.
    apt-get update -qq
    docs=("README.md#install")
    guides
    runner=$src/tests/cluster/guide.sh
    [ -x "$runner" ] || { echo "inside.sh: $runner is missing: doc/clusters.md has no runner" >&2; exit 1; }
    apt-get install -qq python3 >/dev/null
    "$runner" /usr/bin/xtoken </dev/null
    # The guide leaves the config on Redis and Redis stopped: the doctor
    # must say what check-config says, a FAIL naming Redis, and exit 1.
    status=0
    xtoken doctor >"$out/doctor-redis-down" 2>&1 || status=$?
    sed 's/^/  | /' "$out/doctor-redis-down"
    if [ "$status" != 1 ] ||
        ! grep -q '^FAIL config /etc/security/pam_xtoken.conf: check-config fails: replay store: redis ' "$out/doctor-redis-down"; then
        echo "FAIL xtoken doctor with Redis stopped exited $status without a FAIL naming Redis"
        exit 1
    fi
    echo "xtoken doctor with Redis stopped: exit 1, FAIL naming Redis"
    ;;
*)
    prefetch
    exec unshare --net --uts "$0" "$kind" --offline
    ;;
esac
