/*
 * A window's name: "RULE\037KEY" (see wkey.h).
 */
#include <stdio.h>
#include <string.h>

#include "wkey.h"

int
fg_wkey_join(const char *rule, const char *key, char *out, size_t outlen)
{
	size_t rl = strlen(rule), kl = strlen(key);

	if (rl + 1 + kl + 1 > outlen)
		return -1;
	memcpy(out, rule, rl);
	out[rl] = FG_WKEY_SEP;
	memcpy(out + rl + 1, key, kl + 1);
	return 0;
}

int
fg_wkey_split(const char *full, const char **key)
{
	const char *sep = strchr(full, FG_WKEY_SEP);

	if (sep == NULL || sep == full || sep - full > FG_WRULE_MAX)
		return -1;
	*key = sep + 1;
	return (int)(sep - full);
}

int
fg_wkey_rule(const char *full, char rule[FG_WRULE_MAX + 1], const char **key)
{
	int rl = fg_wkey_split(full, key);

	if (rl < 0)
		return -1;
	memcpy(rule, full, (size_t)rl);
	rule[rl] = '\0';
	return rl;
}
