/* The netfilter part of the agent without a kernel: nftables messages built by hand go
 * through the intake's handler into the model (malformed ones are refused and change
 * nothing), and the compiler turns the model into the datapath's switches: which family
 * punts, which device, in which mode, and what steerctl lists. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "compile-nf.h"
#include "compile.h"
#include "model.h"
#include "nf.h"
#include "nlmsg.h"
#include "test.h"

#define NFT(msg) ((NFNL_SUBSYS_NFTABLES << 8) | (msg))

static void nft_start(struct msg *m, uint8_t msg, uint8_t family)
{
	struct nfgenmsg g = { .nfgen_family = family, .version = NFNETLINK_V0 };

	start(m, NFT(msg), &g, sizeof(g));
}

static int table(struct model *md, uint8_t family, const char *name, uint32_t flags, bool del)
{
	struct msg m;

	nft_start(&m, del ? NFT_MSG_DELTABLE : NFT_MSG_NEWTABLE, family);
	attr_str(&m, NFTA_TABLE_NAME, name);
	attr_u32(&m, NFTA_TABLE_FLAGS, htonl(flags));
	return nf_message(md, &m.h, true);
}

/* A base chain when hook >= 0 (dev: a netdev hook's device, or NULL). */
static int chain(struct model *md, uint8_t family, const char *tbl, const char *name, int hook,
		 int prio, uint32_t policy, const char *type, const char *dev)
{
	struct msg m;

	nft_start(&m, NFT_MSG_NEWCHAIN, family);
	attr_str(&m, NFTA_CHAIN_TABLE, tbl);
	attr_str(&m, NFTA_CHAIN_NAME, name);
	if (hook >= 0) {
		size_t n = nest_open(&m, NFTA_CHAIN_HOOK);

		attr_u32(&m, NFTA_HOOK_HOOKNUM, htonl((uint32_t)hook));
		attr_u32(&m, NFTA_HOOK_PRIORITY, htonl((uint32_t)prio));
		if (dev)
			attr_str(&m, NFTA_HOOK_DEV, dev);
		nest_close(&m, n);
		attr_u32(&m, NFTA_CHAIN_POLICY, htonl(policy));
		attr_str(&m, NFTA_CHAIN_TYPE, type);
	}
	return nf_message(md, &m.h, true);
}

/* A rule whose expressions are named exprs (NULL-terminated); "meta set" is a meta with a
 * source register (meta mark set ...), "meta" one with a destination register. */
static int rule_exprs(struct model *md, uint8_t family, const char *tbl, const char *ch,
		      uint64_t handle, const char *const *exprs)
{
	struct msg m;
	uint64_t h = htobe64(handle);
	size_t list;

	nft_start(&m, NFT_MSG_NEWRULE, family);
	attr_str(&m, NFTA_RULE_TABLE, tbl);
	attr_str(&m, NFTA_RULE_CHAIN, ch);
	attr(&m, NFTA_RULE_HANDLE, &h, sizeof(h));
	list = nest_open(&m, NFTA_RULE_EXPRESSIONS);
	for (size_t i = 0; exprs && exprs[i]; i++) {
		size_t e = nest_open(&m, NFTA_LIST_ELEM), d;
		bool set = !strcmp(exprs[i], "meta set") || !strcmp(exprs[i], "ct set");

		attr_str(&m, NFTA_EXPR_NAME, set ? (exprs[i][0] == 'm' ? "meta" : "ct") : exprs[i]);
		d = nest_open(&m, NFTA_EXPR_DATA);
		if (!strcmp(exprs[i], "meta set"))
			attr_u32(&m, NFTA_META_SREG, htonl(1));
		else if (!strcmp(exprs[i], "ct set"))
			attr_u32(&m, NFTA_CT_SREG, htonl(1));
		else if (!strcmp(exprs[i], "meta") || !strcmp(exprs[i], "ct"))
			attr_u32(&m, NFTA_META_DREG, htonl(1));	/* the same number for ct */
		nest_close(&m, d);
		nest_close(&m, e);
	}
	nest_close(&m, list);
	return nf_message(md, &m.h, true);
}

