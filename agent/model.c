/* The model's containers: links, addresses and neighbours by key, routes by
 * (table, prefix, metric) with their next hops, rules in the kernel's order. */
#include "model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

uint16_t model_neigh_state(const struct model *m, int32_t ifindex, uint8_t family, const uint8_t *dst)
{
	struct model_neigh_key k = { .ifindex = ifindex, .family = family };
	struct model_neigh *n;

	memcpy(k.dst, dst, 16);
	n = htab_find(&m->neighs, &k);
	return n ? n->state : 0;
}

bool model_table_mirrored(const struct model_overrides *ov, uint32_t table)
{
	if (!ov || !ov->ntables || table == MODEL_TABLE_LOCAL)
		return true;
	for (size_t i = 0; i < ov->ntables; i++)
		if (ov->tables[i] == table)
			return true;
	return false;
}

bool model_priority_mirrored(const struct model_overrides *ov, uint32_t priority)
{
	if (!ov || !ov->nprios)
		return true;
	for (size_t i = 0; i < ov->nprios; i++)
		if (priority >= ov->prios[i].lo && priority <= ov->prios[i].hi)
			return true;
	return false;
}

bool prefix_contains(const struct prefix *a, const struct prefix *b)
{
	unsigned full, rest;

	if (a->family != b->family || a->len > b->len)
		return false;
	full = a->len / 8;
	rest = a->len % 8;
	if (memcmp(a->addr, b->addr, full))
		return false;
	if (rest) {
		uint8_t mask = 0xff << (8 - rest);

		if ((a->addr[full] & mask) != (b->addr[full] & mask))
			return false;
	}
	return true;
}

void prefix_mask(struct prefix *p)
{
	unsigned bytes = p->family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < 16; i++) {
		int bits = (int)p->len - (int)i * 8;

		if (i >= bytes || bits <= 0)
			p->addr[i] = 0;
		else if (bits < 8)
			p->addr[i] &= 0xff << (8 - bits);
	}
}

int prefix_parse(const char *s, struct prefix *out)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	struct prefix p = {};
	long len;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, p.addr) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, p.addr) == 1)
		p.family = AF_INET6;
	else
		return -EINVAL;
	len = p.family == AF_INET ? 32 : 128;
	if (slash) {
		long max = len;

		len = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || len < 0 || len > max)
			return -EINVAL;
	}
	p.len = len;
	prefix_mask(&p);
	*out = p;
	return 0;
}

const char *prefix_str(const struct prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (p->family)
		inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", p->family ? a : "all", p->len);
	return buf;
}

void model_init(struct model *m)
{
	*m = (struct model){
		.links = HTAB_INIT(struct model_link, node, ifindex),
		.addrs = HTAB_INIT(struct model_addr, node, key),
		.neighs = HTAB_INIT(struct model_neigh, node, key),
		.routes = HTAB_INIT(struct model_route, node, key),
		.nhobjs = HTAB_INIT(struct model_nhobj, node, id),
		.rule_index = HTAB_INIT(struct model_rule_ix, node, key),
		.all_fwd4 = -1, .all_rp_filter4 = -1, .all_fwd6 = -1, .router_pref6 = -1,
		.mp_hash_policy4 = -1, .mp_hash_policy6 = -1, .fwd_use_pmtu4 = -1,
		.fwd_update_prio4 = -1, .ct_mark = 1, .ct_mask = 1, .ct_tcp_liberal = -1,
	};
	model_nf_init(&m->nf);
}

static void route_nh_free(struct model_route *r)
{
	if (r->nh != &r->one)
		free(r->nh);
}

static void route_free(void *o)
{
	struct model_route *r = o;

	while (r) {
		struct model_route *next = r->next;

		route_nh_free(r);
		free(r);
		r = next;
	}
}

static void nhobj_free(void *o)
{
	struct model_nhobj *n = o;

	free(n->grp);
	free(n);
}

