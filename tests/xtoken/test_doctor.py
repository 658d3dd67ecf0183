#!/usr/bin/python3
"""xtoken doctor on fake roots (--root DIR): one directory tree per case with
the files a Debian machine has (ejabberd.yml, prosody.cfg.lua + conf.d,
/etc/default/saslauthd, /etc/pam.d, passwd/group, the config, the replay
directory, module files). Each finding is asserted as the exact line the
administrator reads, and the exit status (0 no FAIL, 1 any FAIL, 2 usage).
Needs root: the fake config must be root:xtoken like the package's."""
import os
import shutil
import subprocess
import tempfile
import unittest

from xtlib import ROOT, XTOKEN

SEED = "K5UOYGC3OJ2WG4LX"
SECRET = "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
CONF = "/etc/security/pam_xtoken.conf"
YML = "/etc/ejabberd/ejabberd.yml"
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
        # the replay directory as only its one user can write it (the tests set the owner)
        self.mkdir("/run/pam_xtoken", 0o700)
        self.write("/lib/x86_64-linux-gnu/security/pam_xtoken.so", "\x7fELF fake module")
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

    def replay_owner(self, user):
        uid = {"root": 0, "ejabberd": EJABBERD_UID, "prosody": PROSODY_UID}[user]
        os.chown(self.path("/run/pam_xtoken"), uid, uid)

    def mkdir(self, p, mode=0o755):
        os.makedirs(self.path(p), exist_ok=True)
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
    replay_user = "root"  # who owns the fake root's replay directory

    def setUp(self):
        self.assertEqual(os.geteuid(), 0, "tests/xtoken/test_doctor.py needs root "
                         "(fake roots with root:xtoken files); CI runs as root")
        self.base = tempfile.mkdtemp(prefix="xtoken-doctor-")
        os.chmod(self.base, 0o755)
        self.fs = FakeRoot(self.base)
        self.fs.replay_owner(self.replay_user)

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
    replay_user = "ejabberd"

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
        self.assertLine("ok   replay (%s): /run/pam_xtoken (ejabberd:ejabberd 0700): each service"
                        " user keeps its own store there, no other user can write it" % CONF)
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
                        " /lib/x86_64-linux-gnu/security/pam_xtoken.so found")
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
    replay_user = "ejabberd"

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

    FIX_EJABBERD = ("give the directory to the one user that keeps its store there: chown"
                    " ejabberd: /run/pam_xtoken; chmod 0700 /run/pam_xtoken, and the line 'd"
                    " /run/pam_xtoken 0700 ejabberd ejabberd -' in /etc/tmpfiles.d/pam_xtoken.conf"
                    " so that it comes back at boot")

    def test_replay_dir_missing(self):
        os.rmdir(self.fs.path("/run/pam_xtoken"))
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): /run/pam_xtoken is missing: the first service to log"
                        " someone in creates it 0700 for itself and every other service user is"
                        " refused; fix: %s" % (CONF, self.FIX_EJABBERD))
        self.assertEqual(rc, 1)
        self.fs.write("/usr/lib/tmpfiles.d/libpam-xtoken.conf",
                      "d /run/pam_xtoken 0700 ejabberd ejabberd -\n")
        rc, _ = self.run_doctor()
        self.assertLine("warn replay (%s): /run/pam_xtoken is missing (created at boot from"
                        " /usr/lib/tmpfiles.d/libpam-xtoken.conf); fix: systemd-tmpfiles --create"
                        " /usr/lib/tmpfiles.d/libpam-xtoken.conf" % CONF)
        self.assertEqual(rc, 0)

    def test_replay_dir_of_020_world_writable_fails(self):
        # 0.2.0 made /run/pam_xtoken 1733 root:root from tmpfiles.d: any local user could
        # create <uid>.store of a service first, or fill /run
        self.fs.mkdir("/run/pam_xtoken", 0o1733)
        os.chown(self.fs.path("/run/pam_xtoken"), 0, 0)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): /run/pam_xtoken (root:root 1733) is writable by users"
                        " other than its owner (the sticky bit does not help): any local user can"
                        " create a service's store there before the service does, or fill the file"
                        " system, and make every login of that service fail; fix: %s"
                        % (CONF, self.FIX_EJABBERD))
        self.assertEqual(rc, 1)
        self.fs.mkdir("/run/pam_xtoken", 0o770)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): /run/pam_xtoken (root:root 0770) is writable by users"
                        " other than its owner: any local user can create a service's store there"
                        " before the service does, or fill the file system, and make every login"
                        " of that service fail; fix: %s" % (CONF, self.FIX_EJABBERD))
        # missing, with the package's 0.2.0 tmpfiles line that makes it 1733 again at boot
        os.rmdir(self.fs.path("/run/pam_xtoken"))
        self.fs.write("/usr/lib/tmpfiles.d/libpam-xtoken.conf",
                      "d /run/pam_xtoken 1733 root root -\n")
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): /run/pam_xtoken is missing (and"
                        " /usr/lib/tmpfiles.d/libpam-xtoken.conf makes it writable by others): the"
                        " first service to log someone in creates it 0700 for itself and every"
                        " other service user is refused; fix: %s" % (CONF, self.FIX_EJABBERD))
        self.assertEqual(rc, 1)

    def test_replay_dir_missing_in_a_world_writable_parent(self):
        self.fs.write(CONF, "replay = /tmp/xt\notp_seed = %s\ntoken_secret = %s\n" % (SEED, SECRET),
                      0o640, gid=XTOKEN_GID)
        self.fs.mkdir("/tmp", 0o1777)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): /tmp/xt is missing and /tmp (root:root 1777) is writable"
                        " by others: any local user can create /tmp/xt first and make the services'"
                        " logins fail; fix: a replay directory in a directory only root can write,"
                        " then give the directory to the one user that keeps its store there: chown"
                        " ejabberd: /tmp/xt; chmod 0700 /tmp/xt, and the line 'd /tmp/xt 0700"
                        " ejabberd ejabberd -' in /etc/tmpfiles.d/pam_xtoken.conf so that it comes"
                        " back at boot" % CONF)
        self.assertEqual(rc, 1)

    def test_replay_dir_shared_by_two_users(self):
        self.fs.write("/etc/pam.d/xmpp", "auth required pam_xtoken.so domain=localhost\n")
        os.chmod(self.fs.path("/run/pam_xtoken"), 0o1733)
        rc, _ = self.run_doctor()
        self.assertLine("FAIL replay (%s): /run/pam_xtoken (ejabberd:ejabberd 1733) is writable by"
                        " users other than its owner (the sticky bit does not help): any local user"
                        " can create a service's store there before the service does, or fill the"
                        " file system, and make every login of that service fail; fix: one"
                        " directory per service user (root, ejabberd), each owned by its user, mode"
                        " 0700, made at boot by a line 'd /run/pam_xtoken/USER 0700 USER USER -' in"
                        " /etc/tmpfiles.d/pam_xtoken.conf and named by 'replay ="
                        " /run/pam_xtoken/USER' in a config of that user's; then chmod 0755"
                        " /run/pam_xtoken" % CONF)
        self.assertEqual(rc, 1)

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
                        " /lib/x86_64-linux-gnu/security/pam_xtoken.so found")
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
    replay_user = "prosody"

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

    def test_lua_syntax_error(self):
        self.prosody('VirtualHost "localhost"\nauthentication = \n')
        rc, _ = self.run_doctor()
        self.assertTrue([l for l in self.lines if l.startswith("FAIL prosody: " + PROSODY_CFG + ":3:")],
                        self.lines)

    def cyrus_setup(self, options='OPTIONS="-m /var/run/saslauthd"'):
        self.fs.replay_owner("root")  # saslauthd runs as root
        self.fs.write("/usr/lib/prosody/modules/mod_auth_cyrus/mod_auth_cyrus.lua", "-- stub file\n")
        self.fs.write("/usr/lib/x86_64-linux-gnu/lua/5.4/cyrussasl.so", "\x7fELF")
        self.fs.write("/etc/sasl2/prosody.conf", "pwcheck_method: saslauthd\nmech_list: PLAIN\n")
        self.fs.write("/etc/pam.d/xmpp", "auth required pam_xtoken.so domain=example.org\n"
                      "account required pam_xtoken.so domain=example.org\n")
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
