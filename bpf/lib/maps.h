/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The datapath's maps, in one place: the program and its helpers all read them by name. */
#ifndef STEER_LIB_MAPS_H
#define STEER_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"

/* A map, as one row: name, type, key, value, entries, and map_flags where it has any (the
 * definition it expands to has a map_flags member only then). */
#define STEER_MAP(_name, _type, _key, _value, _entries, ...)		\
	struct {							\
		__uint(type, _type);					\
		__VA_OPT__(__uint(map_flags, __VA_ARGS__);)		\
		__uint(max_entries, _entries);				\
		__type(key, _key);					\
		__type(value, _value);					\
	} _name SEC(".maps")

STEER_MAP(steer_src, BPF_MAP_TYPE_LPM_TRIE, struct steer_src_key, struct steer_rule_list,
	  STEER_SRC_ENTRIES, BPF_F_NO_PREALLOC);
STEER_MAP(steer_dst, BPF_MAP_TYPE_LPM_TRIE, struct steer_dst_key, struct steer_rule_list,
	  STEER_DST_ENTRIES, BPF_F_NO_PREALLOC);
STEER_MAP(steer_sel, BPF_MAP_TYPE_HASH, struct steer_sel_key, struct steer_rule_list,
	  STEER_SEL_ENTRIES);
/* Rules and next hops are content the agent numbers densely from 1: arrays, so a lookup
 * is an index, not a hash. An id nothing holds reads as zeros (action 0, ifindex 0), which
 * the program takes for missing. */
STEER_MAP(steer_rules, BPF_MAP_TYPE_ARRAY, __u32, struct steer_rule, STEER_RULE_ENTRIES);
STEER_MAP(steer_rule_hits, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, __u64, STEER_RULE_ENTRIES);
STEER_MAP(steer_routes, BPF_MAP_TYPE_LPM_TRIE, struct steer_route_key, struct steer_route,
	  STEER_ROUTE_ENTRIES, BPF_F_NO_PREALLOC);
/* The IPv4 route arrays (see STEER_FIB4_SLOTS): steerd writes them in place through mmap,
 * each word with one aligned store. */
STEER_MAP(steer_fib4, BPF_MAP_TYPE_ARRAY, __u32, __u32, STEER_FIB4_WORDS, BPF_F_MMAPABLE);
STEER_MAP(steer_fib4_chunks, BPF_MAP_TYPE_ARRAY, __u32, struct steer_fib4_chunk,
	  STEER_FIB4_CHUNK_ENTRIES, BPF_F_MMAPABLE);
STEER_MAP(steer_nexthops, BPF_MAP_TYPE_ARRAY, __u32, struct steer_nexthop, STEER_NH_ENTRIES);
STEER_MAP(steer_groups, BPF_MAP_TYPE_HASH, __u32, struct steer_group, STEER_GROUP_ENTRIES);
STEER_MAP(steer_links, BPF_MAP_TYPE_HASH, __u32, struct steer_link, STEER_LINK_ENTRIES);
STEER_MAP(steer_vlans, BPF_MAP_TYPE_HASH, struct steer_vlan_key, struct steer_vlan,
	  STEER_VLAN_ENTRIES);
STEER_MAP(steer_state, BPF_MAP_TYPE_ARRAY, __u32, struct steer_state, 1);
STEER_MAP(steer_stats, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct steer_counters, 1);

/* The netfilter chains steerd found: written by steerd for steerctl; the program only
 * reads the flags derived from them (steer_state, steer_links). */
STEER_MAP(steer_netfilter, BPF_MAP_TYPE_ARRAY, __u32, struct steer_nf_chain, STEER_NF_CHAINS);

/* The flow cache (see struct steer_flow_slot): max_entries slots on every CPU. */
STEER_MAP(steer_flows, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct steer_flow_slot,
	  STEER_FLOW_ENTRIES);

/* steerctl monitor's lease and filters (written in place by the listener through mmap) and
 * the events the program writes while the lease holds. */
STEER_MAP(steer_monitor, BPF_MAP_TYPE_ARRAY, __u32, struct steer_monitor, 1, BPF_F_MMAPABLE);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, STEER_EVENTS_BYTES);
} steer_events SEC(".maps");

/* The XDP stage's neighbours (struct steer_neigh), the devices it may redirect to (keyed
 * and valued by ifindex: steerd lists only those whose driver takes XDP frames), and its
 * counters, laid out like steer_stats. */
STEER_MAP(steer_neighs, BPF_MAP_TYPE_HASH, struct steer_neigh_key, struct steer_neigh,
	  STEER_NEIGH_ENTRIES);
STEER_MAP(steer_xdp_tx, BPF_MAP_TYPE_DEVMAP_HASH, __u32, __u32, STEER_XDP_TX_ENTRIES);
STEER_MAP(steer_xdp_stats, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct steer_counters, 1);

/* Written by steerd only; pinned so steerctl and tests can read it while steerd runs. */
STEER_MAP(steer_agent, BPF_MAP_TYPE_ARRAY, __u32, struct steer_agent_stats, 1);

/* Adds one to key's counter in steer_rule_hits, unless quiet: BPF_PROG_TEST_RUN callers
 * (steerctl explain) ask without moving counters. */
static __always_inline void count_in(void *map, __u32 key, int quiet)
{
	__u64 *v;

	if (quiet)
		return;
	v = bpf_map_lookup_elem(map, &key);
	if (v)
		*v += 1;
}

/* Counts a packet at its one exit in map (steer_stats or steer_xdp_stats): received, its
 * outcome, and whether the flow cache decided it. */
static __always_inline void count_exit(void *map, __u32 stat, int cached)
{
	struct steer_counters *c;
	__u32 zero = 0;
	__u64 i = stat;

	c = bpf_map_lookup_elem(map, &zero);
	if (!c)
		return;
	c->n[STEER_STAT_RX] += 1;
	/* One register for the test and the index, or clang re-derives the index from the
	 * unchecked value and the verifier sees no bound. */
	barrier_var(i);
	if (i < STEER_STAT_MAX)
		c->n[i] += 1;
	if (cached)
		c->n[STEER_STAT_CACHED] += 1;
}

#endif
