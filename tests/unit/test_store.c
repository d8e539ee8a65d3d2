/* Unit tests of lib/store.c: a real SQLite file, written and read back. */
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "limiter.h"
#include "store.h"
#include "table.h"
#include "util.h"

#define T0 1800000000u

static char path[64];

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/fg-unit-store-XXXXXX");
	fd = mkstemp(path);
	close(fd);
	unlink(path);
	return 0;
}

static int
teardown(void **state)
{
	char p[80];

	(void)state;
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	return 0;
}

static int64_t
query(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static void
test_round_trip(void **state)
{
	char err[FG_ERRLEN];
	struct fg_store *s;
	struct fg_table *t = fg_table_new(), *t2 = fg_table_new();
	struct fg_limiter *l = fg_limiter_new(t), *l2 = fg_limiter_new(t2);
	struct fg_resv r = { 0 };
	struct fg_check c[2] = {
		{ .rule = "hour", .key = "tenant42", .limit = 10, .period = 3600, .cost = 1, .hard = true },
		{ .rule = "car", .key = "tenant42/docomo.ne.jp", .limit = 10, .period = 3600, .cost = 1, .hard = true },
	};
	struct fg_entry_copy *cp;
	struct fg_stat_row row = { .hour = T0, .kind = 'a', .name = "tenant42",
	    .v = { 7, 2, 1, 0 } };
	struct fg_event ev = { .time = T0, .used = 10, .limit = 10, .retry = 60 };
	size_t n, loaded;
	int i;

	(void)state;
	s = fg_store_open(path, 0, err, sizeof(err));
	if (s == NULL)
		fail_msg("%s", err);
	assert_int_equal(query("PRAGMA user_version"), FG_SCHEMA_VERSION);
	for (i = 0; i < 7; i++) {
		fg_limiter_reserve(l, c, 2, T0 + (uint32_t)i * 100, &r);
		fg_limiter_commit(l, &r, T0 + (uint32_t)i * 100);
	}
	fg_table_drain(t, T0 + 700, &cp, &n);
	assert_int_equal(n, 2);
	strcpy(ev.account, "tenant42");
	strcpy(ev.rule, "hour");
	strcpy(ev.action, "defer");
	assert_int_equal(fg_store_flush(s, cp, n, &row, 1, &ev, 1, err, sizeof(err)), 0);
	/* Statistics add up across flushes. */
	assert_int_equal(fg_store_flush(s, NULL, 0, &row, 1, NULL, 0, err, sizeof(err)), 0);
	fg_table_free_copies(cp, n);
	fg_store_close(s);
	assert_int_equal(query("SELECT count(*) FROM windows"), 2);
	assert_int_equal(query("SELECT accepted FROM stats WHERE name = 'tenant42'"), 14);
	assert_int_equal(query("SELECT deferred FROM stats WHERE name = 'tenant42'"), 4);
	assert_int_equal(query("SELECT count(*) FROM events WHERE rule = 'hour' AND account = 'tenant42'"), 1);

	/* A restart: the counts come back. */
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(fg_store_load(s, t2, T0 + 800, &loaded, err, sizeof(err)), 0);
	assert_int_equal(loaded, 2);
	c[0].cost = c[1].cost = 1;
	fg_limiter_peek(l2, c, 2, T0 + 800);
	assert_int_equal(c[0].used, 7);
	assert_int_equal(c[1].used, 7);
	/* Expired state is neither loaded nor kept. */
	fg_table_free(t2);
	t2 = fg_table_new();
	assert_int_equal(fg_store_load(s, t2, T0 + 3600 + 700, &loaded, err, sizeof(err)), 0);
	assert_int_equal(loaded, 0);
	assert_int_equal(fg_store_maintain(s, T0 + 3600 + 700, err, sizeof(err)), 0);
	fg_store_close(s);
	assert_int_equal(query("SELECT count(*) FROM windows"), 0);

	/* Read-only, as floodgatectl opens it. */
	s = fg_store_open(path, 1, err, sizeof(err));
	assert_non_null(s);
	fg_store_close(s);
	fg_resv_free(&r);
	fg_limiter_free(l);
	fg_limiter_free(l2);
	fg_table_free(t);
	fg_table_free(t2);
}

static void
test_errors(void **state)
{
	char err[FG_ERRLEN];
	sqlite3 *db;

	(void)state;
	/* Why a file cannot be opened, found by floodgate: SQLite's
	 * "unable to open database file" says no more. The callers name
	 * the file. */
	assert_null(fg_store_open("/nonexistent/dir/fg.db", 0, err, sizeof(err)));
	assert_string_equal(err, "its directory /nonexistent/dir: No such file or directory");
	assert_null(fg_store_open("/nonexistent/dir/fg.db", 1, err, sizeof(err)));
	assert_string_equal(err, "its directory /nonexistent/dir: No such file or directory");
	assert_null(fg_store_open("/tmp", 0, err, sizeof(err)));
	assert_string_equal(err, "is a directory, not a file");
	assert_null(fg_store_open("/tmp", 1, err, sizeof(err)));
	assert_string_equal(err, "is a directory, not a file");
	assert_null(fg_store_open("/tmp/fg-unit-no-such-file.db", 1, err, sizeof(err)));
	assert_string_equal(err, "No such file or directory");
	/* A file from a newer floodgate is not touched. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_null(fg_store_open(path, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 99 is newer"));
	/* Not a database at all. */
	unlink(path);
	{
		FILE *fp = fopen(path, "w");

		fputs("this is not an SQLite file, it is just text.............\n", fp);
		fclose(fp);
	}
	assert_null(fg_store_open(path, 0, err, sizeof(err)));
	assert_string_equal(err, "file is not a database");
}

/*
 * Held mail keeps its whole account (an account may be 511 bytes: a
 * release against a cut one would charge a phantom window), and a queue
 * ID that Postfix reuses for a new held message is a new row, not lost.
 */
static void
test_held(void **state)
{
	char err[FG_ERRLEN], acct[FG_ACCOUNT_MAX + 1];
	struct fg_store *s;
	struct fg_held_row h, *out;
	size_t n;
	uint64_t on_hold;
	uint32_t oldest;

	(void)state;
	memset(acct, 'a', FG_ACCOUNT_MAX - 10);
	strcpy(acct + FG_ACCOUNT_MAX - 10, "@x.example");
	assert_int_equal(strlen(acct), FG_ACCOUNT_MAX);
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(fg_store_on_hold(s, &on_hold, &oldest, err,
	    sizeof(err)), 0);
	assert_int_equal(on_hold, 0);
	assert_int_equal(oldest, 0);
	memset(&h, 0, sizeof(h));
	strcpy(h.queue_id, "4AB12C");
	strcpy(h.account, acct);
	strcpy(h.rule, "hour");
	h.time = T0;
	h.recipients = 2;
	h.domains = "example.com,example.org";
	assert_int_equal(fg_store_held_add(s, &h, err, sizeof(err)), 0);
	assert_int_equal(fg_store_held(s, NULL, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].account, acct);
	assert_string_equal(out[0].domains, "example.com,example.org");
	fg_store_held_free(out, n);
	/* Released, then the same queue ID held again. */
	assert_int_equal(fg_store_held_done(s, "4AB12C", T0 + 60, "released",
	    err, sizeof(err)), 0);
	assert_int_equal(fg_store_on_hold(s, &on_hold, &oldest, err,
	    sizeof(err)), 0);
	assert_int_equal(on_hold, 0);
	h.time = T0 + 120;
	h.recipients = 1;
	h.domains = "example.net";
	assert_int_equal(fg_store_held_add(s, &h, err, sizeof(err)), 0);
	strcpy(h.queue_id, "5CD34E");
	h.time = T0 + 150;
	assert_int_equal(fg_store_held_add(s, &h, err, sizeof(err)), 0);
	/* On hold now: the open rows, since the oldest of them. */
	assert_int_equal(fg_store_on_hold(s, &on_hold, &oldest, err,
	    sizeof(err)), 0);
	assert_int_equal(on_hold, 2);
	assert_int_equal(oldest, T0 + 120);
	assert_int_equal(fg_store_held_done(s, "5CD34E", T0 + 160, "gone",
	    err, sizeof(err)), 0);
	strcpy(h.queue_id, "4AB12C");
	assert_int_equal(fg_store_held(s, NULL, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].domains, "example.net");
	fg_store_held_free(out, n);
	/* Held again while the old row is still open: the old message left
	 * the hold queue by other hands; the new one is listed. */
	h.time = T0 + 180;
	h.domains = "example.jp";
	assert_int_equal(fg_store_held_add(s, &h, err, sizeof(err)), 0);
	assert_int_equal(fg_store_held(s, NULL, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].domains, "example.jp");
	assert_int_equal(out[0].planned, 0);
	fg_store_held_free(out, n);
	/* A plan's marks are written together, or none while another
	 * process holds the file's write lock (the store's connection
	 * usable again after it); kept across a reopen (a restart), and
	 * cleared; a closed row is never marked. */
	{
		struct fg_held_mark m[2] = { { "4AB12C", T0 + 200 },
		    { "5CD34E", T0 + 200 } };
		sqlite3 *db;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
		    NULL), SQLITE_OK);
		fg_store_set_wait(s, 10);
		assert_int_equal(fg_store_held_mark(s, m, 2, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "locked"));
		assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
		    SQLITE_OK);
		fg_store_set_wait(s, FG_STORE_WAIT_MS);
		/* The second write (a clear) refused: the first undone with
		 * it. */
		assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER refuse BEFORE "
		    "UPDATE OF planned ON held WHEN NEW.planned IS NULL "
		    "BEGIN SELECT RAISE(ABORT, 'refused'); END", NULL, NULL,
		    NULL), SQLITE_OK);
		assert_int_equal(fg_store_held_mark(s, (struct fg_held_mark[]){
		    { "4AB12C", T0 + 200 }, { "4AB12C", 0 } }, 2, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "refused"));
		assert_int_equal(query("SELECT count(*) FROM held WHERE planned IS NOT NULL"), 0);
		assert_int_equal(sqlite3_exec(db, "DROP TRIGGER refuse", NULL,
		    NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		assert_int_equal(fg_store_held_mark(s, m, 2, err, sizeof(err)), 0);
	}
	fg_store_close(s);
	assert_int_equal(query("SELECT count(*) FROM held WHERE planned IS NOT NULL"), 1);
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(fg_store_held(s, NULL, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].planned, T0 + 200);
	fg_store_held_free(out, n);
	/* One queue ID's open row; none for a closed or unknown one. */
	memset(&h, 0, sizeof(h));
	assert_int_equal(fg_store_held_find(s, "4AB12C", &h, err, sizeof(err)), 1);
	assert_string_equal(h.account, acct);
	assert_string_equal(h.domains, "example.jp");
	assert_int_equal(h.time, T0 + 180);
	assert_int_equal(h.planned, T0 + 200);
	free(h.domains);
	assert_int_equal(fg_store_held_find(s, "5CD34E", &h, err, sizeof(err)), 0);
	assert_int_equal(fg_store_held_find(s, "9XY", &h, err, sizeof(err)), 0);
	assert_int_equal(fg_store_held_mark(s,
	    &(struct fg_held_mark){ "4AB12C", 0 }, 1, err, sizeof(err)), 0);
	assert_int_equal(fg_store_held(s, NULL, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(out[0].planned, 0);
	fg_store_held_free(out, n);
	fg_store_close(s);
	assert_int_equal(query("SELECT count(*) FROM held"), 4);
	assert_int_equal(query("SELECT count(*) FROM held WHERE outcome = 'gone'"), 2);
	/* Rows of mail that left the hold queue are pruned after 30 days. */
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_int_equal(fg_store_maintain(s, T0 + 29 * 86400, err, sizeof(err)), 0);
	fg_store_close(s);
	assert_int_equal(query("SELECT count(*) FROM held"), 4);
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_int_equal(fg_store_maintain(s, T0 + 31 * 86400, err, sizeof(err)), 0);
	fg_store_close(s);
	assert_int_equal(query("SELECT count(*) FROM held"), 1);
	assert_int_equal(query("SELECT count(*) FROM held WHERE released IS NULL"), 1);
}

/*
 * One account's held mail: its open rows only, oldest first, none of
 * another account's (a name that is a prefix of another is not it).
 */
static void
test_held_account(void **state)
{
	static const struct {
		const char *qid, *account;
		uint32_t time;
	} rows[] = {
		{ "1A", "bob@b.example", T0 + 30 },
		{ "2B", "alice", T0 + 20 },
		{ "3C", "alice2", T0 + 10 },
		{ "4D", "alice", T0 + 40 },
		{ "5E", "alice", T0 },
	};
	char err[FG_ERRLEN];
	struct fg_store *s;
	struct fg_held_row h, *out;
	size_t n, i;

	(void)state;
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&h, 0, sizeof(h));
		strcpy(h.queue_id, rows[i].qid);
		strcpy(h.account, rows[i].account);
		strcpy(h.rule, "hour");
		h.time = rows[i].time;
		h.recipients = 1;
		h.domains = "example.com";
		assert_int_equal(fg_store_held_add(s, &h, err, sizeof(err)), 0);
	}
	assert_int_equal(fg_store_held_done(s, "5E", T0 + 60, "released",
	    err, sizeof(err)), 0);
	assert_int_equal(fg_store_held(s, "alice", &out, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].queue_id, "2B");
	assert_string_equal(out[1].queue_id, "4D");
	assert_string_equal(out[1].account, "alice");
	fg_store_held_free(out, n);
	assert_int_equal(fg_store_held(s, "carol", &out, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(out);
	assert_int_equal(fg_store_held(s, NULL, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_string_equal(out[0].queue_id, "3C");
	fg_store_held_free(out, n);
	fg_store_close(s);
}

/* A file written by an older floodgate is migrated in place, data kept. */
static void
test_migration(void **state)
{
	char err[FG_ERRLEN];
	struct fg_store *st;
	sqlite3 *db;

	(void)state;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	    "CREATE TABLE windows (rule TEXT NOT NULL, key TEXT NOT NULL,"
	    " period INTEGER NOT NULL, expires INTEGER NOT NULL,"
	    " slots BLOB NOT NULL, PRIMARY KEY (rule, key)) WITHOUT ROWID;"
	    "CREATE TABLE stats (hour INTEGER NOT NULL, kind TEXT NOT NULL,"
	    " name TEXT NOT NULL, accepted INTEGER NOT NULL DEFAULT 0,"
	    " deferred INTEGER NOT NULL DEFAULT 0, rejected INTEGER NOT NULL DEFAULT 0,"
	    " held INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (hour, kind, name)) WITHOUT ROWID;"
	    "CREATE TABLE events (id INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
	    " session TEXT, queue_id TEXT, account TEXT NOT NULL, rule TEXT NOT NULL,"
	    " destination TEXT, action TEXT NOT NULL, used INTEGER, lim INTEGER, retry INTEGER);"
	    "INSERT INTO stats VALUES (1800000000, 'account', 'old', 5, 0, 0, 0);"
	    "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* Read-only (floodgatectl) does not migrate: it says why. */
	assert_null(fg_store_open(path, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 1, expected"));
	st = fg_store_open(path, 0, err, sizeof(err));
	if (st == NULL)
		fail_msg("%s", err);
	fg_store_close(st);
	assert_int_equal(query("PRAGMA user_version"), FG_SCHEMA_VERSION);
	assert_int_equal(query("SELECT count(*) FROM held"), 0);
	assert_int_equal(query("SELECT accepted FROM stats WHERE name = 'old'"), 5);
	assert_int_equal(query("SELECT count(*) FROM marks"), 0);
	assert_int_equal(query("SELECT count(*) FROM pending"), 0);
}

/* Schema 2's held rows (queue ID the key) come through to schema 3. */
static void
test_migration_held(void **state)
{
	char err[FG_ERRLEN];
	struct fg_store *st;
	struct fg_held_row *out;
	size_t n;

	(void)state;
	st = fg_store_open(path, 0, err, sizeof(err));
	fg_store_close(st);
	assert_int_equal(query("PRAGMA user_version"), FG_SCHEMA_VERSION);
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "DROP TABLE held;"
		    "CREATE TABLE held (queue_id TEXT PRIMARY KEY, time INTEGER NOT NULL,"
		    " account TEXT NOT NULL, rule TEXT NOT NULL, recipients INTEGER NOT NULL,"
		    " domains TEXT NOT NULL, released INTEGER, outcome TEXT);"
		    "INSERT INTO held VALUES ('7C1', 1800000000, 't', 'h', 1, 'a.example', NULL, NULL);"
		    /* and nothing of schema 4 */
		    "DROP TABLE qidmap; DROP TABLE follow; DROP TABLE suspended;"
		    "DROP TABLE paused; DROP TABLE incidents;"
		    "DROP TABLE marks;"	/* nor of schema 5 */
		    "DROP TABLE pending;"	/* nor of schema 6 */
		    "ALTER TABLE stats DROP COLUMN sent;"
		    "ALTER TABLE stats DROP COLUMN bounced;"
		    "ALTER TABLE stats DROP COLUMN unknown;"
		    "ALTER TABLE events DROP COLUMN count;"	/* of 11 */
		    "PRAGMA user_version = 2;", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	st = fg_store_open(path, 0, err, sizeof(err));
	if (st == NULL)
		fail_msg("%s", err);
	assert_int_equal(fg_store_held(st, NULL, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].queue_id, "7C1");
	fg_store_held_free(out, n);
	fg_store_close(st);
	assert_int_equal(query("PRAGMA user_version"), FG_SCHEMA_VERSION);
	assert_int_equal(query("SELECT count(*) FROM qidmap"), 0);
}

/* Schema 7's suspensions (no end) come through to schema 8 as lasting
 * until resumed; and 9, the queue-ID map's notices; and 10, whom an
 * incident was told to (not recorded before); and 11, a refusal row's
 * count (one each before). */
static void
test_migration_suspended(void **state)
{
	char err[FG_ERRLEN];
	struct fg_store *st;
	struct fg_suspension *su;
	struct fg_pause *pa;
	size_t ns, np;
	sqlite3 *db;

	(void)state;
	st = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(st);
	fg_store_close(st);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE suspended DROP COLUMN until;"
	    "ALTER TABLE qidmap DROP COLUMN notice;"
	    "ALTER TABLE incidents DROP COLUMN told;"
	    "ALTER TABLE events DROP COLUMN count;"
	    "INSERT INTO events (time, session, queue_id, account, rule, "
	    "destination, action, used, lim, retry) VALUES (1800000000, 's', "
	    "'', 'tenant7', 'hour', 'example.jp', 'defer', 5, 5, 60);"
	    "INSERT INTO incidents (kind, subject, started, notified) "
	    "VALUES ('suspend', 'tenant7', 1800000000, 1);"
	    "INSERT INTO suspended VALUES ('tenant7', 'unknown', 1800000000);"
	    "INSERT INTO qidmap VALUES ('4AbC1', 'tenant7', 1800000000);"
	    "PRAGMA user_version = 7;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = fg_store_open(path, 0, err, sizeof(err));
	if (st == NULL)
		fail_msg("%s", err);
	assert_int_equal(query("PRAGMA user_version"), FG_SCHEMA_VERSION);
	assert_int_equal(fg_store_blocks_load(st, &su, &ns, &pa, &np, err,
	    sizeof(err)), 0);
	assert_int_equal(ns, 1);
	assert_string_equal(su[0].account, "tenant7");
	assert_int_equal(su[0].since, 1800000000);
	assert_int_equal(su[0].until, 0);
	free(su);
	/* 9: a queue ID recorded before is no notice */
	{
		char acct[FG_ACCOUNT_MAX + 1];
		int notice = -1;

		assert_int_equal(fg_store_qid(st, "4AbC1", acct, &notice), 1);
		assert_string_equal(acct, "tenant7");
		assert_int_equal(notice, 0);
	}
	free(pa);
	/* 10: the incident's told not recorded; saved, as given */
	{
		struct fg_incident *incs;
		size_t n;

		assert_int_equal(fg_store_incidents(st, 1, 0, 10, &incs, &n,
		    err, sizeof(err)), 0);
		assert_int_equal(n, 1);
		assert_int_equal(incs[0].notified, 1);
		assert_int_equal(incs[0].told, -1);
		assert_int_equal(fg_store_incident_save(st, &incs[0], err,
		    sizeof(err)), 0);
		assert_int_equal(query("SELECT count(*) FROM incidents "
		    "WHERE told IS NULL"), 1);
		incs[0].told = FG_TOLD_START;
		assert_int_equal(fg_store_incident_save(st, &incs[0], err,
		    sizeof(err)), 0);
		free(incs);
	}
	assert_int_equal(query("SELECT told FROM incidents"), FG_TOLD_START);
	/* 11: a row from before stands for one refusal */
	{
		struct fg_event *ev;
		size_t n;

		assert_int_equal(fg_store_events(st, "tenant7", 10, &ev, &n,
		    err, sizeof(err)), 0);
		assert_int_equal(n, 1);
		assert_int_equal(fg_event_count(&ev[0]), 1);
		free(ev);
	}
	assert_int_equal(query("SELECT count FROM events"), 1);
	fg_store_close(st);
}

/* Delivery feedback's tables: the queue-ID map, the follower's place,
 * suspensions and pauses, incidents; and the shared store's marks; all
 * survive closing the file. */
static void
test_feedback_tables(void **state)
{
	char err[FG_ERRLEN], acct[FG_ACCOUNT_MAX + 1], mark[64];
	struct fg_store *s;
	struct fg_qid_row q[2] = { { "4AbC1", "tenant7", T0, 0 },
	    { "4AbC2", "tenant8", T0 + 4 * 86400, 0 } };
	struct fg_follow_pos pos = { 42, 4096, "6e6f7620", "" }, got;
	struct fg_suspension su[2] = { { "tenant7", "unknown", T0, 0 },
	    { "tenant8", "floodgatectl", T0 + 1, T0 + 7200 } }, *sus;
	struct fg_pause pa = { "docomo.ne.jp", "carrier", T0, T0 + 3600, 3600, 1 }, *pas;
	struct fg_incident inc, *incs;
	size_t ns, np, n;
	int notice = -1;

	(void)state;
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(fg_store_qids_add(s, q, 2, err, sizeof(err)), 0);
	assert_int_equal(fg_store_qid(s, "4AbC1", acct, &notice), 1);
	assert_string_equal(acct, "tenant7");
	assert_int_equal(notice, 0);
	assert_int_equal(fg_store_qid(s, "4ZZZ", acct, NULL), 0);
	/* Postfix reuses a queue ID: the new owner wins; a notice (a
	 * bounce) about a message is one */
	q[0].time = T0 + 5;
	q[0].notice = 1;
	strcpy(q[0].account, "tenant9");
	assert_int_equal(fg_store_qids_add(s, q, 1, err, sizeof(err)), 0);
	assert_int_equal(fg_store_qid(s, "4AbC1", acct, &notice), 1);
	assert_string_equal(acct, "tenant9");
	assert_int_equal(notice, 1);
	q[0].notice = 0;
	assert_int_equal(fg_store_qids_add(s, q, 1, err, sizeof(err)), 0);
	assert_int_equal(fg_store_qid(s, "4AbC1", acct, &notice), 1);
	assert_int_equal(notice, 0);
	/* kept until delivery_retention */
	assert_int_equal(fg_store_qids_prune(s, T0 + 86400, err, sizeof(err)), 0);
	assert_int_equal(fg_store_qid(s, "4AbC1", acct, NULL), 0);
	assert_int_equal(fg_store_qid(s, "4AbC2", acct, NULL), 1);

	assert_int_equal(fg_store_follow_get(s, "/var/log/mail.log", &got), 0);
	assert_int_equal(fg_store_follow_put(s, "/var/log/mail.log", &pos, err,
	    sizeof(err)), 0);
	assert_int_equal(fg_store_mark_get(s, "shared r {f}:epoch", mark,
	    sizeof(mark)), 0);
	assert_string_equal(mark, "");
	assert_int_equal(fg_store_mark_put(s, "shared r {f}:epoch", "relay.1.2.1",
	    err, sizeof(err)), 0);
	assert_int_equal(fg_store_mark_put(s, "shared r {f}:epoch", "relay.1.2.2",
	    err, sizeof(err)), 0);
	assert_int_equal(fg_store_mark_put(s, "shared q {f}:epoch", "other.9.9.1",
	    err, sizeof(err)), 0);
	assert_int_equal(fg_store_blocks_save(s, su, 2, &pa, 1, err,
	    sizeof(err)), 0);
	memset(&inc, 0, sizeof(inc));
	strcpy(inc.kind, "pause");
	strcpy(inc.subject, "docomo.ne.jp");
	strcpy(inc.detail, "backoff carrier");
	inc.started = T0;
	inc.notified = 1;
	inc.told = 0;		/* passed with no notify target */
	assert_int_equal(fg_store_incident_save(s, &inc, err, sizeof(err)), 0);
	assert_true(inc.id > 0);
	fg_store_close(s);

	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(fg_store_follow_get(s, "/var/log/mail.log", &got), 1);
	assert_int_equal(got.inode, 42);
	assert_int_equal(got.offset, 4096);
	assert_string_equal(got.head, "6e6f7620");
	/* the last value of each name, and a short buffer cut */
	assert_int_equal(fg_store_mark_get(s, "shared r {f}:epoch", mark,
	    sizeof(mark)), 1);
	assert_string_equal(mark, "relay.1.2.2");
	assert_int_equal(fg_store_mark_get(s, "shared q {f}:epoch", mark, 6), 1);
	assert_string_equal(mark, "other");
	assert_int_equal(fg_store_blocks_load(s, &sus, &ns, &pas, &np, err,
	    sizeof(err)), 0);
	assert_int_equal(ns, 2);
	assert_string_equal(sus[0].account, "tenant7");
	assert_int_equal(sus[0].until, 0);
	assert_string_equal(sus[1].account, "tenant8");
	assert_int_equal(sus[1].until, T0 + 7200);
	assert_int_equal(np, 1);
	assert_int_equal(pas[0].until, T0 + 3600);
	free(sus);
	free(pas);
	/* open, then told of its start but not of its end: still pending */
	assert_int_equal(fg_store_incidents(s, 1, 0, 10, &incs, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(incs[0].notified, 1);
	assert_int_equal(incs[0].told, 0);
	free(incs);
	inc.told = FG_TOLD_END;
	inc.ended = T0 + 3600;
	inc.count = 17;
	assert_int_equal(fg_store_incident_save(s, &inc, err, sizeof(err)), 0);
	assert_int_equal(fg_store_incidents(s, 1, 0, 10, &incs, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(incs);
	assert_int_equal(fg_store_incidents(s, 2, 0, 10, &incs, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(incs[0].count, 17);
	assert_int_equal(incs[0].told, FG_TOLD_END);
	free(incs);
	inc.notified = 2;
	assert_int_equal(fg_store_incident_save(s, &inc, err, sizeof(err)), 0);
	assert_int_equal(fg_store_incidents(s, 2, 0, 10, &incs, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(incs);
	/* recent: ended within the last day */
	assert_int_equal(fg_store_incidents(s, 0, T0 + 1000, 10, &incs, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(incs[0].subject, "docomo.ne.jp");
	free(incs);
	fg_store_close(s);
}

/* Past the newest incidents still owed a start takes up, the older ones
 * are ended untold, their detail saying why; the owed come newest
 * first. */
/* A database removed while open is written at its path again whole, by
 * itself and with its -wal and -shm; one replaced by another file is
 * told apart; where the copy cannot be made, the open store goes on. */
static void
test_put_back(void **state)
{
	char err[FG_ERRLEN], v[32], dir[80], inner[96], side[128];
	struct fg_store *s, *ns;

	(void)state;
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(fg_store_placed(s, path), FG_STORE_IN_PLACE);
	assert_int_equal(fg_store_mark_put(s, "a", "1", err, sizeof(err)), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fg_store_placed(s, path), FG_STORE_GONE);
	/* written to the file with no name meanwhile, and copied too */
	assert_int_equal(fg_store_mark_put(s, "b", "2", err, sizeof(err)), 0);
	ns = fg_store_put_back(s, path, err, sizeof(err));
	if (ns == NULL)
		fail_msg("%s", err);
	s = ns;
	assert_int_equal(fg_store_placed(s, path), FG_STORE_IN_PLACE);
	assert_int_equal(fg_store_mark_get(s, "a", v, sizeof(v)), 1);
	assert_string_equal(v, "1");
	assert_int_equal(fg_store_mark_get(s, "b", v, sizeof(v)), 1);
	assert_int_equal(query("PRAGMA user_version"), FG_SCHEMA_VERSION);
	assert_int_equal(query("SELECT count(*) FROM marks"), 2);

	/* the file, its -wal and its -shm */
	assert_int_equal(fg_store_mark_put(s, "c", "3", err, sizeof(err)), 0);
	assert_int_equal(unlink(path), 0);
	snprintf(side, sizeof(side), "%s-wal", path);
	assert_int_equal(unlink(side), 0);
	snprintf(side, sizeof(side), "%s-shm", path);
	(void)unlink(side);
	ns = fg_store_put_back(s, path, err, sizeof(err));
	if (ns == NULL)
		fail_msg("%s", err);
	s = ns;
	assert_int_equal(fg_store_mark_put(s, "d", "4", err, sizeof(err)), 0);
	assert_int_equal(query("SELECT count(*) FROM marks"), 4);

	/* another file at the path */
	snprintf(side, sizeof(side), "%s.other", path);
	assert_int_equal(close(open(side, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(rename(side, path), 0);
	assert_int_equal(fg_store_placed(s, path), FG_STORE_REPLACED);
	fg_store_close(s);

	/* its directory removed: no copy; the open store goes on */
	snprintf(dir, sizeof(dir), "%s.d", path);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/db", dir);
	s = fg_store_open(inner, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(unlink(inner), 0);
	snprintf(side, sizeof(side), "%s-wal", inner);
	(void)unlink(side);
	snprintf(side, sizeof(side), "%s-shm", inner);
	(void)unlink(side);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(fg_store_placed(s, inner), FG_STORE_GONE);
	err[0] = '\0';
	assert_null(fg_store_put_back(s, inner, err, sizeof(err)));
	assert_non_null(strstr(err, "a copy "));
	assert_int_equal(fg_store_mark_put(s, "e", "5", err, sizeof(err)), 0);
	assert_int_equal(fg_store_mark_get(s, "e", v, sizeof(v)), 1);
	fg_store_close(s);
}

static void
test_incidents_untrack(void **state)
{
	char err[FG_ERRLEN];
	struct fg_store *s;
	struct fg_incident inc, *incs;
	size_t n, i;

	(void)state;
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	for (i = 0; i < 4; i++) {
		memset(&inc, 0, sizeof(inc));
		fg_strlcpy(inc.kind, "refused", sizeof(inc.kind));
		snprintf(inc.subject, sizeof(inc.subject), "t%zu", i);
		fg_strlcpy(inc.detail, "refused", sizeof(inc.detail));
		inc.started = T0 + (uint32_t)i;
		inc.notified = 1;
		inc.told = i == 0 ? -1 : FG_TOLD_START;	/* t0: from before 10 */
		if (i == 3) {			/* the newest: ended, told */
			inc.ended = T0 + 10;
			inc.notified = 2;
		}
		assert_int_equal(fg_store_incident_save(s, &inc, err,
		    sizeof(err)), 0);
	}
	/* nothing past the owed ones' count */
	assert_int_equal(fg_store_incidents_untrack(s, 3, T0 + 20, "; why",
	    err, sizeof(err)), 0);
	assert_int_equal(fg_store_incidents_untrack(s, 1, T0 + 20, "; why",
	    err, sizeof(err)), 2);
	assert_int_equal(fg_store_incidents(s, 2, 0, 10, &incs, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(incs[0].subject, "t2");
	free(incs);
	assert_int_equal(fg_store_incidents(s, 0, 0, 10, &incs, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++) {
		const struct fg_incident *x = &incs[i];

		if (strcmp(x->subject, "t0") == 0 || strcmp(x->subject, "t1") == 0) {
			assert_int_equal(x->ended, T0 + 20);
			assert_int_equal(x->notified, 2);
			/* its start told, its end not (t0's as shown
			 * before told was kept) */
			assert_int_equal(x->told, FG_TOLD_START);
			assert_string_equal(x->detail, "refused; why");
		} else if (strcmp(x->subject, "t3") == 0) {
			assert_int_equal(x->ended, T0 + 10);	/* as it was */
			assert_string_equal(x->detail, "refused");
		} else {
			assert_int_equal(x->ended, 0);
			assert_string_equal(x->detail, "refused");
		}
	}
	free(incs);
	fg_store_close(s);
}

/* A row that stands for refusals folded (an account past its lines for
 * the minute): kept with its count, which top --by rule sums and the
 * account's refusals give back. */
static void
test_events_folded(void **state)
{
	char err[FG_ERRLEN];
	struct fg_store *s;
	struct fg_event ev[2], *out;
	struct fg_top_row *top;
	size_t n;

	(void)state;
	memset(ev, 0, sizeof(ev));
	for (n = 0; n < 2; n++) {
		ev[n].time = T0 + (uint32_t)n;
		strcpy(ev[n].account, "spam@x.example");
		strcpy(ev[n].rule, "hour");
		strcpy(ev[n].action, "defer");
	}
	ev[1].folded = 150;
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(fg_store_flush(s, NULL, 0, NULL, 0, ev, 2, err,
	    sizeof(err)), 0);
	assert_int_equal(query("SELECT sum(count) FROM events"), 151);
	assert_int_equal(fg_store_top(s, "rule", T0 - 60, 10, &top, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(top[0].name, "hour");
	assert_int_equal(top[0].v[FG_ST_DEFERRED], 151);
	free(top);
	assert_int_equal(fg_store_events(s, "spam@x.example", 10, &out, &n,
	    err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].folded, 150);	/* the newest first */
	assert_int_equal(fg_event_count(&out[1]), 1);
	free(out);
	fg_store_close(s);
}

/*
 * The hourly maintenance drops an incident a year (366 days) after its
 * end, once told; an open one, a recent one and one still owed to
 * someone stay, however old.
 */
static void
test_incidents_kept(void **state)
{
	static const struct {
		const char *subject;
		uint32_t started, ended;
		int notified, kept;
	} rows[] = {
		{ "old-told", T0, T0 + 600, 2, 0 },
		{ "old-owed", T0, T0 + 600, 1, 1 },
		{ "old-open", T0, 0, 1, 1 },
		{ "recent", T0 + 2 * 86400, T0 + 2 * 86400 + 600, 2, 1 },
	};
	const uint32_t now = T0 + 600 + 366 * 86400 + 1;
	char err[FG_ERRLEN];
	struct fg_store *s;
	struct fg_incident inc, *incs;
	size_t n, i, j;

	(void)state;
	s = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(s);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&inc, 0, sizeof(inc));
		fg_strlcpy(inc.kind, "refused", sizeof(inc.kind));
		fg_strlcpy(inc.subject, rows[i].subject, sizeof(inc.subject));
		inc.started = rows[i].started;
		inc.ended = rows[i].ended;
		inc.notified = rows[i].notified;
		assert_int_equal(fg_store_incident_save(s, &inc, err,
		    sizeof(err)), 0);
	}
	/* a second short of the year: every one kept */
	assert_int_equal(fg_store_maintain(s, now - 1, err, sizeof(err)), 0);
	assert_int_equal(query("SELECT count(*) FROM incidents"), 4);
	assert_int_equal(fg_store_maintain(s, now, err, sizeof(err)), 0);
	assert_int_equal(fg_store_incidents(s, 0, 0, 10, &incs, &n, err,
	    sizeof(err)), 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int found = 0;

		for (j = 0; j < n; j++)
			found += strcmp(incs[j].subject, rows[i].subject) == 0;
		assert_int_equal(found, rows[i].kept);
	}
	assert_int_equal(n, 3);
	free(incs);
	fg_store_close(s);
}

static void
test_probe_and_set_aside(void **state)
{
	char err[FG_ERRLEN], aside[256], p2[300];
	struct fg_store *st;
	FILE *fp;

	(void)state;
	assert_int_equal(fg_store_probe(path, err, sizeof(err)), FG_STORE_OK);	/* absent */
	st = fg_store_open(path, 0, err, sizeof(err));
	assert_non_null(st);
	fg_store_close(st);
	assert_int_equal(fg_store_probe(path, err, sizeof(err)), FG_STORE_OK);
	/* Overwrite the header: no longer a database. */
	fp = fopen(path, "r+");
	assert_non_null(fp);
	fputs("garbage garbage garbage garbage garbage garbage garbage", fp);
	fclose(fp);
	assert_int_equal(fg_store_probe(path, err, sizeof(err)), FG_STORE_CORRUPT);
	assert_true(err[0] != '\0');
	assert_int_equal(fg_store_set_aside(path, 1800000000u, aside, sizeof(aside)), 0);
	snprintf(p2, sizeof(p2), "%s.corrupt-1800000000", path);
	assert_string_equal(aside, p2);
	assert_int_equal(access(aside, F_OK), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	unlink(aside);
	snprintf(p2, sizeof(p2), "%s-wal", aside);
	unlink(p2);
	snprintf(p2, sizeof(p2), "%s-shm", aside);
	unlink(p2);
}

/* What a relay owed the shared store at its stop: summed with what is
 * there, handed back once per store, and gone after. */
struct got {
	char kind[8];
	char name[8][32];
	uint32_t a[8], b[8];
	uint64_t n[8];
	size_t k;
};

static void
take(void *arg, const struct fg_pending *p)
{
	struct got *g = arg;

	assert_true(g->k < 8);
	g->kind[g->k] = p->kind;
	fg_strlcpy(g->name[g->k], p->name, sizeof(g->name[0]));
	g->a[g->k] = p->a;
	g->b[g->k] = p->b;
	g->n[g->k] = p->n;
	g->k++;
}

static void
others(void *arg, const char *other, long long rows, long long until)
{
	char *out = arg;

	snprintf(out + strlen(out), 200 - strlen(out), "%s%s=%lld@%lld",
	    out[0] != '\0' ? " " : "", other, rows, until - T0);
}

static void
test_pending(void **state)
{
	char err[FG_ERRLEN], out[200];
	struct fg_store *s;
	struct got g;
	const struct fg_pending one[] = {
		{ 'c', "hour\037t@x.example", T0, 3600, 2 },
		{ 'u', "hour\037t@x.example", T0 + 600, 0, 1 },
		{ 's', "t@x.example\037a", T0 - T0 % 3600, 'a', 5 },
	}, again[] = {
		{ 'c', "hour\037t@x.example", T0, 3600, 3 },
	}, other[] = {
		{ 'c', "day\037u@y.example", T0, 86400, 7 },
	};

	(void)state;
	s = fg_store_open(path, 0, err, sizeof(err));
	if (s == NULL)
		fail_msg("%s", err);
	assert_int_equal(fg_store_pending_save(s, "shared r {f}:pending", one,
	    3, err, sizeof(err)), 0);
	assert_int_equal(fg_store_pending_save(s, "shared r {f}:pending",
	    again, 1, err, sizeof(err)), 0);
	assert_int_equal(fg_store_pending_save(s, "shared q {f}:pending",
	    other, 1, err, sizeof(err)), 0);
	fg_store_close(s);
	assert_int_equal(query("SELECT n FROM pending WHERE kind = 'c' AND store = 'shared r {f}:pending'"), 5);

	s = fg_store_open(path, 0, err, sizeof(err));
	/* The charges kept for stores other than r's (the store's other
	 * rows are not charges); for any, without a store. */
	out[0] = '\0';
	assert_int_equal(fg_store_pending_others(s, "shared r {f}:pending",
	    T0 + 60, others, out, err, sizeof(err)), 0);
	assert_string_equal(out, "shared q {f}:pending=1@86400");
	out[0] = '\0';
	assert_int_equal(fg_store_pending_others(s, NULL, T0 + 60, others, out,
	    err, sizeof(err)), 0);
	assert_string_equal(out, "shared q {f}:pending=1@86400 shared r {f}:pending=1@3600");
	memset(&g, 0, sizeof(g));
	assert_int_equal(fg_store_pending_take(s, "shared r {f}:pending", take,
	    &g, err, sizeof(err)), 3);
	assert_int_equal(g.k, 3);
	for (size_t i = 0; i < g.k; i++) {
		switch (g.kind[i]) {
		case 'c':
			assert_string_equal(g.name[i], "hour\037t@x.example");
			assert_int_equal(g.a[i], T0);
			assert_int_equal(g.b[i], 3600);
			assert_int_equal(g.n[i], 5);	/* 2 + 3 */
			break;
		case 'u':
			assert_int_equal(g.a[i], T0 + 600);
			assert_int_equal(g.n[i], 1);
			break;
		case 's':
			assert_string_equal(g.name[i], "t@x.example\037a");
			assert_int_equal(g.b[i], 'a');
			assert_int_equal(g.n[i], 5);
			break;
		default:
			fail_msg("kind %c", g.kind[i]);
		}
	}
	/* taken once; another store's rows stay */
	memset(&g, 0, sizeof(g));
	assert_int_equal(fg_store_pending_take(s, "shared r {f}:pending", take,
	    &g, err, sizeof(err)), 0);
	assert_int_equal(g.k, 0);
	/* Once its window has passed, q's charge counts nowhere: dropped,
	 * and not told of. */
	out[0] = '\0';
	assert_int_equal(fg_store_pending_others(s, "shared r {f}:pending",
	    T0 + 86399, others, out, err, sizeof(err)), 0);
	assert_string_equal(out, "shared q {f}:pending=1@86400");
	fg_store_close(s);
	assert_int_equal(query("SELECT count(*) FROM pending"), 1);
	assert_int_equal(query("SELECT n FROM pending WHERE store = 'shared q {f}:pending'"), 7);
	s = fg_store_open(path, 0, err, sizeof(err));
	out[0] = '\0';
	assert_int_equal(fg_store_pending_others(s, "shared r {f}:pending",
	    T0 + 86400, others, out, err, sizeof(err)), 0);
	assert_string_equal(out, "");
	fg_store_close(s);
	assert_int_equal(query("SELECT count(*) FROM pending"), 0);
}

/* SQLite's allocator, made to fail the Nth allocation from now (0: none);
 * sqlite_allocs counts them. */
static sqlite3_mem_methods real_mem;
static long sqlite_nth, sqlite_allocs;

static int
sqlite_fails(void)
{
	sqlite_allocs++;
	return sqlite_nth > 0 && --sqlite_nth == 0;
}

static void *
mem_malloc(int n)
{
	return sqlite_fails() ? NULL : real_mem.xMalloc(n);
}

static void *
mem_realloc(void *p, int n)
{
	return sqlite_fails() ? NULL : real_mem.xRealloc(p, n);
}

/* What fg_store_load() and fg_store_blocks_load() read at a start, with
 * SQLite's Nth allocation failing (0: none): -1, or the rows read. */
static int
start_load(long nth, size_t *windows, size_t *ns, size_t *np)
{
	char err[FG_ERRLEN];
	struct fg_store *s = fg_store_open(path, 0, err, sizeof(err));
	struct fg_table *t = fg_table_new();
	struct fg_suspension *su;
	struct fg_pause *pa;
	int rc;

	if (s == NULL)
		fail_msg("%s", err);
	sqlite_nth = nth;
	rc = fg_store_load(s, t, T0 + 60, windows, err, sizeof(err));
	if (rc == 0)
		rc = fg_store_blocks_load(s, &su, ns, &pa, np, err, sizeof(err));
	sqlite_nth = 0;
	if (rc == 0) {
		free(su);
		free(pa);
	}
	fg_table_free(t);
	fg_store_close(s);
	return rc;
}

/*
 * SQLite out of memory while a start reads the windows, suspensions and
 * pauses, at each of its allocations in turn: the load fails, or reads
 * every row. Never a start with a tenant's window missing (its budget
 * whole again) or a suspension or a pause dropped.
 */
static void
test_load_out_of_memory(void **state)
{
	char err[FG_ERRLEN], sql[400];
	sqlite3_mem_methods m;
	struct fg_store *s;
	sqlite3 *db;
	size_t w, ns, np;
	long n, total, said = 0;
	int i;

	(void)state;
	s = fg_store_open(path, 0, err, sizeof(err));
	if (s == NULL)
		fail_msg("%s", err);
	fg_store_close(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	for (i = 0; i < 50; i++) {
		/* One slot: T0 (0x6b49d200, little-endian), 5 messages. */
		snprintf(sql, sizeof(sql),
		    "INSERT INTO windows VALUES ('hour', 'tenant%d', 3600, %u, "
		    "x'00d2496b05000000');"
		    "INSERT INTO suspended (account, rule, since) VALUES "
		    "('tenant%d', 'bulk', %u);"
		    "INSERT INTO paused VALUES ('d%d.jp', 'carrier', %u, %u, 3600, 1);",
		    i, T0 + 3600, i, T0, i, T0, T0 + 3600);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_close(db);
	assert_int_equal(start_load(0, &w, &ns, &np), 0);
	assert_int_equal(w, 50);
	assert_int_equal(ns, 50);
	assert_int_equal(np, 50);

	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem), SQLITE_OK);
	m = real_mem;
	m.xMalloc = mem_malloc;
	m.xRealloc = mem_realloc;
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
	/* The count from the load's first allocation: the store is opened
	 * first, each time. */
	(void)start_load(-1, &w, &ns, &np);
	sqlite_allocs = 0;
	sqlite_nth = 0;
	assert_int_equal(start_load(0, &w, &ns, &np), 0);
	total = sqlite_allocs;
	for (n = 1; n <= total; n++) {
		if (start_load(n, &w, &ns, &np) < 0) {
			said++;
			continue;
		}
		if (w != 50 || ns != 50 || np != 50)
			fail_msg("SQLite's allocation %ld failed: %zu windows, %zu suspensions and %zu pauses read, and not said",
			    n, w, ns, np);
	}
	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &real_mem), SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
	print_message("%ld allocations by SQLite in a start's load, %ld of them said when made to fail\n",
	    total, said);
	assert_true(said > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_suspended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_account, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_and_set_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feedback_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incidents_untrack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incidents_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_folded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_out_of_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_back, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
