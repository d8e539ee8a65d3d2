/*
 * fgscale: floodgate's state at scale, through the engine itself. Tracks
 * N (rule, key) entries, then reports resident memory per entry, the
 * time to write them all to SQLite, the time of one flush of 10,000
 * dirty entries, and the time to load them all at start.
 *
 *   fgscale [-n ENTRIES] [-d DATABASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "limiter.h"
#include "store.h"
#include "table.h"
#include "util.h"
#include "clock.h"

static void
charge(struct fg_limiter *l, size_t from, size_t to, uint32_t now)
{
	struct fg_resv r = { 0 };
	char key[64];
	size_t i;

	for (i = from; i < to; i++) {
		struct fg_check c = { .rule = "tenant-hour", .key = key,
		    .limit = 1000, .period = 3600, .cost = 1, .hard = true };

		snprintf(key, sizeof(key), "user%zu@tenant%zu.example", i, i % 5000);
		fg_limiter_reserve(l, &c, 1, now, &r);
		fg_limiter_commit(l, &r, now);
	}
	fg_resv_free(&r);
}

int
main(int argc, char **argv)
{
	size_t n = 1000000, nc, loaded;
	const char *db = "/tmp/fgscale.db";
	char err[FG_ERRLEN], path[300];
	struct fg_table *t;
	struct fg_limiter *l;
	struct fg_store *s;
	struct fg_entry_copy *c;
	uint32_t now = (uint32_t)time(NULL);
	long rss0, rss1;
	double t0, insert_s, full_s, flush_s, load_s;
	int ch;

	/* The keys of one flush are consecutive here; in floodgate they are
	 * whatever tenants sent in that second: both are spread over the
	 * table by the (rule, key) primary key. */
	while ((ch = getopt(argc, argv, "n:d:")) != -1) {
		if (ch == 'n')
			n = (size_t)atol(optarg);
		else if (ch == 'd')
			db = optarg;
		else
			return 2;
	}
	unlink(db);
	snprintf(path, sizeof(path), "%s-wal", db);
	unlink(path);
	snprintf(path, sizeof(path), "%s-shm", db);
	unlink(path);

	t = fg_table_new();
	l = fg_limiter_new(t);
	rss0 = fg_rss_bytes();
	t0 = now_s();
	charge(l, 0, n, now);
	insert_s = now_s() - t0;
	rss1 = fg_rss_bytes();

	if ((s = fg_store_open(db, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fgscale: %s\n", err);
		return 1;
	}
	t0 = now_s();
	fg_table_drain(t, now, &c, &nc);
	if (fg_store_flush(s, c, nc, NULL, 0, NULL, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "fgscale: %s\n", err);
		return 1;
	}
	full_s = now_s() - t0;
	fg_table_free_copies(c, nc);

	/* Ordinary seconds: 10,000 entries changed since the last flush,
	 * spread over the table. The median of five such flushes. */
	{
		double f[5], tmp;
		int i, j;

		for (i = 0; i < 5; i++) {
			charge(l, (size_t)i * 97 % n, (size_t)i * 97 % n + 10000 > n ?
			    n : (size_t)i * 97 % n + 10000, now + 1 + (uint32_t)i);
			t0 = now_s();
			fg_table_drain(t, now + 1 + (uint32_t)i, &c, &nc);
			fg_store_flush(s, c, nc, NULL, 0, NULL, 0, err, sizeof(err));
			f[i] = now_s() - t0;
			fg_table_free_copies(c, nc);
		}
		for (i = 0; i < 5; i++)
			for (j = i + 1; j < 5; j++)
				if (f[j] < f[i]) {
					tmp = f[i];
					f[i] = f[j];
					f[j] = tmp;
				}
		flush_s = f[2];
	}
	fg_store_close(s);
	fg_limiter_free(l);
	fg_table_free(t);

	/* A restart: load everything back. */
	t = fg_table_new();
	t0 = now_s();
	s = fg_store_open(db, 0, err, sizeof(err));
	if (s == NULL || fg_store_load(s, t, now + 2, &loaded, err, sizeof(err)) < 0) {
		fprintf(stderr, "fgscale: %s\n", err);
		return 1;
	}
	load_s = now_s() - t0;
	fg_store_close(s);
	printf("entries=%zu bytes_per_entry=%.0f insert_s=%.3f full_write_s=%.3f flush_10k_s=%.4f load_entries=%zu load_s=%.3f\n",
	    n, (double)(rss1 - rss0) / (double)n, insert_s, full_s, flush_s,
	    loaded, load_s);
	fg_table_free(t);
	return 0;
}
