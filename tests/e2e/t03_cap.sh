#!/bin/bash
# (d) a cap splits a 150-recipient carrier message: 100 pass, 50 get
# 452 4.5.3 and pass in the client's next transaction.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
group carriers docomo.ne.jp softbank.ne.jp
limit tenant-carrier per account to @carriers 1000/1h
cap   carrier-fanout to @carriers 100
EOT
start_floodgate
start_postfix

send "$T/m1" $SMTP_PORT list@shop.example "$(rcpts a docomo.ne.jp 150)"
expect_eq "recipients past the cap get 452" "$(count_replies "$T/m1" 452)" 50
grep -q "452 4.5.3 floodgate: too many recipients for docomo.ne.jp in one message (cap carrier-fanout: 100)" "$T/m1" &&
    ok "452 4.5.3 reply names the cap" || fail "reply: $(grep 452 "$T/m1" | head -1)"
expect_eq "no recipient deferred by a rate" "$(count_replies "$T/m1" 451)" 0
# The client sends the rest in a new transaction, as MTAs do after 452.
rest=$(for i in $(seq 101 150); do printf 'a%s@docomo.ne.jp,' $i; done)
send "$T/m2" $SMTP_PORT list@shop.example "${rest%,}"
expect_eq "the rest pass in the next message" "$(count_replies "$T/m2" 45.)" 0
send "$T/m3" $SMTP_PORT list@shop.example "$(rcpts b example.com 150)"
expect_eq "a non-carrier message is not capped" "$(count_replies "$T/m3" 45.)" 0
drain
expect_eq "sink: all 150 carrier recipients, in two messages" "$(sink_count '@docomo.ne.jp')" 150
expect_eq "sink: 150 example.com recipients" "$(sink_count '@example.com')" 150
finish
