#!/usr/bin/python3
"""The README's Python issuing snippet, run exactly as written there: its
tokens must verify with xtoken and with the reference re-implementation, in
any time zone. Also checks the README's xtoken shell examples still parse."""
import os
import re
import subprocess
import unittest

from xtlib import ROOT, SECRET, SEED, XTOKEN, TempDirCase, refcheck, run

MARKER = "<!-- snippet: python-issue -->"


def readme_snippet():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    match = re.search(re.escape(MARKER) + r"\n```python\n(.*?)\n```\n", text, re.S)
    if match is None:
        raise AssertionError("README.md has no ```python block right after " + MARKER)
    return match.group(1) + "\n"


# Runs the snippet in a fresh interpreter with a given TZ; prints tokens.
RUNNER = """
import sys
snippet = sys.stdin.read()
namespace = {}
exec(compile(snippet, "README.md:python-issue", "exec"), namespace)
for jid in sys.argv[3:]:
    print(namespace["make_token"](jid, sys.argv[1], sys.argv[2]))
"""


def snippet_tokens(tz, *jids):
    env = dict(os.environ, TZ=tz)
    p = subprocess.run(["/usr/bin/python3", "-c", RUNNER, SEED, SECRET] + list(jids),
                       input=readme_snippet(), capture_output=True, text=True, env=env,
                       timeout=30, check=True)
    return p.stdout.split("\n")[:len(jids)]


class ReadmeSnippet(TempDirCase):
    def test_snippet_tokens_verify_in_every_time_zone(self):
        # UTC-12 .. UTC+14: the seed's utcnow() recipe fails in all but UTC
        # POSIX TZ strings need no tzdata: UTC+14, UTC-12, UTC-5 with DST rules
        for tz in ("UTC0", "LINT-14", "AOE12", "EST5EDT,M3.2.0,M11.1.0"):
            tokens = snippet_tokens(tz, "alice@localhost", "bob@localhost")
            self.assertEqual(len(tokens), 2)
            for tok, user in zip(tokens, ("alice", "bob")):
                self.assertRegex(tok, r"^[0-9]{40} [A-Za-z0-9+/]{43}=$")
                rc, _, err = run(["verify", "--config", self.conf, user + "@localhost"],
                                 tok.encode() + b"\n")
                self.assertEqual(rc, 0, (tz, err))
                ref = refcheck.Reference(SEED, SECRET)
                self.assertTrue(ref.verify_token(user.encode(), b"localhost", tok.encode()), tz)
            # and for nobody else
            rc, _, _ = run(["verify", "--config", self.conf, "bob@localhost"],
                           tokens[0].encode())
            self.assertEqual(rc, 1)

    def test_snippet_is_the_documented_function(self):
        code = readme_snippet()
        self.assertIn("def make_token(jid, otp_seed, token_secret):", code)
        self.assertIn("secrets", code)
        self.assertNotIn("utcnow", code)


class ReadmeShellExamples(TempDirCase):
    def test_issue_pipe_verify_example(self):
        # README: xtoken issue alice@example.org | xtoken verify --no-replay ... && echo valid
        cmd = ("{x} issue --config {c} alice@localhost | "
               "{x} verify --config {c} --no-replay alice@localhost && echo valid"
               .format(x=XTOKEN, c=self.conf))
        out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "valid\n", out.stderr)

if __name__ == "__main__":
    unittest.main(verbosity=2)
