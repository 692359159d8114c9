/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* steer's datapath: a TC ingress program that forwards each IP packet where the kernel's
 * policy routing would send it, or returns TC_ACT_OK so the kernel decides. Every map it
 * reads is written by steerd from the kernel's own rules and routes. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "lib/parse.h"
#include "lib/lookup.h"

#ifndef ETH_P_IP
#define ETH_P_IP 0x0800
#endif
#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#define PACKET_HOST 0

/* Runtime switches, set by the agent before load. */
const volatile __u8 cfg_source_check = 1;	/* mirror fib_validate_source() for IPv4 */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, STEER_SRC_ENTRIES);
	__type(key, struct steer_src_key);
	__type(value, struct steer_rule_list);
} steer_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, STEER_ROUTE_ENTRIES);
	__type(key, struct steer_route_key);
	__type(value, struct steer_route);
} steer_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_NH_ENTRIES);
	__type(key, __u32);
	__type(value, struct steer_nexthop);
} steer_nexthops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_LINK_ENTRIES);
	__type(key, __u32);
	__type(value, struct steer_link);
} steer_links SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_VLAN_ENTRIES);
	__type(key, struct steer_vlan_key);
	__type(value, struct steer_vlan);
} steer_vlans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_state);
} steer_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} steer_stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&steer_stats, &stat);

	if (v)
		*v += 1;
}

/* Hands the packet to the kernel, unchanged, and says why. */
static __always_inline int punt(struct __sk_buff *skb, __u32 reason)
{
	count(reason);
	skb->cb[STEER_CB_VERDICT] = STEER_VERDICT_PUNT << 16 | reason;
	return TC_ACT_OK;
}

/* The kernel checks the source of every forwarded IPv4 packet with a reverse lookup
 * (fib_validate_source): a source that resolves to a local, broadcast or reject route is
 * dropped, and rp_filter adds "must route back (via iif, when strict)". Returns 0 when the
 * kernel would accept the source, a punt reason otherwise. */
static __always_inline int check_source(const struct steer_pkt *pkt, const struct steer_link *in)
{
	struct steer_lookup rev = {};
	struct steer_nexthop *nh;
	int r;

	r = steer_policy_lookup(&steer_src, &steer_routes, pkt->family, pkt->dst, pkt->src, &rev);
	if (r == STEER_LOOKUP_NO_ROUTE)
		return in->rp_filter ? STEER_STAT_PUNT_SOURCE_CHECK : 0;
	if (r != STEER_LOOKUP_FORWARD)
		return STEER_STAT_PUNT_SOURCE_CHECK;
	if (in->rp_filter != 1)
		return 0;
	nh = bpf_map_lookup_elem(&steer_nexthops, &rev.route->nh_id);
	if (!nh || nh->ifindex != pkt->iif)
		return STEER_STAT_PUNT_SOURCE_CHECK;
	return 0;
}

/* Returns 0 after decrementing TTL (and fixing the header checksum, as ip_decrease_ttl()
 * does) or the hop limit; a punt reason if the header is out of reach. */
static __always_inline int decrement_ttl(struct __sk_buff *skb, __u8 family, __u8 inband_tag)
{
	void *data_end = (void *)(long)skb->data_end;

	if (family == STEER_AF_INET) {
		struct iphdr *iph = l3_header(skb, inband_tag);
		__u32 check;

		if ((void *)(iph + 1) > data_end)
			return STEER_STAT_PUNT_MALFORMED;
		check = iph->check;
		check += bpf_htons(0x0100);
		iph->check = (__u16)(check + (check >= 0xffff));
		iph->ttl--;
	} else {
		struct ipv6hdr *ip6h = l3_header(skb, inband_tag);

		if ((void *)(ip6h + 1) > data_end)
			return STEER_STAT_PUNT_MALFORMED;
		/* The kernel drops CHECKSUM_COMPLETE when forwarding; we keep it right
		 * instead: the word holding the hop limit changes, nothing compensates. */
		__be32 *word = (void *)ip6h + 4, old = *word, new;

		ip6h->hop_limit--;
		new = *word;
		bpf_csum_update(skb, bpf_csum_diff(&old, 4, &new, 4, 0));
	}
	return 0;
}

