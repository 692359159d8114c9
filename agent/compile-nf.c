/* Netfilter, compiled: which families and devices the fast path leaves to the kernel
 * because a chain there would see what it forwards (netfilter: respect), and the list of
 * base chains that steerctl shows. */
#include "compile-nf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A chain's table and name, cut to fit with a trailing ~ so a cut name never passes for a
 * whole one. */
static void short_name(char *dst, const char *src)
{
	size_t n = strlen(src);

	memset(dst, 0, STEER_NF_NAME);
	memcpy(dst, src, n < STEER_NF_NAME ? n : STEER_NF_NAME - 1);
	if (n >= STEER_NF_NAME)
		dst[STEER_NF_NAME - 2] = '~';
}

/* What one acting chain on the forward path means: family flags for the state map, or
 * device flags for the links it hooks (*dev_flag, devices in c). */
static uint32_t chain_effect(uint8_t family, uint8_t hook, uint32_t *dev_flag)
{
	*dev_flag = 0;
	if (!model_nf_chain_forwards(family, hook))
		return 0;
	switch (family) {
	case NF_FAMILY_IPV4:
		return STEER_STATE_NF4;
	case NF_FAMILY_IPV6:
		return STEER_STATE_NF6;
	case NF_FAMILY_INET:
		if (hook != NF_HOOK_INET_INGRESS)
			return STEER_STATE_NF4 | STEER_STATE_NF6;
		*dev_flag = STEER_LINK_NF_INGRESS;
		return 0;
	default:	/* netdev */
		*dev_flag = hook == NF_HOOK_NETDEV_EGRESS ? STEER_LINK_NF_EGRESS : STEER_LINK_NF_INGRESS;
		return 0;
	}
}

static bool legacy_acts(const struct model_nf_legacy *c)
{
	return c->rules || c->policy != MODEL_NF_ACCEPT || c->nat;
}

/* netfilter: offload: the families a marked connection may skip the hooks in, and whether
 * TCP connections may. */
static uint32_t offload_flags(const struct model *m)
{
	uint32_t f = 0;

	if (m->nf_mode != STEER_NF_OFFLOAD)
		return 0;
	if (model_nf_offloadable(&m->nf, NF_FAMILY_IPV4))
		f |= STEER_STATE_CT_OFFLOAD4;
	if (model_nf_offloadable(&m->nf, NF_FAMILY_IPV6))
		f |= STEER_STATE_CT_OFFLOAD6;
	if (m->ct_tcp_liberal == 1)
		f |= STEER_STATE_CT_TCP_LIBERAL;
	return f;
}

uint32_t compile_nf_flags(const struct model *m)
{
	const struct model_nf *nf = &m->nf;
	struct htab_iter it;
	struct model_nf_chain *c;
	uint32_t flags = 0;

	if (m->nf_mode == STEER_NF_BYPASS)
		return 0;
	if (!nf->known || nf->busy || !nf->legacy_known)
		return STEER_STATE_NF4 | STEER_STATE_NF6 | STEER_STATE_NF_UNKNOWN;
	flags = offload_flags(m);
	htab_iter_init(&it, &nf->chains);
	while ((c = htab_iter_next(&it))) {
		uint32_t dev;

		if (!model_nf_chain_acts(c, nf))
			continue;
		flags |= chain_effect(c->key.family, c->hook, &dev);
		/* More devices than the model keeps: which ones is not known here. */
		if (dev && c->ndevs > MODEL_NF_DEVS)
			flags |= STEER_STATE_NF4 | STEER_STATE_NF6;
	}
	for (size_t i = 0; i < nf->nlegacy; i++) {
		uint32_t dev;

		if (legacy_acts(&nf->legacy[i]))
			flags |= chain_effect(nf->legacy[i].family, nf->legacy[i].hook, &dev);
	}
	return flags;
}

bool compile_nf_device_chains(const struct model *m)
{
	struct htab_iter it;
	struct model_nf_chain *c;

	if (m->nf_mode == STEER_NF_BYPASS)
		return false;
	htab_iter_init(&it, &m->nf.chains);
	while ((c = htab_iter_next(&it))) {
		uint32_t dev;

		chain_effect(c->key.family, c->hook, &dev);
		if (dev && model_nf_chain_acts(c, &m->nf))
			return true;
	}
	return false;
}

