/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* steer's datapath: a TC ingress program that forwards each IP packet where the kernel's
 * policy routing would send it, drops it where the kernel would silently drop it, or
 * returns TC_ACT_OK so the kernel decides. Every map it reads is written by steerd from the
 * kernel's own rules and routes. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/lookup.h"
#ifdef STEER_CT
#include "lib/ct.h"
#endif

#ifndef ETH_P_IP
#define ETH_P_IP 0x0800
#endif
#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#define PACKET_HOST 0

/* Runtime switches, set by the agent before load. */
const volatile __u8 cfg_source_check = 1;	/* mirror fib_validate_source() for IPv4 */
/* For the decision-cost benchmark only: BPF_PROG_TEST_RUN repeats run on one packet, so the
 * rewrite (TTL, tag, padding) is left out, or the TTL would run down within the repeats;
 * 2: and every packet is a new flow to the flow cache (a miss, and its slot written). */
const volatile __u8 cfg_bench = 0;

/* Counts a packet that leaves by punt() or drop(). A global function, verified once for
 * any stat: inlined at every exit, the indexed add would be reached with a known stat on
 * one path and an unknown one on another, which the verifier refuses without CAP_PERFMON.
 * It cannot know its callers never pass a stat past the counters: bounded in count_exit. */
__attribute__((noinline)) int steer_count(__u32 stat, int cached)
{
	count_exit(&steer_stats, stat, cached);
	return 0;
}

/* Leaves the packet's verdict (kind, reason) in cb, counts it (cached: the flow cache had
 * decided it) and returns ret. The barrier keeps clang from merging every verdict's store
 * into one through a pointer to cb it derived from ctx, which the verifier refuses
 * ("dereference of modified ctx ptr"). */
static __always_inline int verdict(struct __sk_buff *skb, __u32 kind, __u32 reason, int quiet,
				   int cached, int ret)
{
	if (!quiet)
		steer_count(reason, cached);
	barrier_var(skb);
	skb->cb[STEER_CB_VERDICT] = kind << 16 | reason;
	return ret;
}

/* Hands the packet to the kernel, unchanged, and says why. */
static __always_inline int punt(struct __sk_buff *skb, __u32 reason, int quiet, int cached)
{
	return verdict(skb, STEER_VERDICT_PUNT, reason, quiet, cached, TC_ACT_OK);
}

static __always_inline int drop(struct __sk_buff *skb, __u32 reason, int quiet, int cached)
{
	return verdict(skb, STEER_VERDICT_DROP, reason, quiet, cached, TC_ACT_SHOT);
}

/* The policy walk as a function of its own: the verifier checks it once, not once per
 * caller (the forward lookup and the source check's reverse one). */
/* Verified alone, as a global function: it cannot know its callers never pass NULL. */
__attribute__((noinline)) int steer_lookup(const struct steer_flow *f, struct steer_lookup *res,
					   int quiet)
{
	if (!f || !res)
		return STEER_LOOKUP_PUNT;
	return steer_policy_lookup(f, res, quiet);
}

static __always_inline int nh_alive(const struct steer_nexthop *nh)
{
	struct steer_link *l;

	if (nh->flags & STEER_NH_NEIGH_FAILED)
		return 0;
	l = bpf_map_lookup_elem(&steer_links, &nh->ifindex);
	return l && (l->flags & STEER_LINK_UP);
}

/* A per-flow hash, 31 bits as the hash-threshold bounds expect, so one flow always takes
 * one path: addresses, and with l4 the transport ports of TCP and UDP too. */
static __always_inline __u32 flow_hash(const struct steer_flow *f, int l4)
{
	__u32 h = 0x5e7e0000u ^ f->family;

#pragma unroll
	for (int i = 0; i < 4; i++)
		h = (h ^ f->src[i]) * 0x9e3779b1u ^ (h >> 15) ^ f->dst[i] * 0x85ebca6bu;
	if (l4 && (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP))
		h ^= ((__u32)f->sport << 16 | f->dport) * 0xc2b2ae35u ^ f->proto;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h >> 1;
}

/* Sets *nh_id to member i of the group when that member's next hop is usable. */
static __always_inline int member_alive(const struct steer_group *g, __u32 i, __u32 *nh_id)
{
	__u32 id = g->nh_ids[i];
	struct steer_nexthop *nh = bpf_map_lookup_elem(&steer_nexthops, &id);

	if (!nh || !nh_alive(nh))
		return 0;
	*nh_id = id;
	return 1;
}

/* steer_pick_nexthop()'s answer for a kernel multipath route: the kernel picks the member. */
#define STEER_PICK_KERNEL 1

/* The next hop of a route: its own, or for a steer.yaml group the one the flow's hash picks,
 * moving on to the next live member when that one's link is down or its neighbour failed.
 * Returns 0 with *nh_id set, -1 when none is usable, STEER_PICK_KERNEL for a kernel multipath
 * route (steer_kernel_member() then finds the kernel's own choice). A function of its own,
 * like the lookup, so the verifier checks it once. */
/* Verified alone, as a global function: it cannot know its callers never pass NULL. */
__attribute__((noinline)) int steer_pick_nexthop(const struct steer_lookup *res,
						 const struct steer_flow *f, __u32 *nh_id)
{
	struct steer_group *g;
	__u32 h, pick = 0, i;

	if (!res || !f || !nh_id)
		return -1;
	if (res->route_type == STEER_RT_FORWARD) {
		*nh_id = res->nh_id;
		return 0;
	}
	g = bpf_map_lookup_elem(&steer_groups, &res->nh_id);
	if (!g || !g->count || g->count > STEER_MAX_PATHS)
		return -1;
	if (g->hash == STEER_HASH_KERNEL)
		return STEER_PICK_KERNEL;
	h = flow_hash(f, g->hash != STEER_HASH_L3);
	if (g->hash == STEER_HASH_CONSISTENT) {
		__u32 slot = h % STEER_MAGLEV_SLOTS;

		/* clang divides by multiplying, which the verifier cannot bound: say it. */
		asm volatile("" : "+r"(slot));
		if (slot >= STEER_MAGLEV_SLOTS)
			return -1;
		pick = g->slots[slot];
		if (pick >= g->count)
			pick = 0;
	} else {
		/* The first member whose bound is not below the hash, 0 when none is; found
		 * top down and unrolled, so every upper[i] is a constant offset. */
#pragma unroll
		for (i = STEER_MAX_PATHS; i-- > 0;)
			if (i < g->count && h <= g->upper[i])
				pick = i;
	}
	/* Members pick..count-1, then 0..pick-1: the first live one. Each index is a
	 * constant, not pick + i: without CAP_PERFMON the verifier's Spectre v1 hardening
	 * refuses a register added to a map value pointer unless it moves the pointer alike
	 * on every path that reaches that instruction. Unrolled, so no pointer walks past the
	 * array either, not even on a mispredicted path. */
#pragma unroll
	for (i = 0; i < STEER_MAX_PATHS; i++)
		if (i >= pick && i < g->count && member_alive(g, i, nh_id))
			return 0;
#pragma unroll
	for (i = 0; i < STEER_MAX_PATHS; i++)
		if (i < pick && i < g->count && member_alive(g, i, nh_id))
			return 0;
	return -1;
}

/* The next hop the kernel's fib lookup chose, for steer_kernel_member(). */
struct steer_kernel_nh {
	__u32 ifindex;
	__u32 addr[4];		/* its gateway, or the packet's destination when on-link */
	__u32 dst[4];		/* the packet's destination */
};

/* The member of a kernel multipath route's group that is the kernel's own choice k. Returns 0
 * with *nh_id set, or a punt reason: none is (the kernel's table holds something else now),
 * or its neighbour failed (the kernel sends there all the same, and deals with it; taking
 * another member would split the flow). */
/* Verified alone, as a global function: it cannot know its callers never pass NULL. */
__attribute__((noinline)) int steer_kernel_member(const struct steer_lookup *res,
						  const struct steer_kernel_nh *k, __u32 *nh_id)
{
	struct steer_group *g;
	__u32 i;

	if (!res || !k || !nh_id)
		return STEER_STAT_PUNT_MULTIPATH;
	g = bpf_map_lookup_elem(&steer_groups, &res->nh_id);
	if (!g)
		return STEER_STAT_PUNT_MISSING_REF;
	/* Unrolled: constant offsets into nh_ids (see steer_pick_nexthop()). */
#pragma unroll
	for (i = 0; i < STEER_MAX_PATHS; i++) {
		struct steer_nexthop *nh;
		__u32 id, want[4];

		if (i >= g->count)
			break;
		id = g->nh_ids[i];
		nh = bpf_map_lookup_elem(&steer_nexthops, &id);
		if (!nh || nh->ifindex != k->ifindex)
			continue;
		if (nh->family)
			__builtin_memcpy(want, nh->gw, 16);
		else
			__builtin_memcpy(want, k->dst, 16);
		if (want[0] != k->addr[0] || want[1] != k->addr[1] || want[2] != k->addr[2] ||
		    want[3] != k->addr[3])
			continue;
		if (nh->flags & STEER_NH_NEIGH_FAILED)
			return STEER_STAT_PUNT_LINK_DOWN;
		*nh_id = id;
		return 0;
	}
	return STEER_STAT_PUNT_MULTIPATH;
}

