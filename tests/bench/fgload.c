/*
 * fgload: drives a milter directly over its socket, with no MTA, the way
 * Postfix does (protocol version 6): negotiate, CONNECT, MAIL, RCPT...,
 * DATA if the milter asked for it, and the end of the message unless the
 * milter answered ACCEPT at DATA, per message, on N connections at once.
 * Prints decisions per second and the latency of the RCPT reply (p50,
 * p99, p99.9, max).
 *
 *   fgload -S unix:/path.sock [-c CONNS] [-m MSGS] [-r RCPTS] [-a ACCOUNTS]
 *          [-b BLOCKED_PCT] [-t SECONDS] [-p MSGS_PER_SECOND_PER_CONN]
 *          [-d DOMAINS]
 *
 * Without -p the connections send as fast as they can (a closed loop: the
 * latency then includes waiting for a CPU); with -p each connection sends
 * at that pace, as Postfix's smtpd processes would under a given load.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define SMFIP_NOCONNECT	0x00000001UL
#define SMFIP_NOEOH	0x00000040UL
#define SMFIP_NODATA	0x00000200UL
#define SMFIP_NR_CONN	0x00001000UL
#define SMFIP_NR_MAIL	0x00004000UL
#define SMFIP_NR_RCPT	0x00008000UL
#define SMFIP_NR_EOH	0x00040000UL

static const char *sockpath;
static int nconn = 10, nmsg = 1000, nrcpt = 10, naccounts = 1000, blocked_pct;
static int ndomains = 100;
static double max_seconds, pace;

struct worker {
	pthread_t th;
	int id;
	uint32_t *lat;		/* RCPT round trip, in 100 ns units */
	size_t nlat;
	uint64_t refused;
	int error;
};

static int
writen(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
readn(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
send_cmd(int fd, char cmd, const void *data, size_t len)
{
	char buf[4096];
	uint32_t n = htonl((uint32_t)len + 1);

	if (len + 5 > sizeof(buf))
		return -1;
	memcpy(buf, &n, 4);
	buf[4] = cmd;
	memcpy(buf + 5, data, len);
	return writen(fd, buf, len + 5);
}

/* Reads one reply; returns its command character, -1 on error. */
static int
read_reply(int fd, char *data, size_t cap)
{
	uint32_t n;
	char cmd;

	for (;;) {
		if (readn(fd, &n, 4) < 0)
			return -1;
		n = ntohl(n);
		if (n == 0 || n - 1 > cap)
			return -1;
		if (readn(fd, &cmd, 1) < 0 || readn(fd, data, n - 1) < 0)
			return -1;
		if (cmd != 'p')		/* progress: keep waiting */
			return cmd;
	}
}

static size_t
args(char *buf, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a) + 1, lb = b ? strlen(b) + 1 : 0;

	if (la + lb > cap)
		return 0;
	memcpy(buf, a, la);
	if (b)
		memcpy(buf + la, b, lb);
	return la + lb;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	struct sockaddr_un sun;
	char buf[4096], a[256], b[256];
	uint32_t opt[3];
	unsigned long proto;
	int fd, m, r, c;
	size_t len;
	unsigned seed = (unsigned)w->id * 7919u + 1;
	double start = now_s();

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		w->error = errno;
		return NULL;
	}
	opt[0] = htonl(6);
	opt[1] = htonl(0x1ff);		/* every action */
	opt[2] = htonl(0x1fffff);	/* every protocol step may be skipped */
	if (send_cmd(fd, 'O', opt, sizeof(opt)) < 0 ||
	    read_reply(fd, buf, sizeof(buf)) != 'O') {
		w->error = EPROTO;
		goto out;
	}
	memcpy(opt, buf, sizeof(opt));
	proto = ntohl(opt[2]);
	/* CONNECT: hostname, family '4', port, address; unless the milter
	 * asked for none (then the address comes as {client_addr}). */
	if (!(proto & SMFIP_NOCONNECT)) {
		memcpy(buf, "client.test", 12);
		len = 12;
		buf[len++] = '4';
		buf[len++] = 0x30;
		buf[len++] = 0x39;
		memcpy(buf + len, "192.0.2.10", 11);
		len += 11;
		send_cmd(fd, 'C', buf, len);
		if (!(proto & SMFIP_NR_CONN) &&
		    read_reply(fd, buf, sizeof(buf)) < 0) {
			w->error = EPROTO;
			goto out;
		}
	}
	for (m = 0; m < nmsg; m++) {
		if (max_seconds > 0 && now_s() - start > max_seconds)
			break;
		snprintf(a, sizeof(a), "<user@tenant%u.example>",
		    (unsigned)(rand_r(&seed) % (unsigned)naccounts));
		buf[0] = 'M';		/* macros for MAIL */
		len = 1 + args(buf + 1, sizeof(buf) - 1, "i", "QUEUEID1");
		len += args(buf + len, sizeof(buf) - len, "{client_addr}",
		    "192.0.2.10");
		send_cmd(fd, 'D', buf, len);
		len = args(buf, sizeof(buf), a, NULL);
		send_cmd(fd, 'M', buf, len);
		if (!(proto & SMFIP_NR_MAIL) &&
		    (c = read_reply(fd, buf, sizeof(buf))) < 0) {
			w->error = EPROTO;
			goto out;
		}
		for (r = 0; r < nrcpt; r++) {
			double t0;
			int blocked = blocked_pct > 0 &&
			    (int)(rand_r(&seed) % 100) < blocked_pct;

			snprintf(b, sizeof(b), "<r%d.%d@%s%u.example>", m, r,
			    blocked ? "blocked" : "dest",
			    (unsigned)(rand_r(&seed) % (unsigned)ndomains));
			len = args(buf, sizeof(buf), b, NULL);
			t0 = now_s();
			send_cmd(fd, 'R', buf, len);
			if (!(proto & SMFIP_NR_RCPT)) {
				if ((c = read_reply(fd, buf, sizeof(buf))) < 0) {
					w->error = EPROTO;
					goto out;
				}
				if (c != 'c')
					w->refused++;
			}
			w->lat[w->nlat++] = (uint32_t)((now_s() - t0) * 1e7);
		}
		if (!(proto & SMFIP_NODATA)) {
			send_cmd(fd, 'T', "", 0);
			if ((c = read_reply(fd, buf, sizeof(buf))) < 0) {
				w->error = EPROTO;
				goto out;
			}
			if (c == 'a')
				goto paced;	/* no end of message for it */
		}
		/* A milter that takes the headers' end (libmilter's state
		 * machine wants it after DATA) gets it, as from Postfix. */
		if (!(proto & SMFIP_NOEOH)) {
			send_cmd(fd, 'N', "", 0);
			if (!(proto & SMFIP_NR_EOH) &&
			    read_reply(fd, buf, sizeof(buf)) < 0) {
				w->error = EPROTO;
				goto out;
			}
		}
		send_cmd(fd, 'E', "", 0);
		do {
			c = read_reply(fd, buf, sizeof(buf));
		} while (c == 'h' || c == 'm' || c == 'q' || c == '+' || c == '-');
		if (c < 0) {
			w->error = EPROTO;
			goto out;
		}
paced:
		if (pace > 0) {
			/* Connections out of phase, as independent smtpd
			 * processes are: not all at the same instant. */
			double due = start + (m + 1 + (double)w->id / nconn) /
			    pace, wait = due - now_s();

			if (wait > 0) {
				struct timespec ts = { (time_t)wait,
				    (long)((wait - (double)(time_t)wait) * 1e9) };
				nanosleep(&ts, NULL);
			}
		}
	}
	send_cmd(fd, 'Q', "", 0);
out:
	close(fd);
	return NULL;
}

