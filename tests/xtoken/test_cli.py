#!/usr/bin/python3
"""xtoken keygen / issue / verify / check-config / isuser, and the fixed-time
token vectors, checked against the interop minter and reference checker."""
import os
import re
import time
import unittest

from xtlib import (DOMAIN, SECRET, SECRET2, SEED, SEED2, TempDirCase, config_text, mint,
                   refcheck, run, write_config)

AT = 1700000000  # step 56666666 (starts at 1699999980)
NONCE = "12345678901234567890123456789012"
# Known answers from the seed's recipe (pyotp + hmac, tests/interop/mint.py)
# for alice@localhost with SEED/SECRET and NONCE, written out so that a
# change in pyotp or in our minter cannot move both sides at once.
VECTORS = {
    -2: "0376454712345678901234567890123456789012 8NHPi+ufp12leVdsSmL8QpE9SvzwgZxw4nBHDN6G1x4=",
    -1: "2388080812345678901234567890123456789012 K7JzkZGw03/2hpUcn1I0CcOY55pww2nM/Xj30ty9dS4=",
    0: "0984684712345678901234567890123456789012 21sam8zB2UaPCvG5TKC49e+3X6d59wrBJo1z4lxv5cE=",
    1: "0514221212345678901234567890123456789012 H+0UIfjQqzqzEGTQG668KvxBwxEjN2kusaKBa92xB+o=",
    2: "0980810512345678901234567890123456789012 BGMugdbhjeGAV7ZvzKB5hveQyWWcc4BWuX/rDezi654=",
}
TOKEN_RE = re.compile(r"^[0-9]{8}[0-9]{32} [A-Za-z0-9+/]{43}=$")


class Help(TempDirCase):
    def test_every_command_has_help(self):
        for cmd in ("keygen", "issue", "verify", "check-config", "isuser", "extauth"):
            rc, out, err = run([cmd, "--help"])
            self.assertEqual(rc, 0, cmd)
            self.assertIn(b"Usage: xtoken " + cmd.encode(), out)
            self.assertEqual(err, "")

    def test_top_level(self):
        rc, out, _ = run(["--help"])
        self.assertEqual(rc, 0)
        for cmd in (b"keygen", b"issue", b"verify", b"check-config", b"isuser", b"extauth"):
            self.assertIn(cmd, out)
        rc, out, _ = run(["--version"])
        self.assertEqual(rc, 0)
        self.assertRegex(out.decode(), r"^xtoken \d+\.\d+")
        rc, out, err = run([])
        self.assertEqual(rc, 2)
        self.assertEqual(out, b"")

    def test_usage_errors_are_one_line_exit_2(self):
        cases = [["frobnicate"], ["issue"], ["issue", "--bogus", "a@b"],
                 ["issue", "--config"], ["issue", "--at", "-5", "a@localhost"],
                 ["issue", "--at", "12x", "a@localhost"], ["verify", "a@b", "extra"],
                 ["keygen", "--no-replay"], ["extauth", "--protocol", "xml"],
                 ["extauth", "--users", "relative/path"], ["isuser", "--users", "x", "a@b"],
                 ["keygen", "--domain", "bad domain"]]
        for args in cases:
            rc, out, err = run(args)
            self.assertEqual(rc, 2, args)
            self.assertEqual(out, b"", args)
            self.assertEqual(err.count("\n"), 1, (args, err))
            self.assertTrue(err.startswith("xtoken: "), (args, err))


class Keygen(TempDirCase):
    def test_keygen_makes_a_working_config(self):
        rc, out, _ = run(["keygen", "--domain", "example.org"])
        self.assertEqual(rc, 0)
        text = out.decode()
        seed = re.search(r"^otp_seed = ([A-Z2-7]+)$", text, re.M).group(1)
        secret = re.search(r"^token_secret = (\S+)$", text, re.M).group(1)
        self.assertIn("[example.org]\n", text)
        self.assertEqual(len(seed), 32)
        self.assertGreaterEqual(len(secret), 32)
        write_config(self.conf, "replay = off\n" + text)
        rc, out, _ = run(["check-config", "--config", self.conf])
        self.assertEqual(rc, 0)
        self.assertIn(b"domain example.org: 1 otp_seed, 1 token_secret", out)
        # the web app's side (pyotp recipe) with the printed values verifies
        token = mint.mint(seed, secret, "bob@example.org")
        rc, _, err = run(["verify", "--config", self.conf, "bob@example.org"], token.encode())
        self.assertEqual(rc, 0, err)

    def test_keys_are_fresh(self):
        outs = {run(["keygen"])[1] for _ in range(3)}
        self.assertEqual(len(outs), 3)
        self.assertNotIn(b"[", b"".join(outs))  # no --domain: global scope


