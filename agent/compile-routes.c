/* Routes -> image: per (table, destination) the route the kernel would pick, or a punt where
 * the datapath cannot be exact; their next hops and groups, deduplicated. */
#include "compile.h"
#include "compile-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
	/* main's routes in a /8 a local route shorter than /32 covers, sorted by address */
	struct main4 { uint32_t addr; uint8_t len; } *main;
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

/* Marks in near (a bit per /8) the /8s that local route r covers. */
static void mark_near(uint8_t *near, const struct model_route *r)
{
	uint32_t first = addr4(&r->key.dst), last;

	last = r->key.dst.len ? first | (uint32_t)(0xffffffffull >> r->key.dst.len) : 0xffffffffu;
	for (uint32_t b = first >> 24; b <= last >> 24; b++)
		near[b / 8] |= (uint8_t)(1u << (b % 8));
}

static bool is_near(const uint8_t *near, uint32_t addr)
{
	return near[addr >> 27] & (1u << (addr >> 24 & 7));
}

static int merged4_init(const struct model *m, struct merged4 *mg)
{
	static const struct { uint32_t priority, table; } defaults[] = {
		{ 0, MODEL_TABLE_LOCAL }, { 32766, MODEL_TABLE_MAIN }, { 32767, MODEL_TABLE_DEFAULT },
	};
	struct htab_iter it;
	const struct model_route *r;
	uint8_t near[256 / 8] = { 0 };
	uint32_t main_in[256] = { 0 };
	size_t n = 0, want = 0;

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
	/* Only main's routes inside a local route shorter than /32 can be more specific than
	 * it, and a full table has none there (the local table's short routes are 127.0.0.0/8
	 * and the like): count main's routes by /8, and collect and sort only the ones in a
	 * /8 such a local route covers, if any. */
	htab_iter_init(&it, &m->routes);
	while ((r = htab_iter_next(&it))) {
		if (r->key.dst.family != AF_INET)
			continue;
		if (r->key.table == MODEL_TABLE_LOCAL && r->key.dst.len < 32)
			mark_near(near, r);
		else if (r->key.table == MODEL_TABLE_MAIN)
			main_in[addr4(&r->key.dst) >> 24]++;
	}
	for (uint32_t b = 0; b < 256; b++)
		if (is_near(near, b << 24))
			want += main_in[b];
	if (!want)
		return 0;
	mg->main = malloc(want * sizeof(*mg->main));
	if (!mg->main)
		return -ENOMEM;
	htab_iter_init(&it, &m->routes);
	while ((r = htab_iter_next(&it)))
		if (r->key.dst.family == AF_INET && r->key.table == MODEL_TABLE_MAIN &&
		    is_near(near, addr4(&r->key.dst)))
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

/* A lone next hop compile_forward() has pushed, by content, and where: a full table's
 * million routes share a handful, and pushing each one again made the dedupe sort a
 * million. */
struct nh_seen {
	struct hnode node;
	struct steer_nexthop nh;
	uint32_t index;		/* in nhs */
};

/* A forwarding route's next hop, or its group of them. The entry stays a punt when the
 * kernel's answer depends on what steer does not follow. -ENOMEM, or 0. */
static int compile_forward(const struct model *m, const struct model_route *best,
			   struct image_route *ir, struct vec *nhs, struct vec *groups,
			   struct htab *seen)
{
	struct steer_group *g;
	int rr;

	if (best->nnh == 1) {
		struct steer_nexthop nh = nh_of(m, best, &best->nh[0]), *p;
		struct nh_seen *known;

		/* A lone next hop whose neighbour failed: the kernel sends the ICMP. */
		if (nh.flags & STEER_NH_NEIGH_FAILED) {
			ir->val.type = STEER_RT_PUNT;
			return 0;
		}
		if (!(known = htab_find(seen, &nh))) {
			if (!(known = malloc(sizeof(*known))))
				return -ENOMEM;
			*known = (struct nh_seen){ .nh = nh, .index = (uint32_t)nhs->n };
			if (htab_insert(seen, known) < 0) {
				free(known);
				return -ENOMEM;
			}
			if (!(p = vec_push(nhs)))
				return -ENOMEM;
			*p = nh;
		}
		/* Remember the next hop for the second pass in nh_id's place. */
		ir->val.nh_id = known->index;
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

int compile_routes(const struct model *m, const struct model_overrides *ov,
		   struct vec *routes, struct vec *nhs, struct vec *groups)
{
	struct model_nexthop objbuf[STEER_MAX_PATHS];
	struct model_route resolved;
	struct route_ref *all = NULL;
	struct htab seen = HTAB_INIT(struct nh_seen, node, nh);
	struct merged4 mg;
	size_t n = 0, i = 0;
	int err = -ENOMEM;
	void *p;

	if (merged4_init(m, &mg) < 0)
		return -ENOMEM;
	all = collect_routes(m, ov, &n);
	if (!all)
		goto out;
	/* At most an entry per route: room for them all at once, not by doubling (each
	 * doubling copied what the table had made so far). */
	if (routes->cap < routes->n + n) {
		if (!(p = realloc(routes->p, (routes->n + n) * routes->size)))
			goto out;
		routes->p = p;
		routes->cap = routes->n + n;
	}

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
		if (ir->val.type == STEER_RT_FORWARD && compile_forward(m, best, ir, nhs, groups, &seen) < 0)
			goto out;
	}
	err = 0;
out:
	free(all);
	htab_free_all(&seen, free);
	free(mg.main);
	return err;
}

/* Deduplicate next hops and point routes, groups and policies at their index. */
int compile_dedupe_nexthops(struct vec *nhs, struct vec *routes, struct vec *groups,
			    struct vec *rules)
{
	struct steer_nexthop *raw = nhs->p, *uniq;
	size_t nraw = nhs->n, nu = 0;
	struct image_route *ir = routes->p;
	struct steer_group *gs = groups->p;
	struct steer_rule *rs = rules->p;
	uint32_t *to;

	uniq = malloc((nraw + 1) * sizeof(*uniq));
	to = malloc((nraw + 1) * sizeof(*to));
	if (!uniq || !to) {
		free(uniq);
		free(to);
		return -ENOMEM;
	}
	if (nraw) {
		memcpy(uniq, raw, nraw * sizeof(*uniq));
		qsort(uniq, nraw, sizeof(*uniq), cmp_nh);
	}
	for (size_t k = 0; k < nraw; k++)
		if (!nu || cmp_nh(&uniq[nu - 1], &uniq[k]))
			uniq[nu++] = uniq[k];
	/* Each raw next hop's index among the unique ones, found once: routes share them. */
	for (size_t k = 0; k < nraw; k++)
		to[k] = (uint32_t)((struct steer_nexthop *)bsearch(&raw[k], uniq, nu, sizeof(*uniq), cmp_nh) - uniq);
	for (size_t k = 0; k < routes->n; k++)
		if (ir[k].val.type == STEER_RT_FORWARD)
			ir[k].val.nh_id = to[ir[k].val.nh_id];
	for (size_t k = 0; k < groups->n; k++)
		for (uint32_t p = 0; p < gs[k].count; p++)
			gs[k].nh_ids[p] = to[gs[k].nh_ids[p]];
	for (size_t k = 0; k < rules->n; k++)
		if (rs[k].action == STEER_RULE_FORWARD)
			rs[k].nh_id = to[rs[k].nh_id];
	free(to);
	free(raw);
	nhs->p = uniq;
	nhs->n = nhs->cap = nu;
	return 0;
}
