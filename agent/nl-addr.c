/* Addresses, from RTM_NEWADDR/RTM_DELADDR. The datapath learns local destinations from the
 * local table; the model keeps addresses for status and for what later stages need. */
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "nl-attr.h"
#include "nl-msg.h"

static struct nla_policy addr_policy[IFA_MAX + 1] = {
	[IFA_ADDRESS] = { .type = NLA_UNSPEC },
	[IFA_LOCAL] = { .type = NLA_UNSPEC },
};

int intake_addr_msg(struct model *m, const struct nlmsghdr *h)
{
	struct nlattr *tb[IFA_MAX + 1];
	struct model_addr_key k = {};
	struct ifaddrmsg *ifa = nlmsg_data(h);
	int r = intake_parse_ip(h, sizeof(*ifa), tb, IFA_MAX, addr_policy);

	if (r <= 0)
		return r;
	k.ifindex = (int32_t)ifa->ifa_index;
	/* IFA_LOCAL is the address itself on point-to-point links; IFA_ADDRESS the peer. */
	if (intake_attr_prefix(tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], ifa->ifa_family,
			       ifa->ifa_family == AF_INET ? 32 : 128, &k.addr) < 0)
		return -EINVAL;
	k.addr.len = ifa->ifa_prefixlen;
	if (k.addr.len > (ifa->ifa_family == AF_INET ? 32 : 128))
		return -EINVAL;
	return model_addr_set(m, &k, h->nlmsg_type == RTM_NEWADDR);
}
