#!/usr/bin/python3
"""Asks a socketmap server what Postfix would: smapq.py [-t FILE] SOCKET
NAME KEY... prints one reply per key, as the server sent it (without the
netstring). -t FILE: writes there the milliseconds from the connect to
the last reply (the server's time, not the interpreter's start)."""
import socket
import sys
import time

took = None
if len(sys.argv) > 2 and sys.argv[1] == "-t":
    took = sys.argv[2]
    del sys.argv[1:3]
t0 = time.monotonic()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
buf = b""
for key in sys.argv[3:]:
    q = ("%s %s" % (sys.argv[2], key)).encode()
    s.sendall(b"%d:%s," % (len(q), q))
    while True:
        colon = buf.find(b":")
        if colon > 0 and len(buf) >= colon + 1 + int(buf[:colon]) + 1:
            n = int(buf[:colon])
            print(buf[colon + 1:colon + 1 + n].decode())
            buf = buf[colon + 1 + n + 1:]
            break
        data = s.recv(4096)
        if not data:
            sys.exit("server closed the connection")
        buf += data
if took is not None:
    with open(took, "w") as f:
        f.write("%d\n" % ((time.monotonic() - t0) * 1000))
