/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The words of one `steerctl explain` question, the same on the command line and on each
 * line of --batch input. Numbers are read as `ip route get` reads them, so one line can be
 * handed to both: tos is hex (rtnl_dsfield_a2n), the rest decimal or 0x hex. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "steerctl.h"
#include "explain.h"

static int fail(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* An unsigned number no larger than max, in base 0 as iproute2's get_u32() reads it (so
 * 0x hex too). Returns 0 or -EINVAL. */
static int parse_num(const char *s, int base, unsigned long max, unsigned long *v)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, base);
	return errno || *end || *v > max ? -EINVAL : 0;
}

/* An address of either family. Returns its STEER_AF_*, or 0 when s is neither. */
static __u8 parse_addr(const char *s, __u8 *addr)
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1)
		return STEER_AF_INET;
	if (inet_pton(AF_INET6, s, addr) == 1)
		return STEER_AF_INET6;
	return 0;
}

bool explain_proto_has_ports(__u8 proto)
{
	switch (proto) {
	case 6:		/* tcp */
	case 17:	/* udp */
	case 33:	/* dccp */
	case 132:	/* sctp */
	case 136:	/* udplite */
		return true;
	}
	return false;
}

enum { W_FROM, W_IIF, W_OIF, W_MARK, W_TOS, W_PROTO, W_SPORT, W_DPORT, W_COUNT };

static const char *const words[W_COUNT] = {
	[W_FROM] = "from", [W_IIF] = "iif", [W_OIF] = "oif", [W_MARK] = "mark", [W_TOS] = "tos",
	[W_PROTO] = "ipproto", [W_SPORT] = "sport", [W_DPORT] = "dport",
};

int explain_parse(int argc, char **argv, struct explain_req *req, char *err, size_t errlen)
{
	bool seen[W_COUNT] = {};
	unsigned long v;
	__u8 sfam = 0;
	int i = 0, w;

	memset(req, 0, sizeof(*req));
	if (argc > 0 && !strcmp(argv[0], "to"))
		i++;
	if (i >= argc)
		return fail(err, errlen, "explain needs a destination: DST from SRC iif IFACE");
	req->family = parse_addr(argv[i], req->dst);
	if (!req->family)
		return fail(err, errlen, "destination '%s' is not an IPv4 or IPv6 address",
			    argv[i]);

	for (i++; i < argc; i += 2) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		for (w = 0; w < W_COUNT; w++)
			if (!strcmp(argv[i], words[w]))
				break;
		/* `ip route get` spells tos dsfield too. */
		if (w == W_COUNT && !strcmp(argv[i], "dsfield"))
			w = W_TOS;
		if (w == W_COUNT)
			return fail(err, errlen, "unknown word '%s' (expected from, iif, oif, mark, tos, "
				    "ipproto, sport or dport)", argv[i]);
		if (!val)
			return fail(err, errlen, "'%s' needs a value", argv[i]);
		if (seen[w])
			return fail(err, errlen, "'%s' given twice", words[w]);
		seen[w] = true;

		switch (w) {
		case W_FROM:
			sfam = parse_addr(val, req->src);
			if (!sfam)
				return fail(err, errlen, "source '%s' is not an IPv4 or IPv6 "
					    "address", val);
			break;
		case W_IIF:
		case W_OIF:
			if (!*val || strlen(val) >= IF_NAMESIZE || strchr(val, '/'))
				return fail(err, errlen, "'%s' is not an interface name", val);
			snprintf(req->ifname, sizeof(req->ifname), "%s", val);
			req->egress = w == W_OIF;
			break;
		case W_MARK:
			if (parse_num(val, 0, 0xffffffffUL, &v))
				return fail(err, errlen, "mark '%s' is not a number 0-0xffffffff",
					    val);
			req->mark = (__u32)v;
			break;
		case W_TOS:
			if (parse_num(val, 16, 0xff, &v))
				return fail(err, errlen, "tos '%s' is not a hex number 0-ff", val);
			req->tos = (__u8)v;
			break;
		case W_PROTO:
			if (sc_proto_parse(val, &req->proto))
				return fail(err, errlen, "unknown ipproto '%s'", val);
			break;
		case W_SPORT:
		case W_DPORT:
			if (parse_num(val, 0, 0xffff, &v))
				return fail(err, errlen, "%s '%s' is not a port 0-65535",
					    words[w], val);
			if (w == W_SPORT)
				req->sport = (__u16)v;
			else
				req->dport = (__u16)v;
			break;
		}
	}

	if (!seen[W_FROM])
		return fail(err, errlen, "explain needs 'from SRC'");
	if (seen[W_IIF] == seen[W_OIF])
		return fail(err, errlen, "explain needs 'iif IFACE' (arriving there) or 'oif IFACE' "
			    "(leaving there, as the kernel routed it), one of them");
	if (sfam != req->family)
		return fail(err, errlen, "source and destination are of different families");
	/* Protocol 0 carries no ports: with a port and no protocol, UDP. */
	req->proto_assumed = !seen[W_PROTO];
	if (!seen[W_PROTO])
		req->proto = seen[W_SPORT] || seen[W_DPORT] ? 17 :
			     req->family == STEER_AF_INET ? EXPLAIN_PROTO_DEFAULT4
							  : EXPLAIN_PROTO_DEFAULT6;
	else if ((seen[W_SPORT] || seen[W_DPORT]) && !explain_proto_has_ports(req->proto)) {
		char pn[SC_NAME_STRLEN];

		return fail(err, errlen, "ipproto %s has no ports: sport and dport need tcp, udp, "
			    "sctp, dccp or udplite", sc_proto_name(req->proto, pn, sizeof(pn)));
	}
	return 0;
}
