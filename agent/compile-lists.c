/* The rule lists (the compiler's part that decides which rules a packet's walk meets): a
 * list per source prefix of every rule whose `from` covers it, in the kernel's order; a list
 * too long for one split by destination, and a list or piece still too long split by input
 * device or by mark. Where that layout would still cut lists, the `from all` rules are kept
 * apart instead, in side lists the walk merges with the source's own (see side_lists). Only
 * more than 63 rules that can all match one packet are still cut. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compile-internal.h"
#include "htab.h"
#include "image.h"
#include "maps.h"
#include "sort.h"

/* The prefix a rule applies under: its `from`, or everything for rules that have none and
 * for rules the datapath punts on (an inverted `from` covers what lies outside it). */
static struct prefix rule_cover(const struct model_rule_key *k)
{
	struct prefix all = { .family = k->family }, p = k->src;

	if (k->invert || !k->src.len)
		return all;
	prefix_mask(&p);	/* the key keeps the host bits the rule was given */
	return p;
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

/* The rules under every prefix of p (those whose cover covers it), in the kernel's order. */
static int collect(const struct htab *covers, const struct prefix *p, struct vec *idx)
{
	for (int len = 0; len <= p->len; len++) {
		struct prefix q = *p;
		struct cover_entry *c;

		q.len = len;
		prefix_mask(&q);
		c = htab_find(covers, &q);
		for (size_t i = 0; c && i < c->rules.n; i++) {
			size_t *slot = vec_push(idx);

			if (!slot)
				return -ENOMEM;
			*slot = ((size_t *)c->rules.p)[i];
		}
	}
	if (idx->n > 1)
		qsort(idx->p, idx->n, sizeof(size_t), cmp_size);
	return 0;
}

/* A list of the rules ix; past what a list holds, the cut marker (rule nrules) ends it. */
static void fill_list(const size_t *ix, size_t n, size_t nrules, struct steer_rule_list *out,
		      size_t *truncated)
{
	for (size_t i = 0; i < n; i++) {
		if (out->count == STEER_MAX_RULES - 1 && n > STEER_MAX_RULES) {
			/* No room for the rest: whatever they would decide, the kernel decides. */
			out->ids[out->count++] = (uint32_t)nrules;
			(*truncated)++;
			break;
		}
		out->ids[out->count++] = (uint32_t)ix[i];
	}
}

static int add_cover(struct htab *covers, const struct prefix *p, size_t rule)
{
	struct cover_entry *c = htab_find(covers, p);
	size_t *slot;

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->key = *p;
		c->rules.size = sizeof(size_t);
		if (htab_insert(covers, c) < 0) {
			free(c);
			return -ENOMEM;
		}
	}
	slot = vec_push(&c->rules);
	if (!slot)
		return -ENOMEM;
	*slot = rule;
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

static struct prefix crule_cover(const struct crule *c)
{
	struct prefix all = { .family = c->family };

	if (c->k)
		return rule_cover(c->k);
	return c->p->src.len ? c->p->src : all;
}

/* The destinations a rule applies to, as its cover for the source: its `to`, or everything
 * (no `to`, or inverted: an inverted rule may match on either side of it). */
static struct prefix crule_dst(const struct crule *c)
{
	struct prefix all = { .family = c->family }, p;

