/* Tier-2 tests: the real compiled datapath under BPF_PROG_TEST_RUN, its maps filled by the
 * real intake, compiler and sync from a private network namespace built with `ip`. Each case
 * sends one crafted frame "in" on in0 and checks the decision the program left in skb->cb[]
 * against what the kernel would do, then the rewritten frame and the per-CPU counters. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "compile.h"
#include "log.h"
#include "model.h"
#include "nf.h"
#include "nl.h"
#include "pkt.h"
#include "steer.skel.h"
#include "sync.h"
#include "verify.h"

#define TC_ACT_OK 0
#define TC_ACT_REDIRECT 7
#define TC_ACT_SHOT 2
#define WANT_FORWARD STEER_STAT_FORWARDED

struct t {
	struct steer_bpf *skel;
	struct model m;
	struct intake nl;
	struct sync s;
	int in0, out0, out1, vlan;	/* ifindexes; vlan: the sub-interface for vid 10 */
	const char *vlan_name;
	uint8_t in0_mac[6];
	int n, failed;
	uint64_t want_stats[STEER_STAT_MAX];	/* what the cases expect to be counted */
};

struct run {
	int err;
	uint32_t retval;
	uint32_t priority;	/* skb->priority as the program left it */
	uint32_t cb[5];
	uint8_t out[4096];
	uint32_t out_len;
};

/* Which device a case expects in cb[STEER_CB_OIF]; 0: not checked. */
enum { OIF_NONE, OIF_OUT0, OIF_OUT1, OIF_IN0 };

struct tcase {
	const char *name;
	struct pkt_spec p;
	int want;		/* WANT_FORWARD or a STEER_STAT_PUNT_* reason */
	int oif;
	uint32_t prio, table;	/* checked for forwards, and for punts when either is set */
};

/* ---- reporting ---- */

/* One TAP line; on failure fmt/... says what was got and what was wanted. */
static void __attribute__((format(printf, 4, 5)))
check(struct t *t, bool ok, const char *desc, const char *fmt, ...)
{
	va_list ap;

	t->n++;
	if (ok) {
		printf("ok %d - %s\n", t->n, desc);
		return;
	}
	t->failed++;
	printf("not ok %d - %s (", t->n, desc);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(")\n");
}

static const char *stat_name(int stat)
{
	if (stat == WANT_FORWARD)
		return "forward";
	return stat >= 0 && stat < STEER_STAT_MAX ? steer_stat_names[stat] : "?";
}

/* The decision a run shows: "forward", "punt_<reason>", or what was inconsistent. */
static const char *outcome(const struct run *r, char *buf, size_t len)
{
	uint32_t verdict = r->cb[STEER_CB_VERDICT] >> 16, stat = r->cb[STEER_CB_VERDICT] & 0xffff;

	if (r->err)
		snprintf(buf, len, "test run error %d", r->err);
	else if (r->retval == TC_ACT_REDIRECT && verdict == STEER_VERDICT_FORWARD &&
		 stat == STEER_STAT_FORWARDED)
		snprintf(buf, len, "forward");
	else if (r->retval == TC_ACT_SHOT && verdict == STEER_VERDICT_DROP && stat < STEER_STAT_MAX)
		snprintf(buf, len, "%s", steer_stat_names[stat]);
	else if (r->retval == TC_ACT_OK && verdict == STEER_VERDICT_PUNT && stat < STEER_STAT_MAX)
		snprintf(buf, len, "%s", steer_stat_names[stat]);
	else
		snprintf(buf, len, "retval %u cb0 %#x", r->retval, r->cb[STEER_CB_VERDICT]);
	return buf;
}

static __attribute__((noreturn)) void bail(const char *what)
{
	printf("Bail out! %s\n", what);
	exit(1);
}

/* ---- the namespace ---- */

/* Runs a shell command and returns its exit status; a failed `must` command ends the test. */
static int __attribute__((format(printf, 2, 3))) sh(bool must, const char *fmt, ...)
{
	char cmd[2048], msg[2100];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(cmd))
		bail("command too long for sh()");
	r = system(cmd);
	if (r && must) {
		snprintf(msg, sizeof(msg), "command failed: %s", cmd);
		bail(msg);
	}
	return r;
}

static void sysctl(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(val, f) < 0 || fclose(f))
		bail(path);
}

/* The device the kernel's own forwarding lookup picks (`ip route get ... iif`), or 0. As uid
 * 0, as the kernel looks up what it forwards (IPv6's `route get` would use no uid at all). */
static int kernel_oif(const struct pkt_spec *p, const char *iif)
{
	char cmd[512], line[1024], name[IF_NAMESIZE + 1];
	const char *d;
	int oif = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "ip -%d -o route get %s from %s iif %s uid 0 mark %u tos 0x%x ipproto udp sport %u dport %u 2>/dev/null",
		 p->family, p->dst, p->src, iif, p->mark, p->tos, p->sport ? p->sport : 12345,
		 p->dport ? p->dport : 53);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f) && (d = strstr(line, " dev ")) &&
	    sscanf(d + 5, "%16s", name) == 1)
		oif = (int)if_nametoindex(name);
	pclose(f);
	return oif;
}

static void setup_netns(struct t *t)
{
	static const char *const cmds[] = {
		"ip link set lo up",
		/* veth pairs, not dummies (not every kernel has the dummy driver); the peers
		 * (...p) only give carrier. */
		"ip link add in0 type veth peer name in0p",
		"ip link add out0 type veth peer name out0p",
		"ip link add out1 type veth peer name out1p",
		"ip link set in0 address 02:00:00:00:00:01",
		"ip link set out0 address 02:00:00:00:00:02",
		"ip link set out1 address 02:00:00:00:00:03",
		"for d in in0 in0p out0 out0p out1 out1p; do ip link set $d up || exit 1; done",
		"ip addr add 10.1.0.1/24 dev in0",
		"ip addr add 192.0.2.1/24 dev out0",
		"ip addr add 203.0.113.1/24 dev out1",
		"ip -6 addr add 2001:db8:1::1/64 dev in0 nodad",
		"ip -6 addr add 2001:db8:a::1/64 dev out0 nodad",
		"ip -6 addr add 2001:db8:b::1/64 dev out1 nodad",
		"ip route add default via 192.0.2.2 dev out0 table 100",
		"ip route add default via 203.0.113.2 dev out1",
		"ip route add 10.2.0.0/24 via 10.1.0.3 dev in0",
		"ip -6 route add default via 2001:db8:a::2 dev out0 table 100",
		"ip -6 route add default via 2001:db8:b::2 dev out1",
		"ip -6 route add 2001:db8:2::/64 via 2001:db8:1::3 dev in0",
		"ip rule add from 10.1.0.0/24 table 100 priority 100",
		"ip -6 rule add from 2001:db8:1::/64 table 100 priority 100",
	};

	if (unshare(CLONE_NEWNET) < 0)
		bail("unshare(CLONE_NEWNET) failed: run as root");
	/* all/forwarding also sets default, so devices made later forward too. */
	sysctl("/proc/sys/net/ipv4/conf/all/forwarding", "1");
	sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
	sysctl("/proc/sys/net/ipv4/conf/default/rp_filter", "0");
	sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		sh(true, "%s", cmds[i]);
	t->in0 = (int)if_nametoindex("in0");
	t->out0 = (int)if_nametoindex("out0");
	t->out1 = (int)if_nametoindex("out1");
	memcpy(t->in0_mac, (uint8_t[]){ 0x02, 0, 0, 0, 0, 0x01 }, 6);
	if (!t->in0 || !t->out0 || !t->out1)
		bail("devices missing after setup");
}

/* ---- mirroring and running ---- */

/* Bring the maps of sync s level with the namespace: read every pending event (and the
 * dumps they start) until the intake is idle, then compile and apply, as steerd's loop
 * does. Returns what sync_apply() does. */
static int mirror_to(struct t *t, struct sync *s)
{
	struct pollfd pfd = { .fd = t->nl.conn.fd, .events = POLLIN };
	time_t deadline = time(NULL) + 10;
	struct image img;
	int r;

	if (intake_process(&t->nl) < 0)
		bail("intake_process failed");
	while (!intake_idle(&t->nl)) {
		if (time(NULL) > deadline)
			bail("netlink intake never went idle");
		poll(&pfd, 1, 200);
		if (intake_process(&t->nl) < 0)
			bail("intake_process failed");
	}
	sysctl_refresh(&t->m);	/* as steerd does before every compile */
	if (compile_image(&t->m, NULL, &img) < 0)
		bail("compile_image failed");
	r = sync_apply(s, &img);
	if (!r && sync_set_synced(s, true) < 0)
		bail("sync_set_synced failed");
	image_free(&img);
	return r;
}

static void mirror(struct t *t)
{
	if (mirror_to(t, &t->s) < 0)
		bail("sync_apply failed");
}

static void setup_datapath(struct t *t)
{
	struct sync_fds fds;

	t->skel = steer_bpf__open_and_load();
	if (!t->skel)
		bail("steer_bpf__open_and_load failed");
	attach_skel_fds(t->skel, &fds);
	model_init(&t->m);
	if (sync_init(&t->s, &fds) < 0 || intake_open(&t->nl, &t->m, 4 << 20) < 0 ||
	    intake_request(&t->nl, INTAKE_DUMP_ALL) < 0)
		bail("agent setup failed");
	mirror(t);
}

/* One BPF_PROG_TEST_RUN of frame as received on in0; gso_size non-zero makes it a GSO
 * packet of segments that size (UDP: SKB_GSO_UDP_L4 is not settable, so the kernel counts
 * only the IP header in a segment's length). */
static struct run run_frame_gso(struct t *t, const uint8_t *frame, size_t len, uint32_t mark,
				uint32_t cb0, uint32_t gso_size)
{
	struct __sk_buff ctx = { .ifindex = (uint32_t)t->in0, .mark = mark, .cb = { cb0 },
				 .gso_size = gso_size, .gso_segs = gso_size ? 2 : 0 }, ctx_out = {};
	struct run r = {};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (uint32_t)len,
		    .data_out = r.out, .data_size_out = sizeof(r.out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx_out, .ctx_size_out = sizeof(ctx_out),
		    .repeat = 1);

	if (bpf_prog_test_run_opts(bpf_program__fd(t->skel->progs.steer_ingress), &o) < 0)
		r.err = -errno;
	r.retval = o.retval;
	r.priority = ctx_out.priority;
	r.out_len = o.data_size_out;
	memcpy(r.cb, ctx_out.cb, sizeof(r.cb));
	return r;
}

static struct run run_frame_ctx(struct t *t, const uint8_t *frame, size_t len, uint32_t mark,
				uint32_t cb0)
{
	return run_frame_gso(t, frame, len, mark, cb0, 0);
}

static struct run run_frame(struct t *t, const uint8_t *frame, size_t len, uint32_t mark)
{
	return run_frame_ctx(t, frame, len, mark, 0);
}

/* Asked as steerctl explain asks: same decision, no counter moves. */
static struct run run_frame_quiet(struct t *t, const uint8_t *frame, size_t len)
{
	return run_frame_ctx(t, frame, len, 0, STEER_CB_EXPLAIN);
}

