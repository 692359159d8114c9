/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* steerctl monitor: what the fast path decides, packet by packet, as it decides it. The
 * program writes events into a ring buffer only while a listener holds the lease in
 * steer_monitor; this file takes the lease (one listener at a time), renews it, sets the
 * filters, sampling and rate the program applies, and prints each event in words or as a
 * JSON line. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steerctl.h"

/* The lease outlives a renewal by this much: a listener killed with SIGKILL stops the
 * events (and what they cost) this long after it died. */
#define LEASE_NS   2000000000ull
#define RENEW_NS    500000000ull
#define POLL_MS     200

struct monitor {
	struct steerctl *c;
	volatile struct steer_monitor *m;	/* the map's one entry, mapped */
	int mon_fd, events_fd;
	__s64 wall_minus_mono;			/* to turn an event's clock into the time of day */
	unsigned long shown;
	bool draining;				/* old events: read, not shown */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- the command line ---- */

static int parse_prefix(const char *word, const char *s, __u8 *family, __u8 *len, __u32 *addr)
{
	char buf[64], *slash, *end;
	unsigned long l;
	int max;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1)
		*family = STEER_AF_INET, max = 32;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		*family = STEER_AF_INET6, max = 128;
	else
		return sc_usage_error("monitor: %s needs an address or PREFIX/LEN, not '%s'", word, s);
	l = (unsigned long)max;
	if (slash) {
		errno = 0;
		l = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || l > (unsigned long)max)
			return sc_usage_error("monitor: %s %s: the length is 0 to %d", word, s, max);
	}
	*len = (__u8)l;
	return 0;
}

/* --verdict forward,drop,punt: a word's bit, or -1 (said). */
static int verdict_bit(const char *w)
{
	for (__u32 v = STEER_VERDICT_FORWARD; v <= STEER_VERDICT_DROP; v++)
		if (!strcmp(w, sc_verdict_name(v)))
			return (int)v;
	sc_usage_error("monitor: --verdict takes forward, drop and punt, not '%s'", w);
	return -1;
}

/* --reason netfilter,no_route,...: counter names, with or without punt_/drop_. A word's bit,
 * or -1 (said). */
static int reason_bit(const char *w)
{
	for (__u32 s = STEER_STAT_FORWARDED; s < STEER_STAT_MAX; s++) {
		const char *n = steer_stat_names[s];

		if (!strcmp(w, n) || ((!strncmp(n, "punt_", 5) || !strncmp(n, "drop_", 5)) &&
				      !strcmp(w, n + 5)))
			return (int)s;
	}
	sc_usage_error("monitor: --reason '%s' is not one (see steerctl stats for their names)", w);
	return -1;
}

/* A comma list of words into *bits, bit_of giving each word's. Returns 0, SC_USAGE, or
 * -ENOMEM. */
static int parse_words(const char *list, int (*bit_of)(const char *), __u64 *bits)
{
	char *copy = strdup(list), *save = NULL;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t && !err; t = strtok_r(NULL, ",", &save)) {
		int bit = bit_of(t);

		if (bit < 0)
			err = SC_USAGE;
		else
			*bits |= 1ull << bit;
	}
	free(copy);
	return err;
}

/* The filters the program applies, into *cfg; 0 or SC_USAGE. */
static int parse_args(const struct steerctl *c, struct steer_monitor *cfg)
{
	__u64 verdicts = 0;

	cfg->rate = c->mon_rate;
	cfg->sample = c->mon_sample;
	if (c->mon_verdicts && parse_words(c->mon_verdicts, verdict_bit, &verdicts))
		return SC_USAGE;
	cfg->verdicts = (__u32)verdicts;
	if (c->mon_reasons && parse_words(c->mon_reasons, reason_bit, &cfg->reasons))
		return SC_USAGE;
	for (int i = 0; i < c->argc; i += 2) {
		const char *w = c->argv[i], *v = i + 1 < c->argc ? c->argv[i + 1] : NULL;

		if (!v)
			return sc_usage_error("monitor: %s needs a value", w);
		if (!strcmp(w, "from")) {
			if (parse_prefix(w, v, &cfg->src_family, &cfg->src_len, cfg->src))
				return SC_USAGE;
		} else if (!strcmp(w, "to")) {
			if (parse_prefix(w, v, &cfg->dst_family, &cfg->dst_len, cfg->dst))
				return SC_USAGE;
		} else if (!strcmp(w, "iif")) {
			cfg->iif = if_nametoindex(v);
			if (!cfg->iif)
				return sc_usage_error("monitor: iif %s: no such interface here", v);
		} else {
			return sc_usage_error("monitor: unknown word '%s' (from, to, iif)", w);
		}
	}
	return 0;
}

