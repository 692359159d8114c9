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
#include "nl-reader.h"
#include "nlmsg.h"
#include "test.h"

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

/* One hostile (or well-formed) message of a table: its header's family and prefix lengths, up
 * to three attributes, and what the handler must answer and leave in a fresh model. */
struct intake_case {
	uint8_t family, dst_len, src_len;	/* routes: dst_len; rules: both */
	struct { uint16_t type; const void *data; uint16_t len; } attrs[3];
	int r;
	size_t routes, rules;
	const char *what;
};

static const uint32_t two = 2, hundred = 100;
#define OIF2 { RTA_OIF, &two, 4 }
#define PRIO100 { FRA_PRIORITY, &hundred, 4 }

/* One next hop whose rtnh_len runs past the attribute. */
static const struct rtnexthop long_nh = { .rtnh_len = 200, .rtnh_ifindex = 2 };

static const struct intake_case route_cases[] = {
	{ AF_INET, 16, 0, { { RTA_DST, v4, 4 }, OIF2, { RTA_GATEWAY, v4gw, 4 } }, 0, 1, 0,
	  "a well-formed IPv4 route is taken" },
	{ AF_INET, 33, 0, { { RTA_DST, v4, 4 }, OIF2 }, -EINVAL, 0, 0,
	  "an IPv4 route with prefix length 33 is rejected" },
	{ AF_INET6, 129, 0, { { RTA_DST, v6, 16 }, OIF2 }, -EINVAL, 0, 0,
	  "an IPv6 route with prefix length 129 is rejected" },
	{ AF_INET, 16, 0, { { RTA_DST, v4, 2 }, OIF2 }, -EINVAL, 0, 0,
	  "a 2-byte IPv4 destination is rejected" },
	{ AF_INET6, 32, 0, { { RTA_DST, v4, 4 }, OIF2 }, -EINVAL, 0, 0,
	  "an IPv6 route with a 4-byte destination is rejected" },
	{ AF_INET, 16, 0, { { RTA_DST, v4, 4 }, OIF2, { RTA_GATEWAY, v4gw, 3 } }, -EINVAL, 0, 0,
	  "a 3-byte gateway is rejected" },
	{ 99, 16, 0, { { RTA_DST, v4, 4 }, OIF2 }, 0, 0, 0,
	  "a route of an unknown family (99) is ignored" },
	{ AF_INET, 16, 0, { { RTA_DST, v4, 4 }, { RTA_MULTIPATH, &long_nh, sizeof(long_nh) } },
	  -EINVAL, 0, 0, "a multipath next hop longer than its attribute is rejected" },
	{ AF_INET, 16, 0, { { RTA_DST, v4, 4 }, OIF2, { RTA_TABLE, (uint8_t[]){ 1 }, 1 } },
	  -EINVAL, 0, 0, "a 1-byte RTA_TABLE is rejected" },
};

static const struct intake_case rule_cases[] = {
	{ AF_INET, 0, 16, { { FRA_SRC, v4, 4 }, PRIO100 }, 0, 0, 1,
	  "a well-formed IPv4 rule is taken" },
	{ AF_INET, 0, 33, { { FRA_SRC, v4, 4 }, PRIO100 }, -EINVAL, 0, 0,
	  "an IPv4 rule with source length 33 is rejected" },
	{ AF_INET6, 0, 129, { { FRA_SRC, v6, 16 }, PRIO100 }, -EINVAL, 0, 0,
	  "an IPv6 rule with source length 129 is rejected" },
	{ AF_INET, 40, 16, { { FRA_DST, v4, 4 }, PRIO100 }, -EINVAL, 0, 0,
	  "an IPv4 rule with destination length 40 is rejected" },
	{ AF_INET, 0, 16, { { FRA_SRC, v6, 16 }, PRIO100 }, -EINVAL, 0, 0,
	  "an IPv4 rule with a 16-byte source is rejected" },
	{ AF_INET, 0, 0, { { FRA_PRIORITY, (uint8_t[]){ 1, 2 }, 2 } }, -EINVAL, 0, 0,
	  "a 2-byte FRA_PRIORITY is rejected" },
	{ AF_INET, 0, 0, { { FRA_IIFNAME, "0123456789abcdefXYZ", 20 }, PRIO100 }, -EINVAL, 0, 0,
	  "an interface name longer than IFNAMSIZ is rejected" },
	{ AF_BRIDGE, 0, 0, { PRIO100 }, 0, 0, 0, "a rule of another family (bridge) is ignored" },
};

