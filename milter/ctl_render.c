/*
 * floodgatectl's output: a reply's records as aligned tables for people,
 * or as one JSON object. Values come from outside (logins, senders, queue
 * IDs): a table shows control bytes and bytes that are not UTF-8 as \xHH,
 * and JSON is always valid UTF-8 (such bytes become U+FFFD), its types
 * those of the field, never guessed from the value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "util.h"

/* One record of a reply: as many fields as the line holds. */
struct rec {
	int n;
	char **key;
	char **val;
};

/* A number as JSON may write it: digits, no leading zero. */
static int
is_number(const char *s)
{
	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* For a terminal: control bytes, C1 controls and what is not UTF-8 as
 * \xHH, so that no value can move the cursor or fake a line. */
static char *
table_text(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	char *out = malloc(strlen(str) * 4 + 1), *o = out;

	if (out == NULL)
		return NULL;
	while (*s != '\0') {
		size_t n = fg_utf8_len(s);

		if (n == 1 && *s >= 0x20 && *s != 0x7f)
			*o++ = (char)*s++;
		else if (n > 1 && !(n == 2 && s[0] == 0xc2 && s[1] < 0xa0)) {
			memcpy(o, s, n);
			o += n;
			s += n;
		} else {
			o += sprintf(o, "\\x%02x", *s);
			s++;
		}
	}
	*o = '\0';
	return out;
}

static const char *
get(const struct rec *r, const char *key)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i];
	return NULL;
}

/* For people: times as local dates, seconds as durations; a refusal's
 * used and limit that are no window's, and an empty destination (a
 * whole message's), as "-" (before, a held message read "used 1, limit
 * 0"). JSON keeps the values. The value is replaced by an allocated
 * one. */
static void
humanize(struct rec *r)
{
	const char *type = get(r, "type"), *action = get(r, "action");
	/* show's last refusals; those no window's count decided: a
	 * message held (its used is its recipients), a recipient of a
	 * paused domain or of a suspended account (0 and 0) */
	int refusal = type != NULL && strcmp(type, "refusal") == 0;
	int no_window = refusal && action != NULL &&
	    (strcmp(action, "held") == 0 || strcmp(action, "paused") == 0 ||
	    strcmp(action, "suspended") == 0);
	int j;

	for (j = 0; j < r->n; j++) {
		char buf[64], *v;
		uint32_t n;

		if ((refusal && strcmp(r->key[j], "dest") == 0 &&
		    r->val[j][0] == '\0') || (no_window &&
		    (strcmp(r->key[j], "used") == 0 ||
		    strcmp(r->key[j], "limit") == 0)))
			fg_strlcpy(buf, "-", sizeof(buf));
		else if (fg_parse_uint(r->val[j], UINT32_MAX, &n) < 0)
			continue;
		else if (strcmp(r->key[j], "time") == 0 ||
		    strcmp(r->key[j], "config_loaded") == 0 ||
		    strcmp(r->key[j], "since") == 0 ||
		    strcmp(r->key[j], "on_hold_since") == 0 ||
		    strcmp(r->key[j], "until") == 0 ||
		    strcmp(r->key[j], "started") == 0 ||
		    strcmp(r->key[j], "ended") == 0) {
			time_t t = (time_t)n;
			struct tm tm;

			localtime_r(&t, &tm);
			if (n == 0)
				fg_strlcpy(buf, "-", sizeof(buf));
			else
				strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
		} else if (strcmp(r->key[j], "uptime") == 0 ||
		    strcmp(r->key[j], "retry") == 0 ||
		    strcmp(r->key[j], "remaining") == 0 ||
		    strcmp(r->key[j], "duration") == 0 ||
		    strcmp(r->key[j], "age") == 0) {
			if (n == 0)
				fg_strlcpy(buf, "-", sizeof(buf));
			else
				fg_format_duration(n, buf, sizeof(buf));
		} else if ((strcmp(r->key[j], "id") == 0 ||
		    strcmp(r->key[j], "line") == 0) && n == 0) {
			/* an incident not stored yet; a warning of no line */
			fg_strlcpy(buf, "-", sizeof(buf));
		} else
			continue;
		if ((v = fg_strdup(buf)) != NULL) {
			free(r->val[j]);
			r->val[j] = v;
		}
	}
}

/* Records of the same type print as one aligned table; a lone record as
 * "key: value" lines. -1: out of memory, nothing printed. */
static int
print_group(struct rec *r, int n)
{
	int i, j, *w;
	const char *type = get(&r[0], "type");

	if (n == 1 && (get(&r[0], "rule") == NULL || type == NULL ||
	    strcmp(type, "rule") != 0)) {
		int kw = 0;

		for (j = 0; j < r[0].n; j++)
			if ((int)strlen(r[0].key[j]) > kw)
				kw = (int)strlen(r[0].key[j]);
		for (j = 0; j < r[0].n; j++)
			if (strcmp(r[0].key[j], "type") != 0)
				printf("%-*s  %s\n", kw + 1, r[0].key[j], r[0].val[j]);
		return 0;
	}
	if ((w = calloc((size_t)r[0].n + 1, sizeof(*w))) == NULL)
		return -1;
	for (j = 0; j < r[0].n; j++)
		w[j] = (int)strlen(r[0].key[j]);
	for (i = 0; i < n; i++)
		for (j = 0; j < r[i].n && j < r[0].n; j++)
			if ((int)strlen(r[i].val[j]) > w[j])
				w[j] = (int)strlen(r[i].val[j]);
	for (j = 0; j < r[0].n; j++)
		if (strcmp(r[0].key[j], "type") != 0)
			printf(j + 1 < r[0].n ? "%-*s  " : "%-.*s", j + 1 < r[0].n ?
			    w[j] : (int)strlen(r[0].key[j]), r[0].key[j]);
	printf("\n");
	for (i = 0; i < n; i++) {
		for (j = 0; j < r[i].n && j < r[0].n; j++)
			if (strcmp(r[0].key[j], "type") != 0)
				printf(j + 1 < r[0].n ? "%-*s  " : "%-.*s", j + 1 < r[0].n ?
				    w[j] : (int)strlen(r[i].val[j]), r[i].val[j]);
		printf("\n");
	}
	free(w);
	return 0;
}

