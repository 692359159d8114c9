/* Forwarding switches (net.ipv4.conf.*.forwarding, rp_filter, net.ipv6.conf.*.forwarding)
 * from RTM_NEWNETCONF: the kernel forwards only where these allow it. And what the kernel
 * was built with, where the routing decision depends on it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/netconf.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "log.h"
#include "nl-attr.h"
#include "nl-msg.h"

static struct nla_policy netconf_policy[NETCONFA_MAX + 1] = {
	[NETCONFA_IFINDEX] = { .type = NLA_U32 },
	[NETCONFA_FORWARDING] = { .type = NLA_U32 },
	[NETCONFA_RP_FILTER] = { .type = NLA_U32 },
};

static void set_switch(int8_t *dst, struct nlattr *a, struct model *m)
{
	int8_t v;

	if (!a)
		return;
	v = (int8_t)(nla_get_u32(a) > 2 ? 2 : nla_get_u32(a));
	if (*dst != v) {
		*dst = v;
		m->dirty = true;
	}
}

/* The switches one message carries: of its family, for every device or for one. */
static void set_switches(struct model *m, uint8_t family, struct nlattr **tb, int8_t *fwd4,
			 int8_t *rp_filter4, int8_t *fwd6)
{
	if (family == AF_INET) {
		set_switch(fwd4, tb[NETCONFA_FORWARDING], m);
		set_switch(rp_filter4, tb[NETCONFA_RP_FILTER], m);
	} else if (family == AF_INET6) {
		set_switch(fwd6, tb[NETCONFA_FORWARDING], m);
	}
}

int intake_netconf_msg(struct model *m, const struct nlmsghdr *h)
{
	struct nlattr *tb[NETCONFA_MAX + 1];
	struct netconfmsg *ncm;
	struct model_link *l;
	int32_t ifindex;

	if (intake_parse(h, sizeof(*ncm), tb, NETCONFA_MAX, netconf_policy) < 0)
		return -EINVAL;
	ncm = nlmsg_data(h);
	if (!tb[NETCONFA_IFINDEX] || h->nlmsg_type != RTM_NEWNETCONF)
		return 0;
	ifindex = (int32_t)nla_get_u32(tb[NETCONFA_IFINDEX]);
	if (ifindex == NETCONFA_IFINDEX_DEFAULT)
		return 0;
	if (ifindex == NETCONFA_IFINDEX_ALL) {
		set_switches(m, ncm->ncm_family, tb, &m->all_fwd4, &m->all_rp_filter4, &m->all_fwd6);
		return 0;
	}
	l = model_link_upsert(m, ifindex);
	if (!l)
		return -ENOMEM;
	set_switches(m, ncm->ncm_family, tb, &l->fwd4, &l->rp_filter4, &l->fwd6);
	return 0;
}

/* Whether this process and its network namespace both belong to the initial user
 * namespace: then the uid a forwarded packet is looked up with (the namespace's uid 0 for
 * IPv4, the initial namespace's for IPv6) is 0 as the rules' uid ranges read here. */
static bool initial_user_ns(void)
{
	char map[128] = "";
	FILE *f = fopen("/proc/self/uid_map", "r");
	struct stat own, owner;
	unsigned long a, b, n;
	int net, user;
	bool ok;

	ok = f && fgets(map, sizeof(map), f) && sscanf(map, "%lu %lu %lu", &a, &b, &n) == 3 &&
	     a == 0 && b == 0 && n == 4294967295ul;
	if (f)
		fclose(f);
	net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	user = net >= 0 ? ioctl(net, NS_GET_USERNS) : -1;
	ok = ok && user >= 0 && !fstat(user, &owner) && !stat("/proc/self/ns/user", &own) &&
	     own.st_ino == owner.st_ino && own.st_dev == owner.st_dev;
	if (user >= 0)
		close(user);
	if (net >= 0)
		close(net);
	return ok;
}

void intake_probe_kernel(struct model *m)
{
	m->fwd_uid0 = initial_user_ns();
	log_debug("uidrange rules %s", m->fwd_uid0 ? "are evaluated (uid 0 for forwarded packets)" :
		  "punt (not the initial user namespace)");
	/* IPv6 ranks routes by router preference only with CONFIG_IPV6_ROUTER_PREF, whose
	 * sysctl exists only then (in the namespace this process is in). */
	if (access("/proc/sys/net/ipv6/conf/all/accept_ra_rtr_pref", F_OK) == 0)
		m->router_pref6 = 1;
	else if (access("/proc/sys/net/ipv6/conf/all/forwarding", F_OK) == 0)
		m->router_pref6 = 0;
	log_debug("ipv6 router preference %s", m->router_pref6 == 1 ? "ranks routes" :
		  m->router_pref6 == 0 ? "is not built in" : "unknown (no IPv6)");
}
