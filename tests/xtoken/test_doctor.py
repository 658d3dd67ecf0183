#!/usr/bin/python3
"""xtoken doctor on fake roots (--root DIR): one directory tree per case with
the files a Debian machine has (ejabberd.yml, prosody.cfg.lua + conf.d,
/etc/default/saslauthd, /etc/pam.d, passwd/group, the config, the replay
directory, module files). Each finding is asserted as the exact line the
administrator reads, and the exit status (0 no FAIL, 1 any FAIL, 2 usage).
Needs root: the fake config must be root:xtoken like the package's."""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from xtlib import ROOT, XTOKEN

SEED = "K5UOYGC3OJ2WG4LX"
SECRET = "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
CONF = "/etc/security/pam_xtoken.conf"
YML = "/etc/ejabberd/ejabberd.yml"
# Where xtoken looks for the module: Linux-PAM's directory from pkg-config
# (/lib/... on Debian 12, /usr/lib/... after the /usr merge of Debian 13).
MODULE = subprocess.run(["pkg-config", "--variable=libdir", "pam"], check=True,
                        capture_output=True, text=True).stdout.strip() + "/security/pam_xtoken.so"
XTOKEN_GID = 2100
EJABBERD_UID, PROSODY_UID = 2001, 2002
WHY_CACHE = ("ejabberd keeps the last password that worked for up to an hour and answers from it"
             " without asking xtoken: a used or expired token logs in again, a fresh one is"
             " refused")
EXTAUTH_YML = """hosts:
  - localhost
auth_method: [external]
extauth_program: "/usr/bin/xtoken extauth"
"""
PAMD_JID = "auth     required  pam_xtoken.so\naccount  required  pam_xtoken.so\n"


def pamd(domain):
    """An /etc/pam.d file: auth and account through pam_xtoken.so with domain=."""
    return ("auth required pam_xtoken.so domain=%s\naccount required pam_xtoken.so domain=%s\n"
            % (domain, domain))
LINE_GONE = ("xtoken extauth --protocol line is removed: a password with a newline made it"
             " answer twice, so a wrong password could log in as the next user asked about"
             " (doc/security.md); xtoken refuses the option (usage error, exit 2) and every"
             " login fails; fix: ")


class FakeRoot:
    """A directory laid out like / of a Debian machine with the package."""

    def __init__(self, base, xtoken_members=("ejabberd", "prosody")):
        self.root = base
        self.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                   "ejabberd:x:%d:%d::/var/lib/ejabberd:/bin/sh\n"
                   "prosody:x:%d:%d::/var/lib/prosody:/bin/false\n"
                   % (EJABBERD_UID, EJABBERD_UID, PROSODY_UID, PROSODY_UID))
        self.set_groups(xtoken_members)
        self.write(CONF, "otp_seed = %s\ntoken_secret = %s\n" % (SEED, SECRET), 0o640,
                   gid=XTOKEN_GID)
        self.mkdir("/run/pam_xtoken", 0o755)
        self.mkdir("/run/pam_xtoken/ejabberd", 0o700, EJABBERD_UID)
        self.mkdir("/run/pam_xtoken/prosody", 0o700, PROSODY_UID)
        self.write(MODULE, "\x7fELF fake module")
        self.write("/usr/bin/xtoken", "#!/bin/sh\n", 0o755)
        self.write("/usr/lib/erlang/p1_pam/bin/epam", "#!/bin/sh\n", 0o755)
        self.write("/run/systemd/timesync/synchronized", "")
        self.mkdir("/etc/pam.d", 0o755)

    def set_groups(self, xtoken_members=("ejabberd", "prosody"), sasl_members=("prosody",)):
        self.write("/etc/group", "root:x:0:\nejabberd:x:%d:\nprosody:x:%d:\nsasl:x:45:%s\n"
                   "xtoken:x:%d:%s\n" % (EJABBERD_UID, PROSODY_UID, ",".join(sasl_members),
                                         XTOKEN_GID, ",".join(xtoken_members)))

    def path(self, p):
        return self.root + p

    def mkdir(self, p, mode=0o755, uid=0):
        os.makedirs(self.path(p), exist_ok=True)
        os.chown(self.path(p), uid, uid)
        os.chmod(self.path(p), mode)

    def write(self, p, text, mode=0o644, uid=0, gid=0):
        full = self.path(p)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        for d in self.parents(p):
            os.chmod(self.path(d), 0o755)
        with open(full, "w") as f:
            f.write(text)
        os.chown(full, uid, gid)
        os.chmod(full, mode)

    @staticmethod
    def parents(p):
        parts = p.strip("/").split("/")[:-1]
        return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]

    def remove(self, p):
        os.remove(self.path(p))