static int
cmp32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

int
main(int argc, char **argv)
{
	struct worker *w;
	uint32_t *all;
	size_t total = 0, k = 0;
	uint64_t refused = 0;
	double t0, secs;
	int ch, i, errors = 0;

	while ((ch = getopt(argc, argv, "S:c:m:r:a:b:t:p:d:")) != -1) {
		switch (ch) {
		case 'S': sockpath = optarg + (strncmp(optarg, "unix:", 5) ? 0 : 5); break;
		case 'c': nconn = atoi(optarg); break;
		case 'm': nmsg = atoi(optarg); break;
		case 'r': nrcpt = atoi(optarg); break;
		case 'a': naccounts = atoi(optarg); break;
		case 'b': blocked_pct = atoi(optarg); break;
		case 't': max_seconds = atof(optarg); break;
		case 'p': pace = atof(optarg); break;
		case 'd': ndomains = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: fgload -S unix:PATH [-c conns] [-m msgs] [-r rcpts] [-a accounts] [-b blocked%%] [-t secs] [-p msgs/s/conn]\n");
			return 2;
		}
	}
	if (sockpath == NULL || nconn < 1 || nmsg < 1 || nrcpt < 1 ||
	    naccounts < 1 || ndomains < 1)
		return 2;
	w = calloc((size_t)nconn, sizeof(*w));
	for (i = 0; i < nconn; i++) {
		w[i].id = i;
		w[i].lat = malloc((size_t)nmsg * (size_t)nrcpt * sizeof(uint32_t));
	}
	t0 = now_s();
	for (i = 0; i < nconn; i++)
		pthread_create(&w[i].th, NULL, run, &w[i]);
	for (i = 0; i < nconn; i++)
		pthread_join(w[i].th, NULL);
	secs = now_s() - t0;
	for (i = 0; i < nconn; i++) {
		total += w[i].nlat;
		refused += w[i].refused;
		if (w[i].error)
			errors++;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	for (i = 0; i < nconn; i++) {
		memcpy(all + k, w[i].lat, w[i].nlat * sizeof(*all));
		k += w[i].nlat;
	}
	qsort(all, total, sizeof(*all), cmp32);
#define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] / 10.0 : 0.0)
	printf("conns=%d rcpts_per_msg=%d decisions=%zu refused=%llu secs=%.3f decisions_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%d\n",
	    nconn, nrcpt, total, (unsigned long long)refused, secs,
	    (double)total / secs, PCT(0.5), PCT(0.99), PCT(0.999),
	    total ? all[total - 1] / 10.0 : 0.0, errors);
	for (i = 0; i < nconn; i++)
		free(w[i].lat);
	free(w);
	free(all);
	return errors ? 1 : 0;
}
