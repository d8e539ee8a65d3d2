/*
 * The SQLite file: window state (so that a restart keeps the counts),
 * hourly statistics, and the log of refusals. WAL and synchronous=NORMAL:
 * a crash may lose the last second of counts, never the file. Statements
 * are prepared once; a flush is one BEGIN IMMEDIATE transaction.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pwd.h>
#include <sqlite3.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"
#include "wkey.h"

/* Events and statistics older than this are pruned hourly. */
#define EVENT_KEEP	(30u * 86400u)
#define STATS_KEEP	(90u * 86400u)
/* As far back as floodgatectl incidents --since reaches. */
#define INCIDENT_KEEP	(366u * 86400u)

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_WIN_PUT,
	ST_WIN_DEL,
	ST_STAT_ADD,
	ST_EVENT_ADD,
	ST_HELD_GONE,
	ST_HELD_ADD,
	ST_HELD_DONE,
	ST_HELD_MARK,
	ST_N
};

static const char *const sql[ST_N] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_WIN_PUT] = "INSERT INTO windows (rule, key, period, expires, slots) "
	    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (rule, key) DO UPDATE "
	    "SET period = ?3, expires = ?4, slots = ?5",
	[ST_WIN_DEL] = "DELETE FROM windows WHERE rule = ?1 AND key = ?2",
	[ST_STAT_ADD] = "INSERT INTO stats (hour, kind, name, accepted, "
	    "deferred, rejected, held, sent, bounced, unknown) VALUES (?1, ?2, "
	    "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
	    "ON CONFLICT (hour, kind, name) DO UPDATE SET "
	    "accepted = accepted + ?4, deferred = deferred + ?5, "
	    "rejected = rejected + ?6, held = held + ?7, sent = sent + ?8, "
	    "bounced = bounced + ?9, unknown = unknown + ?10",
	[ST_EVENT_ADD] = "INSERT INTO events (time, session, queue_id, "
	    "account, rule, destination, action, used, lim, retry, count) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	/* Postfix reuses a queue ID once its file is gone: a held row still
	 * open under the ID of a new held message is of a message that left
	 * the hold queue by other hands. */
	[ST_HELD_GONE] = "UPDATE held SET released = ?2, outcome = 'gone' "
	    "WHERE queue_id = ?1 AND released IS NULL",
	[ST_HELD_ADD] = "INSERT INTO held (queue_id, time, account, "
	    "rule, recipients, domains) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_HELD_DONE] = "UPDATE held SET released = ?2, outcome = ?3 "
	    "WHERE queue_id = ?1 AND released IS NULL",
	[ST_HELD_MARK] = "UPDATE held SET planned = ?2 "
	    "WHERE queue_id = ?1 AND released IS NULL",
};

