/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* For tests/netns/exact-wire.sh: counts the IPv4 UDP packets to port 4000 that leave a device,
 * by skb->priority (what the egress qdisc classifies by), so a test can see the priority the
 * forward path gave them. Attached at tc egress; never changes a packet. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} prio_count SEC(".maps");

SEC("tc")
int count_prio(struct __sk_buff *skb)
{
	__u8 proto;
	__u16 dport;
	__u32 k;
	__u64 *v;

	/* At egress the data starts with the Ethernet header: IPv4 at 14, no options sent. */
	if (skb->protocol != bpf_htons(0x0800) || bpf_skb_load_bytes(skb, 14 + 9, &proto, 1) ||
	    proto != 17 || bpf_skb_load_bytes(skb, 14 + 20 + 2, &dport, 2) || dport != bpf_htons(4000))
		return TC_ACT_OK;
	k = skb->priority > 15 ? 15 : skb->priority;
	v = bpf_map_lookup_elem(&prio_count, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
