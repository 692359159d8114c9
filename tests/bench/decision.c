/* Decision cost: ns per packet of steer's program against the kernel's own policy routing
 * (bpf_fib_lookup walking the real rule list) and an empty program, on the same packets
 * and the same kernel state, with N `from` rules ahead of the one that matches. Each N runs
 * in a fresh network namespace. BPF_PROG_TEST_RUN measures; nothing here asserts a time.
 * steer is measured twice: hot (the same flow again, as BPF_PROG_TEST_RUN repeats it: the
 * flow cache answers) and cold (a copy of the program to which every packet is a new flow:
 * the whole walk, and the cache slot written, every time). --routes adds that many IPv4
 * routes (and a fifth as many IPv6 ones) to main, as a full Internet table would. --shape to
 * makes the N rules `from all to <another destination>` instead (split tunnelling): every one
 * of them sits in every source's list, which steer splits by destination. --shape mixed makes
 * them a quarter each `from`, `to`, `fwmark` (a few `iif` among them) and `ipproto tcp dport`
 * rules: three quarters `from all`, which steer keeps in side lists.
 *
 *   bench-decision [--rules 4,100,1000,10000,100000] [--family 4|6|46] [--repeat R]
 *                  [--routes N] [--shape from|to|mixed] [--json FILE]
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BENCH "bench-decision"
#include "bench.h"
#include "../bpf/pkt.h"
#include "attach.h"
#include "compile.h"
#include "fib.skel.h"
#include "log.h"
#include "model.h"
#include "nl.h"
#include "steer.skel.h"
#include "sync.h"

#define TC_ACT_REDIRECT 7
#define BIG (1u << 18)	/* map sizes for 100,000 rules and their prefixes */

struct result {
	unsigned rules;
	int family;
	double empty_ns, kernel_ns, steer_ns, cold_ns;
	unsigned long kernel_repeat, steer_repeat;
	double install_s, sync_s;
};

/* A fresh namespace: in0 (ingress), out0 (table 100's uplink), out1 (main's); N rules
 * `from <other source> lookup 1000` ahead of `from 10.1.0.0/24 lookup 100`. */
static unsigned nroutes;	/* --routes */
static const char *shape = "from";	/* --shape */

/* N IPv4 /24s and N/5 IPv6 /64s in main, by the uplink of main's default; the packet's
 * rule then looks up main, and its destination is in one of them. */
static void add_routes(void)
{
	char path[] = "/tmp/bench-decision-routes-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");

	if (!f)
		die("mkstemp");
	for (unsigned i = 0; i < nroutes; i++)
		fprintf(f, "route add %u.%u.%u.0/24 via 203.0.113.2 dev out1\n", 11 + i / 65536 % 200,
			i / 256 % 256, i % 256);
	for (unsigned i = 0; i < nroutes / 5; i++)
		fprintf(f, "route add 2001:db8:%x:%x::/64 via 2001:db8:b::2 dev out1\n",
			0x1000 + i / 65536, i % 65536);
	fclose(f);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "ip -batch %s", path);
		sh(cmd);
	}
	unlink(path);
}

/* Rule i of the N, none of which the measured packet (UDP, mark 0, from in0) matches. */
static void add_rule(FILE *f, int family, unsigned i)
{
	const char *sel = !strcmp(shape, "to") ? "to" : "from";
	unsigned kind = i % 4, j = i / 4, pref = 1 + i % 30000;

	if (!strcmp(shape, "mixed")) {
		/* Each kind in its own block of priorities: steer keeps apart only rules that
		 * share no priority with another kind. */
		pref = 1 + kind * 7500 + j % 7500;
		if (kind == 2) {
			if (j % 1000 == 999)	/* a table of its own: priorities repeat */
				fprintf(f, "rule add iif out0 lookup %u pref %u\n", 2000 + j, pref);
			else
				fprintf(f, "rule add fwmark %u lookup 1000 pref %u\n", j + 1, pref);
			return;
		}
		if (kind == 3) {
			fprintf(f, "rule add ipproto tcp dport %u lookup 1000 pref %u\n", 1 + j % 65535, pref);
			return;
		}
		sel = kind ? "to" : "from";
		i = j;
	}
	if (family == 4)
		fprintf(f, "rule add %s 10.%u.%u.%u lookup 1000 pref %u\n", sel, 100 + i / 65536,
			i / 256 % 256, i % 256, pref);
	else
		fprintf(f, "rule add %s 2001:db8:200::%x:%x lookup 1000 pref %u\n", sel, i / 65536,
			i % 65536, pref);
}