/* Migrations, one per schema version; user_version says how far a file is. */
static const char *const migration[FG_SCHEMA_VERSION] = {
	"CREATE TABLE windows ("
	"  rule TEXT NOT NULL, key TEXT NOT NULL,"
	"  period INTEGER NOT NULL, expires INTEGER NOT NULL,"
	"  slots BLOB NOT NULL, PRIMARY KEY (rule, key)) WITHOUT ROWID;"
	"CREATE TABLE stats ("
	"  hour INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,"
	"  accepted INTEGER NOT NULL DEFAULT 0,"
	"  deferred INTEGER NOT NULL DEFAULT 0,"
	"  rejected INTEGER NOT NULL DEFAULT 0,"
	"  held INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (hour, kind, name)) WITHOUT ROWID;"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
	"  session TEXT, queue_id TEXT, account TEXT NOT NULL,"
	"  rule TEXT NOT NULL, destination TEXT, action TEXT NOT NULL,"
	"  used INTEGER, lim INTEGER, retry INTEGER);"
	"CREATE INDEX events_time ON events (time);"
	"CREATE INDEX events_account ON events (account, time);",
	/* 2: held messages (the MTA keeps no reason for them). */
	"CREATE TABLE held ("
	"  queue_id TEXT PRIMARY KEY, time INTEGER NOT NULL,"
	"  account TEXT NOT NULL, rule TEXT NOT NULL,"
	"  recipients INTEGER NOT NULL, domains TEXT NOT NULL,"
	"  released INTEGER, outcome TEXT);",
	/* 3: a queue ID is not a key (Postfix reuses them), a row id is. */
	"CREATE TABLE held3 ("
	"  id INTEGER PRIMARY KEY, queue_id TEXT NOT NULL,"
	"  time INTEGER NOT NULL, account TEXT NOT NULL, rule TEXT NOT NULL,"
	"  recipients INTEGER NOT NULL, domains TEXT NOT NULL,"
	"  released INTEGER, outcome TEXT);"
	"INSERT INTO held3 (queue_id, time, account, rule, recipients, domains,"
	"  released, outcome) SELECT queue_id, time, account, rule, recipients,"
	"  domains, released, outcome FROM held;"
	"DROP TABLE held;"
	"ALTER TABLE held3 RENAME TO held;"
	"CREATE INDEX held_queue_id ON held (queue_id);"
	"CREATE INDEX held_open ON held (released, time);",
	/* 4: delivery feedback. */
	"ALTER TABLE stats ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE stats ADD COLUMN bounced INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE stats ADD COLUMN unknown INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE qidmap ("
	"  queue_id TEXT PRIMARY KEY, account TEXT NOT NULL,"
	"  time INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX qidmap_time ON qidmap (time);"
	"CREATE TABLE follow ("
	"  source TEXT PRIMARY KEY, inode INTEGER NOT NULL DEFAULT 0,"
	"  offset INTEGER NOT NULL DEFAULT 0, head TEXT, cursor TEXT);"
	"CREATE TABLE suspended ("
	"  account TEXT PRIMARY KEY, rule TEXT NOT NULL,"
	"  since INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE paused ("
	"  domain TEXT PRIMARY KEY, rule TEXT NOT NULL,"
	"  since INTEGER NOT NULL, until INTEGER NOT NULL,"
	"  duration INTEGER NOT NULL, trips INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE incidents ("
	"  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL,"
	"  started INTEGER NOT NULL, ended INTEGER,"
	"  count INTEGER NOT NULL DEFAULT 0, detail TEXT,"
	"  notified INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX incidents_open ON incidents (ended, kind, subject);",
	/* 5: marks of other stores this relay last saw (the shared
	 * store's keyspace mark). */
	"CREATE TABLE marks ("
	"  name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
	/* 6: what a relay still owed the shared store when it stopped. */
	"CREATE TABLE pending ("
	"  store TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,"
	"  a INTEGER NOT NULL, b INTEGER NOT NULL, n INTEGER NOT NULL,"
	"  PRIMARY KEY (store, kind, name, a, b)) WITHOUT ROWID;",
	/* 7: a held message's release planned, which a restart must not
	 * forget (the MTA may have it back already). */
	"ALTER TABLE held ADD COLUMN planned INTEGER;",
	/* 8: a suspension that ends by itself (floodgatectl suspend
	 * ACCOUNT DURATION); 0 until resumed. */
	"ALTER TABLE suspended ADD COLUMN until INTEGER NOT NULL DEFAULT 0;",
	/* 9: a queue ID followed as the MTA's notice (a bounce) about a
	 * charged message. */
	"ALTER TABLE qidmap ADD COLUMN notice INTEGER NOT NULL DEFAULT 0;",
	/* 10: which of an incident's start and end a notification told
	 * of (notified says how far it was passed, also with no notify
	 * target); NULL for the rows before. */
	"ALTER TABLE incidents ADD COLUMN told INTEGER;",
	/* 11: the refusals a row stands for: an account's past
	 * FG_EVENTS_PER_MINUTE in a minute are folded into one. */
	"ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;",
};


static int migrate(struct fg_store *s, char *err, size_t errlen);
static void col_text(sqlite3_stmt *st, int col, char *dst, size_t len);

/* A text column into a fixed buffer; NULL leaves it empty. */
static void
col_text(sqlite3_stmt *st, int col, char *dst, size_t len)
{
	const char *v = (const char *)sqlite3_column_text(st, col);

	fg_strlcpy(dst, v != NULL ? v : "", len);
}
static int step(struct fg_store *s, enum stmt k);

/*
 * Why the file could not be opened or read, for an operator, looked for
 * by floodgate itself: SQLite says "unable to open database file" for
 * each cause, and its system error is that of its last try (a read-only
 * open after a refused create says "No such file or directory").
 * 0 when nothing was found wrong.
 */
