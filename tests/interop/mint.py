#!/usr/bin/python3
"""Mint a mod_auth_token-format token: the seed's Python recipe (the
reference module's README, collective.converse) fixed for Python 3.

The recipe's bugs, fixed here:
  - `timecode(datetime.utcnow())`: pyotp reads a naive datetime as LOCAL
    time, so the OTP is off by the UTC offset unless TZ=UTC. We use unix
    seconds (`TOTP.at(t)` / `TOTP.now()`), which have no time zone.
  - `hmac.new(str, str)` and `b64encode(...)` formatted into a str are
    Python 2: bytes go in, text comes out.
  - `random.randint` for the nonce: `secrets` instead.

  mint.py --seed S --secret K [--at UNIX_SECONDS] [--nonce DIGITS] JID
prints the token. Importable: mint(seed, secret, jid, at=None, nonce=None).
"""
import argparse
import base64
import hashlib
import hmac
import secrets
import sys
import time

import pyotp

OTP_DIGITS = 8
OTP_INTERVAL = 30
NONCE_DIGITS = 32


def random_nonce(n=NONCE_DIGITS):
    return "".join(secrets.choice("0123456789") for _ in range(n))


def mint(otp_seed, token_secret, jid, at=None, nonce=None, digits=OTP_DIGITS,
         interval=OTP_INTERVAL):
    """The token for jid at unix time `at` (default: now)."""
    totp = pyotp.TOTP(otp_seed, digits=digits, interval=interval)
    otp = totp.at(int(time.time() if at is None else at))
    if nonce is None:
        nonce = random_nonce()
    string_to_sign = otp + nonce + jid
    signature = hmac.new(token_secret.encode(), string_to_sign.encode(),
                         hashlib.sha256).digest()
    return otp + nonce + " " + base64.b64encode(signature).decode()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", required=True, help="otp_seed (base32)")
    parser.add_argument("--secret", required=True, help="token_secret (text)")
    parser.add_argument("--at", type=int, help="unix seconds (default: now)")
    parser.add_argument("--nonce", help="nonce digits (default: 32 random)")
    parser.add_argument("jid")
    args = parser.parse_args(argv)
    print(mint(args.seed, args.secret, args.jid, args.at, args.nonce))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
