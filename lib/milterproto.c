/*
 * The milter protocol's wire format: a 4-byte length in network order
 * (command byte included), the command, its data. Everything that reads
 * MTA input checks lengths first: a broken or hostile peer gets -1, never
 * a read past the packet.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "milterproto.h"
#include "util.h"

static int stage_of(char cmd);

/* Steps in the order of a transaction; U may come at any point. */
static const char order[] = { FG_MC_CONNECT, FG_MC_HELO, FG_MC_MAIL,
    FG_MC_RCPT, FG_MC_DATA, FG_MC_EOH, FG_MC_EOM };

static int
stage_of(char cmd)
{
	switch (cmd) {
	case FG_MC_CONNECT: return 0;
	case FG_MC_HELO: return 1;
	case FG_MC_MAIL: return 2;
	case FG_MC_RCPT: return 3;
	case FG_MC_DATA: return 4;
	case FG_MC_EOM: return 5;
	case FG_MC_EOH: return 6;
	case FG_MC_UNKNOWN: return 7;
	default: return -1;
	}
}

long
fg_mp_frame(const void *buf, size_t len, struct fg_mp_packet *pkt)
{
	const unsigned char *p = buf;
	uint32_t n;

	if (len < 4)
		return 0;
	memcpy(&n, p, 4);
	n = ntohl(n);
	if (n == 0 || n - 1 > FG_MP_MAXDATA)
		return -1;
	if (len - 4 < n)
		return 0;
	pkt->cmd = (char)p[4];
	pkt->data = (const char *)p + 5;
	pkt->len = n - 1;
	return (long)n + 4;
}

static uint32_t
get32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

int
fg_mp_optneg_parse(const struct fg_mp_packet *pkt, struct fg_mp_optneg *out)
{
	if (pkt->len < 12)
		return -1;
	out->version = get32(pkt->data);
	out->actions = get32(pkt->data + 4);
	out->protocol = get32(pkt->data + 8);
	return out->version >= 2 ? 0 : -1;
}

void
fg_mp_negotiate(const struct fg_mp_optneg *mta, int reply_mail, int data,
    int ends, struct fg_mp_optneg *reply, const char *lists[FG_MP_NSTAGES])
{
	uint32_t skip = FG_MP_NOCONNECT | FG_MP_NOHELO | FG_MP_NOHDRS |
	    FG_MP_NOEOH | FG_MP_NOBODY | FG_MP_NOUNKNOWN;
	int i;

	if (!reply_mail)
		skip |= FG_MP_NR_MAIL;
	if (!data)
		skip |= FG_MP_NODATA;
	for (i = 0; i < FG_MP_NSTAGES; i++)
		lists[i] = NULL;
	reply->version = mta->version < FG_MP_VERSION ? mta->version :
	    FG_MP_VERSION;
	reply->actions = mta->actions &
	    (FG_MA_ADDHDRS | FG_MA_QUARANTINE | FG_MA_SETSYMLIST);
	reply->protocol = mta->protocol & skip;
	if (!(mta->actions & FG_MA_SETSYMLIST) ||
	    !(mta->protocol & FG_MP_NOCONNECT)) {
		/* Without either, CONNECT brings the client's address. */
		reply->protocol &= ~FG_MP_NOCONNECT;
	} else {
		/* {auth_authen} is the SASL login, i the queue ID. */
		lists[FG_MS_ENVFROM] = ends ?
		    "i {auth_authen} {client_addr} {daemon_port} {client_port} {daemon_addr}" :
		    "i {auth_authen} {client_addr} {daemon_port}";
		/* {rcpt_addr}: a routed recipient's destination. */
		lists[FG_MS_ENVRCPT] = "i {rcpt_addr}";
		/* Charged at DATA, a message's queue ID is needed there
		 * (Postfix has one from the first accepted recipient). */
		if (data)
			lists[FG_MS_DATA] = "i";
		lists[FG_MS_EOM] = "i";
	}
}