uint32_t compile_nf_links(const struct model *m, struct image_link *links, size_t n)
{
	const struct model_nf *nf = &m->nf;
	struct htab_iter it;
	struct model_nf_chain *c;
	uint32_t any = 0;

	if (m->nf_mode == STEER_NF_BYPASS || !nf->known)
		return 0;
	htab_iter_init(&it, &nf->chains);
	while ((c = htab_iter_next(&it))) {
		uint32_t dev;

		if (!model_nf_chain_acts(c, nf))
			continue;
		chain_effect(c->key.family, c->hook, &dev);
		for (uint32_t d = 0; dev && d < c->ndevs && d < MODEL_NF_DEVS; d++) {
			const struct model_link *l = model_link_by_name((struct model *)m, c->devs[d]);

			/* A device that does not exist yet gets its flag when it appears. */
			for (size_t i = 0; l && i < n; i++)
				if (links[i].ifindex == (uint32_t)l->ifindex) {
					links[i].val.flags |= dev;
					any = STEER_STATE_NF_DEVICES;
				}
		}
	}
	return any;
}

static int cmp_chain(const void *a, const void *b)
{
	const struct steer_nf_chain *x = a, *y = b;
	int r;

	/* What makes steer punt comes first. */
	if ((x->flags & STEER_NF_FORWARD) != (y->flags & STEER_NF_FORWARD))
		return x->flags & STEER_NF_FORWARD ? -1 : 1;
	if (x->family != y->family)
		return x->family - y->family;
	if ((r = strcmp(x->table, y->table)))
		return r;
	if (x->hook != y->hook)
		return x->hook - y->hook;
	return strcmp(x->chain, y->chain);
}

static const char *const legacy_hook_names[] = {
	"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
};

size_t compile_nf_chains(const struct model *m, struct steer_nf_chain *out, size_t max)
{
	const struct model_nf *nf = &m->nf;
	struct htab_iter it;
	struct model_nf_chain *c;
	size_t n = 0, total = nf->chains.count + nf->nlegacy;
	struct steer_nf_chain *all = calloc(total + 1, sizeof(*all));

	if (!all)
		return 0;
	htab_iter_init(&it, &nf->chains);
	while ((c = htab_iter_next(&it))) {
		struct steer_nf_chain *o = &all[n];
		const struct model_link *l;

		if (!c->base)
			continue;
		*o = (struct steer_nf_chain){ .family = c->key.family, .hook = c->hook,
					      .policy = c->policy, .priority = c->priority,
					      .rules = c->nrules, .flags = STEER_NF_USED };
		if (c->nat)
			o->flags |= STEER_NF_NAT;
		if (model_nf_table_dormant(nf, c->key.family, c->key.table))
			o->flags |= STEER_NF_DORMANT;
		else if (model_nf_chain_acts(c, nf) && model_nf_chain_forwards(c->key.family, c->hook))
			o->flags |= STEER_NF_FORWARD;
		if (c->ndevs && (l = model_link_by_name((struct model *)m, c->devs[0])))
			o->ifindex = (uint32_t)l->ifindex;
		short_name(o->table, c->key.table);
		short_name(o->chain, c->key.name);
		n++;
	}
	for (size_t i = 0; i < nf->nlegacy; i++) {
		const struct model_nf_legacy *x = &nf->legacy[i];
		struct steer_nf_chain *o;

		if (!legacy_acts(x))
			continue;	/* every legacy table has every built-in chain: show the busy ones */
		o = &all[n++];
		*o = (struct steer_nf_chain){ .family = x->family, .hook = x->hook, .policy = x->policy,
					      .rules = x->rules, .flags = STEER_NF_USED | STEER_NF_LEGACY };
		if (x->nat)
			o->flags |= STEER_NF_NAT;
		if (model_nf_chain_forwards(x->family, x->hook))
			o->flags |= STEER_NF_FORWARD;
		short_name(o->table, x->table);
		short_name(o->chain, x->hook < 5 ? legacy_hook_names[x->hook] : "?");
	}
	if (n > 1)
		qsort(all, n, sizeof(*all), cmp_chain);
	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(*all));
	free(all);
	return n;
}