	if (c->k && (c->k->invert || !c->k->dst.len))
		return all;
	if (!c->k && !c->p->dst.len)
		return all;
	p = c->k ? c->k->dst : c->p->dst;
	prefix_mask(&p);
	return p;
}

/* The lists being made: the rules in the walk's order, their source covers, and the split
 * ids given out. */
struct lists {
	const struct crule *cr;
	const struct steer_rule *bodies;	/* bodies[i]: cr[i] compiled */
	size_t ncr;
	struct htab covers;	/* struct cover_entry by source prefix */
	struct htab splits;	/* struct split_seen by id */
	struct vec *srcs, *dsts, *sels;
	size_t *truncated;
	size_t budget;		/* rule indices the nested splits may still copy */
	size_t max_pieces;	/* past this many pieces the layout is given up: -E2BIG */
	size_t split_keyed;	/* SPLIT_KEYED or SPLIT_KEYED_MERGED */
	const uint8_t *group;	/* per rule, enum group; NULL: one list per source holds all */
	struct steer_rule_list side[2];	/* the side fields of IPv4's and IPv6's source lists */
	size_t side_cut[2];	/* pieces of each family's side lists cut */
	size_t nsrcs[2];	/* each family's source lists */
};

struct split_seen {
	struct hnode node;
	uint32_t id;
};

static uint32_t hash_prefix(uint32_t h, const struct prefix *p)
{
	h = (h ^ p->family) * 16777619u;
	h = (h ^ p->len) * 16777619u;
	for (int i = 0; i < 16; i++)
		h = (h ^ p->addr[i]) * 16777619u;
	return h;
}

/* A split's provisional id: a hash of where its list stands (its source prefix, for a
 * piece its destination or its parent's id, and for a split by device or mark the selector
 * and its mask). compile_split_ids later makes it follow the pieces' content too. Two lists
 * that hash alike: the second is not split (0). */
static uint32_t split_id(struct lists *l, uint32_t h)
{
	struct split_seen *seen;

	h = h ? h : 1;
	if (htab_find(&l->splits, &h) || !(seen = calloc(1, sizeof(*seen))))
		return 0;
	seen->id = h;
	if (htab_insert(&l->splits, seen) < 0) {
		free(seen);
		return 0;
	}
	return h;
}

#define HASH_SEED 2166136261u

/* ---- split by input device, mark or destination port ---- */

/* What a split keys its pieces by: the input device, the mark under a mask, or (the rest's
 * side list only) the destination port. */
enum sel_kind { BY_IIF, BY_MARK, BY_DPORT };

/* For a split of kind (by mark: & mask): whether the rule names one value a packet must have
 * to match it (*v), or may match packets of any value (false: inverted rules, rules without
 * that selector, with another mask or with a port range). */
static bool sel_key(const struct steer_rule *r, enum sel_kind kind, uint32_t mask, uint32_t *v)
{
	if (r->match & STEER_MATCH_INVERT)
		return false;
	if (kind == BY_IIF && (r->match & STEER_MATCH_IIF) && r->iif != STEER_IIF_MISSING) {
		*v = r->iif;
		return true;
	}
	if (kind == BY_MARK && (r->match & STEER_MATCH_MARK) && r->mark_mask == mask) {
		*v = r->mark & mask;
		return true;
	}
	if (kind == BY_DPORT && (r->match & STEER_MATCH_DPORT) && r->dport_lo == r->dport_hi) {
		*v = r->dport_lo;
		return true;
	}
	return false;
}

/* The rules of ix split by kind: keyed ones sorted by (value, rule), the others in order.
 * Returns how good a split it is, lower better: by the longest piece, then the piece for
 * every other value; n + 1 when no rule is keyed (no split at all). */
static uint64_t sel_sort(const struct lists *l, const size_t *ix, size_t n, enum sel_kind kind,
			 uint32_t mask, struct u32_index *k, size_t *nk, size_t *any, size_t *nany)
{
	size_t longest = 0, run = 0;

	*nk = *nany = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t v;

		if (sel_key(&l->bodies[ix[i]], kind, mask, &v))
			k[(*nk)++] = (struct u32_index){ v, ix[i] };
		else
			any[(*nany)++] = ix[i];
	}
	qsort(k, *nk, sizeof(*k), cmp_u32_index);
	for (size_t i = 0; i < *nk; i++) {
		run = i && k[i].v == k[i - 1].v ? run + 1 : 1;
		longest = run > longest ? run : longest;
	}
	return *nk ? (uint64_t)(*nany + longest) << 32 | *nany : (uint64_t)(n + 1) << 32;
}

/* The mark mask most mark rules of ix use, or 0 when none uses one; k is room for n. */
static uint32_t common_mask(const struct lists *l, const size_t *ix, size_t n, struct u32_index *k)
{
	size_t nm = 0, best_n = 0, run = 0;
	uint32_t best = 0;

	for (size_t i = 0; i < n; i++) {
		const struct steer_rule *r = &l->bodies[ix[i]];

		if ((r->match & STEER_MATCH_MARK) && !(r->match & STEER_MATCH_INVERT) && r->mark_mask)
			k[nm++] = (struct u32_index){ r->mark_mask, ix[i] };
	}
	qsort(k, nm, sizeof(*k), cmp_u32_index);
	for (size_t i = 0; i < nm; i++) {
		run = i && k[i].v == k[i - 1].v ? run + 1 : 1;
		if (run > best_n) {
			best = k[i].v;
			best_n = run;
		}
	}
	return best;
}

static int list_or_split(struct lists *l, const size_t *ix, size_t n, uint32_t seed, int depth,
			 struct steer_rule_list *out);

/* The rules of any (in order) merged with the keyed ones k[0..nk), at most max of them. */
static size_t merge(size_t *ix, size_t max, const size_t *any, size_t nany,
		    const struct u32_index *k, size_t nk)
{
	size_t n = 0, a = 0, b = 0;

	while (n < max && (a < nany || b < nk))
		ix[n++] = b == nk || (a < nany && any[a] < k[b].index) ? any[a++] : k[b++].index;
	return n;
}

/* A list is split by device or mark even where it fits one when at least this many of its
 * rules name a value (struct lists' split_keyed): a packet of any other value then skips
 * them all, for one or two lookups. A lookup costs about as much as three steps of a walk of
 * one list, and one step of a merged walk (side lists), which picks among four at each. */
#define SPLIT_KEYED 16
#define SPLIT_KEYED_MERGED 4

/* One piece: the rules of any merged with the keyed ones k[0..nk). Too long for a list, it
 * is split again while the budget lasts (by the other selector, as a rule: by the same one
 * it would only repeat itself); else only as many as a list can tell apart from a cut one.
 * The piece for every other value (and the unmarked one, its copy) may be split again
 * however short (split_keyed): most packets meet it, and there is one per split. */
