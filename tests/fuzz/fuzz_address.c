/* Fuzz target: address, domain and client address normalisation,
 * folding into keys, and routed addresses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), key[FG_ADDR_MAX + 1], dom[FG_DOMAIN_MAX + 1];
	char err[128], ip[FG_CLIENT_MAX + 1], ip2[FG_CLIENT_MAX + 1];
	struct fg_addr a, w, r;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';	/* the MTA hands over C strings: a NUL ends it */
	if (fg_addr_parse(s, &a, err, sizeof(err)) == FG_ADDR_OK) {
		fg_addr_key(&a, key, sizeof(key));
		if (a.domain[0] != '\0' && fg_domain_normalize(a.domain, dom,
		    sizeof(dom)) == 0 && strcmp(dom, a.domain) != 0)
			abort();	/* normalising twice changes nothing */
		(void)fg_domain_match(a.domain, "*.example.jp");
	}
	/* A route's step is a readable address with a domain, and a plain
	 * address has none. */
	if (fg_addr_route(s, &w, &r) == FG_ADDR_OK) {
		if (r.domain[0] == '\0' || r.local[0] == '\0' || fg_addr_plain(s))
			abort();
		if (fg_domain_normalize(r.domain, dom, sizeof(dom)) != 0 ||
		    strcmp(dom, r.domain) != 0)
			abort();
	}
	(void)fg_domain_normalize(s, dom, sizeof(dom));
	if (fg_client_addr(s, ip, sizeof(ip)) == 1 &&
	    (fg_client_addr(ip, ip2, sizeof(ip2)) != 1 || strcmp(ip, ip2) != 0))
		abort();	/* a client's address has one spelling */
	free(s);
	return 0;
}