static int
diagnose(const char *path, int readonly, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char dir[4096], user[300], buf[1024];
	struct passwd pw, *res = NULL;
	struct stat st;

	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 &&
	    res != NULL)
		snprintf(user, sizeof(user), "user %s", pw.pw_name);
	else
		snprintf(user, sizeof(user), "uid %lu", (unsigned long)geteuid());

	if (slash == NULL)
		fg_strlcpy(dir, ".", sizeof(dir));
	else if ((size_t)(slash - path) >= sizeof(dir))
		return 0;
	else if (slash == path)
		fg_strlcpy(dir, "/", sizeof(dir));
	else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			fg_seterr(err, errlen, "is a directory, not a file");
			return 1;
		}
		if (access(path, readonly ? R_OK : R_OK | W_OK) < 0) {
			fg_seterr(err, errlen, "%s (as %s)", strerror(errno),
			    user);
			return 1;
		}
		if (!readonly && access(dir, W_OK | X_OK) < 0) {
			fg_seterr(err, errlen, "its directory %s: %s (as %s; SQLite makes the file's -wal and -shm beside it)",
			    dir, strerror(errno), user);
			return 1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		fg_seterr(err, errlen, "%s (as %s)", strerror(errno),
		    user);
		return 1;
	}
	if (stat(dir, &st) < 0) {
		fg_seterr(err, errlen, "its directory %s: %s", dir,
		    strerror(errno));
		return 1;
	}
	if (readonly) {
		fg_seterr(err, errlen, "%s", strerror(ENOENT));
		return 1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		fg_seterr(err, errlen, "cannot be made in %s: %s (as %s)",
		    dir, strerror(errno), user);
		return 1;
	}
	return 0;
}

/* After a failed open or first read: the reason found, where SQLite's
 * error is one of the file's; else err is left as it is. */
static void
open_error(sqlite3 *db, const char *path, int readonly, char *err,
    size_t errlen)
{
	int code = db != NULL ? sqlite3_errcode(db) & 0xff : SQLITE_NOMEM;

	if (code == SQLITE_CANTOPEN || code == SQLITE_IOERR ||
	    code == SQLITE_PERM || code == SQLITE_READONLY)
		(void)diagnose(path, readonly, err, errlen);
}

