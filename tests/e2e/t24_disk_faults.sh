#!/bin/bash
# The database on a full filesystem (a small tmpfs): floodgate keeps
# deciding from memory (on_store_error continue) through an smtp-source
# burst, says so once per incident (floodgatectl incidents lists it while
# the database cannot hold it), and writes everything once there is
# space again.
. "$(dirname "$0")/lib.sh"
setup
mkdir "$T/small"
mount -t tmpfs -o size=1M tmpfs "$T/small" 2>/dev/null || skip "cannot mount a tmpfs here"
trap 'umount "$T/small" 2>/dev/null; cleanup' EXIT
write_conf <<EOT
limit tenant-hour per account 1000/1h
EOT
sed -i "s|^database .*|database $T/small/floodgate.db|" "$T/floodgate.conf"
start_floodgate
start_postfix

send "$T/a0" $SMTP_PORT a0@d.example r@example.com
sleep 1.2
# Fill the filesystem, then make distinct accounts so every flush grows.
dd if=/dev/zero of="$T/small/fill" bs=4k 2>/dev/null
burst full 300
for i in $(seq 1 30); do send "$T/out-full-$i" $SMTP_PORT "u$i@full.example" "$(rcpts x$i example.com 3)"; done
wait_log "store: write failed" && ok "full filesystem: the failure is logged" || fail "no store failure"
expect_eq "full filesystem: mail still flows" "$(cat "$T"/out-full-* | grep -c '^<\*\*')" 0
expect_eq "one log line per incident" "$(log_count 'store: write failed')" 1
# store_incident: the store incident as floodgatectl incidents lists
# it (ID:STATE; ID 0 while the database cannot hold it).
store_incident() {
	ctl --json incidents | python3 -c '
import json, sys
print(" ".join("%s:%s" % (r["id"], r["state"]) for r in json.load(sys.stdin)["records"] if r["kind"] == "store"))'
}
incident_listed() { [ -n "$(store_incident)" ]; }
wait_for 5 incident_listed
expect_eq "full filesystem: incidents lists the open store incident, not written yet" "$(store_incident)" "0:open"
burst_accounted full 300
expect_eq "full filesystem: the burst all at the sink" "$(sink_count 'full@burst\.example')" 300
rm -f "$T/small/fill"
wait_log "store: working again" && ok "space again: recovered by itself" || fail "no recovery"
ended_stored() { [ "$(store_incident)" = "1:ended" ]; }
wait_for 5 ended_stored
expect_eq "space again: the incident is in the database, ended" "$(store_incident)" "1:ended"
sleep 1.2
expect_eq "what was decided meanwhile is in the store" \
    "$(sqlite3 "$T/small/floodgate.db" "SELECT count(*) FROM windows WHERE key LIKE 'u%@full.example'")" 30

drain
expect_eq "sink: everything" "$(sink_count)" $((1 + 90 + 300))
finish
