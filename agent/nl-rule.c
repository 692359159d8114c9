/* Policy rules (`ip rule`), IPv4 and IPv6, from RTM_NEWRULE/RTM_DELRULE. Every attribute
 * is kept, known or not: a rule is identified by all of it, and one whose selectors the
 * datapath does not evaluate must still stand at its place in the list. */
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <string.h>

#include "htab.h"
#include "log.h"
#include "nl.h"

_Static_assert((int)FR_ACT_TO_TBL == (int)RULE_LOOKUP && (int)FR_ACT_GOTO == (int)RULE_GOTO &&
	       (int)FR_ACT_NOP == (int)RULE_NOP && (int)FR_ACT_BLACKHOLE == (int)RULE_BLACKHOLE &&
	       (int)FR_ACT_UNREACHABLE == (int)RULE_UNREACHABLE &&
	       (int)FR_ACT_PROHIBIT == (int)RULE_PROHIBIT, "model rule actions are the kernel's");

/* Port masks (Linux 6.15) are dumped for every port selector: a mask of all ones is the
 * plain port match this agent evaluates. Numbers are the kernel's ABI. */
#define STEER_FRA_SPORT_MASK 28
#define STEER_FRA_DPORT_MASK 29
#define RULE_ATTR_MAX STEER_FRA_DPORT_MASK

/* The attributes of the 6.1 headers plus the port masks; other later attributes (DSCP,
 * flow label, ...) count as unknown and make the rule punt. */
static struct nla_policy rule_policy[RULE_ATTR_MAX + 1] = {
	[FRA_DST] = { .type = NLA_UNSPEC },
	[FRA_SRC] = { .type = NLA_UNSPEC },
	[FRA_IIFNAME] = { .type = NLA_STRING, .maxlen = IF_NAMESIZE },
	[FRA_OIFNAME] = { .type = NLA_STRING, .maxlen = IF_NAMESIZE },
	[FRA_GOTO] = { .type = NLA_U32 },
	[FRA_PRIORITY] = { .type = NLA_U32 },
	[FRA_FWMARK] = { .type = NLA_U32 },
	[FRA_FWMASK] = { .type = NLA_U32 },
	[FRA_FLOW] = { .type = NLA_U32 },
	[FRA_TUN_ID] = { .type = NLA_U64 },
	[FRA_SUPPRESS_IFGROUP] = { .type = NLA_U32 },
	[FRA_SUPPRESS_PREFIXLEN] = { .type = NLA_U32 },
	[FRA_TABLE] = { .type = NLA_U32 },
	[FRA_L3MDEV] = { .type = NLA_U8 },
	[FRA_UID_RANGE] = { .minlen = sizeof(struct fib_rule_uid_range) },
	[FRA_PROTOCOL] = { .type = NLA_U8 },
	[FRA_IP_PROTO] = { .type = NLA_U8 },
	[FRA_SPORT_RANGE] = { .minlen = sizeof(struct fib_rule_port_range) },
	[FRA_DPORT_RANGE] = { .minlen = sizeof(struct fib_rule_port_range) },
	[STEER_FRA_SPORT_MASK] = { .type = NLA_U16 },
	[STEER_FRA_DPORT_MASK] = { .type = NLA_U16 },
};

static void count_unknown(const struct nlmsghdr *h, struct model_rule_key *k)
{
	struct nlattr *a;
	int rem;

	nlmsg_for_each_attr(a, (struct nlmsghdr *)h, sizeof(struct fib_rule_hdr), rem) {
		if (nla_type(a) > FRA_MAX && nla_type(a) != STEER_FRA_SPORT_MASK &&
		    nla_type(a) != STEER_FRA_DPORT_MASK) {
			log_event(LOG_DEBUG, LOG_EV_RULE_UNSUPPORTED,
				  &(struct log_ctx){ LOG_PRIORITY(k->priority), LOG_TABLE(k->table) },
				  "rule %u: attribute %d is newer than this build; the rule punts",
				  k->priority, nla_type(a));
			k->unknown_attrs++;
			k->unknown_hash = k->unknown_hash * 31 + hash_bytes(a, nla_total_size(nla_len(a)));
		}
	}
}

