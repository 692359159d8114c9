/* Routes of every table, IPv4 and IPv6, from RTM_NEWROUTE/RTM_DELROUTE. Whatever the
 * datapath cannot reproduce (multipath, nexthop objects, encapsulation, ...) is kept as a
 * quirk so the compiler can punt it rather than forward it wrongly. */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <string.h>

#include "htab.h"
#include "nl-attr.h"
#include "nl-msg.h"

_Static_assert((int)RTN_UNICAST == (int)ROUTE_UNICAST && (int)RTN_THROW == (int)ROUTE_THROW &&
	       (int)RTN_NAT == (int)ROUTE_NAT,
	       "model route types are the kernel's");
_Static_assert(RTNH_F_DEAD == NH_DEAD && RTNH_F_ONLINK == NH_ONLINK &&
	       RTNH_F_LINKDOWN == NH_LINKDOWN, "model next-hop flags are the kernel's");

#ifndef RTA_NH_ID
#define RTA_NH_ID 30
#endif
#define ROUTE_ATTR_MAX (RTA_NH_ID > RTA_MAX ? RTA_NH_ID : RTA_MAX)

static struct nla_policy route_policy[ROUTE_ATTR_MAX + 1] = {
	[RTA_DST] = { .type = NLA_UNSPEC },
	[RTA_SRC] = { .type = NLA_UNSPEC },
	[RTA_GATEWAY] = { .type = NLA_UNSPEC },
	[RTA_OIF] = { .type = NLA_U32 },
	[RTA_PRIORITY] = { .type = NLA_U32 },
	[RTA_TABLE] = { .type = NLA_U32 },
	[RTA_MULTIPATH] = { .type = NLA_UNSPEC },
	[RTA_METRICS] = { .type = NLA_NESTED },
	[RTA_NH_ID] = { .type = NLA_U32 },
	[RTA_PREF] = { .type = NLA_U8 },
	[RTA_CACHEINFO] = { .minlen = sizeof(struct rta_cacheinfo) },
};

/* What tells IPv4 twins apart: the kernel keeps no two routes of one entry with the same
 * type and route information (fib_table_insert), and its notifications describe a route
 * whole. Next-hop flags are left out: they change (dead, linkdown, offload) without
 * making another route. */
static uint64_t route_ident(const struct nlmsghdr *h, const struct rtmsg *rtm)
{
	static const uint16_t attrs[] = {
		RTA_GATEWAY, RTA_OIF, RTA_PREFSRC, RTA_METRICS, RTA_FLOW, RTA_ENCAP_TYPE, RTA_ENCAP,
		RTA_VIA, RTA_NH_ID,
	};
	uint8_t head[4] = { rtm->rtm_type, rtm->rtm_protocol, rtm->rtm_scope,
			    (uint8_t)(rtm->rtm_flags & RTNH_F_ONLINK) };
	uint64_t id = hash_bytes(head, sizeof(head));
	struct nlattr *a;
	int rem;

	nlmsg_for_each_attr(a, (struct nlmsghdr *)h, sizeof(*rtm), rem) {
		int type = nla_type(a);

		if (type == RTA_MULTIPATH) {
			struct rtnexthop *nh = nla_data(a);
			int left = nla_len(a);

			while (left >= (int)sizeof(*nh) && nh->rtnh_len >= sizeof(*nh) && nh->rtnh_len <= left) {
				struct rtnexthop fixed = *nh;

				fixed.rtnh_flags &= RTNH_F_ONLINK;
				id = id * 31 + hash_bytes(&fixed, sizeof(fixed));
				id = id * 31 + hash_bytes(RTNH_DATA(nh), nh->rtnh_len - RTNH_LENGTH(0));
				left -= RTNH_ALIGN(nh->rtnh_len);
				nh = RTNH_NEXT(nh);
			}
			continue;
		}
		for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
			if (type == attrs[i])
				id = id * 31 + hash_bytes(a, nla_total_size(nla_len(a)));
	}
	return id;
}

/* The place of a route among its entry's, from how the kernel flagged its notification. */
static enum model_route_op route_op(uint16_t flags)
{
	if (flags & NLM_F_MULTI)
		return ROUTE_OP_DUMP;
	if (flags & NLM_F_REPLACE)
		return ROUTE_OP_REPLACE;
	if (flags & NLM_F_EXCL)
		return ROUTE_OP_NEW;
	if (flags & NLM_F_APPEND)
		return ROUTE_OP_APPEND;
	if (flags & NLM_F_CREATE)
		return ROUTE_OP_PREPEND;
	return ROUTE_OP_UPDATE;
}

#define MAX_NEXTHOPS 256

/* One next hop: its device, flags and gateway. -EINVAL for a gateway of the wrong size. */
static int parse_nexthop(uint8_t family, int32_t oif, uint8_t flags, struct nlattr *gw,
			 struct nlattr *via, struct model_route *r, struct model_nexthop *nh)
{
	struct prefix p;

	*nh = (struct model_nexthop){ .oif = oif, .flags = flags, .weight = 1 };
	if (via)
		r->quirks |= ROUTE_VIA;
	if (gw) {
		if (intake_attr_prefix(gw, family, family == AF_INET ? 32 : 128, &p) < 0)
			return -EINVAL;
		nh->gw_family = family;
		memcpy(nh->gw, p.addr, 16);
	}
	return 0;
}

