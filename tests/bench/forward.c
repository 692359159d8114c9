/* Forwarding rate: 64-byte UDP frames (60 bytes and the FCS the wire would add) from a client
 * namespace through a router namespace to a sink namespace over veth, with N `from` rules
 * ahead of the one that matches. Paths, at the router:
 *   kernel     the kernel's forwarding
 *   steer      the real steerd attached at cli's ingress (TC)
 *   xdp        the same with --attach-mode xdp: steer's XDP stage in front of TC
 *   floor      a TC program that redirects every frame out without deciding anything
 *   xdp_floor  the same at XDP (native), as XDP frames
 * Packets per second counted at the sink, medians of several runs with the paths
 * interleaved, steer's medians against the kernel's measured in the same run. Nothing here
 * asserts a rate; it fails only when packets did not flow as they should: when steer's
 * programs did not forward nearly all of a steer run's frames, or on the xdp path its XDP
 * stage itself (steer_xdp_stats; TC behind it forwards only what XDP passed on).
 *
 *   STEERD=build/agent/steerd bench-forward [--rules 4,1000] [--runs 5] [--duration 3]
 *       [--warmup 0.5] [--flows 1] [--paths kernel,steer,xdp,floor,xdp_floor] [--gen-cpu C]
 *       [--router-cpu C] [--nice N] [--firewall none|filter|nat] [--json FILE]
 *
 * The generator (trafficgen.c) sends from its own thread pinned to --gen-cpu (0 by default;
 * -1: anywhere). A veth hands frames to its peer's NAPI on the sending CPU, so the router's
 * and the sink's softirq work runs there too, right after each batch: the rate is one CPU's
 * worth of generator + router + sink. (Unpinned, the router's NAPI may run on another CPU
 * while the generator overruns its ring; a run says so when fewer frames arrived than were
 * sent.) A floor measures what all but the router's decision costs, so that "router ns" can
 * tell the router's own share apart: a TC path's above `floor`, which builds the skb at the
 * router as they do, the xdp path's above `xdp_floor`, which builds it at the sink as xdp
 * does (a veth turns an XDP frame into an skb where it is received). `xdp_floor` against
 * the kernel is the most any XDP forwarder could show here.
 *
 * Every veth end has GRO on, for every path: a veth takes XDP frames from its peer only with
 * NAPI, which GRO gives it (the generator's into the router, the XDP stage's and xdp_floor's
 * into the sink).
 *
 * --router-cpu moves the router's skb work to another CPU with RPS (for machines with CPUs
 * to spare; XDP runs before RPS, so not the XDP paths'); --nice gives the benchmark an
 * autogroup of its own at that nice level, so niced jobs in other sessions (which autogroup
 * would otherwise treat as equals) yield to it.
 *
 * --firewall puts a stateful nftables ruleset on the router (forward policy drop, established
 * accepted, the generator's port marked for offload; `nat` masquerades out of the uplink too)
 * and runs steerd with `--netfilter offload`: the kernel's path then pays for conntrack (and
 * NAT) on every packet, and steer's for a conntrack lookup (and the rewrite). Every flow is
 * primed with one packet each way before a run, as a connection would be. The XDP stage
 * leaves offload to TC, so the XDP paths are not run there by default, and `xdp` not at all. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bpf/pkt.h"
#include "abi.h"
#include "forward.h"

/* What runs at the router for each path (steerd, with its XDP stage or not; or a floor
 * program), and the floor its router ns are counted above: the one that builds an skb at
 * the router where the path does, and where not, the one that does not. */
static const struct {
	const char *name;
	bool steerd, xdp;
	int floor_hook;		/* enum tg_hook; -1: none */
	enum path floor;
} path_def[NPATH] = {
	[KERNEL] = { "kernel", false, false, -1, FLOOR },
	[STEER] = { "steer", true, false, -1, FLOOR },
	[XDP] = { "xdp", true, true, -1, XDP_FLOOR },
	[FLOOR] = { "floor", false, false, TG_HOOK_FLOOR, FLOOR },
	[XDP_FLOOR] = { "xdp_floor", false, false, TG_HOOK_FLOOR_XDP, XDP_FLOOR },
};
static const char *const firewall_name[NFIREWALL] = { "none", "filter", "nat" };

static bool measured(const struct options *o, enum path p)
{
	return o->paths & 1u << p;
}

