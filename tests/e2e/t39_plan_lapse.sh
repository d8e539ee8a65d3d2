#!/bin/bash
# A release plan nobody confirms lapses: what it reserved is given back
# and its database marks are cleared five minutes (PLAN_TTL, 300 s)
# after its run's last step, not before, however many steps later runs
# confirm meanwhile; and a long run keeps its later plans open, since
# each step it confirms moves the deadline of every plan of that run.
# floodgate runs on a clock (libfaketime) the test moves forward
# through a file.
. "$(dirname "$0")/lib.sh"
need_faketime
setup
cat >> "$T/etc/main.cf" <<EOT
non_smtpd_milters = unix:$T/fg/milter.sock
EOT
touch -d '-10 seconds' "$T/etc/main.cf"
write_conf <<EOT
postfix_config $T/etc
release_alarm off
limit day per account 3/1d
EOT
# floodgate's clock: the offset in this file, read at each call.
echo "+0" > "$T/clock"
FG_ENV="$(preload "$FAKETIME_LIB") FAKETIME_TIMESTAMP_FILE=$T/clock FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1"
start_floodgate
start_postfix
marked() { sqlite3 "$T/floodgate.db" "SELECT count(*) FROM held WHERE released IS NULL AND planned IS NOT NULL"; }
used() { ctl show news@list.example | awk '$1 == "day" {print $5}'; }
planned() { ctl status | awk '$1 == "release_planned" {print $2}'; }
# clock_ahead S: floodgate's clock S seconds further on, then one service
# tick (each second) at that time.
clock_ahead() {
	echo "+$(($(tr -d '+' < "$T/clock") + $1))" > "$T/clock"
	sleep 1.5
}

for i in 1 2 3 4 5; do
	printf 'Subject: n%s\n\nnewsletter\n' $i | submit news@list.example "n$i@example.com"
done
for i in 1 2 3 4; do
	printf 'Subject: s%s\n\nshop\n' $i | submit shop@store.example "s$i@example.com"
done
for i in $(seq 1 50); do [ "$(held_files)" -ge 3 ] && break; sleep 0.1; done
expect_eq "6 sent, 3 held (news 2, shop 1)" "$(held_files)" 3
ctl reset news@list.example > /dev/null

# A run killed before its first postsuper: both messages planned, their
# budget reserved and their rows marked, and nobody to confirm them.
mkdir "$T/hang"
printf '#!/bin/sh\nkill -KILL $PPID\nexit 1\n' > "$T/hang/postsuper"
chmod 755 "$T/hang/postsuper"
# (The braces keep bash's "Killed" line for it out of the output.)
{ PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" release > /dev/null 2>&1; } 2>/dev/null
expect_eq "release killed before its first postsuper" $? 137
expect_eq "  ... both planned: reserved" "$(used)" 2
expect_eq "  ... and marked" "$(marked)" 2
expect_eq "  ... status: 2 planned for release" "$(planned)" 2
# 200 s later another run releases shop's message: its steps keep its
# own plan open, not the dead run's.
clock_ahead 200
ctl reset shop@store.example > /dev/null
ctl release > "$T/r0"
expect_eq "200 s on: another run releases shop's message, not news'" \
    "$(grep -c '^account  *shop@store.example$' "$T/r0") $(grep -c '^result  *released$' "$T/r0") $(grep -c 'news@' "$T/r0")" "1 1 0"
clock_ahead 90
expect_eq "290 s on: news' still planned" "$(log_count 'was not confirmed') $(used) $(marked)" "0 2 2"
clock_ahead 11
wait_log 'was not confirmed: no release step for 300 s; its reservation is given back' 2 5 &&
    ok "301 s on: both plans lapsed" || fail "$(grep 'release:' "$T/floodgate.log")"
expect_eq "  ... their budget given back" "$(used)" 0
expect_eq "  ... their marks cleared" "$(marked)" 0
expect_eq "  ... status: none planned" "$(planned)" 0
expect_eq "  ... still held" "$(held_files)" 2

# A slow run: 200 s of floodgate's clock go by before each postsuper, so
# the second message is released 400 s after the plan: still planned,
# since the first one's confirmation moved its deadline.
cat > "$T/hang/postsuper" <<EOT
#!/bin/sh
echo "+\$((\$(tr -d '+' < "$T/clock") + 200))" > "$T/clock"
sleep 1.5
exec /usr/sbin/postsuper "\$@"
EOT
PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" release > "$T/r1" 2> "$T/r1.err"
expect_eq "a slow run: exit 0" $? 0
expect_eq "  ... both released" "$(grep -c 'news@list.example *released$' "$T/r1")" 2
expect_eq "  ... no plan lapsed" "$(log_count 'was not confirmed')" 2
expect_eq "  ... both charged" "$(used)" 2
expect_eq "  ... no mark left" "$(marked)" 0
drain
expect_eq "sink: every message, once each" \
    "$(sink_count '@example\.com') $(cat "$T"/sink/m.* | grep '^X-Rcpt-Args:' | sort -u | wc -l)" "9 9"
finish