def doctor(root, *args):
    p = subprocess.run([XTOKEN, "doctor", "--root", root.root] + list(args),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout.splitlines(), p.stderr


class DoctorCase(unittest.TestCase):

    def setUp(self):
        self.assertEqual(os.geteuid(), 0, "tests/xtoken/test_doctor.py needs root "
                         "(fake roots with root:xtoken files); CI runs as root")
        self.base = tempfile.mkdtemp(prefix="xtoken-doctor-")
        os.chmod(self.base, 0o755)
        self.fs = FakeRoot(self.base)

    def tearDown(self):
        shutil.rmtree(self.base, ignore_errors=True)

    def run_doctor(self, *args):
        rc, lines, err = doctor(self.fs, *args)
        self.assertEqual(err, "", "doctor wrote to stderr")
        self.assertRegex(lines[-1], r"^doctor: \d+ ok, \d+ warn, \d+ FAIL$")
        self.lines = lines
        return rc, lines

    def assertLine(self, line):
        self.assertIn(line, self.lines, "\n" + "\n".join(self.lines))

    def assertNoFail(self):
        fails = [l for l in self.lines if l.startswith("FAIL")]
        self.assertEqual(fails, [], "\n".join(self.lines))


class Ejabberd(DoctorCase):

    def ok_lines(self, host="localhost"):
        self.assertLine("ok   ejabberd host %s: auth_method external, extauth_program runs"
                        " /usr/bin/xtoken extauth (config %s)" % (host, CONF))
        self.assertLine("ok   ejabberd host %s (extauth): user ejabberd can read %s"
                        " (root:xtoken 0640)" % (host, CONF))

    def test_extauth_cache_off_everything_ok(self):
        self.fs.write(YML, EXTAUTH_YML + "auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.ok_lines()
        self.assertLine("ok   ejabberd host localhost: auth cache off (top level)")
        self.assertLine("ok   config %s: passes check-config (keys for any domain)" % CONF)
        self.assertLine("ok   replay (%s): /run/pam_xtoken (root:root 0755): each service user"
                        " keeps its own store, in a directory no one else can write" % CONF)
        self.assertLine("ok   clock: systemd-timesyncd says synchronised"
                        " (/run/systemd/timesync/synchronized)")
        self.assertNoFail()
        self.assertEqual(rc, 0)

    def test_no_auth_use_cache_fails_with_the_line_to_add(self):
        self.fs.write(YML, EXTAUTH_YML)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost: auth_use_cache is not set, so the auth cache"
                        " is on: %s; fix: add the line 'auth_use_cache: false' at the top level"
                        " of %s, then restart ejabberd" % (WHY_CACHE, YML))
        self.ok_lines()
        self.assertEqual(rc, 1)

    def test_cache_true_at_top_level(self):
        self.fs.write(YML, EXTAUTH_YML + "auth_use_cache: true\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost: auth_use_cache is true: %s; fix:"
                        " 'auth_use_cache: false' at the top level of %s, then restart ejabberd"
                        % (WHY_CACHE, YML))
        self.assertEqual(rc, 1)

    def test_cache_false_only_in_another_hosts_host_config(self):
        self.fs.write(YML, EXTAUTH_YML.replace("  - localhost\n", "  - localhost\n  - other.example\n")
                      + "host_config:\n  other.example:\n    auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost: auth_use_cache is not set, so the auth cache"
                        " is on: %s; fix: add the line 'auth_use_cache: false' at the top level"
                        " of %s, then restart ejabberd" % (WHY_CACHE, YML))
        self.assertLine("ok   ejabberd host other.example: auth cache off (host_config)")
        self.assertEqual(rc, 1)

    def test_cache_on_in_this_hosts_host_config_overrides_false_at_top(self):
        self.fs.write(YML, EXTAUTH_YML + "auth_use_cache: false\nhost_config:\n  localhost:\n"
                      "    auth_use_cache: true\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost: auth_use_cache is true in its host_config:"
                        " %s; fix: 'auth_use_cache: false' in host_config for this host of %s,"
                        " then restart ejabberd" % (WHY_CACHE, YML))
        self.assertEqual(rc, 1)

    def test_use_cache_false_turns_the_auth_cache_off_too(self):
        # ejabberd: auth_use_cache defaults to use_cache
        self.fs.write(YML, EXTAUTH_YML + "use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("ok   ejabberd host localhost: auth cache off (top level)")
        self.assertEqual(rc, 0)

    def test_macros_and_anchors_resolve_like_ejabberd(self):
        self.fs.write(YML, "define_macro:\n  'XT': \"/usr/bin/xtoken extauth\"\n"
                      "hosts: [localhost]\nauth_method: &m [external]\n"
                      "extauth_program: 'XT'\nauth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.ok_lines()
        self.assertEqual(rc, 0)

    def test_extauth_options_no_replay_and_line_protocol_fail(self):
        self.fs.write(YML, EXTAUTH_YML.replace("extauth\"", "extauth --no-replay\"")
                      + "auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost: xtoken extauth --no-replay: a used token logs"
                        " in again as long as it is fresh; fix: remove --no-replay from"
                        " extauth_program")
        self.assertEqual(rc, 1)
        self.fs.write(YML, EXTAUTH_YML.replace("extauth\"", "extauth --protocol=line\"")
                      + "auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost: " + LINE_GONE + "extauth_program:"
                        " \"/usr/bin/xtoken extauth\" (ejabberd's own framing, the default)")
        self.assertEqual(rc, 1)
        self.fs.write(YML, EXTAUTH_YML.replace("extauth\"", "extauth --protocol ejabberd\"")
                      + "auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.ok_lines()
        self.assertEqual(rc, 0)

    def test_extauth_program_missing_binary(self):
        self.fs.remove("/usr/bin/xtoken")
        self.fs.write(YML, EXTAUTH_YML + "auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost: extauth_program /usr/bin/xtoken is not an"
                        " executable absolute path: ejabberd cannot start it and refuses every"
                        " login; fix: extauth_program: \"/usr/bin/xtoken extauth\"")
        self.assertEqual(rc, 1)

    def test_extauth_names_its_own_config(self):
        other = "/etc/xmpp/tokens.conf"
        self.fs.write(other, "[localhost]\notp_seed = %s\ntoken_secret = %s\n" % (SEED, SECRET),
                      0o600)
        self.fs.write(YML, EXTAUTH_YML.replace("extauth\"", "extauth --config %s\"" % other)
                      + "auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("ok   config %s: passes check-config (keys for localhost)" % other)
        self.assertLine("FAIL ejabberd host localhost (extauth): user ejabberd cannot read %s"
                        " (%s is root:root 0600): every login is refused (config unusable); fix:"
                        " chgrp xtoken %s; chmod 0640 %s; then restart the service that runs as"
                        " ejabberd" % (other, other, other, other))
        self.assertEqual(rc, 1)

    def test_no_keys_for_the_host(self):
        self.fs.write(CONF, "[example.org]\notp_seed = %s\ntoken_secret = %s\n" % (SEED, SECRET),
                      0o640, gid=XTOKEN_GID)
        self.fs.write(YML, EXTAUTH_YML + "auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost (extauth): %s has no keys for domain"
                        " localhost: every login there is refused (unknown domain); fix: xtoken"
                        " keygen --domain localhost >> %s (and give the web application the same"
                        " keys)" % (CONF, CONF))
        self.assertEqual(rc, 1)

    def test_pam_jid_ok(self):
        self.fs.write("/etc/pam.d/ejabberd", PAMD_JID)
        self.fs.write(YML, "hosts: [localhost]\nauth_method: [pam]\npam_service: ejabberd\n"
                      "pam_userinfotype: jid\nauth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("ok   ejabberd host localhost: auth_method pam, pam_service ejabberd names"
                        " pam_xtoken.so")
        self.assertLine("ok   /etc/pam.d/ejabberd: names pam_xtoken.so, module"
                        " %s found" % MODULE)
        self.assertLine("ok   ejabberd host localhost (pam service ejabberd): user ejabberd can"
                        " read %s (root:xtoken 0640)" % CONF)
        self.assertNoFail()
        self.assertEqual(rc, 0)

    def test_pam_username_needs_domain(self):
        self.fs.write("/etc/pam.d/ejabberd", PAMD_JID)
        self.fs.write(YML, "hosts: [localhost]\nauth_method: pam\nauth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost: pam_userinfotype username (the default) hands"
                        " PAM \"alice\" without a domain and /etc/pam.d/ejabberd has no domain=:"
                        " every login is refused (unknown domain); fix: add domain=localhost to"
                        " its pam_xtoken.so lines, or set pam_userinfotype: jid")
        self.assertEqual(rc, 1)

    def test_pam_service_missing_and_cache_on(self):
        self.fs.write(YML, "hosts: [localhost]\nauth_method: [pam]\npam_service: xmpp-tokens\n"
                      "pam_userinfotype: jid\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost: pam_service xmpp-tokens: /etc/pam.d/xmpp-tokens"
                        " is missing: tokens are not checked by pam_xtoken; fix:"
                        " /etc/pam.d/xmpp-tokens with the lines 'auth required pam_xtoken.so' and"
                        " 'account required pam_xtoken.so'")
        self.assertLine("FAIL ejabberd host localhost: auth_use_cache is not set, so the auth cache"
                        " is on: %s; fix: add the line 'auth_use_cache: false' at the top level"
                        " of %s, then restart ejabberd" % (WHY_CACHE, YML))
        self.assertEqual(rc, 1)

    def test_yml_unreadable_by_ejabberd(self):
        self.fs.write(YML, EXTAUTH_YML, 0o600)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd: cannot read %s as the ejabberd user (Permission denied):"
                        " ejabberd cannot either; fix: chgrp ejabberd %s; chmod 0640 %s"
                        % (YML, YML, YML))
        self.assertEqual(rc, 1)

    def test_yaml_error_names_the_line(self):
        self.fs.write(YML, "hosts: [localhost\nauth_method: external\n")
        rc, _ = self.run_doctor()
        self.assertTrue([l for l in self.lines if l.startswith("FAIL ejabberd: " + YML + " line ")],
                        self.lines)
        self.assertEqual(rc, 1)

    def test_no_token_host_warns(self):
        self.fs.write(YML, "hosts: [localhost]\nauth_method: [mnesia]\n")
        rc, _ = self.run_doctor()
        self.assertLine("ok   ejabberd host localhost: auth_method is neither external nor pam: no"
                        " token logins")
        self.assertLine("warn ejabberd: no host logs in with tokens; fix (for tokens): auth_method:"
                        " [external] and extauth_program: \"/usr/bin/xtoken extauth\" and"
                        " auth_use_cache: false in %s" % YML)


class ConfigAccess(DoctorCase):

    def setUp(self):
        super().setUp()
        self.fs.write(YML, EXTAUTH_YML + "auth_use_cache: false\n")

    def test_service_user_not_in_group_xtoken(self):
        self.fs.set_groups(xtoken_members=("prosody",))
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost (extauth): user ejabberd cannot read %s (%s"
                        " is root:xtoken 0640): every login is refused (config unusable); fix:"
                        " adduser ejabberd xtoken; then restart the service that runs as ejabberd"
                        % (CONF, CONF))
        self.assertEqual(rc, 1)

    def test_config_root_root_0600_and_no_group(self):
        self.fs.write("/etc/group", "root:x:0:\nejabberd:x:%d:\n" % EJABBERD_UID)
        self.fs.write(CONF, "otp_seed = %s\ntoken_secret = %s\n" % (SEED, SECRET), 0o600)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost (extauth): user ejabberd cannot read %s (%s"
                        " is root:root 0600): every login is refused (config unusable); fix:"
                        " addgroup --system xtoken; chgrp xtoken %s; chmod 0640 %s; adduser"
                        " ejabberd xtoken; then restart the service that runs as ejabberd"
                        % (CONF, CONF, CONF, CONF))
        self.assertEqual(rc, 1)

    def test_directory_blocks_the_way(self):
        os.chmod(self.fs.path("/etc/security"), 0o750)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host localhost (extauth): user ejabberd cannot read %s"
                        " (cannot enter /etc/security (root:root 0750)): every login is refused"
                        " (config unusable); fix: chmod o+x /etc/security; then restart the service"
                        " that runs as ejabberd" % CONF)

    def test_config_missing(self):
        self.fs.remove(CONF)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL config %s: missing: no token can be checked; fix: (umask 027; xtoken"
                        " keygen > %s); chgrp xtoken %s" % (CONF, CONF, CONF))
        self.assertEqual(rc, 1)

    def test_config_fails_check_config(self):
        self.fs.write(CONF, "otp_seed = %s\nwindow = 99\n" % SEED, 0o640, gid=XTOKEN_GID)
        rc, _ = self.run_doctor()
        fail = [l for l in self.lines if l.startswith("FAIL config %s: check-config fails: " % CONF)]
        self.assertEqual(len(fail), 1, self.lines)
        self.assertIn("pam_xtoken.conf:2: ", fail[0])
        self.assertTrue(fail[0].endswith("every login is refused; fix: correct the file as the"
                                         " reason says (pam_xtoken.conf(5)), then xtoken"
                                         " check-config --config %s" % CONF), fail[0])
        self.assertEqual(rc, 1)

    def test_config_world_readable_refused_like_check_config(self):
        self.fs.write(CONF, "otp_seed = %s\ntoken_secret = %s\n" % (SEED, SECRET), 0o644)
        rc, _ = self.run_doctor()
        self.assertTrue([l for l in self.lines if l.startswith("FAIL config %s: check-config"
                         " fails: " % CONF) and "readable by others (mode 0644)" in l], self.lines)

    def test_replay_off(self):
        self.fs.write(CONF, "replay = off\notp_seed = %s\ntoken_secret = %s\n" % (SEED, SECRET),
                      0o640, gid=XTOKEN_GID)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): replay = off: a used token logs in again as long as it"
                        " is fresh; fix: remove the line 'replay = off' from %s (default"
                        " /run/pam_xtoken)" % (CONF, CONF))
        self.assertEqual(rc, 1)

    def test_replay_dir_missing_or_unsafe(self):
        shutil.rmtree(self.fs.path("/run/pam_xtoken"))
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): /run/pam_xtoken is missing: the first service to log"
                        " someone in creates it for itself and every other service user is"
                        " refused; fix: install -d -m 0755 /run/pam_xtoken, and the line 'd"
                        " /run/pam_xtoken 0755 root root -' in /etc/tmpfiles.d/pam_xtoken.conf so"
                        " it comes back at boot" % CONF)
        self.fs.write("/usr/lib/tmpfiles.d/libpam-xtoken.conf", "d /run/pam_xtoken 0755 root root -\n")
        rc, _ = self.run_doctor()
        self.assertLine("warn replay (%s): /run/pam_xtoken is missing (created at boot from"
                        " /usr/lib/tmpfiles.d/libpam-xtoken.conf); fix: systemd-tmpfiles --create"
                        " /usr/lib/tmpfiles.d/libpam-xtoken.conf" % CONF)
        # 0.2.0's layout, sticky and writable by everyone: refused
        for mode in (0o777, 0o1733):
            self.fs.mkdir("/run/pam_xtoken", mode)
            rc, _ = self.run_doctor()
            self.assertLine("FAIL replay (%s): /run/pam_xtoken (root:root %04o) is writable by"
                            " users other than its owner%s: any local user could take a"
                            " service's store name first or fill the file system, so the store"
                            " refuses it and every login is refused; fix: chmod 0755"
                            " /run/pam_xtoken" % (CONF, mode, " (the sticky bit does not help)"
                                                  if mode & 0o1000 else ""))
            self.assertEqual(rc, 1)
        # missing, with 0.2.0's tmpfiles line that makes it 1733 again at boot
        os.rmdir(self.fs.path("/run/pam_xtoken"))
        self.fs.write("/usr/lib/tmpfiles.d/libpam-xtoken.conf",
                      "d /run/pam_xtoken 1733 root root -\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): /run/pam_xtoken is missing (and"
                        " /usr/lib/tmpfiles.d/libpam-xtoken.conf makes it writable by others): the"
                        " first service to log someone in creates it for itself and every other"
                        " service user is refused; fix: install -d -m 0755 /run/pam_xtoken, and the"
                        " line 'd /run/pam_xtoken 0755 root root -' in"
                        " /etc/tmpfiles.d/pam_xtoken.conf so it comes back at boot" % CONF)
        self.assertEqual(rc, 1)

    def test_replay_dir_missing_in_a_world_writable_parent(self):
        self.fs.write(CONF, "replay = /tmp/xt\notp_seed = %s\ntoken_secret = %s\n" % (SEED, SECRET),
                      0o640, gid=XTOKEN_GID)
        self.fs.mkdir("/tmp", 0o1777)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): /tmp/xt is missing and /tmp (root:root 1777) is writable"
                        " by others: any local user can create /tmp/xt first and make the services'"
                        " logins fail; fix: a replay directory in a directory only root can write"
                        " (replay = DIR in the config), made with install -d -m 0755 DIR" % CONF)
        self.assertEqual(rc, 1)

    def test_replay_user_dir_missing_or_unsafe(self):
        self.fs.write(YML, EXTAUTH_YML + "auth_use_cache: false\n")
        os.rmdir(self.fs.path("/run/pam_xtoken/ejabberd"))
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): ejabberd has no directory /run/pam_xtoken/ejabberd:"
                        " its logins are refused (replay store unusable); fix: install -d -o"
                        " ejabberd -m 0700 /run/pam_xtoken/ejabberd, and the line 'd"
                        " /run/pam_xtoken/ejabberd 0700 ejabberd - -' in"
                        " /etc/tmpfiles.d/pam_xtoken.conf so it comes back at boot" % CONF)
        self.assertEqual(rc, 1)
        self.fs.mkdir("/run/pam_xtoken/ejabberd", 0o1777, EJABBERD_UID)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): ejabberd's directory /run/pam_xtoken/ejabberd"
                        " (ejabberd:ejabberd 1777) is not a directory of its own that no one else"
                        " can write: its logins are refused; fix: rm -r /run/pam_xtoken/ejabberd;"
                        " install -d -o ejabberd -m 0700 /run/pam_xtoken/ejabberd" % CONF)
        self.fs.mkdir("/run/pam_xtoken/ejabberd", 0o700, PROSODY_UID)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): ejabberd's directory /run/pam_xtoken/ejabberd"
                        " (prosody:prosody 0700) is not a directory of its own that no one else"
                        " can write: its logins are refused; fix: rm -r /run/pam_xtoken/ejabberd;"
                        " install -d -o ejabberd -m 0700 /run/pam_xtoken/ejabberd" % CONF)
        self.fs.mkdir("/run/pam_xtoken/ejabberd", 0o700, EJABBERD_UID)
        rc, _ = self.run_doctor()
        self.assertNoFail()

    def test_clock_unconfirmed_warns(self):
        self.fs.remove("/run/systemd/timesync/synchronized")
        rc, _ = self.run_doctor()
        self.assertLine("warn clock: cannot confirm the clock is synchronised below --root (no time"
                        " daemon state found): a verifier off by more than the window refuses"
                        " tokens as expired / not yet valid; fix: apt-get install systemd-timesyncd"
                        " (or chrony), then timedatectl")
        self.assertEqual(rc, 0)


