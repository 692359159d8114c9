/* Hostile netlink input, message by message: the intake rejects (-EINVAL, which steerd
 * counts and logs as malformed) what has a short header, a short or overlong attribute, a
 * prefix longer than its family allows or an address of the wrong size, ignores families it
 * does not route, and in every case leaves the model as it was. A well-formed message of
 * each kind is accepted, so the rejections are not an artefact of how the bytes are built. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/fib_rules.h>
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

/* The rule attributes the kernel knows and this agent does not evaluate, by their numbers
 * (whatever headers this test is built with): FRA_UNUSED2, FRA_DSCP, FRA_FLOWLABEL,
 * FRA_FLOWLABEL_MASK, FRA_DSCP_MASK, and numbers no kernel has used yet. */
static const struct { uint16_t type; uint8_t len; const char *name; } unevaluated[] = {
	{ 5, 4, "FRA_UNUSED2" }, { 25, 1, "FRA_DSCP" }, { 26, 4, "FRA_FLOWLABEL" },
	{ 27, 4, "FRA_FLOWLABEL_MASK" }, { 30, 1, "FRA_DSCP_MASK" }, { 31, 4, "attribute 31" },
	{ 200, 8, "attribute 200" },
};

/* A `lookup 100` rule at priority 100 with one more attribute of `len` bytes (value v). */
static void rule_with(struct msg *m, uint16_t type, const void *v, size_t len)
{
	struct fib_rule_hdr h = frh(AF_INET, 0);

	start(m, RTM_NEWRULE, &h, sizeof(h));
	attr_u32(m, FRA_PRIORITY, 100);
	attr_u32(m, FRA_TABLE, 100);
	if (type)
		attr(m, type, v, len);
}

static void rule_attributes(void)
{
	static const uint8_t val[8] = { 4, 0, 0, 0, 0, 0, 0, 0 }, val2[8] = { 8 };
	struct model md;
	struct msg m;

	for (size_t i = 0; i < sizeof(unevaluated) / sizeof(unevaluated[0]); i++) {
		const char *why;

		model_init(&md);
		rule_with(&m, unevaluated[i].type, val, unevaluated[i].len);
		CHECK(intake_message(&md, &m.h) == 0 && md.nrules == 1, "a rule with %s is kept",
		      unevaluated[i].name);
		why = md.nrules ? compile_rule_punt_reason(&md.rules[0].key) : NULL;
		CHECK(why && !strcmp(why, "unknown attribute"),
		      "a rule with %s punts, whatever FRA_MAX this build has (%s)", unevaluated[i].name,
		      why ? why : "evaluated");
		model_free(&md);
	}

	/* The same rule with dscp 4 and with dscp 8: two kernel rules, deleted one by one. */
	model_init(&md);
	rule_with(&m, 25, val, 1);
	intake_message(&md, &m.h);
	rule_with(&m, 25, val2, 1);
	intake_message(&md, &m.h);
	CHECK(md.nrules == 2, "rules differing only in an unevaluated attribute are two rules (%zu)",
	      md.nrules);
	rule_with(&m, 25, val, 1);
	m.h.nlmsg_type = RTM_DELRULE;
	intake_message(&md, &m.h);
	CHECK(md.nrules == 1, "deleting one of them leaves the other (%zu)", md.nrules);
	rule_with(&m, 25, val, 1);
	m.h.nlmsg_type = RTM_DELRULE;
	intake_message(&md, &m.h);
	CHECK(md.nrules == 1, "deleting it again changes nothing (%zu)", md.nrules);
	rule_with(&m, 25, val2, 1);
	m.h.nlmsg_type = RTM_DELRULE;
	intake_message(&md, &m.h);
	CHECK(md.nrules == 0, "deleting the other empties the list (%zu)", md.nrules);
	model_free(&md);

	/* Port masks (28, 29) are evaluated: all ones is a plain port, anything else punts,
	 * and the mask is part of the rule's identity. */
	{
		struct fib_rule_port_range pr = { 48, 48 };
		uint16_t ones = 0xffff, part = 0xfff0, part2 = 0xff00;
		const char *why;

		model_init(&md);
		rule_with(&m, FRA_SPORT_RANGE, &pr, sizeof(pr));
		attr(&m, 28, &ones, 2);
		intake_message(&md, &m.h);
		why = md.nrules ? compile_rule_punt_reason(&md.rules[0].key) : "missing";
		CHECK(md.nrules == 1 && !why, "sport with an all-ones FRA_SPORT_MASK is evaluated (%s)",
		      why ? why : "evaluated");
		model_free(&md);

		model_init(&md);
		rule_with(&m, FRA_DPORT_RANGE, &pr, sizeof(pr));
		attr(&m, 29, &part, 2);
		intake_message(&md, &m.h);
		rule_with(&m, FRA_DPORT_RANGE, &pr, sizeof(pr));
		attr(&m, 29, &part2, 2);
		intake_message(&md, &m.h);
		why = md.nrules ? compile_rule_punt_reason(&md.rules[0].key) : NULL;
		CHECK(why && !strcmp(why, "port mask"), "dport 48/0xfff0 punts (%s)", why ? why : "evaluated");
		CHECK(md.nrules == 2, "dport 48/0xfff0 and 48/0xff00 are two rules (%zu)", md.nrules);
		model_free(&md);
	}
}

/* The kernel keeps a rule's from/to as given (`from 10.1.0.3/24`) and tells rules apart by
 * it: so must the model. */
static void rule_host_bits(void)
{
	static const uint8_t a3[4] = { 10, 1, 0, 3 }, a4[4] = { 10, 1, 0, 4 };
	struct fib_rule_hdr h = frh(AF_INET, 24);
	struct model md;
	struct msg m;

	model_init(&md);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr(&m, FRA_SRC, a3, 4);
	attr_u32(&m, FRA_PRIORITY, 100);
	intake_message(&md, &m.h);
	start(&m, RTM_NEWRULE, &h, sizeof(h));
	attr(&m, FRA_SRC, a4, 4);
	attr_u32(&m, FRA_PRIORITY, 100);
	intake_message(&md, &m.h);
	CHECK(md.nrules == 2, "from 10.1.0.3/24 and from 10.1.0.4/24 are two rules (%zu)", md.nrules);
	CHECK(md.nrules && !memcmp(md.rules[0].key.src.addr, a3, 4) && md.rules[0].key.src.len == 24,
	      "the rule keeps the address it was given");
	start(&m, RTM_DELRULE, &h, sizeof(h));
	attr(&m, FRA_SRC, a3, 4);
	attr_u32(&m, FRA_PRIORITY, 100);
	intake_message(&md, &m.h);
	CHECK(md.nrules == 1 && !memcmp(md.rules[0].key.src.addr, a4, 4),
	      "deleting 10.1.0.3/24 leaves 10.1.0.4/24 (%zu rules)", md.nrules);
	model_free(&md);
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

int main(void)
{
	routes();
	rules();
	rule_attributes();
	rule_host_bits();
	others();
	return test_done();
}