#ifndef BPF_FIB_LOOKUP_SKIP_NEIGH	/* Linux 6.5 */
#define BPF_FIB_LOOKUP_SKIP_NEIGH (1U << 2)
#endif
#ifndef BPF_FIB_LOOKUP_TBID		/* Linux 6.7 */
#define BPF_FIB_LOOKUP_TBID (1U << 3)
#endif

/* Asks the kernel which member of a multipath route in res->table it takes for this packet:
 * bpf_fib_lookup() on that table alone (DIRECT, TBID) runs the same fib_select_path() /
 * fib6_select_path() as the forward path, with the same hash, seed included, wherever that
 * hash reads only what the lookup is given: policy 0 (IPv4: the addresses; IPv6: addresses,
 * flow label and the fixed header's next header), no ICMP error (the forward path hashes the
 * quoted packet), no IPv6 extension headers (the lookup is given the transport protocol), no
 * ICMPv6 with a flow label (ip6_route_input() hashes ICMPv6 up front, and where rules need the
 * flow dissector, with the label in the dissector's host order).
 * IPv4's fib_select_multipath() also prefers a member whose own source address is the
 * packet's source; a forwarded packet with a local source fails the source check first.
 * Returns 0 with *nh_id set, or a punt reason. A function of its own: its stack is not added
 * to the source check's. */
