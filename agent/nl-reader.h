/* The rtnetlink socket's reader: a thread that drains the socket as fast as the kernel fills
 * it, so a burst of events (a BGP session reset moving 200,000 routes) lands in memory
 * instead of overrunning the socket while the daemon compiles, and that says at once what
 * each event makes uncertain: a changed route, its prefix; anything else, everything. The
 * daemon's thread takes the buffers in order (intake_process) and builds the model from
 * them; what the reader flagged stays punted until an apply includes its event. */
#ifndef STEER_NL_READER_H
#define STEER_NL_READER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

/* Called on the reader's thread, for events only (never for replies to our dumps), with
 * the sequence number of the buffer they came in. */
struct reader_hooks {
	void *ctx;
	/* A route of this (table, family, prefix) changed. */
	void (*route)(void *ctx, const struct steer_route_key *k, uint64_t seq);
	/* Something else forwarding depends on changed, or events were lost (lost). */
	void (*other)(void *ctx, uint64_t seq, bool lost);
};

enum reader_chunk_flags {
	READER_LOST  = 1u << 0,	/* ENOBUFS: events were dropped before this point */
	READER_TRUNC = 1u << 1,	/* a message did not fit the buffer */
};

/* One receive: what recvmsg returned, or a marker (len 0, flags set). */
struct reader_chunk {
	uint32_t len;
	uint32_t flags;		/* enum reader_chunk_flags */
	uint64_t seq;		/* 1, 2, ... in the order received */
	/* len bytes follow, padded to 8 */
};

struct reader_block;

struct reader {
	int fd;			/* the rtnetlink socket (not owned) */
	uint32_t port;		/* our port id: dump replies carry it, events do not */
	int wake;		/* eventfd: readable while chunks wait; for the daemon's epoll */
	int stop;		/* eventfd: tells the thread to finish */
	pthread_t thread;
	bool inited, running;
	struct reader_hooks hooks;
	pthread_mutex_t lock;	/* the block list */
	struct reader_block *head, *tail;
	size_t head_off;	/* what the daemon took of head */
	uint64_t foreign;	/* messages not from the kernel, dropped (reader's thread only) */
	uint64_t taken_seq;	/* the last chunk the daemon took */
};

/* Start the thread on fd. 0 or negative errno. */
int reader_start(struct reader *r, int fd, uint32_t port, const struct reader_hooks *hooks);
void reader_stop(struct reader *r);
/* The next chunk, or NULL when none waits. Valid until the next call; taking one frees the
 * memory of those before it. */
const struct reader_chunk *reader_next(struct reader *r);
static inline const void *reader_chunk_data(const struct reader_chunk *c) { return c + 1; }

/* For a route event (RTM_NEWROUTE/RTM_DELROUTE): the route map key of its destination.
 * Returns 0, or -1 for messages that carry no route steer mirrors (cloned, other families,
 * malformed). Shared with the tests. */
struct nlmsghdr;
int reader_route_key(const struct nlmsghdr *h, struct steer_route_key *k);

#endif
