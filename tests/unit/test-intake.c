/* Hostile netlink input, message by message: the intake rejects (-EINVAL, which steerd
 * counts and logs as malformed) what has a short header, a short or overlong attribute, a
 * prefix longer than its family allows or an address of the wrong size, ignores families it
 * does not route, and in every case leaves the model as it was. A well-formed message of
 * each kind is accepted, so the rejections are not an artefact of how the bytes are built.
 * Last, what a link message tells the datapath: its link-layer type and IPv6 MTU. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/fib_rules.h>
#include <net/if_arp.h>
#include <linux/ipv6.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "compile.h"
#include "model.h"
#include "nl.h"
#include "test.h"

/* One message under construction, aligned as the kernel aligns its buffers. */
struct msg {
	union {
		struct nlmsghdr h;
		uint32_t align[256];
	};
};

static void start(struct msg *m, uint16_t type, const void *hdr, size_t hdr_len)
{
	memset(m, 0, sizeof(*m));
	m->h.nlmsg_type = type;
	m->h.nlmsg_flags = NLM_F_CREATE;
	m->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(hdr_len);
	memcpy(NLMSG_DATA(&m->h), hdr, hdr_len);
}

/* Appends an attribute; `claim` is the length its header states (normally its real one). */
static void attr_claim(struct msg *m, uint16_t type, const void *data, size_t len, size_t claim)
{
	struct nlattr *a = (struct nlattr *)((char *)&m->h + NLMSG_ALIGN(m->h.nlmsg_len));

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + claim);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	m->h.nlmsg_len = (uint32_t)(NLMSG_ALIGN(m->h.nlmsg_len) + NLA_ALIGN(NLA_HDRLEN + len));
}

static void attr(struct msg *m, uint16_t type, const void *data, size_t len)
{
	attr_claim(m, type, data, len, len);
}

static void attr_u32(struct msg *m, uint16_t type, uint32_t v)
{
	attr(m, type, &v, sizeof(v));
}

static const uint8_t v4[4] = { 10, 1, 0, 0 }, v4gw[4] = { 10, 0, 0, 1 };
static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

static struct rtmsg rtm(uint8_t family, uint8_t dst_len)
{
	return (struct rtmsg){ .rtm_family = family, .rtm_dst_len = dst_len, .rtm_table = 100,
			       .rtm_protocol = RTPROT_STATIC, .rtm_scope = RT_SCOPE_UNIVERSE,
			       .rtm_type = RTN_UNICAST };
}

static struct fib_rule_hdr frh(uint8_t family, uint8_t src_len)
{
	return (struct fib_rule_hdr){ .family = family, .src_len = src_len, .table = 100,
				      .action = FR_ACT_TO_TBL };
}

/* Feeds one message to a fresh model: the handler's answer, and whether anything stayed. */
static int feed(const struct msg *m, size_t *routes, size_t *rules)
{
	struct model md;
	int r;

	model_init(&md);
	r = intake_message(&md, &m->h);
	*routes = md.routes.count;
	*rules = md.nrules;
	model_free(&md);
	return r;
}

#define EXPECT(m, want_r, want_routes, want_rules, what)                                     \
	do {                                                                                  \
		size_t nr_, nu_;                                                              \
		int r_ = feed(m, &nr_, &nu_);                                                 \
		CHECK(r_ == (want_r) && nr_ == (want_routes) && nu_ == (want_rules),         \
		      "%s (returned %d, %zu routes, %zu rules)", what, r_, nr_, nu_);          \
	} while (0)

