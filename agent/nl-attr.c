/* Strict attribute parsing (nl-attr.h). */
#include "nl-attr.h"

#include <errno.h>
#include <netlink/msg.h>
#include <string.h>
#include <sys/socket.h>

int intake_attr_prefix(const struct nlattr *a, uint8_t family, uint8_t len, struct prefix *out)
{
	int r = intake_attr_addr(a, family, len, out);

	if (r == 0)
		prefix_mask(out);
	return r;
}

int intake_attr_addr(const struct nlattr *a, uint8_t family, uint8_t len, struct prefix *out)
{
	size_t alen = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;

	*out = (struct prefix){ .family = family, .len = len };
	if (!alen || len > alen * 8)
		return -EINVAL;
	if (!a)
		return len ? -EINVAL : 0;
	if ((size_t)nla_len(a) != alen)
		return -EINVAL;
	memcpy(out->addr, nla_data(a), alen);
	return 0;
}

int intake_parse(const struct nlmsghdr *h, size_t hdrlen, struct nlattr **tb, int max,
		 const struct nla_policy *policy)
{
	const struct nlattr *a;
	int rem;

	if (h->nlmsg_len < NLMSG_LENGTH(hdrlen))
		return -EINVAL;
	/* libnl stops at an attribute that runs past the message and keeps what came
	 * before; the kernel never sends one, so the whole message is suspect. */
	a = (const struct nlattr *)((const char *)NLMSG_DATA(h) + NLMSG_ALIGN(hdrlen));
	rem = (int)h->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(hdrlen));
	while (rem >= (int)sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= rem) {
		rem -= NLA_ALIGN(a->nla_len);
		a = (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
	if (rem > 0)
		return -EINVAL;
	return nlmsg_parse((struct nlmsghdr *)h, (int)hdrlen, tb, max, (struct nla_policy *)policy) < 0 ? -EINVAL : 0;
}

int intake_parse_ip(const struct nlmsghdr *h, size_t hdrlen, struct nlattr **tb, int max,
		    const struct nla_policy *policy)
{
	uint8_t family;

	if (intake_parse(h, hdrlen, tb, max, policy) < 0)
		return -EINVAL;
	family = *(const uint8_t *)NLMSG_DATA(h);	/* struct rtgenmsg's, and so theirs */
	return family == AF_INET || family == AF_INET6;
}
