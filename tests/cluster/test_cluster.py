#!/usr/bin/python3
"""Single use across a cluster: several "nodes" (each its own config file,
the same keys, the same Redis) through `xtoken verify`, the PAM module and
`xtoken extauth`, then the faults. Run by tests/cluster/run.sh, which sets
XTOKEN, PAMCHECK, PAM_MODULE and REDIS_BASE (a private directory whose
`pids` file its EXIT trap uses to stop every redis-server started here, by
pid, should this script die before its own cleanup)."""
import base64
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "xtoken"))
from xtlib import Extauth, mint, write_config  # noqa: E402

XTOKEN = os.environ["XTOKEN"]
PAMCHECK = os.environ["PAMCHECK"]
PAM_MODULE = os.environ["PAM_MODULE"]
BASE = os.environ["REDIS_BASE"]
SEED = "K5UOYGC3OJ2WG4LX"
SECRET = "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
JID = "alice@example.org"
INTERVAL, WINDOW = 30, 1
LIFETIME_MAX = 330  # the longest a token's entry may live (XT_LIFETIME_MAX)
KEY_PREFIX = "xtoken:replay:"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_time(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[19]


class RespError(Exception):
    pass


class Resp:
    """A minimal RESP2 client, to look at what the store wrote."""

    def __init__(self, port, password, db=0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        if password:
            self.cmd("AUTH", password)
        if db:
            self.cmd("SELECT", db)

    def close(self):
        self.sock.close()

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RespError("connection closed")
            self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill(len(self.buf) + 1)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            self._fill(n + 2)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RespError("bad reply %r" % line)


class RedisServer:
    """A redis-server from Debian on 127.0.0.1:<free port> with requirepass
    (in its config file, not on a command line), in its own directory."""

    def __init__(self, name, extra=()):
        self.dir = os.path.join(BASE, name)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        self.socket = os.path.join(self.dir, "redis.sock")
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        conf = os.path.join(self.dir, "redis.conf")
        lines = ["bind 127.0.0.1", "port %d" % self.port, "dir " + self.dir,
                 "requirepass " + self.password, 'save ""', "appendonly no",
                 "daemonize no", "logfile " + os.path.join(self.dir, "redis.log"),
                 "unixsocket " + self.socket, "unixsocketperm 700"] + self.extra
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(["redis-server", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        with open(os.path.join(BASE, "pids"), "a") as f:
            f.write("%d %s\n" % (self.proc.pid, start_time(self.proc.pid)))
        deadline = time.monotonic() + 10
        while True:
            try:
                c = self.client()
                c.cmd("PING")
                c.close()
                return
            except (OSError, RespError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError("redis-server did not start on port %d" % self.port)
                time.sleep(0.05)

    def client(self, db=0):
        return Resp(self.port, self.password, db)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()  # by its own pid
            self.proc.wait()


def node_config(path, url, password, extra=""):
    write_config(path, "otp_seed = %s\ntoken_secret = %s\nreplay = %s\n%s%s\n" % (
        SEED, SECRET, url, "redis_password = %s\n" % password if password else "", extra))
    return path


def token(at=None, jid=JID):
    return mint.mint(SEED, SECRET, jid, at)


def redis_key(tok):
    mac = base64.b64decode(tok.split(" ")[1])
    return KEY_PREFIX + hashlib.sha256(b"pam_xtoken replay v1" + mac).hexdigest()[:32]


def verify(conf, tok, jid=JID):
    p = subprocess.run([XTOKEN, "verify", "--config", conf, jid], input=tok.encode() + b"\n",
                       capture_output=True, timeout=20)
    return p.returncode, p.stderr.decode(errors="replace")


def pam(confdir, service, tok, jid=JID, env=None):
    p = subprocess.run([PAMCHECK, "-c", confdir, "-t", tok, service, jid, "auth"],
                       capture_output=True, timeout=20, env=env)
    return p.stdout.decode().split()[0] if p.stdout else "none", p.stderr.decode()


def wait_for_step_room(seconds=5):
    """Tokens minted now stay in their first TOTP step for the test."""
    left = INTERVAL - time.time() % INTERVAL
    if left < seconds:
        time.sleep(left + 0.05)


class ClusterCase(unittest.TestCase):
    server_name = "nodes"
    timeout_ms = 500

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer(cls.server_name)
        cls.dir = tempfile.mkdtemp(prefix="xt-cluster-", dir=BASE)
        os.chmod(cls.dir, 0o700)

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()

    def conf(self, name, db=1, password=None, url=None, extra=""):
        url = url or "redis://127.0.0.1:%d/%d" % (self.redis.port, db)
        return node_config(os.path.join(self.dir, name + ".conf"), url,
                           self.redis.password if password is None else password,
                           "redis_timeout_ms = %d\n%s" % (self.timeout_ms, extra))

    def pam_dir(self, services):
        confdir = os.path.join(self.dir, "pam.d")
        os.makedirs(confdir, exist_ok=True)
        with open(os.path.join(confdir, "other"), "w") as f:
            f.write("auth required pam_deny.so\n")
        for name, conf in services.items():
            with open(os.path.join(confdir, name), "w") as f:
                f.write("auth required %s conf=%s\n" % (PAM_MODULE, conf))
        return confdir


class TwoNodes(ClusterCase):
    """A token used on one node is refused on the other, by every adapter."""

    def setUp(self):
        self.a = self.conf("node-a")
        self.b = self.conf("node-b")

    def test_verify(self):
        for first, second in ((self.a, self.b), (self.b, self.a)):
            tok = token()
            self.assertEqual(verify(first, tok)[0], 0)
            rc, err = verify(second, tok)
            self.assertEqual((rc, err.strip()), (1, "xtoken: verify: refused: replayed"))

    def test_unix_socket_node(self):
        c = self.conf("node-c", url="redis+unix://" + self.redis.socket)
        # the unix socket reaches db 0: a node on TCP db 0 shares it
        tcp0 = self.conf("node-tcp0", db=0)
        tok = token()
        self.assertEqual(verify(c, tok)[0], 0)
        self.assertEqual(verify(tcp0, tok)[0], 1)
        tok = token()
        self.assertEqual(verify(tcp0, tok)[0], 0)
        self.assertEqual(verify(c, tok)[0], 1)

    def test_pam_two_services(self):
        confdir = self.pam_dir({"node-a": self.a, "node-b": self.b})
        for first, second in (("node-a", "node-b"), ("node-b", "node-a")):
            tok = token()
            self.assertEqual(pam(confdir, first, tok)[0], "auth=PAM_SUCCESS")
            self.assertEqual(pam(confdir, second, tok)[0], "auth=PAM_AUTH_ERR")
            self.assertEqual(pam(confdir, first, tok)[0], "auth=PAM_AUTH_ERR")

    def test_extauth_two_processes(self):
        a, b = Extauth(self, self.a), Extauth(self, self.b)
        for first, second in ((a, b), (b, a)):
            tok = token()
            self.assertEqual(first.ask("auth:alice:example.org:" + tok), 1)
            self.assertEqual(second.ask("auth:alice:example.org:" + tok), 0)
            self.assertEqual(first.ask("auth:alice:example.org:" + tok), 0)
        self.assertEqual(a.finish()[0], 0)
        self.assertEqual(b.finish()[0], 0)

    def test_race_24_verify_processes(self):
        """12 processes per node, one token, released at once: one wins."""
        tok = token()
        procs = [subprocess.Popen([XTOKEN, "verify", "--config", conf, JID],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
                 for conf in [self.a, self.b] * 12]
        for p in procs:  # each blocks reading stdin until it is closed
            p.stdin.write(tok.encode())
        for p in procs:
            p.stdin.close()
        codes = [p.wait(timeout=20) for p in procs]
        errors = []
        for p in procs:
            errors.append(p.stderr.read().decode())
            p.stderr.close()
        self.assertEqual(sorted(codes), [0] + [1] * 23, errors)
        self.assertEqual(sum("refused: replayed" in e for e in errors), 23)

    def test_race_24_pam_processes(self):
        confdir = self.pam_dir({"node-a": self.a, "node-b": self.b})
        tok = token()
        procs = [subprocess.Popen([PAMCHECK, "-c", confdir, "-t", tok, svc, JID, "auth"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                 for svc in ["node-a", "node-b"] * 12]
        results = [p.communicate(timeout=20)[0].decode().split()[0] for p in procs]
        self.assertEqual(results.count("auth=PAM_SUCCESS"), 1, results)
        self.assertEqual(results.count("auth=PAM_AUTH_ERR"), 23, results)


class Keys(ClusterCase):
    """What lands in Redis: one key per accepted token, derived from its MAC,
    expiring neither before the last moment any node could accept the token
    nor after the longest life the config allows; nothing for refusals."""
    server_name = "keys"

    def test_2000_tokens_alternating(self):
        db = 5
        a, b = Extauth(self, self.conf("k-a", db)), Extauth(self, self.conf("k-b", db))
        client = self.redis.client(db)
        wait_for_step_room(20)
        now = int(time.time())
        tokens = [token(now) for _ in range(2000)]
        accepted = []
        for i, tok in enumerate(tokens):
            first, second = (a, b) if i % 2 == 0 else (b, a)
            answers = (first.ask("auth:alice:example.org:" + tok),
                       second.ask("auth:alice:example.org:" + tok))
            self.assertEqual(answers, (1, 0), "token %d" % i)
            accepted.append(tok)
        self.assertEqual(len(accepted), 2000)
        keys = set()
        cursor = b"0"
        while True:
            cursor, batch = client.cmd("SCAN", cursor, "COUNT", 1000)
            keys.update(k.decode() for k in batch)
            if cursor == b"0":
                break
        self.assertEqual(keys, {redis_key(t) for t in accepted})
        step = now // INTERVAL
        last_acceptance = (step + WINDOW + 1) * INTERVAL
        for i, tok in enumerate(accepted):
            key = redis_key(tok)
            expiry = client.cmd("EXPIRETIME", key)
            self.assertGreaterEqual(expiry, last_acceptance, key)
            self.assertLessEqual(expiry, step * INTERVAL + LIFETIME_MAX, key)
            if i % 100 == 0:
                self.assertEqual(client.cmd("GET", key), b"1")
        self.assert_no_token_text(client, accepted)
        client.close()

    def assert_no_token_text(self, client, tokens):
        """No key name or value holds a token, its nonce, OTP or MAC."""
        names = b"\n".join(client.cmd("KEYS", "*"))
        values = b"".join(v or b"" for v in client.cmd("MGET", *names.split(b"\n")))
        blob = names + values
        for tok in tokens[:200]:
            head, sig = tok.split(" ")
            mac = base64.b64decode(sig)
            for piece in (head.encode(), head[8:].encode(), sig.encode(), sig[:20].encode(),
                          mac, mac.hex().encode(), mac[:8].hex().encode()):
                self.assertNotIn(piece, blob)

    def test_refused_tokens_write_nothing(self):
        db = 6
        conf = self.conf("r-a", db)
        client = self.redis.client(db)
        wait_for_step_room(5)
        used = token()
        self.assertEqual(verify(conf, used)[0], 0)
        before = client.cmd("DBSIZE")
        sig = used.split(" ")[1]
        tampered = used[:-20] + ("A" if used[-20] != "A" else "B") + used[-19:]
        refused = [
            (tampered, JID),
            (token(time.time() - 120), JID),  # expired
            (token(time.time() + 120), JID),  # not yet valid
            (token(jid="bob@example.org"), JID),  # another JID's
            ("12345678 " + sig, JID),  # malformed
            ("not a token", JID),
            (used, JID),  # replayed
        ]
        for tok, jid in refused:
            self.assertEqual(verify(conf, tok, jid)[0], 1, tok)
        self.assertEqual(client.cmd("DBSIZE"), before)
        self.assertEqual(before, 1)
        client.close()


class Faults(ClusterCase):
    """Redis stopped, killed, restarted, the wrong password, a replica,
    garbage: always a refusal with the reason, never a hang or a crash,
    never the password in any output, and the same extauth process works
    again once Redis does."""
    server_name = "faults"
    timeout_ms = 300

    def test_stopped_killed_restarted(self):
        conf = self.conf("f-a")
        ext = Extauth(self, conf, "--verbose")
        self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 1)
        confdir = self.pam_dir({"f-a": conf})
        self.redis.signal(signal.SIGSTOP)
        try:
            for what, call, want in (
                    ("extauth", lambda: ext.ask("auth:alice:example.org:" + token()), 0),
                    ("verify", lambda: verify(conf, token())[0], 2),
                    ("PAM", lambda: pam(confdir, "f-a", token())[0],
                     "auth=PAM_AUTHINFO_UNAVAIL")):
                t0 = time.monotonic()
                self.assertEqual(call(), want, what)
                elapsed = time.monotonic() - t0
                # the timeout, plus process start and PAM for verify and PAM
                self.assertGreaterEqual(elapsed, 0.28, what)
                self.assertLess(elapsed, 0.3 + 0.5, what)
        finally:
            self.redis.signal(signal.SIGCONT)
        self.assertIn("no reply within 300 ms", ext.stderr())
        self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 1)

        self.redis.stop()  # SIGKILL
        for _ in range(3):
            t0 = time.monotonic()
            self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 0)
            self.assertLess(time.monotonic() - t0, 0.3)
        self.assertTrue(ext.alive())
        self.assertEqual(ext.ask("isuser:alice:example.org"), 1)  # still answering
        self.assertEqual(ext.stderr().count("connect: Connection refused"), 1)  # logged once
        rc, err = verify(conf, token())
        self.assertEqual(rc, 2)
        self.assertIn("connect: Connection refused", err)

        self.redis.start()  # same port, same password, empty
        self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 1)
        tok = token()
        self.assertEqual(ext.ask("auth:alice:example.org:" + tok), 1)
        self.assertEqual(verify(conf, tok)[0], 1)
        self.assertEqual(ext.finish()[0], 0)

    def test_restart_between_requests(self):
        """A kept connection that the server closed is replaced before the
        next request: no request fails for it."""
        conf = self.conf("f-r")
        ext = Extauth(self, conf)
        self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 1)
        self.redis.stop()
        self.redis.start()
        self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 1)

    def test_wrong_password(self):
        wrong = "wrong-" + secrets.token_urlsafe(12)
        conf = self.conf("f-pw", password=wrong)
        good = self.conf("f-good")
        secrets_seen = (wrong, self.redis.password)
        outputs = []
        rc, err = verify(conf, token())
        self.assertEqual(rc, 2)
        self.assertIn("AUTH: authentication failed", err)
        outputs.append(err)
        for c, want in ((conf, 2), (good, 0)):
            p = subprocess.run([XTOKEN, "check-config", "--config", c], capture_output=True)
            self.assertEqual(p.returncode, want, p.stderr)
            outputs.append(p.stdout.decode() + p.stderr.decode())
        self.assertIn("connected, authenticated, PING answered in", outputs[-1])
        ext = Extauth(self, conf, "--verbose")
        self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 0)
        self.assertEqual(ext.finish()[0], 0)
        outputs.append(ext.stderr())
        self.assertIn("authentication failed", outputs[-1])
        confdir = self.pam_dir({"f-pw": conf})
        env = dict(os.environ, LD_PRELOAD="libpam_wrapper.so", PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=confdir, PAM_WRAPPER_DEBUGLEVEL="2")
        p = subprocess.run([PAMCHECK, "-t", token(), "f-pw", JID, "auth"], capture_output=True,
                           env=env, timeout=20)
        self.assertIn("auth=PAM_AUTHINFO_UNAVAIL", p.stdout.decode())
        outputs.append(p.stderr.decode())
        self.assertIn("AUTH: authentication failed", outputs[-1])
        for out in outputs:
            for secret in secrets_seen:
                self.assertNotIn(secret, out)

    def test_replica_readonly(self):
        replica = RedisServer("replica", ["replicaof 127.0.0.1 %d" % self.redis.port,
                                          "masterauth " + self.redis.password])
        try:
            conf = node_config(os.path.join(self.dir, "f-replica.conf"),
                               "redis://127.0.0.1:%d" % replica.port, replica.password)
            rc, err = verify(conf, token())
            self.assertEqual(rc, 2)
            self.assertIn("read-only replica", err)
            ext = Extauth(self, conf)
            self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 0)
            self.assertTrue(ext.alive())
        finally:
            replica.stop()

    def test_garbage_server(self):
        """A fake server on a Unix socket answers garbage of every kind."""
        path = os.path.join(self.dir, "fake.sock")
        answers = [b"hello\r\n", b"*99999999\r\n", b"$5\r\nab", b":12\r\n:13\r\n",
                   b"-ERR something\r\n", b"\x00\xff" * 2000, b"*2\r\n$3\r\nabc\r\n$1\r\n1\r\n+OK\r\n",
                   b"+OK\r\n" * 10, b"$999999\r\n" + b"x" * 30000, b""]
        served = []
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(16)

        def serve():
            for answer in answers * 2:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(answer)
                except OSError:
                    pass
                served.append(answer)
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        conf = node_config(os.path.join(self.dir, "f-fake.conf"), "redis+unix://" + path, None,
                           "redis_timeout_ms = 300\n")
        try:
            for answer in answers:
                rc, err = verify(conf, token())
                self.assertEqual(rc, 2, (answer[:20], err))
                self.assertIn("xtoken: verify: redis unix:", err)
            ext = Extauth(self, conf)
            for answer in answers:
                self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 0, answer[:20])
            self.assertTrue(ext.alive())
            self.assertEqual(ext.finish()[0], 0)
        finally:
            listener.close()
            thread.join(5)

    def test_check_config_eviction_warning(self):
        conf = self.conf("f-cc")
        client = self.redis.client()
        client.cmd("CONFIG", "SET", "maxmemory", "64mb")
        client.cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        try:
            p = subprocess.run([XTOKEN, "check-config", "--config", conf], capture_output=True)
        finally:
            client.cmd("CONFIG", "SET", "maxmemory-policy", "noeviction")
            client.cmd("CONFIG", "SET", "maxmemory", "0")
            client.close()
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"maxmemory-policy allkeys-lru", p.stdout)
        self.assertIn(b"warning: ", p.stderr)
        self.assertIn(b"can evict replay entries", p.stderr)


