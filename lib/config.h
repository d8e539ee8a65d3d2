/*
 * floodgate.conf: one statement per line (floodgate.conf(5)). A parsed
 * config is immutable and reference-counted: a reload builds a new one
 * and swaps it in while transactions in flight keep the one they started
 * with.
 */
#ifndef FG_CONFIG_H
#define FG_CONFIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "sizes.h"

#define FG_CONFIG_ERRLEN 8192

#ifndef FG_SYSCONFDIR
#define FG_SYSCONFDIR	"/etc"
#endif
#define FG_DEFAULT_CONFIG	FG_SYSCONFDIR "/floodgate/floodgate.conf"
#define FG_DEFAULT_LISTEN	"unix:/var/spool/postfix/floodgate/milter.sock"
#define FG_DEFAULT_CONTROL	"/run/floodgate/control.sock"
#define FG_DEFAULT_DATABASE	"/var/lib/floodgate/floodgate.db"
#define FG_DEFAULT_POSTFIX	"/etc/postfix"
#define FG_DEFAULT_MAX_KEYS	1000000
#define FG_DEFAULT_MAX_CONNECTIONS 2048
#define FG_DEFAULT_RETENTION	(5 * 86400)
#define FG_DEFAULT_NOTIFY_MAX	20
#define FG_DEFAULT_RELEASE_ALARM	600	/* seconds */
#define FG_DEFAULT_REDIS_TIMEOUT 50	/* milliseconds */
#define FG_DEFAULT_REDIS_TTL	600	/* seconds a reservation outlives a dead relay */
#define FG_DEFAULT_REDIS_PREFIX	"floodgate"
#define FG_DEFAULT_BACKOFF_MAX	(12 * 3600)
#define FG_DEFAULT_SENDMAIL	"/usr/sbin/sendmail"
#define FG_DEFAULT_SENDMAIL_CF	"/etc/mail/sendmail.cf"

enum fg_scope {
	FG_SCOPE_ACCOUNT,
	FG_SCOPE_DOMAIN,
	FG_SCOPE_ACCOUNT_DOMAIN,
	FG_SCOPE_CLIENT,
	FG_SCOPE_SERVER
};

/* In order of severity: the worst action of the rules over wins. */
enum fg_action {
	FG_ACT_LOG,
	FG_ACT_TAG,
	FG_ACT_HOLD,
	FG_ACT_DEFER,
	FG_ACT_SUSPEND,		/* defer, and suspend the account */
	FG_ACT_REJECT
};

/* What a limit counts: what it lets through, or delivery results. */
enum fg_count {
	FG_COUNT_RECIPIENTS,
	FG_COUNT_MESSAGES,
	FG_COUNT_UNKNOWN,	/* recipients bounced as nonexistent */
	FG_COUNT_BOUNCES	/* recipients bounced or expired */
};

/* Temporary failures a backoff counts (a mask). */
#define FG_FAIL_4XX	0x1
#define FG_FAIL_CONNECT	0x2

/* Events a notify target is told of (a mask). */
#define FG_EV_SUSPEND	0x01
#define FG_EV_BOUNCES	0x02
#define FG_EV_PAUSE	0x04
#define FG_EV_STORE	0x08
#define FG_EV_REFUSED	0x10
#define FG_EV_RELEASE	0x20
#define FG_EV_DEFAULT	(FG_EV_SUSPEND | FG_EV_BOUNCES | FG_EV_PAUSE | FG_EV_STORE | \
			 FG_EV_RELEASE)

/* Notify programs floodgate runs at a time (a mailto: target's
 * sendmail is one): an incident's targets past these are not told. */
#define FG_NOTIFY_PROGRAMS	16

enum fg_source {
	FG_SRC_SASL,
	FG_SRC_SENDER,
	FG_SRC_CLIENT,
	FG_SRC_UID
};

/* The words of the scopes, actions and account sources, for the parser,
 * the printer, the error hints and floodgatectl alike. A table ends with
 * a NULL name. */