static int rule(struct model *md, uint8_t family, const char *tbl, const char *ch, uint64_t handle,
		bool del)
{
	struct msg m;
	uint64_t h = htobe64(handle);

	if (!del)
		return rule_exprs(md, family, tbl, ch, handle, NULL);
	nft_start(&m, NFT_MSG_DELRULE, family);
	attr_str(&m, NFTA_RULE_TABLE, tbl);
	attr_str(&m, NFTA_RULE_CHAIN, ch);
	attr(&m, NFTA_RULE_HANDLE, &h, sizeof(h));
	return nf_message(md, &m.h, true);
}

static void gen(struct model *md)
{
	struct msg m;

	nft_start(&m, NFT_MSG_NEWGEN, NFPROTO_UNSPEC);
	attr_u32(&m, NFTA_GEN_ID, htonl(1));
	nf_message(md, &m.h, true);
}

#define NF46 (STEER_STATE_NF4 | STEER_STATE_NF6)

static void intake(void)
{
	struct model md;
	struct model_nf_chain *c;
	struct msg m;

	model_init(&md);
	CHECK(compile_nf_flags(&md) == 0, "a model built by hand has no ruleset: nothing punts");
	CHECK(table(&md, NFPROTO_INET, "filter", 0, false) == 0, "a table");
	CHECK(compile_nf_flags(&md) == (NF46 | STEER_STATE_NF_UNKNOWN),
	      "a transaction's messages before its generation message: unknown, both punt");
	gen(&md);
	CHECK(compile_nf_flags(&md) == 0, "an empty table: nothing punts");
	CHECK(chain(&md, NFPROTO_INET, "filter", "fw", NF_INET_FORWARD, 0, NF_ACCEPT, "filter", NULL) == 0 &&
	      rule(&md, NFPROTO_INET, "filter", "fw", 5, false) == 0 &&
	      rule(&md, NFPROTO_INET, "filter", "fw", 6, false) == 0 &&
	      rule(&md, NFPROTO_INET, "filter", "fw", 6, false) == 0, "a forward chain and two rules (one announced twice)");
	gen(&md);
	c = model_nf_chain_find(&md.nf, NFPROTO_INET, "filter", "fw");
	CHECK(c && c->base && c->hook == NF_INET_FORWARD && c->nrules == 2, "the chain holds 2 rules (%u)",
	      c ? c->nrules : 0);
	CHECK(compile_nf_flags(&md) == NF46, "inet forward with rules: both families punt");
	CHECK(rule(&md, NFPROTO_INET, "filter", "nosuch", 7, false) == -ENOENT,
	      "a rule of a chain the model does not know: -ENOENT (steerd re-reads)");
	rule(&md, NFPROTO_INET, "filter", "fw", 5, true);
	rule(&md, NFPROTO_INET, "filter", "fw", 6, true);
	gen(&md);
	CHECK(c->nrules == 0 && compile_nf_flags(&md) == 0, "rules deleted: nothing punts");
	CHECK(chain(&md, NFPROTO_INET, "filter", "fw", NF_INET_FORWARD, 0, NF_DROP, "filter", NULL) == 0,
	      "the chain's policy set to drop");
	gen(&md);
	CHECK(compile_nf_flags(&md) == NF46, "policy drop, no rules: both punt");
	CHECK(table(&md, NFPROTO_INET, "filter", NFT_TABLE_F_DORMANT, false) == 0, "the table made dormant");
	gen(&md);
	CHECK(compile_nf_flags(&md) == 0, "a dormant table hooks nothing");
	CHECK(table(&md, NFPROTO_INET, "filter", 0, true) == 0 && !md.nf.chains.count,
	      "deleting the table takes its chains");
	gen(&md);

	/* Malformed: refused, nothing kept. */
	nft_start(&m, NFT_MSG_NEWCHAIN, NFPROTO_IPV4);
	attr_str(&m, NFTA_CHAIN_NAME, "x");
	CHECK(nf_message(&md, &m.h, true) == -EINVAL && !md.nf.chains.count, "a chain without its table");
	nft_start(&m, NFT_MSG_NEWCHAIN, NFPROTO_IPV4);
	attr_str(&m, NFTA_CHAIN_TABLE, "t");
	attr_str(&m, NFTA_CHAIN_NAME, "x");
	attr(&m, NFTA_CHAIN_HOOK | NLA_F_NESTED, "\x08\x00\x02\x00", 4);	/* priority, no hook number */
	CHECK(nf_message(&md, &m.h, true) == -EINVAL && !md.nf.chains.count, "a hook without its number");
	nft_start(&m, NFT_MSG_NEWRULE, NFPROTO_IPV4);
	attr_str(&m, NFTA_RULE_TABLE, "t");
	attr_str(&m, NFTA_RULE_CHAIN, "x");
	CHECK(nf_message(&md, &m.h, true) == -EINVAL, "a rule without a handle");
	nft_start(&m, NFT_MSG_NEWTABLE, NFPROTO_IPV4);
	attr_claim(&m, NFTA_TABLE_NAME, "t", 2, 40);
	CHECK(nf_message(&md, &m.h, true) == -EINVAL && !md.nf.tables.count, "an attribute past the message");
	m.h.nlmsg_len = NLMSG_LENGTH(2);
	CHECK(nf_message(&md, &m.h, true) == -EINVAL, "a header shorter than nfgenmsg");
	gen(&md);
	model_free(&md);
}

