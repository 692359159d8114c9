/* Building netlink messages by hand for the intake's unit tests: one message at a time, its
 * attributes appended, lengths as the kernel would write them unless a test says otherwise. */
#ifndef STEER_TEST_NLMSG_H
#define STEER_TEST_NLMSG_H

#include <stdint.h>
#include <string.h>
#include <linux/netlink.h>

/* One message under construction, aligned as the kernel aligns its buffers. */
struct msg {
	union {
		struct nlmsghdr h;
		uint32_t align[256];
	};
};

static inline void start(struct msg *m, uint16_t type, const void *hdr, size_t hdr_len)
{
	memset(m, 0, sizeof(*m));
	m->h.nlmsg_type = type;
	m->h.nlmsg_flags = NLM_F_CREATE;
	m->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(hdr_len);
	memcpy(NLMSG_DATA(&m->h), hdr, hdr_len);
}

/* Appends an attribute; `claim` is the length its header states (normally its real one). */
static inline void attr_claim(struct msg *m, uint16_t type, const void *data, size_t len, size_t claim)
{
	struct nlattr *a = (struct nlattr *)((char *)&m->h + NLMSG_ALIGN(m->h.nlmsg_len));

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + claim);
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	m->h.nlmsg_len = (uint32_t)(NLMSG_ALIGN(m->h.nlmsg_len) + NLA_ALIGN(NLA_HDRLEN + len));
}

static inline void attr(struct msg *m, uint16_t type, const void *data, size_t len)
{
	attr_claim(m, type, data, len, len);
}

static inline void attr_u32(struct msg *m, uint16_t type, uint32_t v)
{
	attr(m, type, &v, sizeof(v));
}

static inline void attr_str(struct msg *m, uint16_t type, const char *s)
{
	attr(m, type, s, strlen(s) + 1);
}

/* A nested attribute: open it, append its members, close it with the offset open gave. */
static inline size_t nest_open(struct msg *m, uint16_t type)
{
	size_t off = NLMSG_ALIGN(m->h.nlmsg_len);

	attr(m, type | NLA_F_NESTED, NULL, 0);
	return off;
}

static inline void nest_close(struct msg *m, size_t off)
{
	struct nlattr *a = (struct nlattr *)((char *)&m->h + off);

	a->nla_len = (uint16_t)(m->h.nlmsg_len - off);
}

#endif
