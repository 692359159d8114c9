/* The rtnetlink socket: subscription, the dump queue, receiving, and dispatch to the
 * per-object handlers. Only messages sent by the kernel (port id 0) are read. */
#include "nl.h"

#include <errno.h>
#include <linux/netconf.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "nl-msg.h"
#include "nl-reader.h"

static const struct {
	uint16_t type;
	uint8_t family;
	uint8_t hdrlen;
	int kind;		/* enum model_kind swept when the dump ends, -1 for none */
	const char *name;
} dumps[INTAKE_DUMP_MAX] = {
	[INTAKE_DUMP_LINK]     = { RTM_GETLINK,    AF_UNSPEC, sizeof(struct ifinfomsg), MODEL_LINK,   "links" },
	[INTAKE_DUMP_NETCONF4] = { RTM_GETNETCONF, AF_INET,   sizeof(struct netconfmsg), -1,          "ipv4 netconf" },
	[INTAKE_DUMP_NETCONF6] = { RTM_GETNETCONF, AF_INET6,  sizeof(struct netconfmsg), -1,          "ipv6 netconf" },
	[INTAKE_DUMP_ADDR]     = { RTM_GETADDR,    AF_UNSPEC, sizeof(struct ifaddrmsg), MODEL_ADDR,   "addresses" },
	[INTAKE_DUMP_NEIGH]    = { RTM_GETNEIGH,   AF_UNSPEC, sizeof(struct ndmsg),     MODEL_NEIGH,  "neighbours" },
	[INTAKE_DUMP_NEXTHOP]  = { RTM_GETNEXTHOP, AF_UNSPEC, sizeof(struct nhmsg),     MODEL_NHOBJ,  "nexthop objects" },
	[INTAKE_DUMP_ROUTE4]   = { RTM_GETROUTE,   AF_INET,   sizeof(struct rtmsg),     MODEL_ROUTE4, "ipv4 routes" },
	[INTAKE_DUMP_ROUTE6]   = { RTM_GETROUTE,   AF_INET6,  sizeof(struct rtmsg),     MODEL_ROUTE6, "ipv6 routes" },
	[INTAKE_DUMP_RULE4]    = { RTM_GETRULE,    AF_INET,   sizeof(struct rtmsg),     MODEL_RULE4,  "ipv4 rules" },
	[INTAKE_DUMP_RULE6]    = { RTM_GETRULE,    AF_INET6,  sizeof(struct rtmsg),     MODEL_RULE6,  "ipv6 rules" },
};

static const int groups[] = {
	RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_NEIGH,
	RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE,
	RTNLGRP_IPV4_NETCONF, RTNLGRP_IPV6_NETCONF, RTNLGRP_NEXTHOP,
};

int intake_open(struct intake *nl, struct model *m, int rcvbuf)
{
	int r;

	*nl = (struct intake){ .model = m, .dump = -1 };
	intake_probe_kernel(m);
	r = nl_conn_open(&nl->conn, NETLINK_ROUTE, groups, sizeof(groups) / sizeof(groups[0]),
			 rcvbuf, "netlink");
	if (r == -EPROTONOSUPPORT) {
		log_event(LOG_ERR, LOG_EV_NETLINK_FAILED, NULL, "netlink: no route socket in this kernel");
		r = -EIO;
	}
	if (r < 0)
		return r;
	log_event(LOG_INFO, LOG_EV_NETLINK_OPENED, NULL, "netlink: receive buffer %d bytes (asked for %d)",
		  nl->conn.rcvbuf, rcvbuf);
	return 0;
}

void intake_close(struct intake *nl)
{
	nl_conn_close(&nl->conn);
}

static int start_dump(struct intake *nl, int d)
{
	int r = nl_conn_dump(&nl->conn, dumps[d].type, dumps[d].family, dumps[d].hdrlen, ++nl->seq,
			     dumps[d].name);

	if (r < 0)
		return r;
	nl->dump = d;
	nl->dump_seq = nl->seq;
	nl->dump_intr = false;
	nl->dump_started_ns = nl->dump_heard_ns = monotonic_ns();
	nl->stats.dumps++;
	if (dumps[d].kind >= 0)
		model_mark_stale(nl->model, dumps[d].kind);
	log_debug("netlink: dumping %s", dumps[d].name);
	return 0;
}

static int next_dump(struct intake *nl)
{
	uint64_t now = monotonic_ns();

	if (nl->dump < 0 && nl->pending && now < nl->retry_at_ns)
		return 0;	/* the kernel was busy with an earlier dump: try again shortly */
	if (nl->orphan_seq && now - nl->orphan_heard_ns < 1000000000ull)
		return 0;	/* it still runs: a request now would only meet EBUSY */
	for (int d = 0; d < INTAKE_DUMP_MAX && nl->dump < 0; d++) {
		if (nl->pending & (1u << d)) {
			nl->pending &= ~(1u << d);
			return start_dump(nl, d);
		}
	}
	return 0;
}

