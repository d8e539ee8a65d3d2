#!/bin/bash
# Hostile and odd input through the real path (a real Postfix in front):
# 1,000 and 10,000 recipients in one message, addresses at and past the
# RFC 5321 limits, quoted local parts, source routes, IDN in UTF-8 and in
# punycode, case variants and trailing dots of one domain (one budget),
# the null sender, a 5,000-byte address. floodgate never crashes, stalls
# or charges wrongly.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
limit tenant-hour per account 100000/1h
limit carrier     per domain  to docomo.ne.jp, xn--r8jz45g.jp 3/1h
EOT
start_floodgate
start_postfix

start=$(date +%s)
send "$T/k1" $SMTP_PORT big@h.example "$(rcpts a example.com 1000)"
expect_eq "1,000 recipients: all accepted" "$(grep -c '^<- *250 2.1.5' "$T/k1")" 1000
# Too many for one command line: a raw session.
cmds=("EHLO t" "MAIL FROM:<big@h.example>")
for i in $(seq 1 10000); do cmds+=("RCPT TO:<b$i@example.net>"); done
smtp_session $SMTP_PORT "${cmds[@]}" DATA QUIT > "$T/k10"
expect_eq "10,000 recipients: all accepted" "$(grep -c '^250 2.1.5' "$T/k10")" 10000
ok "11,000 recipients decided in $(( $(date +%s) - start )) s"

# One domain, many spellings: one budget of 3.
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<c@h.example>" \
    "RCPT TO:<u1@docomo.ne.jp>" "RCPT TO:<u2@DoCoMo.NE.JP>" "RCPT TO:<u3@docomo.ne.jp.>" \
    "RCPT TO:<u4@DOCOMO.ne.jp>" DATA QUIT > "$T/case"
expect_eq "case variants and a trailing dot are one domain: 4th deferred" "$(grep -c '^451 4.7.1' "$T/case")" 1
# IDN: a domain in UTF-8 (SMTPUTF8) counts as the name Postfix resolves
# (UTS #46): 例え.jp is xn--r8jz45g.jp, and fullwidth letters, an
# ideographic full stop or a soft hyphen spell docomo.ne.jp, whose 3 are
# spent above. Before, each spelling had a budget of its own.
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<i@h.example> SMTPUTF8" \
    "RCPT TO:<u1@例え.jp>" "RCPT TO:<u2@xn--r8jz45g.jp>" "RCPT TO:<u3@XN--R8JZ45G.JP>" \
    "RCPT TO:<u4@例え.jp>" "RCPT TO:<f1@ｄｏｃｏｍｏ.ne.jp>" "RCPT TO:<f2@ＤＯＣＯＭＯ．ＮＥ．ＪＰ>" \
    "RCPT TO:<f3@docomo。ne.jp>" "RCPT TO:<f4@doc$(printf '\xc2\xad')omo.ne.jp>" \
    "RCPT TO:<f5@ｅｘａｍｐｌｅ.org>" DATA QUIT > "$T/idn"
expect_eq "one domain in UTF-8 and punycode: its 4th deferred; 4 spellings of docomo deferred" \
    "$(grep -c '^451 4.7.1 floodgate: carrier limit reached' "$T/idn")" 5
expect_eq "log: the fullwidth and dotted spellings deferred for docomo.ne.jp" "$(log_count 'account=i@h.example .*rule=carrier dest=docomo.ne.jp action=defer')" 4
grep -q "^250 2.0.0 Ok: queued" "$T/idn" && ok "a UTF-8 domain is accepted and counted" || fail "$(cat "$T/idn")"
# A local part past 255 bytes (RFC 5321 says 64; Postfix takes it): the
# domain is still read. Before, such an address was unreadable and
# passed every carrier limit.
long600=$(printf 'p%.0s' $(seq 1 600))
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<p@h.example>" \
    "RCPT TO:<$long600@docomo.ne.jp>" "RCPT TO:<$long600%docomo.ne.jp@[127.0.0.1]>" \
    "RCPT TO:<$long600@example.org>" DATA QUIT > "$T/long"
