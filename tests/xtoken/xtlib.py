"""Helpers for the xtoken tests: the tool's path, throwaway configs, the
interop minter and checker, and a client for `xtoken extauth`."""
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))

import mint  # noqa: E402  (tests/interop/mint.py)
import refcheck  # noqa: E402

XTOKEN = os.environ.get("XTOKEN") or os.path.join(ROOT, "build", "xtoken")

# Test keys (the published example keys are refused by the config parser).
SEED = "K5UOYGC3OJ2WG4LX"
SECRET = "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
SEED2 = "E3W374VRSFO4NVKEWMDJBF5SC6A7IRG2"
SECRET2 = "KHLO5N3OGXIIC3GK7DGVR5SJNAEOAO34"
DOMAIN = "localhost"


def config_text(domains=((DOMAIN, SEED, SECRET),), replay="off", extra=""):
    lines = ["# test config", "replay = %s" % replay, extra]
    for name, seed, secret in domains:
        lines += ["[%s]" % name, "otp_seed = %s" % seed, "token_secret = %s" % secret]
    return "\n".join(lines) + "\n"


def write_config(path, text, mode=0o600):
    """Replace path atomically (new inode) with text, mode 0600 by default."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def run(args, stdin=b"", env=None, timeout=20):
    """Run xtoken with args: (exit code, stdout bytes, stderr text)."""
    p = subprocess.run([XTOKEN] + list(args), input=stdin, capture_output=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


class TempDirCase(unittest.TestCase):
    """A private temp dir with a 0600 config for localhost."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="xtoken-test-")
        os.chmod(self.dir, 0o700)
        self.conf = os.path.join(self.dir, "pam_xtoken.conf")
        write_config(self.conf, config_text())

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for_step_room(seconds=3):
    """Sleep out the end of a 30 s TOTP step, so that a token minted now is
    checked within the same step (tests that need "exactly this step")."""
    if 30 - time.time() % 30 < seconds:
        time.sleep(30 - time.time() % 30 + 0.05)


class Extauth:
    """`xtoken extauth` on a pipe pair, spoken to like ejabberd (2-byte
    length frames). stderr goes to a file the test can read."""

    def __init__(self, testcase, conf, *args):
        self.errpath = os.path.join(testcase.dir, "extauth-%d.err" % id(self))
        self.errfile = open(self.errpath, "wb")
        self.proc = subprocess.Popen(
            [XTOKEN, "extauth", "--config", conf] + list(args),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errfile, bufsize=0)
        self.replies = 0
        testcase.addCleanup(self.close)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()  # by its own pid: this Popen object
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.errfile.close()

    def stderr(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def frame(self, text):
        if isinstance(text, str):
            text = text.encode()
        return struct.pack(">H", len(text)) + text

    def read_exact(self, n, timeout=10):
        data = b""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while len(data) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError("no reply within %ss (got %r)" % (timeout, data))
            chunk = os.read(fd, n - len(data))
            if not chunk:
                raise AssertionError("extauth closed stdout (got %r)" % data)
            data += chunk
        return data

    def reply(self, timeout=10):
        """One reply as 1 or 0; fails on anything but an exact reply."""
        data = self.read_exact(4, timeout)
        assert data in (b"\x00\x02\x00\x01", b"\x00\x02\x00\x00"), "bad reply %r" % data
        self.replies += 1
        return data[3]

    def ask(self, text):
        """Send one request in one write, return the answer (1 or 0)."""
        if isinstance(text, str):
            text = text.encode()
        self.write(self.frame(text))
        return self.reply()

    def finish(self, timeout=10):
        """Close stdin; expect exit 0 and not one more byte on stdout."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=10):
        rest = self.proc.stdout.read()
        rc = self.proc.wait(timeout)
        return rc, rest

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def alive(self):
        return self.proc.poll() is None


__all__ = ["mint", "refcheck", "XTOKEN", "SEED", "SECRET", "SEED2", "SECRET2", "DOMAIN",
           "config_text", "write_config", "run", "TempDirCase", "wait_for_step_room",
           "Extauth", "signal"]
