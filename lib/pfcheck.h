/*
 * What Postfix's own configuration says that lets mail past floodgate,
 * for floodgate -n: read from postconf's answers, never from the files
 * themselves (postconf knows Postfix's defaults and master.cf's -o).
 */
#ifndef FG_PFCHECK_H
#define FG_PFCHECK_H

#include <stddef.h>

#define FG_PF_TEXT	512	/* one finding's text */

/* Postfix's settings that decide whether floodgate sees the mail: the
 * values of `postconf -h milter_default_action non_smtpd_milters
 * smtpd_milters`, and `postconf -P` (master.cf's per-service settings,
 * "service/type/name = value" a line). */
struct fg_pf_conf {
	const char *default_action;
	const char *non_smtpd_milters;
	const char *smtpd_milters;
	const char *master;
};

/* Up to max findings into out, each one line for people; returns how
 * many there were (max at most). */
size_t fg_pf_check(const struct fg_pf_conf *pf, char out[][FG_PF_TEXT],
    size_t max);

#endif
