#!/usr/bin/python3
"""Client side of bench/prosody_storm.sh: a login storm against a Prosody on
127.0.0.1 and an unrelated connection that measures how long the server
makes it wait meanwhile. Raw sockets, no TLS, no XMPP library: the same
client for every authentication provider, so the provider is what differs.

    prosody_storm.py storm --port P --domain D --prefix storm --count 400
        --clients 8 --rounds 3 (--password PW | --config CONF)
        [--probe-user storm0] [--probe-interval-ms 2]
    prosody_storm.py user-exists --port P --domain D --count 10000
        (--password PW | --config CONF) [--probe-user storm0]
    prosody_storm.py login --port P --jid U@D (--password PW | --config CONF)
    prosody_storm.py summary --samples FILE [--samples FILE...]

storm: each round logs in users PREFIX1..PREFIX<count> once each (SASL
PLAIN, auth only, then the stream is closed), --clients at a time. With
--config every login gets a fresh token for its user, all of a round's
tokens minted before the round starts (never inside the timed part). A
separate process (the probe) logged in beforehand as --probe-user sends
XEP-0199 pings to the server one after the other, --probe-interval-ms
apart, and records each round trip: the wait of a connection that has
nothing to do with the storm. Prints "key value" lines: logins, seconds,
logins_per_s, probe p50/p99 idle (the second before the first round) and
during the storm (pings sent while a round ran). Exit 1 if a login fails.
With --samples FILE it also appends each probe wait to FILE ("idle SECONDS"
or "storm SECONDS"); summary prints the percentiles over such files (runs
interleaved across servers are summed up that way).

user-exists: logs in as --probe-user and asks the benchmark's Prosody module
(bench/prosody_storm_mod.lua, loaded only there) to call
usermanager.user_exists --count times in one go; prints its answer.

login: one login; exit 0 accepted, 1 refused (to check that a wrong
password or a tampered token is refused, so the figures mean something).
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time

import pyotp

import xmpp_login_bench  # beside this script: the ejabberd login bench

STREAM_OPEN = ("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
               "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BENCH_NS = "urn:xtoken:bench:user-exists"
FEATURES_END = b"</stream:features>"
OUTCOME = re.compile(rb"<(success|failure)\b[^>]*?(/>|>.*?</\1>)", re.S)


def config_keys(path):
    """The first otp_seed and token_secret of a pam_xtoken config."""
    seed, secret = xmpp_login_bench.config_keys(path)
    if not seed or not secret:
        raise SystemExit("prosody_storm: %s has no otp_seed or token_secret" % path)
    return seed, secret


class Credentials:
    """A password per user: the fixed --password, or a fresh token."""

    def __init__(self, password, config):
        self.password = password
        self.keys = config_keys(config) if config else None
        self.totp = pyotp.TOTP(self.keys[0], digits=8, interval=30) if self.keys else None

    def get(self, jid):
        if not self.keys:
            return self.password
        otp = self.totp.now()
        nonce = "".join(secrets.choice("0123456789") for _ in range(32))
        sig = hmac.new(self.keys[1].encode(), (otp + nonce + jid).encode(), hashlib.sha256).digest()
        return otp + nonce + " " + base64.b64encode(sig).decode()


def plain_auth(user, password):
    blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    return ("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL_NS, blob)).encode()


# ---- blocking client (probe, user-exists, login) -----------------------------

class Stream:
    def __init__(self, port, domain):
        self.domain = domain
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_until(self, pattern):
        """Read until pattern (bytes or compiled regex) matches; consume through it."""
        while True:
            m = pattern.search(self.buf) if hasattr(pattern, "search") else None
            if m:
                self.buf = self.buf[m.end():]
                return m
            if not hasattr(pattern, "search") and pattern in self.buf:
                end = self.buf.index(pattern) + len(pattern)
                head, self.buf = self.buf[:end], self.buf[end:]
                return head
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the stream: %r" % self.buf[-300:])
            self.buf += data

    def open(self):
        self.send((STREAM_OPEN % self.domain).encode())
        return self.read_until(FEATURES_END)

    def login(self, user, password):
        features = self.open()
        if b"<mechanism>PLAIN</mechanism>" not in features:
            raise RuntimeError("server does not offer PLAIN: %r" % features[-300:])
        self.send(plain_auth(user, password))
        return self.read_until(OUTCOME).group(1) == b"success"

    def bind(self):
        self.open()
        self.send(b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  b"<resource>bench</resource></bind></iq>")
        self.read_until(re.compile(rb"<iq\b[^>]*id=['\"]bind1['\"].*?(/>|</iq>)", re.S))

    def close(self):
        try:
            self.send(b"</stream:stream>")
        except OSError:
            pass
        self.sock.close()


def session(port, domain, user, creds):
    """A logged-in, bound stream, or SystemExit."""
    stream = Stream(port, domain)
    if not stream.login(user, creds.get(user + "@" + domain)):
        raise SystemExit("prosody_storm: %s@%s was refused" % (user, domain))
    stream.bind()
    return stream


def ping(stream, n):
    """One XEP-0199 ping to the server; its round trip in seconds."""
    pid = "p%d" % n
    start = time.monotonic()
    stream.send(("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                 % (pid, stream.domain)).encode())
    stream.read_until(re.compile(rb"<iq\b[^>]*id=['\"]" + pid.encode() + rb"['\"].*?(/>|</iq>)", re.S))
    return start, time.monotonic() - start


def probe_main(a, creds):
    """Child process: ping until stdin closes, then print 'start rtt' lines."""
    stream = session(a.port, a.domain, a.probe_user, creds)
    ping(stream, 0)
    print("READY", flush=True)
    samples = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    interval = a.probe_interval_ms / 1000.0
    n = 1
    while not stop:
        samples.append(ping(stream, n))
        n += 1
        time.sleep(interval)
    stream.close()
    for start, rtt in samples:
        print("%.6f %.6f" % (start, rtt))


# ---- the storm (asyncio, --clients connections at a time) ---------------------

async def storm_login(port, domain, user, password):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        writer.write((STREAM_OPEN % domain).encode())
        buf = b""
        while FEATURES_END not in buf:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed before the features")
            buf += data
        writer.write(plain_auth(user, password))
        buf = b""
        while True:
            m = OUTCOME.search(buf)
            if m:
                break
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed before the SASL outcome")
            buf += data
        writer.write(b"</stream:stream>")
        return m.group(1) == b"success"
    finally:
        writer.close()


async def storm_round(a, logins):
    queue = list(logins)
    queue.reverse()
    failures = []

    async def client():
        while queue:
            user, password = queue.pop()
            try:
                if not await storm_login(a.port, a.domain, user, password):
                    failures.append(user + ": refused")
            except (OSError, ConnectionError) as e:
                failures.append("%s: %s" % (user, e))

    start = time.monotonic()
    await asyncio.gather(*(client() for _ in range(a.clients)))
    return start, time.monotonic(), failures


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def storm_main(a, creds):
    probe = subprocess.Popen([sys.executable, os.path.abspath(__file__), "probe"] + sys.argv[2:],
                             stdout=subprocess.PIPE, text=True)
    try:
        if probe.stdout.readline().strip() != "READY":
            raise SystemExit("prosody_storm: the probe did not log in")
        time.sleep(1.0)  # idle samples
        windows, failures, logins, cpu = [], [], 0, 0.0
        for _ in range(a.rounds):
            users = ["%s%d" % (a.prefix, i) for i in range(1, a.count + 1)]
            round_logins = [(u, creds.get(u + "@" + a.domain)) for u in users]  # untimed
            cpu_start = time.process_time()
            start, end, failed = asyncio.run(storm_round(a, round_logins))
            cpu += time.process_time() - cpu_start
            windows.append((start, end))
            failures += failed
            logins += len(round_logins)
            time.sleep(0.3)  # let the server settle between rounds
    finally:
        probe.send_signal(signal.SIGTERM)
        out, _ = probe.communicate(timeout=30)
    samples = [tuple(map(float, line.split())) for line in out.split("\n") if line.strip()]
    first = windows[0][0] if windows else 0
    idle = [rtt for start, rtt in samples if start < first]
    busy = [rtt for start, rtt in samples if any(s <= start < e for s, e in windows)]
    seconds = sum(e - s for s, e in windows)
    if a.samples:
        with open(a.samples[0], "a") as f:
            f.writelines("idle %.6f\n" % rtt for rtt in idle)
            f.writelines("storm %.6f\n" % rtt for rtt in busy)
    for failure in failures[:5]:
        print("prosody_storm: login failed: %s" % failure, file=sys.stderr)
    print("logins %d" % logins)
    print("failed %d" % len(failures))
    print("seconds %.6f" % seconds)
    print("logins_per_s %.1f" % (logins / seconds))
    print("client_cpu_s %.6f" % cpu)
    print_waits(idle, busy)
    return 1 if failures else 0


def print_waits(idle, busy):
    ms = lambda v: "%.2f" % (v * 1000)
    print("probe_idle_samples %d" % len(idle))
    print("probe_idle_p50_ms %s" % ms(percentile(idle, 50)))
    print("probe_idle_p99_ms %s" % ms(percentile(idle, 99)))
    print("probe_storm_samples %d" % len(busy))
    print("probe_storm_p50_ms %s" % ms(percentile(busy, 50)))
    print("probe_storm_p99_ms %s" % ms(percentile(busy, 99)))
    print("probe_storm_max_ms %s" % ms(max(busy) if busy else float("nan")))
    if busy:
        print("probe_storm_mean_ms %s" % ms(statistics.mean(busy)))


def summary_main(a):
    waits = {"idle": [], "storm": []}
    for path in a.samples:
        with open(path) as f:
            for line in f:
                phase, rtt = line.split()
                waits[phase].append(float(rtt))
    print_waits(waits["idle"], waits["storm"])
    return 0


def user_exists_main(a, creds):
    stream = session(a.port, a.domain, a.probe_user, creds)
    # the server answers after all the calls: a process per call, traced
    # by strace -f, takes minutes
    stream.sock.settimeout(1800)
    stream.send(("<iq type='get' id='ue1' to='%s'><query xmlns='%s' count='%d' prefix='%s'/></iq>"
                 % (a.domain, BENCH_NS, a.count, a.prefix)).encode())
    m = stream.read_until(re.compile(rb"<iq\b[^>]*id=['\"]ue1['\"].*?(/>|</iq>)", re.S))
    stream.close()
    reply = m.group(0).decode()
    attrs = dict(re.findall(r"(\w+)=['\"]([^'\"]*)['\"]", reply.split("<query", 1)[-1]))
    if "calls" not in attrs:
        raise SystemExit("prosody_storm: no answer from the bench module: %s" % reply[:300])
    calls, seconds = int(attrs["calls"]), float(attrs["seconds"])
    print("calls %d" % calls)
    print("found %s" % attrs["found"])
    print("seconds %.6f" % seconds)
    print("calls_per_s %.1f" % (calls / seconds if seconds > 0 else float("inf")))
    return 0


def login_main(a, creds):
    user = a.jid.split("@", 1)[0]
    password = creds.get(a.jid)
    if a.tamper:
        password = password[:-5] + ("A" if password[-5] != "A" else "B") + password[-4:]
    stream = Stream(a.port, a.domain)
    ok = stream.login(user, password)
    stream.close()
    print("accepted" if ok else "refused")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["storm", "probe", "user-exists", "login", "summary"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--domain", default="localhost")
    ap.add_argument("--prefix", default="storm")
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--password")
    ap.add_argument("--config")
    ap.add_argument("--probe-user", default="storm0")
    ap.add_argument("--probe-interval-ms", type=float, default=2.0)
    ap.add_argument("--jid")
    ap.add_argument("--tamper", action="store_true")
    ap.add_argument("--samples", action="append")
    a = ap.parse_args()
    if a.command == "summary":
        sys.exit(summary_main(a))
    if not a.port:
        ap.error("--port is needed")
    if bool(a.password) == bool(a.config):
        ap.error("give exactly one of --password and --config")
    creds = Credentials(a.password, a.config)
    run = {"storm": storm_main, "probe": probe_main, "user-exists": user_exists_main,
           "login": login_main}[a.command]
    sys.exit(run(a, creds) or 0)


if __name__ == "__main__":
    main()