/* The first byte where a and b differ (the shorter length if one is a prefix), -1 if equal. */
static ssize_t first_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t i = 0;

	while (i < alen && i < blen && a[i] == b[i])
		i++;
	return i == alen && i == blen ? -1 : (ssize_t)i;
}

static int oif_of(const struct t *t, int which)
{
	return which == OIF_OUT0 ? t->out0 : which == OIF_OUT1 ? t->out1 : which == OIF_IN0 ? t->in0 : 0;
}

/* Sends one case and checks the decision, where it points, and the frame that leaves:
 * untouched for a punt; for a forward untagged, one hop less, checksum redone. */
static void run_case(struct t *t, const struct tcase *c)
{
	uint8_t frame[2048], want[2048];
	size_t len = pkt_build(&c->p, t->in0_mac, frame, sizeof(frame)), want_len = len;
	struct pkt_spec w = c->p;
	bool fwd = c->want == WANT_FORWARD;
	char desc[160], got[64];
	struct run r;
	ssize_t diff;

	if (!len)
		bail(c->name);
	r = run_frame(t, frame, len, c->p.mark);
	t->want_stats[STEER_STAT_RX]++;
	t->want_stats[c->want]++;

	snprintf(desc, sizeof(desc), "%s: %s", c->name, stat_name(c->want));
	check(t, !strcmp(outcome(&r, got, sizeof(got)), stat_name(c->want)), desc, "got %s", got);
	if (c->oif) {
		snprintf(desc, sizeof(desc), "%s: output ifindex", c->name);
		check(t, r.cb[STEER_CB_OIF] == (uint32_t)oif_of(t, c->oif), desc, "got %u, want %d",
		      r.cb[STEER_CB_OIF], oif_of(t, c->oif));
	}
	if (fwd || c->prio || c->table) {
		snprintf(desc, sizeof(desc), "%s: rule %u table %u", c->name, c->prio, c->table);
		check(t, r.cb[STEER_CB_PRIORITY] == c->prio && r.cb[STEER_CB_TABLE] == c->table, desc,
		      "got rule %u table %u", r.cb[STEER_CB_PRIORITY], r.cb[STEER_CB_TABLE]);
	}

	if (fwd) {
		/* ip_forward() sets it from the TOS byte (ip_tos2prio); ip6_forward() does not. */
		static const uint8_t tos2prio[16] = { 0, 0, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4 };
		uint32_t prio = c->p.family == 4 ? tos2prio[(c->p.tos & 0x1e) >> 1] : 0;

		snprintf(desc, sizeof(desc), "%s: skb->priority %u, as the kernel sets it", c->name, prio);
		check(t, r.priority == prio, desc, "got %u", r.priority);
	}
	memcpy(want, frame, len);
	if (fwd) {
		w.vid = 0;
		w.pad = 0;	/* the kernel trims padding before forwarding */
		w.ttl = (uint8_t)((c->p.ttl ? c->p.ttl : 64) - 1);
		want_len = pkt_build(&w, t->in0_mac, want, sizeof(want));
	}
	diff = first_diff(r.out, r.out_len, want, want_len);
	snprintf(desc, sizeof(desc), "%s: frame %s", c->name,
		 !fwd ? "untouched" : c->p.family == 4 ? "with TTL - 1 and a valid checksum" :
		 "with hop limit - 1");
	check(t, diff < 0 && (!fwd || c->p.family != 4 || csum(r.out + 14, 20) == 0), desc,
	      "got %u bytes differing from byte %zd, want %zu", r.out_len, diff, want_len);
	if (fwd) {
		int kernel = kernel_oif(&c->p, c->p.vid ? t->vlan_name : "in0");

		snprintf(desc, sizeof(desc), "%s: kernel's ip route get agrees", c->name);
		check(t, kernel == (int)r.cb[STEER_CB_OIF], desc, "kernel says %d, program %u", kernel,
		      r.cb[STEER_CB_OIF]);
	}
}

static void run_cases(struct t *t, const struct tcase *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(t, &c[i]);
}
#define RUN(t, cases) run_cases(t, cases, sizeof(cases) / sizeof(cases[0]))

/* ---- the cases ---- */

#define V4(s, d, ...) { .family = 4, .src = s, .dst = d, __VA_ARGS__ }
#define V6(s, d, ...) { .family = 6, .src = s, .dst = d, __VA_ARGS__ }
#define FWD_OUT0 WANT_FORWARD, OIF_OUT0, 100, 100
#define FWD_OUT1 WANT_FORWARD, OIF_OUT1, 32766, 254
#define FWD_OUT0_LATER WANT_FORWARD, OIF_OUT0, 100, 100
#define INET "198.51.100.1"
#define INET6 "2001:db8:ffff::1"

static const struct tcase baseline[] = {
	{ "v4 from-rule source", V4("10.1.0.2", INET), FWD_OUT0 },
	{ "v4 other source", V4("10.2.0.2", INET), FWD_OUT1 },
	{ "v4 source routed back by main's default", V4("10.3.0.2", INET), FWD_OUT1 },
	{ "v4 TTL 2", V4("10.1.0.2", INET, .ttl = 2), FWD_OUT0 },
	{ "v6 from-rule source", V6("2001:db8:1::2", INET6), FWD_OUT0 },
	{ "v6 other source", V6("2001:db8:2::2", INET6), FWD_OUT1 },
	{ "v6 hop limit 2", V6("2001:db8:1::2", INET6, .ttl = 2), FWD_OUT0 },
	/* A 40-byte packet (a TCP ACK's size) padded to Ethernet's 60-byte minimum. */
	{ "v4 short packet with Ethernet padding", V4("10.1.0.2", INET, .l3_len = 40, .pad = 6), FWD_OUT0 },
	{ "v6 packet with trailing padding", V6("2001:db8:1::2", INET6, .pad = 6), FWD_OUT0 },
	{ "v4 tos 0x08 (bulk)", V4("10.1.0.2", INET, .tos = 0x08), FWD_OUT0 },
	{ "v4 tos 0x1c (interactive bulk, low cost)", V4("10.1.0.2", INET, .tos = 0x1e), FWD_OUT0 },
	{ "v6 tclass 0x10 (no priority)", V6("2001:db8:1::2", INET6, .tos = 0x10), FWD_OUT0 },
};

static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x99 };
static const uint8_t mcast_mac[6] = { 0x01, 0x00, 0x5e, 0, 0, 0x05 };

static const struct tcase parser_punts[] = {
	{ "v4 to another MAC", V4("10.1.0.2", INET, .dst_mac = other_mac), STEER_STAT_PUNT_NOT_FOR_US },
	{ "v4 to a multicast MAC", V4("10.1.0.2", INET, .dst_mac = mcast_mac), STEER_STAT_PUNT_NOT_FOR_US },
	{ "v6 to another MAC", V6("2001:db8:1::2", INET6, .dst_mac = other_mac), STEER_STAT_PUNT_NOT_FOR_US },
	{ "ARP ethertype", V4("10.1.0.2", INET, .ethertype = 0x0806), STEER_STAT_PUNT_NOT_IP },
	/* Truncated headers are sent tagged (in vlan[]): the kernel's test run refuses an
	 * untagged IP frame shorter than its network header before the program sees it. */
	{ "v4 ethertype, version 6", V4("10.1.0.2", INET, .version = 6), STEER_STAT_PUNT_MALFORMED },
	{ "v4 total length 19", V4("10.1.0.2", INET, .len_field = 19), STEER_STAT_PUNT_MALFORMED },
	{ "v6 ethertype, version 4", V6("2001:db8:1::2", INET6, .version = 4), STEER_STAT_PUNT_MALFORMED },
	{ "v4 TTL 1", V4("10.1.0.2", INET, .ttl = 1), STEER_STAT_PUNT_TTL },
	{ "v6 hop limit 1", V6("2001:db8:1::2", INET6, .ttl = 1), STEER_STAT_PUNT_TTL },
	{ "v4 options (ihl 6)", V4("10.1.0.2", INET, .options = 1), STEER_STAT_PUNT_IP_OPTIONS },
	{ "v6 hop-by-hop header", V6("2001:db8:1::2", INET6, .hop_by_hop = true), STEER_STAT_PUNT_IP_OPTIONS },
	{ "v4 first fragment (MF)", V4("10.1.0.2", INET, .frag = 0x2000), STEER_STAT_PUNT_FRAGMENT },
	{ "v4 later fragment (offset 185)", V4("10.1.0.2", INET, .frag = 185), STEER_STAT_PUNT_FRAGMENT },
	{ "v4 multicast destination", V4("10.1.0.2", "224.0.0.5"), STEER_STAT_PUNT_SPECIAL_ADDR },
	{ "v4 loopback destination", V4("10.1.0.2", "127.0.0.1"), STEER_STAT_PUNT_SPECIAL_ADDR },
	{ "v4 loopback source", V4("127.0.0.1", INET), STEER_STAT_PUNT_SPECIAL_ADDR },
	{ "v6 link-local source", V6("fe80::2", INET6), STEER_STAT_PUNT_SPECIAL_ADDR },
	{ "v6 link-local destination", V6("2001:db8:1::2", "fe80::5"), STEER_STAT_PUNT_SPECIAL_ADDR },
	{ "v6 multicast destination", V6("2001:db8:1::2", "ff02::1"), STEER_STAT_PUNT_SPECIAL_ADDR },
	{ "v6 loopback destination", V6("2001:db8:1::2", "::1"), STEER_STAT_PUNT_SPECIAL_ADDR },
};

/* ip_rcv_core() and ipv6_rcv() drop these before routing; forwarding them is not what the
 * kernel does, so the fast path must leave them to it. */
static const struct tcase kernel_drops[] = {
	{ "v4 bad header checksum", V4("10.1.0.2", INET, .bad_csum = true), STEER_STAT_PUNT_MALFORMED },
	{ "v4 total length past the frame", V4("10.1.0.2", INET, .len_field = 200), STEER_STAT_PUNT_MALFORMED },
	{ "v6 payload length past the frame", V6("2001:db8:1::2", INET6, .len_field = 200), STEER_STAT_PUNT_MALFORMED },
};

static const struct tcase route_punts[] = {
	{ "v4 to the router's own address", V4("10.1.0.2", "192.0.2.1"), STEER_STAT_PUNT_ROUTE, 0, 0, 255 },
	{ "v6 to the router's own address", V6("2001:db8:1::2", "2001:db8:a::1"), STEER_STAT_PUNT_ROUTE, 0, 0, 255 },
	{ "v4 back out in0", V4("10.2.0.2", "10.1.0.5"), STEER_STAT_PUNT_HAIRPIN, OIF_IN0, 32766, 254 },
	{ "v6 back out in0", V6("2001:db8:2::2", "2001:db8:1::5"), STEER_STAT_PUNT_HAIRPIN, OIF_IN0, 32766, 254 },
	{ "v4 from the router's own address", V4("10.1.0.1", INET), STEER_STAT_PUNT_SOURCE_CHECK, OIF_OUT0, 100, 100 },
	{ "v4 from a local address elsewhere", V4("203.0.113.1", INET), STEER_STAT_PUNT_SOURCE_CHECK, OIF_OUT1, 32766, 254 },
};

