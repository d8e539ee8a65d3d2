/*
 * Replays fuzz inputs without libFuzzer: make check runs every file of
 * each target's seed corpus and every crash ever found (regression files)
 * through the target, built with the ordinary compiler and sanitizers.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
one(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (fp == NULL)
		return -1;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	if (n < 0 || (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	int i, count = 0;

	for (i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (d == NULL) {
			if (one(argv[i]) == 0)
				count++;
			continue;
		}
		while ((e = readdir(d)) != NULL) {
			char p[4096];
			struct stat st;

			snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
			    e->d_name[0] != '.' && one(p) == 0)
				count++;
		}
		closedir(d);
	}
	printf("replayed %d inputs\n", count);
	return 0;
}
