/* Model -> map image. Rules become one priority-ordered list per source prefix holding every
 * rule whose `from` covers it; routes become one entry per (table, destination) holding the
 * route the kernel would pick, or a punt where the datapath cannot be exact. */
#include "compile.h"
#include "compile-internal.h"

#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

const char *compile_rule_punt_reason(const struct model_rule_key *k)
{
	if (k->oifname[0])
		return "oif";
	if (k->has_uid_range)
		return "uidrange";
	if (k->has_l3mdev)
		return "l3mdev";
	if (k->has_tun_id)
		return "tun_id";
	if (k->suppress_ifgroup != -1)
		return "suppress_ifgroup";
	if (k->port_mask_partial)
		return "port mask";
	if (k->unknown_attrs)
		return "unknown attribute";
	switch (k->action) {
	case RULE_LOOKUP:
	case RULE_GOTO:
	case RULE_NOP:
	case RULE_BLACKHOLE:
	case RULE_UNREACHABLE:
	case RULE_PROHIBIT:
		return NULL;
	default:
		return "action";
	}
}

const char *compile_route_punt_reason(const struct model_route *r)
{
	switch (r->type) {
	case ROUTE_UNICAST:
		break;
	case ROUTE_BLACKHOLE:
	case ROUTE_UNREACHABLE:
	case ROUTE_PROHIBIT:
	case ROUTE_THROW:
		return r->key.src.len ? "from" : r->key.tos ? "tos" : NULL;
	default:
		return "type";
	}
	if (r->quirks & ROUTE_APPENDED)
		return "appended";
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
	if (!r->nnh)
		return "no next hop";
	if (r->nnh > STEER_MAX_PATHS)
		return "too many paths";
	for (uint32_t i = 0; i < r->nnh; i++) {
		if (r->nh[i].oif <= 0)
			return "no device";
		if (r->nh[i].gw_family && r->nh[i].gw_family != r->key.dst.family)
			return "via";
		/* IPv6 spreads only over gateway routes; same-metric entries without one are
		 * separate routes the kernel chooses between by its own scoring. */
		if (r->nnh > 1 && !r->nh[i].gw_family && r->key.dst.family == AF_INET6)
			return "multipath without gateway";
	}
	if (r->nnh == 1 && r->nh[0].flags & (NH_DEAD | NH_LINKDOWN))
		return "dead";
	return NULL;
}

