#!/usr/bin/python3
"""A next hop for floodgate's delivery-feedback tests that behaves like
the receivers a shared server meets: it refuses recipients that do not
exist, and, on a carrier port, answers 421 for a while to a sender that
sent more than N recipients in a window, as Japanese mobile carriers do.

    sink.py --dir DIR --port P [--carrier-port C --burst N/SECONDS
            --block SECONDS]

Every port accepts SMTP; a recipient whose local part starts with "nx"
is refused "550 5.1.1 ... User unknown". Every delivered recipient is
appended to DIR/delivered ("PORT ADDRESS"), every message to
DIR/messages ("=== PORT RECIPIENTS", then its lines), every connection to
DIR/connections ("PORT UNIXTIME"). On the carrier port, once more than N
recipients arrived within SECONDS, every new connection is greeted
"421 4.7.0" for --block seconds (counted from the last refusal).
"""
import argparse
import asyncio
import time


class Carrier:
    def __init__(self, burst, window, block):
        self.burst, self.window, self.block = burst, window, block
        self.times = []
        self.blocked_until = 0.0

    def blocked(self, now):
        return now < self.blocked_until

    def recipient(self, now):
        self.times = [t for t in self.times if now - t < self.window]
        self.times.append(now)
        if len(self.times) > self.burst:
            self.blocked_until = now + self.block
            self.times = []


def log(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


async def session(reader, writer, port, args, carrier):
    now = time.time()
    log(args.dir + "/connections", "%d %.3f" % (port, now))

    def say(text):
        writer.write((text + "\r\n").encode())

    try:
        if carrier is not None and carrier.blocked(now):
            say("421 4.7.0 sink.carrier.test Service unavailable, too many messages, try again later")
            await writer.drain()
            return
        say("220 sink.floodgate.test ESMTP test sink")
        rcpts = []
        while True:
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                say("250 sink.floodgate.test")
            elif verb == "MAIL":
                rcpts = []
                say("250 2.1.0 Ok")
            elif verb == "RCPT":
                addr = cmd.split(":", 1)[1].strip().strip("<>")
                if addr.split("@")[0].lower().startswith("nx"):
                    say("550 5.1.1 <%s>: Recipient address rejected: User unknown in local recipient table" % addr)
                else:
                    rcpts.append(addr)
                    say("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    say("554 5.5.1 Error: no valid recipients")
                    continue
                say("354 End data with <CR><LF>.<CR><LF>")
                body = []
                while True:
                    data = await asyncio.wait_for(reader.readline(), 30)
                    if not data or data in (b".\r\n", b".\n"):
                        break
                    body.append(data.decode("utf-8", "replace").rstrip("\r\n"))
                log(args.dir + "/messages", "=== %d %s\n%s" % (port, " ".join(rcpts), "\n".join(body)))
                for a in rcpts:
                    log(args.dir + "/delivered", "%d %s" % (port, a))
                    if carrier is not None:
                        carrier.recipient(time.time())
                say("250 2.0.0 Ok: queued")
            elif verb == "RSET":
                rcpts = []
                say("250 2.0.0 Ok")
            elif verb == "QUIT":
                say("221 2.0.0 Bye")
                await writer.drain()
                return
            else:
                say("250 2.0.0 Ok")
            await writer.drain()
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--carrier-port", type=int)
    p.add_argument("--burst", default="3/60")
    p.add_argument("--block", type=float, default=5)
    args = p.parse_args()
    n, w = args.burst.split("/")
    carrier = Carrier(int(n), float(w), args.block)
    servers = [await asyncio.start_server(
        lambda r, w: session(r, w, args.port, args, None), "127.0.0.1",
        args.port)]
    if args.carrier_port:
        servers.append(await asyncio.start_server(
            lambda r, w: session(r, w, args.carrier_port, args, carrier),
            "127.0.0.1", args.carrier_port))
    open(args.dir + "/ready", "w").close()
    await asyncio.gather(*(s.serve_forever() for s in servers))


asyncio.run(main())
