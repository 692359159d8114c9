/* steer.yaml's policies and groups -> rule bodies and groups of the map image. A policy the
 * fast path cannot follow yet (its device does not exist, no member of its group is up)
 * compiles to a punt: the kernel then decides, as if the policy were not there. */
#include "compile-internal.h"

#include <errno.h>
#include <net/if.h>
#include <sys/socket.h>

/* The weighted Maglev fill: every member walks its own permutation of the slots (drawn from
 * its key, so it does not depend on which other members exist) and, round by round, claims
 * free slots in proportion to its weight. Removing a member frees only its slots for the
 * others; the rest keep almost all of theirs. The permutations are shuffles, not Maglev's
 * offset + i * skip: two members with the same skip walk shifted copies of one sequence and,
 * when a third comes or goes, re-divide their common run (up to 40% of a 251-slot table
 * moved, against 13% at worst with shuffles; tests/unit/test-config.c measures it). */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void compile_maglev(struct steer_group *g, const uint64_t *keys, const uint16_t *weights)
{
	const uint32_t M = STEER_MAGLEV_SLOTS;
	uint16_t perm[STEER_MAX_PATHS][STEER_MAGLEV_SLOTS];
	uint32_t next[STEER_MAX_PATHS] = {}, credit[STEER_MAX_PATHS] = {}, filled = 0, n = g->count;
	uint16_t wmax = 1;

	memset(g->slots, 0xff, sizeof(g->slots));
	if (!n || n > STEER_MAX_PATHS)
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t state = keys[i];

		for (uint32_t c = 0; c < M; c++)
			perm[i][c] = (uint16_t)c;
		for (uint32_t c = M - 1; c > 0; c--) {
			uint32_t j = (uint32_t)(splitmix64(&state) % (c + 1));
			uint16_t t = perm[i][c];

			perm[i][c] = perm[i][j];
			perm[i][j] = t;
		}
		if (weights[i] > wmax)
			wmax = weights[i];
	}
	while (filled < M) {
		for (uint32_t i = 0; i < n && filled < M; i++) {
			credit[i] += weights[i] ? weights[i] : 1;
			while (credit[i] >= wmax && filled < M) {
				uint32_t c;

				credit[i] -= wmax;
				/* A free slot is left, and the permutation holds every slot, so the
				 * walk finds one before its end. */
				do
					c = perm[i][next[i]++];
				while (g->slots[c] != 0xff);
				g->slots[c] = (uint8_t)i;
				filled++;
			}
		}
	}
	g->slots[M] = 0;
}

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static bool link_up(const struct model_link *l)
{
	return l && (l->flags & IFF_UP) && (l->flags & IFF_RUNNING);
}

static struct steer_nexthop policy_nh(const struct model *m, int32_t ifindex, uint8_t family,
				      const uint8_t *gw)
{
	struct steer_nexthop nh = { .ifindex = (uint32_t)ifindex, .family = family };

	memcpy(nh.gw, gw, 16);
	if (family && model_neigh_state(m, ifindex, family, gw) & MODEL_NUD_FAILED)
		nh.flags |= STEER_NH_NEIGH_FAILED;
	return nh;
}

/* A group of the members that can carry traffic now: their device exists and is up. Returns
 * 1 when none can (the policy then punts). */
static int build_policy_group(const struct model *m, const struct model_group *mg, struct vec *nhs,
			      struct steer_group *g)
{
	uint64_t keys[STEER_MAX_PATHS], total = 0, sum = 0;
	uint16_t weights[STEER_MAX_PATHS];

	g->hash = mg->hash == GROUP_HASH_L3 ? STEER_HASH_L3
		  : mg->hash == GROUP_HASH_CONSISTENT ? STEER_HASH_CONSISTENT : STEER_HASH_L4;
	for (uint32_t i = 0; i < mg->n && i < STEER_MAX_PATHS; i++)
		if (link_up(model_link_by_name((struct model *)m, mg->m[i].dev)))
			total += mg->m[i].weight;
	if (!total)
		return 1;
	for (uint32_t i = 0; i < mg->n && i < STEER_MAX_PATHS; i++) {
		const struct model_group_member *gm = &mg->m[i];
		const struct model_link *l = model_link_by_name((struct model *)m, gm->dev);
		struct steer_nexthop *nh;

		if (!link_up(l))
			continue;
		nh = vec_push(nhs);
		if (!nh)
			return -ENOMEM;
		*nh = policy_nh(m, l->ifindex, gm->family, gm->gw);
		sum += gm->weight;
		/* A member's place in the table follows its name and gateway, not its ifindex,
		 * so a restart or a re-created device keeps every flow where it was. */
		keys[g->count] = fnv1a(gm->gw, sizeof(gm->gw), fnv1a(gm->dev, strlen(gm->dev), 0xcbf29ce484222325ull));
		weights[g->count] = gm->weight;
		g->nh_ids[g->count] = (uint32_t)(nhs->n - 1);
		g->upper[g->count] = (uint32_t)(((sum << 31) + total / 2) / total) - 1;
		g->count++;
	}
	if (g->hash == STEER_HASH_CONSISTENT)
		compile_maglev(g, keys, weights);
	return 0;
}

int compile_policy_body(const struct model *m, const struct model_overrides *ov,
			const struct model_policy *p, uint8_t family,
			struct vec *nhs, struct vec *groups, struct steer_rule *r)
{
	const struct model_link *l;
	struct steer_nexthop *nh;
	struct steer_group *g;
	int rr;

	*r = (struct steer_rule){ .priority = p->priority, .family = family, .match = STEER_MATCH_POLICY,
				  .action = STEER_RULE_PUNT };
	/* The trie covers `from`; the body keeps it so each policy's body is its own. */
	compile_addr_words(&p->src, r->src, r->src_mask);
	compile_selectors(r, &(struct compile_sel){
		.family = family, .dst = &p->dst, .tos = p->tos, .mark = p->mark, .mask = p->mask,
		.proto = p->ip_proto, .sport_lo = p->sport_lo, .sport_hi = p->sport_hi,
		.dport_lo = p->dport_lo, .dport_hi = p->dport_hi });
	switch (p->action) {
	case POLICY_BLACKHOLE:
		r->action = STEER_RULE_BLACKHOLE;
		break;
	case POLICY_TABLE:
		if (model_table_mirrored(ov, p->table)) {
			r->action = STEER_RULE_LOOKUP;
			r->table = p->table;
		}
		break;
	case POLICY_VIA:
		l = model_link_by_name((struct model *)m, p->dev);
		if (!l)
			break;	/* waits for its device */
		nh = vec_push(nhs);
		if (!nh)
			return -ENOMEM;
		*nh = policy_nh(m, l->ifindex, p->gw_family, p->gw);
		r->action = STEER_RULE_FORWARD;
		r->nh_id = (uint32_t)(nhs->n - 1);
		break;
	case POLICY_GROUP:
		if (!ov || p->group >= ov->ngroups)
			break;
		g = vec_push(groups);
		if (!g)
			return -ENOMEM;
		rr = build_policy_group(m, &ov->groups[p->group], nhs, g);
		if (rr < 0)
			return rr;
		if (rr > 0) {
			groups->n--;
			break;
		}
		r->action = STEER_RULE_GROUP;
		r->nh_id = (uint32_t)(groups->n - 1);
		break;
	}
	return 0;
}