/* Each case as an RTM_NEWROUTE or RTM_NEWRULE message, fed to a fresh model. */
static void feed_cases(uint16_t type, const struct intake_case *c, size_t n)
{
	for (; n--; c++) {
		struct msg m;

		if (type == RTM_NEWROUTE) {
			struct rtmsg h = rtm(c->family, c->dst_len);

			start(&m, type, &h, sizeof(h));
		} else {
			struct fib_rule_hdr h = frh(c->family, c->src_len);

			h.dst_len = c->dst_len;
			start(&m, type, &h, sizeof(h));
		}
		for (size_t i = 0; i < 3 && c->attrs[i].data; i++)
			attr(&m, c->attrs[i].type, c->attrs[i].data, c->attrs[i].len);
		EXPECT(&m, c->r, c->routes, c->rules, c->what);
	}
}

static void routes(void)
{
	struct msg m;
	struct rtmsg h = rtm(AF_INET, 16);

	feed_cases(RTM_NEWROUTE, route_cases, sizeof(route_cases) / sizeof(route_cases[0]));

	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	attr(&m, RTA_DST, v4, 4);
	attr_claim(&m, RTA_OIF, (uint32_t[]){ 2 }, 4, 200);
	EXPECT(&m, -EINVAL, 0, 0, "an attribute claiming more bytes than the message has is rejected");

	start(&m, RTM_NEWROUTE, &h, sizeof(h));
	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(h) - 4);
	EXPECT(&m, -EINVAL, 0, 0, "a message shorter than its rtmsg header is rejected");
}

static void rules(void)
{
	struct msg m;
	struct fib_rule_hdr h = frh(AF_INET, 0);

	feed_cases(RTM_NEWRULE, rule_cases, sizeof(rule_cases) / sizeof(rule_cases[0]));

	start(&m, RTM_NEWRULE, &h, sizeof(h));
	m.h.nlmsg_len = NLMSG_LENGTH(2);
	EXPECT(&m, -EINVAL, 0, 0, "a message shorter than its rule header is rejected");
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

/* ---- routes of one entry: IPv4 twins and IPv6 alternatives, as the kernel announces them ---- */

static const struct image_route *image_route(const struct image *img, uint32_t table, uint8_t family,
					     const uint8_t *addr, uint8_t len)
{
	for (size_t i = 0; i < img->nroutes; i++) {
		const struct steer_route_key *k = &img->routes[i].key;

		if (k->table == table && k->family == family && k->prefixlen == STEER_ROUTE_KEY_BITS(len) &&
		    !memcmp(k->addr, addr, family == AF_INET ? 4 : 16))
			return &img->routes[i];
	}
	return NULL;
}

/* The compiled entry for 10.8.0.0/24 in table 100 (or 2001:db8:8::/64 in main): its type,
 * and for a forward the last byte of its gateway ("fwd:.2"). */
static const char *verdict(struct model *md, uint8_t family)
{
	static const uint8_t p4[4] = { 10, 8, 0, 0 }, p6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 8 };
	static char buf[32];
	const struct image_route *ir;
	struct image img;

	if (compile_image(md, NULL, &img) < 0)
		return "nomem";
	ir = family == AF_INET ? image_route(&img, 100, AF_INET, p4, 24) : image_route(&img, 254, AF_INET6, p6, 64);
	if (!ir)
		snprintf(buf, sizeof(buf), "none");
	else if (ir->val.type == STEER_RT_FORWARD)
		snprintf(buf, sizeof(buf), "fwd:.%u", img.nhs[ir->val.nh_id].gw[family == AF_INET ? 3 : 15]);
	else
		snprintf(buf, sizeof(buf), "%s", ir->val.type == STEER_RT_BLACKHOLE ? "blackhole" :
			 ir->val.type == STEER_RT_UNREACHABLE ? "unreachable" :
			 ir->val.type == STEER_RT_PUNT ? "punt" : ir->val.type == STEER_RT_MULTIPATH ? "multipath" : "other");
	image_free(&img);
	return buf;
}

