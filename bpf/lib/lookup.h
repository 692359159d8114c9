/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Policy routing lookup: source prefix -> ordered rule list -> selectors -> action -> table
 * lookup, as fib_rules_lookup() and the per-family lookups walk it. */
#ifndef STEER_LIB_LOOKUP_H
#define STEER_LIB_LOOKUP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"

enum steer_lookup_res {
	STEER_LOOKUP_FORWARD = 0,	/* res->route is the route the kernel would use */
	STEER_LOOKUP_NO_ROUTE,		/* every rule missed */
	STEER_LOOKUP_DROP,		/* blackhole rule or route */
	STEER_LOOKUP_PUNT,		/* res->reason says why the kernel must decide */
};

/* The outcome, copied out of the maps: the lookup runs as its own verified function, which
 * cannot hand map pointers back. */
struct steer_lookup {
	__u32 priority;
	__u32 table;
	__u32 reason;
	__u32 rule_id;
	__u32 nh_id;		/* the route's next hop or group */
	__u8  route_type;
	__u8  dst_len;
	__u8  pad[2];
};

/* Returns nonzero when addr lies in the prefix given as (words, mask words). */
static __always_inline int prefix_hit(const __u32 *addr, const __u32 *pfx, const __u32 *mask)
{
	return !(((addr[0] ^ pfx[0]) & mask[0]) | ((addr[1] ^ pfx[1]) & mask[1]) |
		 ((addr[2] ^ pfx[2]) & mask[2]) | ((addr[3] ^ pfx[3]) & mask[3]));
}

/* Returns nonzero when the rule's selectors (fib_rule_match() and the family's match)
 * accept the flow, before `not`. Each test returns at once: fewer paths to verify. */
static __always_inline int selectors_hit(const struct steer_rule *r, const struct steer_flow *f)
{
	__u16 m = r->match;

	if ((m & STEER_MATCH_IIF) && f->iif != r->iif)
		return 0;
	if ((m & STEER_MATCH_MARK) && ((f->mark ^ r->mark) & r->mark_mask))
		return 0;
	if ((m & STEER_MATCH_PROTO) && f->proto != r->ip_proto)
		return 0;
	if ((m & STEER_MATCH_SPORT) && (f->sport < r->sport_lo || f->sport > r->sport_hi))
		return 0;
	if ((m & STEER_MATCH_DPORT) && (f->dport < r->dport_lo || f->dport > r->dport_hi))
		return 0;
	if ((m & STEER_MATCH_SRC) && !prefix_hit(f->src, r->src, r->src_mask))
		return 0;
	if ((m & STEER_MATCH_DST) && !prefix_hit(f->dst, r->dst, r->dst_mask))
		return 0;
	if ((m & STEER_MATCH_TOS) && (f->tos & r->tos_mask) != r->tos)
		return 0;
	return 1;
}

static __always_inline int rule_matches(const struct steer_rule *r, const struct steer_flow *f)
{
	return selectors_hit(r, f) ^ !!(r->match & STEER_MATCH_INVERT);
}

/* The lists a walk merges: the source's own, then the side lists (steer_rule_list.side_*). */
#define STEER_WALK_LISTS 4

/* A merged walk's lists, copied, and where it stands in them. Pointers into four maps (or
 * none), kept across the walk's steps, would have the verifier check the steps once for
 * every mix of them; kept in the walk's state, these would take the stack its calls need. */
struct steer_merge {
	__u32 ids[STEER_WALK_LISTS][STEER_MAX_RULES];	/* first: copied a word pair at a time */
	/* Each list's next rule as (priority << 32 | order), 0 when it is a cut marker or cannot
	 * be read; STEER_WALK_END past the list's end. */
	__u64 next[STEER_WALK_LISTS];
	__u32 count[STEER_WALK_LISTS];
	__u32 at;		/* the position of each next rule, a byte each, list 0 lowest */
	__u32 side_dst, side_sel, side_mask, side_rest;	/* the source list's */
};

STEER_MAP(steer_merge_lists, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct steer_merge, 1);

