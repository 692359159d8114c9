/* The XDP stage in the image (compile-xdp.c). */
#ifndef STEER_COMPILE_XDP_H
#define STEER_COMPILE_XDP_H

#include "image.h"
#include "model.h"

/* The links' STEER_LINK_VLAN_LOWER flag (img->links sorted by ifindex), and with the
 * model's XDP switch on the neighbours the XDP stage may send to.
 * 0 or -ENOMEM. */
int compile_xdp(const struct model *m, struct image *img);

#endif
