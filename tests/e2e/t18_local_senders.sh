#!/bin/bash
# Who sent local mail: with local_login_sender_maps, postdrop lets each
# login use only its own senders, so a tenant cannot send under another
# tenant's sender (Postfix refuses it, exit 75), and its own local mail
# is charged to its own tenant through the account map. A tenant's
# script that talks SMTP to the local Postfix instead is known by its
# Unix user (account uid), whatever sender it claims, also through
# postscreen or a PROXY-protocol proxy (its name kept until a reload
# when the user is renamed); floodgate in a network namespace
# of its own says it cannot tell, and lets the sender count.
# alone: makes system users, and /etc/postfix/main.cf when there is none
. "$(dirname "$0")/lib.sh"
setup
command -v useradd >/dev/null || skip "useradd is not available"
U1=fgtest-shop
U2=fgtest-blog
for u in $U1 $U2; do
	id "$u" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin "$u"
done
# A non-root sendmail -C is refused unless the default main.cf lists the
# directory in alternate_config_directories.
MAINCF=/etc/postfix/main.cf
created_maincf=0
[ -e $MAINCF ] || { mkdir -p /etc/postfix; : > $MAINCF; created_maincf=1; }
cp $MAINCF "$T/main.cf.orig"
echo "alternate_config_directories = $T/etc" >> $MAINCF
restore() {
	if [ "$created_maincf" = 1 ]; then rm -f $MAINCF; else cp "$T/main.cf.orig" $MAINCF; fi
	userdel "$U1" 2>/dev/null
	userdel "$U1-new" 2>/dev/null
	userdel "$U2" 2>/dev/null
	cleanup
}
trap restore EXIT

cat >> "$T/etc/main.cf" <<EOT
non_smtpd_milters = unix:$T/fg/milter.sock
local_login_sender_maps = inline:{ { $U1 = @shop.example }, { $U2 = @blog.example }, { root = * } }
EOT
touch -d '-10 seconds' "$T/etc/main.cf"
cat > "$T/accounts" <<EOT
shop.example  shop
blog.example  blog
$U1  shop
$U2  blog
EOT
MPORT=$(free_port)
write_conf <<EOT
account sasl uid sender client
account_map $T/accounts
limit tenant-hour per account 10/1h
metrics 127.0.0.1:$MPORT
EOT
# A kernel floodgate may not ask (a unit without AF_NETLINK): said at
# once, with the account statement's line.
cat > "$T/nonl.c" <<'EOC'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>
int socket(int d, int t, int p)
{
	static int (*real)(int, int, int);
	if (d == AF_NETLINK) { errno = EAFNOSUPPORT; return -1; }
	if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
	return real(d, t, p);
}
EOC
cc -shared -fPIC -o "$T/nonl.so" "$T/nonl.c" -ldl || fail "cc"
$(preload "$T/nonl.so") "$FLOODGATE" -n -c "$T/floodgate.conf" > /dev/null 2> "$T/n.err"
grep -q "floodgate.conf:$(grep -n '^account ' "$T/floodgate.conf" | cut -d: -f1): warning: account uid: cannot ask the kernel whose a client's socket is (netlink sock_diag: Address family not supported by protocol): the next source counts every SMTP client" "$T/n.err" &&
    ok "floodgate -n: no netlink socket, said with the account line" || fail "floodgate -n: $(cat "$T/n.err")"
# A listener that reads a client's MAIL only a second after its EHLO
# (a busy server): a script that writes its whole transaction and
# closes at once is gone by then.
SLOW_PORT=$(free_port)
echo "127.0.0.1:$SLOW_PORT inet n - n - - smtpd -o smtpd_helo_restrictions=sleep,1 -o smtpd_delay_reject=no" >> "$T/etc/master.cf"
# postscreen in front of smtpd, as on many servers' port 25: it hands
# the client's connection on to smtpd, and the socket stays the
# client's.
PS_PORT=$(free_port)
cat >> "$T/etc/master.cf" <<EOT
127.0.0.1:$PS_PORT inet n - n - 1 postscreen
smtpd      pass  - - n - - smtpd
dnsblog    unix  - - n - 0 dnsblog
tlsproxy   unix  - - n - 0 tlsproxy
EOT
# And behind a proxy that speaks HAProxy's PROXY protocol: smtpd takes
# the client's and the proxy's own address from it.
PX_PORT=$(free_port)
echo "127.0.0.1:$PX_PORT inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy" >> "$T/etc/master.cf"
echo "postscreen_cache_map = btree:\$data_directory/postscreen_cache" >> "$T/etc/main.cf"
touch -d '-10 seconds' "$T/etc/master.cf" "$T/etc/main.cf"
start_floodgate
start_postfix

as_user() {	# as_user USER FROM TO: a tenant's script calling sendmail
	printf 'Subject: from %s\n\nhello\n' "$1" |
	    su -s /bin/sh "$1" -c "/usr/sbin/sendmail -C $T/etc -f $2 $3" > "$T/su.out" 2>&1
}

