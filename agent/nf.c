/* The nfnetlink socket for nftables: subscription, the three-part read (tables, chains,
 * rules), and the messages that change the model's netfilter part. Raw messages through
 * libnl-3's attribute parser rather than libnftnl: steer needs a handful of attributes of
 * three object kinds and never a rule's expressions, which libnftnl would parse in full for
 * every rule; and the intake then has one strict parser (intake_parse) for everything the
 * fuzzer feeds it. */
#include "nf.h"

#include <endian.h>
#include <errno.h>
#include <netinet/in.h>		/* before the uapi headers, which then skip what it defines */
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "log.h"
#include "nl-attr.h"

_Static_assert((int)NF_FAMILY_INET == NFPROTO_INET && (int)NF_FAMILY_IPV4 == NFPROTO_IPV4 &&
	       (int)NF_FAMILY_NETDEV == NFPROTO_NETDEV && (int)NF_FAMILY_IPV6 == NFPROTO_IPV6,
	       "families");
_Static_assert((int)NF_HOOK_PREROUTING == NF_INET_PRE_ROUTING &&
	       (int)NF_HOOK_FORWARD == NF_INET_FORWARD &&
	       (int)NF_HOOK_POSTROUTING == NF_INET_POST_ROUTING &&
	       (int)NF_HOOK_INET_INGRESS == NF_INET_INGRESS &&
	       (int)NF_HOOK_NETDEV_INGRESS == NF_NETDEV_INGRESS &&
	       (int)NF_HOOK_NETDEV_EGRESS == NF_NETDEV_EGRESS, "hooks");
_Static_assert(MODEL_NF_ACCEPT == NF_ACCEPT && MODEL_NF_NAME == NFT_NAME_MAXLEN, "names");

#define NFT_TYPE(msg) ((NFNL_SUBSYS_NFTABLES << 8) | (msg))

static const struct {
	uint8_t msg;
	const char *name;
	enum model_nf_kind kind;
} dumps[NF_DUMP_MAX] = {
	[NF_DUMP_TABLES] = { NFT_MSG_GETTABLE, "nftables tables", MODEL_NF_TABLES },
	[NF_DUMP_CHAINS] = { NFT_MSG_GETCHAIN, "nftables chains", MODEL_NF_CHAINS },
	[NF_DUMP_RULES]  = { NFT_MSG_GETRULE,  "nftables rules",  MODEL_NF_RULES },
};

int nf_open(struct nf_intake *nf, struct model *m, int rcvbuf)
{
	static const int groups[] = { NFNLGRP_NFTABLES };
	int r;

	*nf = (struct nf_intake){ .model = m, .dump = -1 };
	r = nl_conn_open(&nf->conn, NETLINK_NETFILTER, groups, 1, rcvbuf, "nfnetlink");
	if (r == -EPROTONOSUPPORT) {
		log_notice("nfnetlink: not in this kernel, so no nftables ruleset to follow");
		nf->absent = true;
		m->nf.known = true;
		return 0;
	}
	if (r < 0)
		return r;
	log_debug("nfnetlink: receive buffer %d bytes", nf->conn.rcvbuf);
	m->nf.known = false;
	return 0;
}

void nf_close(struct nf_intake *nf)
{
	nf->absent = false;
	nl_conn_close(&nf->conn);
}

static int start_dump(struct nf_intake *nf, int d)
{
	/* struct nfgenmsg: the family, then version NFNETLINK_V0 (0) and resource 0. */
	int r = nl_conn_dump(&nf->conn, NFT_TYPE(dumps[d].msg), NFPROTO_UNSPEC,
			     sizeof(struct nfgenmsg), ++nf->seq, dumps[d].name);

	_Static_assert(NFNETLINK_V0 == 0, "a dump request's header is its family and zeros");
	if (r < 0)
		return r;
	nf->dump = d;
	nf->dump_seq = nf->seq;
	nf->dump_intr = false;
	nf->dump_started_ns = nf->dump_heard_ns = monotonic_ns();
	nf->stats.dumps++;
	model_nf_mark_stale(&nf->model->nf, dumps[d].kind);
	/* A read starts: it will tell what the last commit left. Events received before it
	 * may be the head of a commit whose end (NFT_MSG_NEWGEN) an overrun dropped; left as
	 * they are they would hold the ruleset "in a transaction" until the next commit. */
	if (d == NF_DUMP_TABLES)
		nf->model->nf.busy = false;
	log_debug("nfnetlink: dumping %s", dumps[d].name);
	return 0;
}