void model_free(struct model *m)
{
	htab_free_all(&m->nhobjs, nhobj_free);
	htab_free_all(&m->rule_index, free);
	htab_free_all(&m->links, free);
	htab_free_all(&m->addrs, free);
	htab_free_all(&m->neighs, free);
	htab_free_all(&m->routes, route_free);
	free(m->rules);
	m->rules = NULL;
	m->nrules = m->rules_cap = 0;
	model_nf_free(&m->nf);
}

struct model_link *model_link_get(struct model *m, int32_t ifindex)
{
	return htab_find(&m->links, &ifindex);
}

struct model_link *model_link_by_name(struct model *m, const char *name)
{
	struct htab_iter it;
	struct model_link *l;

	htab_iter_init(&it, &m->links);
	while ((l = htab_iter_next(&it)))
		if (!strcmp(l->name, name))
			return l;
	return NULL;
}

struct model_link *model_link_upsert(struct model *m, int32_t ifindex)
{
	struct model_link *l = model_link_get(m, ifindex);

	if (l)
		return l;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->ifindex = ifindex;
	l->fwd4 = l->rp_filter4 = l->fwd6 = -1;
	l->type = 0xffff;
	l->mtu6 = -1;
	if (htab_insert(&m->links, l) < 0) {
		free(l);
		return NULL;
	}
	m->dirty = true;
	return l;
}

/* Takes obj (NULL: nothing) out of table t of the model and frees it; whether it was there. */
static bool model_drop(struct model *m, struct htab *t, void *obj, void (*free_fn)(void *))
{
	if (!obj)
		return false;
	htab_remove(t, obj);
	free_fn(obj);
	m->dirty = true;
	return true;
}

void model_link_del(struct model *m, int32_t ifindex)
{
	/* IPv4 routes through a vanished device go without a notification. */
	if (model_drop(m, &m->links, model_link_get(m, ifindex), free))
		m->routes_need_dump = true;
}

/* Insert-or-delete for the keyed sets whose objects are only "present" or not. */
static int keyed_set(struct model *m, struct htab *t, const void *key, size_t objsize,
		     size_t key_off, bool present, void **out)
{
	void *o = htab_find(t, key);

	*out = o;
	if (!present) {
		if (o) {
			htab_remove(t, o);
			free(o);
			*out = NULL;
		}
		return 0;
	}
	if (!o) {
		o = calloc(1, objsize);
		if (!o)
			return -ENOMEM;
		memcpy((char *)o + key_off, key, t->key_len);
		if (htab_insert(t, o) < 0) {
			free(o);
			return -ENOMEM;
		}
		*out = o;
	}
	(void)m;
	return 0;
}

int model_addr_set(struct model *m, const struct model_addr_key *k, bool present)
{
	struct model_addr *a;
	bool had = htab_find(&m->addrs, k) != NULL;
	int r = keyed_set(m, &m->addrs, k, sizeof(*a), offsetof(struct model_addr, key), present,
			  (void **)&a);

	if (a)
		a->stale = false;
	/* Whether a device has an IPv4 address at all is part of its source check. */
	if (r == 0 && had != present && k->addr.family == AF_INET)
		m->dirty = true;
	return r;
}

int model_neigh_set(struct model *m, const struct model_neigh_key *k, uint16_t state,
		    const uint8_t *lladdr, bool present)
{
	struct model_neigh *n;
	int r = keyed_set(m, &m->neighs, k, sizeof(*n), offsetof(struct model_neigh, key), present,
			  (void **)&n);

	if (n) {
		/* Only FAILED matters to the rules and routes; REACHABLE/STALE churn does not.
		 * With XDP on, so do whether the neighbour is usable and its address. */
		bool was = n->has_lladdr && (n->state & MODEL_NUD_VALID);
		bool is = lladdr && (state & MODEL_NUD_VALID);

		if ((n->state ^ state) & MODEL_NUD_FAILED)
			m->dirty = true;
		if (m->xdp && (was != is || (is && memcmp(n->lladdr, lladdr, 6))))
			m->dirty = true;
		n->state = state;
		n->stale = false;
		n->has_lladdr = lladdr != NULL;
		if (lladdr)
			memcpy(n->lladdr, lladdr, 6);
	} else if (!present) {
		m->dirty = true;
	}
	return r;
}

