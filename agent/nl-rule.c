/* Policy rules (`ip rule`), IPv4 and IPv6, from RTM_NEWRULE/RTM_DELRULE. Every attribute
 * is kept, known or not: a rule is identified by all of it, and one whose selectors the
 * datapath does not evaluate must still stand at its place in the list. */
#include <errno.h>
#include <stdbool.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <string.h>

#include "htab.h"
#include "log.h"
#include "nl-attr.h"
#include "nl-msg.h"

_Static_assert((int)FR_ACT_TO_TBL == (int)RULE_LOOKUP && (int)FR_ACT_GOTO == (int)RULE_GOTO &&
	       (int)FR_ACT_NOP == (int)RULE_NOP && (int)FR_ACT_BLACKHOLE == (int)RULE_BLACKHOLE &&
	       (int)FR_ACT_UNREACHABLE == (int)RULE_UNREACHABLE &&
	       (int)FR_ACT_PROHIBIT == (int)RULE_PROHIBIT, "model rule actions are the kernel's");

/* The attributes this agent reads, by the kernel's numbers: an attribute's number never
 * changes once released, so whether one is known must not depend on the headers of the
 * build. With newer headers FRA_MAX covers attributes this agent does not evaluate (dscp,
 * flow label, their masks), and a rule whose selector were ignored would match more than
 * the kernel's. Every attribute not listed here makes the rule punt and stays part of its
 * identity. Port masks (Linux 6.15) come with every single-port selector: all ones is the
 * plain port match evaluated here. */
enum {
	RULE_ATTR_DST = 1, RULE_ATTR_SRC = 2, RULE_ATTR_IIFNAME = 3, RULE_ATTR_GOTO = 4,
	RULE_ATTR_PRIORITY = 6, RULE_ATTR_FWMARK = 10, RULE_ATTR_FLOW = 11, RULE_ATTR_TUN_ID = 12,
	RULE_ATTR_SUPPRESS_IFGROUP = 13, RULE_ATTR_SUPPRESS_PREFIXLEN = 14, RULE_ATTR_TABLE = 15,
	RULE_ATTR_FWMASK = 16, RULE_ATTR_OIFNAME = 17, RULE_ATTR_PAD = 18, RULE_ATTR_L3MDEV = 19,
	RULE_ATTR_UID_RANGE = 20, RULE_ATTR_PROTOCOL = 21, RULE_ATTR_IP_PROTO = 22,
	RULE_ATTR_SPORT_RANGE = 23, RULE_ATTR_DPORT_RANGE = 24,
	/* 25 dscp, 26 flow label, 27 its mask: not evaluated */
	RULE_ATTR_SPORT_MASK = 28, RULE_ATTR_DPORT_MASK = 29,
	/* 30 dscp mask, and whatever comes later: not evaluated */
	RULE_ATTR_MAX = RULE_ATTR_DPORT_MASK,
};

#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(FRA_DST, RULE_ATTR_DST) && SAME(FRA_SRC, RULE_ATTR_SRC) &&
	       SAME(FRA_IIFNAME, RULE_ATTR_IIFNAME) && SAME(FRA_GOTO, RULE_ATTR_GOTO) &&
	       SAME(FRA_PRIORITY, RULE_ATTR_PRIORITY) && SAME(FRA_FWMARK, RULE_ATTR_FWMARK) &&
	       SAME(FRA_FLOW, RULE_ATTR_FLOW) && SAME(FRA_TUN_ID, RULE_ATTR_TUN_ID) &&
	       SAME(FRA_SUPPRESS_IFGROUP, RULE_ATTR_SUPPRESS_IFGROUP) &&
	       SAME(FRA_SUPPRESS_PREFIXLEN, RULE_ATTR_SUPPRESS_PREFIXLEN) &&
	       SAME(FRA_TABLE, RULE_ATTR_TABLE) && SAME(FRA_FWMASK, RULE_ATTR_FWMASK) &&
	       SAME(FRA_OIFNAME, RULE_ATTR_OIFNAME) && SAME(FRA_PAD, RULE_ATTR_PAD) &&
	       SAME(FRA_L3MDEV, RULE_ATTR_L3MDEV) && SAME(FRA_UID_RANGE, RULE_ATTR_UID_RANGE) &&
	       SAME(FRA_PROTOCOL, RULE_ATTR_PROTOCOL) && SAME(FRA_IP_PROTO, RULE_ATTR_IP_PROTO) &&
	       SAME(FRA_SPORT_RANGE, RULE_ATTR_SPORT_RANGE) &&
	       SAME(FRA_DPORT_RANGE, RULE_ATTR_DPORT_RANGE),
	       "rule attribute numbers are the kernel's");