class Vectors(TempDirCase):
    def verify(self, token, jid="alice@localhost", at=AT, extra=()):
        return run(["verify", "--config", self.conf, "--at", str(at)] + list(extra) + [jid],
                   token.encode() + b"\n")

    def test_known_answers_match_the_recipe(self):
        for step, token in VECTORS.items():
            self.assertEqual(mint.mint(SEED, SECRET, "alice@localhost", AT + 30 * step, NONCE),
                             token)
        self.assertTrue(VECTORS[0].startswith("09846847"))  # keeps its leading zero

    def test_steps_minus_one_to_plus_one_verify(self):
        for step in (-1, 0, 1):
            rc, out, err = self.verify(VECTORS[step])
            self.assertEqual((rc, out, err), (0, b"", ""), step)

    def test_steps_two_away_are_refused_with_the_reason(self):
        rc, _, err = self.verify(VECTORS[-2])
        self.assertEqual(rc, 1)
        self.assertIn("expired", err)
        rc, _, err = self.verify(VECTORS[2])
        self.assertEqual(rc, 1)
        self.assertIn("not yet valid", err)

    def test_window_edges(self):
        # minted in step s: valid while 30(s-1) <= now < 30(s+2)
        step_start = AT - AT % 30
        self.assertEqual(self.verify(VECTORS[0], at=step_start - 30)[0], 0)
        self.assertEqual(self.verify(VECTORS[0], at=step_start - 31)[0], 1)
        self.assertEqual(self.verify(VECTORS[0], at=step_start + 59)[0], 0)
        self.assertEqual(self.verify(VECTORS[0], at=step_start + 60)[0], 1)

    def test_refusals_and_reasons(self):
        token = VECTORS[0]
        cases = [
            (token, "bob@localhost", "bad signature"),
            (token, "alice@example.net", "unknown domain"),
            (token.replace(" ", "  "), "alice@localhost", "malformed"),
            (token[:-1], "alice@localhost", "malformed"),
            ("", "alice@localhost", "malformed"),
            ("x" * 300, "alice@localhost", "malformed"),
            (token.replace("=", "A"), "alice@localhost", None),
            ("1" + token[1:], "alice@localhost", None),
        ]
        for tok, jid, reason in cases:
            rc, out, err = self.verify(tok, jid)
            self.assertEqual(rc, 1, (tok, jid, err))
            self.assertEqual(out, b"")
            self.assertTrue(err.startswith("xtoken: verify: refused: "), err)
            self.assertEqual(err.count("\n"), 1)
            if reason:
                self.assertIn(reason, err)
            self.assertNotIn(tok[:40], err) if tok else None  # never echo the token

    def test_shifted_digit_forgeries_refused(self):
        # the nonce has one length (nonce_digits, default 32), so digits
        # cannot move between the nonce and a localpart that starts with
        # digits: 1alice's token is not alice's, bob's is not 12bob's
        n32 = "12345678901234567890123456789012"
        one = mint.mint(SEED, SECRET, "1alice@localhost", AT, n32)
        self.assertEqual(self.verify(one, "1alice@localhost")[0], 0)
        rc, _, err = self.verify(one[:40] + "1" + one[40:], "alice@localhost")
        self.assertEqual((rc, err), (1, "xtoken: verify: refused: malformed token\n"))
        bob = mint.mint(SEED, SECRET, "bob@localhost", AT, n32[:30] + "12")
        self.assertEqual(self.verify(bob, "bob@localhost")[0], 0)
        rc, _, err = self.verify(bob[:38] + bob[40:], "12bob@localhost")
        self.assertEqual((rc, err), (1, "xtoken: verify: refused: malformed token\n"))

    def test_nonce_digits_config(self):
        write_config(self.conf, config_text(extra="nonce_digits = 20"))
        n20 = mint.mint(SEED, SECRET, "alice@localhost", AT, "1" * 20)
        self.assertEqual(self.verify(n20)[0], 0)
        self.assertEqual(self.verify(VECTORS[0])[1:], (b"", "xtoken: verify: refused: malformed token\n"))
        rc, out, _ = run(["check-config", "--config", self.conf])
        self.assertEqual(rc, 0)
        self.assertIn(b"nonce_digits 20", out)
        rc, out, _ = run(["issue", "--config", self.conf, "alice@localhost"])
        self.assertRegex(out.decode(), r"^[0-9]{28} [A-Za-z0-9+/]{43}=\n$")

    def test_reasons_say_how_far_off(self):
        # a 2-minute clock skew must not look like a time-zone bug of hours
        rc, _, err = self.verify(VECTORS[0], at=AT + 150)
        self.assertEqual(rc, 1)
        self.assertIn("expired: minted about 170 s ago, valid for 60 s", err)
        rc, _, err = self.verify(VECTORS[0], at=AT - 150)
        self.assertIn("not yet valid: minted about 130 s ahead of this server's clock", err)
        rc, _, err = self.verify(VECTORS[0], "bob@localhost")
        self.assertIn("bad signature (a wrong token_secret, or a token minted for another JID "
                      "or domain)", err)

    def test_config_errors_never_echo_values(self):
        for text, why in [
                ("otp_seed = %s\ntoken_secret: %s=tail\n" % (SEED, SECRET),
                 ":2: malformed line (expected key = value)"),
                ("otp_seed = XVGR73KMZH2M4XMY\ntoken_secret = %s\n" % SECRET,
                 ":1: otp_seed is the example seed published"),
                ("otp_seed = %s\ntoken_secret = JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7\n" % SEED,
                 ":2: token_secret is the example secret published")]:
            write_config(self.conf, text)
            rc, out, err = run(["check-config", "--config", self.conf])
            self.assertEqual((rc, out), (2, b""), err)
            self.assertIn(why, err)
            self.assertNotIn(SECRET[:8], err)
            self.assertNotIn(SEED[:8], err)
            self.assertEqual(self.verify(VECTORS[0])[0], 2)

    def test_one_trailing_newline_only(self):
        base = ["verify", "--config", self.conf, "--at", str(AT), "alice@localhost"]
        self.assertEqual(run(base, VECTORS[0].encode())[0], 0)
        self.assertEqual(run(base, VECTORS[0].encode() + b"\n")[0], 0)
        self.assertEqual(run(base, VECTORS[0].encode() + b"\n\n")[0], 1)
        self.assertEqual(run(base, VECTORS[0].encode() + b"\r\n")[0], 1)

    def test_replay_store(self):
        replay_dir = os.path.join(self.dir, "replay")
        write_config(self.conf, config_text(replay=replay_dir))
        token = mint.mint(SEED, SECRET, "alice@localhost", nonce=NONCE)

        def verify(tok, *extra):
            return run(["verify", "--config", self.conf] + list(extra) + ["alice@localhost"],
                       tok.encode() + b"\n")

        rc, _, err = verify(token)
        self.assertEqual(rc, 0, err)
        rc, _, err = verify(token)
        self.assertEqual(rc, 1)
        self.assertIn("replayed", err)
        self.assertEqual(verify(token, "--no-replay")[0], 0)
        store = os.path.join(replay_dir, "%d.store" % os.geteuid())
        before = os.stat(store)
        # --at never touches the store: judged by a later time, live entries
        # would look expired and could be overwritten (the token used above
        # would then verify again)
        later = int(time.time()) + 3600
        future = mint.mint(SEED, SECRET, "alice@localhost", at=later)
        for _ in range(2):
            self.assertEqual(verify(future, "--at", str(later))[0], 0)
        self.assertEqual(os.stat(store).st_mtime_ns, before.st_mtime_ns)
        self.assertEqual(verify(token)[0], 1)
        another = mint.mint(SEED, SECRET, "alice@localhost")
        self.assertEqual(verify(another)[0], 0)  # another token is fine

    def test_key_rotation_and_domains(self):
        write_config(self.conf, config_text(domains=[(DOMAIN, SEED, SECRET),
                                                     ("example.net", SEED2, SECRET2)]))
        tok = mint.mint(SEED2, SECRET2, "carol@example.net", AT)
        self.assertEqual(self.verify(tok, "carol@example.net")[0], 0)
        self.assertEqual(self.verify(tok, "carol@localhost")[0], 1)
        self.assertEqual(self.verify(VECTORS[0])[0], 0)


