#!/bin/bash
# Actions and options through a real Postfix: reject, tag, count
# messages, override, exempt (account, client, domain), scope client and
# server, and a custom reply; smtpd_milter_maps leaving mail from off
# this host on port 25 alone, also behind postscreen. Postfix also
# listens on ::1, where it hands floodgate the client as {client_addr}
# "IPv6:::1".
. "$(dirname "$0")/lib.sh"
setup
cat > "$T/accounts" <<EOT
big.example   bigtenant
EOT
write_conf <<EOT
account_map $T/accounts
limit hard      per account to reject.example 2/1h action reject
limit soft      per account to tag.example    1/1h action tag
limit msgs      per account to msgs.example   2/1h count messages
limit plan      per account to plan.example   1/1h
limit polite    per account to polite.example 1/1h reply "Slow down please, try again in %r"
limit clientwide per client to client.example 3/1h
limit serverwide per server to server.example 4/1h
limit hosted    per account to hosted.example 1/1h
override plan bigtenant 5/1h
exempt account vip@one.example
exempt domain  internal.example
exempt client  ::1
EOT
start_floodgate
V6_PORT=
if grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null; then
	V6_PORT=$(free_port)
	postconf -c "$T/etc" -e "inet_protocols = all" "inet_interfaces = 127.0.0.1, [::1]" \
	    "mynetworks = 127.0.0.0/8, [::1]/128"
	echo "[::1]:$V6_PORT inet n - n - - smtpd" >> "$T/etc/master.cf"
fi
# Port 25 takes mail from the Internet too: smtpd_milter_maps attaches
# floodgate there for this host's clients only (127.0.0.2 stands in for
# the Internet). The submission port has no map: every login is decided.
cat > "$T/etc/floodgate_clients" <<EOT
127.0.0.1/32  unix:$T/fg/milter.sock
0.0.0.0/0     DISABLE
EOT
postconf -c "$T/etc" -P "127.0.0.1:$SMTP_PORT/inet/smtpd_milter_maps=cidr:$T/etc/floodgate_clients"
# The same with postscreen on port 25: the map goes on the smtpd it
# hands each client to.
PS_PORT=$(free_port)
cat >> "$T/etc/master.cf" <<EOT
127.0.0.1:$PS_PORT inet n - n - 1 postscreen
smtpd      pass  - - n - - smtpd -o smtpd_milter_maps=cidr:$T/etc/floodgate_clients
dnsblog    unix  - - n - 0 dnsblog
tlsproxy   unix  - - n - 0 tlsproxy
EOT
echo "postscreen_cache_map = btree:\$data_directory/postscreen_cache" >> "$T/etc/main.cf"
touch -d '-10 seconds' "$T/etc/main.cf" "$T/etc/master.cf"
add_sasl_user hostuser 'H0sted!'
start_postfix

send "$T/rj" $SMTP_PORT a@one.example "$(rcpts r reject.example 3)"
expect_eq "action reject: 550 for the 3rd" "$(count_replies "$T/rj" 550)" 1
grep -q "550 5.7.1 floodgate: hard limit reached (2/1h)" "$T/rj" && ok "550 5.7.1 reply" || fail "reply: $(grep 550 "$T/rj")"

send "$T/tg" $SMTP_PORT a@one.example "$(rcpts t tag.example 2)"
expect_eq "action tag: nothing refused" "$(count_replies "$T/tg" 4..)" 0

for i in 1 2 3; do send "$T/mm$i" $SMTP_PORT a@one.example "$(rcpts m$i msgs.example 3)"; done
expect_eq "count messages: 1st message whole" "$(count_replies "$T/mm1" 451)" 0
expect_eq "count messages: 2nd message whole" "$(count_replies "$T/mm2" 451)" 0
expect_eq "count messages: 3rd message deferred, every recipient" "$(count_replies "$T/mm3" 451)" 3

send "$T/pl1" $SMTP_PORT a@one.example "$(rcpts p plan.example 3)"
expect_eq "plan: 1/1h for an ordinary account" "$(count_replies "$T/pl1" 451)" 2
send "$T/pl2" $SMTP_PORT x@big.example "$(rcpts q plan.example 6)"
expect_eq "plan: override 5/1h for bigtenant" "$(count_replies "$T/pl2" 451)" 1

send "$T/po" $SMTP_PORT a@one.example "$(rcpts o polite.example 2)"
grep -q "451 4.7.1 Slow down please, try again in [0-9]" "$T/po" && ok "custom reply with %r" || fail "reply: $(grep 451 "$T/po")"

