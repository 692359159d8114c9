/* The model: plain C structures for what the kernel holds (links, addresses, neighbours,
 * routes, rules, forwarding switches). No netlink and no BPF types: the intake fills it,
 * the compiler reads it, and unit tests build it by hand. */
#ifndef STEER_MODEL_H
#define STEER_MODEL_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "htab.h"
#include "model-nf.h"

#define MODEL_TABLE_DEFAULT 253
#define MODEL_TABLE_MAIN    254
#define MODEL_TABLE_LOCAL   255

/* Route types, rule actions and next-hop flags as the kernel numbers them (rtnetlink.h,
 * fib_rules.h); the intake checks the numbers match at compile time. */
enum model_route_type {
	ROUTE_UNICAST = 1, ROUTE_LOCAL, ROUTE_BROADCAST, ROUTE_ANYCAST, ROUTE_MULTICAST,
	ROUTE_BLACKHOLE, ROUTE_UNREACHABLE, ROUTE_PROHIBIT, ROUTE_THROW, ROUTE_NAT,
};

enum model_rule_action {
	RULE_LOOKUP = 1, RULE_GOTO = 2, RULE_NOP = 3, RULE_BLACKHOLE = 6, RULE_UNREACHABLE = 7,
	RULE_PROHIBIT = 8,
};

#define MODEL_NUD_FAILED 0x20	/* the kernel's NUD_FAILED */
/* The kernel's NUD_VALID: states it sends to with the address it holds, without asking
 * first (PERMANENT, NOARP, REACHABLE, PROBE, STALE, DELAY). */
#define MODEL_NUD_VALID 0xde

enum model_nh_flags {
	NH_DEAD = 1, NH_PERVASIVE = 2, NH_ONLINK = 4, NH_OFFLOAD = 8, NH_LINKDOWN = 16,
};

struct prefix {
	uint8_t family;		/* AF_INET or AF_INET6; 0 for "not set" */
	uint8_t len;
	uint8_t pad[2];
	uint8_t addr[16];	/* network order, IPv4 in the first four bytes */
};

/* Does a (the shorter or equal prefix) contain b? */
bool prefix_contains(const struct prefix *a, const struct prefix *b);
void prefix_mask(struct prefix *p);	/* zero the host bits */
int prefix_parse(const char *s, struct prefix *out);	/* "10.0.0.0/8", "2001:db8::/32" */
const char *prefix_str(const struct prefix *p, char *buf, size_t len);

struct model_link {
	struct hnode node;
	int32_t ifindex;
	char name[IF_NAMESIZE];
	uint32_t flags;		/* IFF_* */
	uint32_t mtu;
	int32_t vlan_lower;	/* ifindex of the lower device for an 802.1Q link, else 0 */
	int32_t master;		/* bridge, bond or VRF this link is enslaved to, else 0 */
	uint16_t vlan_id;
	uint16_t type;		/* ARPHRD_*: what link-layer header frames carry; 0xffff unknown */
	/* Forwarding switches from netconf; -1 until the kernel told us. */
	int8_t fwd4, rp_filter4, fwd6;
	bool stale;
	int32_t mtu6;		/* net.ipv6.conf.DEV.mtu; -1 unknown (no IPv6 on it) */
	uint8_t mac[6];		/* IFLA_ADDRESS when it is an Ethernet address, else zero */
	bool local_csum;	/* a kind whose frames may carry a partial checksum (veth, ...) */
};

struct model_addr_key {
	int32_t ifindex;
	struct prefix addr;
};

struct model_addr {
	struct hnode node;
	struct model_addr_key key;
	bool stale;
};

struct model_neigh_key {
	int32_t ifindex;
	uint8_t family;
	uint8_t pad[3];
	uint8_t dst[16];
};

struct model_neigh {
	struct hnode node;
	struct model_neigh_key key;
	uint16_t state;		/* NUD_* */
	bool stale;
	bool has_lladdr;	/* lladdr holds an Ethernet address (NDA_LLADDR) */
	uint8_t lladdr[6];
};

