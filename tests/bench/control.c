/* Control-plane benchmark: how fast a kernel change reaches the maps, and how fast a large
 * table is mirrored, against the kernel's own install of it, with steerd's peak memory.
 *
 *   bench-control [--changes N] [--routes N] [--rules N] [--json FILE]
 *
 * Runs in a private network namespace with the real steerd (STEERD, default the build's).
 * Latency is measured from just before the netlink request leaves to the moment the map
 * entry the datapath reads shows it; nothing here asserts a time. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <getopt.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH "bench-control"
#include "bench.h"
#include "abi.h"
#include "verify.h"

#define PIN "/sys/fs/bpf/steer-bench-control"

static int map(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), PIN "/%s", name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		die(path);
	return fd;
}

/* One RTM_NEWROUTE (replace) for 198.51.100.0/24 via gw in table 100, sent raw. */
static void route_replace(int nl, uint32_t gw, int oif)
{
	struct {
		struct nlmsghdr h;
		struct rtmsg r;
		char attrs[64];
	} req = {};
	struct rtattr *a;
	uint32_t dst = htonl(0xc6336400), table = 100;
	char ack[256];

	req.h.nlmsg_type = RTM_NEWROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
	req.r = (struct rtmsg){ .rtm_family = AF_INET, .rtm_dst_len = 24, .rtm_table = RT_TABLE_UNSPEC,
				.rtm_protocol = RTPROT_STATIC, .rtm_scope = RT_SCOPE_UNIVERSE,
				.rtm_type = RTN_UNICAST };
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.r));
#define PUT(type, val)                                                              \
	a = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.h.nlmsg_len));         \
	a->rta_type = type;                                                         \
	a->rta_len = RTA_LENGTH(sizeof(val));                                       \
	memcpy(RTA_DATA(a), &val, sizeof(val));                                     \
	req.h.nlmsg_len = NLMSG_ALIGN(req.h.nlmsg_len) + RTA_ALIGN(a->rta_len)
	PUT(RTA_DST, dst);
	PUT(RTA_GATEWAY, gw);
	PUT(RTA_OIF, oif);
	PUT(RTA_TABLE, table);
	if (send(nl, &req, req.h.nlmsg_len, 0) < 0 || recv(nl, ack, sizeof(ack), 0) < 0)
		die("route replace");
}