/* The walk's state, shared by the rule steps of one lookup. */
struct steer_walk {
	const struct steer_flow *f;
	struct steer_lookup *res;
	struct steer_rule_list *list;	/* the source's list, or its piece for the flow */
	struct steer_route rt;	/* the route a lookup step found, copied out */
	__u32 skip_below;	/* after a goto: rules before its target are passed over */
	int verdict;
	int quiet;
	int merged;		/* list is merged with side lists, in steer_merge_lists */
};

/* The walk ends with verdict (enum steer_lookup_res). Returns 1, as a rule step that
 * decided does. */
static __always_inline long walk_end(struct steer_walk *w, int verdict)
{
	w->verdict = verdict;
	return 1;
}

/* The walk ends in a punt, for reason. */
static __always_inline long walk_punt(struct steer_walk *w, __u32 reason)
{
	w->res->reason = reason;
	return walk_end(w, STEER_LOOKUP_PUNT);
}

/* Why the kernel must decide where a route of this type leads. */
static __always_inline __u32 route_punt_reason(__u8 type)
{
	switch (type) {
	case STEER_RT_UNREACHABLE:
		return STEER_STAT_PUNT_UNREACHABLE;
	case STEER_RT_PROHIBIT:
		return STEER_STAT_PUNT_PROHIBIT;
	case STEER_RT_PENDING:
		return STEER_STAT_PUNT_PENDING;
	default:
		return STEER_STAT_PUNT_ROUTE;
	}
}

/* Word *k of steer_fib4, read once; STEER_FIB4_TRIE if it cannot be read. One key slot
 * for every read keeps the rule step's stack small. */
static __always_inline __u32 fib4_word(__u32 *k, __u32 i)
{
	__u32 *w;

	*k = i;
	w = bpf_map_lookup_elem(&steer_fib4, k);
	return w ? *(volatile __u32 *)w : STEER_FIB4_TRIE;
}

/* Word byte (its low eight bits) of the chunk a word names; STEER_FIB4_TRIE if it cannot
 * be read. */
static __always_inline __u32 fib4_chunk_word(__u32 *k, __u32 word, __u32 byte)
{
	struct steer_fib4_chunk *c;

	*k = word & ~STEER_FIB4_CHUNK;
	c = bpf_map_lookup_elem(&steer_fib4_chunks, k);
	return c ? *(volatile __u32 *)&c->leaf[byte & 0xff] : STEER_FIB4_TRIE;
}

/* The route word of table for the IPv4 destination dst (network order) as the arrays have
 * it (see STEER_FIB4_SLOTS): a leaf, 0 when the table has none, STEER_FIB4_TRIE when the
 * arrays cannot say (the table owns no slot, or steerd is writing it): the trie answers then.
 * A global function, verified once: inlined at every rule step, its branches (each walked
 * again speculatively when the loader lacks CAP_PERFMON) took the ingress program past the
 * verifier's million instructions. Its arguments are plain numbers: nothing to NULL-check. */
__attribute__((noinline)) __u32 steer_fib4_leaf(__u32 table, __u32 dst)
{
	__u32 slot = table % STEER_FIB4_SLOTS, k, seq, leaf;
	/* Slot and address in one register: fewer values live across the reads. */
	__u64 at = (__u64)slot << 32 | bpf_ntohl(dst);

	seq = fib4_word(&k, STEER_FIB4_SEQ(slot));
	if ((seq & 1) || fib4_word(&k, STEER_FIB4_OWNER(at >> 32)) != table)
		return STEER_FIB4_TRIE;
	leaf = fib4_word(&k, (__u32)(at >> 32) << 16 | (__u32)at >> 16);
	if (STEER_FIB4_NAMES_CHUNK(leaf)) {
		leaf = fib4_chunk_word(&k, leaf, (__u32)at >> 8);
		if (STEER_FIB4_NAMES_CHUNK(leaf))
			leaf = fib4_chunk_word(&k, leaf, (__u32)at);
	}
	/* The same even number after the reads: nothing was written in between. */
	if (leaf == STEER_FIB4_TRIE || STEER_FIB4_NAMES_CHUNK(leaf) ||
	    fib4_word(&k, STEER_FIB4_SEQ(at >> 32)) != seq)
		return STEER_FIB4_TRIE;
	return leaf;
}