static int
migrate(struct fg_store *s, char *err, size_t errlen)
{
	sqlite3_stmt *q;
	int version = 0;
	char *msg = NULL;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) !=
	    SQLITE_OK) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	if (sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (version > FG_SCHEMA_VERSION) {
		fg_seterr(err, errlen, "schema version %d is newer than this floodgate knows (%d)",
		    version, FG_SCHEMA_VERSION);
		return -1;
	}
	if (s->readonly) {
		if (version != FG_SCHEMA_VERSION) {
			fg_seterr(err, errlen, "schema version %d, expected %d",
			    version, FG_SCHEMA_VERSION);
			return -1;
		}
		return 0;
	}
	for (; version < FG_SCHEMA_VERSION; version++) {
		char sqlbuf[64];

		snprintf(sqlbuf, sizeof(sqlbuf), "PRAGMA user_version = %d",
		    version + 1);
		if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(s->db, migration[version], NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(s->db, sqlbuf, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			fg_seterr(err, errlen, "migration to schema %d: %s",
			    version + 1, msg ? msg : sqlite3_errmsg(s->db));
			sqlite3_free(msg);
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
}

struct fg_store *
fg_store_open(const char *path, int readonly, char *err, size_t errlen)
{
	struct fg_store *s = calloc(1, sizeof(*s));
	int flags = readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	char *msg = NULL;
	int i;

	if (s == NULL) {
		fg_seterr(err, errlen, "out of memory");
		return NULL;
	}
	s->readonly = readonly;
	if ((s->st = calloc(ST_N, sizeof(*s->st))) == NULL) {
		free(s);
		fg_seterr(err, errlen, "out of memory");
		return NULL;
	}
	/* One connection, used by one thread at a time. */
	flags |= SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", s->db != NULL ?
		    sqlite3_errmsg(s->db) : "out of memory");
		open_error(s->db, path, readonly, err, errlen);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, FG_STORE_WAIT_MS);
	if (!readonly && sqlite3_exec(s->db,
	    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	    /* A flush updates rows all over the windows table: keep its
	     * pages in memory rather than read them back each second. */
	    "PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;",
	    NULL, NULL, &msg) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", msg != NULL ? msg :
		    sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		open_error(s->db, path, readonly, err, errlen);
		goto fail;
	}
	if (migrate(s, err, errlen) < 0) {
		open_error(s->db, path, readonly, err, errlen);
		goto fail;
	}
	if (!readonly && stat(path, &s->file) < 0) {
		fg_seterr(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (!readonly) {
		for (i = 0; i < ST_N; i++) {
			if (sqlite3_prepare_v3(s->db, sql[i], -1,
			    SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
				fg_seterr(err, errlen, "%s",
				    sqlite3_errmsg(s->db));
				goto fail;
			}
		}
	}
	return s;
fail:
	fg_store_close(s);
	return NULL;
}

void
fg_store_set_wait(struct fg_store *s, int ms)
{
	if (s != NULL)
		sqlite3_busy_timeout(s->db, ms);
}

void
fg_store_release_memory(struct fg_store *s)
{
	if (s != NULL)
		sqlite3_db_release_memory(s->db);
}

void
fg_store_close(struct fg_store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_N; i++)
		sqlite3_finalize(s->st[i]);
	for (i = 0; i < FG_FB_STMTS; i++)
		sqlite3_finalize(s->fb[i]);
	free(s->st);
	sqlite3_close(s->db);
	free(s);
}

int
fg_store_step(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static int
step(struct fg_store *s, enum stmt k)
{
	return fg_store_step(s->st[k]);
}

int
fg_store_begin(struct fg_store *s)
{
	return step(s, ST_BEGIN);
}

int
fg_store_commit(struct fg_store *s)
{
	return step(s, ST_COMMIT);
}

/* A write failed: say why, undo what the transaction did. */
int
fg_store_failed(struct fg_store *s, char *err, size_t errlen)
{
	fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
	if (!sqlite3_get_autocommit(s->db))
		step(s, ST_ROLLBACK);
	return -1;
}

/* Slots are stored as little-endian (start, n) pairs of 32 bits. */
static void
pack_slots(const struct fg_slot *slot, uint16_t n, unsigned char *out)
{
	uint16_t i;
	int b;

	for (i = 0; i < n; i++) {
		for (b = 0; b < 4; b++) {
			out[i * 8 + b] = (unsigned char)(slot[i].start >> (8 * b));
			out[i * 8 + 4 + b] = (unsigned char)(slot[i].n >> (8 * b));
		}
	}
}

int
fg_store_load(struct fg_store *s, struct fg_table *t, uint32_t now,
    size_t *loaded, char *err, size_t errlen)
{
	sqlite3_stmt *q;
	struct fg_slot slot[128];
	int rc;

	*loaded = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT rule, key, period, slots FROM "
	    "windows WHERE expires > ?1", -1, &q, NULL) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	sqlite3_bind_int64(q, 1, now);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *rule = (const char *)sqlite3_column_text(q, 0);
		const char *key = (const char *)sqlite3_column_text(q, 1);
		int64_t period = sqlite3_column_int64(q, 2);
		const unsigned char *b = sqlite3_column_blob(q, 3);
		int len = sqlite3_column_bytes(q, 3), i, k;
		char full[FG_WKEY_MAX + 1];
		uint16_t n;

		if (rule == NULL || key == NULL || period <= 0 ||
		    period > 366 * 86400 || len % 8 != 0 ||
		    (size_t)len / 8 > sizeof(slot) / sizeof(slot[0]))
			continue;	/* not ours to guess at */
		n = (uint16_t)(len / 8);
		for (i = 0; i < n; i++) {
			slot[i].start = slot[i].n = 0;
			for (k = 0; k < 4; k++) {
				slot[i].start |= (uint32_t)b[i * 8 + k] << (8 * k);
				slot[i].n |= (uint32_t)b[i * 8 + 4 + k] << (8 * k);
			}
		}
		if (fg_wkey_join(rule, key, full, sizeof(full)) < 0)
			continue;
		if (fg_table_load(t, full, (uint32_t)period, slot, n, now) < 0) {
			fg_seterr(err, errlen, "out of memory");
			sqlite3_finalize(q);
			return -1;
		}
		(*loaded)++;
	}
	if (rc != SQLITE_DONE) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		sqlite3_finalize(q);
		return -1;
	}
	sqlite3_finalize(q);
	return 0;
}

int
fg_store_flush(struct fg_store *s, const struct fg_entry_copy *c, size_t n,
    const struct fg_stat_row *rows, size_t nrows, const struct fg_event *ev,
    size_t nev, char *err, size_t errlen)
{
	unsigned char blob[128 * 8];
	size_t i;

	if (n + nrows + nev == 0)
		return 0;
	if (step(s, ST_BEGIN) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		const char *key;
		int rl = fg_wkey_split(c[i].key, &key);

		if (rl < 0)
			continue;
		if (c[i].expires == 0) {
			sqlite3_bind_text(s->st[ST_WIN_DEL], 1, c[i].key, rl, SQLITE_STATIC);
			sqlite3_bind_text(s->st[ST_WIN_DEL], 2, key, -1, SQLITE_STATIC);
			if (step(s, ST_WIN_DEL) < 0)
				goto fail;
			continue;
		}
		pack_slots(c[i].slot, c[i].nslot, blob);
		sqlite3_bind_text(s->st[ST_WIN_PUT], 1, c[i].key, rl, SQLITE_STATIC);
		sqlite3_bind_text(s->st[ST_WIN_PUT], 2, key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s->st[ST_WIN_PUT], 3, c[i].period);
		sqlite3_bind_int64(s->st[ST_WIN_PUT], 4, c[i].expires);
		sqlite3_bind_blob(s->st[ST_WIN_PUT], 5, blob, c[i].nslot * 8,
		    SQLITE_STATIC);
		if (step(s, ST_WIN_PUT) < 0)
			goto fail;
	}
	for (i = 0; i < nrows; i++) {
		sqlite3_stmt *q = s->st[ST_STAT_ADD];
		char kind[2] = { rows[i].kind, '\0' };
		int k;

		sqlite3_bind_int64(q, 1, rows[i].hour);
		sqlite3_bind_text(q, 2, kind[0] == 'a' ? "account" : "domain",
		    -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, rows[i].name, -1, SQLITE_STATIC);
		for (k = 0; k < FG_ST_N; k++)
			sqlite3_bind_int64(q, 4 + k, rows[i].v[k]);
		if (step(s, ST_STAT_ADD) < 0)
			goto fail;
	}
	for (i = 0; i < nev; i++) {
		sqlite3_stmt *q = s->st[ST_EVENT_ADD];

		sqlite3_bind_int64(q, 1, ev[i].time);
		sqlite3_bind_text(q, 2, ev[i].session, -1, SQLITE_STATIC);
		if (ev[i].queue_id[0] != '\0')
			sqlite3_bind_text(q, 3, ev[i].queue_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, ev[i].account, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, ev[i].rule, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 6, ev[i].dest, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 7, ev[i].action, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 8, ev[i].used);
		sqlite3_bind_int64(q, 9, ev[i].limit);
		sqlite3_bind_int64(q, 10, ev[i].retry);
		sqlite3_bind_int64(q, 11, fg_event_count(&ev[i]));
		if (step(s, ST_EVENT_ADD) < 0)
			goto fail;
	}
	if (step(s, ST_COMMIT) < 0)
		goto fail;
	return 0;
fail:
	return fg_store_failed(s, err, errlen);
}

/* Hourly: drop what can no longer matter and checkpoint the WAL
 * (before, the incidents table grew for as long as floodgate ran). */
int
fg_store_maintain(struct fg_store *s, uint32_t now, char *err, size_t errlen)
{
	char q[640];
	char *msg = NULL;

	/* An incident is kept while open or owed to someone (notified
	 * below 2), then INCIDENT_KEEP past its end. */
	snprintf(q, sizeof(q),
	    "DELETE FROM windows WHERE expires <= %u;"
	    "DELETE FROM events WHERE time < %u;"
	    "DELETE FROM stats WHERE hour < %u;"
	    "DELETE FROM held WHERE released IS NOT NULL AND released < %u;"
	    "DELETE FROM incidents WHERE ended IS NOT NULL AND ended < %u "
	    "AND notified >= 2;",
	    now, now > EVENT_KEEP ? now - EVENT_KEEP : 0,
	    now > STATS_KEEP ? now - STATS_KEEP : 0,
	    now > EVENT_KEEP ? now - EVENT_KEEP : 0,
	    now > INCIDENT_KEEP ? now - INCIDENT_KEEP : 0);
	if (sqlite3_exec(s->db, q, NULL, NULL, &msg) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    NULL, NULL);
	return 0;
}

/*
 * Who sent most, or was refused most: per account or destination domain
 * from the hourly statistics, per rule from the refusal log; by unknown
 * or bounces, the accounts with the most recipients bounced as
 * nonexistent, or bounced at all.
 */
int
fg_store_top(struct fg_store *s, const char *by, uint32_t since, int limit,
    struct fg_top_row **out, size_t *nout, char *err, size_t errlen)
{
	const char *q;
	sqlite3_stmt *st;
	struct fg_top_row *rows = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	*nout = 0;
#define COLUMNS	"sum(accepted), sum(deferred), sum(rejected), sum(held), " \
	"sum(sent), sum(bounced), sum(unknown) FROM stats WHERE kind = ?3 " \
	"AND hour >= ?1 - ?1 % 3600 GROUP BY name "
	if (strcmp(by, "rule") == 0)
		q = "SELECT rule, 0, sum(count * (action IN ('defer', 'cap'))), "
		    "sum(count * (action = 'reject')), "
		    "sum(count * (action = 'hold')), 0, 0, 0 "
		    "FROM events WHERE time >= ?1 AND action IN ('defer', "
		    "'cap', 'reject', 'hold') GROUP BY rule ORDER BY "
		    "sum(count) DESC, rule LIMIT ?2";
	else if (strcmp(by, "unknown") == 0)
		q = "SELECT name, " COLUMNS "HAVING sum(unknown) > 0 "
		    "ORDER BY sum(unknown) DESC, sum(bounced) DESC, name LIMIT ?2";
	else if (strcmp(by, "bounces") == 0)
		q = "SELECT name, " COLUMNS "HAVING sum(bounced) > 0 "
		    "ORDER BY sum(bounced) DESC, sum(unknown) DESC, name LIMIT ?2";
	else
		q = "SELECT name, " COLUMNS "ORDER BY sum(accepted + deferred + "
		    "rejected + held) DESC, name LIMIT ?2";
#undef COLUMNS
	if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int(st, 2, limit);
	if (strcmp(by, "rule") != 0)
		sqlite3_bind_text(st, 3, strcmp(by, "domain") == 0 ? "domain" :
		    "account", -1, SQLITE_STATIC);
	if ((rows = calloc((size_t)(limit > 0 ? limit : 1), sizeof(*rows))) == NULL) {
		sqlite3_finalize(st);
		fg_seterr(err, errlen, "out of memory");
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)limit) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int k;

		fg_strlcpy(rows[n].name, name ? name : "", sizeof(rows[n].name));
		for (k = 0; k < FG_ST_N; k++)
			rows[n].v[k] = (uint64_t)sqlite3_column_int64(st, 1 + k);
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		free(rows);
		return -1;
	}
	sqlite3_finalize(st);
	*out = rows;
	*nout = n;
	return 0;
}

