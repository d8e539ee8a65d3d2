/*
 * Who is responsible for a message: SASL login, local user, envelope
 * sender or client address, in the order of the `account` statement,
 * turned into a tenant name by the account map.
 */
#ifndef FG_ACCOUNT_H
#define FG_ACCOUNT_H

#include "address.h"
#include "config.h"
#include "lex.h"

struct fg_account {
	char name[FG_ACCOUNT_MAX + 1];		/* what rules count by */
	char identity[FG_ACCOUNT_MAX + 1];	/* login, address or IP */
	enum fg_source source;
	int mapped;
};

/* user: the name of the local user whose socket the client's end of the
 * connection is (the uid source), NULL when none is known. -1 when out of
 * memory to read the sender: no account. */
int fg_account_resolve(const struct fg_config *c, const char *login,
    const char *user, const char *sender, const char *client,
    struct fg_account *out);
const char *fg_source_name(enum fg_source s);
/* The uid source's account for a client on this host whose socket was
 * closed before floodgate asked: its user is unknown, so every such
 * client shares this one (':' is in no Unix user's name). */
#define FG_ACCOUNT_CLOSED	"uid:closed"
/* Sendmail's MSP queue runner (the RunAsUser of FEATURE(msp)'s
 * submit.cf): the uid source makes it an account of its own. */
#define FG_ACCOUNT_MSP		"smmsp"
/* Whether a local user (the uid source) is an account: a regular user
 * (regular: its UID in the range useradd gives), the MSP's queue runner,
 * or a system user the account map names. */
int fg_account_user_counts(const struct fg_config *c, const char *user,
    int regular);
/* Whether the account statement names source s. */
int fg_account_uses(const struct fg_config *c, enum fg_source s);
/* -1 when it had no memory to read the name (an address in UTF-8). */
int fg_account_named(const struct fg_config *c, const char *name,
    struct fg_account *out);
/* An account as floodgate counts it, from how an operator writes it in
 * floodgate.conf or the map: addresses folded as senders are (case,
 * +extension), anything else lowercased. Allocated; NULL when it is
 * not a login, address or name. */
char *fg_account_key(const char *in);
/*
 * The account map file: "KEY TENANT" per line; KEY is a login, an address
 * or a domain (also written @domain). Errors go to lx with the map's
 * file:line; *map is sorted for fg_map_lookup. -1 when the file cannot
 * be opened (errno kept, not reported).
 */
int fg_account_map_load(struct fg_lex *lx, const char *path,
    struct fg_mapent **map, size_t *n);
void fg_account_map_free(struct fg_mapent *map, size_t n);
/* The tenant of a login, folded address or domain; NULL if unmapped. */
const char *fg_map_lookup(const struct fg_config *c, const char *key);

#endif
