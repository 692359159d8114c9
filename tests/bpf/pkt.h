/* Packet builders for the datapath tests: one Ethernet frame (optionally 802.1Q-tagged)
 * carrying IPv4 or IPv6 and a UDP header, every field the tests vary spelled out in one
 * struct, and the Internet checksum to build and verify IPv4 headers. */
#ifndef STEER_TEST_PKT_H
#define STEER_TEST_PKT_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* What a test asks for; zero fields take the defaults noted. */
struct pkt_spec {
	int family;		/* 4 or 6 */
	const char *src, *dst;
	const uint8_t *dst_mac;	/* NULL: the caller's default (the ingress device) */
	uint16_t vid;		/* in-band 802.1Q tag when non-zero */
	uint16_t ethertype;	/* override the L3 ethertype (ARP, ...) */
	uint8_t ttl;		/* TTL or hop limit; 0: 64 */
	uint8_t options;	/* IPv4: 32-bit words of options (ihl 5 + options) */
	uint16_t frag;		/* IPv4 frag_off field, host order (0x2000 = MF) */
	uint8_t version;	/* override the version nibble */
	bool hop_by_hop;	/* IPv6: next header 0 */
	bool bad_csum;		/* IPv4: header checksum off by one */
	size_t l3_len;		/* total IP length; 0: header + UDP + 20 bytes */
	uint16_t len_field;	/* override the IPv4 total / IPv6 payload length field */
	size_t cut;		/* truncate the frame to this many bytes */
	size_t pad;		/* link-layer padding (zeros) after the IP packet */
	uint32_t mark;		/* skb->mark the test run starts with (not part of the frame) */
	uint8_t tos;		/* IPv4 TOS / IPv6 traffic class */
	uint16_t sport, dport;	/* UDP ports; 0: 12345 and 53 */
};

/* One's-complement sum folded to 16 bits, not inverted. */
static inline uint16_t csum_fold_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The Internet checksum of len bytes (network order result in host integer). */
static inline uint16_t csum(const void *p, size_t len)
{
	return (uint16_t)~csum_fold_sum(p, len);
}

/* Writes the frame into buf (cap bytes); returns its length, or 0 if it does not fit or an
 * address does not parse. */
static inline size_t pkt_build(const struct pkt_spec *s, const uint8_t *default_mac, uint8_t *buf,
			       size_t cap)
{
	static const uint8_t src_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0xee };
	size_t l2 = s->vid ? 18 : 14, hl = s->family == 4 ? 20u + 4u * s->options : 40;
	size_t l3 = s->l3_len ? s->l3_len : hl + 8 + 20, len = l2 + l3 + s->pad;
	uint16_t type = s->ethertype ? s->ethertype : s->family == 4 ? 0x0800 : 0x86dd;
	uint8_t *ip = buf + l2, *udp = ip + hl;

	if (len > cap || l3 < hl + 8)
		return 0;
	memset(buf, 0, len);
	memcpy(buf, s->dst_mac ? s->dst_mac : default_mac, 6);
	memcpy(buf + 6, src_mac, 6);
	if (s->vid) {
		buf[12] = 0x81, buf[13] = 0x00;
		buf[14] = (uint8_t)(s->vid >> 8 & 0x0f), buf[15] = (uint8_t)s->vid;
	}
	buf[l2 - 2] = (uint8_t)(type >> 8), buf[l2 - 1] = (uint8_t)type;

	if (s->family == 4) {
		size_t tot = s->len_field ? s->len_field : l3;
		uint16_t check;

		ip[0] = (uint8_t)((s->version ? s->version : 4) << 4 | (5 + s->options));
		ip[1] = s->tos;
		ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot;
		ip[6] = (uint8_t)(s->frag >> 8), ip[7] = (uint8_t)s->frag;
		ip[8] = s->ttl ? s->ttl : 64;
		ip[9] = 17;
		if (inet_pton(AF_INET, s->src, ip + 12) != 1 || inet_pton(AF_INET, s->dst, ip + 16) != 1)
			return 0;
		for (size_t i = 20; i < hl; i++)
			ip[i] = 1;	/* NOP options */
		check = (uint16_t)(csum(ip, hl) + s->bad_csum);
		ip[10] = (uint8_t)(check >> 8), ip[11] = (uint8_t)check;
	} else {
		size_t plen = s->len_field ? s->len_field : l3 - 40;

		ip[0] = (uint8_t)((s->version ? s->version : 6) << 4 | s->tos >> 4);
		ip[1] = (uint8_t)(s->tos << 4);
		ip[4] = (uint8_t)(plen >> 8), ip[5] = (uint8_t)plen;
		ip[6] = s->hop_by_hop ? 0 : 17;
		ip[7] = s->ttl ? s->ttl : 64;
		if (inet_pton(AF_INET6, s->src, ip + 8) != 1 || inet_pton(AF_INET6, s->dst, ip + 24) != 1)
			return 0;
	}
	/* UDP with checksum 0: the router under test never looks past the IP header. */
	{
		uint16_t sp = s->sport ? s->sport : 12345, dp = s->dport ? s->dport : 53;

		udp[0] = (uint8_t)(sp >> 8), udp[1] = (uint8_t)sp;
		udp[2] = (uint8_t)(dp >> 8), udp[3] = (uint8_t)dp;
	}
	udp[4] = (uint8_t)((l3 - hl) >> 8), udp[5] = (uint8_t)(l3 - hl);
	for (size_t i = hl + 8; i < l3; i++)
		ip[i] = (uint8_t)i;
	return s->cut && s->cut < len ? s->cut : len;
}

#endif
