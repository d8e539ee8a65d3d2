/*
 * Postfix's socketmap protocol: netstrings (see socketmap.h). A length
 * is read digit by digit and bounded before anything else is looked at.
 */
#include <stdio.h>
#include <string.h>

#include "socketmap.h"
#include "util.h"

long
fg_sm_request(const char *buf, size_t len, char *name, size_t namelen,
    char *key, size_t keylen)
{
	size_t i, n = 0, start, nl, kl;
	const char *sp;

	for (i = 0; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		n = n * 10 + (size_t)(buf[i] - '0');
		if (n > FG_SM_MAXREQ || i >= 5)
			return -1;
	}
	if (i == len)
		return 0;		/* the length is not complete yet */
	if (i == 0 || buf[i] != ':')
		return -1;
	start = i + 1;
	if (len - start < n + 1)
		return 0;
	if (buf[start + n] != ',')
		return -1;
	if ((sp = memchr(buf + start, ' ', n)) == NULL)
		return -1;
	nl = (size_t)(sp - (buf + start));
	kl = n - nl - 1;
	if (nl == 0 || kl == 0 || memchr(buf + start, '\0', n) != NULL)
		return -1;
	if (nl >= namelen)
		nl = namelen - 1;
	if (kl >= keylen)
		kl = keylen - 1;
	memcpy(name, buf + start, nl);
	name[nl] = '\0';
	memcpy(key, sp + 1, kl);
	key[kl] = '\0';
	return (long)(start + n + 1);
}

long
fg_sm_reply(char *out, size_t outlen, const char *text)
{
	int n = snprintf(out, outlen, "%zu:%s,", strlen(text), text);

	return n < 0 || (size_t)n >= outlen ? -1 : n;
}
