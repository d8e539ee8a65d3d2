#!/bin/bash
# charge_at: with data (the default) a plain message is charged at DATA
# and Postfix leaves floodgate out of the rest of it (the end of the
# message goes through while floodgate is stopped); a client that drops
# inside the message body has been charged. Tagged and held messages
# still wait for the end. A message in BDAT chunks (CHUNKING, as MTAs
# that relay through the server send) is charged at its first chunk as
# at DATA. With charge_at end floodgate is asked at the end of every
# message and a drop inside the body costs nothing.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
limit hour per account 3/1h
limit soft per account to tag.example 1/1h action tag
EOT
start_floodgate
start_postfix

# open_data FROM RCPT: an SMTP session up to DATA's 354, on fd $S.
open_data() {
	exec {S}<>/dev/tcp/127.0.0.1/$SMTP_PORT || return 1
	read_reply $S >/dev/null
	local cmd
	for cmd in "EHLO t" "MAIL FROM:<$1>" "RCPT TO:<$2>" DATA; do
		printf '%s\r\n' "$cmd" >&$S
		read_reply $S >>"$T/sessions" || return 1
	done
	tail -1 "$T/sessions" | grep -q '^354' || { fail "no 354: $(tail -1 "$T/sessions")"; return 1; }
}

# end_data TIMEOUT: the message's end; prints the final reply's code.
end_data() {
	local line
	printf 'Subject: charge_at\r\n\r\nbody\r\n.\r\n' >&$S
	IFS= read -r -t "$1" line <&$S && echo "${line%% *}"
}

# 1. charge_at data: the end of the message does not wait for floodgate.
open_data a@one.example r1@example.com
kill -STOP "$FG_PID"
code=$(end_data 5)
kill -CONT "$FG_PID"
exec {S}>&-
expect_eq "charge_at data: the end of the message passes while floodgate is stopped" "$code" 250

# 2. A client gone inside the body was charged at DATA: 1 + 2 of 3 left.
open_data a@one.example r2@example.com
printf 'Subject: gone\r\n\r\nhalf a bo' >&$S
exec {S}>&-
sleep 0.5	# smtpd notices the dropped client
send "$T/d1" $SMTP_PORT a@one.example "$(rcpts x example.com 2)"
expect_eq "charge_at data: the dropped message was charged (3rd recipient of the hour refused)" "$(count_replies "$T/d1" 451)" 1

# 2b. BDAT: a message in two chunks, then one whose client is gone
# inside its only chunk: 2 + 1 of 3, the next recipient refused.
# bdat FROM RCPT [gone]
bdat() {
	python3 - "$SMTP_PORT" "$@" <<'PY' >>"$T/sessions" 2>&1
import smtplib, sys
port, frm, rcpt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port)
s.ehlo("client.example")
assert s.has_extn("chunking"), "no CHUNKING offered"
s.docmd("MAIL FROM:<%s>" % frm)
for r in rcpt.split(","):
    s.docmd("RCPT TO:<%s>" % r)
body = b"Subject: bdat\r\n\r\nbody\r\n"
if len(sys.argv) > 4:
    s.send(b"BDAT 1000 LAST\r\n" + body)
    s.close()
    sys.exit(0)
s.send(b"BDAT %d\r\n" % len(body) + body)
print(s.getreply())
s.send(b"BDAT 0 LAST\r\n")
code, text = s.getreply()
print(code, text)
s.quit()
sys.exit(0 if code == 250 else 1)
PY
}
bdat d@four.example b1@example.com,b2@example.com && ok "BDAT: a message in two chunks is taken" ||
    fail "BDAT: $(tail -2 "$T/sessions")"
bdat d@four.example b3@example.com gone
sleep 0.5
send "$T/b1" $SMTP_PORT d@four.example b4@example.com
expect_eq "BDAT: both charged at their first chunk (the 4th recipient of the hour refused)" "$(count_replies "$T/b1" 451)" 1

# 3. A tagged message waits for the end, where it gets its header.
send "$T/t1" $SMTP_PORT b@two.example "$(rcpts t tag.example 1)"
send "$T/t2" $SMTP_PORT b@two.example "$(rcpts u tag.example 1)"
expect_eq "charge_at data: the tagged message is accepted" "$(count_replies "$T/t2" 4..)" 0

# 4. charge_at end: floodgate is asked at the end, and a drop costs nothing.
write_conf <<EOT
charge_at end
limit hour per account 3/1h
limit soft per account to tag.example 1/1h action tag
EOT
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" && ok "reloaded with charge_at end" || fail "no reload line"
open_data c@three.example s1@example.com
kill -STOP "$FG_PID"
code=$(end_data 3)
kill -CONT "$FG_PID"
expect_eq "charge_at end: the end of the message waits for floodgate" "$code" ""
code=$(IFS= read -r -t 10 line <&$S && echo "${line%% *}")
exec {S}>&-
expect_eq "charge_at end: accepted once floodgate answers" "$code" 250
open_data c@three.example s2@example.com
printf 'Subject: gone\r\n\r\nhalf a bo' >&$S
exec {S}>&-
sleep 0.5
send "$T/e1" $SMTP_PORT c@three.example "$(rcpts y example.com 2)"
expect_eq "charge_at end: the dropped message cost nothing (2 of 2 left)" "$(count_replies "$T/e1" 451)" 0

drain
expect_eq "sink: the tagged message carries X-Floodgate" "$(grep -l '^X-Floodgate: over soft' "$T"/sink/m.* | wc -l)" 1
expect_eq "sink: every accepted recipient, none of the dropped ones" "$(sink_count)" 9
expect_eq "show: a@one.example used its 3, the dropped one among them" \
    "$(ctl show a@one.example | awk '$1 == "hour" {print $5 "/" $6}')" 3/3
expect_eq "show: c@three.example used 3, not the dropped one" \
    "$(ctl show c@three.example | awk '$1 == "hour" {print $5 "/" $6}')" 3/3
finish
