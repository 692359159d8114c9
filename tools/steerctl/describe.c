/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Render once, print twice: a rule, route or next hop becomes one list of fields, each value
 * written out once, with the words that show it to people and the key and type that show it
 * in JSON; a text printer and a JSON printer walk the same list. */
#include <string.h>

#include "steerctl.h"

void sc_desc_add(struct sc_desc *d, enum sc_kind kind, const char *key, const char *text,
		 const char *val)
{
	struct sc_field *f;

	/* The builders add a bounded number of fields; SC_DESC_MAX counts the largest. */
	if (d->n == SC_DESC_MAX)
		return;
	f = &d->f[d->n++];
	f->kind = kind;
	f->key = key;
	f->text = text;
	snprintf(f->val, sizeof(f->val), "%s", val ? val : "");
}

void sc_desc_num(struct sc_desc *d, const char *key, const char *text, unsigned long long n)
{
	char v[24];

	snprintf(v, sizeof(v), "%llu", n);
	sc_desc_add(d, SC_NUM, key, text, v);
}

/* A flag: true or false in JSON, and in the line the word for it, yes or no. */
void sc_desc_bool(struct sc_desc *d, const char *key, const char *text, bool v, const char *yes,
		  const char *no)
{
	sc_desc_add(d, v ? SC_TRUE : SC_FALSE, key, text, v ? yes : no);
}

/* A line's words end where the builder put its "\n". */
void sc_desc_line(struct sc_desc *d, const char *text)
{
	sc_desc_add(d, SC_TEXT, NULL, text, NULL);
}

static void print_text(FILE *out, const struct sc_desc *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->f[i].text)
			fprintf(out, d->f[i].text, d->f[i].val);
}

static void print_json(struct json *j, const struct sc_desc *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct sc_field *f = &d->f[i];

		switch (f->kind) {
		case SC_TEXT:                                      break;
		case SC_STR:     json_str(j, f->key, f->val);      break;
		case SC_NUM:     json_number(j, f->key, f->val);   break;
		case SC_NULL:    json_null(j, f->key);             break;
		case SC_TRUE:    json_bool(j, f->key, true);       break;
		case SC_FALSE:   json_bool(j, f->key, false);      break;
		case SC_OBJ:     json_obj_open(j, f->key);         break;
		case SC_OBJ_END: json_obj_close(j);                break;
		case SC_ARR:     json_arr_open(j, f->key);         break;
		case SC_ARR_END: json_arr_close(j);                break;
		}
	}
}

void sc_desc_print(struct steerctl *c, const struct sc_desc *d)
{
	if (c->json)
		print_json(&c->jw, d);
	else
		print_text(c->out, d);
}

/* A next hop in ip-route's words (" via [FAMILY] GW dev DEV") and keys. A gateway of another
 * family than the route's (route_family; 0 for a next hop of no route), e.g. IPv4 via an
 * IPv6 gateway (RFC 5549), is "via", an object, as iproute2 prints RTA_VIA. */
void sc_nh_desc(struct sc_desc *d, __u8 route_family, const struct steer_nexthop *nh)
{
	char buf[SC_ADDR_STRLEN];

	if (nh->family && route_family && nh->family != route_family) {
		sc_desc_add(d, SC_OBJ, "via", NULL, NULL);
		sc_desc_add(d, SC_STR, "family", " via %s",
			    sc_family_name(nh->family, buf, sizeof(buf)));
		sc_desc_add(d, SC_STR, "host", " %s", sc_addr(nh->family, nh->gw, buf, sizeof(buf)));
		sc_desc_add(d, SC_OBJ_END, NULL, NULL, NULL);
	} else if (nh->family) {
		sc_desc_add(d, SC_STR, "gateway", " via %s",
			    sc_addr(nh->family, nh->gw, buf, sizeof(buf)));
	}
	sc_desc_add(d, SC_STR, "dev", " dev %s", sc_ifname(nh->ifindex, buf, sizeof(buf)));
	if (nh->flags & STEER_NH_NEIGH_FAILED) {
		sc_desc_add(d, SC_ARR, "flags", NULL, NULL);
		sc_desc_add(d, SC_STR, NULL, " %s", "neigh_failed");
		sc_desc_add(d, SC_ARR_END, NULL, NULL, NULL);
	}
}

/* A group's members, one "\tnexthop" line (or object) each, resolved to their next hops,
 * with the share of the flows each takes. The members of a route's group (route_family
 * set) are worded as `ip route` words them, by "nhid"; those of a group of no route as `ip
 * nexthop` does, by "id". Returns 0 or a negative errno. */
int sc_group_desc(struct sc_desc *d, const struct steerctl *c, const struct pinned_map *nhs,
		  __u8 route_family, const struct steer_group *g)
{
	__u32 i, n = g->count < STEER_MAX_PATHS ? g->count : STEER_MAX_PATHS;
	struct steer_nexthop nh;
	char share[16];
	int r;

	for (i = 0; i < n; i++) {
		r = sc_map_lookup(c, nhs, &g->nh_ids[i], &nh);
		if (r < 0)
			return r;
		sc_desc_add(d, SC_OBJ, NULL, NULL, NULL);
		if (route_family)
			sc_desc_num(d, "nhid", r ? "\tnexthop" : "\tnexthop nhid %s (missing)",
				    g->nh_ids[i]);
		else
			sc_desc_num(d, "id", "\tnexthop id %s", g->nh_ids[i]);
		if (r)
			sc_nh_desc(d, route_family, &nh);
		else if (!route_family)
			sc_desc_add(d, SC_TRUE, "missing", " (missing)", NULL);
		snprintf(share, sizeof(share), "%.2f", sc_path_share(g, i));
		sc_desc_add(d, SC_NUM, "share", " share %s%%\n", share);
		sc_desc_add(d, SC_OBJ_END, NULL, NULL, NULL);
	}
	return 0;
}
