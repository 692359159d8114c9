/* The replay half of each fuzz target: built without libFuzzer, a target's binary runs every
 * file of the corpora it is given through LLVMFuzzerTestOneInput, so every seed and every
 * crash ever found stays a regression test. Exits non-zero when a directory cannot be read
 * or holds nothing. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every file in the directories given, through the target. */
static int replay_dir(const char *dir, size_t *n)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		perror(dir);
		return 1;
	}
	while ((de = readdir(d))) {
		char path[4096];
		uint8_t *data;
		FILE *f;
		long len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "rb");
		if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
			perror(path);
			return 1;
		}
		data = malloc((size_t)len + 1);
		if (!data || fread(data, 1, (size_t)len, f) != (size_t)len) {
			perror(path);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(data, (size_t)len);
		free(data);
		(*n)++;
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = 0;
	int r = 0;

	for (int i = 1; i < argc; i++)
		r |= replay_dir(argv[i], &n);
	printf("%zu inputs replayed\n", n);
	return r || !n;
}