static void routes(void)
{
	struct msg m;
	struct rtmsg h;

	h = rtm(AF_INET, 16);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 4);
	attr_u32(&m, RTA_OIF, 2);
	attr(&m, RTA_GATEWAY, v4gw, 4);
	EXPECT(&m, 0, 1, 0, "a well-formed IPv4 route is taken");

	h = rtm(AF_INET, 33);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 4);
	attr_u32(&m, RTA_OIF, 2);
	EXPECT(&m, -EINVAL, 0, 0, "an IPv4 route with prefix length 33 is rejected");

	h = rtm(AF_INET6, 129);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v6, 16);
	attr_u32(&m, RTA_OIF, 2);
	EXPECT(&m, -EINVAL, 0, 0, "an IPv6 route with prefix length 129 is rejected");

	h = rtm(AF_INET, 16);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 2);
	attr_u32(&m, RTA_OIF, 2);
	EXPECT(&m, -EINVAL, 0, 0, "a 2-byte IPv4 destination is rejected");

	h = rtm(AF_INET6, 32);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 4);
	attr_u32(&m, RTA_OIF, 2);
	EXPECT(&m, -EINVAL, 0, 0, "an IPv6 route with a 4-byte destination is rejected");

	h = rtm(AF_INET, 16);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 4);
	attr_u32(&m, RTA_OIF, 2);
	attr(&m, RTA_GATEWAY, v4gw, 3);
	EXPECT(&m, -EINVAL, 0, 0, "a 3-byte gateway is rejected");

	h = rtm(AF_INET, 16);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 4);
	attr_claim(&m, RTA_OIF, (uint32_t[]){ 2 }, 4, 200);
	EXPECT(&m, -EINVAL, 0, 0, "an attribute claiming more bytes than the message has is rejected");

	h = rtm(AF_INET, 16);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(h) - 4);
	EXPECT(&m, -EINVAL, 0, 0, "a message shorter than its rtmsg header is rejected");

	h = rtm(99, 16);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 4);
	attr_u32(&m, RTA_OIF, 2);
	EXPECT(&m, 0, 0, 0, "a route of an unknown family (99) is ignored");

	h = rtm(AF_INET, 16);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 4);
	{
		/* One next hop whose rtnh_len runs past the attribute. */
		struct rtnexthop nh = { .rtnh_len = 200, .rtnh_ifindex = 2 };

		attr(&m, RTA_MULTIPATH, &nh, sizeof(nh));
	}
	EXPECT(&m, -EINVAL, 0, 0, "a multipath next hop longer than its attribute is rejected");

	h = rtm(AF_INET, 16);
	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 4);
	attr_u32(&m, RTA_OIF, 2);
	attr(&m, RTA_TABLE, (uint8_t[]){ 1 }, 1);
	EXPECT(&m, -EINVAL, 0, 0, "a 1-byte RTA_TABLE is rejected");
}

static void rules(void)
{
	struct msg m;
	struct fib_rule_hdr h;

	h = frh(AF_INET, 16);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr(&m, FRA_SRC, v4, 4);
	attr_u32(&m, FRA_PRIORITY, 100);
	EXPECT(&m, 0, 0, 1, "a well-formed IPv4 rule is taken");

	h = frh(AF_INET, 33);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr(&m, FRA_SRC, v4, 4);
	attr_u32(&m, FRA_PRIORITY, 100);
	EXPECT(&m, -EINVAL, 0, 0, "an IPv4 rule with source length 33 is rejected");

	h = frh(AF_INET6, 129);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr(&m, FRA_SRC, v6, 16);
	attr_u32(&m, FRA_PRIORITY, 100);
	EXPECT(&m, -EINVAL, 0, 0, "an IPv6 rule with source length 129 is rejected");

	h = frh(AF_INET, 16);
	h.dst_len = 40;
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr(&m, FRA_DST, v4, 4);
	attr_u32(&m, FRA_PRIORITY, 100);
	EXPECT(&m, -EINVAL, 0, 0, "an IPv4 rule with destination length 40 is rejected");

	h = frh(AF_INET, 16);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr(&m, FRA_SRC, v6, 16);
	attr_u32(&m, FRA_PRIORITY, 100);
	EXPECT(&m, -EINVAL, 0, 0, "an IPv4 rule with a 16-byte source is rejected");

	h = frh(AF_INET, 0);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr(&m, FRA_PRIORITY, (uint8_t[]){ 1, 2 }, 2);
	EXPECT(&m, -EINVAL, 0, 0, "a 2-byte FRA_PRIORITY is rejected");

	h = frh(AF_INET, 0);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr(&m, FRA_IIFNAME, "0123456789abcdefXYZ", 20);
	attr_u32(&m, FRA_PRIORITY, 100);
	EXPECT(&m, -EINVAL, 0, 0, "an interface name longer than IFNAMSIZ is rejected");

	h = frh(AF_INET, 0);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	m.h.nlmsg_len = NLMSG_LENGTH(2);
	EXPECT(&m, -EINVAL, 0, 0, "a message shorter than its rule header is rejected");

	h = frh(AF_BRIDGE, 0);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr_u32(&m, FRA_PRIORITY, 100);
	EXPECT(&m, 0, 0, 0, "a rule of another family (bridge) is ignored");
}

static void others(void)
{
	struct msg m;
	struct ndmsg nd = { .ndm_family = AF_INET, .ndm_ifindex = 2, .ndm_state = NUD_REACHABLE };
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = 2 };

	start(&m, RTM_NEWNEIGH, &nd, sizeof(nd));
	attr(&m, NDA_DST, v4, 3);
	EXPECT(&m, -EINVAL, 0, 0, "a neighbour with a 3-byte address is rejected");

	start(&m, RTM_NEWLINK, &ifi, sizeof(ifi));
	m.h.nlmsg_len = NLMSG_LENGTH(4);
	EXPECT(&m, -EINVAL, 0, 0, "a link message shorter than its header is rejected");

	start(&m, RTM_NEWLINK, &ifi, sizeof(ifi));
	attr_u32(&m, IFLA_MTU, 1500);
	attr(&m, IFLA_IFNAME, "0123456789abcdefXYZ", 20);
	EXPECT(&m, -EINVAL, 0, 0, "a link name longer than IFNAMSIZ is rejected");
}

