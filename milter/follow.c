/*
 * The follower of the delivery log, on the service thread: a file that
 * the MTA's log reaches (syslog's mail.log, Postfix's maillog_file), or
 * the systemd journal. It starts at the end the first time, and from
 * where it was after a restart: the position (inode, offset, the file's
 * first bytes; the journal's cursor) is kept in the store. It follows
 * the file across rotation by rename (the old file is read to its end
 * first, and found again by inode after a restart) and by copytruncate
 * (a file shorter than the position, or with other first bytes, is
 * read from its start).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "follow.h"
#include "log.h"
#include "maillog.h"
#include "util.h"

/* Bytes that identify a file: its first ones, as hex in the store.
 * Enough for a whole first line: syslog's header alone (time, host,
 * program) is the same in a file truncated and written again within
 * the second. */
#define HEAD_BYTES	256
/* Read at most this much a tick; the rest waits for the next one. */
#define CHUNK		(1024 * 1024)
#define TICK_MAX	(8 * CHUNK)
#define JOURNAL_MAX	50000

struct fg_follow {
	char *source;			/* the path, or "journal[:DIR]" */
	struct fg_follow_pos pos;
	int saved;			/* pos is in the store */
	int fresh;			/* pos taken at the first start, not yet saved */
	/* a file */
	int fd;
	char *buf;
	size_t len;			/* a partial line at the end */
	int skip;			/* in a line longer than a chunk */
	/* the journal */
	sd_journal *j;
	uint64_t lines;
	int behind;			/* the last read stopped at its bound */
};

static void hexhead(int fd, char *out, size_t outlen);
static int open_file(struct fg_follow *f, int from_end);

static void
hexhead(int fd, char *out, size_t outlen)
{
	unsigned char b[HEAD_BYTES];
	ssize_t n = pread(fd, b, sizeof(b), 0), i;

	out[0] = '\0';
	for (i = 0; i < n && (size_t)(i * 2 + 3) <= outlen; i++)
		snprintf(out + i * 2, 3, "%02x", b[i]);
}

/* Whether the file's first bytes are those the position was taken at
 * (a file that grew past HEAD_BYTES since keeps its first ones). */
static int
same_head(int fd, const char *head)
{
	char now[HEAD_BYTES * 2 + 1];

	hexhead(fd, now, sizeof(now));
	return strncmp(now, head, strlen(head)) == 0 ||
	    strncmp(now, head, strlen(now)) == 0;
}

static int
open_file(struct fg_follow *f, int from_end)
{
	struct stat st;
	int fd = open(f->source, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	f->len = 0;
	f->skip = 0;
	f->pos.inode = (uint64_t)st.st_ino;
	f->pos.offset = from_end ? (uint64_t)st.st_size : 0;
	hexhead(fd, f->pos.head, sizeof(f->pos.head));
	return 0;
}

/*
 * The file was rotated by rename while floodgate was down: the one the
 * position names is found by its inode next to the path (mail.log.1),
 * opened, and read to its end before the new file is followed.
 */
static int
find_rotated(struct fg_follow *f)
{
	char dir[PATH_MAX], p[PATH_MAX];
	const char *slash = strrchr(f->source, '/');
	struct dirent *d;
	struct stat st;
	DIR *dp;
	int fd = -1;

	if (slash == NULL || (size_t)(slash - f->source) >= sizeof(dir))
		return -1;
	memcpy(dir, f->source, (size_t)(slash - f->source));
	dir[slash - f->source] = '\0';
	if (dir[0] == '\0')
		strcpy(dir, "/");
	if ((dp = opendir(dir)) == NULL)
		return -1;
	while ((d = readdir(dp)) != NULL) {
		if ((uint64_t)d->d_ino != f->pos.inode)
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, d->d_name) >=
		    sizeof(p))
			continue;	/* no such path: not the file */
		if ((fd = open(p, O_RDONLY | O_CLOEXEC)) >= 0 &&
		    fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    same_head(fd, f->pos.head) &&
		    (uint64_t)st.st_size >= f->pos.offset) {
			fg_log_notice("follow: %s was rotated while floodgate was down; reading the rest of %s first",
			    f->source, p);
			break;
		}
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	closedir(dp);
	if (fd < 0)
		return -1;
	f->fd = fd;
	return 0;
}

/* The journal a "journal" or "journal:DIR" source names, opened as
 * the follower reads it: 0, or sd-journal's negative errno. */