class PamFiles(DoctorCase):
    def test_bad_arguments_each_named(self):
        self.fs.write("/etc/pam.d/xmpp", "# tokens\nauth required pam_xtoken.so domain=a@b frobnicate"
                      " window=99\naccount [success=ok default=bad] pam_xtoken.so noreplay\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL /etc/pam.d/xmpp line 2: malformed argument 'domain=a@b': pam_xtoken"
                        " refuses every login of this service (PAM_SERVICE_ERR); fix: conf= wants an"
                        " absolute path, domain= a domain, users= any, nss or an absolute path,"
                        " window= 0..10 (pam_xtoken(8))")
        self.assertLine("FAIL /etc/pam.d/xmpp line 2: unknown argument 'frobnicate': pam_xtoken"
                        " refuses every login of this service (PAM_SERVICE_ERR); fix: remove it"
                        " (known: conf= domain= users= window= debug noreplay use_first_pass"
                        " try_first_pass)")
        self.assertLine("FAIL /etc/pam.d/xmpp line 2: malformed argument 'window=99': pam_xtoken"
                        " refuses every login of this service (PAM_SERVICE_ERR); fix: conf= wants an"
                        " absolute path, domain= a domain, users= any, nss or an absolute path,"
                        " window= 0..10 (pam_xtoken(8))")
        self.assertLine("FAIL /etc/pam.d/xmpp line 3: noreplay: a used token logs in again as long"
                        " as it is fresh; fix: remove noreplay from this line")
        self.assertEqual(rc, 1)

    def test_good_arguments_and_bracketed_ones(self):
        self.fs.write("/etc/pam.d/xmpp", "auth [success=done default=die] pam_xtoken.so"
                      " [domain=example.org] users=any window=1 debug \\\n  try_first_pass\n")
        rc, _ = self.run_doctor()
        self.assertLine("ok   /etc/pam.d/xmpp: names pam_xtoken.so, module"
                        " %s found" % MODULE)
        self.assertEqual([l for l in self.lines if "/etc/pam.d/xmpp line" in l], [])

    def test_module_not_found(self):
        self.fs.write("/etc/pam.d/xmpp", "auth required /opt/x/pam_xtoken.so\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL /etc/pam.d/xmpp: module /opt/x/pam_xtoken.so not found: PAM fails"
                        " every login of this service; fix: apt-get install libpam-xtoken (or make"
                        " install)")
        self.assertEqual(rc, 1)


