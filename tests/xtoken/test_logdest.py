#!/usr/bin/python3
"""Where `xtoken extauth` writes its reasons: syslog when a syslog daemon
listens on /dev/log, standard error when none does (no socket, or a stale
one), and both with --verbose. Each case runs xtoken in a private mount
namespace with a /dev of its own (as systemd's PrivateDevices= gives a
service): /dev/log absent, a symlink to a datagram socket this test reads
(a real syslog receiver), or a socket file nobody listens on."""
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import unittest

from xtlib import XTOKEN

SEED = "K5UOYGC3OJ2WG4LX"
SECRET = "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
JID = "alice@localhost"

# A private /dev: tmpfs with /dev/null bound in, and /dev/log as given
# ($1: none | a path to link /dev/log to). unshare -r maps the caller to
# root in a user namespace, so this works without root as well.
PRIVATE_DEV = r'''
set -e
old=$T/olddev; mkdir -p "$old"
mount --bind /dev "$old"
mount -t tmpfs -o mode=755 tmpfs /dev
touch /dev/null && mount --bind "$old/null" /dev/null
umount -l "$old"
[ "$1" = none ] || ln -s "$1" /dev/log
shift
exec "$@"
'''


def frame(text):
    """One ejabberd request: 2-byte big-endian length + text."""
    return struct.pack(">H", len(text)) + text.encode()


def unshare_args():
    return ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])


class LogDestination(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="xtoken-logdest-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "pam_xtoken.conf")
        with open(self.conf, "w") as f:
            f.write("replay = off\n[localhost]\notp_seed = %s\ntoken_secret = %s\n"
                    % (SEED, SECRET))
        os.chmod(self.conf, 0o600)
        self.receiver = None

    def tearDown(self):
        if self.receiver:
            self.receiver.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def token(self):
        p = subprocess.run([XTOKEN, "issue", "--config", self.conf, JID],
                           capture_output=True, text=True, check=True)
        return p.stdout.strip()

    def syslog_receiver(self):
        """A datagram socket like a syslog daemon's /dev/log."""
        path = os.path.join(self.dir, "log.sock")
        self.receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.receiver.bind(path)
        os.chmod(path, 0o666)
        self.receiver.settimeout(0)
        return path

    def received(self):
        lines = []
        while True:
            try:
                lines.append(self.receiver.recv(65536).decode(errors="replace"))
            except BlockingIOError:
                return lines

    def extauth(self, devlog, *args):
        """Run extauth (ejabberd frames) with one good and one bad request;
        return (stdout, stderr)."""
        good = self.token()
        stdin = b"".join(frame("auth:alice:localhost:%s" % t) for t in (good, "1" * 20 + " x"))
        cmd = unshare_args() + ["sh", "-c", PRIVATE_DEV, "sh", devlog, XTOKEN, "extauth",
                                "--config", self.conf] + list(args)
        p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=30,
                           env=dict(os.environ, T=self.dir))
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(p.stdout, b"\x00\x02\x00\x01\x00\x02\x00\x00", err)
        self.assertNotIn(good, err)
        return p.stdout, err

    def test_no_syslog_socket_reasons_on_stderr(self):
        _, err = self.extauth("none")
        lines = err.splitlines()
        self.assertEqual(lines[0], "xtoken: no syslog socket at /dev/log: logging to standard error")
        self.assertIn("xtoken: auth: refused token for alice@localhost: malformed token", lines)
        self.assertTrue(any(l.startswith("xtoken: config %s loaded" % self.conf) for l in lines))
        # not verbose: no accepted logins, no debug lines
        self.assertFalse([l for l in lines if "accepted" in l or "exiting" in l], err)

    def test_no_syslog_socket_verbose_adds_accepted_and_debug(self):
        _, err = self.extauth("none", "--verbose")
        self.assertIn("xtoken: auth: accepted token for alice@localhost", err.splitlines())
        self.assertIn("xtoken: extauth: exiting (end of input)", err.splitlines())

    def test_stale_socket_nobody_listening_reasons_on_stderr(self):
        path = self.syslog_receiver()
        self.receiver.close()  # the file stays, nobody listens: connect is refused
        self.receiver = None
        _, err = self.extauth(path)
        self.assertIn("xtoken: no syslog socket at /dev/log: logging to standard error", err)
        self.assertIn("refused token for alice@localhost: malformed token", err)

    def test_syslog_gets_reasons_stderr_stays_empty(self):
        path = self.syslog_receiver()
        _, err = self.extauth(path)
        self.assertEqual(err, "")
        got = self.received()
        refused = [m for m in got if "auth: refused token for alice@localhost: malformed token" in m]
        self.assertEqual(len(refused), 1, got)
        # <PRI> of LOG_AUTHPRIV|LOG_NOTICE = 10*8+5, ident xtoken with pid
        self.assertRegex(refused[0], r"^<85>.* xtoken\[\d+\]: auth: refused token")

    def test_syslog_and_verbose_both(self):
        path = self.syslog_receiver()
        _, err = self.extauth(path, "--verbose")
        self.assertIn("xtoken: auth: refused token for alice@localhost: malformed token", err)
        self.assertIn("xtoken: auth: accepted token for alice@localhost", err)
        self.assertNotIn("no syslog socket", err)
        got = self.received()
        self.assertTrue(any("auth: refused token for alice@localhost" in m for m in got), got)


if __name__ == "__main__":
    unittest.main(verbosity=2)