/* RTA_MULTIPATH: a run of struct rtnexthop, each followed by its own attributes. */
static int parse_multipath(uint8_t family, struct nlattr *mp, struct model_route *r,
			   struct model_nexthop *nhs)
{
	int rem = nla_len(mp);
	struct rtnexthop *rtnh = nla_data(mp);

	r->quirks |= ROUTE_MULTIPATH;
	while (rem >= (int)sizeof(*rtnh) && rtnh->rtnh_len >= sizeof(*rtnh) && rtnh->rtnh_len <= rem) {
		struct nlattr *tb[RTA_MAX + 1];

		if (r->nnh == MAX_NEXTHOPS)
			return -EINVAL;
		if (nla_parse(tb, RTA_MAX, (struct nlattr *)RTNH_DATA(rtnh), rtnh->rtnh_len - RTNH_LENGTH(0),
			      route_policy) < 0)
			return -EINVAL;
		if (tb[RTA_ENCAP])
			r->quirks |= ROUTE_ENCAP;
		if (parse_nexthop(family, rtnh->rtnh_ifindex, rtnh->rtnh_flags, tb[RTA_GATEWAY],
				  tb[RTA_VIA], r, &nhs[r->nnh]) < 0)
			return -EINVAL;
		nhs[r->nnh++].weight = rtnh->rtnh_hops + 1;
		rem -= RTNH_ALIGN(rtnh->rtnh_len);
		rtnh = RTNH_NEXT(rtnh);
	}
	return r->nnh ? 0 : -EINVAL;
}

static bool has_mtu_metric(struct nlattr *metrics)
{
	struct nlattr *a;
	int rem;

	if (!metrics)
		return false;
	nla_for_each_nested(a, metrics, rem)
		if (nla_type(a) == RTAX_MTU)
			return true;
	return false;
}

int intake_route_msg(struct model *m, const struct nlmsghdr *h)
{
	struct nlattr *tb[ROUTE_ATTR_MAX + 1];
	struct model_nexthop nhs[MAX_NEXTHOPS];
	struct model_route r = { .nh = nhs };
	struct rtmsg *rtm = nlmsg_data(h);
	int ours = intake_parse_ip(h, sizeof(*rtm), tb, ROUTE_ATTR_MAX, route_policy);

	if (ours <= 0)
		return ours;
	/* Cached clones and exceptions are not routes anyone configured. */
	if (rtm->rtm_flags & RTM_F_CLONED)
		return 0;

	r.key.table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	r.key.metric = tb[RTA_PRIORITY] ? nla_get_u32(tb[RTA_PRIORITY]) : 0;
	r.key.tos = rtm->rtm_tos;
	if (intake_attr_prefix(tb[RTA_DST], rtm->rtm_family, rtm->rtm_dst_len, &r.key.dst) < 0 ||
	    intake_attr_prefix(tb[RTA_SRC], rtm->rtm_family, rtm->rtm_src_len, &r.key.src) < 0)
		return -EINVAL;
	r.type = rtm->rtm_type;
	r.protocol = rtm->rtm_protocol;
	r.scope = rtm->rtm_scope;
	r.ident = route_ident(h, rtm);
	if (tb[RTA_PREF])
		r.pref = nla_get_u8(tb[RTA_PREF]);
	/* IPv6 lifetimes (router advertisements, `expires`): remaining time in RTA_CACHEINFO. */
	if (tb[RTA_EXPIRES] ||
	    (tb[RTA_CACHEINFO] && ((struct rta_cacheinfo *)nla_data(tb[RTA_CACHEINFO]))->rta_expires))
		r.quirks |= ROUTE_EXPIRES;
	if (tb[RTA_NH_ID]) {
		r.quirks |= ROUTE_NHID;
		r.nhid = nla_get_u32(tb[RTA_NH_ID]);
	}
	if (tb[RTA_ENCAP])
		r.quirks |= ROUTE_ENCAP;
	if (has_mtu_metric(tb[RTA_METRICS]))
		r.quirks |= ROUTE_MTU;

	if (tb[RTA_MULTIPATH]) {
		if (parse_multipath(rtm->rtm_family, tb[RTA_MULTIPATH], &r, nhs) < 0)
			return -EINVAL;
		/* IPv6 siblings are separate routes in the kernel; a message listing them is
		 * the set, not a single IPv4 multipath route. Either way: several next hops. */
	} else if (tb[RTA_OIF] || tb[RTA_GATEWAY] || tb[RTA_VIA]) {
		if (parse_nexthop(rtm->rtm_family, tb[RTA_OIF] ? (int32_t)nla_get_u32(tb[RTA_OIF]) : 0,
				  rtm->rtm_flags & 0xff, tb[RTA_GATEWAY], tb[RTA_VIA], &r, &nhs[0]) < 0)
			return -EINVAL;
		r.nnh = 1;
	}

	if (h->nlmsg_type == RTM_DELROUTE) {
		model_route_del(m, &r);
		return 0;
	}
	return model_route_add(m, &r, route_op(h->nlmsg_flags));
}