/* Verified alone, as a global function: it cannot know its callers never pass NULL. */
__attribute__((noinline)) int steer_kernel_pick(struct __sk_buff *skb, const struct steer_pkt *pkt,
						const struct steer_lookup *res, __u32 state_flags,
						__u32 *nh_id)
{
	struct bpf_fib_lookup fib = {};
	struct steer_kernel_nh k = {};
	int r;

	/* (skb is the context, never NULL; comparing it is refused without CAP_PERFMON.) */
	if (!pkt || !res || !nh_id)
		return STEER_STAT_PUNT_MULTIPATH;
	if (!(state_flags & (pkt->family == STEER_AF_INET ? STEER_STATE_MP_KERNEL4
							   : STEER_STATE_MP_KERNEL6)) ||
	    pkt->icmp_err || pkt->proto != pkt->nexthdr || !res->table ||
	    (pkt->proto == IPPROTO_ICMPV6 && (pkt->flowinfo & bpf_htonl(IPV6_FLOWINFO_FLOWLABEL))))
		return STEER_STAT_PUNT_MULTIPATH;
	fib.family = pkt->family;
	fib.l4_protocol = pkt->nexthdr;
	fib.sport = bpf_htons(pkt->sport);
	fib.dport = bpf_htons(pkt->dport);
	fib.ifindex = pkt->iif;
	if (pkt->family == STEER_AF_INET) {
		fib.tos = pkt->tos;
		fib.ipv4_src = pkt->src[0];
		fib.ipv4_dst = pkt->dst[0];
	} else {
		fib.flowinfo = pkt->flowinfo & bpf_htonl(IPV6_FLOWINFO_PRIORITY | IPV6_FLOWINFO_FLOWLABEL);
		__builtin_memcpy(fib.ipv6_src, pkt->src, 16);
		__builtin_memcpy(fib.ipv6_dst, pkt->dst, 16);
	}
	fib.tbid = res->table;
	r = bpf_fib_lookup(skb, &fib, sizeof(fib),
			   BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_TBID | BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (r == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return STEER_STAT_PUNT_MTU;
	if (r != BPF_FIB_LKUP_RET_SUCCESS || fib.family != pkt->family)
		return STEER_STAT_PUNT_MULTIPATH;
	k.ifindex = fib.ifindex;
	__builtin_memcpy(k.dst, pkt->dst, 16);
	if (pkt->family == STEER_AF_INET)
		k.addr[0] = fib.ipv4_dst;
	else
		__builtin_memcpy(k.addr, fib.ipv6_dst, 16);
	return steer_kernel_member(res, &k, nh_id);
}

/* The kernel checks the source of every forwarded IPv4 packet with a reverse lookup
 * (fib_validate_source): as if the packet came in on the output device, addresses and
 * ports swapped, without the mark (src_valid_mark is off by default). A source that
 * resolves to a local, broadcast or multicast route is dropped; one that resolves to nothing
 * or to a reject is accepted, unless rp_filter says it must route back at all (loose) or
 * via iif (strict). Returns 0 when the kernel would accept it, a punt reason otherwise. */
/* Verified alone, as a global function: it cannot know its callers never pass NULL. */
__attribute__((noinline)) int steer_check_source(const struct steer_flow *fwd, __u32 oif,
						 __u32 rp_filter)
{
	struct steer_flow rev;
	struct steer_lookup res = {};
	struct steer_nexthop *nh;
	struct steer_group *g;
	__u32 i;
	int r;

	if (!fwd)
		return STEER_STAT_PUNT_SOURCE_CHECK;
	rev = *fwd;
	__builtin_memcpy(rev.src, fwd->dst, 16);
	__builtin_memcpy(rev.dst, fwd->src, 16);
	rev.sport = fwd->dport;
	rev.dport = fwd->sport;
	rev.iif = oif;
	rev.mark = 0;
	rev.mode = STEER_WALK_REVERSE;
	r = steer_lookup(&rev, &res, 1);
	/* An error (no route, blackhole, unreachable, prohibit) is the kernel's "last resort":
	 * accepted unless rp_filter is on. */
	if (r == STEER_LOOKUP_NO_ROUTE || r == STEER_LOOKUP_DROP ||
	    (r == STEER_LOOKUP_PUNT && (res.reason == STEER_STAT_PUNT_UNREACHABLE ||
					res.reason == STEER_STAT_PUNT_PROHIBIT)))
		return rp_filter ? STEER_STAT_PUNT_SOURCE_CHECK : 0;
	if (r != STEER_LOOKUP_FORWARD)
		return STEER_STAT_PUNT_SOURCE_CHECK;
	if (rp_filter != 1)
		return 0;
	/* Strict: the kernel asks whether any next hop of the route, used or not, alive or
	 * not, goes out by iif (fib_info_nh_uses_dev). A group here holds members the kernel
	 * has, so a member on iif is the kernel's yes; none found punts (the kernel drops, or
	 * knows a member steer does not). */
	if (res.route_type == STEER_RT_FORWARD) {
		nh = bpf_map_lookup_elem(&steer_nexthops, &res.nh_id);
		return nh && nh->ifindex == fwd->iif ? 0 : STEER_STAT_PUNT_SOURCE_CHECK;
	}
	if (res.route_type != STEER_RT_MULTIPATH)
		return STEER_STAT_PUNT_SOURCE_CHECK;
	g = bpf_map_lookup_elem(&steer_groups, &res.nh_id);
	if (!g)
		return STEER_STAT_PUNT_SOURCE_CHECK;
	/* Unrolled: constant offsets into nh_ids (see steer_pick_nexthop()). */
#pragma unroll
	for (i = 0; i < STEER_MAX_PATHS; i++) {
		if (i >= g->count)
			break;
		nh = bpf_map_lookup_elem(&steer_nexthops, &g->nh_ids[i]);
		if (nh && nh->ifindex == fwd->iif)
			return 0;
	}
	return STEER_STAT_PUNT_SOURCE_CHECK;
}

/* Whether a route of this type in the local table makes the kernel refuse a source the
 * fast path cannot judge: a punt reason, or 0. */
static __always_inline int local_source_type(__u8 type)
{
	return type == STEER_RT_PUNT || type == STEER_RT_PENDING ? STEER_STAT_PUNT_SOURCE_CHECK : 0;
}

/* local_source() from the trie, where the arrays cannot say. A function of its own, so that
 * its key is not on the stack of the forward path, whose deepest calls (the strict check's
 * reverse walk) have little room left. */
static __attribute__((noinline)) int local_source_trie(__u32 src)
{
	struct steer_route_key key = { .prefixlen = STEER_ROUTE_KEY_BITS(32),
				       .table = STEER_TABLE_LOCAL, .family = STEER_AF_INET };
	struct steer_route *p;

	__builtin_memcpy(key.addr, &src, 4);
	p = bpf_map_lookup_elem(&steer_routes, &key);
	return p ? local_source_type(p->type) : 0;
}

/* With rp_filter off, only a local source fails the kernel's check: the local table's
 * answer for it, a punt reason or 0. The arrays' leaf itself, without a route filled from
 * it: this runs for every new IPv4 flow. No route (leaf 0) is type 0. */
static __always_inline int local_source(__u32 src)
{
	__u32 leaf = steer_fib4_leaf(STEER_TABLE_LOCAL, src);

	if (leaf == STEER_FIB4_TRIE)
		return local_source_trie(src);
	return local_source_type(STEER_FIB4_LEAF_TYPE(leaf));
}

/* The kernel validates the source against the output device of the next hop it picked
 * (fib_validate_source() after fib_select_multipath()), and that is the next hop the
 * forward path here took: the kernel's own pick for its multipath routes, the flow's
 * member for a steer.yaml group. */
static __always_inline int check_source(const struct steer_flow *fwd, __u32 oif, __u32 rp_filter,
					__u32 state_flags)
{
	if (!rp_filter && (state_flags & STEER_STATE_LOCAL_SRC_CHECK4))
		return local_source(fwd->src[0]);
	return steer_check_source(fwd, oif, rp_filter);
}

/* ip_decrease_ttl(): one less TTL, and the header checksum fixed to match. */
static __always_inline void ipv4_ttl_dec(struct iphdr *iph)
{
	__u32 check = iph->check;

	check += bpf_htons(0x0100);
	iph->check = (__u16)(check + (check >= 0xffff));
	iph->ttl--;
}

/* Returns 0 after decrementing TTL (and fixing the header checksum, as ip_decrease_ttl()
 * does) or the hop limit; a punt reason if the header is out of reach. */
static __always_inline int decrement_ttl(struct __sk_buff *skb, __u8 family, __u8 l2)
{
	void *data_end = (void *)(long)skb->data_end;

	if (family == STEER_AF_INET) {
		struct iphdr *iph = l3_header(skb, l2);

		if ((void *)(iph + 1) > data_end)
			return STEER_STAT_PUNT_MALFORMED;
		ipv4_ttl_dec(iph);
	} else {
		struct ipv6hdr *ip6h = l3_header(skb, l2);

		if ((void *)(ip6h + 1) > data_end)
			return STEER_STAT_PUNT_MALFORMED;
		/* The kernel drops CHECKSUM_COMPLETE when forwarding; we keep it right
		 * instead: the word holding the hop limit (with the payload length and next
		 * header) changes, nothing compensates. */
		__be32 *word = (__be32 *)&ip6h->payload_len, old = *word, new;

		ip6h->hop_limit--;
		new = *word;
		bpf_csum_update(skb, bpf_csum_diff(&old, 4, &new, 4, 0));
	}
	return 0;
}

/* ip_forward() sets the priority the egress qdisc classifies by from the TOS byte (unless
 * net.ipv4.ip_forward_update_priority is 0):
 * rt_tos2priority(), the ip_tos2prio table (net/ipv4/route.c) indexed by IPTOS_TOS(tos) >> 1,
 * here one nibble per entry: 0 best effort, 2 bulk, 4 interactive bulk, 6 interactive. */
static __always_inline __u32 tos2priority(__u8 tos)
{
	return (__u32)(0x4444666622220000ull >> (((tos & IPTOS_TOS_MASK) >> 1) * 4)) & 0xf;
}

#define STEER_IPV6_MIN_MTU 1280
#define STEER_IPV4_MIN_MTU 68

/* Returns 0 when the kernel's forward path would send the packet out of `out` (ifindex oif)
 * as it is, STEER_STAT_PUNT_MTU when it would not (ICMP frag-needed or Packet Too Big, or
 * IPv4 fragmentation without DF). ip_forward() checks the L3 length against the device MTU,
 * or each segment's for a GSO packet (ip_exceeds_mtu()); ip6_forward() the same against the
 * device's IPv6 MTU, net.ipv6.conf.DEV.mtu (ip6_pkt_too_big()). */
static __always_inline int check_mtu(struct __sk_buff *skb, const struct steer_pkt *pkt,
				     __u32 oif, const struct steer_link *out, __u32 state_flags)
{
	__u32 mtu = 0, mtu6;

	/* With ip_forward_use_pmtu on, a path MTU learnt for the destination counts too, and
	 * could be anything the kernel accepts as one. */
	if (pkt->family == STEER_AF_INET && (state_flags & STEER_STATE_FWD_PMTU4) &&
	    pkt->ip_len > STEER_IPV4_MIN_MTU)
		return STEER_STAT_PUNT_MTU;

	if (skb->gso_size) {
		/* bpf_check_mtu() compares skb->len (from the link-layer header on) with the
		 * device MTU plus the egress link-layer header, then, for a GSO packet, each
		 * segment's L3 length (BPF_MTU_CHK_SEGS, which takes no length of ours). */
		if (bpf_check_mtu(skb, oif, &mtu, 0, BPF_MTU_CHK_SEGS))
			return STEER_STAT_PUNT_MTU;
		/* Without a header of its own skb->len is the L3 length, and the allowance
		 * for the egress header would let up to that much more through whole. */
		if (pkt->l2 == STEER_L2_NONE && pkt->ip_len > mtu)
			return STEER_STAT_PUNT_MTU;
	} else if (out->mtu) {
		/* What the helper would compare, given the L3 length (below), without asking:
		 * the device's MTU as steerd last heard it (a link change punts everything
		 * until the maps have it). */
		mtu = out->mtu;
		if (pkt->ip_len > mtu)
			return STEER_STAT_PUNT_MTU;
	} else {
		/* Given the L3 length, the helper compares exactly that with the MTU. */
		mtu = pkt->ip_len;
		if (bpf_check_mtu(skb, oif, &mtu, 0, 0))
			return STEER_STAT_PUNT_MTU;
	}
	if (pkt->family != STEER_AF_INET6)
		return 0;
	/* The IPv6 MTU is at most the device's (mtu now holds that): a GSO packet is exact
	 * only when they are the same, as the helper measured its segments against the
	 * device's. Unknown: the kernel's floor. */
	mtu6 = out->mtu6 ? out->mtu6 : STEER_IPV6_MIN_MTU;
	if (skb->gso_size ? mtu6 < mtu : pkt->ip_len > mtu6)
		return STEER_STAT_PUNT_MTU;
	return 0;
}

#ifndef STEER_CT
/* The plain object: no conntrack offload (it must load without the kernel's BTF). */
struct steer_nat {
	__u32 ndst[4];
	__be16 ndport;
	__u8 snat, dnat;
};
#endif

/* Whether a packet netfilter would see may skip it (netfilter: offload, a connection the
 * ruleset marked): 0 with *nat set to the NAT to apply, or the punt reason. */
static __always_inline int netfilter_offload(struct __sk_buff *skb, const struct steer_pkt *pkt,
					     const struct steer_state *st, struct steer_nat **nat,
					     const int egress)
{
#ifdef STEER_CT
	__u32 zero = 0;

	if (!egress && st->nf_mode == STEER_NF_OFFLOAD &&
	    (st->flags & (pkt->family == STEER_AF_INET ? STEER_STATE_CT_OFFLOAD4 : STEER_STATE_CT_OFFLOAD6))) {
		struct steer_nat *n = bpf_map_lookup_elem(&steer_ct_scratch, &zero);
		int r;

		if (!n)
			return STEER_STAT_PUNT_NETFILTER;
		r = steer_ct_offload(skb, pkt, st, n);
		if (!r)
			*nat = n;
		return r;
	}
#endif
	return STEER_STAT_PUNT_NETFILTER;
}

static __always_inline int nat_rewrite(struct __sk_buff *skb, const struct steer_pkt *pkt,
				       const struct steer_nat *nat)
{
#ifdef STEER_CT
	return ct_rewrite(skb, pkt, nat, sizeof(struct ethhdr));
#else
	return -1;
#endif
}

/* This CPU's copies of the devices frames arrive on and leave by. steer_links is a hash
 * map, and its lookup was the dearest step a cached packet still took, and one of a new
 * flow's. A slot holds a copy taken under an epoch and stands while the epoch does: every
 * write to steer_links moves it. The frame's device has the first half of the slots, the
 * next hop's the second, so one run uses one slot of each and never sees either refilled
 * under its feet (runs do not interleave on a CPU). */
#define STEER_LINK_CACHE_SLOTS 64

struct steer_link_slot {
	__u64 epoch;
	__u32 ifindex;
	__u32 pad;
	struct steer_link link;
};

STEER_MAP(steer_link_cache, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct steer_link_slot,
	  2 * STEER_LINK_CACHE_SLOTS);

/* Device ifindex as steer_links has it under epoch (read before it), or NULL, through the
 * half of the cache at base. Always a pointer into the cache, so that the verifier sees one
 * kind of pointer and can prune. Filling it is invisible: explain fills it too. */
static __always_inline struct steer_link *cached_link(__u32 ifindex, __u64 epoch, __u32 base)
{
	__u32 slot = base + (ifindex & (STEER_LINK_CACHE_SLOTS - 1));
	struct steer_link_slot *c = bpf_map_lookup_elem(&steer_link_cache, &slot);
	struct steer_link *l;

	if (!c)
		return NULL;
	if (c->epoch != epoch || c->ifindex != ifindex) {
		l = bpf_map_lookup_elem(&steer_links, &ifindex);
		if (!l)
			return NULL;
		c->epoch = epoch;
		c->ifindex = ifindex;
		c->link = *l;
	}
	return &c->link;
}

/* The device a frame is on. */
static __always_inline struct steer_link *frame_link(__u32 ifindex, __u64 epoch)
{
	return cached_link(ifindex, epoch, 0);
}

/* The device a next hop leaves by. */
static __always_inline struct steer_link *out_link(__u32 ifindex, __u64 epoch)
{
	return cached_link(ifindex, epoch, STEER_LINK_CACHE_SLOTS);
}

/* The flow cache slot of a flow (any slot for any flow is correct; a good spread only keeps
 * more of them): a sum of its six double words, each times an odd factor of its own, folded
 * to 32 bits, then murmur3's finaliser. Flows that differ in one double word differ in the
 * sum (an odd factor is a bijection), the fold keeps the high half's difference, and the
 * finaliser, a bijection, spreads it to the low bits the mask keeps. The products do not
 * wait on each other: a chain of multiplies, each waiting on the one before, cost every
 * packet. */
static __always_inline __u32 flow_slot(const struct steer_flow *f)
{
	const __u64 *w = (const __u64 *)f;
	__u64 s = 0x5e7e1ea5u;
	__u32 h;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*f) / 8); i++)
		s += w[i] * (0x9e3779b97f4a7c15ull + (__u64)i * 0x7f4a7c159e3779b2ull);
	h = (__u32)(s >> 32) ^ (__u32)s;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ h >> 16;
}