/* A link message of type `type` with IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_CONF } } giving the
 * IPv6 MTU (conf_len bytes of the conf array: the kernel sends every DEVCONF_* entry). */
static void link_msg(struct msg *m, int ifindex, uint16_t type, const char *name, int32_t mtu6,
		     size_t conf_len)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_type = type,
				 .ifi_flags = IFF_UP | IFF_RUNNING };
	uint8_t spec[256] = {}, *p = spec;
	int32_t conf[DEVCONF_MTU6 + 1] = {};
	struct nlattr *inet6 = (struct nlattr *)p, *c = (struct nlattr *)(p + NLA_HDRLEN);

	conf[DEVCONF_MTU6] = mtu6;
	c->nla_type = IFLA_INET6_CONF;
	c->nla_len = (uint16_t)(NLA_HDRLEN + conf_len);
	memcpy((uint8_t *)c + NLA_HDRLEN, conf, conf_len);
	inet6->nla_type = AF_INET6;
	inet6->nla_len = (uint16_t)(NLA_HDRLEN + NLA_ALIGN(c->nla_len));
	start(m, RTM_NEWLINK, &ifi, sizeof(ifi));
	attr(m, IFLA_IFNAME, name, strlen(name) + 1);
	attr(m, IFLA_AF_SPEC, spec, NLA_ALIGN(inet6->nla_len));
}

static const struct image_link *image_link(const struct image *img, uint32_t ifindex)
{
	for (size_t i = 0; i < img->nlinks; i++)
		if (img->links[i].ifindex == ifindex)
			return &img->links[i];
	return NULL;
}

/* What the datapath needs to know of a link besides its state: what its frames start with,
 * from ifi_type, and its IPv6 MTU, from IFLA_AF_SPEC; and the multipath hash policies. */
static void links(void)
{
	const struct image_link *l;
	struct model md;
	struct image img;
	struct msg m;

	model_init(&md);
	link_msg(&m, 2, ARPHRD_ETHER, "eth0", 1500, sizeof(int32_t) * (DEVCONF_MTU6 + 1));
	CHECK(intake_message(&md, &m.h) == 0, "an Ethernet link with an IPv6 MTU is accepted");
	link_msg(&m, 3, ARPHRD_NONE, "tun0", 1280, sizeof(int32_t) * (DEVCONF_MTU6 + 1));
	CHECK(intake_message(&md, &m.h) == 0, "a tun link (ARPHRD_NONE) is accepted");
	link_msg(&m, 4, ARPHRD_IPGRE, "gre0", 1400, sizeof(int32_t) * DEVCONF_MTU6);
	CHECK(intake_message(&md, &m.h) == 0, "a link whose IPv6 conf is too short is accepted");
	CHECK(model_link_get(&md, 3) && model_link_get(&md, 3)->mtu6 == 1280 &&
	      model_link_get(&md, 3)->type == ARPHRD_NONE, "tun0: type ARPHRD_NONE, IPv6 MTU 1280");
	CHECK(model_link_get(&md, 4) && model_link_get(&md, 4)->mtu6 == -1,
	      "gre0: the short IPv6 conf leaves the IPv6 MTU unknown");
	md.mp_hash_policy4 = 0;
	md.mp_hash_policy6 = 1;
	CHECK(compile_image(&md, &img) == 0, "compile the links");
	l = image_link(&img, 2);
	CHECK(l && !(l->val.flags & (STEER_LINK_L3 | STEER_LINK_L2_OTHER)) && l->val.mtu6 == 1500,
	      "eth0: Ethernet, mtu6 1500");
	l = image_link(&img, 3);
	CHECK(l && (l->val.flags & STEER_LINK_L3) && l->val.mtu6 == 1280,
	      "tun0: no link-layer header, mtu6 1280");
	l = image_link(&img, 4);
	CHECK(l && (l->val.flags & STEER_LINK_L2_OTHER) && l->val.mtu6 == 0,
	      "gre0: a link layer the datapath does not parse, mtu6 unknown (0)");
	CHECK((img.state_flags & STEER_STATE_MP_KERNEL4) && !(img.state_flags & STEER_STATE_MP_KERNEL6),
	      "hash policy 0 lets IPv4 multipath ask the kernel; policy 1 makes IPv6's punt");
	image_free(&img);
	model_free(&md);
}

int main(void)
{
	routes();
	rules();
	others();
	links();
	return test_done();
}
