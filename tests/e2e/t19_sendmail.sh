#!/bin/bash
# The same binary as a Sendmail filter (INPUT_MAIL_FILTER), against the
# real Sendmail 8.17 from Debian's packages: per-recipient deferral over
# SMTP, and a second tenant unaffected.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sendmail.sh"
setup
sendmail_fetch || skip "cannot fetch Debian's sendmail packages"
write_conf <<EOT
limit tenant-hour per account 3/1h
EOT
start_floodgate
sendmail_setup || { fail "sendmail set-up"; finish; }
sendmail_start || { fail "sendmail did not start"; finish; }
trap 'kill $SM_PID 2>/dev/null; cleanup' EXIT

send "$T/a" $SM_PORT news@a.example "$(rcpts a example.com 5)"
expect_eq "Sendmail: the excess recipients get 451" "$(count_replies "$T/a" 451)" 2
grep -q "451 4.7.1 floodgate: tenant-hour limit reached (3/1h), retry in" "$T/a" &&
    ok "Sendmail passes floodgate's reply" || fail "$(grep '<\*\*' "$T/a" | head -2)"
send "$T/b" $SM_PORT info@b.example "$(rcpts b example.net 3)"
expect_eq "Sendmail: another tenant is unaffected" "$(count_replies "$T/b" 4..)" 0
for i in $(seq 1 100); do [ "$(sink_count)" -ge 6 ] && break; sleep 0.1; done
expect_eq "sink: 3 + 3" "$(sink_count)" 6
grep -q "account=news@a.example source=sender rule=tenant-hour .*action=defer" "$T/floodgate.log" &&
    ok "the refusal is logged with its account" || fail "$(tail -3 "$T/floodgate.log")"
finish