static int sel_piece(struct lists *l, uint32_t id, const struct steer_sel_key *key,
		     const size_t *any, size_t nany, const struct u32_index *k, size_t nk, int depth)
{
	size_t small[STEER_MAX_RULES + 1], *ix = small, n = nany + nk;
	struct steer_rule_list val = {};
	struct image_sel *e;
	int r = 0;

	if ((n > STEER_MAX_RULES || (n >= l->split_keyed && !nk)) && depth < 1 && l->budget >= n &&
	    (ix = malloc(n * sizeof(*ix)))) {
		l->budget -= n;
		merge(ix, n, any, nany, k, nk);
		/* Seeded by the parent's id, which names its selector and mask too. */
		r = list_or_split(l, ix, n, ((id ^ key->other) * 16777619u ^ key->value) * 16777619u,
				  depth + 1, &val);
		free(ix);
	} else {
		ix = small;
		fill_list(ix, merge(ix, STEER_MAX_RULES + 1, any, nany, k, nk), l->ncr, &val,
			  l->truncated);
	}
	if (!r && l->dsts->n + l->sels->n >= l->max_pieces)
		r = -E2BIG;
	if (!r && !(e = vec_push(l->sels)))
		r = -ENOMEM;
	if (!r) {
		e->key = *key;
		e->key.split = id;
		e->val = val;
	}
	return r;
}

/* Most packets carry no mark: a split by mark with no piece of its own for mark 0 gets one, a
 * copy of the piece for every other mark (the sels' other), so that they find theirs at the
 * first lookup. */
static int unmarked_piece(struct lists *l, size_t other)
{
	struct image_sel *zero = vec_push(l->sels);

	if (!zero)
		return -ENOMEM;
	*zero = ((const struct image_sel *)l->sels->p)[other];	/* the push may move them */
	zero->key.other = 0;
	return 0;
}

/* The pieces of split id: one holding any, for every value no rule of k names; one per value
 * k names, holding its rules merged with any; with unmarked, one for mark 0 too (a copy of
 * the first) unless k names it. Pieces of depth 1 are not split again. */
static int split_pieces(struct lists *l, uint32_t id, const size_t *any, size_t nany,
			const struct u32_index *k, size_t nk, int depth, bool unmarked)
{
	int r = sel_piece(l, id, &(struct steer_sel_key){ .other = 1 }, any, nany, NULL, 0, depth);
	size_t other = l->sels->n - 1;

	for (size_t i = 0, j; !r && i < nk; i = j) {
		for (j = i; j < nk && k[j].v == k[i].v; j++)
			;
		r = sel_piece(l, id, &(struct steer_sel_key){ .value = k[i].v }, any, nany, k + i,
			      j - i, depth);
	}
	if (!r && unmarked && (!nk || k[0].v))	/* k is sorted: k[0].v == 0 if any is */
		r = unmarked_piece(l, other);
	return r;
}

/* The rules ix as a list, or, when too long (or with split_keyed of them keyed), split by
 * input device or by mark (whichever leaves the shorter longest piece): a piece per value
 * the rules name, each with the rules a packet of that value can match, and one for every
 * other value. A piece still too long is cut. seed says where the list stands (split_id).
 * Returns 0 or -ENOMEM. */
static int list_or_split(struct lists *l, const size_t *ix, size_t n, uint32_t seed, int depth,
			 struct steer_rule_list *out)
{
	struct u32_index *k = n >= l->split_keyed ? malloc(n * sizeof(*k)) : NULL;
	size_t *any = k ? malloc(n * sizeof(*any)) : NULL;
	size_t nk = 0, nany = 0;
	uint64_t by_iif, by_mark = (uint64_t)(n + 1) << 32;
	uint32_t mask = 0, id = 0;
	int r = 0;

	/* Split whenever some rule is keyed: the pieces of the values no rule (or few) names
	 * are short, even where the others stay long. The chosen selector's sort comes last:
	 * k and any then hold its split. */
	if (k && any) {
		mask = common_mask(l, ix, n, k);
		if (mask)
			by_mark = sel_sort(l, ix, n, BY_MARK, mask, k, &nk, any, &nany);
		by_iif = sel_sort(l, ix, n, BY_IIF, 0, k, &nk, any, &nany);
		if (by_mark < by_iif)
			sel_sort(l, ix, n, BY_MARK, mask, k, &nk, any, &nany);
		else
			mask = 0;
		/* The selector and its mask are part of the id: a split that changes them is
		 * another split, and a packet between two applies never reads new pieces with
		 * the old selector. */
		if ((mask ? by_mark : by_iif) >> 32 <= n && (n > STEER_MAX_RULES || nk >= l->split_keyed))
			id = split_id(l, (((seed ^ 's') * 16777619u ^ mask) * 16777619u ^ !mask) *
					 16777619u);
	}
	if (!id) {
		*out = (struct steer_rule_list){};
		fill_list(ix, n, l->ncr, out, l->truncated);
		r = n > STEER_MAX_RULES && !k ? -ENOMEM : 0;
	} else {
		*out = (struct steer_rule_list){ .sel_split = id, .sel_mask = mask };
		r = split_pieces(l, id, any, nany, k, nk, depth, mask != 0);
	}
	free(k);
	free(any);
	return r;
}