class Issue(TempDirCase):
    def test_issue_verifies_in_the_reference_and_in_xtoken(self):
        for at in (AT, AT + 7, 1234567890):
            rc, out, err = run(["issue", "--config", self.conf, "--at", str(at),
                                "alice@localhost"])
            self.assertEqual(rc, 0, err)
            token = out.decode()
            self.assertTrue(token.endswith("\n") and token.count("\n") == 1)
            token = token[:-1]
            self.assertRegex(token, TOKEN_RE)
            ref = refcheck.Reference(SEED, SECRET)
            self.assertTrue(ref.verify_token(b"alice", b"localhost", token.encode(), at))
            self.assertFalse(ref.verify_token(b"alice", b"localhost", token.encode(), at))
            self.assertFalse(refcheck.Reference(SEED, SECRET).verify_token(
                b"bob", b"localhost", token.encode(), at))
            self.assertFalse(refcheck.Reference(SEED, SECRET).verify_token(
                b"alice", b"localhost", token.encode(), at + 90))
            rc, _, err = run(["verify", "--config", self.conf, "--at", str(at + 30),
                              "alice@localhost"], out)
            self.assertEqual(rc, 0, err)

    def test_issue_now_verifies_now(self):
        rc, out, _ = run(["issue", "--config", self.conf, "alice@localhost"])
        self.assertEqual(rc, 0)
        self.assertEqual(run(["verify", "--config", self.conf, "alice@localhost"], out)[0], 0)

    def test_nonces_are_random_digits(self):
        nonces = set()
        for _ in range(5):
            out = run(["issue", "--config", self.conf, "--at", str(AT), "a@localhost"])[1]
            nonces.add(out[8:40])
        self.assertEqual(len(nonces), 5)

    def test_issue_errors(self):
        for jid in ("alice@example.net", "alice", "@localhost"):
            rc, out, err = run(["issue", "--config", self.conf, jid])
            self.assertEqual(rc, 2, jid)
            self.assertEqual(out, b"")
            self.assertEqual(err.count("\n"), 1)