static __always_inline int flow_eq(const struct steer_flow *a, const struct steer_flow *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 d = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*a) / 8); i++)
		d |= x[i] ^ y[i];
	return !d;
}

/* Whether the state lets the maps decide at all: 0, or why not. */
static __always_inline int state_gate(const struct steer_state *st)
{
	if (!st->synced)
		return STEER_STAT_PUNT_NOT_SYNCED;
	/* The coarse clock (one tick of resolution) costs a load, not a clocksource read. */
	if (st->stale_after_ns &&
	    (__s64)(bpf_ktime_get_coarse_ns() - st->heartbeat_ns) > (__s64)st->stale_after_ns)
		return STEER_STAT_PUNT_STALE;
	if (st->flags & STEER_STATE_PENDING)
		return STEER_STAT_PUNT_PENDING;
	return 0;
}

/* Whether the kernel forwards this family from the routing ingress `in`, with nothing
 * between XDP or TC and the routing decision that a redirect would skip. */
static __always_inline int check_ingress(const struct steer_link *in, __u8 family)
{
	if (!in || !(in->flags & STEER_LINK_UP) ||
	    !(in->flags & (family == STEER_AF_INET ? STEER_LINK_FWD4 : STEER_LINK_FWD6)))
		return STEER_STAT_PUNT_IIF;
	/* An ingress chain on this device runs after TC: redirecting would skip it. */
	if (in->flags & STEER_LINK_NF_INGRESS)
		return STEER_STAT_PUNT_NETFILTER;
	return 0;
}

static __always_inline void make_flow(struct steer_flow *flow, const struct steer_pkt *pkt,
				      __u32 mark, const int egress)
{
	__builtin_memcpy(flow->src, pkt->src, 16);
	__builtin_memcpy(flow->dst, pkt->dst, 16);
	flow->iif = egress ? 0 : pkt->iif;
	flow->mark = mark;
	flow->mode = egress ? STEER_WALK_EGRESS : STEER_WALK_INGRESS;
	flow->sport = pkt->sport;
	flow->dport = pkt->dport;
	flow->family = pkt->family;
	flow->tos = pkt->tos;
	flow->proto = pkt->proto;
}

/* The flow's slot in this CPU's flow cache (*fs, NULL when the cache is off), and whether
 * it holds this flow decided under this epoch: then its rule, table, next hop and link
 * stand until steerd writes anything. */
static __always_inline int flow_cache_find(const struct steer_state *st, const struct steer_flow *flow,
					   __u64 epoch, struct steer_flow_slot **fs)
{
	__u32 slot;

	*fs = NULL;
	if (!st->flow_mask)
		return 0;
	slot = flow_slot(flow) & st->flow_mask;
	*fs = bpf_map_lookup_elem(&steer_flows, &slot);
	return *fs && (*fs)->epoch == epoch && cfg_bench != 2 && flow_eq(&(*fs)->key, flow);
}

/* Everything the decision depends on is the flow's and the maps': keep it. This CPU's
 * slot: nobody else writes it, and nothing reads it half-written (neither an XDP nor a TC
 * program is interrupted by another on its CPU). */
static __always_inline void flow_cache_fill(struct steer_flow_slot *fs, const struct steer_flow *flow,
					    __u64 epoch, __u32 nh_id, const struct steer_lookup *res,
					    const struct steer_nexthop *nh, const struct steer_link *out)
{
	fs->key = *flow;
	fs->epoch = epoch;
	fs->nh_id = nh_id;
	fs->rule_id = res->rule_id;
	fs->priority = res->priority;
	fs->table = res->table;
	fs->nh = *nh;
	fs->out = *out;
}

/* What the chosen next hop must pass, from the maps alone: not back out the way it came
 * (the kernel also sends a redirect then; iif 0 at egress), a link that is up, and no
 * egress netfilter chain there, which a redirect would skip. */
static __always_inline int check_out(const struct steer_nexthop *nh, const struct steer_link *out,
				     __u32 iif)
{
	if (nh->ifindex == iif)
		return STEER_STAT_PUNT_HAIRPIN;
	if (!out || !(out->flags & STEER_LINK_UP))
		return STEER_STAT_PUNT_LINK_DOWN;
	if (out->flags & STEER_LINK_NF_EGRESS)
		return STEER_STAT_PUNT_NETFILTER;
	return 0;
}

/* One body for both directions; `egress` is a constant at each call, so the verifier sees
 * two straight programs. Ingress routes like the kernel would; egress only applies the
 * steer.yaml policies to what the kernel has already routed. */
