/* The XDP stage in the image (compile-xdp.c). */
#ifndef STEER_COMPILE_XDP_H
#define STEER_COMPILE_XDP_H

#include "image.h"
#include "model.h"

/* With the model's XDP switch on: the neighbours the XDP stage may send to, and the
 * STEER_LINK_VLAN_LOWER flag on the links (img->links sorted by ifindex). 0 or -ENOMEM. */
int compile_xdp(const struct model *m, struct image *img);

#endif