class CheckConfig(TempDirCase):
    def test_lists_domains_never_secrets(self):
        write_config(self.conf, config_text(domains=[(DOMAIN, SEED, SECRET),
                                                     ("example.net", SEED2, SECRET2)],
                                            extra="window = 2"))
        rc, out, err = run(["check-config", "--config", self.conf])
        self.assertEqual(rc, 0, err)
        text = out.decode()
        self.assertIn("domain localhost: 1 otp_seed, 1 token_secret", text)
        self.assertIn("domain example.net: 1 otp_seed, 1 token_secret", text)
        self.assertIn("replay: off", text)
        for secret in (SEED, SECRET, SEED2, SECRET2):
            self.assertNotIn(secret, text + err)

    def test_bad_configs_exit_2_with_one_line(self):
        cases = [
            (config_text(), 0o644, "mode"),  # other-readable
            (config_text(), 0o620, None),    # group-writable
            ("[localhost]\notp_seed = %s\ntoken_secret\n" % SEED, 0o600, ":3"),
            ("[localhost]\notp_seed = not base32!\ntoken_secret = %s\n" % SECRET, 0o600, None),
            ("bogus_key = 1\n", 0o600, None),
        ]
        for text, mode, hint in cases:
            write_config(self.conf, text, mode)
            rc, out, err = run(["check-config", "--config", self.conf])
            self.assertEqual(rc, 2, (text, oct(mode), out))
            self.assertEqual(err.count("\n"), 1, err)
            if hint:
                self.assertIn(hint, err)
            for secret in (SEED, SECRET):
                self.assertNotIn(secret, err)
            # every command that loads the config refuses the same way
            self.assertEqual(run(["issue", "--config", self.conf, "a@localhost"])[0], 2)
            self.assertEqual(run(["verify", "--config", self.conf, "a@localhost"], b"x")[0], 2)
        rc, _, err = run(["check-config", "--config", os.path.join(self.dir, "missing")])
        self.assertEqual(rc, 2)
        self.assertIn("missing", err)


class IsUser(TempDirCase):
    def isuser(self, jid, *args):
        return run(["isuser", "--config", self.conf] + list(args) + [jid])[0]

    def test_any(self):
        self.assertEqual(self.isuser("anyone@localhost"), 0)
        self.assertEqual(self.isuser("anyone@localhost", "--users", "any"), 0)
        self.assertEqual(self.isuser("anyone@example.net"), 1)
        self.assertEqual(self.isuser("bad user@localhost"), 1)

    def test_nss(self):
        self.assertEqual(self.isuser("root@localhost", "--users", "nss"), 0)
        self.assertEqual(self.isuser("no-such-user-xt@localhost", "--users", "nss"), 1)

    def test_file(self):
        users = os.path.join(self.dir, "users")
        with open(users, "w") as f:
            f.write("alice@localhost\nbob\n")
        self.assertEqual(self.isuser("alice@localhost", "--users", users), 0)
        self.assertEqual(self.isuser("bob@localhost", "--users", users), 0)
        self.assertEqual(self.isuser("carol@localhost", "--users", users), 1)
        self.assertEqual(self.isuser("alice@localhost", "--users", users + ".missing"), 2)
        self.assertEqual(self.isuser("alice@localhost", "--users", "relative"), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
