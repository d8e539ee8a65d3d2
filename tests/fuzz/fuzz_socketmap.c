/* Fuzz target: Postfix's socketmap requests, as the postfix_map server
 * reads them from a connection: one after another in a buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socketmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char name[64], key[FG_SM_MAXREQ + 1], out[FG_SM_MAXREQ + 64];
	size_t off = 0;
	long used, n;

	while (off < size) {
		used = fg_sm_request(buf + off, size - off, name, sizeof(name),
		    key, sizeof(key));
		if (used <= 0)
			break;
		if ((size_t)used > size - off || strlen(name) == 0 ||
		    strlen(name) >= sizeof(name) || strlen(key) == 0)
			abort();	/* never past the input, never empty */
		/* Whatever came in, the reply is a well-formed netstring. */
		n = fg_sm_reply(out, sizeof(out), key);
		if (n < 0 || out[n - 1] != ',')
			abort();
		off += (size_t)used;
	}
	return 0;
}
