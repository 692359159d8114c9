/* What the compiler's stages share: growable arrays, sorting, the rule body helpers
 * (selectors in compile-sel.c, policy bodies and Maglev in compile-policy.c), and the
 * routes stage (compile-routes.c) compile.c runs. */
#ifndef STEER_COMPILE_INTERNAL_H
#define STEER_COMPILE_INTERNAL_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "model.h"

/* A growable array of fixed-size records. */
struct vec {
	void *p;
	size_t n, cap, size;
};

static inline void *vec_push(struct vec *v)
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

static inline bool sorted(const void *p, size_t n, size_t size,
			  int (*cmp)(const void *, const void *))
{
	for (size_t i = 1; i < n; i++)
		if (cmp((const char *)p + (i - 1) * size, (const char *)p + i * size) > 0)
			return false;
	return true;
}

/* qsort, but an empty array may have no storage at all. */
static inline void sort(void *p, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(p, n, size, cmp);
}

/* A qsort comparator of records by their key member, as memcmp orders it. */
#define DEFINE_KEY_CMP(name, type)                                              \
	static int name(const void *a, const void *b)                           \
	{                                                                       \
		return memcmp(&((const type *)a)->key, &((const type *)b)->key, \
			      sizeof(((const type *)a)->key));                  \
	}

/* One step of the walk: a kernel rule, or a steer.yaml policy for one family. */
struct crule {
	const struct model_rule_key *k;		/* NULL for a policy */
	const struct model_policy *p;
	uint8_t family;
	uint32_t priority;
};

/* The rule lists of the rules cr (compile-lists.c): bodies[i] is cr[i] compiled and rule
 * ncr is the marker that ends a cut list; lists refer to rules by index. Adds image_src,
 * image_dst and image_sel records; counts cut lists. 0 or -ENOMEM. */
int compile_lists(const struct crule *cr, size_t ncr, const struct steer_rule *bodies,
		  struct vec *srcs, struct vec *dsts, struct vec *sels, size_t *truncated);

struct image;
/* Gives every split of a finished image (next hops deduplicated) its final id, which
 * follows what the split's pieces hold (compile-lists.c). The pieces' order is left to the
 * caller to restore. 0 or -ENOMEM. */
int compile_split_ids(struct image *img);

/* The selectors kernel rules and policies share, as the rule body holds them. */
struct compile_sel {
	uint8_t family;
	const struct prefix *dst;	/* len 0: any */
	uint8_t tos, proto;		/* 0: any */
	uint32_t mark, mask;		/* mask 0: any */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;	/* 0, 0: any */
};

void compile_selectors(struct steer_rule *r, const struct compile_sel *s);

/* A prefix as network-order words and mask words, IPv4 in word 0. */
void compile_addr_words(const struct prefix *p, uint32_t *addr, uint32_t *mask);

/* The body of a steer.yaml policy for one family. Its next hop or group is appended to nhs
 * or groups and referenced by index, as routes do until the next hops are deduplicated.
 * Returns 0 or -ENOMEM. */
int compile_policy_body(const struct model *m, const struct model_overrides *ov,
			const struct model_policy *p, uint8_t family,
			struct vec *nhs, struct vec *groups, struct steer_rule *r);

/* The routes of every table steer reads (compile-routes.c): image_route records in routes,
 * their next hops and groups appended to nhs and groups, referenced by index until
 * compile_dedupe_nexthops() points routes, groups and policies (rules) at the deduplicated
 * next hops. Each returns 0 or -ENOMEM. */
int compile_routes(const struct model *m, const struct model_overrides *ov,
		   struct vec *routes, struct vec *nhs, struct vec *groups);
int compile_dedupe_nexthops(struct vec *nhs, struct vec *routes, struct vec *groups,
			    struct vec *rules);

/* Fills a consistent group's Maglev table from its members' keys and weights. */
void compile_maglev(struct steer_group *g, const uint64_t *keys, const uint16_t *weights);

#endif