/* The gateway the maps hold for 198.51.100.0/24 in table 100, 0 if none. */
static uint32_t mapped_gw(int routes, int nhs)
{
	struct steer_route_key k = { .prefixlen = STEER_ROUTE_KEY_BITS(32), .table = 100,
				     .family = STEER_AF_INET, .addr = { 198, 51, 100, 7 } };
	struct steer_route r;
	struct steer_nexthop nh;
	uint32_t gw;

	if (bpf_map_lookup_elem(routes, &k, &r) || r.type != STEER_RT_FORWARD ||
	    bpf_map_lookup_elem(nhs, &r.nh_id, &nh))
		return 0;
	memcpy(&gw, nh.gw, 4);
	return gw;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static long peak_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "changes", required_argument, NULL, 'c' }, { "routes", required_argument, NULL, 'r' },
		{ "rules", required_argument, NULL, 'u' }, { "json", required_argument, NULL, 'j' }, {}
	};
	const char *steerd = getenv("STEERD") ? getenv("STEERD") : "build/agent/steerd", *json = NULL;
	unsigned changes = 1000, nroutes = 100000, nrules = 10000;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	uint32_t gw[2] = { htonl(0xc0000202), htonl(0xc0000203) };
	double *lat, t0, t_kernel, t_steer, p50, p99;
	int c, nl, routes_fd, nhs_fd, src_fd, oif;
	size_t want_routes, have;
	pid_t pid;
	FILE *f;
	long rss;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'c')
			changes = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'r')
			nroutes = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'u')
			nrules = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'j')
			json = optarg;
		else
			return 2;
	}
	if (unshare(CLONE_NEWNET) < 0)
		die("unshare(CLONE_NEWNET) (run as root)");
	sh("ip link set lo up && ip link add in0 type veth peer name in0p && "
	   "ip link add out0 type veth peer name out0p && "
	   "for d in in0 in0p out0 out0p; do ip link set $d up; done && "
	   "ip addr add 10.1.0.1/24 dev in0 && ip addr add 192.0.2.1/24 dev out0 && "
	   "echo 1 > /proc/sys/net/ipv4/conf/all/forwarding && rm -rf " PIN);
	oif = (int)if_nametoindex("out0");

	pid = fork();
	if (pid == 0) {
		execl(steerd, steerd, "--attach", "in0", "--pin-dir", PIN, "--log-level", "warning",
		      "--limit", "routes=262144", "--limit", "src=65536", "--limit", "rules=65536",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		struct steer_state st = {};
		uint32_t zero = 0;
		int fd;

		usleep(100000);
		fd = bpf_obj_get(PIN "/steer_state");
		if (fd >= 0 && !bpf_map_lookup_elem(fd, &zero, &st) && st.synced) {
			close(fd);
			break;
		}
		if (fd >= 0)
			close(fd);
	}
	routes_fd = map(STEER_MAP_ROUTES);
	nhs_fd = map(STEER_MAP_NH);
	src_fd = map(STEER_MAP_SRC);

	/* (a) one change at a time */
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0 || connect(nl, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		die("netlink");
	lat = calloc(changes, sizeof(*lat));
	for (unsigned i = 0; i < changes; i++) {
		uint32_t want = gw[i % 2];

		t0 = now();
		route_replace(nl, want, oif);
		while (mapped_gw(routes_fd, nhs_fd) != want)
			if (now() - t0 > 5)
				fprintf(stderr, "bench-control: change %u never reached the maps\n", i), exit(1);
		lat[i] = (now() - t0) * 1e3;
	}
	qsort(lat, changes, sizeof(*lat), cmp_double);
	p50 = lat[changes / 2];
	p99 = lat[changes * 99 / 100];

	/* (b) bulk: N routes and M rules in one ip -batch */
	{
		char file[] = "/tmp/bench-control-batch-XXXXXX", cmd[256];
		int fd = mkstemp(file);

		if (fd < 0 || !(f = fdopen(fd, "w")))
			die("mkstemp");
		for (unsigned i = 0; i < nroutes; i++)
			fprintf(f, "route add 10.%u.%u.%u via 192.0.2.2 dev out0 table %u\n", 64 + i / 65536,
				i / 256 % 256, i % 256, 200 + i % 8);
		for (unsigned i = 0; i < nrules; i++)
			fprintf(f, "rule add from 172.%u.%u.%u lookup %u pref %u\n", 16 + i / 65536 % 16,
				i / 256 % 256, i % 256, 200 + i % 8, 1000 + i % 30000);
		fclose(f);
		want_routes = verify_count_keys(routes_fd, sizeof(struct steer_route_key)) + nroutes;
		snprintf(cmd, sizeof(cmd), "ip -batch %s", file);
		t0 = now();
		sh(cmd);
		t_kernel = now() - t0;
		while ((have = verify_count_keys(routes_fd, sizeof(struct steer_route_key))) < want_routes ||
		       verify_count_keys(src_fd, sizeof(struct steer_src_key)) < nrules)
			if (now() - t0 > 600)
				fprintf(stderr, "bench-control: the maps never caught up (%zu of %zu routes)\n",
					have, want_routes), exit(1);
		t_steer = now() - t0;
		unlink(file);
	}
	rss = peak_rss_kib(pid);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	sh("rm -rf " PIN);

	printf("change to map, %u route replaces: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", changes, p50,
	       p99, lat[changes - 1]);
	printf("bulk %u routes + %u rules: kernel installs them in %.2f s (%.0f routes/s); "
	       "steer's maps hold them %.2f s after the start (%.0f routes/s), %.2fx the kernel's time\n",
	       nroutes, nrules, t_kernel, nroutes / t_kernel, t_steer, nroutes / t_steer, t_steer / t_kernel);
	printf("steerd peak RSS: %.1f MiB\n", rss / 1024.0);
	if (json && (f = fopen(json, "w"))) {
		fprintf(f, "{\"benchmark\": \"control\", \"changes\": %u, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
			"\"routes\": %u, \"rules\": %u, \"kernel_s\": %.3f, \"steer_s\": %.3f, "
			"\"kernel_routes_per_s\": %.0f, \"steer_routes_per_s\": %.0f, \"peak_rss_mib\": %.1f}\n",
			changes, p50, p99, nroutes, nrules, t_kernel, t_steer, nroutes / t_kernel,
			nroutes / t_steer, rss / 1024.0);
		fclose(f);
	}
	free(lat);
	return 0;
}
