#!/bin/bash
# The daemon: drops to `user` after creating the socket (which Postfix
# can still connect to), runs detached without -f, refuses a bad config
# at start with file:line, and -n checks a file (and what Postfix's
# settings let past floodgate: the default action, milter lists that
# are empty or name no socket of floodgate's).
. "$(dirname "$0")/lib.sh"
setup
mkdir "$T/db"
chown nobody "$T/db"
write_conf <<EOT
user nobody
limit tenant-hour per account 2/1h
EOT
sed -i "s|^database .*|database $T/db/floodgate.db|" "$T/floodgate.conf"

"$FLOODGATE" -n -c "$T/floodgate.conf" > "$T/check.out"
expect_eq "-n: exit 0 on a good file" $? 0
grep -q "limit tenant-hour .*per account .*2/1h (slot 1m)" "$T/check.out" && ok "-n prints the resolved rules" || fail "-n output: $(cat "$T/check.out")"
# Run as root, -n looks as floodgate's user (nobody) at what it needs:
# this file (root's, 0640) it could not read at a reload, and the
# control socket's directory (root's, group postfix) it could not
# write; the database's directory is its own. (Whatever it finds in
# this host's own Postfix settings is not counted.)
"$FLOODGATE" -n -c "$T/floodgate.conf" 2> "$T/needs.out" > /dev/null
expect_eq "-n as root: what user nobody cannot read or write, said, nothing else" \
    "$(grep -c "^$T/floodgate.conf: warning: user nobody cannot read it (Permission denied): every reload (SIGUSR1, floodgatectl reload) would fail and keep the running configuration$" "$T/needs.out").$(grep -c "^$T/floodgate.conf:2: warning: control $T/fg/control.sock: user nobody cannot make the socket in $T/fg (Permission denied): floodgatectl would reach the database only$" "$T/needs.out").$(grep -v "warning: Postfix" "$T/needs.out" | grep -c warning)" 1.1.2
# Run as root without the right to change user (as in a container
# that drops CAP_SETUID and CAP_SETGID), the start cannot become user
# nobody and fails; -n fails too, before it prints the file as OK.
setpriv --bounding-set -setuid,-setgid "$FLOODGATE" -n -c "$T/floodgate.conf" > "$T/nouser.print" 2> "$T/nouser.out"
expect_eq "-n that cannot become user nobody: exit 1, the file not printed as OK, said at the user line" \
    "$?.$(grep -c ': OK$' "$T/nouser.print").$(grep -c "^$T/floodgate.conf:$(grep -n '^user ' "$T/floodgate.conf" | cut -d: -f1): user nobody: floodgate cannot become that user (said above): it would not start$" "$T/nouser.out").$(grep -c "cannot become user nobody: Operation not permitted" "$T/nouser.out")" 1.0.1.1
setpriv --bounding-set -setuid,-setgid "$FLOODGATE" -f -c "$T/floodgate.conf" 2> "$T/nouser2.out"
expect_eq "  ... as the start does" "$?.$(grep -c "cannot become user nobody: Operation not permitted" "$T/nouser2.out")" 1.1
printf 'limit x per account 5/1q\n' > "$T/bad.conf"
"$FLOODGATE" -n -c "$T/bad.conf" 2> "$T/bad.out"
expect_eq "-n: exit 1 on a bad file" $? 1
grep -q "bad.conf:1: limit x: \"5/1q\": expected a rate N/PERIOD" "$T/bad.out" && ok "-n names file:line and the token" || fail "$(cat "$T/bad.out")"
"$FLOODGATE" -f -c "$T/bad.conf" 2> "$T/bad2.out"
expect_eq "a bad config stops the daemon from starting" $? 1
# Without a user statement floodgate keeps the identity it was started
# with: as root, said by -n (and by a start, slow.conf below), exit 0;
# with `user root` it is meant, and not said.
grep -v '^user ' "$T/floodgate.conf" > "$T/root.conf"
"$FLOODGATE" -n -c "$T/root.conf" > /dev/null 2> "$T/root.out"
rc=$?
sed 's/^user .*/user root/' "$T/floodgate.conf" > "$T/rootok.conf"
"$FLOODGATE" -n -c "$T/rootok.conf" > /dev/null 2> "$T/rootok.out"
rc2=$?
install -m 0644 "$T/root.conf" "$T/nobody.conf"
setpriv --reuid nobody --regid nogroup --clear-groups "$FLOODGATE" -n -c "$T/nobody.conf" > /dev/null 2> "$T/nobody.out"
rc3=$?
expect_eq "-n as root with no user statement: said, exit 0; with user root, or as another user, not said" \
    "$rc.$(grep -c "^$T/root.conf: warning: no user statement, and floodgate runs as root: it keeps root while it reads what every SMTP client sends; name an unprivileged user" "$T/root.out").$rc2.$(grep -c "runs as root" "$T/rootok.out").$rc3.$(grep -c "runs as root" "$T/nobody.out")" 0.1.0.0.0.0
