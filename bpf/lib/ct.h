/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Conntrack offload (netfilter: offload): look the packet's connection up with the kernel's
 * conntrack kfuncs, decide whether it may skip the netfilter hooks, refresh its timeout as
 * conntrack would, and say which NAT to apply. Only built into steer-ct.bpf.o (STEER_CT):
 * the kfuncs and the CO-RE reads below need the kernel's BTF, which the plain object must
 * never depend on. */
#ifndef STEER_LIB_CT_H
#define STEER_LIB_CT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "parse.h"

/* The fields of struct nf_conn this file reads, as CO-RE relocates them: the layout is the
 * running kernel's, whatever these say. */
union nf_inet_addr {
	__u32 all[4];
	__be32 ip;
	__be32 ip6[4];
} __attribute__((preserve_access_index));

struct nf_conntrack_man {
	union nf_inet_addr u3;
	union {
		__be16 all;
	} u;
} __attribute__((preserve_access_index));

struct nf_conntrack_tuple {
	struct nf_conntrack_man src;
	struct {
		union nf_inet_addr u3;
		union {
			__be16 all;
		} u;
		__u8 protonum;
	} dst;
} __attribute__((preserve_access_index));

struct nf_conntrack_tuple_hash {
	struct nf_conntrack_tuple tuple;
} __attribute__((preserve_access_index));

struct ip_ct_tcp_state {
	__u8 flags;
} __attribute__((preserve_access_index));

struct ip_ct_tcp {
	struct ip_ct_tcp_state seen[2];
	__u8 state;
} __attribute__((preserve_access_index));

union nf_conntrack_proto {
	struct ip_ct_tcp tcp;
} __attribute__((preserve_access_index));

struct nf_ct_ext {
	__u8 offset[1];
} __attribute__((preserve_access_index));

struct nf_conn {
	__u32 timeout;
	struct nf_conntrack_tuple_hash tuplehash[2];
	unsigned long status;
	struct nf_conn *master;
	__u32 mark;
	struct nf_ct_ext *ext;
	union nf_conntrack_proto proto;
} __attribute__((preserve_access_index));

enum nf_ct_ext_id {
	NF_CT_EXT_HELPER,
};

/* The kfuncs' options, as the kernel takes them (its NF_BPF_CT_OPTS_SZ of 12 bytes). */
struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *tuple,
					 __u32 tuple_len, struct bpf_ct_opts *opts,
					 __u32 opts_len) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;
extern int bpf_ct_change_timeout(struct nf_conn *ct, __u32 timeout_ms) __ksym;
extern int CONFIG_HZ __kconfig __weak;

#define STEER_CT_CURRENT_NETNS (-1)

/* The NAT conntrack applies to this packet: its addresses and ports (network order) as they
 * come and as they must leave. */
struct steer_nat {
	__u32 osrc[4], odst[4], nsrc[4], ndst[4];
	__be16 osport, odport, nsport, ndport;
	__u8 snat, dnat;	/* the source / the destination changes */
	__u8 pad[2];
};

/* Where steer_ct_offload() leaves the NAT for the rest of the decision: off the stack, which
 * the decision's call chain otherwise fills past the verifier's 512 bytes. */
STEER_MAP(steer_ct_scratch, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct steer_nat, 1);

/* The TCP flags byte, thirteen bytes into the header. */
#define STEER_TCP_FLAGS_OFF 13
#define STEER_TCP_FIN 0x01
#define STEER_TCP_SYN 0x02
#define STEER_TCP_RST 0x04

/* Whether the connection may skip netfilter for this packet; 0 when it may (n filled, the
 * timeout refreshed), a punt reason otherwise. Every condition is one the kernel's own
 * path would otherwise make visible: a packet conntrack must see to change the connection's
 * state, a connection the ruleset has not blessed, or NAT and protocol state that TC cannot
 * reproduce. */
