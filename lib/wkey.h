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

/* Writes "rule\037key" into out; -1 when it does not fit. */
int fg_wkey_join(const char *rule, const char *key, char *out, size_t outlen);
/* The rule part's length and a pointer to the key part; -1 when full
 * holds no separator or the rule part is longer than a rule name. */
int fg_wkey_split(const char *full, const char **key);
/* Copies the rule part into rule (FG_NAME_MAX + 1 bytes); -1 as above. */
int fg_wkey_rule(const char *full, char rule[FG_NAME_MAX + 1],
    const char **key);

#endif