# A user floodgate cannot find: -n and the start both say which.
{ cat "$T/floodgate.conf"; echo "delivery_log_users root no-such-mta-user"; } > "$T/users.conf"
"$FLOODGATE" -n -c "$T/users.conf" > "$T/users.print" 2> "$T/users.out"
expect_eq "-n: exit 1 on a delivery_log_users user that does not exist" $? 1
expect_eq "and does not print the file as OK" "$(grep -c ': OK$' "$T/users.print")" 0
"$FLOODGATE" -f -c "$T/users.conf" 2> "$T/users2.out"
expect_eq "and the daemon does not start" $? 1
n=$(wc -l < "$T/users.conf")
expect_eq "both name the user, at its line" "$(grep -c "users.conf:$n: delivery_log_users: \"no-such-mta-user\": no such user" "$T/users.out" "$T/users2.out" | cut -d: -f2 | tr '\n' ' ')" "1 1 "
# A database floodgate's user cannot make, or write: the start says why
# as it finds it (SQLite's own "unable to open database file" named no
# cause), as -n did before the start.
mkdir "$T/rodb"
sed "s|^database .*|database $T/rodb/floodgate.db|" "$T/floodgate.conf" > "$T/rodb.conf"
"$FLOODGATE" -f -c "$T/rodb.conf" 2> "$T/rodb.out"
expect_eq "a database whose directory user nobody cannot write: not started, said why" \
    "$?.$(grep -c "database $T/rodb/floodgate.db: cannot be made in $T/rodb: Permission denied (as user nobody)$" "$T/rodb.out")" 1.1
