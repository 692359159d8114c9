/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Map bytes into the words iproute2 uses: family names, addresses, table names, interface
 * names, protocols and route types. The name functions return buf (or a constant string),
 * never NULL. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <net/if.h>
#include <string.h>

#include "steerctl.h"

const char *sc_family_name(__u8 family, char *buf, size_t len)
{
	if (family == STEER_AF_INET)
		return "inet";
	if (family == STEER_AF_INET6)
		return "inet6";
	snprintf(buf, len, "af%u", family);
	return buf;
}

/* addr holds 16 bytes in network order; IPv4 uses the first 4. */
const char *sc_addr(__u8 family, const __u8 *addr, char *buf, size_t len)
{
	int af = family == STEER_AF_INET ? AF_INET : family == STEER_AF_INET6 ? AF_INET6 : -1;

	if (af < 0 || !inet_ntop(af, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

/* The names /etc/iproute2/rt_tables reserves; other tables by number, as `ip` would
 * print them without a name file. */
const char *sc_table_name(__u32 table, char *buf, size_t len)
{
	switch (table) {
	case 255: return "local";
	case 254: return "main";
	case 253: return "default";
	}
	snprintf(buf, len, "%u", table);
	return buf;
}

const char *sc_ifname(__u32 ifindex, char *buf, size_t len)
{
	char name[IF_NAMESIZE];

	if (ifindex && if_indextoname(ifindex, name))
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "if%u", ifindex);
	return buf;
}

/* Orders prefixes by family, then address, then length (shorter first), as people read
 * them; a total order on the bytes that matter. */
int sc_prefix_cmp(__u8 fa, const __u8 *a, __u32 la, __u8 fb, const __u8 *b, __u32 lb)
{
	int r;

	if (fa != fb)
		return fa < fb ? -1 : 1;
	r = memcmp(a, b, 16);
	if (r)
		return r;
	if (la != lb)
		return la < lb ? -1 : 1;
	return 0;
}

/* The IP protocols steerctl names, as /etc/protocols spells them; the first name of a
 * number is the one printed. */
static const struct {
	const char *name;
	__u8 proto;
} protos[] = {
	{ "icmp", 1 }, { "tcp", 6 }, { "udp", 17 }, { "dccp", 33 }, { "gre", 47 },
	{ "esp", 50 }, { "ah", 51 }, { "ipv6-icmp", 58 }, { "icmpv6", 58 }, { "sctp", 132 },
	{ "udplite", 136 },
};

const char *sc_proto_name(__u8 proto, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].proto == proto)
			return protos[i].name;
	snprintf(buf, len, "%u", proto);
	return buf;
}

/* A protocol name above, or a number 0-255 (decimal, or hex with 0x). Returns 0 or -EINVAL. */
int sc_proto_parse(const char *s, __u8 *proto)
{
	unsigned long v;
	char *end;
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (!strcmp(s, protos[i].name)) {
			*proto = protos[i].proto;
			return 0;
		}
	}
	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > 255)
		return -EINVAL;
	*proto = (__u8)v;
	return 0;
}

/* Route types in iproute2's words (`ip route` has no word for punt: it is ours). */
const char *sc_route_type_name(__u8 type, char *buf, size_t len)
{
	switch (type) {
	case STEER_RT_FORWARD:     return "unicast";
	case STEER_RT_PUNT:        return "punt";
	case STEER_RT_MULTIPATH:   return "multipath";
	case STEER_RT_BLACKHOLE:   return "blackhole";
	case STEER_RT_UNREACHABLE: return "unreachable";
	case STEER_RT_PROHIBIT:    return "prohibit";
	case STEER_RT_THROW:       return "throw";
	}
	snprintf(buf, len, "type%u", type);
	return buf;
}

/* Path i's share of the 2^31 hash space, in percent. Path i takes the hashes above the last
 * live bound before it, up to upper[i]; fib_rebalance() gives a dead path the bound -1,
 * which this ABI's __u32 holds as a value past 2^31 - 1: such a path takes nothing. */
double sc_path_share(const struct steer_group *g, __u32 i)
{
	long long prev = -1, up;
	__u32 k;

	if (i >= g->count || i >= STEER_MAX_PATHS || g->upper[i] > 0x7fffffffu)
		return 0;
	for (k = 0; k < i; k++)
		if (g->upper[k] <= 0x7fffffffu && (long long)g->upper[k] > prev)
			prev = g->upper[k];
	up = g->upper[i];
	return up > prev ? (double)(up - prev) * 100.0 / 2147483648.0 : 0;
}
