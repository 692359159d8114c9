/* steer.yaml's schema: the tree from config-tree.c -> struct config, with every error
 * naming the file, line, column and key and saying what was expected. The first error
 * stops the walk; nothing of a rejected file is used. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include "abi.h"
#include "config-tree.h"
#include "log.h"
#include "sort.h"

struct walk {
	const char *file;
	struct config *c;
	struct config_error *err;
	/* Group names as written, to resolve `group:` after every group is read. */
	const struct ynode **policy_group_refs;
	/* Group names sorted, to find repeats and resolve `group:` in O(n log n): pairwise
	 * compares of the 14,000 groups a 1 MiB file can hold took most of a second. */
	struct sorted_name *group_names;
	size_t ngroup_names;
};

struct sorted_name {
	const char *name;
	size_t index;		/* of the group, in file order */
};

static int cmp_sorted_name(const void *a, const void *b)
{
	const struct sorted_name *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : (x->index > y->index) - (x->index < y->index);
}

__attribute__((format(printf, 4, 5)))
static int fail(struct walk *w, const struct ynode *at, const char *key, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	size_t klen = key ? strnlen(key, 65) : 0;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* The key may be the unknown one, as long as the file: cut it (on a character boundary)
	 * so that what is wrong still fits. */
	if (klen > 64)
		for (klen = 64; klen && ((unsigned char)key[klen] & 0xc0) == 0x80; klen--)
			;
	snprintf(w->err->msg, sizeof(w->err->msg), "%s:%u:%u: %.*s%s%s%s", w->file, at ? at->line : 1,
		 at ? at->col : 1, (int)klen, key ? key : "", key && key[klen] ? "..." : "", key ? ": " : "", what);
	/* Keys and values are echoed, and a quoted one may hold any character: keep the message
	 * one line that cannot drive a terminal (C0, DEL, and C1 as UTF-8 become '?'). */
	for (unsigned char *s = (unsigned char *)w->err->msg; *s; s++)
		if (*s < 0x20 || *s == 0x7f)
			*s = '?';
		else if (*s == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
			s[0] = s[1] = '?';
	return -EINVAL;
}

static const char *kind_name(const struct ynode *n)
{
	return n->kind == YNODE_MAP ? "a mapping" : n->kind == YNODE_SEQ ? "a list" : "a value";
}

static int want(struct walk *w, const struct ynode *n, enum ynode_kind kind, const char *key,
		const char *expected)
{
	if (n->kind == kind)
		return 0;
	return fail(w, n, key, "expected %s, found %s", expected, kind_name(n));
}

/* Checks a mapping's keys against the known ones (and for duplicates). */
static int check_keys(struct walk *w, const struct ynode *map, const char *where,
		      const char *const *known)
{
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i];
		bool ok = false;

		if (k->kind != YNODE_SCALAR)
			return fail(w, k, where, "a key must be a plain word, not %s", kind_name(k));
		for (size_t j = 0; known[j]; j++)
			ok |= !strcmp(k->value, known[j]);
		if (!ok) {
			char list[256] = "";

			for (size_t j = 0; known[j]; j++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", j ? ", " : "", known[j]);
			return fail(w, k, k->value, "unknown key in %s (expected one of: %s)", where, list);
		}
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(map->kids[j]->value, k->value))
				return fail(w, k, k->value, "given twice in %s (first at line %u)", where,
					    map->kids[j]->line);
	}
	return 0;
}

static const struct ynode *lookup(const struct ynode *map, const char *key)
{
	for (size_t i = 0; i + 1 < map->nkids; i += 2)
		if (map->kids[i]->kind == YNODE_SCALAR && !strcmp(map->kids[i]->value, key))
			return map->kids[i + 1];
	return NULL;
}

/* A number as people write them in YAML: decimal, or hex with 0x. Not C's octal: a
 * leading zero (priority: 010) is ten, not eight. */
static unsigned long long to_u64(const char *s, char **end)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isxdigit((unsigned char)s[2]))
		return strtoull(s + 2, end, 16);
	return strtoull(s, end, 10);
}

/* An unsigned number (decimal or 0x hex) in [lo, hi]. */
static int number(struct walk *w, const struct ynode *n, const char *key, unsigned long long lo,
		  unsigned long long hi, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (n->kind != YNODE_SCALAR || !n->value[0] || n->value[0] == '-' || n->value[0] == '+')
		goto bad;
	errno = 0;
	v = to_u64(n->value, &end);
	if (errno || *end)
		goto bad;
	if (v < lo || v > hi)
		return fail(w, n, key, "%s is out of range (expected %llu to %llu)", n->value, lo, hi);
	*out = v;
	return 0;
bad:
	return fail(w, n, key, "expected a number from %llu to %llu, found %s%s%s", lo, hi,
		    n->kind == YNODE_SCALAR ? "'" : "", n->kind == YNODE_SCALAR ? n->value : kind_name(n),
		    n->kind == YNODE_SCALAR ? "'" : "");
}