int
fg_mp_optneg_reply(const struct fg_mp_optneg *o,
    const char *const lists[FG_MP_NSTAGES], char *buf, size_t cap,
    size_t *len)
{
	char data[FG_MP_MAXREPLY - 5];
	size_t n = 12, i, l;
	uint32_t v[3] = { htonl(o->version), htonl(o->actions),
	    htonl(o->protocol) };

	memcpy(data, v, sizeof(v));
	for (i = 0; lists != NULL && i < FG_MP_NSTAGES; i++) {
		uint32_t where = htonl((uint32_t)i);

		if (lists[i] == NULL)
			continue;
		l = strlen(lists[i]) + 1;
		if (n + 4 + l > sizeof(data))
			return -1;
		memcpy(data + n, &where, 4);
		memcpy(data + n + 4, lists[i], l);
		n += 4 + l;
	}
	return fg_mp_put(buf, cap, len, FG_MR_OPTNEG, data, n);
}

int
fg_mp_args(const struct fg_mp_packet *pkt, const char **argv, int max)
{
	const char *p = pkt->data, *end = pkt->data + pkt->len;
	int n = 0;

	if (pkt->len == 0 || end[-1] != '\0')
		return -1;
	while (p < end) {
		if (n < max)
			argv[n] = p;
		n++;
		p += strlen(p) + 1;
	}
	if (n < max)
		argv[n] = NULL;
	return n;
}

int
fg_mp_connect_addr(const struct fg_mp_packet *pkt, char *out, size_t outlen)
{
	const char *p = pkt->data, *end = pkt->data + pkt->len, *host;
	char family;

	out[0] = '\0';
	if ((host = memchr(p, '\0', pkt->len)) == NULL)
		return -1;
	p = host + 1;
	if (p >= end)
		return -1;
	family = *p++;
	if (family != '4' && family != '6')
		return 0;	/* 'L' local, 'U' unknown: no address */
	if (end - p < 3 || end[-1] != '\0')
		return -1;
	p += 2;			/* port */
	fg_strlcpy(out, p, outlen);	/* the session normalizes it */
	return 0;
}

static const char *const macro_name[FG_MAC_N] = {
	[FG_MAC_QID] = "i",
	[FG_MAC_AUTH] = "{auth_authen}",
	[FG_MAC_CLIENT] = "{client_addr}",
	[FG_MAC_PORT] = "{daemon_port}",
	[FG_MAC_CPORT] = "{client_port}",
	[FG_MAC_DADDR] = "{daemon_addr}",
	[FG_MAC_RADDR] = "{rcpt_addr}",
};

const char *
fg_mp_macro_name(enum fg_macro id)
{
	return macro_name[id];
}

/* "{x}" and "x" name the same macro, as in libmilter. */
static int
name_eq(const char *want, const char *have, size_t hlen)
{
	size_t wlen = strlen(want);

	if (wlen >= 2 && want[0] == '{' && want[wlen - 1] == '}') {
		want++;
		wlen -= 2;
	}
	if (hlen >= 2 && have[0] == '{' && have[hlen - 1] == '}') {
		have++;
		hlen -= 2;
	}
	return wlen == hlen && memcmp(want, have, wlen) == 0;
}

static int
macro_id(const char *name, size_t len)
{
	int i;

	for (i = 0; i < FG_MAC_N; i++)
		if (name_eq(macro_name[i], name, len))
			return i;
	return -1;
}

static void
clear_stage(struct fg_mp_macros *m, int st)
{
	int i;

	for (i = 0; i < FG_MAC_N; i++) {
		free(m->val[st][i]);
		m->val[st][i] = NULL;
	}
}

/*
 * Reads the packet once and keeps the values of floodgate's macros; a
 * lookup later costs nothing, however large the packet was. A value is
 * kept to its first FG_MP_MACRO_MAX bytes (a login longer than an
 * account is counted by its first FG_ACCOUNT_MAX, as on libmilter's
 * engine), but {rcpt_addr} whole in the RCPT's own packet: it is read
 * as an address, as long as the recipient the MTA took (Postfix's
 * line_length_limit may be raised). What a connection keeps is so one
 * packet's worth (FG_MP_MAXDATA) and the cut values at most.
 */