static int
journal_open(sd_journal **j, const char *source)
{
	const char *dir = source[7] == ':' ? source + 8 : NULL;

	return dir != NULL ? sd_journal_open_directory(j, dir, 0) :
	    sd_journal_open(j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
}

int
fg_follow_journal_usage(const char *source, uint64_t *bytes)
{
	sd_journal *j;
	int rc;

	*bytes = 0;
	if ((rc = journal_open(&j, source)) < 0)
		return rc;
	rc = sd_journal_get_usage(j, bytes);
	sd_journal_close(j);
	return rc < 0 ? rc : 0;
}

struct fg_follow *
fg_follow_open(const char *source, struct fg_store *store, char *err,
    size_t errlen)
{
	struct fg_follow *f = calloc(1, sizeof(*f));
	struct stat st;
	char *cursor;
	int rc;

	if (f == NULL || (f->source = fg_strdup(source)) == NULL) {
		free(f);
		fg_seterr(err, errlen, "out of memory");
		return NULL;
	}
	f->fd = -1;
	f->saved = fg_store_follow_get(store, source, &f->pos) == 1;
	if (strncmp(source, "journal", 7) == 0) {
		if ((rc = journal_open(&f->j, source)) < 0) {
			fg_seterr(err, errlen, "delivery_log %s: cannot open the journal: %s",
			    source, strerror(-rc));
			fg_follow_close(f);
			return NULL;
		}
		/* Postfix logs with facility mail. The descriptor sets up
		 * the inotify watch that sd_journal_process() reads: new
		 * journal files (rotation) are found by it. */
		(void)sd_journal_add_match(f->j, "SYSLOG_FACILITY=2", 0);
		(void)sd_journal_get_fd(f->j);
		if (f->saved && f->pos.cursor[0] != '\0' &&
		    sd_journal_seek_cursor(f->j, f->pos.cursor) >= 0) {
			/* On the entry read last, the next one is new. Where
			 * that entry is gone (vacuumed), or the position is a
			 * time (below), the seek is made again: the next step
			 * lands on the first entry after it. */
			if (sd_journal_next(f->j) <= 0 ||
			    sd_journal_test_cursor(f->j, f->pos.cursor) <= 0)
				(void)sd_journal_seek_cursor(f->j, f->pos.cursor);
			return f;
		}
		/* First start: from the end. Not from the tail itself: the
		 * library's first step from there lands on the last entry
		 * written meanwhile and skips those before it (systemd 252).
		 * From the last entry there is, or, when the journal holds
		 * none of the mail system's yet, from its head (each one
		 * that comes is new). The position is noted at once (a
		 * time, in the second case), so that a restart before the
		 * first line misses nothing logged in between. */
		(void)sd_journal_seek_tail(f->j);
		if (sd_journal_previous(f->j) > 0) {
			if (sd_journal_get_cursor(f->j, &cursor) >= 0) {
				fg_strlcpy(f->pos.cursor, cursor,
				    sizeof(f->pos.cursor));
				free(cursor);
				f->fresh = 1;
			}
		} else {
			(void)sd_journal_seek_head(f->j);
			snprintf(f->pos.cursor, sizeof(f->pos.cursor), "t=%llx",
			    (unsigned long long)time(NULL) * 1000000ULL);
			f->fresh = 1;
		}
		return f;
	}
	if ((f->buf = malloc(CHUNK + 1)) == NULL) {
		fg_seterr(err, errlen, "out of memory");
		fg_follow_close(f);
		return NULL;
	}
	if (f->saved && stat(source, &st) == 0 &&
	    (uint64_t)st.st_ino != f->pos.inode && find_rotated(f) == 0)
		return f;
	if (f->saved && stat(source, &st) == 0 &&
	    (uint64_t)st.st_ino == f->pos.inode) {
		if ((f->fd = open(source, O_RDONLY | O_CLOEXEC)) >= 0)
			return f;	/* read_file checks head and size */
	}
	/* First start (or the file is gone): from the end of what is
	 * there; a file that appears later is read from its start. */
	if (open_file(f, 1) < 0) {
		fg_log_warn("follow: %s: %s; waiting for it to appear",
		    source, strerror(errno));
		f->pos.inode = 0;
		f->pos.offset = 0;
	} else
		f->fresh = 1;
	return f;
}

void
fg_follow_close(struct fg_follow *f)
{
	if (f == NULL)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->j != NULL)
		sd_journal_close(f->j);
	free(f->buf);
	free(f->source);
	free(f);
}

