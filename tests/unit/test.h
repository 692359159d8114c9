/* A minimal TAP-style harness for the unit tests: every CHECK prints one line, and the
 * program exits non-zero if any failed. */
#ifndef STEER_TEST_H
#define STEER_TEST_H

#include <stdio.h>
#include <stdlib.h>

struct test_state {
	int n, failed;
};
static struct test_state test_state;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		int ok_ = !!(cond);                                         \
		test_state.n++;                                             \
		if (!ok_)                                                   \
			test_state.failed++;                                \
		printf("%sok %d - ", ok_ ? "" : "not ", test_state.n);      \
		printf(__VA_ARGS__);                                        \
		printf(ok_ ? "\n" : " [%s:%d: %s]\n", __FILE__, __LINE__, #cond); \
	} while (0)

static inline int test_done(void)
{
	printf("1..%d\n", test_state.n);
	if (test_state.failed)
		fprintf(stderr, "%d of %d checks failed\n", test_state.failed, test_state.n);
	return test_state.failed ? 1 : 0;
}

#endif
