/*
 * A window's name: "RULE\037KEY", the rule's name and the key it counts
 * under, joined by a unit separator that neither can contain. The table,
 * the limiter, the store, the control socket and floodgatectl build and
 * take it apart only here.
 */
#ifndef FG_WKEY_H
#define FG_WKEY_H

#include <stddef.h>

#include "sizes.h"

#define FG_WKEY_SEP	'\037'
/* The rule part: a rule's name, or a feedback rule's name and one of
 * its companion windows: every final result (for ratio), the bounced
 * and the unknown recipients it does not count itself (for show). */
#define FG_WRULE_MAX	(FG_NAME_MAX + 4)
#define FG_WRULE_ALL	"+all"
#define FG_WRULE_BOUNCED "+bnc"
#define FG_WRULE_UNKNOWN "+unk"

/* Writes "rule\037key" into out; -1 when it does not fit. */
int fg_wkey_join(const char *rule, const char *key, char *out, size_t outlen);
/* The rule part's length and a pointer to the key part; -1 when full
 * holds no separator or the rule part is longer than FG_WRULE_MAX. */
int fg_wkey_split(const char *full, const char **key);
/* Copies the rule part into rule; -1 as above. */
int fg_wkey_rule(const char *full, char rule[FG_WRULE_MAX + 1],
    const char **key);

#endif
