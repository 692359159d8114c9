/* Nexthop objects (`ip nexthop`), from RTM_NEWNEXTHOP/RTM_DELNEXTHOP: routes that name one
 * by id (`nhid`) are compiled through it, so a change to the object moves those routes. */
#include <errno.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <stdlib.h>
#include <string.h>

#include "nl-attr.h"
#include "nl-msg.h"

static struct nla_policy nh_policy[NHA_MAX + 1] = {
	[NHA_ID] = { .type = NLA_U32 },
	[NHA_GROUP] = { .type = NLA_UNSPEC },
	[NHA_GROUP_TYPE] = { .type = NLA_U16 },
	[NHA_BLACKHOLE] = { .type = NLA_FLAG },
	[NHA_OIF] = { .type = NLA_U32 },
	[NHA_GATEWAY] = { .type = NLA_UNSPEC },
	[NHA_ENCAP_TYPE] = { .type = NLA_U16 },
	[NHA_FDB] = { .type = NLA_FLAG },
};

int intake_nexthop_msg(struct model *m, const struct nlmsghdr *h)
{
	struct nlattr *tb[NHA_MAX + 1];
	struct model_nhobj n = {};
	struct nhmsg *nhm;

	if (intake_parse(h, sizeof(*nhm), tb, NHA_MAX, nh_policy) < 0 || !tb[NHA_ID])
		return -EINVAL;
	nhm = nlmsg_data(h);
	n.id = nla_get_u32(tb[NHA_ID]);
	if (h->nlmsg_type == RTM_DELNEXTHOP) {
		model_nhobj_del(m, n.id);
		return 0;
	}
	n.family = nhm->nh_family;
	n.flags = nhm->nh_flags;
	n.blackhole = tb[NHA_BLACKHOLE] != NULL;
	n.unsupported = tb[NHA_ENCAP_TYPE] || tb[NHA_FDB];
	if (tb[NHA_OIF])
		n.oif = (int32_t)nla_get_u32(tb[NHA_OIF]);
	if (tb[NHA_GATEWAY]) {
		struct prefix p;

		if (intake_attr_prefix(tb[NHA_GATEWAY], n.family, n.family == AF_INET ? 32 : 128, &p) < 0)
			return -EINVAL;
		memcpy(n.gw, p.addr, 16);
	} else {
		n.family = AF_UNSPEC;	/* on-link, or a group */
	}
	if (tb[NHA_GROUP]) {
		const struct nexthop_grp *g = nla_data(tb[NHA_GROUP]);
		size_t cnt = (size_t)nla_len(tb[NHA_GROUP]) / sizeof(*g);

		if (!cnt || cnt * sizeof(*g) != (size_t)nla_len(tb[NHA_GROUP]))
			return -EINVAL;
		n.grp = calloc(cnt, sizeof(*n.grp));
		if (!n.grp)
			return -ENOMEM;
		for (size_t i = 0; i < cnt; i++) {
			n.grp[i].id = g[i].id;
			/* weight is stored minus one, in two bytes since Linux 6.12 */
			n.grp[i].weight = (uint16_t)(((uint16_t)g[i].weight_high << 8 | g[i].weight) + 1);
		}
		n.ngrp = (uint32_t)cnt;
	}
	return model_nhobj_set(m, &n);
}
