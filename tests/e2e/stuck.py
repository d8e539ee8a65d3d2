#!/usr/bin/python3
"""A notify program that floodgate cannot reap once it has killed it, as
a program stuck in the kernel (on a dead NFS mount) is for its parent.

    stuck.py DIR [HOLD]

It starts a tracer of its own, in a session of its own (out of the
program's process group, which floodgate ends), that attaches to it
with PTRACE_SEIZE and then neither resumes it nor waits for it, for
HOLD seconds (60 unless given) or until it is sent SIGTERM. Held so, a
signal that would end the program (SIGTERM) stops it instead, and once
killed it is a zombie that only its tracer sees: Linux tells its real
parent, floodgate, only when the tracer lets go.

DIR/stuck.pid gets the program's PID; DIR/stuck.tracer gets the tracer's PID once it holds on (the test
lets go by ending it), or "refused: ERROR" when the kernel refused
the attachment (a container without ptrace).
"""
import ctypes
import os
import signal
import sys
import time

PR_SET_PTRACER = 0x59616D61
PR_SET_PTRACER_ANY = ctypes.c_ulong(-1)
PTRACE_SEIZE = 0x4206

out = os.path.join(sys.argv[1], "stuck.tracer")
hold = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
libc = ctypes.CDLL(None, use_errno=True)
# Under Yama's ptrace_scope 1 only an ancestor may trace: allow any.
libc.prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0)
program = os.getpid()
with open(os.path.join(sys.argv[1], "stuck.pid"), "w") as f:
    f.write("%d\n" % program)
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if libc.ptrace(PTRACE_SEIZE, program, None, None) != 0:
        said = "refused: " + os.strerror(ctypes.get_errno())
    else:
        said = str(os.getpid())
    with open(out + ".new", "w") as f:
        f.write(said + "\n")
    os.rename(out + ".new", out)
    os.write(w, b"x")
    if said.startswith("refused"):
        os._exit(1)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    time.sleep(hold)
    os._exit(0)
os.read(r, 1)
sys.stdin.read()
while True:
    time.sleep(3600)