as_user $U2 www@shop.example victim@example.com
expect_eq "forged sender: sendmail exits 75" $? 75
grep -q "not authorized to use sender" "$T/su.out" && ok "Postfix says why" || fail "$(cat "$T/su.out")"
as_user $U1 news@shop.example r1@example.com
expect_eq "own sender: accepted" $? 0
as_user $U2 wp@blog.example r2@example.com
expect_eq "the other tenant's own sender: accepted" $? 0
for i in $(seq 1 50); do [ "$(sink_count)" -ge 2 ] && break; sleep 0.1; done
drain
expect_eq "sink: the two legitimate messages only" "$(sink_count)" 2
expect_eq "nothing of the forgery arrived" "$(sink_count victim)" 0
ctl show shop > "$T/shop"
ctl show blog > "$T/blog"
expect_eq "shop's mail charged to shop" "$(awk '$1 == "tenant-hour" {print $5}' "$T/shop")" 1
expect_eq "blog's mail charged to blog" "$(awk '$1 == "tenant-hour" {print $5}' "$T/blog")" 1

# SMTP from a tenant's script: Postfix's mynetworks lets any local
# process relay under any sender; floodgate asks the kernel whose the
# client's socket is.
su -s /bin/sh $U2 -c "swaks --server 127.0.0.1:$SMTP_PORT --from www@shop.example --to $(rcpts s example.com 10) --body test" > "$T/smtp.out" 2>&1
expect_eq "the tenant's tenth recipient this hour deferred" "$(count_replies "$T/smtp.out" 451)" 1
[ "$(log_count 'account=blog source=uid rule=tenant-hour .*action=defer')" = 1 ] &&
    ok "logged as the tenant's own mail, source=uid" ||
    fail "no source=uid line: $(grep 'source=' "$T/floodgate.log" | tail -2)"
ctl show shop > "$T/shop"
ctl show blog > "$T/blog"
expect_eq "the forged sender's tenant not charged" "$(awk '$1 == "tenant-hour" {print $5}' "$T/shop")" 1
expect_eq "the Unix user's tenant charged" "$(awk '$1 == "tenant-hour" {print $5}' "$T/blog")" 10
# A script that writes a whole transaction and closes before Postfix
# read its MAIL leaves the kernel a remnant of its socket without an
# owner; one that resets its connection (SO_LINGER 0) after the greeting
# leaves nothing. Either is counted as uid:closed, one account for every
# such client, not for the sender it claims.
cat > "$T/blast.py" <<'EOP'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
if sys.argv[3] == "reset":
    s.recv(1000)
s.sendall(b"EHLO x\r\nMAIL FROM:<www@shop.example>\r\nRCPT TO:<b%s@example.com>\r\n"
    b"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n" % sys.argv[2].encode())
if sys.argv[3] == "reset":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
EOP
chmod 644 "$T/blast.py"
chmod 755 "$T"
for i in 1 2; do su -s /bin/sh $U2 -c "python3 $T/blast.py $SLOW_PORT $i close"; done
su -s /bin/sh $U2 -c "python3 $T/blast.py $SLOW_PORT 3 reset"
closed_logged() {
	[ "$(log_count 'account uid: the client.s socket 127.0.0.1:[0-9]* was closed before its MAIL was read, its user unknown: counted as account uid:closed')" = 2 ] &&
	[ "$(log_count 'account uid: the client.s socket 127.0.0.1:[0-9]* is gone (reset before its MAIL was read), its user unknown: counted as account uid:closed')" = 1 ]
}
wait_for 10 closed_logged &&
    ok "clients closed or reset before their MAIL was read: logged" || fail "$(grep 'account uid' "$T/floodgate.log")"