PROSODY_CFG = "/etc/prosody/prosody.cfg.lua"
PROVIDER = os.path.join(ROOT, "etc", "prosody", "mod_auth_xtoken.lua")


class Prosody(DoctorCase):

    def prosody(self, main, host_file=None):
        self.fs.write(PROSODY_CFG, main, 0o640, gid=PROSODY_UID)
        if host_file is not None:
            self.fs.write("/etc/prosody/conf.d/example.org.cfg.lua", host_file)

    def provider(self):
        with open(PROVIDER) as f:
            self.fs.write("/usr/lib/prosody/modules/mod_auth_xtoken.lua", f.read())
        self.fs.write("/usr/lib/x86_64-linux-gnu/lua/5.4/xtoken.so", "\x7fELF")

    def test_native_ok_through_conf_d_include(self):
        self.provider()
        self.prosody('admins = { }\nauthentication = "xtoken"\nlocal n = 0\n'
                     'for i = 1, 3 do n = n + i end\nInclude "conf.d/*.cfg.lua"\n',
                     'VirtualHost "Example.org"\n  c2s_require_encryption = true\n')
        rc, _ = self.run_doctor()
        self.assertLine("ok   prosody host example.org: authentication = \"xtoken\", provider"
                        " /usr/lib/prosody/modules/mod_auth_xtoken.lua, Lua binding"
                        " /usr/lib/x86_64-linux-gnu/lua/5.4/xtoken.so found")
        self.assertLine("ok   prosody host example.org (mod_auth_xtoken): user prosody can read %s"
                        " (root:xtoken 0640)" % CONF)
        self.assertNoFail()
        self.assertEqual(rc, 0)

    def test_native_binding_missing(self):
        self.provider()
        self.fs.remove("/usr/lib/x86_64-linux-gnu/lua/5.4/xtoken.so")
        self.prosody('VirtualHost "example.org"\nauthentication = "xtoken"\n')
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody host example.org: authentication = \"xtoken\" needs the Lua"
                        " binding /usr/lib/x86_64-linux-gnu/lua/5.4/xtoken.so, which is missing:"
                        " Prosody refuses every login; fix: apt install lua-xtoken, then systemctl"
                        " restart prosody")
        self.assertEqual(rc, 1)

    def test_native_provider_missing_and_prosody_not_in_group(self):
        self.fs.set_groups(xtoken_members=("ejabberd",))
        self.prosody('VirtualHost "example.org"\n  authentication = "xtoken"\n')
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody host example.org: authentication = \"xtoken\" but no"
                        " mod_auth_xtoken.lua in /usr/lib/prosody/modules or plugin_paths: Prosody"
                        " cannot load it and every login fails; fix: apt install lua-xtoken")
        self.assertEqual(rc, 1)
        self.provider()
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody host example.org (mod_auth_xtoken): user prosody cannot read"
                        " %s (%s is root:xtoken 0640): every login is refused (config unusable);"
                        " fix: adduser prosody xtoken; then restart the service that runs as"
                        " prosody" % (CONF, CONF))

    def test_other_authentication_is_no_token_login(self):
        self.prosody('VirtualHost "localhost"\n')
        rc, _ = self.run_doctor()
        self.assertLine("ok   prosody host localhost: authentication = \"internal_hashed\": no"
                        " token logins")
        self.assertLine("warn prosody: no VirtualHost logs in with tokens; fix (for tokens):"
                        " authentication = \"xtoken\" in %s" % PROSODY_CFG)

    def test_sandbox_no_io_no_os(self):
        self.prosody('VirtualHost "localhost"\nos.execute("touch %s/pwned")\n' % self.base)
        rc, _ = self.run_doctor()
        self.assertFalse(os.path.exists(os.path.join(self.base, "pwned")))
        self.assertTrue([l for l in self.lines if l.startswith("FAIL prosody: ")
                         and "attempt to index a nil value (global 'os')" in l], self.lines)
        self.assertEqual(rc, 1)
        self.prosody('local f = io.open("/etc/shadow")\n')
        rc, _ = self.run_doctor()
        self.assertTrue([l for l in self.lines if "global 'io'" in l], self.lines)
        self.prosody('local x = require "lfs"\n')
        rc, _ = self.run_doctor()
        self.assertTrue([l for l in self.lines if "global 'require'" in l], self.lines)

    def test_sandbox_stops_loops_and_memory_hogs(self):
        self.prosody('while true do end\n')
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody: evaluating %s did not finish within 20 million Lua"
                        " instructions (stopped): its hosts are not checked; fix: find the loop"
                        % PROSODY_CFG)
        self.prosody('local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(1000) .. i end\n')
        rc, _ = self.run_doctor()
        self.assertTrue([l for l in self.lines if l.startswith("FAIL prosody: ")], self.lines)

    def test_config_unreadable_by_prosody(self):
        self.prosody('VirtualHost "example.org"\n')
        os.chown(self.fs.path(PROSODY_CFG), 0, 0)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody: cannot read %s as the prosody user (Permission denied):"
                        " Prosody cannot either; fix: chgrp prosody %s; chmod 0640 %s"
                        % (PROSODY_CFG, PROSODY_CFG, PROSODY_CFG))
        self.assertEqual(rc, 1)

    def test_lua_syntax_error(self):
        self.prosody('VirtualHost "localhost"\nauthentication = \n')
        rc, _ = self.run_doctor()
        self.assertTrue([l for l in self.lines if l.startswith("FAIL prosody: " + PROSODY_CFG + ":3:")],
                        self.lines)

    def cyrus_setup(self, options='OPTIONS="-m /var/run/saslauthd"'):
        self.fs.write("/usr/lib/prosody/modules/mod_auth_cyrus/mod_auth_cyrus.lua", "-- stub file\n")
        self.fs.write("/usr/lib/x86_64-linux-gnu/lua/5.4/cyrussasl.so", "\x7fELF")
        self.fs.write("/etc/sasl2/prosody.conf", "pwcheck_method: saslauthd\nmech_list: PLAIN\n")
        self.fs.write("/etc/pam.d/xmpp", pamd("example.org"))
        self.fs.write("/etc/default/saslauthd", 'START=yes\nMECHANISMS="pam"\n' + options + "\n")
        self.prosody('authentication = "cyrus"\nVirtualHost "example.org"\n')

    def test_cyrus_ok(self):
        self.cyrus_setup()
        rc, _ = self.run_doctor()
        self.assertLine("ok   prosody host example.org: authentication = \"cyrus\" -> saslauthd ->"
                        " /etc/pam.d/xmpp (pam_xtoken.so domain=example.org)")
        self.assertLine("ok   saslauthd: MECHANISMS=\"pam\", OPTIONS=\"-m /var/run/saslauthd\""
                        " without -c (no cache)")
        self.assertNoFail()
        self.assertEqual(rc, 0)

    def test_cyrus_with_saslauthd_cache(self):
        self.cyrus_setup('OPTIONS="-c -m /var/run/saslauthd"')
        rc, _ = self.run_doctor()
        self.assertLine("FAIL saslauthd: OPTIONS has -c: saslauthd caches a password that worked"
                        " and accepts it again without asking PAM, so a used token logs in again"
                        " for hours; fix: OPTIONS=\"-m /var/run/saslauthd\" in"
                        " /etc/default/saslauthd, then systemctl restart saslauthd")
        self.assertEqual(rc, 1)

    def test_saslauthd_cache_flag_in_a_cluster_and_unset_options(self):
        self.cyrus_setup('OPTIONS="-rc -m /var/run/saslauthd -n 3"')
        rc, _ = self.run_doctor()
        self.assertLine("FAIL saslauthd: OPTIONS has -c: saslauthd caches a password that worked"
                        " and accepts it again without asking PAM, so a used token logs in again"
                        " for hours; fix: OPTIONS=\"-r -m /var/run/saslauthd -n 3\" in"
                        " /etc/default/saslauthd, then systemctl restart saslauthd")
        self.cyrus_setup("")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL saslauthd: OPTIONS is unset, so the init script's default has -c:"
                        " saslauthd caches a password that worked and accepts it again without"
                        " asking PAM, so a used token logs in again for hours; fix: OPTIONS=\"-m"
                        " /var/run/saslauthd\" in /etc/default/saslauthd, then systemctl restart"
                        " saslauthd")

    def test_debian_default_saslauthd_file(self):
        # the settings of Debian 12's /etc/default/saslauthd (sasl2-bin): no START, -c
        self.cyrus_setup()
        self.fs.write("/etc/default/saslauthd", '# Settings for saslauthd daemon\n'
                      'DESC="SASL Authentication Daemon"\nNAME="saslauthd"\nMECHANISMS="pam"\n'
                      'MECH_OPTIONS=""\nTHREADS=5\nOPTIONS="-c -m /var/run/saslauthd"\n')
        rc, _ = self.run_doctor()
        self.assertLine("FAIL saslauthd: START is not yes in /etc/default/saslauthd: Debian's init"
                        " script does not start saslauthd, Prosody's cyrus logins fail; fix: add"
                        " the line START=yes")
        self.assertLine("FAIL saslauthd: OPTIONS has -c: saslauthd caches a password that worked"
                        " and accepts it again without asking PAM, so a used token logs in again"
                        " for hours; fix: OPTIONS=\"-m /var/run/saslauthd\" in"
                        " /etc/default/saslauthd, then systemctl restart saslauthd")
        self.assertEqual(rc, 1)

    def test_cyrus_pam_service_without_domain_and_prosody_not_in_sasl(self):
        self.cyrus_setup()
        self.fs.write("/etc/pam.d/xmpp", PAMD_JID)
        self.fs.set_groups(sasl_members=())
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody host example.org: /etc/pam.d/xmpp has no domain=: saslauthd"
                        " hands PAM the bare user name, so every login to example.org is refused"
                        " (unknown domain); fix: domain=example.org on its pam_xtoken.so lines")
        self.assertLine("FAIL prosody host example.org: user prosody is not in group sasl: it cannot"
                        " reach saslauthd's socket in /run/saslauthd (root:sasl 0710), every login"
                        " fails; fix: adduser prosody sasl, then systemctl restart prosody")
        self.assertEqual(rc, 1)

    def test_cyrus_sasl_app_config_missing(self):
        self.cyrus_setup()
        self.fs.remove("/etc/sasl2/prosody.conf")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody host example.org: no /etc/sasl2/prosody.conf"
                        " (cyrus_application_name \"prosody\"): libsasl2 does not use saslauthd;"
                        " fix: /etc/sasl2/prosody.conf with the lines 'pwcheck_method: saslauthd'"
                        " and 'mech_list: PLAIN'")


    # Debian's stock localhost VirtualHost (conf.d/localhost.cfg.lua, a link to
    # conf.avail/) next to example.org, both through saslauthd and /etc/pam.d/xmpp
    def stock_localhost(self):
        self.cyrus_setup()
        self.fs.write("/etc/prosody/conf.avail/localhost.cfg.lua",
                      '-- Section for localhost\nVirtualHost "localhost"\n')
        self.fs.mkdir("/etc/prosody/conf.d")
        os.symlink("../conf.avail/localhost.cfg.lua",
                   self.fs.path("/etc/prosody/conf.d/localhost.cfg.lua"))
        # Debian 13's stock prosody.cfg.lua opens localhost itself, then includes conf.d
        self.prosody('authentication = "cyrus"\nVirtualHost "localhost"\n'
                     'Include "conf.d/*.cfg.lua"\nVirtualHost "example.org"\n')

    def test_cyrus_two_hosts_one_pam_service(self):
        self.stock_localhost()
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody host localhost: /etc/pam.d/xmpp says domain=example.org and"
                        " serves the hosts example.org, localhost: saslauthd hands PAM the bare"
                        " user name, so a token minted for alice@example.org logs in"
                        " alice@localhost, and localhost's own tokens are refused; fix: if"
                        " localhost is not used, turn it off (remove VirtualHost \"localhost\""
                        " from /etc/prosody/prosody.cfg.lua, /etc/prosody/conf.d/localhost.cfg.lua,"
                        " or set enabled = false in its section); else give it a PAM service of"
                        " its own: cyrus_service_name"
                        " = \"xmpp-localhost\" in its VirtualHost section and"
                        " /etc/pam.d/xmpp-localhost with the lines 'auth required pam_xtoken.so"
                        " domain=localhost' and 'account required pam_xtoken.so domain=localhost'")
        self.assertLine("ok   prosody host example.org: authentication = \"cyrus\" -> saslauthd ->"
                        " /etc/pam.d/xmpp (pam_xtoken.so domain=example.org)")
        self.assertFalse([l for l in self.lines if "domain=localhost on its" in l], self.lines)
        self.assertEqual(rc, 1)
        # each fix the doctor gives works: the host turned off...
        self.fs.write("/etc/prosody/conf.avail/localhost.cfg.lua",
                      'VirtualHost "localhost"\nenabled = false\n')
        rc, _ = self.run_doctor()
        self.assertNoFail()
        # ...or a PAM service of its own
        self.fs.write("/etc/prosody/conf.avail/localhost.cfg.lua",
                      'VirtualHost "localhost"\ncyrus_service_name = "xmpp-localhost"\n')
        self.fs.write("/etc/pam.d/xmpp-localhost", pamd("localhost"))
        rc, _ = self.run_doctor()
        self.assertLine("ok   prosody host localhost: authentication = \"cyrus\" -> saslauthd ->"
                        " /etc/pam.d/xmpp-localhost (pam_xtoken.so domain=localhost)")
        self.assertNoFail()
        self.assertEqual(rc, 0)

    def test_cyrus_two_hosts_no_domain(self):
        self.stock_localhost()
        self.fs.write("/etc/pam.d/xmpp", PAMD_JID)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody host example.org: /etc/pam.d/xmpp has no domain=: saslauthd"
                        " hands PAM the bare user name, so every login to example.org is refused"
                        " (unknown domain), and domain= can name only one of the hosts it serves"
                        " (example.org, localhost); fix: a PAM service per host:"
                        " cyrus_service_name = \"xmpp-example.org\" in its VirtualHost section and"
                        " /etc/pam.d/xmpp-example.org with the lines 'auth required pam_xtoken.so"
                        " domain=example.org' and 'account required pam_xtoken.so"
                        " domain=example.org'")

    def test_cyrus_domain_of_no_host_of_its(self):
        self.cyrus_setup()
        self.fs.write("/etc/pam.d/xmpp", "auth required pam_xtoken.so domain=other.org\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody host example.org: /etc/pam.d/xmpp says domain=other.org:"
                        " saslauthd hands PAM the bare user name, so a token minted for"
                        " alice@other.org logs in alice@example.org, and example.org's own tokens"
                        " are refused; fix: domain=example.org on its pam_xtoken.so lines")

    def test_external_auth_line_protocol(self):
        self.prosody('VirtualHost "example.org"\nauthentication = "external"\n'
                     'external_auth_command = "/usr/bin/xtoken extauth --protocol line"\n')
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody host example.org: " + LINE_GONE + "authentication ="
                        " \"xtoken\" in place of \"external\" (the provider checks tokens inside"
                        " Prosody: apt install lua-xtoken)")
        self.assertEqual(rc, 1)
        self.prosody('VirtualHost "example.org"\nauthentication = "external"\n'
                     'external_auth_command = "/usr/local/bin/check-password"\n')
        rc, _ = self.run_doctor()
        self.assertLine("ok   prosody host example.org: authentication = \"external\" without"
                        " xtoken: no token logins")

    def test_prosody_13_config_functions(self):
        # Prosody 13: FileContents, FileLine, FileLines (relative to the config's
        # directory), Credential, Lua, options read back, :append
        self.provider()
        self.fs.write("/etc/prosody/auth.txt", "xtoken\nignored\n")
        self.fs.write("/etc/prosody/hosts.txt", "example.org\nexample.net")
        self.fs.write("/etc/prosody/motd.txt", "Welcome\n")
        self.fs.write("/etc/prosody/conf.d/users.cfg.lua",
                      'xtoken_users = Lua.string.lower(FileLine("../users.txt"))\n')
        self.fs.write("/etc/prosody/users.txt", "ANY\n")
        self.prosody('authentication = FileLine("auth.txt")\n'
                     'modules_enabled = { "roster" }\nmodules_enabled:append { "saslauth" }\n'
                     'modules_enabled { "tls" }\n'
                     'assert(#modules_enabled:value() == 3)\n'
                     'motd_text = FileContents("/etc/prosody/motd.txt")\n'
                     'sql = { password = Credential("db_password") }\n'
                     'local n = Lua.tonumber("3") + Lua.math.floor(0.5)\n'
                     'Lua.print("hello")\n'
                     'if Lua.os.getenv("HOME") then error("no environment here") end\n'
                     'for _, h in Lua.ipairs(FileLines("hosts.txt")) do VirtualHost(h) end\n'
                     'Include "conf.d/*.cfg.lua"\n')
        rc, _ = self.run_doctor()
        for host in ("example.net", "example.org"):
            self.assertLine("ok   prosody host %s: authentication = \"xtoken\", provider"
                            " /usr/lib/prosody/modules/mod_auth_xtoken.lua, Lua binding"
                            " /usr/lib/x86_64-linux-gnu/lua/5.4/xtoken.so found" % host)
        self.assertLine("warn prosody: os.getenv(HOME) (an environment variable of Prosody's) is"
                        " taken as unset")
        self.assertEqual([l for l in self.lines if l.startswith("FAIL")], [])
        self.prosody('motd_text = FileContents("missing.txt")\n')
        rc, _ = self.run_doctor()
        self.assertLine("FAIL prosody: /etc/prosody/prosody.cfg.lua:1: /etc/prosody/missing.txt:"
                        " No such file or directory: Prosody does not start with this config"
                        " either; fix: correct it there")
        self.assertEqual(rc, 1)