struct fg_name {
	const char *name;
	int value;
};

extern const struct fg_name fg_scope_names[];
extern const struct fg_name fg_action_names[];
extern const struct fg_name fg_source_names[];
extern const struct fg_name fg_count_names[];
extern const struct fg_name fg_event_names[];

/* The value of a word, or -1. */
int fg_name_value(const struct fg_name *t, const char *word);
/* The word of a value, or "?". */
const char *fg_name_of(const struct fg_name *t, int value);
/* "a, b or c": every word of the table, for "expected ..." hints. */
void fg_names_list(const struct fg_name *t, char *buf, size_t len);

struct fg_dests {
	char **pat;		/* "example.jp" or "*.example.jp"; NULL: all */
	size_t n;
	char *text;		/* as written, for messages */
	/* For lookups (fg_dests_index): the exact domains sorted, then the
	 * wildcards' ".example.jp" sorted; NULL: scan pat. */
	const char **idx;
	size_t nexact;
};

struct fg_override {
	char *account;
	uint32_t limit, period;
	int line;
};

struct fg_rule {
	char *name;
	int line;
	int is_cap;
	enum fg_scope scope;
	struct fg_dests dests;
	uint32_t limit, period;	/* a cap has period 0 */
	enum fg_action action;
	int count_messages;
	enum fg_count count;
	uint32_t ratio;		/* feedback: percent of final results; 0: none */
	char *reply;
	struct fg_override *ov;
	size_t nov;
};

/* backoff NAME [to DESTS] after N/PERIOD [on 4xx|connect|any] for D [max M] */
struct fg_backoff {
	char *name;
	int line;
	struct fg_dests dests;
	uint32_t limit, period;
	unsigned on;		/* FG_FAIL_* */
	uint32_t duration, max;
};

/* notify mailto:ADDRESS|exec:PATH [on EVENT,...] */
struct fg_notify {
	char *target;		/* as written */
	int mailto;		/* else exec */
	char *what;		/* the address or the program */
	unsigned events;	/* FG_EV_* */
	int line;
};

struct fg_group {
	char *name;
	char **dom;
	size_t n;
	int line;
};

struct fg_cidr {
	int family;
	unsigned char addr[16];
	int bits;
};

struct fg_mapent {
	char *key;
	char *tenant;
	int line;
	int alias;	/* a UTF-8 domain's ASCII form, added by the loader */
};

struct fg_config {
	atomic_int refs;
	char *path;
	time_t loaded;
	unsigned mode;			/* the file's permission bits */
	unsigned map_mode;		/* the account map's */
	int names_line;			/* the first exempt account or
					 * override (0: none): it names
					 * accounts */
	int *lines;			/* per statement, in fg_statements'
					 * order: the line it is on (0: not
					 * given); see fg_config_line */
	char *listen, *control, *database, *user, *account_map;
	char *metrics;			/* as written; NULL: no listener */
	char *metrics_host;		/* what it was read into */
	char *postfix_config;		/* for floodgatectl release */
	uint32_t max_keys;		/* 0: no cap */
	uint32_t max_connections;	/* MTA connections served at once */
	int mta_sendmail;		/* mta sendmail: release the Sendmail way */
	char *sendmail_path, *sendmail_config;
	unsigned metrics_port;
	enum fg_source source[4];
	size_t nsource;
	int monitor;			/* mode: 0 enforce, 1 monitor */
	int store_tempfail;		/* on_store_error: 0 continue, 1 tempfail */
	int local_tempfail;		/* local mail over a limit: 0 hold, 1 tempfail */
	int charge_at_end;		/* 0: SMTP mail is charged at DATA when it can be */
	int engine_libmilter;		/* engine: 0 native, 1 libmilter */
	struct fg_group *group;
	size_t ngroup;
	struct fg_rule *rule;
	size_t nrule;
	char **ex_account;
	int *ex_account_line;		/* each one's line */
	size_t nex_account;
	struct fg_cidr *ex_client;
	size_t nex_client;
	struct fg_dests ex_domain;
	struct fg_mapent *map;
	size_t nmap;
	/* Delivery feedback. */
	char *delivery_log;		/* a file, "journal", or NULL */
	char *log_users;		/* delivery_log_users, names joined by
					 * spaces; NULL: root and postfix */
	uint32_t delivery_retention;	/* seconds a queue ID is kept */
	char *postfix_map;		/* unix:PATH of the socketmap server */
	char *sendmail_map;		/* the same, answering Sendmail */
	struct fg_backoff *backoff;
	size_t nbackoff;
	struct fg_notify *notify;
	size_t nnotify;
	char *notify_from;
	uint32_t notify_max;		/* messages an hour */
	uint32_t release_alarm;		/* seconds held mail may wait for a
					 * release run unsaid; 0: off */
	/* Shared state: store redis://... (NULL: this server alone). */
	char *store;			/* as written, for -n and status */
	char *redis_host;		/* NULL with redis+unix */
	unsigned redis_port;
	char *redis_path;		/* the unix socket, or NULL */
	unsigned redis_db;
	char *redis_user;		/* the ACL user, or NULL (default) */
	char *redis_password_file;
	uint32_t redis_timeout;		/* milliseconds */
	uint32_t relays;		/* a fallback limit is limit / relays */
	uint32_t redis_ttl;		/* seconds */
	char *redis_prefix;		/* the keys' hash tag */
};

