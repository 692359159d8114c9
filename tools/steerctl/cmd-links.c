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

/* One link, a row of the table; nothing when the agent removed it since we listed it.
 * Returns 0 or a negative errno. */
static int print_link(struct steerctl *c, const struct pinned_map *links, __u32 ifindex)
{
	char name[SC_NAME_STRLEN];
	struct steer_link l;
	struct sc_desc d;
	int r = sc_map_lookup(c, links, &ifindex, &l);

	if (r <= 0)
		return r;
	d.n = 0;
	sc_desc_add(&d, SC_OBJ, NULL, NULL, NULL);
	sc_desc_num(&d, "ifindex", "%-8s ", ifindex);
	sc_desc_add(&d, SC_STR, "ifname", "%-16s ", sc_ifname(ifindex, name, sizeof(name)));
	sc_desc_bool(&d, "up", "%-5s ", l.flags & STEER_LINK_UP, "up", "down");
	sc_desc_bool(&d, "fwd4", "%-5s ", l.flags & STEER_LINK_FWD4, "yes", "no");
	sc_desc_bool(&d, "fwd6", "%-5s ", l.flags & STEER_LINK_FWD6, "yes", "no");
	sc_desc_num(&d, "rp_filter", "%-9s ", l.rp_filter);
	/* What frames there start with: the datapath parses the first two, punts the third. */
	sc_desc_add(&d, SC_STR, "link_layer", "%-8s ", l.flags & STEER_LINK_L3 ? "none" :
		    l.flags & STEER_LINK_L2_OTHER ? "other" : "ethernet");
	sc_desc_num(&d, "mtu6", "%s\n", l.mtu6);
	sc_desc_add(&d, SC_OBJ_END, NULL, NULL, NULL);
	sc_desc_print(c, &d);
	return 0;
}

/* One 802.1Q sub-interface, by its lower link and VLAN id; nothing when the agent removed it
 * since we listed it. The table gives the sub-interface's index before its name, JSON after.
 * Returns 0 or a negative errno. */
static int print_vlan(struct steerctl *c, const struct pinned_map *vlans,
		      const struct steer_vlan_key *k)
{
	char name[SC_NAME_STRLEN], index[16];
	struct steer_vlan v;
	struct sc_desc d;
	int r = sc_map_lookup(c, vlans, k, &v);

	if (r <= 0)
		return r;
	d.n = 0;
	sc_desc_add(&d, SC_OBJ, NULL, NULL, NULL);
	sc_desc_add(&d, SC_STR, "link", "%-16s ", sc_ifname(k->ifindex, name, sizeof(name)));
	sc_desc_num(&d, "link_index", NULL, k->ifindex);
	sc_desc_num(&d, "id", "%-5s ", k->vid);
	snprintf(index, sizeof(index), "%u", v.ifindex);
	sc_desc_add(&d, SC_TEXT, NULL, "%-8s ", index);
	sc_desc_add(&d, SC_STR, "ifname", "%s\n", sc_ifname(v.ifindex, name, sizeof(name)));
	sc_desc_num(&d, "ifindex", NULL, v.ifindex);
	sc_desc_add(&d, SC_OBJ_END, NULL, NULL, NULL);
	sc_desc_print(c, &d);
	return 0;
}

int cmd_links(struct steerctl *c)
{
	struct pinned_map links = { .fd = -1 }, vlans = { .fd = -1 };
	struct steer_vlan_key *vkeys = NULL;
	__u32 *lkeys = NULL;
	size_t nl = 0, nv = 0, i;
	const struct sc_map_use maps[] = {
		{ MAP_LINKS, &links, sc_cmp_u32, (void **)&lkeys, &nl },
		{ MAP_VLANS, &vlans, cmp_vlan_key, (void **)&vkeys, &nv }, {} };
	int err;

	err = sc_maps_open(c, maps);
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
	sc_maps_close(maps);
	return err;
}
