/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl nexthops`: every next hop and every multipath group the agent compiled, in
 * `ip nexthop`'s words, groups with the share of the flows each member takes. Routes and
 * steer.yaml policies refer to them by these ids. */
#include <stdlib.h>

#include "steerctl.h"

struct nh_ctx {
	struct steerctl *c;
	struct pinned_map nhs, groups;
};

/* "id N via GW dev DEV", with the gateway's own family in JSON: a next hop belongs to no
 * route here. */
static int describe_nh(struct nh_ctx *x, __u32 id, const void *val, struct sc_desc *d)
{
	const struct steer_nexthop *nh = val;
	char fam[SC_NAME_STRLEN];

	(void)x;
	sc_desc_num(d, "id", "id %s", id);
	if (nh->family)
		sc_desc_add(d, SC_STR, "family", NULL, sc_family_name(nh->family, fam, sizeof(fam)));
	sc_nh_desc(d, 0, nh);
	sc_desc_num(d, "ifindex", NULL, nh->ifindex);
	sc_desc_line(d, "\n");
	return 0;
}

/* A group and its members, each resolved to its next hop. */
static int describe_group(struct nh_ctx *x, __u32 id, const void *val, struct sc_desc *d)
{
	const struct steer_group *g = val;
	char hash[SC_NAME_STRLEN];
	int err;

	sc_desc_num(d, "id", "group %s", id);
	sc_desc_add(d, SC_STR, "hash", " hash %s\n", sc_group_hash_name(g, hash, sizeof(hash)));
	sc_desc_add(d, SC_ARR, "group", NULL, NULL);
	err = sc_group_desc(d, x->c, &x->nhs, 0, g);
	sc_desc_add(d, SC_ARR_END, NULL, NULL, NULL);
	return err;
}

/* Each entry of m that ids names, described by describe (0 or a negative errno) as one
 * object of the JSON array named key; an entry the agent removed since we listed it is left
 * out. Returns 0 or a negative errno. */
static int print_each(struct nh_ctx *x, const char *key, const struct pinned_map *m,
		      const __u32 *ids, size_t n,
		      int (*describe)(struct nh_ctx *, __u32, const void *, struct sc_desc *))
{
	union {
		struct steer_nexthop nh;
		struct steer_group g;
	} val;
	int err = 0;

	if (x->c->json)
		json_arr_open(&x->c->jw, key);
	for (size_t i = 0; i < n && !err; i++) {
		struct sc_desc d;

		err = sc_map_lookup(x->c, m, &ids[i], &val);
		if (err <= 0)
			continue;
		d.n = 0;
		sc_desc_add(&d, SC_OBJ, NULL, NULL, NULL);
		err = describe(x, ids[i], &val, &d);
		sc_desc_add(&d, SC_OBJ_END, NULL, NULL, NULL);
		if (!err)
			sc_desc_print(x->c, &d);
	}
	if (x->c->json)
		json_arr_close(&x->c->jw);
	return err;
}

int cmd_nexthops(struct steerctl *c)
{
	struct nh_ctx x = { .c = c, .nhs = { .fd = -1 }, .groups = { .fd = -1 } };
	__u32 *nh_ids = NULL, *group_ids = NULL;
	size_t n_nh = 0, n_groups = 0;
	const struct sc_map_use maps[] = {
		{ MAP_NH, &x.nhs, sc_cmp_u32, (void **)&nh_ids, &n_nh },
		{ MAP_GROUPS, &x.groups, sc_cmp_u32, (void **)&group_ids, &n_groups }, {} };
	int err;

	err = sc_maps_open(c, maps);
	if (err)
		goto out;

	if (c->json)
		json_obj_open(&c->jw, NULL);
	err = print_each(&x, "nexthops", &x.nhs, nh_ids, n_nh, describe_nh);
	if (!err)
		err = print_each(&x, "groups", &x.groups, group_ids, n_groups, describe_group);
	if (c->json)
		json_obj_close(&c->jw);
out:
	sc_maps_close(maps);
	return err;
}
