#!/usr/bin/python3
"""The token check written the way users write it today: pyotp + hmac,
following mod_auth_token's algorithm (TOTP at steps -1..+1, then the
HMAC-SHA256 signature over OTP || NONCE || JID).

    ref_verify.py SEED SECRET JID TOKENFILE COUNT

Verifies COUNT tokens (cycling through the file) and prints
"<count> <CPU seconds>" (process time, like the C figures); exits 1 if any
token is refused.
"""
import base64
import hashlib
import hmac
import sys
import time

import pyotp

OTP_DIGITS = 8
OTP_INTERVAL = 30
OTP_DEVIATION = 1


def verify_token(jid, password, otp_seed, token_secret):
    token, _, signature_b64 = password.partition(" ")
    otp, nonce = token[:OTP_DIGITS], token[OTP_DIGITS:]
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    totp = pyotp.TOTP(otp_seed, digits=OTP_DIGITS, interval=OTP_INTERVAL)
    if not totp.verify(otp, valid_window=OTP_DEVIATION):
        return False
    expected = hmac.new(token_secret.encode(), (otp + nonce + jid).encode(),
                        hashlib.sha256).digest()
    return hmac.compare_digest(signature, expected)


def main():
    seed, secret, jid, path, count = sys.argv[1:6]
    with open(path) as f:
        tokens = [line.rstrip("\n") for line in f if line.strip()]
    count = int(count)
    start = time.process_time()
    for i in range(count):
        if not verify_token(jid, tokens[i % len(tokens)], seed, secret):
            print("ref_verify: token %d refused" % i, file=sys.stderr)
            sys.exit(1)
    print("%d %.6f" % (count, time.process_time() - start))


if __name__ == "__main__":
    main()