/* 70 rules (empty tables) ahead of the from-rule: its list is cut, the rest punts. */
static const struct tcase rule_limit[] = {
	{ "v4 more rules than a list holds", V4("10.1.0.2", INET), STEER_STAT_PUNT_RULE_LIMIT },
	{ "v4 other sources keep short lists", V4("10.2.0.2", INET), FWD_OUT1 },
};

/* 100 rules `from all to 198.18.I.0/24 lookup 700+I` at priority 200+I: in every source's
 * list, so the lists are split by destination and nothing is cut. Tables 707 and 777 hold
 * a route, the others are empty (the walk goes on to main). */
static const struct tcase dst_split[] = {
	{ "v4 the 78th of 100 `to` rules decides", V4("10.2.0.2", "198.18.77.5"), WANT_FORWARD, OIF_OUT0, 277, 777 },
	{ "v4 the 8th of 100 `to` rules decides", V4("10.2.0.2", "198.18.7.1"), WANT_FORWARD, OIF_OUT1, 207, 707 },
	{ "v4 a `to` rule on an empty table goes on to main", V4("10.2.0.2", "198.18.50.1"), FWD_OUT1 },
	{ "v4 a destination no `to` rule names: main", V4("10.2.0.2", INET), FWD_OUT1 },
	{ "v4 the from-rule still comes first", V4("10.1.0.2", INET), FWD_OUT0 },
	{ "v4 the from-rule's source, a `to` rule's destination: the from-rule first", V4("10.1.0.2", "198.18.77.5"), FWD_OUT0 },
};

/* 80 rules `fwmark 0x20+I/0xff lookup 900+I` at priority 300+I (table 907 holds a route),
 * then 70 rules `iif out1 lookup 1000+I`: the lists split by mark, and each piece again by
 * input device; only packets from out1 meet a cut piece. */
static const struct tcase sel_split[] = {
	{ "v4 the 8th of 80 mark rules decides", V4("10.2.0.2", INET, .mark = 0x27), WANT_FORWARD, OIF_OUT0, 307, 907 },
	{ "v4 mark 0x127 is 0x27 under the mask", V4("10.2.0.2", INET, .mark = 0x127), WANT_FORWARD, OIF_OUT0, 307, 907 },
	{ "v4 a mark no rule names: main", V4("10.2.0.2", INET, .mark = 0x99), FWD_OUT1 },
	{ "v4 no mark, past 70 iif out1 rules: main", V4("10.2.0.2", INET), FWD_OUT1 },
	{ "v4 a mark rule on an empty table goes on to main", V4("10.2.0.2", INET, .mark = 0x30), FWD_OUT1 },
};

/* 20 rules `fwmark 0x40+I/0xff lookup 900+I` at priority 300+2I between 20 `iif` ones at
 * 301+2I: 10 `iif out1 lookup 1000+I`, 10 `iif in0 udp dport 6000+I lookup 1000+I`. They fit
 * one list, but are split by mark, and the piece of every other mark by device: a packet
 * from in0 walks only in0's rules. Tables 905 and 1013 hold a route. */
static const struct tcase short_split[] = {
	{ "v4 unmarked, in0's 4th iif rule decides", V4("10.2.0.2", INET, .dport = 6013), WANT_FORWARD, OIF_OUT0, 327, 1013 },
	{ "v4 unmarked, a port no in0 rule names: main", V4("10.2.0.2", INET, .dport = 6099), FWD_OUT1 },
	{ "v4 the 6th mark rule decides", V4("10.2.0.2", INET, .mark = 0x45, .dport = 6013), WANT_FORWARD, OIF_OUT0, 310, 905 },
	{ "v4 a mark no rule names, then in0's rule", V4("10.2.0.2", INET, .mark = 0x99, .dport = 6013), WANT_FORWARD, OIF_OUT0, 327, 1013 },
	{ "v4 the from-rule still comes first", V4("10.1.0.2", INET, .dport = 6013), FWD_OUT0 },
};

/* 15 rules `from 10.2.0.0/24 udp dport 2000+I lookup 600+I` at priority 200+2I among 50
 * `from all udp dport 3000+I lookup 700+I` at 201+2I: with the `from all` rules already there
 * (local, main, default), more than 63 rules in 10.2.0.0/24's list, which no destination,
 * device or mark splits. The `from all` rules go to a side list instead, and the walk merges
 * the two. Tables 605 and 749 hold a route. At priority 400, `from
 * 10.9.0.0/16 udp dport 4000 lookup 605` and `from all udp dport 4001 lookup 749` share a
 * priority across the lists. At 410, `from 10.2.0.0/24 udp dport 4002 lookup 605` was added
 * before `from all udp dport 4002 lookup 749`, at 420 the other way round (dport 4003): the
 * first added decides, in the kernel and in the merged walk. */
static const struct tcase side_lists[] = {
	{ "v4 the 50th `from all` rule decides, past 60 rules", V4("10.2.0.2", INET, .dport = 3049), WANT_FORWARD, OIF_OUT0, 299, 749 },
	{ "v4 a `from` rule between `from all` ones decides", V4("10.2.0.2", INET, .dport = 2005), WANT_FORWARD, OIF_OUT0, 210, 605 },
	{ "v4 a port no rule names: main", V4("10.2.0.2", INET, .dport = 999), FWD_OUT1 },
	{ "v4 a `from` rule of another source does not match", V4("10.2.0.2", INET, .dport = 4000), FWD_OUT1 },
	{ "v4 its twin in priority, in a side list, matches", V4("10.2.0.2", INET, .dport = 4001), WANT_FORWARD, OIF_OUT0, 400, 749 },
	{ "v4 one priority in two lists: the `from` rule added first", V4("10.2.0.2", INET, .dport = 4002), WANT_FORWARD, OIF_OUT0, 410, 605 },
	{ "v4 one priority in two lists: the `from all` rule added first", V4("10.2.0.2", INET, .dport = 4003), WANT_FORWARD, OIF_OUT0, 420, 749 },
	{ "v4 the from-rule still comes first", V4("10.1.0.2", INET, .dport = 3049), FWD_OUT0 },
};

static const struct tcase unseen_rule[] = {
	{ "v4 behind a suppress_ifgroup rule", V4("10.1.0.2", INET), STEER_STAT_PUNT_RULE, 0, 50, 0 },
	{ "v6 behind a suppress_ifgroup rule", V6("2001:db8:1::2", INET6), STEER_STAT_PUNT_RULE, 0, 50, 0 },
};

/* uidrange 1000-2000 blackhole, then uidrange 0-100 lookup 100: forwarded packets are looked
 * up as uid 0, so the first never matches and the second always does. */
static const struct tcase uid_rules[] = {
	{ "v4 uidrange: uid 0 matches 0-100, not 1000-2000", V4("10.2.0.2", INET), WANT_FORWARD, OIF_OUT0, 50, 100 },
	{ "v6 uidrange: uid 0 matches 0-100, not 1000-2000", V6("2001:db8:2::2", INET6), WANT_FORWARD, OIF_OUT0, 50, 100 },
};

/* fwmark 7/0xff lookup main, tos 0x10 lookup main, udp dport 5000-5010 lookup main, all
 * ahead of the from-rule: each sends a from-rule source out main's out1 instead. */
#define FWD_MAIN(prio) WANT_FORWARD, OIF_OUT1, prio, 254
static const struct tcase selectors[] = {
	{ "v4 mark 7 matches fwmark 7/0xff", V4("10.1.0.2", INET, .mark = 7), FWD_MAIN(50) },
	{ "v4 mark 0x107 matches fwmark 7/0xff", V4("10.1.0.2", INET, .mark = 0x107), FWD_MAIN(50) },
	{ "v4 mark 0 does not", V4("10.1.0.2", INET), FWD_OUT0 },
	{ "v6 mark 7 matches fwmark 7/0xff", V6("2001:db8:1::2", INET6, .mark = 7), FWD_MAIN(50) },
	{ "v4 tos 0x10 matches tos 0x10", V4("10.1.0.2", INET, .tos = 0x10), FWD_MAIN(51) },
	{ "v4 tos 0x30 matches too (TOS & 0x1c)", V4("10.1.0.2", INET, .tos = 0x30), FWD_MAIN(51) },
	{ "v4 tos 0x14 does not", V4("10.1.0.2", INET, .tos = 0x14), FWD_OUT0 },
	{ "v6 tclass 0xb9 matches dsfield 0xb8", V6("2001:db8:1::2", INET6, .tos = 0xb9), FWD_MAIN(51) },
	{ "v6 tclass 0xbc does not", V6("2001:db8:1::2", INET6, .tos = 0xbc), FWD_OUT0 },
	{ "v4 dport 5005 in 5000-5010", V4("10.1.0.2", INET, .dport = 5005), FWD_MAIN(52) },
	{ "v4 dport 5011 outside", V4("10.1.0.2", INET, .dport = 5011), FWD_OUT0 },
	{ "v6 dport 5000 in 5000-5010", V6("2001:db8:1::2", INET6, .dport = 5000), FWD_MAIN(52) },
};

/* blackhole to 198.51.100.66, unreachable to .67, prohibit route to .68, throw .69 (falls
 * through to main), and rule actions for sources 10.1.0.66-68. */
static const struct tcase actions[] = {
	{ "v4 blackhole route", V4("10.1.0.2", "198.51.100.66"), STEER_STAT_DROP_BLACKHOLE, 0, 100, 100 },
	{ "v4 unreachable route", V4("10.1.0.2", "198.51.100.67"), STEER_STAT_PUNT_UNREACHABLE, 0, 100, 100 },
	{ "v4 prohibit route", V4("10.1.0.2", "198.51.100.68"), STEER_STAT_PUNT_PROHIBIT, 0, 100, 100 },
	{ "v4 throw route falls through to main", V4("10.1.0.2", "198.51.100.69"), FWD_MAIN(32766) },
	{ "v4 blackhole rule", V4("10.1.0.66", INET), STEER_STAT_DROP_BLACKHOLE, 0, 60, 0 },
	{ "v4 unreachable rule", V4("10.1.0.67", INET), STEER_STAT_PUNT_UNREACHABLE, 0, 61, 0 },
	{ "v4 prohibit rule", V4("10.1.0.68", INET), STEER_STAT_PUNT_PROHIBIT, 0, 62, 0 },
	{ "v4 goto past the from-rule", V4("10.1.0.70", INET), FWD_MAIN(32766) },
	{ "v6 blackhole route", V6("2001:db8:1::2", "2001:db8:66::1"), STEER_STAT_DROP_BLACKHOLE, 0, 100, 100 },
	{ "v6 throw route falls through to main", V6("2001:db8:1::2", "2001:db8:69::1"), FWD_MAIN(32766) },
	{ "v6 prohibit rule", V6("2001:db8:1::68", INET6), STEER_STAT_PUNT_PROHIBIT, 0, 62, 0 },
};