def hiredis_major():
    """The hiredis this build compiled against (the Makefile's pkg-config)."""
    out = subprocess.run([os.environ.get("PKG", "pkg-config"), "--modversion", "hiredis"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split(".")[0])


class Hostile(ClusterCase):
    """A hostile Redis (tests/cluster/hostile_redis.py on 127.0.0.1, its own
    process, stopped by pid) answers one command at a time with RESP3, which
    hiredis 1.x parses even on a RESP2 connection, or with 1,000 nested
    arrays: every command the store sends (AUTH, SELECT, TIME, SET; for
    check-config PING, TIME, CONFIG GET, INFO), through `xtoken verify`,
    `xtoken check-config`, the PAM module and a long-lived `xtoken extauth`.
    Each is refused as the store's error with the reason, the process never
    crashes, and the honest answers are accepted (the server is good enough
    for the refusals to be the payloads' doing)."""
    server_name = "hostile-unused"
    PASSWORD = "hostile-" + secrets.token_urlsafe(9)
    TYPE_BYTE = {"double": ",", "boolean": "#", "map": "%", "set": "~", "push": ">",
                 "bignum": "(", "verbatim": "=", "attribute": "|", "null": "_",
                 "blob-error": "!", "double-in-array": ","}
    RESP3_NAME = {"double": "a RESP3 double", "boolean": "a RESP3 boolean", "map": "a RESP3 map",
                  "set": "a RESP3 set", "push": "a RESP3 push", "bignum": "a RESP3 big number",
                  "verbatim": "a RESP3 verbatim string", "null": "a RESP3 null",
                  "double-in-array": "a RESP3 double"}
    PAYLOADS = list(TYPE_BYTE) + ["deep-1000"]

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="xt-hostile-", dir=BASE)
        os.chmod(cls.dir, 0o700)
        portfile = os.path.join(cls.dir, "port")
        cls.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "hostile_redis.py"),
                                     portfile], stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        with open(os.path.join(BASE, "pids"), "a") as f:
            f.write("%d %s\n" % (cls.proc.pid, start_time(cls.proc.pid)))
        deadline = time.monotonic() + 10
        while not os.path.exists(portfile):
            if time.monotonic() > deadline or cls.proc.poll() is not None:
                cls.proc.kill()
                raise AssertionError("hostile_redis.py did not start")
            time.sleep(0.02)
        with open(portfile) as f:
            cls.port = int(f.read())
        cls.v1 = hiredis_major() >= 1

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()  # by its own pid
        cls.proc.wait()

    def control(self, *args):
        c = Resp(self.port, None)
        try:
            return c.cmd(*args)
        finally:
            c.close()

    def plan(self, command, payload):
        self.assertEqual(self.control("XT-PLAN", command, payload), "OK")

    def served(self):
        return self.control("XT-SERVED")

    def reasons(self, payload):
        """What the store may say: the RESP3 type (hiredis 1.x parses it) or
        hiredis's protocol error for the type byte (0.14 knows no RESP3;
        1.2 has no attributes and no blob errors)."""
        if payload == "deep-1000":
            return ["malformed reply (an array inside an array: "]
        proto = 'malformed reply (protocol error: Protocol error, got "%s" as reply type byte)' % (
            self.TYPE_BYTE[payload])
        if not self.v1:
            return [proto]
        if payload == "attribute":
            return [proto, "malformed reply (a RESP3 attribute: "]
        if payload == "blob-error":
            return [proto]
        return ["malformed reply (%s: " % self.RESP3_NAME[payload]]

    def assert_refused(self, text, command, payload):
        self.assertTrue(any("%s: %s" % (command, r) in text for r in self.reasons(payload)),
                        "%s %s: %r lacks %r" % (command, payload, text, self.reasons(payload)))
        self.assertNotIn(self.PASSWORD, text)

    def hostile_conf(self, name):
        return node_config(os.path.join(self.dir, name + ".conf"),
                           "redis://127.0.0.1:%d/3" % self.port, self.PASSWORD,
                           "redis_timeout_ms = 500\n")

    def test_honest_answers_accepted(self):
        conf = self.hostile_conf("h-honest")
        self.plan("NONE", "NONE")
        self.assertEqual(verify(conf, token()), (0, ""))
        p = subprocess.run([XTOKEN, "check-config", "--config", conf], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("maxmemory-policy noeviction", p.stdout)

    def test_verify(self):
        conf = self.hostile_conf("h-verify")
        for command in ("AUTH", "SELECT", "TIME", "SET"):
            for payload in self.PAYLOADS:
                self.plan(command, payload)
                before = self.served()
                rc, err = verify(conf, token())
                self.assertEqual(rc, 2, (command, payload, err))  # a signal is negative
                self.assert_refused(err, command, payload)
                self.assertEqual(self.served(), before + 1, (command, payload))

    def test_check_config(self):
        conf = self.hostile_conf("h-check")
        for command in ("PING", "TIME", "CONFIG", "INFO"):
            for payload in self.PAYLOADS:
                self.plan(command, payload)
                before = self.served()
                p = subprocess.run([XTOKEN, "check-config", "--config", conf],
                                   capture_output=True, text=True, timeout=20)
                self.assertEqual(p.returncode, 2, (command, payload, p.stderr))
                self.assertIn("check-config: replay store: redis 127.0.0.1:", p.stderr)
                self.assert_refused(p.stderr, command, payload)
                # CONFIG GET maxmemory-policy and maxmemory go in one write
                self.assertEqual(self.served(), before + (2 if command == "CONFIG" else 1),
                                 (command, payload))

    def test_pam(self):
        """The PAM module inside a host process (as in ejabberd's epam):
        PAM_AUTHINFO_UNAVAIL and the reason in the log (pam_wrapper)."""
        conf = self.hostile_conf("h-pam")
        confdir = self.pam_dir({"h-pam": conf})
        env = dict(os.environ, LD_PRELOAD="libpam_wrapper.so", PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=confdir, PAM_WRAPPER_DEBUGLEVEL="2")
        for command in ("TIME", "SET"):
            for payload in self.PAYLOADS:
                self.plan(command, payload)
                p = subprocess.run([PAMCHECK, "-t", token(), "h-pam", JID, "auth"],
                                   capture_output=True, env=env, timeout=20)
                self.assertEqual(p.stdout.decode().split()[:1], ["auth=PAM_AUTHINFO_UNAVAIL"],
                                 (command, payload, p.returncode, p.stderr[-500:]))
                self.assert_refused(p.stderr.decode(errors="replace"), command, payload)

    def test_extauth_survives(self):
        """One long-lived extauth process (ejabberd's) through every payload
        at every command of a use, then the honest server again: it accepts."""
        ext = Extauth(self, self.hostile_conf("h-extauth"), "--verbose")
        for command in ("AUTH", "SELECT", "TIME", "SET"):
            for payload in self.PAYLOADS:
                self.plan(command, payload)
                self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 0,
                                 (command, payload))
                self.assertTrue(ext.alive(), (command, payload))
                self.assert_refused(ext.stderr(), command, payload)
        self.plan("NONE", "NONE")
        self.assertEqual(ext.ask("auth:alice:example.org:" + token()), 1)
        self.assertEqual(ext.finish()[0], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
