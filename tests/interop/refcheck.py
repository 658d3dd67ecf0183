#!/usr/bin/python3
"""An independent re-implementation of the reference verifier: Prosody's
mod_auth_token (token_auth_utils.lib.lua, verify_token), step by step, with
pyotp and hmac. Used to show that what `xtoken issue` prints is accepted by
the reference, and to compare verdicts.

Faithful on purpose, including the reference's quirks:
  - the token is the first run of ASCII digits followed by a space, found
    anywhere in the password (string.match is not anchored);
    OTP = its first 8 digits, NONCE = the rest (any length, even empty);
  - the signature is everything after the first space, decoded the way
    Prosody's util.encodings base64.decode does (whitespace skipped, an
    unpadded final group dropped, any other stray character: no result);
  - the OTP is checked for TOTP steps -1, 0, +1 (OTP_DEVIATION = 1);
  - MACs are compared with plain equality (the reference is not constant
    time; this is a test oracle, not a verifier to deploy);
  - nonces are cached per JID and OTP in memory (lost when this exits);
  - any Lua error (no match, no signature) is a refusal.

  refcheck.py --seed S --secret K [--at UNIX_SECONDS] JID  < token
exit 0 accepted, 1 refused. One trailing newline of stdin is ignored.
"""
import argparse
import hashlib
import hmac
import re
import sys
import time

import pyotp

OTP_DEVIATION = 1
OTP_DIGITS = 8
OTP_INTERVAL = 30

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _decode_group(values, n):
    """n sextets -> n - 1 bytes (n = 4 for a full group)."""
    bits = 0
    for i in range(4):
        bits = bits << 6 | (values[i] if i < n else 0)
    return bits.to_bytes(3, "big")[: n - 1]


def prosody_base64_decode(data):
    """Prosody's util.encodings base64.decode on bytes; None where it
    returns nothing."""
    out = bytearray()
    group = []
    for c in data:
        if c == 0:
            break  # a C string ends at NUL
        if c in b"\n\r\t \f\b":
            continue
        if c == ord("="):
            if group:
                out += _decode_group(group, len(group))
            group = []
            continue
        i = _B64.find(bytes([c]))
        if i < 0:
            return None
        group.append(i)
        if len(group) == 4:
            out += _decode_group(group, 4)
            group = []
    return bytes(out)  # an unfinished group without '=' is dropped


class Reference:
    """verify_token() with its per-process nonce cache."""

    def __init__(self, otp_seed, token_secret):
        self.otp_seed = otp_seed
        self.token_secret = token_secret
        self.nonce_cache = {}

    def check_nonce(self, jid, otp_value, nonce):
        # One OTP per JID is remembered: a new OTP wipes the old nonces.
        per_jid = self.nonce_cache.get(jid)
        if per_jid is None or otp_value not in per_jid:
            self.nonce_cache[jid] = {otp_value: {nonce}}
            return True
        if nonce in per_jid[otp_value]:
            return False
        per_jid[otp_value].add(nonce)
        return True

    def totp_verify(self, otp_value, now):
        totp = pyotp.TOTP(self.otp_seed, digits=OTP_DIGITS, interval=OTP_INTERVAL)
        return any(totp.at(now, counter_offset=i).encode() == otp_value
                   for i in range(-OTP_DEVIATION, OTP_DEVIATION + 1))

    def verify_token(self, username, host, password, now=None):
        """password: bytes. True if the reference would accept it."""
        now = int(time.time() if now is None else now)
        match = re.search(rb"([0-9]+) ", password)          # "(%d+) "
        if match is None:
            return False                                     # Lua error
        token = match.group(1)
        otp_value, nonce = token[:8], token[8:]
        rest = re.search(rb" (.+)", password, re.DOTALL)     # " (.+)"
        if rest is None:
            return False                                     # Lua error
        signature = prosody_base64_decode(rest.group(1))
        jid = username + b"@" + host
        if not self.totp_verify(otp_value, now):
            return False
        expected = hmac.new(self.token_secret.encode(), otp_value + nonce + jid,
                            hashlib.sha256).digest()
        if signature != expected:
            return False
        return self.check_nonce(jid, otp_value, nonce)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--at", type=int, help="unix seconds (default: now)")
    parser.add_argument("jid")
    args = parser.parse_args(argv)
    username, _, host = args.jid.encode().partition(b"@")
    password = sys.stdin.buffer.read()
    if password.endswith(b"\n"):
        password = password[:-1]
    ok = Reference(args.seed, args.secret).verify_token(username, host, password, args.at)
    print("accepted" if ok else "refused", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
