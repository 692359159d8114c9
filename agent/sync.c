/* Map sync: a merge walk over sorted old and new images per map; updates go out in
 * dependency order, deletions last and in reverse order. */
#include "sync.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* One map seen as a sorted array of fixed-size records: key then value. */
struct table {
	const char *name;
	int fd;
	size_t rec, key_len, val_off, val_len;
};

static int cmp_rec_key(const struct table *t, const void *a, const void *b)
{
	return memcmp(a, b, t->key_len);
}

/* Write every record of new that old lacks or holds with another value. */
static int write_changes(struct sync *s, const struct table *t, const void *old, size_t nold,
			 const void *new, size_t nnew)
{
	size_t i = 0, j = 0;

	for (; j < nnew; j++) {
		const char *n = (const char *)new + j * t->rec;
		int c = 1;

		while (i < nold && (c = cmp_rec_key(t, (const char *)old + i * t->rec, n)) < 0)
			i++;
		if (i < nold && c == 0 &&
		    !memcmp((const char *)old + i * t->rec + t->val_off, n + t->val_off, t->val_len))
			continue;
		if (bpf_map_update_elem(t->fd, n, n + t->val_off, BPF_ANY) < 0) {
			int err = -errno;

			s->stats.failures++;
			log_err("sync: cannot write %s entry: %s (map full?)", t->name, strerror(-err));
			return err;
		}
		s->stats.updates++;
	}
	return 0;
}

/* Delete every record of old that new lacks. */
static void delete_stale(struct sync *s, const struct table *t, const void *old, size_t nold,
			 const void *new, size_t nnew)
{
	size_t j = 0;

	for (size_t i = 0; i < nold; i++) {
		const char *o = (const char *)old + i * t->rec;
		int c = 1;

		while (j < nnew && (c = cmp_rec_key(t, (const char *)new + j * t->rec, o)) < 0)
			j++;
		if (j < nnew && c == 0)
			continue;
		if (bpf_map_delete_elem(t->fd, o) < 0 && errno != ENOENT) {
			s->stats.failures++;
			log_warning("sync: cannot delete %s entry: %m", t->name);
			continue;
		}
		s->stats.deletes++;
	}
}

/* After a failed apply the maps hold some mix of old and new: remember every key of both,
 * with values no image produces, so the next apply rewrites and deletes as needed. */
static int forget_values(const struct table *t, void **old, size_t *nold, const void *new,
			 size_t nnew)
{
	char *out = malloc((*nold + nnew + 1) * t->rec);
	size_t i = 0, j = 0, n = 0;

	if (!out)
		return -ENOMEM;
	while (i < *nold || j < nnew) {
		const char *o = i < *nold ? (const char *)*old + i * t->rec : NULL;
		const char *w = j < nnew ? (const char *)new + j * t->rec : NULL;
		int c = !o ? 1 : !w ? -1 : cmp_rec_key(t, o, w);

		memcpy(out + n * t->rec, c <= 0 ? o : w, t->rec);
		memset(out + n * t->rec + t->val_off, 0xff, t->val_len);
		n++;
		i += c <= 0;
		j += c >= 0;
	}
	free(*old);
	*old = out;
	*nold = n;
	return 0;
}

static int cmp_nh_val(const void *a, const void *b)
{
	return memcmp(&((const struct nh_rec *)a)->val, &((const struct nh_rec *)b)->val,
		      sizeof(struct steer_nexthop));
}

static int cmp_nh_id(const void *a, const void *b)
{
	uint32_t x = ((const struct nh_rec *)a)->id, y = ((const struct nh_rec *)b)->id;

	return x < y ? -1 : x > y;
}

/* Read every key of a map into a record array whose values are all 0xff: no compiled value
 * looks like that, so every wanted entry is rewritten once. */
static int adopt_keys(int fd, size_t rec, size_t key_len, size_t val_off, size_t val_len,
		      void **out, size_t *n)
{
	char key[64], next[64];
	size_t cap = 0;
	void *cur = NULL;
	int r;

	*out = NULL;
	*n = 0;
	for (r = bpf_map_get_next_key(fd, NULL, next); !r; r = bpf_map_get_next_key(fd, cur, next)) {
		char *p;

		if (*n == cap) {
			void *q = realloc(*out, (cap = cap ? cap * 2 : 64) * rec);

			if (!q)
				return -ENOMEM;
			*out = q;
		}
		p = (char *)*out + *n * rec;
		memset(p, 0, rec);
		memcpy(p, next, key_len);
		memset(p + val_off, 0xff, val_len);
		(*n)++;
		memcpy(key, next, key_len);
		cur = key;
	}
	return 0;
}

static int cmp_bytes_src(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct steer_src_key));
}

static int cmp_bytes_route(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct steer_route_key));
}

static int cmp_bytes_u32(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(uint32_t));
}

static int cmp_bytes_vlan(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct steer_vlan_key));
}