/* qsort, but an empty array may have no storage at all. */
static void sort(void *p, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(p, n, size, cmp);
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

static int list_for_prefix(size_t nrules, const struct htab *covers,
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
		if (out->val.count == STEER_MAX_RULES - 1 && idx.n > STEER_MAX_RULES) {
			/* No room for the rest: whatever they would decide, the kernel decides. */
			out->val.ids[out->val.count++] = (uint32_t)nrules;	/* the cut marker */
			(*truncated)++;
			break;
		}
		out->val.ids[out->val.count++] = (uint32_t)ix[i];
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

void compile_addr_words(const struct prefix *p, uint32_t *addr, uint32_t *mask)
{
	uint8_t m[16] = {};

	for (unsigned i = 0; i < p->len / 8; i++)
		m[i] = 0xff;
	if (p->len % 8)
		m[p->len / 8] = (uint8_t)(0xff << (8 - p->len % 8));
	memcpy(addr, p->addr, 16);
	memcpy(mask, m, 16);
}

/* Does any rule of this family have this priority? A goto to a priority nobody has is
 * "unresolved" in the kernel and acts like nop. */
static bool priority_exists(const struct model *m, uint8_t family, uint32_t prio)
{
	for (size_t i = 0; i < m->nrules; i++)
		if (m->rules[i].key.family == family && m->rules[i].key.priority == prio)
			return true;
	return false;
}

static void compile_rule_body(const struct model *m, const struct model_rule_key *k,
			      struct steer_rule *r)
{
	const char *why = compile_rule_punt_reason(k);

	/* Outside what steer.yaml mirrors, whatever the rule would decide the kernel decides. */
	if (!why && (!model_priority_mirrored(m->ov, k->priority) ||
		     (k->action == RULE_LOOKUP && !model_table_mirrored(m->ov, k->table))))
		why = "not mirrored";

	*r = (struct steer_rule){ .priority = k->priority, .family = k->family };
	/* The body says which rule it is (family, from), so ids and hit counts are per rule;
	 * the datapath reads `from` only for inverted rules. */
	compile_addr_words(&k->src, r->src, r->src_mask);
	switch (k->action) {
	case RULE_LOOKUP:
		r->action = STEER_RULE_LOOKUP;
		r->table = k->table;
		if (k->suppress_prefixlen >= 0) {
			r->match |= STEER_MATCH_SUPPRESS;
			r->suppress_prefixlen = (uint8_t)(k->suppress_prefixlen > 255 ? 255 : k->suppress_prefixlen);
		}
		break;
	case RULE_GOTO:
		r->action = priority_exists(m, k->family, k->goto_target) ? STEER_RULE_GOTO : STEER_RULE_NOP;
		r->goto_priority = k->goto_target;
		break;
	case RULE_NOP:
		r->action = STEER_RULE_NOP;
		break;
	case RULE_BLACKHOLE:
		r->action = STEER_RULE_BLACKHOLE;
		break;
	case RULE_UNREACHABLE:
		r->action = STEER_RULE_UNREACHABLE;
		break;
	case RULE_PROHIBIT:
		r->action = STEER_RULE_PROHIBIT;
		break;
	}
	if (why) {
		r->action = STEER_RULE_PUNT;
		/* Inverted, it may match wherever the unseen selector fails: always punt. */
		if (k->invert)
			return;
	}
	if (k->invert) {
		r->match |= STEER_MATCH_INVERT;
		if (k->src.len)
			r->match |= STEER_MATCH_SRC;
	}
	if (k->iifname[0]) {
		const struct model_link *l = model_link_by_name((struct model *)m, k->iifname);

		r->match |= STEER_MATCH_IIF;
		r->iif = l ? (uint32_t)l->ifindex : 0xffffffffu;
	}
	compile_selectors(r, &(struct compile_sel){
		.family = k->family, .dst = &k->dst, .tos = k->tos, .mark = k->fwmark, .mask = k->fwmask,
		.proto = k->ip_proto, .sport_lo = k->sport_lo, .sport_hi = k->sport_hi,
		.dport_lo = k->dport_lo, .dport_hi = k->dport_hi });
}

void compile_selectors(struct steer_rule *r, const struct compile_sel *s)
{
	if (s->dst->len) {
		r->match |= STEER_MATCH_DST;
		compile_addr_words(s->dst, r->dst, r->dst_mask);
	}
	if (s->tos) {
		/* What this kernel compares: IPv4 masks the TOS byte to IPTOS_RT_MASK, IPv6 the
		 * traffic class to its DSCP bits (both checked against `ip route get`). */
		r->match |= STEER_MATCH_TOS;
		r->tos = s->tos;
		r->tos_mask = s->family == AF_INET ? 0x1c : 0xfc;
	}
	if (s->mask) {
		r->match |= STEER_MATCH_MARK;
		r->mark = s->mark & s->mask;
		r->mark_mask = s->mask;
	}
	if (s->proto) {
		r->match |= STEER_MATCH_PROTO;
		r->ip_proto = s->proto;
	}
	if (s->sport_lo || s->sport_hi) {
		r->match |= STEER_MATCH_SPORT;
		r->sport_lo = s->sport_lo;
		r->sport_hi = s->sport_hi;
	}
	if (s->dport_lo || s->dport_hi) {
		r->match |= STEER_MATCH_DPORT;
		r->dport_lo = s->dport_lo;
		r->dport_hi = s->dport_hi;
	}
}

/* One step of the walk: a kernel rule, or a steer.yaml policy for one family. */
struct crule {
	const struct model_rule_key *k;		/* NULL for a policy */
	const struct model_policy *p;
	uint8_t family;
	uint32_t priority;
};

/* The kernel's rules and the policies in one order: by priority, a policy after the kernel's
 * rules of its priority (as `ip rule add` puts a new rule after its equals), so a policy at
 * priority 0 never comes before `lookup local`. */
static struct crule *merge_rules(const struct model *m, size_t *n)
{
	const struct model_overrides *ov = m->ov;
	size_t np = ov ? ov->npolicies : 0, i = 0, j = 0, out = 0;
	struct crule *c = calloc(m->nrules + 2 * np + 1, sizeof(*c));

	if (!c)
		return NULL;
	while (i < m->nrules || j < np) {
		if (j == np || (i < m->nrules && m->rules[i].key.priority <= ov->policies[j].priority)) {
			c[out++] = (struct crule){ .k = &m->rules[i].key, .family = m->rules[i].key.family,
						   .priority = m->rules[i].key.priority };
			i++;
			continue;
		}
		for (int f = 0; f < 2; f++) {
			uint8_t fam = f ? AF_INET6 : AF_INET;

			if (!ov->policies[j].family || ov->policies[j].family == fam)
				c[out++] = (struct crule){ .p = &ov->policies[j], .family = fam,
							   .priority = ov->policies[j].priority };
		}
		j++;
	}
	*n = out;
	return c;
}

static struct prefix crule_cover(const struct crule *c)
{
	struct prefix all = { .family = c->family };

	if (c->k)
		return rule_cover(c->k);
	return c->p->src.len ? c->p->src : all;
}

static int compile_rules(const struct model *m, const struct crule *cr, size_t ncr,
			 struct vec *out, struct vec *bodies, struct vec *nhs, struct vec *groups,
			 size_t *truncated)
{
	struct htab covers = HTAB_INIT(struct cover_entry, node, key);
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	int r = -ENOMEM;

	/* Bodies: one per rule or policy, then the marker that ends a cut list. */
	for (size_t i = 0; i <= ncr; i++) {
		struct steer_rule *b = vec_push(bodies);

		if (!b)
			return -ENOMEM;
		if (i == ncr)
			*b = (struct steer_rule){ .priority = UINT32_MAX, .action = STEER_RULE_CUT };
		else if (cr[i].k)
			compile_rule_body(m, cr[i].k, b);
		else if (compile_policy_body(m, cr[i].p, cr[i].family, nhs, groups, b) < 0)
			return -ENOMEM;
	}

	for (size_t i = 0; i < ncr; i++) {
		struct prefix p = crule_cover(&cr[i]);
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

		if (!s || list_for_prefix(ncr, &covers, &all, s, truncated) < 0)
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
			if (!s || list_for_prefix(ncr, &covers, &c->key, s, truncated) < 0)
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

static struct steer_nexthop nh_of(const struct model *m, const struct model_route *r,
				  const struct model_nexthop *mnh)
{
	struct steer_nexthop nh = { .ifindex = (uint32_t)mnh->oif, .family = mnh->gw_family };

	memcpy(nh.gw, mnh->gw, 16);
	if (mnh->gw_family &&
	    model_neigh_state(m, mnh->oif, mnh->gw_family, mnh->gw) & MODEL_NUD_FAILED)
		nh.flags |= STEER_NH_NEIGH_FAILED;
	(void)r;
	return nh;
}

static uint8_t route_type_of(const struct model_route *r)
{
	switch (r->type) {
	case ROUTE_BLACKHOLE:
		return STEER_RT_BLACKHOLE;
	case ROUTE_UNREACHABLE:
		return STEER_RT_UNREACHABLE;
	case ROUTE_PROHIBIT:
		return STEER_RT_PROHIBIT;
	case ROUTE_THROW:
		return STEER_RT_THROW;
	default:
		return STEER_RT_FORWARD;
	}
}

/* Hash-threshold bounds as fib_rebalance() computes them: path i takes the hashes up to
 * round(2^31 * (w_0 + ... + w_i) / total) - 1. Dead next hops get no share. */
static int build_group(const struct model *m, const struct model_route *r, struct vec *nhs,
		       struct steer_group *g)
{
	uint64_t total = 0, sum = 0;

	for (uint32_t i = 0; i < r->nnh; i++)
		if (!(r->nh[i].flags & NH_DEAD))
			total += r->nh[i].weight ? r->nh[i].weight : 1;
	if (!total)
		return 1;	/* nothing alive: not ours to decide */
	for (uint32_t i = 0; i < r->nnh; i++) {
		struct steer_nexthop *nh;

		if (r->nh[i].flags & NH_DEAD)
			continue;
		nh = vec_push(nhs);
		if (!nh)
			return -ENOMEM;
		*nh = nh_of(m, r, &r->nh[i]);
		sum += r->nh[i].weight ? r->nh[i].weight : 1;
		g->nh_ids[g->count] = (uint32_t)(nhs->n - 1);
		g->upper[g->count] = (uint32_t)(((sum << 31) + total / 2) / total) - 1;
		g->count++;
	}
	return 0;
}

/* A route that names a nexthop object, rewritten as what the kernel resolves it to: the
 * object's next hop, its group's members with their weights, or a blackhole. Returns 1 when
 * the object is not one the fast path follows (missing, encapsulated, FDB, nested). */
static int resolve_nhobj(const struct model *m, const struct model_route *r,
			 struct model_route *out, struct model_nexthop *buf, uint32_t bufn)
{
	const struct model_nhobj *o = model_nhobj_get(m, r->nhid);

	*out = *r;
	out->quirks &= ~(uint32_t)(ROUTE_NHID | ROUTE_MULTIPATH | ROUTE_APPENDED);
	out->nh = buf;
	out->nnh = 0;
	if (!o || o->unsupported)
		return 1;
	if (o->blackhole) {
		out->type = ROUTE_BLACKHOLE;
		return 0;
	}
	if (!o->ngrp) {
		buf[0] = (struct model_nexthop){ .oif = o->oif, .gw_family = o->family,
						 .flags = (uint8_t)o->flags, .weight = 1 };
		memcpy(buf[0].gw, o->gw, 16);
		out->nnh = 1;
		return 0;
	}
	if (o->ngrp > bufn)
		return 1;
	for (uint32_t i = 0; i < o->ngrp; i++) {
		const struct model_nhobj *mo = model_nhobj_get(m, o->grp[i].id);

		if (!mo || mo->ngrp || mo->blackhole || mo->unsupported)
			return 1;
		buf[i] = (struct model_nexthop){ .oif = mo->oif, .gw_family = mo->family,
						 .flags = (uint8_t)mo->flags, .weight = o->grp[i].weight };
		memcpy(buf[i].gw, mo->gw, 16);
	}
	out->nnh = o->ngrp;
	out->quirks |= ROUTE_MULTIPATH;
	return 0;
}

static int compile_routes(const struct model *m, struct vec *routes, struct vec *nhs,
			  struct vec *groups)
{
	struct model_nexthop objbuf[STEER_MAX_PATHS];
	struct model_route resolved;
	const struct model_route **all, *r;
	struct htab_iter it;
	size_t n = 0, i = 0;

	all = malloc((m->routes.count + 1) * sizeof(*all));
	if (!all)
		return -ENOMEM;
	htab_iter_init(&it, &m->routes);
	while ((r = htab_iter_next(&it)))
		if (model_table_mirrored(m->ov, r->key.table))
			all[n++] = r;
	sort(all, n, sizeof(*all), cmp_route_ptr);

	/* First pass: one entry per destination, best (lowest metric) first in the group. */
	while (i < n) {
		const struct model_route *best = all[i];
		struct image_route *ir = vec_push(routes);
		bool exact = true, followed = true;
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
		ir->val.type = STEER_RT_PUNT;
		if (best->quirks & ROUTE_NHID) {
			followed = !resolve_nhobj(m, best, &resolved, objbuf, STEER_MAX_PATHS);
			best = &resolved;
		}
		if (!exact || !followed || compile_route_punt_reason(best))
			continue;
		ir->val.type = route_type_of(best);
		if (ir->val.type != STEER_RT_FORWARD)
			continue;
		if (best->nnh == 1) {
			struct steer_nexthop *nh = vec_push(nhs);

			if (!nh)
				goto nomem;
			*nh = nh_of(m, best, &best->nh[0]);
			/* A lone next hop whose neighbour failed: the kernel sends the ICMP. */
			if (nh->flags & STEER_NH_NEIGH_FAILED) {
				nhs->n--;
				ir->val.type = STEER_RT_PUNT;
				continue;
			}
			/* Remember the route for the second pass in nh_id's place. */
			ir->val.nh_id = (uint32_t)(nhs->n - 1);
		} else {
			struct steer_group *g = vec_push(groups);
			int rr;

			if (!g)
				goto nomem;
			rr = build_group(m, best, nhs, g);
			if (rr < 0)
				goto nomem;
			if (rr > 0) {
				groups->n--;
				ir->val.type = STEER_RT_PUNT;
				continue;
			}
			ir->val.type = STEER_RT_MULTIPATH;
			ir->val.nh_id = (uint32_t)(groups->n - 1);
		}
	}
	free(all);

	return 0;
nomem:
	free(all);
	return -ENOMEM;
}

/* Deduplicate next hops and point routes, groups and policies at their index. */
static int dedupe_nexthops(struct vec *nhs, struct vec *routes, struct vec *groups, struct vec *rules)
{
	struct steer_nexthop *raw = nhs->p, *uniq;
	size_t nraw = nhs->n, nu = 0;
	struct image_route *ir = routes->p;
	struct steer_group *gs = groups->p;
	struct steer_rule *rs = rules->p;

	uniq = malloc((nraw + 1) * sizeof(*uniq));
	if (!uniq)
		return -ENOMEM;
	if (nraw) {
		memcpy(uniq, raw, nraw * sizeof(*uniq));
		qsort(uniq, nraw, sizeof(*uniq), cmp_nh);
	}
	for (size_t k = 0; k < nraw; k++)
		if (!nu || cmp_nh(&uniq[nu - 1], &uniq[k]))
			uniq[nu++] = uniq[k];
#define UNIQ_INDEX(i) ((uint32_t)((struct steer_nexthop *)bsearch(&raw[i], uniq, nu, sizeof(*uniq), cmp_nh) - uniq))
	for (size_t k = 0; k < routes->n; k++)
		if (ir[k].val.type == STEER_RT_FORWARD)
			ir[k].val.nh_id = UNIQ_INDEX(ir[k].val.nh_id);
	for (size_t k = 0; k < groups->n; k++)
		for (uint32_t p = 0; p < gs[k].count; p++)
			gs[k].nh_ids[p] = UNIQ_INDEX(gs[k].nh_ids[p]);
	for (size_t k = 0; k < rules->n; k++)
		if (rs[k].action == STEER_RULE_FORWARD)
			rs[k].nh_id = UNIQ_INDEX(rs[k].nh_id);
#undef UNIQ_INDEX
	free(raw);
	nhs->p = uniq;
	nhs->n = nhs->cap = nu;
	return 0;
}

/* ---- links ---- */

/* What frames on a device of this ARPHRD_* type start with, as STEER_LINK_* flags: 0 for
 * Ethernet (and lo, which carries an Ethernet header too), STEER_LINK_L3 where the IP header
 * comes first (tun and WireGuard: ARPHRD_NONE; raw-IP modems), STEER_LINK_L2_OTHER for the
 * rest, which the datapath does not parse. */
static uint32_t link_layer_flags(uint16_t type)
{
	switch (type) {
	case 1:		/* ARPHRD_ETHER */
	case 772:	/* ARPHRD_LOOPBACK */
		return 0;
	case 65534:	/* ARPHRD_NONE */
	case 519:	/* ARPHRD_RAWIP */
		return STEER_LINK_L3;
	default:
		return STEER_LINK_L2_OTHER;
	}
}

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
		/* Unknown switches (-1) leave forwarding off: the kernel then decides. So does
		 * a port of a bridge, bond or VRF, whose packets the kernel routes (if at all)
		 * as arriving on the master. */
		if (l->fwd4 == 1 && l->rp_filter4 >= 0 && m->all_rp_filter4 >= 0 && !l->master)
			il->val.flags |= STEER_LINK_FWD4;
		if (l->fwd6 == 1 && m->all_fwd6 == 1 && !l->master)
			il->val.flags |= STEER_LINK_FWD6;
		il->val.rp_filter = rp < 0 ? 0 : (uint8_t)rp;
		il->val.flags |= link_layer_flags(l->type);
		/* Past 65535 no IPv6 packet without a jumbo option (which punts) is too big. */
		il->val.mtu6 = l->mtu6 <= 0 ? 0 : l->mtu6 > 65535 ? 65535 : (uint16_t)l->mtu6;

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

/* See STEER_STATE_LOCAL_SRC_CHECK4. */
static bool local_source_check_ok(const struct model *m, const struct image_route *routes, size_t n)
{
	const struct model_rule_key *first = NULL;
	struct steer_rule plain = { 0 }, body;

	for (size_t i = 0; i < m->nrules; i++) {
		const struct model_rule_key *k = &m->rules[i].key;

		if (k->family != AF_INET)
			continue;
		if (!first) {
			first = k;
			continue;
		}
		if (k->table == MODEL_TABLE_LOCAL && (k->action == RULE_LOOKUP || compile_rule_punt_reason(k)))
			return false;
	}
	if (!first)
		return false;
	compile_rule_body(m, first, &body);
	plain = (struct steer_rule){ .priority = first->priority, .table = MODEL_TABLE_LOCAL,
				     .action = STEER_RULE_LOOKUP, .family = AF_INET };
	memcpy(plain.src, body.src, sizeof(plain.src));
	memcpy(plain.src_mask, body.src_mask, sizeof(plain.src_mask));
	if (memcmp(&plain, &body, sizeof(body)))
		return false;
	for (size_t i = 0; i < n; i++)
		if (routes[i].key.family == AF_INET && routes[i].key.table != MODEL_TABLE_LOCAL &&
		    routes[i].val.type == STEER_RT_PUNT)
			return false;
	return true;
}

int compile_image(const struct model *m, struct image *out)
{
	struct vec srcs = { .size = sizeof(struct image_src) };
	struct vec rules = { .size = sizeof(struct steer_rule) };
	struct vec groups = { .size = sizeof(struct steer_group) };
	struct vec routes = { .size = sizeof(struct image_route) };
	struct vec nhs = { .size = sizeof(struct steer_nexthop) };
	struct vec links = { .size = sizeof(struct image_link) };
	struct vec vlans = { .size = sizeof(struct image_vlan) };
	size_t truncated = 0, ncr = 0;
	uint32_t state_flags = 0;
	struct crule *cr = merge_rules(m, &ncr);

	if (!cr || compile_routes(m, &routes, &nhs, &groups) < 0 ||
	    compile_rules(m, cr, ncr, &srcs, &rules, &nhs, &groups, &truncated) < 0 ||
	    dedupe_nexthops(&nhs, &routes, &groups, &rules) < 0 || compile_links(m, &links, &vlans) < 0) {
		free(cr);
		free(srcs.p);
		free(rules.p);
		free(groups.p);
		free(routes.p);
		free(nhs.p);
		free(links.p);
		free(vlans.p);
		return -ENOMEM;
	}
	free(cr);
	sort(srcs.p, srcs.n, srcs.size, cmp_src);
	sort(routes.p, routes.n, routes.size, cmp_route);
	sort(links.p, links.n, links.size, cmp_link);
	sort(vlans.p, vlans.n, vlans.size, cmp_vlan);
	for (size_t i = 0; i < m->nrules; i++)
		if (m->rules[i].key.iifname[0])
			state_flags |= m->rules[i].key.family == AF_INET ? STEER_STATE_IIF_RULES4
									 : STEER_STATE_IIF_RULES6;
	if (local_source_check_ok(m, routes.p, routes.n))
		state_flags |= STEER_STATE_LOCAL_SRC_CHECK4;
	/* Hash policy 0 only: the others hash ports (or inner headers, or a hash TC cannot see
	 * computed); then the kernel's multipath routes punt, so no flow ever takes two paths. */
	if (m->mp_hash_policy4 == 0)
		state_flags |= STEER_STATE_MP_KERNEL4;
	if (m->mp_hash_policy6 == 0)
		state_flags |= STEER_STATE_MP_KERNEL6;
	if (m->fwd_use_pmtu4 != 0)	/* on, or unknown */
		state_flags |= STEER_STATE_FWD_PMTU4;
	if (m->fwd_update_prio4 == 0)	/* unknown: before Linux 4.19, which always set it */
		state_flags |= STEER_STATE_KEEP_PRIO4;
	*out = (struct image){
		.state_flags = state_flags,
		.srcs = srcs.p, .nsrcs = srcs.n, .routes = routes.p, .nroutes = routes.n,
		.nhs = nhs.p, .nnhs = nhs.n, .links = links.p, .nlinks = links.n,
		.vlans = vlans.p, .nvlans = vlans.n, .truncated_lists = truncated,
		.rules = rules.p, .nrules = rules.n, .groups = groups.p, .ngroups = groups.n,
	};
	return 0;
}

void image_free(struct image *img)
{
	free(img->rules);
	free(img->groups);
	free(img->srcs);
	free(img->routes);
	free(img->nhs);
	free(img->links);
	free(img->vlans);
	*img = (struct image){};
}

/* ---- capacity ---- */

struct table_size {
	uint32_t table;
	uint8_t family;
	size_t n;
};

static int cmp_table_size_desc(const void *a, const void *b)
{
	const struct table_size *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

static bool collapsed(const struct table_size *ts, size_t k, uint32_t table, uint8_t family)
{
	for (size_t i = 0; i < k; i++)
		if (ts[i].table == table && ts[i].family == family)
			return true;
	return false;
}

/* Replace the biggest tables by a single punting /0 until the routes fit. */
static size_t fit_routes(struct image *img, size_t limit)
{
	struct table_size *ts = calloc(img->nroutes + 1, sizeof(*ts));
	size_t nts = 0, k = 0, total = img->nroutes, out = 0, given = 0;

	if (!ts)
		return 0;
	for (size_t i = 0; i < img->nroutes; i++) {
		const struct steer_route_key *key = &img->routes[i].key;

		if (nts && ts[nts - 1].table == key->table && ts[nts - 1].family == key->family)
			ts[nts - 1].n++;
		else
			ts[nts++] = (struct table_size){ key->table, key->family, 1 };
	}
	qsort(ts, nts, sizeof(*ts), cmp_table_size_desc);
	while (total > limit && k < nts) {
		total -= ts[k].n - 1;
		k++;
	}
	for (size_t i = 0; i < img->nroutes; i++) {
		struct image_route *ir = &img->routes[i];

		if (!collapsed(ts, k, ir->key.table, ir->key.family)) {
			img->routes[out++] = *ir;
			continue;
		}
		if (ir->val.dst_len == 0 && !memcmp(ir->key.addr, (uint8_t[16]){}, 16)) {
			ir->val = (struct steer_route){ .type = STEER_RT_PUNT };
			img->routes[out++] = *ir;
			continue;
		}
		given++;
	}
	/* A collapsed table without a /0 of its own gets one. */
	for (size_t t = 0; t < k; t++) {
		bool has = false;

		for (size_t i = 0; i < out; i++)
			if (img->routes[i].key.table == ts[t].table && img->routes[i].key.family == ts[t].family &&
			    img->routes[i].key.prefixlen == STEER_ROUTE_KEY_BITS(0))
				has = true;
		if (!has && out < img->nroutes) {
			img->routes[out++] = (struct image_route){
				.key = { .prefixlen = STEER_ROUTE_KEY_BITS(0), .table = ts[t].table,
					 .family = ts[t].family },
				.val = { .type = STEER_RT_PUNT },
			};
			given--;
		}
	}
	img->nroutes = out;
	sort(img->routes, img->nroutes, sizeof(*img->routes), cmp_route);
	free(ts);
	return given;
}

size_t image_fit(struct image *img, const struct image_limits *lim)
{
	size_t given = 0;

	if (img->nnhs > lim->nhs || img->ngroups > lim->groups) {
		/* Which routes to keep is a choice we do not make: all of them punt. */
		for (size_t i = 0; i < img->nroutes; i++)
			if (img->routes[i].val.type == STEER_RT_FORWARD ||
			    img->routes[i].val.type == STEER_RT_MULTIPATH) {
				img->routes[i].val = (struct steer_route){ .type = STEER_RT_PUNT,
									   .dst_len = img->routes[i].val.dst_len };
				given++;
			}
		given += img->nnhs + img->ngroups;
		img->nnhs = img->ngroups = 0;
	}
	if (img->nroutes > lim->routes)
		given += fit_routes(img, lim->routes);
	if (img->nsrcs > lim->srcs || img->nrules > lim->rules) {
		/* Keep the two /0 lists, each down to the marker that punts. */
		size_t out = 0, cut = img->nrules ? img->nrules - 1 : 0;

		for (size_t i = 0; i < img->nsrcs; i++) {
			if (img->srcs[i].key.prefixlen != STEER_SRC_KEY_BITS(0)) {
				given++;
				continue;
			}
			img->srcs[i].val.count = 1;
			img->srcs[i].val.ids[0] = (uint32_t)cut;
			img->srcs[out++] = img->srcs[i];
		}
		given += img->nrules - 1;
		img->rules[0] = img->rules[cut];
		for (size_t i = 0; i < out; i++)
			img->srcs[i].val.ids[0] = 0;
		img->nrules = 1;
		img->nsrcs = out;
	}
	if (img->nlinks > lim->links) {
		given += img->nlinks - lim->links;
		img->nlinks = lim->links;	/* unknown links punt, in and out */
	}
	if (img->nvlans > lim->vlans) {
		given += img->nvlans - lim->vlans;
		img->nvlans = lim->vlans;
	}
	return given;
}
