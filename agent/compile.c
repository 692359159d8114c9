/* Model -> map image. Rules become one priority-ordered list per source prefix holding every
 * rule whose `from` covers it; routes become one entry per (table, destination) holding the
 * route the kernel would pick, or a punt where the datapath cannot be exact. */
#include "compile.h"

#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

const char *compile_rule_punt_reason(const struct model_rule_key *k)
{
	if (k->action != RULE_LOOKUP)
		return "action";
	if (k->invert)
		return "not";
	if (k->dst.len)
		return "to";
	if (k->tos)
		return "tos";
	if (k->fwmark || k->fwmask)
		return "fwmark";
	if (k->iifname[0])
		return "iif";
	if (k->oifname[0])
		return "oif";
	if (k->ip_proto)
		return "ipproto";
	if (k->sport_lo || k->sport_hi)
		return "sport";
	if (k->dport_lo || k->dport_hi)
		return "dport";
	if (k->has_uid_range)
		return "uidrange";
	if (k->has_l3mdev)
		return "l3mdev";
	if (k->has_tun_id)
		return "tun_id";
	if (k->suppress_prefixlen != -1)
		return "suppress_prefixlength";
	if (k->suppress_ifgroup != -1)
		return "suppress_ifgroup";
	if (k->unknown_attrs)
		return "unknown attribute";
	return NULL;
}

const char *compile_route_punt_reason(const struct model_route *r)
{
	if (r->type != ROUTE_UNICAST)
		return "type";
	if (r->quirks & ROUTE_MULTIPATH || r->nnh != 1)
		return "multipath";
	if (r->quirks & ROUTE_NHID)
		return "nexthop object";
	if (r->quirks & ROUTE_ENCAP)
		return "encap";
	if (r->quirks & ROUTE_VIA)
		return "via";
	if (r->quirks & ROUTE_MTU)
		return "mtu";
	if (r->key.src.len)
		return "from";
	if (r->key.tos)
		return "tos";
	if (r->nh[0].flags & (NH_DEAD | NH_LINKDOWN))
		return "dead";
	if (r->nh[0].oif <= 0)
		return "no device";
	if (r->nh[0].gw_family && r->nh[0].gw_family != r->key.dst.family)
		return "via";
	return NULL;
}

/* A growable array of fixed-size records. */
struct vec {
	void *p;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void *p = realloc(v->p, cap * v->size);

		if (!p)
			return NULL;
		v->p = p;
		v->cap = cap;
	}
	return memset((char *)v->p + v->n++ * v->size, 0, v->size);
}

/* ---- rules ---- */

/* The prefix a rule applies under: its `from`, or everything for rules that have none and
 * for rules the datapath punts on (an inverted `from` covers what lies outside it). */
static struct prefix rule_cover(const struct model_rule_key *k)
{
	struct prefix all = { .family = k->family };

	if (k->invert || !k->src.len)
		return all;
	return k->src;
}

struct cover_entry {
	struct hnode node;
	struct prefix key;
	struct vec rules;	/* size_t indices into model->rules, ascending */
};

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static int list_for_prefix(const struct model *m, const struct htab *covers,
			   const struct prefix *p, struct image_src *out, size_t *truncated)
{
	struct vec idx = { .size = sizeof(size_t) };
	size_t *ix;

	for (int len = 0; len <= p->len; len++) {
		struct prefix q = *p;
		struct cover_entry *c;

		q.len = len;
		prefix_mask(&q);
		c = htab_find(covers, &q);
		if (!c)
			continue;
		for (size_t i = 0; i < c->rules.n; i++) {
			size_t *slot = vec_push(&idx);

			if (!slot) {
				free(idx.p);
				return -ENOMEM;
			}
			*slot = ((size_t *)c->rules.p)[i];
		}
	}
	ix = idx.p;
	if (idx.n > 1)
		qsort(ix, idx.n, sizeof(*ix), cmp_size);

	out->key.prefixlen = STEER_SRC_KEY_BITS(p->len);
	out->key.family = p->family;
	memcpy(out->key.addr, p->addr, 16);
	for (size_t i = 0; i < idx.n; i++) {
		const struct model_rule_key *k = &m->rules[ix[i]].key;
		struct steer_rule *r = &out->val.rules[out->val.count];

		if (out->val.count == STEER_MAX_RULES - 1 && idx.n > STEER_MAX_RULES) {
			/* No room for the rest: whatever they would decide, the kernel decides. */
			r->priority = k->priority;
			r->action = STEER_RULE_PUNT;
			out->val.count++;
			(*truncated)++;
			break;
		}
		r->priority = k->priority;
		r->table = k->table;
		r->action = compile_rule_punt_reason(k) ? STEER_RULE_PUNT : STEER_RULE_LOOKUP;
		out->val.count++;
	}
	free(idx.p);
	return 0;
}

static void free_covers(struct htab *covers)
{
	struct htab_iter it;
	struct cover_entry *c;

	htab_iter_init(&it, covers);
	while ((c = htab_iter_next(&it))) {
		free(c->rules.p);
		free(c);
	}
	htab_free(covers);
}

