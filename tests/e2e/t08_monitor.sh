#!/bin/bash
# (i) mode monitor logs what enforce would refuse but delivers everything.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
mode monitor
limit tenant-hour per account 3/1h
EOT
start_floodgate
start_postfix

send "$T/m1" $SMTP_PORT app@m.example "$(rcpts a example.com 6)"
expect_eq "nothing refused" "$(count_replies "$T/m1" 4..)" 0
drain
expect_eq "sink: every recipient delivered" "$(sink_count '@example.com')" 6
expect_eq "log: what enforce would have deferred" "$(log_count 'rule=tenant-hour dest=example.com action=defer .* mode=monitor')" 3
finish
