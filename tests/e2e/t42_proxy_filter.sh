#!/bin/bash
# Behind a pre-queue filter (smtpd_proxy_filter), Postfix tells a milter
# no end of message and gives it no queue ID: a recipient is still
# deferred at RCPT, and a message over a hold limit, which cannot be
# held there, is deferred at DATA instead of going out unheld.
. "$(dirname "$0")/lib.sh"
setup
# The README's listener behind the filter, with -o smtpd_proxy_filter=
# as the README says it needs there; the filter here is that listener
# itself (Postfix's smtpd proxies straight to it).
REINJ_PORT=$(free_port)
add_return_listener $REINJ_PORT
echo "  -o smtpd_proxy_filter=" >> "$T/etc/master.cf"
echo "smtpd_proxy_filter = 127.0.0.1:$REINJ_PORT" >> "$T/etc/main.cf"
touch -d '-10 seconds' "$T/etc/main.cf" "$T/etc/master.cf"
write_conf <<EOT
limit list per account 1/1h action hold
limit hour per account 3/1h
EOT
start_floodgate
start_postfix

send "$T/s1" $SMTP_PORT a@x.example r1@example.com
grep -q "^<- *250 2.0.0 Ok: queued as" "$T/s1" && ok "the first message is taken" || fail "s1: $(grep '^<' "$T/s1" | tail -3)"
send "$T/s2" $SMTP_PORT a@x.example r2@example.com,r3@example.com
grep -q "^<\*\* *451 4.7.1 floodgate: over limit, try again later" "$T/s2" &&
    ok "over the hold limit: deferred at DATA" || fail "s2: $(grep '^<' "$T/s2" | tail -3)"
send "$T/s3" $SMTP_PORT a@x.example r4@example.com,r5@example.com,r6@example.com
expect_eq "the deferred message charged nothing: 2 of 3 more taken at RCPT" "$(count_replies "$T/s3" 451)" 1
drain
expect_eq "nothing held" "$(held_files)" 0
expect_eq "the sink has the first message only" "$(sink_count '@example\.com')" 1
# s3 is over the hold limit too, and deferred at DATA as well.
expect_eq "the log says why, for s2 and s3" "$(log_count 'action=defer: no queue ID at DATA: behind a pre-queue filter')" 2
finish
