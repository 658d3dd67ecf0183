#!/usr/bin/python3
"""A real XMPP client for the end-to-end tests (slixmpp, Debian's python3-slixmpp).

Run with /usr/bin/python3. The password (the token) is read from the
environment variable XMPP_PASSWORD so it never shows in a process list.

  xmpp_client.py login   --jid J --port P
  xmpp_client.py send    --jid J --port P --to JID2 --body TEXT
  xmpp_client.py receive --jid J --port P --body TEXT

login:   log in (STARTTLS, SASL PLAIN), bind a resource, log out.
send:    log in, send a chat message to JID2, wait a moment for an error
         bounce (e.g. the server refusing an unknown recipient), log out.
receive: log in, send initial presence (which makes the server deliver
         stored offline messages), wait for a message whose body is TEXT.

Prints one result line: "LOGIN-OK", "AUTH-FAILED", "SENT", "BOUNCED ...",
"RECEIVED from ...", "TIMEOUT ..." or "ERROR ...".
Exit status: 0 success, 1 authentication refused, 2 anything else
(timeout, bounce, connection error).
"""

import argparse
import asyncio
import logging
import os
import ssl
import sys

# slixmpp warns on import about its pure-Python stringprep: keep stderr clean.
logging.getLogger("slixmpp").setLevel(logging.CRITICAL)
import slixmpp  # noqa: E402

EXIT_OK, EXIT_AUTH, EXIT_OTHER = 0, 1, 2


class Client(slixmpp.ClientXMPP):
    def __init__(self, args, password):
        super().__init__(args.jid, password)
        self.args = args
        self.result = None
        self.status = EXIT_OTHER
        self.done = asyncio.Event()
        # Loopback test server with a self-signed certificate.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("connection_failed", self.on_connection_failed)

    def finish(self, status, result):
        if self.result is None:
            self.status, self.result = status, result
        self.done.set()

    async def on_session_start(self, _event):
        cmd = self.args.command
        if cmd == "login":
            self.finish(EXIT_OK, "LOGIN-OK")
        elif cmd == "send":
            self.send_message(mto=self.args.to, mbody=self.args.body, mtype="chat")
            # A refused message comes back as an error within a moment.
            await asyncio.sleep(self.args.bounce_wait)
            self.finish(EXIT_OK, "SENT")
        elif cmd == "receive":
            self.send_presence()

    def on_failed_auth(self, _event):
        self.finish(EXIT_AUTH, "AUTH-FAILED")

    def on_message(self, msg):
        if msg["type"] == "error":
            self.finish(EXIT_OTHER, "BOUNCED %s" % msg["error"]["condition"])
        elif self.args.command == "receive" and msg["body"] == self.args.body:
            self.finish(EXIT_OK, "RECEIVED from %s" % msg["from"].bare)

    def on_connection_failed(self, error):
        self.finish(EXIT_OTHER, "ERROR connection failed: %s" % error)

    def on_disconnected(self, _event):
        self.finish(EXIT_OTHER, "ERROR disconnected before a result")


def connect_starttls(client, host, port):
    """Connect with STARTTLS required, on slixmpp 1.8 (Debian 12) and 1.10+
    (Debian 13), told apart by the API each has: 1.10 dropped connect()'s
    use_ssl/force_starttls for the enable_* attributes."""
    if hasattr(client, "enable_starttls"):
        client.enable_direct_tls = False
        client.enable_starttls = True
        client.enable_plaintext = False
        client.connect(host, port)
    else:
        client.connect((host, port), use_ssl=False, force_starttls=True)


async def run(args, password):
    client = Client(args, password)
    # Only PLAIN works against PAM/extauth backends; do not try others first.
    client["feature_mechanisms"].unencrypted_plain = False
    connect_starttls(client, args.host, args.port)
    try:
        await asyncio.wait_for(client.done.wait(), args.timeout)
    except asyncio.TimeoutError:
        client.finish(EXIT_OTHER, "TIMEOUT after %ss" % args.timeout)
    if client.is_connected():
        client.disconnect()
        try:
            await asyncio.wait_for(client.disconnected, 3)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - best effort
            pass
    return client.status, client.result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["login", "send", "receive"])
    parser.add_argument("--jid", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--to")
    parser.add_argument("--body")
    parser.add_argument("--timeout", type=float, default=15)
    parser.add_argument("--bounce-wait", type=float, default=1.0)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    if args.command == "send" and not (args.to and args.body):
        parser.error("send needs --to and --body")
    if args.command == "receive" and not args.body:
        parser.error("receive needs --body")
    password = os.environ.get("XMPP_PASSWORD")
    if password is None:
        parser.error("set XMPP_PASSWORD")
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    status, result = loop.run_until_complete(run(args, password))
    print(result)
    sys.exit(status)


if __name__ == "__main__":
    main()