/* ---- events ---- */

/* The program says forward, punt or drop; anything else it does not say, and is read as
 * the kernel's. */
static const char *verdict_word(__u8 v)
{
	const char *w = sc_verdict_name(v);

	return w ? w : "punt";
}

/* "10.0.0.1:80", "[2001:db8::1]:80", or the address alone for a protocol without ports. */
static void endpoint(const struct steer_event *e, const __u32 *addr, __u16 port, char *buf,
		     size_t len)
{
	char a[SC_ADDR_STRLEN];

	sc_addr(e->family, (const __u8 *)addr, a, sizeof(a));
	if (!e->sport && !e->dport)
		snprintf(buf, len, "%s", a);
	else if (e->family == STEER_AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, port);
	else
		snprintf(buf, len, "%s:%u", a, port);
}

static void time_of_day(const struct monitor *mon, __u64 ts, char *buf, size_t len, bool iso)
{
	__s64 wall = (__s64)ts + mon->wall_minus_mono;
	time_t sec = (time_t)(wall / 1000000000);
	struct tm tm;
	size_t n;

	localtime_r(&sec, &tm);
	n = strftime(buf, len, iso ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06lld", (long long)(wall % 1000000000 / 1000));
	if (iso) {
		n = strlen(buf);
		strftime(buf + n, len - n, "%z", &tm);
	}
}

/* Whether the event names a rule: 0 priority and table mean the decision came before the
 * rules, and the marker of a cut list is no rule. */
static bool has_rule(const struct steer_event *e)
{
	return (e->priority || e->table) && e->reason != STEER_STAT_PUNT_RULE_LIMIT;
}

static void print_json(struct monitor *mon, const struct steer_event *e)
{
	struct json *j = &mon->c->jw;
	char buf[64], name[SC_NAME_STRLEN];

	json_obj_open(j, NULL);
	time_of_day(mon, e->ts_ns, buf, sizeof(buf), true);
	json_str(j, "time", buf);
	json_str(j, "direction", e->egress ? "egress" : "ingress");
	json_str(j, e->egress ? "oif" : "iif", sc_ifname(e->iif, name, sizeof(name)));
	if (e->family) {
		json_str(j, "from", sc_addr(e->family, (const __u8 *)e->src, buf, sizeof(buf)));
		json_str(j, "dst", sc_addr(e->family, (const __u8 *)e->dst, buf, sizeof(buf)));
		json_str(j, "ipproto", sc_proto_name(e->proto, name, sizeof(name)));
		if (e->sport || e->dport) {
			json_u64(j, "sport", e->sport);
			json_u64(j, "dport", e->dport);
		}
	}
	json_u64(j, "len", e->len);
	json_str(j, "action", verdict_word(e->verdict));
	json_str(j, "reason", sc_reason_name(e->reason, name, sizeof(name)));
	if (e->verdict == STEER_VERDICT_FORWARD) {
		if (e->gw_family)
			json_str(j, "gateway", sc_addr(e->gw_family, e->gw, buf, sizeof(buf)));
		json_str(j, "dev", sc_ifname(e->oif, name, sizeof(name)));
	}
	if (has_rule(e)) {
		if (e->table)
			json_str(j, "table", sc_table_name(e->table, name, sizeof(name)));
		json_u64(j, "priority", e->priority);
	}
	json_obj_close(j);
}

/* One line, as ip monitor would say it:
 * 12:00:01.000001 iif eth1 10.1.0.2:41000 > 198.51.100.1:443 tcp len 60: forward via
 * 192.0.2.1 dev eth0 table main rule 32766 */
static void print_text(struct monitor *mon, const struct steer_event *e)
{
	FILE *f = mon->c->out;
	char t[48], a[SC_ADDR_STRLEN + 8], b[SC_ADDR_STRLEN + 8], name[SC_NAME_STRLEN];

	time_of_day(mon, e->ts_ns, t, sizeof(t), false);
	fprintf(f, "%s %s %s", t, e->egress ? "oif" : "iif", sc_ifname(e->iif, name, sizeof(name)));
	if (e->family) {
		endpoint(e, e->src, e->sport, a, sizeof(a));
		endpoint(e, e->dst, e->dport, b, sizeof(b));
		fprintf(f, " %s > %s %s", a, b, sc_proto_name(e->proto, name, sizeof(name)));
	}
	fprintf(f, " len %u: %s", e->len, verdict_word(e->verdict));
	if (e->verdict == STEER_VERDICT_FORWARD) {
		if (e->reason != STEER_STAT_FORWARDED)
			fprintf(f, " (%s)", sc_reason_name(e->reason, name, sizeof(name)));
		if (e->gw_family)
			fprintf(f, " via %s", sc_addr(e->gw_family, e->gw, a, sizeof(a)));
		fprintf(f, " dev %s", sc_ifname(e->oif, name, sizeof(name)));
	} else {
		fprintf(f, " (%s)", sc_reason_name(e->reason, name, sizeof(name)));
	}
	if (has_rule(e) && e->table)
		fprintf(f, " table %s rule %u", sc_table_name(e->table, name, sizeof(name)),
			e->priority);
	else if (has_rule(e))
		fprintf(f, " rule %u", e->priority);
	fputc('\n', f);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct monitor *mon = ctx;
	struct steer_event e = {};

	/* Past --count the poll goes on to its end: the rest are read, not shown. */
	if (mon->draining || (mon->c->count && mon->shown >= mon->c->count))
		return 0;
	memcpy(&e, data, size < sizeof(e) ? size : sizeof(e));
	if (mon->c->json)
		print_json(mon, &e);
	else
		print_text(mon, &e);
	mon->shown++;
	return 0;
}

/* ---- the lease ---- */

/* Opens the two pins and maps the lease. 0 or a negative errno, said. */
static int open_maps(struct monitor *mon)
{
	char path[4096];
	long page = sysconf(_SC_PAGESIZE);
	void *p;
	int err;

	err = sc_path(mon->c, STEER_MAP_MONITOR, path, sizeof(path));
	if (err)
		return err;
	mon->mon_fd = bpf_obj_get(path);
	if (mon->mon_fd < 0) {
		err = -errno;
		if (err == -ENOENT && !sc_path(mon->c, STEER_MAP_STATE, path, sizeof(path)) &&
		    access(path, F_OK) == 0) {
			fprintf(stderr, "steerctl: monitor: the pinned program has no monitor (a "
				"steerd from before it): restart steerd\n");
			return err;
		}
		return sc_pin_error(mon->c, path, err);
	}
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, mon->mon_fd, 0);
	if (p == MAP_FAILED)
		return sc_error(mon->c, path, -errno);
	mon->m = p;
	err = sc_path(mon->c, STEER_MAP_EVENTS, path, sizeof(path));
	if (err)
		return err;
	mon->events_fd = bpf_obj_get(path);
	if (mon->events_fd < 0)
		return sc_pin_error(mon->c, path, -errno);
	return 0;
}

