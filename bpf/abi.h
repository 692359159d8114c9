/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The one definition of every map key and value shared by the datapath (bpf/steer.bpf.c),
 * the agent and steerctl. Fixed-width types and explicit padding only: the same bytes are
 * read by both sides, and LPM keys are compared bit by bit including their padding. */
#ifndef STEER_ABI_H
#define STEER_ABI_H

#include <linux/types.h>

#define STEER_ABI_VERSION 11

/* How many rules one source prefix can carry before the compiler cuts the list and ends it
 * with a punt (so traffic past the limit goes to the kernel instead of a wrong table). */
#define STEER_MAX_RULES 64
/* Next hops of one multipath route the fast path spreads over; more punt the route. */
#define STEER_MAX_PATHS 16
/* Slots of a consistent-hash (Maglev) group's lookup table: a prime well above
 * STEER_MAX_PATHS, so each member owns about 1/N of them, and losing one moves its own and
 * few others (at most 13% of the rest in unit-config's 20,000 random member sets). */
#define STEER_MAGLEV_SLOTS 251

/* Default map sizes. */
#define STEER_SRC_ENTRIES   65536
#define STEER_DST_ENTRIES   65536
#define STEER_SEL_ENTRIES   65536
#define STEER_RULE_ENTRIES  65536
#define STEER_ROUTE_ENTRIES 262144
#define STEER_NH_ENTRIES    65536
#define STEER_GROUP_ENTRIES 16384
#define STEER_LINK_ENTRIES  4096
#define STEER_VLAN_ENTRIES  4096
#define STEER_FLOW_ENTRIES  16384	/* flow cache slots per CPU: a power of two */
#define STEER_NEIGH_ENTRIES 65536
#define STEER_XDP_TX_ENTRIES 1024	/* devices an XDP redirect may send out of */
#define STEER_FIB4_CHUNK_ENTRIES 16384	/* /16s and /24s of IPv4 tables holding longer prefixes */

/* Address families as the kernel spells them; repeated here so BPF code needs no libc. */
#define STEER_AF_INET  2
#define STEER_AF_INET6 10

/* The kernel's fixed table ids (RT_TABLE_DEFAULT, RT_TABLE_MAIN, RT_TABLE_LOCAL). */
#define STEER_TABLE_DEFAULT 253
#define STEER_TABLE_MAIN    254
#define STEER_TABLE_LOCAL   255

/* A rule's iif when the device it names does not exist: no packet arrives there. */
#define STEER_IIF_MISSING 0xffffffffu

/* Source-prefix trie: (family, source prefix) -> the ids of every rule whose `from` covers
 * it, in the kernel's order. prefixlen counts the 32 bits of family+pad plus the address
 * prefix length. */
struct steer_src_key {
	__u32 prefixlen;
	__u8  family;
	__u8  pad[3];
	__u8  addr[16];
};
#define STEER_SRC_KEY_BITS(plen) (32u + (plen))

struct steer_rule_list {
	__u32 count;
	/* Non-zero: a list too long for one, split by destination. It holds no rules (count
	 * 0): the packet's destination is looked up in steer_dst under this id instead. */
	__u32 dst_split;
	/* Non-zero: split by input device (sel_mask 0) or by mark & sel_mask, after any split
	 * by destination: steer_sel holds the pieces under this id. */
	__u32 sel_split;
	__u32 sel_mask;
	/* Only in source lists, and only when the compiler keeps the `from all` rules apart
	 * (the one-list-per-source layout would cut lists): the source's list then holds only
	 * rules with a `from`, and the walk merges it in the kernel's order (priority, then
	 * steer_rule.order) with up to three side lists of the family's other rules. 0: no
	 * such side list. */
	__u32 side_dst;		/* steer_dst split: rules with a `to`, by destination */
	__u32 side_sel;		/* steer_sel split: rules with a device or mark, by either */
	__u32 side_mask;	/* side_sel's sel_mask */
	__u32 side_rest;	/* steer_sel split: every other rule, by destination port
				 * when too many for one list (a piece per port that rules
				 * name alone); else all in its `other` piece */
	__u32 ids[STEER_MAX_RULES];	/* keys into steer_rules */
};

/* Destination trie of the split lists: (split id, family, destination prefix) -> the ids of
 * every rule of the split source list whose `to` covers it, in the kernel's order.
 * prefixlen counts the 64 bits of split id, family and pad, plus the address prefix. */
struct steer_dst_key {
	__u32 prefixlen;
	__u32 split;
	__u8  family;
	__u8  pad[3];
	__u8  addr[16];
};
#define STEER_DST_KEY_BITS(plen) (64u + (plen))

/* The pieces of a list split by input device or mark: (split id, the packet's ifindex or
 * mark & sel_mask) -> the rules that can match such a packet, in the kernel's order. The
 * piece for a value no rule names has `other` set and value 0. */
struct steer_sel_key {
	__u32 split;
	__u32 value;
	__u32 other;
};