SEC("tc")
int steer_ingress(struct __sk_buff *skb)
{
	struct steer_pkt pkt = {};
	struct steer_lookup res = {};
	struct bpf_redir_neigh nhp = {};
	struct steer_nexthop *nh;
	struct steer_link *in, *out;
	struct steer_state *st;
	__u32 zero = 0, mtu_len = 0;
	__s32 len_diff;
	__u16 proto;
	int r;

	count(STEER_STAT_RX);
	st = bpf_map_lookup_elem(&steer_state, &zero);
	if (!st || !st->synced)
		return punt(skb, STEER_STAT_PUNT_NOT_SYNCED);
	if (skb->pkt_type != PACKET_HOST)
		return punt(skb, STEER_STAT_PUNT_NOT_FOR_US);

	r = parse_l2(skb, &pkt, &steer_vlans, &proto);
	if (r)
		return punt(skb, r);
	if (proto == bpf_htons(ETH_P_IP))
		r = parse_ipv4(skb, &pkt);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = parse_ipv6(skb, &pkt);
	else
		r = STEER_STAT_PUNT_NOT_IP;
	if (r)
		return punt(skb, r);

	in = bpf_map_lookup_elem(&steer_links, &pkt.iif);
	if (!in || !(in->flags & STEER_LINK_UP) ||
	    !(in->flags & (pkt.family == STEER_AF_INET ? STEER_LINK_FWD4 : STEER_LINK_FWD6)))
		return punt(skb, STEER_STAT_PUNT_IIF);

	r = steer_policy_lookup(&steer_src, &steer_routes, pkt.family, pkt.src, pkt.dst, &res);
	skb->cb[STEER_CB_PRIORITY] = res.priority;
	skb->cb[STEER_CB_TABLE] = res.table;
	if (r == STEER_LOOKUP_NO_ROUTE)
		return punt(skb, STEER_STAT_PUNT_NO_ROUTE);
	if (r != STEER_LOOKUP_FORWARD)
		return punt(skb, res.reason);

	nh = bpf_map_lookup_elem(&steer_nexthops, &res.route->nh_id);
	if (!nh)
		return punt(skb, STEER_STAT_PUNT_NEXTHOP);
	skb->cb[STEER_CB_OIF] = nh->ifindex;
	skb->cb[STEER_CB_NH] = res.route->nh_id;
	if (nh->ifindex == pkt.iif)
		return punt(skb, STEER_STAT_PUNT_HAIRPIN);
	out = bpf_map_lookup_elem(&steer_links, &nh->ifindex);
	if (!out || !(out->flags & STEER_LINK_UP))
		return punt(skb, STEER_STAT_PUNT_LINK_DOWN);

	if (pkt.family == STEER_AF_INET && cfg_source_check) {
		r = check_source(&pkt, in);
		if (r)
			return punt(skb, r);
	}

	/* The MTU the kernel would check is the L3 length against the egress device. */
	len_diff = -(__s32)pkt.pad_len - (pkt.inband_tag ? 4 : 0);
	if (bpf_check_mtu(skb, nh->ifindex, &mtu_len, len_diff, 0))
		return punt(skb, STEER_STAT_PUNT_MTU);

	/* Decided: from here on the packet is ours and is changed. */
	if (pkt.inband_tag || skb->vlan_present) {
		if (bpf_skb_vlan_pop(skb))
			return punt(skb, STEER_STAT_PUNT_VLAN);
		pkt.inband_tag = 0;
	}
	/* The kernel trims link-layer padding (short frames) before forwarding; so do we. */
	if (pkt.pad_len && bpf_skb_change_tail(skb, skb->len - pkt.pad_len, 0))
		return punt(skb, STEER_STAT_PUNT_MALFORMED);
	r = decrement_ttl(skb, pkt.family, pkt.inband_tag);
	if (r)
		return punt(skb, r);

	skb->cb[STEER_CB_VERDICT] = STEER_VERDICT_FORWARD << 16;
	if (nh->family == STEER_AF_INET) {
		nhp.nh_family = STEER_AF_INET;
		__builtin_memcpy(&nhp.ipv4_nh, nh->gw, 4);
	} else if (nh->family == STEER_AF_INET6) {
		nhp.nh_family = STEER_AF_INET6;
		__builtin_memcpy(nhp.ipv6_nh, nh->gw, 16);
	}
	r = bpf_redirect_neigh(nh->ifindex, nh->family ? &nhp : NULL, nh->family ? sizeof(nhp) : 0, 0);
	count(r == TC_ACT_REDIRECT ? STEER_STAT_FORWARDED : STEER_STAT_PUNT_REDIRECT);
	return r;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
