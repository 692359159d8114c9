/* Verification: do the maps say what the kernel says? A fresh image, compiled from a fresh
 * dump, is compared with the maps entry by entry, every id resolved to what it names, so two
 * agents (or an agent and its own past) agree only if the datapath would decide alike. */
#include "verify.h"

#include <bpf/bpf.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fib4.h"
#include "log.h"

size_t verify_count_keys(int fd, size_t key_len)
{
	char key[64], next[64];
	void *cur = NULL;
	size_t n = 0;

	while (!bpf_map_get_next_key(fd, cur, next)) {
		memcpy(key, next, key_len);
		cur = key;
		n++;
	}
	return n;
}

static void note(struct verify_report *r, const struct log_ctx *ctx, const char *what,
		 const char *detail)
{
	r->differences++;
	if (r->differences <= 10)
		log_event(LOG_NOTICE, LOG_EV_DRIFT, ctx, "verify: %s: %s", what, detail);
}

/* Values are compared in 8-byte words, so that they can be read as their structs. */
#define VAL_WORDS(m) ((map_defs[m].val_size + 7) / 8)

/* One comparison: the maps, the image, and which content entries references reached on
 * either side (what no reference reaches is compared on its own at the end). */
struct check {
	const struct sync_fds *fds;
	const struct image *img;
	uint32_t *ids[MAP_APPLIED];	/* map ids reached, in the order met */
	size_t nids[MAP_APPLIED], cap[MAP_APPLIED];
	bool *reached[MAP_APPLIED];	/* image indices reached */
	bool oom;
};

static void reach(struct check *c, enum map_id m, uint32_t id, uint32_t idx)
{
	if (c->nids[m] == c->cap[m]) {
		size_t cap = c->cap[m] ? c->cap[m] * 2 : 64;
		uint32_t *p = realloc(c->ids[m], cap * sizeof(*p));

		if (!p) {
			c->oom = true;
			return;
		}
		c->ids[m] = p;
		c->cap[m] = cap;
	}
	c->ids[m][c->nids[m]++] = id;
	if (idx < *map_image_count(c->img, m))
		c->reached[m][idx] = true;
}

static bool same_content(struct check *c, enum map_id m, uint32_t id, uint32_t idx);

/* Whether got, a value the map m holds, says what want, the image's, says: every field
 * alike but the ids, and each id naming an entry alike in turn (the ids are the map's own;
 * the image's index its content arrays). */
static bool same_value(struct check *c, enum map_id m, const void *got, const void *want)
{
	uint64_t g[VAL_WORDS(m)], w[VAL_WORDS(m)];
	struct map_ref gr[MAP_MAX_REFS], wr[MAP_MAX_REFS];
	uint32_t gid[MAP_MAX_REFS], widx[MAP_MAX_REFS];
	size_t n;

	memcpy(g, got, map_defs[m].val_size);
	memcpy(w, want, map_defs[m].val_size);
	n = map_refs(m, g, gr);
	if (n != map_refs(m, w, wr))
		return false;
	for (size_t k = 0; k < n; k++) {
		if (gr[k].map != wr[k].map)
			return false;
		gid[k] = *gr[k].id;
		widx[k] = *wr[k].id;
		*gr[k].id = *wr[k].id = 0;
	}
	if (memcmp(g, w, map_defs[m].val_size))
		return false;
	for (size_t k = 0; k < n; k++)
		if (!same_content(c, gr[k].map, gid[k], widx[k]))
			return false;
	return true;
}

static const void *image_value(const struct check *c, enum map_id m, size_t idx)
{
	return (const char *)*map_image_arr(c->img, m) + idx * map_defs[m].rec_size;
}

/* The entry a content map holds under id against the image's content at idx. */
static bool same_content(struct check *c, enum map_id m, uint32_t id, uint32_t idx)
{
	uint64_t got[VAL_WORDS(m)];

	reach(c, m, id, idx);
	return idx < *map_image_count(c->img, m) && !bpf_map_lookup_elem(c->fds->fd[m], &id, got) &&
	       same_value(c, m, got, image_value(c, m, idx));
}

/* A keyed map's key, in words. */
static void describe_key(enum map_id m, const void *key, char *buf, size_t len,
			 struct log_ctx *ctx)
{
	const struct steer_src_key *src = key;
	const struct steer_route_key *route = key;
	const struct steer_dst_key *dst = key;
	const struct steer_sel_key *sel = key;
	const struct steer_vlan_key *vlan = key;
	const struct steer_neigh_key *neigh = key;
	char a[INET6_ADDRSTRLEN];

