#!/usr/bin/python3
"""Sequential SASL PLAIN logins against an XMPP server on 127.0.0.1, over a
raw socket (no TLS, no XMPP library), the same client for every backend so
the backends are what differs.

    xmpp_login_bench.py --port P --jid U@D --count N (--password P | --config CONF)
    xmpp_login_bench.py --port P --jid U@D --register --password P

With --config, a fresh token is minted (pyotp + hmac, from the config's first
otp_seed and token_secret) before each login, outside the timed part.
Prints "<logins> <seconds>" (the sum of the timed parts); exit 1 if any login
is refused.
"""
import argparse
import base64
import hashlib
import hmac
import re
import secrets
import socket
import sys
import time

import pyotp

STREAM_OPEN = ("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
               "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
OUTCOME = re.compile(rb"<(success|failure)\b[^>]*?(/>|>.*?</\1>)", re.S)
IQ_RESULT = re.compile(rb"<iq\b[^>]*type=['\"](result|error)['\"].*?(/>|</iq>)", re.S)


def read_until(sock, buf, pattern, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        m = pattern.search(buf) if hasattr(pattern, "search") else (pattern in buf)
        if m:
            return buf, m
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the stream: %r" % buf[-300:])
        buf += data


def open_stream(port, domain):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall((STREAM_OPEN % domain).encode())
    buf, _ = read_until(sock, b"", b"</stream:features>")
    return sock, buf


def login(port, jid, password):
    user, domain = jid.split("@", 1)
    sock, buf = open_stream(port, domain)
    try:
        if b"<mechanism>PLAIN</mechanism>" not in buf:
            raise RuntimeError("server does not offer PLAIN: %r" % buf[-300:])
        blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        sock.sendall(("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL_NS, blob)).encode())
        _, m = read_until(sock, b"", OUTCOME)
        sock.sendall(b"</stream:stream>")
        return m.group(1) == b"success"
    finally:
        sock.close()


def register(port, jid, password):
    user, domain = jid.split("@", 1)
    sock, _ = open_stream(port, domain)
    try:
        sock.sendall(("<iq type='set' id='reg1'><query xmlns='jabber:iq:register'>"
                      "<username>%s</username><password>%s</password></query></iq>"
                      % (user, password)).encode())
        _, m = read_until(sock, b"", IQ_RESULT)
        return m.group(1) == b"result"
    finally:
        sock.close()


def config_keys(path):
    """The first otp_seed and token_secret of a pam_xtoken config (None if absent)."""
    seed = secret = None
    with open(path) as f:
        for line in f:
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if key == "otp_seed" and seed is None:
                seed = value
            elif key == "token_secret" and secret is None:
                secret = value
    return seed, secret


def mint(seed, secret, jid):
    otp = pyotp.TOTP(seed, digits=8, interval=30).now()
    nonce = "".join(secrets.choice("0123456789") for _ in range(32))
    sig = hmac.new(secret.encode(), (otp + nonce + jid).encode(), hashlib.sha256).digest()
    return otp + nonce + " " + base64.b64encode(sig).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--jid", required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--password")
    ap.add_argument("--config")
    ap.add_argument("--register", action="store_true")
    a = ap.parse_args()
    if a.register:
        ok = register(a.port, a.jid, a.password)
        print("registered" if ok else "registration refused")
        sys.exit(0 if ok else 1)
    keys = config_keys(a.config) if a.config else None
    total = 0.0
    for i in range(a.count):
        password = mint(keys[0], keys[1], a.jid) if keys else a.password
        start = time.perf_counter()
        ok = login(a.port, a.jid, password)
        total += time.perf_counter() - start
        if not ok:
            print("xmpp_login_bench: login %d refused" % i, file=sys.stderr)
            sys.exit(1)
    print("%d %.6f" % (a.count, total))


if __name__ == "__main__":
    main()
