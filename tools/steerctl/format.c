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

/* A route's destination as `ip route` prints it: "default" for a /0, the bare address for
 * a host route, "ADDR/LEN" otherwise. */
const char *sc_route_dst(__u8 family, const __u8 *addr, __u32 len, char *buf, size_t buflen)
{
	char a[SC_ADDR_STRLEN];
	__u32 host = family == STEER_AF_INET ? 32 : 128;

	if (!len)
		snprintf(buf, buflen, "default");
	else if (len == host)
		snprintf(buf, buflen, "%s", sc_addr(family, addr, a, sizeof(a)));
	else
		snprintf(buf, buflen, "%s/%u", sc_addr(family, addr, a, sizeof(a)), len);
	return buf;
}

/* A word and the number it stands for, in a table that ends with a NULL name. */
struct named {
	const char *name;
	__u32 id;
};

/* The first word of names for id, or in buf `unknown` followed by id in decimal. */
static const char *name_of(const struct named *names, __u32 id, const char *unknown, char *buf,
			   size_t len)
{
	for (; names->name; names++)
		if (names->id == id)
			return names->name;
	snprintf(buf, len, "%s%u", unknown, id);
	return buf;
}

/* A word of names, or a number up to max (decimal, or hex with 0x). Returns 0 or -EINVAL. */
static int parse_named(const struct named *names, const char *s, unsigned long max, __u32 *id)
{
	unsigned long v;
	char *end;

	for (; names->name; names++) {
		if (!strcmp(s, names->name)) {
			*id = names->id;
			return 0;
		}
	}
	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*id = (__u32)v;
	return 0;
}

/* The names /etc/iproute2/rt_tables reserves. */
static const struct named reserved_tables[] = {
	{ "default", STEER_TABLE_DEFAULT }, { "main", STEER_TABLE_MAIN }, { "local", STEER_TABLE_LOCAL },
	{ NULL, 0 },
};

/* A table's name, or its number, as `ip` would print it without a name file. */
const char *sc_table_name(__u32 table, char *buf, size_t len)
{
	return name_of(reserved_tables, table, "", buf, len);
}

/* A table as ip-route takes it: local, main, default, or a number (decimal or 0x hex).
 * Returns 0 or -EINVAL. */
int sc_table_parse(const char *s, __u32 *table)
{
	return parse_named(reserved_tables, s, 0xffffffffUL, table);
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
static const struct named protos[] = {
	{ "icmp", 1 }, { "tcp", 6 }, { "udp", 17 }, { "dccp", 33 }, { "gre", 47 },
	{ "esp", 50 }, { "ah", 51 }, { "ipv6-icmp", 58 }, { "icmpv6", 58 }, { "ipv6-nonxt", 59 },
	{ "sctp", 132 },
	{ "udplite", 136 },
	{ NULL, 0 },
};

const char *sc_proto_name(__u8 proto, char *buf, size_t len)
{
	return name_of(protos, proto, "", buf, len);
}

/* A protocol name above, or a number 0-255 (decimal, or hex with 0x). Returns 0 or -EINVAL. */
int sc_proto_parse(const char *s, __u8 *proto)
{
	__u32 v;
	int err = parse_named(protos, s, 255, &v);

	if (!err)
		*proto = (__u8)v;
	return err;
}

/* Route types in iproute2's words (`ip route` has no word for punt: it is ours). */
static const struct named route_types[] = {
	{ "unicast", STEER_RT_FORWARD }, { "punt", STEER_RT_PUNT },
	{ "multipath", STEER_RT_MULTIPATH }, { "blackhole", STEER_RT_BLACKHOLE },
	{ "unreachable", STEER_RT_UNREACHABLE }, { "prohibit", STEER_RT_PROHIBIT },
	{ "throw", STEER_RT_THROW }, { "pending", STEER_RT_PENDING },
	{ NULL, 0 },
};

const char *sc_route_type_name(__u8 type, char *buf, size_t len)
{
	return name_of(route_types, type, "type", buf, len);
}

/* A rule's action in ip-rule's words; punt, cut and the steer.yaml policies' forward and
 * group are steer's own. */
static const struct named rule_actions[] = {
	{ "lookup", STEER_RULE_LOOKUP }, { "punt", STEER_RULE_PUNT }, { "goto", STEER_RULE_GOTO },
	{ "nop", STEER_RULE_NOP }, { "blackhole", STEER_RULE_BLACKHOLE },
	{ "unreachable", STEER_RULE_UNREACHABLE }, { "prohibit", STEER_RULE_PROHIBIT },
	{ "cut", STEER_RULE_CUT }, { "forward", STEER_RULE_FORWARD }, { "group", STEER_RULE_GROUP },
	{ NULL, 0 },
};

const char *sc_rule_action_name(__u8 action, char *buf, size_t len)
{
	return name_of(rule_actions, action, "action", buf, len);
}

/* How a group picks a member for a flow, in steer.yaml's words. */
static const struct named group_hashes[] = {
	{ "kernel", STEER_HASH_KERNEL }, { "l3", STEER_HASH_L3 }, { "l4", STEER_HASH_L4 },
	{ "consistent", STEER_HASH_CONSISTENT },
	{ NULL, 0 },
};

const char *sc_group_hash_name(const struct steer_group *g, char *buf, size_t len)
{
	return name_of(group_hashes, g->hash, "hash", buf, len);
}

/* Path i's share of the flows, in percent. A consistent group gives each member the slots
 * of its lookup table that name it. Otherwise path i takes the 31-bit hashes above the
 * last live bound before it, up to upper[i]; fib_rebalance() gives a dead path the bound -1,
 * which this ABI's __u32 holds as a value past 2^31 - 1: such a path takes nothing. */
double sc_path_share(const struct steer_group *g, __u32 i)
{
	long long prev = -1, up;
	__u32 k, n = 0;

	if (i >= g->count || i >= STEER_MAX_PATHS)
		return 0;
	if (g->hash == STEER_HASH_CONSISTENT) {
		for (k = 0; k < STEER_MAGLEV_SLOTS; k++)
			n += g->slots[k] == i;
		return (double)n * 100.0 / STEER_MAGLEV_SLOTS;
	}
	if (g->upper[i] > 0x7fffffffu)
		return 0;
	for (k = 0; k < i; k++)
		if (g->upper[k] <= 0x7fffffffu && (long long)g->upper[k] > prev)
			prev = g->upper[k];
	up = g->upper[i];
	return up > prev ? (double)(up - prev) * 100.0 / 2147483648.0 : 0;
}

/* A decision in explain's and monitor's words, or NULL for a number that is none. */
const char *sc_verdict_name(__u32 verdict)
{
	switch (verdict) {
	case STEER_VERDICT_FORWARD: return "forward";
	case STEER_VERDICT_PUNT:    return "punt";
	case STEER_VERDICT_DROP:    return "drop";
	}
	return NULL;
}

/* Why: a counter's name without its "punt_" or "drop_" ("no_route", "forwarded"). */
const char *sc_reason_name(__u32 stat, char *buf, size_t len)
{
	const char *n = sc_stat_name(stat, buf, len);

	return !strncmp(n, "punt_", 5) || !strncmp(n, "drop_", 5) ? n + 5 : n;
}

/* A counter's name from abi.h; a gap there still gets a unique name. */
const char *sc_stat_name(__u32 stat, char *buf, size_t len)
{
	if (stat < STEER_STAT_MAX && steer_stat_names[stat])
		return steer_stat_names[stat];
	snprintf(buf, len, "stat_%u", stat);
	return buf;
}