static int seconds(struct walk *w, const struct ynode *n, const char *key, double *out)
{
	char *end;
	double v;

	if (n->kind != YNODE_SCALAR)
		return want(w, n, YNODE_SCALAR, key, "seconds (a number, 0 or more)");
	v = strtod(n->value, &end);
	if (!n->value[0] || *end || !(v >= 0) || v > 86400.0 * 365)
		return fail(w, n, key, "expected seconds (a number from 0 to 31536000), found '%s'", n->value);
	*out = v;
	return 0;
}

/* A number or a range "A-B" (inclusive). */
static int range(struct walk *w, const struct ynode *n, const char *key, unsigned long long max,
		 uint32_t *lo, uint32_t *hi)
{
	char buf[64], *dash, *end1, *end2;
	unsigned long long a, b;

	if (n->kind != YNODE_SCALAR || strlen(n->value) >= sizeof(buf))
		goto bad;
	strcpy(buf, n->value);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (!buf[0] || buf[0] == '+' || (dash && (!dash[1] || dash[1] == '-' || dash[1] == '+')))
		goto bad;
	errno = 0;
	a = to_u64(buf, &end1);
	b = dash ? to_u64(dash + 1, &end2) : a;
	if (errno || *end1 || (dash && *end2))
		goto bad;
	if (a > max || b > max || a > b)
		return fail(w, n, key, "'%s' is not a range within 0-%llu with the low end first", n->value, max);
	*lo = (uint32_t)a;
	*hi = (uint32_t)b;
	return 0;
bad:
	return fail(w, n, key, "expected a number or a range A-B (0 to %llu), found %s", max,
		    n->kind == YNODE_SCALAR ? n->value : kind_name(n));
}

