/* The XDP stage's redirect targets (daemon-xdp.c). */
#ifndef STEER_DAEMON_XDP_H
#define STEER_DAEMON_XDP_H

#include "daemon-state.h"

/* With the XDP stage on: steer_xdp_tx emptied, then filled with the devices whose drivers
 * take XDP frames now, and kept so from the kernel's notifications (xdp_targets_fd()). A
 * kernel without the netdev family leaves it empty: XDP then passes everything to TC. */
int xdp_targets_open(struct daemon *d);
int xdp_targets_fd(const struct daemon *d);	/* -1 when there is none to wait on */
/* The notifications waiting; after lost ones, everything again. 0 or negative errno. */
int xdp_targets_process(struct daemon *d);
void xdp_targets_close(struct daemon *d);

#endif
