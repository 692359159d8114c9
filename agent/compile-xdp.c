/* The XDP stage's part of the image: the neighbours it may send to itself, and the devices
 * whose frames it must leave to TC because they may carry VLANs it cannot see. */
#include "compile-xdp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "htab.h"

static int cmp_ifindex(const void *key, const void *link)
{
	uint32_t a = *(const uint32_t *)key, b = ((const struct image_link *)link)->ifindex;

	return a < b ? -1 : a > b;
}

static int cmp_neigh(const void *a, const void *b)
{
	return memcmp(&((const struct image_neigh *)a)->key, &((const struct image_neigh *)b)->key,
		      sizeof(struct steer_neigh_key));
}

/* A NIC that takes VLAN tags off in hardware does so before XDP runs, and XDP sees the frame
 * untagged: on a device with VLAN sub-interfaces, a frame for one of them would look like
 * the device's own. TC sees the tag (skb->vlan_tci); XDP leaves those devices to it. */
static void mark_vlan_lowers(struct image *img)
{
	for (size_t i = 0; i < img->nvlans; i++) {
		struct image_link *l = bsearch(&img->vlans[i].key.ifindex, img->links, img->nlinks,
					       sizeof(*img->links), cmp_ifindex);

		if (l)
			l->val.flags |= STEER_LINK_VLAN_LOWER;
	}
}

/* Whether a neighbour is a unicast one with a unicast MAC: the kernel makes entries for
 * the multicast and broadcast addresses it sends to (NOARP, a group MAC) without a word on
 * netlink, so only a dump would show them; no next hop is one. */
static bool unicast_neigh(const struct model_neigh *n)
{
	if (n->lladdr[0] & 1)
		return false;
	if (n->key.family == AF_INET)
		return n->key.dst[0] < 224;
	return n->key.dst[0] != 0xff;
}

/* The neighbours the kernel itself would send to without asking (NUD_VALID), with an
 * Ethernet address; the others are TC's, whose bpf_redirect_neigh() resolves them. */
static int compile_neighs(const struct model *m, struct image *img)
{
	struct htab_iter it;
	struct model_neigh *n;
	size_t cap = m->neighs.count, k = 0;

	img->neighs = cap ? calloc(cap, sizeof(*img->neighs)) : NULL;
	if (cap && !img->neighs)
		return -ENOMEM;
	htab_iter_init(&it, &m->neighs);
	while ((n = htab_iter_next(&it)) && k < cap) {
		struct image_neigh *in = &img->neighs[k];

		if (!n->has_lladdr || !(n->state & MODEL_NUD_VALID) ||
		    (n->key.family != AF_INET && n->key.family != AF_INET6) || !unicast_neigh(n))
			continue;
		in->key.ifindex = (uint32_t)n->key.ifindex;
		in->key.family = n->key.family;
		memcpy(in->key.addr, n->key.dst, 16);
		memcpy(in->val.mac, n->lladdr, 6);
		k++;
	}
	img->nneighs = k;
	qsort(img->neighs, k, sizeof(*img->neighs), cmp_neigh);
	return 0;
}

int compile_xdp(const struct model *m, struct image *img)
{
	/* A fact about the links, kept with or without the XDP stage: an XDP program left
	 * attached by an earlier steerd (started again without it) stays safe until it goes. */
	mark_vlan_lowers(img);
	return m->xdp ? compile_neighs(m, img) : 0;
}