	switch (m) {
	case MAP_SRC:
		snprintf(buf, len, "family %u, /%u", src->family,
			 src->prefixlen - STEER_SRC_KEY_BITS(0));
		break;
	case MAP_DST:
		snprintf(buf, len, "split %u family %u, to /%u", dst->split, dst->family,
			 dst->prefixlen - STEER_DST_KEY_BITS(0));
		break;
	case MAP_SEL:
		snprintf(buf, len, "split %u, %s %u", sel->split, sel->other ? "other than" : "value",
			 sel->value);
		break;
	case MAP_ROUTES:
		snprintf(buf, len, "table %u family %u /%u", route->table, route->family,
			 route->prefixlen - STEER_ROUTE_KEY_BITS(0));
		*ctx = (struct log_ctx){ LOG_TABLE(route->table) };
		break;
	case MAP_VLANS:
		snprintf(buf, len, "ifindex %u vid %u", vlan->ifindex, vlan->vid);
		break;
	case MAP_NEIGHS:
		if (!inet_ntop(neigh->family, neigh->addr, a, sizeof(a)))
			snprintf(a, sizeof(a), "family %u", neigh->family);
		snprintf(buf, len, "ifindex %u %s", neigh->ifindex, a);
		break;
	default:
		snprintf(buf, len, "ifindex %u", *(const uint32_t *)key);
		break;
	}
}

/* Every entry of keyed map m the image has, then whether the map holds more. */
static void verify_keyed(struct check *c, enum map_id m, struct verify_report *r)
{
	const struct map_def *d = &map_defs[m];
	const char *recs = *map_image_arr(c->img, m);
	size_t n = *map_image_count(c->img, m);
	uint64_t got[VAL_WORDS(m)];
	char what[64], buf[160];

	for (size_t i = 0; i < n; i++) {
		const char *rec = recs + i * d->rec_size;
		struct log_ctx ctx = {};

		r->checked++;
		if (!bpf_map_lookup_elem(c->fds->fd[m], rec, got) &&
		    same_value(c, m, got, rec + d->val_off))
			continue;
		describe_key(m, rec, buf, sizeof(buf), &ctx);
		snprintf(what, sizeof(what), "%s differs or is missing", d->what);
		note(r, &ctx, what, buf);
	}
	if (verify_count_keys(c->fds->fd[m], d->key_size) != n) {
		snprintf(what, sizeof(what), "%ss", d->what);
		note(r, NULL, what, "the map holds entries the kernel has no counterpart for");
	}
}

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether the image's content at idx is that of an entry a reference reached: identical
 * content shares one id in the maps. */
static bool same_as_reached(const struct check *c, enum map_id m, size_t idx)
{
	for (size_t j = 0; j < *map_image_count(c->img, m); j++)
		if (c->reached[m][j] &&
		    !memcmp(image_value(c, m, j), image_value(c, m, idx), map_defs[m].val_size))
			return true;
	return false;
}

/* One walk of a content map for verify_unreached. */
struct unreached {
	struct check *c;
	enum map_id m;
	struct verify_report *r;
	bool *matched;		/* image indices some map entry matched */
	char what[64];
};

/* An entry of the map: named by a reference (compared already), or matching content no
 * reference reached in the image, or a difference. */
static int unreached_entry(void *arg, uint32_t key, const void *got)
{
	struct unreached *u = arg;
	struct check *c = u->c;
	size_t n = *map_image_count(c->img, u->m);
	bool found = false;
	char buf[64];

	if (c->nids[u->m] && bsearch(&key, c->ids[u->m], c->nids[u->m], sizeof(uint32_t), cmp_id))
		return 0;
	u->r->checked++;
	for (size_t i = 0; got && !found && i < n; i++)
		if (!c->reached[u->m][i] && same_value(c, u->m, got, image_value(c, u->m, i)))
			found = u->matched[i] = true;
	if (!found) {
		snprintf(buf, sizeof(buf), "id %u, named by nothing", key);
		note(u->r, NULL, u->what, buf);
	}
	return 0;
}

/* Content no reference reached, in the map (under its id) or in the image: sync keeps what
 * the image has even when nothing names it yet (the marker rule that punts a cut list), so
 * each such entry must have a counterpart on the other side. An array's slots of zeros
 * hold nothing. */
