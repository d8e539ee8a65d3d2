/*
 * Who is responsible for a message: SASL login, local user, envelope
 * sender or client address, in the order of the `account` statement,
 * turned into a tenant name by the account map.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "util.h"

static const char *map_domain(const struct fg_config *c, const char *dom);
static void lower_copy(char *dst, const char *src, size_t len);

const char *
fg_source_name(enum fg_source s)
{
	return fg_name_of(fg_source_names, (int)s);
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

/*
 * System users send for others (root's scripts, a list server, every
 * site of a web server's PHP module): the next source tells those apart,
 * unless the operator made the user a tenant in the map. Sendmail's MSP
 * queue runner is the exception: what it sends, every user queued
 * through the sendmail command under whatever sender each claimed with
 * -f (mail queued with -odq meets floodgate only then), so it is one
 * account of its own, and no claimed sender pays.
 */
int
fg_account_user_counts(const struct fg_config *c, const char *user,
    int regular)
{
	char key[FG_ACCOUNT_MAX + 1];

	if (regular || strcmp(user, FG_ACCOUNT_MSP) == 0)
		return 1;
	lower_copy(key, user, sizeof(key));
	return fg_map_lookup(c, key) != NULL;
}

int
fg_account_uses(const struct fg_config *c, enum fg_source s)
{
	size_t i;

	for (i = 0; i < c->nsource; i++)
		if (c->source[i] == s)
			return 1;
	return 0;
}

int
fg_account_resolve(const struct fg_config *c, const char *login,
    const char *user, const char *sender, const char *client,
    struct fg_account *out)
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
			int rc;

			if (sender == NULL)
				continue;
			/* Not read for want of memory, the next source
			 * would be another account's. */
			if ((rc = fg_addr_parse(sender, &a, NULL, 0)) ==
			    FG_ADDR_NOMEM)
				return -1;
			if (rc != FG_ADDR_OK)
				continue;
			fg_addr_key(&a, out->identity, sizeof(out->identity));
			tenant = fg_map_lookup(c, out->identity);
			if (tenant == NULL)
				tenant = map_domain(c, a.domain);
			break;
		}
		case FG_SRC_UID:	/* keyed as a login: a user who also
					 * logs in with SASL under its own
					 * name is one account */
		case FG_SRC_CLIENT: {
			const char *v = c->source[i] == FG_SRC_UID ? user :
			    client;

			if (v == NULL || v[0] == '\0')
				continue;
			lower_copy(out->identity, v, sizeof(out->identity));
			tenant = fg_map_lookup(c, out->identity);
			break;
		}
		}
		out->source = c->source[i];
		out->mapped = tenant != NULL;
		fg_strlcpy(out->name, tenant ? tenant : out->identity,
		    sizeof(out->name));
		return 0;
	}
	out->source = FG_SRC_CLIENT;
	fg_strlcpy(out->identity, "unknown", sizeof(out->identity));
	fg_strlcpy(out->name, "unknown", sizeof(out->name));
	return 0;
}

/*
 * An account as an operator names it (floodgatectl): a tenant name, a
 * login, an address or a client's IP address, which the account map may
 * turn into a tenant.
 */
int
fg_account_named(const struct fg_config *c, const char *name,
    struct fg_account *out)
{
	const char *tenant = NULL;
	struct fg_addr a;
	int rc = FG_ADDR_BAD;

	memset(out, 0, sizeof(*out));
	/* Not read for want of memory: not taken for a login instead. */
	if (strchr(name, '@') != NULL &&
	    (rc = fg_addr_parse(name, &a, NULL, 0)) == FG_ADDR_NOMEM)
		return -1;
	if (rc == FG_ADDR_OK) {
		fg_addr_key(&a, out->identity, sizeof(out->identity));
		out->source = FG_SRC_SENDER;
		if ((tenant = fg_map_lookup(c, out->identity)) == NULL)
			tenant = map_domain(c, a.domain);
	} else {
		size_t i;

		/* A client's address in the spelling sessions key it by. */
		if (fg_client_addr(name, out->identity,
		    sizeof(out->identity)) == 1)
			out->source = FG_SRC_CLIENT;
		else {
			lower_copy(out->identity, name, sizeof(out->identity));
			out->source = FG_SRC_SASL;
		}
		tenant = fg_map_lookup(c, out->identity);
		/* Already a tenant name, as the logs show it. */
		for (i = 0; tenant == NULL && i < c->nmap; i++)
			if (strcmp(c->map[i].tenant, name) == 0)
				tenant = c->map[i].tenant;
	}
	out->mapped = tenant != NULL;
	fg_strlcpy(out->name, tenant ? tenant : out->identity, sizeof(out->name));
	return 0;
}

char *
fg_account_key(const char *in)
{
	char buf[FG_ADDR_MAX + 1];

	if (strchr(in, '@') != NULL && in[0] != '@') {
		struct fg_addr a;

		if (fg_addr_parse(in, &a, NULL, 0) != FG_ADDR_OK)
			return NULL;
		fg_addr_key(&a, buf, sizeof(buf));
	} else if (fg_client_addr(in, buf, sizeof(buf)) == 0) {
		if (strlen(in) >= sizeof(buf))
			return NULL;
		lower_copy(buf, in, sizeof(buf));
	}
	return fg_strdup(buf);
}