/* One piece of a split list: the rules whose destination covers d (the list seed names,
 * split under id), itself split by input device or mark when too long. */
static int dst_piece(struct lists *l, uint32_t id, const struct htab *dcovers, uint32_t seed,
		     const struct prefix *d)
{
	struct vec sub = { .size = sizeof(size_t) };
	struct steer_rule_list val = {};
	struct image_dst *e;
	int r = collect(dcovers, d, &sub);

	r = r ?: list_or_split(l, sub.p, sub.n, hash_prefix(seed, d), 0, &val);
	if (!r && l->dsts->n + l->sels->n >= l->max_pieces)
		r = -E2BIG;
	if (!r && !(e = vec_push(l->dsts)))
		r = -ENOMEM;
	if (!r) {
		e->key = (struct steer_dst_key){ .prefixlen = STEER_DST_KEY_BITS(d->len),
						 .split = id, .family = d->family };
		memcpy(e->key.addr, d->addr, 16);
		e->val = val;
	}
	free(sub.p);
	return r;
}

/* A list too long for one (or any, with force), split by destination: a piece per
 * destination prefix the rules name, each holding the rules whose `to` covers it (as source
 * lists do for `from`), and one for everything else. seed says where the list stands. 1 when
 * it cannot be split (the caller cuts it), 0, -ENOMEM. */
static int split_by_dst(struct lists *l, uint8_t family, uint32_t seed, const size_t *ix,
			size_t n, bool force, struct steer_rule_list *out)
{
	struct htab dcovers = HTAB_INIT(struct cover_entry, node, key);
	struct prefix all = { .family = family };
	struct htab_iter it;
	struct cover_entry *c;
	uint32_t id = 0;
	int r = 0;

	for (size_t i = 0; i < n && !r; i++) {
		struct prefix d = crule_dst(&l->cr[ix[i]]);

		r = add_cover(&dcovers, &d, ix[i]);
	}
	/* Rules without a `to` are in every piece: with nothing else, a split helps nothing. */
	if (!r && ((dcovers.count == 1 && !force) || !(id = split_id(l, seed)))) {
		free_covers(&dcovers);
		return 1;
	}
	r = r ?: dst_piece(l, id, &dcovers, seed, &all);
	htab_iter_init(&it, &dcovers);
	while (!r && (c = htab_iter_next(&it)))
		if (c->key.len)
			r = dst_piece(l, id, &dcovers, seed, &c->key);
	free_covers(&dcovers);
	*out = (struct steer_rule_list){ .dst_split = id };
	return r;
}

/* The list of the rules whose `from` covers p; split by destination when too long, or
 * else by input device or mark. */
static int src_list(struct lists *l, const struct prefix *p)
{
	struct vec idx = { .size = sizeof(size_t) };
	struct image_src *s = vec_push(l->srcs);
	int r = -ENOMEM;

	l->nsrcs[p->family == AF_INET6]++;
	if (s && !collect(&l->covers, p, &idx)) {
		s->key.prefixlen = STEER_SRC_KEY_BITS(p->len);
		s->key.family = p->family;
		memcpy(s->key.addr, p->addr, 16);
		r = idx.n > STEER_MAX_RULES ? split_by_dst(l, p->family, hash_prefix(HASH_SEED, p),
							   idx.p, idx.n, false, &s->val) : 1;
		if (r == 1)
			r = list_or_split(l, idx.p, idx.n, hash_prefix(HASH_SEED, p), 0, &s->val);
	}
	if (!r && l->group) {
		const struct steer_rule_list *side = &l->side[p->family == AF_INET6];

		s->val.side_dst = side->side_dst;
		s->val.side_sel = side->side_sel;
		s->val.side_mask = side->side_mask;
		s->val.side_rest = side->side_rest;
	}
	free(idx.p);
	return r;
}

/* ---- side lists ---- */

/* Where a rule goes when the `from all` rules are kept apart: a source's list (it has a
 * `from`), the side list by destination (a `to`), the one by device or mark, or the rest
 * (inverted rules among them: they may match on either side of any prefix). */
enum group { GROUP_SRC, GROUP_DST, GROUP_SEL, GROUP_REST };

static uint8_t group_of(const struct crule *c, const struct steer_rule *r)
{
	if (crule_cover(c).len)
		return GROUP_SRC;
	if (crule_dst(c).len)
		return GROUP_DST;
	if (!(r->match & STEER_MATCH_INVERT) &&
	    (((r->match & STEER_MATCH_IIF) && r->iif != STEER_IIF_MISSING) ||
	     ((r->match & STEER_MATCH_MARK) && r->mark_mask)))
		return GROUP_SEL;
	return GROUP_REST;
}

