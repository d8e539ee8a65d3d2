#!/bin/bash
# A start takes up the newest 10000 incidents still owed (open, or not
# told to their end); older ones are ended in the database then, told to
# nobody, and said in the log: left open they stayed open for good, and
# a suspension still on got a second open incident. One still on starts
# again, and is told.
# engine: native (incidents are the service thread's, whichever engine)
. "$(dirname "$0")/lib.sh"
setup
cat > "$T/notify.sh" <<EOT
#!/bin/sh
cat >> "$T/notify.out"
EOT
chmod 755 "$T/notify.sh"
q() { sqlite3 -bail "$T/floodgate.db" "$1"; }
# (through cat: grep -c names no count for a file not there yet)
told_start() { [ "$(cat "$T/notify.out" 2>/dev/null | grep -c '"event":"start","kind":"suspend","subject":"old@s.tenant"')" -ge "$1" ]; }
write_conf <<EOT
postfix_config $T/etc
notify exec:$T/notify.sh on suspend
EOT
start_floodgate
ctl suspend old@s.tenant > "$T/suspend" 2>&1 || fail "floodgatectl suspend: $(cat "$T/suspend")"
wait_for 10 told_start 1 ||
    fail "the suspension was told: $(grep notify "$T/floodgate.log")"
stop_floodgate
expect_eq "a start with few incidents says nothing of them" "$(log_count 'incidents: more than')" 0

# The suspension's incident as if a day old, and 10,001 newer refused
# incidents, open and told of their start, as a long burst of refusals
# leaves them: 10,002 owed in all.
now=$(date +%s)
q "UPDATE incidents SET started = $now - 86400 WHERE subject = 'old@s.tenant';
    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10001)
    INSERT INTO incidents (kind, subject, started, count, detail, notified)
    SELECT 'refused', 'r' || i || '@r.tenant', $now - 20000 + i, 1, 'refused by limit hour', 1 FROM c;" ||
    fail "10,001 incidents written"
start_floodgate
grep -q "incidents: more than 10000 open or not told to their end: the older 2 ended untold (floodgatectl incidents lists them)" "$T/floodgate.log" &&
    ok "the start says it ended the 2 oldest" || fail "said: $(grep 'incidents:' "$T/floodgate.log")"
expect_eq "the oldest refused one ended untold, its detail saying why" \
    "$(q "SELECT ended >= $now, notified, detail FROM incidents WHERE subject = 'r1@r.tenant'")" \
    "1|2|refused by limit hour; ended untold at a start of floodgate, past the newest 10000 it takes up"
expect_eq "the next one is still open" "$(q "SELECT ended IS NULL FROM incidents WHERE subject = 'r2@r.tenant'")" 1
# The suspension is still on: its old incident ended, a new one started
# and told.
wait_for 10 told_start 2 ||
    fail "the suspension's new incident was told: $(cat "$T/notify.out")"
one_open() { [ "$(q "SELECT count(*) FROM incidents WHERE subject = 'old@s.tenant' AND ended IS NULL")" = 1 ]; }
wait_for 5 one_open ||
    fail "one open incident of the suspension in the database"
expect_eq "  ... and the old one ended untold" \
    "$(q "SELECT count(*) FROM incidents WHERE subject = 'old@s.tenant' AND ended IS NOT NULL AND notified = 2 AND detail LIKE '%ended untold at a start%'")" 1
ctl incidents > "$T/incidents" 2>&1 || fail "floodgatectl incidents: $(cat "$T/incidents")"
expect_eq "incidents lists the suspension open once" \
    "$(grep -c ' suspend .*old@s.tenant *open' "$T/incidents")" 1
# Told of their start only, the end untold (floodgatectl incidents
# says "start"; before, "start, end"): the suspension's, and the
# refused one's, its row written without told, as by a floodgate
# before schema 10.
expect_eq "  ... the old one and the oldest refused one told of their start only" \
    "$(q "SELECT group_concat(subject || '=' || told, ' ') FROM (SELECT subject, told FROM incidents WHERE ended IS NOT NULL AND subject IN ('old@s.tenant', 'r1@r.tenant') ORDER BY subject)")" \
    "old@s.tenant=1 r1@r.tenant=1"
stop_floodgate
expect_eq "floodgate exited 0" "$FG_STATUS" 0
# The next start finds 10,001 owed again (the suspension's new one):
# the oldest refused one goes, the suspension's stays open.
start_floodgate
grep -q "the older 1 ended untold" "$T/floodgate.log" &&
    ok "the next start ends the one oldest" || fail "said: $(grep 'incidents:' "$T/floodgate.log")"
expect_eq "  ... r2, and not the suspension's" \
    "$(q "SELECT subject FROM incidents WHERE ended IS NULL AND subject IN ('r2@r.tenant', 'r3@r.tenant', 'old@s.tenant') ORDER BY subject")" \
    "$(printf 'old@s.tenant\nr3@r.tenant')"
stop_floodgate
finish