static int
mapcmp(const void *a, const void *b)
{
	return strcmp(((const struct fg_mapent *)a)->key,
	    ((const struct fg_mapent *)b)->key);
}

const char *
fg_map_lookup(const struct fg_config *c, const char *key)
{
	struct fg_mapent k = { .key = (char *)key }, *e;

	if (c->nmap == 0)
		return NULL;
	e = bsearch(&k, c->map, c->nmap, sizeof(*c->map), mapcmp);
	return e != NULL ? e->tenant : NULL;
}

struct map_load {
	struct fg_mapent *map;
	size_t n;
	unsigned long nomem;	/* fg_nomem_count() as the read began */
};

static int
map_add(struct fg_lex *lx, struct map_load *ml, char *key,
    const char *tenant, int alias)
{
	void *a;

	if ((a = fg_realloc(ml->map, (ml->n + 1) * sizeof(*ml->map))) == NULL) {
		free(key);
		fg_lex_error(lx, "out of memory");
		return -1;
	}
	ml->map = a;
	ml->map[ml->n].key = key;
	ml->map[ml->n].tenant = fg_strdup(tenant);
	ml->map[ml->n].line = lx->line;
	ml->map[ml->n].alias = alias;
	ml->n++;
	return 0;
}

static void
map_line(struct fg_lex *lx, struct fg_tok *t, int nt, void *arg)
{
	struct map_load *ml = arg;
	const char *name, *s;
	char *key, dom[FG_DOMAIN_MAX + 1];

	if (fg_nomem_count() != ml->nomem)
		return;		/* the load fails: no use reading on */
	if (nt != 2) {
		fg_lex_error(lx, "expected KEY TENANT (a login, address, domain or client IP address, then a tenant name)");
		return;
	}
	if (!fg_lex_name(t[1].s) && strchr(t[1].s, '@') == NULL) {
		fg_lex_error(lx, "\"%s\": expected a tenant name of letters, digits, '-', '_', '.'", t[1].s);
		return;
	}
	name = t[0].s[0] == '@' ? t[0].s + 1 : t[0].s;
	key = fg_account_key(name);
	if (key == NULL || key[0] == '\0') {
		fg_lex_error(lx, "\"%s\": expected a login, an address, a domain or a client IP address", t[0].s);
		free(key);
		return;
	}
	if (map_add(lx, ml, key, t[1].s, 0) < 0)
		return;
	/* A domain in UTF-8 is also its ASCII form, as senders' domains
	 * are read (fg_domain_normalize()); the key as written stays, for
	 * a login that looks like a domain. */
	for (s = name; *s != '\0' && (unsigned char)*s < 0x80; s++)
		;
	if (*s != '\0' && strchr(name, '@') == NULL &&
	    fg_domain_normalize(name, dom, sizeof(dom)) == 0 &&
	    strcmp(dom, key) != 0)
		(void)map_add(lx, ml, fg_strdup(dom), t[1].s, 1);
}

int
fg_account_map_load(struct fg_lex *lx, const char *path,
    struct fg_mapent **map, size_t *n)
{
	struct fg_lex ml = *lx;
	struct map_load st = { NULL, 0, fg_nomem_count() };
	size_t i, j;
	int rc;

	rc = fg_lex_file(&ml, path, map_line, &st);
	if (rc < 0 && ml.nerr == lx->nerr) {
		fg_account_map_free(st.map, st.n);
		return -1;		/* not opened */
	}
	if (fg_nomem_count() != st.nomem) {
		/* An entry may be missing, or hold no key: none is kept
		 * (the caller's load fails, saying why). */
		fg_account_map_free(st.map, st.n);
		st.map = NULL;
		st.n = 0;
	}
	if (st.n > 1)
		qsort(st.map, st.n, sizeof(*st.map), mapcmp);
	for (i = j = 0; i < st.n; i++) {
		struct fg_mapent *e = &st.map[i], *p = j ? &st.map[j - 1] : NULL;

		if (p != NULL && strcmp(e->key, p->key) == 0) {
			int a = e->line, b = p->line;

			/* A domain listed in both spellings for one tenant. */
			if ((e->alias || p->alias) &&
			    strcmp(e->tenant, p->tenant) == 0) {
				p->alias = p->alias && e->alias;
				free(e->key);
				free(e->tenant);
				continue;
			}
			ml.line = a > b ? a : b;
			fg_lex_error(&ml, "\"%s\" is listed more than once (also on line %d%s)",
			    e->key, a > b ? b : a, e->alias || p->alias ?
			    ", in UTF-8: the same domain" : "");
		}
		st.map[j++] = *e;
	}
	st.n = j;
	lx->nerr = ml.nerr;
	*map = st.map;
	*n = st.n;
	return 0;
}

void
fg_account_map_free(struct fg_mapent *map, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(map[i].key);
		free(map[i].tenant);
	}
	free(map);
}
