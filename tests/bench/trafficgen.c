/* The forwarding benchmark's traffic: loads trafficgen.bpf.c, runs its generator from a thread
 * in the client's namespace (BPF_PROG_TEST_RUN, live frames, XDP_TX) and reads what its sink
 * counter saw. No kernel module, no AF_PACKET copy per frame: the kernel builds each frame
 * from a page pool and hands it straight to the veth's peer. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trafficgen.h"
#include "trafficgen.skel.h"

/* Frames per BPF_PROG_TEST_RUN call: more than any run sends. Every call installs the
 * program in the XDP dispatcher and takes it out again, each time waiting for an RCU grace
 * period (tens of ms on a small VM, the CPU idle): with calls of 65,536 frames the generator
 * spent about 40% of its time asleep there. So one call lasts the run, and tg_stop ends it
 * with TG_STOP_SIGNAL (the kernel looks for a pending signal after every batch). */
#define TG_REPEAT UINT32_MAX
#define TG_BATCH  64
#define TG_STOP_SIGNAL SIGUSR1

int tg_in_netns(int netns_fd, int (*fn)(void *), void *arg)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), r;

	if (self < 0)
		return -errno;
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		r = -errno;
		close(self);
		return r;
	}
	r = fn(arg);
	/* Failing to come back would leave the caller somewhere unknown: not survivable. */
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	close(self);
	return r;
}

int tg_open(struct tg *g, const uint8_t *frame, size_t len, unsigned flows, int floor_ifindex)
{
	struct trafficgen_bpf *skel;
	int r;

	if (len < TG_HDR_LEN || len > sizeof(g->frame) || !flows || flows > 65536 - 1024)
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	for (int i = 0; i < TG_HOOK_MAX; i++)
		g->hook[i].netns = -1;
	g->gen_cpu = -1;
	g->batch = TG_BATCH;
	memcpy(g->frame, frame, len);
	g->len = len;
	skel = trafficgen_bpf__open();
	if (!skel)
		return -errno;
	memcpy(skel->bss->tg_hdr, frame, TG_HDR_LEN);
	skel->rodata->cfg_sport = (uint16_t)(frame[34] << 8 | frame[35]);
	skel->rodata->cfg_flows = (uint16_t)flows;
	skel->rodata->cfg_dport = TG_DPORT;
	skel->rodata->cfg_floor_ifindex = (uint32_t)floor_ifindex;
	r = trafficgen_bpf__load(skel);
	if (r < 0) {
		trafficgen_bpf__destroy(skel);
		return r;
	}
	g->skel = skel;
	return 0;
}

struct hook_req {
	int ifindex, prog_fd;
	bool xdp;
};

static int hook_attach(void *arg)
{
	const struct hook_req *q = arg;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = q->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1, .prog_fd = q->prog_fd);
	int r;

	if (q->xdp)
		return bpf_xdp_attach(q->ifindex, q->prog_fd, XDP_FLAGS_DRV_MODE, NULL);
	r = bpf_tc_hook_create(&hook);
	if (r < 0 && r != -EEXIST)
		return r;
	return bpf_tc_attach(&hook, &opts);
}

static int hook_detach(void *arg)
{
	const struct hook_req *q = arg;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = q->ifindex, .attach_point = BPF_TC_INGRESS);

	if (q->xdp)
		return bpf_xdp_detach(q->ifindex, XDP_FLAGS_DRV_MODE, NULL);
	/* Removing clsact takes its filters with it. */
	return bpf_tc_hook_destroy(&hook);
}

int tg_attach(struct tg *g, enum tg_hook which, int netns_fd, int ifindex)
{
	struct bpf_program *prog = which == TG_HOOK_SINK	? g->skel->progs.sink :
				   which == TG_HOOK_FLOOR	? g->skel->progs.floor_redirect :
								  g->skel->progs.floor_xdp;
	struct hook_req q = { .ifindex = ifindex, .prog_fd = bpf_program__fd(prog),
			      .xdp = which == TG_HOOK_FLOOR_XDP };
	int r;

	if (g->hook[which].netns >= 0)
		return -EBUSY;
	r = tg_in_netns(netns_fd, hook_attach, &q);
	if (r < 0)
		return r;
	g->hook[which].netns = netns_fd;
	g->hook[which].ifindex = ifindex;
	return 0;
}