/* suppress_prefixlength 0 on table 100 ahead of everything: its default is refused, the
 * specific route to 198.51.100.128/25 is not. */
static const struct tcase suppress[] = {
	{ "v4 default refused by suppress_prefixlength 0", V4("10.1.0.2", INET), FWD_OUT0_LATER },
	{ "v4 specific route kept", V4("10.1.0.2", "198.51.100.200"), WANT_FORWARD, OIF_OUT0, 40, 100 },
};

static const struct tcase no_route[] = {
	{ "v4 outside every rule's routes", V4("10.2.0.2", INET), STEER_STAT_PUNT_NO_ROUTE },
	{ "v6 outside every rule's routes", V6("2001:db8:2::2", INET6), STEER_STAT_PUNT_NO_ROUTE },
	{ "v4 from-rule source still forwarded", V4("10.1.0.2", INET), FWD_OUT0 },
};

static const struct tcase iif_off[] = {
	{ "v4 with forwarding off on in0", V4("10.1.0.2", INET), STEER_STAT_PUNT_IIF },
	{ "v6 with forwarding off", V6("2001:db8:1::2", INET6), STEER_STAT_PUNT_IIF },
};

static const struct tcase rp_strict[] = {
	{ "v4 rp_filter 1, source routed back via in0", V4("10.2.0.2", INET), FWD_OUT1 },
	{ "v4 rp_filter 1, source routed back via out1", V4("10.3.0.2", INET), STEER_STAT_PUNT_SOURCE_CHECK, OIF_OUT1, 32766, 254 },
	{ "v4 rp_filter 1, source routed back over in0 and out1", V4("10.4.0.2", INET), FWD_OUT1 },
	{ "v4 rp_filter 1, source routed back over out0 and out1", V4("10.5.0.2", INET), STEER_STAT_PUNT_SOURCE_CHECK, OIF_OUT1, 32766, 254 },
};

/* Loose, but in0 has no IPv4 address: the kernel then wants the route back through in0. */
static const struct tcase rp_loose_unnumbered[] = {
	{ "v4 rp_filter 2 on unnumbered in0, source routed back via in0", V4("10.6.0.2", INET), FWD_OUT1 },
	{ "v4 rp_filter 2 on unnumbered in0, source routed back via out1", V4("10.3.0.2", INET), STEER_STAT_PUNT_SOURCE_CHECK, OIF_OUT1, 32766, 254 },
};

static const struct tcase vlan[] = {
	{ "v4 tagged vid 10", V4("10.10.0.2", INET, .vid = 10), FWD_OUT1 },
	{ "v6 tagged vid 10", V6("2001:db8:10::2", INET6, .vid = 10), FWD_OUT1 },
	{ "v4 tagged vid 20 (no such VLAN)", V4("10.10.0.2", INET, .vid = 20), STEER_STAT_PUNT_VLAN },
	{ "v6 tagged vid 20 (no such VLAN)", V6("2001:db8:10::2", INET6, .vid = 20), STEER_STAT_PUNT_VLAN },
	{ "tag cut short", V4("10.10.0.2", INET, .vid = 10, .cut = 16), STEER_STAT_PUNT_VLAN },
	{ "v4 tagged, header cut at 19 bytes", V4("10.10.0.2", INET, .vid = 10, .cut = 18 + 19), STEER_STAT_PUNT_MALFORMED },
	{ "v6 tagged, header cut at 39 bytes", V6("2001:db8:10::2", INET6, .vid = 10, .cut = 18 + 39), STEER_STAT_PUNT_MALFORMED },
};

static const struct tcase mtu[] = {
	{ "v4 1280 bytes, MTU 1280", V4("10.1.0.2", INET, .l3_len = 1280), FWD_OUT0 },
	{ "v4 1400 bytes, MTU 1280", V4("10.1.0.2", INET, .l3_len = 1400), STEER_STAT_PUNT_MTU },
	{ "v6 1280 bytes, MTU 1280", V6("2001:db8:1::2", INET6, .l3_len = 1280), FWD_OUT0 },
	{ "v6 1400 bytes, MTU 1280", V6("2001:db8:1::2", INET6, .l3_len = 1400), STEER_STAT_PUNT_MTU },
	{ "v4 tagged, 1280 bytes, MTU 1280", V4("10.10.0.2", INET, .vid = 10, .l3_len = 1280), FWD_OUT1 },
	{ "v4 tagged, 1281 bytes, MTU 1280", V4("10.10.0.2", INET, .vid = 10, .l3_len = 1281), STEER_STAT_PUNT_MTU },
};

/* net.ipv6.conf.out0.mtu 1280 under a link MTU of 1500: ip6_forward() checks the former. */
static const struct tcase mtu6[] = {
	{ "v6 1280 bytes, IPv6 MTU 1280", V6("2001:db8:1::2", INET6, .l3_len = 1280), FWD_OUT0 },
	{ "v6 1281 bytes, IPv6 MTU 1280 (link 1500)", V6("2001:db8:1::2", INET6, .l3_len = 1281), STEER_STAT_PUNT_MTU },
	{ "v4 1500 bytes, link MTU 1500", V4("10.1.0.2", INET, .l3_len = 1500), FWD_OUT0 },
};

/* net.ipv4.ip_forward_use_pmtu 1: a path MTU learnt for the destination (not visible to TC)
 * would count; IPv6 forwarding has no such switch. */
static const struct tcase use_pmtu[] = {
	{ "v4 100 bytes with ip_forward_use_pmtu", V4("10.1.0.2", INET, .l3_len = 100), STEER_STAT_PUNT_MTU },
	{ "v4 68 bytes (no path MTU is smaller)", V4("10.1.0.2", INET, .l3_len = 68), FWD_OUT0 },
	{ "v6 unaffected by ip_forward_use_pmtu", V6("2001:db8:1::2", INET6), FWD_OUT0 },
};

static const struct tcase admin_down[] = {
	{ "v4 from-rule source, out0 down", V4("10.1.0.2", INET), FWD_OUT1 },
	{ "v6 from-rule source, out0 down", V6("2001:db8:1::2", INET6), FWD_OUT1 },
};

/* ---- steps that change the namespace ---- */

static void step_not_synced(struct t *t)
{
	static const struct tcase c[] = {
		{ "v4 before sync", V4("10.1.0.2", INET), STEER_STAT_PUNT_NOT_SYNCED },
		{ "v6 before sync", V6("2001:db8:1::2", INET6), STEER_STAT_PUNT_NOT_SYNCED },
		{ "ARP before sync", V4("10.1.0.2", INET, .ethertype = 0x0806), STEER_STAT_PUNT_NOT_SYNCED },
	};

	sync_set_synced(&t->s, false);
	RUN(t, c);
	sync_set_synced(&t->s, true);
}

/* The 802.1Q sub-interface in0.10; where the kernel has no 8021q module, a veth stands in
 * for it and its steer_vlans entry is written by hand, which still tests the datapath. */
static void step_vlan(struct t *t)
{
	if (!sh(false, "ip link add link in0 name in0.10 type vlan id 10 2>/dev/null")) {
		t->vlan_name = "in0.10";
	} else {
		printf("# no 802.1Q in this kernel: veth vl10 stands in for in0.10, its steer_vlans entry written by hand\n");
		sh(true, "ip link add vl10 type veth peer name vl10p && ip link set vl10p up");
		t->vlan_name = "vl10";
	}
	sh(true, "ip link set %s up", t->vlan_name);
	sh(true, "ip addr add 10.10.0.1/24 dev %s", t->vlan_name);
	sh(true, "ip -6 addr add 2001:db8:10::1/64 dev %s nodad", t->vlan_name);
	t->vlan = (int)if_nametoindex(t->vlan_name);
	mirror(t);
	if (strcmp(t->vlan_name, "in0.10")) {
		struct steer_vlan_key k = { .ifindex = (uint32_t)t->in0, .vid = 10 };
		struct steer_vlan v = { .ifindex = (uint32_t)t->vlan };

		if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.steer_vlans), &k, &v, BPF_ANY))
			bail("writing the stand-in VLAN entry");
	}
	RUN(t, vlan);
}

/* A fresh image of the kernel's state, and how the maps compare with it. */
static void fresh_image(struct t *t, struct image *img, struct verify_report *rep)
{
	struct sync_fds fds;

	attach_skel_fds(t->skel, &fds);
	if (compile_image(&t->m, NULL, img) < 0)
		bail("compile_image failed");
	verify_maps(&fds, img, rep);
}

/* The IPv4 catch-all list's destination split id in img (0: not split). */
static uint32_t catchall_split(const struct image *img)
{
	for (size_t i = 0; i < img->nsrcs; i++)
		if (img->srcs[i].key.family == AF_INET && img->srcs[i].key.prefixlen == STEER_SRC_KEY_BITS(0))
			return img->srcs[i].val.dst_split;
	return 0;
}

/* How many pieces steer_dst holds under split id. */
static size_t pieces_under(struct t *t, uint32_t id)
{
	struct steer_dst_key k, next;
	size_t n = 0;
	void *cur = NULL;

	while (!bpf_map_get_next_key(bpf_map__fd(t->skel->maps.steer_dst), cur, &next)) {
		n += next.split == id;
		k = next;
		cur = &k;
	}
	return n;
}

/* A split is never changed where a list names it: new content comes under a new id, written
 * beside the old pieces, and the list switches to it in one write. Unchanged content keeps
 * its id and costs no write. Forced to change in place (as a hash collision would), the
 * apply punts everything until it is done. */
static void split_ids_follow_content(struct t *t)
{
	struct verify_report rep;
	struct image img = {};
	uint64_t in_place = t->s.stats.splits_in_place;
	uint32_t before, after;

	fresh_image(t, &img, &rep);
	before = catchall_split(&img);
	image_free(&img);
	sh(true, "ip rule del priority 250 && ip rule add to 198.18.50.0/24 table 751 priority 250");
	mirror(t);
	fresh_image(t, &img, &rep);
	after = catchall_split(&img);
	check(t, before && after && before != after && pieces_under(t, after) == 101 &&
		      !pieces_under(t, before) && t->s.stats.splits_in_place == in_place && !rep.differences,
	      "a changed split comes under a new id; the old pieces are gone after the switch",
	      "id %#x -> %#x, %zu new pieces, %zu old, %" PRIu64 " in place", before, after,
	      pieces_under(t, after), pieces_under(t, before), t->s.stats.splits_in_place - in_place);
	image_free(&img);
	mirror(t);
	fresh_image(t, &img, &rep);
	check(t, catchall_split(&img) == after && pieces_under(t, after) == 101 &&
		      t->s.stats.splits_in_place == in_place,
	      "unchanged content keeps its id", "id %#x -> %#x", after, catchall_split(&img));
	for (size_t i = 0; i < img.ndsts; i++)
		if (img.dsts[i].key.split == after && img.dsts[i].val.count > 1) {
			img.dsts[i].val.count--;
			break;
		}
	check(t, sync_apply(&t->s, &img) == 0 && t->s.stats.splits_in_place == in_place + 1 &&
		      !t->s.last_state.synced,
	      "a piece changed under a live id: the apply punts through", "%" PRIu64 " in place, synced %u",
	      t->s.stats.splits_in_place - in_place, t->s.last_state.synced);
	image_free(&img);
	mirror(t);
}