int intake_rule_msg(struct model *m, const struct nlmsghdr *h)
{
	struct nlattr *tb[RULE_ATTR_MAX + 1];
	struct model_rule_key k = { .suppress_prefixlen = -1, .suppress_ifgroup = -1 };
	struct fib_rule_hdr *frh;

	if (intake_parse(h, sizeof(*frh), tb, RULE_ATTR_MAX, rule_policy) < 0)
		return -EINVAL;
	frh = nlmsg_data(h);
	if (frh->family != AF_INET && frh->family != AF_INET6)
		return 0;	/* DECnet, MPLS and others: not ours */

	k.family = frh->family;
	k.action = frh->action;
	k.invert = !!(frh->flags & FIB_RULE_INVERT);
	k.tos = frh->tos;
	k.priority = tb[FRA_PRIORITY] ? nla_get_u32(tb[FRA_PRIORITY]) : 0;
	k.table = tb[FRA_TABLE] ? nla_get_u32(tb[FRA_TABLE]) : frh->table;
	if (intake_attr_prefix(tb[FRA_SRC], frh->family, frh->src_len, &k.src) < 0 ||
	    intake_attr_prefix(tb[FRA_DST], frh->family, frh->dst_len, &k.dst) < 0)
		return -EINVAL;
	if (tb[FRA_GOTO])
		k.goto_target = nla_get_u32(tb[FRA_GOTO]);
	/* The kernel's own defaulting: a mark without a mask matches all 32 bits. */
	if (tb[FRA_FWMARK])
		k.fwmark = nla_get_u32(tb[FRA_FWMARK]);
	k.fwmask = tb[FRA_FWMASK] ? nla_get_u32(tb[FRA_FWMASK]) : k.fwmark ? 0xffffffffu : 0;
	if (tb[FRA_IIFNAME])
		nla_strlcpy(k.iifname, tb[FRA_IIFNAME], sizeof(k.iifname));
	if (tb[FRA_OIFNAME])
		nla_strlcpy(k.oifname, tb[FRA_OIFNAME], sizeof(k.oifname));
	if (tb[FRA_FLOW])
		k.flow = nla_get_u32(tb[FRA_FLOW]);
	if (tb[FRA_TUN_ID]) {
		k.has_tun_id = 1;
		k.tun_id = nla_get_u64(tb[FRA_TUN_ID]);
	}
	if (tb[FRA_SUPPRESS_IFGROUP])
		k.suppress_ifgroup = (int32_t)nla_get_u32(tb[FRA_SUPPRESS_IFGROUP]);
	if (tb[FRA_SUPPRESS_PREFIXLEN])
		k.suppress_prefixlen = (int32_t)nla_get_u32(tb[FRA_SUPPRESS_PREFIXLEN]);
	if (tb[FRA_L3MDEV]) {
		k.l3mdev = nla_get_u8(tb[FRA_L3MDEV]);
		k.has_l3mdev = k.l3mdev != 0;
	}
	if (tb[FRA_UID_RANGE]) {
		const struct fib_rule_uid_range *u = nla_data(tb[FRA_UID_RANGE]);

		k.has_uid_range = 1;
		k.uid_start = u->start;
		k.uid_end = u->end;
	}
	if (tb[FRA_PROTOCOL])
		k.protocol = nla_get_u8(tb[FRA_PROTOCOL]);
	if (tb[FRA_IP_PROTO])
		k.ip_proto = nla_get_u8(tb[FRA_IP_PROTO]);
	if (tb[FRA_SPORT_RANGE]) {
		const struct fib_rule_port_range *p = nla_data(tb[FRA_SPORT_RANGE]);

		k.sport_lo = p->start;
		k.sport_hi = p->end;
	}
	if (tb[FRA_DPORT_RANGE]) {
		const struct fib_rule_port_range *p = nla_data(tb[FRA_DPORT_RANGE]);

		k.dport_lo = p->start;
		k.dport_hi = p->end;
	}
	/* A partial mask matches (port & mask) == start: not a range; let the kernel decide. */
	if (tb[STEER_FRA_SPORT_MASK] && nla_get_u16(tb[STEER_FRA_SPORT_MASK]) != 0xffff)
		k.port_mask_partial = 1;
	if (tb[STEER_FRA_DPORT_MASK] && nla_get_u16(tb[STEER_FRA_DPORT_MASK]) != 0xffff)
		k.port_mask_partial = 1;
	count_unknown(h, &k);

	if (h->nlmsg_type == RTM_DELRULE) {
		model_rule_del(m, &k);
		return 0;
	}
	return model_rule_add(m, &k);
}
