/* Neighbours, from RTM_NEWNEIGH/RTM_DELNEIGH, with their NUD state. */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <string.h>

#include "nl-attr.h"
#include "nl-msg.h"

_Static_assert(NUD_FAILED == MODEL_NUD_FAILED, "model NUD_FAILED is the kernel's");

static struct nla_policy neigh_policy[NDA_MAX + 1] = {
	[NDA_DST] = { .type = NLA_UNSPEC },
	[NDA_LLADDR] = { .type = NLA_UNSPEC },
};

int intake_neigh_msg(struct model *m, const struct nlmsghdr *h)
{
	struct nlattr *tb[NDA_MAX + 1];
	struct model_neigh_key k = {};
	struct prefix p;
	const uint8_t *lladdr = NULL;
	struct ndmsg *nd = nlmsg_data(h);
	int r = intake_parse_ip(h, sizeof(*nd), tb, NDA_MAX, neigh_policy);

	if (r <= 0)
		return r;	/* 0: bridge FDB entries and the like */
	if (!tb[NDA_DST] ||
	    intake_attr_prefix(tb[NDA_DST], nd->ndm_family, nd->ndm_family == AF_INET ? 32 : 128, &p) < 0)
		return -EINVAL;
	k.ifindex = nd->ndm_ifindex;
	k.family = nd->ndm_family;
	memcpy(k.dst, p.addr, 16);
	/* Ethernet's six bytes only: what the XDP stage can write into a frame. */
	if (tb[NDA_LLADDR] && nla_len(tb[NDA_LLADDR]) == 6)
		lladdr = nla_data(tb[NDA_LLADDR]);
	return model_neigh_set(m, &k, nd->ndm_state, lladdr, h->nlmsg_type == RTM_NEWNEIGH);
}