/* Every rule's group, or NULL. */
static uint8_t *groups(const struct crule *cr, size_t ncr, const struct steer_rule *bodies)
{
	uint8_t *g = malloc(ncr + 1);

	for (size_t i = 0; g && i < ncr; i++)
		g[i] = group_of(&cr[i], &bodies[i]);
	return g;
}

/* The list val on its own: the `other` piece of a fresh split, whose id lands in *id
 * (0 when the seed's id is taken). */
static int side_piece(struct lists *l, uint32_t seed, const struct steer_rule_list *val,
		      uint32_t *id)
{
	struct image_sel *e;

	if (!(*id = split_id(l, seed)) || !(e = vec_push(l->sels)))
		return *id ? -ENOMEM : 0;
	e->key = (struct steer_sel_key){ .split = *id, .other = 1 };
	e->val = *val;
	return 0;
}

/* The rest: one list, or when too long for one, a piece per destination port that rules
 * name one of (each with the rules that name no single port), and one for every other port.
 * The datapath looks the rest up at one level: its pieces are not split again. The split's
 * id lands in *id (0 when the seed's id is taken). */
static int rest_pieces(struct lists *l, uint32_t seed, const size_t *ix, size_t n, uint32_t *id)
{
	struct u32_index *k = NULL;
	size_t *any = NULL, nk = 0, nany = 0;
	int r;

	if (!(*id = split_id(l, seed)))
		return 0;
	if (n <= STEER_MAX_RULES)
		return split_pieces(l, *id, ix, n, NULL, 0, 1, false);
	if (!(k = malloc(n * sizeof(*k))) || !(any = malloc(n * sizeof(*any)))) {
		r = -ENOMEM;
	} else {
		sel_sort(l, ix, n, BY_DPORT, 0, k, &nk, any, &nany);
		r = split_pieces(l, *id, any, nany, k, nk, 1, false);
	}
	free(k);
	free(any);
	return r;
}

/* The family's rules of the groups in mask (a bit per enum group), in order, in ix. */
static int collect_groups(const struct lists *l, uint8_t family, unsigned mask, struct vec *ix)
{
	ix->n = 0;
	for (size_t i = 0; i < l->ncr; i++) {
		size_t *slot;

		if (l->cr[i].family != family || !(mask & 1u << l->group[i]))
			continue;
		if (!(slot = vec_push(ix)))
			return -ENOMEM;
		*slot = i;
	}
	return 0;
}

/* The family's `from all` rules, apart: those with a `to` split by destination (every piece
 * a list or split again by device or mark), those with a device or mark split by either (or,
 * few, in one list with the rest), the rest by destination port; their split ids in *side.
 * A side list that cannot get an id (its seed collided) would lose its rules: -EEXIST, and
 * the caller keeps the one-list layout. */
static int side_lists(struct lists *l, uint8_t family, struct steer_rule_list *side)
{
	struct vec ix[4];
	struct steer_rule_list v = {};
	uint32_t seed = hash_prefix(HASH_SEED ^ 's', &(struct prefix){ .family = family });
	bool folded = false;
	int r = 0;

	for (int g = 0; g < 4; g++) {
		ix[g] = (struct vec){ .size = sizeof(size_t) };
		if (g != GROUP_SRC)
			r = r ?: collect_groups(l, family, 1u << g, &ix[g]);
	}
	*side = (struct steer_rule_list){};
	if (!r && ix[GROUP_DST].n) {
		r = split_by_dst(l, family, seed ^ 'd', ix[GROUP_DST].p, ix[GROUP_DST].n, true, &v);
		r = r == 1 ? -EEXIST : r;
		side->side_dst = v.dst_split;
	}
	if (!r && ix[GROUP_SEL].n) {
		r = list_or_split(l, ix[GROUP_SEL].p, ix[GROUP_SEL].n, seed ^ 'm', 0, &v);
		side->side_sel = v.sel_split;
		side->side_mask = v.sel_mask;
		/* Short enough for one list: with the rest when they fit one together. */
		if (!r && !v.sel_split && ix[GROUP_SEL].n + ix[GROUP_REST].n < STEER_MAX_RULES) {
			folded = true;
			r = collect_groups(l, family, 1u << GROUP_SEL | 1u << GROUP_REST, &ix[GROUP_REST]);
		} else if (!r && !v.sel_split) {
			r = side_piece(l, seed ^ 'M', &v, &side->side_sel);
		}
		if (!r && !side->side_sel && !folded)
			r = -EEXIST;
	}
	if (!r && ix[GROUP_REST].n) {
		r = rest_pieces(l, seed ^ 'r', ix[GROUP_REST].p, ix[GROUP_REST].n, &side->side_rest);
		r = r ?: side->side_rest ? 0 : -EEXIST;
	}
	for (int g = 0; g < 4; g++)
		free(ix[g].p);
	return r;
}

#define BUDGET (1u << 24)	/* rule indices the splits of one layout may copy */
/* Pieces one list per source may make before the side layout is tried instead: what the
 * maps hold by default. Each piece is a list of its own, and with many `from all` rules of
 * several kinds they multiply: a thousand such rules made millions. */