static void step_dst_split(struct t *t)
{
	struct verify_report rep;
	struct image img = {};

	sh(true, "for i in $(seq 0 99); do echo rule add to 198.18.$i.0/24 table $((700 + i)) priority $((200 + i)); "
		 "done | ip -batch - && ip route add 198.18.77.0/24 via 192.0.2.2 dev out0 table 777 && "
		 "ip route add 198.18.7.0/24 via 203.0.113.2 dev out1 table 707");
	mirror(t);
	RUN(t, dst_split);
	fresh_image(t, &img, &rep);
	check(t, img.ndsts >= 101 && !img.truncated_lists && !rep.differences,
	      "split lists: a piece per destination, none cut, verify agrees",
	      "%zu pieces, %zu cut, %zu differences", img.ndsts, img.truncated_lists, rep.differences);
	image_free(&img);
	split_ids_follow_content(t);
	sh(true, "for i in $(seq 0 99); do echo rule del priority $((200 + i)); done | ip -batch - && "
		 "ip route flush table 777 && ip route flush table 707");
	mirror(t);
}

static void step_sel_split(struct t *t)
{
	size_t out1_pieces = 0;
	struct verify_report rep;
	struct image img = {};

	sh(true, "for i in $(seq 0 79); do echo rule add fwmark $((0x20 + i))/0xff table $((900 + i)) "
		 "priority $((300 + i)); done | ip -batch - && "
		 "for i in $(seq 0 69); do echo rule add iif out1 table $((1000 + i)) priority $((400 + i)); "
		 "done | ip -batch - && ip route add 198.51.100.0/24 via 192.0.2.2 dev out0 table 907");
	mirror(t);
	RUN(t, sel_split);
	fresh_image(t, &img, &rep);
	for (size_t i = 0; i < img.nsels; i++)
		out1_pieces += !img.sels[i].key.other && img.sels[i].key.value == (uint32_t)t->out1;
	check(t, img.nsels > 80 && img.truncated_lists == out1_pieces && !rep.differences,
	      "lists split by mark, then by device: cut only where a packet from out1 meets all 70 of its rules, verify agrees",
	      "%zu pieces, %zu cut, %zu for out1, %zu differences", img.nsels, img.truncated_lists,
	      out1_pieces, rep.differences);
	image_free(&img);
	sh(true, "for i in $(seq 0 79); do echo rule del priority $((300 + i)); done | ip -batch - && "
		 "for i in $(seq 0 69); do echo rule del priority $((400 + i)); done | ip -batch - && "
		 "ip route flush table 907");
	mirror(t);
}

static void step_short_split(struct t *t)
{
	struct verify_report rep;
	struct image img = {};
	size_t nested = 0;

	sh(true, "for i in $(seq 0 19); do echo rule add fwmark $((0x40 + i))/0xff table $((900 + i)) "
		 "priority $((300 + 2 * i)); if [ $i -lt 10 ]; then echo rule add iif out1 table $((1000 + i)) "
		 "priority $((301 + 2 * i)); else echo rule add iif in0 ipproto udp dport $((6000 + i)) "
		 "table $((1000 + i)) priority $((301 + 2 * i)); fi; done | ip -batch - && "
		 "ip route add 198.51.100.0/24 via 192.0.2.2 dev out0 table 905 && "
		 "ip route add 198.51.100.0/24 via 192.0.2.2 dev out0 table 1013");
	mirror(t);
	RUN(t, short_split);
	fresh_image(t, &img, &rep);
	for (size_t i = 0; i < img.nsels; i++)
		nested += img.sels[i].val.sel_split != 0;
	check(t, !img.side_lists && nested && !img.truncated_lists && !rep.differences,
	      "40 rules split by mark, then by device, none cut, verify agrees",
	      "side lists %d, %zu pieces split again, %zu cut, %zu differences", img.side_lists,
	      nested, img.truncated_lists, rep.differences);
	image_free(&img);
	sh(true, "for i in $(seq 0 39); do echo rule del priority $((300 + i)); done | ip -batch - && "
		 "ip route flush table 905 && ip route flush table 1013");
	mirror(t);
}

static void step_side_lists(struct t *t)
{
	struct verify_report rep;
	struct image img = {};

	sh(true, "for i in $(seq 0 14); do echo rule add from 10.2.0.0/24 ipproto udp dport $((2000 + i)) "
		 "table $((600 + i)) priority $((200 + 2 * i)); done | ip -batch - && "
		 "for i in $(seq 0 49); do echo rule add ipproto udp dport $((3000 + i)) table $((700 + i)) "
		 "priority $((201 + 2 * i)); done | ip -batch - && "
		 "ip rule add from 10.9.0.0/16 ipproto udp dport 4000 table 605 priority 400 && "
		 "ip rule add ipproto udp dport 4001 table 749 priority 400 && "
		 "ip rule add from 10.2.0.0/24 ipproto udp dport 4002 table 605 priority 410 && "
		 "ip rule add ipproto udp dport 4002 table 749 priority 410 && "
		 "ip rule add ipproto udp dport 4003 table 749 priority 420 && "
		 "ip rule add from 10.2.0.0/24 ipproto udp dport 4003 table 605 priority 420 && "
		 "ip route add 198.51.100.0/24 via 192.0.2.2 dev out0 table 605 && "
		 "ip route add 198.51.100.0/24 via 192.0.2.2 dev out0 table 749");
	mirror(t);
	RUN(t, side_lists);
	fresh_image(t, &img, &rep);
	check(t, img.side_lists && !img.truncated_lists && !rep.differences,
	      "side lists: none cut, verify agrees", "side lists %d, %zu cut, %zu differences",
	      img.side_lists, img.truncated_lists, rep.differences);
	image_free(&img);
	sh(true, "for i in $(seq 0 14); do echo rule del priority $((200 + 2 * i)); done | ip -batch - && "
		 "for i in $(seq 0 49); do echo rule del priority $((201 + 2 * i)); done | ip -batch - && "
		 "for p in 400 400 410 410 420 420; do ip rule del priority $p; done && "
		 "ip route flush table 605 && ip route flush table 749");
	mirror(t);
	fresh_image(t, &img, &rep);
	check(t, !img.side_lists && !rep.differences, "one list per source again once they are gone",
	      "side lists %d, %zu differences", img.side_lists, rep.differences);
	image_free(&img);
}

/* An array map's size, or 0 for any other type. */
static uint32_t array_size(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_MAP_TYPE_ARRAY)
		return 0;
	return info.max_entries;
}

/* steerd --verify's comparison, over every map an apply writes: the maps agree with a
 * fresh image; an entry changed by hand (or, in an empty map, one added where the kernel has
 * none, as a VLAN) is found; once put back, they agree again. */
static void step_verify(struct t *t)
{
	struct verify_report rep;
	struct image img = {};
	struct sync_fds fds;
	char desc[160];

	sh(true, "ip route add 198.18.9.0/24 table 100 nexthop via 192.0.2.2 dev out0 "
		 "nexthop via 203.0.113.2 dev out1");
	mirror(t);
	attach_skel_fds(t->skel, &fds);
	if (compile_image(&t->m, NULL, &img) < 0)
		bail("compile_image failed");
	verify_maps(&fds, &img, &rep);
	check(t, !rep.differences && rep.checked, "verify: the maps agree with a fresh image",
	      "%zu differences in %zu entries", rep.differences, rep.checked);
	for (int m = 0; m < MAP_APPLIED; m++) {
		uint64_t key[8] = {}, val[64] = {}, changed[64];
		bool add = bpf_map_get_next_key(fds.fd[m], NULL, key) != 0;

		if (add) {
			uint32_t bits = (map_defs[m].key_size - 4) * 8;

			memset(key, 0x01, sizeof(key));
			/* A trie's key starts with its prefix length: the whole key here. */
			if (map_defs[m].type == BPF_MAP_TYPE_LPM_TRIE)
				memcpy(key, &bits, sizeof(bits));
		} else if (bpf_map_lookup_elem(fds.fd[m], key, val))
			bail(map_defs[m].name);
		memcpy(changed, val, sizeof(val));
		((uint8_t *)changed)[0] ^= 1;
		if (bpf_map_update_elem(fds.fd[m], key, changed, BPF_ANY))
			bail(map_defs[m].name);
		verify_maps(&fds, &img, &rep);
		snprintf(desc, sizeof(desc), "verify finds a %s %s by hand", map_defs[m].what,
			 add ? "added" : "changed");
		check(t, rep.differences > 0, desc, "no difference in %zu entries", rep.checked);
		if (add ? bpf_map_delete_elem(fds.fd[m], key) : bpf_map_update_elem(fds.fd[m], key, val, BPF_ANY))
			bail(map_defs[m].name);
		if (map_defs[m].kind != MAP_CONTENT)
			continue;
		/* Content under an id nothing names is compared too: in an array, its last
		 * slot, which holds zeros until then. */
		key[0] = array_size(fds.fd[m]) ? array_size(fds.fd[m]) - 1 : 0xabcdef;
		if (bpf_map_update_elem(fds.fd[m], key, changed, array_size(fds.fd[m]) ? BPF_ANY : BPF_NOEXIST))
			bail(map_defs[m].name);
		verify_maps(&fds, &img, &rep);
		snprintf(desc, sizeof(desc), "verify finds a %s nothing names", map_defs[m].what);
		check(t, rep.differences > 0, desc, "no difference in %zu entries", rep.checked);
		memset(val, 0, sizeof(val));
		if (array_size(fds.fd[m]) ? bpf_map_update_elem(fds.fd[m], key, val, BPF_ANY)
					  : bpf_map_delete_elem(fds.fd[m], key))
			bail(map_defs[m].name);
	}
	{
		/* The IPv4 route arrays: table 100 owns its slot, open; a word changed by hand
		 * (the /16 of the route above) is found too. */
		uint32_t slot = 100 % STEER_FIB4_SLOTS, k = STEER_FIB4_SEQ(slot), seq = 1, owner = 0;
		uint32_t word = 0, changed;
		int fd = fds.fd[MAP_FIB4];

		bpf_map_lookup_elem(fd, &k, &seq);
		k = STEER_FIB4_OWNER(slot);
		bpf_map_lookup_elem(fd, &k, &owner);
		check(t, !(seq & 1) && owner == 100, "route arrays: table 100 owns its slot, open",
		      "sequence %u, owner %u", seq, owner);
		k = slot << 16 | 198 << 8 | 18;
		if (bpf_map_lookup_elem(fd, &k, &word))
			bail(STEER_MAP_FIB4);
		changed = word ^ 1;
		if (bpf_map_update_elem(fd, &k, &changed, BPF_ANY))
			bail(STEER_MAP_FIB4);
		verify_maps(&fds, &img, &rep);
		check(t, rep.differences > 0, "verify finds an IPv4 route array word changed by hand",
		      "no difference in %zu entries", rep.checked);
		if (bpf_map_update_elem(fd, &k, &word, BPF_ANY))
			bail(STEER_MAP_FIB4);
	}
	verify_maps(&fds, &img, &rep);
	check(t, !rep.differences, "verify: the maps agree again once put back",
	      "%zu differences in %zu entries", rep.differences, rep.checked);
	image_free(&img);
	sh(true, "ip route del 198.18.9.0/24 table 100");
	mirror(t);
}

