/* Links: name, state, link-layer type, MTU (and IPv6 MTU) and 802.1Q identity, from
 * RTM_NEWLINK/RTM_DELLINK. */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/ipv6.h>
#include <sys/socket.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <string.h>

#include "log.h"
#include "nl-attr.h"
#include "nl-msg.h"

static struct nla_policy link_policy[IFLA_MAX + 1] = {
	[IFLA_IFNAME] = { .type = NLA_STRING, .maxlen = IF_NAMESIZE },
	[IFLA_MTU] = { .type = NLA_U32 },
	[IFLA_ADDRESS] = { .type = NLA_UNSPEC },
	[IFLA_LINK] = { .type = NLA_U32 },
	[IFLA_MASTER] = { .type = NLA_U32 },
	[IFLA_LINKINFO] = { .type = NLA_NESTED },
	[IFLA_AF_SPEC] = { .type = NLA_NESTED },
};

static struct nla_policy inet6_policy[IFLA_INET6_MAX + 1] = {
	[IFLA_INET6_CONF] = { .minlen = (DEVCONF_MTU6 + 1) * sizeof(int32_t) },
};

static struct nla_policy info_policy[IFLA_INFO_MAX + 1] = {
	[IFLA_INFO_KIND] = { .type = NLA_STRING },
	[IFLA_INFO_DATA] = { .type = NLA_NESTED },
};

static struct nla_policy vlan_policy[IFLA_VLAN_MAX + 1] = {
	[IFLA_VLAN_ID] = { .type = NLA_U16 },
	[IFLA_VLAN_PROTOCOL] = { .type = NLA_U16 },
};

/* IFLA_LINKINFO's parts into info; false when the message has none (or a broken one). */
static bool link_info(struct nlattr *linkinfo, struct nlattr **info)
{
	return linkinfo && nla_parse_nested(info, IFLA_INFO_MAX, linkinfo, info_policy) >= 0;
}

/* Whether the link is of a kind whose received frames may come straight from a local
 * stack, the transport checksum still to be filled in (CHECKSUM_PARTIAL): a veth's or
 * netkit's peer, a tap's user (virtio-net headers). */
static bool local_csum_of(struct nlattr **info)
{
	static const char *const kinds[] = { "veth", "netkit", "tun" };

	if (!info[IFLA_INFO_KIND])
		return false;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(nla_get_string(info[IFLA_INFO_KIND]), kinds[i]))
			return true;
	return false;
}

/* For an 802.1Q link, its VLAN id; 0 otherwise (802.1ad and other kinds included). */
static uint16_t vlan_id_of(struct nlattr **info)
{
	struct nlattr *vlan[IFLA_VLAN_MAX + 1];

	if (!info[IFLA_INFO_KIND] || strcmp(nla_get_string(info[IFLA_INFO_KIND]), "vlan") ||
	    !info[IFLA_INFO_DATA] ||
	    nla_parse_nested(vlan, IFLA_VLAN_MAX, info[IFLA_INFO_DATA], vlan_policy) < 0 ||
	    !vlan[IFLA_VLAN_ID])
		return 0;
	if (vlan[IFLA_VLAN_PROTOCOL] && ntohs(nla_get_u16(vlan[IFLA_VLAN_PROTOCOL])) != 0x8100)
		return 0;
	return nla_get_u16(vlan[IFLA_VLAN_ID]) & 0x0fff;
}

/* The device's IPv6 MTU (net.ipv6.conf.DEV.mtu, what ip6_forward() checks) from the
 * IPv6 part of IFLA_AF_SPEC; -1 when the device has no IPv6 (the kernel sends none). Only
 * an event of the link carries it: a change of the sysctl alone sends nothing, so sysctl.c
 * polls it too. */
static int32_t mtu6_of(struct nlattr *af_spec)
{
	struct nlattr *tb[IFLA_INET6_MAX + 1], *a;
	int rem;

	if (!af_spec)
		return -1;
	nla_for_each_nested(a, af_spec, rem) {
		int32_t conf[DEVCONF_MTU6 + 1];

		if (nla_type(a) != AF_INET6 ||
		    nla_parse_nested(tb, IFLA_INET6_MAX, a, inet6_policy) < 0 || !tb[IFLA_INET6_CONF])
			continue;
		memcpy(conf, nla_data(tb[IFLA_INET6_CONF]), sizeof(conf));
		return conf[DEVCONF_MTU6];
	}
	return -1;
}

