#!/bin/bash
# (h) SIGUSR1 with a broken config keeps the old config running; a good
# one is swapped in and rules that keep their name keep their counts; a
# config deleted and reloaded under an smtp-source burst changes nothing.
# SIGHUP reloads with the native engine; with libmilter it is
# libmilter's, which stops: floodgate then stops cleanly within a second.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
limit tenant-hour per account 5/1h
EOT
start_floodgate
start_postfix
cp "$T/floodgate.conf" "$T/good.conf"

send "$T/h1" $SMTP_PORT app@h.example "$(rcpts a example.com 3)"
expect_eq "3 of 5 used" "$(count_replies "$T/h1" 451)" 0
printf 'limit tenant-hour per account 5/1h\nlimit broken per acount 1/1h\n' >> "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "keeping the running configuration" && ok "broken reload refused" || fail "no refusal logged"
wait_log "floodgate.conf:[0-9]*: .*\"acount\": expected a scope" &&
    ok "the error names file:line and the token" || fail "error line: $(grep error "$T/floodgate.log" | head -2)"
alive "$FG_PID" && ok "still running" || fail "floodgate died on a bad reload"
send "$T/h2" $SMTP_PORT app@h.example "$(rcpts b example.com 3)"
expect_eq "old config still applies: 2 pass, 1 deferred" "$(count_replies "$T/h2" 451)" 1
sed 's|5/1h|8/1h|' "$T/good.conf" > "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" && ok "good reload logged" || fail "no reload line"
send "$T/h3" $SMTP_PORT app@h.example "$(rcpts c example.com 4)"
expect_eq "new limit 8, the 5 already sent still count: 3 pass, 1 deferred" "$(count_replies "$T/h3" 451)" 1
# Deleted, then reloaded, while smtp-source sends.
burst deleted 200
sleep 0.5
rm "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "cannot open" && ok "deleted config: refused, old one kept" || fail "deleted config not reported"
alive "$FG_PID" && ok "still running after the config was deleted" || fail "died"
burst_accounted deleted 200
expect_eq "the burst's account got the running config's 8" "$(sink_count 'deleted@burst\.example')" 8
expect_eq "sink" "$(sink_count '@example.com')" 8
cp "$T/good.conf" "$T/floodgate.conf"
if [ "$ENGINE" = libmilter ]; then
	t0=$(date +%s%N)
	kill -HUP "$FG_PID"
	for i in $(seq 1 100); do alive "$FG_PID" || break; sleep 0.02; done
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	alive "$FG_PID" && fail "libmilter: SIGHUP did not stop floodgate" ||
	    ok "libmilter: SIGHUP stops floodgate (${ms} ms)"
	[ "$ms" -lt 1500 ] && ok "  ... within a second and a half" || fail "SIGHUP stop took ${ms} ms"
	wait "$FG_PID"
	expect_eq "  ... exit status 0" $? 0
	FG_PID=
	expect_eq "  ... logged" "$(log_count 'engine: libmilter stopped; stopping floodgate')" 1
	expect_eq "  ... the state written" "$(log_count 'floodgate stopped')" 1
else
	kill -HUP "$FG_PID"
	wait_log "reload: .* loaded" 2 && ok "native: SIGHUP reloads like SIGUSR1" || fail "no reload on SIGHUP"
	alive "$FG_PID" && ok "  ... and floodgate runs on" || fail "SIGHUP stopped floodgate"
fi
finish