#define MAX_PIECES (STEER_DST_ENTRIES + STEER_SEL_ENTRIES)

/* One layout of the lists: one per source (group NULL), or with side lists; -E2BIG past
 * max_pieces pieces. *cost weighs its cuts: a cut side list counts once for every source
 * list of its family, which all meet it. */
static int layout(const struct crule *cr, size_t ncr, const struct steer_rule *bodies,
		  const uint8_t *group, size_t max_pieces, struct vec *srcs, struct vec *dsts,
		  struct vec *sels, size_t *truncated, size_t *cost)
{
	struct lists l = { .cr = cr, .bodies = bodies, .ncr = ncr,
			   .covers = HTAB_INIT(struct cover_entry, node, key),
			   .splits = HTAB_INIT(struct split_seen, node, id), .srcs = srcs,
			   .dsts = dsts, .sels = sels, .truncated = truncated, .budget = BUDGET,
			   .max_pieces = max_pieces, .group = group,
			   .split_keyed = group ? SPLIT_KEYED_MERGED : SPLIT_KEYED };
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	struct htab_iter it;
	struct cover_entry *c;
	int r = 0;

	for (size_t i = 0; i < ncr && !r; i++) {
		struct prefix p = crule_cover(&cr[i]);

		if (!group || group[i] == GROUP_SRC)
			r = add_cover(&l.covers, &p, i);
	}
	for (size_t f = 0; f < sizeof(families) && group && !r; f++) {
		size_t before = *truncated;

		r = side_lists(&l, families[f], &l.side[f]);
		l.side_cut[f] = *truncated - before;
	}
	/* Every family gets a /0 list, even an empty one: "no list" means "not synced". */
	for (size_t f = 0; f < sizeof(families) && !r; f++)
		r = src_list(&l, &(struct prefix){ .family = families[f] });
	htab_iter_init(&it, &l.covers);
	while (!r && (c = htab_iter_next(&it)))
		if (c->key.len)
			r = src_list(&l, &c->key);
	free_covers(&l.covers);
	htab_free_all(&l.splits, free);
	*cost = *truncated;
	for (size_t f = 0; f < sizeof(families); f++)
		*cost += l.side_cut[f] * (l.nsrcs[f] ? l.nsrcs[f] - 1 : 0);
	return r;
}

/* Whether one list per source would copy more rule indices than a layout may: every
 * source's list holds every `from all` rule of its family. */
static bool too_many_to_copy(const struct crule *cr, size_t ncr)
{
	struct htab covers = HTAB_INIT(struct cover_entry, node, key);
	uint64_t all[2] = { 0, 0 }, srcs[2] = { 1, 1 };
	bool over;

	for (size_t i = 0; i < ncr; i++) {
		struct prefix p = crule_cover(&cr[i]);
		bool v6 = cr[i].family == AF_INET6;

		if (!p.len)
			all[v6]++;
		else if (!htab_find(&covers, &p) && !add_cover(&covers, &p, i))
			srcs[v6]++;
	}
	over = all[0] * srcs[0] + all[1] * srcs[1] > BUDGET;
	free_covers(&covers);
	return over;
}

/* Empties the three vectors a points to, and with b given, hands them b's content. */
static void vecs_take(struct vec *const a[3], const struct vec *b)
{
	for (int i = 0; i < 3; i++) {
		free(a[i]->p);
		*a[i] = b ? b[i] : (struct vec){ .size = a[i]->size };
	}
}

int compile_lists(const struct crule *cr, size_t ncr, const struct steer_rule *bodies,
		  struct vec *srcs, struct vec *dsts, struct vec *sels, size_t *truncated)
{
	struct vec *const out[3] = { srcs, dsts, sels };
	struct vec side[3] = { { .size = srcs->size }, { .size = dsts->size }, { .size = sels->size } };
	size_t cut = 0, cost = SIZE_MAX, side_cost;
	int r = too_many_to_copy(cr, ncr) ? -E2BIG
					   : layout(cr, ncr, bodies, NULL, MAX_PIECES, srcs, dsts, sels,
						    truncated, &cost);
	uint8_t *group;
	int rs;

	/* One list per source needs no side lookups: kept unless it cuts and the side layout's
	 * cuts weigh less (see layout()), or it is too big to make. */
	if ((!r && !*truncated) || (r < 0 && r != -E2BIG))
		return r;
	if (!(group = groups(cr, ncr, bodies)))
		return -ENOMEM;
	rs = layout(cr, ncr, bodies, group, SIZE_MAX, &side[0], &side[1], &side[2], &cut,
		    &side_cost);
	if (!rs && (r || side_cost < cost)) {
		vecs_take(out, side);
		*truncated = cut;
		free(group);
		return 0;
	}
	free(group);
	for (int i = 0; i < 3; i++)
		free(side[i].p);
	if (!r || rs != -EEXIST)
		return r ? rs : 0;
	/* The side layout could not be made (a split id collided): one list per source after
	 * all, however many pieces that takes. */
	vecs_take(out, NULL);
	*truncated = 0;
	return layout(cr, ncr, bodies, NULL, SIZE_MAX, srcs, dsts, sels, truncated, &cost);
}

