/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Baselines for the decision-cost benchmark, run on the same packets as steer's program:
 * `kernel` asks the kernel's own policy routing (bpf_fib_lookup without the DIRECT flag, so
 * the real rule list is walked), `empty` is the floor of a TC program that does nothing. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

SEC("tc")
int kernel(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct bpf_fib_lookup p = {};
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > end)
			return TC_ACT_OK;
		p.family = AF_INET;
		p.tos = iph->tos;
		p.l4_protocol = iph->protocol;
		p.tot_len = bpf_ntohs(iph->tot_len);
		p.ipv4_src = iph->saddr;
		p.ipv4_dst = iph->daddr;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > end)
			return TC_ACT_OK;
		p.family = AF_INET6;
		p.l4_protocol = ip6h->nexthdr;
		p.tot_len = bpf_ntohs(ip6h->payload_len);
		__builtin_memcpy(p.ipv6_src, &ip6h->saddr, 16);
		__builtin_memcpy(p.ipv6_dst, &ip6h->daddr, 16);
	} else {
		return TC_ACT_OK;
	}
	p.ifindex = skb->ifindex;
	/* The verdict is what the benchmark checks once: forwarded, and out which device. */
	skb->cb[0] = bpf_fib_lookup(skb, &p, sizeof(p), 0);
	skb->cb[1] = p.ifindex;
	return TC_ACT_OK;
}

SEC("tc")
int empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