int tg_detach(struct tg *g, enum tg_hook which)
{
	struct hook_req q = { .ifindex = g->hook[which].ifindex, .xdp = which == TG_HOOK_FLOOR_XDP };
	int r;

	if (g->hook[which].netns < 0)
		return 0;
	r = tg_in_netns(g->hook[which].netns, hook_detach, &q);
	g->hook[which].netns = -1;
	g->hook[which].ifindex = 0;
	return r;
}

static void *gen_main(void *arg)
{
	struct tg *g = arg;
	struct xdp_md ctx = { .data_end = (uint32_t)g->len, .ingress_ifindex = (uint32_t)g->gen_ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = g->frame, .data_size_in = (uint32_t)g->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = TG_REPEAT,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = g->batch);
	int fd = bpf_program__fd(g->skel->progs.gen);
	sigset_t set;

	if (g->gen_cpu >= 0) {
		cpu_set_t cpus;

		CPU_ZERO(&cpus);
		CPU_SET(g->gen_cpu, &cpus);
		if (sched_setaffinity(0, sizeof(cpus), &cpus) < 0) {
			g->err = -errno;
			return NULL;
		}
	}
	sigemptyset(&set);
	sigaddset(&set, TG_STOP_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* This thread only: the process stays where it is. */
	if (setns(g->gen_netns, CLONE_NEWNET) < 0) {
		g->err = -errno;
		return NULL;
	}
	while (!g->stop) {
		if (bpf_prog_test_run_opts(fd, &o) < 0 && errno != EINTR) {
			g->err = -errno;
			break;
		}
	}
	return NULL;
}

/* Only interrupts: the call returns -EINTR, and the thread looks at g->stop. */
static void on_stop_signal(int sig)
{
	(void)sig;
}

int tg_start(struct tg *g, int netns_fd, int ifindex, int cpu)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	int r;

	if (g->running)
		return -EBUSY;
	/* A handler, so that the signal interrupts the call rather than ending the process. */
	if (sigaction(TG_STOP_SIGNAL, &sa, NULL) < 0)
		return -errno;
	g->gen_netns = netns_fd;
	g->gen_ifindex = ifindex;
	g->gen_cpu = cpu;
	g->stop = false;
	g->err = 0;
	r = pthread_create(&g->thread, NULL, gen_main, g);
	if (r)
		return -r;
	g->running = true;
	return 0;
}

int tg_stop(struct tg *g)
{
	struct timespec until;

	if (!g->running)
		return 0;
	g->stop = true;
	/* Again every 10 ms until it has gone: a signal that lands between the thread's look at
	 * g->stop and its next call interrupts nothing. */
	do {
		pthread_kill(g->thread, TG_STOP_SIGNAL);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 10 * 1000 * 1000;
		if (until.tv_nsec >= 1000 * 1000 * 1000) {
			until.tv_sec++;
			until.tv_nsec -= 1000 * 1000 * 1000;
		}
	} while (pthread_timedjoin_np(g->thread, NULL, &until) == ETIMEDOUT);
	g->running = false;
	return g->err;
}

uint64_t tg_read(const struct tg *g, enum tg_count which)
{
	int ncpu = libbpf_num_possible_cpus();
	uint32_t key = which;
	uint64_t sum = 0, *v;

	if (ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
		return 0;
	if (!bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.tg_counts), &key, v))
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

void tg_close(struct tg *g)
{
	tg_stop(g);
	for (int i = 0; i < TG_HOOK_MAX; i++)
		tg_detach(g, (enum tg_hook)i);
	trafficgen_bpf__destroy(g->skel);
	g->skel = NULL;
}