static bool nh_equal(const struct model_nexthop *a, const struct model_nexthop *b)
{
	return a->oif == b->oif && a->gw_family == b->gw_family && !memcmp(a->gw, b->gw, 16);
}

/* ---- routes ----
 *
 * An entry's routes are a chain whose first link is the one in the table, so the chain is
 * changed by moving content (the route's own fields) between links, never the first link. */

/* Everything of a route but its place: key, chain link, hash node and entry state. */
static void route_content(struct model_route *dst, const struct model_route *src)
{
	dst->nhid = src->nhid;
	dst->type = src->type;
	dst->protocol = src->protocol;
	dst->scope = src->scope;
	dst->pref = src->pref;
	dst->quirks = src->quirks;
	dst->nnh = src->nnh;
	if (src->nh == &src->one) {
		dst->one = src->one;
		dst->nh = &dst->one;
	} else {
		dst->nh = src->nh;
	}
	dst->ident = src->ident;
}

/* dst's content becomes a copy of in's (its next hops copied: a single one into dst). */
static int route_set(struct model_route *dst, const struct model_route *in)
{
	struct model_nexthop *nh = &dst->one;

	if (in->nnh > 1 && !(nh = malloc(in->nnh * sizeof(*nh))))
		return -ENOMEM;
	if (in->nnh)
		memcpy(nh, in->nh, in->nnh * sizeof(*nh));
	route_nh_free(dst);
	route_content(dst, in);
	dst->nh = nh;
	return 0;
}

/* A new link after pos holding a copy of in. */
static int route_insert_after(struct model_route *pos, const struct model_route *in)
{
	struct model_route *n = calloc(1, sizeof(*n));

	if (!n || route_set(n, in) < 0) {
		free(n);
		return -ENOMEM;
	}
	n->key = pos->key;
	n->next = pos->next;
	pos->next = n;
	return 0;
}

static struct model_route *route_last(struct model_route *head)
{
	while (head->next)
		head = head->next;
	return head;
}

/* The entry holds just a copy of in. */
static int route_reset(struct model_route *head, const struct model_route *in)
{
	route_free(head->next);
	head->next = NULL;
	head->unsure = false;
	return route_set(head, in);
}

static int route_prepend(struct model_route *head, const struct model_route *in)
{
	if (route_insert_after(head, head) < 0)
		return -ENOMEM;
	/* The copy took head's content; head's own next hops go with set below. */
	return route_set(head, in);
}

/* Unlinks victim from its entry; false when that left the entry empty (the caller then
 * removes the first link from the table). */
static bool route_unlink(struct model_route *head, struct model_route *victim)
{
	struct model_route *p;

	if (victim == head) {
		struct model_route *n = head->next;

		if (!n)
			return false;
		route_nh_free(head);
		route_content(head, n);
		head->next = n->next;
		free(n);
		return true;
	}
	for (p = head; p->next != victim; p = p->next)
		;
	p->next = victim->next;
	route_nh_free(victim);
	free(victim);
	return true;
}

static void entry_remove(struct model *m, struct model_route *head)
{
	htab_remove(&m->routes, head);
	route_free(head);
}

/* IPv6 routes at one entry never share a next hop (rt6_duplicate_nexthop refuses that), so
 * a next hop, or a nexthop object, names the route that holds it. */
static bool route6_overlaps(const struct model_route *a, const struct model_route *b)
{
	if ((a->quirks | b->quirks) & ROUTE_NHID)
		return (a->quirks & b->quirks & ROUTE_NHID) && a->nhid == b->nhid;
	for (uint32_t i = 0; i < a->nnh; i++)
		for (uint32_t j = 0; j < b->nnh; j++)
			if (nh_equal(&a->nh[i], &b->nh[j]))
				return true;
	return false;
}

/* The sibling group r is told again, perhaps with new members: members keep their
 * places (the kernel's order), new ones follow in the message's order, flags refresh. */
