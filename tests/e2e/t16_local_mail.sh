#!/bin/bash
# Local mail through non_smtpd_milters (sendmail(1) -> pickup -> cleanup):
# told apart from SMTP mail by {daemon_port} 0 and decided at the end of
# the message; Postfix's own bounces too (internal_mail_filter_classes). Over a limit it is held (Postfix's hold queue, listed by
# floodgatectl held) and charges nothing; with local_action tempfail it
# stays in maildrop, and pickup's retries charge nothing either.
. "$(dirname "$0")/lib.sh"
setup
# Postfix's own bounces pass the milter too (see the README), and mail
# to nobody@bounce.test, accepted, bounces (an alias to an error).
echo "err.test error:5.1.1 no such user" > "$T/etc/transport"
echo "nobody@bounce.test x@err.test" > "$T/etc/virtual"
cat >> "$T/etc/main.cf" <<EOT
non_smtpd_milters = unix:$T/fg/milter.sock
internal_mail_filter_classes = bounce
transport_maps = texthash:$T/etc/transport
virtual_alias_maps = texthash:$T/etc/virtual
EOT
touch -d '-10 seconds' "$T/etc/main.cf"
cat > "$T/accounts" <<EOT
shop.example  shop
EOT
write_conf <<EOT
account_map $T/accounts
limit tenant-hour per account 3/1h
limit carrier per domain to docomo.test 1/1h
EOT
start_floodgate
start_postfix

local_send() {	# local_send FROM TO...
	local from=$1
	shift
	printf 'Subject: local\n\nfrom a script\n' | sendmail -C "$T/etc" -f "$from" "$@"
}
maildrop_files() { find "$T/spool/maildrop" -type f 2>/dev/null | wc -l; }

for i in 1 2 3 4 5; do
	local_send www@shop.example "r$i@example.com"
done
for i in $(seq 1 50); do [ "$(held_files)" -ge 2 ] && break; sleep 0.1; done
drain
expect_eq "sink: the first 3 local messages" "$(sink_count '@example\.com')" 3
expect_eq "Postfix's hold queue: the other 2" "$(held_files)" 2
expect_eq "log: held, per message" "$(log_count 'account=shop rule=tenant-hour action=held recipients=1')" 2
expect_eq "SMTP-only replies never reached local mail" "$(grep -c "can't reject recipient" "$T/maillog")" 0
ctl held > "$T/held"
expect_eq "floodgatectl held: 2 messages" "$(grep -c "^[0-9A-F]\{8,\} *shop *tenant-hour" "$T/held")" 2
for q in $(awk 'NR > 1 {print $1}' "$T/held"); do
	[ -f "$T/spool/hold/$q" ] && ok "held $q is in Postfix's hold queue" || fail "$q not on hold"
done
ctl show shop > "$T/show"
expect_eq "held mail charged nothing" "$(awk '$1 == "tenant-hour" {print $5}' "$T/show")" 3
# explain: SMTP mail is deferred, local mail held.
expect_eq "explain: deferred over SMTP, held as local mail" \
    "$(ctl explain shop r6@example.com | awk 'NF == 0 {exit} $1 ~ /^(verdict|local)$/ {print $2}' | tr '\n' ' ')" "defer hold "

# SMTP mail of the same tenant is still refused per recipient.
send "$T/s1" $SMTP_PORT news@shop.example "$(rcpts s example.org 2)"
expect_eq "SMTP: deferred per recipient" "$(count_replies "$T/s1" 451)" 2

