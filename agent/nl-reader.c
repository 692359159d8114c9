/* The rtnetlink reader thread: receive into large blocks, mark lost events, and flag what
 * each event makes uncertain before the daemon has even parsed it. It never touches the
 * model; the hooks it calls (the daemon's) touch only the maps. */
#include "nl-reader.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "nl-attr.h"

#define BLOCK_SIZE (4u << 20)
/* A dump's buffers are at most 32 KiB (the kernel caps them there); events are one
 * message each. A receive that needs more is truncated and the daemon re-reads. */
#define RECV_MAX (64u << 10)

struct reader_block {
	struct reader_block *next;
	size_t used;		/* published to the daemon (under the lock) */
	char data[BLOCK_SIZE];
};

static size_t chunk_size(uint32_t len)
{
	return sizeof(struct reader_chunk) + ((len + 7u) & ~7u);
}

static struct nla_policy key_policy[RTA_TABLE + 1] = {
	[RTA_DST] = { .type = NLA_UNSPEC },
	[RTA_TABLE] = { .type = NLA_U32 },
};

int reader_route_key(const struct nlmsghdr *h, struct steer_route_key *k)
{
	struct nlattr *tb[RTA_TABLE + 1];
	const struct rtmsg *rtm;
	struct prefix p;

	if (intake_parse(h, sizeof(*rtm), tb, RTA_TABLE, key_policy) < 0)
		return -1;
	rtm = nlmsg_data(h);
	if ((rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) ||
	    (rtm->rtm_flags & RTM_F_CLONED) ||
	    intake_attr_prefix(tb[RTA_DST], rtm->rtm_family, rtm->rtm_dst_len, &p) < 0)
		return -1;
	*k = (struct steer_route_key){ .prefixlen = STEER_ROUTE_KEY_BITS(p.len),
				       .table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table,
				       .family = p.family };
	memcpy(k->addr, p.addr, sizeof(k->addr));
	return 0;
}

/* More route events than this in one pass without the socket running dry: the reader is
 * behind the kernel, and the events still queued in the socket change prefixes it cannot
 * name yet. Everything punts until the apply that includes the burst. */
#define READER_BURST 32

/* What the events of one receive make uncertain, said through the hooks at once. burst
 * counts the route events of this pass. */
static void flag_events(struct reader *r, const void *buf, size_t len, uint64_t seq,
			unsigned *burst)
{
	const struct nlmsghdr *h = buf;
	int rem = (int)len;
	bool other = false;

	for (; nlmsg_ok(h, rem); h = nlmsg_next((struct nlmsghdr *)h, &rem)) {
		struct steer_route_key k;

		if (h->nlmsg_pid == r->port)
			continue;	/* a reply to our own dump: not a change */
		switch (h->nlmsg_type) {
		case RTM_NEWROUTE:
		case RTM_DELROUTE:
			if (!reader_route_key(h, &k))
				r->hooks.route(r->hooks.ctx, &k, seq);
			other |= ++*burst > READER_BURST;
			break;
		case RTM_NEWNEIGH:
		case RTM_DELNEIGH:
			/* The kernel's route choice does not follow neighbour state (unless
			 * fib_multipath_use_neigh, whose pick steer leaves to the kernel), and
			 * bpf_redirect_neigh resolves neighbours itself. */
		case NLMSG_NOOP:
		case NLMSG_DONE:
		case NLMSG_ERROR:
			break;
		default:
			other = true;	/* links, addresses, rules, netconf, nexthop objects */
		}
	}
	if (other)
		r->hooks.other(r->hooks.ctx, seq, false);
}

/* Room for one more receive at the tail, a new block if needed; NULL when out of memory. */
static struct reader_block *tail_with_room(struct reader *r)
{
	struct reader_block *b = r->tail;
	size_t used;

	pthread_mutex_lock(&r->lock);
	used = b ? b->used : BLOCK_SIZE;
	pthread_mutex_unlock(&r->lock);
	if (BLOCK_SIZE - used >= chunk_size(RECV_MAX))
		return b;
	b = malloc(sizeof(*b));
	if (!b)
		return NULL;
	b->next = NULL;
	b->used = 0;
	pthread_mutex_lock(&r->lock);
	if (r->tail)
		r->tail->next = b;
	else
		r->head = b;
	r->tail = b;
	pthread_mutex_unlock(&r->lock);
	return b;
}

static void publish(struct reader *r, struct reader_block *b, size_t size)
{
	uint64_t one = 1;

	pthread_mutex_lock(&r->lock);
	b->used += size;
	pthread_mutex_unlock(&r->lock);
	if (write(r->wake, &one, sizeof(one)) < 0) {
		/* The counter is full: the daemon is already due to wake. */
	}
}

