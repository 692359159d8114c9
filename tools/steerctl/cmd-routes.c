/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl routes [table T]`: the compiled routes of every mirrored table (or of one) with
 * their next hops and multipath groups resolved, worded like `ip route show table all`. */
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

struct routes_ctx {
	struct steerctl *c;
	struct pinned_map routes, nhs, groups;
	char rpath[4096];
};

/* The members of a multipath route's group, one "nexthop" line (or object) each, with the
 * share of the hash space each takes. Returns 0 or a negative errno. */
static int print_group(struct routes_ctx *x, __u8 family, const struct steer_group *g)
{
	struct steerctl *c = x->c;
	struct steer_nexthop nh;
	__u32 i, n = g->count < STEER_MAX_PATHS ? g->count : STEER_MAX_PATHS;
	int r;

	if (c->json)
		json_arr_open(&c->jw, "nexthops");
	for (i = 0; i < n; i++) {
		r = sc_map_lookup(c, &x->nhs, &g->nh_ids[i], &nh);
		if (r < 0)
			return r;
		if (c->json) {
			json_obj_open(&c->jw, NULL);
			json_u64(&c->jw, "nhid", g->nh_ids[i]);
			if (r)
				sc_nh_json(&c->jw, family, &nh);
			json_decimal(&c->jw, "share", sc_path_share(g, i), 2);
			json_obj_close(&c->jw);
			continue;
		}
		fputs("\tnexthop", c->out);
		if (r)
			sc_nh_words(c->out, family, &nh);
		else
			fprintf(c->out, " nhid %u (missing)", g->nh_ids[i]);
		fprintf(c->out, " share %.2f%%\n", sc_path_share(g, i));
	}
	if (c->json)
		json_arr_close(&c->jw);
	return 0;
}

/* One route, with its next hop or group resolved. Returns 0 or a negative errno. */
static int print_route(struct routes_ctx *x, const struct steer_route_key *k,
		       const struct steer_route *rt)
{
	struct steerctl *c = x->c;
	char fambuf[SC_NAME_STRLEN], tbl[SC_NAME_STRLEN], type[SC_NAME_STRLEN];
	char dst[SC_ADDR_STRLEN];
	__u32 dstlen = k->prefixlen - STEER_ROUTE_KEY_BITS(0);
	const char *fam = sc_family_name(k->family, fambuf, sizeof(fambuf));
	struct steer_nexthop nh;
	struct steer_group g;
	int have = 0;

	sc_addr(k->family, k->addr, dst, sizeof(dst));
	if (rt->type == STEER_RT_FORWARD)
		have = sc_map_lookup(c, &x->nhs, &rt->nh_id, &nh);
	else if (rt->type == STEER_RT_MULTIPATH)
		have = sc_map_lookup(c, &x->groups, &rt->nh_id, &g);
	if (have < 0)
		return have;

	if (c->json) {
		char pfx[SC_ADDR_STRLEN];

		/* ip -j route's shapes: "dst" as it prints it, the table by name, and a
		 * multipath route is of type unicast with "nexthops". */
		json_obj_open(&c->jw, NULL);
		json_str(&c->jw, "table", sc_table_name(k->table, tbl, sizeof(tbl)));
		json_str(&c->jw, "family", fam);
		json_str(&c->jw, "dst", sc_route_dst(k->family, k->addr, dstlen, pfx, sizeof(pfx)));
		json_str(&c->jw, "type", rt->type == STEER_RT_MULTIPATH ? "unicast" :
			 sc_route_type_name(rt->type, type, sizeof(type)));
		if (rt->type == STEER_RT_FORWARD) {
			json_u64(&c->jw, "nhid", rt->nh_id);
			if (have)
				sc_nh_json(&c->jw, k->family, &nh);
		} else if (rt->type == STEER_RT_MULTIPATH) {
			json_u64(&c->jw, "nhgroup", rt->nh_id);
			if (have) {
				int err = print_group(x, k->family, &g);

				if (err)
					return err;
			}
		}
		json_obj_close(&c->jw);
		return 0;
	}
	fprintf(c->out, "table %s %s %s/%u", sc_table_name(k->table, tbl, sizeof(tbl)), fam, dst,
		dstlen);
	if (rt->type == STEER_RT_FORWARD) {
		if (have)
			sc_nh_words(c->out, k->family, &nh);
		else
			fprintf(c->out, " nhid %u (missing)", rt->nh_id);
		fputc('\n', c->out);
	} else if (rt->type == STEER_RT_MULTIPATH) {
		fprintf(c->out, " nhgroup %u%s\n", rt->nh_id, have ? "" : " (missing)");
		if (have)
			return print_group(x, k->family, &g);
	} else {
		fprintf(c->out, " type %s\n", sc_route_type_name(rt->type, type, sizeof(type)));
	}
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
	struct steer_route rt;
	size_t n = 0, i;
	bool one_table;
	__u32 table = 0;
	int err;

	err = parse_args(c, &one_table, &table);
	if (err)
		return err;
	err = sc_path(c, STEER_MAP_ROUTES, x.rpath, sizeof(x.rpath));
	if (!err)
		err = sc_map_open(c, MAP_ROUTES, &x.routes);
	if (!err)
		err = sc_map_open(c, MAP_NH, &x.nhs);
	if (!err)
		err = sc_map_open(c, MAP_GROUPS, &x.groups);
	if (!err)
		err = sc_map_keys(c, &x.routes, cmp_route_key, (void **)&keys, &n);
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
	free(keys);
	sc_map_close(&x.groups);
	sc_map_close(&x.nhs);
	sc_map_close(&x.routes);
	return err;
}
