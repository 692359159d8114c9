/* Kernel switches the forward path reads but rtnetlink never announces: the multipath hash
 * policies, whether IPv4 forwarding uses learnt path MTUs and sets the priority, each
 * device's IPv6 MTU, and conntrack's TCP liberalness and established timeouts (offload).
 * Read at every compile and polled once a second (the heartbeat tick), so a change reaches
 * the maps within about a second; until then the fast path follows the old value (see
 * steerd(8), "LIMITS"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "nl.h"

/* The integer in a /proc/sys file of this network namespace, or -1. */
static long read_sysctl(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static void set8(int8_t *dst, long v, struct model *m)
{
	int8_t x = (int8_t)(v < 0 ? -1 : v > 100 ? 100 : v);

	if (*dst != x) {
		*dst = x;
		m->dirty = true;
	}
}

static void set32(int32_t *dst, long v, struct model *m)
{
	int32_t x = (int32_t)(v < 0 ? 0 : v > 4000000 ? 4000000 : v);

	if (*dst != x) {
		*dst = x;
		m->dirty = true;
	}
}

void sysctl_refresh(struct model *m)
{
	struct htab_iter it;
	struct model_link *l;
	char path[96];

	set8(&m->mp_hash_policy4, read_sysctl("/proc/sys/net/ipv4/fib_multipath_hash_policy"), m);
	set8(&m->mp_hash_policy6, read_sysctl("/proc/sys/net/ipv6/fib_multipath_hash_policy"), m);
	set8(&m->fwd_use_pmtu4, read_sysctl("/proc/sys/net/ipv4/ip_forward_use_pmtu"), m);
	set8(&m->fwd_update_prio4, read_sysctl("/proc/sys/net/ipv4/ip_forward_update_priority"), m);
	set8(&m->ct_tcp_liberal, read_sysctl("/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal"), m);
	set32(&m->ct_timeout_tcp_s,
	      read_sysctl("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"), m);
	set32(&m->ct_timeout_udp_s, read_sysctl("/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream"), m);
	htab_iter_init(&it, &m->links);
	while ((l = htab_iter_next(&it))) {
		long v;

		if (!l->name[0])
			continue;
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/mtu", l->name);
		v = read_sysctl(path);
		if (v != l->mtu6) {
			log_debug("link %s: IPv6 MTU %ld (was %d)", l->name, v, l->mtu6);
			l->mtu6 = (int32_t)v;
			m->dirty = true;
		}
	}
}