static void
print_json(const char *cmd, const char *source, struct rec *r, int n)
{
	int i, j;

	printf("{\"command\": ");
	fg_json_string(stdout, cmd);
	printf(", \"source\": ");
	fg_json_string(stdout, source);
	printf(", \"records\": [");
	for (i = 0; i < n; i++) {
		printf("%s{", i ? ", " : "");
		for (j = 0; j < r[i].n; j++) {
			printf("%s", j ? ", " : "");
			fg_json_string(stdout, r[i].key[j]);
			printf(": ");
			if (fg_ctl_numeric(r[i].key[j]) && is_number(r[i].val[j]))
				printf("%s", r[i].val[j]);
			else
				fg_json_string(stdout, r[i].val[j]);
		}
		printf("}");
	}
	printf("]}\n");
}

/* -1: out of memory (a value that could not be made safe is not shown). */
static int
print_tables(struct rec *r, int n)
{
	int i, j, start;

	for (i = 0; i < n; i++) {
		humanize(&r[i]);
		for (j = 0; j < r[i].n; j++) {
			char *v = table_text(r[i].val[j]);

			if (v == NULL)
				return -1;
			free(r[i].val[j]);
			r[i].val[j] = v;
		}
	}
	for (start = 0, i = 1; i <= n; i++) {
		const char *a = start < n ? get(&r[start], "type") : NULL;
		const char *b = i < n ? get(&r[i], "type") : NULL;

		if (i == n || (a == NULL) != (b == NULL) ||
		    (a && b && strcmp(a, b) != 0)) {
			if (start > 0)
				printf("\n");
			if (print_group(r + start, i - start) < 0)
				return -1;
			start = i;
		}
	}
	if (n == 0)
		printf("(nothing)\n");
	return 0;
}

static void
rec_free(struct rec *r)
{
	int j;

	for (j = 0; j < r->n; j++) {
		free(r->key[j]);
		free(r->val[j]);
	}
	free(r->key);
	free(r->val);
}

/* A record line's fields, split in place by fg_ctl_split into arrays
 * as long as the line needs (at most one field more than its tabs).
 * -1: out of memory. */
static int
split_fields(char *line, char ***key, char ***val)
{
	size_t max = 1;
	const char *t;

	for (t = line; (t = strchr(t, '\t')) != NULL; t++)
		max++;
	*key = calloc(max, sizeof(**key));
	*val = calloc(max, sizeof(**val));
	if (*key == NULL || *val == NULL) {
		free(*key);
		free(*val);
		*key = *val = NULL;
		return -1;
	}
	return fg_ctl_split(line, *key, *val, (int)max);
}

/* A record line's fields, each copied. -1: out of memory, nothing kept. */
static int
rec_parse(char *line, struct rec *r)
{
	int n, j;

	r->n = 0;
	if ((n = split_fields(line, &r->key, &r->val)) < 0)
		return -1;
	for (j = 0; j < n; j++) {
		r->key[j] = fg_strdup(r->key[j]);
		r->val[j] = fg_strdup(r->val[j]);
		r->n = j + 1;
		if (r->key[j] == NULL || r->val[j] == NULL) {
			rec_free(r);
			return -1;
		}
	}
	return 0;
}

int
ctl_render(const char *cmd, const char *source, char *reply, int json)
{
	struct rec *r = NULL;
	char *line, *save = NULL;
	int n = 0, i, rc = 0;

	line = strtok_r(reply, "\n", &save);
	if (line == NULL) {
		fprintf(stderr, "floodgatectl: empty reply\n");
		return 1;
	}
	if (strncmp(line, "error ", 6) == 0) {
		char *t = table_text(line + 6);

		fprintf(stderr, "floodgatectl: %s\n", t != NULL ? t : "error");
		free(t);
		return 1;
	}
	if (strcmp(line, "ok") != 0) {
		fprintf(stderr, "floodgatectl: unexpected reply\n");
		return 1;
	}
	while ((line = strtok_r(NULL, "\n", &save)) != NULL && strcmp(line, ".") != 0) {
		struct rec *nr = realloc(r, (size_t)(n + 1) * sizeof(*r));

		if (nr == NULL || rec_parse(line, &nr[n]) < 0) {
			r = nr != NULL ? nr : r;
			rc = -1;
			break;
		}
		r = nr;
		n++;
	}
	if (rc == 0) {
		if (json)
			print_json(cmd, source, r, n);
		else
			rc = print_tables(r, n);
	}
	for (i = 0; i < n; i++)
		rec_free(&r[i]);
	free(r);
	if (rc < 0) {
		fflush(stdout);
		fprintf(stderr, "floodgatectl: out of memory showing the reply\n");
		return 1;
	}
	return 0;
}

/* The queue ID and account of a held message's record. */
void
ctl_held_fields(char *line, const char **qid, const char **acct)
{
	char **key, **val;
	int n = split_fields(line, &key, &val), i;

	*qid = NULL;
	*acct = "";
	if (n < 0) {
		fprintf(stderr, "floodgatectl: out of memory reading a held message's record\n");
		return;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(key[i], "queue_id") == 0)
			*qid = val[i];
		else if (strcmp(key[i], "account") == 0)
			*acct = val[i];
	}
	free(key);
	free(val);
}
