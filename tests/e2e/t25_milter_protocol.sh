#!/bin/bash
# What Postfix never sends, sent straight to floodgate's socket by a small
# client of our own (milterclient.py): commands out of order, missing
# macros, NUL and control bytes, broken and oversized packets, a client
# stalled mid-packet, 1,000 idle connections, garbage. None may crash or
# stall the daemon or charge the wrong account.
. "$(dirname "$0")/lib.sh"
need_root
command -v python3 >/dev/null || skip "python3 is not installed"
setup
write_conf <<EOT
limit tenant-hour per account 2/1h
EOT
start_floodgate
python3 "$(dirname "$0")/milterclient.py" "$T/fg/milter.sock" > "$T/client.out" 2>&1
rc=$?
expect_eq "the client ran to the end" "$rc" 0
[ "$rc" -eq 0 ] || cat "$T/client.out"
while IFS=$'\t' read -r name got want; do
	expect_eq "${name#RESULT }" "$got" "$want"
done < <(grep '^RESULT ' "$T/client.out")
expect_eq "every scenario reported" "$(grep -c '^RESULT ' "$T/client.out")" 27
alive "$FG_PID" && ok "floodgate still running" || fail "floodgate died"
grep -q "account=mallory@evil.example" "$T/floodgate.log" && ok "the refusal names the sender's account" ||
	fail "$(grep 'account=' "$T/floodgate.log" | head -3)"
n=$(grep -c 'malformed\|unknown milter command' "$T/floodgate.log")
[ "$n" -ge 10 ] && ok "each broken packet logged ($n lines)" || fail "broken packets logged: $n, want at least 10"
finish