int intake_request(struct intake *nl, uint32_t which)
{
	nl->pending |= which;
	return nl->dump < 0 ? next_dump(nl) : 0;
}

static void finish_dump(struct intake *nl, bool ok)
{
	int d = nl->dump;

	nl->dump = -1;
	if (ok && nl->dump_intr) {
		/* The kernel's tables changed under the dump: what we read may be torn. */
		nl->stats.dump_restarts++;
		log_event(LOG_INFO, LOG_EV_DUMP_RETRY, NULL,
			  "netlink: dump of %s was interrupted by a change, restarting", dumps[d].name);
		nl->pending |= 1u << d;
	} else if (ok && dumps[d].kind >= 0) {
		size_t n = model_sweep(nl->model, dumps[d].kind);

		log_debug("netlink: dump of %s read in %.1f ms", dumps[d].name,
			  (double)(monotonic_ns() - nl->dump_started_ns) / 1e6);
		nl->stats.swept += n;
		if (n)
			log_event(LOG_NOTICE, LOG_EV_SWEPT, NULL,
				  "netlink: %zu %s were gone without a notification; removed", n,
				  dumps[d].name);
	}
}

/* The handler of each object kind, by its RTM_NEW* type over 4: rtnetlink numbers its types
 * in fours (new, del, get, set), and a RTM_DEL* is its RTM_NEW* plus one. */
static int (*const handlers[])(struct model *, const struct nlmsghdr *) = {
	[RTM_NEWLINK / 4] = intake_link_msg,	[RTM_NEWNETCONF / 4] = intake_netconf_msg,
	[RTM_NEWADDR / 4] = intake_addr_msg,	[RTM_NEWNEIGH / 4] = intake_neigh_msg,
	[RTM_NEWROUTE / 4] = intake_route_msg,	[RTM_NEWRULE / 4] = intake_rule_msg,
	[RTM_NEWNEXTHOP / 4] = intake_nexthop_msg,
};

int intake_message(struct model *m, const struct nlmsghdr *h)
{
	unsigned t = h->nlmsg_type;

	_Static_assert(RTM_NEWLINK % 4 == 0 && RTM_DELLINK == RTM_NEWLINK + 1 &&
		       RTM_NEWNETCONF % 4 == 0 && RTM_DELNETCONF == RTM_NEWNETCONF + 1 &&
		       RTM_NEWNEXTHOP % 4 == 0 && RTM_DELNEXTHOP == RTM_NEWNEXTHOP + 1,
		       "rtnetlink numbers its message types in fours");
	if (t % 4 > 1 || t / 4 >= sizeof(handlers) / sizeof(handlers[0]) || !handlers[t / 4])
		return 0;
	return handlers[t / 4](m, h);
}

static void dispatch(struct intake *nl, const struct nlmsghdr *h)
{
	int r = intake_message(nl->model, h);

	if (r == -EINVAL) {
		nl->stats.malformed++;
		log_event(LOG_WARNING, LOG_EV_NETLINK_MALFORMED, NULL,
			  "netlink: ignored a malformed message of type %u", h->nlmsg_type);
	} else if (r < 0) {
		log_err("netlink: handling message type %u: %s", h->nlmsg_type, strerror(-r));
	}
}

static void handle_buffer(struct intake *nl, const void *buf, size_t len)
{
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	int rem = (int)len;

	for (; nlmsg_ok(h, rem); h = nlmsg_next(h, &rem)) {
		bool ours = nl->dump >= 0 && h->nlmsg_seq == nl->dump_seq;

		nl->stats.messages++;
		if (nl->orphan_seq && h->nlmsg_seq == nl->orphan_seq) {
			/* What it brings is as current as any event; its end frees the kernel. */
			nl->orphan_heard_ns = monotonic_ns();
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				nl->orphan_seq = 0;
				continue;
			}
		}
		if (ours)
			nl->dump_heard_ns = monotonic_ns();
		if (ours && (h->nlmsg_flags & NLM_F_DUMP_INTR))
			nl->dump_intr = true;
		if (h->nlmsg_type == NLMSG_DONE) {
			if (ours)
				finish_dump(nl, true);
			continue;
		}
		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = nlmsg_data(h);

			if (ours) {
				int d = nl->dump;

				/* EBUSY: an abandoned dump of ours still runs in the kernel; ENOBUFS:
				 * the reply did not fit. Both pass: ask again a little later. */
				log_event(e->error == -EBUSY || e->error == -ENOBUFS ? LOG_DEBUG : LOG_ERR,
					  LOG_EV_DUMP_RETRY, &(struct log_ctx){ .error = e->error },
					  "netlink: dump of %s failed: %s; asking again", dumps[d].name,
					  strerror(-e->error));
				finish_dump(nl, false);
				nl->pending |= 1u << d;
				nl->retry_at_ns = monotonic_ns() + 20 * 1000000ull;
			}
			continue;
		}
		dispatch(nl, h);
	}
}

