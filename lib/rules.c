/*
 * Which rules apply to a recipient, under which key they count it, and
 * at which rate for this account (overrides). Also the exemptions.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "rules.h"
#include "util.h"

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
wildcard(const char *pat)
{
	return pat[0] == '*' && pat[1] == '.';
}

void
fg_dests_index(struct fg_dests *d)
{
	size_t i, e = 0, w;

	free(d->idx);
	d->idx = NULL;
	d->nexact = 0;
	/* Without an index (no memory), fg_dests_match scans. */
	if (d->n == 0 || (d->idx = fg_malloc(d->n * sizeof(*d->idx))) == NULL)
		return;
	for (i = 0; i < d->n; i++)
		if (!wildcard(d->pat[i]))
			d->idx[e++] = d->pat[i];
	w = e;
	for (i = 0; i < d->n; i++)
		if (wildcard(d->pat[i]))
			d->idx[w++] = d->pat[i] + 1;
	qsort(d->idx, e, sizeof(*d->idx), cmp_str);
	qsort(d->idx + e, d->n - e, sizeof(*d->idx), cmp_str);
	d->nexact = e;
}

static int
has(const char **v, size_t n, const char *s)
{
	return n > 0 && bsearch(&s, v, n, sizeof(*v), cmp_str) != NULL;
}

/* No destinations written: the rule applies to every destination. */
int
fg_dests_match(const struct fg_dests *d, const char *domain)
{
	const char *dot;
	size_t i;

	if (d->n == 0)
		return 1;
	if (domain == NULL || domain[0] == '\0')
		return 0;
	if (d->idx == NULL) {
		for (i = 0; i < d->n; i++)
			if (fg_domain_match(domain, d->pat[i]))
				return 1;
		return 0;
	}
	if (has(d->idx, d->nexact, domain))
		return 1;
	/* "*.example.jp" is ".example.jp" in the index: look up every
	 * suffix of the domain that starts at a dot, never the whole. */
	if (d->n > d->nexact)
		for (dot = strchr(domain + 1, '.'); dot != NULL;
		    dot = strchr(dot + 1, '.'))
			if (has(d->idx + d->nexact, d->n - d->nexact, dot))
				return 1;
	return 0;
}

void
fg_rule_rate(const struct fg_rule *r, const char *account, uint32_t *limit,
    uint32_t *period)
{
	size_t i;

	*limit = r->limit;
	*period = r->period;
	for (i = 0; i < r->nov; i++) {
		if (strcasecmp(r->ov[i].account, account) == 0) {
			*limit = r->ov[i].limit;
			*period = r->ov[i].period;
			return;
		}
	}
}

int
fg_rule_key(const struct fg_rule *r, const char *account, const char *domain,
    const char *client, char *out, size_t outlen)
{
	int n;

	switch (r->scope) {
	case FG_SCOPE_ACCOUNT:
		n = snprintf(out, outlen, "%s", account);
		break;
	case FG_SCOPE_DOMAIN:
		n = snprintf(out, outlen, "%s", domain);
		break;
	case FG_SCOPE_ACCOUNT_DOMAIN:
		n = snprintf(out, outlen, "%s/%s", account, domain);
		break;
	case FG_SCOPE_CLIENT:
		n = snprintf(out, outlen, "%s", client);
		break;
	default:
		n = snprintf(out, outlen, "*");
		break;
	}
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
fg_exempt_account(const struct fg_config *c, const char *identity,
    const char *account)
{
	size_t i;

	for (i = 0; i < c->nex_account; i++)
		if (strcasecmp(c->ex_account[i], identity) == 0 ||
		    strcasecmp(c->ex_account[i], account) == 0)
			return 1;
	return 0;
}

int
fg_exempt_client(const struct fg_config *c, const char *ip)
{
	unsigned char a[16];
	int fam;
	size_t i;

	if (ip == NULL || ip[0] == '\0' || c->nex_client == 0)
		return 0;
	if (inet_pton(AF_INET, ip, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, ip, a) == 1)
		fam = AF_INET6;
	else
		return 0;
	for (i = 0; i < c->nex_client; i++) {
		const struct fg_cidr *n = &c->ex_client[i];
		int bits = n->bits, k;

		if (n->family != fam)
			continue;
		for (k = 0; bits >= 8; k++, bits -= 8)
			if (a[k] != n->addr[k])
				break;
		if (bits >= 8)
			continue;
		if (bits == 0 ||
		    ((a[k] ^ n->addr[k]) & (0xff << (8 - bits)) & 0xff) == 0)
			return 1;
	}
	return 0;
}

/* Whether a limit or a backoff names the domain in a destination list
 * of its own (a rule for every domain names none). */
static int
named(const struct fg_config *c, const char *domain)
{
	size_t i;

	if (domain[0] == '\0')
		return 0;
	for (i = 0; i < c->nrule; i++)
		if (c->rule[i].dests.n > 0 &&
		    fg_dests_match(&c->rule[i].dests, domain))
			return 1;
	for (i = 0; i < c->nbackoff; i++)
		if (c->backoff[i].dests.n > 0 &&
		    fg_dests_match(&c->backoff[i].dests, domain))
			return 1;
	return 0;
}

/*
 * The domain a routed recipient ("user%dest@host", "dest!user") counts
 * for when the MTA has not said where it goes: it goes to the domain its
 * route names if the domain written is the MTA's own, else to the one
 * written, and floodgate cannot tell which. The one a rule names, so
 * that neither way passes a carrier's limit; the route's when both or
 * neither are, the one written when the route names no domain. out gets
 * the address chosen: FG_ADDR_OK when it has a domain, FG_ADDR_BAD when
 * not, FG_ADDR_NOMEM when out of memory.
 */
int
fg_route_domain(const struct fg_config *c, const char *rcpt,
    struct fg_addr *out)
{
	struct fg_addr routed;
	int rc = fg_addr_route(rcpt, out, &routed);

	if (rc == FG_ADDR_NOMEM)
		return rc;
	if (rc == FG_ADDR_OK &&
	    (!named(c, out->domain) || named(c, routed.domain)))
		*out = routed;
	return out->domain[0] != '\0' ? FG_ADDR_OK : FG_ADDR_BAD;
}