/* The newest refusals of one account, newest first. */
int
fg_store_events(struct fg_store *s, const char *account, int limit,
    struct fg_event **out, size_t *nout, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	struct fg_event *ev;
	size_t n = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT time, session, queue_id, rule, "
	    "destination, action, used, lim, retry, count FROM events "
	    "WHERE account = ?1 "
	    "ORDER BY time DESC, id DESC LIMIT ?2", -1, &st, NULL) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit);
	if ((ev = calloc((size_t)(limit > 0 ? limit : 1), sizeof(*ev))) == NULL) {
		sqlite3_finalize(st);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)limit) {
		ev[n].time = (uint32_t)sqlite3_column_int64(st, 0);
		col_text(st, 1, ev[n].session, sizeof(ev[n].session));
		col_text(st, 2, ev[n].queue_id, sizeof(ev[n].queue_id));
		col_text(st, 3, ev[n].rule, sizeof(ev[n].rule));
		col_text(st, 4, ev[n].dest, sizeof(ev[n].dest));
		col_text(st, 5, ev[n].action, sizeof(ev[n].action));
		ev[n].used = (uint32_t)sqlite3_column_int64(st, 6);
		ev[n].limit = (uint32_t)sqlite3_column_int64(st, 7);
		ev[n].retry = (uint32_t)sqlite3_column_int64(st, 8);
		if (sqlite3_column_int64(st, 9) > 1)
			ev[n].folded = (uint32_t)sqlite3_column_int64(st, 9);
		fg_strlcpy(ev[n].account, account, sizeof(ev[n].account));
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(ev);
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	*out = ev;
	*nout = n;
	return 0;
}

