# Sourced by the Sendmail tests: the real Sendmail 8.17 from Debian's
# packages, unpacked into a private tree (sendmail-bin conflicts with
# postfix, so it is never installed), listening on loopback with
# floodgate attached and relaying everything to the sink.

SMROOT=${SMROOT:-$TOP/build/sendmail-root}

sendmail_fetched() {
	[ -x "$SMROOT/usr/libexec/sendmail/sendmail" ] && [ -d "$SMROOT/usr/share/sendmail/cf" ]
}

# Tests run side by side, and the first ones on a fresh machine all find
# no tree: one fetches under the lock while the others wait, and the tree
# appears whole or not at all (unpacked beside it, then renamed), so no
# test copies a binary or loads a library another is still writing.
sendmail_fetch() {
	sendmail_fetched && return 0
	command -v apt-get >/dev/null || return 1
	mkdir -p "$(dirname "$SMROOT")" || return 1
	(
		flock 9 || exit 1
		sendmail_fetched && exit 0
		d=$(mktemp -d /tmp/floodgate-debs.XXXXXX) || exit 1
		trap 'rm -rf "$d"' EXIT
		chmod 777 "$d"
		( cd "$d" && apt-get download -q sendmail-bin sendmail-base sendmail-cf libwrap0 m4 ) >/dev/null 2>&1 ||
		    exit 1
		mkdir "$d/root" || exit 1
		for f in "$d"/*.deb; do dpkg-deb -x "$f" "$d/root" || exit 1; done
		rm -rf "$SMROOT"	# what an interrupted fetch left
		mv -T "$d/root" "$SMROOT"
	) 9> "$SMROOT.lock"
}

# sendmail_setup: writes $T/sm (config, binary, preload) for port SM_PORT;
# SM_MC_EXTRA, if set, goes into the .mc before the mailers, SM_MC_TAIL
# after them (where sendmail.mc's own rules go).
sendmail_setup() {
	SM_PORT=$(free_port)
	mkdir -p "$T/sm" "$T/smq"
	chmod 700 "$T/smq"
	cp "$SMROOT/usr/libexec/sendmail/sendmail" "$T/sm/sendmail"
	chmod 755 "$T/sm/sendmail"	# not setgid: the loader must honour LD_*
	# When gethostname() has no dot sendmail sleeps 60 s at start.
	# There is no syslog daemon here, and Sendmail logs only through
	# syslog(3): the same preload writes what it logs to $T/sm/maillog
	# as rsyslog writes mail.log (RFC 3164 header, local time), the
	# message as Sendmail made it.
	cat > "$T/sm/host.c" <<'EOC'
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
int gethostname(char *name, size_t len)
{
	const char *h = "mta.floodgate.test";
	if (len <= strlen(h))
		return -1;
	strcpy(name, h);
	return 0;
}
static char ident[64] = "sendmail";
void openlog(const char *id, int option, int facility)
{
	(void)option;
	(void)facility;
	if (id != NULL)
		snprintf(ident, sizeof(ident), "%s", id);
}
void closelog(void)
{
}
static void out(const char *fmt, va_list ap)
{
	char msg[4096], line[4300], ts[32];
	time_t t = time(NULL);
	struct tm tm;
	int fd, n;

	localtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = snprintf(line, sizeof(line), "%s mta.floodgate.test %s[%d]: %s\n",
	    ts, ident, (int)getpid(), msg);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if ((fd = open(MAILLOG, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) >= 0) {
		if (write(fd, line, (size_t)n) < 0)
			n = 0;
		close(fd);
	}
}
void vsyslog(int pri, const char *fmt, va_list ap)
{
	(void)pri;
	out(fmt, ap);
}
void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
	(void)pri;
	(void)flag;
	out(fmt, ap);
}
void syslog(int pri, const char *fmt, ...)
{
	va_list ap;

	(void)pri;
	va_start(ap, fmt);
	out(fmt, ap);
	va_end(ap);
}
void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)pri;
	(void)flag;
	va_start(ap, fmt);
	out(fmt, ap);
	va_end(ap);
}
EOC
	cc -shared -fPIC -DMAILLOG="\"$T/sm/maillog\"" -o "$T/sm/host.so" "$T/sm/host.c" || return 1
	printf 'hosts files\npasswd files\naliases files\n' > "$T/sm/service.switch"
	printf 'postmaster: root\n' > "$T/sm/aliases"
	: > "$T/sm/statistics"
	: > "$T/sm/helpfile"
	local cf=$SMROOT/usr/share/sendmail/cf
	cat > "$T/sm/test.mc" <<EOM
divert(-1)
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mta.floodgate.test')dnl
define(\`QUEUE_DIR', \`$T/smq')dnl
define(\`MAIL_SETTINGS_DIR', \`$T/sm/')dnl
define(\`confPID_FILE', \`$T/sm/sendmail.pid')dnl
define(\`STATUS_FILE', \`$T/sm/statistics')dnl
define(\`HELP_FILE', \`$T/sm/helpfile')dnl
define(\`ALIAS_FILE', \`$T/sm/aliases')dnl
define(\`confSERVICE_SWITCH_FILE', \`$T/sm/service.switch')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
dnl Whatever load the test before left (500 SMTP sessions): Sendmail
dnl neither closes its port (RefuseLA) nor only queues (QueueLA).
define(\`confREFUSE_LA', \`1000')dnl
define(\`confQUEUE_LA', \`1000')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`SMART_HOST', \`esmtp:[127.0.0.1]')dnl
define(\`MAIL_HUB', \`esmtp:[127.0.0.1]')dnl
define(\`LOCAL_RELAY', \`esmtp:[127.0.0.1]')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
define(\`SMTP8_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
define(\`DSMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
DAEMON_OPTIONS(\`Family=inet, Addr=127.0.0.1, Port=$SM_PORT, Name=MTA')dnl
define(\`confAUTH_MECHANISMS', \`PLAIN LOGIN')dnl
TRUST_AUTH_MECH(\`PLAIN LOGIN')dnl
INPUT_MAIL_FILTER(\`floodgate', \`S=unix:$T/fg/milter.sock, F=T, T=S:10s;R:10s;E:30s')dnl
define(\`confMILTER_MACROS_CONNECT', \`j, {daemon_name}, {client_addr}')dnl
define(\`confMILTER_MACROS_ENVFROM', \`i, {auth_authen}, {client_addr}, {daemon_port}, {client_port}, {daemon_addr}')dnl
dnl Without {rcpt_addr}: floodgate's request at negotiation brings it (t19).
define(\`confMILTER_MACROS_ENVRCPT', \`i')dnl
define(\`confMILTER_MACROS_EOM', \`i')dnl
${SM_MC_EXTRA:-}dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
${SM_MC_TAIL:-}
EOM
	local m4=m4
	command -v m4 >/dev/null || m4=$SMROOT/usr/bin/m4
	$m4 -D_CF_DIR_="$cf/" "$cf/m4/cf.m4" "$T/sm/test.mc" > "$T/sm/sendmail.cf" || return 1
	sm_run -bi >/dev/null 2>&1
	return 0
}

sm_run() {	# sm_run ARGS...: the private sendmail binary with our config
	LD_PRELOAD="$T/sm/host.so" LD_LIBRARY_PATH="$SMROOT/usr/lib/x86_64-linux-gnu:$SMROOT/lib/x86_64-linux-gnu" \
	    "$T/sm/sendmail" -C "$T/sm/sendmail.cf" "$@"
}

sendmail_start() {
	sm_run -bD -q1m > "$T/sm/daemon.log" 2>&1 &
	SM_PID=$!
	local hex i
	hex=$(printf '%04X' "$SM_PORT")
	# A TCP probe would show up as a milter session: read /proc instead.
	for i in $(seq 1 100); do
		grep -q ":$hex 00000000:0000 0A" /proc/net/tcp && return 0
		alive "$SM_PID" || break
		sleep 0.05
	done
	cat "$T/sm/daemon.log"
	return 1
}

# sendmail_sasl USER PASSWORD: AUTH for USER, through Cyrus SASL's sasldb.
# Sendmail empties its environment, so SASL_CONF_PATH cannot point it at
# a private Sendmail.conf: the test puts one in /etc/sasl2 and removes it.
SASL_CREATED=
SASL_DIR_CREATED=
sendmail_sasl() {
	echo "$2" | saslpasswd2 -p -c -f "$T/sm/sasldb2" -u mta.floodgate.test "$1"
	chmod 0640 "$T/sm/sasldb2"
	if [ ! -e /etc/sasl2/Sendmail.conf ]; then
		[ -d /etc/sasl2 ] || { mkdir /etc/sasl2; SASL_DIR_CREATED=1; }
		SASL_CREATED=/etc/sasl2/Sendmail.conf
		cat > "$SASL_CREATED" <<EOS
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $T/sm/sasldb2
mech_list: PLAIN LOGIN
EOS
	else
		return 1
	fi
}

# sendmail_msp: $T/sm/submit.cf, the message submission program's
# configuration as Debian builds it (FEATURE msp), relaying to the test's
# Sendmail, its client queue in $T/smcq, its queue runner user smmsp
# (which the caller makes); sm_submit USER ARGS... runs the sendmail
# command as USER with it, the message on stdin; msp_queue_run runs the
# client queue as Debian's sm-msp-queue does, as smmsp.
sendmail_msp() {
	local cf=$SMROOT/usr/share/sendmail/cf m4=m4
	mkdir -p "$T/smcq"
	chmod 1777 "$T/smcq"
	cat > "$T/sm/submit.mc" <<EOM
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mta.floodgate.test')dnl
define(\`MSP_QUEUE_DIR', \`$T/smcq')dnl
define(\`confPID_FILE', \`$T/smcq/sm-client.pid')dnl
define(\`STATUS_FILE', \`$T/smcq/sm-client.st')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SM_PORT')dnl
dnl The queue runner's user, as Debian's: the caller makes it (only root
dnl switches to it; a user's sendmail command stays that user).
define(\`confRUN_AS_USER', \`smmsp')dnl
dnl As the MTA's: the MSP delivers at once whatever the load (with its
dnl default QueueLA it only queued, under a loaded CI run: seen).
define(\`confQUEUE_LA', \`1000')dnl
FEATURE(\`msp', \`[127.0.0.1]')dnl
EOM
	command -v m4 >/dev/null || m4=$SMROOT/usr/bin/m4
	$m4 -D_CF_DIR_="$cf/" "$cf/m4/cf.m4" "$T/sm/submit.mc" > "$T/sm/submit.cf" || return 1
	# The user reads nothing under the source tree, which may sit in a
	# home directory it cannot enter: the one library the binary takes
	# from the unpacked packages (libwrap) is copied beside it.
	mkdir -p "$T/sm/lib"
	cp "$SMROOT"/usr/lib/x86_64-linux-gnu/libwrap.so* "$T/sm/lib/" || return 1
	chmod 755 "$T" "$T/sm" "$T/sm/lib"
	chmod 644 "$T/sm/submit.cf" "$T/sm/host.so"
}

sm_submit() {
	local u=$1
	shift
	su -s /bin/sh "$u" -c "LD_PRELOAD=$T/sm/host.so LD_LIBRARY_PATH=$T/sm/lib $T/sm/sendmail -C $T/sm/submit.cf $*"
}

msp_queue_run() {
	# Debian's sendmail command is setgid smmsp and its client queue
	# group smmsp; this one runs as the user alone, so the files it
	# queued are given to smmsp here.
	chown -R smmsp "$T/smcq"
	LD_PRELOAD=$T/sm/host.so LD_LIBRARY_PATH=$T/sm/lib $T/sm/sendmail -C $T/sm/submit.cf -q
}

sendmail_cleanup() {
	# SM_PID is the shell that started the daemon; the daemon's own
	# PID is in its pid file (it would outlive the test otherwise).
	local pid=
	[ -s "$T/sm/sendmail.pid" ] && pid=$(head -n 1 "$T/sm/sendmail.pid")
	[ -n "${SM_PID:-}" ] && kill "$SM_PID" 2>/dev/null
	if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
		for _ in $(seq 1 100); do
			alive "$pid" || break
			sleep 0.05
		done
	fi
	[ -n "$SASL_CREATED" ] && rm -f "$SASL_CREATED"
	[ -n "$SASL_DIR_CREATED" ] && rmdir /etc/sasl2 2>/dev/null
	cleanup
}
