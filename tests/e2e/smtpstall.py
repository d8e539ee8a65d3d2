#!/usr/bin/env python3
"""SMTP clients that stall mid-transaction, for floodgate's tests.

    smtpstall.py PORT N SENDER HOLD_SECONDS

Opens N sessions, each EHLO, MAIL FROM SENDER, RCPT TO one recipient,
then waits with the transaction open, HOLD_SECONDS or until SIGUSR1,
whichever comes first. Afterwards the first
half drop the connection without a word, the second half send DATA and
finish. Prints "rcpt CODE" per session, then "data CODE" per finished
one.
"""
import signal
import socket
import sys

port, n, sender, hold = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
# Blocked from the start, so that a SIGUSR1 sent early is kept for the wait.
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])


def reply(f):
    while True:
        line = f.readline()
        if not line:
            return "EOF"
        if line[3:4] != b"-":
            return line[:3].decode()


sessions = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    reply(f)
    for cmd in (b"EHLO stall.example", b"MAIL FROM:<%s>" % sender.encode()):
        s.sendall(cmd + b"\r\n")
        reply(f)
    s.sendall(b"RCPT TO:<stall%d@example.net>\r\n" % i)
    print("rcpt", reply(f), flush=True)
    sessions.append((s, f))
signal.sigtimedwait([signal.SIGUSR1], hold)
for i, (s, f) in enumerate(sessions):
    if i < n // 2:
        s.close()           # gone mid-transaction, no QUIT
        continue
    s.sendall(b"DATA\r\n")
    reply(f)
    s.sendall(b"Subject: stalled\r\n\r\nbody\r\n.\r\n")
    print("data", reply(f), flush=True)
    s.sendall(b"QUIT\r\n")
    s.close()
