/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl explain`'s parts: the words of one question (explain-args.c), the frame that
 * asks it (explain-pkt.c), and the run of the pinned program (cmd-explain.c). */
#ifndef STEERCTL_EXPLAIN_H
#define STEERCTL_EXPLAIN_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* One question: a packet from src to dst arriving on ifname, with the rest of what
 * `ip route get` can say about it. */
struct explain_req {
	__u8  family;		/* STEER_AF_INET or STEER_AF_INET6 */
	__u8  src[16], dst[16];	/* network order, IPv4 in the first 4 bytes */
	char  ifname[IF_NAMESIZE];
	bool  egress;		/* `oif IFACE`: ask the egress program (policies only) */
	__u32 mark;
	__u8  tos;		/* IPv4 TOS byte, IPv6 traffic class */
	__u8  proto;		/* IP protocol / IPv6 next header */
	bool  proto_assumed;	/* no ipproto given: proto is explain's default */
	__u16 sport, dport;	/* host order */
};

/* Without ipproto, `ip route get` asks with protocol 0. An IPv4 packet can carry it; an
 * IPv6 next header 0 is a hop-by-hop options header, which the fast path leaves to the
 * kernel, so IPv6 asks with "no next header", which only a rule selecting it tells apart. */
#define EXPLAIN_PROTO_DEFAULT4 0
#define EXPLAIN_PROTO_DEFAULT6 59	/* IPPROTO_NONE, "ipv6-nonxt" */

#define EXPLAIN_ERR_LEN 256

/* Reads the words after `explain` (DST first, then keyword-value pairs in any order).
 * Returns 0, or -EINVAL with the reason in err. */
int explain_parse(int argc, char **argv, struct explain_req *req, char *err, size_t errlen);

/* Whether IP protocol proto carries ports in its first four bytes. */
bool explain_proto_has_ports(__u8 proto);

#define EXPLAIN_FRAME_MAX 128

/* Writes the Ethernet frame for req addressed to dst_mac into buf (EXPLAIN_FRAME_MAX
 * bytes); returns its length. */
size_t explain_frame(const struct explain_req *req, const __u8 dst_mac[6], __u8 *buf);

#endif