/* verdict() of the entry is `want`; `what` (a literal) names the check. */
#define EXPECT_VERDICT(md, family, want, what)                                                  \
	do {                                                                                    \
		const char *v_ = verdict(md, family);                                           \
		CHECK(!strcmp(v_, want), what " (%s)", v_);                                     \
	} while (0)

/* 10.8.0.0/24 in table 100: `type` via 10.2.0.GW (GW 0: no gateway), flags as the kernel
 * sets them on its notification. */
static void route4(struct model *md, uint16_t msgtype, uint16_t flags, uint8_t type, uint8_t gw)
{
	struct rtmsg h = rtm(AF_INET, 24);
	uint8_t dst[4] = { 10, 8, 0, 0 }, via[4] = { 10, 2, 0, gw };
	struct msg m;

	h.rtm_type = type;
	h.rtm_scope = type == RTN_UNICAST ? RT_SCOPE_UNIVERSE : RT_SCOPE_NOWHERE;
	start(&m, msgtype, &h, sizeof(h));
	m.h.nlmsg_flags = flags;
	attr_u32(&m, RTA_TABLE, 100);
	attr(&m, RTA_DST, dst, 4);
	if (gw) {
		attr(&m, RTA_GATEWAY, via, 4);
		attr_u32(&m, RTA_OIF, 2);
	}
	intake_message(md, &m.h);
}

static void ipv4_twins(void)
{
	struct model md;
	const char *v;

	/* ip route add blackhole 10.8.0.0/24 table 100; ip route append ... via 10.2.0.2 */
	model_init(&md);
	route4(&md, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, RTN_BLACKHOLE, 0);
	route4(&md, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_APPEND, RTN_UNICAST, 2);
	EXPECT_VERDICT(&md, AF_INET, "blackhole", "blackhole, then a unicast twin appended: the first, blackhole");
	route4(&md, RTM_DELROUTE, 0, RTN_BLACKHOLE, 0);
	EXPECT_VERDICT(&md, AF_INET, "fwd:.2", "deleting the blackhole twin leaves the unicast one");
	model_free(&md);

	/* The reverse order forwards; deleting the unicast twin leaves the blackhole. */
	model_init(&md);
	route4(&md, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, RTN_UNICAST, 2);
	route4(&md, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_APPEND, RTN_BLACKHOLE, 0);
	EXPECT_VERDICT(&md, AF_INET, "fwd:.2", "unicast, then a blackhole twin appended: forwards");
	/* ip route prepend: before the others. */
	route4(&md, RTM_NEWROUTE, NLM_F_CREATE, RTN_UNICAST, 4);
	EXPECT_VERDICT(&md, AF_INET, "fwd:.4", "a prepended twin comes first");
	/* ip route replace: in place of the first, the others stay. */
	route4(&md, RTM_NEWROUTE, NLM_F_REPLACE, RTN_UNREACHABLE, 0);
	EXPECT_VERDICT(&md, AF_INET, "unreachable", "replace takes the first twin's place");
	route4(&md, RTM_DELROUTE, 0, RTN_UNREACHABLE, 0);
	EXPECT_VERDICT(&md, AF_INET, "fwd:.2", "and deleting it leaves the other two in order");
	route4(&md, RTM_DELROUTE, 0, RTN_UNICAST, 2);
	EXPECT_VERDICT(&md, AF_INET, "blackhole", "deleting the unicast twin leaves the blackhole");
	/* Hardware offload news (no flags) about the route that is there changes nothing. */
	route4(&md, RTM_NEWROUTE, 0, RTN_BLACKHOLE, 0);
	v = verdict(&md, AF_INET);
	CHECK(!strcmp(v, "blackhole") && md.routes.count == 1, "news about a known twin moves nothing (%s)", v);
	/* A delete of a route the model never had: it missed something, so punt and re-read. */
	md.routes_need_dump = false;
	route4(&md, RTM_DELROUTE, 0, RTN_UNICAST, 9);
	v = verdict(&md, AF_INET);
	CHECK(!strcmp(v, "punt") && md.routes_need_dump, "an unplaceable delete punts the entry and asks for a dump (%s)", v);

	/* A dump restates the entry in the kernel's order. */
	model_mark_stale(&md, MODEL_ROUTE4);
	route4(&md, RTM_NEWROUTE, NLM_F_MULTI, RTN_UNICAST, 3);
	route4(&md, RTM_NEWROUTE, NLM_F_MULTI, RTN_BLACKHOLE, 0);
	model_sweep(&md, MODEL_ROUTE4);
	EXPECT_VERDICT(&md, AF_INET, "fwd:.3", "a dump's first route comes first, and ends the doubt");
	model_free(&md);
}

