/*
 * Who is responsible for a message: SASL login, envelope sender or client
 * address, in the order of the `account` statement, turned into a tenant
 * name by the account map.
 */
#include <string.h>

#include "account.h"
#include "util.h"

static const char *map_domain(const struct fg_config *c, const char *dom);
static void lower_copy(char *dst, const char *src, size_t len);

const char *
fg_source_name(enum fg_source s)
{
	switch (s) {
	case FG_SRC_SASL: return "sasl";
	case FG_SRC_SENDER: return "sender";
	case FG_SRC_CLIENT: return "client";
	}
	return "?";
}

static void
lower_copy(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < len; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ?
		    (char)(src[i] + 'a' - 'A') : src[i];
	dst[i] = '\0';
}

/* A domain maps, or its parent does: mail.example.jp -> example.jp. */
static const char *
map_domain(const struct fg_config *c, const char *dom)
{
	const char *t;

	while (dom != NULL && *dom != '\0') {
		if ((t = fg_map_lookup(c, dom)) != NULL)
			return t;
		dom = strchr(dom, '.');
		if (dom != NULL)
			dom++;
		if (dom != NULL && strchr(dom, '.') == NULL)
			break;	/* never map a whole TLD */
	}
	return NULL;
}

void
fg_account_resolve(const struct fg_config *c, const char *login,
    const char *sender, const char *client, struct fg_account *out)
{
	const char *tenant = NULL;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < c->nsource; i++) {
		switch (c->source[i]) {
		case FG_SRC_SASL:
			if (login == NULL || login[0] == '\0')
				continue;
			lower_copy(out->identity, login, sizeof(out->identity));
			tenant = fg_map_lookup(c, out->identity);
			if (tenant == NULL && strchr(out->identity, '@'))
				tenant = map_domain(c,
				    strchr(out->identity, '@') + 1);
			break;
		case FG_SRC_SENDER: {
			struct fg_addr a;

			if (sender == NULL ||
			    fg_addr_parse(sender, &a, NULL, 0) != FG_ADDR_OK)
				continue;
			fg_addr_key(&a, out->identity, sizeof(out->identity));
			tenant = fg_map_lookup(c, out->identity);
			if (tenant == NULL)
				tenant = map_domain(c, a.domain);
			break;
		}
		case FG_SRC_CLIENT:
			if (client == NULL || client[0] == '\0')
				continue;
			lower_copy(out->identity, client, sizeof(out->identity));
			tenant = fg_map_lookup(c, out->identity);
			break;
		}
		out->source = c->source[i];
		out->mapped = tenant != NULL;
		fg_strlcpy(out->name, tenant ? tenant : out->identity,
		    sizeof(out->name));
		return;
	}
	out->source = FG_SRC_CLIENT;
	fg_strlcpy(out->identity, "unknown", sizeof(out->identity));
	fg_strlcpy(out->name, "unknown", sizeof(out->name));
}

/*
 * An account as an operator names it (floodgatectl): a tenant name, a
 * login, or an address, which the account map may turn into a tenant.
 */
void
fg_account_named(const struct fg_config *c, const char *name,
    struct fg_account *out)
{
	const char *tenant = NULL;
	struct fg_addr a;

	memset(out, 0, sizeof(*out));
	if (strchr(name, '@') != NULL &&
	    fg_addr_parse(name, &a, NULL, 0) == FG_ADDR_OK) {
		fg_addr_key(&a, out->identity, sizeof(out->identity));
		out->source = FG_SRC_SENDER;
		if ((tenant = fg_map_lookup(c, out->identity)) == NULL)
			tenant = map_domain(c, a.domain);
	} else {
		lower_copy(out->identity, name, sizeof(out->identity));
		out->source = FG_SRC_SASL;
		tenant = fg_map_lookup(c, out->identity);
		if (tenant == NULL) {
			size_t i;

			/* Already a tenant name, as the logs show it. */
			for (i = 0; i < c->nmap; i++)
				if (strcmp(c->map[i].tenant, name) == 0)
					tenant = c->map[i].tenant;
		}
	}
	out->mapped = tenant != NULL;
	fg_strlcpy(out->name, tenant ? tenant : out->identity, sizeof(out->name));
}