send "$T/vip" $SMTP_PORT VIP@One.Example "$(rcpts v reject.example 4)"
expect_eq "exempt account: never limited" "$(count_replies "$T/vip" 5..)" 0
send "$T/in" $SMTP_PORT a@one.example "$(rcpts i internal.example 3),$(rcpts j reject.example 1)"
expect_eq "exempt domain: internal.example passes, reject.example still refused" "$(count_replies "$T/in" 550)" 1

send "$T/cl1" $SMTP_PORT a@one.example "$(rcpts c client.example 2)"
send "$T/cl2" $SMTP_PORT b@two.example "$(rcpts d client.example 2)"
expect_eq "scope client: two senders, one IP share 3" "$(count_replies "$T/cl2" 451)" 1
send "$T/sv1" $SMTP_PORT a@one.example "$(rcpts s server.example 3)"
send "$T/sv2" $SMTP_PORT b@three.example "$(rcpts u server.example 3)"
expect_eq "scope server: everybody shares 4" "$(count_replies "$T/sv2" 451)" 2
hosted_used() { ctl show "$1" | awk '$1 == "hosted" {print $5}'; }
send "$T/mx" $SMTP_PORT outside@remote.example "$(rcpts h hosted.example 3)" --local-interface 127.0.0.2
expect_eq "smtpd_milter_maps: a client off this host on port 25 passes without floodgate" \
    "$(count_replies "$T/mx" 4..).$(hosted_used outside@remote.example)" 0.0
send "$T/mxl" $SMTP_PORT outside@remote.example "$(rcpts k hosted.example 3)"
expect_eq "  ... the same sender from this host is decided" "$(count_replies "$T/mxl" 451)" 2
send "$T/mxs" $SUB_PORT outside@remote.example "$(rcpts l hosted.example 3)" --local-interface 127.0.0.2 \
    --auth PLAIN --auth-user hostuser@floodgate.test --auth-password 'H0sted!'
expect_eq "  ... a login on the submission port from off this host is decided" \
    "$(count_replies "$T/mxs" 451).$(hosted_used hostuser@floodgate.test)" 2.1
send "$T/psx" $PS_PORT far@remote.example "$(rcpts n hosted.example 3)" --local-interface 127.0.0.2
send "$T/psl" $PS_PORT far@remote.example "$(rcpts o hosted.example 3)"
expect_eq "  ... through postscreen: off this host undecided, from this host decided" \
    "$(count_replies "$T/psx" 4..).$(count_replies "$T/psl" 451).$(hosted_used far@remote.example)" 0.2.1
grep -q "postscreen.*CONNECT from \[127.0.0.2\].*to \[127.0.0.1\]:$PS_PORT" "$T/maillog" ||
    fail "postscreen did not take the connection from 127.0.0.2"
if [ -n "$V6_PORT" ]; then
	# The hard limit is spent for a@one.example: only the exemption
	# lets these through.
	SMTP_HOST=::1 smtp_session $V6_PORT "EHLO v6.example" "MAIL FROM:<a@one.example>" \
	    "RCPT TO:<x1@reject.example>" "RCPT TO:<x2@reject.example>" RSET QUIT > "$T/v6"
	expect_eq "exempt client ::1 over IPv6 (Postfix's IPv6:::1): none refused" \
	    "$(grep -c '^250 2.1.5 ' "$T/v6").$(grep -c '^[45]' "$T/v6")" 2.0	# RSET: not sent
	ctl explain a@one.example x@reject.example 'IPv6:::1' > "$T/v6x"
	grep -q '^verdict *pass (exempt)' "$T/v6x" && ok "  ... explain with IPv6:::1 says exempt" ||
	    fail "$(cat "$T/v6x")"
else
	say "no IPv6 loopback: exempt client over IPv6 not tested"
fi
drain
expect_eq "sink: tagged message carries X-Floodgate" "$(grep -l '^X-Floodgate: over soft' "$T"/sink/m.* | wc -l)" 1
expect_eq "sink: reject.example" "$(sink_count '@reject\.example')" 6
expect_eq "sink: msgs.example" "$(sink_count '@msgs\.example')" 6
expect_eq "sink: internal.example" "$(sink_count '@internal\.example')" 3
expect_eq "sink: hosted.example (3 + 3 from off this host, 1 + 1 from it, 1 login)" "$(sink_count '@hosted\.example')" 9
expect_eq "log: tag decision" "$(log_count 'rule=soft dest=tag.example action=tag')" 1
finish