/* ---- split ids that follow content ---- */

/* Sync writes a split's pieces before the list that names the split, and deletes the old
 * pieces after. A packet in the middle of an apply then reads old pieces through the old
 * list or new pieces through the new one, never a mix, but only if an id never gets new
 * pieces while a list names it. So the final id hashes the provisional one (where the split
 * stands) with everything its pieces hold, down to the rule bodies and their next hops: a
 * split whose content changes gets another id, one that keeps its content keeps its id
 * (and sync writes nothing for it). */

struct stamped {
	struct hnode node;
	uint32_t old;		/* the provisional id */
	uint32_t id;		/* the final one; 0 while being stamped */
	uint64_t fp;		/* what the split holds */
};

/* The pieces of one map (struct image_dst or image_sel records: key, then the list), with
 * their indices sorted by (split id, key). */
struct pieces {
	const char *base;
	size_t n, rec, key_size, split_off, val_off;
	size_t *ix;
};

struct stamp {
	const struct image *img;
	uint64_t *rule_fp;	/* per rule in img->rules */
	struct pieces dst, sel;
	struct htab done;	/* struct stamped by old */
	struct htab taken;	/* struct split_seen: final ids given out */
};

/* What an entry of content map m holds, with the entries it names (a rule's next hop or
 * group, a group's next hops) hashed in instead of their indices. */
static uint64_t entry_fp(const struct image *img, enum map_id m, uint32_t i)
{
	const struct map_def *d = &map_defs[m];
	union {
		struct steer_rule rule;
		struct steer_group group;
		struct steer_nexthop nh;
	} v;
	struct map_ref refs[MAP_MAX_REFS];
	uint64_t words[MAP_MAX_REFS + 2] = { m };
	size_t n;

	if (i >= *map_image_count(img, m) || d->val_size > sizeof(v))
		return ~0ull;
	memcpy(&v, (const char *)*map_image_arr(img, m) + (size_t)i * d->rec_size + d->val_off,
	       d->val_size);
	n = map_refs(m, &v, refs);
	for (size_t k = 0; k < n; k++) {
		words[k + 2] = entry_fp(img, refs[k].map, *refs[k].id);
		*refs[k].id = 0;
	}
	words[1] = hash_bytes(&v, d->val_size);
	return hash_bytes(words, (n + 2) * sizeof(words[0]));
}

static const struct stamped *stamp_split(struct stamp *st, struct pieces *p, uint32_t old);

/* What a list holds: its rules' content in order, its cut, and the splits it names. */
static int list_fp(struct stamp *st, const struct steer_rule_list *l, uint64_t *fp)
{
	/* Each split it names, as (map, split id): what it holds and its final id go in. */
	const struct { struct pieces *p; uint32_t id; } named[] = {
		{ &st->dst, l->dst_split }, { &st->sel, l->sel_split }, { &st->dst, l->side_dst },
		{ &st->sel, l->side_sel }, { &st->sel, l->side_rest },
	};
	enum { HEAD = 3 + 2 * sizeof(named) / sizeof(named[0]) };
	uint64_t words[STEER_MAX_RULES + HEAD] = { l->count, l->sel_mask, l->side_mask };
	uint32_t n = l->count < STEER_MAX_RULES ? l->count : STEER_MAX_RULES;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		const struct stamped *e = NULL;

		if (named[i].id && !(e = stamp_split(st, named[i].p, named[i].id)))
			return -ENOMEM;
		words[3 + 2 * i] = e ? e->fp : 0;
		words[4 + 2 * i] = e ? e->id : 0;
	}
	for (uint32_t k = 0; k < n; k++)
		words[k + HEAD] = l->ids[k] < st->img->nrules ? st->rule_fp[l->ids[k]] : ~0ull;
	*fp = hash_bytes(words, (n + HEAD) * sizeof(words[0]));
	return 0;
}

static const char *piece_at(const struct pieces *p, size_t i)
{
	return p->base + i * p->rec;
}

static uint32_t piece_split(const struct pieces *p, size_t i)
{
	uint32_t id;

	memcpy(&id, piece_at(p, i) + p->split_off, sizeof(id));
	return id;
}

static int cmp_piece_ix(const void *x, const void *y, void *arg)
{
	const struct pieces *p = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	uint32_t si = piece_split(p, i), sj = piece_split(p, j);

	if (si != sj)
		return si < sj ? -1 : 1;
	return memcmp(piece_at(p, i), piece_at(p, j), p->key_size);
}

/* Map m's pieces in base, their indices sorted; 0 or -ENOMEM. */
static int pieces_init(struct pieces *p, const void *base, size_t n, enum map_id m)
{
	const struct map_def *d = &map_defs[m];

	*p = (struct pieces){ base, n, d->rec_size, d->key_size, d->split_off, d->val_off,
			      malloc((n + 1) * sizeof(size_t)) };
	if (!p->ix)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		p->ix[i] = i;
	qsort_r(p->ix, n, sizeof(size_t), cmp_piece_ix, p);
	return 0;
}