class EjabberdHosts(DoctorCase):
    """One PAM service for several hosts: with pam_userinfotype username PAM gets
    a bare "alice" and domain= makes the JID, whichever host the login was for."""

    def test_one_pam_service_two_hosts_username(self):
        self.fs.write("/etc/pam.d/ejabberd", pamd("example.org"))
        self.fs.write(YML, "hosts: [example.org, other.org]\nauth_method: [pam]\n"
                      "auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host other.org: pam_userinfotype username hands PAM the"
                        " bare \"alice\" and /etc/pam.d/ejabberd says domain=example.org: a token"
                        " minted for alice@example.org logs in alice@other.org, and other.org's own"
                        " tokens are refused (/etc/pam.d/ejabberd serves the hosts example.org,"
                        " other.org); fix: pam_userinfotype: jid and no domain= in"
                        " /etc/pam.d/ejabberd (each host's JIDs are then checked as they are), or a"
                        " pam_service of its own for other.org: 'pam_service: ejabberd-other.org'"
                        " in its host_config and /etc/pam.d/ejabberd-other.org with"
                        " domain=other.org")
        self.assertFalse([l for l in self.lines if l.startswith("FAIL ejabberd host example.org")],
                         self.lines)
        self.assertFalse([l for l in self.lines if "every login is refused" in l], self.lines)
        self.assertEqual(rc, 1)
        # the first fix: jid and no domain=
        self.fs.write("/etc/pam.d/ejabberd", PAMD_JID)
        self.fs.write(YML, "hosts: [example.org, other.org]\nauth_method: [pam]\n"
                      "pam_userinfotype: jid\nauth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertNoFail()
        # the second: a service of its own
        self.fs.write("/etc/pam.d/ejabberd", pamd("example.org"))
        self.fs.write("/etc/pam.d/ejabberd-other.org", pamd("other.org"))
        self.fs.write(YML, "hosts: [example.org, other.org]\nauth_method: [pam]\n"
                      "auth_use_cache: false\nhost_config:\n  other.org:\n"
                      "    pam_service: ejabberd-other.org\n")
        rc, _ = self.run_doctor()
        self.assertNoFail()
        self.assertEqual(rc, 0)

    def test_two_hosts_no_domain_username(self):
        self.fs.write("/etc/pam.d/ejabberd", PAMD_JID)
        self.fs.write(YML, "hosts: [example.org, other.org]\nauth_method: [pam]\n"
                      "auth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host other.org: pam_userinfotype username (the default)"
                        " hands PAM \"alice\" without a domain and /etc/pam.d/ejabberd has no"
                        " domain=: every login is refused (unknown domain) (/etc/pam.d/ejabberd"
                        " serves the hosts example.org, other.org); fix: set pam_userinfotype: jid"
                        " (PAM then gets alice@host), or give each host a pam_service of its own"
                        " whose /etc/pam.d file says its domain=")

    def test_jid_with_a_domain_of_another_host(self):
        self.fs.write("/etc/pam.d/ejabberd", pamd("example.org"))
        self.fs.write(YML, "hosts: [example.org, other.org]\nauth_method: [pam]\n"
                      "pam_userinfotype: jid\nauth_use_cache: false\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL ejabberd host other.org: /etc/pam.d/ejabberd says domain=example.org"
                        " but serves host other.org with pam_userinfotype jid: the module refuses"
                        " alice@other.org as not of example.org, every login is refused (unknown"
                        " domain); fix: remove domain= from /etc/pam.d/ejabberd (PAM gets the whole"
                        " JID)")


class Saslauthd(DoctorCase):
    """Only a saslauthd that starts at boot or that Prosody uses is judged."""
    DEBIAN = ('DESC="SASL Authentication Daemon"\nNAME="saslauthd"\nMECHANISMS="pam"\n'
              'MECH_OPTIONS=""\nTHREADS=5\nOPTIONS="-c -m /var/run/saslauthd"\n')
    CACHE_FAIL = ("FAIL saslauthd: OPTIONS has -c: saslauthd caches a password that worked and"
                  " accepts it again without asking PAM, so a used token logs in again for hours;"
                  " fix: OPTIONS=\"-m /var/run/saslauthd\" in /etc/default/saslauthd, then"
                  " systemctl restart saslauthd")

    def setUp(self):
        super().setUp()
        # an ejabberd PAM setup: a PAM service names pam_xtoken.so
        self.fs.write("/etc/pam.d/ejabberd", PAMD_JID)
        self.fs.write(YML, "hosts: [localhost]\nauth_method: [pam]\npam_userinfotype: jid\n"
                      "auth_use_cache: false\n")
        self.fs.write("/etc/default/saslauthd", self.DEBIAN)

    def links(self, kind):
        for level in range(7):
            d = self.fs.path("/etc/rc%d.d" % level)
            os.makedirs(d, exist_ok=True)
            os.symlink("../init.d/saslauthd", os.path.join(d, "%s01saslauthd" % kind))

    def test_debian_12_installed_disabled_unused(self):
        self.fs.write("/etc/init.d/saslauthd", "#!/bin/sh\n", 0o755)
        self.links("K")
        rc, _ = self.run_doctor()
        self.assertLine("ok   saslauthd: does not start at boot (START is not yes) and no Prosody"
                        " host uses it: not part of the token setup, not checked")
        self.assertNoFail()
        self.assertEqual(rc, 0)
        # START=yes but no S link: still not started at boot
        self.fs.write("/etc/default/saslauthd", "START=yes\n" + self.DEBIAN)
        rc, _ = self.run_doctor()
        self.assertLine("ok   saslauthd: does not start at boot (no /etc/rc?.d/S*saslauthd link)"
                        " and no Prosody host uses it: not part of the token setup, not checked")
        self.links("S")
        rc, _ = self.run_doctor()
        self.assertLine(self.CACHE_FAIL)
        self.assertEqual(rc, 1)

    def unit(self):
        self.fs.write("/usr/lib/systemd/system/saslauthd.service",
                      "[Service]\nEnvironmentFile=/etc/default/saslauthd\nExecStart=/usr/sbin/"
                      "saslauthd -a $MECHANISMS $MECH_OPTIONS $OPTIONS -n $THREADS\n")

    def test_debian_13_unit(self):
        self.unit()
        self.fs.write("/etc/init.d/saslauthd", "#!/bin/sh\n", 0o755)
        self.links("K")
        rc, _ = self.run_doctor()
        self.assertLine("ok   saslauthd: does not start at boot (saslauthd.service not enabled)"
                        " and no Prosody host uses it: not part of the token setup, not checked")
        self.assertNoFail()
        os.makedirs(self.fs.path("/etc/systemd/system/multi-user.target.wants"))
        os.symlink("/usr/lib/systemd/system/saslauthd.service",
                   self.fs.path("/etc/systemd/system/multi-user.target.wants/saslauthd.service"))
        rc, _ = self.run_doctor()
        self.assertLine(self.CACHE_FAIL)
        self.assertEqual(rc, 1)
        # masked: not started
        os.symlink("/dev/null", self.fs.path("/etc/systemd/system/saslauthd.service"))
        rc, _ = self.run_doctor()
        self.assertNoFail()
        # the unit passes OPTIONS as they are: unset means no -c
        os.remove(self.fs.path("/etc/systemd/system/saslauthd.service"))
        self.fs.write("/etc/default/saslauthd", 'MECHANISMS="pam"\n')
        rc, _ = self.run_doctor()
        self.assertLine("ok   saslauthd: MECHANISMS=\"pam\", OPTIONS=\"\" without -c (no cache)")

    def test_debian_13_unit_used_by_prosody_but_not_enabled(self):
        self.unit()
        self.fs.write(YML, "hosts: [localhost]\nauth_method: [mnesia]\n")
        self.fs.write("/usr/lib/prosody/modules/mod_auth_cyrus/mod_auth_cyrus.lua", "-- stub\n")
        self.fs.write("/usr/lib/x86_64-linux-gnu/lua/5.4/cyrussasl.so", "\x7fELF")
        self.fs.write("/etc/sasl2/prosody.conf", "pwcheck_method: saslauthd\nmech_list: PLAIN\n")
        self.fs.write("/etc/pam.d/xmpp", pamd("example.org"))
        self.fs.write("/etc/default/saslauthd", 'MECHANISMS="pam"\nOPTIONS="-m /run/saslauthd"\n')
        self.fs.write(PROSODY_CFG, 'authentication = "cyrus"\nVirtualHost "example.org"\n', 0o640,
                      gid=PROSODY_UID)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL saslauthd: saslauthd.service is not enabled: saslauthd does not start"
                        " at boot, Prosody's cyrus logins fail; fix: systemctl enable --now"
                        " saslauthd")
        self.assertEqual(len([l for l in self.lines if l.startswith("FAIL")]), 1, self.lines)
        self.assertEqual(rc, 1)


