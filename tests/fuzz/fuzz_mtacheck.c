/* Fuzz target: the MTA's settings floodgate reads for what lets mail
 * past it (lib/pfcheck.c): the input as sendmail.cf, and as postconf's
 * answers (its first nine lines values asked with -h, then
 * master.cf's lines as -P gives them up to an empty line, then its
 * services as -M gives them), against a UNIX socket inside Postfix's
 * queue directory and an inet one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pfcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX	8

/* Every finding is one NUL-terminated, non-empty line. */
static void
check(char out[][FG_PF_TEXT], size_t n)
{
	size_t i;

	if (n > MAX)
		abort();
	for (i = 0; i < n; i++)
		if (out[i][0] == '\0' || memchr(out[i], '\0', FG_PF_TEXT) ==
		    NULL || strchr(out[i], '\n') != NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *listen[] = {
		"unix:/var/spool/postfix/floodgate/milter.sock",
		"inet:10030@127.0.0.1",
	};
	char out[MAX][FG_PF_TEXT], *text, *p, *services = NULL;
	char *line[9] = { "", "", "", "", "", "", "", "", "" };
	size_t i, k;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (k = 0; k < 2; k++)
		check(out, fg_sm_check(text, listen[k], (int)k, out, MAX));
	for (p = text, i = 0; i < 9 && p != NULL; i++) {
		line[i] = p;
		if ((p = strchr(p, '\n')) != NULL)
			*p++ = '\0';
	}
	if (p != NULL && (services = strstr(p, "\n\n")) != NULL) {
		*services = '\0';
		services += 2;
	}
	for (k = 0; k < 2; k++) {
		/* The first line is receive_override_options too, and the
		 * three after it forward_path, mydestination and
		 * local_transport; account uid with the inet socket. */
		struct fg_pf_conf pf = { line[0], line[1], line[2],
		    p != NULL ? p : "", line[3], line[4], listen[k], line[0],
		    services, line[5], line[6], line[7], line[8], line[1],
		    line[2], line[3], (int)k };

		check(out, fg_pf_check(&pf, out, MAX));
	}
	free(text);
	return 0;
}