int sync_init(struct sync *s, const struct sync_fds *fds)
{
	struct image *a = &s->applied;
	void *nhs;
	int r;

	*s = (struct sync){ .fd = *fds, .next_nh_id = 1 };
	r = adopt_keys(fds->src, sizeof(struct image_src), sizeof(struct steer_src_key),
		       offsetof(struct image_src, val), sizeof(struct steer_rule_list),
		       (void **)&a->srcs, &a->nsrcs);
	r = r ?: adopt_keys(fds->routes, sizeof(struct image_route), sizeof(struct steer_route_key),
			    offsetof(struct image_route, val), sizeof(struct steer_route),
			    (void **)&a->routes, &a->nroutes);
	r = r ?: adopt_keys(fds->links, sizeof(struct image_link), sizeof(uint32_t),
			    offsetof(struct image_link, val), sizeof(struct steer_link),
			    (void **)&a->links, &a->nlinks);
	r = r ?: adopt_keys(fds->vlans, sizeof(struct image_vlan), sizeof(struct steer_vlan_key),
			    offsetof(struct image_vlan, val), sizeof(struct steer_vlan),
			    (void **)&a->vlans, &a->nvlans);
	r = r ?: adopt_keys(fds->nhs, sizeof(struct nh_rec), sizeof(uint32_t),
			    offsetof(struct nh_rec, val), sizeof(struct steer_nexthop), &nhs, &s->nnhs);
	if (r < 0)
		return r;
	s->nhs = nhs;
	/* Keys come in hash or trie order; the merge walks need memcmp order. */
	qsort(a->srcs, a->nsrcs, sizeof(*a->srcs), cmp_bytes_src);
	qsort(a->routes, a->nroutes, sizeof(*a->routes), cmp_bytes_route);
	qsort(a->links, a->nlinks, sizeof(*a->links), cmp_bytes_u32);
	qsort(a->vlans, a->nvlans, sizeof(*a->vlans), cmp_bytes_vlan);
	qsort(s->nhs, s->nnhs, sizeof(*s->nhs), cmp_nh_id);
	for (size_t i = 0; i < s->nnhs; i++)
		if (s->nhs[i].id >= s->next_nh_id)
			s->next_nh_id = s->nhs[i].id + 1;
	if (a->nsrcs || a->nroutes || s->nnhs)
		log_info("sync: adopted %zu rule lists, %zu routes, %zu next hops from the pinned maps",
			 a->nsrcs, a->nroutes, s->nnhs);
	return 0;
}

/* Ids for the image's next hops: an applied next hop with the same content keeps its id,
 * a new one gets an id no applied entry uses, so nothing in flight changes meaning. */
static int assign_nh_ids(struct sync *s, const struct image *img, struct nh_rec **out)
{
	struct nh_rec *by_val = malloc((s->nnhs + 1) * sizeof(*by_val));
	struct nh_rec *want = malloc((img->nnhs + 1) * sizeof(*want));

	if (!by_val || !want) {
		free(by_val);
		free(want);
		return -ENOMEM;
	}
	memcpy(by_val, s->nhs, s->nnhs * sizeof(*by_val));
	qsort(by_val, s->nnhs, sizeof(*by_val), cmp_nh_val);
	for (size_t i = 0; i < img->nnhs; i++) {
		struct nh_rec key = { .val = img->nhs[i] }, *hit;

		hit = bsearch(&key, by_val, s->nnhs, sizeof(*by_val), cmp_nh_val);
		want[i].val = img->nhs[i];
		want[i].id = hit ? hit->id : s->next_nh_id++;
		if (!s->next_nh_id)
			s->next_nh_id = 1;
	}
	free(by_val);
	*out = want;
	return 0;
}