def die_with_parent():
    """In the child before exec: killed (SIGKILL) when the test process dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Redis(DoctorCase):
    """The replay store on a real redis-server (a unix socket only, its own
    directory, stopped by its pid): the doctor reports what check-config
    reports."""

    def setUp(self):
        super().setUp()
        self.fs.write(YML, EXTAUTH_YML + "auth_use_cache: false\n")
        self.dir = tempfile.mkdtemp(prefix="xtoken-doctor-redis-")
        self.socket = os.path.join(self.dir, "redis.sock")
        self.password = "pw-" + os.urandom(9).hex()
        self.proc = None

    def tearDown(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        super().tearDown()

    def start(self, *extra):
        conf = os.path.join(self.dir, "redis.conf")
        with open(conf, "w") as f:
            f.write("\n".join(["port 0", "unixsocket " + self.socket, "unixsocketperm 700",
                               "dir " + self.dir,
                               "requirepass " + self.password, 'save ""', "appendonly no",
                               "daemonize no"] + list(extra)) + "\n")
        os.chmod(conf, 0o600)
        self.proc = subprocess.Popen(["redis-server", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socket)
                return
            except OSError:
                self.assertIsNone(self.proc.poll(), "redis-server exited")
                self.assertLess(time.monotonic(), deadline, "redis-server did not start")
                time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # by its own pid
            self.proc.wait()

    def config(self, password=None):
        self.fs.write(CONF, "replay = redis+unix://%s\nredis_password = %s\notp_seed = %s\n"
                      "token_secret = %s\n" % (self.socket, password or self.password, SEED, SECRET),
                      0o640, gid=XTOKEN_GID)

    def check_config(self):
        return subprocess.run([XTOKEN, "check-config", "--config", self.fs.path(CONF)],
                              capture_output=True, text=True, timeout=30).returncode

    def fail_line(self):
        fails = [l for l in self.lines if l.startswith("FAIL config %s: " % CONF)]
        self.assertEqual(len(fails), 1, self.lines)
        return fails[0]

    def test_redis_answers(self):
        self.start()
        self.config()
        rc, _ = self.run_doctor()
        ok = [l for l in self.lines if l.startswith("ok   config %s: passes check-config (keys for"
                                                      " any domain; redis unix:%s/0: connected,"
                                                      " authenticated, PING answered in"
                                                      % (CONF, self.socket))]
        self.assertEqual(len(ok), 1, self.lines)
        self.assertIn("maxmemory-policy noeviction", ok[0])
        self.assertNotIn(self.password, "\n".join(self.lines))
        self.assertNoFail()
        self.assertEqual(rc, 0)
        self.assertEqual(self.check_config(), 0)

    def test_redis_down(self):
        self.config()
        rc, _ = self.run_doctor()
        self.assertTrue(self.fail_line().startswith(
            "FAIL config %s: check-config fails: replay store: redis unix:%s/0: connect"
            % (CONF, self.socket)), self.lines)
        self.assertTrue(self.fail_line().endswith(
            ": every login is refused (the replay store must record each token); fix: make the"
            " Redis server that 'replay =' names answer with the password in %s (systemctl"
            " status redis-server), then xtoken check-config --config %s" % (CONF, CONF)))
        self.assertFalse([l for l in self.lines if l.startswith("ok   config")], self.lines)
        self.assertEqual(rc, 1)
        self.assertEqual(self.check_config(), 2)

    def test_redis_wrong_password(self):
        self.start()
        self.config(password="not-" + self.password)
        rc, _ = self.run_doctor()
        line = self.fail_line()
        self.assertIn("check-config fails: replay store: redis unix:%s/0: " % self.socket, line)
        self.assertIn("WRONGPASS", line)
        self.assertNotIn(self.password, line)
        self.assertEqual(rc, 1)
        self.assertEqual(self.check_config(), 2)

    def test_redis_evicting_policy(self):
        self.start("maxmemory 100mb", "maxmemory-policy allkeys-lru")
        self.config()
        rc, _ = self.run_doctor()
        self.assertEqual(self.fail_line(),
                         "FAIL config %s: check-config warns: redis unix:%s/0: maxmemory-policy"
                         " allkeys-lru can evict replay entries and so let their tokens in again:"
                         " use noeviction: a used token could log in again; fix: as it says, then"
                         " xtoken check-config --config %s" % (CONF, self.socket, CONF))
        self.assertEqual(rc, 1)

SECRET_LINE = "root:$y$j9T$TOPSECRETHASH$abc:19000:0:99999:7:::"
CAP = 5  # DOC_SANDBOX_SECONDS


def printable(data):
    """Bytes on the doctor's stdout: printable ASCII and newlines only."""
    return all(b == 0x0a or 0x20 <= b < 0x7f for b in data)