/* Takes the lease with cfg's filters, unless another listener that is alive holds it. */
static int take_lease(struct monitor *mon, const struct steer_monitor *cfg)
{
	volatile struct steer_monitor *m = mon->m;
	__u64 now = sc_clock_ns(CLOCK_MONOTONIC_COARSE);
	pid_t owner = (pid_t)m->owner;
	struct steer_monitor next = *cfg;

	if (m->until_ns > now && owner > 0 && owner != getpid() &&
	    (kill(owner, 0) == 0 || errno == EPERM)) {
		fprintf(stderr, "steerctl: monitor: another listener (pid %d) is watching this fast "
			"path; one at a time\n", (int)owner);
		return -EBUSY;
	}
	/* Off while the filters change, so no event is judged by half of them. The whole entry
	 * is written: cfg's filters, our pid, the program's counters from zero, and until_ns
	 * still 0 until the filters are all in place. */
	__atomic_store_n(&m->until_ns, 0, __ATOMIC_SEQ_CST);
	next.until_ns = 0;
	next.owner = (__u32)getpid();
	next.window = next.in_window = next.matched = next.rate_limited = next.lost = 0;
	*m = next;
	__atomic_store_n(&m->until_ns, now + LEASE_NS, __ATOMIC_SEQ_CST);
	return 0;
}

