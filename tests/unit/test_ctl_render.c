/* Unit tests of milter/ctl_render.c: floodgatectl's tables and JSON. */
#include "helpers.h"
#include "ctl.h"

/* What ctl_render printed on stdout for reply, and its return value. */
static char *
render(const char *reply, int json, int *rc)
{
	char path[] = "/tmp/fg-render-XXXXXX", *copy, *out;
	int fd = mkstemp(path), saved = dup(1);
	FILE *f;
	long len;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	copy = strdup(reply);
	assert_non_null(copy);
	fflush(stdout);
	assert_true(dup2(fd, 1) == 1);
	*rc = ctl_render("status", "daemon", copy, json);
	fflush(stdout);
	assert_true(dup2(saved, 1) == 1);
	close(saved);
	free(copy);
	f = fdopen(fd, "r");
	assert_non_null(f);
	len = lseek(fd, 0, SEEK_END);
	assert_true(len >= 0);
	rewind(f);
	out = calloc(1, (size_t)len + 1);
	assert_non_null(out);
	assert_int_equal(fread(out, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return out;
}

/* A record of 100 fields is shown whole: no field is dropped. */
static void
test_many_fields(void **state)
{
	char reply[4096] = "ok\n", *out;
	size_t len = strlen(reply);
	int i, rc;

	(void)state;
	for (i = 0; i < 100; i++)
		len += (size_t)snprintf(reply + len, sizeof(reply) - len, "%sk%d=v%d",
		    i ? "\t" : "", i, i);
	snprintf(reply + len, sizeof(reply) - len, "\n.\n");
	out = render(reply, 0, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "k0    v0\n"));
	assert_non_null(strstr(out, "k99   v99\n"));
	free(out);
	out = render(reply, 1, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "\"k0\": \"v0\", \"k1\": \"v1\""));
	assert_non_null(strstr(out, "\"k99\": \"v99\"}]}"));
	free(out);
}

/* Records of one type are one table; a value's control bytes are shown
 * as \xHH, not written to the terminal. */
static void
test_table(void **state)
{
	char *out;
	int rc;

	(void)state;
	out = render("ok\ntype=held\tqueue_id=4ABC\taccount=t\x1b[2J\n"
	    "type=held\tqueue_id=4ABCDEF\taccount=u\n.\n", 0, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "queue_id  account\n"
	    "4ABC      t\\x1b[2J\n"
	    "4ABCDEF   u\n");
	free(out);
	out = render("error no such rule \"x\"\n.\n", 0, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(out, "");
	free(out);
}

/* show's last refusals: where no window's count decided (a message
 * held, a paused domain's recipient, a suspended account's) used and
 * limit read "-", not "1 0" as if the limit were 0, and so does a whole
 * message's empty destination; JSON keeps the numbers. */
static void
test_refusals(void **state)
{
	static const char reply[] = "ok\n"
	    "type=refusal\ttime=0\trule=burst\tdest=\taction=held\tused=1\tlimit=0\tqid=4AB\n"
	    "type=refusal\ttime=0\trule=burst\tdest=example.com\taction=hold\tused=2\tlimit=2\tqid=4AB\n"
	    "type=refusal\ttime=0\trule=backoff\tdest=docomo.ne.jp\taction=paused\tused=0\tlimit=0\tqid=-\n"
	    "type=refusal\ttime=0\trule=hour\tdest=au.com\taction=defer\tused=0\tlimit=0\tqid=-\n"
	    ".\n";
	char *out;
	int rc;

	(void)state;
	out = render(reply, 0, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(out,
	    "time  rule     dest          action  used  limit  qid\n"
	    "-     burst    -             held    -     -      4AB\n"
	    "-     burst    example.com   hold    2     2      4AB\n"
	    "-     backoff  docomo.ne.jp  paused  -     -      -\n"
	    "-     hour     au.com        defer   0     0      -\n");
	free(out);
	out = render(reply, 1, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "\"dest\": \"\", \"action\": \"held\", \"used\": 1, \"limit\": 0,"));
	free(out);
}

static void
test_held_fields(void **state)
{
	char line[] = "type=held\tk2=a\tk3=b\tk4=c\taccount=t42\tqueue_id=4ABC\n";
	char bare[] = "type=held\taccount=t42\n";
	const char *qid, *acct;

	(void)state;
	ctl_held_fields(line, &qid, &acct);
	assert_string_equal(qid, "4ABC");
	assert_string_equal(acct, "t42");
	ctl_held_fields(bare, &qid, &acct);
	assert_null(qid);
	assert_string_equal(acct, "t42");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_fields),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_held_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