/* The next part of a read in progress, or the first part of a wanted one. */
static int next_dump(struct nf_intake *nf, int after)
{
	if (after >= 0 && after + 1 < NF_DUMP_MAX)
		return start_dump(nf, after + 1);
	if (!nf->pending || monotonic_ns() < nf->retry_at_ns)
		return 0;
	nf->pending = false;
	return start_dump(nf, NF_DUMP_TABLES);
}

int nf_request(struct nf_intake *nf)
{
	if (nf->absent)
		return 0;
	nf->model->nf.known = false;
	nf->changed = true;
	return nf_reread(nf);
}

int nf_reread(struct nf_intake *nf)
{
	if (nf->absent)
		return 0;
	nf->pending = true;
	return nf->dump < 0 ? next_dump(nf, -1) : 0;
}

/* Everything read so far is unknown again: read it all once more. */
static void lost(struct nf_intake *nf)
{
	nf->model->nf.known = false;
	nf->model->nf.busy = false;	/* the read tells what the last transaction left */
	nf->changed = true;
	nf->pending = true;
	nf->dump = -1;
	nf->retry_at_ns = monotonic_ns() + 20 * 1000000ull;
}

static void finish_dump(struct nf_intake *nf)
{
	int d = nf->dump;

	nf->dump = -1;
	if (nf->dump_intr) {
		/* The ruleset changed under this part: start the whole read over. */
		nf->stats.dump_restarts++;
		log_event(LOG_INFO, LOG_EV_DUMP_RETRY, NULL,
			  "nfnetlink: dump of %s was interrupted by a change, restarting", dumps[d].name);
		lost(nf);
		nf->retry_at_ns = 0;
		return;
	}
	model_nf_sweep(&nf->model->nf, dumps[d].kind);
	if (d == NF_DUMP_RULES) {
		nf->model->nf.known = true;
		nf->changed = true;
		log_debug("nfnetlink: ruleset read: %zu tables, %zu chains, %zu rules",
			  nf->model->nf.tables.count, nf->model->nf.chains.count,
			  nf->model->nf.rules.count);
	}
}

/* ---- messages ---- */

static struct nla_policy table_policy[NFTA_TABLE_MAX + 1] = {
	[NFTA_TABLE_NAME] = { .type = NLA_STRING, .maxlen = NFT_NAME_MAXLEN },
	[NFTA_TABLE_FLAGS] = { .type = NLA_U32 },
};

static struct nla_policy chain_policy[NFTA_CHAIN_MAX + 1] = {
	[NFTA_CHAIN_TABLE] = { .type = NLA_STRING, .maxlen = NFT_NAME_MAXLEN },
	[NFTA_CHAIN_NAME] = { .type = NLA_STRING, .maxlen = NFT_NAME_MAXLEN },
	[NFTA_CHAIN_HOOK] = { .type = NLA_NESTED },
	[NFTA_CHAIN_POLICY] = { .type = NLA_U32 },
	[NFTA_CHAIN_TYPE] = { .type = NLA_STRING, .maxlen = 16 },
};

static struct nla_policy hook_policy[NFTA_HOOK_MAX + 1] = {
	[NFTA_HOOK_HOOKNUM] = { .type = NLA_U32 },
	[NFTA_HOOK_PRIORITY] = { .type = NLA_U32 },
	[NFTA_HOOK_DEV] = { .type = NLA_STRING, .maxlen = IFNAMSIZ },
	[NFTA_HOOK_DEVS] = { .type = NLA_NESTED },
};

