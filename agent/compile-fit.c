/* Fitting an image to the maps' sizes: what does not fit punts to the kernel, and the
 * caller counts and logs how much. */
#include "compile.h"
#include "compile-internal.h"

#include <stdlib.h>
#include <string.h>

DEFINE_KEY_CMP(cmp_route, struct image_route)

struct table_size {
	uint32_t table;
	uint8_t family;
	size_t n;
};

static int cmp_table_size_desc(const void *a, const void *b)
{
	const struct table_size *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

static bool collapsed(const struct table_size *ts, size_t k, uint32_t table, uint8_t family)
{
	for (size_t i = 0; i < k; i++)
		if (ts[i].table == table && ts[i].family == family)
			return true;
	return false;
}

/* Replace the biggest tables by a single punting /0 until the routes fit. */
static size_t fit_routes(struct image *img, size_t limit)
{
	struct table_size *ts = calloc(img->nroutes + 1, sizeof(*ts));
	size_t nts = 0, k = 0, total = img->nroutes, out = 0, given = 0;

	if (!ts)
		return 0;
	for (size_t i = 0; i < img->nroutes; i++) {
		const struct steer_route_key *key = &img->routes[i].key;

		if (nts && ts[nts - 1].table == key->table && ts[nts - 1].family == key->family)
			ts[nts - 1].n++;
		else
			ts[nts++] = (struct table_size){ key->table, key->family, 1 };
	}
	qsort(ts, nts, sizeof(*ts), cmp_table_size_desc);
	while (total > limit && k < nts) {
		total -= ts[k].n - 1;
		k++;
	}
	for (size_t i = 0; i < img->nroutes; i++) {
		struct image_route *ir = &img->routes[i];

		if (!collapsed(ts, k, ir->key.table, ir->key.family)) {
			img->routes[out++] = *ir;
			continue;
		}
		if (ir->val.dst_len == 0 && !memcmp(ir->key.addr, (uint8_t[16]){}, 16)) {
			ir->val = (struct steer_route){ .type = STEER_RT_PUNT };
			img->routes[out++] = *ir;
			continue;
		}
		given++;
	}
	/* A collapsed table without a /0 of its own gets one. */
	for (size_t t = 0; t < k; t++) {
		bool has = false;

		for (size_t i = 0; i < out; i++)
			if (img->routes[i].key.table == ts[t].table && img->routes[i].key.family == ts[t].family &&
			    img->routes[i].key.prefixlen == STEER_ROUTE_KEY_BITS(0))
				has = true;
		if (!has && out < img->nroutes) {
			img->routes[out++] = (struct image_route){
				.key = { .prefixlen = STEER_ROUTE_KEY_BITS(0), .table = ts[t].table,
					 .family = ts[t].family },
				.val = { .type = STEER_RT_PUNT },
			};
			given--;
		}
	}
	img->nroutes = out;
	sort(img->routes, img->nroutes, sizeof(*img->routes), cmp_route);
	free(ts);
	return given;
}

/* A list that punts at once: only the marker that ends a cut list (the image's last rule). */
static struct steer_rule_list cut_list(const struct image *img)
{
	return (struct steer_rule_list){ .count = 1, .ids = { (uint32_t)(img->nrules - 1) } };
}

size_t image_fit(struct image *img, const struct image_limits *lim)
{
	size_t given = 0;

	if (img->nnhs > lim->n[MAP_NH] || img->ngroups > lim->n[MAP_GROUPS]) {
		/* Which routes to keep is a choice we do not make: all of them punt. */
		for (size_t i = 0; i < img->nroutes; i++)
			if (img->routes[i].val.type == STEER_RT_FORWARD ||
			    img->routes[i].val.type == STEER_RT_MULTIPATH) {
				img->routes[i].val = (struct steer_route){ .type = STEER_RT_PUNT,
									   .dst_len = img->routes[i].val.dst_len };
				given++;
			}
		given += img->nnhs + img->ngroups;
		img->nnhs = img->ngroups = 0;
	}
	if (img->nroutes > lim->n[MAP_ROUTES])
		given += fit_routes(img, lim->n[MAP_ROUTES]);
	if (img->nsels > lim->n[MAP_SEL]) {
		/* The lists split by device or mark go back to being cut: just the marker,
		 * punting at once. */
		for (size_t i = 0; i < img->nsrcs; i++)
			if (img->srcs[i].val.sel_split)
				img->srcs[i].val = cut_list(img);
		for (size_t i = 0; i < img->ndsts; i++)
			if (img->dsts[i].val.sel_split)
				img->dsts[i].val = cut_list(img);
		given += img->nsels;
		img->nsels = 0;
	}
	if (img->ndsts > lim->n[MAP_DST]) {
		/* The lists split by destination likewise. */
		for (size_t i = 0; i < img->nsrcs; i++)
			if (img->srcs[i].val.dst_split)
				img->srcs[i].val = cut_list(img);
		given += img->ndsts;
		img->ndsts = 0;
	}
	if (img->nsrcs > lim->n[MAP_SRC] || img->nrules > lim->n[MAP_RULES]) {
		/* Keep the two /0 lists, each down to the marker that punts. */
		size_t out = 0, cut = img->nrules ? img->nrules - 1 : 0;

		for (size_t i = 0; i < img->nsrcs; i++) {
			if (img->srcs[i].key.prefixlen != STEER_SRC_KEY_BITS(0)) {
				given++;
				continue;
			}
			img->srcs[i].val = (struct steer_rule_list){ .count = 1, .ids = { (uint32_t)cut } };
			img->srcs[out++] = img->srcs[i];
		}
		given += img->nrules - 1 + img->ndsts + img->nsels;
		img->ndsts = img->nsels = 0;
		img->rules[0] = img->rules[cut];
		for (size_t i = 0; i < out; i++)
			img->srcs[i].val.ids[0] = 0;
		img->nrules = 1;
		img->nsrcs = out;
	}
	if (img->nlinks > lim->n[MAP_LINKS]) {
		given += img->nlinks - lim->n[MAP_LINKS];
		img->nlinks = lim->n[MAP_LINKS];	/* unknown links punt, in and out */
	}
	if (img->nvlans > lim->n[MAP_VLANS]) {
		given += img->nvlans - lim->n[MAP_VLANS];
		img->nvlans = lim->n[MAP_VLANS];
	}
	if (img->nneighs > lim->n[MAP_NEIGHS]) {
		given += img->nneighs - lim->n[MAP_NEIGHS];
		img->nneighs = lim->n[MAP_NEIGHS];	/* theirs pass from XDP to TC */
	}
	return given;
}
