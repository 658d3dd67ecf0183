#!/usr/bin/python3
"""The code the docs show, run as written there: the Python issuing snippet
of doc/webapp.md (its tokens must verify with xtoken and with the reference
re-implementation, in any time zone) and the issue | verify round trip of
doc/reference.md."""
import os
import re
import subprocess
import unittest

from xtlib import ROOT, SECRET, SEED, XTOKEN, TempDirCase, config_text, refcheck, run, write_config


def doc_block(doc, marker, lang):
    """The fenced block right after <!-- snippet: marker --> in doc."""
    with open(os.path.join(ROOT, doc)) as f:
        text = f.read()
    tag = "<!-- snippet: %s -->" % marker
    match = re.search(re.escape(tag) + r"\n```" + lang + r"\n(.*?)\n```\n", text, re.S)
    if match is None:
        raise AssertionError("%s has no ```%s block right after %s" % (doc, lang, tag))
    return match.group(1) + "\n"


def python_snippet():
    return doc_block("doc/webapp.md", "python-issue", "python")


# Runs the snippet in a fresh interpreter with a given TZ; prints tokens.
RUNNER = """
import sys
snippet = sys.stdin.read()
namespace = {}
exec(compile(snippet, "doc/webapp.md:python-issue", "exec"), namespace)
for jid in sys.argv[3:]:
    print(namespace["make_token"](jid, sys.argv[1], sys.argv[2]))
"""


def snippet_tokens(tz, *jids):
    env = dict(os.environ, TZ=tz)
    p = subprocess.run(["/usr/bin/python3", "-c", RUNNER, SEED, SECRET] + list(jids),
                       input=python_snippet(), capture_output=True, text=True, env=env,
                       timeout=30, check=True)
    return p.stdout.split("\n")[:len(jids)]


class PythonIssuingSnippet(TempDirCase):
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
        code = python_snippet()
        self.assertIn("def make_token(jid, otp_seed, token_secret):", code)
        self.assertIn("secrets", code)
        self.assertNotIn("utcnow", code)


# `xtoken` in the doc's command lines becomes the built tool reading a test
# config: the line itself runs unchanged.
SHELL_PRELUDE = 'xtoken() { sub=$1; shift; "$XTOKEN" "$sub" --config "$CONF" "$@"; }\n'


class ShellRoundTrip(TempDirCase):
    def roundtrip_line(self):
        lines = [l[2:] for l in doc_block("doc/reference.md", "shell-roundtrip", "").splitlines()
                 if l.startswith("$ xtoken issue ")]
        self.assertEqual(len(lines), 1, "one `$ xtoken issue ... | xtoken verify` line")
        return lines[0]

    def run_line(self, line):
        env = dict(os.environ, XTOKEN=XTOKEN, CONF=self.conf)
        return subprocess.run(["sh", "-c", SHELL_PRELUDE + line], capture_output=True,
                              text=True, timeout=30, env=env)

    def test_issue_pipe_verify_as_written(self):
        write_config(self.conf, config_text(domains=(("example.org", SEED, SECRET),)))
        line = self.roundtrip_line()
        self.assertIn("| xtoken verify --no-replay", line)
        out = self.run_line(line)
        self.assertEqual(out.stdout, "valid\n", out.stderr)
        self.assertEqual(out.returncode, 0)

    def test_the_same_line_fails_without_keys_for_the_domain(self):
        # the test config knows only localhost: the line must not print valid
        out = self.run_line(self.roundtrip_line())
        self.assertEqual(out.stdout, "")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("unknown domain", out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