class Hostile(DoctorCase):
    """Configs written by someone who wants root's doctor to hang, lie or read
    files for them. Each run has a wall-clock limit; nothing raw reaches the
    terminal."""

    def run_timed(self, limit, *args):
        start = time.monotonic()
        p = subprocess.run([XTOKEN, "doctor", "--root", self.fs.root] + list(args),
                           capture_output=True, timeout=limit + 30)
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, limit, "the doctor took %.1f s" % elapsed)
        self.assertTrue(printable(p.stdout), p.stdout)
        self.assertEqual(p.stderr, b"")
        self.lines = p.stdout.decode().splitlines()
        self.assertRegex(self.lines[-1], r"^doctor: \d+ ok, \d+ warn, \d+ FAIL$")
        return p.returncode, elapsed

    def prosody(self, text):
        self.fs.write(PROSODY_CFG, text, 0o640, gid=PROSODY_UID)

    def test_pcall_loop_is_stopped(self):
        # the instruction hook's error is caught by pcall: ours passes it on
        for loop in ('local function f() end\nwhile true do pcall(f) end\n',
                     'while true do pcall(function () while true do end end) end\n',
                     'while true do xpcall(function () while true do end end,'
                     ' function () while true do end end) end\n'):
            self.prosody('VirtualHost "example.org"\n' + loop)
            rc, _ = self.run_timed(CAP)
            self.assertLine("FAIL prosody: evaluating %s did not finish within 20 million Lua"
                            " instructions (stopped): its hosts are not checked; fix: find the"
                            " loop" % PROSODY_CFG)
            self.assertEqual(rc, 1)
        # Lua runs finalizers with hooks off: the config's objects get none
        self.prosody('local t = setmetatable({}, {__gc = function () while true do end end})\n'
                     't = nil\nfor i = 1, 100000 do local x = {} end\nVirtualHost "example.org"\n')
        rc, _ = self.run_timed(CAP)
        self.assertLine("ok   prosody host example.org: authentication = \"internal_hashed\": no"
                        " token logins")

    def test_backtracking_pattern_is_stopped_at_the_cap(self):
        # one C call that runs for hours: no hook runs inside it
        self.prosody('VirtualHost "example.org"\nlocal s = ("a"):rep(40)\n'
                     'local found = s:find(("a*"):rep(40) .. "b")\n')
        self.fs.write(YML, EXTAUTH_YML + "auth_use_cache: false\n")
        rc, elapsed = self.run_timed(CAP + 5)
        self.assertGreater(elapsed, CAP - 1)
        self.assertLine("FAIL prosody: evaluating %s did not finish within %d s (stopped): its"
                        " hosts are not checked; fix: simplify the file (a loop? a pattern that"
                        " backtracks?)" % (PROSODY_CFG, CAP))
        # the rest is still checked
        self.assertLine("ok   ejabberd host localhost: auth cache off (top level)")
        self.assertEqual(rc, 1)

    def test_deep_yaml_refused_before_libyaml_builds_it(self):
        self.fs.write(YML, "hosts: " + "[" * 80000 + "]" * 80000 + "\n")
        rc, _ = self.run_timed(3)
        self.assertLine("FAIL ejabberd: %s is nested more than 64 levels deep: not checked (it"
                        " would take libyaml too long); fix: write the options out plainly" % YML)
        self.assertEqual(rc, 1)
        self.fs.write(YML, "hosts:\n" + "".join("  - &a%d h%d\n" % (i, i) for i in range(300)))
        rc, _ = self.run_timed(3)
        self.assertLine("FAIL ejabberd: %s is more than 256 anchors (&name): not checked (it"
                        " would take libyaml too long); fix: write the options out plainly" % YML)

    def test_large_yaml(self):
        self.fs.write(YML, "# padding\n" * (4 * 1024 * 1024 // 10) + EXTAUTH_YML)
        rc, _ = self.run_timed(3)
        self.assertLine("FAIL ejabberd: %s is larger than 1 MiB: not checked (the doctor reads no"
                        " more; Debian's is 7 KiB); fix: move what is not ejabberd's configuration"
                        " out of it" % YML)
        self.assertEqual(rc, 1)
        # just under the cap, as wide as YAML gets: read and checked well within the cap
        items = "".join("  h%06d: {auth_method: [mnesia, sql], use_cache: false}\n" % i
                        for i in range(17000))
        text = EXTAUTH_YML + "auth_use_cache: false\nhost_config:\n" + items
        self.assertLess(len(text), 1024 * 1024)
        self.fs.write(YML, text)
        rc, elapsed = self.run_timed(CAP)
        self.assertLine("ok   ejabberd host localhost: auth cache off (top level)")
        self.assertEqual(rc, 0, self.lines)

    def test_terminal_escapes_in_names_and_values_are_escaped(self):
        esc = '\\27[2J\\27]52;c;ZXZpbA==\\7'
        self.prosody('VirtualHost "a%s.example"\nauthentication = "x\\n"'
                     ' .. "ok   prosody: all good\\r"\n' % esc)
        self.fs.write(YML, 'hosts: ["\\e[31mred\\e[0m", "b\\x9b2J.example"]\n'
                      'auth_method: [external]\nextauth_program: "/usr/bin/xtoken\\e]0;t\\a extauth"\n')
        rc, _ = self.run_timed(CAP)
        self.assertLine("ok   prosody host a\\x1b[2j\\x1b]52;c;zxzpba==\\x07.example: authentication ="
                        " \"x\\x0aok   prosody: all good\\x0d\": no token logins")
        self.assertLine("ok   ejabberd host \\x1b[31mred\\x1b[0m: auth_method is neither external"
                        " nor pam: no token logins" if False else
                        "warn ejabberd host \\x1b[31mred\\x1b[0m: extauth_program \"/usr/bin/xtoken"
                        "\\x1b]0;t\\x07 extauth\" does not run xtoken extauth: tokens are checked by"
                        " something else; fix (for tokens): extauth_program: \"/usr/bin/xtoken"
                        " extauth\"")
        self.assertTrue([l for l in self.lines if l.startswith("warn ejabberd host b\\xc2\\x9b2j")
                         or l.startswith("warn ejabberd host b\\xc2\\x9b2J")], self.lines)
        self.assertFalse([l for l in self.lines if l.startswith("ok   prosody: all good")])

    def secret_outside_root(self, mode):
        fd, path = tempfile.mkstemp(prefix="xtoken-doctor-secret-")
        with os.fdopen(fd, "w") as f:
            f.write(SECRET_LINE + "\n")
        os.chmod(path, mode)
        self.addCleanup(os.remove, path)
        return path

    def test_include_cannot_leave_the_root_or_read_as_root(self):
        outside = self.secret_outside_root(0o600)
        os.makedirs(self.fs.path("/etc/prosody/conf.d"), exist_ok=True)
        os.symlink(outside, self.fs.path("/etc/prosody/conf.d/abs.cfg.lua"))
        self.prosody('VirtualHost "example.org"\nInclude "conf.d/*.cfg.lua"\n')
        rc, _ = self.run_timed(CAP)
        self.assertLine("FAIL prosody: Error loading included /etc/prosody/conf.d/abs.cfg.lua: No"
                        " such file or directory: Prosody does not start with this config either;"
                        " fix: correct it there")
        os.remove(self.fs.path("/etc/prosody/conf.d/abs.cfg.lua"))
        os.symlink("../../../../../../../../../../.." + outside,
                   self.fs.path("/etc/prosody/conf.d/rel.cfg.lua"))
        rc, _ = self.run_timed(CAP)
        self.assertLine("FAIL prosody: Error loading included /etc/prosody/conf.d/rel.cfg.lua: No"
                        " such file or directory: Prosody does not start with this config either;"
                        " fix: correct it there")
        # a root-only file inside the root: the child is the prosody user, not root
        os.remove(self.fs.path("/etc/prosody/conf.d/rel.cfg.lua"))
        self.fs.write("/etc/shadow", SECRET_LINE + "\n", 0o600)
        self.prosody('VirtualHost "example.org"\nInclude "/etc/shadow"\n')
        rc, _ = self.run_timed(CAP)
        self.assertLine("FAIL prosody: Error loading included /etc/shadow: Permission denied:"
                        " Prosody does not start with this config either; fix: correct it there")
        self.prosody('VirtualHost "example.org"\nauthentication = FileContents("/etc/shadow")\n')
        rc, _ = self.run_timed(CAP)
        self.assertLine("FAIL prosody: /etc/prosody/prosody.cfg.lua:2: /etc/shadow: Permission"
                        " denied: Prosody does not start with this config either; fix: correct"
                        " it there")
        self.assertNotIn("TOPSECRET", "\n".join(self.lines))
        self.assertEqual(rc, 1)

    def test_syntax_errors_never_quote_the_file(self):
        # readable by prosody, not Lua: the error names the line, never its words
        self.fs.write("/etc/prosody/notes.txt", "first words\nsecret words here\n", 0o640,
                      gid=PROSODY_UID)
        self.prosody('Include "notes.txt"\n')
        rc, _ = self.run_timed(CAP)
        self.assertLine("FAIL prosody: /etc/prosody/notes.txt:1: syntax error: Prosody does not"
                        " start with this config either; fix: correct it there")
        self.assertNotIn("words", "\n".join(self.lines))

    def test_not_root_the_root_still_holds(self):
        # a doctor run by another user: no chroot, openat2 keeps the files below --root
        outside = self.secret_outside_root(0o644)
        os.makedirs(self.fs.path("/etc/prosody/conf.d"), exist_ok=True)
        os.symlink(outside, self.fs.path("/etc/prosody/conf.d/abs.cfg.lua"))
        self.fs.write(PROSODY_CFG, 'VirtualHost "example.org"\nInclude "conf.d/*.cfg.lua"\n')
        bindir = tempfile.mkdtemp(prefix="xtoken-doctor-bin-")  # the checkout may be below /root
        self.addCleanup(shutil.rmtree, bindir, True)
        os.chmod(bindir, 0o755)
        tool = shutil.copy(XTOKEN, os.path.join(bindir, "xtoken"))
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            tool, "doctor", "--root", self.fs.root], capture_output=True,
                           timeout=CAP + 30)
        out = p.stdout.decode()
        self.assertIn("FAIL prosody: Error loading included /etc/prosody/conf.d/abs.cfg.lua: No"
                      " such file or directory", out)
        self.assertNotIn("TOPSECRET", out)


class Usage(DoctorCase):
    def test_usage_errors_exit_2(self):
        for args in (["--root", "relative/dir"], ["--frobnicate"], ["--config", "x.conf"],
                     ["extra"]):
            p = subprocess.run([XTOKEN, "doctor"] + args, capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertEqual(p.stdout, "")
            self.assertRegex(p.stderr, r"^xtoken: doctor: ")

    def test_help(self):
        p = subprocess.run([XTOKEN, "doctor", "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("Usage: xtoken doctor [--config F] [--root DIR]", p.stdout)

    def test_nothing_installed(self):
        rc, _ = self.run_doctor()
        self.assertLine("ok   ejabberd: not installed (no /etc/ejabberd/ejabberd.yml), not checked")
        self.assertLine("ok   prosody: not installed (no /etc/prosody/prosody.cfg.lua), not checked")
        self.assertLine("ok   saslauthd: no /etc/default/saslauthd, not checked")
        self.assertLine("ok   pam.d: no service in /etc/pam.d names pam_xtoken.so")
        self.assertLine("ok   config %s: passes check-config (keys for any domain)" % CONF)
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