static int route6_merge(struct model_route *r, const struct model_route *in)
{
	uint32_t n = r->nnh, quirks = r->quirks & ROUTE_MULTIPATH;
	size_t size = (n + in->nnh + 1) * sizeof(struct model_nexthop);
	struct model_nexthop *nh = r->nh == &r->one ? malloc(size) : realloc(r->nh, size);

	if (!nh)
		return -ENOMEM;
	if (r->nh == &r->one && n)
		nh[0] = r->one;
	r->nh = nh;
	for (uint32_t i = 0; i < in->nnh; i++) {
		uint32_t j;

		for (j = 0; j < n && !nh_equal(&nh[j], &in->nh[i]); j++)
			;
		nh[j] = in->nh[i];
		if (j == n)
			n++;
	}
	nh = r->nh;
	route_content(r, in);
	r->nh = nh;
	r->nnh = n;
	r->quirks |= quirks | (n > 1 ? ROUTE_MULTIPATH : 0);
	return 0;
}

static int route4_add(struct model *m, struct model_route *head, const struct model_route *in,
		      enum model_route_op op)
{
	for (struct model_route *r = head; r; r = r->next)
		if (r->ident == in->ident)
			return route_set(r, in);	/* news about a route already there */
	switch (op) {
	case ROUTE_OP_REPLACE:
		return route_set(head, in);
	case ROUTE_OP_PREPEND:
		return route_prepend(head, in);
	case ROUTE_OP_UPDATE:
		/* About a route the model never heard of: something was missed. */
		head->unsure = true;
		m->routes_need_dump = true;
		return route_insert_after(route_last(head), in);
	default:
		return route_insert_after(route_last(head), in);
	}
}

static int route6_add(struct model *m, struct model_route *head, const struct model_route *in,
		      enum model_route_op op)
{
	struct model_route *hit = NULL, *r, *next;
	size_t hits = 0, n = 0;

	for (r = head; r; r = r->next, n++)
		if (route6_overlaps(r, in)) {
			hit = hit ? hit : r;
			hits++;
		}
	if (op == ROUTE_OP_REPLACE) {
		if (hits == 1)
			return route_set(hit, in);
		if (n == 1)
			return route_set(head, in);
		/* Which of several routes the kernel replaced (the first of its kind at this
		 * metric) is not in the message: punt the entry until it is read again. */
		head->unsure = true;
		m->routes_need_dump = true;
		return hit ? route_set(hit, in) : route_insert_after(route_last(head), in);
	}
	if (!hit)
		return route_insert_after(route_last(head), in);
	if (route6_merge(hit, in) < 0)
		return -ENOMEM;
	/* Routes whose next hops joined the group are its members now. */
	for (r = hit->next; r; r = next) {
		next = r->next;
		if (route6_overlaps(r, in))
			route_unlink(head, r);
	}
	return 0;
}

int model_route_add(struct model *m, const struct model_route *in, enum model_route_op op)
{
	struct model_route *head = htab_find(&m->routes, &in->key);

	m->dirty = true;
	if (!head) {
		head = calloc(1, sizeof(*head));
		if (!head || route_set(head, in) < 0) {
			free(head);
			return -ENOMEM;
		}
		head->key = in->key;
		if (htab_insert(&m->routes, head) < 0) {
			route_free(head);
			return -ENOMEM;
		}
		return 0;
	}
	/* A dump tells an entry whole, in the kernel's order, starting with its first route. */
	if ((op == ROUTE_OP_DUMP && head->stale) || op == ROUTE_OP_NEW) {
		head->stale = false;
		return route_reset(head, in);
	}
	if (in->key.dst.family == AF_INET6)
		return route6_add(m, head, in, op);
	return route4_add(m, head, in, op);
}