int
fg_mp_macros_set(struct fg_mp_macros *m, const struct fg_mp_packet *pkt)
{
	const char *p, *end;
	int st;

	if (pkt->len < 1 || (st = stage_of(pkt->data[0])) < 0)
		return -1;
	/* Name/value pairs, each NUL-terminated; nothing may run over. */
	if (pkt->len > 1 && pkt->data[pkt->len - 1] != '\0')
		return -1;
	if (pkt->data[0] == FG_MC_MAIL)
		fg_mp_macros_clear(m, FG_MC_MAIL);
	clear_stage(m, st);
	p = pkt->data + 1;
	end = pkt->data + pkt->len;
	while (p < end) {
		size_t nlen = strlen(p), vlen;
		const char *val = p + nlen + 1;
		int id;

		if (val >= end)
			break;		/* a name without a value */
		vlen = strlen(val);
		id = macro_id(p, nlen);
		if (id >= 0) {
			size_t keep = vlen;
			char *copy;

			if (keep > FG_MP_MACRO_MAX && !(id == FG_MAC_RADDR &&
			    pkt->data[0] == FG_MC_RCPT))
				keep = FG_MP_MACRO_MAX;
			if ((copy = malloc(keep + 1)) == NULL)
				return -1;
			memcpy(copy, val, keep);
			copy[keep] = '\0';
			free(m->val[st][id]);
			m->val[st][id] = copy;
		}
		p = val + vlen + 1;
	}
	return 0;
}

void
fg_mp_macros_clear(struct fg_mp_macros *m, char from_cmd)
{
	size_t i, from;

	for (from = 0; from < sizeof(order); from++)
		if (order[from] == from_cmd)
			break;
	for (i = from; i < sizeof(order); i++)
		clear_stage(m, stage_of(order[i]));
	clear_stage(m, 7);
}

void
fg_mp_macros_free(struct fg_mp_macros *m)
{
	fg_mp_macros_clear(m, FG_MC_CONNECT);
}

static const char *
lookup(const struct fg_mp_macros *m, char cmd, int id)
{
	int i, pos = (int)sizeof(order) - 1;

	/* UNKNOWN may come at any step: its own list, then all the others. */
	if (cmd == FG_MC_UNKNOWN && m->val[7][id] != NULL)
		return m->val[7][id];
	for (i = 0; i < (int)sizeof(order); i++)
		if (order[i] == cmd)
			pos = i;
	for (i = pos; i >= 0; i--) {
		const char *v = m->val[stage_of(order[i])][id];

		if (v != NULL)
			return v;
	}
	return NULL;
}

const char *
fg_mp_macro(const struct fg_mp_macros *m, char cmd, const char *name)
{
	int id = macro_id(name, strlen(name));

	return id < 0 ? NULL : lookup(m, cmd, id);
}

void
fg_mp_macros_at(const struct fg_mp_macros *m, char cmd, struct fg_macros *out)
{
	int i;

	for (i = 0; i < FG_MAC_N; i++)
		out->v[i] = lookup(m, cmd, i);
}

int
fg_mp_put(char *buf, size_t cap, size_t *len, char cmd, const void *data,
    size_t dlen)
{
	uint32_t n = htonl((uint32_t)dlen + 1);

	if (dlen > FG_MP_MAXDATA || cap - *len < dlen + 5)
		return -1;
	memcpy(buf + *len, &n, 4);
	buf[*len + 4] = cmd;
	if (dlen > 0)
		memcpy(buf + *len + 5, data, dlen);
	*len += dlen + 5;
	return 0;
}

void
fg_mp_reply_text(const char *text, char *out, size_t outlen)
{
	size_t n = 0, i;

	for (i = 0; text[i] != '\0' && n + 3 <= outlen; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\r' || c == '\n')
			c = ' ';
		if (c == '%')
			out[n++] = '%';
		out[n++] = (char)c;
	}
	if (outlen > 0)
		out[n] = '\0';
}

int
fg_mp_put_reply(char *buf, size_t cap, size_t *len, const char *rcode,
    const char *xcode, const char *text)
{
	char line[FG_MP_MAXREPLY - 5];
	size_t n;

	n = (size_t)snprintf(line, sizeof(line), "%s %s ", rcode, xcode);
	fg_mp_reply_text(text, line + n, sizeof(line) - n);
	return fg_mp_put(buf, cap, len, FG_MR_REPLYCODE, line,
	    strlen(line) + 1);
}