/* 2001:db8:8::/64 in main via fe80::GW on device OIF: protocol, preference (RTA_PREF),
 * remaining lifetime (RTA_CACHEINFO, 0: none). */
static void route6(struct model *md, uint16_t msgtype, uint16_t flags, uint8_t type, uint8_t gw, uint32_t oif,
		   uint8_t proto, uint8_t pref, int32_t expires)
{
	struct rtmsg h = rtm(AF_INET6, 64);
	uint8_t dst[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 8 }, via[16] = { 0xfe, 0x80 };
	struct rta_cacheinfo ci = { .rta_expires = expires };
	struct msg m;

	via[15] = gw;
	h.rtm_type = type;
	h.rtm_protocol = proto;
	h.rtm_table = RT_TABLE_MAIN;
	start(&m, msgtype, &h, sizeof(h));
	m.h.nlmsg_flags = flags;
	attr_u32(&m, RTA_TABLE, RT_TABLE_MAIN);
	attr(&m, RTA_DST, dst, 16);
	attr_u32(&m, RTA_PRIORITY, 1024);
	if (gw)
		attr(&m, RTA_GATEWAY, via, 16);
	attr_u32(&m, RTA_OIF, oif);
	attr(&m, RTA_PREF, &pref, 1);
	attr(&m, RTA_CACHEINFO, &ci, sizeof(ci));
	intake_message(md, &m.h);
}

enum { PREF_MEDIUM = 0, PREF_HIGH = 1, PREF_LOW = 3 };

