#!/bin/bash
# (c) a carrier limit applies per tenant and server-wide (all tenants
# together, per carrier domain); a non-carrier domain is not affected.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
group carriers docomo.ne.jp ezweb.ne.jp *.vodafone.ne.jp
limit tenant-hour    per account                  100/1h
limit tenant-carrier per account to @carriers     4/1h
limit carrier-server per domain  to @carriers     6/1h
EOT
start_floodgate
start_postfix

send "$T/c1" $SMTP_PORT one@c1.example "$(rcpts x docomo.ne.jp 5)"
expect_eq "c1: 5th docomo recipient deferred (its own carrier budget)" "$(count_replies "$T/c1" 451)" 1
grep -q "tenant-carrier limit reached (4/1h)" "$T/c1" && ok "c1 refused by tenant-carrier" || fail "c1 reply: $(grep 451 "$T/c1")"
send "$T/c2" $SMTP_PORT two@c2.example "$(rcpts y DoCoMo.NE.JP. 5)"
expect_eq "c2: 2 pass, 3 deferred (server-wide docomo budget)" "$(count_replies "$T/c2" 451)" 3
grep -q "carrier-server limit reached (6/1h)" "$T/c2" && ok "c2 refused by carrier-server" || fail "c2 reply: $(grep 451 "$T/c2" | head -1)"
send "$T/c3" $SMTP_PORT two@c2.example "$(rcpts z mail.vodafone.ne.jp 3)"
expect_eq "c2: *.vodafone.ne.jp is a carrier: 2 pass, 1 deferred" "$(count_replies "$T/c3" 451)" 1
send "$T/c4" $SMTP_PORT one@c1.example "$(rcpts w example.com 8)"
expect_eq "c1: non-carrier domain not affected" "$(count_replies "$T/c4" 451)" 0
send "$T/c5" $SMTP_PORT three@c3.example "$(rcpts v ezweb.ne.jp 2)"
expect_eq "c3: another carrier domain has its own server budget" "$(count_replies "$T/c5" 451)" 0
# Routed recipients: Postfix sends "user%dest@host" (host its own: here
# its address literal), "dest!user" and "\"user@dest\"@host" on to dest,
# and a route to another host's domain to that host: each counts where
# Postfix resolved it ({rcpt_addr}), never as written.
send "$T/c6" $SMTP_PORT four@c4.example 'e1%ezweb.ne.jp@[127.0.0.1],ezweb.ne.jp!e2,"e3@ezweb.ne.jp"@[127.0.0.1],e4%ezweb.ne.jp,e5%x.example@ezweb.ne.jp'
expect_eq "c4: routed to ezweb, its 5th deferred (tenant-carrier)" "$(count_replies "$T/c6" 451)" 1
grep -q "^ *-> RCPT TO:<e5%x.example@ezweb.ne.jp>" "$T/c6" && [ "$(grep -A1 '^ *-> RCPT TO:<e5%' "$T/c6" | grep -c '^<\*\* *451 ')" = 1 ] &&
    ok "c4: the route to ezweb's own host counts for ezweb" || fail "c4: $(grep -A1 'RCPT TO' "$T/c6" | tail -4)"
expect_eq "log: the routed recipients, counted for ezweb.ne.jp" "$(log_count 'account=four@c4.example: recipient <.*> is routed on: counted for domain ezweb.ne.jp (where the MTA resolved it)')" 5
drain
expect_eq "sink: docomo recipients" "$(sink_count '@docomo\.ne\.jp')" 6
expect_eq "sink: vodafone recipients" "$(sink_count 'vodafone.ne.jp')" 2
expect_eq "sink: example.com recipients" "$(sink_count '@example.com')" 8
expect_eq "sink: ezweb recipients, 4 routed there" "$(sink_count '@ezweb\.ne\.jp>')" 6
expect_eq "log: carrier-server refusals name the domain" "$(log_count 'rule=carrier-server dest=docomo.ne.jp action=defer')" 3
finish
