# shellcheck shell=bash
# Hooks of make check-guides (sourced by the script tests/guides/run.sh
# makes; see there). What a guide's own blocks do not do:
#   sample_NAME   prints what a guide shows for a mistake (a missing line,
#                 package or group, a tampered token), by making the mistake
#                 and undoing it; the guide's block <!-- guide: lines NAME -->
#                 is compared with it
#   before_NAME, after_NAME   around the block NAME: checks of what a step
#                 must have left, and what it must not have (the README's
#                 promises about the build and the uninstall)
#   on_fail       what the machine says when a step fails
# Every login here is a real one: sendxmpp to the server on 127.0.0.1:5222.

JID=alice@example.org

login() {
    echo hi | sendxmpp -t -n -j 127.0.0.1:5222 -o example.org -u alice -p "$1" "$JID" >/dev/null 2>&1
}

# A login that must be refused (the guide's samples are what it logs).
refused() {
    if login "$1"; then
        echo "hooks: a login with $2 was accepted" >&2
        return 1
    fi
}

# A token with its signature changed, a token minted 150 s ago, no token.
bad_logins() {
    local t
    t=$(xtoken issue "$JID") || return 1
    # the first character of the signature, swapped for another
    case ${t#* } in
    A*) t="${t%% *} B${t#* ?}" ;;
    *) t="${t%% *} A${t#* ?}" ;;
    esac
    refused "$t" "a tampered token" || return 1
    sleep 1
    refused "$(xtoken issue --at $(($(date +%s) - 150)) "$JID")" "a token minted 150 s ago" || return 1
    sleep 1
    refused "not-a-token" "garbage"
}

# Run a command, print its output, and never fail on its exit status (a
# doctor with a FAIL exits 1: that is the sample).
show() { "$@" 2>&1 || true; }

on_fail() {
    local f
    for f in /var/log/ejabberd/ejabberd.log /var/log/prosody/prosody.log /var/log/prosody/prosody.err; do
        [ -s "$f" ] || continue
        echo "--- tail of $f"
        tail -n 20 "$f"
    done
    echo "--- tail of the journal"
    journalctl --no-pager 2>/dev/null | tail -n 20
}

# --- the build (README, Install) ---------------------------------------

# What is enabled at boot (services and sockets), one unit a line.
enabled_units() {
    find /etc/systemd/system -path '*.wants/*' -name '*.service' -o -path '*.wants/*' -name '*.socket' |
        sed 's|.*/||' | sort -u
    ls /etc/rc2.d 2>/dev/null | sed -n 's/^S[0-9]*//p' | sort -u
}

before_build() {
    enabled_units >/root/enabled.before
}

# "the build tools; no XMPP server, nothing started" (README, Install).
after_build() {
    local p new
    for p in ejabberd prosody sasl2-bin redis-server epmd erlang-base; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            echo "hooks: the build installed $p" >&2
            return 1
        fi
    done
    new=$(enabled_units | comm -13 /root/enabled.before -)
    if [ -n "$new" ]; then
        echo "hooks: the build enabled at boot: $new" >&2
        return 1
    fi
    guide_note "the build installed no XMPP server, saslauthd or Redis and enabled no service or socket"
}

# --- ejabberd --------------------------------------------------------------

# Step 4: epmd and the distribution port on loopback only.
after_listening() {
    local bad
    bad=$(ss -ltnpH | grep -E '"(epmd|beam\.smp)"' |
        awk '{ print $4 }' | grep -vE '^(127\.0\.0\.1|\[::1\]):' |
        grep -vE ':(5222|5223|5269|5280|5443|1883)$' || true)
    if [ -n "$bad" ]; then
        echo "hooks: epmd or the Erlang distribution listen on: $bad" >&2
        return 1
    fi
    ss -ltnpH | grep -q '127.0.0.1:4369 .*"epmd"' || { echo "hooks: epmd is not on 127.0.0.1:4369" >&2; return 1; }
    guide_note "epmd and the distribution port listen on 127.0.0.1 and [::1] only"
}

sample_doctor_without_cache_line() {
    cp -p /etc/ejabberd/ejabberd.yml /root/ejabberd.yml.keep
    sed -i '/^auth_use_cache:/d' /etc/ejabberd/ejabberd.yml
    show xtoken doctor
    cp -p /root/ejabberd.yml.keep /etc/ejabberd/ejabberd.yml
}

sample_journal_other_reasons() {
    bad_logins || return 1
    journalctl -t xtoken --no-pager
}

