/*
 * Which rules apply to a recipient, under which key they count it, and
 * at which rate for this account (overrides). Also the exemptions.
 */
#ifndef FG_RULES_H
#define FG_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "config.h"

/* Sorts the patterns for fg_dests_match, once the config is read: a
 * recipient is checked against every rule's destinations, and a group of
 * carrier or freemail domains can be long. */
void fg_dests_index(struct fg_dests *d);
int fg_dests_match(const struct fg_dests *d, const char *domain);
void fg_rule_rate(const struct fg_rule *r, const char *account,
    uint32_t *limit, uint32_t *period);
int fg_rule_key(const struct fg_rule *r, const char *account,
    const char *domain, const char *client, char *out, size_t outlen);
int fg_exempt_account(const struct fg_config *c, const char *identity,
    const char *account);
int fg_exempt_client(const struct fg_config *c, const char *ip);
int fg_route_domain(const struct fg_config *c, const char *rcpt,
    struct fg_addr *out);

#endif
