#!/bin/bash
# The milter over TCP (listen inet:PORT@127.0.0.1, Postfix's
# smtpd_milters = inet:127.0.0.1:PORT): mail is decided as over the Unix
# socket. The milter protocol has no password, so such a listener is
# warned of at its line (floodgate -n, the start, status): any local
# user can connect as if it were the MTA, and spend a tenant's budget
# with mail it makes up, as this test's unprivileged user does.
. "$(dirname "$0")/lib.sh"
setup
MPORT=$(free_port)
write_conf <<EOT
limit tenant-hour per account 2/1h
EOT
sed -i "s|^listen .*|listen   inet:$MPORT@127.0.0.1|" "$T/floodgate.conf"
WARN="listen inet:$MPORT@127.0.0.1: every local user (a tenant's script too) can connect to the milter over the loopback as if it were the MTA, and spend any tenant's budget with mail it makes up (the milter protocol has no password); listen on unix:PATH"

"$FLOODGATE" -n -c "$T/floodgate.conf" > "$T/n.out" 2> "$T/n.err"
expect_eq "floodgate -n: exit 0, the TCP listener warned of at its line" \
    "$?.$(grep -cF "$T/floodgate.conf:1: warning: $WARN" "$T/n.err")" 0.1
start_floodgate
expect_eq "  ... and at start" "$(grep -cF "warning: $T/floodgate.conf:1: $WARN" "$T/floodgate.log")" 1
ctl --json status > "$T/status.json"
expect_eq "  ... and in status" "$(python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
w = [r for r in recs if r.get("type") == "warning"]
print(recs[0]["config_warnings"], " ".join("%d:%s" % (r["line"], r["warning"].split()[0]) for r in w))' "$T/status.json")" \
    "1 1:listen"

start_postfix
postconf -c "$T/etc" -e "smtpd_milters = inet:127.0.0.1:$MPORT"
reload_postfix
send "$T/m1" $SMTP_PORT "a@t.example" "r1@example.com"
send "$T/m2" $SMTP_PORT "a@t.example" "r2@example.com"
send "$T/m3" $SMTP_PORT "a@t.example" "r3@example.com"
expect_eq "Postfix over TCP: the tenant's 3rd message deferred" \
    "$(count_replies "$T/m1" 451)/$(count_replies "$T/m2" 451)/$(count_replies "$T/m3" 451)" 0/0/1
send "$T/b1" $SMTP_PORT "b@other.example" "r4@example.com"
expect_eq "  ... another tenant's first passes" "$(count_replies "$T/b1" 451)" 0

# What the warning says: a local user who is not the MTA (nobody)
# speaks the milter protocol to the port and spends b's budget.
su nobody -s /bin/sh -c "python3 - 127.0.0.1 $MPORT" > "$T/nobody.out" 2>&1 <<'EOT'
import socket, struct, sys
def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data
def reply(s):
    n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
    return s.recv(n, socket.MSG_WAITALL)[:1]
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(pkt(b"O", struct.pack(">III", 6, 0x1ff, 0)))
reply(s)
s.sendall(pkt(b"C", b"h\0" + b"4" + struct.pack(">H", 25) + b"127.0.0.1\0"))
reply(s)
s.sendall(pkt(b"D", b"M{daemon_port}\x0025\0"))
s.sendall(pkt(b"M", b"<b@other.example>\0"))
reply(s)
s.sendall(pkt(b"R", b"<x@example.com>\0"))
print("rcpt reply", reply(s).decode())
s.sendall(pkt(b"T"))
r = reply(s)
if r == b"c":		# 'a': the message is accepted at DATA
    s.sendall(pkt(b"E"))
    r = reply(s)
print("message reply", r.decode())
s.sendall(pkt(b"Q"))
EOT
[ "$(grep -c "^rcpt reply c$" "$T/nobody.out").$(grep -c "^message reply [ac]$" "$T/nobody.out")" = 1.1 ] &&
    ok "user nobody reaches the milter over TCP: a message of b's, accepted" ||
    fail "user nobody reaches the milter over TCP: $(cat "$T/nobody.out")"
send "$T/b2" $SMTP_PORT "b@other.example" "r5@example.com"
expect_eq "  ... and b's own next message is deferred: its budget spent by nobody" \
    "$(count_replies "$T/b2" 451)" 1
finish