/* Lines of the file from the position to its end, at most TICK_MAX. */
static size_t
read_file(struct fg_follow *f, fg_follow_fn fn, void *arg)
{
	struct stat st, now;
	size_t done = 0, n = 0;
	char last;

	if (f->fd < 0 && open_file(f, 0) < 0)
		return 0;
	if (fstat(f->fd, &st) < 0)
		return 0;
	/* copytruncate: shorter than where floodgate was, or another
	 * beginning: the file starts over. */
	if ((uint64_t)st.st_size < f->pos.offset ||
	    (f->pos.head[0] != '\0' && !same_head(f->fd, f->pos.head))) {
		fg_log_notice("follow: %s was truncated; reading it from its start",
		    f->source);
		f->pos.offset = 0;
		f->len = 0;
		f->skip = 0;
		f->pos.head[0] = '\0';	/* the new beginning, read below */
	}
	if (f->pos.head[0] == '\0' || strlen(f->pos.head) < HEAD_BYTES * 2)
		hexhead(f->fd, f->pos.head, sizeof(f->pos.head));
	/* A position inside a line: floodgate stopped while it dropped a
	 * line too long, whose rest is dropped now. */
	if (f->len == 0 && !f->skip && f->pos.offset > 0 &&
	    pread(f->fd, &last, 1, (off_t)(f->pos.offset - 1)) == 1 &&
	    last != '\n')
		f->skip = 1;
	while (done < TICK_MAX) {
		ssize_t r = pread(f->fd, f->buf + f->len, CHUNK - f->len,
		    (off_t)(f->pos.offset + f->len));
		char *p, *nl, *end;

		if (r <= 0)
			break;
		done += (size_t)r;
		end = f->buf + f->len + r;
		for (p = f->buf; (nl = memchr(p, '\n', (size_t)(end - p))) != NULL;
		    p = nl + 1) {
			if (f->skip) {
				f->skip = 0;	/* the end of a line too long */
				continue;
			}
			fn(NULL, p, (size_t)(nl - p), 0, -1, arg);
			n++;
		}
		f->pos.offset += (uint64_t)(p - f->buf);
		f->len = (size_t)(end - p);
		if (f->len == CHUNK) {
			/* A line longer than a chunk: not a log line, nor is
			 * its tail, which could be written to read as one
			 * (a hostile address or reply): dropped to its end. */
			f->pos.offset += f->len;
			f->len = 0;
			f->skip = 1;
		} else
			memmove(f->buf, p, f->len);
	}
	f->behind = done >= TICK_MAX;
	/* Rotation by rename: once the old file is read to its end, the
	 * path names the new one. */
	if (done < TICK_MAX && stat(f->source, &now) == 0 &&
	    (uint64_t)now.st_ino != (uint64_t)st.st_ino) {
		fg_log_notice("follow: %s was rotated; following the new file",
		    f->source);
		if (open_file(f, 0) == 0)
			n += read_file(f, fn, arg);
	}
	f->lines += n;
	return n;
}

/* The entry's _UID: the journal takes it from the kernel (the sender's
 * credentials on its socket), not from the message. */
static long
entry_uid(sd_journal *j)
{
	const void *d;
	size_t len;
	char buf[16];
	uint32_t v;

	if (sd_journal_get_data(j, "_UID", &d, &len) < 0 || len <= 5 ||
	    len - 5 >= sizeof(buf))
		return -1;
	memcpy(buf, (const char *)d + 5, len - 5);
	buf[len - 5] = '\0';
	return fg_parse_uint(buf, FG_UID_MAX, &v) < 0 ? -1 : (long)v;
}

static size_t
read_journal(struct fg_follow *f, fg_follow_fn fn, void *arg)
{
	size_t n = 0;
	char *cursor;

	(void)sd_journal_process(f->j);
	while (n < JOURNAL_MAX && sd_journal_next(f->j) > 0) {
		const void *m = NULL, *id = NULL;
		size_t ml = 0, il = 0;
		uint64_t usec = 0;
		char ident[64];

		if (sd_journal_get_data(f->j, "MESSAGE", &m, &ml) < 0 ||
		    sd_journal_get_data(f->j, "SYSLOG_IDENTIFIER", &id, &il) < 0 ||
		    ml < 8 || il < 18)
			continue;
		il -= 18;		/* "SYSLOG_IDENTIFIER=" */
		if (il >= sizeof(ident))
			continue;
		memcpy(ident, (const char *)id + 18, il);
		ident[il] = '\0';
		(void)sd_journal_get_realtime_usec(f->j, &usec);
		fn(ident, (const char *)m + 8, ml - 8,
		    (time_t)(usec / 1000000), entry_uid(f->j), arg);
		n++;
	}
	f->behind = n >= JOURNAL_MAX;
	if (n > 0 && sd_journal_get_cursor(f->j, &cursor) >= 0) {
		fg_strlcpy(f->pos.cursor, cursor, sizeof(f->pos.cursor));
		free(cursor);
	}
	f->lines += n;
	return n;
}

size_t
fg_follow_read(struct fg_follow *f, fg_follow_fn fn, void *arg)
{
	return f->j != NULL ? read_journal(f, fn, arg) : read_file(f, fn, arg);
}

int
fg_follow_save(struct fg_follow *f, struct fg_store *store, char *err,
    size_t errlen)
{
	if (fg_store_follow_put(store, f->source, &f->pos, err, errlen) < 0)
		return -1;
	f->fresh = 0;
	return 0;
}

int
fg_follow_fresh(const struct fg_follow *f)
{
	return f->fresh;
}

uint64_t
fg_follow_lines(const struct fg_follow *f)
{
	return f->lines;
}

int
fg_follow_behind(const struct fg_follow *f)
{
	return f->behind;
}

const char *
fg_follow_source(const struct fg_follow *f)
{
	return f->source;
}