/* An entry: the routes of one (table, destination, source, tos, metric). IPv4 keeps every
 * route the kernel holds there (`ip route append`/`prepend` twins, of any type) in the
 * kernel's list order; IPv6 keeps its ECMP sibling group (one route with several next hops)
 * and, beside it, the routes that never join one (learned from router advertisements,
 * without a gateway, through nexthop objects, reject routes). */
struct model_route_key {
	uint32_t table;
	uint32_t metric;
	struct prefix dst;
	struct prefix src;	/* IPv6 source-specific routes; len 0 otherwise */
	uint8_t tos;
	uint8_t pad[3];
};

struct model_nexthop {
	int32_t oif;
	uint8_t gw_family;	/* 0: on-link */
	uint8_t flags;		/* enum model_nh_flags */
	uint16_t weight;	/* 1..256 (rtnh_hops + 1) */
	uint8_t gw[16];
};

enum model_route_quirk {
	ROUTE_MULTIPATH = 1u << 0,	/* RTA_MULTIPATH: one route, several next hops */
	ROUTE_NHID      = 1u << 1,	/* uses a nexthop object */
	ROUTE_ENCAP     = 1u << 2,	/* lightweight tunnel encapsulation */
	ROUTE_VIA       = 1u << 3,	/* gateway of another family (RTA_VIA) */
	ROUTE_MTU       = 1u << 4,	/* route MTU metric, which the device MTU check misses */
	ROUTE_EXPIRES   = 1u << 5,	/* IPv6: has a lifetime, which the kernel may change unsaid */
};

#define MODEL_RTPROT_RA 9	/* RTPROT_RA: learned from a router advertisement */

/* A nexthop object (`ip nexthop`): one next hop, a blackhole, or a group of other objects. */
struct model_nhobj {
	struct hnode node;
	uint32_t id;
	uint8_t family;		/* of the gateway; AF_UNSPEC for groups and blackholes */
	bool blackhole;
	bool unsupported;	/* encapsulation, FDB: not for routing here */
	bool stale;
	uint32_t flags;		/* enum model_nh_flags */
	int32_t oif;
	uint8_t gw[16];
	uint32_t ngrp;
	struct { uint32_t id; uint16_t weight; } *grp;
};

/* One route. The first of an entry is what the routes table holds; the others follow it
 * through `next`, in order. */
struct model_route {
	struct hnode node;
	struct model_route_key key;
	uint32_t nhid;		/* nexthop object, with ROUTE_NHID */
	uint8_t type;		/* enum model_route_type */
	uint8_t protocol;
	uint8_t scope;
	uint8_t pref;		/* IPv6 router preference as RTA_PREF states it (0 medium, 1 high, 3 low) */
	uint32_t quirks;	/* enum model_route_quirk */
	uint32_t nnh;
	/* Where nh points for no or one next hop (most routes of a full table), so such a
	 * route is one allocation (model.c's route_set). */
	struct model_nexthop one;
	/* Entry state, on the first route: not seen yet in the dump under way; told of a change
	 * the model could not place (punts until the entry is read again). */
	bool stale, unsure;
	struct model_nexthop *nh;
	uint64_t ident;		/* IPv4: what tells twins apart (their attributes but flags) */
	struct model_route *next;
};

/* Everything `ip rule` can say. A rule is identified by all of it, as the kernel does; src
 * and dst keep their host bits (the kernel's identity), the compiler masks them to match. */
