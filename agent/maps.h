/* The registry of steer's maps: one row per map says its name (and its pin's), its layout,
 * the name its size goes by under --limit and `limits:`, and where a compiled image holds
 * its entries. Attach, sync, verify, the configuration and steerctl all walk these rows, so
 * a map is added in one place. */
#ifndef STEER_MAPS_H
#define STEER_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The maps an apply writes come first, in break order: roots first, so that deleting in
 * this order never leaves a reference to something gone, and writing in the reverse order
 * never makes one to something not there yet. The rest are the program's and the agent's
 * own (counters, state, the flow cache, the monitor). */
enum map_id {
	MAP_SRC,
	MAP_DST,
	MAP_SEL,
	MAP_ROUTES,
	MAP_RULES,
	MAP_GROUPS,
	MAP_NH,
	MAP_VLANS,
	MAP_LINKS,
	MAP_NEIGHS,
	MAP_APPLIED,			/* the maps above are the ones sync applies */
	MAP_HITS = MAP_APPLIED,
	MAP_STATE,
	MAP_AGENT,
	MAP_NETFILTER,
	MAP_STATS,
	MAP_FLOWS,
	MAP_MONITOR,
	MAP_EVENTS,
	MAP_XDP_TX,
	MAP_XDP_STATS,
	MAP_FIB4,			/* the IPv4 route arrays: steerd derives them from routes */
	MAP_FIB4_CHUNKS,
	MAP_COUNT,
};

/* How an applied map's entries are known. */
enum map_kind {
	MAP_KEYED,		/* by a key of their own: struct image holds (key, value) records */
	MAP_CONTENT,		/* by content: sync gives each distinct value an id, the map's key */
	MAP_OTHER,		/* not applied from an image */
};

struct map_def {
	const char *name;	/* in the BPF object, and the pin's file name */
	const char *what;	/* one entry, in messages: "route", "rule list" */
	const char *limit;	/* its size under --limit and `limits:`; NULL: not sizeable */
	bool limit_follows;	/* sized by another map's limit of the same name */
	bool pow2;		/* its size is rounded down to a power of two */
	bool pinned_verify;	/* --verify opens it from its pin */
	bool listed;		/* steerctl status and metrics count its entries */
	bool sparse;		/* an array whose slots of zeros hold nothing: count the rest */
	bool uncached;		/* the program reads it after the flow cache, on every packet:
				 * writing it leaves cached decisions standing */
	/* Its keys are the pieces of split lists: the split id (a rule list's dst_split or
	 * sel_split) stands at split_off in the key. */
	bool split_piece;
	uint32_t split_off;
	uint32_t key_size, val_size;
	uint32_t type;		/* what readers of the pin expect; 0: any type iterates alike */
	uint32_t alt_type;	/* a second type read the same way, or 0 */
	enum map_kind kind;
	/* Where struct image holds its entries: an array and its count (applied maps). For a
	 * keyed map each record is the key, then the value at val_off; for content, values. */
	size_t img_arr, img_n, rec_size, val_off;
};

extern const struct map_def map_defs[MAP_COUNT];

struct image;
/* Where an image holds applied map m's entries: its array and its count (the image is the
 * caller's to change or not). */
void **map_image_arr(const struct image *img, enum map_id m);
size_t *map_image_count(const struct image *img, enum map_id m);

/* The map a limit name ("routes") sizes, or -1. */
int map_by_limit(const char *limit);
/* The sizeable maps' limit names, NULL-terminated (for `limits:` and --limit). */
const char *const *map_limit_names(void);

/* The hooks steer pins a link for, per interface. */
enum map_hook { HOOK_INGRESS, HOOK_EGRESS, HOOK_XDP };

/* Calls fn for every TCX or XDP link pinned under pin_dir, with the interface its pin's name
 * gives and its hook, until fn returns non-zero (returned). The pin names are
 * the only record: a link's own info names no interface in the kernel headers libbpf 1.1
 * ships with. -errno when the directory cannot be read. */
int map_pinned_links(const char *pin_dir, int (*fn)(void *arg, const char *ifname, enum map_hook hook),
		     void *arg);

/* Calls fn for every entry of fd, a map keyed by u32 ids (the content maps), until fn
 * returns non-zero (returned): of an array, the slots that hold anything but zeros, in
 * index order, read in batches; of another type, every key with its value (NULL when the
 * key went between the two reads). -errno when the map cannot be read. */
int map_each_id(int fd, uint32_t val_size, int (*fn)(void *arg, uint32_t key, const void *val),
		void *arg);

/* An id in a value that names an entry of another map (a rule list's rule ids, a route's
 * or a rule's next hop or group, a group's next hops). */
struct map_ref {
	enum map_id map;
	uint32_t *id;
};

#define MAP_MAX_REFS 64		/* STEER_MAX_RULES: a rule list names the most */

/* The references in val, a value of map m, in the order they stand; returns how many. The
 * one place that knows what an id means for each action and route type: sync turns them
 * into the maps' ids, verify follows them to compare by content. */
size_t map_refs(enum map_id m, void *val, struct map_ref out[MAP_MAX_REFS]);

#endif