enum steer_rule_action {
	STEER_RULE_LOOKUP      = 1,	/* look up `table`; a miss or a throw continues */
	STEER_RULE_PUNT        = 2,	/* matches on what TC cannot see: hand to the kernel */
	STEER_RULE_GOTO        = 3,	/* continue at the first rule with priority >= goto_priority
					 * (the compiler makes a goto to a priority no rule
					 * has a nop, as the kernel treats it) */
	STEER_RULE_NOP         = 4,
	STEER_RULE_BLACKHOLE   = 5,	/* silent drop */
	STEER_RULE_UNREACHABLE = 6,	/* the kernel answers with ICMP: punt */
	STEER_RULE_PROHIBIT    = 7,	/* likewise */
	STEER_RULE_CUT         = 8,	/* the list was cut at STEER_MAX_RULES: the kernel decides */
	/* Fast-path-only policies from steer.yaml (STEER_MATCH_POLICY): */
	STEER_RULE_FORWARD     = 9,	/* send to next hop nh_id (steer_nexthops) */
	STEER_RULE_GROUP       = 10,	/* send to one member of group nh_id (steer_groups) */
};

/* Which selectors a rule has; the rest of the rule's fields are read only when set. */
enum steer_rule_match {
	STEER_MATCH_SRC      = 1u << 0,	/* only for inverted rules: the trie covers the rest */
	STEER_MATCH_DST      = 1u << 1,
	STEER_MATCH_TOS      = 1u << 2,
	STEER_MATCH_MARK     = 1u << 3,
	STEER_MATCH_IIF      = 1u << 4,
	STEER_MATCH_PROTO    = 1u << 5,
	STEER_MATCH_SPORT    = 1u << 6,
	STEER_MATCH_DPORT    = 1u << 7,
	STEER_MATCH_INVERT   = 1u << 8,	/* `not`: the rule applies where the selectors fail */
	STEER_MATCH_SUPPRESS = 1u << 9,	/* suppress_prefixlength applies to lookups */
	STEER_MATCH_POLICY   = 1u << 10,	/* a steer.yaml policy, not a kernel rule: egress
					 * walks only these, the source check never does */
};

/* One rule, by id. Addresses and masks are network-order words, IPv4 in word 0. */
struct steer_rule {
	__u32 priority;
	__u32 table;
	__u32 goto_priority;
	__u16 match;		/* enum steer_rule_match */
	__u8  action;		/* enum steer_rule_action */
	__u8  tos;		/* compared with the packet's tos & tos_mask */
	__u8  tos_mask;
	__u8  ip_proto;
	__u8  suppress_prefixlen;	/* a lookup result this short or shorter is rejected */
	__u8  family;		/* for people: bodies of different rules never look alike */
	__u16 sport_lo, sport_hi;
	__u16 dport_lo, dport_hi;
	__u32 mark, mark_mask;
	__u32 iif;		/* ifindex; STEER_IIF_MISSING when the named device does not exist */
	__u32 src[4], src_mask[4];	/* always the rule's `from`; matched only when inverted */
	__u32 dst[4], dst_mask[4];
	__u32 nh_id;		/* FORWARD: key into steer_nexthops; GROUP: into steer_groups */
	__u32 order;		/* its place among the rules of its priority, in the kernel's
				 * order: where a walk merges lists, the tie-break */
};

/* Route trie: (table, family, destination prefix) -> best route of that prefix.
 * prefixlen counts the 64 bits of table+family+pad plus the address prefix length. */
struct steer_route_key {
	__u32 prefixlen;
	__u32 table;
	__u8  family;
	__u8  pad[3];
	__u8  addr[16];
};
#define STEER_ROUTE_KEY_BITS(plen) (64u + (plen))

enum steer_route_type {
	STEER_RT_FORWARD     = 1,	/* unicast, one next hop */
	STEER_RT_PUNT        = 2,	/* local, broadcast, multicast, anything not mirrored */
	STEER_RT_MULTIPATH   = 3,	/* unicast over a group of next hops */
	STEER_RT_BLACKHOLE   = 4,	/* silent drop */
	STEER_RT_UNREACHABLE = 5,	/* the kernel answers with ICMP: punt */
	STEER_RT_PROHIBIT    = 6,	/* likewise */
	STEER_RT_THROW       = 7,	/* continue with the next rule */
	STEER_RT_PENDING     = 8,	/* a route event for this prefix is not applied yet: the
					 * agent's reader wrote this the moment it arrived */
};

struct steer_route {
	__u8  type;		/* enum steer_route_type */
	__u8  dst_len;		/* for suppress_prefixlength */
	__u16 pad;
	__u32 nh_id;		/* FORWARD: key into steer_nexthops; MULTIPATH: into steer_groups */
};

/* IPv4 routes in arrays (DIR-16-8-8): the answer of the route trie above for an IPv4
 * destination, for up to STEER_FIB4_SLOTS tables, in one to three reads that cost the same
 * at any table size. Table t may own slot t % STEER_FIB4_SLOTS. steer_fib4 holds, per slot,
 * one word per /16 of the address space, then (past all of those) two words per slot: a
 * sequence number and the table that owns the slot (0: none). A word is a leaf, or
 * STEER_FIB4_CHUNK with the index of a chunk in steer_fib4_chunks: 256 words, one per /24 of
 * a /16 (and again, one per address of a /24, where a prefix longer than /24 lies). A leaf
 * is 0 (no route) or a route (type, dst_len, nh_id); STEER_FIB4_TRIE sends the reader to
 * the trie. steerd changes a slot (and the chunks it names) only while its sequence number
 * is odd, and a reader takes an answer only if it read the same even number before and
 * after it (a seqlock): an answer is the maps' before or after a write, never a mix. */
