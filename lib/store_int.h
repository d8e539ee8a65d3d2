/*
 * The store's insides, shared by store.c (windows, statistics, events,
 * held mail) and fbstore.c (delivery feedback's tables). Not for use
 * outside those two.
 */
#ifndef FG_STORE_INT_H
#define FG_STORE_INT_H

#include <sys/stat.h>
#include <sqlite3.h>

#include "store.h"

/* Statements of fbstore.c, prepared on first use. */
#define FG_FB_STMTS	16

struct fg_store {
	sqlite3 *db;
	sqlite3_stmt **st;		/* store.c's, indexed by its enum */
	sqlite3_stmt *fb[FG_FB_STMTS];
	int readonly;
	struct stat file;		/* the file opened, as its path had it */
};

/* Runs a statement to its end and resets it; -1 on an error. */
int fg_store_step(sqlite3_stmt *q);
/* BEGIN IMMEDIATE / COMMIT, and a failed transaction undone with its
 * reason in err (returns -1). */
int fg_store_begin(struct fg_store *s);
int fg_store_commit(struct fg_store *s);
int fg_store_failed(struct fg_store *s, char *err, size_t errlen);

#endif