static __always_inline int steer_main(struct __sk_buff *skb, struct steer_pkt *pkt, const int quiet,
				      const int egress)
{
	struct steer_flow flow = {};
	struct steer_lookup res = {};
	struct bpf_redir_neigh nhp = {};
	struct steer_nexthop *nh;
	struct steer_link *dev, *in = NULL, *out;
	struct steer_nat *nat = NULL;	/* set for a connection netfilter offloaded */
	struct steer_state *st;
	struct steer_flow_slot *fs = NULL;
	struct steer_counters *cs;
	__u32 zero = 0, nh_id = 0, ifindex = skb->ifindex;
	__u64 epoch;
	__u16 proto = 0;
	int r, cached = 0, kernel_pick = 0;

	/* cb[1..4] are set wherever the decision gets that far; callers of the test run pass
	 * them in zeroed. (Zeroing them here makes clang address cb through a derived ctx
	 * pointer, which the verifier refuses.) */
	skb->cb[STEER_CB_VERDICT] = 0;
	st = bpf_map_lookup_elem(&steer_state, &zero);
	if (!st)
		return punt(skb, STEER_STAT_PUNT_NOT_SYNCED, quiet, cached);
	/* The epoch before any map the decision reads: steerd writes the maps first and the
	 * state last, so what is cached below under this epoch is no newer than it. */
	epoch = st->epoch;
	barrier();
	r = state_gate(st);
	if (r)
		return punt(skb, r, quiet, cached);
	if (!egress && skb->pkt_type != PACKET_HOST)
		return punt(skb, STEER_STAT_PUNT_NOT_FOR_US, quiet, cached);

	/* The device the frame is on says what its link layer is. */
	dev = frame_link(ifindex, epoch);
	r = parse_l2(skb, pkt, &steer_vlans, dev ? dev->flags : STEER_LINK_L2_OTHER, &proto);
	if (r)
		return punt(skb, r, quiet, cached);
	if (proto == bpf_htons(ETH_P_IP))
		r = parse_ipv4((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, pkt);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = parse_ipv6((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, pkt);
	else
		r = STEER_STAT_PUNT_NOT_IP;
	if (!r)
		r = parse_l4(skb, pkt);
	if (r)
		return punt(skb, r, quiet, cached);
	/* The family's ruleset would see this packet on its way through the kernel: it goes
	 * there, unless it belongs to a connection the ruleset marked for offload. */
	if (st->flags & (pkt->family == STEER_AF_INET ? STEER_STATE_NF4 : STEER_STATE_NF6)) {
		r = netfilter_offload(skb, pkt, st, &nat, egress);
		if (r || !nat)
			return punt(skb, r ? r : STEER_STAT_PUNT_NETFILTER, quiet, cached);
		/* Routed as the kernel routes it: after DNAT, before SNAT. */
		if (nat->dnat) {
			__builtin_memcpy(pkt->dst, nat->ndst, 16);
			pkt->dport = bpf_ntohs(nat->ndport);
		}
	}

	if (!egress) {
		/* Untagged, the routing ingress is the device the frame is on, looked up above. */
		in = pkt->iif == ifindex ? dev : bpf_map_lookup_elem(&steer_links, &pkt->iif);
		r = check_ingress(in, pkt->family);
		if (r)
			return punt(skb, r, quiet, cached);
	}

	make_flow(&flow, pkt, skb->mark, egress);

	/* A flow decided under this epoch needs no walk. explain always walks. */
	if (!quiet && flow_cache_find(st, &flow, epoch, &fs)) {
		nh_id = fs->nh_id;
		res.priority = fs->priority;
		res.table = fs->table;
		count_in(&steer_rule_hits, fs->rule_id, quiet);
		nh = &fs->nh;
		out = &fs->out;
		cached = 1;
		goto have_link;
	}

	r = steer_lookup(&flow, &res, quiet);
	skb->cb[STEER_CB_PRIORITY] = res.priority;
	skb->cb[STEER_CB_TABLE] = res.table;
	if (r == STEER_LOOKUP_NO_ROUTE)
		return punt(skb, egress ? STEER_STAT_EGRESS_PASS : STEER_STAT_PUNT_NO_ROUTE, quiet, cached);
	if (r == STEER_LOOKUP_DROP)
		return drop(skb, STEER_STAT_DROP_BLACKHOLE, quiet, cached);
	if (r != STEER_LOOKUP_FORWARD)
		return punt(skb, res.reason, quiet, cached);

	r = steer_pick_nexthop(&res, &flow, &nh_id);
	if (r == STEER_PICK_KERNEL) {
		r = steer_kernel_pick(skb, pkt, &res, st->flags, &nh_id);
		if (r)
			return punt(skb, r, quiet, cached);
		/* The kernel's pick hashes what the flow key does not hold (the flow label):
		 * never cached. */
		kernel_pick = 1;
	} else if (r) {
		return punt(skb, res.route_type == STEER_RT_MULTIPATH ? STEER_STAT_PUNT_LINK_DOWN
								      : STEER_STAT_PUNT_MISSING_REF, quiet, cached);
	}
	nh = bpf_map_lookup_elem(&steer_nexthops, &nh_id);
	if (!nh || !nh->ifindex)
		return punt(skb, STEER_STAT_PUNT_MISSING_REF, quiet, cached);
	out = out_link(nh->ifindex, epoch);
have_link:
	skb->cb[STEER_CB_PRIORITY] = res.priority;
	skb->cb[STEER_CB_TABLE] = res.table;
	skb->cb[STEER_CB_OIF] = nh->ifindex;
	skb->cb[STEER_CB_NH] = nh_id;
	/* At egress, a packet already leaving by the policy's device goes as it is: it is
	 * either one we redirected here (its next hop is resolved) or one the kernel sent this
	 * way itself; redirecting it again would loop. */
	if (egress && nh->ifindex == skb->ifindex)
		return punt(skb, STEER_STAT_EGRESS_PASS, quiet, cached);
	r = check_out(nh, out, egress ? 0 : pkt->iif);
	if (r)
		return punt(skb, r, quiet, cached);

	if (!cached && !egress && pkt->family == STEER_AF_INET && cfg_source_check) {
		r = check_source(&flow, nh->ifindex, in->rp_filter, st->flags);
		if (r)
			return punt(skb, r, quiet, cached);
	}
	/* Everything so far depends on the flow and the maps alone; what follows (MTU, TTL)
	 * on the packet, and is checked on every one. */
	if (fs && !cached && !kernel_pick)
		flow_cache_fill(fs, &flow, epoch, nh_id, &res, nh, out);

	r = check_mtu(skb, pkt, nh->ifindex, out, st->flags);
	if (r)
		return punt(skb, r, quiet, cached);

	/* The helper's next hop: the gateway, or for an on-link route the packet's own
	 * destination. Given none, bpf_redirect_neigh() would look a route up itself, as if
	 * sent from this host (no iif, no ports, no mark), and could take another route's
	 * gateway, or drop. */
	if (nh->family == STEER_AF_INET) {
		nhp.nh_family = STEER_AF_INET;
		__builtin_memcpy(&nhp.ipv4_nh, nh->gw, 4);
	} else if (nh->family == STEER_AF_INET6) {
		nhp.nh_family = STEER_AF_INET6;
		__builtin_memcpy(nhp.ipv6_nh, nh->gw, 16);
	} else if (pkt->family == STEER_AF_INET) {
		nhp.nh_family = STEER_AF_INET;
		nhp.ipv4_nh = pkt->dst[0];
	} else {
		nhp.nh_family = STEER_AF_INET6;
		__builtin_memcpy(nhp.ipv6_nh, pkt->dst, 16);
	}

	/* Decided: from here on the packet is ours and is changed. At egress the kernel has
	 * done the forwarding's rewrite already (or the packet is its own). */
	if (cfg_bench)
		goto redirect;
	/* bpf_redirect_neigh() strips an Ethernet header before it hands the packet on (and
	 * drops one that has no link-layer header at all): give a frame from a device without
	 * one an empty header to strip. First, so a failure leaves the packet as it came. */
	if (pkt->l2 == STEER_L2_NONE) {
		if (bpf_skb_change_head(skb, sizeof(struct ethhdr), 0))
			return punt(skb, STEER_STAT_PUNT_REDIRECT, quiet, cached);
		pkt->l2 = STEER_L2_ETH;
	}
	if (egress)
		goto redirect;
	if (pkt->l2 == STEER_L2_ETH_TAG || skb->vlan_present) {
		if (bpf_skb_vlan_pop(skb))
			return punt(skb, STEER_STAT_PUNT_VLAN, quiet, cached);
		pkt->l2 = STEER_L2_ETH;
	}
	/* The kernel trims link-layer padding (short frames) before forwarding; so do we. */
	if (pkt->pad_len && bpf_skb_change_tail(skb, skb->len - pkt->pad_len, 0))
		return punt(skb, STEER_STAT_PUNT_MALFORMED, quiet, cached);
	r = decrement_ttl(skb, pkt->family, pkt->l2);
	if (r)
		return punt(skb, r, quiet, cached);
	if (pkt->family == STEER_AF_INET && !(st->flags & STEER_STATE_KEEP_PRIO4))
		skb->priority = tos2priority(pkt->tos);
	/* Last, with nothing left to fail but the redirect: a punted packet must reach the
	 * kernel as it came, or conntrack would not know it. */
	if (nat && (nat->snat || nat->dnat) && nat_rewrite(skb, pkt, nat))
		return drop(skb, STEER_STAT_DROP_REWRITE, quiet, cached);

redirect:
	skb->cb[STEER_CB_VERDICT] = STEER_VERDICT_FORWARD << 16 |
				    (nat ? STEER_STAT_OFFLOADED : STEER_STAT_FORWARDED);
	r = bpf_redirect_neigh(nh->ifindex, &nhp, sizeof(nhp), 0);
	/* The packet's counts in one lookup (the hot path's only one but its rule's hits). */
	cs = quiet ? NULL : bpf_map_lookup_elem(&steer_stats, &zero);
	if (cs) {
		/* Adds of 0 or 1 at fixed places: were the place picked by branch, clang would
		 * add a per-path offset to cs, which the verifier refuses without CAP_PERFMON. */
		cs->n[STEER_STAT_RX] += 1;
		cs->n[STEER_STAT_FORWARDED] += r == TC_ACT_REDIRECT;
		cs->n[STEER_STAT_PUNT_REDIRECT] += r != TC_ACT_REDIRECT;
		cs->n[STEER_STAT_CACHED] += cached;
		cs->n[STEER_STAT_OFFLOADED] += nat && r == TC_ACT_REDIRECT;
	}
	return r;
}

/* Whether addr (network order words) lies in the prefix; families must match. */
static __always_inline int in_prefix(__u8 family, const __u32 *addr, __u8 pfamily,
				     const __u32 *prefix, __u8 len)
{
	if (family != pfamily)
		return 0;
	for (int i = 0; i < 4; i++) {
		__u32 bits = len > 32 * i ? len - 32 * i : 0, mask;

		if (!bits)
			break;
		mask = bits >= 32 ? 0xffffffffu : bpf_htonl(~0u << (32 - bits));
		if ((addr[i] ^ prefix[i]) & mask)
			return 0;
	}
	return 1;
}

/* steerctl monitor: one event for the decision just made, if a listener holds the lease
 * and the packet passes its filters, its sampling and its rate. Reads one array entry
 * when nobody listens. */
static __always_inline void monitor(struct __sk_buff *skb, const struct steer_pkt *pkt, int r,
				    const int egress)
{
	__u32 zero = 0, cb0 = skb->cb[STEER_CB_VERDICT], verdict = cb0 >> 16, reason = cb0 & 0xffff;
	struct steer_monitor *m = bpf_map_lookup_elem(&steer_monitor, &zero);
	struct steer_event *e;
	__u64 now, second;

	if (!m || !m->until_ns)
		return;
	now = bpf_ktime_get_coarse_ns();
	if (now >= m->until_ns)
		return;
	/* A forward the redirect refused went to the kernel after all. */
	if (verdict == STEER_VERDICT_FORWARD && r != TC_ACT_REDIRECT) {
		verdict = STEER_VERDICT_PUNT;
		reason = STEER_STAT_PUNT_REDIRECT;
	}
	if ((m->verdicts && !(m->verdicts & 1u << (verdict & 31))) ||
	    (m->reasons && !(m->reasons & 1ull << (reason & 63))) ||
	    (m->iif && m->iif != (pkt->iif ? pkt->iif : skb->ifindex)) ||
	    (m->src_family && !in_prefix(pkt->family, pkt->src, m->src_family, m->src, m->src_len)) ||
	    (m->dst_family && !in_prefix(pkt->family, pkt->dst, m->dst_family, m->dst, m->dst_len)))
		return;
	if (m->sample > 1 && __sync_fetch_and_add(&m->matched, 1) % m->sample)
		return;
	if (m->sample <= 1)
		__sync_fetch_and_add(&m->matched, 1);
	/* A window per second of the coarse clock; CPUs racing at its turn may let a few
	 * more through, never a second's worth. */
	second = now / 1000000000ull;
	if (m->window != second) {
		m->window = second;
		m->in_window = 0;
	}
	if (__sync_fetch_and_add(&m->in_window, 1) >= m->rate) {
		__sync_fetch_and_add(&m->rate_limited, 1);
		return;
	}
	e = bpf_ringbuf_reserve(&steer_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&m->lost, 1);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->src, pkt->src, 16);
	__builtin_memcpy(e->dst, pkt->dst, 16);
	e->iif = pkt->iif ? pkt->iif : skb->ifindex;
	e->len = skb->len;
	e->sport = pkt->sport;
	e->dport = pkt->dport;
	e->family = pkt->family;
	e->proto = pkt->proto;
	e->verdict = (__u8)verdict;
	e->reason = (__u8)reason;
	e->egress = (__u8)egress;
	/* cb[1..4] were zeroed before the decision (a listener was there): what is set, the
	 * decision set. */
	e->priority = skb->cb[STEER_CB_PRIORITY];
	e->table = skb->cb[STEER_CB_TABLE];
	if (verdict == STEER_VERDICT_FORWARD) {
		__u32 nh_id = skb->cb[STEER_CB_NH];
		struct steer_nexthop *nh = bpf_map_lookup_elem(&steer_nexthops, &nh_id);

		e->oif = skb->cb[STEER_CB_OIF];
		if (nh && nh->family) {
			e->gw_family = nh->family;
			__builtin_memcpy(e->gw, nh->gw, 16);
		}
	}
	bpf_ringbuf_submit(e, 0);
}

/* Whether a listener holds the monitor's lease (not checked against the clock: monitor()
 * does that). */
static __always_inline int monitoring(void)
{
	__u32 zero = 0;
	struct steer_monitor *m = bpf_map_lookup_elem(&steer_monitor, &zero);

	return m && m->until_ns;
}

/* The entry points: the decision, then the monitor's look at it. The packet's parse lives
 * here so the monitor sees what the decision saw. */
static __always_inline int steer_run(struct __sk_buff *skb, const int egress)
{
	/* BPF_PROG_TEST_RUN callers (steerctl explain) ask without moving counters, and
	 * without events. */
	int quiet = skb->cb[STEER_CB_VERDICT] == STEER_CB_EXPLAIN;
	int watch = !quiet && monitoring();
	struct steer_pkt pkt = {};
	int r;

	/* What a live packet's cb holds is not ours: the monitor reads only what the
	 * decision wrote. */
	if (watch) {
		skb->cb[STEER_CB_OIF] = 0;
		barrier_var(skb);
		skb->cb[STEER_CB_PRIORITY] = 0;
		barrier_var(skb);
		skb->cb[STEER_CB_TABLE] = 0;
		barrier_var(skb);
		skb->cb[STEER_CB_NH] = 0;
	}
	r = steer_main(skb, &pkt, quiet, egress);
	if (watch)
		monitor(skb, &pkt, r, egress);
	return r;
}

SEC("tc")
int steer_ingress(struct __sk_buff *skb)
{
	return steer_run(skb, 0);
}

SEC("tc")
int steer_egress(struct __sk_buff *skb)
{
	return steer_run(skb, 1);
}

/* ---- The XDP stage ----
 *
 * The same decision from the same maps, before the kernel builds an skb. It finishes only
 * what it can finish alone: an untagged Ethernet frame for this host, a next hop whose
 * neighbour steerd mirrored with its MAC, out of a device in steer_xdp_tx, within its MTU.
 * Everything else goes on unchanged (XDP_PASS) to the TC program behind it, which decides
 * as it always has. Its counters are its own (steer_xdp_stats): a packet passed on is
 * counted again by TC. */

/* What the XDP stage decided, for its counters: the verdict word TC leaves in
 * skb->cb[STEER_CB_VERDICT]. Kept small: the stack is shared with the source check's walk. */
struct steer_xdp_out {
	__u32 verdict;
	__u32 rule_id;		/* a forward's or a drop's rule, for its hit counter */
	__u32 cached;
};

/* The XDP stage's parsed packet, off the stack: its chain of calls (the decision, the
 * source check's reverse walk) would not fit the 512 bytes with it there. One per CPU,
 * used from start to end of one run: XDP runs and test runs (softirqs off) do not
 * interleave on a CPU. */
STEER_MAP(steer_xdp_pkt, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct steer_pkt, 1);

static __always_inline int xdp_pass(struct steer_xdp_out *o, __u32 reason)
{
	o->verdict = STEER_VERDICT_PUNT << 16 | reason;
	return XDP_PASS;
}

/* `steerctl explain` asks with STEER_CB_EXPLAIN in the frame's first metadata word and
 * reads the decision back from the metadata, in skb->cb[]'s layout (STEER_CB_*); a live
 * frame has no metadata. Each helper checks the bounds itself rather than one handing back
 * the metadata pointer or NULL: without CAP_PERFMON the verifier refuses to compare a
 * packet pointer with NULL. */
static __always_inline int xdp_explain_asked(struct xdp_md *ctx)
{
	__u32 *meta = (void *)(long)ctx->data_meta;

	if ((void *)(meta + STEER_CB_NH + 1) > (void *)(long)ctx->data)
		return 0;
	return meta[STEER_CB_VERDICT] == STEER_CB_EXPLAIN;
}

/* For explain: the verdict, where explain reads it back. */
static __always_inline void xdp_explain_verdict(struct xdp_md *ctx, __u32 verdict)
{
	__u32 *meta = (void *)(long)ctx->data_meta;

	if ((void *)(meta + STEER_CB_NH + 1) <= (void *)(long)ctx->data)
		meta[STEER_CB_VERDICT] = verdict;
}

/* For explain: the rule's priority and table, the device and next hop, once known. */
static __always_inline void xdp_explain_note(struct xdp_md *ctx, __u32 priority, __u32 table,
					     __u32 oif, __u32 nh_id)
{
	__u32 *meta = (void *)(long)ctx->data_meta;

	if ((void *)(meta + STEER_CB_NH + 1) > (void *)(long)ctx->data)
		return;
	meta[STEER_CB_PRIORITY] = priority;
	meta[STEER_CB_TABLE] = table;
	meta[STEER_CB_OIF] = oif;
	meta[STEER_CB_NH] = nh_id;
}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) |
		(a[5] ^ b[5])) == 0;
}