#define STEER_FIB4_SLOTS   16
#define STEER_FIB4_WORDS   (STEER_FIB4_SLOTS * 65536 + 2 * STEER_FIB4_SLOTS)
#define STEER_FIB4_SEQ(slot)   (STEER_FIB4_SLOTS * 65536 + 2 * (slot))
#define STEER_FIB4_OWNER(slot) (STEER_FIB4_SLOTS * 65536 + 2 * (slot) + 1)
#define STEER_FIB4_CHUNK   0x80000000u
#define STEER_FIB4_TRIE    0xffffffffu
/* Whether word w names a chunk (rather than being a leaf or STEER_FIB4_TRIE). */
#define STEER_FIB4_NAMES_CHUNK(w) ((w) != STEER_FIB4_TRIE && ((w) & STEER_FIB4_CHUNK))
#define STEER_FIB4_NH_BITS 21
#define STEER_FIB4_LEAF(type, dst_len, nh_id) \
	((__u32)(type) << 27 | (__u32)(dst_len) << STEER_FIB4_NH_BITS | (nh_id))
#define STEER_FIB4_LEAF_TYPE(w)    ((w) >> 27 & 0xf)
#define STEER_FIB4_LEAF_DST_LEN(w) ((w) >> STEER_FIB4_NH_BITS & 0x3f)
#define STEER_FIB4_LEAF_NH(w)      ((w) & ((1u << STEER_FIB4_NH_BITS) - 1))

struct steer_fib4_chunk {
	__u32 leaf[256];	/* by the third byte of the address (the fourth, one level down) */
};

enum steer_nh_flags {
	STEER_NH_NEIGH_FAILED = 1u << 0,	/* the gateway's neighbour entry is FAILED */
};

struct steer_nexthop {
	__u32 ifindex;
	__u8  family;		/* family of gw; 0 when the destination is on-link */
	__u8  flags;		/* enum steer_nh_flags */
	__u8  pad[2];
	__u8  gw[16];
};

enum steer_group_hash {
	STEER_HASH_KERNEL     = 0,	/* a kernel multipath route: the kernel's own fib lookup picks
					 * the member (STEER_STATE_MP_KERNEL4/6), or it punts */
	STEER_HASH_L3         = 1,	/* steer.yaml groups: addresses only */
	STEER_HASH_L4         = 2,	/* addresses, protocol and ports */
	STEER_HASH_CONSISTENT = 3,	/* L4 hash into the Maglev table `slots` */
};

/* A multipath route's (or a steer.yaml group's) next hops with hash-threshold upper bounds,
 * as fib_rebalance() lays them out: a flow whose 31-bit hash is <= upper[i] (and >
 * upper[i-1]) takes path i. A consistent group picks slots[hash % STEER_MAGLEV_SLOTS]
 * instead, an index into nh_ids. */
struct steer_group {
	__u32 count;
	__u8  hash;		/* enum steer_group_hash */
	__u8  pad[3];
	__u32 nh_ids[STEER_MAX_PATHS];
	__u32 upper[STEER_MAX_PATHS];
	__u8  slots[STEER_MAGLEV_SLOTS + 1];	/* CONSISTENT only; the last byte is padding */
};

/* Links the datapath may meet, by ifindex. */
enum steer_link_flags {
	STEER_LINK_UP      = 1u << 0,	/* IFF_UP and IFF_RUNNING */
	STEER_LINK_FWD4    = 1u << 1,	/* IPv4 forwarding enabled on this device */
	STEER_LINK_FWD6    = 1u << 2,	/* IPv6 forwarding enabled (device and all) */
	STEER_LINK_L3      = 1u << 3,	/* no link-layer header: IP starts the frame (tun, ...) */
	STEER_LINK_L2_OTHER = 1u << 4,	/* a link layer that is neither Ethernet nor none: punt */
	/* Netfilter hooks of this device that a redirect from TC would skip: an ingress chain
	 * (netdev, or inet `ingress`) runs after TC ingress, and a packet redirected at TC
	 * ingress skips the egress chains of the device it leaves by. */
	STEER_LINK_NF_INGRESS = 1u << 5,
	STEER_LINK_NF_EGRESS  = 1u << 6,
	/* VLAN sub-interfaces sit on it: a NIC may take their tags off before XDP sees the
	 * frame, so the XDP stage leaves its frames to TC. */
	STEER_LINK_VLAN_LOWER = 1u << 7,
	/* A device whose frames may come from a local stack with the transport checksum left
	 * to "hardware" (veth, netkit, tun/tap): the kernel knows it from the skb, an XDP
	 * redirect loses that, and the receiver drops the frame as corrupt. The XDP stage
	 * forwards from it only what carries a checksum it verified. */
	STEER_LINK_CSUM_PARTIAL = 1u << 8,
};

struct steer_link {
	__u32 flags;		/* enum steer_link_flags */
	__u8  rp_filter;	/* effective IPv4 rp_filter: max(all, device) */
	__u8  pad;
	__u16 mtu6;		/* net.ipv6.conf.DEV.mtu, what ip6_forward() checks; 0: unknown */
	__u32 mtu;		/* the device's MTU (IFLA_MTU); 0: unknown, ask the kernel */
	__u8  mac[6];		/* its Ethernet address (IFLA_ADDRESS); zero without one */
	__u8  pad2[2];
};

