/*
 * The sizes of what floodgate keeps of a message, named once: every
 * buffer, table column and wire field that holds one of these uses the
 * name, so that nothing is kept shorter in one place than in another.
 */
#ifndef FG_SIZES_H
#define FG_SIZES_H

/* RFC 5321 allows 64 and 255; VERP senders exceed 64 in the wild. */
#define FG_LOCAL_MAX	255
#define FG_DOMAIN_MAX	255
#define FG_ADDR_MAX	(FG_LOCAL_MAX + 1 + FG_DOMAIN_MAX)
/* The longest address floodgate copies on the stack as it reads one
 * (Postfix refuses a command or a queue record longer than
 * line_length_limit, 2048 by default); a longer one is read from the
 * heap. A local part is cut to FG_LOCAL_MAX and the domain still read:
 * the MTA delivers such an address, so floodgate counts it. */
#define FG_ADDR_IN_MAX	4096
/* An account is a login, a folded address, an IP address or a tenant. */
#define FG_ACCOUNT_MAX	FG_ADDR_MAX
/* Rule and group names (config). */
#define FG_NAME_MAX	64
/* Postfix long queue IDs are 15 to 20 characters, Sendmail's 14. */
#define FG_QID_MAX	31
/* floodgate's session id: a hex counter, "release" for a release. */
#define FG_SESSION_MAX	23
/* A client address as text: INET6_ADDRSTRLEN is 46. */
#define FG_CLIENT_MAX	63
/* An action or outcome word in events ("defer-local", "held"). */
#define FG_ACTION_MAX	23
/* The key a rule counts under: account, domain, "account/domain",
 * client or "*". */
#define FG_KEY_MAX	(FG_ACCOUNT_MAX + 1 + FG_DOMAIN_MAX)
/* A window's name in the table and the store: "rule\037key" (the rule
 * part may carry a 4-byte suffix, wkey.h). */
#define FG_WKEY_MAX	(FG_NAME_MAX + 4 + 1 + FG_KEY_MAX)
/* An SMTP reply text floodgate writes (without code). */
#define FG_REPLY_MAX	255

#endif