/* A message put on hold: the MTA keeps no reason, floodgate does. */
int
fg_store_held_add(struct fg_store *s, const struct fg_held_row *h, char *err,
    size_t errlen)
{
	sqlite3_stmt *q = s->st[ST_HELD_ADD];

	if (step(s, ST_BEGIN) < 0)
		goto fail;
	sqlite3_bind_text(s->st[ST_HELD_GONE], 1, h->queue_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->st[ST_HELD_GONE], 2, h->time);
	if (step(s, ST_HELD_GONE) < 0)
		goto fail;
	sqlite3_bind_text(q, 1, h->queue_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, h->time);
	sqlite3_bind_text(q, 3, h->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, h->rule, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, h->recipients);
	sqlite3_bind_text(q, 6, h->domains ? h->domains : "", -1, SQLITE_STATIC);
	if (step(s, ST_HELD_ADD) < 0 || step(s, ST_COMMIT) < 0)
		goto fail;
	return 0;
fail:
	return fg_store_failed(s, err, errlen);
}

/* Released (outcome "released") or gone from the hold queue ("gone"). */
int
fg_store_held_done(struct fg_store *s, const char *qid, uint32_t now,
    const char *outcome, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->st[ST_HELD_DONE];

	sqlite3_bind_text(q, 1, qid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_text(q, 3, outcome, -1, SQLITE_STATIC);
	if (step(s, ST_HELD_DONE) < 0)
		return fg_store_failed(s, err, errlen);
	return sqlite3_changes(s->db) > 0 ? 0 : 1;
}

int
fg_store_held_mark(struct fg_store *s, const struct fg_held_mark *m,
    size_t n, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->st[ST_HELD_MARK];
	size_t i;

	if (n == 0)
		return 0;
	if (step(s, ST_BEGIN) < 0)
		return fg_store_failed(s, err, errlen);
	for (i = 0; i < n; i++) {
		sqlite3_bind_text(q, 1, m[i].queue_id, -1, SQLITE_STATIC);
		if (m[i].when != 0)
			sqlite3_bind_int64(q, 2, m[i].when);
		else
			sqlite3_bind_null(q, 2);
		if (step(s, ST_HELD_MARK) < 0)
			return fg_store_failed(s, err, errlen);
	}
	if (step(s, ST_COMMIT) < 0)
		return fg_store_failed(s, err, errlen);
	return 0;
}

int
fg_store_on_hold(struct fg_store *s, uint64_t *n, uint32_t *oldest,
    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	*oldest = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT count(*), coalesce(min(time), 0) "
	    "FROM held WHERE released IS NULL", -1, &st, NULL) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*n = (uint64_t)sqlite3_column_int64(st, 0);
		*oldest = (uint32_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

void
fg_store_held_free(struct fg_held_row *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(h[i].domains);
	free(h);
}

#define HELD_COLUMNS	"queue_id, time, account, rule, recipients, " \
	"domains, coalesce(planned, 0)"

/* A row of HELD_COLUMNS; 0, or -1 out of memory. */
static int
held_row(sqlite3_stmt *st, struct fg_held_row *h)
{
	const char *d;

	memset(h, 0, sizeof(*h));
	col_text(st, 0, h->queue_id, sizeof(h->queue_id));
	h->time = (uint32_t)sqlite3_column_int64(st, 1);
	col_text(st, 2, h->account, sizeof(h->account));
	col_text(st, 3, h->rule, sizeof(h->rule));
	h->recipients = (uint32_t)sqlite3_column_int64(st, 4);
	d = (const char *)sqlite3_column_text(st, 5);
	h->planned = (uint32_t)sqlite3_column_int64(st, 6);
	return (h->domains = fg_strdup(d ? d : "")) != NULL ? 0 : -1;
}

/* The open row of one queue ID: 1 (*h filled; free h->domains), 0 none. */
int
fg_store_held_find(struct fg_store *s, const char *qid,
    struct fg_held_row *h, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT " HELD_COLUMNS " FROM held "
	    "WHERE queue_id = ?1 AND released IS NULL", -1, &st, NULL) !=
	    SQLITE_OK) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = held_row(st, h) == 0 ? 1 : -1;
		if (rc < 0)
			fg_seterr(err, errlen, "out of memory");
	} else if (rc == SQLITE_DONE)
		rc = 0;
	else {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Messages on hold, oldest first: every account's, or account's only. */
int
fg_store_held(struct fg_store *s, const char *account,
    struct fg_held_row **out, size_t *nout, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	struct fg_held_row *h = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT " HELD_COLUMNS " FROM held "
	    "WHERE released IS NULL AND (?1 IS NULL OR account = ?1) "
	    "ORDER BY time, id", -1, &st, NULL) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	if (account != NULL)
		sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			void *p = realloc(h, (cap ? cap * 2 : 64) * sizeof(*h));

			if (p == NULL) {
				/* Never a list cut short as if whole. */
				sqlite3_finalize(st);
				fg_store_held_free(h, n);
				fg_seterr(err, errlen, "out of memory");
				return -1;
			}
			h = p;
			cap = cap ? cap * 2 : 64;
		}
		if (held_row(st, &h[n]) < 0) {
			sqlite3_finalize(st);
			fg_store_held_free(h, n);
			fg_seterr(err, errlen, "out of memory");
			return -1;
		}
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fg_store_held_free(h, n);
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	*out = h;
	*nout = n;
	return 0;
}

