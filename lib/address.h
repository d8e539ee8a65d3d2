/*
 * Envelope addresses as MTAs hand them to milters: with or without angle
 * brackets, source routes, quoted local parts, trailing dots, "<>".
 * Normalised forms are what floodgate counts by.
 */
#ifndef FG_ADDRESS_H
#define FG_ADDRESS_H

#include <stddef.h>

#include "sizes.h"

enum fg_addr_status {
	FG_ADDR_OK = 0,
	FG_ADDR_NULL = 1,	/* the null sender "<>" */
	FG_ADDR_BAD = -1,
	FG_ADDR_NOMEM = -2	/* not read: out of memory */
};

struct fg_addr {
	char local[FG_LOCAL_MAX + 1];	/* unquoted, cut at FG_LOCAL_MAX */
	char domain[FG_DOMAIN_MAX + 1];	/* lowercase, no trailing dot; "" if none */
};

/*
 * Each of these returns FG_ADDR_NOMEM when it had no memory to read the
 * address (a name in UTF-8, an address past FG_ADDR_IN_MAX bytes):
 * neither a good nor a bad one. fg_addr_plain() too, beside its 1 and 0.
 */
int fg_addr_parse(const char *in, struct fg_addr *out, char *err, size_t errlen);
int fg_addr_plain(const char *in);
int fg_addr_route(const char *in, struct fg_addr *written,
    struct fg_addr *routed);
int fg_domain_normalize(const char *in, char *out, size_t outlen);
int fg_domain_normalize_n(const char *in, size_t len, char *out,
    size_t outlen);
void fg_addr_key(const struct fg_addr *a, char *out, size_t outlen);
int fg_domain_match(const char *domain, const char *pattern);
const char *fg_ip_untag(const char *s);
int fg_ip_mapped(const unsigned char a[16]);
int fg_client_addr(const char *in, char *out, size_t outlen);
int fg_ip_loopback(const char *s);

#endif
