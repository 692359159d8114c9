/* Which devices can take an XDP redirect (xdp-tx.h): the netdev generic-netlink family's
 * device dump and its "mgmt" notifications, read on one socket so that their order is the
 * kernel's. */
#include "xdp-tx.h"

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "nl-attr.h"

/* From the kernel's include/uapi/linux/netdev.h (Linux 6.3 on), which Debian's
 * linux-libc-dev 6.1 does not ship. The values are ABI and never change. */
#define NETDEV_FAMILY_NAME	"netdev"
#define NETDEV_FAMILY_VERSION	1
#define NETDEV_MCGRP_MGMT	"mgmt"

enum {
	NETDEV_CMD_DEV_GET = 1,
	NETDEV_CMD_DEV_ADD_NTF = 2,
	NETDEV_CMD_DEV_DEL_NTF = 3,
	NETDEV_CMD_DEV_CHANGE_NTF = 4,
};

enum {
	NETDEV_A_DEV_IFINDEX = 1,
	NETDEV_A_DEV_XDP_FEATURES = 3,	/* u64, enum netdev_xdp_act bits */
};

#define NETDEV_XDP_ACT_NDO_XMIT	(1ull << 2)

/* A dump's receive is at most 32 KiB (the kernel caps it there); a notification is one
 * small message. */
#define RECV_MAX (64u << 10)

static const struct nla_policy dev_policy[NETDEV_A_DEV_XDP_FEATURES + 1] = {
	[NETDEV_A_DEV_IFINDEX] = { .type = NLA_U32 },
	[NETDEV_A_DEV_XDP_FEATURES] = { .type = NLA_U64 },
};

/* Resolves the family and its group, then joins it: the resolving request wants libnl's
 * usual sequence checks and acks, which the shared socket must do without afterwards. */
static int connect_and_join(struct xdp_tx *t)
{
	int grp;

	if (genl_connect(t->sk) < 0)
		return -EIO;
	t->family = genl_ctrl_resolve(t->sk, NETDEV_FAMILY_NAME);
	if (t->family == -NLE_OBJ_NOTFOUND)
		return -EOPNOTSUPP;
	if (t->family < 0)
		return -EIO;
	grp = genl_ctrl_resolve_grp(t->sk, NETDEV_FAMILY_NAME, NETDEV_MCGRP_MGMT);
	if (grp == -NLE_OBJ_NOTFOUND)
		return -EOPNOTSUPP;
	if (grp < 0)
		return -EIO;
	/* Notifications carry sequence 0 and share the socket with dump replies. */
	nl_socket_disable_seq_check(t->sk);
	nl_socket_disable_auto_ack(t->sk);
	if (nl_socket_add_membership(t->sk, grp) < 0 || nl_socket_set_nonblocking(t->sk) < 0)
		return -EIO;
	t->fd = nl_socket_get_fd(t->sk);
	return 0;
}

int xdp_tx_open(struct xdp_tx *t)
{
	int r;

	*t = (struct xdp_tx){ .fd = -1, .family = -1 };
	t->buf = malloc(RECV_MAX);
	t->sk = nl_socket_alloc();
	r = t->buf && t->sk ? connect_and_join(t) : -ENOMEM;
	if (r < 0)
		xdp_tx_close(t);
	return r;
}

int xdp_tx_fd(const struct xdp_tx *t)
{
	return t->fd;
}

void xdp_tx_close(struct xdp_tx *t)
{
	if (t->sk)
		nl_socket_free(t->sk);
	free(t->buf);
	*t = (struct xdp_tx){ .fd = -1, .family = -1 };
}

/* One receive into t->buf: its length, 0 for a datagram to skip, or -errno. A truncated
 * datagram lost messages just as an overrun does, so it is -ENOBUFS too. */
static ssize_t recv_batch(struct xdp_tx *t)
{
	struct sockaddr_nl from;
	struct iovec iov = { .iov_base = t->buf, .iov_len = RECV_MAX };
	struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from),
			    .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	do
		n = recvmsg(t->fd, &m, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (m.msg_flags & MSG_TRUNC)
		return -ENOBUFS;
	/* Only the kernel speaks for devices; another process may write to our port. */
	if (m.msg_namelen != sizeof(from) || from.nl_pid != 0)
		return 0;
	return n;
}