: > "$T/rodb/floodgate.db"
chown nobody "$T/rodb/floodgate.db"
"$FLOODGATE" -f -c "$T/rodb.conf" 2> "$T/rodb.out"
expect_eq "  ... the file nobody's, the directory not: said so" \
    "$?.$(grep -c "database $T/rodb/floodgate.db: its directory $T/rodb: Permission denied (as user nobody; SQLite makes the file's -wal and -shm beside it)$" "$T/rodb.out")" 1.1
chown root "$T/rodb/floodgate.db"
chmod 0644 "$T/rodb/floodgate.db"
"$FLOODGATE" -f -c "$T/rodb.conf" 2> "$T/rodb.out"
expect_eq "  ... the file root's: said so" \
    "$?.$(grep -c "database $T/rodb/floodgate.db: Permission denied (as user nobody)$" "$T/rodb.out")" 1.1
sed "s|^database .*|database $T/no-such-dir/floodgate.db|" "$T/floodgate.conf" > "$T/rodb.conf"
"$FLOODGATE" -f -c "$T/rodb.conf" 2> "$T/rodb.out"
"$FLOODGATECTL" -c "$T/rodb.conf" status 2>> "$T/rodb.out" >/dev/null
expect_eq "  ... its directory missing: the start and floodgatectl say so" \
    "$(grep -c "database $T/no-such-dir/floodgate.db.*: its directory $T/no-such-dir: No such file or directory$" "$T/rodb.out")" 2
# A notify whose program is missing or cannot run: warned of at its
# line (exit 0); an executable one, and mailto with a sendmail that is
# there, not.
printf '#!/bin/sh\ncat > /dev/null\n' > "$T/alert"
chmod 755 "$T/alert"
printf 'echo\n' > "$T/alert.txt"
# Root's alone (0700): floodgate's user (nobody) cannot run it, and -n,
# run as root, looks as that user, as the start does.
cp "$T/alert" "$T/alert.root" && chmod 0700 "$T/alert.root"
{ cat "$T/floodgate.conf"; echo "notify exec:$T/no-such-alert"
  echo "notify exec:$T/alert.txt on pause"; echo "notify exec:$T/alert on store"
  echo "notify mailto:ops@example.com on suspend"
  echo "notify exec:$T/alert.root on refused"; } > "$T/notify.conf"
"$FLOODGATE" -n -c "$T/notify.conf" > /dev/null 2> "$T/notify.out"
rc=$?
n=$(wc -l < "$T/floodgate.conf")
expect_eq "-n: a notify program missing or not executable said at its line, exit 0" \
    "$rc.$(grep -c "notify.conf:$((n + 1)): warning: notify exec:$T/no-such-alert: program $T/no-such-alert: No such file or directory; the incidents told to it would be lost" "$T/notify.out").$(grep -c "notify.conf:$((n + 2)): warning: notify exec:$T/alert.txt: program $T/alert.txt: not an executable file" "$T/notify.out")" 0.1.1
expect_eq "  ... and one floodgate's user cannot run, said as that user's; no other" \
    "$(grep -c "notify.conf:$((n + 5)): warning: notify exec:$T/alert.root: program $T/alert.root: user nobody cannot run it (Permission denied); the incidents told to it would be lost" "$T/notify.out").$(grep -c "warning: notify" "$T/notify.out")" 1.3
sed -i "s|^notify exec:$T/alert on store|sendmail_path $T/no-sendmail|" "$T/notify.conf"
"$FLOODGATE" -n -c "$T/notify.conf" 2>&1 >/dev/null | grep -c "warning: notify mailto:ops@example.com: sendmail_path $T/no-sendmail: No such file or directory" > "$T/notify.n"
expect_eq "  ... and mailto where sendmail_path is missing" "$(cat "$T/notify.n")" 1
# Postfix's own settings that let mail past floodgate, asked of
# postconf for postfix_config: this test's main.cf has no
# non_smtpd_milters; then one service defaults to accept.
{ cat "$T/floodgate.conf"; echo "postfix_config $T/etc"; } > "$T/pf.conf"
pf_warnings() { "$FLOODGATE" -n -c "$T/pf.conf" 2>&1 >/dev/null | grep "warning: Postfix ($T/etc): "; }
pf_warnings > "$T/pf.out"
expect_eq "-n: Postfix's empty non_smtpd_milters said, nothing else" \
    "$(grep -c "main.cf: non_smtpd_milters is empty: local mail" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
# The same at start, in the log (here standard error, with -f).
"$FLOODGATE" -f -c "$T/pf.conf" 2> "$T/pf.log" &
pf_pid=$!
wait_for 5 grep -q "started:" "$T/pf.log" &&
    wait_for 5 grep -q "warning: $T/pf.conf: Postfix ($T/etc): main.cf: non_smtpd_milters is empty" "$T/pf.log" &&
    ok "  ... and at start, in the log" || fail "the start's log: $(cat "$T/pf.log")"
kill "$pf_pid"; wait "$pf_pid"
# floodgatectl status lists it (system_warnings), and a reload looks
# again: mended in main.cf, gone. (As root, by a user statement: user
# nobody cannot make the control socket in this test's directory.)
sed 's/^user .*/user root/' "$T/pf.conf" > "$T/pfs.conf"
"$FLOODGATE" -f -c "$T/pfs.conf" 2> "$T/pfs.log" &
pf_pid=$!
wait_for 5 grep -q "started:" "$T/pfs.log" || fail "no start: $(cat "$T/pfs.log")"
# The check runs beside serving (postconf three times): status says
# system_check running until it is done.
system_checked "the start's check"
expect_eq "  ... and in floodgatectl status" \
    "$(awk '$1 == "system_warnings" {print $2}' "$T/status").$(grep -c "Postfix ($T/etc): main.cf: non_smtpd_milters is empty: local mail" "$T/status")" 1.1
postconf -c "$T/etc" -e "non_smtpd_milters = \$smtpd_milters"
kill -USR1 "$pf_pid"
wait_for 5 grep -q "reload: .* loaded" "$T/pfs.log" || fail "no reload: $(tail -3 "$T/pfs.log")"
system_checked "the reload's check"
expect_eq "  ... a reload looks again: mended, none" \
    "$(awk '$1 == "reloads" || $1 == "system_warnings" {print $1 "=" $2}' "$T/status" | sort | tr '\n' ' ')" "reloads=1 system_warnings=0 "
kill "$pf_pid"; wait "$pf_pid"
postconf -c "$T/etc" -P "127.0.0.1:$SUB_PORT/inet/milter_default_action=accept"
pf_warnings > "$T/pf.out"
expect_eq "  ... a service of master.cf that accepts without floodgate said, named" \
    "$(grep -c "master.cf: 127.0.0.1:$SUB_PORT/inet sets milter_default_action = accept: Postfix takes every message without floodgate" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -X -P "127.0.0.1:$SUB_PORT/inet/milter_default_action"
pf_warnings > "$T/pf.out"
expect_eq "  ... and nothing once both are mended" "$(wc -l < "$T/pf.out")" 0
# A milter's own default_action = accept: OpenDKIM's (as its guides
# give it) is not floodgate's affair; floodgate's own is said.
pf_smtpd=$(postconf -c "$T/etc" -h smtpd_milters)
postconf -c "$T/etc" -e "smtpd_milters = { inet:localhost:8891, default_action = accept }, $pf_smtpd"
pf_warnings > "$T/pf.out"
expect_eq "  ... another milter's own default_action = accept not said" "$(wc -l < "$T/pf.out")" 0
postconf -c "$T/etc" -e "smtpd_milters = inet:localhost:8891, { $pf_smtpd, command_timeout = 30s, default_action = accept }"
pf_warnings > "$T/pf.out"
expect_eq "  ... floodgate's own said, named, for both lists (local mail's is \$smtpd_milters)" \
    "$(grep -c "main.cf: \(non_\)\?smtpd_milters gives floodgate's milter ($pf_smtpd) default_action = accept: Postfix takes every message without floodgate" "$T/pf.out").$(wc -l < "$T/pf.out")" 2.2
postconf -c "$T/etc" -e "smtpd_milters = $pf_smtpd"
# no_milters turns every milter off: in main.cf for all mail, on pickup
# for local mail; on a content filter's way back (the README's
# listener) on purpose, not said.
postconf -c "$T/etc" -e "receive_override_options = no_header_body_checks, no_milters"
postconf -c "$T/etc" -Me "127.0.0.1:10025/inet=127.0.0.1:10025 inet n - n - - smtpd"
postconf -c "$T/etc" -P "pickup/unix/receive_override_options=no_milters" \
    "127.0.0.1:10025/inet/content_filter=" \
    "127.0.0.1:10025/inet/receive_override_options=no_unknown_recipient_checks,no_milters"
pf_warnings > "$T/pf.out"
expect_eq "  ... receive_override_options with no_milters said, in main.cf (SMTP: pickup has its own) and on pickup" \
    "$(grep -c "main.cf: receive_override_options = no_header_body_checks, no_milters: Postfix runs no milter on the mail its SMTP services receive (those with no receive_override_options of their own)" "$T/pf.out").$(grep -c "master.cf: pickup/unix sets receive_override_options = no_milters: Postfix runs no milter on local mail" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1.2
postconf -c "$T/etc" -X -P "pickup/unix/receive_override_options"
pf_warnings > "$T/pf.out"
expect_eq "  ... main.cf's alone: all mail" \
    "$(grep -c "main.cf: receive_override_options = no_header_body_checks, no_milters: Postfix runs no milter on the mail it receives (over SMTP and local)" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -X "receive_override_options"
pf_warnings > "$T/pf.out"
expect_eq "  ... and nothing once taken away" "$(wc -l < "$T/pf.out")" 0
# Without no_milters there, the content filter's way back decides each
# message a second time.
postconf -c "$T/etc" -P "127.0.0.1:10025/inet/receive_override_options=no_unknown_recipient_checks"
pf_warnings > "$T/pf.out"
expect_eq "  ... a content filter's way back that runs floodgate said" \
    "$(grep -c "master.cf: 127.0.0.1:10025/inet takes mail back from a content filter, and main.cf's smtpd_milters names floodgate's socket (unix:$T/fg/milter.sock): every message is decided and charged a second time there" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -MX "127.0.0.1:10025/inet"
# Local mail's milters are those its cleanup service reads: its own
# list without floodgate is said, though main.cf names it.
postconf -c "$T/etc" -P "cleanup/unix/non_smtpd_milters=inet:localhost:8891"
pf_warnings > "$T/pf.out"
expect_eq "  ... the cleanup service's own non_smtpd_milters without floodgate said" \
    "$(grep -c "master.cf: cleanup/unix, the cleanup service local mail goes through, sets non_smtpd_milters = inet:localhost:8891, which names no socket of floodgate's (unix:$T/fg/milter.sock): local mail" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -X -P "cleanup/unix/non_smtpd_milters"
# The same list given to pickup, which never reads it: said where local
# mail misses floodgate (main.cf's list empty).
pf_local=$(postconf -c "$T/etc" -h non_smtpd_milters)
postconf -c "$T/etc" -e "non_smtpd_milters ="
postconf -c "$T/etc" -P "pickup/unix/non_smtpd_milters=unix:$T/fg/milter.sock"
pf_warnings > "$T/pf.out"
expect_eq "  ... a list on pickup said as read by no one" \
    "$(grep -c "master.cf: pickup/unix sets non_smtpd_milters, naming floodgate's socket, where Postfix never reads it: local mail's milters are the ones cleanup/unix (the cleanup service it goes through) reads" "$T/pf.out").$(grep -c "main.cf: non_smtpd_milters is empty" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1.2
postconf -c "$T/etc" -X -P "pickup/unix/non_smtpd_milters"
postconf -c "$T/etc" -e "non_smtpd_milters = $pf_local"
# A content filter run by pipe that gives the mail back through the
# sendmail command: local mail's milters (floodgate's here) decide it
# again.
postconf -c "$T/etc" -Me "spamassassin/unix=spamassassin unix - n n - - pipe user=nobody argv=/usr/bin/spamc -f -e /usr/sbin/sendmail -oi -f \${sender} \${recipient}"
postconf -c "$T/etc" -e "content_filter = spamassassin"
pf_warnings > "$T/pf.out"
expect_eq "  ... a pipe filter that gives mail back by sendmail said" \
    "$(grep -c "master.cf: spamassassin/unix, a content filter, gives mail back through the sendmail command, and local mail's milters (non_smtpd_milters) name floodgate's socket (unix:$T/fg/milter.sock): every message it filters is decided and charged a second time" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -X "content_filter"
postconf -c "$T/etc" -MX "spamassassin/unix"
pf_warnings > "$T/pf.out"
expect_eq "  ... and nothing once both are gone" "$(wc -l < "$T/pf.out")" 0
# A submission service whose own list leaves floodgate out is said,
# though main.cf names it (Postfix is not running yet: the service is
# never listened on).
postconf -c "$T/etc" -Me "127.0.0.1:submission/inet=127.0.0.1:submission inet n - n - - smtpd"
postconf -c "$T/etc" -P "127.0.0.1:submission/inet/smtpd_milters=inet:localhost:8891"
pf_warnings > "$T/pf.out"
expect_eq "  ... a submission service's list without floodgate said" \
    "$(grep -c "master.cf: 127.0.0.1:submission/inet sets smtpd_milters = inet:localhost:8891, which names no socket of floodgate's (unix:$T/fg/milter.sock): mail submitted there (SASL logins, webmail) goes out without floodgate" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -MX "127.0.0.1:submission/inet"
# Any other listener whose own -o turns SASL on takes logins too.
postconf -c "$T/etc" -Me "127.0.0.1:2525/inet=127.0.0.1:2525 inet n - n - - smtpd"
postconf -c "$T/etc" -P "127.0.0.1:2525/inet/smtpd_sasl_auth_enable=yes" \
    "127.0.0.1:2525/inet/smtpd_milters="
pf_warnings > "$T/pf.out"
expect_eq "  ... so is another port's with its own SASL" \
    "$(grep -c "master.cf: 127.0.0.1:2525/inet sets smtpd_milters empty: mail submitted there (SASL logins, webmail) goes out without floodgate" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -MX "127.0.0.1:2525/inet"
pf_warnings > "$T/pf.out"
expect_eq "  ... and nothing once the services are gone" "$(wc -l < "$T/pf.out")" 0
# floodgate on the submission service only (its own list), SASL on in
# main.cf: a listener on every address takes logins without it; the
# test's own listeners, on the loopback, are not said.
postconf -c "$T/etc" -e "smtpd_sasl_auth_enable = yes" "smtpd_milters =" \
    "non_smtpd_milters = unix:$T/fg/milter.sock" "inet_interfaces = all"
postconf -c "$T/etc" -P "127.0.0.1:$SUB_PORT/inet/smtpd_milters=unix:$T/fg/milter.sock"
postconf -c "$T/etc" -Me "2526/inet=2526 inet n - n - - smtpd"
pf_warnings > "$T/pf.out"
expect_eq "  ... a listener given SASL by main.cf, floodgate on submission only, said" \
    "$(grep -c "master.cf: 2526/inet has no smtpd_milters of its own, and main.cf's (empty) names no socket of floodgate's (unix:$T/fg/milter.sock): mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited; it takes logins by main.cf's smtpd_sasl_auth_enable = yes" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -P "2526/inet/smtpd_sasl_auth_enable=no"
pf_warnings > "$T/pf.out"
expect_eq "  ... not once it turns SASL off" "$(wc -l < "$T/pf.out")" 0
postconf -c "$T/etc" -MX "2526/inet"
postconf -c "$T/etc" -X -P "127.0.0.1:$SUB_PORT/inet/smtpd_milters"
postconf -c "$T/etc" -X "smtpd_sasl_auth_enable"
postconf -c "$T/etc" -e "smtpd_milters = $pf_smtpd" \
    "non_smtpd_milters = \$smtpd_milters" "inet_interfaces = 127.0.0.1"
pf_warnings > "$T/pf.out"
expect_eq "  ... and nothing once put back" "$(wc -l < "$T/pf.out")" 0
# With account uid (tenants run their own code as their own users),
# .forward files: Postfix's default forward_path, once mydestination
# gives local(8) mail; not with forward_path empty, in main.cf or on
# local(8)'s own line.
{ cat "$T/pf.conf"; echo "account sasl uid sender client"; } > "$T/pfuid.conf"
pf_uid() { "$FLOODGATE" -n -c "$T/pfuid.conf" 2>&1 >/dev/null | grep "warning: Postfix ($T/etc): "; }
pf_uid > "$T/pf.out"
expect_eq "  ... account uid, no local domain: nothing" "$(wc -l < "$T/pf.out")" 0
postconf -c "$T/etc" -e "mydestination = localhost"
pf_uid > "$T/pf.out"
expect_eq "  ... account uid and a local domain: .forward files said" \
    "$(grep -c 'main.cf: forward_path = $home/.forward${recipient_delimiter}${extension}, $home/.forward: a user.s .forward sends each message the user gets on to every address in it, copies floodgate never decides' "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
pf_warnings > "$T/pf.out"
expect_eq "  ... not without account uid" "$(wc -l < "$T/pf.out")" 0
postconf -c "$T/etc" -P "local/unix/forward_path=\$home/.forward"
postconf -c "$T/etc" -e "forward_path ="
pf_uid > "$T/pf.out"
expect_eq "  ... local(8)'s own forward_path said as its own" \
    "$(grep -c 'master.cf: local/unix sets a forward_path of its own: a user.s .forward sends' "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -X -P "local/unix/forward_path"
pf_uid > "$T/pf.out"
expect_eq "  ... and nothing with forward_path empty" "$(wc -l < "$T/pf.out")" 0
postconf -c "$T/etc" -X "forward_path"
postconf -c "$T/etc" -e "mydestination ="
# Milter lists that name some other socket only: each said; a
# service's list that names floodgate's (another spelling of its path)
# makes up for main.cf's.
postconf -c "$T/etc" -e "smtpd_milters = inet:localhost:8891"
pf_warnings > "$T/pf.out"
expect_eq "  ... milter lists that name another socket only said, both" \
    "$(grep -c "main.cf: non_smtpd_milters = inet:localhost:8891 names no socket of floodgate's (unix:$T/fg/milter.sock), nor does a list of cleanup/unix's own (the cleanup service local mail goes through): local mail" "$T/pf.out").$(grep -c "main.cf: smtpd_milters = inet:localhost:8891 names no socket of floodgate's (unix:$T/fg/milter.sock), nor does a master.cf service's or smtpd_milter_maps: mail over SMTP" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1.2
postconf -c "$T/etc" -P "127.0.0.1:$SUB_PORT/inet/smtpd_milters=inet:localhost:8891,unix:$T/fg//./milter.sock"
pf_warnings > "$T/pf.out"
expect_eq "  ... a service's list that names floodgate's socket makes up for SMTP's" \
    "$(grep -c "main.cf: non_smtpd_milters = inet:localhost:8891 names no socket" "$T/pf.out").$(wc -l < "$T/pf.out")" 1.1
postconf -c "$T/etc" -X -P "127.0.0.1:$SUB_PORT/inet/smtpd_milters"
postconf -c "$T/etc" -e "smtpd_milters = $pf_smtpd"
mkdir "$T/badpf" && echo "this is not a setting" > "$T/badpf/main.cf"
sed -i "s|^postfix_config .*|postfix_config $T/badpf|" "$T/pf.conf"
"$FLOODGATE" -n -c "$T/pf.conf" > /dev/null 2> "$T/pf.err"
expect_eq "  ... a main.cf postconf refuses: not checked, said, exit 0" \
    "$?.$(grep -c "warning: Postfix's settings not checked: postconf -c $T/badpf: exit 1" "$T/pf.err")" 0.1
sed -i "s|^postfix_config .*|postfix_config $T/none|" "$T/pf.conf"
"$FLOODGATE" -n -c "$T/pf.conf" > /dev/null 2> "$T/pf.err"
# Named, it is meant to be there: said at its line (before, nothing),
# and no postconf run.
expect_eq "  ... a postfix_config with no main.cf said at its line, Postfix not asked, exit 0" \
    "$?.$(grep -c "^$T/pf.conf:$(grep -n '^postfix_config ' "$T/pf.conf" | cut -d: -f1): warning: postfix_config $T/none: no main.cf there (No such file or directory): floodgatectl release cannot give held mail back (postsuper -c), nor a mailto: notification be queued (sendmail -C); Postfix's settings not checked\$" "$T/pf.err").$(grep -c Postfix "$T/pf.err")" 0.1.1

# Without -f floodgate detaches; the parent returns at once.
"$FLOODGATE" -c "$T/floodgate.conf"
expect_eq "daemon mode: parent exits 0" $? 0
for i in $(seq 1 50); do [ -S "$T/fg/milter.sock" ] && break; sleep 0.1; done
FG_PID=$(pgrep -f "floodgate -c $T/floodgate.conf" | head -1)
[ -n "$FG_PID" ] && ok "daemon running (pid $FG_PID)" || fail "no daemon process"
sleep 0.3
uid=$(awk '/^Uid:/ {print $2}' /proc/$FG_PID/status)
expect_eq "dropped to user nobody" "$uid" "$(id -u nobody)"
expect_eq "socket mode and group" "$(stat -c '%a %G' "$T/fg/milter.sock")" "660 postfix"
start_postfix
send "$T/d1" $SMTP_PORT a@d.example "$(rcpts a example.com 3)"
expect_eq "Postfix reaches the dropped daemon: 1 deferred" "$(count_replies "$T/d1" 451)" 1
drain
expect_eq "sink" "$(sink_count '@example.com')" 2
stop_floodgate
# A postconf that hangs (a file system gone away): the look at
# Postfix's settings runs beside serving, so that status answers and
# mail goes through meanwhile; it is killed after 5 s and said. A
# reload does not wait for the next look, nor does a stop.
mkdir "$T/slowbin"
printf '#!/bin/sh\necho $$ >> "%s/slow.pids"\nexec sleep 30\n' "$T" > "$T/slowbin/postconf"
chmod 755 "$T/slowbin/postconf"
{ grep -v '^user ' "$T/floodgate.conf"; echo "postfix_config $T/etc"; } > "$T/slow.conf"
PATH="$T/slowbin:$PATH" "$FLOODGATE" -f -c "$T/slow.conf" 2> "$T/slow.log" &
FG_PID=$!
wait_for 5 grep -q "started:" "$T/slow.log" || fail "no start: $(cat "$T/slow.log")"
wait_for 5 grep -q "warning: $T/slow.conf: no user statement, and floodgate runs as root" "$T/slow.log" &&
    ok "a start as root with no user statement: said in the log, before Postfix's settings" ||
    fail "the start as root: $(cat "$T/slow.log")"
ctl status > "$T/slow.status"
expect_eq "postconf hangs: status answers, the check running, nothing found yet" \
    "$(awk '$1 == "system_check" || $1 == "system_warnings" {print $1 "=" $2}' "$T/slow.status" | sort | tr '\n' ' ')" "system_check=running system_warnings=0 "
send "$T/d2" $SMTP_PORT b@d.example "$(rcpts b example.com 1)"
expect_eq "  ... mail goes through meanwhile" "$(grep -c "^<- *250 .*queued as" "$T/d2")" 1
wait_for 15 grep -q "warning: $T/slow.conf: Postfix's settings not checked: postconf -c $T/etc: it did not answer in 5 s (killed)" "$T/slow.log" &&
    ok "  ... killed after 5 s, said in the log" || fail "the log: $(tail -3 "$T/slow.log")"
system_checked "the check after postconf was killed"
expect_eq "  ... and in status" "$(grep -c "Postfix's settings not checked: postconf -c $T/etc: it did not answer in 5 s" "$T/status")" 1
ctl reload > "$T/slow.reload"
ctl status > "$T/slow.status"
expect_eq "  ... a reload does not wait for its look (floodgatectl reload, then status)" \
    "$(awk '$1 == "system_check" {print $2}' "$T/slow.reload").$(awk '$1 == "reloads" || $1 == "system_check" {print $1 "=" $2}' "$T/slow.status" | sort | tr '\n' ' ')" "running.reloads=1 system_check=running "
kill "$FG_PID"
gone() { ! alive "$1"; }
wait_for 3 gone "$FG_PID" && ok "  ... nor a stop" || fail "floodgate still running 3 s after SIGTERM"
wait "$FG_PID"
expect_eq "  ... which ends postconf; a look cut short is not said" \
    "$(for p in $(cat "$T/slow.pids"); do kill -0 "$p" 2>/dev/null && echo "$p"; done | wc -l).$(wc -l < "$T/slow.pids").$(grep -c "not checked" "$T/slow.log")" 0.2.1
# Started as root with `user`, floodgate never changes a socket by path
# (a link planted in the socket's directory could redirect a chmod or a
# chown): the mode comes with the socket, the group from the directory.
if command -v strace >/dev/null; then
	rm -f "$T/fg/milter.sock"
	# LeakSanitizer cannot run under ptrace: leaks are checked in the
	# run above.
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq \
	    -e trace=chmod,fchmodat,chown,fchownat,lchown,fchown,chown32 \
	    -o "$T/strace" "$FLOODGATE" -f -c "$T/floodgate.conf" >>"$T/floodgate.log" 2>&1 &
	STRACE_PID=$!
	for i in $(seq 1 100); do [ -S "$T/fg/milter.sock" ] && [ -S "$T/fg/control.sock" ] && break; sleep 0.05; done
	sleep 0.3
	FG_PID=$(pgrep -P "$STRACE_PID")
	expect_eq "socket mode and group without chmod or chown" "$(stat -c '%a %G' "$T/fg/milter.sock")" "660 postfix"
	stop_floodgate
	wait "$STRACE_PID"
	expect_eq "no chmod or chown by path" "$(grep -c 'chmod\|chown' "$T/strace")" 0
	[ "$(grep -c 'chmod\|chown' "$T/strace")" = 0 ] || cat "$T/strace"
else
	say "strace is not installed: chmod/chown not traced"
fi
[ -s "$T/db/floodgate.db" ] && [ "$(stat -c %U "$T/db/floodgate.db")" = nobody ] &&
    ok "database written as nobody" || fail "database owner: $(stat -c %U "$T/db/floodgate.db" 2>&1)"
finish