expect_eq "  ... counted as uid:closed" "$(ctl show uid:closed | awk '$1 == "tenant-hour" {print $5}')" 3
expect_eq "  ... not for the sender it claimed" "$(ctl show shop | awk '$1 == "tenant-hour" {print $5}')" 1
# root is a system user: its connections carry others' mail (as the
# MSP's queue runner's do), so its sender counts.
send "$T/root.out" $SMTP_PORT cron@shop.example r5@example.com
expect_eq "root's SMTP mail accepted" "$(count_replies "$T/root.out" 451)" 0
expect_eq "root's SMTP mail counted for its sender's tenant" "$(ctl show shop | awk '$1 == "tenant-hour" {print $5}')" 2
su -s /bin/sh $U1 -c "swaks --server 127.0.0.1:$PS_PORT --from wp@blog.example --to ps@example.com --body test" > "$T/ps.out" 2>&1
grep -q "^<-  250 .*queued as" "$T/ps.out" || fail "through postscreen: $(tail -3 "$T/ps.out")"
grep -q "postscreen.*ALLOWLISTED \[127.0.0.1\]" "$T/maillog" || fail "postscreen did not take the connection"
expect_eq "through postscreen: counted for the Unix user's tenant" "$(ctl show shop | awk '$1 == "tenant-hour" {print $5}')" 3
expect_eq "  ... not for the sender it claimed" "$(ctl show blog | awk '$1 == "tenant-hour" {print $5}')" 10
# The proxy as HAProxy's `send-proxy` does it: a PROXY v1 line with
# the client's address and port and its own, then the bytes both ways.
cat > "$T/proxy.py" <<'EOP'
import socket, sys, threading
ls = socket.create_server(("127.0.0.1", 0))
print(ls.getsockname()[1], flush=True)
def pump(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
while True:
    c, (ca, cp) = ls.accept()
    sa, sp = c.getsockname()
    u = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    u.sendall(b"PROXY TCP4 %s %s %d %d\r\n" % (ca.encode(), sa.encode(), cp, sp))
    for a, b in ((c, u), (u, c)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
EOP
coproc PROXY { exec /usr/bin/python3 "$T/proxy.py" "$PX_PORT"; }
read -r -t 5 front <&"${PROXY[0]}" || fail "the proxy did not start"
su -s /bin/sh $U1 -c "swaks --server 127.0.0.1:$front --from wp@blog.example --to px@example.com --body test" > "$T/px.out" 2>&1
kill "$PROXY_PID"
grep -q "^<-  250 .*queued as" "$T/px.out" || fail "through the proxy: $(tail -3 "$T/px.out")"
expect_eq "through a PROXY-protocol proxy: counted for the Unix user's tenant" "$(ctl show shop | awk '$1 == "tenant-hour" {print $5}')" 4
expect_eq "  ... not for the sender it claimed" "$(ctl show blog | awk '$1 == "tenant-hour" {print $5}')" 10
# What the lookups found, in /metrics: the tenants' scripts (port 25,
# postscreen, the proxy), the three that hid, root.
http_get /metrics | tr -d '\r' > "$T/metrics"
uid_found() { awk -v m="floodgate_uid_lookups_total{result=\"$1\"}" '$1 == m {print $2}' "$T/metrics"; }
expect_eq "/metrics: MAILs counted for their Unix user" "$(uid_found user)" 3
expect_eq "/metrics: ... as uid:closed" "$(uid_found closed)" 3
expect_eq "/metrics: ... from a system user" "$(uid_found system)" 1
expect_eq "/metrics: ... none elsewhere or failed" "$(uid_found elsewhere) $(uid_found failed)" "0 0"
name_from() { awk -v m="floodgate_uid_names_total{from=\"$1\"}" '$1 == m {print $2}' "$T/metrics"; }
# The tenants' scripts and root's: $U1's second MAIL (the proxy's) came
# within a minute of its first and found the name kept.
expect_eq "/metrics: the users' names, kept and asked, one a lookup" "$(( $(name_from kept) + $(name_from asked) ))" 4
[ "$(name_from kept)" -ge 1 ] && ok "/metrics: a name kept ($(name_from kept))" ||
    fail "/metrics: no name kept: $(grep uid_names "$T/metrics")"
# A user renamed: the name floodgate keeps counts until a reload, then
# the new one (an account of its own: the map names the old one).
usermod -l "$U1-new" "$U1" || fail "usermod -l"
su -s /bin/sh "$U1-new" -c "swaks --server 127.0.0.1:$SMTP_PORT --from wp@blog.example --to rn1@example.com --body test" > "$T/rn1.out" 2>&1
expect_eq "renamed: the name kept still counts (shop)" "$(ctl show shop | awk '$1 == "tenant-hour" {print $5}')" 5
ctl reload > /dev/null || fail "floodgatectl reload"
su -s /bin/sh "$U1-new" -c "swaks --server 127.0.0.1:$SMTP_PORT --from wp@blog.example --to rn2@example.com --body test" > "$T/rn2.out" 2>&1
expect_eq "renamed: after a reload, the new name" "$(ctl show "$U1-new" | awk '$1 == "tenant-hour" {print $5}')" 1
expect_eq "  ... and no more for shop" "$(ctl show shop | awk '$1 == "tenant-hour" {print $5}')" 5
usermod -l "$U1" "$U1-new" || fail "usermod -l back"
# floodgate in a network namespace of its own (systemd's PrivateNetwork=
# beside a Unix milter socket) finds neither end of any connection: it
# says so once, and the sender counts, not uid:closed.
if unshare -n true 2>/dev/null; then
	stop_floodgate
	FG_ENV="unshare -n" start_floodgate
	for i in 1 2; do
		su -s /bin/sh $U2 -c "swaks --server 127.0.0.1:$SMTP_PORT --from news@shop.example --to ns$i@example.com --body test" > "$T/ns$i.out" 2>&1
	done
	expect_eq "another namespace: the sender's tenant counts" "$(ctl show shop | awk '$1 == "tenant-hour" {print $5}')" 7
	expect_eq "  ... said once" "$(log_count "account uid: neither the client's socket 127.0.0.1:[0-9]* nor the MTA's listener at 127.0.0.1:$SMTP_PORT is in floodgate's network namespace")" 1
	expect_eq "  ... no client counted as uid:closed" "$(ctl show uid:closed | awk '$1 == "tenant-hour" {print $5}')" 3
else
	say "no network namespace can be made here: floodgate in another one not tested"
fi
finish