static struct nla_policy rule_policy[NFTA_RULE_MAX + 1] = {
	[NFTA_RULE_TABLE] = { .type = NLA_STRING, .maxlen = NFT_NAME_MAXLEN },
	[NFTA_RULE_CHAIN] = { .type = NLA_STRING, .maxlen = NFT_NAME_MAXLEN },
	[NFTA_RULE_HANDLE] = { .type = NLA_U64 },
	[NFTA_RULE_EXPRESSIONS] = { .type = NLA_NESTED },
};

/* A name attribute into a zeroed buffer of MODEL_NF_NAME bytes; 0, or -EINVAL when it is
 * missing or empty. */
static int get_name(const struct nlattr *a, char *out, size_t len)
{
	if (!a || nla_len(a) < 1)
		return -EINVAL;
	memset(out, 0, len);
	nla_strlcpy(out, a, len);
	return out[0] ? 0 : -EINVAL;
}

static int table_msg(struct model_nf *nf, const struct nlmsghdr *h, uint8_t family, bool del)
{
	struct nlattr *tb[NFTA_TABLE_MAX + 1];
	char name[MODEL_NF_NAME];

	if (intake_parse(h, sizeof(struct nfgenmsg), tb, NFTA_TABLE_MAX, table_policy) < 0 ||
	    get_name(tb[NFTA_TABLE_NAME], name, sizeof(name)) < 0)
		return -EINVAL;
	if (del) {
		model_nf_table_del(nf, family, name);
		return 0;
	}
	return model_nf_table_set(nf, family, name,
				  tb[NFTA_TABLE_FLAGS] &&
				  (ntohl(nla_get_u32(tb[NFTA_TABLE_FLAGS])) & NFT_TABLE_F_DORMANT));
}

/* The devices of a netdev (or inet ingress) hook: one NFTA_HOOK_DEV, or a list. */
static int hook_devices(struct nlattr **hk, struct model_nf_chain *c)
{
	struct nlattr *a;
	int rem;

	if (hk[NFTA_HOOK_DEV]) {
		nla_strlcpy(c->devs[0], hk[NFTA_HOOK_DEV], IF_NAMESIZE);
		c->ndevs = 1;
	}
	if (!hk[NFTA_HOOK_DEVS])
		return 0;
	nla_for_each_nested(a, hk[NFTA_HOOK_DEVS], rem) {
		if (nla_type(a) != NFTA_DEVICE_NAME || nla_len(a) < 1)
			return -EINVAL;
		if (c->ndevs < MODEL_NF_DEVS)
			nla_strlcpy(c->devs[c->ndevs], a, IF_NAMESIZE);
		c->ndevs++;	/* counted past the ones kept: the compiler then says so */
	}
	return 0;
}