/* One ruleset, one expectation. */
static uint32_t flags_of(uint8_t family, int hook, uint32_t policy, const char *type, int nrules,
			 uint8_t mode)
{
	struct model md;
	uint32_t f;

	model_init(&md);
	md.nf_mode = mode;
	table(&md, family, "t", 0, false);
	chain(&md, family, "t", "c", hook, 0, policy, type, family == NFPROTO_NETDEV ? "eth0" : NULL);
	for (int i = 0; i < nrules; i++)
		rule(&md, family, "t", "c", (uint64_t)i + 1, false);
	gen(&md);
	f = compile_nf_flags(&md);
	model_free(&md);
	return f;
}

static void families(void)
{
	CHECK(flags_of(NFPROTO_IPV4, NF_INET_FORWARD, NF_ACCEPT, "filter", 1, 0) == STEER_STATE_NF4,
	      "ip forward: IPv4 only");
	CHECK(flags_of(NFPROTO_IPV6, NF_INET_PRE_ROUTING, NF_ACCEPT, "filter", 1, 0) == STEER_STATE_NF6,
	      "ip6 prerouting: IPv6 only");
	CHECK(flags_of(NFPROTO_INET, NF_INET_POST_ROUTING, NF_ACCEPT, "filter", 1, 0) == NF46,
	      "inet postrouting: both");
	CHECK(flags_of(NFPROTO_IPV4, NF_INET_POST_ROUTING, NF_ACCEPT, "nat", 0, 0) == STEER_STATE_NF4,
	      "an empty ip nat chain: IPv4 punts");
	CHECK(flags_of(NFPROTO_INET, NF_INET_LOCAL_IN, NF_DROP, "filter", 3, 0) == 0,
	      "input, policy drop: nothing");
	CHECK(flags_of(NFPROTO_INET, NF_INET_LOCAL_OUT, NF_DROP, "filter", 3, 0) == 0,
	      "output, policy drop: nothing");
	CHECK(flags_of(NFPROTO_IPV4, NF_INET_FORWARD, NF_ACCEPT, "filter", 0, 0) == 0,
	      "an empty forward chain with policy accept: nothing");
	CHECK(flags_of(NFPROTO_NETDEV, NF_NETDEV_INGRESS, NF_ACCEPT, "filter", 1, 0) == 0,
	      "netdev ingress: no family flag (the device's link flag instead)");
	CHECK(flags_of(NFPROTO_BRIDGE, NF_INET_FORWARD, NF_DROP, "filter", 1, 0) == 0,
	      "bridge family: not on the routed path");
	CHECK(flags_of(NFPROTO_INET, NF_INET_FORWARD, NF_DROP, "filter", 1, STEER_NF_BYPASS) == 0,
	      "bypass: nothing punts");
	CHECK((flags_of(NFPROTO_INET, NF_INET_FORWARD, NF_DROP, "filter", 1, STEER_NF_OFFLOAD) & NF46) == NF46,
	      "offload: the family still punts what is not offloaded");
}

