#!/bin/bash
# (a) a tenant over its hourly limit gets 451 for exactly the excess
# recipients and the sink receives exactly the rest; (b) a second tenant
# sending at the same time is not affected.
. "$(dirname "$0")/lib.sh"
setup
cat > "$T/accounts" <<EOT
tenant-a.example   tenant-a
tenant-b.example   tenant-b
EOT
write_conf <<EOT
account_map $T/accounts
limit tenant-hour per account 10/1h
EOT
start_floodgate
start_postfix

# tenant-a: 15 recipients in one message, two sender addresses of its
# domain in flight at once with tenant-b's mail.
send "$T/a1" $SMTP_PORT news@tenant-a.example "$(rcpts a example.com 15)" &
pa=$!
send "$T/b1" $SMTP_PORT info@tenant-b.example "$(rcpts b example.net 6)" &
pb=$!
wait $pa $pb
expect_eq "tenant-a: recipients deferred with 451" "$(count_replies "$T/a1" 451)" 5
grep -q "451 4.7.1 floodgate: tenant-hour limit reached (10/1h), retry in " "$T/a1" &&
    ok "reply names the rule, the rate and the retry time" ||
    fail "reply text: $(grep '451' "$T/a1" | head -1)"
expect_eq "tenant-b: nothing refused" "$(count_replies "$T/b1" 4..)" 0
# Another address of tenant-a's domain is the same tenant.
send "$T/a2" $SMTP_PORT Sales+X@Tenant-A.Example. "$(rcpts c example.com 2)"
expect_eq "tenant-a's other sender is refused too" "$(count_replies "$T/a2" 451)" 2
send "$T/b2" $SMTP_PORT info@tenant-b.example "$(rcpts d example.net 4)"
expect_eq "tenant-b: its 10th recipient passes" "$(count_replies "$T/b2" 451)" 0
drain
expect_eq "sink: tenant-a's recipients" "$(sink_count '@example.com')" 10
expect_eq "sink: tenant-b's recipients" "$(sink_count '@example.net')" 10
expect_eq "one log line per refusal" "$(log_count 'account=tenant-a source=sender rule=tenant-hour .*action=defer used=10 limit=10')" 7
grep -q "other tenant\|tenant-b" "$T/a1" && fail "tenant-a's reply mentions tenant-b" || ok "no other tenant's data in the reply"
finish
