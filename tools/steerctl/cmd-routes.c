/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl routes`: the compiled routes of every mirrored table with their next hops
 * resolved, worded like `ip route show table all`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "steerctl.h"

static int cmp_route_key(const void *pa, const void *pb)
{
	const struct steer_route_key *a = pa, *b = pb;
	int r;

	if (a->table != b->table)
		return a->table < b->table ? -1 : 1;
	r = sc_prefix_cmp(a->family, a->addr, a->prefixlen, b->family, b->addr, b->prefixlen);
	return r ? r : memcmp(a, b, sizeof(*a));
}

/* One route, with its next hop when it has one (nh is NULL when it is missing). */
static void print_route(struct steerctl *c, const struct steer_route_key *k,
			const struct steer_route *rt, const struct steer_nexthop *nh)
{
	char fambuf[SC_NAME_STRLEN], gwfam[SC_NAME_STRLEN], tbl[SC_NAME_STRLEN];
	char dst[SC_ADDR_STRLEN], gw[SC_ADDR_STRLEN] = "", dev[SC_NAME_STRLEN] = "";
	__u32 dstlen = k->prefixlen - STEER_ROUTE_KEY_BITS(0);
	bool fwd = rt->type == STEER_RT_FORWARD;
	const char *fam = sc_family_name(k->family, fambuf, sizeof(fambuf));
	char type[SC_NAME_STRLEN];

	sc_addr(k->family, k->addr, dst, sizeof(dst));
	if (rt->type == STEER_RT_FORWARD)
		snprintf(type, sizeof(type), "forward");
	else if (rt->type == STEER_RT_PUNT)
		snprintf(type, sizeof(type), "punt");
	else
		snprintf(type, sizeof(type), "type%u", rt->type);
	if (fwd && nh) {
		sc_ifname(nh->ifindex, dev, sizeof(dev));
		if (nh->family)
			sc_addr(nh->family, nh->gw, gw, sizeof(gw));
	}

	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_u64(&c->jw, "table", k->table);
		json_str(&c->jw, "family", fam);
		json_str(&c->jw, "dst", dst);
		json_u64(&c->jw, "dstlen", dstlen);
		json_str(&c->jw, "type", type);
		if (fwd) {
			json_u64(&c->jw, "nhid", rt->nh_id);
			if (nh && nh->family)
				json_str(&c->jw, "gateway", gw);
			if (nh)
				json_str(&c->jw, "dev", dev);
		}
		json_obj_close(&c->jw);
		return;
	}
	fprintf(c->out, "table %s %s %s/%u", sc_table_name(k->table, tbl, sizeof(tbl)), fam, dst,
		dstlen);
	if (!fwd)
		fprintf(c->out, " type %s", type);
	else if (!nh)
		fprintf(c->out, " nhid %u (missing)", rt->nh_id);
	else if (!nh->family)
		fprintf(c->out, " dev %s", dev);
	else if (nh->family != k->family)	/* e.g. IPv4 via an IPv6 gateway, RFC 5549 */
		fprintf(c->out, " via %s %s dev %s",
			sc_family_name(nh->family, gwfam, sizeof(gwfam)), gw, dev);
	else
		fprintf(c->out, " via %s dev %s", gw, dev);
	fputc('\n', c->out);
}

int cmd_routes(struct steerctl *c)
{
	struct pinned_map routes = { .fd = -1 }, nhs = { .fd = -1 };
	struct steer_route_key *keys = NULL;
	char rpath[4096], npath[4096];
	struct steer_nexthop nh;
	struct steer_route rt;
	size_t n = 0, i;
	int err;

	err = sc_path(c, STEER_MAP_ROUTES, rpath, sizeof(rpath));
	if (!err)
		err = sc_path(c, STEER_MAP_NH, npath, sizeof(npath));
	if (!err)
		err = sc_map_open(c, SC_MAP_ROUTES, &routes);
	if (!err)
		err = sc_map_open(c, SC_MAP_NH, &nhs);
	if (!err)
		err = sc_map_keys(c, &routes, cmp_route_key, (void **)&keys, &n);
	if (err)
		goto out;

	if (c->json)
		json_arr_open(&c->jw, NULL);
	for (i = 0; i < n; i++) {
		bool have_nh = false;

		if (keys[i].prefixlen < STEER_ROUTE_KEY_BITS(0)) {
			fprintf(stderr, "steerctl: %s: skipping a key with prefixlen %u, shorter "
				"than its %u table and family bits\n", rpath, keys[i].prefixlen,
				STEER_ROUTE_KEY_BITS(0));
			continue;
		}
		/* Gone since we listed it: the agent removed it. (A trie lookup is a longest
		 * match, so a removal can also show the covering route instead.) */
		if (bpf_map_lookup_elem(routes.fd, &keys[i], &rt)) {
			if (errno == ENOENT)
				continue;
			err = sc_error(c, rpath, -errno);
			break;
		}
		if (rt.type == STEER_RT_FORWARD) {
			if (!bpf_map_lookup_elem(nhs.fd, &rt.nh_id, &nh)) {
				have_nh = true;
			} else if (errno != ENOENT) {
				err = sc_error(c, npath, -errno);
				break;
			}
		}
		print_route(c, &keys[i], &rt, have_nh ? &nh : NULL);
	}
	if (c->json)
		json_arr_close(&c->jw);
out:
	free(keys);
	sc_map_close(&nhs);
	sc_map_close(&routes);
	return err;
}