static int watch(struct monitor *mon)
{
	struct ring_buffer *rb = ring_buffer__new(mon->events_fd, on_event, mon, NULL);
	__u64 start = sc_clock_ns(CLOCK_MONOTONIC), renewed = sc_clock_ns(CLOCK_MONOTONIC_COARSE);
	int err = 0, r;

	if (!rb)
		return sc_error(mon->c, STEER_MAP_EVENTS, -errno);
	/* What an earlier listener left unread is not this one's to show. */
	mon->draining = true;
	ring_buffer__consume(rb);
	mon->draining = false;
	while (!stop) {
		__u64 now = sc_clock_ns(CLOCK_MONOTONIC_COARSE);

		if (now - renewed >= RENEW_NS) {
			__atomic_store_n(&mon->m->until_ns, now + LEASE_NS, __ATOMIC_SEQ_CST);
			renewed = now;
		}
		r = ring_buffer__poll(rb, POLL_MS);
		if (r < 0 && r != -EINTR) {
			err = sc_error(mon->c, STEER_MAP_EVENTS, r);
			break;
		}
		fflush(mon->c->out);
		if (mon->c->count && mon->shown >= mon->c->count)
			break;
		if (mon->c->mon_duration > 0 &&
		    (double)(sc_clock_ns(CLOCK_MONOTONIC) - start) / 1e9 >= mon->c->mon_duration)
			break;
	}
	__atomic_store_n(&mon->m->until_ns, 0, __ATOMIC_SEQ_CST);
	/* What was sent before the lease ended is still this listener's. */
	if (!err && !(mon->c->count && mon->shown >= mon->c->count))
		ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return err;
}

int cmd_monitor(struct steerctl *c)
{
	struct monitor mon = { .c = c, .mon_fd = -1, .events_fd = -1 };
	struct steer_monitor cfg = {};
	struct sigaction sa = { .sa_handler = on_signal };
	long page = sysconf(_SC_PAGESIZE);
	int err;

	err = parse_args(c, &cfg);
	if (err)
		return err;
	err = open_maps(&mon);
	if (!err) {
		mon.wall_minus_mono = (__s64)sc_clock_ns(CLOCK_REALTIME) -
				      (__s64)sc_clock_ns(CLOCK_MONOTONIC);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		err = take_lease(&mon, &cfg);
	}
	if (!err) {
		err = watch(&mon);
		fprintf(stderr, "%lu event%s shown; %llu dropped by the rate limit (%u/s); "
			"%llu lost (ring buffer full)\n", mon.shown, mon.shown == 1 ? "" : "s",
			(unsigned long long)mon.m->rate_limited, cfg.rate,
			(unsigned long long)mon.m->lost);
	}
	if (mon.m)
		munmap((void *)mon.m, (size_t)page);
	if (mon.mon_fd >= 0)
		close(mon.mon_fd);
	if (mon.events_fd >= 0)
		close(mon.events_fd);
	return err;
}
