/*
 * The store's tables for delivery feedback: which account each charged
 * queue ID belongs to, where the follower of the delivery log was,
 * suspensions and pauses, incidents, the marks of other stores, and
 * what a relay still owed the shared store when it stopped.
 * Statements are prepared on first use and kept with the store's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

enum fbstmt {
	FB_QID_PUT,
	FB_QID_GET,
	FB_FOLLOW_GET,
	FB_FOLLOW_PUT,
	FB_SUSP_DEL,
	FB_SUSP_PUT,
	FB_PAUS_DEL,
	FB_PAUS_PUT,
	FB_INC_ADD,
	FB_INC_SET,
	FB_MARK_GET,
	FB_MARK_PUT,
	FB_PEND_PUT,
	FB_N
};

_Static_assert(FB_N <= FG_FB_STMTS, "fbstore.c: FG_FB_STMTS too small");

static const char *const fbsql[FB_N] = {
	/* Postfix reuses a queue ID once its message is gone. */
	[FB_QID_PUT] = "INSERT OR REPLACE INTO qidmap (queue_id, account, time, "
	    "notice) VALUES (?1, ?2, ?3, ?4)",
	[FB_QID_GET] = "SELECT account, notice FROM qidmap WHERE queue_id = ?1",
	[FB_FOLLOW_GET] = "SELECT inode, offset, head, cursor FROM follow "
	    "WHERE source = ?1",
	[FB_FOLLOW_PUT] = "INSERT OR REPLACE INTO follow (source, inode, "
	    "offset, head, cursor) VALUES (?1, ?2, ?3, ?4, ?5)",
	[FB_SUSP_DEL] = "DELETE FROM suspended",
	[FB_SUSP_PUT] = "INSERT INTO suspended (account, rule, since, until) "
	    "VALUES (?1, ?2, ?3, ?4)",
	[FB_PAUS_DEL] = "DELETE FROM paused",
	[FB_PAUS_PUT] = "INSERT INTO paused (domain, rule, since, until, "
	    "duration, trips) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[FB_INC_ADD] = "INSERT INTO incidents (kind, subject, started, ended, "
	    "count, detail, notified, told) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
	    "?8)",
	[FB_INC_SET] = "UPDATE incidents SET ended = ?2, count = ?3, "
	    "detail = ?4, notified = ?5, told = ?6 WHERE id = ?1",
	[FB_MARK_GET] = "SELECT value FROM marks WHERE name = ?1",
	[FB_MARK_PUT] = "INSERT OR REPLACE INTO marks (name, value) "
	    "VALUES (?1, ?2)",
	[FB_PEND_PUT] = "INSERT INTO pending (store, kind, name, a, b, n) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (store, kind, name, "
	    "a, b) DO UPDATE SET n = n + excluded.n",
};

static sqlite3_stmt *
stmt(struct fg_store *s, enum fbstmt k)
{
	if (s->fb[k] == NULL && sqlite3_prepare_v3(s->db, fbsql[k], -1,
	    SQLITE_PREPARE_PERSISTENT, &s->fb[k], NULL) != SQLITE_OK)
		return NULL;
	return s->fb[k];
}

/* A text column into a fixed buffer; NULL leaves it empty. */
static void
text(sqlite3_stmt *q, int col, char *dst, size_t len)
{
	const char *v = (const char *)sqlite3_column_text(q, col);

	fg_strlcpy(dst, v != NULL ? v : "", len);
}

int
fg_store_qids_add(struct fg_store *s, const struct fg_qid_row *r, size_t n,
    char *err, size_t errlen)
{
	sqlite3_stmt *q;
	size_t i;

	if (n == 0)
		return 0;
	if ((q = stmt(s, FB_QID_PUT)) == NULL || fg_store_begin(s) < 0)
		return fg_store_failed(s, err, errlen);
	for (i = 0; i < n; i++) {
		sqlite3_bind_text(q, 1, r[i].qid, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, r[i].account, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, r[i].time);
		sqlite3_bind_int(q, 4, r[i].notice != 0);
		if (fg_store_step(q) < 0)
			return fg_store_failed(s, err, errlen);
	}
	if (fg_store_commit(s) < 0)
		return fg_store_failed(s, err, errlen);
	return 0;
}