struct model_rule_key {
	uint32_t priority;
	uint8_t family;
	uint8_t action;		/* enum model_rule_action */
	uint8_t invert;		/* FIB_RULE_INVERT */
	uint8_t tos;
	uint32_t table;
	uint32_t goto_target;
	struct prefix src, dst;
	uint32_t fwmark, fwmask;
	char iifname[IF_NAMESIZE], oifname[IF_NAMESIZE];
	uint8_t ip_proto;
	uint8_t protocol;	/* who installed it (RTPROT_*): part of identity, not matching */
	uint8_t has_uid_range, has_l3mdev;
	uint8_t has_tun_id;
	uint8_t l3mdev;
	uint8_t port_mask_partial;	/* a port mask other than all ones */
	uint8_t pad3;
	uint16_t sport_mask;		/* as the kernel states it (0: none stated) */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
	uint16_t dport_mask;
	int32_t suppress_prefixlen, suppress_ifgroup;
	uint32_t uid_start, uid_end;
	uint32_t flow;		/* realms: accounting only, but part of identity */
	uint32_t unknown_attrs;	/* count of attributes this agent does not know */
	uint64_t tun_id;
	uint64_t unknown_hash;	/* so rules differing only in unknown attributes stay apart */
};

struct model_rule_ix {
	struct hnode node;
	struct model_rule_key key;
	uint64_t seq;
};

struct model_rule {
	struct model_rule_key key;
	uint64_t seq;		/* kernel list order among equal priorities */
	bool stale;
};

/* ---- overrides: what steer.yaml adds to the kernel's picture (config.c fills these) ---- */

#define MODEL_GROUP_MAX 16	/* members of a load-balancing group (STEER_MAX_PATHS) */

enum model_group_hash { GROUP_HASH_L3 = 1, GROUP_HASH_L4, GROUP_HASH_CONSISTENT };

struct model_group_member {
	char dev[IF_NAMESIZE];
	uint8_t family;		/* of the gateway; 0 for on-link */
	uint8_t gw[16];
	uint16_t weight;	/* 1..256 */
};

struct model_group {
	char name[64];
	uint8_t hash;		/* enum model_group_hash */
	uint8_t family;		/* of its gateways; 0 when every member is on-link */
	uint32_t n;
	struct model_group_member m[MODEL_GROUP_MAX];
};

enum model_policy_action { POLICY_VIA = 1, POLICY_TABLE, POLICY_GROUP, POLICY_BLACKHOLE };

/* A fast-path-only rule. family 0: it names no address, and applies to both families. */
struct model_policy {
	char name[64];
	uint32_t priority;
	uint8_t family;
	uint8_t action;		/* enum model_policy_action */
	uint8_t tos;		/* 0: any */
	uint8_t ip_proto;	/* 0: any */
	struct prefix src, dst;	/* len 0 and family 0: any */
	uint32_t mark, mask;	/* mask 0: any */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;	/* 0, 0: any */
	uint32_t table;		/* POLICY_TABLE */
	uint32_t group;		/* POLICY_GROUP: index into model_overrides.groups */
	char dev[IF_NAMESIZE];	/* POLICY_VIA */
	uint8_t gw_family;	/* POLICY_VIA: 0 for on-link */
	uint8_t gw[16];
};

struct model_prio_range {
	uint32_t lo, hi;
};

struct model_overrides {
	struct model_policy *policies;	/* sorted by priority, unique priorities */
	size_t npolicies;
	struct model_group *groups;
	size_t ngroups;
	/* What is mirrored; no tables (or no ranges) means all. The local table always is:
	 * every packet's first lookup is there. */
	uint32_t *tables;
	size_t ntables;
	struct model_prio_range *prios;
	size_t nprios;
};

bool model_table_mirrored(const struct model_overrides *ov, uint32_t table);
bool model_priority_mirrored(const struct model_overrides *ov, uint32_t priority);

enum model_kind {
	MODEL_LINK, MODEL_ADDR, MODEL_NEIGH, MODEL_ROUTE4, MODEL_ROUTE6, MODEL_RULE4, MODEL_RULE6,
	MODEL_NHOBJ,
	MODEL_KIND_MAX,
};

