/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Packet parsing for the steer datapath. Every helper returns 0 on success and a
 * STEER_STAT_PUNT_* reason (never 0) when the packet must go to the kernel instead. */
#ifndef STEER_LIB_PARSE_H
#define STEER_LIB_PARSE_H

#include <linux/bpf.h>
#include <linux/icmpv6.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
/* ICMP's error types (linux/icmp.h, which pulls in libc headers through linux/if.h). */
#define ICMP_DEST_UNREACH   3
#define ICMP_SOURCE_QUENCH  4
#define ICMP_REDIRECT       5
#define ICMP_TIME_EXCEEDED  11
#define ICMP_PARAMETERPROB  12
#define STEER_VLAN_VID_MASK 0x0fff	/* the TCI's low 12 bits; the rest is priority and DEI */

struct vlan_hdr_steer {
	__be16 tci;
	__be16 proto;
};

/* What the parser learnt about one packet. Addresses are in network order, IPv4 in the
 * first four bytes of addr_*, the rest zero, matching the map keys. */
struct steer_pkt {
	__u32 src[4];		/* network order words, IPv4 in word 0 */
	__u32 dst[4];
	__u32 iif;		/* routing ingress: the VLAN sub-interface when tagged */
	__u32 pad_len;		/* link-layer padding after the IP packet, trimmed on forward */
	__u32 l4_off;		/* from the start of the frame */
	__u32 ip_len;		/* the IP packet's length, header included */
	__u32 flowinfo;		/* IPv6: the header's first word (traffic class, flow label) */
	__u16 vid;		/* VLAN id, 0 when untagged */
	__u16 sport, dport;	/* host order; 0 where the protocol has no ports */
	__u8  l2;		/* enum steer_l2: what precedes the IP header */
	__u8  family;
	__u8  tos;		/* IPv4 TOS byte / IPv6 traffic class */
	__u8  proto;		/* transport protocol after any extension headers */
	__u8  nexthdr;		/* IPv6: the fixed header's next header (IPv4: the protocol) */
	__u8  icmp_err;		/* an ICMP(v6) error: the kernel's multipath hash reads inside */
};

/* What lies before the IP header in the frame the program sees. */
enum steer_l2 {
	STEER_L2_ETH     = 0,	/* Ethernet */
	STEER_L2_ETH_TAG = 1,	/* Ethernet and one 802.1Q tag in the data */
	STEER_L2_NONE    = 2,	/* nothing: a device without a link-layer header (tun, ...) */
};

/* Returns 0 with *l3_proto the IP version's EtherType: after Ethernet and at most one 802.1Q
 * tag (pkt->l2 says which), pkt->iif set to the VLAN sub-interface for tagged frames; or, on a
 * device without a link-layer header (link_flags has STEER_LINK_L3), from skb->protocol, as
 * the kernel reads it there. A punt reason otherwise. */
static __always_inline int parse_l2(struct __sk_buff *skb, struct steer_pkt *pkt, void *vlans,
				    __u32 link_flags, __u16 *l3_proto)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u16 proto;

	pkt->iif = skb->ifindex;
	if (link_flags & STEER_LINK_L2_OTHER)
		return STEER_STAT_PUNT_IIF;
	if (link_flags & STEER_LINK_L3) {
		/* No tags either: a VLAN needs an Ethernet lower device. */
		if (skb->vlan_present)
			return STEER_STAT_PUNT_VLAN;
		pkt->l2 = STEER_L2_NONE;
		*l3_proto = (__u16)skb->protocol;
		return 0;
	}
	if ((void *)(eth + 1) > data_end)
		return STEER_STAT_PUNT_MALFORMED;
	proto = eth->h_proto;

	if (skb->vlan_present) {
		if (skb->vlan_proto != bpf_htons(ETH_P_8021Q))
			return STEER_STAT_PUNT_VLAN;
		pkt->vid = skb->vlan_tci & STEER_VLAN_VID_MASK;
	}
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr_steer *vh = (void *)(eth + 1);

		/* A second tag (QinQ), or a tag the kernel did not take off: not ours. */
		if (skb->vlan_present || (void *)(vh + 1) > data_end)
			return STEER_STAT_PUNT_VLAN;
		pkt->vid = bpf_ntohs(vh->tci) & STEER_VLAN_VID_MASK;
		pkt->l2 = STEER_L2_ETH_TAG;
		proto = vh->proto;
	}
	if (skb->vlan_present || pkt->l2 == STEER_L2_ETH_TAG) {
		struct steer_vlan_key vk = { .ifindex = skb->ifindex, .vid = pkt->vid };
		struct steer_vlan *v = bpf_map_lookup_elem(vlans, &vk);

		if (!v)
			return STEER_STAT_PUNT_VLAN;
		pkt->iif = v->ifindex;
	}
	*l3_proto = proto;
	return 0;
}

/* The IP header: right after Ethernet, after the one in-band tag, or at the start of the
 * data on a device without a link-layer header. Each branch adds its own constant, and
 * barrier_var() keeps clang from folding them into data + (tag ? 18 : 14): without CAP_PERFMON
 * the verifier's Spectre v1 hardening refuses any register added to a packet pointer ("pointer
 * arithmetic with it prohibited for !root"). */
