#!/usr/bin/python3
"""A reference ejabberd extauth helper written the usual way (struct.unpack
framing, pyotp + hmac for the token check), to compare `xtoken extauth`
with what users run today.

    ref_extauth.py SEED SECRET

Answers auth:U:S:TOKEN with the token check, isuser with yes, the rest no.
"""
import struct
import sys

# The same check as the verification benchmark (pyotp + hmac, mod_auth_token's
# algorithm): one reference, measured in-process there and behind a pipe here.
from ref_verify import verify_token


def read_request():
    header = sys.stdin.buffer.read(2)
    if len(header) < 2:
        return None
    (length,) = struct.unpack(">H", header)
    return sys.stdin.buffer.read(length).decode("utf-8", "replace")


def write_reply(ok):
    sys.stdout.buffer.write(struct.pack(">HH", 2, 1 if ok else 0))
    sys.stdout.buffer.flush()


def main():
    seed, secret = sys.argv[1], sys.argv[2]
    while True:
        request = read_request()
        if request is None:
            break
        parts = request.split(":", 3)
        if parts[0] == "auth" and len(parts) == 4:
            jid = "%s@%s" % (parts[1], parts[2])
            write_reply(verify_token(jid, parts[3], seed, secret))
        elif parts[0] == "isuser":
            write_reply(True)
        else:
            write_reply(False)


if __name__ == "__main__":
    main()