static int compile_rules(const struct model *m, struct vec *out, size_t *truncated)
{
	struct htab covers = HTAB_INIT(struct cover_entry, node, key);
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	int r = -ENOMEM;

	for (size_t i = 0; i < m->nrules; i++) {
		struct prefix p = rule_cover(&m->rules[i].key);
		struct cover_entry *c = htab_find(&covers, &p);
		size_t *slot;

		if (!c) {
			c = calloc(1, sizeof(*c));
			if (!c)
				goto out;
			c->key = p;
			c->rules.size = sizeof(size_t);
			if (htab_insert(&covers, c) < 0) {
				free(c);
				goto out;
			}
		}
		slot = vec_push(&c->rules);
		if (!slot)
			goto out;
		*slot = i;
	}
	/* Every family gets a /0 list, even an empty one: "no list" means "not synced". */
	for (size_t f = 0; f < sizeof(families); f++) {
		struct prefix all = { .family = families[f] };
		struct image_src *s = vec_push(out);

		if (!s || list_for_prefix(m, &covers, &all, s, truncated) < 0)
			goto out;
	}
	{
		struct htab_iter it;
		struct cover_entry *c;

		htab_iter_init(&it, &covers);
		while ((c = htab_iter_next(&it))) {
			struct image_src *s;

			if (!c->key.len)
				continue;
			s = vec_push(out);
			if (!s || list_for_prefix(m, &covers, &c->key, s, truncated) < 0)
				goto out;
		}
	}
	r = 0;
out:
	free_covers(&covers);
	return r;
}

/* ---- routes ---- */

static int cmp_route_ptr(const void *a, const void *b)
{
	const struct model_route *x = *(const struct model_route *const *)a;
	const struct model_route *y = *(const struct model_route *const *)b;
	int c;

	if (x->key.dst.family != y->key.dst.family)
		return x->key.dst.family < y->key.dst.family ? -1 : 1;
	if (x->key.table != y->key.table)
		return x->key.table < y->key.table ? -1 : 1;
	if (x->key.dst.len != y->key.dst.len)
		return x->key.dst.len < y->key.dst.len ? -1 : 1;
	c = memcmp(x->key.dst.addr, y->key.dst.addr, 16);
	if (c)
		return c;
	if (x->key.metric != y->key.metric)
		return x->key.metric < y->key.metric ? -1 : 1;
	return 0;
}

static bool same_dest(const struct model_route *x, const struct model_route *y)
{
	return x->key.dst.family == y->key.dst.family && x->key.table == y->key.table &&
	       x->key.dst.len == y->key.dst.len && !memcmp(x->key.dst.addr, y->key.dst.addr, 16);
}

static int cmp_nh(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct steer_nexthop));
}

static struct steer_nexthop nh_of(const struct model_route *r)
{
	struct steer_nexthop nh = { .ifindex = r->nh[0].oif, .family = r->nh[0].gw_family };

	memcpy(nh.gw, r->nh[0].gw, 16);
	return nh;
}

static int compile_routes(const struct model *m, struct vec *routes, struct vec *nhs)
{
	const struct model_route **all, *r;
	struct htab_iter it;
	size_t n = 0, i = 0;

	all = malloc((m->routes.count + 1) * sizeof(*all));
	if (!all)
		return -ENOMEM;
	htab_iter_init(&it, &m->routes);
	while ((r = htab_iter_next(&it)))
		all[n++] = r;
	qsort(all, n, sizeof(*all), cmp_route_ptr);

	/* First pass: one entry per destination, best (lowest metric) first in the group. */
	while (i < n) {
		const struct model_route *best = all[i];
		struct image_route *ir = vec_push(routes);
		bool exact = true;
		size_t j;

		if (!ir)
			goto nomem;
		/* A tos or source-specific route anywhere at this prefix changes which one
		 * matches a given packet: leave the whole prefix to the kernel. */
		for (j = i; j < n && same_dest(all[j], best); j++)
			if (all[j]->key.tos || all[j]->key.src.len)
				exact = false;
		i = j;
		ir->key.prefixlen = STEER_ROUTE_KEY_BITS(best->key.dst.len);
		ir->key.table = best->key.table;
		ir->key.family = best->key.dst.family;
		memcpy(ir->key.addr, best->key.dst.addr, 16);
		ir->val.dst_len = best->key.dst.len;
		if (exact && !compile_route_punt_reason(best)) {
			struct steer_nexthop *nh = vec_push(nhs);

			if (!nh)
				goto nomem;
			*nh = nh_of(best);
			ir->val.type = STEER_RT_FORWARD;
			/* Remember the route for the second pass in nh_id's place. */
			ir->val.nh_id = (uint32_t)(nhs->n - 1);
		} else {
			ir->val.type = STEER_RT_PUNT;
		}
	}
	free(all);

	/* Second pass: deduplicate next hops and point routes at their index. */
	{
		struct steer_nexthop *raw = nhs->p, *uniq;
		size_t nraw = nhs->n, nu = 0;
		struct image_route *ir = routes->p;

		uniq = malloc((nraw + 1) * sizeof(*uniq));
		if (!uniq)
			return -ENOMEM;
		memcpy(uniq, raw, nraw * sizeof(*uniq));
		qsort(uniq, nraw, sizeof(*uniq), cmp_nh);
		for (size_t k = 0; k < nraw; k++)
			if (!nu || cmp_nh(&uniq[nu - 1], &uniq[k]))
				uniq[nu++] = uniq[k];
		for (size_t k = 0; k < routes->n; k++) {
			struct steer_nexthop *f;

			if (ir[k].val.type != STEER_RT_FORWARD)
				continue;
			f = bsearch(&raw[ir[k].val.nh_id], uniq, nu, sizeof(*uniq), cmp_nh);
			ir[k].val.nh_id = (uint32_t)(f - uniq);
		}
		free(raw);
		nhs->p = uniq;
		nhs->n = nhs->cap = nu;
	}
	return 0;
nomem:
	free(all);
	return -ENOMEM;
}