void model_route_del(struct model *m, const struct model_route *in)
{
	struct model_route *head = htab_find(&m->routes, &in->key), *r, *next;

	if (!head)
		return;
	m->dirty = true;
	if (in->key.dst.family == AF_INET) {
		/* The notification describes the route deleted, whole. */
		for (r = head; r && r->ident != in->ident; r = r->next)
			;
		if (!r) {
			head->unsure = true;
			m->routes_need_dump = true;
			return;
		}
		if (!route_unlink(head, r))
			entry_remove(m, head);
		return;
	}
	if (!in->nnh && !(in->quirks & ROUTE_NHID)) {
		entry_remove(m, head);
		return;
	}
	/* IPv6: the next hops named leave their route (one sibling, or a whole group). */
	for (r = head; r; r = next) {
		uint32_t kept = 0;

		next = r->next;
		if (!route6_overlaps(r, in))
			continue;
		if (!(in->quirks & ROUTE_NHID))
			for (uint32_t i = 0; i < r->nnh; i++) {
				bool gone = false;

				for (uint32_t j = 0; j < in->nnh; j++)
					gone |= nh_equal(&r->nh[i], &in->nh[j]);
				if (!gone)
					r->nh[kept++] = r->nh[i];
			}
		r->nnh = kept;
		if (kept) {
			if (kept == 1)
				r->quirks &= ~(uint32_t)ROUTE_MULTIPATH;
			continue;
		}
		if (!route_unlink(head, r)) {
			entry_remove(m, head);
			return;
		}
		if (r == head)
			next = head;	/* head now holds what followed it */
	}
}

struct model_nhobj *model_nhobj_get(const struct model *m, uint32_t id)
{
	return htab_find(&m->nhobjs, &id);
}

int model_nhobj_set(struct model *m, struct model_nhobj *in)
{
	struct model_nhobj *n = model_nhobj_get(m, in->id);

	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n || (n->id = in->id, htab_insert(&m->nhobjs, n) < 0)) {
			free(n);
			free(in->grp);
			return -ENOMEM;
		}
	}
	free(n->grp);
	{
		struct hnode node = n->node;

		*n = *in;
		n->node = node;
	}
	n->stale = false;
	in->grp = NULL;
	m->dirty = true;
	return 0;
}

void model_nhobj_del(struct model *m, uint32_t id)
{
	model_drop(m, &m->nhobjs, model_nhobj_get(m, id), nhobj_free);
}