/* The transport ports (and ICMP's error flag) straight from the frame: only a transport
 * header right after the fixed IP header, as TC reads it in place. Extension headers, AH
 * and a header past the frame go to TC, which reads further. */
static __always_inline int xdp_parse_l4(void *data, void *data_end, struct steer_pkt *pkt)
{
	__u8 *p = l3_at(data, STEER_L2_ETH);

	if (pkt->family == STEER_AF_INET) {
		p += sizeof(struct iphdr);
		barrier_var(p);
	} else {
		p += sizeof(struct ipv6hdr);
		barrier_var(p);
	}
	/* IPv6's extension headers; in IPv4 these numbers are protocols without ports. */
	if (pkt->family == STEER_AF_INET6 &&
	    (pkt->proto == IPPROTO_HOPOPTS || pkt->proto == IPPROTO_ROUTING ||
	     pkt->proto == IPPROTO_DSTOPTS || pkt->proto == IPPROTO_FRAGMENT))
		return STEER_STAT_PASS_TC;
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_DCCP:
	case IPPROTO_ESP:
	case IPPROTO_SCTP:
	case IPPROTO_UDPLITE:
		if ((void *)(p + 4) > data_end)
			return STEER_STAT_PUNT_L4;
		pkt->sport = (__u16)p[0] << 8 | p[1];
		pkt->dport = (__u16)p[2] << 8 | p[3];
		return 0;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((void *)(p + 1) > data_end)
			return STEER_STAT_PUNT_L4;
		pkt->icmp_err = icmp_is_error(pkt->proto, p[0]);
		return 0;
	case IPPROTO_AH:
		return STEER_STAT_PASS_TC;
	default:
		return 0;
	}
}

