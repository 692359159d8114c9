/* Model -> map image. Rules become one priority-ordered list per source prefix holding every
 * rule whose `from` covers it; routes become one entry per (table, destination) holding the
 * route the kernel would pick, or a punt where the datapath cannot be exact. */
#include "compile.h"
#include "compile-internal.h"
#include "compile-nf.h"
#include "compile-xdp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static bool rule_action_known(uint8_t action)
{
	switch (action) {
	case RULE_LOOKUP:
	case RULE_GOTO:
	case RULE_NOP:
	case RULE_BLACKHOLE:
	case RULE_UNREACHABLE:
	case RULE_PROHIBIT:
		return true;
	default:
		return false;
	}
}

/* The reason, uid ranges aside when uid_known: they are then evaluated. */
static const char *rule_punt_reason(const struct model_rule_key *k, bool uid_known)
{
	if (k->has_uid_range && !uid_known)
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
	return rule_action_known(k->action) ? NULL : "action";
}

const char *compile_rule_punt_reason(const struct model_rule_key *k)
{
	return rule_punt_reason(k, false);
}

const char *compile_route_punt_reason(const struct model_route *r)
{
	/* An IPv6 route's lifetime, and for routes from router advertisements also their
	 * preference, change with every advertisement without a notification: the model
	 * cannot know when the kernel stops using one. */
	if (r->key.dst.family == AF_INET6 && (r->quirks & ROUTE_EXPIRES))
		return "expires";
	if (r->key.dst.family == AF_INET6 && r->protocol == MODEL_RTPROT_RA)
		return "router advertisement";
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

static bool sorted(const void *p, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	for (size_t i = 1; i < n; i++)
		if (cmp((const char *)p + (i - 1) * size, (const char *)p + i * size) > 0)
			return false;
	return true;
}

/* qsort, but an empty array may have no storage at all. */
static void sort(void *p, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(p, n, size, cmp);
}

/* ---- rules ---- */

/* Does any rule of this family have this priority? A goto to a priority nobody has is
 * "unresolved" in the kernel and acts like nop. */
static bool priority_exists(const struct model *m, uint8_t family, uint32_t prio)
{
	for (size_t i = 0; i < m->nrules; i++)
		if (m->rules[i].key.family == family && m->rules[i].key.priority == prio)
			return true;
	return false;
}

/* Rule actions that are the same word in the datapath's language. */
static const uint8_t plain_actions[] = {
	[RULE_NOP] = STEER_RULE_NOP, [RULE_BLACKHOLE] = STEER_RULE_BLACKHOLE,
	[RULE_UNREACHABLE] = STEER_RULE_UNREACHABLE, [RULE_PROHIBIT] = STEER_RULE_PROHIBIT,
};

static void compile_rule_body(const struct model *m, const struct model_overrides *ov,
			      const struct model_rule_key *k,
			      struct steer_rule *r)
{
	const char *why = rule_punt_reason(k, m->fwd_uid0);

	/* Outside what steer.yaml mirrors, whatever the rule would decide the kernel decides. */
	if (!why && (!model_priority_mirrored(ov, k->priority) ||
		     (k->action == RULE_LOOKUP && !model_table_mirrored(ov, k->table))))
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
	default:
		/* The rest carry nothing but the action itself. */
		r->action = plain_actions[k->action < sizeof(plain_actions) ? k->action : 0];
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
		r->iif = l ? (uint32_t)l->ifindex : STEER_IIF_MISSING;
	}
	/* The kernel looks a forwarded packet up with no output device (flowi4_oif and
	 * flowi6_oif 0), its source check too: an oif selector never matches there, as an iif
	 * whose device does not exist never does. Inverted, such a rule matches everything. */
	/* A forwarded packet is looked up as uid 0 (fwd_uid0): a range without it never
	 * matches, as an oif never does; a range with it always does. */
	if (k->oifname[0] || (m->fwd_uid0 && k->has_uid_range && k->uid_start > 0)) {
		r->match |= STEER_MATCH_IIF;
		r->iif = STEER_IIF_MISSING;
	}
	compile_selectors(r, &(struct compile_sel){
		.family = k->family, .dst = &k->dst, .tos = k->tos, .mark = k->fwmark, .mask = k->fwmask,
		.proto = k->ip_proto, .sport_lo = k->sport_lo, .sport_hi = k->sport_hi,
		.dport_lo = k->dport_lo, .dport_hi = k->dport_hi });
}

