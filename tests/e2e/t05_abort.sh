#!/bin/bash
# (f) transactions aborted after RCPT cost nothing: QUIT, RSET and a
# dropped connection all release what RCPT reserved.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
limit tenant-hour per account 5/1h
EOT
start_floodgate
start_postfix

for i in 1 2; do
	send "$T/q$i" $SMTP_PORT app@ab.example "$(rcpts q example.com 5)" --quit-after RCPT
done
expect_eq "QUIT after RCPT: all 5 were accepted at RCPT" "$(grep -c '^<- *250 2.1.5' "$T/q1")" 5
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<app@ab.example>" \
    "RCPT TO:<r1@example.com>" "RCPT TO:<r2@example.com>" "RCPT TO:<r3@example.com>" \
    "RSET" "QUIT" > "$T/rset"
expect_eq "RSET session: 3 recipients accepted" "$(grep -c '^250 2.1.5' "$T/rset")" 3
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<app@ab.example>" \
    "RCPT TO:<d1@example.com>" "RCPT TO:<d2@example.com>" "DROP" > "$T/drop"
expect_eq "dropped session: 2 recipients accepted" "$(grep -c '^250 2.1.5' "$T/drop")" 2
# RSET then a real message in the same session: only that one counts.
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<app@ab.example>" \
    "RCPT TO:<s1@example.com>" "RCPT TO:<s2@example.com>" "RSET" \
    "MAIL FROM:<app@ab.example>" "RCPT TO:<s3@example.com>" DATA "QUIT" > "$T/same"
expect_eq "RSET then a message: its recipient accepted" "$(grep -c '^250 2.1.5' "$T/same")" 3
sleep 0.5	# smtpd notices the dropped connection
send "$T/real" $SMTP_PORT app@ab.example "$(rcpts z example.com 5)"
expect_eq "after the aborts the full budget remains (4 of 5 left)" "$(count_replies "$T/real" 451)" 1
drain
expect_eq "sink: only delivered recipients" "$(sink_count '@example.com')" 5
expect_eq "no refusal logged for the aborted transactions" "$(log_count 'action=defer')" 1
finish
