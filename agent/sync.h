/* Map sync: applies the difference between a compiled image and what was applied last,
 * make-before-break: links and next hops, then routes, then rule lists are written before
 * anything is deleted, so no packet meets a reference to something missing. */
#ifndef STEER_SYNC_H
#define STEER_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "compile.h"

struct sync_fds {
	int src, routes, nhs, links, vlans, state;
};

struct nh_rec {
	uint32_t id;
	struct steer_nexthop val;
};

struct sync_stats {
	uint64_t applies, updates, deletes, failures;
};

struct sync {
	struct sync_fds fd;
	struct image applied;	/* routes carry real next-hop ids here */
	struct nh_rec *nhs;	/* applied next hops, sorted by id */
	size_t nnhs;
	uint32_t next_nh_id;
	uint64_t generation;
	bool synced;		/* what the state map says */
	struct sync_stats stats;
};

/* Adopt whatever the (possibly pinned, pre-existing) maps hold, so that the first apply
 * rewrites every entry and deletes what the kernel no longer has. */
int sync_init(struct sync *s, const struct sync_fds *fds);
/* Apply img. On a failed write the datapath is switched to punt everything (a partial
 * image could forward wrongly) and -errno is returned; a later apply may recover. */
int sync_apply(struct sync *s, const struct image *img);
int sync_set_synced(struct sync *s, bool synced);
void sync_free(struct sync *s);

#endif
