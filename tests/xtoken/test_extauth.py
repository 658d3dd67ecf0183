#!/usr/bin/python3
"""xtoken extauth through real pipes: ejabberd framing (the only protocol:
--protocol line is refused), robustness (dribbled, huge, empty, truncated and garbage input), users
policies, config reload (SIGHUP, file changes, removal), SIGTERM, and no
stray byte on stdout."""
import os
import random
import signal
import struct
import time
import unittest

from xtlib import (DOMAIN, SECRET, SECRET2, SEED, SEED2, Extauth, TempDirCase, config_text,
                   mint, run, write_config)

JID = "alice@" + DOMAIN
OTHER_COMMANDS = ["setpass:alice:localhost:pw", "tryregister:alice:localhost:pw",
                  "removeuser:alice:localhost", "removeuser3:alice:localhost:pw"]


def token(jid=JID, seed=SEED, secret=SECRET):
    return mint.mint(seed, secret, jid)


class Ejabberd(TempDirCase):
    """ejabberd's protocol: 2-byte big-endian length frames."""

    def start(self, *args, conf=None):
        return Extauth(self, conf or self.conf, *args)

    def encode(self, text):
        if isinstance(text, str):
            text = text.encode()
        return struct.pack(">H", len(text)) + text

    def assert_clean_exit(self, ext, expected_replies=None):
        rc, rest = ext.finish()
        self.assertEqual(rc, 0, ext.stderr())
        self.assertEqual(rest, b"", "stray bytes on stdout")
        if expected_replies is not None:
            self.assertEqual(ext.replies, expected_replies)

    def test_valid_invalid_and_other_commands(self):
        ext = self.start("--no-replay")
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)
        self.assertEqual(ext.ask("auth:alice:localhost:" + token("bob@localhost")), 0)
        self.assertEqual(ext.ask("auth:bob:localhost:" + token()), 0)
        self.assertEqual(ext.ask("auth:alice:example.net:" + token()), 0)
        self.assertEqual(ext.ask("auth:alice:localhost:"), 0)
        self.assertEqual(ext.ask("auth:alice:localhost:not a token"), 0)
        self.assertEqual(ext.ask("auth:alice@localhost:localhost:" + token()), 1)
        for cmd in OTHER_COMMANDS + ["bogus:alice:localhost", "auth", "auth:alice",
                                     "auth:alice:localhost", "isuser", "isuser:alice",
                                     "AUTH:alice:localhost:" + token()]:
            self.assertEqual(ext.ask(cmd), 0, cmd)
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)  # still in sync
        self.assert_clean_exit(ext, 19)

    def test_shifted_digit_forgeries_refused(self):
        # OTP NONCE JID is signed without a separator: with a nonce of any
        # length, a token of "1alice" would also be one of "alice" (the 1
        # moved into the nonce), and one of "bob" whose nonce ends in 12 one
        # of "12bob". The nonce has one length, so both are malformed.
        ext = self.start("--no-replay", "--verbose")
        n32 = "12345678901234567890123456789012"
        one = mint.mint(SEED, SECRET, "1alice@localhost", nonce=n32)
        self.assertEqual(ext.ask("auth:1alice:localhost:" + one), 1)
        self.assertEqual(ext.ask("auth:alice:localhost:" + one[:40] + "1" + one[40:]), 0)
        bob = mint.mint(SEED, SECRET, "bob@localhost", nonce=n32[:30] + "12")
        self.assertEqual(ext.ask("auth:bob:localhost:" + bob), 1)
        self.assertEqual(ext.ask("auth:12bob:localhost:" + bob[:38] + bob[40:]), 0)
        self.assert_clean_exit(ext, 4)
        self.assertEqual(ext.stderr().count("malformed token"), 2, ext.stderr())

    def test_password_is_the_rest_of_the_line(self):
        # A splitter that cuts the password at the next ':' would accept
        # "TOKEN:junk" (it would see only TOKEN); the password is the rest.
        ext = self.start("--no-replay")
        tok = token()
        self.assertEqual(ext.ask("auth:alice:localhost:" + tok + ":junk"), 0)
        self.assertEqual(ext.ask("auth:alice:localhost:" + tok.replace(" ", ":", 1)), 0)
        self.assertEqual(ext.ask("auth:alice:localhost:a:b:c"), 0)
        self.assertEqual(ext.ask("auth:alice:localhost:" + tok), 1)
        self.assert_clean_exit(ext, 4)

    def test_replay_across_requests(self):
        replay_dir = os.path.join(self.dir, "replay")
        write_config(self.conf, config_text(replay=replay_dir))
        ext = self.start()
        tok = token()
        self.assertEqual(ext.ask("auth:alice:localhost:" + tok), 1)
        self.assertEqual(ext.ask("auth:alice:localhost:" + tok), 0)
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)
        self.assert_clean_exit(ext, 3)
        self.assertTrue(os.listdir(replay_dir))  # the store lives where the config says

    def test_unusable_replay_store_answers_no_logs_once(self):
        not_a_dir = os.path.join(self.dir, "store-is-a-file")
        with open(not_a_dir, "w") as f:
            f.write("x")
        write_config(self.conf, config_text(replay=not_a_dir))
        ext = self.start("--verbose")
        for _ in range(4):
            self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 0)
        self.assertEqual(ext.ask("isuser:alice:localhost"), 1)  # needs no store
        self.assertEqual(ext.stderr().count("cannot check tokens"), 1, ext.stderr())
        self.assertEqual(ext.ask("auth:alice:localhost:" + "junk"), 0)  # refusals still work
        self.assert_clean_exit(ext, 6)

    def test_isuser_policies(self):
        users = os.path.join(self.dir, "users")
        with open(users, "w") as f:
            f.write("alice@localhost\nbob\n")
        expectations = {
            "any": {"alice": 1, "zed": 1, "root": 1},
            "nss": {"alice": 0, "zed": 0, "root": 1},
            users: {"alice": 1, "bob": 1, "zed": 0, "root": 0},
        }
        for policy, answers in expectations.items():
            ext = self.start("--no-replay", "--users", policy)
            for user, yes in answers.items():
                self.assertEqual(ext.ask("isuser:%s:localhost" % user), yes, (policy, user))
            self.assertEqual(ext.ask("isuser:alice:example.net"), 0, policy)
            self.assertEqual(ext.ask("isuser:al ice:localhost"), 0, policy)
            self.assert_clean_exit(ext)

    def test_dribbled_a_byte_at_a_time(self):
        ext = self.start("--no-replay")
        requests = [self.encode("auth:alice:localhost:" + token()),
                    self.encode("isuser:alice:localhost"),
                    self.encode("auth:bob:localhost:" + token())]
        for data in requests:
            for i in range(len(data)):
                ext.write(data[i:i + 1])
                if i % 16 == 0:
                    time.sleep(0.001)
        self.assertEqual([ext.reply(), ext.reply(), ext.reply()], [1, 1, 0])
        # several requests in one write are answered in order
        ext.write(b"".join(requests))
        self.assertEqual([ext.reply(), ext.reply(), ext.reply()], [1, 1, 0])
        self.assert_clean_exit(ext, 6)

    def test_garbage_is_answered_no_and_keeps_sync(self):
        ext = self.start("--no-replay")
        rng = random.Random(1234)
        garbage = [b"\x00", b"\xff\xfe\xfd", b"auth:\x00alice:localhost:x",
                   b"auth:alice\x00:localhost:" + token().encode(), b":::", b"\r",
                   "auth:älice:localhost:x".encode()]
        garbage += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
                    .replace(b"\n", b"") or b"x" for _ in range(50)]
        for data in garbage:
            self.assertEqual(ext.ask(data), 0, data)
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)
        self.assert_clean_exit(ext, len(garbage) + 1)

    def test_eof_mid_request_exits_cleanly(self):
        ext = self.start("--no-replay")
        self.assertEqual(ext.ask("isuser:alice:localhost"), 1)
        ext.write(self.encode("auth:alice:localhost:" + token())[:-3])
        self.assert_clean_exit(ext, 1)

    def test_sigterm_exits_cleanly(self):
        ext = self.start("--no-replay")
        self.assertEqual(ext.ask("isuser:alice:localhost"), 1)
        ext.write(self.encode("isuser:alice:localhost")[:4])  # even mid-request
        time.sleep(0.1)
        ext.signal(signal.SIGTERM)
        rc, rest = ext.wait_exit()
        self.assertEqual((rc, rest), (0, b""))

    def test_config_problems_answer_no_and_keep_running(self):
        os.chmod(self.conf, 0o644)  # unsafe: must be refused
        ext = self.start("--no-replay", "--verbose")
        for _ in range(3):
            self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 0)
            self.assertEqual(ext.ask("isuser:alice:localhost"), 0)
        self.assertTrue(ext.alive())
        self.assertEqual(ext.stderr().count("config not loaded"), 1, ext.stderr())
        os.chmod(self.conf, 0o600)  # fixed: picked up within a second, no signal
        time.sleep(1.1)
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)
        os.unlink(self.conf)  # removed: answers no, keeps running
        time.sleep(1.1)
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 0)
        self.assertEqual(ext.ask("isuser:alice:localhost"), 0)
        self.assertTrue(ext.alive())
        write_config(self.conf, config_text())  # restored: works again
        time.sleep(1.1)
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)
        self.assert_clean_exit(ext)
        err = ext.stderr()
        for secret in (SEED, SECRET):
            self.assertNotIn(secret, err)

    def test_missing_config_at_start(self):
        ext = self.start("--no-replay", conf=os.path.join(self.dir, "nope.conf"))
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 0)
        self.assertTrue(ext.alive())
        self.assert_clean_exit(ext, 1)

    def test_sighup_reloads(self):
        ext = self.start("--no-replay", "--verbose")
        new_jid = "carol@example.net"
        self.assertEqual(ext.ask("auth:carol:example.net:" + token(new_jid, SEED2, SECRET2)), 0)
        # the signal reloads at once (the file check alone may wait a second)
        old = os.stat(self.conf)
        text = config_text(domains=[(DOMAIN, SEED, SECRET), ("example.net", SEED2, SECRET2)])
        write_config(self.conf, text)
        ext.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "(SIGHUP)" not in ext.stderr() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertIn("loaded (SIGHUP)", ext.stderr())
        self.assertEqual(ext.ask("auth:carol:example.net:" + token(new_jid, SEED2, SECRET2)), 1)
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)
        self.assertNotEqual(os.stat(self.conf).st_ino, old.st_ino)
        self.assert_clean_exit(ext, 3)

    def test_signals_during_traffic_never_desync(self):
        # SIGHUP interrupts reads (EINTR) and reloads; every request still
        # gets exactly one right answer, in order
        ext = self.start("--no-replay")
        good = self.encode("auth:alice:localhost:" + token())
        bad = self.encode("auth:bob:localhost:" + token())
        self.assertEqual(ext.ask("isuser:alice:localhost"), 1)  # handlers installed by now
        answers = []
        for i in range(300):
            if i % 7 == 0:
                ext.signal(signal.SIGHUP)
            data = good if i % 2 else bad
            if i % 5 == 0:  # split across writes, a signal in between
                ext.write(data[:3])
                ext.signal(signal.SIGHUP)
                ext.write(data[3:])
            else:
                ext.write(data)
            answers.append(ext.reply())
        self.assertEqual(answers, [i % 2 for i in range(300)])
        self.assertTrue(ext.alive())
        self.assert_clean_exit(ext, 301)

    def test_no_log_noise_on_success(self):
        ext = self.start("--no-replay")
        for _ in range(20):
            self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)
        self.assert_clean_exit(ext, 20)
        # Nothing per login without --verbose. Where no syslog daemon listens
        # (test_logdest.py) the start-up lines go to stderr, and only they.
        lines = ext.stderr().splitlines()
        startup = ["xtoken: no syslog socket at /dev/log: logging to standard error",
                   "xtoken: config %s loaded (start), replay off" % self.conf]
        self.assertIn(lines, ([], startup), "log lines on success")

    def test_round_trip_time(self):
        ext = self.start("--no-replay")
        frames = [self.encode("auth:alice:localhost:" + token()) for _ in range(50)]
        n = 2000
        start = time.perf_counter()
        for i in range(n):
            ext.write(frames[i % 50])
            ext.reply()
        per_request = (time.perf_counter() - start) / n
        print("\n    extauth round trip (Python client): %.1f us" % (per_request * 1e6), end=" ")
        self.assertLess(per_request, 0.005)
        self.assert_clean_exit(ext, n)

    def test_zero_length_frame_ends_it(self):
        ext = self.start("--no-replay")
        self.assertEqual(ext.ask("isuser:alice:localhost"), 1)
        ext.write(b"\x00\x00" + self.encode("isuser:alice:localhost"))
        rc, rest = ext.wait_exit()
        self.assertEqual((rc, rest), (0, b""))

    def test_largest_frame(self):
        ext = self.start("--no-replay")
        for text in ("auth:alice:localhost:" + "A" * (65535 - 21), "x" * 65535,
                     "isuser:alice:" + "l" * (65535 - 13)):
            self.assertEqual(len(text), 65535)
            self.assertEqual(ext.ask(text), 0)
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)
        self.assert_clean_exit(ext, 4)

    def test_eof_inside_the_length(self):
        ext = self.start("--no-replay")
        ext.write(b"\x00")
        self.assert_clean_exit(ext, 0)

    def test_length_covers_exactly_the_frame(self):
        # a frame whose text is a valid request followed by more bytes, and a
        # length that stops short: each frame is exactly its length, no more
        ext = self.start("--no-replay")
        tok = token()
        self.assertEqual(ext.ask("auth:alice:localhost:" + tok + "\n"), 0)
        full = ("auth:alice:localhost:" + tok).encode()
        ext.write(struct.pack(">H", len(full) - 1) + full[:-1])
        self.assertEqual(ext.reply(), 0)
        self.assertEqual(ext.ask(full), 1)
        self.assert_clean_exit(ext, 3)


    def test_newline_in_a_password_is_one_request(self):
        # The shape of the attack on the removed line protocol: a password
        # with a newline and a valid request after it. In a frame it is one
        # request (refused: not a token) with one reply; the next request
        # gets its own answer, never a stale one.
        ext = self.start("--no-replay")
        tok = token()
        self.assertEqual(ext.ask("auth:alice:localhost:x\nauth:alice:localhost:" + tok), 0)
        self.assertEqual(ext.ask("auth:alice:localhost:x\n1"), 0)
        self.assertEqual(ext.ask("auth:bob:localhost:" + tok), 0)
        self.assertEqual(ext.ask("auth:alice:localhost:" + tok), 1)
        self.assert_clean_exit(ext, 4)


