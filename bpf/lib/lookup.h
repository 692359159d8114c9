/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Policy routing lookup: source prefix -> ordered rule list -> table lookups, as
 * fib_rules_lookup() walks it. */
#ifndef STEER_LIB_LOOKUP_H
#define STEER_LIB_LOOKUP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"

enum steer_lookup_res {
	STEER_LOOKUP_FORWARD = 0,	/* res->route is the route the kernel would use */
	STEER_LOOKUP_NO_ROUTE,		/* every rule missed */
	STEER_LOOKUP_PUNT,		/* res->reason says why the kernel must decide */
};

struct steer_lookup {
	struct steer_route *route;
	__u32 priority;
	__u32 table;
	__u32 reason;
};

/* Returns enum steer_lookup_res for the flow (family, src -> dst); fills res. */
static __always_inline int steer_policy_lookup(void *src_trie, void *route_trie, __u8 family,
					       const __u8 *src, const __u8 *dst,
					       struct steer_lookup *res)
{
	struct steer_src_key skey = {};
	struct steer_route_key rkey = {};
	struct steer_rule_list *list;
	__u32 bits = family == STEER_AF_INET ? 32 : 128;
	__u32 i;

	skey.prefixlen = STEER_SRC_KEY_BITS(bits);
	skey.family = family;
	__builtin_memcpy(skey.addr, src, 16);
	list = bpf_map_lookup_elem(src_trie, &skey);
	if (!list) {
		/* The compiler always writes the /0 entries; no list means a sync is in flight
		 * or the map is full. */
		res->reason = STEER_STAT_PUNT_NO_RULE_LIST;
		return STEER_LOOKUP_PUNT;
	}

	rkey.prefixlen = STEER_ROUTE_KEY_BITS(bits);
	rkey.family = family;
	__builtin_memcpy(rkey.addr, dst, 16);

	for (i = 0; i < STEER_MAX_RULES; i++) {
		struct steer_rule *rule;
		struct steer_route *rt;

		if (i >= list->count)
			break;
		rule = &list->rules[i];
		res->priority = rule->priority;
		if (rule->action != STEER_RULE_LOOKUP) {
			res->reason = STEER_STAT_PUNT_RULE;
			return STEER_LOOKUP_PUNT;
		}
		rkey.table = rule->table;
		rt = bpf_map_lookup_elem(route_trie, &rkey);
		if (!rt)
			continue;	/* no route in this table: the next rule decides */
		res->table = rule->table;
		if (rt->type != STEER_RT_FORWARD) {
			res->reason = STEER_STAT_PUNT_ROUTE;
			return STEER_LOOKUP_PUNT;
		}
		res->route = rt;
		return STEER_LOOKUP_FORWARD;
	}
	return STEER_LOOKUP_NO_ROUTE;
}

#endif
