#!/usr/bin/python3
"""xtoken-credentials run as a web server runs it: a CGI/1.1 environment
(RFC 3875), the response on stdout, log lines to syslog (a receiver on a
private /dev/log, as in tests/xtoken/test_logdest.py) or stderr.

Every status (401, 403, 405, 200, 500), the exact headers and JSON (with
the escaping of odd user names), HTTP_* variables ignored, query words as
argv ignored, a token that verifies for the mapped JID and no other (with
`xtoken verify` and the independent reference verifier of tests/interop),
a fresh token per request, and no token in any log line."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "xtoken"))

from test_logdest import PRIVATE_DEV, unshare_args  # noqa: E402
from xtlib import SECRET, SEED, XTOKEN, refcheck  # noqa: E402

CREDENTIALS = os.environ.get("CREDENTIALS") or os.path.join(ROOT, "build", "xtoken-credentials")
TOKEN_RE = r"(\d{8}\d{32} [A-Za-z0-9+/]{43}=)"
COMMON_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]


def parse_cgi(out):
    """(status, [(name, value)...], body bytes) of a CGI response."""
    head, sep, body = out.partition(b"\n\n")
    assert sep, "no blank line after the headers: %r" % out
    headers = [tuple(line.split(": ", 1)) for line in head.decode().split("\n")]
    assert headers[0][0] == "Status", headers
    status = int(headers[0][1].split()[0])
    return status, headers[1:], body


class CgiCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="xtoken-cred-test-")
        os.chmod(self.dir, 0o755)
        self.conf = self.write("credentials.conf", self.config_text(), 0o600)
        # the XMPP server's side: the same keys in a pam_xtoken.conf
        self.server_conf = self.write("pam_xtoken.conf", "replay = off\n" + self.keys(), 0o600)
        self.receiver = None
        self.tokens = []      # every token the program handed out
        self.log_lines = []   # every line it logged (syslog and stderr)

    def tearDown(self):
        for line in self.log_lines:
            for token in self.tokens:
                for part in [token] + token.split(" "):
                    self.assertNotIn(part, line, "a token in a log line")
        if self.receiver:
            self.receiver.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def keys(domain="localhost"):
        return "[%s]\notp_seed = %s\ntoken_secret = %s\n" % (domain, SEED, SECRET)

    def config_text(self, extra=""):
        return "credentials_domain = localhost\n" + extra + self.keys()

    def write(self, name, text, mode):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def cgi(self, method="GET", user="alice", config=None, extra=None, argv=(), syslog=False):
        """Run the program with a CGI environment: (status, headers, body).
        user may be bytes (not UTF-8); extra: variables to set (None: unset)."""
        env = {b"GATEWAY_INTERFACE": b"CGI/1.1", b"SERVER_PROTOCOL": b"HTTP/1.1",
               b"SCRIPT_NAME": b"/chat/credentials", b"PATH": b"/usr/bin:/bin",
               b"XTOKEN_CONFIG": os.fsencode(config or self.conf)}
        if method is not None:
            env[b"REQUEST_METHOD"] = method.encode()
        if user is not None:
            env[b"REMOTE_USER"] = user if isinstance(user, bytes) else user.encode()
            env[b"AUTH_TYPE"] = b"Basic"
        for k, v in (extra or {}).items():
            if v is None:
                env.pop(k.encode(), None)
            else:
                env[k.encode()] = v.encode()
        # A private /dev: no /dev/log (log lines on stderr, as in a web
        # server's error log), or one that this test reads (syslog).
        devlog = self.syslog_path() if syslog else "none"
        cmd = unshare_args() + ["sh", "-c", PRIVATE_DEV, "sh", devlog, CREDENTIALS] + list(argv)
        env[b"T"] = self.dir.encode()
        p = subprocess.run(cmd, capture_output=True, timeout=20, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.log_lines += p.stderr.decode(errors="replace").splitlines()
        status, headers, body = parse_cgi(p.stdout)
        self.last_stderr = p.stderr.decode(errors="replace")
        for m in re.finditer(TOKEN_RE.encode(), body):
            self.tokens.append(m.group(1).decode())
        return status, headers, body

    def syslog_path(self):
        if self.receiver is None:
            path = os.path.join(self.dir, "log.sock")
            self.receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.receiver.bind(path)
            os.chmod(path, 0o666)
            self.receiver.settimeout(0)
        return os.path.join(self.dir, "log.sock")

    def received(self):
        got = []
        while True:
            try:
                got.append(self.receiver.recv(65536).decode(errors="replace"))
            except BlockingIOError:
                self.log_lines += got
                return got

    def ok(self, user="alice", jid="alice@localhost", **kw):
        """A 200 with exactly the JSON for jid; returns the token."""
        status, headers, body = self.cgi(user=user, **kw)
        self.assertEqual(status, 200, body + self.last_stderr.encode())
        self.assertEqual(headers[:4], COMMON_HEADERS)
        self.assertEqual(headers[4], ("Content-Length", str(len(body))))
        self.assertEqual(len(headers), 5, headers)
        escaped = json.dumps(jid, ensure_ascii=False)
        m = re.fullmatch((r'\{"jid": %s, "password": "%s"\}\n' % (re.escape(escaped), TOKEN_RE))
                         .encode(), body)
        self.assertIsNotNone(m, body)
        self.assertEqual(json.loads(body), {"jid": jid, "password": m.group(1).decode()})
        return m.group(1).decode()

    def refused(self, status, error, **kw):
        got, headers, body = self.cgi(**kw)
        self.assertEqual(got, status, body)
        self.assertEqual(headers[:4], COMMON_HEADERS)
        self.assertEqual(body, b'{"error": "%s"}\n' % error.encode())
        self.assertNotIn(b"password", body)
        return headers

    def verify(self, jid, token, *args):
        p = subprocess.run([XTOKEN, "verify", "--config", self.server_conf] + list(args) + [jid],
                           input=token + "\n", capture_output=True, text=True, timeout=20)
        return p.returncode, p.stderr.strip()


class Statuses(CgiCase):
    def test_get_and_post_answer_200(self):
        self.ok(method="GET")
        self.ok(method="POST")
        self.assertEqual(self.log_lines, [
            "xtoken-credentials: issued a token to user 'alice' as alice@localhost"] * 2)

    def test_other_methods_405_with_allow(self):
        for method in ("PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "get", ""):
            headers = self.refused(405, "method not allowed", method=method)
            self.assertIn(("Allow", "GET, POST"), headers)
        self.refused(405, "method not allowed", method=None, extra={"GATEWAY_INTERFACE": "CGI/1.1"})
        self.assertIn("xtoken-credentials: refused a PUT request: only GET and POST", self.log_lines)

    def test_no_remote_user_401(self):
        headers = self.refused(401, "not authenticated", user=None)
        # no WWW-Authenticate: the program cannot know the server's scheme,
        # and a browser prompt would not help a server that asked nothing
        self.assertNotIn("WWW-Authenticate", dict(headers))
        self.refused(401, "not authenticated", user="")
        self.assertEqual(len([l for l in self.log_lines if "without REMOTE_USER" in l]), 2)

    def test_remote_user_without_auth_type_401(self):
        # nginx's fastcgi_params pass $remote_user from any Authorization
        # header, checked or not: only a location that sets AUTH_TYPE counts.
        for auth_type in (None, ""):
            self.refused(401, "not authenticated", extra={"AUTH_TYPE": auth_type})
        self.refused(401, "not authenticated", extra={"AUTH_TYPE": None, "HTTP_AUTH_TYPE": "Basic"})
        self.assertEqual(len([l for l in self.log_lines
                              if "refused a request with REMOTE_USER but no AUTH_TYPE" in l]), 3)
        self.ok(extra={"AUTH_TYPE": "openid-connect"})

    def test_http_remote_user_ignored(self):
        # A request header "Remote-User: bob" becomes HTTP_REMOTE_USER: never a user name.
        self.refused(401, "not authenticated", user=None,
                     extra={"HTTP_REMOTE_USER": "bob", "HTTP_X_REMOTE_USER": "bob",
                            "HTTP_AUTHORIZATION": "Basic Ym9iOng="})
        token = self.ok(user="alice", extra={"HTTP_REMOTE_USER": "bob"})
        self.assertEqual(self.verify("bob@localhost", token, "--no-replay")[0], 1)

    def test_bad_names_403(self):
        for user in ("a b", 'a"b', "a'b", "a/b", "a:b", "a<b", "a\tb", "a@b@c", "@x",
                     b"zo\xeb", b"a\x7fb", "x" * 1100, "alice@EXAMPLE.ORG"):
            self.refused(403, "no chat account for this user", user=user)
        reasons = "\n".join(self.log_lines)
        self.assertIn("refused user 'zo\\xeb': the name is not valid UTF-8", reasons)
        self.assertIn("refused user 'a\\x7fb': it maps to no valid JID (malformed user name)",
                      reasons)
        self.assertIn("refused user 'alice@EXAMPLE.ORG': the name has a realm "
                      "(credentials_realm = refuse)", reasons)
        self.assertIn("refused user 'a\\x09b'", reasons)

    def test_argv_from_the_query_string_ignored(self):
        # RFC 3875 4.4: a query without '=' reaches a CGI program as argv.
        self.ok(argv=["--check", "--config", "/nonexistent"])
        self.ok(argv=["--help"])

    def test_config_errors_500_with_the_reason_logged(self):
        self.refused(500, "internal error", config="relative/credentials.conf")
        self.assertIn("xtoken-credentials: config: XTOKEN_CONFIG must be an absolute path",
                      self.log_lines)
        self.refused(500, "internal error", config=os.path.join(self.dir, "missing.conf"))
        os.chmod(self.conf, 0o644)
        self.refused(500, "internal error")
        self.assertTrue(any("readable by others" in l for l in self.log_lines), self.log_lines)
        os.chmod(self.conf, 0o600)
        self.write("nodomain.conf", self.keys(), 0o600)
        self.refused(500, "internal error", config=os.path.join(self.dir, "nodomain.conf"))
        self.assertTrue(any(l.endswith("nodomain.conf: credentials_domain is required")
                            for l in self.log_lines), self.log_lines)

    def test_default_config_path(self):
        if os.path.exists("/etc/xtoken/credentials.conf"):
            self.skipTest("this machine has an /etc/xtoken/credentials.conf")
        self.refused(500, "internal error", extra={"XTOKEN_CONFIG": None})
        self.assertTrue(any("/etc/xtoken/credentials.conf" in l for l in self.log_lines),
                        self.log_lines)


class Json(CgiCase):
    def test_odd_names_escaped(self):
        # backslash: allowed in a JID, escaped in JSON; UTF-8 as it is;
        # upper case folded
        body = self.cgi(user="Back\\Slash")[2]
        self.assertTrue(body.startswith(b'{"jid": "back\\\\slash@localhost", "password": "'), body)
        self.ok(user="back\\slash", jid="back\\slash@localhost")
        self.ok(user="Zo\u00eb", jid="zo\u00eb@localhost")
        body = self.cgi(user="zo\u00eb")[2]
        self.assertTrue(body.startswith('{"jid": "zo\u00eb@localhost"'.encode()), body)
        self.ok(user="d.o-e_1+x", jid="d.o-e_1+x@localhost")
        self.assertIn("xtoken-credentials: issued a token to user 'Zo\\xc3\\xab' as "
                      "zo\\xc3\\xab@localhost", self.log_lines)


class Tokens(CgiCase):
    def test_token_verifies_for_the_mapped_jid_and_no_other(self):
        token = self.ok(user="Alice", jid="alice@localhost")
        for other in ("bob@localhost", "Alice@localhost", "alice@example.org", "alic@localhost"):
            rc, why = self.verify(other, token, "--no-replay")
            self.assertEqual(rc, 1, (other, why))
        ref = refcheck.Reference(SEED, SECRET)
        self.assertFalse(ref.verify_token(b"bob", b"localhost", token.encode()))
        self.assertTrue(ref.verify_token(b"alice", b"localhost", token.encode()))
        self.assertEqual(self.verify("alice@localhost", token, "--no-replay"), (0, ""))

    def test_fresh_token_per_request(self):
        tokens = [self.ok() for _ in range(12)]
        self.assertEqual(len(set(tokens)), len(tokens))
        self.assertEqual(len({t[8:40] for t in tokens}), len(tokens))  # nonces differ
        replay = os.path.join(self.dir, "replay")
        os.mkdir(replay, 0o700)
        self.write("pam_xtoken.conf", "replay = %s\n" % replay + self.keys(), 0o600)
        for t in tokens:  # each one once: none is a replay of another
            self.assertEqual(self.verify("alice@localhost", t), (0, ""))
        self.assertEqual(self.verify("alice@localhost", tokens[0])[0], 1)


class Mapping(CgiCase):
    def test_realm_drop_keep_and_case(self):
        self.write("credentials.conf", self.config_text(
            "credentials_realm = drop EXAMPLE.ORG\ncredentials_lowercase = yes\n"), 0o600)
        self.ok(user="Alice@example.org", jid="alice@localhost")
        self.refused(403, "no chat account for this user", user="alice@OTHER.ORG")
        self.write("credentials.conf", self.config_text("credentials_realm = keep\n")
                   + self.keys("example.org"), 0o600)
        self.ok(user="bob@EXAMPLE.ORG", jid="bob@example.org")
        self.write("credentials.conf", self.config_text("credentials_lowercase = no\n"), 0o600)
        self.refused(403, "no chat account for this user", user="Alice")
        self.assertIn("xtoken-credentials: refused user 'Alice': the name has upper-case "
                      "letters (credentials_lowercase = no)", self.log_lines)

    def test_allow_list_file_and_group(self):
        users = self.write("chatters", "alice\nbob@localhost\n", 0o644)
        self.write("credentials.conf", self.config_text("credentials_allow = %s\n" % users), 0o600)
        self.ok(user="alice")
        self.ok(user="bob", jid="bob@localhost")
        self.refused(403, "no chat account for this user", user="carol")
        self.assertIn("xtoken-credentials: refused user 'carol': not in credentials_allow = %s"
                      % users, self.log_lines)
        self.write("credentials.conf", self.config_text("credentials_allow = group:root\n"), 0o600)
        self.ok(user="root", jid="root@localhost")
        self.refused(403, "no chat account for this user", user="daemon")
        self.write("credentials.conf", self.config_text("credentials_allow = group:nogroup-xt\n"),
                   0o600)
        self.refused(500, "internal error", user="root")
        self.assertIn("xtoken-credentials: refused user 'root': credentials_allow: group "
                      "nogroup-xt does not exist", self.log_lines)


class Logging(CgiCase):
    def test_syslog_lines_issue_and_refusals_never_a_token(self):
        token = self.ok(syslog=True)
        self.refused(403, "no chat account for this user", user="a b", syslog=True)
        self.refused(401, "not authenticated", user=None, syslog=True)
        self.refused(405, "method not allowed", method="PUT", syslog=True)
        self.assertEqual(self.last_stderr, "")
        got = self.received()
        self.assertEqual(len(got), 4, got)
        # <PRI>: LOG_AUTHPRIV (10) * 8 + LOG_INFO (6) / LOG_NOTICE (5)
        self.assertRegex(got[0], r"^<86>.* xtoken-credentials\[\d+\]: issued a token to user "
                                 r"'alice' as alice@localhost$")
        self.assertRegex(got[1], r"^<85>.* xtoken-credentials\[\d+\]: refused user 'a b': it "
                                 r"maps to no valid JID")
        self.assertRegex(got[2], r"^<85>.*: refused a request without REMOTE_USER")
        self.assertRegex(got[3], r"^<85>.*: refused a PUT request: only GET and POST$")
        for line in got:
            self.assertNotIn(token, line)

    def test_without_syslog_stderr_only_our_lines(self):
        status = self.cgi(syslog=False)[0]
        self.assertEqual(status, 200)
        # no "no syslog socket" notice per request: the web server's error
        # log gets one line per request
        self.assertEqual(self.last_stderr.count("\n"), 1, self.last_stderr)


class CommandLine(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="xtoken-cred-cli-")
        self.conf = os.path.join(self.dir, "c.conf")
        with open(self.conf, "w") as f:
            f.write("credentials_domain = localhost\ncredentials_realm = drop A B\n"
                    "otp_seed = %s\ntoken_secret = %s\n" % (SEED, SECRET))
        os.chmod(self.conf, 0o600)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_cli(self, *args, env=None):
        env = dict(env or {}, PATH="/usr/bin:/bin")
        p = subprocess.run([CREDENTIALS] + list(args), capture_output=True, text=True,
                           timeout=20, env=env)
        return p.returncode, p.stdout, p.stderr

    def test_check(self):
        rc, out, _ = self.run_cli("--check", "--config", self.conf, "--user", "Alice@a")
        self.assertEqual(rc, 0)
        self.assertEqual(out, "config %s: ok\ncredentials_domain = localhost\n"
                              "credentials_realm = drop A B\ncredentials_lowercase = yes\n"
                              "credentials_allow = any\nuser 'Alice@a': alice@localhost\n"
                         % self.conf)
        self.assertNotIn(SECRET, out)
        rc, out, _ = self.run_cli("--check", "--user", "bob@C", env={"XTOKEN_CONFIG": self.conf})
        self.assertEqual(rc, 1)
        self.assertIn("user 'bob@C': no token: its realm is not one credentials_realm = drop "
                      "names", out)
        rc, _, err = self.run_cli("--check", "--config", "/nonexistent.conf")
        self.assertEqual(rc, 2)
        self.assertIn("/nonexistent.conf", err)

    def test_usage(self):
        self.assertEqual(self.run_cli()[0], 2)
        self.assertEqual(self.run_cli("--bogus")[0], 2)
        rc, out, _ = self.run_cli("--help")
        self.assertEqual(rc, 0)
        self.assertIn("default /etc/xtoken/credentials.conf", out)
        self.assertRegex(self.run_cli("--version")[1], r"^xtoken-credentials \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main(verbosity=2)
