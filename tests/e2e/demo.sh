#!/bin/bash
# make demo: floodgate between a private Postfix and a sink, three
# tenants, one of them broken into. Prints what each tenant got through,
# what was deferred and which rules fired, then cleans up.
. "$(dirname "$0")/lib.sh"
NAME=demo
setup
cat > "$T/accounts" <<EOT
shop.example    shop
clinic.example  clinic
blog.example    blog
EOT
write_conf <<EOT
account_map $T/accounts
group carriers  docomo.ne.jp ezweb.ne.jp au.com softbank.ne.jp i.softbank.jp
limit tenant-hour     per account                   60/1h
limit tenant-carrier  per account    to @carriers   15/1h
limit carrier-server  per domain     to @carriers   250/1h
cap   carrier-fanout                 to @carriers   100
override tenant-carrier clinic                      200/1h
override tenant-hour    clinic                      500/1h
EOT
start_floodgate
start_postfix

b() { printf '\033[1m%s\033[0m\n' "$*"; }
[ -t 1 ] || b() { printf '%s\n' "$*"; }

b "floodgate demo"
echo "A private Postfix listens on 127.0.0.1:$SMTP_PORT with floodgate attached"
echo "(smtpd_milters); everything it relays goes to smtp-sink on port $SINK_PORT."
echo "Three tenants share this server's IP. The rules, as 'floodgate -n' prints them:"
echo
"$FLOODGATE" -n -c "$T/floodgate.conf" | grep -E '^(limit|cap|group)' | sed 's/^/    /'
echo

# step TENANT_SENDER LABEL DOMAIN N: one message of N recipients
step() {
	local f="$T/out.$RANDOM"
	send "$f" $SMTP_PORT "$1" "$(rcpts "u$RANDOM." "$3" "$4")"
	printf '    %-34s %3d recipients -> %3d accepted, %3d deferred (451), %3d split off (452)\n' \
	    "$2" "$4" "$(grep -c '^<- *250 2.1.5' "$f")" "$(count_replies "$f" 451)" "$(count_replies "$f" 452)"
}

b "1. shop.example sends its weekly newsletter to its customers"
for i in 1 2 3; do step news@shop.example "newsletter part $i" example.com 10; done
b "2. clinic.example (a bigger plan for carriers) sends reminders to patients' phones"
step remind@clinic.example "reminders to docomo.ne.jp" docomo.ne.jp 6
step remind@clinic.example "reminders to softbank.ne.jp" softbank.ne.jp 120
echo "       (docomo and SoftBank take at most 100 recipients per transaction: the"
echo "        client sends the 20 split off in its next transaction)"
step remind@clinic.example "the 20 split off, resent" softbank.ne.jp 20
b "3. blog.example's WordPress has been broken into and starts spamming"
step wp@blog.example "one message to docomo.ne.jp" docomo.ne.jp 150
step wp@blog.example "then ezweb.ne.jp" ezweb.ne.jp 40
for i in 1 2 3; do step wp@blog.example "then webmail users, batch $i" example.net 30; done
b "4. Meanwhile the other tenants keep sending, unaffected"
step news@shop.example "newsletter part 4" example.com 10
step remind@clinic.example "more reminders to docomo.ne.jp" docomo.ne.jp 5
drain
echo
b "What reached the outside world (counted at the sink), per tenant:"
printf '    %-8s %10s %10s   %s\n' tenant delivered refused "rules that fired"
for t in shop clinic blog; do
	dom=$t.example
	delivered=$(for f in "$T"/sink/m.*; do
		grep -q "^X-Mail-Args: <[^@]*@$dom>" "$f" && grep -c '^X-Rcpt-Args:' "$f"
	done | awk '{s += $1} END {print s + 0}')
	refused=$(log_count "account=$t ")
	rules=$(grep "account=$t " "$T/floodgate.log" | sed 's/.* rule=\([^ ]*\) .*action=\([^ ]*\).*/\1(\2)/' |
	    sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
	printf '    %-8s %10s %10s   %s\n' "$t" "$delivered" "$refused" "${rules:--}"
done
echo
b "A few of floodgate's log lines (one per refusal, key=value):"
grep "rule=" "$T/floodgate.log" | awk '/carrier-fanout/ && !c++ || /tenant-carrier/ && !t++ || /tenant-hour/ && !h++' |
    cut -c21- | head -3 | sed 's/^/    /'
echo
echo "The compromised tenant hit its own budgets: the carriers saw 15 of its"
echo "recipients this hour, not 190, and no carrier got more than 100 recipients"
echo "in one transaction. The other tenants' mail went out as usual. Deferred"
echo "recipients are retried by the client later, when the window has room."
KEEP=0
