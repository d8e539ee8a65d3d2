#!/usr/bin/env python3
"""A milter-protocol client for floodgate's tests: it speaks to the real
daemon over its socket and sends what Postfix never would (commands out
of order, missing macros, NUL bytes, broken and oversized packets,
clients that stall mid-packet). Each scenario prints one line
"RESULT name<TAB>got<TAB>want"; the shell test compares them.

    milterclient.py SOCKET
"""
import os
import random
import resource
import socket
import struct
import sys
import time

SOCK = sys.argv[1]


def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def macros(stage, pairs):
    return pkt(b"D", stage + b"".join(k + b"\0" + v + b"\0" for k, v in pairs))


def result(name, got, want):
    print("RESULT %s\t%s\t%s" % (name, got, want), flush=True)


class Conn:
    def __init__(self, negotiate=True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(SOCK)
        if negotiate:
            # Postfix 3.7's offer: every action, every protocol flag.
            self.send(pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF)))
            cmd, data = self.reply()
            assert cmd == b"O", cmd
            self.protocol = struct.unpack(">I", data[8:12])[0]

    def send(self, raw):
        self.s.sendall(raw)

    def reply(self):
        """One reply packet: (command, data); (None, b"") at EOF."""
        head = self.readn(4)
        if head is None:
            return None, b""
        n = struct.unpack(">I", head)[0]
        body = self.readn(n)
        if body is None:
            return None, b""
        return body[:1], body[1:]

    def readn(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def closed(self):
        """True when the daemon closed this connection."""
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def mail(self, sender, pairs=None):
        if pairs is not None:
            self.send(macros(b"M", pairs))
        self.send(pkt(b"M", sender + b"\0"))
        if not self.protocol & 0x4000:     # no reply to MAIL negotiated?
            return self.reply()
        return (b"-", b"")

    def rcpt(self, rcpt):
        self.send(pkt(b"R", rcpt + b"\0"))
        return self.reply()

    def eom(self):
        self.send(pkt(b"E"))
        return self.reply()

    def close(self):
        self.s.close()


def code(reply):
    cmd, data = reply
    if cmd is None:
        return "closed"
    if cmd == b"y":
        return data.rstrip(b"\0").decode("latin-1")[:3]
    return cmd.decode("latin-1")


PROBES = [0]


def alive():
    """A fresh connection still gets a decision, promptly."""
    t0 = time.monotonic()
    PROBES[0] += 1
    c = Conn()
    c.mail(b"<probe@alive.example>", [(b"{auth_authen}", b"probe%d" % PROBES[0])])
    r = code(c.rcpt(b"<x@example.com>"))
    c.close()
    return r == "c" and time.monotonic() - t0 < 2


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Out of order: RCPT and EOM before MAIL, ABORT with nothing open.
    c = Conn()
    result("rcpt before mail is deferred", code(c.rcpt(b"<a@example.com>")), "451")
    result("end of message before mail continues", code(c.eom()), "c")
    c.send(pkt(b"A"))
    result("after abort, the session still works", code(c.rcpt(b"<a@example.com>")), "451")
    c.close()

    # Missing macros: no {auth_authen}, no {client_addr}, no i: the
    # sender's own account pays (mallory, limit 2 per hour).
    c = Conn()
    c.mail(b"<mallory@evil.example>")
    got = [code(c.rcpt(b"<r%d@example.com>" % i)) for i in range(3)]
    result("without macros the sender's account is charged", ",".join(got), "c,c,451")
    c.close()
    # ...and never another's: alice still has her whole budget.
    c = Conn()
    c.mail(b"<alice@good.example>", [(b"{auth_authen}", b"alice")])
    got = [code(c.rcpt(b"<s%d@example.com>" % i)) for i in range(2)]
    result("alice keeps her budget", ",".join(got), "c,c")
    c.send(pkt(b"A"))
    # A second MAIL without ABORT: the reservations of the first are
    # given back, not charged twice.
    c.mail(b"<alice@good.example>", [(b"{auth_authen}", b"alice")])
    got = [code(c.rcpt(b"<t%d@example.com>" % i)) for i in range(2)]
    c.mail(b"<alice@good.example>", [(b"{auth_authen}", b"alice")])
    got += [code(c.rcpt(b"<u%d@example.com>" % i)) for i in range(2)]
    result("a MAIL without ABORT gives the last one's back", ",".join(got), "c,c,c,c")
    result("end of message charges", code(c.eom()), "c")
    c.mail(b"<alice@good.example>", [(b"{auth_authen}", b"alice")])
    result("alice's third is deferred", code(c.rcpt(b"<v@example.com>")), "451")
    c.close()

    # NUL and control bytes inside addresses and macros.
    c = Conn()
    c.mail(b"<nul\x01user@ctl.example>", [(b"{auth_authen}", b"nul\x7fuser"), (b"i", b"\x1b[31m")])
    result("control bytes in the sender", code(c.rcpt(b"<a\0b@example.com>")), "c")
    result("an empty recipient", code(c.rcpt(b"")), "c")
    c.mail(b"")
    result("the null sender's recipient", code(c.rcpt(b"<x@example.com>")), "c")
    c.close()

    # Broken packets: each costs its own connection only.
    cases = [
        ("a zero-length packet", struct.pack(">I", 0)),
        ("a 4 GB length", struct.pack(">I", 0xFFFFFFFF) + b"M"),
        ("a 2 MB length", struct.pack(">I", 2 * 1024 * 1024) + b"M"),
        ("an unknown command", pkt(b"Z", b"x")),
        ("a macro packet without its NUL", pkt(b"D", b"Mi\0abc")),
        ("a macro packet for no step", pkt(b"D", b"Xi\0v\0")),
        ("a MAIL without its NUL", pkt(b"M", b"<a@b>")),
        ("an empty RCPT", pkt(b"R")),
        ("a short negotiation", pkt(b"O", b"\0\0\0\6")),
        ("a CONNECT cut short", pkt(b"C", b"host\0" + b"4")),
    ]
    for name, raw in cases:
        c = Conn()
        c.send(raw)
        result(name + " closes that connection", "closed" if c.closed() else "open", "closed")
        c.close()
    result("and the daemon serves the next", alive(), True)

    # A client that stalls mid-packet does not hold up the others.
    stalled = Conn()
    stalled.send(pkt(b"R", b"<slow@example.com>\0")[:7])
    result("a stalled client does not stall the others", alive(), True)
    stalled.send(pkt(b"R", b"<slow@example.com>\0")[7:])
    result("the stalled client is answered once it finishes", code(stalled.reply()), "451")
    stalled.close()

    # Many idle MTA connections: no thread each, no slowdown.
    idle = []
    for _ in range(1000):
        idle.append(Conn(negotiate=False))
    result("1000 idle connections, a new one still answered", alive(), True)
    for c in idle:
        c.close()

    # Random garbage, some of it after a valid start.
    rnd = random.Random(20261126)
    for i in range(300):
        c = Conn(negotiate=(i % 2 == 0))
        c.send(bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 600))))
        c.close()
    result("300 streams of garbage, the daemon still answers", alive(), True)

    # Replies written to a client that does not read them.
    c = Conn()
    c.mail(b"<flood@pipe.example>", [(b"{auth_authen}", b"flood")])
    burst = pkt(b"R", b"<p@example.com>\0") * 20000
    try:
        c.s.settimeout(3)
        c.send(burst)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    result("a client that never reads its replies does not stall the daemon", alive(), True)
    c.close()


if __name__ == "__main__":
    main()
