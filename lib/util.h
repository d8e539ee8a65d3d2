/*
 * Small helpers shared by every floodgate module: error buffers, bounded
 * string copies, hashing and the N/PERIOD duration syntax.
 */
#ifndef FG_UTIL_H
#define FG_UTIL_H

#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* floodgate's version, as floodgate -V and floodgatectl -V print it. */
#define FG_VERSION "0.2.0"

#define FG_ERRLEN 512

#define FG_PRINTF(a, b) __attribute__((format(printf, a, b)))

size_t fg_strlcpy(char *dst, const char *src, size_t size);
void fg_seterr(char *err, size_t errlen, const char *fmt, ...) FG_PRINTF(3, 4);
char *fg_strdup(const char *s);
/*
 * malloc(), calloc() and realloc() that count this thread's failures,
 * as fg_strdup() does: a configuration's load compares the count before
 * and after, and fails whole on any (an allocation a parser handled by
 * going on without would leave a rule or an entry out). fg_nomem_note()
 * counts one met elsewhere (libidn2's).
 */
void *fg_malloc(size_t n);
void *fg_calloc(size_t n, size_t size);
void *fg_realloc(void *p, size_t n);
void fg_nomem_note(void);
unsigned long fg_nomem_count(void);
uint64_t fg_hash(const char *s);
int fg_parse_duration(const char *s, uint32_t *secs);
int fg_parse_rate(const char *s, uint32_t *n, uint32_t *period);
void fg_format_duration(uint32_t secs, char *buf, size_t len);
/* "2026-12-03 15:28:09 UTC" */
void fg_format_utc(uint32_t t, char *buf, size_t len);
/* When a pause ends, as a reply says it to a sender: "08:21 UTC" while
 * that is less than a day after now, "2026-12-05 08:21 UTC" after;
 * rounded up to the minute, so never earlier than the end. */
void fg_format_until(uint32_t until, uint32_t now, char *buf, size_t len);
int fg_parse_uint(const char *s, uint32_t max, uint32_t *out);
/* The highest user ID, for fg_parse_uint: (uid_t)-1 is no user. */
#define FG_UID_MAX	4294967294u
long fg_rss_bytes(void);
/* Microseconds on the monotonic clock, for durations and deadlines; never
 * 0, so 0 can stand for "not set". */
int64_t fg_mono_us(void);
int fg_qid_valid(const char *qid);
/* The length of the valid UTF-8 sequence at s (no overlong forms, no
 * surrogates, at most U+10FFFF), or 0. */
size_t fg_utf8_len(const unsigned char *s);
/* i, or the start of the UTF-8 character whose bytes i is within: where
 * s may be cut before i without splitting one. */
size_t fg_utf8_start(const char *s, size_t i);
/* The UTF-8 byte order mark some editors begin a file with. */
#define FG_UTF8_BOM	"\xef\xbb\xbf"
/* str as a JSON string: always valid UTF-8 (a byte that is not becomes
 * U+FFFD), control characters escaped. */
void fg_json_string(FILE *fp, const char *str);
/* posix_spawn() attributes that start a child as a fresh process
 * starts: no signal blocked, every one at its default. A daemon's
 * threads block the signals it waits for and it ignores SIGPIPE; a
 * child would keep both across exec (a notify script's pipeline
 * would not end on SIGPIPE, nor a program on SIGTERM). With group, in
 * a process group of its own, which kill(-pid) ends with whatever it
 * started. 0, or an errno; posix_spawnattr_destroy() it after. */
int fg_spawnattr_init(posix_spawnattr_t *at, int group);
/* The last of a child's file actions, after those that set its fds 0
 * to 2: every other descriptor closed, not only the close-on-exec ones
 * (libmilter's sockets are not: a notify program would hold an MTA's
 * connection, or floodgatectl's, open for as long as it runs). 0, or
 * an errno. */
int fg_spawn_close_rest(posix_spawn_file_actions_t *fa);
/* Sends sig to the process group a child leads (spawned with
 * fg_spawnattr_init(at, 1), not reaped yet), or to the child alone when
 * it leads none (no group has its pid for id then). */
void fg_kill_group(pid_t pid, int sig);
/* Appends to buf (size bytes, *len of them used, NUL-terminated) what
 * fits of data's n bytes, the rest dropped: the first bytes of a
 * child's output, kept for an error message. */
void fg_keep_first(char *buf, size_t size, size_t *len, const char *data,
    size_t n);

#endif
