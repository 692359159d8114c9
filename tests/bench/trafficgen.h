/* The forwarding benchmark's packet generator and sink counter (trafficgen.bpf.c), loaded
 * and driven from user space: one thread sends a prebuilt frame out of a device in another
 * network namespace as fast as BPF_PROG_TEST_RUN's live-frames mode goes, and a TC program
 * in the sink's namespace counts what arrives. Functions return 0 or a negative errno. */
#ifndef STEER_BENCH_TRAFFICGEN_H
#define STEER_BENCH_TRAFFICGEN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trafficgen-abi.h"

struct trafficgen_bpf;

/* The programs that go on a device, each at one device's ingress at a time. */
enum tg_hook {
	TG_HOOK_SINK,		/* TC: counts and drops the generator's frames */
	TG_HOOK_FLOOR,		/* TC: redirects everything to the floor device */
	TG_HOOK_FLOOR_XDP,	/* XDP (native): the same, as XDP frames */
	TG_HOOK_MAX,
};

struct tg {
	struct trafficgen_bpf *skel;
	struct {
		int netns, ifindex;	/* -1/0: not attached */
	} hook[TG_HOOK_MAX];
	/* The generator thread. */
	pthread_t thread;
	bool running;
	volatile bool stop;
	int gen_netns, gen_ifindex, gen_cpu;	/* gen_cpu -1: not pinned */
	uint8_t frame[128];
	size_t len;
	unsigned batch;			/* frames per live-frames batch (kernel limit 256) */
	int err;			/* the thread's first failure */
};

/* Loads the programs for this frame (an Ethernet/IPv4/UDP frame of at least TG_HDR_LEN
 * bytes whose UDP destination port is TG_DPORT), its source port spread over `flows`
 * ports from the frame's own; the floor program redirects to floor_ifindex. */
int tg_open(struct tg *g, const uint8_t *frame, size_t len, unsigned flows, int floor_ifindex);
/* Attaches a program at ingress of ifindex in that namespace (TC: clsact; XDP: native
 * mode), or detaches it. */
int tg_attach(struct tg *g, enum tg_hook which, int netns_fd, int ifindex);
int tg_detach(struct tg *g, enum tg_hook which);
/* Starts sending out of ifindex (the device's XDP_TX) in that namespace, from a thread
 * pinned to cpu (-1: anywhere); tg_stop ends it and returns its first error. The thread
 * sends in one long BPF_PROG_TEST_RUN call that tg_stop interrupts with SIGUSR1 (tg_start
 * installs a handler for it that does nothing). */
int tg_start(struct tg *g, int netns_fd, int ifindex, int cpu);
int tg_stop(struct tg *g);
/* A counter summed over CPUs; 0 when it cannot be read. */
uint64_t tg_read(const struct tg *g, enum tg_count which);
void tg_close(struct tg *g);

/* Runs fn(arg) with the calling thread in the network namespace netns_fd; its result. */
int tg_in_netns(int netns_fd, int (*fn)(void *), void *arg);

#endif
