/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl rules`: the compiled rule lists, one line per (source prefix, rule), in the
 * order the datapath walks them. Reading this against `ip rule show` shows what the fast
 * path took over and what it punts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "steerctl.h"

static int cmp_src_key(const void *pa, const void *pb)
{
	const struct steer_src_key *a = pa, *b = pb;
	int r = sc_prefix_cmp(a->family, a->addr, a->prefixlen, b->family, b->addr, b->prefixlen);

	return r ? r : memcmp(a, b, sizeof(*a));
}

static const char *action_name(__u8 action, char *buf, size_t len)
{
	switch (action) {
	case STEER_RULE_LOOKUP: return "lookup";
	case STEER_RULE_PUNT:   return "punt";
	}
	snprintf(buf, len, "action%u", action);
	return buf;
}

/* The address part of a key as "ADDR/LEN", or NULL when its prefixlen is shorter than
 * the family+pad bits every key carries. */
static const char *src_prefix(const struct steer_src_key *k, char *buf, size_t len)
{
	char addr[SC_ADDR_STRLEN];

	if (k->prefixlen < STEER_SRC_KEY_BITS(0))
		return NULL;
	snprintf(buf, len, "%s/%u", sc_addr(k->family, k->addr, addr, sizeof(addr)),
		 k->prefixlen - STEER_SRC_KEY_BITS(0));
	return buf;
}

static void print_rule(struct steerctl *c, const struct steer_src_key *k,
		       const struct steer_rule *r, int src_width)
{
	char fam[SC_NAME_STRLEN], addr[SC_ADDR_STRLEN], pfx[SC_ADDR_STRLEN];
	char act[SC_NAME_STRLEN], tbl[SC_NAME_STRLEN];

	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_str(&c->jw, "family", sc_family_name(k->family, fam, sizeof(fam)));
		json_str(&c->jw, "src", sc_addr(k->family, k->addr, addr, sizeof(addr)));
		json_u64(&c->jw, "srclen", k->prefixlen - STEER_SRC_KEY_BITS(0));
		json_u64(&c->jw, "priority", r->priority);
		json_str(&c->jw, "action", action_name(r->action, act, sizeof(act)));
		json_u64(&c->jw, "table", r->table);
		json_obj_close(&c->jw);
		return;
	}
	fprintf(c->out, "%-6s %-*s %-8u %-6s %s\n", sc_family_name(k->family, fam, sizeof(fam)),
		src_width, src_prefix(k, pfx, sizeof(pfx)), r->priority,
		action_name(r->action, act, sizeof(act)),
		r->action == STEER_RULE_PUNT && !r->table ? "-" :
		sc_table_name(r->table, tbl, sizeof(tbl)));
}

int cmd_rules(struct steerctl *c)
{
	struct pinned_map m = { .fd = -1 };
	struct steer_src_key *keys = NULL;
	struct steer_rule_list list;
	char path[4096], pfx[SC_ADDR_STRLEN];
	size_t n = 0, i;
	int err, width = (int)strlen("SRC");
	__u32 r, count;

	err = sc_path(c, STEER_MAP_SRC, path, sizeof(path));
	if (err)
		return err;
	err = sc_map_open(c, SC_MAP_SRC, &m);
	if (err)
		return err;
	err = sc_map_keys(c, &m, cmp_src_key, (void **)&keys, &n);
	if (err)
		goto out;

	for (i = 0; i < n; i++) {
		if (!src_prefix(&keys[i], pfx, sizeof(pfx))) {
			fprintf(stderr, "steerctl: %s: skipping a key with prefixlen %u, shorter "
				"than its %u family bits\n", path, keys[i].prefixlen,
				STEER_SRC_KEY_BITS(0));
			continue;
		}
		if ((int)strlen(pfx) > width)
			width = (int)strlen(pfx);
	}

	if (c->json)
		json_arr_open(&c->jw, NULL);
	else
		fprintf(c->out, "%-6s %-*s %-8s %-6s %s\n", "FAMILY", width, "SRC", "PRIORITY",
			"ACTION", "TABLE");
	for (i = 0; i < n; i++) {
		if (keys[i].prefixlen < STEER_SRC_KEY_BITS(0))
			continue;
		if (bpf_map_lookup_elem(m.fd, &keys[i], &list)) {
			/* Removed by the agent since we listed it. (A trie lookup is a longest
			 * match, so a removal can also show the covering entry's list.) */
			if (errno == ENOENT)
				continue;
			err = sc_error(c, path, -errno);
			break;
		}
		count = list.count;
		if (count > STEER_MAX_RULES) {
			fprintf(stderr, "steerctl: %s: %s lists %u rules, more than the %d an "
				"entry holds; showing those\n", path,
				src_prefix(&keys[i], pfx, sizeof(pfx)), count, STEER_MAX_RULES);
			count = STEER_MAX_RULES;
		}
		for (r = 0; r < count; r++)
			print_rule(c, &keys[i], &list.rules[r], width);
	}
	if (c->json)
		json_arr_close(&c->jw);
out:
	free(keys);
	sc_map_close(&m);
	return err;
}