/* Carrier loss on out0 (its peer goes down): IFF_RUNNING drops and the kernel marks the
 * routes via out0 linkdown but keeps them. Either punt is right; a redirect to out0 is not. */
/* GSO packets over out0 (MTU 1280) whose segments do not fit: ip_forward() refuses them
 * (ip_exceeds_mtu()); bpf_check_mtu() without BPF_MTU_CHK_SEGS let any GSO packet through.
 * The test run sets no GSO type and no transport header (the helper then refuses the segment
 * check, which punts too), so segments that fit are shown with real packets instead
 * (tests/netns/exact-wire.sh). */
static void step_gso(struct t *t)
{
	static const struct { const char *name; struct pkt_spec p; uint32_t gso; int want; } c[] = {
		{ "v4 GSO 2600 bytes of 1300-byte segments, MTU 1280", V4("10.1.0.2", INET, .l3_len = 2620), 1300, STEER_STAT_PUNT_MTU },
		{ "v6 GSO 2600 bytes of 1300-byte segments, MTU 1280", V6("2001:db8:1::2", INET6, .l3_len = 2640), 1300, STEER_STAT_PUNT_MTU },
	};
	char desc[160], got[64];

	sh(true, "ip link set out0 mtu 1280");
	mirror(t);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint8_t f[4096];
		size_t len = pkt_build(&c[i].p, t->in0_mac, f, sizeof(f));
		struct run r = run_frame_gso(t, f, len, 0, 0, c[i].gso);

		t->want_stats[STEER_STAT_RX]++;
		t->want_stats[c[i].want]++;
		snprintf(desc, sizeof(desc), "%s: %s", c[i].name, stat_name(c[i].want));
		check(t, !strcmp(outcome(&r, got, sizeof(got)), stat_name(c[i].want)), desc, "got %s (err %d)",
		      got, r.err);
	}
	sh(true, "ip link set out0 mtu 1500");
	mirror(t);
}

/* The device `ip route get` names for a flow (UDP, as the test frames), or "". */
static void kernel_dev(const struct pkt_spec *p, char *name, size_t len)
{
	char cmd[512], line[1024];
	const char *d;
	FILE *f;

	name[0] = '\0';
	snprintf(cmd, sizeof(cmd), "ip -%d -o route get %s from %s iif in0 uid 0 ipproto udp sport %u dport %u 2>/dev/null",
		 p->family, p->dst, p->src, p->sport, p->dport);
	f = popen(cmd, "r");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (d = strstr(line, " dev ")))
		sscanf(d + 5, "%15s", name);
	pclose(f);
	(void)len;
}

/* A 3:1 multipath route. The kernel's hash (policy 0) reads addresses only, so flows are
 * (source, destination) pairs: each must take the member the kernel takes (asked of
 * `ip route get` for a sample), the same twice, and 10,000 share within 5% of the weights.
 * Under hash policy 1 (ports, or a hash the driver computed) the fast path cannot know the
 * kernel's choice: every multipath packet punts. The program is asked quietly. */
static void step_multipath(struct t *t)
{
	static const char *const fam_cmd[2] = {
		"ip route add 198.18.5.0/24 table 100 nexthop via 192.0.2.2 dev out0 weight 3 "
		"nexthop via 203.0.113.2 dev out1 weight 1",
		"ip -6 route add 2001:db8:77::/48 table 100 nexthop via 2001:db8:a::2 dev out0 weight 3 "
		"nexthop via 2001:db8:b::2 dev out1 weight 1",
	};
	char desc[160], src[64], dst[64], got[64];

	for (int fi = 0; fi < 2; fi++) {
		unsigned out0 = 0, out1 = 0, sticky = 1, n = 10000, asked = 0, agree = 0, punts = 0;
		uint8_t frame[256];

		sh(true, "%s", fam_cmd[fi]);
		mirror(t);
		for (unsigned i = 0; i < n; i++) {
			struct pkt_spec p;
			struct run a, b;
			size_t len;

			if (fi) {
				snprintf(src, sizeof(src), "2001:db8:1::%x", 2 + i % 97);
				snprintf(dst, sizeof(dst), "2001:db8:77::%x:%x", i / 97, i % 89);
				p = (struct pkt_spec)V6(src, dst);
			} else {
				snprintf(src, sizeof(src), "10.1.0.%u", 2 + i % 97);
				snprintf(dst, sizeof(dst), "198.18.5.%u", 1 + i / 97 % 250);
				p = (struct pkt_spec)V4(src, dst);
			}
			p.sport = (uint16_t)(1024 + i * 7 % 60000);
			p.dport = (uint16_t)(80 + i % 13);
			len = pkt_build(&p, t->in0_mac, frame, sizeof(frame));
			/* cb[0] = STEER_CB_EXPLAIN keeps the counters still. */
			a = run_frame_quiet(t, frame, len);
			b = run_frame_quiet(t, frame, len);
			sticky &= a.cb[STEER_CB_OIF] == b.cb[STEER_CB_OIF] && a.retval == TC_ACT_REDIRECT;
			out0 += a.cb[STEER_CB_OIF] == (uint32_t)t->out0;
			out1 += a.cb[STEER_CB_OIF] == (uint32_t)t->out1;
			if (i % 50 == 0) {
				char kdev[IF_NAMESIZE + 1];

				kernel_dev(&p, kdev, sizeof(kdev));
				asked++;
				agree += (int)if_nametoindex(kdev) == (int)a.cb[STEER_CB_OIF];
			}
		}
		snprintf(desc, sizeof(desc), "%s multipath: every flow forwarded, the same path twice",
			 fi ? "v6" : "v4");
		check(t, sticky && out0 + out1 == n, desc, "out0 %u out1 %u of %u", out0, out1, n);
		snprintf(desc, sizeof(desc), "%s multipath 3:1 over %u flows: out0 %.1f%% (75 +- 3.75)",
			 fi ? "v6" : "v4", n, 100.0 * out0 / n);
		/* Within 5% of the weight itself: 75% +- 3.75 points. */
		check(t, out0 * 400 >= n * 285 && out0 * 400 <= n * 315, desc, "out0 %u out1 %u", out0, out1);
		snprintf(desc, sizeof(desc), "%s multipath: each of %u sampled flows takes the member `ip route get` names",
			 fi ? "v6" : "v4", asked);
		check(t, agree == asked, desc, "%u of %u agree", agree, asked);

		/* The gateway via out1 failed: the kernel (fib_multipath_use_neigh 0, the
		 * default) still takes it for its flows, so the fast path must punt those
		 * rather than move them to out0, and forward the others as before. */
		/* (From a valid state: a new entry set FAILED by hand is not announced.) */
		sh(true, fi ? "ip -6 neigh replace 2001:db8:b::2 lladdr 02:00:00:00:00:99 dev out1 nud reachable && "
			      "ip -6 neigh replace 2001:db8:b::2 dev out1 nud failed"
			    : "ip neigh replace 203.0.113.2 lladdr 02:00:00:00:00:99 dev out1 nud reachable && "
			      "ip neigh replace 203.0.113.2 dev out1 nud failed");
		mirror(t);
		asked = agree = 0;
		for (unsigned i = 0; i < n; i += 50) {
			char kdev[IF_NAMESIZE + 1];
			struct pkt_spec p;
			struct run a;
			bool want_punt, ok;

			if (fi) {
				snprintf(src, sizeof(src), "2001:db8:1::%x", 2 + i % 97);
				snprintf(dst, sizeof(dst), "2001:db8:77::%x:%x", i / 97, i % 89);
				p = (struct pkt_spec)V6(src, dst);
			} else {
				snprintf(src, sizeof(src), "10.1.0.%u", 2 + i % 97);
				snprintf(dst, sizeof(dst), "198.18.5.%u", 1 + i / 97 % 250);
				p = (struct pkt_spec)V4(src, dst);
			}
			a = run_frame_quiet(t, frame, pkt_build(&p, t->in0_mac, frame, sizeof(frame)));
			kernel_dev(&p, kdev, sizeof(kdev));
			want_punt = (int)if_nametoindex(kdev) == t->out1;
			asked++;
			ok = want_punt ? !strcmp(outcome(&a, got, sizeof(got)), "punt_link_down")
				       : a.cb[STEER_CB_OIF] == (uint32_t)t->out0 && a.retval == TC_ACT_REDIRECT;
			if (!ok && asked - agree < 4)
				printf("# %s -> %s: kernel %s, program %s (oif %u)\n", src, dst, kdev,
				       outcome(&a, got, sizeof(got)), a.cb[STEER_CB_OIF]);
			agree += ok;
		}
		snprintf(desc, sizeof(desc), "%s multipath, out1's gateway failed: the kernel's out1 flows punt, its out0 flows forward (%u sampled)",
			 fi ? "v6" : "v4", asked);
		check(t, agree == asked, desc, "%u of %u as the kernel", agree, asked);
		sh(true, fi ? "ip -6 neigh del 2001:db8:b::2 dev out1" : "ip neigh del 203.0.113.2 dev out1");

		/* Hash policy 1: read at the next compile; every multipath flow punts. */
		sysctl(fi ? "/proc/sys/net/ipv6/fib_multipath_hash_policy" : "/proc/sys/net/ipv4/fib_multipath_hash_policy", "1");
		mirror(t);
		for (unsigned i = 0; i < 100; i++) {
			struct pkt_spec p;
			struct run a;

			if (fi) {
				snprintf(dst, sizeof(dst), "2001:db8:77::%x", i + 1);
				p = (struct pkt_spec)V6("2001:db8:1::2", dst);
			} else {
				snprintf(dst, sizeof(dst), "198.18.5.%u", i + 1);
				p = (struct pkt_spec)V4("10.1.0.2", dst);
			}
			a = run_frame_quiet(t, frame, pkt_build(&p, t->in0_mac, frame, sizeof(frame)));
			punts += !strcmp(outcome(&a, got, sizeof(got)), "punt_multipath");
		}
		snprintf(desc, sizeof(desc), "%s multipath, hash policy 1: all of 100 flows punt_multipath", fi ? "v6" : "v4");
		check(t, punts == 100, desc, "%u punted so", punts);
		sysctl(fi ? "/proc/sys/net/ipv6/fib_multipath_hash_policy" : "/proc/sys/net/ipv4/fib_multipath_hash_policy", "0");
		sh(true, fi ? "ip -6 route del 2001:db8:77::/48 table 100" : "ip route del 198.18.5.0/24 table 100");
	}
	mirror(t);
}

/* Carrier changes reach the stack through linkwatch, asynchronously (up to a second
 * later): wait until the kernel itself reports the new state before mirroring it. */