static void tell_dev(const struct nlmsghdr *h, xdp_tx_cb cb, void *ctx)
{
	struct nlattr *tb[NETDEV_A_DEV_XDP_FEATURES + 1];
	const struct genlmsghdr *g;
	uint64_t features = 0;
	int ifindex;

	if (intake_parse(h, GENL_HDRLEN, tb, NETDEV_A_DEV_XDP_FEATURES, dev_policy) < 0 ||
	    !tb[NETDEV_A_DEV_IFINDEX])
		return;
	ifindex = (int)nla_get_u32(tb[NETDEV_A_DEV_IFINDEX]);
	if (ifindex <= 0)
		return;
	/* No feature word reads as no NDO_XMIT: a redirect there would be dropped. */
	if (tb[NETDEV_A_DEV_XDP_FEATURES])
		features = nla_get_u64(tb[NETDEV_A_DEV_XDP_FEATURES]);
	g = NLMSG_DATA(h);
	switch (g->cmd) {
	case NETDEV_CMD_DEV_GET:
	case NETDEV_CMD_DEV_ADD_NTF:
	case NETDEV_CMD_DEV_CHANGE_NTF:
		cb(ctx, ifindex, features & NETDEV_XDP_ACT_NDO_XMIT);
		break;
	case NETDEV_CMD_DEV_DEL_NTF:
		cb(ctx, ifindex, false);
		break;
	}
}

/* Tells the devices one receive holds. 0 while a dump (if any) goes on, 1 at its end, or
 * the -errno it ended with. */
static int tell_batch(const struct xdp_tx *t, size_t len, xdp_tx_cb cb, void *ctx)
{
	const struct nlmsghdr *h = t->buf;
	int err;

	for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_type == t->family) {
			tell_dev(h, cb, ctx);
		} else if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
			/* DONE carries the dump's error as an int; ERROR starts with one. */
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(int)))
				return -EIO;
			err = *(const int *)NLMSG_DATA(h);
			return err < 0 ? err : 1;
		}
	}
	return 0;
}

/* Empties the socket: what is queued is older than the dump about to be asked for, and a
 * full receive buffer would hold the dump up. */
static int drain(struct xdp_tx *t)
{
	ssize_t n;

	do
		n = recv_batch(t);
	while (n >= 0 || n == -ENOBUFS);
	return n == -EAGAIN ? 0 : (int)n;
}

static int request_dump(struct xdp_tx *t)
{
	struct nl_msg *msg = nlmsg_alloc();
	int r = -ENOMEM;

	if (msg && genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, t->family, 0, NLM_F_DUMP,
			       NETDEV_CMD_DEV_GET, NETDEV_FAMILY_VERSION))
		r = nl_send_auto(t->sk, msg) < 0 ? -EIO : 0;
	nlmsg_free(msg);
	return r;
}

/* Notifications that arrive during the dump are told in between its parts, in the
 * kernel's order, and a device the dump misses (NLM_F_DUMP_INTR) has its notification
 * queued after the part that missed it; so an interrupted dump needs no second one. A
 * notification lost to an overrun does: the dump goes on to its end (a dump left running
 * would refuse the next one with -EBUSY) and then says -ENOBUFS. */
int xdp_tx_dump(struct xdp_tx *t, xdp_tx_cb cb, void *ctx)
{
	struct pollfd p = { .fd = t->fd, .events = POLLIN };
	int lost = 0, r;
	ssize_t n;

	r = drain(t);
	if (r == 0)
		r = request_dump(t);
	while (r == 0) {
		n = recv_batch(t);
		if (n == -EAGAIN) {
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				return -errno;
		} else if (n == -ENOBUFS) {
			lost = -ENOBUFS;
		} else if (n < 0) {
			return (int)n;
		} else {
			r = tell_batch(t, (size_t)n, cb, ctx);
		}
	}
	return r < 0 ? r : lost;
}

/* A reply to a dump that ended early (see xdp_tx_dump) may still be queued: its devices
 * are as current as any notification, and its end means nothing here. */
int xdp_tx_read(struct xdp_tx *t, xdp_tx_cb cb, void *ctx)
{
	ssize_t n;

	while ((n = recv_batch(t)) >= 0)
		tell_batch(t, (size_t)n, cb, ctx);
	return n == -EAGAIN ? 0 : (int)n;
}