static void setup(unsigned nrules, int family, double *install_s)
{
	char path[] = "/tmp/bench-decision-XXXXXX";
	int fd;
	FILE *f;
	double t0;

	if (unshare(CLONE_NEWNET) < 0)
		die("unshare(CLONE_NEWNET) (run as root)");
	sh("ip link set lo up && "
	   "ip link add in0 type veth peer name in0p && ip link add out0 type veth peer name out0p && "
	   "ip link add out1 type veth peer name out1p && ip link set in0 address 02:00:00:00:00:01 && "
	   "for d in in0 in0p out0 out0p out1 out1p; do ip link set $d up; done && "
	   "ip addr add 10.1.0.1/24 dev in0 && ip addr add 192.0.2.1/24 dev out0 && "
	   "ip addr add 203.0.113.1/24 dev out1 && "
	   "ip -6 addr add 2001:db8:1::1/64 dev in0 nodad && ip -6 addr add 2001:db8:a::1/64 dev out0 nodad && "
	   "ip -6 addr add 2001:db8:b::1/64 dev out1 nodad && "
	   "ip route add default via 192.0.2.2 dev out0 table 100 && ip route add default via 203.0.113.2 dev out1 && "
	   "ip -6 route add default via 2001:db8:a::2 dev out0 table 100 && "
	   "ip -6 route add default via 2001:db8:b::2 dev out1 && "
	   /* Resolved gateways, as on a router that is busy forwarding. */
	   "ip neigh add 192.0.2.2 lladdr 02:00:00:00:00:a2 dev out0 nud permanent && "
	   "ip neigh add 203.0.113.2 lladdr 02:00:00:00:00:b2 dev out1 nud permanent && "
	   "ip -6 neigh add 2001:db8:a::2 lladdr 02:00:00:00:00:a2 dev out0 nud permanent && "
	   "ip -6 neigh add 2001:db8:b::2 lladdr 02:00:00:00:00:b2 dev out1 nud permanent && "
	   "echo 1 > /proc/sys/net/ipv4/conf/all/forwarding && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding && "
	   "echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter && echo 0 > /proc/sys/net/ipv4/conf/default/rp_filter && "
	   "echo 0 > /proc/sys/net/ipv4/conf/in0/rp_filter");
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		die("mkstemp");
	/* Priorities stay below main's 32766 (rules share them past 30,000): every one of the
	 * N rules is walked before the match. */
	for (unsigned i = 0; i < nrules; i++)
		add_rule(f, family, i);
	fprintf(f, "rule add from %s lookup %s pref 30001\n", family == 4 ? "10.1.0.0/24" : "2001:db8:1::/64",
		nroutes ? "main" : "100");
	fclose(f);
	if (nroutes)
		add_routes();
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "ip -%d -batch %s", family, path);
		t0 = now();
		sh(cmd);
		*install_s = now() - t0;
	}
	unlink(path);
}

static void mirror(struct steer_bpf *skel, double *sync_s)
{
	struct model m;
	struct intake nl;
	struct sync s;
	struct sync_fds fds;
	struct image img;
	struct pollfd pfd;
	double t0 = now();

	model_init(&m);
	attach_skel_fds(skel, &fds);
	if (sync_init(&s, &fds) < 0 || intake_open(&nl, &m, 64 << 20) < 0 ||
	    intake_request(&nl, INTAKE_DUMP_ALL) < 0)
		die("agent setup");
	pfd = (struct pollfd){ .fd = nl.conn.fd, .events = POLLIN };
	intake_process(&nl);
	while (!intake_idle(&nl)) {
		poll(&pfd, 1, 1000);
		if (intake_process(&nl) < 0)
			die("intake");
	}
	if (compile_image(&m, NULL, &img) < 0 || sync_apply(&s, &img) < 0 || sync_set_synced(&s, true) < 0)
		die("compile/sync");
	/* No agent heartbeats during the measurement: no deadline. */
	s.stale_after_ns = 0;
	sync_set_synced(&s, true);
	*sync_s = now() - t0;
	image_free(&img);
	intake_close(&nl);
	sync_free(&s);
	model_free(&m);
}