/* One 802.1Q sub-interface: (lower ifindex, VLAN id) -> its own ifindex. */
struct steer_vlan_key {
	__u32 ifindex;
	__u16 vid;
	__u16 pad;
};

struct steer_vlan {
	__u32 ifindex;
};

/* A neighbour the XDP program may send to without the kernel: (device, family, address) ->
 * its MAC (the source MAC is the device's own, in steer_link). Only neighbours in a state the kernel
 * itself sends to without asking (REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP) and with
 * a link-layer address are here; TC's bpf_redirect_neigh() resolves the others. */
struct steer_neigh_key {
	__u32 ifindex;
	__u8  family;
	__u8  pad[3];
	__u32 addr[4];		/* network order words, IPv4 in word 0 */
};

struct steer_neigh {
	__u8 mac[6];
	__u8 pad[2];
};

/* Global state, one entry. `synced` is 0 until the agent's first full sync and after a
 * clean stop: the program punts every packet while it is 0. */
enum steer_state_flags {
	/* Bits 0 and 1 are free: they said a family had iif rules, which the source check
	 * no longer needs to know since multipath takes the kernel's own member. */
	/* IPv4's first rule is a plain `lookup local`, no other rule looks up the local table,
	 * and only the local table holds routes the fast path punts: then the kernel's source
	 * check (with rp_filter off) rejects exactly the sources the local table punts, and one
	 * lookup there answers it instead of a whole reverse walk. */
	STEER_STATE_LOCAL_SRC_CHECK4 = 1u << 2,
	/* fib_multipath_hash_policy is 0 (addresses; IPv6 also flow label and next header):
	 * then bpf_fib_lookup() on the route's table picks the member the forward path picks,
	 * except for ICMP errors. Without it, kernel multipath routes punt. */
	STEER_STATE_MP_KERNEL4 = 1u << 3,
	STEER_STATE_MP_KERNEL6 = 1u << 4,
	/* net.ipv4.ip_forward_use_pmtu is on: ip_forward() checks the path MTU it learnt for the
	 * destination, which TC cannot see: IPv4 packets over the smallest MTU punt. */
	STEER_STATE_FWD_PMTU4 = 1u << 5,
	/* net.ipv4.ip_forward_update_priority is 0: ip_forward() leaves skb->priority alone. */
	STEER_STATE_KEEP_PRIO4 = 1u << 6,
	/* Netfilter (netfilter: respect) has a say in what the family forwards: a rule, a
	 * policy other than accept, or NAT on prerouting, forward or postrouting, or the agent
	 * does not know the ruleset (not read yet, events lost). Every packet of the family is
	 * handed to the kernel. */
	STEER_STATE_NF4 = 1u << 7,
	STEER_STATE_NF6 = 1u << 8,
	STEER_STATE_NF_UNKNOWN = 1u << 9,	/* for people: why NF4 and NF6 are both set */
	STEER_STATE_NF_DEVICES = 1u << 10,	/* some link has STEER_LINK_NF_* set */
	/* The agent has events it has not applied yet that any packet may depend on (links,
	 * rules, addresses, ...), or it lost events and is reading everything again: every
	 * packet is handed to the kernel until the apply that includes them. Set by the
	 * agent's reader in one map write when the event arrives. */
	STEER_STATE_PENDING = 1u << 11,
	/* netfilter: offload: no prerouting chain of the family changes the mark or the
	 * packet (NAT chains aside: their work is in the connection), so a packet of a
	 * connection the ruleset marked may skip the hooks; the program then looks it up in
	 * conntrack and forwards it when all holds (see steer_ct_offload()). */
	STEER_STATE_CT_OFFLOAD4 = 1u << 12,
	STEER_STATE_CT_OFFLOAD6 = 1u << 13,
	/* net.netfilter.nf_conntrack_tcp_be_liberal: conntrack does not check TCP windows, so
	 * it accepts a connection's later packets after missing the ones offloaded. Without it
	 * a TCP connection is offloaded only if conntrack picked it up mid-stream (liberal). */
	STEER_STATE_CT_TCP_LIBERAL = 1u << 14,
};
#define STEER_STATE_NF_MASK (STEER_STATE_NF4 | STEER_STATE_NF6 | STEER_STATE_NF_UNKNOWN | \
			     STEER_STATE_NF_DEVICES)
#define STEER_STATE_CT_MASK (STEER_STATE_CT_OFFLOAD4 | STEER_STATE_CT_OFFLOAD6 | \
			     STEER_STATE_CT_TCP_LIBERAL)

/* What steerd does where netfilter has a say (--netfilter, `netfilter:`). */
enum steer_nf_mode {
	STEER_NF_RESPECT = 0,	/* punt what netfilter would see (the default) */
	STEER_NF_BYPASS  = 1,	/* forward past it: the operator's explicit choice */
	STEER_NF_OFFLOAD = 2,	/* respect, but connections the ruleset marked skip it */
};

