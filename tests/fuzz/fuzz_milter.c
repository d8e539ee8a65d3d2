/* Fuzz target: the milter protocol as an MTA (or anything that reaches
 * the socket) could send it: a byte stream cut into packets, each read
 * the way the engine reads it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "milterproto.h"
#include "sockowner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg_mp_macros m = { 0 };
	struct fg_mp_packet p;
	struct fg_mp_optneg o;
	const char *argv[2], *lists[FG_MP_NSTAGES] = { 0 };
	char out[2048], addr[64];
	size_t off = 0, len;
	long n;

	while (off < size && (n = fg_mp_frame(data + off, size - off, &p)) > 0) {
		off += (size_t)n;
		len = 0;
		switch (p.cmd) {
		case 'O':
			if (fg_mp_optneg_parse(&p, &o) == 0) {
				lists[FG_MS_ENVFROM] = "i {auth_authen}";
				if (fg_mp_optneg_reply(&o, lists, out, sizeof(out),
				    &len) < 0)
					abort();
			}
			break;
		case 'D':
			(void)fg_mp_macros_set(&m, &p);
			break;
		case 'C':
			if (fg_mp_connect_addr(&p, addr, sizeof(addr)) == 0 &&
			    strlen(addr) >= sizeof(addr))
				abort();
			break;
		case 'M':
		case 'R':
			if (fg_mp_args(&p, argv, 2) > 0) {
				const char *i = fg_mp_macro(&m, p.cmd, "i");
				const char *cp = fg_mp_macro(&m, p.cmd, "{client_port}");
				uid_t uid;

				/* account uid: whatever the MTA says the ends
				 * of the connection are. */
				if (cp != NULL)
					(void)fg_sockowner(
					    fg_mp_macro(&m, p.cmd, "{client_addr}"),
					    (unsigned)strtoul(cp, NULL, 10),
					    fg_mp_macro(&m, p.cmd, "{daemon_addr}"),
					    25, &uid);

				/* Every reply must fit a packet, any text. */
				if (fg_mp_put_reply(out, sizeof(out), &len, "451",
				    "4.7.1", i != NULL ? i : argv[0]) < 0)
					abort();
			}
			break;
		case 'A':
			fg_mp_macros_clear(&m, 'M');
			break;
		default:
			(void)fg_mp_macro(&m, p.cmd, "{client_addr}");
			break;
		}
	}
	fg_mp_macros_free(&m);
	return 0;
}