static void verify_unreached(struct check *c, enum map_id m, struct verify_report *r)
{
	const struct map_def *d = &map_defs[m];
	size_t n = *map_image_count(c->img, m);
	struct unreached u = { c, m, r, calloc(n + 1, sizeof(bool)) };
	char buf[64];

	if (!u.matched) {
		c->oom = true;
		return;
	}
	if (c->nids[m] > 1)
		qsort(c->ids[m], c->nids[m], sizeof(uint32_t), cmp_id);
	snprintf(u.what, sizeof(u.what), "%s differs or is missing", d->what);
	if (map_each_id(c->fds->fd[m], d->val_size, unreached_entry, &u) == -ENOMEM)
		c->oom = true;
	for (size_t i = 0; i < n; i++) {
		if (c->reached[m][i] || u.matched[i] || same_as_reached(c, m, i))
			continue;
		r->checked++;
		snprintf(buf, sizeof(buf), "the image's %zu, named by nothing", i);
		note(r, NULL, u.what, buf);
	}
	free(u.matched);
}

/* The IPv4 route arrays against the route trie as the maps hold it (which verify_keyed
 * compared with the image): an open slot must say what the trie says. */
static void verify_fib4(struct check *c, struct verify_report *r)
{
	struct rec {
		struct steer_route_key k;
		struct steer_route v;
	} *recs = NULL, *g;
	size_t n = 0, cap = 0;
	struct steer_route_key key, *prev = NULL;
	int fd = c->fds->fd[MAP_ROUTES];
	char buf[64];
	long bad;

	if (c->fds->fd[MAP_FIB4] < 0 || c->fds->fd[MAP_FIB4_CHUNKS] < 0 || fd < 0)
		return;
	while (!bpf_map_get_next_key(fd, prev, &key)) {
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			g = realloc(recs, cap * sizeof(*recs));
			if (!g) {
				c->oom = true;
				free(recs);
				return;
			}
			recs = g;
		}
		recs[n].k = key;
		prev = &recs[n].k;
		if (!bpf_map_lookup_elem(fd, &key, &recs[n].v))
			n++;
	}
	r->checked++;
	bad = fib4_verify(c->fds->fd[MAP_FIB4], c->fds->fd[MAP_FIB4_CHUNKS], recs, n, sizeof(*recs),
			  offsetof(struct rec, v));
	if (bad == -ENOMEM)
		c->oom = true;
	else if (bad < 0)
		note(r, NULL, "IPv4 route arrays cannot be read", strerror((int)-bad));
	else if (bad) {
		snprintf(buf, sizeof(buf), "%ld words", bad);
		note(r, NULL, "IPv4 route arrays differ from the route trie", buf);
	}
	free(recs);
}

int verify_maps(const struct sync_fds *fds, const struct image *img, struct verify_report *r)
{
	struct check c = { .fds = fds, .img = img };
	char buf[160];
	int m;

	*r = (struct verify_report){};
	for (m = 0; m < MAP_APPLIED; m++)
		if (map_defs[m].kind == MAP_CONTENT &&
		    !(c.reached[m] = calloc(*map_image_count(img, m) + 1, sizeof(bool))))
			c.oom = true;
	for (m = 0; !c.oom && m < MAP_APPLIED; m++)
		if (map_defs[m].kind == MAP_KEYED)
			verify_keyed(&c, m, r);
	for (m = 0; !c.oom && m < MAP_APPLIED; m++)
		if (map_defs[m].kind == MAP_CONTENT)
			verify_unreached(&c, m, r);
	if (!c.oom)
		verify_fib4(&c, r);
	for (uint32_t i = 0; fds->fd[MAP_NETFILTER] >= 0 && i < STEER_NF_CHAINS; i++) {
		struct steer_nf_chain got, want = {};

		if (i < img->nnf)
			want = img->nf[i];
		r->checked++;
		if (bpf_map_lookup_elem(fds->fd[MAP_NETFILTER], &i, &got) || memcmp(&got, &want, sizeof(got))) {
			snprintf(buf, sizeof(buf), "slot %u", i);
			note(r, NULL, "netfilter chain differs", buf);
		}
	}
	for (m = 0; m < MAP_APPLIED; m++) {
		free(c.ids[m]);
		free(c.reached[m]);
	}
	return c.oom ? -ENOMEM : 0;
}