static void wait_carrier(const char *dev, bool up)
{
	for (int i = 0; i < 300; i++) {
		int r = sh(false, "ip -o link show %s | grep -q 'LOWER_UP'", dev);

		if ((r == 0) == up)
			return;
		usleep(10000);
	}
	bail("carrier never changed");
}

static void step_carrier_down(struct t *t)
{
	static const struct tcase c[] = {
		{ "v4 from-rule source, out0 without carrier", V4("10.1.0.2", INET) },
		{ "v6 from-rule source, out0 without carrier", V6("2001:db8:1::2", INET6) },
	};

	sh(true, "ip link set out0p down");
	wait_carrier("out0", false);
	mirror(t);
	for (size_t i = 0; i < 2; i++) {
		uint8_t f[256];
		size_t len = pkt_build(&c[i].p, t->in0_mac, f, sizeof(f));
		struct run r = run_frame(t, f, len, 0);
		uint32_t stat = r.cb[STEER_CB_VERDICT] & 0xffff;
		bool ok = r.retval == TC_ACT_OK && (stat == STEER_STAT_PUNT_LINK_DOWN ||
						     stat == STEER_STAT_PUNT_ROUTE);
		char got[64], desc[160];

		t->want_stats[STEER_STAT_RX]++;
		t->want_stats[ok ? stat : STEER_STAT_PUNT_LINK_DOWN]++;
		snprintf(desc, sizeof(desc), "%s: punt_link_down or punt_route", c[i].name);
		check(t, ok, desc, "got %s", outcome(&r, got, sizeof(got)));
		if (ok)
			printf("# %s: %s\n", c[i].name, steer_stat_names[stat]);
	}
	sh(true, "ip link set out0p up");
	wait_carrier("out0", true);
	mirror(t);
}

/* Netfilter through the real intake: nftables rulesets are read from nfnetlink, compiled
 * and applied, and the program punts the family, or the device, they concern. */
static void nf_mirror(struct t *t, struct nf_intake *nf)
{
	struct pollfd pfd = { .fd = nf->conn.fd, .events = POLLIN };
	time_t deadline = time(NULL) + 10;

	/* The ruleset's own events first, then a whole read to be sure of the result. */
	poll(&pfd, 1, 200);
	if (nf_process(nf) < 0 || nf_request(nf) < 0)
		bail("nf_process failed");
	while (!nf_idle(nf)) {
		if (time(NULL) > deadline)
			bail("netfilter intake never went idle");
		poll(&pfd, 1, 200);
		if (nf_process(nf) < 0)
			bail("nf_process failed");
	}
	mirror(t);
}

static void step_netfilter(struct t *t)
{
	static const struct tcase inet[] = {
		{ "inet forward chain: v4 punts", V4("10.1.0.2", INET), STEER_STAT_PUNT_NETFILTER },
		{ "inet forward chain: v6 punts", V6("2001:db8:1::2", INET6), STEER_STAT_PUNT_NETFILTER },
	};
	static const struct tcase ip4[] = {
		{ "ip forward chain: v4 punts", V4("10.1.0.2", INET), STEER_STAT_PUNT_NETFILTER },
		{ "ip forward chain: v6 is forwarded", V6("2001:db8:1::2", INET6), FWD_OUT0 },
	};
	static const struct tcase ingress[] = {
		{ "netdev ingress on in0: v4 punts", V4("10.2.0.2", INET), STEER_STAT_PUNT_NETFILTER },
		{ "netdev ingress on in0: v6 punts", V6("2001:db8:2::2", INET6), STEER_STAT_PUNT_NETFILTER },
	};
	static const struct tcase egress[] = {
		{ "netdev egress on out0: v4 to out0 punts", V4("10.1.0.2", INET), STEER_STAT_PUNT_NETFILTER, OIF_OUT0 },
		{ "netdev egress on out0: v6 to out0 punts", V6("2001:db8:1::2", INET6), STEER_STAT_PUNT_NETFILTER, OIF_OUT0 },
		{ "netdev egress on out0: v4 to out1 is forwarded", V4("10.2.0.2", INET), FWD_OUT1 },
	};
	static const struct tcase input_only[] = {
		{ "input chain with policy drop: v4 is forwarded", V4("10.1.0.2", INET), FWD_OUT0 },
		{ "input chain with policy drop: v6 is forwarded", V6("2001:db8:2::2", INET6), FWD_OUT1 },
	};
	struct nf_intake nf;

	if (nf_open(&nf, &t->m, 1 << 20) < 0 || nf_request(&nf) < 0)
		bail("nf_open failed");
	if (nf.absent)
		bail("this kernel has no nftables: the netfilter cases cannot run");
	nf_mirror(t, &nf);
	RUN(t, baseline);
	sh(true, "nft add table inet f && nft add chain inet f fw '{ type filter hook forward priority 0; }' && "
		 "nft add rule inet f fw ip daddr 192.0.2.99 drop");
	nf_mirror(t, &nf);
	RUN(t, inet);
	sh(true, "nft flush ruleset && nft add table ip f && "
		 "nft add chain ip f fw '{ type filter hook forward priority 0; policy drop; }'");
	nf_mirror(t, &nf);
	RUN(t, ip4);
	sh(true, "nft flush ruleset && nft add table netdev f && "
		 "nft add chain netdev f in '{ type filter hook ingress device in0 priority 0; policy drop; }'");
	nf_mirror(t, &nf);
	RUN(t, ingress);
	sh(true, "nft flush ruleset && nft add table netdev f && "
		 "nft add chain netdev f out '{ type filter hook egress device out0 priority 0; }' && "
		 "nft add rule netdev f out counter");
	nf_mirror(t, &nf);
	RUN(t, egress);
	sh(true, "nft flush ruleset && nft add table inet f && "
		 "nft add chain inet f in '{ type filter hook input priority 0; policy drop; }'");
	nf_mirror(t, &nf);
	RUN(t, input_only);
	sh(true, "nft flush ruleset");
	nf_mirror(t, &nf);
	RUN(t, baseline);
	nf_close(&nf);
}

/* What the reader thread does when an event arrives, and what an apply does with it: a
 * punted prefix stays punted through an apply whose image predates its event, and goes back
 * to its route with the one that includes it; likewise everything. */
static void step_pending(struct t *t)
{
	static const struct tcase pending[] = {
		{ "v4 to a prefix with a pending change", V4("10.1.0.2", INET), STEER_STAT_PUNT_PENDING, OIF_NONE, 100, 100 },
		{ "v4 elsewhere while it is pending", V4("10.2.0.2", INET), FWD_OUT1 },
	};
	static const struct tcase all[] = {
		{ "v4 while a link change is pending", V4("10.2.0.2", INET), STEER_STAT_PUNT_PENDING },
		{ "v6 while a link change is pending", V6("2001:db8:2::2", INET6), STEER_STAT_PUNT_PENDING },
	};
	struct steer_route_key k = { .prefixlen = STEER_ROUTE_KEY_BITS(0), .table = 100,
				     .family = AF_INET };

	sync_pending_route(&t->s, &k, 10);
	RUN(t, pending);
	t->s.upto = 9;		/* an image of the events before it */
	mirror(t);
	RUN(t, pending);
	t->s.upto = 10;
	mirror(t);
	RUN(t, baseline);
	sync_pending_all(&t->s, 20);
	RUN(t, all);
	t->s.upto = 19;
	mirror(t);
	RUN(t, all);
	t->s.upto = UINT64_MAX;
	mirror(t);
	RUN(t, baseline);
	check(t, !sync_has_pending(&t->s), "nothing pending after an apply of every event", "still pending");
}

/* A route map full of the punts the reader's thread wrote for events newer than the apply
 * (it writes them while an apply runs): the apply still goes in, where it once failed for
 * want of room. Those punts leave the map, and every packet punts until an apply includes
 * their events. Run on a steer object of its own, its route map eight entries larger than
 * the image and filled up by punts before two more routes come. */
#define FULL_PENDING_ROUTES "198.51.100.201 via 192.0.2.2 dev out0 table 100 && ip route %s " \
			    "198.51.100.202 via 192.0.2.2 dev out0 table 100"
static void step_full_pending(struct t *t)
{
	struct steer_bpf *own = t->skel, *skel;
	struct steer_route_key k = { .prefixlen = STEER_ROUTE_KEY_BITS(24), .table = 100,
				     .family = AF_INET, .addr = { 10, 99 } };
	struct pkt_spec p = V4("10.2.0.2", INET);
	uint8_t f[256];
	size_t len = pkt_build(&p, t->in0_mac, f, sizeof(f)), room;
	struct sync_fds fds;
	struct image img;
	struct sync s;
	struct run run;
	int r;

	if (compile_image(&t->m, NULL, &img) < 0)
		bail("compile_image failed");
	skel = steer_bpf__open();
	if (!skel || bpf_map__set_max_entries(skel->maps.steer_routes, (uint32_t)img.nroutes + 8) ||
	    steer_bpf__load(skel))
		bail("loading a steer object with a small route map");
	attach_skel_fds(skel, &fds);
	if (sync_init(&s, &fds) < 0 || mirror_to(t, &s) < 0)
		bail("the first apply to the small route map");
	room = img.nroutes + 8 - s.applied.nroutes;
	image_free(&img);
	s.upto = 9;		/* the images that follow are of the events before 10 */
	for (uint8_t i = 0; i < room; i++) {
		k.addr[2] = i;
		sync_pending_route(&s, &k, 10 + i);
	}
	sh(true, "ip route add " FULL_PENDING_ROUTES, "add");
	r = mirror_to(t, &s);
	t->skel = skel;
	run = run_frame_quiet(t, f, len);
	check(t, room > 0 && r == 0 && s.stats.failures == 0 &&
	      run.cb[STEER_CB_VERDICT] == (STEER_VERDICT_PUNT << 16 | STEER_STAT_PUNT_PENDING),
	      "an apply into a route map full of newer punts goes in, and everything punts",
	      "%zu punts filled the map; sync_apply %d (%s map), %llu failures, verdict %#x", room,
	      r, s.failed_table, (unsigned long long)s.stats.failures, run.cb[STEER_CB_VERDICT]);
	s.upto = UINT64_MAX;
	r = mirror_to(t, &s);
	run = run_frame_quiet(t, f, len);
	check(t, r == 0 && run.retval == TC_ACT_REDIRECT && !sync_has_pending(&s),
	      "the apply of every event: the fast path forwards again",
	      "sync_apply %d, retval %u, verdict %#x", r, run.retval, run.cb[STEER_CB_VERDICT]);
	t->skel = own;
	sh(true, "ip route del " FULL_PENDING_ROUTES, "del");
	sync_free(&s);
	steer_bpf__destroy(skel);
	mirror(t);
}

/* One counter, summed over the CPUs. */
static uint64_t stat_sum(struct t *t, uint32_t stat)
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(t->skel->maps.steer_stats);
	struct steer_counters *v = calloc((size_t)(ncpu > 0 ? ncpu : 1), sizeof(*v));
	uint32_t key = 0;
	uint64_t sum = 0;

	if (ncpu <= 0 || !v || bpf_map_lookup_elem(fd, &key, v))
		bail("reading steer_stats");
	for (int c = 0; c < ncpu; c++)
		sum += v[c].n[stat];
	free(v);
	return sum;
}