/* ns per run; retval and cb of the last run for a sanity check. */
static double measure(int prog_fd, const uint8_t *frame, size_t len, unsigned long repeat,
		      uint32_t *retval, uint32_t *cb)
{
	struct __sk_buff ctx = { .ifindex = if_nametoindex("in0") }, out = {};
	uint8_t data_out[256];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (uint32_t)len,
		    .data_out = data_out, .data_size_out = sizeof(data_out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &out, .ctx_size_out = sizeof(out),
		    .repeat = (uint32_t)repeat);

	if (bpf_prog_test_run_opts(prog_fd, &o) < 0)
		die("BPF_PROG_TEST_RUN");
	if (retval)
		*retval = o.retval;
	if (cb)
		memcpy(cb, out.cb, 5 * sizeof(*cb));
	return (double)o.duration;
}

/* Repeat so the run lasts about `budget` seconds, at least `min` times. */
static double timed(int fd, const uint8_t *frame, size_t len, unsigned long min, double budget,
		    unsigned long *used)
{
	double probe = measure(fd, frame, len, 100, NULL, NULL);
	unsigned long r = probe > 0 ? (unsigned long)(budget * 1e9 / probe) : min;

	if (r < min)
		r = min;
	if (r > 0xffffffffu)
		r = 0xffffffffu;
	*used = r;
	return measure(fd, frame, len, r, NULL, NULL);
}

static struct result run_one(unsigned nrules, int family, unsigned long repeat)
{
	struct result res = { .rules = nrules, .family = family };
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	struct pkt_spec p = family == 4 ? (struct pkt_spec){ .family = 4, .src = "10.1.0.2", .dst = "198.51.100.1" }
					: (struct pkt_spec){ .family = 6, .src = "2001:db8:1::2", .dst = "2001:db8:ffff::1" };
	/* Through main's big table: a destination in the middle of it, out of out1. */
	const char *oif = nroutes ? "out1" : "out0";

	if (nroutes)
		p.dst = family == 4 ? "11.7.99.1" : "2001:db8:1000:1234::1";
	uint8_t frame[256];
	size_t len = pkt_build(&p, mac, frame, sizeof(frame));
	struct steer_bpf *steer, *cold;
	struct bpf_map *m, *cm;
	struct fib_bpf *fib;
	uint32_t rv, cb[5];
	unsigned long unused;

	setup(nrules, family, &res.install_s);
	steer = steer_bpf__open();
	if (!steer)
		die("steer_bpf__open");
	bpf_map__set_max_entries(steer->maps.steer_src, BIG);
	bpf_map__set_max_entries(steer->maps.steer_dst, BIG);
	bpf_map__set_max_entries(steer->maps.steer_sel, BIG);
	bpf_map__set_max_entries(steer->maps.steer_rules, BIG);
	bpf_map__set_max_entries(steer->maps.steer_rule_hits, BIG);
	if (nroutes)
		bpf_map__set_max_entries(steer->maps.steer_routes, nroutes + nroutes / 5 + 1024);
	steer->rodata->cfg_bench = 1;
	if (getenv("BENCH_NO_SOURCE_CHECK"))
		steer->rodata->cfg_source_check = 0;
	if (steer_bpf__load(steer) < 0)
		die("steer_bpf__load");
	/* The cold copy: the same maps, every packet a new flow. */
	cold = steer_bpf__open();
	if (!cold)
		die("steer_bpf__open");
	cold->rodata->cfg_bench = 2;
	cold->rodata->cfg_source_check = steer->rodata->cfg_source_check;
	bpf_object__for_each_map(cm, cold->obj) {
		if (bpf_map__is_internal(cm))
			continue;
		m = bpf_object__find_map_by_name(steer->obj, bpf_map__name(cm));
		if (!m || bpf_map__reuse_fd(cm, bpf_map__fd(m)) < 0)
			die("reusing the maps for the cold copy");
	}
	if (steer_bpf__load(cold) < 0)
		die("steer_bpf__load (cold)");
	fib = fib_bpf__open_and_load();
	if (!fib)
		die("fib_bpf__open_and_load");
	mirror(steer, &res.sync_s);

	/* Both must decide, and alike: out0 by table 100. */
	measure(bpf_program__fd(steer->progs.steer_ingress), frame, len, 1, &rv, cb);
	if (rv != TC_ACT_REDIRECT || cb[STEER_CB_OIF] != if_nametoindex(oif))
		fprintf(stderr, "bench-decision: steer did not forward by the rule (retval %u, cb0 %#x, oif %u, rule %u, table %u)\n",
			rv, cb[0], cb[STEER_CB_OIF], cb[STEER_CB_PRIORITY], cb[STEER_CB_TABLE]), exit(1);
	measure(bpf_program__fd(fib->progs.kernel), frame, len, 1, &rv, cb);
	if (cb[0] != 0 || cb[1] != if_nametoindex(oif))
		fprintf(stderr, "bench-decision: the kernel did not route by the rule (%u, %u)\n", cb[0], cb[1]), exit(1);

