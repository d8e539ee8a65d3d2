/*
 * The yardstick for `make bench`: a trivial milter that accepts
 * everything but, like a naive milter, takes every callback (no
 * negotiation), so the MTA sends it every protocol step and macro.
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static sfsistat
cont_connect(SMFICTX *c, char *h, _SOCK_ADDR *a)
{
	(void)c; (void)h; (void)a;
	return SMFIS_CONTINUE;
}

static sfsistat
cont_args(SMFICTX *c, char **argv)
{
	(void)c; (void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
cont_helo(SMFICTX *c, char *h)
{
	(void)c; (void)h;
	return SMFIS_CONTINUE;
}

static sfsistat
cont_header(SMFICTX *c, char *f, char *v)
{
	(void)c; (void)f; (void)v;
	return SMFIS_CONTINUE;
}

static sfsistat
cont_body(SMFICTX *c, unsigned char *b, size_t n)
{
	(void)c; (void)b; (void)n;
	return SMFIS_CONTINUE;
}

static sfsistat
cont(SMFICTX *c)
{
	(void)c;
	return SMFIS_CONTINUE;
}

static sfsistat
cont_unknown(SMFICTX *c, const char *cmd)
{
	(void)c; (void)cmd;
	return SMFIS_CONTINUE;
}

int
main(int argc, char **argv)
{
	struct smfiDesc d = {
		.xxfi_name = "nullmilter",
		.xxfi_version = SMFI_VERSION,
		.xxfi_connect = cont_connect,
		.xxfi_helo = cont_helo,
		.xxfi_envfrom = cont_args,
		.xxfi_envrcpt = cont_args,
		.xxfi_header = cont_header,
		.xxfi_eoh = cont,
		.xxfi_body = cont_body,
		.xxfi_eom = cont,
		.xxfi_abort = cont,
		.xxfi_close = cont,
		.xxfi_unknown = cont_unknown,
		.xxfi_data = cont,
	};

	if (argc != 2) {
		fprintf(stderr, "usage: nullmilter unix:/path/to.sock\n");
		return 2;
	}
	umask(007);
	if (smfi_register(d) == MI_FAILURE || smfi_setconn(argv[1]) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE)
		return 1;
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
