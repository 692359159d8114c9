/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The one frame `steerctl explain` hands the pinned program: Ethernet to the ingress
 * device's own address, a plain IP header (no options, not a fragment, TTL 64) and a valid
 * transport header, so the program meets what a well-formed packet of that flow looks like.
 * Checksums are right where the header has a simple one. */
#include <string.h>

#include "steerctl.h"
#include "explain.h"

#define PAYLOAD "steerctl explain"	/* 16 bytes */

static void put16(__u8 *p, __u16 v)
{
	p[0] = (__u8)(v >> 8);
	p[1] = (__u8)v;
}

static void put32(__u8 *p, __u32 v)
{
	put16(p, (__u16)(v >> 16));
	put16(p + 2, (__u16)v);
}

/* One's complement sum of len bytes, added to sum, not folded. */
static __u32 csum_add(__u32 sum, const __u8 *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (__u32)p[len - 1] << 8;
	return sum;
}

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The transport checksum over the pseudo header (RFC 768/793, RFC 8200 8.1) and l4. */
static __u16 csum_pseudo(const struct explain_req *req, const __u8 *l4, size_t len)
{
	size_t alen = req->family == STEER_AF_INET ? 4 : 16;
	__u32 sum = 0;

	sum = csum_add(sum, req->src, alen);
	sum = csum_add(sum, req->dst, alen);
	sum += req->proto;
	sum += (__u32)len;
	return csum_fold(csum_add(sum, l4, len));
}

/* Transport header length for proto (ports first where it has them). */
static size_t l4_len(__u8 proto)
{
	switch (proto) {
	case 6:   return 20;	/* tcp */
	case 17:  return 8;	/* udp */
	case 33:		/* dccp: generic header */
	case 132:		/* sctp: common header */
	case 136: return 12;	/* udplite, padded like the others */
	}
	return 8;		/* icmp, icmpv6, esp, and 8 zero bytes for the rest */
}

static void fill_l4(const struct explain_req *req, __u8 *l4, size_t len)
{
	__u16 check;

	if (explain_proto_has_ports(req->proto)) {
		put16(l4, req->sport);
		put16(l4 + 2, req->dport);
	}
	switch (req->proto) {
	case 6:		/* tcp: data offset 5, ACK, a window; checksum last */
		l4[12] = 5 << 4;
		l4[13] = 0x10;
		put16(l4 + 14, 0xffff);
		check = csum_pseudo(req, l4, len);
		put16(l4 + 16, check);
		break;
	case 33:	/* dccp: CsCov 0 covers the whole packet, checksum at 6 like udp */
	case 17:	/* udp */
	case 136:	/* udplite: coverage 0 means the whole datagram */
		if (req->proto == 17)
			put16(l4 + 4, (__u16)len);
		check = csum_pseudo(req, l4, len);
		put16(l4 + 6, check || req->proto != 17 ? check : 0xffff);
		break;
	case 50:	/* esp: SPI (0 is reserved), sequence number */
		put32(l4, 0x100);
		put32(l4 + 4, 1);
		break;
	case 1:		/* icmp echo request */
	case 58:	/* icmpv6 echo request */
		l4[0] = req->proto == 1 ? 8 : 128;
		put16(l4 + 4, 0x5354);	/* identifier "ST" */
		put16(l4 + 6, 1);
		check = req->proto == 1 ? csum_fold(csum_add(0, l4, len))
					: csum_pseudo(req, l4, len);
		put16(l4 + 2, check);
		break;
	}
}

size_t explain_frame(const struct explain_req *req, const __u8 dst_mac[6], __u8 *buf)
{
	static const __u8 src_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
	bool v4 = req->family == STEER_AF_INET;
	size_t iph = v4 ? 20 : 40, l4 = l4_len(req->proto), pl = sizeof(PAYLOAD) - 1;
	size_t ip_len = iph + l4 + pl, len = 14 + ip_len;
	__u8 *ip = buf + 14;

	memset(buf, 0, len);
	memcpy(buf, dst_mac, 6);
	memcpy(buf + 6, src_mac, 6);
	put16(buf + 12, v4 ? 0x0800 : 0x86dd);

	/* Payload first: the transport checksums cover it. */
	memcpy(ip + iph + l4, PAYLOAD, pl);
	fill_l4(req, ip + iph, l4 + pl);

	if (v4) {
		ip[0] = 0x45;
		ip[1] = req->tos;
		put16(ip + 2, (__u16)ip_len);
		ip[8] = 64;
		ip[9] = req->proto;
		memcpy(ip + 12, req->src, 4);
		memcpy(ip + 16, req->dst, 4);
		put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	} else {
		put32(ip, 6u << 28 | (__u32)req->tos << 20);
		put16(ip + 4, (__u16)(ip_len - 40));
		ip[6] = req->proto;
		ip[7] = 64;
		memcpy(ip + 8, req->src, 16);
		memcpy(ip + 24, req->dst, 16);
	}
	return len;
}