struct model {
	struct htab links, addrs, neighs, routes, nhobjs;
	struct model_rule *rules;	/* sorted by (priority, seq) */
	struct htab rule_index;		/* key -> seq, to find a rule without a walk */
	size_t nrules, rules_cap;
	uint64_t rule_seq;
	int8_t all_fwd4, all_rp_filter4, all_fwd6;
	struct model_nf nf;		/* the netfilter ruleset's shape */
	uint8_t nf_mode;		/* enum steer_nf_mode: --netfilter, `netfilter:` */
	uint32_t ct_mark, ct_mask;	/* offload-mark: connections marked so are offloaded */
	/* conntrack's sysctls (net.netfilter.nf_conntrack_*), polled like the others; -1 (or
	 * 0 for the timeouts) unknown: no TCP offload, no offload at all. */
	int8_t ct_tcp_liberal;
	int32_t ct_timeout_tcp_s, ct_timeout_udp_s;
	/* net.ipv{4,6}.fib_multipath_hash_policy (no netlink events: sysctl.c polls them); -1
	 * unknown. */
	int8_t mp_hash_policy4, mp_hash_policy6;
	int8_t fwd_use_pmtu4;		/* net.ipv4.ip_forward_use_pmtu, likewise polled */
	int8_t fwd_update_prio4;	/* net.ipv4.ip_forward_update_priority, likewise */
	int8_t router_pref6;		/* the kernel ranks IPv6 routes by preference (-1: unknown) */
	/* 1: the kernel looks a forwarded packet up as uid 0 of the uidrange values read here
	 * (this namespace and this process are both the initial user namespace's), so uidrange
	 * rules can be evaluated; 0: unknown, they punt. */
	int8_t fwd_uid0;
	/* The XDP stage is on: usable neighbours and their addresses are compiled too, so a
	 * change to them is one to the image. */
	bool xdp;
	bool dirty;			/* changed since the last compile */
	bool routes_need_dump;		/* the kernel changed routes without telling (link down) */
};

void model_init(struct model *m);
void model_free(struct model *m);

struct model_link *model_link_get(struct model *m, int32_t ifindex);
struct model_link *model_link_by_name(struct model *m, const char *name);
struct model_link *model_link_upsert(struct model *m, int32_t ifindex);
void model_link_del(struct model *m, int32_t ifindex);

int model_addr_set(struct model *m, const struct model_addr_key *k, bool present);
uint16_t model_neigh_state(const struct model *m, int32_t ifindex, uint8_t family, const uint8_t *dst);
/* lladdr: the neighbour's Ethernet address, or NULL when the message carries none. */
int model_neigh_set(struct model *m, const struct model_neigh_key *k, uint16_t state,
		    const uint8_t *lladdr, bool present);

/* Where a route the kernel announced goes among its entry's routes, from the message's
 * flags (fib_table_insert / fib6_add_rt2node set them so). */
enum model_route_op {
	ROUTE_OP_DUMP,		/* a dump: the first message of a stale entry starts it over */
	ROUTE_OP_NEW,		/* NLM_F_EXCL: the only route of its entry */
	ROUTE_OP_APPEND,	/* NLM_F_APPEND: after the others (IPv6: join them) */
	ROUTE_OP_PREPEND,	/* NLM_F_CREATE alone: before the others */
	ROUTE_OP_REPLACE,	/* NLM_F_REPLACE: in place of the first (IPv6: of the one it names) */
	ROUTE_OP_UPDATE,	/* none of these: news about a route already there */
};

/* A route as one message told it; the model keeps its own copy. */
int model_route_add(struct model *m, const struct model_route *r, enum model_route_op op);
/* Remove the route r describes (IPv4: by ident; IPv6: its next hops, or its nexthop
 * object); an entry left without routes goes. */
void model_route_del(struct model *m, const struct model_route *r);

struct model_nhobj *model_nhobj_get(const struct model *m, uint32_t id);
/* Takes ownership of in->grp. */
int model_nhobj_set(struct model *m, struct model_nhobj *in);
void model_nhobj_del(struct model *m, uint32_t id);

int model_rule_add(struct model *m, const struct model_rule_key *k);
void model_rule_del(struct model *m, const struct model_rule_key *k);

/* Resync support: mark every object of a kind stale, then drop what no dump refreshed. */
void model_mark_stale(struct model *m, enum model_kind kind);
size_t model_sweep(struct model *m, enum model_kind kind);

#endif
