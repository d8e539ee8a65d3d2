#!/bin/bash
# A concurrent burst: the bulk tenant sends 60 one-recipient messages over
# six sessions at once, while smtp-source sends the quiet tenant's mail
# (10 messages of 2 recipients, three sessions) in the same seconds. The
# bulk tenant gets exactly its limit through, however the sessions
# interleave; the quiet tenant gets everything through.
. "$(dirname "$0")/lib.sh"
setup
command -v smtp-source >/dev/null || skip "smtp-source is not installed"
cat > "$T/accounts" <<EOT
bulk.example  bulk
quiet.example quiet
EOT
write_conf <<EOT
account_map $T/accounts
limit tenant-hour per account 25/1h
EOT
start_floodgate
start_postfix

smtp-source -s 3 -m 10 -r 2 -l 1024 -f sender@quiet.example -t other@example.net \
    127.0.0.1:$SMTP_PORT > "$T/quiet.out" 2>&1 &
pq=$!
pids=
for s in 1 2 3 4 5 6; do
	( for i in $(seq 1 10); do
		send "$T/bulk.$s.$i" $SMTP_PORT "s$s@bulk.example" "r$s.$i@example.com"
	done ) &
	pids="$pids $!"
done
wait $pq
expect_eq "smtp-source (quiet tenant) finished without error" $? 0
wait $pids
drain
deferred=$(cat "$T"/bulk.* | grep -c '^<\*\* *451 4.7.1 floodgate: tenant-hour')
expect_eq "bulk: 35 of 60 deferred" "$deferred" 35
expect_eq "sink: bulk got exactly its limit through" "$(sink_count '@example\.com')" 25
expect_eq "sink: quiet got all 10 x 2 recipients through" "$(sink_count '@example\.net')" 20
expect_eq "log: one line per deferral" "$(log_count 'account=bulk source=sender rule=tenant-hour .*action=defer')" 35
expect_eq "log: nothing refused for the quiet tenant" "$(log_count 'account=quiet ')" 0
finish
