/*
 * The Sendmail milter protocol, version 6, as the MTA speaks it: packet
 * framing, the pieces floodgate reads (negotiation, macros, arguments,
 * the client address) and the replies it writes. No I/O here.
 */
#ifndef FG_MILTERPROTO_H
#define FG_MILTERPROTO_H

#include <stddef.h>
#include <stdint.h>

/* Commands from the MTA. */
#define FG_MC_ABORT	'A'
#define FG_MC_BODY	'B'
#define FG_MC_CONNECT	'C'
#define FG_MC_MACRO	'D'
#define FG_MC_EOM	'E'
#define FG_MC_HELO	'H'
#define FG_MC_QUIT_NC	'K'
#define FG_MC_HEADER	'L'
#define FG_MC_MAIL	'M'
#define FG_MC_EOH	'N'
#define FG_MC_OPTNEG	'O'
#define FG_MC_QUIT	'Q'
#define FG_MC_RCPT	'R'
#define FG_MC_DATA	'T'
#define FG_MC_UNKNOWN	'U'

/* Replies to it. */
#define FG_MR_ACCEPT	'a'
#define FG_MR_CONTINUE	'c'
#define FG_MR_TEMPFAIL	't'
#define FG_MR_REJECT	'r'
#define FG_MR_REPLYCODE	'y'
#define FG_MR_ADDHEADER	'h'
#define FG_MR_QUARANTINE 'q'
#define FG_MR_OPTNEG	'O'

/* Actions the milter may take (negotiated). */
#define FG_MA_ADDHDRS	0x001u
#define FG_MA_QUARANTINE 0x020u
#define FG_MA_SETSYMLIST 0x100u

/* Protocol steps: the MTA skips the ones the milter asks it to. */
#define FG_MP_NOCONNECT	0x00001u
#define FG_MP_NOHELO	0x00002u
#define FG_MP_NOMAIL	0x00004u
#define FG_MP_NORCPT	0x00008u
#define FG_MP_NOBODY	0x00010u
#define FG_MP_NOHDRS	0x00020u
#define FG_MP_NOEOH	0x00040u
#define FG_MP_NR_HDR	0x00080u
#define FG_MP_NOUNKNOWN	0x00100u
#define FG_MP_NODATA	0x00200u
#define FG_MP_NR_CONN	0x01000u
#define FG_MP_NR_HELO	0x02000u
#define FG_MP_NR_MAIL	0x04000u
#define FG_MP_NR_RCPT	0x08000u
#define FG_MP_NR_DATA	0x10000u
#define FG_MP_NR_UNKN	0x20000u
#define FG_MP_NR_EOH	0x40000u
#define FG_MP_NR_BODY	0x80000u

/* Macro stages in the negotiation's symbol lists. */
#define FG_MS_CONNECT	0
#define FG_MS_ENVFROM	2
#define FG_MS_ENVRCPT	3
#define FG_MS_DATA	4
#define FG_MS_EOM	5

#define FG_MP_VERSION	6
/* Postfix and Sendmail send body chunks of 64 KB at most unless a milter
 * negotiates larger ones (floodgate asks for no body at all); every
 * other packet, macro packets included, is far smaller. A longer packet
 * is a broken or hostile peer. */
#define FG_MP_MAXDATA	(64 * 1024)
/* What is kept of a macro's value, but a recipient's {rcpt_addr} in its
 * RCPT packet: no queue ID, login, address or port is longer. */
#define FG_MP_MACRO_MAX	1024
/* The most floodgate writes in one packet: a negotiation reply or a
 * reply line, 1 KB of data each at most. */
#define FG_MP_MAXREPLY	(1024 + 5)

/* One packet inside a buffer: the command and its data, not copied. */
struct fg_mp_packet {
	char cmd;
	const char *data;
	size_t len;
};

/* The macros floodgate reads, and the only ones it keeps. */
enum fg_macro {
	FG_MAC_QID,		/* i */
	FG_MAC_AUTH,		/* {auth_authen} */
	FG_MAC_CLIENT,		/* {client_addr} */
	FG_MAC_PORT,		/* {daemon_port} */
	FG_MAC_CPORT,		/* {client_port} */
	FG_MAC_DADDR,		/* {daemon_addr} */
	FG_MAC_RADDR,		/* {rcpt_addr}: where the MTA resolved RCPT */
	FG_MAC_N
};

