/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl links`: the links the fast path knows (state, forwarding, rp_filter, link layer,
 * IPv6 MTU: what it checks before it forwards from or to a device) and the 802.1Q
 * sub-interfaces it maps tagged frames to. */
#include <stdlib.h>
#include <string.h>


#include "steerctl.h"

static int cmp_vlan_key(const void *pa, const void *pb)
{
	const struct steer_vlan_key *a = pa, *b = pb;

	if (a->ifindex != b->ifindex)
		return a->ifindex < b->ifindex ? -1 : 1;
	if (a->vid != b->vid)
		return a->vid < b->vid ? -1 : 1;
	return memcmp(a, b, sizeof(*a));
}

/* One link; nothing when the agent removed it since we listed it. Returns 0 or a negative
 * errno. */
static int print_link(struct steerctl *c, const struct pinned_map *links, __u32 ifindex)
{
	char name[SC_NAME_STRLEN];
	struct steer_link l;
	const char *layer;
	int r = sc_map_lookup(c, links, &ifindex, &l);

	if (r <= 0)
		return r;
	/* What frames there start with: the datapath parses the first two, punts the third. */
	layer = l.flags & STEER_LINK_L3 ? "none" : l.flags & STEER_LINK_L2_OTHER ? "other" : "ethernet";
	sc_ifname(ifindex, name, sizeof(name));
	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_u64(&c->jw, "ifindex", ifindex);
		json_str(&c->jw, "ifname", name);
		json_bool(&c->jw, "up", l.flags & STEER_LINK_UP);
		json_bool(&c->jw, "fwd4", l.flags & STEER_LINK_FWD4);
		json_bool(&c->jw, "fwd6", l.flags & STEER_LINK_FWD6);
		json_u64(&c->jw, "rp_filter", l.rp_filter);
		json_str(&c->jw, "link_layer", layer);
		json_u64(&c->jw, "mtu6", l.mtu6);
		json_obj_close(&c->jw);
		return 0;
	}
	fprintf(c->out, "%-8u %-16s %-5s %-5s %-5s %-9u %-8s %u\n", ifindex, name,
		l.flags & STEER_LINK_UP ? "up" : "down", l.flags & STEER_LINK_FWD4 ? "yes" : "no",
		l.flags & STEER_LINK_FWD6 ? "yes" : "no", l.rp_filter, layer, l.mtu6);
	return 0;
}

/* One 802.1Q sub-interface, by its lower link and VLAN id; nothing when the agent removed it
 * since we listed it. Returns 0 or a negative errno. */
static int print_vlan(struct steerctl *c, const struct pinned_map *vlans,
		      const struct steer_vlan_key *k)
{
	char lower[SC_NAME_STRLEN], name[SC_NAME_STRLEN];
	struct steer_vlan v;
	int r = sc_map_lookup(c, vlans, k, &v);

	if (r <= 0)
		return r;
	sc_ifname(k->ifindex, lower, sizeof(lower));
	sc_ifname(v.ifindex, name, sizeof(name));
	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_str(&c->jw, "link", lower);
		json_u64(&c->jw, "link_index", k->ifindex);
		json_u64(&c->jw, "id", k->vid);
		json_str(&c->jw, "ifname", name);
		json_u64(&c->jw, "ifindex", v.ifindex);
		json_obj_close(&c->jw);
		return 0;
	}
	fprintf(c->out, "%-16s %-5u %-8u %s\n", lower, k->vid, v.ifindex, name);
	return 0;
}

int cmd_links(struct steerctl *c)
{
	struct pinned_map links = { .fd = -1 }, vlans = { .fd = -1 };
	const struct sc_map_use maps[] = { { SC_MAP_LINKS, &links }, { SC_MAP_VLANS, &vlans }, {} };
	struct steer_vlan_key *vkeys = NULL;
	__u32 *lkeys = NULL;
	size_t nl = 0, nv = 0, i;
	int err;

	err = sc_maps_open(c, maps);
	if (!err)
		err = sc_map_keys(c, &links, sc_cmp_u32, (void **)&lkeys, &nl);
	if (!err)
		err = sc_map_keys(c, &vlans, cmp_vlan_key, (void **)&vkeys, &nv);
	if (err)
		goto out;

	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_arr_open(&c->jw, "links");
	} else {
		fprintf(c->out, "%-8s %-16s %-5s %-5s %-5s %-9s %-8s %s\n", "IFINDEX", "DEV", "STATE",
			"FWD4", "FWD6", "RP_FILTER", "L2", "MTU6");
	}
	for (i = 0; i < nl && !err; i++)
		err = print_link(c, &links, lkeys[i]);
	if (c->json) {
		json_arr_close(&c->jw);
		json_arr_open(&c->jw, "vlans");
	} else if (nv) {
		fprintf(c->out, "\n%-16s %-5s %-8s %s\n", "LINK", "VID", "IFINDEX", "DEV");
	}
	for (i = 0; i < nv && !err; i++)
		err = print_vlan(c, &vlans, &vkeys[i]);
	if (c->json) {
		json_arr_close(&c->jw);
		json_obj_close(&c->jw);
	}
out:
	free(vkeys);
	free(lkeys);
	sc_maps_close(maps);
	return err;
}
