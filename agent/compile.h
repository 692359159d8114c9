/* The compiler: a pure function from the model to the map image the datapath should see.
 * It never touches the maps; sync.c applies the image. */
#ifndef STEER_COMPILE_H
#define STEER_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "maps.h"
#include "model.h"

struct image_src {
	struct steer_src_key key;
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

/* Keyed arrays are sorted by key (memcmp order) and hold no duplicates; rules, next hops and
 * groups are content that sync gives stable ids. */
struct image {
	struct steer_rule *rules;	/* one per model rule, in the model's order */
	size_t nrules;
	struct steer_group *groups;	/* members index image.nhs until sync maps them */
	size_t ngroups;
	struct image_src *srcs;
	size_t nsrcs;
	struct image_route *routes;
	size_t nroutes;
	struct steer_nexthop *nhs;	/* distinct next hops, sorted */
	size_t nnhs;
	struct image_link *links;
	size_t nlinks;
	struct image_vlan *vlans;
	size_t nvlans;
	struct steer_nf_chain nf[STEER_NF_CHAINS];	/* netfilter base chains, for steerctl */
	size_t nnf;
	size_t truncated_lists;		/* lists cut at STEER_MAX_RULES */
	uint32_t state_flags;		/* enum steer_state_flags */
	uint32_t ct_mark, ct_mask, ct_timeout_tcp_ms, ct_timeout_udp_ms;	/* steer_state's */
};

/* Why a rule or a route is not one the datapath evaluates itself (NULL: it is). A rule
 * with a reason is compiled as "punt if its other selectors match". */
const char *compile_rule_punt_reason(const struct model_rule_key *k);
const char *compile_route_punt_reason(const struct model_route *r);

int compile_image(const struct model *m, struct image *out);	/* 0 or -ENOMEM */

/* Netfilter (compile-nf.c). The state flags (STEER_STATE_NF*) that the family's ruleset and
 * the mode give; cheap, so the daemon also writes them at once when the ruleset changes. */
uint32_t compile_nf_flags(const struct model *m);
/* Whether a netdev or inet ingress/egress chain acts (its devices punt). */
bool compile_nf_device_chains(const struct model *m);
/* Sets STEER_LINK_NF_* on the links whose devices netfilter chains hook; returns
 * STEER_STATE_NF_DEVICES when it set any. */
uint32_t compile_nf_links(const struct model *m, struct image_link *links, size_t n);
/* The base chains found, those that make steer punt first; at most max. */
size_t compile_nf_chains(const struct model *m, struct steer_nf_chain *out, size_t max);

/* Map capacities. */
struct image_limits {
	size_t n[MAP_APPLIED];	/* by enum map_id */
};

/* Make an image fit the maps without ever forwarding wrongly: a whole table that does not
 * fit becomes one punt entry per family, next hops that do not fit turn their routes into
 * punts, rule lists that do not fit leave only a punting list per family. Returns how many
 * entries were given up (0 when everything fits). */
size_t image_fit(struct image *img, const struct image_limits *lim);
void image_free(struct image *img);

#endif
