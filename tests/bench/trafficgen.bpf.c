/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The forwarding benchmark's packet generator and sink counter. `gen` runs under
 * BPF_PROG_TEST_RUN in live-frames mode and returns XDP_TX, so each run sends one frame out of
 * the device named as ingress; `sink` counts the generator's frames where they arrive and
 * drops them there, so the sink's own stack costs nothing; `floor_redirect` and `floor_xdp`
 * stand in for a router that decides nothing (at TC, and at XDP), to tell what the rest of
 * the path costs. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "trafficgen-abi.h"

/* Set by the loader: how many source ports to spread over, and the UDP destination port
 * that marks the generator's frames. */
const volatile __u16 cfg_sport = 1024;
const volatile __u16 cfg_flows = 1;
const volatile __u16 cfg_dport = TG_DPORT;
const volatile __u32 cfg_floor_ifindex = 0;	/* where `floor_redirect` sends everything */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_COUNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tg_counts SEC(".maps");

/* The frame's Ethernet, IPv4 and UDP headers, set by the loader. Not const: clang would fold
 * a const array's loads to its zero initialiser, volatile or not, once it is cast for memcpy. */
__u8 tg_hdr[TG_HDR_LEN];
__u32 seq = 0;	/* next source port offset; races between CPUs only reorder the spread */

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&tg_counts, &which);

	if (v)
		*v += 1;
}

SEC("xdp")
int gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct udphdr *udp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);

	if (data + TG_HDR_LEN > end)
		return XDP_ABORTED;
	/* Pages are recycled without being reset, and the router rewrote the last frame that
	 * used this one (MACs, TTL, checksum): every frame starts again from the template. */
	__builtin_memcpy(data, tg_hdr, TG_HDR_LEN);
	if (cfg_flows > 1)
		udp->source = bpf_htons(cfg_sport + seq++ % cfg_flows);
	count(TG_SENT);
	return XDP_TX;
}

/* TC_ACT_SHOT for the generator's frames, after counting them (and those one hop away:
 * TTL one below the template's); anything else (ARP, ...) goes on to the stack. */
SEC("tc")
int sink(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	struct udphdr *udp = (void *)(iph + 1);

	if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    iph->protocol != IPPROTO_UDP || iph->ihl != 5 || udp->dest != bpf_htons(cfg_dport))
		return TC_ACT_OK;
	count(TG_RECEIVED);
	if (iph->ttl == tg_hdr[sizeof(struct ethhdr) + 8] - 1)
		count(TG_ROUTED);
	return TC_ACT_SHOT;
}

/* Every frame straight out of the uplink: no lookup, no neighbour, no rewrite. */
SEC("tc")
int floor_redirect(struct __sk_buff *skb)
{
	return bpf_redirect(cfg_floor_ifindex, 0);
}

/* The same before there is an skb: out of the uplink as an XDP frame. */
SEC("xdp")
int floor_xdp(struct xdp_md *ctx)
{
	return bpf_redirect(cfg_floor_ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