	res.empty_ns = timed(bpf_program__fd(fib->progs.empty), frame, len, repeat, 0.2, &unused);
	res.steer_ns = timed(bpf_program__fd(steer->progs.steer_ingress), frame, len, repeat, 0.5,
			     &res.steer_repeat);
	res.cold_ns = timed(bpf_program__fd(cold->progs.steer_ingress), frame, len, repeat, 0.5,
			    &unused);
	/* The kernel at 100,000 rules takes about a millisecond a packet: a million repeats
	 * would take a quarter of an hour, so it runs for a time budget instead. */
	res.kernel_ns = timed(bpf_program__fd(fib->progs.kernel), frame, len, 1000, 1.0,
			      &res.kernel_repeat);
	fib_bpf__destroy(fib);
	steer_bpf__destroy(cold);
	steer_bpf__destroy(steer);
	return res;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rules", required_argument, NULL, 'r' }, { "family", required_argument, NULL, 'f' },
		{ "repeat", required_argument, NULL, 'n' }, { "json", required_argument, NULL, 'j' },
		{ "routes", required_argument, NULL, 'R' }, { "shape", required_argument, NULL, 's' },
		{}
	};
	char *list = strdup("4,100,1000,10000,100000"), *tok, *save = NULL;
	const char *json = NULL, *families = "46";
	unsigned long repeat = 1000000;
	struct result res[64];
	int nres = 0, c;
	FILE *jf;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			free(list), list = strdup(optarg);
		else if (c == 'f')
			families = optarg;
		else if (c == 'n')
			repeat = strtoul(optarg, NULL, 10);
		else if (c == 'j')
			json = optarg;
		else if (c == 'R')
			nroutes = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 's' && (!strcmp(optarg, "to") || !strcmp(optarg, "from") ||
				      !strcmp(optarg, "mixed")))
			shape = optarg;
		else
			return 2;
	}
	log_set_level(LOG_WARNING);
	log_setup_libbpf();
	printf("%-6s %7s %10s %11s %10s %10s %8s %8s %9s %9s\n", "family", "rules", "empty ns",
	       "kernel ns", "steer hot", "steer cold", "hot x", "cold x", "install s", "sync s");
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (const char *fam = families; *fam && nres < 64; fam++) {
			struct result r = run_one((unsigned)strtoul(tok, NULL, 10), *fam - '0', repeat);

			res[nres++] = r;
			printf("inet%-2s %7u %10.1f %11.1f %10.1f %10.1f %7.2fx %7.2fx %9.2f %9.2f\n",
			       r.family == 6 ? "6" : "", r.rules, r.empty_ns, r.kernel_ns, r.steer_ns,
			       r.cold_ns, r.kernel_ns / r.steer_ns, r.kernel_ns / r.cold_ns, r.install_s,
			       r.sync_s);
			fflush(stdout);
		}
	}
	if (json && (jf = fopen(json, "w"))) {
		fprintf(jf, "{\"benchmark\": \"decision\", \"results\": [\n");
		for (int i = 0; i < nres; i++)
			fprintf(jf, "  {\"family\": %d, \"rules\": %u, \"shape\": \"%s\", \"routes\": %u, \"empty_ns\": %.1f, "
				"\"kernel_ns\": %.1f, \"steer_ns\": %.1f, \"steer_cold_ns\": %.1f, "
				"\"ratio\": %.2f, \"cold_ratio\": %.2f, \"kernel_repeat\": %lu, "
				"\"steer_repeat\": %lu, \"kernel_install_s\": %.3f, \"steer_sync_s\": %.3f}%s\n",
				res[i].family, res[i].rules, shape, nroutes, res[i].empty_ns, res[i].kernel_ns,
				res[i].steer_ns, res[i].cold_ns, res[i].kernel_ns / res[i].steer_ns,
				res[i].kernel_ns / res[i].cold_ns, res[i].kernel_repeat, res[i].steer_repeat,
				res[i].install_s, res[i].sync_s, i + 1 < nres ? "," : "");
		fprintf(jf, "]}\n");
		fclose(jf);
	}
	free(list);
	return 0;
}