/* The values of those macros as one step sees them (NULL: not sent). */
struct fg_macros {
	const char *v[FG_MAC_N];
};

/* Macros as the MTA last sent them, per protocol step: a packet is read
 * once, for the few macros floodgate uses; the rest is not kept. */
#define FG_MP_NSTAGES 8
struct fg_mp_macros {
	char *val[FG_MP_NSTAGES][FG_MAC_N];
};

struct fg_mp_optneg {
	uint32_t version, actions, protocol;
};

/* Returns the bytes the packet takes (header included), 0 when the
 * buffer holds only part of it, -1 when it cannot be a packet. */
long fg_mp_frame(const void *buf, size_t len, struct fg_mp_packet *pkt);

int fg_mp_optneg_parse(const struct fg_mp_packet *pkt,
    struct fg_mp_optneg *out);
/*
 * What floodgate asks the MTA for, from what the MTA offers: no CONNECT
 * (the client address comes as {client_addr} at MAIL, when the MTA can
 * send macro lists), HELO, headers or body, no DATA unless data (to
 * charge the message there and answer ACCEPT), and no reply to MAIL
 * unless reply_mail (a failing store must be able to defer it), the
 * client's port and the server's address at MAIL only when ends (the
 * uid account: whose socket the client's end is). Fills reply and lists
 * (macro list per stage or NULL). The daemon and the benchmark's
 * do-nothing milter both negotiate through this.
 */
void fg_mp_negotiate(const struct fg_mp_optneg *mta, int reply_mail,
    int data, int ends, struct fg_mp_optneg *reply,
    const char *lists[FG_MP_NSTAGES]);
/* The reply to OPTNEG; lists[i] is the macro list for stage i or NULL. */
int fg_mp_optneg_reply(const struct fg_mp_optneg *o,
    const char *const lists[FG_MP_NSTAGES], char *buf, size_t cap,
    size_t *len);

/* Splits NUL-terminated strings in place of pointers; data must end in
 * NUL. Returns the number of strings, -1 when malformed. */
int fg_mp_args(const struct fg_mp_packet *pkt, const char **argv, int max);
/* CONNECT: the client's address as the MTA wrote it (Sendmail: "IPv6:..."),
 * "" for a local or unknown one. */
int fg_mp_connect_addr(const struct fg_mp_packet *pkt, char *out,
    size_t outlen);

/* A MACRO packet replaces the list of its step; a new MAIL forgets the
 * message's macros. */
int fg_mp_macros_set(struct fg_mp_macros *m, const struct fg_mp_packet *pkt);
void fg_mp_macros_clear(struct fg_mp_macros *m, char from_cmd);
void fg_mp_macros_free(struct fg_mp_macros *m);
/* The value for NAME ("i" or "{auth_authen}", braces optional; one of
 * the kept macros) seen at command CMD or an earlier step of the
 * transaction; NULL if none. */
const char *fg_mp_macro(const struct fg_mp_macros *m, char cmd,
    const char *name);
/* Every kept macro as command CMD sees it. */
void fg_mp_macros_at(const struct fg_mp_macros *m, char cmd,
    struct fg_macros *out);
/* The macro's name as the MTA writes it ("i", "{auth_authen}"). */
const char *fg_mp_macro_name(enum fg_macro id);

/* Appends a packet to buf; -1 when it does not fit. */
int fg_mp_put(char *buf, size_t cap, size_t *len, char cmd,
    const void *data, size_t dlen);
/* A reply's text as the MTA takes it: one line ('\r' and '\n' become
 * blanks) with '%' doubled; cut to fit out. */
void fg_mp_reply_text(const char *text, char *out, size_t outlen);
/* A REPLYCODE packet: "451 4.7.1 text", the text as fg_mp_reply_text
 * makes it. */
int fg_mp_put_reply(char *buf, size_t cap, size_t *len, const char *rcode,
    const char *xcode, const char *text);

#endif