static void devices_and_legacy(void)
{
	struct model md;
	struct model_link *l;
	struct image img;
	struct steer_nf_chain list[STEER_NF_CHAINS];
	struct model_nf_legacy *lg = calloc(2, sizeof(*lg));
	size_t n;

	model_init(&md);
	l = model_link_upsert(&md, 7);
	snprintf(l->name, sizeof(l->name), "eth0");
	l = model_link_upsert(&md, 8);
	snprintf(l->name, sizeof(l->name), "eth1");
	table(&md, NFPROTO_NETDEV, "edge", 0, false);
	chain(&md, NFPROTO_NETDEV, "edge", "in", NF_NETDEV_INGRESS, 0, NF_DROP, "filter", "eth0");
	chain(&md, NFPROTO_NETDEV, "edge", "out", NF_NETDEV_EGRESS, 0, NF_ACCEPT, "filter", "eth1");
	rule(&md, NFPROTO_NETDEV, "edge", "out", 1, false);
	gen(&md);
	CHECK(compile_image(&md, NULL, &img) == 0, "compiles");
	for (size_t i = 0; i < img.nlinks; i++) {
		uint32_t want = img.links[i].ifindex == 7 ? STEER_LINK_NF_INGRESS : STEER_LINK_NF_EGRESS;

		CHECK((img.links[i].val.flags & (STEER_LINK_NF_INGRESS | STEER_LINK_NF_EGRESS)) == want,
		      "link %u: its device chain's flag", img.links[i].ifindex);
	}
	CHECK(img.state_flags & STEER_STATE_NF_DEVICES, "the state says device chains act");
	CHECK(img.nnf == 2, "steerctl's list holds both chains (%zu)", img.nnf);
	image_free(&img);

	lg[0] = (struct model_nf_legacy){ .family = NF_FAMILY_IPV4, .hook = NF_HOOK_POSTROUTING,
					   .policy = MODEL_NF_ACCEPT, .nat = true, .table = "nat" };
	lg[1] = (struct model_nf_legacy){ .family = NF_FAMILY_IPV6, .hook = NF_HOOK_INPUT,
					   .policy = 0, .rules = 4, .table = "filter" };
	CHECK(model_nf_set_legacy(&md.nf, lg, 2), "a legacy picture replaces the last");
	CHECK(compile_nf_flags(&md) == STEER_STATE_NF4, "legacy nat table: IPv4; legacy ip6 INPUT: nothing");
	n = compile_nf_chains(&md, list, STEER_NF_CHAINS);
	CHECK(n == 4 && (list[0].flags & STEER_NF_FORWARD), "four chains listed, forward-path ones first");
	md.nf.legacy_known = false;
	CHECK(compile_nf_flags(&md) == (NF46 | STEER_STATE_NF_UNKNOWN), "x_tables unreadable: unknown");
	model_free(&md);
}

/* netfilter: offload is possible for a family unless a prerouting chain (not NAT) has a
 * rule that changes the packet, its mark or its connection. */