/* steer_fib4_leaf() as a route: 1 with *rt filled, 0 when the table has none, -1 when the
 * trie must answer. */
static __always_inline int fib4_lookup(__u32 table, __u32 dst, struct steer_route *rt)
{
	__u32 leaf = steer_fib4_leaf(table, dst);

	if (leaf == STEER_FIB4_TRIE)
		return -1;
	if (!leaf)
		return 0;
	rt->type = STEER_FIB4_LEAF_TYPE(leaf);
	rt->dst_len = STEER_FIB4_LEAF_DST_LEN(leaf);
	rt->pad = 0;
	rt->nh_id = STEER_FIB4_LEAF_NH(leaf);
	return 1;
}

/* Table's route for the flow's destination, copied to *rt: 1, or 0 when it has none. From
 * the IPv4 arrays where they answer, else from the trie. Global, verified once, like
 * steer_fib4_leaf(); the rule walk calls it at every lookup step. Verified alone, it cannot
 * know its callers never pass NULL. */
__attribute__((noinline)) int steer_route_of(__u32 table, const struct steer_flow *f,
					     struct steer_route *rt)
{
	struct steer_route_key key = { .table = table };
	const struct steer_route *p;
	int r;

	if (!f || !rt)
		return 0;
	if (f->family == STEER_AF_INET) {
		r = fib4_lookup(table, f->dst[0], rt);
		if (r >= 0)
			return r;
	}
	key.prefixlen = STEER_ROUTE_KEY_BITS(f->family == STEER_AF_INET ? 32 : 128);
	key.family = f->family;
	__builtin_memcpy(key.addr, f->dst, 16);
	p = bpf_map_lookup_elem(&steer_routes, &key);
	if (!p)
		return 0;
	*rt = *p;
	return 1;
}

/* The walk's table's route for its destination, copied to w->rt, or NULL. */
static __always_inline const struct steer_route *walk_route(struct steer_walk *w, __u32 table)
{
	return steer_route_of(table, w->f, &w->rt) ? &w->rt : NULL;
}

/* What a table lookup's result means for the walk, as a rule step returns it: 0 to go on
 * with the next rule (no route, throw, suppressed), 1 when it decided (res filled). */
static __always_inline long table_result(struct steer_walk *w, const struct steer_rule *rule,
					 const struct steer_route *rt)
{
	struct steer_lookup *res;

	if (!rt || rt->type == STEER_RT_THROW)
		return 0;
	/* fib_rules_lookup() offers only successful lookups to suppress: a reject stands. A
	 * route we punt may be either (a dead lowest-metric route hides what the kernel falls
	 * back to), so with suppress in play it punts too. */
	if ((rule->match & STEER_MATCH_SUPPRESS) &&
	    (rt->type == STEER_RT_FORWARD || rt->type == STEER_RT_MULTIPATH)) {
		if (rt->dst_len <= rule->suppress_prefixlen)
			return 0;
	} else if ((rule->match & STEER_MATCH_SUPPRESS) &&
		   (rt->type == STEER_RT_PUNT || rt->type == STEER_RT_PENDING)) {
		w->res->table = rule->table;
		return walk_punt(w, route_punt_reason(rt->type));
	}
	res = w->res;
	res->table = rule->table;
	res->route_type = rt->type;
	res->dst_len = rt->dst_len;
	res->nh_id = rt->nh_id;
	switch (rt->type) {
	case STEER_RT_FORWARD:
	case STEER_RT_MULTIPATH:
		return walk_end(w, STEER_LOOKUP_FORWARD);
	case STEER_RT_BLACKHOLE:
		return walk_end(w, STEER_LOOKUP_DROP);
	default:
		return walk_punt(w, route_punt_reason(rt->type));
	}
}

/* One rule of the list, which it decides or passes over: 0 to go on with the next rule, 1
 * when the walk is decided. */
static __always_inline long walk_rule(struct steer_walk *w, struct steer_rule *rule, __u32 id);

/* One rule of the list: a bpf_loop() step, so the verifier checks it once rather than once
 * per rule. Returns 0 to go on with the next rule, 1 when the walk is decided. */
