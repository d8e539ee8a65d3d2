#!/bin/bash
# (g) a SASL-authenticated tenant is counted by its login however its
# MAIL FROM varies; an unauthenticated sender is its own account. All of
# it goes through an after-queue content filter (Postfix's smtp client
# to a listener written as the README's, with no_milters): floodgate
# sees each message once, as it entered, the senders a login wrote are
# never charged on the mail's way back, and delivery feedback follows
# each message to the queue ID it came back under: what the next hop
# (sink.py) refused counts for the account that sent it, and what it
# refused of a virtual alias's copies (expanded after the filter, main.cf
# with no_address_mappings as the README gives it) for the alias's
# tenant. Postfix runs with its long queue IDs.
. "$(dirname "$0")/lib.sh"
setup
command -v saslpasswd2 >/dev/null || skip "saslpasswd2 (sasl2-bin) is not installed"
add_sasl_user alice 'S3cret!'
cat > "$T/accounts" <<EOT
alice@floodgate.test  tenant7
y.example             tenant8
virt.test             tenant9
EOT
echo "fwd@virt.test nx9@example.com" > "$T/etc/virtual"
use_feedback_sink
write_conf <<EOT
account_map $T/accounts
limit tenant-hour per account 5/1h
delivery_log $T/maillog
EOT
# The README's listener for mail coming back from a content filter, on
# a port of this test's; the filter is Postfix's own smtp client, which
# gives the mail back unchanged.
REINJ_PORT=$(free_port)
add_return_listener $REINJ_PORT
echo "content_filter = smtp:[127.0.0.1]:$REINJ_PORT" >> "$T/etc/main.cf"
echo "virtual_alias_maps = texthash:$T/etc/virtual" >> "$T/etc/main.cf"
grep -q '`receive_override_options = no_address_mappings`' "$TOP/README.md" ||
    fail "the README gives main.cf no_address_mappings behind a filter"
echo "receive_override_options = no_address_mappings" >> "$T/etc/main.cf"
# Postfix's long queue IDs (enable_long_queue_ids): charged and followed
# through the filter's hop ("queued as" a long ID) as the short ones.
echo "enable_long_queue_ids = yes" >> "$T/etc/main.cf"
touch -d '-10 seconds' "$T/etc/main.cf"
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
send "$T/s4" $SMTP_PORT a@x.example "d1@example.com,d2@example.com,nx3@example.com,fwd@virt.test"
expect_eq "the same MAIL FROM without AUTH is another account" "$(count_replies "$T/s4" 451)" 0
drain
expect_eq "next hop: 5 + 2 recipients delivered, nx3 refused there" "$(delivered '[^ ]*@example\.com')" 7
maillog_settled
expect_eq "every message went through the content filter" \
    "$(grep -c "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$REINJ_PORT,.* status=sent" "$T/maillog")" 9
expect_eq "  ... and came back under a long queue ID" \
    "$(grep -cE "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$REINJ_PORT,.* status=sent \(250 2\.0\.0 Ok: queued as [0-9A-Za-z]*[a-z][0-9A-Za-z]*\)" "$T/maillog")" 9
expect_eq "floodgate decided each recipient once: 9 accepted, 1 deferred" \
    "$(ctl status | awk '$1 == "accepted" || $1 == "deferred" {print $2}' | tr '\n' ' ')" "9 1 "
ctl show tenant8 > "$T/show8"
expect_eq "the login's MAIL FROM b@y.example charged nothing to tenant8" \
    "$(awk '$1 == "tenant-hour" {print $5}' "$T/show8")" 0
# Results come from the queue IDs the mail came back under: the hop to
# the filter is no delivery (sent once a recipient, not twice), and the
# next hop's 550 5.1.1 counts for the sender (before floodgate followed
# the filter, a@x.example had sent 3, bounced 0).
wait_for 10 results_are a@x.example "2 1 1" &&
    ok "a@x.example: 2 sent, nx3 bounced as unknown at the next hop" ||
    fail "a@x.example: sent, bounced, unknown: got '$(results a@x.example)', want '2 1 1'"
expect_eq "tenant7: 5 sent (sent, bounced, unknown)" "$(results tenant7)" "5 0 0"
# The virtual alias's copy, refused by the next hop, is its tenant's:
# expanded before the filter it would be the sender's.
wait_for 10 results_are tenant9 "0 1 1" &&
    ok "tenant9: fwd@virt.test's copy unknown at the next hop" ||
    fail "tenant9: sent, bounced, unknown: got '$(results tenant9)', want '0 1 1'"
[ "$(log_count 'feedback: .* came back from a content filter as .*: its results count for account=')" -ge 1 ] &&
    ok "the log says the first message followed" || fail "no 'came back from a content filter' line"
finish