#define ATTR_BIT(a) (1u << (a))
static const uint32_t rule_attrs_known =
	ATTR_BIT(RULE_ATTR_DST) | ATTR_BIT(RULE_ATTR_SRC) | ATTR_BIT(RULE_ATTR_IIFNAME) |
	ATTR_BIT(RULE_ATTR_GOTO) | ATTR_BIT(RULE_ATTR_PRIORITY) | ATTR_BIT(RULE_ATTR_FWMARK) |
	ATTR_BIT(RULE_ATTR_FLOW) | ATTR_BIT(RULE_ATTR_TUN_ID) | ATTR_BIT(RULE_ATTR_SUPPRESS_IFGROUP) |
	ATTR_BIT(RULE_ATTR_SUPPRESS_PREFIXLEN) | ATTR_BIT(RULE_ATTR_TABLE) | ATTR_BIT(RULE_ATTR_FWMASK) |
	ATTR_BIT(RULE_ATTR_OIFNAME) | ATTR_BIT(RULE_ATTR_PAD) | ATTR_BIT(RULE_ATTR_L3MDEV) |
	ATTR_BIT(RULE_ATTR_UID_RANGE) | ATTR_BIT(RULE_ATTR_PROTOCOL) | ATTR_BIT(RULE_ATTR_IP_PROTO) |
	ATTR_BIT(RULE_ATTR_SPORT_RANGE) | ATTR_BIT(RULE_ATTR_DPORT_RANGE) |
	ATTR_BIT(RULE_ATTR_SPORT_MASK) | ATTR_BIT(RULE_ATTR_DPORT_MASK);

static bool rule_attr_known(int type)
{
	return type >= 0 && type <= RULE_ATTR_MAX && (rule_attrs_known & ATTR_BIT(type));
}

static struct nla_policy rule_policy[RULE_ATTR_MAX + 1] = {
	[RULE_ATTR_DST] = { .type = NLA_UNSPEC },
	[RULE_ATTR_SRC] = { .type = NLA_UNSPEC },
	[RULE_ATTR_IIFNAME] = { .type = NLA_STRING, .maxlen = IF_NAMESIZE },
	[RULE_ATTR_OIFNAME] = { .type = NLA_STRING, .maxlen = IF_NAMESIZE },
	[RULE_ATTR_GOTO] = { .type = NLA_U32 },
	[RULE_ATTR_PRIORITY] = { .type = NLA_U32 },
	[RULE_ATTR_FWMARK] = { .type = NLA_U32 },
	[RULE_ATTR_FWMASK] = { .type = NLA_U32 },
	[RULE_ATTR_FLOW] = { .type = NLA_U32 },
	[RULE_ATTR_TUN_ID] = { .type = NLA_U64 },
	[RULE_ATTR_SUPPRESS_IFGROUP] = { .type = NLA_U32 },
	[RULE_ATTR_SUPPRESS_PREFIXLEN] = { .type = NLA_U32 },
	[RULE_ATTR_TABLE] = { .type = NLA_U32 },
	[RULE_ATTR_L3MDEV] = { .type = NLA_U8 },
	[RULE_ATTR_UID_RANGE] = { .minlen = sizeof(struct fib_rule_uid_range) },
	[RULE_ATTR_PROTOCOL] = { .type = NLA_U8 },
	[RULE_ATTR_IP_PROTO] = { .type = NLA_U8 },
	[RULE_ATTR_SPORT_RANGE] = { .minlen = sizeof(struct fib_rule_port_range) },
	[RULE_ATTR_DPORT_RANGE] = { .minlen = sizeof(struct fib_rule_port_range) },
	[RULE_ATTR_SPORT_MASK] = { .type = NLA_U16 },
	[RULE_ATTR_DPORT_MASK] = { .type = NLA_U16 },
};

/* A port range selector into lo and hi; left as they are when the rule has none. */
static void port_range(const struct nlattr *a, uint16_t *lo, uint16_t *hi)
{
	const struct fib_rule_port_range *p;

	if (!a)
		return;
	p = nla_data(a);
	*lo = p->start;
	*hi = p->end;
}

static void count_unknown(const struct nlmsghdr *h, struct model_rule_key *k)
{
	struct nlattr *a;
	int rem;

	nlmsg_for_each_attr(a, (struct nlmsghdr *)h, sizeof(struct fib_rule_hdr), rem) {
		if (rule_attr_known(nla_type(a)))
			continue;
		log_event(LOG_DEBUG, LOG_EV_RULE_UNSUPPORTED,
			  &(struct log_ctx){ LOG_PRIORITY(k->priority), LOG_TABLE(k->table) },
			  "rule %u: attribute %d is not one this agent evaluates; the rule punts",
			  k->priority, nla_type(a));
		k->unknown_attrs++;
		k->unknown_hash = k->unknown_hash * 31 + hash_bytes(a, nla_total_size(nla_len(a)));
	}
}