static void offload(void)
{
	static const char *const match_accept[] = { "meta", "cmp", "counter", "immediate", NULL };
	static const char *const mark_set[] = { "immediate", "meta set", NULL };
	static const char *const ct_mark_set[] = { "ct", "cmp", "ct set", "immediate", NULL };
	static const char *const unknown[] = { "cmp", "sprinkle", NULL };
	struct model md;
	struct model_nf_chain *c;

	model_init(&md);
	md.nf_mode = STEER_NF_OFFLOAD;
	md.ct_tcp_liberal = 1;
	table(&md, NFPROTO_INET, "fw", 0, false);
	chain(&md, NFPROTO_INET, "fw", "fwd", NF_INET_FORWARD, 0, NF_DROP, "filter", NULL);
	rule_exprs(&md, NFPROTO_INET, "fw", "fwd", 1, ct_mark_set);
	gen(&md);
	CHECK(compile_nf_flags(&md) == (NF46 | STEER_STATE_CT_OFFLOAD4 | STEER_STATE_CT_OFFLOAD6 |
					STEER_STATE_CT_TCP_LIBERAL),
	      "a forward chain that marks: both families punt, and both may offload");
	table(&md, NFPROTO_IPV4, "mangle", 0, false);
	chain(&md, NFPROTO_IPV4, "mangle", "pre", NF_INET_PRE_ROUTING, -150, NF_ACCEPT, "filter", NULL);
	rule_exprs(&md, NFPROTO_IPV4, "mangle", "pre", 1, match_accept);
	gen(&md);
	CHECK(compile_nf_flags(&md) & STEER_STATE_CT_OFFLOAD4,
	      "a prerouting rule that only matches and accepts: IPv4 still offloads");
	rule_exprs(&md, NFPROTO_IPV4, "mangle", "pre", 2, mark_set);
	gen(&md);
	c = model_nf_chain_find(&md.nf, NFPROTO_IPV4, "mangle", "pre");
	CHECK(c && c->nmodify == 1, "the chain counts one rule that modifies (%u)", c ? c->nmodify : 0);
	CHECK(!(compile_nf_flags(&md) & STEER_STATE_CT_OFFLOAD4) &&
	      (compile_nf_flags(&md) & STEER_STATE_CT_OFFLOAD6),
	      "meta mark set in an ip prerouting chain: no IPv4 offload, IPv6 unaffected");
	rule(&md, NFPROTO_IPV4, "mangle", "pre", 2, true);
	gen(&md);
	CHECK(c->nmodify == 0 && (compile_nf_flags(&md) & STEER_STATE_CT_OFFLOAD4),
	      "the rule deleted: IPv4 offloads again");
	rule_exprs(&md, NFPROTO_IPV4, "mangle", "pre", 3, unknown);
	gen(&md);
	CHECK(!(compile_nf_flags(&md) & STEER_STATE_CT_OFFLOAD4),
	      "an expression steer does not know counts as changing the packet");
	rule_exprs(&md, NFPROTO_IPV4, "mangle", "pre", 3, match_accept);
	gen(&md);
	CHECK(c->nmodify == 0 && (compile_nf_flags(&md) & STEER_STATE_CT_OFFLOAD4),
	      "replaced in place by one that only matches: offload again");
	table(&md, NFPROTO_IPV4, "nat", 0, false);
	chain(&md, NFPROTO_IPV4, "nat", "pre", NF_INET_PRE_ROUTING, -100, NF_ACCEPT, "nat", NULL);
	rule_exprs(&md, NFPROTO_IPV4, "nat", "pre", 1, (const char *const[]){ "cmp", "nat", NULL });
	gen(&md);
	CHECK(compile_nf_flags(&md) & STEER_STATE_CT_OFFLOAD4,
	      "DNAT in a prerouting NAT chain: conntrack holds it, offload stays");
	md.ct_tcp_liberal = 0;
	CHECK(!(compile_nf_flags(&md) & STEER_STATE_CT_TCP_LIBERAL), "TCP liberalness follows the sysctl");
	md.nf_mode = STEER_NF_RESPECT;
	CHECK(!(compile_nf_flags(&md) & STEER_STATE_CT_MASK), "respect: no offload flag at all");
	md.nf_mode = STEER_NF_OFFLOAD;
	table(&md, NFPROTO_INET, "x", 0, false);
	CHECK(!(compile_nf_flags(&md) & STEER_STATE_CT_MASK), "a transaction under way: no offload");
	gen(&md);
	model_free(&md);
}

int main(void)
{
	offload();
	intake();
	families();
	devices_and_legacy();
	return test_done();
}
