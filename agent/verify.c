/* Verification: do the maps say what the kernel says? A fresh image, compiled from a fresh
 * dump, is compared with the maps entry by entry, every id resolved to what it names, so two
 * agents (or an agent and its own past) agree only if the datapath would decide alike. */
#include "verify.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

size_t verify_count_keys(int fd, size_t key_len)
{
	char key[64], next[64];
	void *cur = NULL;
	size_t n = 0;

	while (!bpf_map_get_next_key(fd, cur, next)) {
		memcpy(key, next, key_len);
		cur = key;
		n++;
	}
	return n;
}

static void note(struct verify_report *r, const struct log_ctx *ctx, const char *what,
		 const char *detail)
{
	r->differences++;
	if (r->differences <= 10)
		log_event(LOG_NOTICE, LOG_EV_DRIFT, ctx, "verify: %s: %s", what, detail);
}

static bool same_nexthop(const struct sync_fds *fds, uint32_t id, const struct steer_nexthop *want)
{
	struct steer_nexthop got;

	return !bpf_map_lookup_elem(fds->nhs, &id, &got) && !memcmp(&got, want, sizeof(got));
}

static bool same_group(const struct sync_fds *fds, const struct image *img, uint32_t id,
		       const struct steer_group *wg)
{
	struct steer_group g;

	if (bpf_map_lookup_elem(fds->groups, &id, &g) || g.count != wg->count || g.hash != wg->hash ||
	    memcmp(g.slots, wg->slots, sizeof(g.slots)))
		return false;
	for (uint32_t i = 0; i < g.count && i < STEER_MAX_PATHS; i++)
		if (g.upper[i] != wg->upper[i] || !same_nexthop(fds, g.nh_ids[i], &img->nhs[wg->nh_ids[i]]))
			return false;
	return true;
}

static bool same_route(const struct sync_fds *fds, const struct image *img, const struct image_route *ir)
{
	struct steer_route got;

	if (bpf_map_lookup_elem(fds->routes, &ir->key, &got) || got.type != ir->val.type ||
	    got.dst_len != ir->val.dst_len)
		return false;
	if (got.type == STEER_RT_FORWARD)
		return same_nexthop(fds, got.nh_id, &img->nhs[ir->val.nh_id]);
	if (got.type != STEER_RT_MULTIPATH)
		return true;
	return same_group(fds, img, got.nh_id, &img->groups[ir->val.nh_id]);
}

/* A rule body, its next hop or group compared by content (the ids are the map's own). */
static bool same_rule(const struct sync_fds *fds, const struct image *img, uint32_t id,
		      const struct steer_rule *want)
{
	struct steer_rule got, w = *want;

	if (bpf_map_lookup_elem(fds->rules, &id, &got))
		return false;
	w.nh_id = got.nh_id;
	if (memcmp(&got, &w, sizeof(got)))
		return false;
	if (got.action == STEER_RULE_FORWARD)
		return same_nexthop(fds, got.nh_id, &img->nhs[want->nh_id]);
	if (got.action == STEER_RULE_GROUP)
		return same_group(fds, img, got.nh_id, &img->groups[want->nh_id]);
	return true;
}

static bool same_list(const struct sync_fds *fds, const struct image *img, const struct image_src *is)
{
	struct steer_rule_list got;

	if (bpf_map_lookup_elem(fds->src, &is->key, &got) || got.count != is->val.count)
		return false;
	for (uint32_t i = 0; i < got.count && i < STEER_MAX_RULES; i++)
		if (!same_rule(fds, img, got.ids[i], &img->rules[is->val.ids[i]]))
			return false;
	return true;
}

int verify_maps(const struct sync_fds *fds, const struct image *img, struct verify_report *r)
{
	char buf[160];

	*r = (struct verify_report){};
	for (size_t i = 0; i < img->nsrcs; i++) {
		r->checked++;
		if (!same_list(fds, img, &img->srcs[i])) {
			snprintf(buf, sizeof(buf), "family %u, /%u", img->srcs[i].key.family,
				 img->srcs[i].key.prefixlen - STEER_SRC_KEY_BITS(0));
			note(r, NULL, "rule list differs or is missing", buf);
		}
	}
	for (size_t i = 0; i < img->nroutes; i++) {
		r->checked++;
		if (!same_route(fds, img, &img->routes[i])) {
			snprintf(buf, sizeof(buf), "table %u family %u /%u", img->routes[i].key.table,
				 img->routes[i].key.family, img->routes[i].val.dst_len);
			note(r, &(struct log_ctx){ LOG_TABLE(img->routes[i].key.table) },
			     "route differs or is missing", buf);
		}
	}
	for (size_t i = 0; i < img->nlinks; i++) {
		struct steer_link got;

		r->checked++;
		if (bpf_map_lookup_elem(fds->links, &img->links[i].ifindex, &got) ||
		    memcmp(&got, &img->links[i].val, sizeof(got))) {
			snprintf(buf, sizeof(buf), "ifindex %u", img->links[i].ifindex);
			note(r, NULL, "link differs or is missing", buf);
		}
	}
	for (size_t i = 0; i < img->nvlans; i++) {
		struct steer_vlan got;

		r->checked++;
		if (bpf_map_lookup_elem(fds->vlans, &img->vlans[i].key, &got) ||
		    memcmp(&got, &img->vlans[i].val, sizeof(got))) {
			snprintf(buf, sizeof(buf), "ifindex %u vid %u", img->vlans[i].key.ifindex,
				 img->vlans[i].key.vid);
			note(r, NULL, "VLAN differs or is missing", buf);
		}
	}
	for (uint32_t i = 0; fds->netfilter >= 0 && i < STEER_NF_CHAINS; i++) {
		struct steer_nf_chain got, want = {};

		if (i < img->nnf)
			want = img->nf[i];
		r->checked++;
		if (bpf_map_lookup_elem(fds->netfilter, &i, &got) || memcmp(&got, &want, sizeof(got))) {
			snprintf(buf, sizeof(buf), "slot %u", i);
			note(r, NULL, "netfilter chain differs", buf);
		}
	}
	/* Entries the image does not have at all. */
	if (verify_count_keys(fds->src, sizeof(struct steer_src_key)) != img->nsrcs)
		note(r, NULL, "rule lists", "the map holds entries the kernel has no rules for");
	if (verify_count_keys(fds->routes, sizeof(struct steer_route_key)) != img->nroutes)
		note(r, NULL, "routes", "the map holds routes the kernel does not have");
	if (verify_count_keys(fds->links, sizeof(uint32_t)) != img->nlinks)
		note(r, NULL, "links", "the map holds links the kernel does not have");
	if (verify_count_keys(fds->vlans, sizeof(struct steer_vlan_key)) != img->nvlans)
		note(r, NULL, "VLANs", "the map holds VLANs the kernel does not have");
	return 0;
}