int intake_rule_msg(struct model *m, const struct nlmsghdr *h)
{
	struct nlattr *tb[RULE_ATTR_MAX + 1];
	struct model_rule_key k = { .suppress_prefixlen = -1, .suppress_ifgroup = -1 };
	struct fib_rule_hdr *frh = nlmsg_data(h);
	int r = intake_parse_ip(h, sizeof(*frh), tb, RULE_ATTR_MAX, rule_policy);

	if (r <= 0)
		return r;	/* 0: DECnet, MPLS and others */

	k.family = frh->family;
	k.action = frh->action;
	k.invert = !!(frh->flags & FIB_RULE_INVERT);
	k.tos = frh->tos;
	k.priority = tb[RULE_ATTR_PRIORITY] ? nla_get_u32(tb[RULE_ATTR_PRIORITY]) : 0;
	k.table = tb[RULE_ATTR_TABLE] ? nla_get_u32(tb[RULE_ATTR_TABLE]) : frh->table;
	/* `from 10.1.0.3/24` and `from 10.1.0.4/24` are two rules to the kernel, which keeps
	 * the address as given and masks it only to match: so does the key. */
	if (intake_attr_addr(tb[RULE_ATTR_SRC], frh->family, frh->src_len, &k.src) < 0 ||
	    intake_attr_addr(tb[RULE_ATTR_DST], frh->family, frh->dst_len, &k.dst) < 0)
		return -EINVAL;
	if (tb[RULE_ATTR_GOTO])
		k.goto_target = nla_get_u32(tb[RULE_ATTR_GOTO]);
	/* The kernel's own defaulting: a mark without a mask matches all 32 bits. */
	if (tb[RULE_ATTR_FWMARK])
		k.fwmark = nla_get_u32(tb[RULE_ATTR_FWMARK]);
	k.fwmask = tb[RULE_ATTR_FWMASK] ? nla_get_u32(tb[RULE_ATTR_FWMASK]) : k.fwmark ? 0xffffffffu : 0;
	if (tb[RULE_ATTR_IIFNAME])
		nla_strlcpy(k.iifname, tb[RULE_ATTR_IIFNAME], sizeof(k.iifname));
	if (tb[RULE_ATTR_OIFNAME])
		nla_strlcpy(k.oifname, tb[RULE_ATTR_OIFNAME], sizeof(k.oifname));
	if (tb[RULE_ATTR_FLOW])
		k.flow = nla_get_u32(tb[RULE_ATTR_FLOW]);
	if (tb[RULE_ATTR_TUN_ID]) {
		k.has_tun_id = 1;
		k.tun_id = nla_get_u64(tb[RULE_ATTR_TUN_ID]);
	}
	if (tb[RULE_ATTR_SUPPRESS_IFGROUP])
		k.suppress_ifgroup = (int32_t)nla_get_u32(tb[RULE_ATTR_SUPPRESS_IFGROUP]);
	if (tb[RULE_ATTR_SUPPRESS_PREFIXLEN])
		k.suppress_prefixlen = (int32_t)nla_get_u32(tb[RULE_ATTR_SUPPRESS_PREFIXLEN]);
	if (tb[RULE_ATTR_L3MDEV]) {
		k.l3mdev = nla_get_u8(tb[RULE_ATTR_L3MDEV]);
		k.has_l3mdev = k.l3mdev != 0;
	}
	if (tb[RULE_ATTR_UID_RANGE]) {
		const struct fib_rule_uid_range *u = nla_data(tb[RULE_ATTR_UID_RANGE]);

		k.has_uid_range = 1;
		k.uid_start = u->start;
		k.uid_end = u->end;
	}
	if (tb[RULE_ATTR_PROTOCOL])
		k.protocol = nla_get_u8(tb[RULE_ATTR_PROTOCOL]);
	if (tb[RULE_ATTR_IP_PROTO])
		k.ip_proto = nla_get_u8(tb[RULE_ATTR_IP_PROTO]);
	port_range(tb[RULE_ATTR_SPORT_RANGE], &k.sport_lo, &k.sport_hi);
	port_range(tb[RULE_ATTR_DPORT_RANGE], &k.dport_lo, &k.dport_hi);
	/* A partial mask matches (port & mask) == start: not a range; let the kernel decide.
	 * The masks are part of identity: two rules may differ in nothing else. */
	if (tb[RULE_ATTR_SPORT_MASK])
		k.sport_mask = nla_get_u16(tb[RULE_ATTR_SPORT_MASK]);
	if (tb[RULE_ATTR_DPORT_MASK])
		k.dport_mask = nla_get_u16(tb[RULE_ATTR_DPORT_MASK]);
	k.port_mask_partial = (tb[RULE_ATTR_SPORT_MASK] && k.sport_mask != 0xffff) ||
			      (tb[RULE_ATTR_DPORT_MASK] && k.dport_mask != 0xffff);
	count_unknown(h, &k);

	if (h->nlmsg_type == RTM_DELRULE) {
		model_rule_del(m, &k);
		return 0;
	}
	return model_rule_add(m, &k);
}