static int rule_cmp_pos(const struct model_rule *a, const struct model_rule *b)
{
	if (a->key.priority != b->key.priority)
		return a->key.priority < b->key.priority ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static struct model_rule *rule_find(struct model *m, const struct model_rule_key *k)
{
	struct model_rule_ix *ix = htab_find(&m->rule_index, k);
	size_t lo = 0, hi = m->nrules;
	struct model_rule want;

	if (!ix)
		return NULL;
	want.key.priority = k->priority;
	want.seq = ix->seq;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = rule_cmp_pos(&m->rules[mid], &want);

		if (!c)
			return &m->rules[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int rule_index_set(struct model *m, const struct model_rule_key *k, uint64_t seq)
{
	struct model_rule_ix *ix = htab_find(&m->rule_index, k);

	if (!ix) {
		ix = calloc(1, sizeof(*ix));
		if (!ix)
			return -ENOMEM;
		ix->key = *k;
		if (htab_insert(&m->rule_index, ix) < 0) {
			free(ix);
			return -ENOMEM;
		}
	}
	ix->seq = seq;
	return 0;
}

/* A rule seen (in a dump or an event) goes after every rule already there with the same
 * priority: the kernel's own insertion order, and a dump replays the list in order. */
int model_rule_add(struct model *m, const struct model_rule_key *k)
{
	struct model_rule *r = rule_find(m, k), nr = { .key = *k };
	size_t pos;

	m->dirty = true;
	if (r) {
		/* Re-seen: keep it where it is unless a re-dump is replaying the order. */
		if (!r->stale)
			return 0;
		nr = *r;
		model_rule_del(m, k);
	}
	nr.seq = ++m->rule_seq;
	nr.stale = false;
	if (rule_index_set(m, k, nr.seq) < 0)
		return -ENOMEM;
	if (m->nrules == m->rules_cap) {
		size_t cap = m->rules_cap ? m->rules_cap * 2 : 16;
		struct model_rule *n = realloc(m->rules, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->rules = n;
		m->rules_cap = cap;
	}
	for (pos = m->nrules; pos > 0 && rule_cmp_pos(&m->rules[pos - 1], &nr) > 0; pos--)
		;
	memmove(&m->rules[pos + 1], &m->rules[pos], (m->nrules - pos) * sizeof(nr));
	m->rules[pos] = nr;
	m->nrules++;
	return 0;
}

void model_rule_del(struct model *m, const struct model_rule_key *k)
{
	struct model_rule *r = rule_find(m, k);
	struct model_rule_ix *ix;
	size_t pos;

	if (!r)
		return;
	ix = htab_find(&m->rule_index, k);
	htab_remove(&m->rule_index, ix);
	free(ix);
	pos = r - m->rules;
	memmove(r, r + 1, (m->nrules - pos - 1) * sizeof(*r));
	m->nrules--;
	m->dirty = true;
}

static bool route_of_kind(const struct model_route *r, enum model_kind kind)
{
	return r->key.dst.family == (kind == MODEL_ROUTE4 ? AF_INET : AF_INET6);
}

void model_mark_stale(struct model *m, enum model_kind kind)
{
	struct htab_iter it;
	void *o;

	switch (kind) {
	case MODEL_LINK:
		htab_mark(&m->links, offsetof(struct model_link, stale));
		break;
	case MODEL_ADDR:
		htab_mark(&m->addrs, offsetof(struct model_addr, stale));
		break;
	case MODEL_NEIGH:
		htab_mark(&m->neighs, offsetof(struct model_neigh, stale));
		break;
	case MODEL_ROUTE4:
	case MODEL_ROUTE6:
		htab_iter_init(&it, &m->routes);
		while ((o = htab_iter_next(&it)))
			if (route_of_kind(o, kind))
				((struct model_route *)o)->stale = true;
		break;
	case MODEL_RULE4:
	case MODEL_RULE6:
		for (size_t i = 0; i < m->nrules; i++)
			if (m->rules[i].key.family == (kind == MODEL_RULE4 ? AF_INET : AF_INET6))
				m->rules[i].stale = true;
		break;
	case MODEL_NHOBJ:
		htab_mark(&m->nhobjs, offsetof(struct model_nhobj, stale));
		break;
	default:
		break;
	}
}

static void drop_link(void *m, void *o)
{
	model_link_del(m, ((struct model_link *)o)->ifindex);
}

/* An address or a neighbour: out of its table (ctx), and freed. */
static void drop_free(void *table, void *o)
{
	htab_remove(table, o);
	free(o);
}

static void drop_nhobj(void *m, void *o)
{
	model_nhobj_del(m, ((struct model_nhobj *)o)->id);
}

size_t model_sweep(struct model *m, enum model_kind kind)
{
	struct htab_iter it;
	size_t n = 0;
	void *o;

	switch (kind) {
	case MODEL_LINK:
		n = htab_sweep(&m->links, offsetof(struct model_link, stale), drop_link, m);
		break;
	case MODEL_ADDR:
		n = htab_sweep(&m->addrs, offsetof(struct model_addr, stale), drop_free, &m->addrs);
		break;
	case MODEL_NEIGH:
		n = htab_sweep(&m->neighs, offsetof(struct model_neigh, stale), drop_free, &m->neighs);
		break;
	case MODEL_ROUTE4:
	case MODEL_ROUTE6:
		htab_iter_init(&it, &m->routes);
		while ((o = htab_iter_next(&it)))
			if (route_of_kind(o, kind) && ((struct model_route *)o)->stale) {
				htab_remove(&m->routes, o);
				route_free(o);
				n++;
			}
		break;
	case MODEL_NHOBJ:
		n = htab_sweep(&m->nhobjs, offsetof(struct model_nhobj, stale), drop_nhobj, m);
		break;
	case MODEL_RULE4:
	case MODEL_RULE6:
		for (size_t i = 0; i < m->nrules;) {
			if (m->rules[i].stale) {
				model_rule_del(m, &m->rules[i].key);
				n++;
			} else {
				i++;
			}
		}
		break;
	default:
		break;
	}
	if (n)
		m->dirty = true;
	return n;
}
