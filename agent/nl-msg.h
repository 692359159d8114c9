/* The rtnetlink message handlers, one per object kind (nl-link.c, nl-addr.c, ...), that
 * nl.c dispatches to by message type. Each returns 0, or -EINVAL for a message it could not
 * parse, which the caller counts and logs. */
#ifndef STEER_NL_MSG_H
#define STEER_NL_MSG_H

#include <linux/netlink.h>

#include "model.h"

int intake_link_msg(struct model *m, const struct nlmsghdr *h);
int intake_netconf_msg(struct model *m, const struct nlmsghdr *h);
int intake_addr_msg(struct model *m, const struct nlmsghdr *h);
int intake_neigh_msg(struct model *m, const struct nlmsghdr *h);
int intake_route_msg(struct model *m, const struct nlmsghdr *h);
int intake_rule_msg(struct model *m, const struct nlmsghdr *h);
int intake_nexthop_msg(struct model *m, const struct nlmsghdr *h);
/* What the model must know of the kernel's build (model.router_pref6). */
void intake_probe_kernel(struct model *m);

#endif
