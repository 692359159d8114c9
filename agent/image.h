/* The compiled image: what the datapath's maps should hold, as the compiler makes it and
 * sync applies it. Keyed arrays are sorted by key (memcmp order) and hold no duplicates;
 * rules, next hops and groups are content that sync gives stable ids. */
#ifndef STEER_IMAGE_H
#define STEER_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

struct image_src {
	struct steer_src_key key;
	struct steer_rule_list val;	/* ids are indices into image.rules until sync maps them */
};

/* A piece of a source list split by destination (steer_rule_list.dst_split). */
struct image_dst {
	struct steer_dst_key key;
	struct steer_rule_list val;	/* ids are indices into image.rules until sync maps them */
};

/* A piece of a list split by input device or mark (steer_rule_list.sel_split). */
struct image_sel {
	struct steer_sel_key key;
	struct steer_rule_list val;	/* ids are indices into image.rules until sync maps them */
};

struct image_route {
	struct steer_route_key key;
	/* val.nh_id indexes image.nhs (FORWARD) or image.groups (MULTIPATH) until sync maps it */
	struct steer_route val;
};

struct image_link {
	uint32_t ifindex;
	struct steer_link val;
};

struct image_vlan {
	struct steer_vlan_key key;
	struct steer_vlan val;
};

/* A neighbour the XDP stage may send to (only with XDP on). */
struct image_neigh {
	struct steer_neigh_key key;
	struct steer_neigh val;
};

struct image {
	struct steer_rule *rules;	/* one per model rule, in the model's order */
	size_t nrules;
	struct steer_group *groups;	/* members index image.nhs until sync maps them */
	size_t ngroups;
	struct image_src *srcs;
	size_t nsrcs;
	struct image_dst *dsts;
	size_t ndsts;
	struct image_sel *sels;
	size_t nsels;
	struct image_route *routes;
	size_t nroutes;
	struct steer_nexthop *nhs;	/* distinct next hops, sorted */
	size_t nnhs;
	struct image_link *links;
	size_t nlinks;
	struct image_vlan *vlans;
	size_t nvlans;
	struct image_neigh *neighs;
	size_t nneighs;
	struct steer_nf_chain nf[STEER_NF_CHAINS];	/* netfilter base chains, for steerctl */
	size_t nnf;
	size_t truncated_lists;		/* lists cut at STEER_MAX_RULES */
	bool side_lists;		/* the `from all` rules are in side lists */
	uint32_t state_flags;		/* enum steer_state_flags */
	uint32_t ct_mark, ct_mask, ct_timeout_tcp_ms, ct_timeout_udp_ms;	/* steer_state's */
};

#endif