int sync_apply(struct sync *s, const struct image *img)
{
	const struct table t_src = { "rule list", s->fd.src, sizeof(struct image_src),
		sizeof(struct steer_src_key), offsetof(struct image_src, val), sizeof(struct steer_rule_list) };
	const struct table t_route = { "route", s->fd.routes, sizeof(struct image_route),
		sizeof(struct steer_route_key), offsetof(struct image_route, val), sizeof(struct steer_route) };
	const struct table t_nh = { "next hop", s->fd.nhs, sizeof(struct nh_rec), sizeof(uint32_t),
		offsetof(struct nh_rec, val), sizeof(struct steer_nexthop) };
	const struct table t_link = { "link", s->fd.links, sizeof(struct image_link), sizeof(uint32_t),
		offsetof(struct image_link, val), sizeof(struct steer_link) };
	const struct table t_vlan = { "vlan", s->fd.vlans, sizeof(struct image_vlan),
		sizeof(struct steer_vlan_key), offsetof(struct image_vlan, val), sizeof(struct steer_vlan) };
	struct image_route *routes = NULL;
	struct image_src *srcs = NULL;
	struct image_link *links = NULL;
	struct image_vlan *vlans = NULL;
	struct nh_rec *want = NULL, *nh_sorted = NULL;
	int r = -ENOMEM;

	if (assign_nh_ids(s, img, &want) < 0)
		return -ENOMEM;
	routes = malloc((img->nroutes + 1) * sizeof(*routes));
	srcs = malloc((img->nsrcs + 1) * sizeof(*srcs));
	links = malloc((img->nlinks + 1) * sizeof(*links));
	vlans = malloc((img->nvlans + 1) * sizeof(*vlans));
	nh_sorted = malloc((img->nnhs + 1) * sizeof(*nh_sorted));
	if (!routes || !srcs || !links || !vlans || !nh_sorted)
		goto fail;
	memcpy(routes, img->routes, img->nroutes * sizeof(*routes));
	for (size_t i = 0; i < img->nroutes; i++)
		if (routes[i].val.type == STEER_RT_FORWARD)
			routes[i].val.nh_id = want[routes[i].val.nh_id].id;
	memcpy(srcs, img->srcs, img->nsrcs * sizeof(*srcs));
	memcpy(links, img->links, img->nlinks * sizeof(*links));
	memcpy(vlans, img->vlans, img->nvlans * sizeof(*vlans));
	memcpy(nh_sorted, want, img->nnhs * sizeof(*want));
	qsort(nh_sorted, img->nnhs, sizeof(*nh_sorted), cmp_nh_id);

	/* Make: everything a packet can reach, leaves first. */
	r = write_changes(s, &t_link, s->applied.links, s->applied.nlinks, links, img->nlinks);
	r = r ?: write_changes(s, &t_vlan, s->applied.vlans, s->applied.nvlans, vlans, img->nvlans);
	r = r ?: write_changes(s, &t_nh, s->nhs, s->nnhs, nh_sorted, img->nnhs);
	r = r ?: write_changes(s, &t_route, s->applied.routes, s->applied.nroutes, routes, img->nroutes);
	r = r ?: write_changes(s, &t_src, s->applied.srcs, s->applied.nsrcs, srcs, img->nsrcs);
	if (r < 0) {
		/* Part of the image is missing: a shorter prefix could now answer for a longer
		 * one. Punt everything until an apply goes through whole. */
		sync_set_synced(s, false);
		if (forget_values(&t_link, (void **)&s->applied.links, &s->applied.nlinks, links, img->nlinks) < 0 ||
		    forget_values(&t_vlan, (void **)&s->applied.vlans, &s->applied.nvlans, vlans, img->nvlans) < 0 ||
		    forget_values(&t_nh, (void **)&s->nhs, &s->nnhs, nh_sorted, img->nnhs) < 0 ||
		    forget_values(&t_route, (void **)&s->applied.routes, &s->applied.nroutes, routes, img->nroutes) < 0 ||
		    forget_values(&t_src, (void **)&s->applied.srcs, &s->applied.nsrcs, srcs, img->nsrcs) < 0)
			log_err("sync: out of memory after a failed apply");
		goto fail;
	}
	/* Break: what nothing references any more, roots first. */
	delete_stale(s, &t_src, s->applied.srcs, s->applied.nsrcs, srcs, img->nsrcs);
	delete_stale(s, &t_route, s->applied.routes, s->applied.nroutes, routes, img->nroutes);
	delete_stale(s, &t_nh, s->nhs, s->nnhs, nh_sorted, img->nnhs);
	delete_stale(s, &t_vlan, s->applied.vlans, s->applied.nvlans, vlans, img->nvlans);
	delete_stale(s, &t_link, s->applied.links, s->applied.nlinks, links, img->nlinks);

	image_free(&s->applied);
	free(s->nhs);
	s->applied = (struct image){ .srcs = srcs, .nsrcs = img->nsrcs, .routes = routes,
				     .nroutes = img->nroutes, .links = links, .nlinks = img->nlinks,
				     .vlans = vlans, .nvlans = img->nvlans };
	s->nhs = nh_sorted;
	s->nnhs = img->nnhs;
	free(want);
	s->stats.applies++;
	s->generation++;
	return 0;
fail:
	free(routes);
	free(srcs);
	free(links);
	free(vlans);
	free(nh_sorted);
	free(want);
	return r;
}

int sync_set_synced(struct sync *s, bool synced)
{
	struct steer_state st = { .synced = synced, .abi_version = STEER_ABI_VERSION,
				  .generation = s->generation };
	uint32_t zero = 0;

	if (bpf_map_update_elem(s->fd.state, &zero, &st, BPF_ANY) < 0) {
		log_err("sync: cannot write the state map: %m");
		return -errno;
	}
	s->synced = synced;
	return 0;
}

void sync_free(struct sync *s)
{
	image_free(&s->applied);
	free(s->nhs);
	s->nhs = NULL;
	s->nnhs = 0;
}
