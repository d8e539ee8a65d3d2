/*
 * What the MTA's own configuration says that lets mail past floodgate,
 * or has it decide a message twice, for floodgate -n and each start:
 * Postfix's (pfcheck.c) read from postconf's answers, never from the
 * files themselves (postconf knows Postfix's defaults and master.cf's
 * -o); Sendmail's (smcheck.c) from sendmail.cf, the file Sendmail
 * itself reads.
 */
#ifndef FG_PFCHECK_H
#define FG_PFCHECK_H

#include <stddef.h>

#define FG_PF_TEXT	512	/* one finding's text */

/* Postfix's settings that decide whether floodgate sees the mail: the
 * values of `postconf -x -h milter_default_action non_smtpd_milters
 * smtpd_milters queue_directory smtpd_milter_maps
 * receive_override_options smtpd_sasl_auth_enable inet_interfaces
 * content_filter cleanup_service_name forward_path mydestination
 * local_transport`,
 * `postconf -x -P` (master.cf's per-service settings,
 * "service/type/name = value" a line) and `postconf -x -M` (master.cf's
 * services, "name type private unpriv chroot wakeup maxproc command
 * [args]" a line); listen is floodgate's own socket as its
 * configuration writes it. A NULL is a value not asked: nothing is said
 * of it (with listen NULL, only an empty non_smtpd_milters is said of
 * the milter lists; with services NULL, master.cf's services are not
 * judged one by one). uid_accounts: floodgate's account statement
 * names uid, so tenants run their own code here as their own users. */
struct fg_pf_conf {
	const char *default_action;
	const char *non_smtpd_milters;
	const char *smtpd_milters;
	const char *master;
	const char *queue_directory;
	const char *smtpd_milter_maps;
	const char *listen;
	const char *receive_override_options;
	const char *services;
	const char *smtpd_sasl_auth_enable;
	const char *inet_interfaces;
	const char *content_filter;
	const char *cleanup_service_name;
	const char *forward_path;
	const char *mydestination;
	const char *local_transport;
	int uid_accounts;
};

/* Up to max findings into out, each one line for people; returns how
 * many there were (max at most). */
size_t fg_pf_check(const struct fg_pf_conf *pf, char out[][FG_PF_TEXT],
    size_t max);

/* Sendmail's: cf is sendmail.cf's text, listen floodgate's own socket
 * as its configuration writes it, uid_accounts as above. */
size_t fg_sm_check(const char *cf, const char *listen, int uid_accounts,
    char out[][FG_PF_TEXT], size_t max);

#endif
