/* Fuzz target for netlink intake: bytes -> the same per-message handlers steerd uses ->
 * model -> compiler. Built with clang -fsanitize=fuzzer it is a libFuzzer target
 * (tests/fuzz/run.sh); built without, its main replays a corpus, so every seed and every
 * crash ever found stays a regression test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>

#include "compile.h"
#include "log.h"
#include "model.h"
#include "nl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Netlink headers are read in place: give them the alignment the kernel would. */
	uint32_t *buf = malloc(size + 4);
	struct nlmsghdr *h;
	struct model m;
	struct image img;
	int rem = (int)size;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	log_set_level(-1);
	model_init(&m);
	for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem))
		intake_message(&m, h);
	if (!compile_image(&m, &img))
		image_free(&img);
	model_free(&m);
	free(buf);
	return 0;
}

#ifndef STEER_LIBFUZZER
/* Replay: every file in the directories given (default: this test's corpus). */
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
#endif