static long steer_rule_step(__u64 i, void *ctx)
{
	struct steer_walk *w = ctx;
	struct steer_rule *rule;
	__u32 id;

	if (i >= STEER_MAX_RULES || i >= w->list->count)
		return 1;
	id = w->list->ids[i];
	rule = bpf_map_lookup_elem(&steer_rules, &id);
	return walk_rule(w, rule, id);
}

#define STEER_WALK_END (~0ull)

/* Copied list g's rule at position at, as steer_merge.next holds it. Masked, not compared:
 * the positions stay numbers the verifier need not know, so the steps verify as one however
 * far each list has come. */
static __always_inline __u64 merge_next(const struct steer_merge *m, int g, __u32 at, __u32 *k)
{
	const struct steer_rule *r;

	if (at >= m->count[g])
		return STEER_WALK_END;
	*k = m->ids[g][at & (STEER_MAX_RULES - 1)];
	r = bpf_map_lookup_elem(&steer_rules, k);
	if (!r || r->action == STEER_RULE_CUT)
		return 0;
	return (__u64)r->priority << 32 | r->order;
}

/* Which list's next rule comes first: its index, or STEER_WALK_LISTS when every list is past
 * its end. A global function, verified once: to the steps its answer is a number they cannot
 * foresee, so they verify as one whichever list each has come to. */
__attribute__((noinline)) int steer_merge_pick(__u64 a, __u64 b, __u64 c, __u64 d)
{
	__u64 best = a;
	int pick = 0;

	if (b < best) {
		best = b;
		pick = 1;
	}
	if (c < best) {
		best = c;
		pick = 2;
	}
	if (d < best) {
		best = d;
		pick = 3;
	}
	return best == STEER_WALK_END ? STEER_WALK_LISTS : pick;
}

/* One rule of the merged lists, a bpf_loop() step: the first in the kernel's order among the
 * lists' next ones, by priority and then by its order among the rules of its priority. A cut
 * list's marker comes first once it is next: no rule after the last one the list holds can
 * be known. */
static long steer_merge_step(__u64 i, void *ctx)
{
	struct steer_walk *w = ctx;
	struct steer_merge *m;
	__u32 k = 0, id = 0, at;	/* one key slot for every lookup: the stack is short */
	int pick;

	m = bpf_map_lookup_elem(&steer_merge_lists, &k);
	if (!m)
		return 1;
	pick = steer_merge_pick(m->next[0], m->next[1], m->next[2], m->next[3]);
	if (pick < 0 || pick >= STEER_WALK_LISTS)
		return 1;
	at = m->at;
	m->at = at + (1u << (8 * pick));
	/* The id is read from its list again, not taken from next: a number the verifier knows
	 * there (a list's end) would make it tell the steps apart by it. */
#pragma unroll
	for (int g = 0; g < STEER_WALK_LISTS; g++)
		if (g == pick) {
			at = at >> (8 * g) & 0xff;
			id = m->ids[g][at & (STEER_MAX_RULES - 1)];
			m->next[g] = merge_next(m, g, at + 1, &k);
		}
	k = id;
	return walk_rule(w, bpf_map_lookup_elem(&steer_rules, &k), id);
}

