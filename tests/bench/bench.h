/* What bench-decision and bench-control share: a monotonic clock in seconds, and giving up
 * with one line on stderr. Define BENCH (the program's name) before including it. */
#ifndef STEER_BENCH_H
#define STEER_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* What failed, with errno's message. */
static inline void die(const char *what)
{
	fprintf(stderr, BENCH ": %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A shell command that must succeed. */
static inline void sh(const char *cmd)
{
	if (system(cmd))
		fprintf(stderr, BENCH ": failed: %s\n", cmd), exit(1);
}

#endif