/* The flow cache answers a flow's second packet, and never past a write of steerd's: a
 * pending mark, an apply, a route that moved. */
static void step_flow_cache(struct t *t)
{
	static const struct tcase fwd[] = {
		{ "v4 via main, for the flow cache", V4("10.2.0.2", INET), FWD_OUT1 },
	};
	static const struct tcase pending[] = {
		{ "v4 cached, then its route pending", V4("10.2.0.2", INET), STEER_STAT_PUNT_PENDING, OIF_NONE, 32766, 254 },
	};
	static const struct tcase moved[] = {
		{ "v4 cached, then main's default moved to out0", V4("10.2.0.2", INET), WANT_FORWARD, OIF_OUT0, 32766, 254 },
	};
	struct steer_route_key k = { .prefixlen = STEER_ROUTE_KEY_BITS(0), .table = 254,
				     .family = AF_INET };
	cpu_set_t one, all;
	uint64_t c0;

	/* The cache is per CPU, and a test run runs where its caller does: stay on one. */
	sched_getaffinity(0, sizeof(all), &all);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
	RUN(t, fwd);
	c0 = stat_sum(t, STEER_STAT_CACHED);
	RUN(t, fwd);
	check(t, stat_sum(t, STEER_STAT_CACHED) == c0 + 1,
	      "flow cache: a flow's second packet is decided by the cache", "cached +%llu",
	      (unsigned long long)(stat_sum(t, STEER_STAT_CACHED) - c0));
	sync_pending_route(&t->s, &k, 30);
	c0 = stat_sum(t, STEER_STAT_CACHED);
	RUN(t, pending);
	check(t, stat_sum(t, STEER_STAT_CACHED) == c0,
	      "flow cache: a pending mark on the flow's route ends its cached decision", "cached +%llu",
	      (unsigned long long)(stat_sum(t, STEER_STAT_CACHED) - c0));
	t->s.upto = UINT64_MAX;
	mirror(t);
	RUN(t, fwd);
	RUN(t, fwd);
	sh(true, "ip route replace default via 192.0.2.2 dev out0");
	mirror(t);
	c0 = stat_sum(t, STEER_STAT_CACHED);
	RUN(t, moved);
	check(t, stat_sum(t, STEER_STAT_CACHED) == c0,
	      "flow cache: an apply that moved the route ends the cached decision", "cached +%llu",
	      (unsigned long long)(stat_sum(t, STEER_STAT_CACHED) - c0));
	RUN(t, moved);
	check(t, stat_sum(t, STEER_STAT_CACHED) == c0 + 1,
	      "flow cache: and the new decision is cached in its turn", "cached +%llu",
	      (unsigned long long)(stat_sum(t, STEER_STAT_CACHED) - c0));
	sh(true, "ip route replace default via 203.0.113.2 dev out1");
	mirror(t);
	RUN(t, fwd);
	sched_setaffinity(0, sizeof(all), &all);
}

static void check_stats(struct t *t)
{
	char desc[96];

	for (uint32_t i = 0; i < STEER_STAT_MAX; i++) {
		uint64_t sum = stat_sum(t, i);

		/* Which cases the flow cache answers depends on the order they ran in: some. */
		if (i == STEER_STAT_CACHED) {
			check(t, sum > 0, "stats: cached counted (the cases repeat flows)", "got 0");
			continue;
		}
		snprintf(desc, sizeof(desc), "stats: %s counted %llu", steer_stat_names[i],
			 (unsigned long long)t->want_stats[i]);
		check(t, sum == t->want_stats[i], desc, "got %llu", (unsigned long long)sum);
	}
}

int main(void)
{
	struct t t = {};

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_set_level(LOG_WARNING);
	log_setup_libbpf();
	setup_netns(&t);
	setup_datapath(&t);

	step_not_synced(&t);
	RUN(&t, baseline);
	RUN(&t, parser_punts);
	RUN(&t, kernel_drops);
	RUN(&t, route_punts);

	sh(true, "ip rule add suppress_ifgroup 5 table 100 priority 50 && "
		 "ip -6 rule add suppress_ifgroup 5 table 100 priority 50");
	mirror(&t);
	RUN(&t, unseen_rule);
	sh(true, "ip rule del priority 50 && ip -6 rule del priority 50");
	sh(true, "for f in 4 6; do ip -$f rule add uidrange 1000-2000 blackhole priority 49 && "
		 "ip -$f rule add uidrange 0-100 table 100 priority 50; done");
	mirror(&t);
	RUN(&t, uid_rules);
	sh(true, "for f in 4 6; do ip -$f rule del priority 49 && ip -$f rule del priority 50; done");

	sh(true, "ip rule add fwmark 7/0xff table main priority 50 && ip rule add tos 0x10 table main priority 51 && "
		 "ip rule add ipproto udp dport 5000-5010 table main priority 52 && "
		 "ip -6 rule add fwmark 7/0xff table main priority 50 && ip -6 rule add dsfield 0xb8 table main priority 51 && "
		 "ip -6 rule add ipproto udp dport 5000-5010 table main priority 52");
	mirror(&t);
	RUN(&t, selectors);
	sh(true, "for p in 50 51 52; do ip rule del priority $p; ip -6 rule del priority $p; done");

	sh(true, "ip route add blackhole 198.51.100.66 table 100 && ip route add unreachable 198.51.100.67 table 100 && "
		 "ip route add prohibit 198.51.100.68 table 100 && ip route add throw 198.51.100.69 table 100 && "
		 "ip rule add from 10.1.0.66 blackhole priority 60 && ip rule add from 10.1.0.67 unreachable priority 61 && "
		 "ip rule add from 10.1.0.68 prohibit priority 62 && ip rule add from 10.1.0.70 goto 32766 priority 63 && "
		 "ip -6 route add blackhole 2001:db8:66::/48 table 100 && ip -6 route add throw 2001:db8:69::/48 table 100 && "
		 "ip -6 rule add from 2001:db8:1::68 prohibit priority 62");
	mirror(&t);
	RUN(&t, actions);
	sh(true, "for p in 60 61 62 63; do ip rule del priority $p; done; ip -6 rule del priority 62");

	sh(true, "for i in $(seq 1 70); do echo rule add from 10.1.0.0/24 table $((500 + i)) priority $i; done "
		 "| ip -batch -");
	mirror(&t);
	RUN(&t, rule_limit);
	sh(true, "for i in $(seq 1 70); do echo rule del priority $i; done | ip -batch -");

	step_dst_split(&t);
	step_sel_split(&t);
	step_short_split(&t);
	step_side_lists(&t);

	sh(true, "ip route add 198.51.100.128/25 via 192.0.2.2 dev out0 table 100 && "
		 "ip rule add table 100 suppress_prefixlength 0 priority 40");
	mirror(&t);
	RUN(&t, suppress);
	sh(true, "ip rule del priority 40 && ip route del 198.51.100.128/25 table 100");
	mirror(&t);
	RUN(&t, baseline);

	sh(true, "ip route del default table main && ip -6 route del default table main");
	mirror(&t);
	RUN(&t, no_route);
	sh(true, "ip route add default via 203.0.113.2 dev out1 && ip -6 route add default via 2001:db8:b::2 dev out1");

	sysctl("/proc/sys/net/ipv4/conf/in0/forwarding", "0");
	sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "0");
	mirror(&t);
	RUN(&t, iif_off);
	sysctl("/proc/sys/net/ipv4/conf/in0/forwarding", "1");
	sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");

	/* Strict: a multipath route back passes when any of its next hops goes out by in0. */
	sysctl("/proc/sys/net/ipv4/conf/in0/rp_filter", "1");
	sh(true, "ip route add 10.4.0.0/24 nexthop via 10.1.0.3 dev in0 nexthop via 203.0.113.2 dev out1 && "
		 "ip route add 10.5.0.0/24 nexthop via 192.0.2.2 dev out0 nexthop via 203.0.113.2 dev out1");
	mirror(&t);
	RUN(&t, rp_strict);
	sh(true, "ip route del 10.4.0.0/24 && ip route del 10.5.0.0/24");
	sysctl("/proc/sys/net/ipv4/conf/in0/rp_filter", "2");
	sh(true, "ip addr del 10.1.0.1/24 dev in0 && ip route add 10.6.0.0/24 dev in0");
	mirror(&t);
	RUN(&t, rp_loose_unnumbered);
	sh(true, "ip route del 10.6.0.0/24 && ip addr add 10.1.0.1/24 dev in0 && "
		 "ip route replace 10.2.0.0/24 via 10.1.0.3 dev in0");
	sysctl("/proc/sys/net/ipv4/conf/in0/rp_filter", "0");
	mirror(&t);
	RUN(&t, baseline);

	step_verify(&t);
	step_vlan(&t);

	sh(true, "ip link set out0 mtu 1280 && ip link set out1 mtu 1280");
	mirror(&t);
	RUN(&t, mtu);
	sh(true, "ip link set out0 mtu 1500 && ip link set out1 mtu 1500");

	sysctl("/proc/sys/net/ipv6/conf/out0/mtu", "1280");
	mirror(&t);
	RUN(&t, mtu6);
	sysctl("/proc/sys/net/ipv6/conf/out0/mtu", "1500");

	/* ip_forward_update_priority 0: ip_forward() leaves skb->priority as it came (0). */
	sysctl("/proc/sys/net/ipv4/ip_forward_update_priority", "0");
	mirror(&t);
	{
		struct pkt_spec p = V4("10.1.0.2", INET, .tos = 0x10);
		uint8_t f[256];
		struct run r = run_frame_quiet(&t, f, pkt_build(&p, t.in0_mac, f, sizeof(f)));

		check(&t, r.retval == TC_ACT_REDIRECT && r.priority == 0,
		      "v4 tos 0x10 with ip_forward_update_priority 0: forwarded, priority left at 0",
		      "retval %u priority %u", r.retval, r.priority);
	}
	sysctl("/proc/sys/net/ipv4/ip_forward_update_priority", "1");

	sysctl("/proc/sys/net/ipv4/ip_forward_use_pmtu", "1");
	mirror(&t);
	RUN(&t, use_pmtu);
	sysctl("/proc/sys/net/ipv4/ip_forward_use_pmtu", "0");
	mirror(&t);

	step_gso(&t);
	step_netfilter(&t);
	step_pending(&t);
	step_full_pending(&t);
	step_flow_cache(&t);
	step_multipath(&t);

	step_carrier_down(&t);
	RUN(&t, baseline);

	/* Admin down flushes the routes via out0 (both families): table 100 is empty and main
	 * answers, exactly as `ip route get` does. */
	sh(true, "ip link set out0 down");
	mirror(&t);
	RUN(&t, admin_down);

	check_stats(&t);
	printf("1..%d\n", t.n);
	if (t.failed)
		printf("# %d of %d checks failed\n", t.failed, t.n);
	intake_close(&t.nl);
	sync_free(&t.s);
	model_free(&t.m);
	steer_bpf__destroy(t.skel);
	return t.failed ? 1 : 0;
}
