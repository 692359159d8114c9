/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl routes [table T]`: the compiled routes of every mirrored table (or of one) with
 * their next hops and multipath groups resolved, worded like `ip route show table all`. */
#include <stdlib.h>
#include <string.h>

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

struct routes_ctx {
	struct steerctl *c;
	struct pinned_map routes, nhs, groups;
	char rpath[4096];
};

/* One route as `ip route show` words it, "table T FAMILY DST/LEN" and its next hop, or its
 * group and a "nexthop" line per member; in JSON with ip -j route's shapes: "dst" as it
 * prints it, the table by name, and a multipath route of type unicast with "nexthops".
 * Returns 0 or a negative errno. */
static int print_route(struct routes_ctx *x, const struct steer_route_key *k,
		       const struct steer_route *rt)
{
	struct steerctl *c = x->c;
	char buf[SC_ADDR_STRLEN], addr[SC_ADDR_STRLEN];
	__u32 dstlen = k->prefixlen - STEER_ROUTE_KEY_BITS(0);
	bool resolved = rt->type == STEER_RT_FORWARD || rt->type == STEER_RT_MULTIPATH;
	struct steer_nexthop nh;
	struct steer_group g;
	struct sc_desc d;
	int have = 0;

	if (rt->type == STEER_RT_FORWARD)
		have = sc_map_lookup(c, &x->nhs, &rt->nh_id, &nh);
	else if (rt->type == STEER_RT_MULTIPATH)
		have = sc_map_lookup(c, &x->groups, &rt->nh_id, &g);
	if (have < 0)
		return have;

	d.n = 0;
	sc_desc_add(&d, SC_OBJ, NULL, NULL, NULL);
	sc_desc_add(&d, SC_STR, "table", "table %s", sc_table_name(k->table, buf, sizeof(buf)));
	sc_desc_add(&d, SC_STR, "family", " %s", sc_family_name(k->family, buf, sizeof(buf)));
	snprintf(buf, sizeof(buf), "%s/%u", sc_addr(k->family, k->addr, addr, sizeof(addr)), dstlen);
	sc_desc_add(&d, SC_TEXT, NULL, " %s", buf);
	sc_desc_add(&d, SC_STR, "dst", NULL, sc_route_dst(k->family, k->addr, dstlen, buf,
							   sizeof(buf)));
	sc_desc_add(&d, SC_STR, "type", resolved ? NULL : " type %s\n",
		    rt->type == STEER_RT_MULTIPATH ? "unicast" :
		    sc_route_type_name(rt->type, buf, sizeof(buf)));
	if (rt->type == STEER_RT_FORWARD) {
		sc_desc_num(&d, "nhid", have ? NULL : " nhid %s (missing)", rt->nh_id);
		if (have)
			sc_nh_desc(&d, k->family, &nh);
		sc_desc_line(&d, "\n");
	} else if (rt->type == STEER_RT_MULTIPATH) {
		sc_desc_num(&d, "nhgroup", have ? " nhgroup %s\n" : " nhgroup %s (missing)\n",
			    rt->nh_id);
		if (have) {
			int err;

			sc_desc_add(&d, SC_ARR, "nexthops", NULL, NULL);
			err = sc_group_desc(&d, c, &x->nhs, k->family, &g);
			if (err)
				return err;
			sc_desc_add(&d, SC_ARR_END, NULL, NULL, NULL);
		}
	}
	sc_desc_add(&d, SC_OBJ_END, NULL, NULL, NULL);
	sc_desc_print(c, &d);
	return 0;
}

/* The words after `routes`: nothing, `table all`, or `table T`. */
static int parse_args(const struct steerctl *c, bool *one, __u32 *table)
{
	*one = false;
	if (!c->argc)
		return 0;
	if (strcmp(c->argv[0], "table"))
		return sc_usage_error("routes: unexpected argument '%s' (expected: table T)",
				      c->argv[0]);
	if (c->argc < 2)
		return sc_usage_error("%s", "routes: table needs a table: a number, main, local, "
				      "default or all");
	if (c->argc > 2)
		return sc_usage_error("routes: unexpected argument '%s'", c->argv[2]);
	if (!strcmp(c->argv[1], "all"))
		return 0;
	if (sc_table_parse(c->argv[1], table))
		return sc_usage_error("routes: '%s' is not a table: a number, main, local, "
				      "default or all", c->argv[1]);
	*one = true;
	return 0;
}

int cmd_routes(struct steerctl *c)
{
	struct routes_ctx x = { .c = c, .routes = { .fd = -1 }, .nhs = { .fd = -1 },
				.groups = { .fd = -1 } };
	struct steer_route_key *keys = NULL;
	size_t n = 0, i;
	const struct sc_map_use maps[] = {
		{ MAP_ROUTES, &x.routes, cmp_route_key, (void **)&keys, &n }, { MAP_NH, &x.nhs },
		{ MAP_GROUPS, &x.groups }, {} };
	struct steer_route rt;
	bool one_table;
	__u32 table = 0;
	int err;

	err = parse_args(c, &one_table, &table);
	if (err)
		return err;
	err = sc_path(c, STEER_MAP_ROUTES, x.rpath, sizeof(x.rpath));
	if (!err)
		err = sc_maps_open(c, maps);
	if (err)
		goto out;

	if (c->json)
		json_arr_open(&c->jw, NULL);
	for (i = 0; i < n && !err; i++) {
		if (one_table && keys[i].table != table)
			continue;
		if (keys[i].prefixlen < STEER_ROUTE_KEY_BITS(0)) {
			fprintf(stderr, "steerctl: %s: skipping a key with prefixlen %u, shorter "
				"than its %u table and family bits\n", x.rpath, keys[i].prefixlen,
				STEER_ROUTE_KEY_BITS(0));
			continue;
		}
		/* Gone since we listed it: the agent removed it. (A trie lookup is a longest
		 * match, so a removal can also show the covering route instead.) */
		err = sc_map_lookup(c, &x.routes, &keys[i], &rt);
		if (err > 0)
			err = print_route(&x, &keys[i], &rt);
	}
	if (c->json)
		json_arr_close(&c->jw);
out:
	sc_maps_close(maps);
	return err;
}
