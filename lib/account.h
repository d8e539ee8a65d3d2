/*
 * Who is responsible for a message: SASL login, envelope sender or client
 * address, in the order of the `account` statement, turned into a tenant
 * name by the account map.
 */
#ifndef FG_ACCOUNT_H
#define FG_ACCOUNT_H

#include "address.h"
#include "config.h"

#define FG_ACCOUNT_MAX	FG_ADDR_MAX

struct fg_account {
	char name[FG_ACCOUNT_MAX + 1];		/* what rules count by */
	char identity[FG_ACCOUNT_MAX + 1];	/* login, address or IP */
	enum fg_source source;
	int mapped;
};

void fg_account_resolve(const struct fg_config *c, const char *login,
    const char *sender, const char *client, struct fg_account *out);
const char *fg_source_name(enum fg_source s);
void fg_account_named(const struct fg_config *c, const char *name,
    struct fg_account *out);

#endif
