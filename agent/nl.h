/* Intake: one rtnetlink socket for events and dumps of links, addresses, neighbours,
 * forwarding switches, routes and rules, IPv4 and IPv6. Dumps and events go through the
 * same handlers; every dump marks its objects stale first and sweeps what did not return. */
#ifndef STEER_NL_H
#define STEER_NL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/netlink.h>

#include "model.h"
#include "nl-sock.h"

enum intake_dump {
	INTAKE_DUMP_LINK, INTAKE_DUMP_NETCONF4, INTAKE_DUMP_NETCONF6, INTAKE_DUMP_ADDR, INTAKE_DUMP_NEIGH,
	INTAKE_DUMP_NEXTHOP, INTAKE_DUMP_ROUTE4, INTAKE_DUMP_ROUTE6, INTAKE_DUMP_RULE4,
	INTAKE_DUMP_RULE6,
	INTAKE_DUMP_MAX,
};
#define INTAKE_DUMP_ALL ((1u << INTAKE_DUMP_MAX) - 1)
#define INTAKE_DUMP_ROUTES ((1u << INTAKE_DUMP_ROUTE4) | (1u << INTAKE_DUMP_ROUTE6))

struct intake_stats {
	uint64_t messages, foreign, malformed, enobufs, resyncs, dumps, dump_restarts, swept;
};

struct reader;

struct intake {
	struct nl_conn conn;	/* its port: our dumps' replies carry it */
	struct model *model;
	uint32_t seq;
	int dump;		/* enum intake_dump in flight, -1 when idle */
	uint32_t dump_seq;
	bool dump_intr;
	uint32_t pending;	/* bitmask of enum intake_dump still to run */
	uint64_t dump_started_ns, retry_at_ns;
	uint64_t dump_heard_ns;	/* the dump in flight's last reply (or its request) */
	uint32_t orphan_seq;	/* a dump given up as stalled that may still run; 0: none */
	uint64_t orphan_heard_ns;
	bool lost;		/* events were lost and not all re-read yet: our picture is stale */
	struct intake_stats stats;
	struct reader *reader;	/* receives on its own thread (nl-reader.h); NULL: this one */
};

int intake_open(struct intake *nl, struct model *m, int rcvbuf);
void intake_close(struct intake *nl);
/* Queue dumps (INTAKE_DUMP_* bits) and start the next one if none is running. */
int intake_request(struct intake *nl, uint32_t dumps);
/* Handle everything received (by the reader, or from the socket). 0, or negative errno on a
 * fatal error. */
int intake_process(struct intake *nl);
static inline bool intake_idle(const struct intake *nl) { return nl->dump < 0 && !nl->pending; }
/* How long the event loop may sleep: not forever while dumps wait for a retry. */
int intake_timeout_ms(const struct intake *nl);

/* One message from the kernel into the model, by type: 0, -EINVAL for a message that does
 * not parse, -ENOMEM. The fuzzer feeds bytes through exactly this. */
int intake_message(struct model *m, const struct nlmsghdr *h);

/* sysctl.c: what has no netlink events (multipath hash policies, ip_forward_use_pmtu, IPv6
 * device MTUs), read from /proc/sys into the model; sets m->dirty when something changed. */
void sysctl_refresh(struct model *m);

#endif
