#!/usr/bin/python3
"""A hostile Redis on 127.0.0.1 for tests/cluster/test_cluster.py (class
Hostile): it speaks RESP2 like a real server (AUTH, SELECT, TIME, SET, PING,
CONFIG GET, INFO), except that the one command named by the plan gets the
hostile payload instead of its answer. The test sets the plan over an
ordinary connection:

    XT-PLAN <COMMAND> <PAYLOAD>   answer COMMAND with PAYLOAD from now on (+OK)
    XT-PLAN NONE NONE             answer everything honestly
    XT-SERVED                     how many hostile payloads were sent (:N)

    hostile_redis.py PORTFILE     listen on 127.0.0.1:<free port>, write the
                                  port to PORTFILE, serve until killed
"""
import os
import socket
import sys
import threading
import time

PAYLOADS = {
    "double": b",3.14\r\n",
    "boolean": b"#t\r\n",
    "map": b"%1\r\n+a\r\n:1\r\n",
    "set": b"~1\r\n+OK\r\n",
    "push": b">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n",
    "bignum": b"(3492890328409238509324850943850943825024385\r\n",
    "verbatim": b"=15\r\ntxt:Some string\r\n",
    "attribute": b"|1\r\n+ttl\r\n:3600\r\n+OK\r\n",
    "null": b"_\r\n",
    "blob-error": b"!21\r\nSYNTAX invalid syntax\r\n",
    "double-in-array": b"*2\r\n,1.5\r\n$6\r\n123456\r\n",
    "deep-1000": b"*1\r\n" * 1000 + b":1\r\n",
}

lock = threading.Lock()
plan = {"command": None, "payload": None}
served = [0]


def bulk(data):
    return b"$%d\r\n%s\r\n" % (len(data), data)


def honest(args):
    name = args[0].upper()
    if name in (b"AUTH", b"SELECT", b"SET"):
        return b"+OK\r\n"
    if name == b"PING":
        return b"+PONG\r\n"
    if name == b"TIME":
        now = time.time()
        return b"*2\r\n" + bulk(b"%d" % int(now)) + bulk(b"%d" % int(now % 1 * 1e6))
    if name == b"CONFIG" and len(args) == 3:
        value = {b"maxmemory-policy": b"noeviction", b"maxmemory": b"0"}.get(args[2], b"")
        return b"*2\r\n" + bulk(args[2]) + bulk(value)
    if name == b"INFO":
        return bulk(b"# Memory\r\nused_memory:1000000\r\n")
    return b"-ERR unknown command\r\n"


def answer(args):
    name = args[0].decode(errors="replace").upper()
    with lock:
        if name == "XT-PLAN" and len(args) == 3:
            command, payload = args[1].decode(), args[2].decode()
            if command == "NONE":
                plan.update(command=None, payload=None)
            elif payload in PAYLOADS:
                plan.update(command=command, payload=payload)
            else:
                return b"-ERR no such payload\r\n"
            return b"+OK\r\n"
        if name == "XT-SERVED":
            return b":%d\r\n" % served[0]
        if name == plan["command"]:
            served[0] += 1
            return PAYLOADS[plan["payload"]]
    return honest(args)


def read_command(f):
    """One RESP2 command (an array of bulk strings), or None at EOF."""
    line = f.readline()
    if not line.startswith(b"*"):
        return None
    args = []
    for _ in range(int(line[1:])):
        n = int(f.readline()[1:])
        args.append(f.read(n + 2)[:n])
    return args


def serve(conn):
    f = conn.makefile("rb")
    try:
        while True:
            args = read_command(f)
            if not args:
                return
            conn.sendall(answer(args))
    except (OSError, ValueError):
        pass
    finally:
        f.close()
        conn.close()


def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as out:
        out.write("%d\n" % listener.getsockname()[1])
    os.rename(tmp, sys.argv[1])
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