/* The device's own MAC, the source of the frames the XDP stage sends from it. */
static void mac_of(struct model_link *l, uint16_t type, struct nlattr *addr, struct model *m)
{
	uint8_t mac[6] = { 0 };

	if (type == ARPHRD_ETHER && addr && nla_len(addr) == 6)
		memcpy(mac, nla_data(addr), 6);
	if (memcmp(l->mac, mac, 6)) {
		memcpy(l->mac, mac, 6);
		m->dirty = true;
	}
}

int intake_link_msg(struct model *m, const struct nlmsghdr *h)
{
	struct nlattr *tb[IFLA_MAX + 1];
	struct ifinfomsg *ifi;
	struct model_link *l;
	uint32_t oldflags;
	struct nlattr *info[IFLA_INFO_MAX + 1];
	bool known, has_info;

	if (intake_parse(h, sizeof(*ifi), tb, IFLA_MAX, link_policy) < 0)
		return -EINVAL;
	ifi = nlmsg_data(h);
	/* Bridge port notifications (AF_BRIDGE) describe a port, not the link's life. */
	if (ifi->ifi_family != AF_UNSPEC || ifi->ifi_index <= 0)
		return 0;
	if (h->nlmsg_type == RTM_DELLINK) {
		log_debug("link %d deleted", ifi->ifi_index);
		model_link_del(m, ifi->ifi_index);
		return 0;
	}
	l = model_link_get(m, ifi->ifi_index);
	known = l && l->name[0];
	if (!l)
		l = model_link_upsert(m, ifi->ifi_index);
	if (!l)
		return -ENOMEM;
	oldflags = l->flags;
	l->flags = ifi->ifi_flags;
	l->stale = false;
	if (tb[IFLA_IFNAME] && strcmp(l->name, nla_get_string(tb[IFLA_IFNAME]))) {
		snprintf(l->name, sizeof(l->name), "%s", nla_get_string(tb[IFLA_IFNAME]));
		m->dirty = true;
	}
	if (tb[IFLA_MTU])
		l->mtu = nla_get_u32(tb[IFLA_MTU]);
	if (l->type != ifi->ifi_type || l->mtu6 != mtu6_of(tb[IFLA_AF_SPEC])) {
		l->type = ifi->ifi_type;
		l->mtu6 = mtu6_of(tb[IFLA_AF_SPEC]);
		m->dirty = true;
	}
	mac_of(l, ifi->ifi_type, tb[IFLA_ADDRESS], m);
	has_info = link_info(tb[IFLA_LINKINFO], info);
	l->vlan_id = has_info ? vlan_id_of(info) : 0;
	if (has_info && l->local_csum != local_csum_of(info)) {
		l->local_csum = !l->local_csum;
		m->dirty = true;
	}
	if (l->master != (tb[IFLA_MASTER] ? (int32_t)nla_get_u32(tb[IFLA_MASTER]) : 0)) {
		l->master = tb[IFLA_MASTER] ? (int32_t)nla_get_u32(tb[IFLA_MASTER]) : 0;
		m->dirty = true;
	}
	l->vlan_lower = l->vlan_id && tb[IFLA_LINK] ? (int32_t)nla_get_u32(tb[IFLA_LINK]) : 0;

	if ((oldflags ^ l->flags) & (IFF_UP | IFF_RUNNING)) {
		m->dirty = true;
		/* Admin-down flushes IPv4 routes and carrier loss flags next hops linkdown,
		 * both without route notifications: re-read the routes. */
		m->routes_need_dump = true;
		if (known)
			log_event(LOG_INFO, LOG_EV_LINK_STATE, &(struct log_ctx){ .ifname = l->name },
				  "link %s (%d) is %s", l->name, l->ifindex,
				  (l->flags & IFF_UP) && (l->flags & IFF_RUNNING) ? "up" : "down");
	}
	return 0;
}
