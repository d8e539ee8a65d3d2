/* Fuzz target: the config parser, on whole files: the resolved
 * configuration printed and its warnings made. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
drop(void *arg, int line, const char *msg)
{
	(void)arg;
	(void)line;
	(void)msg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fg-fuzz-config-XXXXXX", *err;
	struct fg_config *c;
	int fd = mkstemp(path);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	if ((err = malloc(FG_CONFIG_ERRLEN)) != NULL) {
		if ((c = fg_config_load(path, err, FG_CONFIG_ERRLEN)) != NULL) {
			FILE *fp = fopen("/dev/null", "w");

			if (fp != NULL) {
				fg_config_print(c, fp);
				fclose(fp);
			}
			fg_config_warnings(c, drop, NULL);
			fg_config_unref(c);
		}
		free(err);
	}
	unlink(path);
	return 0;
}
