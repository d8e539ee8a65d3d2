#!/bin/bash
# notify mailto: with mta sendmail, floodgate running as an unprivileged
# user (user nobody here, as the systemd unit runs it as floodgate): the
# notification goes through Sendmail's submission program (submit.cf
# beside sendmail_config), which relays it over SMTP to the real
# Sendmail 8.17, through floodgate's milter untouched (its one-time
# token honoured over SMTP from the loopback too, where it was taken
# only from local mail), to the next hop.
# Before, floodgate ran the sendmail command with the MTA's sendmail.cf,
# which only root may run ("Program mode requires special privileges"),
# and every notification was lost. With the default sendmail_config the
# command gets no -C at all (Sendmail gives up its set-group-ID for any).
# alone: makes the system user smmsp (the MSP's queue runner)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sendmail.sh"
setup
sendmail_fetch || skip "cannot fetch Debian's sendmail packages"
command -v useradd >/dev/null || skip "useradd is not available"
made_smmsp=
id smmsp >/dev/null 2>&1 || { useradd -r -M -d /nonexistent -s /usr/sbin/nologin smmsp && made_smmsp=1; }
trap 'sendmail_cleanup; [ -z "$made_smmsp" ] || userdel smmsp' EXIT
sendmail_setup || { fail "sendmail set-up"; finish; }
sendmail_msp || { fail "the MSP's set-up"; finish; }
# floodgate's user makes its database and control socket here.
chmod 1777 "$T" "$T/fg"
sendmail_start || { fail "sendmail did not start"; finish; }
# The private binary needs its preload and libraries; each run's
# arguments are kept.
: > "$T/sm/args"
chmod 666 "$T/sm/args"
cat > "$T/sm/sendmail-wrap" <<EOW
#!/bin/sh
echo "\$*" >> "$T/sm/args"
LD_PRELOAD="$T/sm/host.so" LD_LIBRARY_PATH="$T/sm/lib" exec "$T/sm/sendmail" "\$@"
EOW
chmod 755 "$T/sm/sendmail-wrap"
write_conf <<EOT
user nobody
mta sendmail
sendmail_path $T/sm/sendmail-wrap
sendmail_config $T/sm/sendmail.cf
notify mailto:admin@notify.example on suspend
notify_from floodgate@mta.floodgate.test
limit once per account to s.example 1/1h action suspend
# Mail to the admin's domain is blocked for every account but
# floodgate's own notifications.
limit none per account to notify.example 0/1h
EOT
chmod 0644 "$T/floodgate.conf"
start_floodgate

send "$T/a" $SM_PORT x@t.example "a@s.example,b@s.example"
expect_eq "the second recipient suspends the account" "$(count_replies "$T/a" 451)" 1
notified() { [ "$(sink_count '<admin@notify\.example>')" -ge "$1" ]; }
wait_for 20 notified 1
expect_eq "the notification reached the next hop" "$(sink_count '<admin@notify\.example>')" 1
expect_eq "  ... through floodgate's milter, untouched" \
    "$(log_count "floodgate's own notification, not limited")" 1
expect_eq "  ... submitted with the MSP's submit.cf, as floodgate's user" \
    "$(grep -c "^-C $T/sm/submit.cf -f floodgate+fgn-[0-9a-f]*@mta.floodgate.test -i -- admin@notify.example\$" "$T/sm/args")" 1
expect_eq "  ... nothing failed" "$(log_count 'notify: mailto:')" 0
expect_eq "  ... the MSP's queue empty" "$(ls "$T/smcq" | grep -c '^qf')" 0

# floodgate -n says where that submit.cf is missing.
sed "s|^sendmail_config .*|sendmail_config $T/nosubmit/sendmail.cf|" "$T/floodgate.conf" > "$T/nosubmit.conf"
"$FLOODGATE" -n -c "$T/nosubmit.conf" > /dev/null 2> "$T/nosubmit.out"
expect_eq "floodgate -n: a submit.cf missing beside sendmail_config is said" \
    "$(grep -c "^$T/nosubmit.conf:[0-9]*: warning: notify mailto:admin@notify.example: sendmail_path $T/sm/sendmail-wrap: its submission program's configuration $T/nosubmit/submit.cf: No such file or directory; the incidents told to it would be lost\$" "$T/nosubmit.out")" 1
expect_eq "  ... and the sendmail_config named that is not there, at its line (before, nothing)" \
    "$(grep -c "^$T/nosubmit.conf:$(grep -n '^sendmail_config ' "$T/nosubmit.conf" | cut -d: -f1): warning: sendmail_config $T/nosubmit/sendmail.cf: no such file: floodgatectl release cannot give held mail back (sendmail -C); Sendmail's settings not checked\$" "$T/nosubmit.out")" 1

# The default sendmail_config: no -C (the command's own submit.cf).
stop_floodgate
sed -i "/^sendmail_config /d" "$T/floodgate.conf"
start_floodgate
send "$T/b" $SM_PORT y@t.example "c@s.example,d@s.example"
expect_eq "another account suspended" "$(count_replies "$T/b" 451)" 1
wait_for 10 sh -c "[ \$(wc -l < '$T/sm/args') -ge 2 ]"
expect_eq "with the default sendmail_config: no -C" \
    "$(sed -n 2p "$T/sm/args" | grep -c '^-f floodgate+fgn-[0-9a-f]*@mta.floodgate.test -i -- admin@notify.example$')" 1

# Started as systemd starts the unit (its user, under no_new_privs), the
# command's set-group-ID smmsp is ignored, and the MSP refuses to run
# without that group ID: said at the start, unless floodgate's own
# group is smmsp. Said of Sendmail's own command only (the default
# sendmail_path: the look runs nothing).
sed -i "/^sendmail_path /d" "$T/floodgate.conf"
MSP="notify mailto:admin@notify.example: Sendmail's submission program runs only with group smmsp as its group ID, which its set-group-ID cannot give it under no_new_privs (systemd's NoNewPrivileges=, implied by the unit's sandboxing): the notifications would be lost; run floodgate with Group=smmsp, or use an exec: target"
for g in nogroup smmsp; do
	stop_floodgate
	rm -f "$T/fg/milter.sock"	# root's, which nobody cannot replace
	FG_ENV="setpriv --reuid nobody --regid $g --clear-groups --no-new-privs"
	start_floodgate
	system_checked
	expect_eq "as nobody, group $g, under no_new_privs: the MSP's group said" \
	    "$(grep -c -- "$MSP" "$T/status")" "$([ $g = smmsp ] && echo 0 || echo 1)"
done
finish