static int chain_msg(struct model_nf *nf, const struct nlmsghdr *h, uint8_t family, bool del,
		     bool event)
{
	struct nlattr *tb[NFTA_CHAIN_MAX + 1], *hk[NFTA_HOOK_MAX + 1];
	struct model_nf_chain c = { .key.family = family, .policy = MODEL_NF_ACCEPT };
	struct model_nf_chain *old;

	if (intake_parse(h, sizeof(struct nfgenmsg), tb, NFTA_CHAIN_MAX, chain_policy) < 0 ||
	    get_name(tb[NFTA_CHAIN_TABLE], c.key.table, sizeof(c.key.table)) < 0 ||
	    get_name(tb[NFTA_CHAIN_NAME], c.key.name, sizeof(c.key.name)) < 0)
		return -EINVAL;
	old = htab_find(&nf->chains, &c.key);
	if (tb[NFTA_CHAIN_HOOK]) {
		if (nla_parse_nested(hk, NFTA_HOOK_MAX, tb[NFTA_CHAIN_HOOK], hook_policy) < 0 ||
		    !hk[NFTA_HOOK_HOOKNUM] || hook_devices(hk, &c) < 0)
			return -EINVAL;
		/* An event naming devices of a chain that exists adds devices to it or takes
		 * some away (Linux 6.x updates netdev chains in place): it does not say what
		 * the chain has now. Read everything again rather than guess. */
		if (event && old && c.ndevs)
			return -ENOENT;
		c.base = true;
		c.hook = (uint8_t)ntohl(nla_get_u32(hk[NFTA_HOOK_HOOKNUM]));
		if (hk[NFTA_HOOK_PRIORITY])
			c.priority = (int32_t)ntohl(nla_get_u32(hk[NFTA_HOOK_PRIORITY]));
	} else if (old && event && !del) {
		/* An update that does not repeat the hook (a new policy): keep the rest. */
		c.base = old->base;
		c.hook = old->hook;
		c.priority = old->priority;
		c.ndevs = old->ndevs;
		memcpy(c.devs, old->devs, sizeof(c.devs));
		c.policy = old->policy;
		c.nat = old->nat;
	}
	if (del) {
		model_nf_chain_del(nf, family, c.key.table, c.key.name);
		return 0;
	}
	if (tb[NFTA_CHAIN_POLICY])
		c.policy = (uint8_t)ntohl(nla_get_u32(tb[NFTA_CHAIN_POLICY]));
	if (tb[NFTA_CHAIN_TYPE])
		c.nat = nla_len(tb[NFTA_CHAIN_TYPE]) >= 4 &&
			!memcmp(nla_data(tb[NFTA_CHAIN_TYPE]), "nat", 4);
	return model_nf_chain_set(nf, &c);
}

static struct nla_policy expr_policy[NFTA_EXPR_MAX + 1] = {
	[NFTA_EXPR_NAME] = { .type = NLA_STRING, .maxlen = 32 },
	[NFTA_EXPR_DATA] = { .type = NLA_NESTED },
};

/* Expressions that only read (the packet, its metadata, sets, counters) or decide. meta,
 * ct, payload and exthdr read too unless they have a source register (a `set`); objref
 * refers to a counter, quota, limit or connlimit unless its type says otherwise. Anything
 * else (nat, masq, redir, notrack, tproxy, synproxy, queue, dup, fwd, xtables targets,
 * expressions newer than this list) counts as changing what the kernel forwards. */
static const char *const readonly_exprs[] = {
	"cmp", "bitwise", "byteorder", "immediate", "lookup", "range", "counter", "limit", "log",
	"quota", "connlimit", "numgen", "hash", "fib", "rt", "socket", "osf", "xfrm", "match",
	"last", "dynset", "reject",
};

static bool expr_modifies(const char *name, struct nlattr *data)
{
	static const struct { const char *name; int sreg; } setters[] = {
		{ "meta", NFTA_META_SREG }, { "ct", NFTA_CT_SREG }, { "payload", NFTA_PAYLOAD_SREG },
		{ "exthdr", NFTA_EXTHDR_SREG },
	};
	struct nlattr *a;
	int rem;

	for (size_t i = 0; i < sizeof(readonly_exprs) / sizeof(readonly_exprs[0]); i++)
		if (!strcmp(name, readonly_exprs[i]))
			return false;
	for (size_t i = 0; i < sizeof(setters) / sizeof(setters[0]); i++) {
		if (strcmp(name, setters[i].name))
			continue;
		if (!data)
			return false;
		nla_for_each_nested(a, data, rem)
			if (nla_type(a) == setters[i].sreg)
				return true;
		return false;
	}
	if (!strcmp(name, "objref") && data) {
		nla_for_each_nested(a, data, rem)
			if (nla_type(a) == NFTA_OBJREF_IMM_TYPE && nla_len(a) == 4) {
				uint32_t t = ntohl(nla_get_u32(a));

				return !(t == NFT_OBJECT_COUNTER || t == NFT_OBJECT_QUOTA ||
					 t == NFT_OBJECT_LIMIT || t == NFT_OBJECT_CONNLIMIT);
			}
	}
	return true;
}