/*
 * Before start: is the file there a database floodgate can use? A file
 * that is not SQLite, or fails SQLite's quick check, is corrupt; an absent
 * one is fine (it is created).
 */
int
fg_store_probe(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int rc, verdict = FG_STORE_OK;

	if (access(path, F_OK) != 0)
		return FG_STORE_OK;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return FG_STORE_UNUSABLE;
	}
	rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(q, 0);

		if (v == NULL || strcmp(v, "ok") != 0) {
			fg_seterr(err, errlen, "quick_check: %s", v ? v : "?");
			verdict = FG_STORE_CORRUPT;
		}
	} else {
		int code = sqlite3_errcode(db);

		fg_seterr(err, errlen, "%s", sqlite3_errmsg(db));
		verdict = code == SQLITE_NOTADB || code == SQLITE_CORRUPT ?
		    FG_STORE_CORRUPT : FG_STORE_UNUSABLE;
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return verdict;
}

/* Keep a corrupt file aside as PATH.corrupt-TIME, with its WAL and shm. */
int
fg_store_set_aside(const char *path, uint32_t now, char *aside, size_t len)
{
	static const char *const ext[] = { "", "-wal", "-shm" };
	char from[4200], to[4200];
	size_t i;

	snprintf(aside, len, "%s.corrupt-%u", path, now);
	for (i = 0; i < 3; i++) {
		snprintf(from, sizeof(from), "%s%s", path, ext[i]);
		snprintf(to, sizeof(to), "%s%s", aside, ext[i]);
		if (rename(from, to) < 0 && i == 0)
			return -1;
	}
	return 0;
}

