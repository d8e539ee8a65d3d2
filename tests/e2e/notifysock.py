#!/usr/bin/python3
"""systemd's side of the notify protocol, for floodgate's tests: a
datagram socket that NOTIFY_SOCKET names, each message appended to OUT
as one line (its own newlines as "|").

    notifysock.py SOCKET OUT [MILTER_SOCKET]

With MILTER_SOCKET, a message holding READY=1 is followed on its line by
" [milter socket answers]", or by the error of a connection to that
socket tried at that moment.
"""
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    msg = s.recv(4096).decode()
    line = msg.replace("\n", "|")
    if len(sys.argv) > 3 and "READY=1" in msg.split("\n"):
        c = socket.socket(socket.AF_UNIX)
        try:
            c.connect(sys.argv[3])
            line += " [milter socket answers]"
        except OSError as e:
            line += " [milter socket: %s]" % e
        c.close()
    out.write(line + "\n")
