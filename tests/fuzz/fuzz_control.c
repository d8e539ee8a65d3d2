/* Fuzz target: the control protocol, requests and reply records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg_ctl_req *req = malloc(sizeof(*req));
	struct fg_ctl_out o = { 0 };
	char err[FG_ERRLEN], *copy, *key[16], *val[16];
	int i;

	if (req == NULL)
		return 0;
	if (fg_ctl_parse((const char *)data, size, req, err, sizeof(err)) == 0) {
		fg_ctl_ok(&o);
		for (i = 0; i < req->argc; i++)
			fg_ctl_kv(&o, "arg", "%s", req->argv[i]);
		fg_ctl_end(&o);
		/* What the daemon writes, floodgatectl must read back. */
		if (o.buf != NULL && fg_ctl_split(o.buf + 3, key, val, 16) !=
		    (req->argc > 16 ? 16 : req->argc))
			abort();
		fg_ctl_out_free(&o);
	}
	if ((copy = malloc(size + 1)) != NULL) {
		memcpy(copy, data, size);
		copy[size] = '\0';
		(void)fg_ctl_split(copy, key, val, 16);
		free(copy);
	}
	free(req);
	return 0;
}
