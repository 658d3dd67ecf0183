#!/usr/bin/python3
"""A minimal raw XMPP client: STARTTLS, one SASL mechanism, resource binding.

Proves a SASL mechanism on the wire with no client library in between
(slixmpp knows no X-TOKEN): the message is the PLAIN layout,
"" NUL localpart NUL token, sent as <auth mechanism='X-TOKEN'>.

  XMPP_PASSWORD=TOKEN prosody-sasl-client.py --jid alice@localhost --port P \
      [--mechanism X-TOKEN|PLAIN] [--timeout S] [--message-to JID]
      [--no-tls] [--offered] [--force]

The token comes from $XMPP_PASSWORD (never argv). Prints one line:
"LOGIN-OK <bound full JID>", "AUTH-FAILED <condition>", "NO-MECHANISM
<offered list>" or "ERROR ...". Exit 0 logged in, 1 SASL failure,
2 anything else (also: the mechanism was not offered).
--message-to JID: once logged in, send a chat message to JID and wait up to
3 s for an error bounce: prints "BOUNCED <condition>" or "SENT" (exit 0).
--no-tls: never STARTTLS (an insecure session, for the server's rules on
mechanisms there). --offered: print "OFFERED <mechanisms>" (sorted) and stop
before authenticating (exit 0). --force: send <auth> for the mechanism even
when the server did not offer it (a server must refuse it then).
"""

import argparse
import base64
import os
import socket
import ssl
import sys
import xml.etree.ElementTree as ET

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"


class Failure(Exception):
    def __init__(self, status, line):
        super().__init__(line)
        self.status, self.line = status, line


class Stream:
    def __init__(self, sock, domain):
        self.sock, self.domain = sock, domain
        self.parser = None
        self.depth = 0
        self.ready = []

    def open(self):
        """Send a stream header; a new parser for the server's new stream."""
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.send(
            "<?xml version='1.0'?><stream:stream to='%s' version='1.0' "
            "xmlns='jabber:client' xmlns:stream='%s'>" % (self.domain, NS_STREAM)
        )

    def send(self, text):
        self.sock.sendall(text.encode())

    def next_element(self):
        """The next complete top-level child of the server's stream."""
        while not self.ready:
            data = self.sock.recv(65536)
            if not data:
                raise Failure(2, "ERROR connection closed by the server")
            self.parser.feed(data)
            for event, elem in self.parser.read_events():
                if event == "start":
                    self.depth += 1
                else:
                    self.depth -= 1
                    if self.depth == 1:
                        self.ready.append(elem)
        return self.ready.pop(0)


def features(stream):
    elem = stream.next_element()
    if elem.tag != "{%s}features" % NS_STREAM:
        raise Failure(2, "ERROR expected stream features, got %s" % elem.tag)
    return elem


def login(args, token):
    local, domain = args.jid.split("@", 1)
    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    stream = Stream(sock, domain)
    stream.open()
    feats = features(stream)
    if feats.find("{%s}starttls" % NS_TLS) is not None and not args.no_tls:
        stream.send("<starttls xmlns='%s'/>" % NS_TLS)
        if stream.next_element().tag != "{%s}proceed" % NS_TLS:
            raise Failure(2, "ERROR STARTTLS refused")
        context = ssl.create_default_context()
        context.check_hostname = False  # loopback test server, self-signed
        context.verify_mode = ssl.CERT_NONE
        stream.sock = context.wrap_socket(sock, server_hostname=domain)
        stream.open()
        feats = features(stream)
    offered = [m.text for m in feats.iter("{%s}mechanism" % NS_SASL)]
    if args.offered:
        stream.sock.close()
        return "OFFERED %s" % " ".join(sorted(offered))
    if args.mechanism not in offered and not args.force:
        raise Failure(2, "NO-MECHANISM offered: %s" % " ".join(offered))
    message = b"\0" + local.encode() + b"\0" + token.encode()
    stream.send(
        "<auth xmlns='%s' mechanism='%s'>%s</auth>"
        % (NS_SASL, args.mechanism, base64.b64encode(message).decode())
    )
    reply = stream.next_element()
    if reply.tag == "{%s}failure" % NS_SASL:
        condition = next((c.tag.split("}")[1] for c in reply if c.tag != "{%s}text" % NS_SASL), "?")
        raise Failure(1, "AUTH-FAILED %s" % condition)
    if reply.tag != "{%s}success" % NS_SASL:
        raise Failure(2, "ERROR unexpected SASL reply %s" % reply.tag)
    stream.open()
    features(stream)
    stream.send(
        "<iq type='set' id='bind1'><bind xmlns='%s'><resource>raw</resource></bind></iq>" % NS_BIND
    )
    reply = stream.next_element()
    bound = reply.find("{%s}bind/{%s}jid" % (NS_BIND, NS_BIND))
    if reply.get("type") != "result" or bound is None:
        raise Failure(2, "ERROR resource binding failed")
    result = "LOGIN-OK %s" % bound.text
    if args.message_to:
        result = send_message(stream, args.message_to)
    stream.send("</stream:stream>")
    stream.sock.close()
    return result


def send_message(stream, to):
    """Send a chat message; a refused one comes back as type='error'."""
    stream.send("<message type='chat' to='%s' id='m1'><body>hello</body></message>" % to)
    stream.sock.settimeout(3)
    try:
        while True:
            elem = stream.next_element()
            if elem.tag == "{jabber:client}message" and elem.get("type") == "error":
                error = elem.find("{jabber:client}error")
                condition = error[0].tag.split("}")[1] if error is not None and len(error) else "?"
                return "BOUNCED %s" % condition
    except (socket.timeout, TimeoutError):
        return "SENT"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jid", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mechanism", default="X-TOKEN")
    parser.add_argument("--timeout", type=float, default=15)
    parser.add_argument("--message-to")
    parser.add_argument("--no-tls", action="store_true")
    parser.add_argument("--offered", action="store_true")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    token = os.environ.get("XMPP_PASSWORD")
    if (token is None and not args.offered) or "@" not in args.jid:
        parser.error("set XMPP_PASSWORD and give --jid local@domain")
    try:
        print(login(args, token))
        return 0
    except Failure as failure:
        print(failure.line)
        return failure.status
    except (OSError, ET.ParseError) as error:
        print("ERROR %s" % error)
        return 2


if __name__ == "__main__":
    sys.exit(main())
