/*
 * What the Postfix check (pfcheck.c) lends the Sendmail check
 * (smcheck.c): floodgate's socket as the MTA may name it, the path and
 * number readers that compare against it, and the list of findings.
 * Not for use outside those two.
 */
#ifndef FG_PFCHECK_INT_H
#define FG_PFCHECK_INT_H

#include <limits.h>
#include <stddef.h>

#include "pfcheck.h"

/* floodgate's socket as Postfix would name it. */
struct fg_pf_ours {
	int known;		/* 0: listen not given or not read */
	char path[PATH_MAX];	/* a UNIX socket, normalized; or "" */
	char port[16];		/* an inet listener's port; or "" */
	char qdir[PATH_MAX];	/* queue_directory, normalized; or "" */
	char name[PATH_MAX + 64];	/* how main.cf would write it */
};

/* From pf's listen and queue_directory. */
void fg_pf_ours_read(const struct fg_pf_conf *pf, struct fg_pf_ours *o);
/* Whether the normalized path a is floodgate's socket: by its letters,
 * or as the same file when both are there. */
int fg_pf_same_socket(const char *a, const struct fg_pf_ours *o);
/* A path with its "//", "/./" and trailing "/" dropped, into out; -1
 * when it cannot be compared by its letters (a "..", too long). */
int fg_pf_normalize(const char *in, size_t n, char *out, size_t outlen);
/* Whether the n bytes at s are digits, one at least. */
int fg_pf_digits(const char *s, size_t n);

/* The findings being written into a caller's out[max]. */
struct fg_pf_found {
	char (*out)[FG_PF_TEXT];
	size_t n, max, more;	/* more: findings past max */
};

void fg_pf_add(struct fg_pf_found *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* How many findings there are to say: past max, the last place says
 * how many more there were, so that none goes unnoticed. */
size_t fg_pf_found_n(struct fg_pf_found *f);

/* A user's .forward, said the same for both MTAs. */
#define FG_PF_FORWARD_WHY "a user's .forward sends each message the user gets on to every address in it, copies floodgate never decides (one message to the user's own address, a hundred out); with account uid, users run their own code here"

#endif
