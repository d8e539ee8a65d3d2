#!/bin/bash
# Tenants are adversaries: one cannot split itself into many budgets with
# +extensions, case or a trailing dot, cannot read floodgate's database
# or account map, and (t06, t14, t18) cannot spend another's budget by
# SASL or forged local senders, nor reach the control socket.
. "$(dirname "$0")/lib.sh"
setup
# The map as a Windows editor saves it: a byte order mark, CRLF. Its
# first key is an address (before, the mark stayed in it: mallory's mail
# was an account of its own, beside the shop's budget).
printf '\xef\xbb\xbfmallory@free.example  shop\r\nshop.example  shop\r\n' > "$T/accounts"
chmod 0640 "$T/accounts"
write_conf <<EOT
account_map $T/accounts
limit tenant-hour per account 2/1h
EOT
# floodgate.conf with a byte order mark too (before: "unknown statement").
sed -i '1s/^/\xef\xbb\xbf/' "$T/floodgate.conf"
start_floodgate
start_postfix

send "$T/p1" $SMTP_PORT "bob+1@Free.Example" "r1@example.com"
send "$T/p2" $SMTP_PORT "BOB+news@free.example." "r2@example.com"
send "$T/p3" $SMTP_PORT "bob@FREE.EXAMPLE" "r3@example.com"
expect_eq "+extension, case, trailing dot: one account, its 3rd deferred" "$(count_replies "$T/p3" 451)" 1
grep -q "account=bob@free.example source=sender" "$T/floodgate.log" && ok "counted as bob@free.example" || fail "$(grep account= "$T/floodgate.log" | tail -1)"
send "$T/s1" $SMTP_PORT "orders@shop.example" "r4@example.com"
send "$T/s2" $SMTP_PORT "mallory@free.example" "r5@example.com"
send "$T/s3" $SMTP_PORT "Mallory@free.example" "r6@example.com"
expect_eq "a map with a byte order mark: its first key is the shop's, the 3rd deferred" \
    "$(count_replies "$T/s1" 451)/$(count_replies "$T/s2" 451)/$(count_replies "$T/s3" 451)" 0/0/1
expect_eq "  ... mallory's deferral logged for the shop" "$(log_count "account=shop source=sender rule=tenant-hour")" 1
sleep 1.2	# one flush
expect_eq "database mode" "$(stat -c %a "$T/floodgate.db")" 640
su nobody -s /bin/sh -c "cat $T/floodgate.db" > /dev/null 2>&1
expect_eq "an unprivileged user cannot read the database" $? 1
su nobody -s /bin/sh -c "cat $T/accounts" > /dev/null 2>&1
expect_eq "nor the account map" $? 1
su nobody -s /bin/sh -c "$FLOODGATECTL -c $T/floodgate.conf show shop" > "$T/nobody" 2>&1
expect_eq "nor ask floodgatectl" $? 1
finish
