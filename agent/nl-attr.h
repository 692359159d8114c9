/* Strict attribute parsing for what the kernel sends over netlink: rtnetlink's handlers,
 * the reader thread's route keys and nfnetlink's intake all use these. */
#ifndef STEER_NL_ATTR_H
#define STEER_NL_ATTR_H

#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct nlattr;
struct nla_policy;

/* Copy an address attribute of the right length for family into a prefix, host bits
 * cleared (intake_attr_prefix) or as the kernel holds them (intake_attr_addr: rule
 * addresses, which the kernel compares whole when it looks a rule up). */
int intake_attr_prefix(const struct nlattr *a, uint8_t family, uint8_t len, struct prefix *out);
int intake_attr_addr(const struct nlattr *a, uint8_t family, uint8_t len, struct prefix *out);
/* nlmsg_parse, but a message whose attributes do not fill it exactly (one runs past the
 * end) is -EINVAL rather than the attributes before it. */
int intake_parse(const struct nlmsghdr *h, size_t hdrlen, struct nlattr **tb, int max,
		 const struct nla_policy *policy);
/* intake_parse for the rtnetlink messages of one address family (addresses, neighbours,
 * routes, rules), whose header starts with it: 1 for IPv4 or IPv6, 0 for another family
 * (not ours: the handler ignores the message), -EINVAL for one that does not parse. */
int intake_parse_ip(const struct nlmsghdr *h, size_t hdrlen, struct nlattr **tb, int max,
		    const struct nla_policy *policy);

#endif
