/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What trafficgen.bpf.c and its loader (trafficgen.c) share: the header template's size, the
 * generator's UDP port, and the counters' indices. */
#ifndef STEER_BENCH_TRAFFICGEN_ABI_H
#define STEER_BENCH_TRAFFICGEN_ABI_H

#define TG_HDR_LEN 42	/* Ethernet 14 + IPv4 20 (no options) + UDP 8 */
#define TG_DPORT   9	/* discard: marks the generator's frames at the sink */

enum tg_count {
	TG_SENT = 0,	/* frames the generator handed to XDP_TX */
	TG_RECEIVED,	/* generator frames that reached the sink */
	TG_ROUTED,	/* ... with the TTL one below what was sent: one router hop */
	TG_COUNT_MAX,
};

#endif