struct steer_state {
	__u32 synced;
	__u32 abi_version;
	__u64 generation;	/* bumped at every applied sync */
	__u32 flags;		/* enum steer_state_flags */
	__u8  nf_mode;		/* enum steer_nf_mode, for people */
	__u8  pad[3];
	/* The agent's pulse, CLOCK_MONOTONIC_COARSE (bpf_ktime_get_coarse_ns()). Older than stale_after_ns
	 * (when that is not 0) and the program punts everything: an agent that stopped
	 * following the kernel must not leave a fast path that follows the past. */
	__u64 heartbeat_ns;
	/* Bumped at every write of this map (applies, pending marks, netfilter, heartbeats):
	 * a flow cache slot written under another epoch is a miss. */
	__u64 epoch;
	__u32 flow_mask;	/* flow cache slots - 1 (a power of two less one); 0: no cache */
	__u32 pad2;
	__u64 stale_after_ns;
	/* netfilter: offload. A connection is offloaded when its conntrack mark & ct_mask is
	 * ct_mark; its timeout is refreshed to these, as conntrack itself would on each packet
	 * (nf_conntrack_tcp_timeout_established, nf_conntrack_udp_timeout_stream). */
	__u32 ct_mark, ct_mask;
	__u32 ct_timeout_tcp_ms, ct_timeout_udp_ms;
};

/* The netfilter base chains steerd found, for steerctl (status, explain); the datapath
 * reads only the state and link flags derived from them. Slots are filled from 0; a slot
 * whose flags lack STEER_NF_USED ends the list. */
#define STEER_NF_CHAINS 64
#define STEER_NF_NAME 32	/* names longer than this are cut (shown with a trailing ~) */

enum steer_nf_chain_flags {
	STEER_NF_USED    = 1u << 0,
	STEER_NF_LEGACY  = 1u << 1,	/* iptables-legacy (x_tables), not nftables */
	STEER_NF_NAT     = 1u << 2,	/* a NAT chain or table: present even when empty */
	STEER_NF_FORWARD = 1u << 3,	/* on the forward path and not empty: it makes steer punt */
	STEER_NF_DORMANT = 1u << 4,	/* its table is dormant: no hook is registered */
};

struct steer_nf_chain {
	__u8  family;		/* NFPROTO_*: 1 inet, 2 ip, 5 netdev, 10 ip6 */
	__u8  hook;		/* the family's hook number (NF_INET_*, NF_NETDEV_*) */
	__u8  policy;		/* NF_DROP 0, NF_ACCEPT 1 */
	__u8  flags;		/* enum steer_nf_chain_flags */
	__s32 priority;
	__u32 rules;
	__u32 ifindex;		/* the device of an ingress/egress chain (first one), else 0 */
	char  table[STEER_NF_NAME];
	char  chain[STEER_NF_NAME];
};

/* What the agent has been through, for steerctl and tests; one entry, written by steerd. */
struct steer_agent_stats {
	__u64 netlink_messages;
	__u64 foreign_messages;		/* not from the kernel: ignored */
	__u64 malformed_messages;
	__u64 overruns;			/* ENOBUFS: events lost (rtnetlink and nfnetlink) */
	__u64 resyncs;			/* full re-reads after an overrun, SIGHUP or reconcile */
	__u64 dump_restarts;		/* dumps interrupted by a change */
	__u64 swept;			/* objects gone without a notification */
	__u64 reconciles;		/* periodic full comparisons */
	__u64 drift;			/* map entries found differing from what was applied */
	__u64 applies;
	__u64 apply_failures;		/* a map write failed (full?): fast path punting */
	__u64 overflow_punts;		/* image entries left out for capacity, punting instead */
	__u64 pid;
	__u64 started_ns;		/* CLOCK_MONOTONIC */
};

