/* Fuzz target: the account map parser, and resolving accounts through it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "account.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char map[] = "/tmp/fg-fuzz-map-XXXXXX", conf[] = "/tmp/fg-fuzz-conf-XXXXXX";
	char line[128], *err;
	struct fg_config *c;
	struct fg_account a;
	int fd = mkstemp(map), fd2 = mkstemp(conf), n;

	if (fd < 0 || fd2 < 0)
		goto out;
	if (write(fd, data, size) != (ssize_t)size)
		goto out;
	n = snprintf(line, sizeof(line), "account_map %s\n", map);
	if (write(fd2, line, (size_t)n) != n)
		goto out;
	if ((err = malloc(FG_CONFIG_ERRLEN)) == NULL)
		goto out;
	if ((c = fg_config_load(conf, err, FG_CONFIG_ERRLEN)) != NULL) {
		fg_account_resolve(c, "Alice", NULL, "<Bob+x@Shop.Example.JP.>", "192.0.2.1", &a);
		fg_account_resolve(c, NULL, "alice", "<>", "192.0.2.1", &a);
		fg_account_named(c, "tenant42", &a);
		fg_account_named(c, "carol@example.com", &a);
		fg_config_unref(c);
	}
	free(err);
out:
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	unlink(map);
	unlink(conf);
	return 0;
}
