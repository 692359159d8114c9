/* Which devices an XDP redirect can send to: the kernel drops a frame redirected to a
 * device without ndo_xdp_xmit (in __xdp_enqueue), so a DEVMAP must hold only devices whose
 * xdp_features say NDO_XMIT. Read from the "netdev" generic-netlink family (Linux >= 6.3). */
#ifndef STEER_XDP_TX_H
#define STEER_XDP_TX_H

#include <stdbool.h>

struct nl_sock;

struct xdp_tx {
	struct nl_sock *sk;
	int fd;			/* -1 while closed */
	int family;		/* the netdev family's id in this kernel */
	void *buf;		/* what one receive reads into */
};

/* Told for each device: can_xmit is whether its driver takes redirected frames (a device
 * that is gone is told with false). It is not link state: frames redirected to a device
 * that is down, or to a veth whose peer is down, are dropped all the same; and a veth's
 * bit misses a GRO change made on its peer while the peer was down. The same device
 * may be told more than once (a new device comes with no features, then a change). */
typedef void (*xdp_tx_cb)(void *ctx, int ifindex, bool can_xmit);

/* Opens a non-blocking generic-netlink socket in this netns, joined to the netdev family's
 * "mgmt" group. 0, -ENOMEM, -EOPNOTSUPP when the kernel has no netdev family, or -EIO. */
int xdp_tx_open(struct xdp_tx *t);
int xdp_tx_fd(const struct xdp_tx *t);
/* Tells every device of the netns, waiting for the whole dump. Notifications still queued
 * are dropped (the dump supersedes them); those that arrive during it are told in between
 * its parts, in the kernel's order, so when it returns the last word on each device is
 * current. 0, -ENOBUFS when notifications were lost meanwhile (dump again), or another
 * -errno. */
int xdp_tx_dump(struct xdp_tx *t, xdp_tx_cb cb, void *ctx);
/* Tells what the pending notifications say, without waiting. 0 once none is left,
 * -ENOBUFS when some were lost (dump again), or another -errno. */
int xdp_tx_read(struct xdp_tx *t, xdp_tx_cb cb, void *ctx);
void xdp_tx_close(struct xdp_tx *t);

#endif
