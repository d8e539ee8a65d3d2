#!/usr/bin/env python3
"""A milter-protocol client for floodgate's tests: it speaks to the real
daemon over its socket and sends what Postfix never would (commands out
of order, missing macros, NUL bytes, broken and oversized packets,
clients that stall mid-packet). Each scenario prints one line
"RESULT name<TAB>got<TAB>want"; the shell test compares them.

    milterclient.py SOCKET          the scenarios
    milterclient.py SOCKET cap N    N connections are served, the next waits
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

    # A macro packet is at most 64 KB: a bigger one costs its connection.
    # floodgate may close it as soon as it has read the length, while
    # the rest is still being written: a broken pipe says closed too.
    c = Conn()
    try:
        c.send(macros(b"M", [(b"{junk}", b"x" * 70000)]))
        closed = c.closed()
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    result("a 70 KB macro packet closes that connection", "closed" if closed else "open", "closed")
    c.close()

    # A packet trickled a byte at a time is closed 10 s after it began,
    # however the bytes come; other connections are served meanwhile.
    c = Conn()
    raw = pkt(b"R", b"<trickle@example.com>\0")
    t0 = time.monotonic()
    c.send(raw[:5])
    closed = False
    for b in raw[5:]:
        time.sleep(1)
        try:
            c.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        c.s.settimeout(0.01)
        if c.closed():
            closed = True
            break
        if time.monotonic() - t0 > 20:
            break
    took = time.monotonic() - t0
    result("a trickled packet is closed within 10 to 13 s",
           "closed" if closed and 9 <= took <= 13 else "open after %.0f s" % took, "closed")
    c.close()
    result("the daemon served others meanwhile", alive(), True)

    # Many recipients of distinct domains under a count-messages rule:
    # what the message paid is a set, not a list scanned per recipient.
    c = Conn()
    c.mail(b"<bulk@many.example>", [(b"{auth_authen}", b"bulk")])
    t0 = time.monotonic()
    answered = 0
    for start in range(0, 60000, 1000):
        c.send(b"".join(pkt(b"R", b"<u@d%d.example>\0" % i) for i in range(start, start + 1000)))
        for _ in range(1000):
            if code(c.reply()) == "c":
                answered += 1
    took = time.monotonic() - t0
    result("60,000 recipients of distinct domains answered",
           answered, 60000)
    result("...within 10 s", took < 10 or "%.1f s" % took, True)
    c.send(pkt(b"A"))
    c.close()

    # A login that tries to forge a log line, one that is not UTF-8,
    # and one of digits: logged, listed and rendered as what they are.
    for login in (b"x\n2026-11-30T00:00:00 floodgate notice: control: reset account=victim",
                  b"\xff\xfe-bad", b"12345"):
        c = Conn()
        c.mail(b"<w@weird.example>", [(b"{auth_authen}", login)])
        got = [code(c.rcpt(b"<w%d@example.com>" % i)) for i in range(3)]
        c.eom()
        c.close()
    result("odd logins are decided like any other", ",".join(got), "c,c,451")

    # Local mail to hold, but the MTA sends no queue ID at its end: never
    # held under an empty ID (which would release every held message).
    c = Conn()
    c.mail(b"local@hold.example", [(b"{daemon_port}", b"0")])
    got = [code(c.rcpt(b"h%d@example.com" % i)) for i in range(3)]
    result("local recipients are never refused one by one", ",".join(got), "c,c,c")
    result("held without a queue ID: deferred instead", code(c.eom()), "451")
    c.close()


def cap(n):
    """n connections are served; the next waits in the listen queue
    until one of them ends, then is served."""
    conns = [Conn() for _ in range(n)]
    result("%d connections negotiated" % n, len(conns), n)
    waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    waiting.connect(SOCK)
    waiting.sendall(pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF)))
    waiting.settimeout(1.5)
    try:
        early = waiting.recv(100)
    except socket.timeout:
        early = b""
    result("connection %d waits" % (n + 1), len(early), 0)
    conns.pop().close()
    waiting.settimeout(3)
    try:
        late = waiting.recv(100)
    except socket.timeout:
        late = b""
    result("and is served once one ends", late[4:5], b"O")
    waiting.close()
    for c in conns:
        c.close()


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[2] == "cap":
        cap(int(sys.argv[3]))
    else:
        main()
