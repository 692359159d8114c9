/* The map registry: the one list of steer's maps (see maps.h). */
#include "maps.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "image.h"

/* A keyed map whose records struct image holds in arr (type rec_t, value field val). */
#define IMAGE_KEYED(arr, rec_t, val) \
	.kind = MAP_KEYED, .img_arr = offsetof(struct image, arr), \
	.img_n = offsetof(struct image, n##arr), .rec_size = sizeof(rec_t), \
	.val_off = offsetof(rec_t, val)
/* A content map whose values struct image holds in arr. */
#define IMAGE_CONTENT(arr, val_t) \
	.kind = MAP_CONTENT, .img_arr = offsetof(struct image, arr), \
	.img_n = offsetof(struct image, n##arr), .rec_size = sizeof(val_t)

const struct map_def map_defs[MAP_COUNT] = {
	[MAP_SRC] = { STEER_MAP_SRC, "rule list", "src", .pinned_verify = true, .listed = true,
		.key_size = sizeof(struct steer_src_key), .val_size = sizeof(struct steer_rule_list),
		.type = BPF_MAP_TYPE_LPM_TRIE, IMAGE_KEYED(srcs, struct image_src, val) },
	[MAP_DST] = { STEER_MAP_DST, "split rule list", "dsts", .pinned_verify = true, .listed = true,
		.split_piece = true, .split_off = offsetof(struct steer_dst_key, split),
		.key_size = sizeof(struct steer_dst_key), .val_size = sizeof(struct steer_rule_list),
		.type = BPF_MAP_TYPE_LPM_TRIE, IMAGE_KEYED(dsts, struct image_dst, val) },
	[MAP_SEL] = { STEER_MAP_SEL, "rule list piece", "sels", .pinned_verify = true, .listed = true,
		.split_piece = true, .split_off = offsetof(struct steer_sel_key, split),
		.key_size = sizeof(struct steer_sel_key), .val_size = sizeof(struct steer_rule_list),
		.type = BPF_MAP_TYPE_HASH, IMAGE_KEYED(sels, struct image_sel, val) },
	[MAP_ROUTES] = { STEER_MAP_ROUTES, "route", "routes", .pinned_verify = true, .listed = true,
		.key_size = sizeof(struct steer_route_key), .val_size = sizeof(struct steer_route),
		.type = BPF_MAP_TYPE_LPM_TRIE, IMAGE_KEYED(routes, struct image_route, val) },
	/* Array or hash: readers only look rules, next hops and groups up by id. */
	[MAP_RULES] = { STEER_MAP_RULES, "rule", "rules", .pinned_verify = true, .listed = true,
		.key_size = sizeof(__u32), .val_size = sizeof(struct steer_rule),
		IMAGE_CONTENT(rules, struct steer_rule) },
	[MAP_GROUPS] = { STEER_MAP_GROUPS, "group", "groups", .pinned_verify = true, .listed = true,
		.key_size = sizeof(__u32), .val_size = sizeof(struct steer_group),
		IMAGE_CONTENT(groups, struct steer_group) },
	[MAP_NH] = { STEER_MAP_NH, "next hop", "nexthops", .pinned_verify = true, .listed = true,
		.key_size = sizeof(__u32), .val_size = sizeof(struct steer_nexthop),
		IMAGE_CONTENT(nhs, struct steer_nexthop) },
	[MAP_VLANS] = { STEER_MAP_VLANS, "VLAN", "vlans", .pinned_verify = true, .listed = true,
		.key_size = sizeof(struct steer_vlan_key), .val_size = sizeof(struct steer_vlan),
		IMAGE_KEYED(vlans, struct image_vlan, val) },
	[MAP_LINKS] = { STEER_MAP_LINKS, "link", "links", .pinned_verify = true, .listed = true,
		.key_size = sizeof(__u32), .val_size = sizeof(struct steer_link),
		IMAGE_KEYED(links, struct image_link, val) },
	/* A neighbour is looked up after the flow cache: its changes keep the cache warm. */
	[MAP_NEIGHS] = { STEER_MAP_NEIGHS, "neighbour", "neighbours", .pinned_verify = true, .listed = true,
		.uncached = true,
		.key_size = sizeof(struct steer_neigh_key), .val_size = sizeof(struct steer_neigh),
		.type = BPF_MAP_TYPE_HASH, IMAGE_KEYED(neighs, struct image_neigh, val) },
	/* Hit counters are indexed by rule id: they size with the rules. Per-CPU either way:
	 * a lookup returns one __u64 per possible CPU; a hash may lack a rule that never
	 * matched, which reads as 0. */
	[MAP_HITS] = { STEER_MAP_HITS, "rule hit counter", "rules", .limit_follows = true,
		.pinned_verify = true, .listed = true, .key_size = sizeof(__u32), .val_size = sizeof(__u64),
		.type = BPF_MAP_TYPE_PERCPU_ARRAY, .alt_type = BPF_MAP_TYPE_PERCPU_HASH },
	[MAP_STATE] = { STEER_MAP_STATE, "state", .pinned_verify = true, .listed = true,
		.key_size = sizeof(__u32), .val_size = sizeof(struct steer_state),
		.type = BPF_MAP_TYPE_ARRAY },
	[MAP_AGENT] = { STEER_MAP_AGENT, "agent counters", .pinned_verify = true, .listed = true,
		.key_size = sizeof(__u32), .val_size = sizeof(struct steer_agent_stats),
		.type = BPF_MAP_TYPE_ARRAY },
	[MAP_NETFILTER] = { STEER_MAP_NETFILTER, "netfilter chain", .pinned_verify = true, .listed = true,
		.key_size = sizeof(__u32), .val_size = sizeof(struct steer_nf_chain),
		.type = BPF_MAP_TYPE_ARRAY },
	/* Per-CPU: readers see one struct steer_counters per possible CPU, at key 0. */
	[MAP_STATS] = { STEER_MAP_STATS, "counter", .listed = true, .key_size = sizeof(__u32),
		.val_size = sizeof(struct steer_counters), .type = BPF_MAP_TYPE_PERCPU_ARRAY },
	/* The flow cache is the program's: nothing to compare with the kernel. Its slots are a
	 * power of two (the program masks a hash to a slot). */
	[MAP_FLOWS] = { STEER_MAP_FLOWS, "flow cache slot", "flows", .pow2 = true,
		.key_size = sizeof(__u32), .val_size = sizeof(struct steer_flow_slot),
		.type = BPF_MAP_TYPE_PERCPU_ARRAY },
	[MAP_MONITOR] = { STEER_MAP_MONITOR, "monitor lease", .key_size = sizeof(__u32),
		.val_size = sizeof(struct steer_monitor), .type = BPF_MAP_TYPE_ARRAY },
	[MAP_EVENTS] = { STEER_MAP_EVENTS, "monitor event", .type = BPF_MAP_TYPE_RINGBUF },
	/* The devices the XDP stage may redirect to: steerd keeps it from the kernel's
	 * xdp_features as they change, not from an image. */
	[MAP_XDP_TX] = { STEER_MAP_XDP_TX, "XDP redirect target", .key_size = sizeof(__u32),
		.val_size = sizeof(__u32), .type = BPF_MAP_TYPE_DEVMAP_HASH },
	/* The IPv4 route arrays (fib4.h): written by sync from the routes it applies, read
	 * whole by verify. The words are not entries to count; a chunk in use is not zeros. */
	[MAP_FIB4] = { STEER_MAP_FIB4, "IPv4 route array word", .pinned_verify = true,
		.key_size = sizeof(__u32), .val_size = sizeof(__u32), .type = BPF_MAP_TYPE_ARRAY },
	[MAP_FIB4_CHUNKS] = { STEER_MAP_FIB4_CHUNKS, "IPv4 route chunk", "route-chunks",
		.pinned_verify = true, .listed = true, .sparse = true, .key_size = sizeof(__u32),
		.val_size = sizeof(struct steer_fib4_chunk), .type = BPF_MAP_TYPE_ARRAY },
	[MAP_XDP_STATS] = { STEER_MAP_XDP_STATS, "XDP counter", .listed = true, .key_size = sizeof(__u32),
		.val_size = sizeof(struct steer_counters), .type = BPF_MAP_TYPE_PERCPU_ARRAY },
};

void **map_image_arr(const struct image *img, enum map_id m)
{
	return (void **)((char *)img + map_defs[m].img_arr);
}

size_t *map_image_count(const struct image *img, enum map_id m)
{
	return (size_t *)((char *)img + map_defs[m].img_n);
}

int map_by_limit(const char *limit)
{
	for (int i = 0; i < MAP_COUNT; i++)
		if (map_defs[i].limit && !map_defs[i].limit_follows && !strcmp(map_defs[i].limit, limit))
			return i;
	return -1;
}

const char *const *map_limit_names(void)
{
	static const char *names[MAP_COUNT + 1];

	if (!names[0]) {
		size_t n = 0;

		for (int i = 0; i < MAP_COUNT; i++)
			if (map_defs[i].limit && !map_defs[i].limit_follows)
				names[n++] = map_defs[i].limit;
	}
	return names;
}

int map_pinned_links(const char *pin_dir, int (*fn)(void *arg, const char *ifname, enum map_hook hook),
		     void *arg)
{
	static const struct { const char *prefix; enum map_hook hook; } kinds[] = {
		{ STEER_PIN_TCX_INGRESS, HOOK_INGRESS }, { STEER_PIN_TCX_EGRESS, HOOK_EGRESS },
		{ STEER_PIN_XDP, HOOK_XDP },
	};
	DIR *dir = opendir(pin_dir);
	struct dirent *de;
	int r = 0;

	if (!dir)
		return -errno;
	while (!r && (de = readdir(dir))) {
		for (size_t k = 0; !r && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			const char *name = de->d_name + strlen(kinds[k].prefix);

			if (!strncmp(de->d_name, kinds[k].prefix, strlen(kinds[k].prefix)) && *name &&
			    strlen(name) < IF_NAMESIZE)
				r = fn(arg, name, kinds[k].hook);
		}
	}
	closedir(dir);
	return r;
}

static size_t ref_array(uint32_t *ids, uint32_t count, uint32_t max, enum map_id map,
			struct map_ref *out)
{
	size_t n = 0;

	for (uint32_t i = 0; i < count && i < max; i++)
		out[n++] = (struct map_ref){ map, &ids[i] };
	return n;
}

/* One nh_id naming a next hop or a group, when it names anything. */
static size_t ref_nh(uint32_t *id, bool nh, bool group, struct map_ref *out)
{
	if (!nh && !group)
		return 0;
	out[0] = (struct map_ref){ nh ? MAP_NH : MAP_GROUPS, id };
	return 1;
}

size_t map_refs(enum map_id m, void *val, struct map_ref out[MAP_MAX_REFS])
{
	_Static_assert(MAP_MAX_REFS >= STEER_MAX_RULES && MAP_MAX_REFS >= STEER_MAX_PATHS,
		       "room for every reference");
	struct steer_rule_list *list = val;
	struct steer_route *route = val;
	struct steer_rule *rule = val;
	struct steer_group *group = val;

	switch (m) {
	case MAP_SRC:
	case MAP_DST:
	case MAP_SEL:
		return ref_array(list->ids, list->count, STEER_MAX_RULES, MAP_RULES, out);
	case MAP_ROUTES:
		return ref_nh(&route->nh_id, route->type == STEER_RT_FORWARD,
			      route->type == STEER_RT_MULTIPATH, out);
	case MAP_RULES:
		return ref_nh(&rule->nh_id, rule->action == STEER_RULE_FORWARD,
			      rule->action == STEER_RULE_GROUP, out);
	case MAP_GROUPS:
		return ref_array(group->nh_ids, group->count, STEER_MAX_PATHS, MAP_NH, out);
	default:
		return 0;
	}
}

static bool all_zero(const uint8_t *v, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (v[i])
			return false;
	return true;
}

/* map_each_id for an array: BPF_MAP_LOOKUP_BATCH, skipping slots of zeros. */
static int array_each(int fd, uint32_t val_size, int (*fn)(void *arg, uint32_t key, const void *val),
		      void *arg)
{
	enum { BATCH = 4096 };
	/* Zeroed: memory checkers do not know that the batch call fills them. */
	uint32_t *keys = calloc(BATCH, sizeof(*keys)), out = 0, count;
	uint8_t *vals = calloc(BATCH, val_size);
	void *in = NULL;
	int r = 0, done = 0;

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	while (!done && !r) {
		count = BATCH;
		if (bpf_map_lookup_batch(fd, in, &out, keys, vals, &count, NULL) < 0) {
			if (errno != ENOENT) {
				r = -errno;
				break;
			}
			done = 1;	/* the last batch, count says how much of it there is */
		}
		for (uint32_t i = 0; i < count && !r; i++)
			if (!all_zero(vals + (size_t)i * val_size, val_size))
				r = fn(arg, keys[i], vals + (size_t)i * val_size);
		in = &out;
	}
	free(keys);
	free(vals);
	return r;
}

int map_each_id(int fd, uint32_t val_size, int (*fn)(void *arg, uint32_t key, const void *val),
		void *arg)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), key, *cur = NULL;
	uint8_t *val;
	int r = 0;

	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return -errno;
	if (info.type == BPF_MAP_TYPE_ARRAY)
		return array_each(fd, val_size, fn, arg);
	if (!(val = calloc(1, val_size)))
		return -ENOMEM;
	while (!r && !bpf_map_get_next_key(fd, cur, &key)) {
		cur = &key;
		r = fn(arg, key, bpf_map_lookup_elem(fd, &key, val) ? NULL : val);
	}
	free(val);
	return r;
}