int
fg_store_qid(struct fg_store *s, const char *qid,
    char account[FG_ACCOUNT_MAX + 1], int *notice)
{
	sqlite3_stmt *q = stmt(s, FB_QID_GET);
	int rc;

	if (q == NULL)
		return -1;
	sqlite3_bind_text(q, 1, qid, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		text(q, 0, account, FG_ACCOUNT_MAX + 1);
		if (notice != NULL)
			*notice = sqlite3_column_int(q, 1) != 0;
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
fg_store_qids_prune(struct fg_store *s, uint32_t before, char *err,
    size_t errlen)
{
	char q[96];
	char *msg = NULL;

	snprintf(q, sizeof(q), "DELETE FROM qidmap WHERE time < %u", before);
	if (sqlite3_exec(s->db, q, NULL, NULL, &msg) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
fg_store_follow_get(struct fg_store *s, const char *source,
    struct fg_follow_pos *p)
{
	sqlite3_stmt *q = stmt(s, FB_FOLLOW_GET);
	int rc;

	memset(p, 0, sizeof(*p));
	if (q == NULL)
		return -1;
	sqlite3_bind_text(q, 1, source, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		p->inode = (uint64_t)sqlite3_column_int64(q, 0);
		p->offset = (uint64_t)sqlite3_column_int64(q, 1);
		text(q, 2, p->head, sizeof(p->head));
		text(q, 3, p->cursor, sizeof(p->cursor));
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
fg_store_follow_put(struct fg_store *s, const char *source,
    const struct fg_follow_pos *p, char *err, size_t errlen)
{
	sqlite3_stmt *q = stmt(s, FB_FOLLOW_PUT);

	if (q == NULL)
		return fg_store_failed(s, err, errlen);
	sqlite3_bind_text(q, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)p->inode);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)p->offset);
	sqlite3_bind_text(q, 4, p->head, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, p->cursor, -1, SQLITE_STATIC);
	if (fg_store_step(q) < 0)
		return fg_store_failed(s, err, errlen);
	return 0;
}

int
fg_store_mark_get(struct fg_store *s, const char *name, char *value,
    size_t len)
{
	sqlite3_stmt *q = stmt(s, FB_MARK_GET);
	int rc;

	if (len > 0)
		value[0] = '\0';
	if (q == NULL)
		return -1;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		text(q, 0, value, len);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
fg_store_mark_put(struct fg_store *s, const char *name, const char *value,
    char *err, size_t errlen)
{
	sqlite3_stmt *q = stmt(s, FB_MARK_PUT);

	if (q == NULL)
		return fg_store_failed(s, err, errlen);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
	if (fg_store_step(q) < 0)
		return fg_store_failed(s, err, errlen);
	return 0;
}

/* Few rows: the whole set is written again when it changes. */
int
fg_store_blocks_save(struct fg_store *s, const struct fg_suspension *su,
    size_t ns, const struct fg_pause *pa, size_t np, char *err, size_t errlen)
{
	sqlite3_stmt *ds = stmt(s, FB_SUSP_DEL), *ps = stmt(s, FB_SUSP_PUT);
	sqlite3_stmt *dp = stmt(s, FB_PAUS_DEL), *pp = stmt(s, FB_PAUS_PUT);
	size_t i;

	if (ds == NULL || ps == NULL || dp == NULL || pp == NULL ||
	    fg_store_begin(s) < 0 || fg_store_step(ds) < 0 ||
	    fg_store_step(dp) < 0)
		return fg_store_failed(s, err, errlen);
	for (i = 0; i < ns; i++) {
		sqlite3_bind_text(ps, 1, su[i].account, -1, SQLITE_STATIC);
		sqlite3_bind_text(ps, 2, su[i].rule, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ps, 3, su[i].since);
		sqlite3_bind_int64(ps, 4, su[i].until);
		if (fg_store_step(ps) < 0)
			return fg_store_failed(s, err, errlen);
	}
	for (i = 0; i < np; i++) {
		sqlite3_bind_text(pp, 1, pa[i].domain, -1, SQLITE_STATIC);
		sqlite3_bind_text(pp, 2, pa[i].rule, -1, SQLITE_STATIC);
		sqlite3_bind_int64(pp, 3, pa[i].since);
		sqlite3_bind_int64(pp, 4, pa[i].until);
		sqlite3_bind_int64(pp, 5, pa[i].duration);
		sqlite3_bind_int64(pp, 6, pa[i].trips);
		if (fg_store_step(pp) < 0)
			return fg_store_failed(s, err, errlen);
	}
	if (fg_store_commit(s) < 0)
		return fg_store_failed(s, err, errlen);
	return 0;
}

/* Runs a SELECT and grows *rows one element of size sz per result,
 * filled by fill. */
static int
select_rows(struct fg_store *s, sqlite3_stmt *q, void **rows, size_t *n,
    size_t sz, void (*fill)(sqlite3_stmt *, void *), char *err,
    size_t errlen)
{
	size_t cap = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			void *a = realloc(*rows, (cap ? cap * 2 : 16) * sz);

			if (a == NULL) {
				sqlite3_finalize(q);
				free(*rows);
				*rows = NULL;
				*n = 0;
				fg_seterr(err, errlen, "out of memory");
				return -1;
			}
			*rows = a;
			cap = cap ? cap * 2 : 16;
		}
		memset((char *)*rows + *n * sz, 0, sz);
		fill(q, (char *)*rows + *n * sz);
		(*n)++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		free(*rows);
		*rows = NULL;
		*n = 0;
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

static void
fill_susp(sqlite3_stmt *q, void *row)
{
	struct fg_suspension *r = row;

	text(q, 0, r->account, sizeof(r->account));
	text(q, 1, r->rule, sizeof(r->rule));
	r->since = (uint32_t)sqlite3_column_int64(q, 2);
	r->until = (uint32_t)sqlite3_column_int64(q, 3);
}

static void
fill_paus(sqlite3_stmt *q, void *row)
{
	struct fg_pause *r = row;

	text(q, 0, r->domain, sizeof(r->domain));
	text(q, 1, r->rule, sizeof(r->rule));
	r->since = (uint32_t)sqlite3_column_int64(q, 2);
	r->until = (uint32_t)sqlite3_column_int64(q, 3);
	r->duration = (uint32_t)sqlite3_column_int64(q, 4);
	r->trips = (uint32_t)sqlite3_column_int64(q, 5);
}

static int
prepare(struct fg_store *s, const char *sql, sqlite3_stmt **q, char *err,
    size_t errlen)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, q, NULL) != SQLITE_OK) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

int
fg_store_blocks_load(struct fg_store *s, struct fg_suspension **su,
    size_t *ns, struct fg_pause **pa, size_t *np, char *err, size_t errlen)
{
	sqlite3_stmt *q;

	*su = NULL;
	*pa = NULL;
	*ns = *np = 0;
	if (prepare(s, "SELECT account, rule, since, until FROM suspended "
	    "ORDER BY since",
	    &q, err, errlen) < 0 ||
	    select_rows(s, q, (void **)su, ns, sizeof(**su), fill_susp, err,
	    errlen) < 0)
		return -1;
	if (prepare(s, "SELECT domain, rule, since, until, duration, trips "
	    "FROM paused ORDER BY until", &q, err, errlen) < 0 ||
	    select_rows(s, q, (void **)pa, np, sizeof(**pa), fill_paus, err,
	    errlen) < 0) {
		free(*su);
		*su = NULL;
		*ns = 0;
		return -1;
	}
	return 0;
}

int
fg_store_incident_save(struct fg_store *s, struct fg_incident *i, char *err,
    size_t errlen)
{
	sqlite3_stmt *q = stmt(s, i->id == 0 ? FB_INC_ADD : FB_INC_SET);

	if (q == NULL)
		return fg_store_failed(s, err, errlen);
	if (i->id == 0) {
		sqlite3_bind_text(q, 1, i->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, i->subject, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, i->started);
		if (i->ended)
			sqlite3_bind_int64(q, 4, i->ended);
		sqlite3_bind_int64(q, 5, (sqlite3_int64)i->count);
		sqlite3_bind_text(q, 6, i->detail, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 7, i->notified);
		if (i->told >= 0)
			sqlite3_bind_int(q, 8, i->told);
	} else {
		sqlite3_bind_int64(q, 1, i->id);
		if (i->ended)
			sqlite3_bind_int64(q, 2, i->ended);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)i->count);
		sqlite3_bind_text(q, 4, i->detail, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 5, i->notified);
		if (i->told >= 0)
			sqlite3_bind_int(q, 6, i->told);
	}
	if (fg_store_step(q) < 0)
		return fg_store_failed(s, err, errlen);
	if (i->id == 0)
		i->id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* The columns fill_inc() reads, in its order. */
#define INC_SELECT	"SELECT id, kind, subject, started, ended, count, " \
	"detail, notified, told FROM incidents "
/* The incidents still owed (open, or not told of their end), newest
 * first: what a start takes up, and past how many it ends the rest. */
#define INC_OWED	"WHERE ended IS NULL OR notified < 2 " \
	"ORDER BY started DESC, id DESC "

int
fg_incident_told(const struct fg_incident *i)
{
	if (i->told >= 0)
		return i->told;
	return i->notified >= 2 ? FG_TOLD_START | FG_TOLD_END :
	    i->notified == 1 ? FG_TOLD_START : 0;
}

static void
fill_inc(sqlite3_stmt *q, void *row)
{
	struct fg_incident *r = row;

	r->id = sqlite3_column_int64(q, 0);
	text(q, 1, r->kind, sizeof(r->kind));
	text(q, 2, r->subject, sizeof(r->subject));
	r->started = (uint32_t)sqlite3_column_int64(q, 3);
	r->ended = (uint32_t)sqlite3_column_int64(q, 4);
	r->count = (uint64_t)sqlite3_column_int64(q, 5);
	text(q, 6, r->detail, sizeof(r->detail));
	r->notified = sqlite3_column_int(q, 7);
	r->told = sqlite3_column_type(q, 8) == SQLITE_NULL ? -1 :
	    sqlite3_column_int(q, 8);
}

int
fg_store_incidents(struct fg_store *s, int open, uint32_t since, int limit,
    struct fg_incident **out, size_t *nout, char *err, size_t errlen)
{
	sqlite3_stmt *q;

	static const char *const sql[] = {
		/* recent: open, or started or ended since */
		INC_SELECT "WHERE ended IS NULL OR ended >= ?1 OR started >= ?1 "
		"ORDER BY started DESC, id DESC LIMIT ?2",
		/* open */
		INC_SELECT "WHERE ended IS NULL ORDER BY started, id LIMIT ?2",
		/* open, or not told to its end yet */
		INC_SELECT INC_OWED "LIMIT ?2",
	};

	if (open < 0 || open > 2 || prepare(s, sql[open], &q, err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, since);
	sqlite3_bind_int(q, 2, limit);
	return select_rows(s, q, (void **)out, nout, sizeof(**out), fill_inc,
	    err, errlen);
}

/* The open incidents older than one listed (started, id), newest first:
 * what a listing cut at its limit must still show. */
int
fg_store_incidents_open_before(struct fg_store *s, uint32_t started,
    int64_t id, int limit, struct fg_incident **out, size_t *nout, char *err,
    size_t errlen)
{
	sqlite3_stmt *q;

	if (prepare(s, INC_SELECT "WHERE ended IS NULL AND "
	    "(started < ?1 OR (started = ?1 AND id < ?2)) "
	    "ORDER BY started DESC, id DESC LIMIT ?3", &q, err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, started);
	sqlite3_bind_int64(q, 2, id);
	sqlite3_bind_int(q, 3, limit);
	return select_rows(s, q, (void **)out, nout, sizeof(**out), fill_inc,
	    err, errlen);
}

int
fg_store_pending_save(struct fg_store *s, const char *store,
    const struct fg_pending *p, size_t n, char *err, size_t errlen)
{
	sqlite3_stmt *q = stmt(s, FB_PEND_PUT);
	char kind[2] = { 0, 0 };
	size_t i;

	if (n == 0)
		return 0;
	if (q == NULL || fg_store_begin(s) < 0)
		return fg_store_failed(s, err, errlen);
	for (i = 0; i < n; i++) {
		kind[0] = p[i].kind;
		sqlite3_bind_text(q, 1, store, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 3, p[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, p[i].a);
		sqlite3_bind_int64(q, 5, p[i].b);
		sqlite3_bind_int64(q, 6, p[i].n > INT64_MAX ? INT64_MAX :
		    (sqlite3_int64)p[i].n);
		if (fg_store_step(q) < 0)
			return fg_store_failed(s, err, errlen);
	}
	if (fg_store_commit(s) < 0)
		return fg_store_failed(s, err, errlen);
	return 0;
}

int
fg_store_pending_take(struct fg_store *s, const char *store,
    void (*fn)(void *arg, const struct fg_pending *p), void *arg, char *err,
    size_t errlen)
{
	sqlite3_stmt *q = NULL, *d = NULL;
	size_t n = 0;
	int rc;

	if (fg_store_begin(s) < 0)
		return fg_store_failed(s, err, errlen);
	if (prepare(s, "SELECT kind, name, a, b, n FROM pending WHERE store = ?1",
	    &q, err, errlen) < 0 ||
	    prepare(s, "DELETE FROM pending WHERE store = ?1", &d, err,
	    errlen) < 0) {
		sqlite3_finalize(q);
		(void)fg_store_failed(s, NULL, 0);
		return -1;
	}
	sqlite3_bind_text(q, 1, store, -1, SQLITE_STATIC);
	sqlite3_bind_text(d, 1, store, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(q, 0);
		const char *name = (const char *)sqlite3_column_text(q, 1);
		sqlite3_int64 a = sqlite3_column_int64(q, 2);
		sqlite3_int64 b = sqlite3_column_int64(q, 3);
		sqlite3_int64 v = sqlite3_column_int64(q, 4);
		struct fg_pending p;

		/* A row this version cannot read is dropped with the rest. */
		if (k == NULL || name == NULL || a < 0 || a > UINT32_MAX ||
		    b < 0 || b > UINT32_MAX || v <= 0)
			continue;
		p.kind = k[0];
		p.name = name;
		p.a = (uint32_t)a;
		p.b = (uint32_t)b;
		p.n = (uint64_t)v;
		fn(arg, &p);
		n++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE || sqlite3_step(d) != SQLITE_DONE) {
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
		sqlite3_finalize(d);
		(void)fg_store_failed(s, NULL, 0);
		return -1;
	}
	sqlite3_finalize(d);
	if (fg_store_commit(s) < 0)
		return fg_store_failed(s, err, errlen);
	return (int)(n > INT32_MAX ? INT32_MAX : n);
}

/* The end of a statement stepped to rc: finalized; -1 with err unless
 * it ran to the end. */
static int
finished(struct fg_store *s, sqlite3_stmt *q, int rc, char *err,
    size_t errlen)
{
	if (rc != SQLITE_DONE)
		fg_seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Past the newest keep of the incidents still owed (open, or not told
 * to their end), the rest are ended now and told to nobody, their
 * detail saying why; a row from before told was kept gets the told
 * it was shown with (its start, when passed). How many, or -1. */
int
fg_store_incidents_untrack(struct fg_store *s, int keep, uint32_t now,
    const char *why, char *err, size_t errlen)
{
	sqlite3_stmt *q;

	if (prepare(s, "UPDATE incidents SET ended = COALESCE(ended, ?1), "
	    "told = COALESCE(told, CASE WHEN notified >= 1 THEN 1 ELSE 0 END), "
	    "notified = 2, detail = COALESCE(detail, '') || ?3 "
	    "WHERE id IN (SELECT id FROM incidents " INC_OWED
	    "LIMIT -1 OFFSET ?2)",
	    &q, err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, now);
	sqlite3_bind_int(q, 2, keep);
	sqlite3_bind_text(q, 3, why, -1, SQLITE_STATIC);
	if (finished(s, q, sqlite3_step(q), err, errlen) < 0)
		return -1;
	return sqlite3_changes(s->db);
}

int
fg_store_pending_others(struct fg_store *s, const char *store,
    uint32_t now, void (*fn)(void *arg, const char *other, long long rows,
    long long until), void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	long long passed = 0;
	int rc;

	if (prepare(s, "SELECT store, sum(a + b > ?2), max(a + b), "
	    "sum(a + b <= ?2) FROM pending WHERE kind = 'c' AND "
	    "(?1 IS NULL OR store <> ?1) GROUP BY store ORDER BY store", &q,
	    err, errlen) < 0)
		return -1;
	if (store != NULL)
		sqlite3_bind_text(q, 1, store, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *other = (const char *)sqlite3_column_text(q, 0);
		long long live = sqlite3_column_int64(q, 1);

		passed += sqlite3_column_int64(q, 3);
		if (other != NULL && live > 0)
			fn(arg, other, live, sqlite3_column_int64(q, 2));
	}
	if (finished(s, q, rc, err, errlen) < 0)
		return -1;
	/* Only with something to drop: a read-only database is no error
	 * here. */
	if (passed == 0)
		return 0;
	if (prepare(s, "DELETE FROM pending WHERE kind = 'c' AND a + b <= ?2 "
	    "AND (?1 IS NULL OR store <> ?1)", &q, err, errlen) < 0)
		return -1;
	if (store != NULL)
		sqlite3_bind_text(q, 1, store, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	return finished(s, q, sqlite3_step(q), err, errlen);
}
