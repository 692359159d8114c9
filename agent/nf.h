/* Netfilter intake: one nfnetlink socket subscribed to the nftables group, read whole at
 * start and at every resync (tables, then chains, then rules) and followed by its events;
 * and iptables-legacy's x_tables, which has no events, read on a poll. Both fill the
 * netfilter part of the model (model-nf.h). */
#ifndef STEER_NF_H
#define STEER_NF_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/netlink.h>

#include "model.h"
#include "nl-sock.h"

/* iptables-legacy has no change events: it is read this often (seconds). A rule added
 * with iptables-legacy reaches the fast path within this window; nftables (and
 * iptables-nft) changes arrive as events. */
#define NF_LEGACY_POLL 1.0

enum nf_dump { NF_DUMP_TABLES, NF_DUMP_CHAINS, NF_DUMP_RULES, NF_DUMP_MAX };

struct nf_stats {
	uint64_t messages, malformed, enobufs, dumps, dump_restarts, transactions;
};

struct nf_intake {
	struct nl_conn conn;	/* its port: replies carry it, events do not */
	struct model *model;
	uint32_t seq;
	int dump;		/* enum nf_dump in flight, -1 when idle */
	uint32_t dump_seq;
	bool dump_intr;
	bool pending;		/* a whole read is wanted */
	uint64_t dump_started_ns, retry_at_ns;
	uint64_t dump_heard_ns;	/* the read in flight's last reply (or its request) */
	/* The ruleset's shape may have changed (a transaction ended, a read finished, events
	 * were lost): the daemon recomputes what netfilter means for the fast path. */
	bool changed;
	bool absent;		/* this kernel has no nftables: nothing to read or follow */
	struct nf_stats stats;
};

int nf_open(struct nf_intake *nf, struct model *m, int rcvbuf);
void nf_close(struct nf_intake *nf);
/* Read the whole ruleset again; until that read ends the rules count as unknown. */
int nf_request(struct nf_intake *nf);
/* Read it again to catch what events missed (reload, reconcile), trusting what the model
 * holds meanwhile: a read in progress only adds to it until its sweep. */
int nf_reread(struct nf_intake *nf);
/* Read and handle everything the socket holds. 0, or negative errno on a fatal error. */
int nf_process(struct nf_intake *nf);
static inline bool nf_idle(const struct nf_intake *nf) { return nf->dump < 0 && !nf->pending; }
int nf_timeout_ms(const struct nf_intake *nf);

/* One nftables message into the model: 0, -EINVAL for a message that does not parse,
 * -ENOENT for a rule of a chain the model does not know, -ENOMEM. Events and dump replies
 * alike; `event` says which (an event opens a transaction, its generation message closes
 * it). The fuzzer feeds bytes through exactly this. */
int nf_message(struct model *m, const struct nlmsghdr *h, bool event);

/* Read iptables-legacy's tables (IPv4 and IPv6) into the model. Returns 1 when the picture
 * changed, 0 when not, negative errno when it could not be read (the model then says
 * unknown). */
int nf_legacy_read(struct model *m);

#endif