enum fg_store_place
fg_store_placed(const struct fg_store *s, const char *path)
{
	struct stat now;

	if (stat(path, &now) < 0)
		return errno == ENOENT ? FG_STORE_GONE : FG_STORE_IN_PLACE;
	return now.st_dev == s->file.st_dev && now.st_ino == s->file.st_ino ?
	    FG_STORE_IN_PLACE : FG_STORE_REPLACED;
}

/*
 * The copy is made while s is open, and s closed only once a store on
 * the copy opened: SQLite closes a file whose path names another (or
 * nothing) without its checkpoint, and deletes neither its -wal nor its
 * -shm by name. Those at the path are s's own, left by the removal:
 * they go before the copy is opened, or it would take them for its own
 * (another file's log and shared memory).
 */
struct fg_store *
fg_store_put_back(struct fg_store *s, const char *path, char *err,
    size_t errlen)
{
	static const char *const ext[] = { "-wal", "-shm" };
	char tmp[4200], side[4200];
	struct fg_store *ns;
	sqlite3_stmt *q;
	size_t i;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.put-back", path);
	(void)unlink(tmp);
	if (sqlite3_prepare_v2(s->db, "VACUUM INTO ?1", -1, &q, NULL) !=
	    SQLITE_OK) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return NULL;
	}
	sqlite3_bind_text(q, 1, tmp, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		fg_seterr(err, errlen, "a copy %s: %s", tmp,
		    sqlite3_errmsg(s->db));
		(void)unlink(tmp);
		return NULL;
	}
	(void)chmod(tmp, s->file.st_mode & 07777);
	for (i = 0; i < 2; i++) {
		snprintf(side, sizeof(side), "%s%s", path, ext[i]);
		if (unlink(side) < 0 && errno != ENOENT) {
			fg_seterr(err, errlen, "%s: %s", side, strerror(errno));
			(void)unlink(tmp);
			return NULL;
		}
	}
	if (rename(tmp, path) < 0) {
		fg_seterr(err, errlen, "%s to %s: %s", tmp, path,
		    strerror(errno));
		(void)unlink(tmp);
		return NULL;
	}
	if ((ns = fg_store_open(path, 0, err, errlen)) == NULL) {
		(void)unlink(path);	/* gone again: tried again later */
		return NULL;
	}
	fg_store_close(s);
	return ns;
}
