/* The forwarding benchmark's pieces (bench-forward): the topology and steerd's lifecycle
 * (forward-topo.c), and the runs and their report (forward.c). */
#ifndef STEER_BENCH_FORWARD_H
#define STEER_BENCH_FORWARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "trafficgen.h"

#define MAX_RUNS 64
#define MAX_RULE_COUNTS 16
#define FRAME_LEN 60	/* 64 bytes on the wire with the FCS */

enum { CLIENT, ROUTER, SINK, NNS };

/* Who forwards at the router: the kernel; steer's TC program; steer's XDP stage in front of
 * it (steerd --attach-mode xdp); a program that redirects everything without deciding, at TC
 * and at XDP. */
enum path { KERNEL, STEER, XDP, FLOOR, XDP_FLOOR, NPATH };

/* The router's nftables ruleset: none; a stateful forward filter that marks the allowed port's
 * connections for offload; the same with masquerade out of the uplink. steer runs with
 * `--netfilter offload` under either. */
enum firewall { FW_NONE, FW_FILTER, FW_NAT, NFIREWALL };

struct options {
	unsigned rules[MAX_RULE_COUNTS], nrules;
	unsigned runs, flows, paths;	/* paths: a bit per enum path */
	double duration, warmup;
	int gen_cpu, router_cpu, nice;
	enum firewall firewall;
	const char *json, *steerd;
};

/* Everything one N's topology holds, undone by bench_down (also at exit). */
struct bench {
	const struct options *opt;
	char ns[NNS][32];
	int ns_fd[NNS];
	bool ns_made[NNS];
	char pin[64], log[64];
	pid_t steerd;
	bool steerd_xdp;	/* the running steerd has its XDP stage */
	struct tg tg;
	bool tg_open;
	int gen_ifindex, sink_ifindex, cli_ifindex, out_ifindex;
};

/* The router's ingress MAC: the generator's frames are addressed to it. */
extern const uint8_t router_mac[6];

double now(void);
/* Prints "bench-forward: ..." (errx: the name it runs under) and exits 1 (the exit-time
 * cleanup runs). */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Runs a shell command; fails the benchmark if it does. */
void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sleeps; SIGINT/SIGTERM/SIGHUP (blocked everywhere else) end the program here, cleanly. */
void pause_s(double s);

/* Builds the topology with N rules ahead of the match (and registers its removal at exit). */
void bench_up(struct bench *b, unsigned nrules);
void bench_down(struct bench *b);
/* steerd at the router's ingress (with its XDP stage in front: xdp), back once it has
 * synced; and stopped and detached: 0, or -EIO / -EBUSY when its cleanup failed or left
 * an XDP program on cli. */
void steerd_start(struct bench *b, bool xdp);
int steerd_stop(struct bench *b);
/* Under a firewall: one packet each way for every flow, so that conntrack has seen a reply
 * (and the ruleset has marked it) before the generator starts. */
void bench_prime(struct bench *b);
/* steer's counters in the pinned per-CPU array `map` (STEER_MAP_STATS: TC's;
 * STEER_MAP_XDP_STATS: the XDP stage's), summed over CPUs, into v[STEER_STAT_MAX]; 0 or a
 * negative errno (v all zero). */
int steer_stats(const struct bench *b, const char *map, uint64_t *v);

#endif