/* The frame as the kernel's IP input would take it, into pkt; 0 or why not. */
static __always_inline int xdp_parse(struct xdp_md *ctx, const struct steer_link *in,
				     struct steer_pkt *pkt)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	int r;

	if ((void *)(eth + 1) > data_end)
		return STEER_STAT_PUNT_MALFORMED;
	/* A frame not for this host's MAC: what the kernel marks broadcast, multicast or
	 * another host's (pkt_type) and does not forward. */
	if ((eth->h_dest[0] & 1) || !mac_eq(eth->h_dest, in->mac))
		return STEER_STAT_PUNT_NOT_FOR_US;
	pkt->iif = ctx->ingress_ifindex;
	pkt->l2 = STEER_L2_ETH;
	/* The program is loaded without frags: the frame is all in data..data_end, and the
	 * helper says how long that is (subtracting the pointers needs CAP_PERFMON). */
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		r = parse_ipv4(data, data_end, bpf_xdp_get_buff_len(ctx), pkt);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		r = parse_ipv6(data, data_end, bpf_xdp_get_buff_len(ctx), pkt);
	else if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(0x88a8))
		return STEER_STAT_PASS_TC;
	else
		return STEER_STAT_PUNT_NOT_IP;
	return r ? r : xdp_parse_l4(data, data_end, pkt);
}

#define STEER_CSUM_CHUNK  512	/* bpf_csum_diff()'s most at once */

/* One piece of sz bytes (a constant) of the segment into sum, when `take` says so: p
 * bounds-checked against the frame first, then moved on. Straight-line, not a loop, so
 * every packet pointer has a constant offset the verifier follows. */
#define CSUM_PIECE(take, sz)							\
	do {									\
		if (take) {							\
			if ((void *)(p + (sz)) > data_end)			\
				return STEER_STAT_PASS_CSUM;			\
			sum = bpf_csum_diff(NULL, 0, (__be32 *)p, (sz), sum);	\
			p += (sz);						\
			left -= (sz);						\
		}								\
	} while (0)

/* Whether the transport checksum of the segment right after the fixed IP header is right:
 * TCP, UDP (IPv4's "none" too), ICMP and ICMPv6, summed with the pseudo header where the
 * protocol has one. 0 when it is, or for a protocol whose checksum the stack never leaves
 * to offload; STEER_STAT_PASS_CSUM otherwise, and for SCTP and GRE. Only for frames that may come from a local stack with the checksum left to
 * offload (STEER_LINK_CSUM_PARTIAL): the skb said so, and an XDP redirect forgets it. A
 * function of its own, off the stack the decision's calls share. */
static __attribute__((noinline)) int xdp_l4_csum(struct xdp_md *ctx, const struct steer_pkt *pkt)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u8 *p = l3_at(data, STEER_L2_ETH), tail[4] = {};
	__u32 alen = pkt->family == STEER_AF_INET ? 4 : 16, left, s;
	__be32 w[2];
	__s64 sum;

	if (!pkt)
		return STEER_STAT_PASS_CSUM;
	if (pkt->family == STEER_AF_INET) {
		p += sizeof(struct iphdr);
		barrier_var(p);
		left = pkt->ip_len - sizeof(struct iphdr);
	} else {
		p += sizeof(struct ipv6hdr);
		barrier_var(p);
		left = pkt->ip_len - sizeof(struct ipv6hdr);
	}
	if (pkt->proto == IPPROTO_UDP && pkt->family == STEER_AF_INET) {
		if ((void *)(p + 8) > data_end)
			return STEER_STAT_PASS_CSUM;
		if (!p[6] && !p[7])
			return 0;	/* sent without a checksum */
	} else if (pkt->proto == IPPROTO_SCTP || pkt->proto == IPPROTO_GRE) {
		return STEER_STAT_PASS_CSUM;	/* offloaded too (CRC32c, GRE's), not checked here */
	} else if (pkt->proto != IPPROTO_TCP && pkt->proto != IPPROTO_UDP &&
		   pkt->proto != IPPROTO_ICMP && pkt->proto != IPPROTO_ICMPV6) {
		return 0;	/* no checksum the stack leaves to offload */
	}
	sum = 0;
	if (pkt->proto != IPPROTO_ICMP) {
		/* The pseudo header, in the order of its bytes on the wire. */
		sum = bpf_csum_diff(NULL, 0, (__be32 *)pkt->src, alen, 0);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)pkt->dst, alen, sum);
		w[0] = bpf_htonl(pkt->family == STEER_AF_INET ? (__u32)pkt->proto << 16 | left : left);
		w[1] = bpf_htonl(pkt->proto);
		sum = bpf_csum_diff(NULL, 0, w, pkt->family == STEER_AF_INET ? 4 : 8, sum);
	}
	/* Segments up to 2 KiB and a bit; longer ones (jumbo frames) go to TC. */
	CSUM_PIECE(left >= STEER_CSUM_CHUNK, STEER_CSUM_CHUNK);
	CSUM_PIECE(left >= STEER_CSUM_CHUNK, STEER_CSUM_CHUNK);
	CSUM_PIECE(left >= STEER_CSUM_CHUNK, STEER_CSUM_CHUNK);
	CSUM_PIECE(left >= STEER_CSUM_CHUNK, STEER_CSUM_CHUNK);
	if (left >= STEER_CSUM_CHUNK)
		return STEER_STAT_PASS_CSUM;
	CSUM_PIECE(left & 256, 256);
	CSUM_PIECE(left & 128, 128);
	CSUM_PIECE(left & 64, 64);
	CSUM_PIECE(left & 32, 32);
	CSUM_PIECE(left & 16, 16);
	CSUM_PIECE(left & 8, 8);
	CSUM_PIECE(left & 4, 4);
	/* The last bytes, padded with zeros as the checksum pads an odd end. */
	if (left) {
		/* 1 to 3 bytes: each is in the frame unless the packet is cut short. */
		if ((void *)(p + 1) > data_end)
			return STEER_STAT_PASS_CSUM;
		tail[0] = p[0];
		if (left > 1) {
			if ((void *)(p + 2) > data_end)
				return STEER_STAT_PASS_CSUM;
			tail[1] = p[1];
		}
		if (left > 2) {
			if ((void *)(p + 3) > data_end)
				return STEER_STAT_PASS_CSUM;
			tail[2] = p[2];
		}
		sum = bpf_csum_diff(NULL, 0, (__be32 *)tail, 4, sum);
	}
	s = (__u32)sum;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s == 0xffff ? 0 : STEER_STAT_PASS_CSUM;
}

/* ip_forward()'s and ip6_forward()'s MTU checks for a frame that is never GSO: the L3 length
 * against the device's MTU as steerd last heard it (a link change punts everything until the
 * maps have it), and for IPv6 against the device's IPv6 MTU. */