/* Whether a rule has a statement that changes the packet, its mark or its connection.
 * -EINVAL for a malformed expression list. */
static int rule_modifies(struct nlattr *list)
{
	struct nlattr *e, *tb[NFTA_EXPR_MAX + 1];
	char name[32];
	int rem, any = 0;

	if (!list)
		return 0;
	nla_for_each_nested(e, list, rem) {
		if (nla_type(e) != NFTA_LIST_ELEM ||
		    nla_parse_nested(tb, NFTA_EXPR_MAX, e, expr_policy) < 0 ||
		    get_name(tb[NFTA_EXPR_NAME], name, sizeof(name)) < 0)
			return -EINVAL;
		any |= expr_modifies(name, tb[NFTA_EXPR_DATA]);
	}
	return any;
}

static int rule_msg(struct model_nf *nf, const struct nlmsghdr *h, uint8_t family, bool del)
{
	struct nlattr *tb[NFTA_RULE_MAX + 1];
	char table[MODEL_NF_NAME], chain[MODEL_NF_NAME];
	uint64_t handle;
	int modifies;

	if (intake_parse(h, sizeof(struct nfgenmsg), tb, NFTA_RULE_MAX, rule_policy) < 0 ||
	    get_name(tb[NFTA_RULE_TABLE], table, sizeof(table)) < 0 ||
	    get_name(tb[NFTA_RULE_CHAIN], chain, sizeof(chain)) < 0 || !tb[NFTA_RULE_HANDLE])
		return -EINVAL;
	handle = be64toh(nla_get_u64(tb[NFTA_RULE_HANDLE]));
	if (del) {
		model_nf_rule_del(nf, family, table, chain, handle);
		return 0;
	}
	modifies = rule_modifies(tb[NFTA_RULE_EXPRESSIONS]);
	if (modifies < 0)
		return -EINVAL;
	return model_nf_rule_add(nf, family, table, chain, handle, modifies);
}

int nf_message(struct model *m, const struct nlmsghdr *h, bool event)
{
	struct model_nf *nf = &m->nf;
	uint8_t family;

	if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
		return 0;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg)))
		return -EINVAL;
	family = ((const struct nfgenmsg *)NLMSG_DATA(h))->nfgen_family;
	if ((h->nlmsg_type & 0xff) == NFT_MSG_NEWGEN) {
		nf->busy = false;	/* the transaction is whole */
		return 0;
	}
	switch (h->nlmsg_type & 0xff) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE:
	case NFT_MSG_NEWCHAIN:
	case NFT_MSG_DELCHAIN:
	case NFT_MSG_NEWRULE:
	case NFT_MSG_DELRULE:
		break;
	default:
		return 0;	/* sets, elements, objects, flowtables: what rules refer to */
	}
	if (event)
		nf->busy = true;
	switch (h->nlmsg_type & 0xff) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE:
		return table_msg(nf, h, family, (h->nlmsg_type & 0xff) == NFT_MSG_DELTABLE);
	case NFT_MSG_NEWCHAIN:
	case NFT_MSG_DELCHAIN:
		return chain_msg(nf, h, family, (h->nlmsg_type & 0xff) == NFT_MSG_DELCHAIN, event);
	default:
		return rule_msg(nf, h, family, (h->nlmsg_type & 0xff) == NFT_MSG_DELRULE);
	}
}