#define FG_RUSER_MAX	128	/* bytes of a redis_user name */
#define FG_LOG_USERS_MAX 16	/* names in delivery_log_users */

struct fg_config *fg_config_load(const char *path, char *err, size_t errlen);
/* The same, reading only the n statements named (every other line is
 * skipped, unknown words too; an error of the lexer on any line still
 * counts), the rest left at their defaults: for floodgatectl, which
 * must reach the daemon while the file has errors elsewhere. */
struct fg_config *fg_config_load_only(const char *path,
    const char *const *only, size_t n, char *err, size_t errlen);
/* The line of c's file statement name is on; 0 if not given. */
int fg_config_line(const struct fg_config *c, const char *name);
/*
 * The configuration of Sendmail's submission program (the MSP) that
 * mailto notifications go through with mta sendmail: NULL for the
 * default sendmail_config, where the sendmail command takes its own
 * (/etc/mail/submit.cf) and keeps its set-group-ID smmsp, which any -C
 * gives up; else submit.cf beside sendmail_config, in buf.
 */
const char *fg_submit_cf(const struct fg_config *c, char *buf, size_t len);
struct fg_config *fg_config_ref(struct fg_config *c);
void fg_config_unref(struct fg_config *c);
void fg_config_print(const struct fg_config *c, FILE *fp);
const char *fg_scope_name(enum fg_scope s);
const char *fg_action_name(enum fg_action a);
/* Whether a limit counts delivery results (unknown, bounces). */
int fg_rule_feedback(const struct fg_rule *r);
const struct fg_rule *fg_config_rule(const struct fg_config *c, const char *name);
/* The group of that name (without its @), or NULL. */
struct fg_group *fg_config_group(const struct fg_config *c, const char *name);
/* The statements that a reload does not apply and that differ between
 * two configurations, "listen, user"; "" when none. */
void fg_config_restart_changes(const struct fg_config *old,
    const struct fg_config *new, char *buf, size_t len);
/* A reloaded configuration c takes the running one's values of the
 * statements a reload does not apply (and what metrics and the store's
 * URL were read into), so that what reads the configuration sees what
 * is in effect until the next restart. 0, or -1 when out of memory (c
 * then half done: dropped). */
int fg_config_keep_start(struct fg_config *c,
    const struct fg_config *running);
/* What the configuration asks for that cannot happen as written (a
 * feedback limit or a backoff without delivery_log, a backoff without a
 * map, relays without Redis), and a file every local user may read
 * that names accounts: each warning one line, given to say with the
 * line of the statement it is about (0: none). */
void fg_config_warnings(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg);

#endif