# --- Prosody ---------------------------------------------------------------

BINDING=/usr/lib/x86_64-linux-gnu/lua/5.4/xtoken.so

sample_doctor_without_binding() {
    mv "$BINDING" /root/xtoken.so.away
    show xtoken doctor
    mv /root/xtoken.so.away "$BINDING"
}

sample_doctor_without_group() {
    gpasswd -d prosody xtoken >/dev/null
    show xtoken doctor
    adduser --quiet prosody xtoken
}

sample_prosody_other_reasons() {
    bad_logins || return 1
    cat /var/log/prosody/prosody.log
}

sample_prosody_config_unusable() {
    local conf=/etc/security/pam_xtoken.conf t
    t=$(xtoken issue "$JID") # before: xtoken refuses an unsafe config too
    chmod 660 "$conf"
    sleep 1.1 # the binding looks at the file at most once a second
    refused "$t" "the config mode 0660" || { chmod 640 "$conf"; return 1; }
    chmod 640 "$conf"
    sleep 1.1
    login "$(xtoken issue "$JID")" || { echo "hooks: no login after the mode was set back" >&2; return 1; }
    cat /var/log/prosody/prosody.log
}

sample_prosody_without_binding() {
    mv "$BINDING" /root/xtoken.so.away
    systemctl restart prosody
    refused "$(xtoken issue "$JID")" "no binding" || { mv /root/xtoken.so.away "$BINDING"; return 1; }
    mv /root/xtoken.so.away "$BINDING"
    systemctl restart prosody
    login "$(xtoken issue "$JID")" || { echo "hooks: no login with the binding back" >&2; return 1; }
    cat /var/log/prosody/prosody.log
}

sample_doctor_saslauthd_cache() {
    cp -p /etc/default/saslauthd /root/saslauthd.keep
    sed -i 's/^OPTIONS="-m/OPTIONS="-c -m/' /etc/default/saslauthd
    show xtoken doctor
    cp -p /root/saslauthd.keep /etc/default/saslauthd
}

# --- the uninstall (README, Uninstall) -------------------------------------

installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }

before_uninstall_remove() {
    dpkg-query -L libpam-xtoken lua-xtoken 2>/dev/null | sort -u >/root/xtoken-files
    # The servers were pointed back at their own authentication: nothing
    # in /etc names the module or the tool any more.
    local left
    left=$(grep -rlE 'pam_xtoken\.so|xtoken extauth|"xtoken"|"cyrus"' /etc/pam.d /etc/ejabberd /etc/prosody 2>/dev/null || true)
    if [ -n "$left" ]; then
        echo "hooks: after step 1 of the uninstall these still use tokens: $left" >&2
        return 1
    fi
}

# "keeps /etc/security/pam_xtoken.conf and the group xtoken"
after_uninstall_remove() {
    local p
    for p in libpam-xtoken lua-xtoken; do
        ! installed "$p" || { echo "hooks: $p is still installed" >&2; return 1; }
    done
    [ -f /etc/security/pam_xtoken.conf ] || { echo "hooks: remove deleted the config" >&2; return 1; }
    getent group xtoken >/dev/null || { echo "hooks: remove deleted the group xtoken" >&2; return 1; }
    [ ! -e /usr/bin/xtoken ] || { echo "hooks: /usr/bin/xtoken is left" >&2; return 1; }
    guide_note "removed: the packages' files are gone, the config and the group are kept"
}

# "also deletes them and /run/pam_xtoken"; nothing else of the packages left.
after_uninstall_purge() {
    local f left=
    [ ! -e /etc/security/pam_xtoken.conf ] || { echo "hooks: purge left the config" >&2; return 1; }
    [ ! -e /run/pam_xtoken ] || { echo "hooks: purge left /run/pam_xtoken" >&2; return 1; }
    ! getent group xtoken >/dev/null || { echo "hooks: purge left the group xtoken" >&2; return 1; }
    if dpkg -l 'libpam-xtoken' 'lua-xtoken' 2>/dev/null | grep -q '^[a-z][a-z] '; then
        echo "hooks: dpkg still knows: $(dpkg -l libpam-xtoken lua-xtoken | grep '^[a-z][a-z] ')" >&2
        return 1
    fi
    while IFS= read -r f; do
        [ -e "$f" ] && [ ! -d "$f" ] && left="$left $f"
    done </root/xtoken-files
    [ -z "$left" ] || { echo "hooks: purge left:$left" >&2; return 1; }
    guide_note "purged: no file, config, group or replay directory of the packages is left"
}