/* The kernel's rules and the policies in one order: by priority, a policy after the kernel's
 * rules of its priority (as `ip rule add` puts a new rule after its equals), so a policy at
 * priority 0 never comes before `lookup local`. */
static struct crule *merge_rules(const struct model *m, const struct model_overrides *ov,
				 size_t *n)
{
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

static int compile_rules(const struct model *m, const struct model_overrides *ov,
			 const struct crule *cr, size_t ncr, struct vec *bodies, struct vec *nhs,
			 struct vec *groups)
{
	/* Bodies: one per rule or policy, then the marker that ends a cut list. */
	for (size_t i = 0; i <= ncr; i++) {
		struct steer_rule *b = vec_push(bodies);

		if (!b)
			return -ENOMEM;
		if (i == ncr)
			*b = (struct steer_rule){ .priority = UINT32_MAX, .action = STEER_RULE_CUT };
		else if (cr[i].k)
			compile_rule_body(m, ov, cr[i].k, b);
		else if (compile_policy_body(m, ov, cr[i].p, cr[i].family, nhs, groups, b) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* ---- routes ---- */

/* A route in the order the image wants: by its map key as memcmp orders it (the order sync
 * merges in), then lowest metric first. Sorting these flat records, rather than pointers
 * into the model, keeps a full table's sort in the cache: at a million routes it was most
 * of the compile. */
struct route_ref {
	struct steer_route_key key;
	uint32_t metric;	/* big-endian, so memcmp orders it as a number */
	const struct model_route *r;
};

/* Sorts n records of rec bytes by their first key bytes, as memcmp orders them: an LSD radix
 * sort that skips every byte position where all records agree (a full table's keys differ
 * in a few address bytes). Stable. Returns 0 or -ENOMEM. */
static int radix_sort(void *recs, size_t n, size_t rec, size_t key)
{
	size_t (*count)[256] = calloc(key, sizeof(*count));
	char *src = recs, *dst = n > 1 ? malloc(n * rec) : NULL, *orig = recs;

	if (!count || (n > 1 && !dst)) {
		free(count);
		free(dst);
		return n > 1 ? -ENOMEM : 0;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t b = 0; b < key; b++)
			count[b][(uint8_t)src[i * rec + b]]++;
	for (size_t b = key; b-- > 0 && n > 1;) {
		size_t pos[256], sum = 0;
		char *t;

		if (count[b][(uint8_t)src[b]] == n)
			continue;	/* every record has the same byte here */
		for (int d = 0; d < 256; d++) {
			pos[d] = sum;
			sum += count[b][d];
		}
		for (size_t i = 0; i < n; i++)
			memcpy(dst + pos[(uint8_t)src[i * rec + b]]++ * rec, src + i * rec, rec);
		t = src, src = dst, dst = t;
	}
	if (src != orig)
		memcpy(orig, src, n * rec);
	free(src == orig ? dst : src);
	free(count);
	return 0;
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
	out->next = NULL;
	out->quirks &= ~(uint32_t)(ROUTE_NHID | ROUTE_MULTIPATH);
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

/* ---- local and main, merged ---- */

/* Without custom IPv4 rules the kernel looks local and main up as one trie (fib_lookup's
 * fast path: local's routes live in main's trie), and only on a miss or a throw goes on
 * to the default table. The first rule ever added or deleted in the namespace parts the
 * two for good (fib_unmerge), and nothing in rtnetlink says whether that has happened: with
 * just the three default rules in place the namespace may be in either world. The fast
 * path walks the rules (the parted world), so a local-table route where the merged trie
 * answers otherwise is a punt: a throw there (merged, it skips main), or a route with a
 * more specific main route inside it (merged, that one wins). At equal prefixes local's
 * routes come first in both worlds. */
struct merged4 {
	bool maybe;		/* the IPv4 rules are exactly the kernel's three defaults */
	struct main4 { uint32_t addr; uint8_t len; } *main;	/* sorted by address */
	size_t nmain;
};

static bool is_plain_lookup(const struct model_rule_key *k, uint32_t priority, uint32_t table)
{
	struct model_rule_key want = { .priority = priority, .family = AF_INET,
				       .action = RULE_LOOKUP, .table = table,
				       .suppress_prefixlen = -1, .suppress_ifgroup = -1 };

	/* Who installed it is not a selector: a default rule deleted and added back is
	 * still one of the three, though the namespace is then parted. Nor is how an empty
	 * from or to is spelled. Anything else set, known or not, is. */
	want.protocol = k->protocol;
	if (!k->src.len)
		want.src = k->src;
	if (!k->dst.len)
		want.dst = k->dst;
	return !memcmp(k, &want, sizeof(want));
}

static int cmp_main4(const void *a, const void *b)
{
	const struct main4 *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->len < y->len ? -1 : x->len > y->len;
}

static uint32_t addr4(const struct prefix *p)
{
	return (uint32_t)p->addr[0] << 24 | (uint32_t)p->addr[1] << 16 | (uint32_t)p->addr[2] << 8 | p->addr[3];
}

static int merged4_init(const struct model *m, struct merged4 *mg)
{
	static const struct { uint32_t priority, table; } defaults[] = {
		{ 0, MODEL_TABLE_LOCAL }, { 32766, MODEL_TABLE_MAIN }, { 32767, MODEL_TABLE_DEFAULT },
	};
	struct htab_iter it;
	const struct model_route *r;
	size_t n = 0;

	*mg = (struct merged4){ .maybe = true };
	for (size_t i = 0; i < m->nrules; i++) {
		const struct model_rule_key *k = &m->rules[i].key;

		if (k->family != AF_INET)
			continue;
		if (n >= 3 || !is_plain_lookup(k, defaults[n].priority, defaults[n].table))
			mg->maybe = false;
		n++;
	}
	if (n != 3)
		mg->maybe = false;
	if (!mg->maybe)
		return 0;
	mg->main = malloc((m->routes.count + 1) * sizeof(*mg->main));
	if (!mg->main)
		return -ENOMEM;
	htab_iter_init(&it, &m->routes);
	while ((r = htab_iter_next(&it)))
		if (r->key.dst.family == AF_INET && r->key.table == MODEL_TABLE_MAIN)
			mg->main[mg->nmain++] = (struct main4){ addr4(&r->key.dst), r->key.dst.len };
	sort(mg->main, mg->nmain, sizeof(*mg->main), cmp_main4);
	return 0;
}

/* Would the merged trie answer differently from the local table's route r? */
static bool merged4_differs(const struct merged4 *mg, const struct model_route *r)
{
	uint32_t first, last;
	size_t lo = 0, hi;

	if (!mg->maybe || r->key.dst.family != AF_INET || r->key.table != MODEL_TABLE_LOCAL)
		return false;
	if (r->type == ROUTE_THROW)
		return true;
	first = addr4(&r->key.dst);
	last = r->key.dst.len ? first | (uint32_t)(0xffffffffull >> r->key.dst.len) : 0xffffffffu;
	for (hi = mg->nmain; lo < hi;) {	/* the first main route at or after `first` */
		size_t mid = (lo + hi) / 2;

		if (mg->main[mid].addr < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < mg->nmain && mg->main[lo].addr <= last; lo++)
		if (mg->main[lo].len > r->key.dst.len)
			return true;
	return false;
}

/* Which route of an entry the kernel's lookup takes; NULL when only the kernel can tell.
 * IPv4 (fib_table_lookup): the first, in the kernel's order; were it dead the lookup would
 * go on to the next, but a dead first route punts anyway. IPv6 (rt6_select, forwarding
 * on): every route is scored by its router preference (with CONFIG_IPV6_ROUTER_PREF) and
 * by whether its device is the packet's input device, and the first best in the kernel's
 * order wins. Exact here: the only route, or the only one of the highest preference. */
static const struct model_route *route_choice(const struct model *m, const struct model_route *head)
{
	const struct model_route *best = NULL, *r;
	int best_rank = -1;
	bool tie = false;

	if (head->unsure)
		return NULL;
	if (head->key.dst.family == AF_INET || !head->next)
		return head;
	if (m->router_pref6 != 1)
		return NULL;
	for (r = head; r; r = r->next) {
		int rank = (r->pref & 3) ^ 2;	/* IPV6_DECODE_PREF: low 1, medium 2, high 3 */

		/* A group's message states one member's preference; a nexthop object that is
		 * a blackhole wins wherever the walk meets it. Neither is ranked here. */
		if (r->nnh > 1 || (r->quirks & ROUTE_NHID) || compile_route_punt_reason(r))
			return NULL;
		if (rank > best_rank) {
			best = r;
			best_rank = rank;
			tie = false;
		} else if (rank == best_rank) {
			tie = true;
		}
	}
	return tie ? NULL : best;
}

/* The routes of every mirrored table, sorted by (table, family, prefix), then metric. NULL
 * when out of memory. */
static struct route_ref *collect_routes(const struct model *m, const struct model_overrides *ov,
					size_t *nout)
{
	struct route_ref *all = malloc((m->routes.count + 1) * sizeof(*all));
	const struct model_route *r;
	struct htab_iter it;
	size_t n = 0;

	if (!all)
		return NULL;
	htab_iter_init(&it, &m->routes);
	while ((r = htab_iter_next(&it))) {
		struct route_ref *x = &all[n];

		if (!model_table_mirrored(ov, r->key.table))
			continue;
		*x = (struct route_ref){ .key = { .prefixlen = STEER_ROUTE_KEY_BITS(r->key.dst.len),
						  .table = r->key.table, .family = r->key.dst.family },
					 .metric = htonl(r->key.metric), .r = r };
		memcpy(x->key.addr, r->key.dst.addr, 16);
		n++;
	}
	if (radix_sort(all, n, sizeof(*all), offsetof(struct route_ref, r)) < 0) {
		free(all);
		return NULL;
	}
	*nout = n;
	return all;
}

/* A forwarding route's next hop, or its group of them. The entry stays a punt when the
 * kernel's answer depends on what steer does not follow. -ENOMEM, or 0. */
static int compile_forward(const struct model *m, const struct model_route *best,
			   struct image_route *ir, struct vec *nhs, struct vec *groups)
{
	struct steer_group *g;
	int rr;

	if (best->nnh == 1) {
		struct steer_nexthop *nh = vec_push(nhs);

		if (!nh)
			return -ENOMEM;
		*nh = nh_of(m, best, &best->nh[0]);
		/* A lone next hop whose neighbour failed: the kernel sends the ICMP. */
		if (nh->flags & STEER_NH_NEIGH_FAILED) {
			nhs->n--;
			ir->val.type = STEER_RT_PUNT;
			return 0;
		}
		/* Remember the route for the second pass in nh_id's place. */
		ir->val.nh_id = (uint32_t)(nhs->n - 1);
		return 0;
	}
	g = vec_push(groups);
	if (!g)
		return -ENOMEM;
	rr = build_group(m, best, nhs, g);
	if (rr < 0)
		return -ENOMEM;
	if (rr > 0) {
		groups->n--;
		ir->val.type = STEER_RT_PUNT;
		return 0;
	}
	ir->val.type = STEER_RT_MULTIPATH;
	ir->val.nh_id = (uint32_t)(groups->n - 1);
	return 0;
}

static int compile_routes(const struct model *m, const struct model_overrides *ov,
			  struct vec *routes, struct vec *nhs,
			  struct vec *groups)
{
	struct model_nexthop objbuf[STEER_MAX_PATHS];
	struct model_route resolved;
	struct route_ref *all = NULL;
	struct merged4 mg;
	size_t n = 0, i = 0;
	int err = -ENOMEM;

	if (merged4_init(m, &mg) < 0)
		return -ENOMEM;
	all = collect_routes(m, ov, &n);
	if (!all)
		goto out;

	/* One entry per destination, best (lowest metric) first in the group. */
	while (i < n) {
		const struct model_route *best = all[i].r;
		struct image_route *ir = vec_push(routes);
		bool exact = true, followed = true;
		size_t j;

		if (!ir)
			goto out;
		/* A tos or source-specific route anywhere at this prefix changes which one
		 * matches a given packet: leave the whole prefix to the kernel. */
		for (j = i; j < n && !memcmp(&all[j].key, &all[i].key, sizeof(all[i].key)); j++)
			if (all[j].r->key.tos || all[j].r->key.src.len)
				exact = false;
		ir->key = all[i].key;
		i = j;
		ir->val.dst_len = best->key.dst.len;
		ir->val.type = STEER_RT_PUNT;
		best = route_choice(m, best);
		if (!best)
			continue;
		if (best->quirks & ROUTE_NHID) {
			followed = !resolve_nhobj(m, best, &resolved, objbuf, STEER_MAX_PATHS);
			best = &resolved;
		}
		if (!exact || !followed || compile_route_punt_reason(best) || merged4_differs(&mg, best))
			continue;
		ir->val.type = route_type_of(best);
		if (ir->val.type == STEER_RT_FORWARD && compile_forward(m, best, ir, nhs, groups) < 0)
			goto out;
	}
	err = 0;
out:
	free(all);
	free(mg.main);
	return err;
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

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* The devices that hold an IPv4 address, sorted. */
static int ipv4_addressed(const struct model *m, struct vec *out)
{
	struct htab_iter it;
	struct model_addr *a;

	htab_iter_init(&it, &m->addrs);
	while ((a = htab_iter_next(&it))) {
		int32_t *ifindex;

		if (a->key.addr.family != AF_INET)
			continue;
		ifindex = vec_push(out);
		if (!ifindex)
			return -ENOMEM;
		*ifindex = a->key.ifindex;
	}
	sort(out->p, out->n, out->size, cmp_i32);
	return 0;
}

static int compile_links(const struct model *m, struct vec *links, struct vec *vlans)
{
	struct vec addressed = { .size = sizeof(int32_t) };
	struct htab_iter it;
	struct model_link *l;
	int r = ipv4_addressed(m, &addressed);

	htab_iter_init(&it, &m->links);
	while (r == 0 && (l = htab_iter_next(&it))) {
		struct image_link *il = vec_push(links);
		int rp = l->rp_filter4 > m->all_rp_filter4 ? l->rp_filter4 : m->all_rp_filter4;

		if (!il) {
			r = -ENOMEM;
			break;
		}
		/* Loose rp_filter on a device without an IPv4 address is strict: the kernel's
		 * source check (__fib_validate_source, no_addr) then accepts only a route back
		 * through the device itself. */
		if (rp == 2 && !(addressed.n && bsearch(&l->ifindex, addressed.p, addressed.n,
							addressed.size, cmp_i32)))
			rp = 1;
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
		/* For the XDP stage (one an earlier steerd left attached included), with or
		 * without it now. */
		if (l->local_csum)
			il->val.flags |= STEER_LINK_CSUM_PARTIAL;
		/* Past 65535 no IPv6 packet without a jumbo option (which punts) is too big. */
		il->val.mtu6 = l->mtu6 <= 0 ? 0 : l->mtu6 > 65535 ? 65535 : (uint16_t)l->mtu6;
		il->val.mtu = l->mtu;
		memcpy(il->val.mac, l->mac, 6);

		if (l->vlan_lower > 0) {
			struct image_vlan *v = vec_push(vlans);

			if (!v) {
				r = -ENOMEM;
				break;
			}
			v->key.ifindex = (uint32_t)l->vlan_lower;
			v->key.vid = l->vlan_id;
			v->val.ifindex = (uint32_t)l->ifindex;
		}
	}
	free(addressed.p);
	return r;
}

/* ---- image ---- */

#define DEFINE_KEY_CMP(name, type)                                              \
	static int name(const void *a, const void *b)                           \
	{                                                                       \
		return memcmp(&((const type *)a)->key, &((const type *)b)->key, \
			      sizeof(((const type *)a)->key));                  \
	}
DEFINE_KEY_CMP(cmp_src, struct image_src)
DEFINE_KEY_CMP(cmp_dst, struct image_dst)
DEFINE_KEY_CMP(cmp_sel, struct image_sel)
DEFINE_KEY_CMP(cmp_route, struct image_route)
DEFINE_KEY_CMP(cmp_vlan, struct image_vlan)

static int cmp_link(const void *a, const void *b)
{
	return memcmp(&((const struct image_link *)a)->ifindex,
		      &((const struct image_link *)b)->ifindex, sizeof(uint32_t));
}

/* Can the kernel's route lookup answer with a route of this type that its source check
 * refuses (local, broadcast, anycast, multicast, nat, a type from a later kernel)? Errors,
 * throw and unicast pass the check (the first two as its "last resort"). */
static bool source_check_refuses(uint8_t type)
{
	switch (type) {
	case ROUTE_UNICAST:
	case ROUTE_BLACKHOLE:
	case ROUTE_UNREACHABLE:
	case ROUTE_PROHIBIT:
	case ROUTE_THROW:
		return false;
	default:
		return true;
	}
}

static bool table_listed(const uint32_t *tables, size_t n, uint32_t table)
{
	for (size_t i = 0; i < n; i++)
		if (tables[i] == table)
			return true;
	return false;
}

/* See STEER_STATE_LOCAL_SRC_CHECK4. The kernel's source check (__fib_validate_source) walks
 * every rule; the shortcut only looks into the local table. It holds only when nothing
 * else on that walk can meet a route the check refuses: no rule but the first reaches the
 * local table, no rule reaches a table chosen at run time (l3mdev) or does what this agent
 * does not know, the mirrored tables hold no route the fast path punts, and the tables
 * steer.yaml leaves unmirrored (which the full reverse walk could only punt on) hold no
 * route of a type the check refuses. */
static bool local_source_check_ok(const struct model *m, const struct model_overrides *ov,
				  const struct image_route *routes, size_t n)
{
	const struct model_rule_key *first = NULL;
	struct steer_rule plain = { 0 }, body;
	uint32_t *unmirrored;
	size_t nunmirrored = 0;
	bool ok = true;

	unmirrored = malloc((m->nrules + 1) * sizeof(*unmirrored));
	if (!unmirrored)
		return false;
	for (size_t i = 0; i < m->nrules && ok; i++) {
		const struct model_rule_key *k = &m->rules[i].key;

		if (k->family != AF_INET)
			continue;
		if (!first) {
			first = k;
			continue;
		}
		if (k->table == MODEL_TABLE_LOCAL && (k->action == RULE_LOOKUP || compile_rule_punt_reason(k)))
			ok = false;
		if (k->has_l3mdev || !rule_action_known(k->action))
			ok = false;
		if (k->action == RULE_LOOKUP && !model_table_mirrored(ov, k->table) &&
		    !table_listed(unmirrored, nunmirrored, k->table))
			unmirrored[nunmirrored++] = k->table;
	}
	if (!first)
		ok = false;
	if (ok) {
		compile_rule_body(m, ov, first, &body);
		plain = (struct steer_rule){ .priority = first->priority, .table = MODEL_TABLE_LOCAL,
					     .action = STEER_RULE_LOOKUP, .family = AF_INET };
		memcpy(plain.src, body.src, sizeof(plain.src));
		memcpy(plain.src_mask, body.src_mask, sizeof(plain.src_mask));
		ok = !memcmp(&plain, &body, sizeof(body));
	}
	for (size_t i = 0; i < n && ok; i++)
		if (routes[i].key.family == AF_INET && routes[i].key.table != MODEL_TABLE_LOCAL &&
		    routes[i].val.type == STEER_RT_PUNT)
			ok = false;
	if (ok && nunmirrored) {
		struct htab_iter it;
		const struct model_route *r;

		htab_iter_init(&it, &m->routes);
		while (ok && (r = htab_iter_next(&it)))
			for (; r && ok; r = r->next)
				if (r->key.dst.family == AF_INET && source_check_refuses(r->type) &&
				    table_listed(unmirrored, nunmirrored, r->key.table))
					ok = false;
	}
	free(unmirrored);
	return ok;
}

int compile_image(const struct model *m, const struct model_overrides *ov, struct image *out)
{
	struct vec srcs = { .size = sizeof(struct image_src) };
	struct vec rules = { .size = sizeof(struct steer_rule) };
	struct vec groups = { .size = sizeof(struct steer_group) };
	struct vec routes = { .size = sizeof(struct image_route) };
	struct vec nhs = { .size = sizeof(struct steer_nexthop) };
	struct vec links = { .size = sizeof(struct image_link) };
	struct vec vlans = { .size = sizeof(struct image_vlan) };
	struct vec dsts = { .size = sizeof(struct image_dst) };
	struct vec sels = { .size = sizeof(struct image_sel) };
	size_t truncated = 0, ncr = 0;
	uint32_t state_flags = 0;
	struct crule *cr = merge_rules(m, ov, &ncr);

	if (!cr || compile_routes(m, ov, &routes, &nhs, &groups) < 0 ||
	    compile_rules(m, ov, cr, ncr, &rules, &nhs, &groups) < 0 ||
	    compile_lists(cr, ncr, rules.p, &srcs, &dsts, &sels, &truncated) < 0 ||
	    dedupe_nexthops(&nhs, &routes, &groups, &rules) < 0 || compile_links(m, &links, &vlans) < 0) {
		free(cr);
		free(srcs.p);
		free(dsts.p);
		free(sels.p);
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
	/* compile_routes makes them in this order already; the check costs one pass. */
	if (!sorted(routes.p, routes.n, routes.size, cmp_route))
		sort(routes.p, routes.n, routes.size, cmp_route);
	sort(links.p, links.n, links.size, cmp_link);
	sort(vlans.p, vlans.n, vlans.size, cmp_vlan);
	if (local_source_check_ok(m, ov, routes.p, routes.n))
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
	state_flags |= compile_nf_flags(m) | compile_nf_links(m, links.p, links.n);
	*out = (struct image){
		.state_flags = state_flags,
		.srcs = srcs.p, .nsrcs = srcs.n, .dsts = dsts.p, .ndsts = dsts.n, .sels = sels.p, .nsels = sels.n, .routes = routes.p, .nroutes = routes.n,
		.nhs = nhs.p, .nnhs = nhs.n, .links = links.p, .nlinks = links.n,
		.vlans = vlans.p, .nvlans = vlans.n, .truncated_lists = truncated,
		.rules = rules.p, .nrules = rules.n, .groups = groups.p, .ngroups = groups.n,
	};
	out->nnf = compile_nf_chains(m, out->nf, STEER_NF_CHAINS);
	if (compile_split_ids(out) < 0 || compile_xdp(m, out) < 0) {
		image_free(out);
		return -ENOMEM;
	}
	sort(out->dsts, out->ndsts, sizeof(*out->dsts), cmp_dst);
	sort(out->sels, out->nsels, sizeof(*out->sels), cmp_sel);
	out->ct_mark = m->ct_mark & m->ct_mask;
	out->ct_mask = m->ct_mask;
	out->ct_timeout_tcp_ms = m->ct_timeout_tcp_s > 0 ? (uint32_t)m->ct_timeout_tcp_s * 1000u : 0;
	out->ct_timeout_udp_ms = m->ct_timeout_udp_s > 0 ? (uint32_t)m->ct_timeout_udp_s * 1000u : 0;
	return 0;
}

void image_free(struct image *img)
{
	for (int m = 0; m < MAP_APPLIED; m++)
		free(*map_image_arr(img, m));
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

/* A list that punts at once: only the marker that ends a cut list (the image's last rule). */
static struct steer_rule_list cut_list(const struct image *img)
{
	return (struct steer_rule_list){ .count = 1, .ids = { (uint32_t)(img->nrules - 1) } };
}

size_t image_fit(struct image *img, const struct image_limits *lim)
{
	size_t given = 0;

	if (img->nnhs > lim->n[MAP_NH] || img->ngroups > lim->n[MAP_GROUPS]) {
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
	if (img->nroutes > lim->n[MAP_ROUTES])
		given += fit_routes(img, lim->n[MAP_ROUTES]);
	if (img->nsels > lim->n[MAP_SEL]) {
		/* The lists split by device or mark go back to being cut: just the marker,
		 * punting at once. */
		for (size_t i = 0; i < img->nsrcs; i++)
			if (img->srcs[i].val.sel_split)
				img->srcs[i].val = cut_list(img);
		for (size_t i = 0; i < img->ndsts; i++)
			if (img->dsts[i].val.sel_split)
				img->dsts[i].val = cut_list(img);
		given += img->nsels;
		img->nsels = 0;
	}
	if (img->ndsts > lim->n[MAP_DST]) {
		/* The lists split by destination likewise. */
		for (size_t i = 0; i < img->nsrcs; i++)
			if (img->srcs[i].val.dst_split)
				img->srcs[i].val = cut_list(img);
		given += img->ndsts;
		img->ndsts = 0;
	}
	if (img->nsrcs > lim->n[MAP_SRC] || img->nrules > lim->n[MAP_RULES]) {
		/* Keep the two /0 lists, each down to the marker that punts. */
		size_t out = 0, cut = img->nrules ? img->nrules - 1 : 0;

		for (size_t i = 0; i < img->nsrcs; i++) {
			if (img->srcs[i].key.prefixlen != STEER_SRC_KEY_BITS(0)) {
				given++;
				continue;
			}
			img->srcs[i].val = (struct steer_rule_list){ .count = 1, .ids = { (uint32_t)cut } };
			img->srcs[out++] = img->srcs[i];
		}
		given += img->nrules - 1 + img->ndsts + img->nsels;
		img->ndsts = img->nsels = 0;
		img->rules[0] = img->rules[cut];
		for (size_t i = 0; i < out; i++)
			img->srcs[i].val.ids[0] = 0;
		img->nrules = 1;
		img->nsrcs = out;
	}
	if (img->nlinks > lim->n[MAP_LINKS]) {
		given += img->nlinks - lim->n[MAP_LINKS];
		img->nlinks = lim->n[MAP_LINKS];	/* unknown links punt, in and out */
	}
	if (img->nvlans > lim->n[MAP_VLANS]) {
		given += img->nvlans - lim->n[MAP_VLANS];
		img->nvlans = lim->n[MAP_VLANS];
	}
	if (img->nneighs > lim->n[MAP_NEIGHS]) {
		given += img->nneighs - lim->n[MAP_NEIGHS];
		img->nneighs = lim->n[MAP_NEIGHS];	/* theirs pass from XDP to TC */
	}
	return given;
}