static void handle_buffer(struct nf_intake *nf, size_t len)
{
	struct nlmsghdr *h = nf->conn.buf;
	int rem = (int)len;

	for (; nlmsg_ok(h, rem); h = nlmsg_next(h, &rem)) {
		/* Replies to our requests carry our port; events carry the port of whoever made
		 * the change. A reply to a read given up on is dropped. */
		bool reply = h->nlmsg_pid == nf->conn.port;
		bool ours = reply && nf->dump >= 0 && h->nlmsg_seq == nf->dump_seq;
		int r;

		nf->stats.messages++;
		if (reply && !ours)
			continue;
		if (ours)
			nf->dump_heard_ns = monotonic_ns();
		if (ours && (h->nlmsg_flags & NLM_F_DUMP_INTR))
			nf->dump_intr = true;
		if (h->nlmsg_type == NLMSG_DONE) {
			if (ours) {
				int d = nf->dump;

				finish_dump(nf);
				if (nf->dump < 0 && next_dump(nf, nf->pending ? -1 : d) < 0)
					lost(nf);
			}
			continue;
		}
		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = nlmsg_data(h);

			if (ours && e->error == -EINVAL && nf->dump == NF_DUMP_TABLES) {
				/* nfnetlink has no nftables subsystem to answer: nothing to follow. */
				log_notice("nfnetlink: this kernel has no nftables; nothing to follow");
				nf->absent = true;
				nf->dump = -1;
				nf->pending = false;
				nf->model->nf.known = true;
				nf->changed = true;
				continue;
			}
			if (ours) {
				log_event(e->error == -EBUSY || e->error == -ENOBUFS ? LOG_DEBUG : LOG_ERR,
					  LOG_EV_DUMP_RETRY, &(struct log_ctx){ .error = e->error },
					  "nfnetlink: dump of %s failed: %s; asking again",
					  dumps[nf->dump].name, strerror(-e->error));
				lost(nf);
			}
			continue;
		}
		if (h->nlmsg_type == NFT_TYPE(NFT_MSG_NEWGEN) && !ours) {
			nf->stats.transactions++;
			nf->changed = true;
		}
		r = nf_message(nf->model, h, !ours);
		if (r == -EINVAL) {
			nf->stats.malformed++;
			log_event(LOG_WARNING, LOG_EV_NETLINK_MALFORMED, NULL,
				  "nfnetlink: ignored a malformed message of type %#x; re-reading the ruleset",
				  h->nlmsg_type);
		}
		/* What the model cannot place (a rule of an unknown chain, a chain update it
		 * cannot apply) makes the ruleset unknown until it is read again. A dump in
		 * progress will bring what is missing anyway. */
		if ((r == -EINVAL || r == -ENOENT) && nf->dump < 0)
			lost(nf);
		else if (r == -ENOMEM)
			log_err("nfnetlink: out of memory");
	}
}

int nf_process(struct nf_intake *nf)
{
	while (!nf->absent) {
		uint32_t from;
		ssize_t n = nl_conn_recv(&nf->conn, &from);

		if (n == -EAGAIN)
			break;
		if (n == -ENOBUFS) {
			/* Netfilter events were lost: the ruleset is unknown (the fast path
			 * punts) until it has been read whole again. */
			nf->stats.enobufs++;
			log_event(LOG_WARNING, LOG_EV_OVERRUN, NULL,
				  "nfnetlink: receive buffer overrun, netfilter events lost; "
				  "re-reading the ruleset");
			lost(nf);
			continue;
		}
		if (n == -EMSGSIZE) {
			lost(nf);
			continue;
		}
		if (n < 0)
			return (int)n;
		if (from != 0)
			continue;	/* only the kernel speaks for the ruleset */
		handle_buffer(nf, (size_t)n);
	}
	if (nf->dump >= 0 && monotonic_ns() - nf->dump_heard_ns > 1000000000ull) {
		/* Nothing heard of it for a second: a reply went missing. */
		log_event(LOG_WARNING, LOG_EV_DUMP_RETRY, NULL,
			  "nfnetlink: dump of %s stalled; asking again", dumps[nf->dump].name);
		nf->stats.dump_restarts++;
		lost(nf);
	}
	return nf->dump < 0 && !nf->absent ? next_dump(nf, -1) : 0;
}

int nf_timeout_ms(const struct nf_intake *nf)
{
	return nf_idle(nf) ? -1 : 50;
}