static __always_inline long walk_rule(struct steer_walk *w, struct steer_rule *rule, __u32 id)
{
	if (!rule || !rule->action)
		return walk_punt(w, STEER_STAT_PUNT_MISSING_REF);
	if (rule->priority < w->skip_below)
		return 0;
	/* A cut list ends every walk: what lies past it is unknown. */
	if (rule->action != STEER_RULE_CUT &&
	    ((w->f->mode == STEER_WALK_EGRESS && !(rule->match & STEER_MATCH_POLICY)) ||
	     (w->f->mode == STEER_WALK_REVERSE && (rule->match & STEER_MATCH_POLICY))))
		return 0;
	if (!rule_matches(rule, w->f))
		return 0;
	count_in(&steer_rule_hits, id, w->quiet);
	w->res->priority = rule->priority;
	w->res->rule_id = id;
	switch (rule->action) {
	case STEER_RULE_LOOKUP:
		return table_result(w, rule, walk_route(w, rule->table));
	case STEER_RULE_GOTO:
		w->skip_below = rule->goto_priority;
		return 0;
	case STEER_RULE_NOP:
		return 0;
	case STEER_RULE_BLACKHOLE:
		return walk_end(w, STEER_LOOKUP_DROP);
	case STEER_RULE_UNREACHABLE:
		return walk_punt(w, STEER_STAT_PUNT_UNREACHABLE);
	case STEER_RULE_PROHIBIT:
		return walk_punt(w, STEER_STAT_PUNT_PROHIBIT);
	case STEER_RULE_CUT:
		return walk_punt(w, STEER_STAT_PUNT_RULE_LIMIT);
	case STEER_RULE_FORWARD:
	case STEER_RULE_GROUP:
		w->res->table = 0;
		w->res->nh_id = rule->nh_id;
		w->res->route_type = rule->action == STEER_RULE_FORWARD ? STEER_RT_FORWARD
									: STEER_RT_MULTIPATH;
		return walk_end(w, STEER_LOOKUP_FORWARD);
	default:
		return walk_punt(w, STEER_STAT_PUNT_RULE);
	}
}

/* One after the other, in one place: the rule steps need the stack. */
union steer_list_key {
	struct steer_src_key src;
	struct steer_dst_key dst;
	struct steer_sel_key sel;
};

/* The piece of split for value: its own, else the one for every other value. */
static __always_inline struct steer_rule_list *sel_value(union steer_list_key *k, __u32 split,
							 __u32 value)
{
	struct steer_rule_list *l;

	__builtin_memset(k, 0, sizeof(*k));
	k->sel.split = split;
	k->sel.value = value;
	l = bpf_map_lookup_elem(&steer_sel, &k->sel);
	if (l)
		return l;
	k->sel.value = 0;
	k->sel.other = 1;
	return bpf_map_lookup_elem(&steer_sel, &k->sel);
}

/* The piece of split (by input device, or by mark & mask) for the flow. */
static __always_inline struct steer_rule_list *
sel_lookup(const struct steer_flow *f, union steer_list_key *k, __u32 split, __u32 mask)
{
	return sel_value(k, split, mask ? f->mark & mask : f->iif);
}

/* sel_lookup(), then the piece of that piece's own split by the other selector; l itself
 * when split is 0. NULL: no piece. */
static __always_inline struct steer_rule_list *
sel_piece(const struct steer_flow *f, union steer_list_key *k, struct steer_rule_list *l,
	  __u32 split, __u32 mask)
{
	if (!split)
		return l;
	l = sel_lookup(f, k, split, mask);
	if (!l || !l->sel_split)
		return l;
	return sel_lookup(f, k, l->sel_split, l->sel_mask);
}

/* The piece of split (by destination) for the flow, and its piece by device or mark. */
static __always_inline struct steer_rule_list *
dst_piece(const struct steer_flow *f, union steer_list_key *k, __u32 split)
{
	struct steer_rule_list *l;

	__builtin_memset(k, 0, sizeof(*k));
	k->dst.prefixlen = STEER_DST_KEY_BITS(f->family == STEER_AF_INET ? 32 : 128);
	k->dst.split = split;
	k->dst.family = f->family;
	__builtin_memcpy(k->dst.addr, f->dst, 16);
	l = bpf_map_lookup_elem(&steer_dst, &k->dst);
	return l ? sel_piece(f, k, l, l->sel_split, l->sel_mask) : NULL;
}

/* Copies list l (none: an empty one) to m's list g: its rules only, two at a time. */
static __always_inline void merge_copy(struct steer_merge *m, int g, const struct steer_rule_list *l)
{
	__u32 n = l ? l->count : 0;

	m->count[g] = n;
#pragma unroll
	for (int i = 0; i < STEER_MAX_RULES / 2; i++) {
		if (!l || 2 * i >= n)
			break;
		((__u64 *)m->ids[g])[i] = ((const __u64 *)l->ids)[i];
	}
}

/* The flow's source list (the compiler always writes the /0 lists, a /0 piece under every
 * split by destination, an `other` one under every other split: a list missing means a sync
 * is in flight or a map is full). */