/* Events were dropped: our picture may be wrong anywhere. One full re-read covers any
 * number of overruns before it starts.
 *
 * The dump in flight runs on. The kernel never drops a dump's own replies, only events and
 * acknowledgements, so what it brings is current and it ends as usual; it is read again
 * later, since events lost while it ran may touch what it had already passed. Giving it up
 * instead would leave it running in the kernel, and while it fills the socket the kernel
 * keeps the socket marked congested and silently drops the EBUSY that answers every new
 * dump request: the re-read would wait out one stall after another. */
static void overrun(struct intake *nl)
{
	nl->stats.enobufs++;
	if ((nl->pending & INTAKE_DUMP_ALL) != INTAKE_DUMP_ALL)
		nl->stats.resyncs++;
	log_event(nl->stats.enobufs == 1 || nl->stats.enobufs % 100 == 0 ? LOG_WARNING : LOG_DEBUG,
		  LOG_EV_OVERRUN, NULL,
		  "netlink: receive buffer overrun (%llu so far), events lost; re-reading everything",
		  (unsigned long long)nl->stats.enobufs);
	nl->pending |= INTAKE_DUMP_ALL;
	nl->lost = true;
}

static void truncated(struct intake *nl)
{
	log_event(LOG_WARNING, LOG_EV_RESYNC, NULL, "netlink: truncated message; re-reading everything");
	nl->pending |= INTAKE_DUMP_ALL;
}

/* What the reader thread received, in order. */
static int take_chunks(struct intake *nl)
{
	const struct reader_chunk *c;

	while ((c = reader_next(nl->reader))) {
		if (c->flags & READER_LOST)
			overrun(nl);
		else if (c->flags & READER_TRUNC)
			truncated(nl);
		else
			handle_buffer(nl, reader_chunk_data(c), c->len);
		if (nl->dump < 0 && next_dump(nl) < 0)
			return -EIO;
	}
	return 0;
}

/* Without a reader: receive on this thread until the socket is empty. */
static int receive(struct intake *nl)
{
	for (;;) {
		uint32_t from;
		ssize_t n = nl_conn_recv(&nl->conn, &from);

		if (n == -EAGAIN)
			return 0;
		if (n == -ENOBUFS) {
			overrun(nl);
			continue;
		}
		if (n == -EMSGSIZE) {
			truncated(nl);
			continue;
		}
		if (n < 0)
			return (int)n;
		if (from != 0) {
			nl->stats.foreign++;
			log_event(LOG_DEBUG, LOG_EV_NETLINK_FOREIGN, NULL,
				  "netlink: ignored a message from port %u (not the kernel)", from);
			continue;
		}
		handle_buffer(nl, nl->conn.buf, (size_t)n);
		if (nl->dump < 0 && next_dump(nl) < 0)
			return -EIO;
	}
}

int intake_process(struct intake *nl)
{
	int r = nl->reader ? take_chunks(nl) : receive(nl);

	if (r < 0)
		return r;
	if (nl->model->routes_need_dump) {
		nl->model->routes_need_dump = false;
		nl->pending |= INTAKE_DUMP_ROUTES;
	}
	if (nl->dump >= 0 && monotonic_ns() - nl->dump_heard_ns > 1000000000ull) {
		/* Nothing heard of it for a second: a reply went missing (the kernel drops even
		 * the error that answers a dump it cannot start when the socket is full, and
		 * says nothing). Start that dump over, once the kernel is surely done with
		 * the old one: it may only be slow. */
		log_event(LOG_WARNING, LOG_EV_DUMP_RETRY, NULL,
			  "netlink: dump of %s stalled; asking again", dumps[nl->dump].name);
		nl->pending |= 1u << nl->dump;
		nl->orphan_seq = nl->dump_seq;
		nl->orphan_heard_ns = nl->dump_heard_ns;
		nl->dump = -1;
		nl->stats.dump_restarts++;
	}
	if (nl->dump < 0 && !nl->pending)
		nl->lost = false;	/* everything re-read since the last overrun */
	return nl->dump < 0 ? next_dump(nl) : 0;
}

int intake_timeout_ms(const struct intake *nl)
{
	return intake_idle(nl) ? -1 : 50;
}