static __always_inline void *l3_at(void *data, __u8 l2)
{
	void *l3;

	if (l2 == STEER_L2_ETH_TAG) {
		l3 = data + sizeof(struct ethhdr) + sizeof(struct vlan_hdr_steer);
		barrier_var(l3);
	} else if (l2 == STEER_L2_NONE) {
		l3 = data;
		barrier_var(l3);
	} else {
		l3 = data + sizeof(struct ethhdr);
		barrier_var(l3);
	}
	return l3;
}

static __always_inline void *l3_header(struct __sk_buff *skb, __u8 l2)
{
	return l3_at((void *)(long)skb->data, l2);
}

/* The IP header's offset in the frame, as a number (for lengths and bpf_skb_load_bytes). */
static __always_inline __u32 l3_offset(__u8 l2)
{
	return l2 == STEER_L2_NONE ? 0 : sizeof(struct ethhdr) +
		(l2 == STEER_L2_ETH_TAG ? sizeof(struct vlan_hdr_steer) : 0);
}

/* How many bytes the frame holds from the IP header on, against how many the IP header says
 * it has: fewer is a truncated packet the kernel drops, more is link-layer padding the kernel
 * trims. Returns 0 and sets pkt->pad_len, or a punt reason. */
static __always_inline int check_ip_length(__u32 frame_len, struct steer_pkt *pkt, __u32 ip_len)
{
	__u32 l3_off = l3_offset(pkt->l2);

	if (frame_len < l3_off + ip_len)
		return STEER_STAT_PUNT_MALFORMED;
	pkt->pad_len = frame_len - l3_off - ip_len;
	pkt->ip_len = ip_len;
	return 0;
}

/* ip_fast_csum(): a header whose one's complement sum is not all ones is corrupt. */
static __always_inline int ipv4_csum_ok(const struct iphdr *iph)
{
	const __u16 *w = (const __u16 *)iph;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

static __always_inline int ipv4_special(__u32 a /* network order */)
{
	__u8 first = bpf_ntohl(a) >> 24;

	return first == 0 || first == 127 || first >= 224;
}

/* Returns 0 for an IPv4 header the fast path can forward as-is, a punt reason otherwise.
 * data..data_end is the frame's linear part, frame_len its whole length (TC and XDP alike). */
static __always_inline int parse_ipv4(void *data, void *data_end, __u32 frame_len,
				      struct steer_pkt *pkt)
{
	struct iphdr *iph = l3_at(data, pkt->l2);

	if ((void *)(iph + 1) > data_end)
		return STEER_STAT_PUNT_MALFORMED;
	if (iph->version != 4 || bpf_ntohs(iph->tot_len) < sizeof(*iph))
		return STEER_STAT_PUNT_MALFORMED;
	if (iph->ihl != 5)
		return STEER_STAT_PUNT_IP_OPTIONS;
	if (!ipv4_csum_ok(iph) || check_ip_length(frame_len, pkt, bpf_ntohs(iph->tot_len)))
		return STEER_STAT_PUNT_MALFORMED;
	/* Filled in before the punts below, so the monitor can say whose packet it was. */
	pkt->family = STEER_AF_INET;
	pkt->src[0] = iph->saddr;
	pkt->dst[0] = iph->daddr;
	pkt->tos = iph->tos;
	pkt->proto = iph->protocol;
	pkt->nexthdr = iph->protocol;
	pkt->l4_off = l3_offset(pkt->l2) + sizeof(*iph);
	if (iph->frag_off & bpf_htons(0x3fff))
		return STEER_STAT_PUNT_FRAGMENT;
	if (iph->ttl <= 1)
		return STEER_STAT_PUNT_TTL;
	if (ipv4_special(iph->saddr) || ipv4_special(iph->daddr))
		return STEER_STAT_PUNT_SPECIAL_ADDR;
	return 0;
}

/* Multicast, link-local, loopback, unspecified and v4-mapped: none are forwarded as
 * ordinary unicast by the kernel. */
static __always_inline int ipv6_special(const __u8 *a)
{
	__u32 w0 = ((const __u32 *)a)[0], w1 = ((const __u32 *)a)[1];
	__u32 w2 = ((const __u32 *)a)[2], w3 = ((const __u32 *)a)[3];

	if (a[0] == 0xff)
		return 1;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return 1;
	if (w0 == 0 && w1 == 0 && (w2 == 0 || w2 == bpf_htonl(0xffff)))
		return w2 == 0 ? (w3 == 0 || w3 == bpf_htonl(1)) : 1;
	return 0;
}

/* Returns 0 for an IPv6 header the fast path can forward as-is, a punt reason otherwise
 * (arguments as parse_ipv4()'s). */
static __always_inline int parse_ipv6(void *data, void *data_end, __u32 frame_len,
				      struct steer_pkt *pkt)
{
	struct ipv6hdr *ip6h = l3_at(data, pkt->l2);

	if ((void *)(ip6h + 1) > data_end)
		return STEER_STAT_PUNT_MALFORMED;
	if (ip6h->version != 6)
		return STEER_STAT_PUNT_MALFORMED;
	/* Hop-by-hop options are processed by every router on the path: the kernel's job. */
	if (ip6h->nexthdr == 0)
		return STEER_STAT_PUNT_IP_OPTIONS;
	if (check_ip_length(frame_len, pkt, sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len)))
		return STEER_STAT_PUNT_MALFORMED;
	__builtin_memcpy(pkt->src, &ip6h->saddr, 16);
	__builtin_memcpy(pkt->dst, &ip6h->daddr, 16);
	pkt->family = STEER_AF_INET6;
	pkt->tos = ip6h->priority << 4 | ip6h->flow_lbl[0] >> 4;
	pkt->proto = ip6h->nexthdr;
	pkt->nexthdr = ip6h->nexthdr;
	pkt->flowinfo = *(__u32 *)ip6h;
	pkt->l4_off = l3_offset(pkt->l2) + sizeof(*ip6h);
	if (ip6h->hop_limit <= 1)
		return STEER_STAT_PUNT_TTL;
	if (ipv6_special((const __u8 *)pkt->src) || ipv6_special((const __u8 *)pkt->dst))
		return STEER_STAT_PUNT_SPECIAL_ADDR;
	return 0;
}

