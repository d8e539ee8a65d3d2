/*
 * The follower of the delivery log (follow.c): the MTA's log lines, from
 * a file or the systemd journal, from where floodgate left off.
 */
#ifndef FG_FOLLOW_H
#define FG_FOLLOW_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

/*
 * One line. From a file: the whole line with its syslog header, ident
 * NULL, when 0, uid -1 (a file does not say who wrote a line). From the
 * journal: the message alone, ident the program that logged it
 * ("postfix/smtp"), when the entry's time, uid the user of the process
 * that logged it (the journal's own _UID field, which the writer cannot
 * choose; -1 when the entry has none).
 */
typedef void fg_follow_fn(const char *ident, const char *line, size_t len,
    time_t when, long uid, void *arg);

struct fg_follow;

/* source: a path, "journal", or "journal:DIR" (a journal directory). */
struct fg_follow *fg_follow_open(const char *source, struct fg_store *store,
    char *err, size_t errlen);
void fg_follow_close(struct fg_follow *f);
/* The lines that came since the last call (a bounded number a call);
 * returns how many. */
size_t fg_follow_read(struct fg_follow *f, fg_follow_fn fn, void *arg);
/* Whether a call left lines for the next one. */
int fg_follow_behind(const struct fg_follow *f);
int fg_follow_save(struct fg_follow *f, struct fg_store *store, char *err,
    size_t errlen);
/* Whether the position was taken at a first start and not saved yet. */
int fg_follow_fresh(const struct fg_follow *f);
uint64_t fg_follow_lines(const struct fg_follow *f);
const char *fg_follow_source(const struct fg_follow *f);
/* The bytes of journal files a "journal" or "journal:DIR" source gives
 * this process, opened as the follower opens it (0: none it may read,
 * or none there), in *bytes: 0, or sd-journal's negative errno. */
int fg_follow_journal_usage(const char *source, uint64_t *bytes);

#endif
