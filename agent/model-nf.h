/* The netfilter part of the model: nftables tables, chains and rules as nfnetlink tells
 * them, and iptables-legacy chains as x_tables reports them. Only what decides whether a
 * packet steer forwards would have met the ruleset: hooks, priorities, policies, chain
 * types and how many rules a chain holds; never what the rules say. */
#ifndef STEER_MODEL_NF_H
#define STEER_MODEL_NF_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htab.h"

#define MODEL_NF_NAME 256	/* NFT_NAME_MAXLEN, with its terminating zero */
#define MODEL_NF_DEVS 8		/* devices of one netdev chain that are kept */

/* Families and hooks as the kernel numbers them (NFPROTO_*, NF_INET_*, NF_NETDEV_*); the
 * intake checks they match at compile time. */
enum model_nf_family {
	NF_FAMILY_INET = 1, NF_FAMILY_IPV4 = 2, NF_FAMILY_ARP = 3, NF_FAMILY_NETDEV = 5,
	NF_FAMILY_BRIDGE = 7, NF_FAMILY_IPV6 = 10,
};
enum model_nf_hook {
	NF_HOOK_PREROUTING = 0, NF_HOOK_INPUT = 1, NF_HOOK_FORWARD = 2, NF_HOOK_OUTPUT = 3,
	NF_HOOK_POSTROUTING = 4, NF_HOOK_INET_INGRESS = 5,
	NF_HOOK_NETDEV_INGRESS = 0, NF_HOOK_NETDEV_EGRESS = 1,
};
#define MODEL_NF_ACCEPT 1	/* NF_ACCEPT; NF_DROP is 0 */

struct model_nf_table_key {
	uint8_t family;
	char name[MODEL_NF_NAME];
};

struct model_nf_table {
	struct hnode node;
	struct model_nf_table_key key;
	bool dormant;		/* NFT_TABLE_F_DORMANT: its chains are not hooked */
	bool stale;
};

struct model_nf_chain_key {
	uint8_t family;
	char table[MODEL_NF_NAME];
	char name[MODEL_NF_NAME];
};

struct model_nf_chain {
	struct hnode node;
	struct model_nf_chain_key key;
	uint32_t id;		/* rules refer to their chain by this */
	bool base;		/* hooked; a regular chain is reached only from a base chain's rules */
	bool nat;		/* `type nat` */
	uint8_t hook;		/* enum model_nf_hook, in the chain's family */
	uint8_t policy;		/* MODEL_NF_ACCEPT or NF_DROP */
	int32_t priority;
	uint32_t nrules;
	uint32_t nmodify;	/* rules that change the packet, its mark or its connection */
	uint32_t ndevs;		/* netdev and inet ingress chains: the devices hooked */
	char devs[MODEL_NF_DEVS][IF_NAMESIZE];
	bool stale;
};

struct model_nf_rule_key {
	uint32_t chain;		/* model_nf_chain.id */
	uint32_t pad;
	uint64_t handle;	/* unique within the table, so within the chain */
};

struct model_nf_rule {
	struct hnode node;
	struct model_nf_rule_key key;
	bool modifies;		/* a statement that changes the packet, its mark or conntrack */
	bool stale;
};

/* One built-in chain of an iptables-legacy table. */
struct model_nf_legacy {
	uint8_t family;		/* NF_FAMILY_IPV4 or NF_FAMILY_IPV6 */
	uint8_t hook;
	uint8_t policy;
	bool nat;		/* the nat table: NAT applies even with no rule */
	uint32_t rules;		/* rules before the policy */
	char table[32];		/* XT_TABLE_MAXNAMELEN */
};

struct model_nf {
	struct htab tables, chains, rules;
	uint32_t next_chain_id;
	/* nftables was read whole and no event has been lost since; until then the rules
	 * are unknown, which counts as present. */
	bool known;
	/* An nftables transaction's messages are arriving: until its generation message the
	 * model holds part of it (a reload flushes before it adds), which counts as unknown. */
	bool busy;
	struct model_nf_legacy *legacy;
	size_t nlegacy;
	bool legacy_known;	/* the last read of x_tables succeeded */
};

struct model;

void model_nf_init(struct model_nf *nf);
void model_nf_free(struct model_nf *nf);

int model_nf_table_set(struct model_nf *nf, uint8_t family, const char *name, bool dormant);
void model_nf_table_del(struct model_nf *nf, uint8_t family, const char *name);
/* Takes the chain's identity and attributes from in; keeps its id and rules. */
int model_nf_chain_set(struct model_nf *nf, const struct model_nf_chain *in);
void model_nf_chain_del(struct model_nf *nf, uint8_t family, const char *table, const char *name);
struct model_nf_chain *model_nf_chain_find(const struct model_nf *nf, uint8_t family,
					   const char *table, const char *name);
/* -ENOENT when the chain is not known (the caller re-reads everything). */
int model_nf_rule_add(struct model_nf *nf, uint8_t family, const char *table, const char *chain,
		      uint64_t handle, bool modifies);
void model_nf_rule_del(struct model_nf *nf, uint8_t family, const char *table, const char *chain,
		       uint64_t handle);

enum model_nf_kind { MODEL_NF_TABLES, MODEL_NF_CHAINS, MODEL_NF_RULES };
void model_nf_mark_stale(struct model_nf *nf, enum model_nf_kind kind);
size_t model_nf_sweep(struct model_nf *nf, enum model_nf_kind kind);

/* Replace the iptables-legacy picture; returns true when it differs from the last one.
 * Takes ownership of v. */
bool model_nf_set_legacy(struct model_nf *nf, struct model_nf_legacy *v, size_t n);

/* Whether a chain's packets include forwarded ones, and whether it does anything to them
 * (a rule, a policy other than accept, NAT). The compiler and the logs share this. */
bool model_nf_chain_forwards(uint8_t family, uint8_t hook);
bool model_nf_chain_acts(const struct model_nf_chain *c, const struct model_nf *nf);
bool model_nf_table_dormant(const struct model_nf *nf, uint8_t family, const char *name);
/* netfilter: offload: whether packets of a family (NF_FAMILY_IPV4 or _IPV6) may skip the
 * hooks for a connection the ruleset marked. Not when a prerouting chain other than NAT
 * (whose work conntrack holds) changes the packet, its mark or its connection: those run
 * on every packet the kernel sees. Unknown counts as no. */
bool model_nf_offloadable(const struct model_nf *nf, uint8_t family);

#endif