/* Per-CPU counters, indexed by these. */
enum steer_stat {
	STEER_STAT_RX = 0,
	STEER_STAT_FORWARDED,
	STEER_STAT_DROP_BLACKHOLE,	/* a blackhole rule or route: the kernel drops silently too */
	STEER_STAT_PUNT_NOT_SYNCED,
	STEER_STAT_PUNT_STALE,		/* the agent's heartbeat is older than its deadline */
	STEER_STAT_PUNT_MISSING_REF,	/* a reference to an entry not (or no longer) there */
	STEER_STAT_PUNT_NOT_IP,
	STEER_STAT_PUNT_MALFORMED,
	STEER_STAT_PUNT_NOT_FOR_US,	/* broadcast, multicast or another host's frame (pkt_type) */
	STEER_STAT_PUNT_VLAN,
	STEER_STAT_PUNT_IIF,		/* ingress device unknown, or forwarding off on it */
	STEER_STAT_PUNT_TTL,
	STEER_STAT_PUNT_IP_OPTIONS,
	STEER_STAT_PUNT_FRAGMENT,
	STEER_STAT_PUNT_SPECIAL_ADDR,	/* multicast, loopback, link-local, ... */
	STEER_STAT_PUNT_NO_RULE_LIST,
	STEER_STAT_PUNT_RULE,		/* a rule the fast path does not evaluate */
	STEER_STAT_PUNT_RULE_LIMIT,	/* more rules cover the source than a list holds */
	STEER_STAT_PUNT_NO_ROUTE,	/* every rule missed: the kernel answers with an error */
	STEER_STAT_PUNT_UNREACHABLE,	/* unreachable rule or route: the kernel sends ICMP */
	STEER_STAT_PUNT_PROHIBIT,	/* prohibit rule or route: likewise */
	STEER_STAT_PUNT_L4,		/* transport header out of reach, or extension headers */
	STEER_STAT_PUNT_ROUTE,		/* local, broadcast, multipath, ...: the kernel decides */
	STEER_STAT_PUNT_SOURCE_CHECK,	/* the kernel's source validation would not pass as-is */
	STEER_STAT_PUNT_LINK_DOWN,
	STEER_STAT_PUNT_HAIRPIN,	/* out the way it came: the kernel also sends a redirect */
	STEER_STAT_PUNT_MTU,
	STEER_STAT_PUNT_REDIRECT,	/* bpf_redirect_neigh refused */
	STEER_STAT_EGRESS_PASS,		/* egress: no policy matched, the kernel's route stands */
	STEER_STAT_PUNT_NETFILTER,	/* netfilter would see the packet (netfilter: respect) */
	STEER_STAT_PUNT_PENDING,	/* a change (or lost events) the agent has not applied yet */
	STEER_STAT_PUNT_MULTIPATH,	/* a kernel multipath member TC cannot pick as the kernel does */
	STEER_STAT_OFFLOADED,		/* also counted as forwarded: a connection netfilter blessed */
	STEER_STAT_DROP_REWRITE,	/* NAT rewrite failed halfway: the packet can go nowhere */
	STEER_STAT_CACHED,		/* decided by the flow cache (then forwarded, or punted for
					 * what depends on the packet: MTU, TTL) */
	STEER_STAT_PASS_NEIGH,		/* XDP: no usable neighbour in steer_neighs; TC resolves it */
	STEER_STAT_PASS_XDP_TX,		/* XDP: the device cannot take an XDP redirect; TC sends */
	STEER_STAT_PASS_TC,		/* XDP: what only TC does (VLAN, kernel multipath, offload) */
	STEER_STAT_PASS_CSUM,		/* XDP: a transport checksum not verified on a device whose
					 * frames may leave it to offload (veth): TC keeps that state */
	STEER_STAT_MAX,
};

/* steer_stats and steer_xdp_stats: every counter in one per-CPU value (key 0), so a
 * packet's counts cost one map lookup, not one each. */
struct steer_counters {
	__u64 n[STEER_STAT_MAX];	/* indexed by enum steer_stat */
};

/* What the program decided, left in skb->cb[] so BPF_PROG_TEST_RUN callers (tests,
 * `steerctl explain`) read the decision the real program made. */
enum steer_verdict {
	STEER_VERDICT_FORWARD = 1,
	STEER_VERDICT_PUNT    = 2,
	STEER_VERDICT_DROP    = 3,
};
/* Put in cb[0] by callers of BPF_PROG_TEST_RUN: the decision is the same, but no counter
 * moves, so asking the fast path does not disturb its statistics. */
#define STEER_CB_EXPLAIN  0x5e7e0e1aU
#define STEER_CB_VERDICT  0	/* verdict << 16 | stat index */
#define STEER_CB_OIF      1
#define STEER_CB_PRIORITY 2
#define STEER_CB_TABLE    3
#define STEER_CB_NH       4

/* What rules can look at: one direction of a packet's flow (and the flow cache's key,
 * hashed and compared a double word at a time: hence the alignment, which moves nothing). */
struct steer_flow {
	__u32 src[4];
	__u32 dst[4];
	__u32 iif;
	__u32 mark;
	__u16 sport, dport;
	__u8  family;
	__u8  tos;
	__u8  proto;
	__u8  mode;		/* enum steer_walk_mode */
} __attribute__((aligned(8)));

/* Which rules a walk considers. */
enum steer_walk_mode {
	STEER_WALK_INGRESS = 0,	/* the kernel's rules and steer.yaml's policies, merged */
	STEER_WALK_EGRESS  = 1,	/* policies only: the kernel has routed the packet already */
	STEER_WALK_REVERSE = 2,	/* the kernel's rules only: its source check knows no policy */
};

/* The flow cache: per CPU, direct-mapped (a flow's hash picks its one slot), so a lookup is
 * a hash and a compare, an insert a store, and no CPU ever reads what another is writing. A
 * slot holds what the decision found for its flow (addresses, ports, protocol, tos, mark,
 * iif and direction), valid while the state's epoch is the one it was found under: the next
 * hop and the outgoing link as they were, so a hit reads no other map. Only forwards whose
 * next hop steer picks itself are kept; what depends on the packet (MTU, TTL) is checked on
 * every packet. */
struct steer_flow_slot {
	struct steer_flow key;
	__u64 epoch;		/* 0: empty (the state's epochs start at 1) */
	__u32 nh_id;		/* the next hop the decision picked */
	__u32 rule_id;		/* the rule (or policy) that decided, for its hit counter */
	__u32 priority;
	__u32 table;
	struct steer_nexthop nh;	/* nh_id's, as it was */
	struct steer_link out;		/* nh.ifindex's, as it was */
	__u32 pad;
};

/* steerctl monitor. The listener holds a lease in steer_monitor (a one-entry array that
 * steerctl maps and writes in place, and the program's counters share): while the coarse
 * monotonic clock is short of until_ns, the program writes one steer_event per decision
 * that passes the filters into the steer_events ring buffer, at most `rate` a second and
 * one in `sample`. A lease nobody renews runs out by itself, so a killed listener costs
 * nothing for long; without one the program reads until_ns and goes on. */
