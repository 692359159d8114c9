/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Map bytes into the words iproute2 uses: family names, addresses, table names and
 * interface names. Each returns buf (or a constant string), never NULL. */
#include <arpa/inet.h>
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