/* ---- links ---- */

static int compile_links(const struct model *m, struct vec *links, struct vec *vlans)
{
	struct htab_iter it;
	struct model_link *l;

	htab_iter_init(&it, &m->links);
	while ((l = htab_iter_next(&it))) {
		struct image_link *il = vec_push(links);
		int rp = l->rp_filter4 > m->all_rp_filter4 ? l->rp_filter4 : m->all_rp_filter4;

		if (!il)
			return -ENOMEM;
		il->ifindex = (uint32_t)l->ifindex;
		if ((l->flags & IFF_UP) && (l->flags & IFF_RUNNING))
			il->val.flags |= STEER_LINK_UP;
		/* Unknown switches (-1) leave forwarding off: the kernel then decides. */
		if (l->fwd4 == 1 && l->rp_filter4 >= 0 && m->all_rp_filter4 >= 0)
			il->val.flags |= STEER_LINK_FWD4;
		if (l->fwd6 == 1 && m->all_fwd6 == 1)
			il->val.flags |= STEER_LINK_FWD6;
		il->val.rp_filter = rp < 0 ? 0 : (uint8_t)rp;

		if (l->vlan_lower > 0) {
			struct image_vlan *v = vec_push(vlans);

			if (!v)
				return -ENOMEM;
			v->key.ifindex = (uint32_t)l->vlan_lower;
			v->key.vid = l->vlan_id;
			v->val.ifindex = (uint32_t)l->ifindex;
		}
	}
	return 0;
}

/* ---- image ---- */

#define DEFINE_KEY_CMP(name, type)                                              \
	static int name(const void *a, const void *b)                           \
	{                                                                       \
		return memcmp(&((const type *)a)->key, &((const type *)b)->key, \
			      sizeof(((const type *)a)->key));                  \
	}
DEFINE_KEY_CMP(cmp_src, struct image_src)
DEFINE_KEY_CMP(cmp_route, struct image_route)
DEFINE_KEY_CMP(cmp_vlan, struct image_vlan)

static int cmp_link(const void *a, const void *b)
{
	return memcmp(&((const struct image_link *)a)->ifindex,
		      &((const struct image_link *)b)->ifindex, sizeof(uint32_t));
}

int compile_image(const struct model *m, struct image *out)
{
	struct vec srcs = { .size = sizeof(struct image_src) };
	struct vec routes = { .size = sizeof(struct image_route) };
	struct vec nhs = { .size = sizeof(struct steer_nexthop) };
	struct vec links = { .size = sizeof(struct image_link) };
	struct vec vlans = { .size = sizeof(struct image_vlan) };
	size_t truncated = 0;

	if (compile_rules(m, &srcs, &truncated) < 0 || compile_routes(m, &routes, &nhs) < 0 ||
	    compile_links(m, &links, &vlans) < 0) {
		free(srcs.p);
		free(routes.p);
		free(nhs.p);
		free(links.p);
		free(vlans.p);
		return -ENOMEM;
	}
	qsort(srcs.p, srcs.n, srcs.size, cmp_src);
	qsort(routes.p, routes.n, routes.size, cmp_route);
	qsort(links.p, links.n, links.size, cmp_link);
	qsort(vlans.p, vlans.n, vlans.size, cmp_vlan);
	*out = (struct image){
		.srcs = srcs.p, .nsrcs = srcs.n, .routes = routes.p, .nroutes = routes.n,
		.nhs = nhs.p, .nnhs = nhs.n, .links = links.p, .nlinks = links.n,
		.vlans = vlans.p, .nvlans = vlans.n, .truncated_lists = truncated,
	};
	return 0;
}

void image_free(struct image *img)
{
	free(img->srcs);
	free(img->routes);
	free(img->nhs);
	free(img->links);
	free(img->vlans);
	*img = (struct image){};
}