/* Verified alone, as a global function: it cannot know its callers never pass NULL. */
__attribute__((noinline)) int steer_ct_offload(struct __sk_buff *skb, const struct steer_pkt *pkt,
					       const struct steer_state *st, struct steer_nat *n)
{
	struct bpf_ct_opts opts = { .netns_id = STEER_CT_CURRENT_NETNS };
	struct bpf_sock_tuple tup = {};
	struct nf_conn *ct;
	unsigned long status;
	struct nf_ct_ext *ext;
	__u32 tlen, mark, timeout_ms;
	__u8 flags = 0, other;
	int r = STEER_STAT_PUNT_NETFILTER;

	/* (skb is the context, never NULL; comparing it is refused without CAP_PERFMON.) */
	if (!pkt || !st || !n)
		return STEER_STAT_PUNT_NETFILTER;
	/* conntrack's kfuncs look up TCP and UDP only; extension headers would move the
	 * transport header the rewrite below writes to. */
	if ((pkt->proto != IPPROTO_TCP && pkt->proto != IPPROTO_UDP) || pkt->proto != pkt->nexthdr)
		return STEER_STAT_PUNT_NETFILTER;
	if (pkt->proto == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, pkt->l4_off + STEER_TCP_FLAGS_OFF, &flags, 1))
			return STEER_STAT_PUNT_L4;
		/* Opening and closing are conntrack's to see. */
		if (flags & (STEER_TCP_SYN | STEER_TCP_FIN | STEER_TCP_RST))
			return STEER_STAT_PUNT_NETFILTER;
	}
	if (pkt->family == STEER_AF_INET) {
		tup.ipv4.saddr = pkt->src[0];
		tup.ipv4.daddr = pkt->dst[0];
		tup.ipv4.sport = bpf_htons(pkt->sport);
		tup.ipv4.dport = bpf_htons(pkt->dport);
		tlen = sizeof(tup.ipv4);
	} else {
		__builtin_memcpy(tup.ipv6.saddr, pkt->src, 16);
		__builtin_memcpy(tup.ipv6.daddr, pkt->dst, 16);
		tup.ipv6.sport = bpf_htons(pkt->sport);
		tup.ipv6.dport = bpf_htons(pkt->dport);
		tlen = sizeof(tup.ipv6);
	}
	opts.l4proto = pkt->proto;
	ct = bpf_skb_ct_lookup(skb, &tup, tlen, &opts, sizeof(opts));
	if (!ct)
		return STEER_STAT_PUNT_NETFILTER;	/* a new connection: the ruleset decides */

	status = ct->status;
	mark = ct->mark;
	ext = ct->ext;
	/* Confirmed, answered, not dying, not an expected (related) connection, no helper
	 * and no sequence adjustment (helpers, synproxy): a plain connection the ruleset has
	 * seen both ways and marked. */
	if (!(status & IPS_CONFIRMED) || !(status & IPS_SEEN_REPLY) ||
	    (status & (IPS_DYING | IPS_EXPECTED | IPS_SEQ_ADJUST | IPS_HELPER | IPS_TEMPLATE)) ||
	    ct->master || (mark & st->ct_mask) != st->ct_mark)
		goto out;
	if (ext && BPF_CORE_READ(ext, offset[NF_CT_EXT_HELPER]))
		goto out;
	if (pkt->proto == IPPROTO_TCP) {
		/* Established only, and conntrack must not later find the packets it missed out
		 * of its window. */
		if (ct->proto.tcp.state != TCP_CONNTRACK_ESTABLISHED)
			goto out;
		if (!(st->flags & STEER_STATE_CT_TCP_LIBERAL) &&
		    !(ct->proto.tcp.seen[0].flags & ct->proto.tcp.seen[1].flags &
		      IP_CT_TCP_FLAG_BE_LIBERAL))
			goto out;
		timeout_ms = st->ct_timeout_tcp_ms;
	} else {
		timeout_ms = st->ct_timeout_udp_ms;
	}
	if (!timeout_ms)
		goto out;	/* steerd could not read the timeout: do not guess it */
	/* Keep the connection alive as conntrack would on this packet; a write per packet on
	 * a shared line is not free, so only once the timer has run down by a second. */
	if (CONFIG_HZ > 0) {
		__u32 now = (__u32)bpf_jiffies64();
		__u32 left = ct->timeout - now;

		if ((__s32)left < 0 || left + (__u32)CONFIG_HZ < timeout_ms / 1000 * (__u32)CONFIG_HZ)
			bpf_ct_change_timeout(ct, timeout_ms);
	} else {
		bpf_ct_change_timeout(ct, timeout_ms);
	}

	/* The packet leaves as the other direction's tuple, reversed, says. */
	other = opts.dir ? 0 : 1;
	__builtin_memcpy(n->osrc, pkt->src, 16);
	__builtin_memcpy(n->odst, pkt->dst, 16);
	n->osport = bpf_htons(pkt->sport);
	n->odport = bpf_htons(pkt->dport);
	if (other) {
		BPF_CORE_READ_INTO(&n->nsrc, ct, tuplehash[1].tuple.dst.u3.all);
		BPF_CORE_READ_INTO(&n->ndst, ct, tuplehash[1].tuple.src.u3.all);
		n->nsport = BPF_CORE_READ(ct, tuplehash[1].tuple.dst.u.all);
		n->ndport = BPF_CORE_READ(ct, tuplehash[1].tuple.src.u.all);
	} else {
		BPF_CORE_READ_INTO(&n->nsrc, ct, tuplehash[0].tuple.dst.u3.all);
		BPF_CORE_READ_INTO(&n->ndst, ct, tuplehash[0].tuple.src.u3.all);
		n->nsport = BPF_CORE_READ(ct, tuplehash[0].tuple.dst.u.all);
		n->ndport = BPF_CORE_READ(ct, tuplehash[0].tuple.src.u.all);
	}
	if (pkt->family == STEER_AF_INET) {
		n->nsrc[1] = n->nsrc[2] = n->nsrc[3] = 0;
		n->ndst[1] = n->ndst[2] = n->ndst[3] = 0;
	}
	n->snat = n->nsrc[0] != n->osrc[0] || n->nsrc[1] != n->osrc[1] || n->nsrc[2] != n->osrc[2] ||
		  n->nsrc[3] != n->osrc[3] || n->nsport != n->osport;
	n->dnat = n->ndst[0] != n->odst[0] || n->ndst[1] != n->odst[1] || n->ndst[2] != n->odst[2] ||
		  n->ndst[3] != n->odst[3] || n->ndport != n->odport;
	r = 0;
