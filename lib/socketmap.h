/*
 * Postfix's socketmap protocol (socketmap_table(5)): netstrings. A
 * request is "LEN:NAME KEY,", a reply "LEN:OK DATA," or "LEN:NOTFOUND ,"
 * (or TEMP, TIMEOUT, PERM with a reason). Pure; fuzzed.
 */
#ifndef FG_SOCKETMAP_H
#define FG_SOCKETMAP_H

#include <stddef.h>

/* Postfix's own limit on a request is far below this. */
#define FG_SM_MAXREQ	4096

/*
 * One request at the start of buf: the bytes it takes, 0 when buf holds
 * only part of it, -1 when it cannot be one. name and key are copied
 * (NUL-terminated, cut to their sizes).
 */
long fg_sm_request(const char *buf, size_t len, char *name, size_t namelen,
    char *key, size_t keylen);
/* A reply netstring for text ("OK retry:...", "NOTFOUND "); the length
 * written, or -1 when out is too small. */
long fg_sm_reply(char *out, size_t outlen, const char *text);

#endif