struct sample {
	double pps, offered;	/* at the sink, and out of the generator */
	double routed;		/* fraction of what arrived one hop (TTL - 1) away */
	double by_steer;	/* fraction of what arrived that steer's programs forwarded */
	double by_xdp;		/* ... that its XDP stage forwarded itself */
};

/* One path's runs at one N, and their summary. */
struct series {
	struct sample s[MAX_RUNS];
	double median, min, max, offered, by_steer_min, by_xdp_min;
};

/* Below this fraction forwarded by steer (by its XDP stage, on the xdp path), a steer run is
 * not what it claims to measure. The window's edges let a few frames count on one side. */
#define BY_STEER_MIN 0.9

/* steer's counter maps: TC's, and its XDP stage's. */
enum { TC_STATS, XDP_STATS, NSTATS };
static const char *const stats_map[NSTATS] = { STEER_MAP_STATS, STEER_MAP_XDP_STATS };
static const char *const stats_name[NSTATS] = { "tc", "xdp" };

struct result {
	unsigned rules, runs;
	struct series path[NPATH];
	double load_before, load_after;
};

static double load1(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

/* steer's counters for path p: TC's, and the XDP stage's under xdp; zeros where the path has
 * none, or where they cannot be read (the run then fails its check). */
static void read_stats(const struct bench *b, enum path p, uint64_t v[NSTATS][STEER_STAT_MAX])
{
	if (path_def[p].steerd)
		steer_stats(b, stats_map[TC_STATS], v[TC_STATS]);
	if (path_def[p].xdp)
		steer_stats(b, stats_map[XDP_STATS], v[XDP_STATS]);
}

/* One run: the generator for warmup + duration, counted over the duration only. */
static struct sample measure(struct bench *b, enum path p)
{
	const struct options *o = b->opt;
	uint64_t r0, r1, s0, s1, h0, h1, st0[NSTATS][STEER_STAT_MAX] = {};
	uint64_t st1[NSTATS][STEER_STAT_MAX] = {}, fwd, xfwd;
	struct sample s = {};
	double t0, t1;
	unsigned k;
	int r;

	r = tg_start(&b->tg, b->ns_fd[CLIENT], b->gen_ifindex, o->gen_cpu);
	if (r < 0)
		fail("generator: %s", strerror(-r));
	pause_s(o->warmup);
	read_stats(b, p, st0);
	s0 = tg_read(&b->tg, TG_SENT);
	h0 = tg_read(&b->tg, TG_ROUTED);
	r0 = tg_read(&b->tg, TG_RECEIVED);
	t0 = now();
	pause_s(o->duration);
	r1 = tg_read(&b->tg, TG_RECEIVED);
	t1 = now();
	h1 = tg_read(&b->tg, TG_ROUTED);
	s1 = tg_read(&b->tg, TG_SENT);
	read_stats(b, p, st1);
	r = tg_stop(&b->tg);
	if (r < 0)
		fail("generator (BPF_PROG_TEST_RUN, live frames): %s", strerror(-r));
	if (r1 == r0) {
		/* Where they stopped: the router's counters say. */
		sh("ip -n %1$s -s link show cli >&2; ip -n %1$s -s link show out >&2; "
		   "ip netns exec %1$s nstat -as | grep -Ev ' 0 |Tcp' >&2", b->ns[ROUTER]);
		fail("no packets reached the sink through the %s path (the generator sent %.0f/s)",
		     path_def[p].name, (double)(s1 - s0) / (t1 - t0));
	}
	s.pps = (double)(r1 - r0) / (t1 - t0);
	s.offered = (double)(s1 - s0) / (t1 - t0);
	if (s.pps < 0.99 * s.offered)
		printf("# %s: %.1f%% of the frames sent did not arrive: not one CPU's worth of the "
		       "path%s\n", path_def[p].name, 100 * (1 - s.pps / s.offered),
		       o->gen_cpu < 0 ? " (the generator is not pinned: --gen-cpu)" : "");
	s.routed = (double)(h1 - h0) / (double)(r1 - r0);
	/* Under a firewall, only what the connection's offload forwarded counts as steer's. A
	 * frame XDP forwards never reaches TC; one it passes is TC's to forward. */
	k = o->firewall != FW_NONE ? STEER_STAT_OFFLOADED : STEER_STAT_FORWARDED;
	xfwd = st1[XDP_STATS][STEER_STAT_FORWARDED] - st0[XDP_STATS][STEER_STAT_FORWARDED];
	fwd = st1[TC_STATS][k] - st0[TC_STATS][k] + xfwd;
	s.by_steer = (double)fwd / (double)(r1 - r0);
	s.by_xdp = (double)xfwd / (double)(r1 - r0);
	/* Arrived, but not through the router's forwarding (or steer's): not what we measure.
	 * The window's edges let a few frames be counted on one side only. The floors do not
	 * route (no TTL decrement): nothing to check there. */
	if (path_def[p].floor_hook < 0 && s.routed < 0.99)
		fail("only %.1f%% of the frames at the sink were one hop away (%s)", 100 * s.routed,
		     path_def[p].name);
	if (path_def[p].steerd && (path_def[p].xdp ? s.by_xdp : s.by_steer) < BY_STEER_MIN) {
		for (int m = 0; m < NSTATS; m++)
			for (k = 0; k < STEER_STAT_MAX; k++)
				if (st1[m][k] != st0[m][k])
					fprintf(stderr, "bench-forward: steer %s %s +%llu\n", stats_name[m],
						steer_stat_names[k],
						(unsigned long long)(st1[m][k] - st0[m][k]));
		fail("steer%s forwarded only %.1f%% of the frames that arrived (log: %s)",
		     path_def[p].xdp ? "'s XDP stage" : "",
		     100 * (path_def[p].xdp ? s.by_xdp : s.by_steer), b->log);
	}
	return s;
}

/* One run of one path, with what that path needs at the router around it. */
static struct sample run_path(struct bench *b, enum path p)
{
	enum tg_hook hook = (enum tg_hook)path_def[p].floor_hook;
	struct sample s;
	int r = 0;

	if (path_def[p].steerd)
		steerd_start(b, path_def[p].xdp);
	else if (path_def[p].floor_hook >= 0)
		r = tg_attach(&b->tg, hook, b->ns_fd[ROUTER], b->cli_ifindex);
	if (r < 0)
		fail("attaching the %s program: %s", path_def[p].name, strerror(-r));
	if (path_def[p].floor_hook < 0 && b->opt->firewall != FW_NONE)
		bench_prime(b);
	s = measure(b, p);
	if (path_def[p].steerd && steerd_stop(b) < 0)
		fail("steerd did not leave the router as it found it");
	else if (path_def[p].floor_hook >= 0 && (r = tg_detach(&b->tg, hook)) < 0)
		fail("detaching the %s program: %s", path_def[p].name, strerror(-r));
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void summarise(struct series *x, unsigned n)
{
	double pps[MAX_RUNS], off[MAX_RUNS];

	x->by_steer_min = x->by_xdp_min = 1;
	for (unsigned i = 0; i < n; i++) {
		pps[i] = x->s[i].pps;
		off[i] = x->s[i].offered;
		x->by_steer_min = fmin(x->by_steer_min, x->s[i].by_steer);
		x->by_xdp_min = fmin(x->by_xdp_min, x->s[i].by_xdp);
	}
	x->median = median(pps, n);
	x->min = pps[0];
	x->max = pps[n - 1];
	x->offered = median(off, n);
}

static struct result run_rules(struct bench *b, unsigned nrules)
{
	const struct options *o = b->opt;
	struct result res = { .rules = nrules, .runs = o->runs };
	uint8_t frame[128];
	struct pkt_spec spec = { .family = 4, .src = "10.1.0.2", .dst = "198.51.100.1",
				 .l3_len = FRAME_LEN - 14, .sport = 1024, .dport = TG_DPORT };
	size_t len = pkt_build(&spec, router_mac, frame, sizeof(frame));
	int r;

	res.load_before = load1();
	bench_up(b, nrules);
	r = tg_open(&b->tg, frame, len, o->flows, b->out_ifindex);
	if (r < 0)
		fail("loading the generator: %s", strerror(-r));
	b->tg_open = true;
	r = tg_attach(&b->tg, TG_HOOK_SINK, b->ns_fd[SINK], b->sink_ifindex);
	if (r < 0)
		fail("attaching the sink counter: %s", strerror(-r));
	/* The paths take turns, each leading in its turn, so a load that comes and goes falls
	 * on all of them alike. */
	for (unsigned i = 0; i < o->runs; i++) {
		for (unsigned k = 0; k < NPATH; k++) {
			enum path p = (enum path)((i + k) % NPATH);
			struct sample s;

			if (!measured(o, p))
				continue;
			s = run_path(b, p);
			res.path[p].s[i] = s;
			printf("# rules %u, run %u, %-9s %10.0f pps (generator %.0f/s)\n", nrules, i + 1,
			       path_def[p].name, s.pps, s.offered);
			fflush(stdout);
		}
	}
	bench_down(b);
	for (int p = 0; p < NPATH; p++)
		if (measured(o, (enum path)p))
			summarise(&res.path[p], o->runs);
	res.load_after = load1();
	return res;
}

static void parse_rules(struct options *o, const char *arg)
{
	char *list = strdup(arg), *save = NULL;

	o->nrules = 0;
	for (char *t = strtok_r(list, ",", &save); t && o->nrules < MAX_RULE_COUNTS;
	     t = strtok_r(NULL, ",", &save))
		o->rules[o->nrules++] = (unsigned)strtoul(t, NULL, 10);
	free(list);
}

/* Router cost per packet above its floor, in ns: the rate is one CPU's worth of everything,
 * so per-packet times add up (with --router-cpu they do not: read it as a rough guide).
 * NAN when a path or its floor was not measured. */
static double router_ns(const struct result *r, enum path p)
{
	const struct series *x = &r->path[p], *f = &r->path[path_def[p].floor];

	if (!(x->median > 0) || !(f->median > 0))
		return NAN;
	return 1e9 / x->median - 1e9 / f->median;
}

/* steer's paths as the report sets them against the kernel: the rate's ratio and the
 * router's (kernel ns / the path's ns), and what its check read. The JSON keeps the keys
 * steer's path has always had. */
static const struct {
	enum path p;
	const char *ratio, *router_ratio, *fraction;
} versus[] = {
	{ STEER, "ratio", "router_ratio", "steer_forwarded_fraction_min" },
	{ XDP, "xdp_ratio", "xdp_router_ratio", "xdp_forwarded_fraction_min" },
};

static double pps_ratio(const struct result *r, enum path p)
{
	double k = r->path[KERNEL].median, x = r->path[p].median;

	return k > 0 && x > 0 ? x / k : NAN;
}

/* NAN unless both are above their floors. */
static double router_ratio(const struct result *r, enum path p)
{
	double k = router_ns(r, KERNEL), x = router_ns(r, p);

	return k > 0 && x > 0 ? k / x : NAN;
}

/* The smallest fraction of a run's frames forwarded by what the path is about: steer's
 * programs, or for xdp its XDP stage alone. */
static double fraction_min(const struct result *r, enum path p)
{
	return path_def[p].xdp ? r->path[p].by_xdp_min : r->path[p].by_steer_min;
}

static void json_num(FILE *f, const char *key, double v, const char *fmt)
{
	fprintf(f, ", \"%s\": ", key);
	if (!isfinite(v))
		fputs("null", f);
	else
		fprintf(f, fmt, v);
}

static void write_json(const struct options *o, const struct result *res, unsigned n)
{
	FILE *f = fopen(o->json, "w");

	if (!f)
		fail("%s: %s", o->json, strerror(errno));
	fprintf(f, "{\"benchmark\": \"forward\", \"frame_bytes\": %d, \"wire_bytes\": %d, "
		"\"generator\": \"xdp-live-frames\", \"sink\": \"tc-ingress-drop\", \"gro\": \"on\", "
		"\"runs\": %u, \"duration_s\": %.2f, \"warmup_s\": %.2f, \"flows\": %u, "
		"\"gen_cpu\": %d, \"router_cpu\": %d, \"nice\": %d, \"firewall\": \"%s\", "
		"\"results\": [\n", FRAME_LEN, FRAME_LEN + 4, o->runs, o->duration, o->warmup,
		o->flows, o->gen_cpu, o->router_cpu, o->nice, firewall_name[o->firewall]);
	for (unsigned i = 0; i < n; i++) {
		const struct result *r = &res[i];

		fprintf(f, "  {\"rules\": %u", r->rules);
		for (int p = 0; p < NPATH; p++) {
			const struct series *x = &r->path[p];
			bool on = measured(o, (enum path)p);
			char key[64];

			snprintf(key, sizeof(key), "%s_pps", path_def[p].name);
			json_num(f, key, on ? x->median : NAN, "%.0f");
			snprintf(key, sizeof(key), "%s_min_pps", path_def[p].name);
			json_num(f, key, on ? x->min : NAN, "%.0f");
			snprintf(key, sizeof(key), "%s_max_pps", path_def[p].name);
			json_num(f, key, on ? x->max : NAN, "%.0f");
			snprintf(key, sizeof(key), "%s_offered_pps", path_def[p].name);
			json_num(f, key, on ? x->offered : NAN, "%.0f");
			fprintf(f, ", \"%s_runs_pps\": [", path_def[p].name);
			for (unsigned j = 0; on && j < r->runs; j++)
				fprintf(f, "%s%.0f", j ? ", " : "", x->s[j].pps);
			fputc(']', f);
			if (path_def[p].floor_hook < 0) {
				snprintf(key, sizeof(key), "%s_router_ns", path_def[p].name);
				json_num(f, key, router_ns(r, (enum path)p), "%.1f");
			}
		}
		for (size_t v = 0; v < sizeof(versus) / sizeof(versus[0]); v++) {
			bool on = measured(o, versus[v].p);

			json_num(f, versus[v].ratio, pps_ratio(r, versus[v].p), "%.3f");
			json_num(f, versus[v].router_ratio, router_ratio(r, versus[v].p), "%.3f");
			json_num(f, versus[v].fraction, on ? fraction_min(r, versus[v].p) : NAN, "%.4f");
		}
		json_num(f, "load1_before", r->load_before, "%.2f");
		json_num(f, "load1_after", r->load_after, "%.2f");
		fprintf(f, "}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "]}\n");
	fclose(f);
}

/* The table: each path's rate (and steer's against the kernel's), then the router's ns per
 * packet above the floor (and steer's against the kernel's); "-" where not measured. */
static void print_header(const struct options *o)
{
	printf("# pps at the sink, median of %u runs of %.1f s, ± half the range; ratios: against the "
	       "kernel; router ns: per packet above the path's floor (xdp: xdp_floor); GRO on; "
	       "generator on CPU %d; firewall: %s\n", o->runs, o->duration, o->gen_cpu,
	       firewall_name[o->firewall]);
	printf("%6s", "rules");
	for (int p = 0; p < NPATH; p++)
		printf(" %12s pps%s", path_def[p].name, path_def[p].steerd ? "    ratio" : "");
	for (int p = 0; p < NPATH; p++)
		if (path_def[p].floor_hook < 0)
			printf(" %6s ns%s", path_def[p].name, path_def[p].steerd ? "    ratio" : "");
	printf(" load1\n");
}

static void print_ratio(double v)
{
	if (isfinite(v))
		printf(" %7.2fx", v);
	else
		printf(" %8s", "-");
}

static void print_row(const struct options *o, const struct result *r)
{
	printf("%6u", r->rules);
	for (int p = 0; p < NPATH; p++) {
		const struct series *x = &r->path[p];
		char cell[40] = "-";

		if (measured(o, (enum path)p))
			snprintf(cell, sizeof(cell), "%.0f ±%.0f%%", x->median,
				 50 * (x->max - x->min) / x->median);
		printf(" %16s", cell);
		if (path_def[p].steerd)
			print_ratio(pps_ratio(r, (enum path)p));
	}
	for (int p = 0; p < NPATH; p++) {
		double ns = router_ns(r, (enum path)p);

		if (path_def[p].floor_hook >= 0)
			continue;
		if (isfinite(ns))
			printf(" %9.0f", ns);
		else
			printf(" %9s", "-");
		if (path_def[p].steerd)
			print_ratio(router_ratio(r, (enum path)p));
	}
	printf(" %.2f-%.2f\n", r->load_before, r->load_after);
	fflush(stdout);
}

static void parse_paths(struct options *o, const char *arg)
{
	char *list = strdup(arg), *save = NULL;

	o->paths = 0;
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int p = 0;

		while (p < NPATH && strcmp(t, path_def[p].name))
			p++;
		if (p == NPATH)
			fail("--paths: kernel, steer, xdp, floor, xdp_floor; not '%s'", t);
		o->paths |= 1u << p;
	}
	free(list);
}

static enum firewall parse_firewall(const char *arg)
{
	for (int f = 0; f < NFIREWALL; f++)
		if (!strcmp(arg, firewall_name[f]))
			return (enum firewall)f;
	fail("--firewall: none, filter or nat; not '%s'", arg);
}

/* Carries on in a child with a session, and so an autogroup, of its own at nice N; the
 * parent passes SIGINT/SIGTERM/SIGHUP on to it and exits with its status. Signals are
 * blocked on entry (SIGCHLD too, for the parent's sigwaitinfo). */
static void own_autogroup(int nice)
{
	sigset_t set;
	pid_t pid;
	int st;
	FILE *f;

	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		sigemptyset(&set);
		sigaddset(&set, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		if (setsid() < 0)
			fail("setsid: %s", strerror(errno));
		f = fopen("/proc/self/autogroup", "w");
		if (!f || fprintf(f, "%d", nice) < 0 || fclose(f) != 0)
			fprintf(stderr, "bench-forward: autogroup nice %d: %s (going on without)\n", nice,
				strerror(errno));
		return;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);

		if (sig == SIGCHLD && waitpid(pid, &st, WNOHANG) == pid)
			exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		if (sig > 0 && sig != SIGCHLD)
			kill(pid, SIGTERM);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rules", required_argument, NULL, 'r' }, { "runs", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' }, { "warmup", required_argument, NULL, 'w' },
		{ "flows", required_argument, NULL, 'f' }, { "paths", required_argument, NULL, 'p' },
		{ "gen-cpu", required_argument, NULL, 'g' }, { "router-cpu", required_argument, NULL, 'c' },
		{ "nice", required_argument, NULL, 'i' }, { "json", required_argument, NULL, 'j' },
		{ "firewall", required_argument, NULL, 'F' }, {}
	};
	struct options o = { .runs = 5, .flows = 1, .duration = 3, .warmup = 0.5, .gen_cpu = 0,
			     .router_cpu = -1,
			     .steerd = getenv("STEERD") ? getenv("STEERD") : "build/agent/steerd" };
	struct bench b = { .opt = &o, .ns_fd = { -1, -1, -1 } };
	struct result res[MAX_RULE_COUNTS];
	sigset_t block;
	int c;

	parse_rules(&o, "4,1000");
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'r')
			parse_rules(&o, optarg);
		else if (c == 'n')
			o.runs = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'd')
			o.duration = strtod(optarg, NULL);
		else if (c == 'w')
			o.warmup = strtod(optarg, NULL);
		else if (c == 'f')
			o.flows = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'p')
			parse_paths(&o, optarg);
		else if (c == 'g')
			o.gen_cpu = atoi(optarg);
		else if (c == 'c')
			o.router_cpu = atoi(optarg);
		else if (c == 'i')
			o.nice = atoi(optarg);
		else if (c == 'j')
			o.json = optarg;
		else if (c == 'F')
			o.firewall = parse_firewall(optarg);
		else
			return 2;
	}
	/* Every path by default; behind a firewall, steer's XDP stage passes everything to TC
	 * (offload needs the skb): nothing of its own to measure there, nor its floor. */
	if (!o.paths)
		o.paths = ((1u << NPATH) - 1) &
			  ~(o.firewall != FW_NONE ? 1u << XDP | 1u << XDP_FLOOR : 0);
	if (!o.runs || o.runs > MAX_RUNS || !o.nrules || !(o.duration > 0) || o.warmup < 0)
		fail("--runs 1..%d, --rules N[,N...], --duration > 0, --warmup >= 0", MAX_RUNS);
	if (!o.flows || (o.firewall != FW_NONE && o.flows > 4096))
		fail("--flows 1.., at most 4096 under a firewall (a socket each to prime them)");
	if (o.firewall != FW_NONE && measured(&o, XDP))
		fail("--paths xdp: under --firewall steer's XDP stage leaves offload to TC");
	if ((o.paths & (1u << STEER | 1u << XDP)) && access(o.steerd, X_OK) < 0)
		fail("steerd at %s (set STEERD=)", o.steerd);
	/* Signals wait for pause_s, which exits cleanly: no handler runs mid-setup. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	if (o.nice) {
		sigaddset(&block, SIGCHLD);
		sigprocmask(SIG_BLOCK, &block, NULL);
		own_autogroup(o.nice);
	} else {
		sigprocmask(SIG_BLOCK, &block, NULL);
	}
	snprintf(b.pin, sizeof(b.pin), "/sys/fs/bpf/steer-bench-fwd-%d", (int)getpid());
	snprintf(b.log, sizeof(b.log), "/tmp/bench-forward-%d.log", (int)getpid());
	libbpf_set_print(NULL);

	print_header(&o);
	for (unsigned i = 0; i < o.nrules; i++) {
		res[i] = run_rules(&b, o.rules[i]);
		print_row(&o, &res[i]);
	}
	if (o.json)
		write_json(&o, res, o.nrules);
	unlink(b.log);
	return 0;
}