static __always_inline struct steer_rule_list *src_list(const struct steer_flow *f,
							union steer_list_key *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->src.prefixlen = STEER_SRC_KEY_BITS(f->family == STEER_AF_INET ? 32 : 128);
	k->src.family = f->family;
	__builtin_memcpy(k->src.addr, f->src, 16);
	return bpf_map_lookup_elem(&steer_src, &k->src);
}

/* The piece of the source's list for the flow. */
static __always_inline struct steer_rule_list *src_piece(const struct steer_flow *f,
							 union steer_list_key *k,
							 struct steer_rule_list *src)
{
	return src->dst_split ? dst_piece(f, k, src->dst_split)
			      : sel_piece(f, k, src, src->sel_split, src->sel_mask);
}

/* Sets up a merged walk for the flow, whose own list is already copied: the side lists
 * steer_merge_lists names copied there, and the first rule of each list. 0, or -1 when a
 * list is missing. A global function, with its own stack: the one the lookup and its calls
 * share would not hold it. */
__attribute__((noinline)) int steer_merge_start(const struct steer_flow *f)
{
	struct steer_rule_list *l;
	union steer_list_key k;
	struct steer_merge *m;

	__builtin_memset(&k, 0, sizeof(k));
	if (!f || !(m = bpf_map_lookup_elem(&steer_merge_lists, &k.sel.split)))
		return -1;
	l = m->side_dst ? dst_piece(f, &k, m->side_dst) : NULL;
	if (m->side_dst && !l)
		return -1;
	merge_copy(m, 1, l);
	l = m->side_sel ? sel_piece(f, &k, NULL, m->side_sel, m->side_mask) : NULL;
	if (m->side_sel && !l)
		return -1;
	merge_copy(m, 2, l);
	l = m->side_rest ? sel_value(&k, m->side_rest, f->dport) : NULL;
	if (m->side_rest && !l)
		return -1;
	merge_copy(m, 3, l);
	m->at = 0;
#pragma unroll
	for (int g = 0; g < STEER_WALK_LISTS; g++)
		m->next[g] = merge_next(m, g, 0, &k.sel.split);
	return 0;
}

/* Returns enum steer_lookup_res for the flow; fills res. Past the start it reads the flow and
 * res through w alone: fewer values to keep across the calls, and no room on the stack for
 * them. */
static __always_inline int steer_policy_lookup(const struct steer_flow *f,
					       struct steer_lookup *res, int quiet)
{
	struct steer_walk w = { .f = f, .res = res, .verdict = STEER_LOOKUP_NO_ROUTE, .quiet = quiet };
	struct steer_rule_list *src;
	struct steer_merge *m;
	union steer_list_key k;

	if (!(src = src_list(w.f, &k)))
		goto no_list;
	/* With side lists, they go to the scratch first: no pointer to the source's list need
	 * outlive the lookup of its piece. The scratch is at key 0, in k while k is free. */
	w.merged = src->side_dst || src->side_sel || src->side_rest;
	if (w.merged) {
		k.sel.split = 0;
		if (!(m = bpf_map_lookup_elem(&steer_merge_lists, &k.sel.split)))
			goto no_list;
		m->side_dst = src->side_dst;
		m->side_sel = src->side_sel;
		m->side_mask = src->side_mask;
		m->side_rest = src->side_rest;
	}
	if (!(w.list = src_piece(w.f, &k, src)))
		goto no_list;
	/* Read back, not kept: kept, it took a stack slot of its own. */
	if (!*(volatile int *)&w.merged) {
		bpf_loop(STEER_MAX_RULES, steer_rule_step, &w, 0);
		return w.verdict;
	}
	k.sel.split = 0;
	if (!(m = bpf_map_lookup_elem(&steer_merge_lists, &k.sel.split)))
		goto no_list;
	merge_copy(m, 0, w.list);
	if (steer_merge_start(w.f) < 0)
		goto no_list;
	bpf_loop(STEER_WALK_LISTS * STEER_MAX_RULES, steer_merge_step, &w, 0);
	return w.verdict;
no_list:
	w.res->reason = STEER_STAT_PUNT_NO_RULE_LIST;
	return STEER_LOOKUP_PUNT;
}

#endif
