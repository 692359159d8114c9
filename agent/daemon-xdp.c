/* Which devices the XDP stage may redirect to. The kernel drops a frame redirected to a
 * device whose driver cannot send XDP frames (a veth whose peer has neither an XDP program
 * nor GRO, a VLAN device, most virtual ones), and that can change while steerd runs: a
 * DEVMAP holds exactly the devices the netdev family says can take them, as it says so. */
#include "daemon-xdp.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>

#include "log.h"

static void set_target(void *ctx, int ifindex, bool can_xmit)
{
	struct daemon *d = ctx;
	int fd = d->sync.fd.fd[MAP_XDP_TX];
	__u32 k = (__u32)ifindex;

	if (can_xmit ? bpf_map_update_elem(fd, &k, &k, BPF_ANY) :
		       (bpf_map_delete_elem(fd, &k) && errno != ENOENT))
		log_warning("XDP redirect targets: cannot %s ifindex %d: %m",
			    can_xmit ? "add" : "remove", ifindex);
	else
		log_debug("XDP redirect targets: ifindex %d %s XDP frames", ifindex,
			  can_xmit ? "takes" : "does not take");
}

/* Empty the map, then read every device: what a lost notification may have hidden. */
static int refill(struct daemon *d)
{
	int fd = d->sync.fd.fd[MAP_XDP_TX], r;
	__u32 k, next;

	while (!bpf_map_get_next_key(fd, NULL, &next)) {
		k = next;
		if (bpf_map_delete_elem(fd, &k))
			break;
	}
	do
		r = xdp_tx_dump(&d->xtx, set_target, d);
	while (r == -ENOBUFS);
	return r;
}

int xdp_targets_open(struct daemon *d)
{
	int r;

	d->xtx.fd = -1;
	if (!d->bpf.xdp_loaded)
		return 0;
	r = xdp_tx_open(&d->xtx);
	if (r == -EOPNOTSUPP) {
		log_warning("this kernel does not say which devices take XDP frames (no netdev "
			    "generic-netlink family, Linux 6.3): the XDP stage passes everything to TC");
		return 0;
	}
	if (r < 0) {
		log_err("XDP redirect targets: cannot open the netdev family: %s", strerror(-r));
		return r;
	}
	return refill(d);
}

int xdp_targets_fd(const struct daemon *d)
{
	return d->bpf.xdp_loaded ? xdp_tx_fd(&d->xtx) : -1;
}

int xdp_targets_process(struct daemon *d)
{
	int r = xdp_tx_read(&d->xtx, set_target, d);

	if (r == -ENOBUFS) {
		log_notice("XDP redirect targets: notifications lost; reading every device again");
		r = refill(d);
	}
	return r;
}

void xdp_targets_close(struct daemon *d)
{
	if (d->bpf.xdp_loaded && xdp_tx_fd(&d->xtx) >= 0)
		xdp_tx_close(&d->xtx);
}