struct steer_monitor {
	__u64 until_ns;		/* bpf_ktime_get_coarse_ns(): events while now < until_ns */
	__u32 owner;		/* the listener's pid, for the next one to find */
	__u32 rate;		/* events per second at most; 0: none at all */
	__u32 sample;		/* one decision in `sample` that passes the filters; 0, 1: all */
	__u32 verdicts;		/* a bit per enum steer_verdict; 0: any */
	__u64 reasons;		/* a bit per enum steer_stat; 0: any */
	__u32 iif;		/* 0: any */
	__u8  src_family, src_len;	/* from PREFIX; family 0: any */
	__u8  dst_family, dst_len;	/* to PREFIX */
	__u32 src[4], dst[4];
	/* Written by the program (atomically), read by the listener. */
	__u64 window;		/* the second of the coarse clock in_window counts in */
	__u64 in_window;	/* events sent or refused in that second */
	__u64 matched;		/* decisions that passed the filters (sampling counts these) */
	__u64 rate_limited;	/* refused by the rate */
	__u64 lost;		/* the ring buffer was full */
};

/* One decision, as the monitor sees it. Addresses are the ones routed (after a DNAT). */
struct steer_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 src[4], dst[4];	/* network order, IPv4 in word 0 */
	__u8  gw[16];		/* the next hop's gateway when gw_family is set */
	__u32 iif;		/* the routing ingress (a VLAN sub-interface when tagged); at
				 * egress the device the packet leaves by */
	__u32 oif;		/* where it was sent (forward), 0 otherwise */
	__u32 priority;		/* the rule (or policy) that decided; 0 before the rules */
	__u32 table;		/* its table; 0 before the rules */
	__u32 len;		/* the frame's length */
	__u16 sport, dport;	/* host order */
	__u8  family;		/* STEER_AF_*, 0 when the packet was not parsed that far */
	__u8  proto;
	__u8  verdict;		/* enum steer_verdict */
	__u8  reason;		/* enum steer_stat */
	__u8  egress;		/* decided by the egress program (policies) */
	__u8  gw_family;	/* 0: on-link, or no next hop */
	__u8  pad[10];
};

#define STEER_EVENTS_BYTES (256 * 1024)	/* the ring buffer: a few thousand events */

#ifndef __bpf__
/* Names for people and JSON, indexed by enum steer_stat. */
static const char *const steer_stat_names[STEER_STAT_MAX] = {
	[STEER_STAT_RX]                  = "rx",
	[STEER_STAT_FORWARDED]           = "forwarded",
	[STEER_STAT_DROP_BLACKHOLE]      = "drop_blackhole",
	[STEER_STAT_PUNT_NOT_SYNCED]     = "punt_not_synced",
	[STEER_STAT_PUNT_STALE]          = "punt_stale",
	[STEER_STAT_PUNT_MISSING_REF]    = "punt_missing_ref",
	[STEER_STAT_PUNT_NOT_IP]         = "punt_not_ip",
	[STEER_STAT_PUNT_MALFORMED]      = "punt_malformed",
	[STEER_STAT_PUNT_NOT_FOR_US]     = "punt_not_for_us",
	[STEER_STAT_PUNT_VLAN]           = "punt_vlan",
	[STEER_STAT_PUNT_IIF]            = "punt_iif",
	[STEER_STAT_PUNT_TTL]            = "punt_ttl",
	[STEER_STAT_PUNT_IP_OPTIONS]     = "punt_ip_options",
	[STEER_STAT_PUNT_FRAGMENT]       = "punt_fragment",
	[STEER_STAT_PUNT_SPECIAL_ADDR]   = "punt_special_addr",
	[STEER_STAT_PUNT_NO_RULE_LIST]   = "punt_no_rule_list",
	[STEER_STAT_PUNT_RULE]           = "punt_rule",
	[STEER_STAT_PUNT_RULE_LIMIT]     = "punt_rule_limit",
	[STEER_STAT_PUNT_NO_ROUTE]       = "punt_no_route",
	[STEER_STAT_PUNT_UNREACHABLE]    = "punt_unreachable",
	[STEER_STAT_PUNT_PROHIBIT]       = "punt_prohibit",
	[STEER_STAT_PUNT_L4]             = "punt_l4",
	[STEER_STAT_PUNT_ROUTE]          = "punt_route",
	[STEER_STAT_PUNT_SOURCE_CHECK]   = "punt_source_check",
	[STEER_STAT_PUNT_LINK_DOWN]      = "punt_link_down",
	[STEER_STAT_PUNT_HAIRPIN]        = "punt_hairpin",
	[STEER_STAT_PUNT_MTU]            = "punt_mtu",
	[STEER_STAT_PUNT_REDIRECT]       = "punt_redirect",
	[STEER_STAT_EGRESS_PASS]         = "egress_pass",
	[STEER_STAT_PUNT_NETFILTER]      = "punt_netfilter",
	[STEER_STAT_PUNT_PENDING]        = "punt_pending",
	[STEER_STAT_PUNT_MULTIPATH]      = "punt_multipath",
	[STEER_STAT_OFFLOADED]           = "offloaded",
	[STEER_STAT_DROP_REWRITE]        = "drop_rewrite",
	[STEER_STAT_CACHED]              = "cached",
	[STEER_STAT_PASS_NEIGH]          = "pass_neigh",
	[STEER_STAT_PASS_XDP_TX]         = "pass_xdp_tx",
	[STEER_STAT_PASS_TC]             = "pass_tc",
	[STEER_STAT_PASS_CSUM]           = "pass_csum",
};