static __always_inline int xdp_check_mtu(const struct steer_pkt *pkt, const struct steer_link *out,
					 __u32 state_flags)
{
	if (!out->mtu || pkt->ip_len > out->mtu)
		return STEER_STAT_PUNT_MTU;
	if (pkt->family == STEER_AF_INET)
		return (state_flags & STEER_STATE_FWD_PMTU4) && pkt->ip_len > STEER_IPV4_MIN_MTU ?
		       STEER_STAT_PUNT_MTU : 0;
	return pkt->ip_len > (out->mtu6 ? out->mtu6 : STEER_IPV6_MIN_MTU) ? STEER_STAT_PUNT_MTU : 0;
}

/* The neighbour the frame goes to: the gateway, or the destination of an on-link route. */
static __always_inline struct steer_neigh *xdp_neigh(const struct steer_nexthop *nh,
						     const struct steer_pkt *pkt)
{
	struct steer_neigh_key k = { .ifindex = nh->ifindex };

	if (nh->family) {
		k.family = nh->family;
		__builtin_memcpy(k.addr, nh->gw, 16);
	} else {
		k.family = pkt->family;
		__builtin_memcpy(k.addr, pkt->dst, 16);
	}
	return bpf_map_lookup_elem(&steer_neighs, &k);
}

/* The forwarding's rewrite, once nothing can fail: TTL or hop limit, and the MACs. */
static __always_inline int xdp_rewrite(struct xdp_md *ctx, const struct steer_pkt *pkt,
				       const struct steer_neigh *n, const struct steer_link *out)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	if (pkt->family == STEER_AF_INET) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > data_end)
			return -1;
		ipv4_ttl_dec(iph);
	} else {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end)
			return -1;
		ip6h->hop_limit--;
	}
	__builtin_memcpy(eth->h_dest, n->mac, 6);
	__builtin_memcpy(eth->h_source, out->mac, 6);
	return 0;
}

/* The route's next hop for the flow from the walk: 0 with *nh_id, or why XDP passes. */
static __always_inline int xdp_route(const struct steer_flow *flow, struct steer_lookup *res,
				     __u32 *nh_id)
{
	int r = steer_lookup(flow, res, 1);

	if (r == STEER_LOOKUP_NO_ROUTE)
		return STEER_STAT_PUNT_NO_ROUTE;
	if (r == STEER_LOOKUP_DROP)
		return STEER_STAT_DROP_BLACKHOLE;
	if (r != STEER_LOOKUP_FORWARD)
		return res->reason;
	r = steer_pick_nexthop(res, flow, nh_id);
	if (r == STEER_PICK_KERNEL)
		return STEER_STAT_PASS_TC;	/* the kernel's pick needs the skb's fib lookup */
	if (r)
		return res->route_type == STEER_RT_MULTIPATH ? STEER_STAT_PUNT_LINK_DOWN
							     : STEER_STAT_PUNT_MISSING_REF;
	return 0;
}

/* The decision; o says what it was. quiet: asked by `steerctl explain`, which must leave
 * the flow cache as it is. */
static __always_inline int xdp_decide(struct xdp_md *ctx, struct steer_xdp_out *o, const int quiet)
{
	struct steer_pkt *pkt;
	struct steer_flow flow = {};
	struct steer_lookup res = {};
	struct steer_flow_slot *fs;
	struct steer_nexthop *nh;
	struct steer_link *in, *out;
	struct steer_neigh *n;
	struct steer_state *st;
	__u32 zero = 0, nh_id = 0, ifindex = ctx->ingress_ifindex;
	__u64 epoch;
	int r, cached = 0;

	pkt = bpf_map_lookup_elem(&steer_xdp_pkt, &zero);
	if (!pkt)
		return xdp_pass(o, STEER_STAT_PUNT_NOT_SYNCED);
	__builtin_memset(pkt, 0, sizeof(*pkt));
	st = bpf_map_lookup_elem(&steer_state, &zero);
	if (!st)
		return xdp_pass(o, STEER_STAT_PUNT_NOT_SYNCED);
	epoch = st->epoch;	/* before any map the decision reads, as at TC */
	barrier();
	r = state_gate(st);
	if (r)
		return xdp_pass(o, r);
	in = frame_link(ifindex, epoch);
	if (!in || (in->flags & (STEER_LINK_L3 | STEER_LINK_L2_OTHER)))
		return xdp_pass(o, STEER_STAT_PUNT_IIF);
	if (in->flags & STEER_LINK_VLAN_LOWER)
		return xdp_pass(o, STEER_STAT_PASS_TC);
	r = xdp_parse(ctx, in, pkt);
	if (!r && (in->flags & STEER_LINK_CSUM_PARTIAL))
		r = xdp_l4_csum(ctx, pkt);
	if (r)
		return xdp_pass(o, r);
	/* netfilter would see it: respect passes it on; offload is TC's (its conntrack
	 * lookup and NAT need the skb). */
	if (st->flags & (pkt->family == STEER_AF_INET ? STEER_STATE_NF4 : STEER_STATE_NF6))
		return xdp_pass(o, st->nf_mode == STEER_NF_OFFLOAD ? STEER_STAT_PASS_TC
								: STEER_STAT_PUNT_NETFILTER);
	r = check_ingress(in, pkt->family);
	if (r)
		return xdp_pass(o, r);
	/* No mark yet: nothing before XDP sets one, and nothing between XDP and TC ingress
	 * does in a namespace steer runs in (netfilter's ingress chains punt above). */
	make_flow(&flow, pkt, 0, 0);

	fs = NULL;
	if (!quiet)
		cached = flow_cache_find(st, &flow, epoch, &fs);
	if (cached) {
		nh = &fs->nh;
		out = &fs->out;
		o->rule_id = fs->rule_id;
	} else {
		r = xdp_route(&flow, &res, &nh_id);
		o->rule_id = res.rule_id;
		if (quiet)
			xdp_explain_note(ctx, res.priority, res.table, 0, 0);
		if (r == STEER_STAT_DROP_BLACKHOLE) {
			o->verdict = STEER_VERDICT_DROP << 16 | r;
			return XDP_DROP;	/* the kernel drops it silently too */
		}
		if (r)
			return xdp_pass(o, r);
		nh = bpf_map_lookup_elem(&steer_nexthops, &nh_id);
		if (!nh || !nh->ifindex)
			return xdp_pass(o, STEER_STAT_PUNT_MISSING_REF);
		out = out_link(nh->ifindex, epoch);
		if (quiet)
			xdp_explain_note(ctx, res.priority, res.table, nh->ifindex, nh_id);
	}
	o->cached = cached;
	r = check_out(nh, out, pkt->iif);
	if (r)
		return xdp_pass(o, r);
	if (!cached && pkt->family == STEER_AF_INET && cfg_source_check) {
		r = check_source(&flow, nh->ifindex, in->rp_filter, st->flags);
		if (r)
			return xdp_pass(o, r);
	}
	if (fs && !cached)
		flow_cache_fill(fs, &flow, epoch, nh_id, &res, nh, out);	/* never quiet */

	r = xdp_check_mtu(pkt, out, st->flags);
	if (r)
		return xdp_pass(o, r);
	n = xdp_neigh(nh, pkt);
	if (!n)
		return xdp_pass(o, STEER_STAT_PASS_NEIGH);
	/* Whether the device takes the frame, before anything in it changes: a miss passes
	 * it on as it came. */
	if (bpf_redirect_map(&steer_xdp_tx, nh->ifindex, XDP_PASS) != XDP_REDIRECT)
		return xdp_pass(o, STEER_STAT_PASS_XDP_TX);
	/* The kernel trims link-layer padding before forwarding; so do we. */
	if (pkt->pad_len && bpf_xdp_adjust_tail(ctx, -(int)pkt->pad_len))
		return xdp_pass(o, STEER_STAT_PUNT_MALFORMED);
	if (xdp_rewrite(ctx, pkt, n, out))
		return xdp_pass(o, STEER_STAT_PUNT_MALFORMED);
	o->verdict = STEER_VERDICT_FORWARD << 16 | STEER_STAT_FORWARDED;
	return XDP_REDIRECT;
}

/* The XDP stage's steer_count(), on its own counters. */
__attribute__((noinline)) int steer_xdp_count(__u32 stat, int cached)
{
	count_exit(&steer_xdp_stats, stat, cached);
	return 0;
}

SEC("xdp")
int steer_xdp(struct xdp_md *ctx)
{
	struct steer_xdp_out o = {};
	int quiet = xdp_explain_asked(ctx), r;
	__u32 verdict;

	r = xdp_decide(ctx, &o, quiet);
	if (quiet) {
		/* The rewrite and the trim move data, never the metadata before it. */
		xdp_explain_verdict(ctx, o.verdict);
		return r;
	}
	verdict = o.verdict >> 16;
	steer_xdp_count(o.verdict & 0xffff, o.cached);
	if (verdict != STEER_VERDICT_PUNT)
		count_in(&steer_rule_hits, o.rule_id, 0);
	return r;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