/* Receives everything the socket holds. Returns -errno on a fatal error. */
static int drain(struct reader *r, uint64_t *seq)
{
	unsigned burst = 0;

	for (;;) {
		struct reader_block *b = tail_with_room(r);
		struct reader_chunk *c;
		struct sockaddr_nl from;
		struct iovec iov;
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from),
				      .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (!b)
			return -ENOMEM;
		c = (struct reader_chunk *)(b->data + b->used);
		iov = (struct iovec){ c + 1, RECV_MAX };
		n = recvmsg(r->fd, &msg, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == ENOBUFS) {
			/* Events were dropped: nothing the maps hold can be trusted until the
			 * daemon has read everything again. Say so at once. */
			*c = (struct reader_chunk){ .flags = READER_LOST, .seq = ++*seq };
			r->hooks.other(r->hooks.ctx, c->seq, true);
			publish(r, b, chunk_size(0));
			continue;
		}
		if (n < 0 && errno == EINVAL) {
			/* Not this receive's fault: an earlier one went on to continue the dump
			 * in flight, and the daemon's next dump request, sent at that moment,
			 * had run the dump to its end first. The kernel leaves the error on the
			 * socket for one receive to report; nothing was lost. */
			log_debug("netlink: a receive raced with the end of a dump (EINVAL); nothing lost");
			continue;
		}
		if (n < 0)
			return -errno;
		if (from.nl_pid != 0) {
			/* Not the kernel: never queued, never believed. */
			__atomic_fetch_add(&r->foreign, 1, __ATOMIC_RELAXED);
			continue;
		}
		*c = (struct reader_chunk){ .len = (uint32_t)n, .seq = ++*seq };
		if (msg.msg_flags & MSG_TRUNC) {
			c->flags = READER_TRUNC;
			c->len = 0;
			r->hooks.other(r->hooks.ctx, c->seq, true);
		} else {
			flag_events(r, c + 1, (size_t)n, c->seq, &burst);
		}
		publish(r, b, chunk_size(c->len));
	}
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct pollfd p[2] = { { .fd = r->fd, .events = POLLIN }, { .fd = r->stop, .events = POLLIN } };
	uint64_t seq = 0;

	for (;;) {
		int e;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		e = drain(r, &seq);
		if (e < 0) {
			log_event(LOG_ERR, LOG_EV_NETLINK_FAILED, &(struct log_ctx){ .error = e },
				  "netlink: the reader stopped: %s", strerror(-e));
			break;
		}
	}
	return NULL;
}

int reader_start(struct reader *r, int fd, uint32_t port, const struct reader_hooks *hooks)
{
	int e;

	*r = (struct reader){ .fd = fd, .port = port, .hooks = *hooks, .wake = -1, .stop = -1,
			      .inited = true };
	pthread_mutex_init(&r->lock, NULL);
	r->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake < 0 || r->stop < 0) {
		e = -errno;
		goto fail;
	}
	{
		/* Signals are the daemon's thread's (its signalfd): the reader takes none. */
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		e = -pthread_create(&r->thread, NULL, reader_main, r);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (e)
		goto fail;
	r->running = true;
	return 0;
fail:
	reader_stop(r);
	return e;
}

void reader_stop(struct reader *r)
{
	uint64_t one = 1;

	if (!r->inited)
		return;	/* never started */
	if (r->running) {
		if (write(r->stop, &one, sizeof(one)) < 0)
			log_err("netlink: cannot stop the reader: %m");
		pthread_join(r->thread, NULL);
		r->running = false;
	}
	while (r->head) {
		struct reader_block *b = r->head;

		r->head = b->next;
		free(b);
	}
	r->tail = NULL;
	if (r->wake >= 0)
		close(r->wake);
	if (r->stop >= 0)
		close(r->stop);
	r->wake = r->stop = -1;
	pthread_mutex_destroy(&r->lock);
	r->inited = false;
}

const struct reader_chunk *reader_next(struct reader *r)
{
	const struct reader_chunk *c = NULL;
	struct reader_block *done = NULL;
	uint64_t n;

	if (read(r->wake, &n, sizeof(n)) < 0) {
		/* Nothing signalled since the last look: chunks may still wait. */
	}
	pthread_mutex_lock(&r->lock);
	while (r->head && r->head_off == r->head->used && r->head != r->tail) {
		done = r->head;
		r->head = done->next;
		r->head_off = 0;
		free(done);
	}
	if (r->head && r->head_off < r->head->used) {
		c = (const struct reader_chunk *)(r->head->data + r->head_off);
		r->head_off += chunk_size(c->len);
		r->taken_seq = c->seq;
	}
	pthread_mutex_unlock(&r->lock);
	return c;
}