/* Names of netfilter families and hooks as nft(8) writes them. */
static inline const char *steer_nf_family_name(__u8 family)
{
	switch (family) {
	case 1: return "inet";
	case 2: return "ip";
	case 3: return "arp";
	case 5: return "netdev";
	case 7: return "bridge";
	case 10: return "ip6";
	default: return "?";
	}
}

static inline const char *steer_nf_hook_name(__u8 family, __u8 hook)
{
	static const char *const inet[] = { "prerouting", "input", "forward", "output", "postrouting",
					    "ingress" };

	if (family == 5)
		return hook == 0 ? "ingress" : hook == 1 ? "egress" : "?";
	return hook < 6 ? inet[hook] : "?";
}

static inline const char *steer_nf_mode_name(__u8 mode)
{
	return mode == STEER_NF_BYPASS ? "bypass" : mode == STEER_NF_OFFLOAD ? "offload" : "respect";
}
#endif

/* Pins: one per map (by map name) under the pin directory, plus these. */
#define STEER_PIN_DIR_DEFAULT "/sys/fs/bpf/steer"
#define STEER_PIN_PROG        "prog"
#define STEER_PIN_TCX_INGRESS "tcx-ingress-"	/* + interface name */
#define STEER_PIN_TCX_EGRESS  "tcx-egress-"	/* + interface name */
#define STEER_PIN_PROG_EGRESS "prog-egress"
#define STEER_PIN_PROG_XDP    "prog-xdp"
#define STEER_PIN_XDP         "xdp-"		/* + interface name */

#define STEER_MAP_SRC    "steer_src"
#define STEER_MAP_DST    "steer_dst"
#define STEER_MAP_SEL    "steer_sel"
#define STEER_MAP_ROUTES "steer_routes"
#define STEER_MAP_RULES  "steer_rules"
#define STEER_MAP_NH     "steer_nexthops"
#define STEER_MAP_GROUPS "steer_groups"
#define STEER_MAP_HITS   "steer_rule_hits"
#define STEER_MAP_LINKS  "steer_links"
#define STEER_MAP_VLANS  "steer_vlans"
#define STEER_MAP_STATE  "steer_state"
#define STEER_MAP_STATS  "steer_stats"
#define STEER_MAP_AGENT  "steer_agent"
#define STEER_MAP_NETFILTER "steer_netfilter"
#define STEER_MAP_MONITOR "steer_monitor"
#define STEER_MAP_FLOWS   "steer_flows"
#define STEER_MAP_EVENTS  "steer_events"
#define STEER_MAP_NEIGHS  "steer_neighs"
#define STEER_MAP_XDP_TX  "steer_xdp_tx"
#define STEER_MAP_XDP_STATS "steer_xdp_stats"
#define STEER_MAP_FIB4    "steer_fib4"
#define STEER_MAP_FIB4_CHUNKS "steer_fib4_chunks"

_Static_assert(sizeof(struct steer_src_key) == 24, "steer_src_key layout");
_Static_assert(sizeof(struct steer_monitor) == 112, "steer_monitor layout");
_Static_assert(sizeof(struct steer_flow_slot) == 120, "steer_flow_slot layout");
_Static_assert(sizeof(struct steer_flow) == 48, "steer_flow layout: no padding in a hashed key");
_Static_assert(sizeof(struct steer_event) == 96, "steer_event layout");
_Static_assert(STEER_STAT_MAX <= 64, "a monitor reason filter has a bit per counter");
_Static_assert(sizeof(struct steer_rule) == 112, "steer_rule layout");
_Static_assert(sizeof(struct steer_rule_list) == 32 + 4 * STEER_MAX_RULES, "steer_rule_list layout");
_Static_assert(sizeof(struct steer_group) == 8 + 8 * STEER_MAX_PATHS + STEER_MAGLEV_SLOTS + 1, "steer_group layout");
_Static_assert(sizeof(struct steer_route_key) == 28, "steer_route_key layout");
_Static_assert(sizeof(struct steer_dst_key) == 28, "steer_dst_key layout");
_Static_assert(sizeof(struct steer_route) == 8, "steer_route layout");
_Static_assert(sizeof(struct steer_nexthop) == 24, "steer_nexthop layout");
_Static_assert(sizeof(struct steer_link) == 20, "steer_link layout");
_Static_assert(sizeof(struct steer_vlan_key) == 8, "steer_vlan_key layout");
_Static_assert(sizeof(struct steer_neigh_key) == 24, "steer_neigh_key layout");
_Static_assert(sizeof(struct steer_neigh) == 8, "steer_neigh layout");
_Static_assert(sizeof(struct steer_state) == 72, "steer_state layout");
_Static_assert(sizeof(struct steer_nf_chain) == 16 + 2 * STEER_NF_NAME, "steer_nf_chain layout");
_Static_assert(sizeof(struct steer_agent_stats) == 14 * 8, "steer_agent_stats layout");

#endif