class LineProtocolRemoved(TempDirCase):
    """--protocol line answered twice to a password with a newline in it
    (a caller that expects one answer then reads a stale "1" for the next
    user's request): it is refused at start, naming what to use instead."""

    def test_refused_with_exit_2_and_the_alternatives(self):
        for args in (["--protocol", "line"], ["--protocol=line"]):
            rc, out, err = run(["extauth", "--config", self.conf] + args,
                               stdin=b"auth:alice:localhost:x\n1\n")
            self.assertEqual(rc, 2, args)
            self.assertEqual(out, b"", args)  # not one answer
            self.assertEqual(err.count("\n"), 1, err)
            self.assertTrue(err.startswith("xtoken: extauth: --protocol line was removed"), err)
            for alternative in ("ejabberd", "mod_auth_xtoken", "lua-xtoken"):
                self.assertIn(alternative, err)

    def test_other_protocols_refused_ejabberd_accepted(self):
        rc, out, err = run(["extauth", "--config", self.conf, "--protocol", "generic"])
        self.assertEqual((rc, out), (2, b""))
        self.assertIn("--protocol wants ejabberd, got 'generic'", err)
        ext = Extauth(self, self.conf, "--protocol", "ejabberd", "--no-replay")
        self.assertEqual(ext.ask("auth:alice:localhost:" + token()), 1)
        rc, rest = ext.finish()
        self.assertEqual((rc, rest), (0, b""))

    def test_help_names_no_line_protocol(self):
        rc, out, _ = run(["extauth", "--help"])
        self.assertEqual(rc, 0)
        self.assertNotIn(b"ejabberd|line", out)
        self.assertNotIn(b"mod_auth_external", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
