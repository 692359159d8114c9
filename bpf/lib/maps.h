/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The datapath's maps, in one place: the program and its helpers all read them by name. */
#ifndef STEER_LIB_MAPS_H
#define STEER_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, STEER_SRC_ENTRIES);
	__type(key, struct steer_src_key);
	__type(value, struct steer_rule_list);
} steer_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, STEER_DST_ENTRIES);
	__type(key, struct steer_dst_key);
	__type(value, struct steer_rule_list);
} steer_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_SEL_ENTRIES);
	__type(key, struct steer_sel_key);
	__type(value, struct steer_rule_list);
} steer_sel SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, STEER_RULE_ENTRIES);
	__type(key, __u32);
	__type(value, struct steer_rule);
} steer_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_RULE_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} steer_rule_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, STEER_ROUTE_ENTRIES);
	__type(key, struct steer_route_key);
	__type(value, struct steer_route);
} steer_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_NH_ENTRIES);
	__type(key, __u32);
	__type(value, struct steer_nexthop);
} steer_nexthops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_GROUP_ENTRIES);
	__type(key, __u32);
	__type(value, struct steer_group);
} steer_groups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_LINK_ENTRIES);
	__type(key, __u32);
	__type(value, struct steer_link);
} steer_links SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_VLAN_ENTRIES);
	__type(key, struct steer_vlan_key);
	__type(value, struct steer_vlan);
} steer_vlans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_state);
} steer_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} steer_stats SEC(".maps");

/* The netfilter chains steerd found: written by steerd for steerctl; the program only
 * reads the flags derived from them (steer_state, steer_links). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_NF_CHAINS);
	__type(key, __u32);
	__type(value, struct steer_nf_chain);
} steer_netfilter SEC(".maps");

/* The flow cache (see struct steer_flow_slot): max_entries slots on every CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_FLOW_ENTRIES);
	__type(key, __u32);
	__type(value, struct steer_flow_slot);
} steer_flows SEC(".maps");

/* steerctl monitor's lease and filters (written in place by the listener through mmap) and
 * the events the program writes while the lease holds. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_monitor);
} steer_monitor SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, STEER_EVENTS_BYTES);
} steer_events SEC(".maps");

/* The XDP stage's neighbours (struct steer_neigh), the devices it may redirect to (keyed
 * and valued by ifindex: steerd lists only those whose driver takes XDP frames), and its
 * counters, indexed like steer_stats. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_NEIGH_ENTRIES);
	__type(key, struct steer_neigh_key);
	__type(value, struct steer_neigh);
} steer_neighs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, STEER_XDP_TX_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} steer_xdp_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} steer_xdp_stats SEC(".maps");

/* Written by steerd only; pinned so steerctl and tests can read it while steerd runs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_agent_stats);
} steer_agent SEC(".maps");

/* Adds one to key's counter in a per-CPU counter map (steer_stats, steer_xdp_stats,
 * steer_rule_hits), unless quiet: BPF_PROG_TEST_RUN callers (steerctl explain) ask without
 * moving counters. */
static __always_inline void count_in(void *map, __u32 key, int quiet)
{
	__u64 *v;

	if (quiet)
		return;
	v = bpf_map_lookup_elem(map, &key);
	if (v)
		*v += 1;
}

#endif
