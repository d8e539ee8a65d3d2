#!/bin/bash
# Out of memory to read an address, floodgate defers (451 4.3.0) and
# counts nothing, where before it guessed: a sender not read became the
# next source's account (another tenant's budget), a recipient at a
# carrier's name in UTF-8 counted by its bytes (apart from the carrier)
# or by no domain. The socket map answers such a name TEMP, which
# Postfix takes as a failed lookup: the recipient waits. A reload then
# fails whole, saying why (not "expected a domain"). A preloaded shim
# makes libidn2 say it is out of memory while $T/oom exists.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
account sender client
limit carrier per domain to docomo.ne.jp 2/1h
postfix_map unix:$T/fg/map.sock
EOT
cat > "$T/oom.c" <<'EOC'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

int
idn2_to_ascii_8z(const char *in, char **out, int flags)
{
	int (*real)(const char *, char **, int) =
	    (int (*)(const char *, char **, int))dlsym(RTLD_NEXT,
	    "idn2_to_ascii_8z");
	const char *f = getenv("FG_OOM_FILE");

	if (f != NULL && access(f, F_OK) == 0)
		return -100;	/* IDN2_MALLOC */
	return real(in, out, flags);
}
EOC
cc -shared -fPIC -o "$T/oom.so" "$T/oom.c" -ldl || { fail "the shim builds"; finish; }
FG_ENV="$(preload "$T/oom.so") FG_OOM_FILE=$T/oom"
start_floodgate
FG_ENV=
start_postfix
FW_DOCOMO='ｄｏｃｏｍｏ.ne.jp'

touch "$T/oom"
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<a@ｅｘａｍｐｌｅ.jp> SMTPUTF8" \
    "RCPT TO:<r0@example.org>" QUIT > "$T/sender"
grep -q "^451 4.3.0 floodgate: out of memory, try again later" "$T/sender" &&
    ok "a sender not read: its recipient deferred, 451 4.3.0" || fail "$(cat "$T/sender")"
expect_eq "  ... logged" "$(log_count 'error: session=[0-9a-f]*: cannot read the sender (out of memory)')" 1
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<b@h.example> SMTPUTF8" \
    "RCPT TO:<r1@$FW_DOCOMO>" "RCPT TO:<r2%$FW_DOCOMO@[127.0.0.1]>" \
    "RCPT TO:<r3@example.org>" DATA QUIT > "$T/rcpt"
expect_eq "recipients not read: deferred, 451 4.3.0; the ASCII one queued" \
    "$(grep -c '^451 4.3.0 floodgate: temporary failure, try again later' "$T/rcpt").$(grep -c '^250 2.0.0 Ok: queued' "$T/rcpt")" 2.1
expect_eq "  ... each logged" "$(log_count 'error: session=[0-9a-f]* qid=[0-9A-Za-z-]* account=b@h.example: cannot read a recipient (out of memory)')" 2
expect_eq "socket map: the name not read is TEMP, an ASCII one NOTFOUND" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport "x@$FW_DOCOMO" x@example.com | tr '\n' '|')" \
    "TEMP floodgate: out of memory|NOTFOUND |"

# Postfix, its transport table asking floodgate: the lookup failed, the
# recipient waits (Postfix answers before the milter is asked).
postconf -c "$T/etc" -e "transport_maps = socketmap:unix:$T/fg/map.sock:transport"
reload_postfix
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<c@h.example> SMTPUTF8" \
    "RCPT TO:<r4@$FW_DOCOMO>" QUIT > "$T/map"
grep -q "^451 4.3.0 <r4@$FW_DOCOMO>: Temporary lookup failure" "$T/map" &&
    ok "Postfix: the socket map's TEMP deferred the recipient" || fail "$(cat "$T/map")"

# A reload out of memory (a group's name in UTF-8 not read): the file
# is not loaded in part, the running configuration is kept and says so.
cp "$T/floodgate.conf" "$T/good.conf"
printf 'group carriers docomo.ne.jp %s\nlimit fw per domain to @carriers 1/1h\n' \
    'ａｕ.example' >> "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: $T/floodgate.conf has errors; keeping the running configuration" &&
    grep -q "error: $T/floodgate.conf: out of memory while reading it (not loaded)" "$T/floodgate.log" &&
    ok "a reload out of memory: not loaded, saying so; the running configuration kept" ||
    fail "the reload: $(grep 'error:' "$T/floodgate.log" | tail -3)"
cp "$T/good.conf" "$T/floodgate.conf"

# With memory again: nothing was counted, docomo.ne.jp's 2 are whole.
rm -f "$T/oom"
smtp_session $SMTP_PORT "EHLO t" "MAIL FROM:<a@ｅｘａｍｐｌｅ.jp> SMTPUTF8" \
    "RCPT TO:<r5@$FW_DOCOMO>" "RCPT TO:<r6@docomo.ne.jp>" \
    "RCPT TO:<r7@$FW_DOCOMO>" DATA QUIT > "$T/after"
expect_eq "with memory: 2 to docomo.ne.jp pass, the 3rd deferred by its limit" \
    "$(grep -c '^250 2.1.5' "$T/after").$(grep -c '^451 4.7.1 floodgate: carrier limit reached (2/1h)' "$T/after")" 2.1
grep -q "^250 2.0.0 Ok: queued" "$T/after" && ok "  ... and the message queued" || fail "$(cat "$T/after")"
expect_eq "  ... counted for the sender read in ASCII" \
    "$(log_count 'account=a@example.jp .*rule=carrier dest=docomo.ne.jp action=defer')" 1
alive "$FG_PID" && ok "floodgate is still running" || fail "floodgate died"
drain
# (The sink offers no SMTPUTF8: mail that needs it goes no further.)
expect_eq "sink: the recipient queued while the others were deferred" \
    "$(sink_count '@example\.org')" 1
finish
