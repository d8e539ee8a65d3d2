/* Fuzz target: address and domain normalisation, and folding into keys. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), key[FG_ADDR_MAX + 1], dom[FG_DOMAIN_MAX + 1];
	char err[128];
	struct fg_addr a;

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
	(void)fg_domain_normalize(s, dom, sizeof(dom));
	free(s);
	return 0;
}
