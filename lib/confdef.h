/*
 * The table of floodgate.conf's statements, shared by the parser
 * (config.c) and the printer (confprint.c): adding a statement is one
 * row here and, for a statement of its own shape, one handler. Not for
 * use outside lib/.
 */
#ifndef FG_CONFDEF_H
#define FG_CONFDEF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "lex.h"

enum fg_stkind {
	FG_SK_PATH,		/* one value, a char * */
	FG_SK_ABSPATH,		/* one absolute path, a char * */
	FG_SK_CHOICE,		/* one of words[], an int: its index */
	FG_SK_UINT,		/* a number from min to max, a uint32_t */
	FG_SK_DURATION,		/* 30s, 10m, 1h, 1d, 2w: seconds, a uint32_t */
	FG_SK_CUSTOM		/* its own handler and printer */
};

#define FG_SF_REPEAT	0x1	/* may be given more than once */
#define FG_SF_RESTART	0x2	/* a reload does not apply it */
#define FG_SF_LIST	0x4	/* takes several values (every other, but
				   the repeated ones, takes one) */

struct fg_parser;

struct fg_statement {
	const char *name;
	enum fg_stkind kind;
	unsigned flags;
	size_t off;			/* the field, for every kind but CUSTOM */
	const char *const *words;	/* CHOICE */
	uint32_t min, max;		/* UINT */
	const char *hint;		/* what a value is, for errors */
	const char *unset;		/* printed for a NULL path */
	void (*parse)(struct fg_parser *p, struct fg_tok *t, int nt);
	void (*print)(const struct fg_config *c, FILE *fp);
};

/* Sorted by name. */
extern const struct fg_statement fg_statements[];
extern const size_t fg_nstatements;

/* Printers of the statements with a shape of their own (confprint.c). */
void fg_print_listen(const struct fg_config *c, FILE *fp);
void fg_print_account(const struct fg_config *c, FILE *fp);
void fg_print_account_map(const struct fg_config *c, FILE *fp);
void fg_print_max_keys(const struct fg_config *c, FILE *fp);
void fg_print_metrics(const struct fg_config *c, FILE *fp);
void fg_print_delivery_log(const struct fg_config *c, FILE *fp);
void fg_print_log_users(const struct fg_config *c, FILE *fp);
void fg_print_postfix_map(const struct fg_config *c, FILE *fp);
void fg_print_sendmail_map(const struct fg_config *c, FILE *fp);
void fg_print_notify_from(const struct fg_config *c, FILE *fp);
void fg_print_store(const struct fg_config *c, FILE *fp);
void fg_print_redis_timeout(const struct fg_config *c, FILE *fp);
void fg_print_release_alarm(const struct fg_config *c, FILE *fp);
void fg_print_redis_prefix(const struct fg_config *c, FILE *fp);
void fg_print_redis_user(const struct fg_config *c, FILE *fp);

#endif