/* The pieces of split old: [*lo, *hi) of p->ix. */
static void pieces_of(const struct pieces *p, uint32_t old, size_t *lo, size_t *hi)
{
	size_t a = 0, b = p->n;

	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (piece_split(p, p->ix[mid]) < old)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	for (b = a; b < p->n && piece_split(p, p->ix[b]) == old; b++)
		;
	*hi = b;
}

/* What a piece's key says besides its split id. */
static uint64_t piece_key_fp(const struct pieces *p, size_t i)
{
	uint8_t key[64] = {};

	memcpy(key, piece_at(p, i), p->key_size < sizeof(key) ? p->key_size : sizeof(key));
	memset(key + p->split_off, 0, sizeof(uint32_t));
	return hash_bytes(key, sizeof(key));
}

/* The split's final id and fingerprint, stamped once; NULL on -ENOMEM (or a split that
 * names itself, which the compiler never makes). */
static const struct stamped *stamp_split(struct stamp *st, struct pieces *p, uint32_t old)
{
	struct stamped *e = htab_find(&st->done, &old);
	struct split_seen *taken;
	struct vec words = { .size = sizeof(uint64_t) };
	size_t lo, hi;
	uint64_t *w;
	int r = 0;

	if (e)
		return e->id ? e : NULL;
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	e->old = old;
	if (htab_insert(&st->done, e) < 0) {
		free(e);
		return NULL;
	}
	pieces_of(p, old, &lo, &hi);
	/* Where the split stands, then each piece: its key and what its list holds. */
	if ((w = vec_push(&words)))
		*w = (uint64_t)(p == &st->dst) << 32 | old;
	for (size_t i = lo; i < hi && w && !r; i++) {
		uint64_t piece[2] = { piece_key_fp(p, p->ix[i]) };

		r = list_fp(st, (const void *)(piece_at(p, p->ix[i]) + p->val_off), &piece[1]);
		for (int j = 0; j < 2 && !r && (w = vec_push(&words)); j++)
			*w = piece[j];
	}
	if (!w)
		r = -ENOMEM;
	if (!r) {
		uint32_t id;

		e->fp = hash_bytes(words.p, words.n * sizeof(uint64_t));
		/* Two splits that hash alike in one image: the second takes the next free id. */
		for (id = (uint32_t)(e->fp ^ e->fp >> 32); !id || htab_find(&st->taken, &id); id++)
			;
		if ((taken = calloc(1, sizeof(*taken)))) {
			taken->id = id;
			if (htab_insert(&st->taken, taken) < 0)
				free(taken);
			else
				e->id = id;
		}
	}
	free(words.p);
	return e->id ? e : NULL;
}

/* The final id of provisional split old (0 stays 0). */
static uint32_t final_id(const struct stamp *st, uint32_t old)
{
	const struct stamped *e = old ? htab_find(&st->done, &old) : NULL;

	return e ? e->id : 0;
}

int compile_split_ids(struct image *img)
{
	struct stamp st = { .img = img, .done = HTAB_INIT(struct stamped, node, old),
			    .taken = HTAB_INIT(struct split_seen, node, id) };
	int r = 0;

	st.rule_fp = malloc((img->nrules + 1) * sizeof(*st.rule_fp));
	if (!st.rule_fp || pieces_init(&st.dst, img->dsts, img->ndsts, MAP_DST) < 0 ||
	    pieces_init(&st.sel, img->sels, img->nsels, MAP_SEL) < 0)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < img->nrules; i++)
		st.rule_fp[i] = entry_fp(img, MAP_RULES, (uint32_t)i);
	/* Every split hangs under a source list; stamping those stamps them all, leaves first. */
	for (size_t i = 0; !r && i < img->nsrcs; i++) {
		uint64_t fp;

		r = list_fp(&st, &img->srcs[i].val, &fp);
	}
	for (size_t i = 0; !r && i < img->nsrcs; i++) {
		struct steer_rule_list *v = &img->srcs[i].val;

		v->dst_split = final_id(&st, v->dst_split);
		v->sel_split = final_id(&st, v->sel_split);
		v->side_dst = final_id(&st, v->side_dst);
		v->side_sel = final_id(&st, v->side_sel);
		v->side_rest = final_id(&st, v->side_rest);
	}
	for (size_t i = 0; !r && i < img->ndsts; i++) {
		img->dsts[i].key.split = final_id(&st, img->dsts[i].key.split);
		img->dsts[i].val.sel_split = final_id(&st, img->dsts[i].val.sel_split);
	}
	for (size_t i = 0; !r && i < img->nsels; i++) {
		img->sels[i].key.split = final_id(&st, img->sels[i].key.split);
		img->sels[i].val.sel_split = final_id(&st, img->sels[i].val.sel_split);
	}
	htab_free_all(&st.done, free);
	htab_free_all(&st.taken, free);
	free(st.rule_fp);
	free(st.dst.ix);
	free(st.sel.ix);
	return r;
}
