/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl stats`: every datapath counter by name, summed over all possible CPUs or split
 * (--per-cpu); with -i, the rates of the counters that moved, every interval until SIGINT;
 * with --prometheus, the same numbers written as a node_exporter textfile instead. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "steerctl.h"

static double monotonic_s(void)
{
	return (double)sc_clock_ns(CLOCK_MONOTONIC) / 1e9;
}

/* Widest counter name, for the first column. */
static int name_width(void)
{
	char buf[32];
	int w = (int)strlen("COUNTER"), l;
	__u32 i;

	for (i = 0; i < STEER_STAT_MAX; i++) {
		l = (int)strlen(sc_stat_name(i, buf, sizeof(buf)));
		w = l > w ? l : w;
	}
	return w;
}

static int digits(__u64 v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Whether CPU k's counters moved between a and b (a NULL: since they were created). Text
 * output leaves the others out: a machine may have hundreds of possible CPUs online never. */
static bool cpu_moved(const struct sc_counters *a, const struct sc_counters *b, int k)
{
	__u32 i;

	for (i = 0; i < STEER_STAT_MAX; i++)
		if (b->percpu[(size_t)i * b->ncpus + k] >
		    (a ? a->percpu[(size_t)i * a->ncpus + k] : 0))
			return true;
	return false;
}

/* The XDP stage's counters (x, NULL without one), after TC's: each prefixed "xdp_", then
 * what both stages forwarded. A packet XDP passed on is counted by TC too, so only the
 * forwards and drops add up. */
static void print_xdp_counts(struct steerctl *c, const struct sc_counters *s,
			     const struct sc_counters *x)
{
	int width = name_width() + 4;
	char buf[32], name[48];
	__u64 total = s->sum[STEER_STAT_FORWARDED] + x->sum[STEER_STAT_FORWARDED];

	for (__u32 i = 0; i < STEER_STAT_MAX; i++) {
		snprintf(name, sizeof(name), "xdp_%s", sc_stat_name(i, buf, sizeof(buf)));
		if (c->json)
			json_u64(&c->jw, name, x->sum[i]);
		else
			fprintf(c->out, "%-*s %llu\n", width, name, (unsigned long long)x->sum[i]);
	}
	if (c->json)
		json_u64(&c->jw, "total_forwarded", total);
	else
		fprintf(c->out, "%-*s %llu\n", width, "total_forwarded", (unsigned long long)total);
}

static void print_counts(struct steerctl *c, const struct sc_counters *s, const struct sc_counters *x)
{
	int width = name_width(), vw = (int)strlen("TOTAL"), k;
	struct json *j = &c->jw;
	char buf[32], col[16];
	__u32 i;

	if (c->json) {
		json_obj_open(j, NULL);
		for (i = 0; i < STEER_STAT_MAX; i++)
			json_u64(j, sc_stat_name(i, buf, sizeof(buf)), s->sum[i]);
		if (c->per_cpu) {
			json_arr_open(j, "per_cpu");
			for (k = 0; k < s->ncpus; k++) {
				json_obj_open(j, NULL);
				json_u64(j, "cpu", (__u64)k);
				for (i = 0; i < STEER_STAT_MAX; i++)
					json_u64(j, sc_stat_name(i, buf, sizeof(buf)),
						 s->percpu[(size_t)i * s->ncpus + k]);
				json_obj_close(j);
			}
			json_arr_close(j);
		}
		if (x)
			print_xdp_counts(c, s, x);
		json_obj_close(j);
		return;
	}
	if (!c->per_cpu) {
		for (i = 0; i < STEER_STAT_MAX; i++)
			fprintf(c->out, "%-*s %llu\n", width, sc_stat_name(i, buf, sizeof(buf)),
				(unsigned long long)s->sum[i]);
		if (x)
			print_xdp_counts(c, s, x);
		return;
	}
	/* One column per CPU, as wide as the largest total (no CPU's value is larger). */
	for (i = 0; i < STEER_STAT_MAX; i++)
		vw = digits(s->sum[i]) > vw ? digits(s->sum[i]) : vw;
	fprintf(c->out, "%-*s %*s", width, "COUNTER", vw, "TOTAL");
	for (k = 0; k < s->ncpus; k++) {
		snprintf(col, sizeof(col), "CPU%d", k);
		if (cpu_moved(NULL, s, k))
			fprintf(c->out, " %*s", vw, col);
	}
	fputc('\n', c->out);
	for (i = 0; i < STEER_STAT_MAX; i++) {
		fprintf(c->out, "%-*s %*llu", width, sc_stat_name(i, buf, sizeof(buf)), vw,
			(unsigned long long)s->sum[i]);
		for (k = 0; k < s->ncpus; k++)
			if (cpu_moved(NULL, s, k))
				fprintf(c->out, " %*llu", vw, (unsigned long long)
					s->percpu[(size_t)i * s->ncpus + k]);
		fputc('\n', c->out);
	}
}

/* Packets per second of counter i (on one CPU, or summed when cpu < 0) between two
 * readings dt seconds apart. A counter map recreated under us reads lower: rate 0. */
static double rate(const struct sc_counters *a, const struct sc_counters *b, __u32 i, int cpu,
		   double dt)
{
	__u64 x = cpu < 0 ? a->sum[i] : a->percpu[(size_t)i * a->ncpus + cpu];
	__u64 y = cpu < 0 ? b->sum[i] : b->percpu[(size_t)i * b->ncpus + cpu];

	return y > x && dt > 0 ? (double)(y - x) / dt : 0;
}

/* The rates of the counters that moved between two readings. */
static void print_rates(struct steerctl *c, const struct sc_counters *a,
			const struct sc_counters *b, double dt)
{
	int width = name_width(), k, moved = 0;
	struct json *j = &c->jw;
	char buf[32], stamp[16], col[16];
	time_t now = time(NULL);
	struct tm tm;
	__u32 i;

	if (c->json) {
		json_obj_open(j, NULL);
		json_decimal(j, "interval", dt, 3);
		json_obj_open(j, "rates");
		for (i = 0; i < STEER_STAT_MAX; i++)
			if (b->sum[i] > a->sum[i])
				json_decimal(j, sc_stat_name(i, buf, sizeof(buf)),
					     rate(a, b, i, -1, dt), 2);
		json_obj_close(j);
		if (c->per_cpu) {
			json_arr_open(j, "per_cpu");
			for (k = 0; k < b->ncpus; k++) {
				if (!cpu_moved(a, b, k))
					continue;
				json_obj_open(j, NULL);
				json_u64(j, "cpu", (__u64)k);
				for (i = 0; i < STEER_STAT_MAX; i++)
					if (rate(a, b, i, k, dt) > 0)
						json_decimal(j, sc_stat_name(i, buf, sizeof(buf)),
							     rate(a, b, i, k, dt), 2);
				json_obj_close(j);
			}
			json_arr_close(j);
		}
		json_obj_close(j);
		return;
	}
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(c->out, "%s, packets/s over %.2f s", stamp, dt);
	if (c->per_cpu) {
		fprintf(c->out, "\n%-*s %12s", width, "COUNTER", "TOTAL");
		for (k = 0; k < b->ncpus; k++) {
			snprintf(col, sizeof(col), "CPU%d", k);
			if (cpu_moved(a, b, k))
				fprintf(c->out, " %12s", col);
		}
	}
	fputc('\n', c->out);
	for (i = 0; i < STEER_STAT_MAX; i++) {
		if (b->sum[i] <= a->sum[i])
			continue;
		moved++;
		fprintf(c->out, "%-*s %12.1f", width, sc_stat_name(i, buf, sizeof(buf)),
			rate(a, b, i, -1, dt));
		for (k = 0; c->per_cpu && k < b->ncpus; k++)
			if (cpu_moved(a, b, k))
				fprintf(c->out, " %12.1f", rate(a, b, i, k, dt));
		fputc('\n', c->out);
	}
	if (!moved)
		fputs("(no counter moved)\n", c->out);
	fputc('\n', c->out);
}

/* Waits until `deadline` (monotonic seconds) or SIGINT/SIGTERM on sfd. Returns 1 when a
 * signal came, 0 at the deadline, or a negative errno. */
static int wait_until(int sfd, double deadline)
{
	struct pollfd p = { .fd = sfd, .events = POLLIN };
	struct signalfd_siginfo si;
	double left;
	struct timespec ts;
	int r;

	for (;;) {
		left = deadline - monotonic_s();
		if (left <= 0)
			return 0;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		r = ppoll(&p, 1, &ts, NULL);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0) {
			if (read(sfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
				return -errno;
			return 1;
		}
	}
}

/* -i: a reading every interval, printed as rates against the one before (or written to the
 * Prometheus file), until --count intervals have passed or SIGINT/SIGTERM. The signals
 * come through a signalfd, so an interrupt between two readings ends the loop cleanly. */
static int watch(struct steerctl *c, const struct pinned_map *m)
{
	struct sc_counters s[2] = {};
	sigset_t set, old;
	double t_prev, t, deadline;
	unsigned long n;
	int sfd, err, cur = 0, r;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, &old))
		return sc_error(c, "sigprocmask", -errno);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		err = sc_error(c, "signalfd", -errno);
		goto out_mask;
	}
	err = sc_counters_read(c, m, &s[cur]);
	if (!err && c->prometheus)
		err = sc_prometheus_write(c, &s[cur]);
	t_prev = monotonic_s();
	deadline = t_prev + c->interval;
	for (n = 0; !err && (!c->count || n < c->count); n++) {
		r = wait_until(sfd, deadline);
		if (r < 0)
			err = sc_error(c, "ppoll", r);
		if (r)
			break;
		err = sc_counters_read(c, m, &s[!cur]);
		if (err)
			break;
		t = monotonic_s();
		if (c->prometheus) {
			err = sc_prometheus_write(c, &s[!cur]);
		} else {
			print_rates(c, &s[cur], &s[!cur], t - t_prev);
			/* A reader on a pipe sees each interval when it ends. */
			if (fflush(c->out))
				break;
		}
		cur = !cur;
		t_prev = t;
		deadline += c->interval;
		if (deadline < t)	/* fell behind (a stopped process): start afresh */
			deadline = t + c->interval;
	}
	sc_counters_free(&s[0]);
	sc_counters_free(&s[1]);
	close(sfd);
out_mask:
	sigprocmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* The XDP stage's counters into x, when steerd runs one (its XDP program is pinned):
 * 1, 0 without one, or a negative errno. */
static int read_xdp(struct steerctl *c, struct sc_counters *x)
{
	struct pinned_map m = { .fd = -1 };
	char path[4096];
	int err;

	if (sc_path(c, STEER_PIN_PROG_XDP, path, sizeof(path)) || access(path, F_OK))
		return 0;
	err = sc_counters_open(c, MAP_XDP_STATS, &m);
	if (!err)
		err = sc_counters_read(c, &m, x);
	sc_map_close(&m);
	return err ? err : 1;
}

int cmd_stats(struct steerctl *c)
{
	struct pinned_map m = { .fd = -1 };
	struct sc_counters s = {}, x = {};
	int err, xdp = 0;

	err = sc_counters_open(c, MAP_STATS, &m);
	if (err)
		return err;
	if (c->interval > 0) {
		err = watch(c, &m);
	} else {
		err = sc_counters_read(c, &m, &s);
		if (!err && c->prometheus)
			err = sc_prometheus_write(c, &s);
		else if (!err && (xdp = read_xdp(c, &x)) < 0)
			err = xdp;
		else if (!err)
			print_counts(c, &s, xdp ? &x : NULL);
	}
	sc_counters_free(&x);
	sc_counters_free(&s);
	sc_map_close(&m);
	return err;
}
