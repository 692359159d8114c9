/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl nexthops`: every next hop and every multipath group the agent compiled, in
 * `ip nexthop`'s words, groups with the share of the flows each member takes. Routes and
 * steer.yaml policies refer to them by these ids. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "steerctl.h"

struct nh_ctx {
	struct steerctl *c;
	struct pinned_map nhs, groups;
};

static void print_nh(struct nh_ctx *x, __u32 id, const struct steer_nexthop *nh)
{
	struct steerctl *c = x->c;
	char fam[SC_NAME_STRLEN];

	if (!c->json) {
		fprintf(c->out, "id %u", id);
		/* The gateway's own family: a next hop belongs to no route here. */
		sc_nh_words(c->out, nh->family, nh);
		fputc('\n', c->out);
		return;
	}
	json_obj_open(&c->jw, NULL);
	json_u64(&c->jw, "id", id);
	if (nh->family)
		json_str(&c->jw, "family", sc_family_name(nh->family, fam, sizeof(fam)));
	sc_nh_json(&c->jw, 0, nh);
	json_u64(&c->jw, "ifindex", nh->ifindex);
	json_obj_close(&c->jw);
}

/* A group and its members, each resolved to its next hop. Returns 0 or a negative errno. */
static int print_group(struct nh_ctx *x, __u32 id, const struct steer_group *g)
{
	struct steerctl *c = x->c;
	__u32 i, n = g->count < STEER_MAX_PATHS ? g->count : STEER_MAX_PATHS;
	char hash[SC_NAME_STRLEN];
	struct steer_nexthop nh;
	int r;

	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_u64(&c->jw, "id", id);
		json_str(&c->jw, "hash", sc_group_hash_name(g, hash, sizeof(hash)));
		json_arr_open(&c->jw, "group");
	} else {
		fprintf(c->out, "group %u hash %s\n", id, sc_group_hash_name(g, hash, sizeof(hash)));
	}
	for (i = 0; i < n; i++) {
		r = sc_map_lookup(c, &x->nhs, &g->nh_ids[i], &nh);
		if (r < 0)
			return r;
		if (c->json) {
			json_obj_open(&c->jw, NULL);
			json_u64(&c->jw, "id", g->nh_ids[i]);
			if (r)
				sc_nh_json(&c->jw, 0, &nh);
			else
				json_bool(&c->jw, "missing", true);
			json_decimal(&c->jw, "share", sc_path_share(g, i), 2);
			json_obj_close(&c->jw);
			continue;
		}
		fprintf(c->out, "\tnexthop id %u", g->nh_ids[i]);
		if (r)
			sc_nh_words(c->out, nh.family, &nh);
		else
			fputs(" (missing)", c->out);
		fprintf(c->out, " share %.2f%%\n", sc_path_share(g, i));
	}
	if (c->json) {
		json_arr_close(&c->jw);
		json_obj_close(&c->jw);
	}
	return 0;
}

int cmd_nexthops(struct steerctl *c)
{
	struct nh_ctx x = { .c = c, .nhs = { .fd = -1 }, .groups = { .fd = -1 } };
	__u32 *nh_ids = NULL, *group_ids = NULL;
	size_t n_nh = 0, n_groups = 0, i;
	struct steer_nexthop nh;
	struct steer_group g;
	int err;

	err = sc_map_open(c, MAP_NH, &x.nhs);
	if (!err)
		err = sc_map_open(c, MAP_GROUPS, &x.groups);
	if (!err)
		err = sc_map_keys(c, &x.nhs, sc_cmp_u32, (void **)&nh_ids, &n_nh);
	if (!err)
		err = sc_map_keys(c, &x.groups, sc_cmp_u32, (void **)&group_ids, &n_groups);
	if (err)
		goto out;

	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_arr_open(&c->jw, "nexthops");
	}
	for (i = 0; i < n_nh && !err; i++) {
		int r = sc_map_lookup(c, &x.nhs, &nh_ids[i], &nh);

		if (r < 0)
			err = r;
		else if (r)	/* else removed since we listed it */
			print_nh(&x, nh_ids[i], &nh);
	}
	if (c->json) {
		json_arr_close(&c->jw);
		json_arr_open(&c->jw, "groups");
	}
	for (i = 0; i < n_groups && !err; i++) {
		int r = sc_map_lookup(c, &x.groups, &group_ids[i], &g);

		if (r < 0)
			err = r;
		else if (r)	/* else removed since we listed it */
			err = print_group(&x, group_ids[i], &g);
	}
	if (c->json) {
		json_arr_close(&c->jw);
		json_obj_close(&c->jw);
	}
out:
	free(group_ids);
	free(nh_ids);
	sc_map_close(&x.groups);
	sc_map_close(&x.nhs);
	return err;
}
