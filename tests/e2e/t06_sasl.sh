#!/bin/bash
# (g) a SASL-authenticated tenant is counted by its login however its
# MAIL FROM varies; an unauthenticated sender is its own account.
. "$(dirname "$0")/lib.sh"
setup
command -v saslpasswd2 >/dev/null || skip "saslpasswd2 (sasl2-bin) is not installed"
add_sasl_user alice 'S3cret!'
cat > "$T/accounts" <<EOT
alice@floodgate.test  tenant7
EOT
write_conf <<EOT
account_map $T/accounts
limit tenant-hour per account 5/1h
EOT
start_floodgate
start_postfix
auth="--auth PLAIN --auth-user alice@floodgate.test --auth-password S3cret!"

send "$T/s1" $SUB_PORT a@x.example "$(rcpts a example.com 2)" $auth
send "$T/s2" $SUB_PORT b@y.example "$(rcpts b example.com 2)" $auth
send "$T/s3" $SUB_PORT "" "$(rcpts c example.com 2)" $auth
grep -q "235 2.7.0 Authentication successful" "$T/s1" && ok "AUTH PLAIN succeeded" || fail "AUTH failed: $(grep -i auth "$T/s1" | tail -2)"
expect_eq "first two senders: nothing refused" "$(cat "$T/s1" "$T/s2" | count_replies /dev/stdin 451)" 0
expect_eq "third sender (null): 6th recipient of the login refused" "$(count_replies "$T/s3" 451)" 1
expect_eq "log: counted as tenant7 by SASL" "$(log_count 'account=tenant7 source=sasl rule=tenant-hour')" 1
send "$T/s4" $SMTP_PORT a@x.example "$(rcpts d example.com 3)"
expect_eq "the same MAIL FROM without AUTH is another account" "$(count_replies "$T/s4" 451)" 0
drain
expect_eq "sink: 5 + 3 recipients" "$(sink_count '@example.com')" 8
finish
