/* bench-forward's topology: client, router and sink namespaces joined by veth pairs, the
 * router's rules and routes, and the real steerd started in the router's namespace (and
 * stopped, and detached) around each steer run. Everything made here goes at exit too. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "forward.h"

const uint8_t router_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x01, 0x01 };
static const char router_mac_str[] = "02:00:00:00:01:01";
static const char sink_mac[] = "02:00:00:00:02:02";
static const char *const ns_role[NNS] = { "client", "router", "sink" };

/* The one topology alive, for the exit-time cleanup: atexit takes no argument. */
static struct bench *live;

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrx(1, fmt, ap);
	va_end(ap);
}

void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd))
		fail("failed: %s", cmd);
}

void pause_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	while ((sig = sigtimedwait(&set, NULL, &ts)) < 0 && errno == EINTR)
		;
	if (sig > 0)
		exit(128 + sig);
}

/* Starts argv in the router's namespace, output appended to the log; its pid. */
static pid_t spawn_router(struct bench *b, char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;
		int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (setns(b->ns_fd[ROUTER], CLONE_NEWNET) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int pinned(const struct bench *b, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", b->pin, name);
	return bpf_obj_get(path);
}

void steerd_start(struct bench *b, bool xdp)
{
	char *argv[16] = { (char *)b->opt->steerd, "--attach", "cli", "--pin-dir", b->pin,
			   "--log-level", "warning" };
	int argc = 7;
	double t0 = now();

	if (b->opt->firewall != FW_NONE) {
		argv[argc++] = "--netfilter";
		argv[argc++] = "offload";
	}
	if (xdp) {
		argv[argc++] = "--attach-mode";
		argv[argc++] = "xdp";
	}
	b->steerd = spawn_router(b, argv);
	b->steerd_xdp = xdp;
	while (now() - t0 < 30) {
		struct steer_state st = {};
		uint32_t zero = 0;
		int fd = pinned(b, STEER_MAP_STATE);
		bool synced = fd >= 0 && !bpf_map_lookup_elem(fd, &zero, &st) && st.synced;

		if (fd >= 0)
			close(fd);
		if (synced)
			return;
		if (waitpid(b->steerd, NULL, WNOHANG) == b->steerd) {
			b->steerd = 0;
			fail("steerd exited before it synced (log: %s)", b->log);
		}
		pause_s(0.05);
	}
	fail("steerd did not sync within 30 s (log: %s)", b->log);
}

/* 1 when an XDP program is attached to the router's cli, 0 when none is, or -errno. */
static int cli_has_xdp(void *arg)
{
	const struct bench *b = arg;
	__u32 id = 0;
	int r = bpf_xdp_query_id(b->cli_ifindex, 0, &id);

	return r < 0 ? r : id != 0;
}

/* Stops steerd and detaches its programs (SIGTERM leaves them attached, for restarts). */
int steerd_stop(struct bench *b)
{
	char *argv[] = { (char *)b->opt->steerd, "--cleanup", "--pin-dir", b->pin, NULL };
	int r = 0;

	if (b->steerd > 0) {
		kill(b->steerd, SIGTERM);
		wait_exit(b->steerd);
		b->steerd = 0;
	}
	if (access(b->pin, F_OK) == 0) {
		if (wait_exit(spawn_router(b, argv)) != 0) {
			fprintf(stderr, "bench-forward: steerd --cleanup failed (log: %s)\n", b->log);
			r = -EIO;
		}
		rmdir(b->pin);
	}
	/* The next path must not run behind a stage left over from this one. The kernel lets
	 * go of an unpinned link from a workqueue, so the detach may trail the cleanup a little
	 * (signals are blocked: the sleep is not cut short, and this runs at exit too). */
	for (int i = 0; b->steerd_xdp && b->ns_fd[ROUTER] >= 0 &&
			tg_in_netns(b->ns_fd[ROUTER], cli_has_xdp, b) > 0; i++) {
		if (i == 100) {
			fprintf(stderr, "bench-forward: an XDP program stayed on the router's cli 2 s "
				"after steerd --cleanup (log: %s)\n", b->log);
			r = -EBUSY;
			break;
		}
		usleep(20 * 1000);
	}
	b->steerd_xdp = false;
	return r;
}

int steer_stats(const struct bench *b, const char *map, uint64_t *v)
{
	int ncpu = libbpf_num_possible_cpus(), fd = pinned(b, map), r = 0;
	struct steer_counters per_cpu[ncpu > 0 ? ncpu : 1];
	__u32 key = 0;

	memset(v, 0, STEER_STAT_MAX * sizeof(*v));
	if (fd < 0 || ncpu <= 0)
		return fd < 0 ? -errno : -EINVAL;
	if (bpf_map_lookup_elem(fd, &key, per_cpu) < 0)
		r = -errno;
	for (int i = 0; !r && i < ncpu; i++)
		for (uint32_t k = 0; k < STEER_STAT_MAX; k++)
			v[k] += per_cpu[i].n[k];
	close(fd);
	return r;
}

static int ifindex_of(void *name)
{
	return (int)if_nametoindex(name);
}

/* GRO on a veth gives it NAPI, and only a veth with NAPI takes the XDP frames its peer
 * sends: the generator's XDP_TX into cli, and the XDP stage's redirect out of `out` (which
 * advertises NDO_XMIT, and so is in steerd's redirect map, only while the sink's eth0 has
 * NAPI). On at every end, for every path alike, so that all of them pay the same receive. */
static const struct {
	int ns;
	const char *dev;
} gro_at[] = { { CLIENT, "eth0" }, { ROUTER, "cli" }, { ROUTER, "out" }, { SINK, "eth0" } };

static int gro_on(void *dev)
{
	struct ethtool_value v = { .cmd = ETHTOOL_SGRO, .data = 1 };
	struct ifreq ifr = { .ifr_data = (void *)&v };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", (const char *)dev);
	if (fd < 0 || ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	return r;
}

/* 1 when the router's two devices are IFF_RUNNING (operationally up), 0 if not yet. */
static int router_running(void *arg)
{
	static const char *const dev[] = { "cli", "out" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok = fd >= 0;

	(void)arg;
	for (int i = 0; ok && i < 2; i++) {
		struct ifreq ifr = {};

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev[i]);
		ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_RUNNING);
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

/* The router's ruleset: forward drops what conntrack does not know, except the generator's
 * port, whose connections it marks for offload (masqueraded out of the uplink under FW_NAT).
 * The sink holds the generator's destination, to answer the priming packets from it, and
 * the client routes by the router, to send them. */
static void firewall_up(struct bench *b)
{
	sh("printf '%%s\\n' 'table inet bench {' "
	   "'chain forward { type filter hook forward priority filter; policy drop;' "
	   "'ct state established,related accept' 'udp dport %2$d ct mark set 0x1 accept' '}' "
	   "%3$s '}' | ip netns exec %1$s nft -f -",
	   b->ns[ROUTER], TG_DPORT,
	   b->opt->firewall == FW_NAT ? "'chain postrouting { type nat hook postrouting priority srcnat;' "
					"'oifname \"out\" masquerade' '}'" : "");
	sh("ip -n %1$s addr add 198.51.100.1/32 dev lo && "
	   "ip -n %1$s route add 10.1.0.0/24 via 10.0.1.1 && "
	   "ip -n %2$s route add default via 10.1.0.1", b->ns[SINK], b->ns[CLIENT]);
}

struct prime {
	unsigned flows;
	int *fd;		/* the client's sockets, one per flow's source port */
	int sink;
	bool nat;
};

static int prime_client(void *arg)
{
	struct prime *p = arg;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(TG_DPORT) };
	struct timeval tv = { .tv_sec = 1 };

	inet_pton(AF_INET, "198.51.100.1", &to.sin_addr);
	for (unsigned i = 0; i < p->flows; i++) {
		struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(1024 + i) };

		inet_pton(AF_INET, "10.1.0.2", &me.sin_addr);
		p->fd[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (p->fd[i] < 0 || bind(p->fd[i], (void *)&me, sizeof(me)) < 0 ||
		    setsockopt(p->fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
		    sendto(p->fd[i], "p", 1, 0, (void *)&to, sizeof(to)) != 1)
			return -errno;
	}
	return 0;
}

static int prime_sink(void *arg)
{
	struct prime *p = arg;
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(TG_DPORT) };

	inet_pton(AF_INET, "198.51.100.1", &me.sin_addr);
	p->sink = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p->sink < 0 || bind(p->sink, (void *)&me, sizeof(me)) < 0)
		return -errno;
	for (unsigned i = 0; i < p->flows; i++) {
		/* Masquerade keeps a source port no other connection holds. */
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(1024 + i) };

		inet_pton(AF_INET, p->nat ? "10.0.1.1" : "10.1.0.2", &to.sin_addr);
		if (sendto(p->sink, "r", 1, 0, (void *)&to, sizeof(to)) != 1)
			return -errno;
	}
	return 0;
}

void bench_prime(struct bench *b)
{
	struct prime p = { .flows = b->opt->flows, .sink = -1, .nat = b->opt->firewall == FW_NAT };
	unsigned answered = 0;
	int r;

	p.fd = calloc(p.flows, sizeof(*p.fd));
	if (!p.fd)
		fail("out of memory");
	for (unsigned i = 0; i < p.flows; i++)
		p.fd[i] = -1;
	r = tg_in_netns(b->ns_fd[CLIENT], prime_client, &p);
	pause_s(0.1);	/* through the router's conntrack before the answers */
	if (r >= 0)
		r = tg_in_netns(b->ns_fd[SINK], prime_sink, &p);
	for (unsigned i = 0; r >= 0 && i < p.flows; i++) {
		char c;

		answered += recv(p.fd[i], &c, 1, 0) == 1;
	}
	for (unsigned i = 0; i < p.flows; i++)
		if (p.fd[i] >= 0)
			close(p.fd[i]);
	if (p.sink >= 0)
		close(p.sink);
	free(p.fd);
	if (r < 0)
		fail("priming the firewall's connections: %s", strerror(-r));
	if (answered != p.flows) {
		sh("ip netns exec %s conntrack -L >&2 || true", b->ns[ROUTER]);
		fail("priming: %u of %u flows were answered through the firewall", answered, p.flows);
	}
}

void bench_down(struct bench *b)
{
	if (b->tg_open)
		tg_close(&b->tg);
	b->tg_open = false;
	steerd_stop(b);
	for (int i = 0; i < NNS; i++) {
		if (b->ns_fd[i] >= 0)
			close(b->ns_fd[i]);
		b->ns_fd[i] = -1;
		if (b->ns_made[i]) {
			char cmd[64];

			/* Not sh(): this also runs at exit, where failing must not exit again. */
			snprintf(cmd, sizeof(cmd), "ip netns del %s", b->ns[i]);
			if (system(cmd))
				fprintf(stderr, "bench-forward: failed: %s\n", cmd);
		}
		b->ns_made[i] = false;
	}
}

static void cleanup_at_exit(void)
{
	if (live)
		bench_down(live);
	live = NULL;
}

/* client eth0 -- cli router out -- eth0 sink; the router's table 100 default via the sink,
 * N rules `from <another source> lookup 1000` (an empty table) ahead of
 * `from 10.1.0.0/24 lookup 100`, as the decision benchmark lays them out. */
void bench_up(struct bench *b, unsigned nrules)
{
	static bool registered;
	char path[] = "/tmp/bench-forward-rules-XXXXXX", file[96];
	int fd;
	FILE *f;

	if (!registered)
		registered = atexit(cleanup_at_exit) == 0;
	live = b;
	for (int i = 0; i < NNS; i++) {
		snprintf(b->ns[i], sizeof(b->ns[i]), "bfwd%d-%s", (int)getpid(), ns_role[i]);
		sh("ip netns add %s", b->ns[i]);
		b->ns_made[i] = true;
		snprintf(file, sizeof(file), "/run/netns/%s", b->ns[i]);
		b->ns_fd[i] = open(file, O_RDONLY | O_CLOEXEC);
		if (b->ns_fd[i] < 0)
			fail("%s: %s", file, strerror(errno));
		sh("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
		   "net.ipv6.conf.default.disable_ipv6=1 && ip -n %s link set lo up", b->ns[i], b->ns[i]);
	}
	sh("ip link add cli netns %s address %s type veth peer name eth0 netns %s", b->ns[ROUTER],
	   router_mac_str, b->ns[CLIENT]);
	sh("ip link add out netns %s type veth peer name eth0 netns %s address %s", b->ns[ROUTER],
	   b->ns[SINK], sink_mac);
	sh("ip -n %1$s addr add 10.1.0.2/24 dev eth0 && ip -n %1$s link set eth0 up", b->ns[CLIENT]);
	sh("ip -n %1$s addr add 10.0.1.2/30 dev eth0 && ip -n %1$s link set eth0 up", b->ns[SINK]);
	sh("ip netns exec %1$s sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
	   "net.ipv4.conf.default.rp_filter=0 && "
	   "ip -n %1$s addr add 10.1.0.1/24 dev cli && ip -n %1$s addr add 10.0.1.1/30 dev out && "
	   "ip -n %1$s link set cli up && ip -n %1$s link set out up && "
	   "ip netns exec %1$s sysctl -qw net.ipv4.conf.cli.rp_filter=0 && "
	   "ip -n %1$s route add default via 10.0.1.2 dev out table 100 && "
	   /* Resolved, as on a router that is busy forwarding. */
	   "ip -n %1$s neigh replace 10.0.1.2 lladdr %2$s dev out nud permanent",
	   b->ns[ROUTER], sink_mac);
	for (size_t i = 0; i < sizeof(gro_at) / sizeof(gro_at[0]); i++) {
		fd = tg_in_netns(b->ns_fd[gro_at[i].ns], gro_on, (void *)gro_at[i].dev);
		if (fd < 0)
			fail("GRO on the %s's %s (veth NAPI): %s", ns_role[gro_at[i].ns], gro_at[i].dev,
			     strerror(-fd));
	}
	if (b->opt->router_cpu >= 0)
		sh("ip netns exec %s sh -c 'printf %%x %u > /sys/class/net/cli/queues/rx-0/rps_cpus'",
		   b->ns[ROUTER], 1u << b->opt->router_cpu);

	if (b->opt->firewall != FW_NONE)
		firewall_up(b);

	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		fail("mkstemp: %s", strerror(errno));
	/* Priorities below main's 32766 (shared past 30,000): all N are walked first. */
	for (unsigned i = 0; i < nrules; i++)
		fprintf(f, "rule add from 10.%u.%u.%u lookup 1000 pref %u\n", 100 + i / 65536,
			i / 256 % 256, i % 256, 1 + i % 30000);
	fprintf(f, "rule add from 10.1.0.0/24 lookup 100 pref 30001\n");
	fclose(f);
	sh("ip -n %s -4 -batch %s", b->ns[ROUTER], path);
	unlink(path);

	/* The operational state follows carrier through linkwatch, up to a second late; steer
	 * punts on a device that is not running (as it should), so no run starts before. */
	for (int i = 0; !tg_in_netns(b->ns_fd[ROUTER], router_running, NULL); i++) {
		if (i == 100)
			fail("the router's devices are not running after 5 s");
		pause_s(0.05);
	}
	b->gen_ifindex = tg_in_netns(b->ns_fd[CLIENT], ifindex_of, "eth0");
	b->sink_ifindex = tg_in_netns(b->ns_fd[SINK], ifindex_of, "eth0");
	b->cli_ifindex = tg_in_netns(b->ns_fd[ROUTER], ifindex_of, "cli");
	b->out_ifindex = tg_in_netns(b->ns_fd[ROUTER], ifindex_of, "out");
	if (b->gen_ifindex <= 0 || b->sink_ifindex <= 0 || b->cli_ifindex <= 0 || b->out_ifindex <= 0)
		fail("the topology's devices");
}