# Routed recipients of local mail: cleanup hands floodgate the address
# as written ({rcpt_addr} too), and Postfix sends "user%dest@host" (host
# its own: its address literal) on to dest; the domain a rule names
# counts. The sendmail command writes "x3@docomo.test@" as
# "\"x3@docomo.test\"@", and Postfix strips the null domain as its own.
local_send app@routed.example 'x1%docomo.test@[127.0.0.1]'
local_send app@routed.example '"x2@docomo.test"@[127.0.0.1]'
local_send app@routed.example 'x3@docomo.test@'
for i in $(seq 1 50); do [ "$(held_files)" -ge 4 ] && break; sleep 0.1; done
drain
expect_eq "local: routed to docomo.test, the 2nd and 3rd held (carrier 1/1h)" "$(log_count 'account=app@routed.example rule=carrier action=held recipients=1')" 2
expect_eq "sink: the 1st, sent on to docomo.test" "$(sink_count '<x1@docomo\.test>')" 1
expect_eq "sink: not the null domain's" "$(sink_count 'x3@docomo')" 0
ctl explain app@routed.example 'x3%docomo.test@[127.0.0.1]' > "$T/explain-routed"
# A tenant that forges a carrier address as its sender makes Postfix
# bounce there for each message that fails: the bounce is local mail to
# floodgate, of the null sender (client 127.0.0.1, Postfix's own), held
# while the carrier's limit is spent.
send "$T/b1" $SMTP_PORT victim@docomo.test nobody@bounce.test
wait_for 10 grep -q 'account=127.0.0.1 rule=carrier action=held recipients=1' "$T/floodgate.log" &&
    ok "Postfix's bounce to the forged carrier sender held (carrier 1/1h)" ||
    fail "bounce: $(grep -i 'bounce\|127.0.0.1' "$T/floodgate.log" | tail -3)"
expect_eq "  ... and not sent" "$(sink_count 'victim@docomo')" 0
expect_eq "explain: a routed recipient, the domain it counts for and its verdict" \
    "$(awk 'NF == 0 {exit} $1 ~ /^(routed_to|verdict|rule)$/ {print $2}' "$T/explain-routed" | tr '\n' ' ')" "docomo.test defer carrier "
# A recipient of 5,000 bytes: the sendmail command writes it once
# line_length_limit allows (at 2048, postdrop's "illegal length"), and
# floodgate reads it whole: held by the carrier's spent limit.
postconf -c "$T/etc" -e "line_length_limit = 8192"
reload_postfix
local_send app@routed.example "$(printf 'q%.0s' $(seq 1 5000))@docomo.test"
for i in $(seq 1 50); do [ "$(held_files)" -ge 6 ] && break; sleep 0.1; done
expect_eq "local: a 5,000-byte recipient to docomo.test held (carrier 1/1h)" \
    "$(log_count 'account=app@routed.example rule=carrier action=held recipients=1')" 3

stop_floodgate
sed -i '1a local_action tempfail' "$T/floodgate.conf"
start_floodgate
local_send cron@shop.example t1@example.com
# Wait for the end-of-message line itself: the recipient's decision is
# logged a moment before it.
for i in $(seq 1 50); do [ "$(log_count 'action=defer-local recipients=')" -ge 1 ] && break; sleep 0.1; done
expect_eq "tempfail: refused at the end of the message" "$(log_count 'account=shop rule=tenant-hour action=defer-local recipients=1')" 1
expect_eq "tempfail: the message stays in maildrop" "$(maildrop_files)" 1
expect_eq "explain: local mail is left in maildrop (local_action tempfail)" \
    "$(ctl explain shop r7@example.com | awk '$1 == "local" {print $2}')" tempfail
# Any other submission makes pickup present it again, under a new ID.
local_send other@elsewhere.example o1@example.net
local_send other@elsewhere.example o2@example.net
for i in $(seq 1 50); do [ "$(log_count 'action=defer-local recipients')" -ge 2 ] && break; sleep 0.1; done
[ "$(log_count 'action=defer-local recipients')" -ge 2 ] && ok "tempfail: presented again by pickup" || fail "no retry seen"
ctl show shop > "$T/show2"
expect_eq "tempfail: retries charged nothing" "$(awk '$1 == "tenant-hour" {print $5}' "$T/show2")" 3
ctl reset shop > /dev/null
local_send other@elsewhere.example o3@example.net
for i in $(seq 1 50); do [ "$(maildrop_files)" -eq 0 ] && break; sleep 0.1; done
drain
expect_eq "after reset: the deferred message is delivered" "$(sink_count 't1@example\.com')" 1
expect_eq "nothing lost: 3 + 1 + 1 + 3 others at the sink, 6 on hold" "$(sink_count).$(held_files)" 8.6
finish
