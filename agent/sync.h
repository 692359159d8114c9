/* Map sync: applies the difference between a compiled image and what was applied last,
 * make-before-break: links, next hops, groups and rule bodies, then routes, then rule lists
 * are written before anything is deleted, so no packet meets a reference to something
 * missing. Content that is referenced by id (rules, next hops, groups) is never changed in
 * place: new content gets a new id. */
#ifndef STEER_SYNC_H
#define STEER_SYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "compile.h"
#include "fib4.h"
#include "htab.h"
#include "maps.h"

/* Every map's fd, by enum map_id; -1 for a map not open. The flow cache is only sized
 * here (the state says how many slots). */
struct sync_fds {
	int fd[MAP_COUNT];
};

/* Content with stable ids: applied records are (id, value), sorted by id. */
/* The largest value of an applied map (a group), for buffers. */
#define SYNC_MAX_VALUE 1024

struct idtab {
	const char *name;
	int fd;
	size_t val_size;
	uint32_t max_id;	/* ids live in [1, max_id): the map's size */
	bool array;		/* the map is an array: zeros are an empty slot */
	uint32_t next_id;
	void *recs;
	size_t n;
};

struct sync_stats {
	uint64_t applies, updates, deletes, failures;
	uint64_t splits_in_place;	/* applies that punted through: see sync.c */
};

struct sync {
	struct sync_fds fd;
	struct image applied;	/* keyed maps, with real ids in their values */
	struct idtab ids[MAP_APPLIED];	/* content maps' (MAP_CONTENT), by enum map_id */
	uint64_t generation;
	uint64_t epoch;		/* the state map's, bumped at every write (flow cache) */
	uint32_t flow_mask;	/* the flow cache's slots - 1, a power of two less one; 0: off */
	struct steer_state last_state;	/* as last written */
	uint64_t map_writes;	/* writes to maps the decision reads (atomic: both threads) */
	uint64_t writes_at_epoch;	/* map_writes when the epoch last moved */
	uint32_t state_flags;	/* of the last applied image */
	uint8_t nf_mode;	/* enum steer_nf_mode, shown in the state map */
	uint32_t ct_mark, ct_mask, ct_timeout_tcp_ms, ct_timeout_udp_ms;	/* of the last image */
	struct steer_nf_chain nf[STEER_NF_CHAINS];	/* what the netfilter map holds */
	bool nf_written;	/* nf is what the map holds (not after adopting pins) */
	uint64_t heartbeat_ns;	/* last pulse written, CLOCK_MONOTONIC */
	uint64_t stale_after_ns;	/* 0: no deadline */
	bool synced;		/* what the state map says */
	bool failing;		/* the last apply failed: said once, not at every event */
	const char *failed_table;	/* which map refused the write */
	struct sync_stats stats;
	/* Events the image does not include yet (see nl-reader.h), flagged in the maps by the
	 * reader's thread the moment they arrive; lock guards these, the state map and the
	 * route map's writes. An apply clears what its image includes: every event up to
	 * upto, which the caller sets before sync_apply. */
	pthread_mutex_t lock;
	struct htab pending;		/* struct sync_pending by route key */
	struct fib4 fib4;		/* the IPv4 route arrays; lock guards their slots' words */
	uint64_t pending_all;		/* the last event that punts everything; 0: none */
	uint64_t upto;
};

/* Adopt whatever the (possibly pinned, pre-existing) maps hold, so that the first apply
 * rewrites every entry and deletes what the kernel no longer has. */
int sync_init(struct sync *s, const struct sync_fds *fds);
/* Apply img. On a failed write the datapath is switched to punt everything (a partial
 * image could forward wrongly) and -errno is returned; a later apply may recover. */
int sync_apply(struct sync *s, const struct image *img);
int sync_set_synced(struct sync *s, bool synced);
/* Tighten the state map's netfilter flags now, in one write: add the NF flags flags has,
 * and take away the conntrack offload flags it lacks. A ruleset that starts to act must not
 * wait for a whole apply; loosening waits for one, which writes the links' own netfilter
 * flags first. */
int sync_tighten_nf(struct sync *s, uint32_t flags);
/* Forget what was applied and adopt what the maps hold instead: the next apply rewrites
 * every entry and deletes whatever the maps hold beyond the image. */
int sync_forget(struct sync *s);
/* The agent's pulse: refreshes the heartbeat the datapath checks against its deadline. */
int sync_heartbeat(struct sync *s);
int sync_write_agent_stats(struct sync *s, const struct steer_agent_stats *st);
/* On the reader's thread: a route event for k arrived (seq): its prefix punts until an
 * apply includes it. Anything else (or lost events): everything punts until then. */
void sync_pending_route(struct sync *s, const struct steer_route_key *k, uint64_t seq);
void sync_pending_all(struct sync *s, uint64_t seq);
/* Whether anything is still pending (the maps are then not the image alone). */
bool sync_has_pending(struct sync *s);
void sync_free(struct sync *s);

#endif
