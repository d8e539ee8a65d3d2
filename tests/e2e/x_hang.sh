#!/bin/bash
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sendmail.sh"
setup
sendmail_fetch || skip "no sendmail"
python3 /tmp/exp/hang.py $T/map.sock &
MPID=$!
sleep 0.3
SM_MC_TAIL=$(sed -n '/^    dnl floodgate: ask sendmail_map/,/^    dnl floodgate: end/p' "$TOP/README.md" |
    sed -e 's/^    //' -e "s|socket unix:/run/floodgate/sendmail-map.sock|socket ${SOCKOPT:-} unix:$T/map.sock|")
write_conf <<EOT
mta sendmail
EOT
start_floodgate
trap 'kill $MPID; sendmail_cleanup' EXIT
sendmail_setup || { fail "sendmail set-up"; finish; }
grep -n "^Kfloodgate" $T/sm/sendmail.cf
sendmail_start || { fail "sendmail did not start"; finish; }
start=$(date +%s.%N)
send "$T/d1" $SM_PORT shop@d.example "a1@docomo.test"
echo "took $(echo "$(date +%s.%N) - $start" | bc)"
grep -E '^<\*\*|^<~?\*? ?[0-9]' $T/d1 | tail -3
tail -3 $T/sm/maillog
finish
