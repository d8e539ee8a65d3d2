/*
 * Small helpers shared by every floodgate module: error buffers, bounded
 * string copies, hashing and the N/PERIOD duration syntax.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sizes.h"
#include "util.h"

size_t
fg_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

void
fg_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static _Thread_local unsigned long nomem;

void
fg_nomem_note(void)
{
	nomem++;
}

unsigned long
fg_nomem_count(void)
{
	return nomem;
}

void *
fg_malloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		nomem++;
	return p;
}

void *
fg_calloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		nomem++;
	return p;
}

void *
fg_realloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (q == NULL)
		nomem++;
	return q;
}

char *
fg_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = fg_malloc(len);

	if (p != NULL)
		memcpy(p, s, len);
	return p;
}

/* FNV-1a: keys are short and attacker-chosen only within the table's
 * own shard, so a simple hash with good dispersion is enough. */
uint64_t
fg_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

int
fg_parse_uint(const char *s, uint32_t max, uint32_t *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* "30s", "10m", "1h", "1d", "2w"; a bare number is seconds. */
int
fg_parse_duration(const char *s, uint32_t *secs)
{
	char num[16];
	size_t len = strlen(s);
	uint32_t mult = 1, n;

	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, s, len + 1);
	switch (num[len - 1]) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 7 * 86400; break;
	default:
		if (!isdigit((unsigned char)num[len - 1]))
			return -1;
		len++;
		break;
	}
	num[len - 1] = '\0';
	/* A window longer than a year is a typo, not a policy. */
	if (fg_parse_uint(num, 366u * 86400u, &n) < 0 || n == 0 ||
	    (uint64_t)n * mult > 366u * 86400u)
		return -1;
	*secs = n * mult;
	return 0;
}

int
fg_parse_rate(const char *s, uint32_t *n, uint32_t *period)
{
	char buf[32];
	char *slash;

	if (fg_strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return -1;
	if ((slash = strchr(buf, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (fg_parse_uint(buf, 100000000u, n) < 0)
		return -1;
	return fg_parse_duration(slash + 1, period);
}

void
fg_format_utc(uint32_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	if (strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0 && len > 0)
		buf[0] = '\0';
}

void
fg_format_until(uint32_t until, uint32_t now, char *buf, size_t len)
{
	time_t t = (time_t)((uint64_t)until + 59) / 60 * 60;
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(buf, len, t < (time_t)now + 86400 - 60 ?
	    "%H:%M UTC" : "%Y-%m-%d %H:%M UTC", &tm) == 0 && len > 0)
		buf[0] = '\0';
}

/* Rounded up, so "retry in 7m" is never too early. */
void
fg_format_duration(uint32_t secs, char *buf, size_t len)
{
	if (secs < 60)
		snprintf(buf, len, "%us", secs);
	else if (secs < 3600)
		snprintf(buf, len, "%um", (secs + 59) / 60);
	else {
		uint32_t m = (uint32_t)(((uint64_t)secs + 59) / 60);

		if (m < 24 * 60)
			snprintf(buf, len, m % 60 ? "%uh%02um" : "%uh",
			    m / 60, m % 60);
		else {
			uint32_t h = (m + 59) / 60;

			snprintf(buf, len, h % 24 ? "%ud%02uh" : "%ud",
			    h / 24, h % 24);
		}
	}
}

/*
 * A queue ID as Postfix and Sendmail make them: letters and digits only,
 * at most FG_QID_MAX. Anything else, the empty string first, must never
 * reach a postsuper or sendmail -qI command line (Sendmail's -qI matches
 * substrings: an empty one matches every message).
 */
int
fg_qid_valid(const char *qid)
{
	size_t i;

	for (i = 0; qid[i] != '\0'; i++)
		if (i >= FG_QID_MAX || !((qid[i] >= '0' && qid[i] <= '9') ||
		    (qid[i] >= 'A' && qid[i] <= 'Z') ||
		    (qid[i] >= 'a' && qid[i] <= 'z')))
			return 0;
	return i > 0;
}

int64_t
fg_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
}

/* Resident memory of this process, from /proc; 0 when unknown. */
long
fg_rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *fp = fopen("/proc/self/statm", "r");

	if (fp != NULL) {
		if (fscanf(fp, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(fp);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

/* The length of the valid UTF-8 sequence at s (no overlong forms, no
 * surrogates, at most U+10FFFF), or 0. */
size_t
fg_utf8_len(const unsigned char *s)
{
	unsigned c = s[0], cp;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

size_t
fg_utf8_start(const char *s, size_t i)
{
	while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
		i--;
	return i;
}

void
fg_json_string(FILE *fp, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putc('"', fp);
	while (*s != '\0') {
		size_t n = fg_utf8_len(s);

		if (n == 0) {
			fputs("\\ufffd", fp);
			s++;
		} else if (n > 1) {
			fwrite(s, 1, n, fp);
			s += n;
		} else {
			if (*s == '"' || *s == '\\')
				fprintf(fp, "\\%c", *s);
			else if (*s < 0x20 || *s == 0x7f)
				fprintf(fp, "\\u%04x", *s);
			else
				putc(*s, fp);
			s++;
		}
	}
	putc('"', fp);
}

int
fg_spawnattr_init(posix_spawnattr_t *at, int group)
{
	sigset_t none, all;
	int rc;

	if ((rc = posix_spawnattr_init(at)) != 0)
		return rc;
	sigemptyset(&none);
	sigfillset(&all);
	if ((rc = posix_spawnattr_setsigmask(at, &none)) != 0 ||
	    (rc = posix_spawnattr_setsigdefault(at, &all)) != 0 ||
	    (rc = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | (group ? POSIX_SPAWN_SETPGROUP : 0))) !=
	    0 || (group && (rc = posix_spawnattr_setpgroup(at, 0)) != 0))
		posix_spawnattr_destroy(at);
	return rc;
}

int
fg_spawn_close_rest(posix_spawn_file_actions_t *fa)
{
	return posix_spawn_file_actions_addclosefrom_np(fa, 3);
}

void
fg_kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0)
		(void)kill(pid, sig);
}

void
fg_keep_first(char *buf, size_t size, size_t *len, const char *data,
    size_t n)
{
	size_t k = size - 1 - *len;

	if (n < k)
		k = n;
	memcpy(buf + *len, data, k);
	*len += k;
	buf[*len] = '\0';
}