static void ipv6_alternatives(void)
{
	struct model md;
	const char *v;

	/* Two routers' advertisements: two routes the kernel never joins, ranked by preference;
	 * their lifetimes and preferences change unannounced, so the entry punts. */
	model_init(&md);
	md.router_pref6 = 1;
	route6(&md, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, RTN_UNICAST, 1, 2, RTPROT_RA, PREF_HIGH, 180000);
	route6(&md, RTM_NEWROUTE, NLM_F_CREATE, RTN_UNICAST, 2, 3, RTPROT_RA, PREF_LOW, 180000);
	CHECK(md.routes.count == 1, "two advertised routes are one entry (%zu)", md.routes.count);
	EXPECT_VERDICT(&md, AF_INET6, "punt", "routes from router advertisements are not spread over, they punt");
	model_free(&md);

	/* Without RA, without lifetimes: the preference decides, where the kernel ranks by it. */
	model_init(&md);
	md.router_pref6 = 1;
	route6(&md, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, RTN_UNICAST, 1, 2, RTPROT_STATIC, PREF_HIGH, 0);
	route6(&md, RTM_NEWROUTE, NLM_F_CREATE, RTN_UNICAST, 2, 3, RTPROT_STATIC, PREF_LOW, 0);
	EXPECT_VERDICT(&md, AF_INET6, "fwd:.1", "two separate routes: the one of high preference, alone");
	md.router_pref6 = -1;
	EXPECT_VERDICT(&md, AF_INET6, "punt", "not knowing whether the kernel ranks by preference: punt");
	md.router_pref6 = 1;
	route6(&md, RTM_DELROUTE, 0, RTN_UNICAST, 1, 2, RTPROT_STATIC, PREF_HIGH, 0);
	EXPECT_VERDICT(&md, AF_INET6, "fwd:.2", "the high one deleted: the low one");
	route6(&md, RTM_NEWROUTE, NLM_F_CREATE, RTN_UNICAST, 4, 4, RTPROT_STATIC, PREF_LOW, 0);
	EXPECT_VERDICT(&md, AF_INET6, "punt", "two of equal preference: the kernel's order and input device decide, punt");
	model_free(&md);

	/* A blackhole of high preference beside a unicast route of low. */
	model_init(&md);
	md.router_pref6 = 1;
	route6(&md, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, RTN_BLACKHOLE, 0, 1, RTPROT_BOOT, PREF_HIGH, 0);
	route6(&md, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_APPEND, RTN_UNICAST, 2, 3, RTPROT_BOOT, PREF_LOW, 0);
	EXPECT_VERDICT(&md, AF_INET6, "blackhole", "blackhole (high) and unicast (low): blackhole");
	/* A lifetime, even on a lone static route: the kernel may change it unannounced. */
	route6(&md, RTM_DELROUTE, 0, RTN_BLACKHOLE, 0, 1, RTPROT_BOOT, PREF_HIGH, 0);
	route6(&md, RTM_NEWROUTE, NLM_F_REPLACE, RTN_UNICAST, 2, 3, RTPROT_BOOT, PREF_LOW, 3000);
	v = verdict(&md, AF_INET6);
	CHECK(!strcmp(v, "punt") && md.routes.count == 1, "a route with a lifetime punts (%s)", v);
	route6(&md, RTM_NEWROUTE, NLM_F_REPLACE, RTN_UNICAST, 2, 3, RTPROT_BOOT, PREF_LOW, 0);
	EXPECT_VERDICT(&md, AF_INET6, "fwd:.2", "replaced without one: forwards");
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

/* The reader thread's early word on a route event: the map key of its destination, host
 * bits cleared, and nothing for what steer does not mirror. */
static void reader_keys(void)
{
	struct steer_route_key k;
	struct rtmsg r = rtm(AF_INET, 24);
	struct msg m;
	static const uint8_t host[4] = { 10, 1, 0, 7 };

	start(&m, RTM_NEWROUTE, &r, sizeof(r));
	attr(&m, RTA_DST, host, 4);
	attr_u32(&m, RTA_TABLE, 300);
	CHECK(!reader_route_key(&m.h, &k) && k.table == 300 && k.family == AF_INET &&
	      k.prefixlen == STEER_ROUTE_KEY_BITS(24) && !memcmp(k.addr, v4, 4) && !k.addr[3],
	      "a route event: its table (RTA_TABLE over rtm_table) and its prefix, masked");
	r = rtm(AF_INET6, 0);
	start(&m, RTM_DELROUTE, &r, sizeof(r));
	CHECK(!reader_route_key(&m.h, &k) && k.table == 100 && k.family == AF_INET6 &&
	      k.prefixlen == STEER_ROUTE_KEY_BITS(0), "an IPv6 default route");
	r = rtm(AF_INET, 24);
	r.rtm_flags = RTM_F_CLONED;
	start(&m, RTM_NEWROUTE, &r, sizeof(r));
	attr(&m, RTA_DST, v4, 4);
	CHECK(reader_route_key(&m.h, &k) < 0, "a cloned route (a cache entry): nothing to punt");
	r = rtm(AF_INET, 33);
	start(&m, RTM_NEWROUTE, &r, sizeof(r));
	attr(&m, RTA_DST, v4, 4);
	CHECK(reader_route_key(&m.h, &k) < 0, "a /33: malformed, nothing to punt (the intake rejects it)");
	r = rtm(AF_BRIDGE, 0);
	start(&m, RTM_NEWROUTE, &r, sizeof(r));
	CHECK(reader_route_key(&m.h, &k) < 0, "another family");
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
	CHECK(compile_image(&md, NULL, &img) == 0, "compile the links");
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
	rule_attributes();
	rule_host_bits();
	ipv4_twins();
	ipv6_alternatives();
	others();
	reader_keys();
	links();
	return test_done();
}