out:
	bpf_ct_release(ct);
	return r;
}

/* Replaces one address (4 or 16 bytes) in the IP header at off, fixing the IPv4 header's
 * checksum and the transport checksum (its pseudo-header holds the address). */
static __always_inline int ct_write_addr(struct __sk_buff *skb, __u32 off, const __u32 *from,
					 const __u32 *to, int v4, __u32 l3_csum, __u32 l4_csum,
					 __u64 l4_flags)
{
	if (v4) {
		if (bpf_l4_csum_replace(skb, l4_csum, from[0], to[0], l4_flags | BPF_F_PSEUDO_HDR | 4) ||
		    bpf_l3_csum_replace(skb, l3_csum, from[0], to[0], 4))
			return -1;
		return bpf_skb_store_bytes(skb, off, to, 4, 0);
	}
	if (bpf_l4_csum_replace(skb, l4_csum, 0, bpf_csum_diff((__be32 *)from, 16, (__be32 *)to, 16, 0),
				l4_flags | BPF_F_PSEUDO_HDR))
		return -1;
	return bpf_skb_store_bytes(skb, off, to, 16, 0);
}

/* Applies n to the packet whose IP header starts at l3 (Ethernet framing by now). 0, or -1
 * when a write failed with part of the packet changed. */
static __always_inline int ct_rewrite(struct __sk_buff *skb, const struct steer_pkt *pkt,
				      const struct steer_nat *n, __u32 l3)
{
	int v4 = pkt->family == STEER_AF_INET;
	__u32 l4 = l3 + (v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr));
	__u32 l4_csum = l4 + (pkt->proto == IPPROTO_TCP ? 16 : 6);
	__u32 l3_csum = l3 + 10;	/* IPv4's header checksum */
	/* A UDP checksum of 0 means none: keep it 0, and never write 0 for a real one. */
	__u64 l4_flags = pkt->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if (n->snat) {
		if (ct_write_addr(skb, l3 + (v4 ? 12 : 8), n->osrc, n->nsrc, v4, l3_csum, l4_csum, l4_flags) ||
		    bpf_l4_csum_replace(skb, l4_csum, n->osport, n->nsport, l4_flags | 2) ||
		    bpf_skb_store_bytes(skb, l4, &n->nsport, 2, 0))
			return -1;
	}
	if (n->dnat) {
		if (ct_write_addr(skb, l3 + (v4 ? 16 : 24), n->odst, n->ndst, v4, l3_csum, l4_csum, l4_flags) ||
		    bpf_l4_csum_replace(skb, l4_csum, n->odport, n->ndport, l4_flags | 2) ||
		    bpf_skb_store_bytes(skb, l4 + 2, &n->ndport, 2, 0))
			return -1;
	}
	return 0;
}

#endif