static int table_id(struct walk *w, const struct ynode *n, const char *key, uint32_t *out)
{
	unsigned long long v;

	if (n->kind == YNODE_SCALAR) {
		if (!strcmp(n->value, "main"))
			return *out = MODEL_TABLE_MAIN, 0;
		if (!strcmp(n->value, "local"))
			return *out = MODEL_TABLE_LOCAL, 0;
		if (!strcmp(n->value, "default"))
			return *out = MODEL_TABLE_DEFAULT, 0;
	}
	if (n->kind != YNODE_SCALAR || (n->value[0] < '0' || n->value[0] > '9'))
		return fail(w, n, key, "expected a table: main, local, default or a number from 1 to 4294967295");
	if (number(w, n, key, 1, UINT32_MAX, &v) < 0)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* An address, or a prefix whose host bits are zero. */
static int prefix(struct walk *w, const struct ynode *n, const char *key, bool addr_only,
		  struct prefix *out)
{
	struct prefix p, exact;
	char shown[64];

	if (n->kind != YNODE_SCALAR || prefix_parse(n->value, &p) < 0)
		return fail(w, n, key, "expected %s, found %s", addr_only ? "an IPv4 or IPv6 address"
			    : "an IPv4 or IPv6 prefix such as 192.0.2.0/24 or 2001:db8::/32",
			    n->kind == YNODE_SCALAR ? n->value : kind_name(n));
	if (addr_only && strchr(n->value, '/'))
		return fail(w, n, key, "expected an address without a prefix length, found %s", n->value);
	/* prefix_parse zeroes host bits; a prefix that had some is a typo worth naming. */
	exact = p;
	if (inet_pton(p.family, strtok(strcpy(shown, n->value), "/"), exact.addr) != 1 ||
	    memcmp(exact.addr, p.addr, 16))
		return fail(w, n, key, "%s has host bits set (did you mean %s?)", n->value,
			    prefix_str(&p, shown, sizeof(shown)));
	*out = p;
	return 0;
}

static int ifname(struct walk *w, const struct ynode *n, const char *key, char *out)
{
	bool ctrl = false;

	/* The kernel refuses '/', ':' and white space; control characters too here, since the
	 * name is logged (a quoted "eth0\n..." would forge a log line). */
	for (const unsigned char *s = (const unsigned char *)n->value; n->kind == YNODE_SCALAR && *s; s++)
		ctrl |= *s < 0x20 || *s == 0x7f;
	if (n->kind != YNODE_SCALAR || !n->value[0] || strlen(n->value) >= IF_NAMESIZE || ctrl ||
	    strpbrk(n->value, "/ :") || !strcmp(n->value, ".") || !strcmp(n->value, ".."))
		return fail(w, n, key, "expected an interface name (1 to %d characters, no '/', ':', spaces "
			    "or control characters)", IF_NAMESIZE - 1);
	strcpy(out, n->value);
	return 0;
}

/* ---- sections ---- */

static int parse_interfaces(struct walk *w, const struct ynode *n)
{
	static const char *const keys[] = { "direction", "xdp", NULL };

	if (ynode_is_null(n))
		return 0;
	if (want(w, n, YNODE_MAP, "interfaces", "a mapping of interface names") < 0)
		return -EINVAL;
	for (size_t i = 0; i < n->nkids; i += 2) {
		const struct ynode *k = n->kids[i], *v = n->kids[i + 1], *d;
		struct config_iface *f;

		if (w->c->nifaces == CONFIG_MAX_IFACES)
			return fail(w, k, "interfaces", "more than %d interfaces", CONFIG_MAX_IFACES);
		f = &w->c->ifaces[w->c->nifaces];
		*f = (struct config_iface){ .ingress = true };
		if (ifname(w, k, "interfaces", f->name) < 0)
			return -EINVAL;
		for (size_t j = 0; j < w->c->nifaces; j++)
			if (!strcmp(w->c->ifaces[j].name, f->name))
				return fail(w, k, f->name, "interface given twice");
		if (!ynode_is_null(v)) {
			if (want(w, v, YNODE_MAP, f->name, "a mapping (direction:, xdp:) or nothing") < 0 ||
			    check_keys(w, v, f->name, keys) < 0)
				return -EINVAL;
			d = lookup(v, "direction");
			if (d) {
				const char *dir = d->kind == YNODE_SCALAR ? d->value : "";

				if (strcmp(dir, "ingress") && strcmp(dir, "egress") && strcmp(dir, "both"))
					return fail(w, d, "direction", "expected ingress, egress or both");
				f->ingress = strcmp(dir, "egress") != 0;
				f->egress = strcmp(dir, "ingress") != 0;
			}
			d = lookup(v, "xdp");
			if (d) {
				const char *x = d->kind == YNODE_SCALAR ? d->value : "";

				if (strcmp(x, "true") && strcmp(x, "false"))
					return fail(w, d, "xdp", "expected true or false");
				f->xdp = !strcmp(x, "true");
				if (f->xdp && !f->ingress)
					return fail(w, d, "xdp", "the XDP stage goes in front of ingress; "
						    "direction egress has none");
			}
		}
		w->c->nifaces++;
	}
	return 0;
}

/* Reads an item of a mirror: list into out. */
typedef int (*mirror_item_cb)(struct walk *w, const struct ynode *n, void *out);

static int mirror_table(struct walk *w, const struct ynode *n, void *out)
{
	return table_id(w, n, "tables", out);
}

static int mirror_prio(struct walk *w, const struct ynode *n, void *out)
{
	struct model_prio_range *r = out;

	return range(w, n, "priorities", UINT32_MAX, &r->lo, &r->hi);
}

/* One of mirror:'s lists (its items described in expected), each item read by item into a
 * new array *items of size-byte elements, *count of them. An empty list would mirror
 * nothing: an error, not "all". */
static int mirror_list(struct walk *w, const struct ynode *n, const char *key,
		       const char *expected, mirror_item_cb item, size_t size, void **items,
		       size_t *count)
{
	char *out;

	if (want(w, n, YNODE_SEQ, key, expected) < 0)
		return -EINVAL;
	if (!n->nkids)
		return fail(w, n, key, "an empty list would mirror nothing; leave %s out to mirror all", key);
	out = calloc(n->nkids, size);
	if (!out)
		return fail(w, n, key, "out of memory");
	*items = out;
	for (size_t i = 0; i < n->nkids; i++, (*count)++)
		if (item(w, n->kids[i], out + i * size) < 0)
			return -EINVAL;
	return 0;
}

static int parse_mirror(struct walk *w, const struct ynode *n)
{
	static const char *const keys[] = { "tables", "priorities", NULL };
	struct model_overrides *ov = &w->c->ov;
	const struct ynode *t, *p;

	if (ynode_is_null(n))
		return 0;
	if (want(w, n, YNODE_MAP, "mirror", "a mapping (tables:, priorities:)") < 0 ||
	    check_keys(w, n, "mirror", keys) < 0)
		return -EINVAL;
	t = lookup(n, "tables");
	if (t && mirror_list(w, t, "tables", "a list of tables, e.g. [main, 100]", mirror_table,
			     sizeof(*ov->tables), (void **)&ov->tables, &ov->ntables) < 0)
		return -EINVAL;
	p = lookup(n, "priorities");
	if (p && mirror_list(w, p, "priorities", "a list of priorities or ranges, e.g. [0-32767]",
			     mirror_prio, sizeof(*ov->prios), (void **)&ov->prios, &ov->nprios) < 0)
		return -EINVAL;
	return 0;
}

static int parse_group(struct walk *w, const struct ynode *k, const struct ynode *v,
		       struct model_group *g)
{
	static const char *const keys[] = { "hash", "nexthops", NULL };
	static const char *const mkeys[] = { "via", "dev", "weight", NULL };
	const struct ynode *h, *nhs;

	if (k->kind != YNODE_SCALAR || !k->value[0] || strlen(k->value) >= sizeof(g->name))
		return fail(w, k, "groups", "a group name is a word of 1 to %zu characters", sizeof(g->name) - 1);
	strcpy(g->name, k->value);
	g->hash = GROUP_HASH_L4;
	if (want(w, v, YNODE_MAP, g->name, "a mapping (hash:, nexthops:)") < 0 ||
	    check_keys(w, v, g->name, keys) < 0)
		return -EINVAL;
	h = lookup(v, "hash");
	if (h) {
		if (h->kind == YNODE_SCALAR && !strcmp(h->value, "l3"))
			g->hash = GROUP_HASH_L3;
		else if (h->kind == YNODE_SCALAR && !strcmp(h->value, "l4"))
			g->hash = GROUP_HASH_L4;
		else if (h->kind == YNODE_SCALAR && !strcmp(h->value, "consistent"))
			g->hash = GROUP_HASH_CONSISTENT;
		else
			return fail(w, h, "hash", "expected l3, l4 or consistent");
	}
	nhs = lookup(v, "nexthops");
	if (!nhs)
		return fail(w, v, g->name, "a group needs nexthops:");
	if (want(w, nhs, YNODE_SEQ, "nexthops", "a list of {via:, dev:, weight:}") < 0)
		return -EINVAL;
	if (!nhs->nkids || nhs->nkids > MODEL_GROUP_MAX)
		return fail(w, nhs, "nexthops", "a group has 1 to %d next hops, not %zu", MODEL_GROUP_MAX, nhs->nkids);
	for (size_t i = 0; i < nhs->nkids; i++) {
		const struct ynode *m = nhs->kids[i], *x;
		struct model_group_member *gm = &g->m[g->n++];
		unsigned long long wt = 1;
		struct prefix gw;

		if (want(w, m, YNODE_MAP, "nexthops", "a mapping {via:, dev:, weight:}") < 0 ||
		    check_keys(w, m, "nexthops", mkeys) < 0)
			return -EINVAL;
		x = lookup(m, "dev");
		if (!x)
			return fail(w, m, "nexthops", "each next hop needs dev:");
		if (ifname(w, x, "dev", gm->dev) < 0)
			return -EINVAL;
		x = lookup(m, "via");
		if (x) {
			if (prefix(w, x, "via", true, &gw) < 0)
				return -EINVAL;
			if (g->family && g->family != gw.family)
				return fail(w, x, "via", "a group's gateways are all IPv4 or all IPv6");
			gm->family = g->family = gw.family;
			memcpy(gm->gw, gw.addr, 16);
		}
		x = lookup(m, "weight");
		if (x && number(w, x, "weight", 1, 256, &wt) < 0)
			return -EINVAL;
		gm->weight = (uint16_t)wt;
		for (size_t j = 0; j + 1 < g->n; j++)
			if (!strcmp(g->m[j].dev, gm->dev) && g->m[j].family == gm->family &&
			    !memcmp(g->m[j].gw, gm->gw, 16))
				return fail(w, m, "nexthops", "the same next hop is listed twice; use weight:");
	}
	return 0;
}

static int parse_groups(struct walk *w, const struct ynode *n)
{
	struct model_overrides *ov = &w->c->ov;
	size_t *first;
	int r = 0;

	if (ynode_is_null(n))
		return 0;
	if (want(w, n, YNODE_MAP, "groups", "a mapping of group names") < 0)
		return -EINVAL;
	ov->groups = calloc(n->nkids / 2 + 1, sizeof(*ov->groups));
	w->group_names = calloc(n->nkids / 2 + 1, sizeof(*w->group_names));
	first = malloc((n->nkids / 2 + 1) * sizeof(*first));
	if (!ov->groups || !w->group_names || !first) {
		free(first);
		return fail(w, n, "groups", "out of memory");
	}
	/* Each name's first place in the file, for the groups that repeat one. */
	for (size_t i = 0; i < n->nkids; i += 2) {
		first[i / 2] = SIZE_MAX;
		if (n->kids[i]->kind == YNODE_SCALAR)
			w->group_names[w->ngroup_names++] = (struct sorted_name){ n->kids[i]->value, i / 2 };
	}
	qsort(w->group_names, w->ngroup_names, sizeof(*w->group_names), cmp_sorted_name);
	for (size_t k = 1, run = 0; k < w->ngroup_names; k++) {
		if (strcmp(w->group_names[k].name, w->group_names[run].name))
			run = k;
		else
			first[w->group_names[k].index] = w->group_names[run].index;
	}
	for (size_t i = 0; i < n->nkids; i += 2) {
		if (first[i / 2] != SIZE_MAX) {
			r = fail(w, n->kids[i], n->kids[i]->value, "group defined twice (first at line %u)",
				 n->kids[first[i / 2] * 2]->line);
			break;
		}
		if ((r = parse_group(w, n->kids[i], n->kids[i + 1], &ov->groups[ov->ngroups++])) < 0)
			break;
	}
	free(first);
	return r;
}

static const struct { const char *name; uint8_t proto; } protos[] = {
	{ "icmp", 1 }, { "igmp", 2 }, { "tcp", 6 }, { "udp", 17 }, { "gre", 47 }, { "esp", 50 },
	{ "ah", 51 }, { "ipv6-icmp", 58 }, { "icmpv6", 58 }, { "sctp", 132 }, { "udplite", 136 },
	{ "dccp", 33 },
};

/* Folds one more address into the policy's family; they must all agree. */
static int family_of(struct walk *w, const struct ynode *at, const char *key, struct model_policy *p,
		     uint8_t family)
{
	if (p->family && family && p->family != family)
		return fail(w, at, key, "mixes IPv4 and IPv6 in one policy");
	if (family)
		p->family = family;
	return 0;
}

int config_parse_mark(const char *s, uint32_t *mark, uint32_t *mask)
{
	char buf[64], *slash, *end;
	unsigned long long v, m = UINT32_MAX;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	errno = 0;
	v = to_u64(buf, &end);
	if (errno || *end || !buf[0] || buf[0] == '-' || v > UINT32_MAX ||
	    (slash && ((m = to_u64(slash + 1, &end)) > UINT32_MAX || *end || !slash[1] ||
		       slash[1] == '-' || errno)))
		return -EINVAL;
	if (!m)
		return -ERANGE;
	*mark = (uint32_t)(v & m);
	*mask = (uint32_t)m;
	return 0;
}

/* A mark N or N/MASK (policies' mark:, offload-mark:). */
static int mark_value(struct walk *w, const struct ynode *x, const char *key, uint32_t *mark,
		      uint32_t *mask)
{
	int r = x->kind == YNODE_SCALAR ? config_parse_mark(x->value, mark, mask) : -EINVAL;

	if (r == -ERANGE)
		return fail(w, x, key, "a mask of 0 matches every packet; leave %s out", key);
	if (r < 0)
		return fail(w, x, key, "expected a mark N or N/MASK, each 0 to 0xffffffff, found %s",
			    x->kind == YNODE_SCALAR ? x->value : "a collection");
	return 0;
}

/* The ipproto: a name or a number. */
static int policy_proto(struct walk *w, const struct ynode *x, struct model_policy *p)
{
	unsigned long long v;

	for (size_t i = 0; x->kind == YNODE_SCALAR && i < sizeof(protos) / sizeof(protos[0]); i++)
		if (!strcasecmp(x->value, protos[i].name))
			p->ip_proto = protos[i].proto;
	if (p->ip_proto)
		return 0;
	if (x->kind != YNODE_SCALAR || x->value[0] < '0' || x->value[0] > '9')
		return fail(w, x, "ipproto", "expected tcp, udp, icmp, ipv6-icmp, sctp, ... or a number 1-255");
	if (number(w, x, "ipproto", 1, 255, &v) < 0)
		return -EINVAL;
	p->ip_proto = (uint8_t)v;
	return 0;
}

/* What a policy matches: from, to, mark, type-of-service, ipproto, ports. */
static int parse_policy_selectors(struct walk *w, const struct ynode *n, struct model_policy *p)
{
	const struct ynode *x;
	unsigned long long v;

	if ((x = lookup(n, "from")) &&
	    (prefix(w, x, "from", false, &p->src) < 0 || family_of(w, x, "from", p, p->src.family) < 0))
		return -EINVAL;
	if ((x = lookup(n, "to")) &&
	    (prefix(w, x, "to", false, &p->dst) < 0 || family_of(w, x, "to", p, p->dst.family) < 0))
		return -EINVAL;
	if ((x = lookup(n, "mark")) && mark_value(w, x, "mark", &p->mark, &p->mask) < 0)
		return -EINVAL;
	if ((x = lookup(n, "type-of-service"))) {
		if (number(w, x, "type-of-service", 1, 255, &v) < 0)
			return -EINVAL;
		p->tos = (uint8_t)v;
	}
	if ((x = lookup(n, "ipproto")) && policy_proto(w, x, p) < 0)
		return -EINVAL;
	for (int d = 0; d < 2; d++) {
		const char *key = d ? "sport" : "dport";
		uint32_t lo, hi;

		if (!(x = lookup(n, key)))
			continue;
		if (range(w, x, key, 65535, &lo, &hi) < 0)
			return -EINVAL;
		/* 0-0 is how the policy says "any port": taken as written it would match them all. */
		if (!hi)
			return fail(w, x, key, "expected a port from 1 to 65535 or a range A-B, found %s", x->value);
		if (p->ip_proto != IPPROTO_TCP && p->ip_proto != IPPROTO_UDP &&
		    p->ip_proto != IPPROTO_SCTP && p->ip_proto != IPPROTO_DCCP &&
		    p->ip_proto != IPPROTO_UDPLITE)
			return fail(w, x, key, "ports need ipproto: tcp, udp, sctp, dccp or udplite");
		if (d) {
			p->sport_lo = (uint16_t)lo;
			p->sport_hi = (uint16_t)hi;
		} else {
			p->dport_lo = (uint16_t)lo;
			p->dport_hi = (uint16_t)hi;
		}
	}
	return 0;
}

/* The action: exactly one of via/dev, table, group, blackhole. */
static int parse_policy_action(struct walk *w, const struct ynode *n, size_t index,
			       struct model_policy *p)
{
	const struct ynode *x;
	int actions = 0;

	if (lookup(n, "via") || lookup(n, "dev")) {
		actions++;
		p->action = POLICY_VIA;
		x = lookup(n, "dev");
		if (!x)
			return fail(w, lookup(n, "via"), "via", "via needs dev: (the interface to send by)");
		if (ifname(w, x, "dev", p->dev) < 0)
			return -EINVAL;
		if ((x = lookup(n, "via"))) {
			struct prefix gw;

			if (prefix(w, x, "via", true, &gw) < 0 || family_of(w, x, "via", p, gw.family) < 0)
				return -EINVAL;
			p->gw_family = gw.family;
			memcpy(p->gw, gw.addr, 16);
		}
	}
	if ((x = lookup(n, "table"))) {
		actions++;
		p->action = POLICY_TABLE;
		if (table_id(w, x, "table", &p->table) < 0)
			return -EINVAL;
	}
	if ((x = lookup(n, "group"))) {
		actions++;
		p->action = POLICY_GROUP;
		if (x->kind != YNODE_SCALAR)
			return fail(w, x, "group", "expected the name of a group under groups:");
		w->policy_group_refs[index] = x;
	}
	if ((x = lookup(n, "blackhole"))) {
		actions++;
		p->action = POLICY_BLACKHOLE;
		if (x->kind != YNODE_SCALAR || strcmp(x->value, "true"))
			return fail(w, x, "blackhole", "expected true (to drop what matches)");
	}
	if (actions != 1)
		return fail(w, n, "policies", "a policy needs exactly one action: via/dev, table, group or blackhole "
			    "(this one has %d)", actions);
	return 0;
}

static int parse_policy(struct walk *w, const struct ynode *n, size_t index, struct model_policy *p)
{
	static const char *const keys[] = {
		"name", "priority", "from", "to", "mark", "type-of-service", "ipproto", "dport",
		"sport", "via", "dev", "table", "group", "blackhole", NULL,
	};
	const struct ynode *x;
	unsigned long long v;

	if (want(w, n, YNODE_MAP, "policies", "a mapping (priority:, from:, via:, ...)") < 0 ||
	    check_keys(w, n, "policies", keys) < 0)
		return -EINVAL;
	if ((x = lookup(n, "name"))) {
		if (x->kind != YNODE_SCALAR || strlen(x->value) >= sizeof(p->name))
			return fail(w, x, "name", "expected a name of at most %zu characters", sizeof(p->name) - 1);
		strcpy(p->name, x->value);
	}
	x = lookup(n, "priority");
	if (!x)
		return fail(w, n, "priority", "every policy needs a priority (its place among the ip rules)");
	if (number(w, x, "priority", 0, UINT32_MAX - 1, &v) < 0)
		return -EINVAL;
	p->priority = (uint32_t)v;
	return parse_policy_selectors(w, n, p) < 0 || parse_policy_action(w, n, index, p) < 0 ?
	       -EINVAL : 0;
}

static int cmp_policy(const void *a, const void *b)
{
	const struct model_policy *x = a, *y = b;

	return x->priority < y->priority ? -1 : x->priority > y->priority;
}

static int parse_policies(struct walk *w, const struct ynode *n)
{
	struct model_overrides *ov = &w->c->ov;
	struct u32_index *order;	/* priorities sorted, with their place in the file */
	size_t dup = SIZE_MAX, dup_of = 0;
	int r = 0;

	if (ynode_is_null(n))
		return 0;
	if (want(w, n, YNODE_SEQ, "policies", "a list of policies (- priority: ...)") < 0)
		return -EINVAL;
	ov->policies = calloc(n->nkids + 1, sizeof(*ov->policies));
	w->policy_group_refs = calloc(n->nkids + 1, sizeof(*w->policy_group_refs));
	if (!ov->policies || !w->policy_group_refs)
		return fail(w, n, "policies", "out of memory");
	for (size_t i = 0; i < n->nkids && r == 0; i++) {
		r = parse_policy(w, n->kids[i], i, &ov->policies[i]);
		if (!r)
			ov->npolicies++;
	}
	/* A repeated priority before the first policy in error is the first error in the file. */
	order = malloc((ov->npolicies + 1) * sizeof(*order));
	if (!order)
		return fail(w, n, "policies", "out of memory");
	for (size_t i = 0; i < ov->npolicies; i++)
		order[i] = (struct u32_index){ ov->policies[i].priority, i };
	qsort(order, ov->npolicies, sizeof(*order), cmp_u32_index);
	for (size_t k = 1, run = 0; k < ov->npolicies; k++) {
		if (order[k].v != order[run].v)
			run = k;
		else if (order[k].index < dup) {
			dup = order[k].index;
			dup_of = order[run].index;
		}
	}
	free(order);
	if (dup != SIZE_MAX)
		return fail(w, lookup(n->kids[dup], "priority"), "priority",
			    "%u is already the priority of the policy at line %u; each policy needs its own",
			    ov->policies[dup].priority, n->kids[dup_of]->line);
	return r;
}

static int cmp_name_only(const void *a, const void *b)
{
	return strcmp(((const struct sorted_name *)a)->name, ((const struct sorted_name *)b)->name);
}

/* `group:` names resolve once every group is known; families must agree. */
static int resolve_groups(struct walk *w)
{
	struct model_overrides *ov = &w->c->ov;

	for (size_t i = 0; i < ov->npolicies; i++) {
		struct model_policy *p = &ov->policies[i];
		const struct ynode *ref = w->policy_group_refs ? w->policy_group_refs[i] : NULL;
		const struct sorted_name key = { ref ? ref->value : "", 0 }, *found;
		size_t g;

		if (p->action != POLICY_GROUP)
			continue;
		/* Every group was read, so the names are unique: compare them alone. */
		found = w->ngroup_names ? bsearch(&key, w->group_names, w->ngroup_names, sizeof(key), cmp_name_only)
					: NULL;
		if (!found)
			return fail(w, ref, "group", "no group named '%s' is defined under groups:", ref->value);
		g = found->index;
		p->group = (uint32_t)g;
		if (family_of(w, ref, "group", p, ov->groups[g].family) < 0)
			return -EINVAL;
	}
	/* qsort's array must not be NULL even when empty, and a file without policies has none. */
	if (ov->npolicies)
		qsort(ov->policies, ov->npolicies, sizeof(*ov->policies), cmp_policy);
	return 0;
}

static int parse_limits(struct walk *w, const struct ynode *n)
{
	if (ynode_is_null(n))
		return 0;
	if (want(w, n, YNODE_MAP, "limits", "a mapping of map names to sizes") < 0 ||
	    check_keys(w, n, "limits", map_limit_names()) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n->nkids; i += 2) {
		struct config_limit *l = &w->c->limits[w->c->nlimits++];
		unsigned long long v;

		if (number(w, n->kids[i + 1], n->kids[i]->value, 2, 1u << 24, &v) < 0)
			return -EINVAL;
		l->map = (enum map_id)map_by_limit(n->kids[i]->value);
		l->size = (uint32_t)v;
	}
	return 0;
}

static int walk_root(struct walk *w, const struct ynode *root)
{
	static const char *const keys[] = {
		"interfaces", "mirror", "policies", "groups", "limits", "stale-after",
		"reconcile-interval", "log-level", "netfilter", "offload-mark", NULL,
	};
	const struct ynode *x;

	if (!root || ynode_is_null(root))
		return 0;	/* an empty file: the defaults */
	if (want(w, root, YNODE_MAP, NULL, "a mapping at the top (interfaces:, policies:, ...)") < 0 ||
	    check_keys(w, root, "the top level", keys) < 0)
		return -EINVAL;
	if ((x = lookup(root, "interfaces")) && parse_interfaces(w, x) < 0)
		return -EINVAL;
	if ((x = lookup(root, "mirror")) && parse_mirror(w, x) < 0)
		return -EINVAL;
	if ((x = lookup(root, "groups")) && parse_groups(w, x) < 0)
		return -EINVAL;
	if ((x = lookup(root, "policies")) && parse_policies(w, x) < 0)
		return -EINVAL;
	if (resolve_groups(w) < 0)
		return -EINVAL;
	if ((x = lookup(root, "limits")) && parse_limits(w, x) < 0)
		return -EINVAL;
	if ((x = lookup(root, "stale-after")) && seconds(w, x, "stale-after", &w->c->stale_after) < 0)
		return -EINVAL;
	if ((x = lookup(root, "reconcile-interval")) &&
	    seconds(w, x, "reconcile-interval", &w->c->reconcile) < 0)
		return -EINVAL;
	if ((x = lookup(root, "log-level"))) {
		w->c->log_level = x->kind == YNODE_SCALAR ? log_parse_level(x->value) : -1;
		if (w->c->log_level < 0)
			return fail(w, x, "log-level", "expected err, warning, notice, info or debug");
	}
	if ((x = lookup(root, "netfilter"))) {
		w->c->nf_mode = x->kind == YNODE_SCALAR ? config_parse_nf_mode(x->value) : -1;
		if (w->c->nf_mode < 0)
			return fail(w, x, "netfilter", "expected respect, bypass or offload");
	}
	if ((x = lookup(root, "offload-mark"))) {
		if (mark_value(w, x, "offload-mark", &w->c->ct_mark, &w->c->ct_mask) < 0)
			return -EINVAL;
		w->c->ct_mark_set = true;
	}
	return 0;
}

int config_parse_nf_mode(const char *s)
{
	for (int mode = STEER_NF_RESPECT; mode <= STEER_NF_OFFLOAD; mode++)
		if (!strcmp(s, steer_nf_mode_name((uint8_t)mode)))
			return mode;
	return -1;
}

void config_init(struct config *c)
{
	*c = (struct config){ .stale_after = -1, .reconcile = -1, .log_level = -1, .nf_mode = -1 };
}

void config_free(struct config *c)
{
	free(c->ov.policies);
	free(c->ov.groups);
	free(c->ov.tables);
	free(c->ov.prios);
	config_init(c);
}

int config_parse(const char *text, size_t len, const char *name, struct config *c,
		 struct config_error *err)
{
	struct walk w = { .file = name, .c = c, .err = err };
	struct ynode *root;
	char msg[300];
	unsigned line, col;
	int r;

	config_init(c);
	err->msg[0] = '\0';
	if (len > CONFIG_MAX_BYTES) {
		snprintf(err->msg, sizeof(err->msg), "%s: %zu bytes; a steer configuration is at most %u",
			 name, len, CONFIG_MAX_BYTES);
		return -EINVAL;
	}
	r = ytree_parse(text, len, CONFIG_MAX_DEPTH, CONFIG_MAX_NODES, &root, msg, sizeof(msg), &line, &col);
	if (r < 0) {
		snprintf(err->msg, sizeof(err->msg), "%s:%u:%u: %s", name, line, col, msg);
		return r;
	}
	r = walk_root(&w, root);
	free(w.policy_group_refs);
	free(w.group_names);
	ytree_free(root);
	if (r < 0)
		config_free(c);
	return r;
}

int config_load(const char *path, struct config *c, struct config_error *err)
{
	struct stat st;
	char *buf;
	ssize_t got;
	size_t len = 0;
	int fd, r;

	config_init(c);
	/* O_NONBLOCK: a FIFO without a writer would block the open; it is refused below anyway. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	/* /dev/null is the way to say "no file" where one would be read by default. */
	if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
		close(fd);
		return 0;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		snprintf(err->msg, sizeof(err->msg), S_ISREG(st.st_mode)
			 ? "%s: %lld bytes; a steer configuration is at most %u" : "%s: not a regular file",
			 path, (long long)st.st_size, CONFIG_MAX_BYTES);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", path);
		return -ENOMEM;
	}
	/* Read to the end (or the limit): the file may change size under us. */
	while ((got = read(fd, buf + len, (size_t)st.st_size + 1 - len)) > 0 && len < (size_t)st.st_size + 1)
		len += (size_t)got;
	close(fd);
	if (got < 0 || len > (size_t)st.st_size) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, got < 0 ? strerror(errno) : "changed while being read");
		free(buf);
		return -EIO;
	}
	r = config_parse(buf, len, path, c, err);
	free(buf);
	return r;
}