/* Whether an ICMP (or ICMPv6) message of this type is an error, quoting a packet. */
static __always_inline __u8 icmp_is_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH ||
		       type == ICMP_REDIRECT || type == ICMP_TIME_EXCEEDED ||
		       type == ICMP_PARAMETERPROB;
	return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
}

/* IPv6 extension headers the flow dissector walks to the transport header. */
#define STEER_MAX_EXT_HDRS 4

/* Returns 0 with pkt->proto the transport protocol and pkt->sport/dport the ports the
 * kernel's flow dissector would give fib rules (0 for protocols without); a punt reason
 * when a header it needs is out of reach. */
static __always_inline int parse_l4(struct __sk_buff *skb, struct steer_pkt *pkt)
{
	__u32 off = pkt->l4_off;
	__u8 ports[4];

	if (pkt->family == STEER_AF_INET6) {
#pragma unroll
		for (int i = 0; i < STEER_MAX_EXT_HDRS; i++) {
			__u8 ext[2];

			if (pkt->proto == IPPROTO_FRAGMENT)
				return STEER_STAT_PUNT_FRAGMENT;
			if (pkt->proto == IPPROTO_HOPOPTS)	/* but not first */
				return STEER_STAT_PUNT_IP_OPTIONS;
			if (pkt->proto != IPPROTO_ROUTING && pkt->proto != IPPROTO_DSTOPTS)
				break;
			if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext)))
				return STEER_STAT_PUNT_L4;
			pkt->proto = ext[0];
			off += ((__u32)ext[1] + 1) * 8;
		}
		if (pkt->proto == IPPROTO_HOPOPTS || pkt->proto == IPPROTO_ROUTING ||
		    pkt->proto == IPPROTO_DSTOPTS || pkt->proto == IPPROTO_FRAGMENT)
			return STEER_STAT_PUNT_L4;
	}
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_DCCP:
	case IPPROTO_ESP:	/* the dissector reads its SPI as the ports */
	case IPPROTO_SCTP:
	case IPPROTO_UDPLITE:
		break;
	case IPPROTO_AH:	/* the SPI, four bytes in */
		off += 4;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* Errors quote a packet, and the kernel's multipath hash (policy 0) takes
		 * that packet's addresses instead (ip_multipath_l3_keys(),
		 * ip6_multipath_l3_keys(): only when the fixed header says ICMPv6). */
		if (pkt->proto == pkt->nexthdr) {
			__u8 type;

			/* Unreadable: taken for an error, which only makes multipath punt. */
			if (bpf_skb_load_bytes(skb, off, &type, 1))
				type = ICMP_DEST_UNREACH;
			pkt->icmp_err = icmp_is_error(pkt->proto, type);
		}
		return 0;
	default:
		return 0;
	}
	/* Right after a fixed header in the linear data, as nearly always: read in place,
	 * each family at its own constant offset (see l3_header()). */
	if (off == pkt->l4_off && pkt->proto != IPPROTO_AH) {
		void *data_end = (void *)(long)skb->data_end;
		__u8 *l3 = l3_header(skb, pkt->l2), *p;

		if (pkt->family == STEER_AF_INET) {
			p = l3 + sizeof(struct iphdr);
			barrier_var(p);
		} else {
			p = l3 + sizeof(struct ipv6hdr);
			barrier_var(p);
		}
		if ((void *)(p + 4) <= data_end) {
			pkt->sport = (__u16)p[0] << 8 | p[1];
			pkt->dport = (__u16)p[2] << 8 | p[3];
			return 0;
		}
	}
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return STEER_STAT_PUNT_L4;
	pkt->sport = (__u16)ports[0] << 8 | ports[1];
	pkt->dport = (__u16)ports[2] << 8 | ports[3];
	return 0;
}

#endif
