#!/bin/bash
# notify mailto: with Postfix, floodgate run as systemd runs its unit:
# an unprivileged user under no_new_privs (NoNewPrivileges=, which the
# unit's sandboxing implies), postdrop's set-group-ID then ignored, and
# Postfix's spool mounted read-only (ProtectSystem=strict) but where the
# unit says ReadWritePaths=. Each start says what keeps its
# notifications from being queued (status's system_warnings): the
# maildrop read-only; writable, but not by floodgate's user; and with the
# group postdrop (SupplementaryGroups=postdrop) nothing is said, and a
# suspension's notification goes through the milter untouched to the
# next hop; nor with another sendmail_path than Postfix's. The mounts
# are made in a mount namespace of floodgate's own.
. "$(dirname "$0")/lib.sh"
setup
command -v unshare >/dev/null && command -v setpriv >/dev/null ||
    skip "unshare and setpriv (util-linux) are needed"
unshare -m sh -c "mount --bind '$T' '$T'" 2>/dev/null ||
    skip "no mount namespace can be made here"
postconf -c "$T/etc" -e "non_smtpd_milters = unix:$T/fg/milter.sock"
touch -d '-10 seconds' "$T/etc/main.cf"
write_conf <<EOT
user nobody
postfix_config $T/etc
notify mailto:admin@notify.example on suspend
notify_from floodgate@floodgate.test
limit once per account to s.example 1/1h action suspend
# Mail to the admin's domain is blocked for every sender but
# floodgate's own notifications.
limit none per account to notify.example 0/1h
EOT
chmod 0644 "$T/floodgate.conf"
# floodgate's user makes its database and control socket here.
chmod 1777 "$T" "$T/fg"
# Postfix's sendmail, run by a user other than root with -C, reads the
# default main.cf for alternate_config_directories: one of the test's
# own, over /etc/postfix in floodgate's namespace alone.
mkdir "$T/defetc"
echo "alternate_config_directories = $T/etc" > "$T/defetc/main.cf"
[ -e /etc/postfix/dynamicmaps.cf ] && cp /etc/postfix/dynamicmaps.cf "$T/defetc/"
# sandbox RW GROUPS: floodgate started with the spool read-only (its
# maildrop writable when RW is 1), as nobody with the extra GROUPS (-:
# none),
# under no_new_privs.
cat > "$T/sandbox" <<EOT
#!/bin/sh
rw=\$1 groups=\$2
shift 2
mount --bind "$T/defetc" /etc/postfix &&
mount --rbind "$T/spool" "$T/spool" &&
mount -o remount,bind,ro "$T/spool" || exit 1
if [ "\$rw" = 1 ]; then
	mount --bind "$T/spool/maildrop" "$T/spool/maildrop" &&
	mount -o remount,bind,rw "$T/spool/maildrop" || exit 1
fi
[ "\$groups" = - ] && groups=
exec setpriv --reuid nobody --regid nogroup --groups "nogroup\$groups" --no-new-privs "\$@"
EOT
chmod 755 "$T/sandbox"
start_postfix	# its maildrop is there before floodgate's mounts
said() { grep -c -- "$1" "$T/status"; }
RO="notify mailto:admin@notify.example: Postfix's maildrop $T/spool/maildrop is read-only here (systemd's ProtectSystem=strict without ReadWritePaths=$T/spool/maildrop): postdrop cannot queue the notifications, which would be lost"
NOGROUP="notify mailto:admin@notify.example: user nobody cannot write Postfix's maildrop $T/spool/maildrop (Permission denied), and postdrop's set-group-ID is ignored under no_new_privs (systemd's NoNewPrivileges=, implied by the unit's sandboxing): the notifications would be lost; give floodgate the group postdrop (SupplementaryGroups=postdrop)"

FG_ENV="unshare -m $T/sandbox 0 ,postdrop"
start_floodgate
system_checked
expect_eq "the maildrop read-only: said, at the mailto line" \
    "$(said "$RO").$(grep -c " warning: $T/floodgate.conf:$(grep -n '^notify mailto:' "$T/floodgate.conf" | cut -d: -f1): $RO\$" "$T/floodgate.log")" 1.1
stop_floodgate

FG_ENV="unshare -m $T/sandbox 1 -"
start_floodgate
system_checked
expect_eq "writable, but not by floodgate's user under no_new_privs: said" \
    "$(said "$NOGROUP").$(said "$RO")" 1.0
stop_floodgate

FG_ENV="unshare -m $T/sandbox 1 ,postdrop"
start_floodgate
system_checked
expect_eq "with the group postdrop: nothing said" \
    "$(said "notify mailto:").$(awk '$1 == "system_warnings" {print $2}' "$T/status")" 0.0
send "$T/a" $SMTP_PORT x@t.example "a@s.example,b@s.example"
expect_eq "the second recipient suspends the account" "$(count_replies "$T/a" 451)" 1
notified() { [ "$(sink_count '<admin@notify\.example>')" -ge 1 ]; }
wait_for 20 notified
expect_eq "the notification reached the next hop" "$(sink_count '<admin@notify\.example>')" 1
expect_eq "  ... through floodgate's milter, untouched" \
    "$(log_count "floodgate's own notification, not limited")" 1
expect_eq "  ... nothing failed" "$(log_count 'notify: mailto:')" 0

# Another sendmail_path queues its own way: the maildrop is not looked at.
stop_floodgate
echo "sendmail_path /bin/true" >> "$T/floodgate.conf"
FG_ENV="unshare -m $T/sandbox 0 -"
start_floodgate
system_checked
expect_eq "another sendmail_path: nothing said of the maildrop" \
    "$(said "Postfix's maildrop")" 0
finish