expect_eq "600-byte local parts, plain and routed, to docomo: deferred" "$(grep -c '^451 4.7.1 floodgate: carrier limit reached' "$T/long")" 2
grep -q "^250 2.0.0 Ok: queued" "$T/long" && ok "... and to example.org accepted" || fail "$(cut -c1-80 "$T/long")"

long64=$(printf 'l%.0s' $(seq 1 64))
long200=$(printf 'm%.0s' $(seq 1 200))
label=$(printf 'd%.0s' $(seq 1 63))
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<$long64@h.example>" \
    "RCPT TO:<$long64@example.org>" "RCPT TO:<$long200@example.org>" \
    "RCPT TO:<x@$label.$label.$label.example.org>" \
    "RCPT TO:<\"john doe\"@example.org>" "RCPT TO:<\"a\\\\\\\"b\"@example.org>" \
    "RCPT TO:<@relay.example,@r2.example:routed@example.org>" DATA QUIT > "$T/odd"
grep -q "^250 2.0.0 Ok: queued" "$T/odd" && ok "odd addresses: the message is queued" || fail "$(tail -5 "$T/odd")"
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<>" "RCPT TO:<bounce@example.org>" DATA QUIT > "$T/null"
grep -q "^250 2.0.0 Ok: queued" "$T/null" && ok "the null sender" || fail "$(tail -3 "$T/null")"
drain
alive "$FG_PID" && ok "floodgate is still running" || fail "floodgate died"
expect_eq "sink: every accepted recipient" "$(sink_count '@example\.com')/$(sink_count '@example\.net')" 1000/10000
expect_eq "sink: no docomo recipient past the 3" "$(sink_count 'docomo')" 3
ctl show h.example > /dev/null && ok "floodgatectl still answers" || fail "ctl"

# Past the 4,096 bytes floodgate once read of an address: Postfix
# refuses the command at its default line_length_limit (2048) and takes
# it once that is raised; floodgate reads it whole, plain and routed, and
# docomo's limit (its 3 spent above) defers both. A routed one is logged
# cut, with its length. Before, both went past the limit.
long5000=$(printf 'q%.0s' $(seq 1 5000))
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<q@h.example>" \
    "RCPT TO:<$long5000@docomo.ne.jp>" QUIT > "$T/over"
expect_eq "a 5,000-byte local part: refused by Postfix (line_length_limit 2048)" \
    "$(grep -c '^501 ' "$T/over")" 1
postconf -c "$T/etc" -e "line_length_limit = 8192"
reload_postfix
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<q@h.example>" \
    "RCPT TO:<$long5000@docomo.ne.jp>" \
    "RCPT TO:<$long5000%docomo.ne.jp@[127.0.0.1]>" QUIT > "$T/over"
expect_eq "  ... with line_length_limit 8192, plain and routed, to docomo: deferred" \
    "$(grep -c '^451 4.7.1 floodgate: carrier limit reached' "$T/over")" 2
expect_eq "  ... the routed one logged cut to its first 256 bytes, with its length" \
    "$(log_count "recipient <${long5000:0:255}\.\.\. (5027 bytes) is routed on: counted for domain docomo.ne.jp")" 1
# The MTA's {rcpt_addr} for it, as long, reaches floodgate on either
# engine (the native one dropped a macro past 1,024 bytes, and counted
# such a recipient by its own choice of domain).
expect_eq "  ... counted where Postfix resolved it" \
    "$(log_count "(5027 bytes) is routed on: counted for domain docomo.ne.jp (where the MTA resolved it)")" 1
# Past the 64 kB of a milter packet: the engine (native, or libmilter)
# closes the connection as a broken peer's, and Postfix defers by its
# milter_default_action (tempfail). floodgate goes on.
postconf -c "$T/etc" -e "line_length_limit = 200000"
reload_postfix
long70k=$(printf 'q%.0s' $(seq 1 70000))
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<q@h.example>" \
    "RCPT TO:<$long70k@example.org>" QUIT > "$T/over"
expect_eq "  ... 70,000 bytes, past a milter packet: deferred (milter_default_action)" \
    "$(grep -c '^451 4.7.1 Service unavailable' "$T/over")" 1
alive "$FG_PID" && ok "  ... and floodgate goes on" || fail "floodgate died on a 70,000-byte recipient"
finish
