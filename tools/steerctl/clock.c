/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Time as the maps hold it: nanoseconds of a clock_gettime() clock, the way the program's
 * bpf_ktime_get_*_ns() count them; and how old steerd's heartbeat is by that count. */
#include "steerctl.h"

__u64 sc_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* steerd stamps its heartbeat with the coarse monotonic clock. That clock lags by up to a
 * tick, so an age just below 0 is 0. */
double sc_heartbeat_age(const struct steer_state *st)
{
	double age;

	if (!st->heartbeat_ns)
		return -1;
	age = (double)(__s64)(sc_clock_ns(CLOCK_MONOTONIC_COARSE) - st->heartbeat_ns) / 1e9;
	return age < 0 ? 0 : age;
}
