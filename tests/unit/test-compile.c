/* Unit tests of the compiler: rule lists for nested and overlapping `from` prefixes with
 * out-of-order priorities, punt placement, truncation, and route selection. Pure: no
 * kernel, no BPF. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "compile.h"
#include "model.h"
#include "test.h"

static struct model_rule_key rule(uint32_t prio, const char *from, uint32_t table)
{
	struct model_rule_key k = { .priority = prio, .action = RULE_LOOKUP, .table = table,
				    .suppress_prefixlen = -1, .suppress_ifgroup = -1 };

	if (from)
		prefix_parse(from, &k.src);
	k.family = from && strchr(from, ':') ? AF_INET6 : AF_INET;
	return k;
}

/* Whether a trie key (prefixlen counting bits bits ahead of the address) names pfx. */
static bool key_is(uint32_t prefixlen, uint8_t family, const uint8_t *addr, uint32_t bits,
		   const char *pfx)
{
	struct prefix p;

	prefix_parse(pfx, &p);
	return family == p.family && prefixlen == bits + p.len && !memcmp(addr, p.addr, 16);
}

static const struct image_src *find_list(const struct image *img, const char *pfx)
{
	for (size_t i = 0; i < img->nsrcs; i++) {
		const struct steer_src_key *k = &img->srcs[i].key;

		if (key_is(k->prefixlen, k->family, k->addr, STEER_SRC_KEY_BITS(0), pfx))
			return &img->srcs[i];
	}
	return NULL;
}

/* A fresh model holding the rules given, in that order. */
static void model_of(struct model *m, const struct model_rule_key *const *ks, size_t n)
{
	model_init(m);
	for (size_t i = 0; i < n; i++)
		model_rule_add(m, ks[i]);
}

#define MODEL_OF(m, ...)                                                                      \
	model_of(m, (const struct model_rule_key *const[]){ __VA_ARGS__ },                       \
		 sizeof((const struct model_rule_key *const[]){ __VA_ARGS__ }) / sizeof(void *))

/* "50:4 100:2" style rendering of a list, for readable comparisons. */
static const struct image *render_img;

static const char *render(const struct image_src *s, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; s && i < s->val.count && off < len; i++) {
		const struct steer_rule *r = &render_img->rules[s->val.ids[i]];

		if (r->action == STEER_RULE_PUNT)
			off += snprintf(buf + off, len - off, "%s%u:punt", i ? " " : "", r->priority);
		else
			off += snprintf(buf + off, len - off, "%s%u:%u", i ? " " : "", r->priority, r->table);
	}
	return buf;
}

static void test_nested_prefixes(void)
{
	struct model m;
	struct image img;
	char buf[512];

	model_init(&m);
	/* Insertion order matters among equal priorities; priorities come out of order. */
	struct model_rule_key ks[] = {
		rule(300, "10.0.0.0/8", 1),
		rule(100, "10.1.0.0/16", 2),
		rule(200, "10.1.2.0/24", 3),
		rule(200, "10.1.0.0/16", 6),
		rule(50, "10.1.2.0/24", 4),
		rule(400, NULL, 5),
		rule(150, "10.1.2.128/25", 7),
		rule(100, "2001:db8::/32", 8),
	};
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
		model_rule_add(&m, &ks[i]);
	CHECK(compile_image(&m, NULL, &img) == 0, "compile a nested rule set");
	render_img = &img;

	CHECK(!strcmp(render(find_list(&img, "0.0.0.0/0"), buf, sizeof(buf)), "400:5"),
	      "0/0 holds only the rule without from (%s)", buf);
	CHECK(!strcmp(render(find_list(&img, "10.0.0.0/8"), buf, sizeof(buf)), "300:1 400:5"),
	      "/8 holds its rule and the catch-all (%s)", buf);
	CHECK(!strcmp(render(find_list(&img, "10.1.0.0/16"), buf, sizeof(buf)), "100:2 200:6 300:1 400:5"),
	      "/16 merges the /8 rule after its own lower priorities (%s)", buf);
	CHECK(!strcmp(render(find_list(&img, "10.1.2.0/24"), buf, sizeof(buf)),
		      "50:4 100:2 200:3 200:6 300:1 400:5"),
	      "/24: covering rules by priority, equal priorities in insertion order (%s)", buf);
	CHECK(!strcmp(render(find_list(&img, "10.1.2.128/25"), buf, sizeof(buf)),
		      "50:4 100:2 150:7 200:3 200:6 300:1 400:5"),
	      "/25 inherits every covering prefix's rules (%s)", buf);
	CHECK(!strcmp(render(find_list(&img, "::/0"), buf, sizeof(buf)), ""),
	      "IPv6 /0 exists and is empty: the catch-all is IPv4 (%s)", buf);
	CHECK(!strcmp(render(find_list(&img, "2001:db8::/32"), buf, sizeof(buf)), "100:8"),
	      "IPv6 prefix list (%s)", buf);
	CHECK(img.nsrcs == 7, "one list per distinct prefix plus both /0 (%zu)", img.nsrcs);
	for (size_t i = 1; i < img.nsrcs; i++)
		if (memcmp(&img.srcs[i - 1].key, &img.srcs[i].key, sizeof(img.srcs[i].key)) >= 0)
			CHECK(0, "source lists sorted by key");

	/* The rule covering a prefix with a higher priority number must come after. */
	model_rule_del(&m, &ks[4]);
	image_free(&img);
	compile_image(&m, NULL, &img);
	render_img = &img;
	CHECK(!strcmp(render(find_list(&img, "10.1.2.0/24"), buf, sizeof(buf)),
		      "100:2 200:3 200:6 300:1 400:5"),
	      "deleting a rule removes it from every list (%s)", buf);
	image_free(&img);
	model_free(&m);
}

static void test_punt_rules(void)
{
	struct model m;
	struct image img;
	char buf[512];
	struct model_rule_key uid = rule(90, NULL, 7), inv = rule(95, "10.9.0.0/16", 8),
			      oif = rule(120, "10.1.0.0/16", 9), plain = rule(200, "10.1.0.0/16", 10),
			      mark = rule(80, NULL, 11), invuid = rule(85, "10.1.0.0/16", 12);
	const struct steer_rule *b;

	uid.has_uid_range = 1;
	uid.uid_end = 100;
	uid.ip_proto = 17;
	inv.invert = 1;
	strcpy(oif.oifname, "eth9");
	oif.ip_proto = 17;
	mark.fwmark = 7;
	mark.fwmask = 0xff;
	invuid.invert = 1;
	invuid.has_uid_range = 1;
	MODEL_OF(&m, &plain, &uid, &inv, &oif, &mark, &invuid);
	compile_image(&m, NULL, &img);
	render_img = &img;
	CHECK(!strcmp(render(find_list(&img, "10.1.0.0/16"), buf, sizeof(buf)),
		      "80:11 85:punt 90:punt 95:8 120:9 200:10"),
	      "selectors TC cannot see punt at their own position, the rest are evaluated (%s)", buf);
	CHECK(!strcmp(render(find_list(&img, "0.0.0.0/0"), buf, sizeof(buf)), "80:11 85:punt 90:punt 95:8"),
	      "an inverted from covers everything outside it, so it sits in /0 (%s)", buf);
	CHECK(compile_rule_punt_reason(&uid) && !strcmp(compile_rule_punt_reason(&uid), "uidrange"),
	      "uidrange is named as the punt reason");
	CHECK(compile_rule_punt_reason(&plain) == NULL && compile_rule_punt_reason(&mark) == NULL,
	      "from, fwmark and lookup are evaluated");

	b = &img.rules[0];	/* model order is priority order: mark (80) first */
	CHECK(b->priority == 80 && (b->match & STEER_MATCH_MARK) && b->mark == 7 && b->mark_mask == 0xff,
	      "fwmark/mask compiles to a mark match");
	b = &img.rules[3];
	CHECK(b->priority == 95 && (b->match & STEER_MATCH_INVERT) && (b->match & STEER_MATCH_SRC) &&
		      b->action == STEER_RULE_LOOKUP,
	      "`not from` compiles to an inverted source match");
	b = &img.rules[2];
	CHECK(b->priority == 90 && b->action == STEER_RULE_PUNT && (b->match & STEER_MATCH_PROTO),
	      "a punt rule keeps its evaluable selectors, so it punts only where they match");
	b = &img.rules[4];
	CHECK(b->priority == 120 && b->action == STEER_RULE_LOOKUP && (b->match & STEER_MATCH_IIF) &&
		      b->iif == STEER_IIF_MISSING && !compile_rule_punt_reason(&oif),
	      "an oif rule never matches a forwarded packet (no output device yet): an iif no device has");
	b = &img.rules[1];
	CHECK(b->priority == 85 && b->action == STEER_RULE_PUNT && !b->match,
	      "an inverted rule with an unseen selector punts wherever it is reached");
	image_free(&img);
	model_free(&m);
}

/* `from 10.1.0.3/24` and `from 10.1.0.4/24` at one priority are two kernel rules: both
 * stay, both match as 10.1.0.0/24, and deleting one leaves the other. */
static void test_rule_host_bits(void)
{
	struct model_rule_key a = rule(100, "10.1.0.0/24", 400), b;
	const struct image_src *s;
	struct model m;
	struct image img;
	char buf[512];

	a.src.addr[3] = 3;
	b = a;
	b.src.addr[3] = 4;
	MODEL_OF(&m, &a, &b);
	CHECK(m.nrules == 2, "rules differing only in host bits of from are two rules (%zu)", m.nrules);
	compile_image(&m, NULL, &img);
	render_img = &img;
	s = find_list(&img, "10.1.0.0/24");
	CHECK(!strcmp(render(s, buf, sizeof(buf)), "100:400 100:400"),
	      "both are listed under 10.1.0.0/24 (%s)", buf);
	CHECK(img.nsrcs == 3, "and under no prefix with host bits (%zu lists)", img.nsrcs);
	CHECK(img.nrules > 1 && img.rules[0].src[0] == htonl(0x0a010000) &&
		      img.rules[0].src_mask[0] == htonl(0xffffff00),
	      "the body holds the masked prefix");
	image_free(&img);
	model_rule_del(&m, &a);
	compile_image(&m, NULL, &img);
	render_img = &img;
	CHECK(!strcmp(render(find_list(&img, "10.1.0.0/24"), buf, sizeof(buf)), "100:400"),
	      "deleting one keeps the other in force (%s)", buf);
	image_free(&img);
	model_free(&m);
}

static void test_actions(void)
{
	struct model m;
	struct image img;
	struct model_rule_key go = rule(100, NULL, 0), dangling = rule(110, NULL, 0), bh = rule(300, NULL, 0),
			      target = rule(200, NULL, 5), tos = rule(150, NULL, 6), tos6 = rule(150, "2001:db8::/32", 6),
			      sup = rule(250, NULL, 254);

	go.action = RULE_GOTO;
	go.goto_target = 200;
	dangling.action = RULE_GOTO;
	dangling.goto_target = 222;
	bh.action = RULE_BLACKHOLE;
	tos.tos = 0x10;
	tos6.tos = 0xb8;
	sup.suppress_prefixlen = 0;
	MODEL_OF(&m, &go, &dangling, &target, &tos, &tos6, &sup, &bh);
	compile_image(&m, NULL, &img);
	CHECK(img.rules[0].action == STEER_RULE_GOTO && img.rules[0].goto_priority == 200,
	      "goto to a priority that has a rule jumps");
	CHECK(img.rules[1].action == STEER_RULE_NOP, "goto to a priority nobody has acts like nop");
	CHECK(img.rules[2].tos == 0x10 && img.rules[2].tos_mask == 0x1c, "IPv4 tos compares TOS & 0x1c");
	CHECK(img.rules[3].tos == 0xb8 && img.rules[3].tos_mask == 0xfc, "IPv6 dsfield compares DSCP bits");
	CHECK((img.rules[5].match & STEER_MATCH_SUPPRESS) && img.rules[5].suppress_prefixlen == 0,
	      "suppress_prefixlength 0 is kept");
	CHECK(img.rules[6].action == STEER_RULE_BLACKHOLE, "blackhole rule");
	image_free(&img);
	model_free(&m);
}

/* The piece of split list `split` for destination pfx. */
static const struct image_dst *find_piece(const struct image *img, uint32_t split, const char *pfx)
{
	for (size_t i = 0; i < img->ndsts; i++) {
		const struct steer_dst_key *k = &img->dsts[i].key;

		if (k->split == split && key_is(k->prefixlen, k->family, k->addr, STEER_DST_KEY_BITS(0), pfx))
			return &img->dsts[i];
	}
	return NULL;
}

/* 100 rules `from all to 172.16.I.0/24 lookup 100+I`, one `from 10.0.0.0/8` ahead of
 * them and `lookup main` after: both source lists are split by destination, a piece per
 * `to` prefix holding the rules that cover it, in order, and nothing is cut. */
static void test_dst_split(void)
{
	struct model_rule_key k = rule(5, "10.0.0.0/8", 50), main_rule = rule(32766, NULL, 254);
	const struct image_src *all, *ten;
	const struct image_dst *d;
	struct model m;
	struct image img;

	model_init(&m);
	model_rule_add(&m, &k);
	model_rule_add(&m, &main_rule);
	for (uint32_t i = 0; i < 100; i++) {
		char to[32];

		k = rule(1000 + i, NULL, 100 + i);
		snprintf(to, sizeof(to), "172.16.%u.0/24", i);
		prefix_parse(to, &k.dst);
		model_rule_add(&m, &k);
	}
	compile_image(&m, NULL, &img);
	all = find_list(&img, "0.0.0.0/0");
	ten = find_list(&img, "10.0.0.0/8");
	CHECK(all && ten && all->val.dst_split && ten->val.dst_split && !all->val.count &&
	      all->val.dst_split != ten->val.dst_split, "both long lists split, each under its own id");
	CHECK(img.ndsts == 2 * 101 && !img.truncated_lists, "101 pieces each, none cut (%zu, %zu)",
	      img.ndsts, img.truncated_lists);
	d = all ? find_piece(&img, all->val.dst_split, "172.16.42.0/24") : NULL;
	CHECK(d && d->val.count == 2 && img.rules[d->val.ids[0]].table == 142 &&
	      img.rules[d->val.ids[1]].table == 254, "a piece: its `to` rule, then main");
	d = ten ? find_piece(&img, ten->val.dst_split, "172.16.42.0/24") : NULL;
	CHECK(d && d->val.count == 3 && img.rules[d->val.ids[0]].table == 50 &&
	      img.rules[d->val.ids[1]].table == 142, "under 10/8: the from-rule first");
	d = all ? find_piece(&img, all->val.dst_split, "0.0.0.0/0") : NULL;
	CHECK(d && d->val.count == 1 && img.rules[d->val.ids[0]].table == 254,
	      "everywhere else: only what has no `to`");
	image_free(&img);
	model_free(&m);
}

/* Split ids follow what the pieces hold: a compile of the same rules gives the same ids
 * and pieces; a change in one list's rules moves that list's split to a new id and leaves
 * the other's alone. 80 mark rules split both the catch-all list and 10/8's by mark. */
static void test_split_ids(void)
{
	struct model_rule_key ten = rule(5, "10.0.0.0/8", 50), k;
	uint32_t all1, ten1, all2, ten2;
	struct image a, b;
	struct model m;

	model_init(&m);
	model_rule_add(&m, &ten);
	for (uint32_t i = 0; i < 80; i++) {
		k = rule(100 + i, NULL, 900 + i);
		k.fwmark = 0x20 + i;
		k.fwmask = 0xff;
		model_rule_add(&m, &k);
	}
	compile_image(&m, NULL, &a);
	compile_image(&m, NULL, &b);
	all1 = find_list(&a, "0.0.0.0/0") ? find_list(&a, "0.0.0.0/0")->val.sel_split : 0;
	ten1 = find_list(&a, "10.0.0.0/8") ? find_list(&a, "10.0.0.0/8")->val.sel_split : 0;
	CHECK(all1 && ten1 && all1 != ten1 && a.nsels == b.nsels &&
	      !memcmp(a.sels, b.sels, a.nsels * sizeof(*a.sels)),
	      "the same rules: the same split ids and pieces (%#x, %#x)", all1, ten1);
	image_free(&b);
	model_rule_del(&m, &ten);
	ten.table = 51;
	model_rule_add(&m, &ten);
	compile_image(&m, NULL, &b);
	all2 = find_list(&b, "0.0.0.0/0") ? find_list(&b, "0.0.0.0/0")->val.sel_split : 0;
	ten2 = find_list(&b, "10.0.0.0/8") ? find_list(&b, "10.0.0.0/8")->val.sel_split : 0;
	CHECK(all2 == all1 && ten2 && ten2 != ten1,
	      "10/8's rule changed: its split has a new id, the catch-all's keeps its own (%#x, %#x)",
	      all2, ten2);
	image_free(&a);
	image_free(&b);
	model_free(&m);
}

/* Where the kernel looks forwarded packets up as uid 0 (fwd_uid0), a uid range is
 * evaluated: with 0 in it the rule matches as if it had none, without it never (and, not
 * inverted, always). */
static void test_uid_ranges(void)
{
	struct model_rule_key with0 = rule(10, NULL, 7), without0 = rule(20, NULL, 8),
			      inv = rule(30, NULL, 9);
	struct model m;
	struct image img;

	with0.has_uid_range = without0.has_uid_range = inv.has_uid_range = 1;
	with0.uid_end = 100;
	without0.uid_start = inv.uid_start = 1000;
	without0.uid_end = inv.uid_end = 2000;
	inv.invert = 1;
	MODEL_OF(&m, &with0, &without0, &inv);
	m.fwd_uid0 = 1;
	compile_image(&m, NULL, &img);
	CHECK(img.rules[0].action == STEER_RULE_LOOKUP && !(img.rules[0].match & STEER_MATCH_IIF),
	      "uidrange 0-100: evaluated, it matches every forwarded packet");
	CHECK(img.rules[1].action == STEER_RULE_LOOKUP && (img.rules[1].match & STEER_MATCH_IIF) &&
		      img.rules[1].iif == STEER_IIF_MISSING,
	      "uidrange 1000-2000: evaluated, it never matches");
	CHECK(img.rules[2].action == STEER_RULE_LOOKUP && (img.rules[2].match & STEER_MATCH_INVERT) &&
		      img.rules[2].iif == STEER_IIF_MISSING,
	      "not uidrange 1000-2000: it always matches");
	image_free(&img);
	m.fwd_uid0 = 0;
	compile_image(&m, NULL, &img);
	CHECK(img.rules[0].action == STEER_RULE_PUNT && img.rules[1].action == STEER_RULE_PUNT &&
		      !(img.rules[1].match & STEER_MATCH_IIF),
	      "where the uid is not known, uid ranges punt");
	image_free(&img);
	model_free(&m);
}

static void test_truncation(void)
{
	struct model m;
	struct image img;
	const struct image_src *s;

	model_init(&m);
	for (uint32_t i = 0; i < STEER_MAX_RULES + 8; i++) {
		struct model_rule_key k = rule(1000 + i, "10.0.0.0/8", 100 + i);

		model_rule_add(&m, &k);
	}
	compile_image(&m, NULL, &img);
	s = find_list(&img, "10.0.0.0/8");
	CHECK(s && s->val.count == STEER_MAX_RULES, "a long list is cut at the limit");
	CHECK(s && img.rules[s->val.ids[STEER_MAX_RULES - 2]].action == STEER_RULE_LOOKUP &&
		      img.rules[s->val.ids[STEER_MAX_RULES - 2]].table == 100 + STEER_MAX_RULES - 2,
	      "rules before the cut are kept in order");
	CHECK(s && img.rules[s->val.ids[STEER_MAX_RULES - 1]].action == STEER_RULE_CUT,
	      "the last slot punts instead of dropping the rest");
	CHECK(img.truncated_lists == 1, "the cut is counted");
	image_free(&img);
	model_free(&m);
}

static struct model_route route(const char *dst, uint32_t table, uint32_t metric, int oif,
				const char *gw, struct model_nexthop *nh)
{
	struct model_route r = { .key = { .table = table, .metric = metric }, .type = ROUTE_UNICAST,
				 .nnh = 1, .nh = nh };

	prefix_parse(dst, &r.key.dst);
	*nh = (struct model_nexthop){ .oif = oif };
	if (gw) {
		nh->gw_family = r.key.dst.family;
		inet_pton(nh->gw_family, gw, nh->gw);
	}
	return r;
}

static const struct image_route *find_route(const struct image *img, uint32_t table, const char *dst)
{
	for (size_t i = 0; i < img->nroutes; i++) {
		const struct steer_route_key *k = &img->routes[i].key;

		if (k->table == table && key_is(k->prefixlen, k->family, k->addr, STEER_ROUTE_KEY_BITS(0), dst))
			return &img->routes[i];
	}
	return NULL;
}

/* Many routes over fewer next hops (more than the compiler's first table of them holds):
 * one entry per next hop, sorted and unique, and every route pointing at its own. */
static void test_shared_nexthops(void)
{
	enum { ROUTES = 300, GATEWAYS = 70 };
	struct model_nexthop nh;
	struct model m;
	struct image img;
	size_t wrong = 0, unsorted = 0;

	model_init(&m);
	for (int i = 0; i < ROUTES; i++) {
		char dst[32], gw[32];
		struct model_route r;

		snprintf(dst, sizeof(dst), "172.%d.%d.0/24", 16 + i / 256, i % 256);
		snprintf(gw, sizeof(gw), "10.0.%d.2", i % GATEWAYS);
		r = route(dst, 254, 0, 3, gw, &nh);
		model_route_add(&m, &r, ROUTE_OP_NEW);
	}
	compile_image(&m, NULL, &img);
	for (int i = 0; i < ROUTES; i++) {
		char dst[32];
		const struct image_route *r;
		uint8_t want[4] = { 10, 0, (uint8_t)(i % GATEWAYS), 2 };

		snprintf(dst, sizeof(dst), "172.%d.%d.0/24", 16 + i / 256, i % 256);
		r = find_route(&img, 254, dst);
		if (!r || r->val.type != STEER_RT_FORWARD || r->val.nh_id >= img.nnhs ||
		    memcmp(img.nhs[r->val.nh_id].gw, want, 4))
			wrong++;
	}
	for (size_t i = 1; i < img.nnhs; i++)
		if (memcmp(&img.nhs[i - 1], &img.nhs[i], sizeof(img.nhs[i])) >= 0)
			unsorted++;
	CHECK(img.nnhs == GATEWAYS, "%d routes over %d gateways: one entry each (%zu)", ROUTES,
	      GATEWAYS, img.nnhs);
	CHECK(!wrong && !unsorted, "each route points at its own gateway's entry (%zu wrong), "
	      "the entries sorted and unique (%zu out of order)", wrong, unsorted);
	image_free(&img);
	model_free(&m);
}

static void test_routes(void)
{
	struct model_nexthop nh[8], mp[2] = { { .oif = 3 }, { .oif = 4 } };
	struct model m;
	struct image img;
	const struct image_route *r;
	struct model_route rs[8];

	model_init(&m);
	rs[0] = route("0.0.0.0/0", 254, 200, 3, "10.0.1.2", &nh[0]);
	rs[1] = route("0.0.0.0/0", 254, 100, 4, "10.0.2.2", &nh[1]);	/* lower metric wins */
	rs[2] = route("10.5.0.0/16", 100, 0, 4, NULL, &nh[2]);		/* on-link */
	rs[3] = route("10.6.0.0/16", 100, 0, 4, "10.0.2.2", &nh[3]);	/* same next hop as [1] */
	rs[4] = route("10.7.0.0/16", 100, 0, 4, NULL, &nh[4]);
	rs[4].type = ROUTE_BLACKHOLE;
	rs[5] = route("10.8.0.0/16", 100, 0, 4, NULL, &nh[5]);
	rs[5].key.tos = 0x10;
	rs[6] = route("2001:db8:9::/64", 100, 1024, 0, NULL, &nh[6]);
	rs[6].nh = mp;
	rs[6].nnh = 2;
	rs[6].quirks = ROUTE_MULTIPATH;
	rs[7] = route("2001:db8::/32", 100, 1024, 4, "2001:db8:b::2", &nh[7]);
	for (int i = 0; i < 8; i++)
		model_route_add(&m, &rs[i], ROUTE_OP_NEW);
	compile_image(&m, NULL, &img);

	r = find_route(&img, 254, "0.0.0.0/0");
	CHECK(r && r->val.type == STEER_RT_FORWARD && img.nhs[r->val.nh_id].ifindex == 4,
	      "lowest metric wins among equal prefixes");
	r = find_route(&img, 100, "10.5.0.0/16");
	CHECK(r && r->val.type == STEER_RT_FORWARD && img.nhs[r->val.nh_id].family == 0,
	      "on-link route has no gateway");
	CHECK(find_route(&img, 100, "10.7.0.0/16")->val.type == STEER_RT_BLACKHOLE, "blackhole route");
	CHECK(find_route(&img, 100, "10.8.0.0/16")->val.type == STEER_RT_PUNT, "a tos route punts its prefix");
	CHECK(find_route(&img, 100, "2001:db8:9::/64")->val.type == STEER_RT_PUNT,
	      "IPv6 next hops without gateways: not a multipath route steer spreads over, punt");
	r = find_route(&img, 100, "2001:db8::/32");
	CHECK(r && r->val.type == STEER_RT_FORWARD && img.nhs[r->val.nh_id].family == AF_INET6,
	      "IPv6 route via an IPv6 gateway");
	CHECK(img.nnhs == 3, "routes with the same next hop share one entry (%zu)", img.nnhs);
	CHECK(img.nroutes == 7, "one entry per (table, prefix) (%zu)", img.nroutes);
	image_free(&img);

	/* IPv6 siblings: `ip -6 route append` of a second gateway is announced as the whole
	 * group (RTA_MULTIPATH, the new member first); the kernel's order is the old first. */
	{
		struct model_nexthop a, b, both[2];
		struct model_route s1 = route("2001:db8:5::/48", 254, 1024, 3, "fe80::1", &a);
		struct model_route s2 = route("2001:db8:5::/48", 254, 1024, 4, "fe80::2", &b);
		struct model_route grp = s2;

		both[0] = b;
		both[1] = a;
		grp.nh = both;
		grp.nnh = 2;
		grp.quirks = ROUTE_MULTIPATH;
		model_route_add(&m, &s1, ROUTE_OP_NEW);
		model_route_add(&m, &grp, ROUTE_OP_APPEND);
		compile_image(&m, NULL, &img);
		{
			const struct image_route *ir = find_route(&img, 254, "2001:db8:5::/48");
			const struct steer_group *g = ir && ir->val.type == STEER_RT_MULTIPATH ?
							      &img.groups[ir->val.nh_id] : NULL;

			CHECK(g && g->count == 2, "an appended IPv6 sibling makes the route multipath");
			CHECK(g && img.nhs[g->nh_ids[0]].ifindex == 3 && img.nhs[g->nh_ids[1]].ifindex == 4,
			      "in the kernel's order: the first route, then the new sibling");
			CHECK(g && g->upper[0] == (1u << 30) - 1 && g->upper[1] == 0x7fffffff,
			      "equal weights split the 31-bit hash space in halves");
		}
		image_free(&img);
		model_route_del(&m, &s2);
		compile_image(&m, NULL, &img);
		CHECK(find_route(&img, 254, "2001:db8:5::/48")->val.type == STEER_RT_FORWARD,
		      "deleting one sibling leaves the other as a plain route");
		image_free(&img);
		model_route_del(&m, &s1);
		compile_image(&m, NULL, &img);
		CHECK(find_route(&img, 254, "2001:db8:5::/48") == NULL, "deleting both siblings removes it");
		image_free(&img);
	}
	model_free(&m);
}

/* The kernel's default rules plus the two: `to 203.0.113.0/24 lookup 100` at 100
 * and `lookup 300` at 200. */
static void add_source_check_rules(struct model *m)
{
	struct model_rule_key ks[] = {
		rule(0, NULL, 255), rule(100, NULL, 100), rule(200, NULL, 300), rule(32766, NULL, 254),
		rule(32767, NULL, 253),
	};

	prefix_parse("203.0.113.0/24", &ks[1].dst);
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
		model_rule_add(m, &ks[i]);
}

/* STEER_STATE_LOCAL_SRC_CHECK4 answers the source check from the local table alone. The
 * kernel walks every rule, so a table steer.yaml leaves unmirrored may hold what refuses a
 * source (here `local 198.51.100.0/24` in table 300): then the shortcut must be off. */
static void test_source_check_shortcut(void)
{
	uint32_t tables[] = { 254, 100 };
	struct model_overrides ov = { .tables = tables, .ntables = 2 };
	struct model_nexthop nh[3];
	struct model_route r100 = route("203.0.113.0/24", 100, 0, 4, "10.0.2.2", &nh[0]);
	struct model_route r300 = route("198.51.100.0/24", 300, 0, 1, NULL, &nh[1]);
	struct model_route uni300 = route("192.0.2.0/24", 300, 0, 4, "10.0.2.2", &nh[2]);
	struct model_rule_key l3 = rule(150, NULL, 0);
	struct model m;
	struct image img;

	r300.type = ROUTE_LOCAL;
	model_init(&m);
	add_source_check_rules(&m);
	model_route_add(&m, &r100, ROUTE_OP_NEW);
	model_route_add(&m, &uni300, ROUTE_OP_NEW);
	compile_image(&m, NULL, &img);
	CHECK(img.state_flags & STEER_STATE_LOCAL_SRC_CHECK4,
	      "everything mirrored, no local route outside the local table: shortcut on");
	image_free(&img);

	compile_image(&m, &ov, &img);
	CHECK(img.state_flags & STEER_STATE_LOCAL_SRC_CHECK4,
	      "table 300 unmirrored but holding only a unicast route: shortcut on");
	image_free(&img);

	model_route_add(&m, &r300, ROUTE_OP_NEW);
	compile_image(&m, &ov, &img);
	CHECK(!(img.state_flags & STEER_STATE_LOCAL_SRC_CHECK4),
	      "a local route in unmirrored table 300, which a rule reaches: shortcut off");
	image_free(&img);

	compile_image(&m, NULL, &img);
	CHECK(!(img.state_flags & STEER_STATE_LOCAL_SRC_CHECK4),
	      "the same route in a mirrored table 300: shortcut off");
	image_free(&img);

	model_route_del(&m, &r300);
	l3.has_l3mdev = 1;
	l3.l3mdev = 1;
	model_rule_add(&m, &l3);
	compile_image(&m, NULL, &img);
	CHECK(!(img.state_flags & STEER_STATE_LOCAL_SRC_CHECK4),
	      "an l3mdev rule (its table chosen per packet): shortcut off");
	image_free(&img);
	model_free(&m);
}

/* With only the three default rules the kernel may look local and main up as one trie
 * (a fresh namespace) or one after the other (once any rule came and went): a local route
 * that the merged trie would pass over punts; anything both worlds agree on does not. */
static void test_merged_local_main(void)
{
	struct model_rule_key defaults[] = { rule(0, NULL, 255), rule(32766, NULL, 254), rule(32767, NULL, 253) };
	struct model_rule_key custom = rule(100, "10.1.0.0/24", 100);
	struct model_nexthop nh[8];
	struct model_route rs[] = {
		route("10.5.0.0/16", 255, 0, 4, NULL, &nh[0]),		/* blackhole over main's /24 */
		route("10.5.1.0/24", 254, 0, 4, "10.0.2.2", &nh[1]),
		route("10.6.0.0/16", 255, 0, 4, NULL, &nh[2]),		/* blackhole, main only wider */
		route("10.0.0.0/8", 254, 0, 4, "10.0.2.3", &nh[3]),
		route("10.7.0.0/16", 255, 0, 4, NULL, &nh[4]),		/* throw */
		route("10.9.0.0/16", 255, 0, 4, "10.0.2.6", &nh[5]),	/* unicast, main equal */
		route("10.9.0.0/16", 254, 0, 4, "10.0.2.7", &nh[6]),
		route("10.10.0.0/16", 255, 0, 4, "10.0.2.8", &nh[7]),	/* unicast over main /32 */
	};
	struct model_nexthop hnh;
	struct model_route host = route("10.10.3.4/32", 254, 100, 4, "10.0.2.9", &hnh);
	/* With the default rules only: what each prefix compiles to. */
	static const struct { uint32_t table; const char *prefix; uint8_t type; const char *what; } merged[] = {
		{ 255, "10.5.0.0/16", STEER_RT_PUNT,
		  "default rules: a local blackhole over a more specific main route punts" },
		{ 255, "10.6.0.0/16", STEER_RT_BLACKHOLE,
		  "default rules: a local blackhole with only wider main routes drops, as in both worlds" },
		{ 255, "10.7.0.0/16", STEER_RT_PUNT, "default rules: a local throw punts (merged, it skips main)" },
		{ 255, "10.9.0.0/16", STEER_RT_FORWARD,
		  "default rules: local and main at one prefix: local first in both worlds" },
		{ 255, "10.10.0.0/16", STEER_RT_PUNT,
		  "default rules: a more specific main route of any metric makes the local route punt" },
		{ 254, "10.5.1.0/24", STEER_RT_FORWARD, "main's own routes are untouched" },
	};
	struct model m;
	struct image img;

	rs[0].type = rs[2].type = ROUTE_BLACKHOLE;
	rs[4].type = ROUTE_THROW;
	for (size_t i = 0; i < 3; i++) {	/* as the intake spells an empty from/to, and the kernel's */
		defaults[i].src.family = defaults[i].dst.family = AF_INET;
		defaults[i].protocol = 2;
	}
	model_init(&m);
	for (size_t i = 0; i < 3; i++)
		model_rule_add(&m, &defaults[i]);
	for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
		model_route_add(&m, &rs[i], ROUTE_OP_NEW);
	model_route_add(&m, &host, ROUTE_OP_NEW);
	compile_image(&m, NULL, &img);
	for (size_t i = 0; i < sizeof(merged) / sizeof(merged[0]); i++)
		CHECK(find_route(&img, merged[i].table, merged[i].prefix)->val.type == merged[i].type,
		      "%s", merged[i].what);
	image_free(&img);

	model_rule_add(&m, &custom);
	compile_image(&m, NULL, &img);
	CHECK(find_route(&img, 255, "10.5.0.0/16")->val.type == STEER_RT_BLACKHOLE &&
		      find_route(&img, 255, "10.7.0.0/16")->val.type == STEER_RT_THROW &&
		      find_route(&img, 255, "10.10.0.0/16")->val.type == STEER_RT_FORWARD,
	      "with a custom rule the tables are parted for good: local first, exactly");
	image_free(&img);
	model_rule_del(&m, &custom);
	model_rule_del(&m, &defaults[2]);
	compile_image(&m, NULL, &img);
	CHECK(find_route(&img, 255, "10.5.0.0/16")->val.type == STEER_RT_BLACKHOLE,
	      "a default rule deleted: parted for good");
	image_free(&img);
	model_free(&m);
}

static void test_prefix(void)
{
	struct prefix a, b;
	char buf[64];

	CHECK(prefix_parse("10.1.2.3/16", &a) == 0 && !strcmp(prefix_str(&a, buf, sizeof(buf)), "10.1.0.0/16"),
	      "host bits are masked (%s)", buf);
	CHECK(prefix_parse("10.1.0.0/33", &a) < 0, "prefix length over 32 is refused");
	CHECK(prefix_parse("2001:db8::/129", &a) < 0, "prefix length over 128 is refused");
	CHECK(prefix_parse("banana", &a) < 0, "garbage is refused");
	prefix_parse("10.0.0.0/8", &a);
	prefix_parse("10.200.0.0/16", &b);
	CHECK(prefix_contains(&a, &b) && !prefix_contains(&b, &a), "containment is one-way");
	prefix_parse("2001:db8::/32", &b);
	CHECK(!prefix_contains(&a, &b), "families never contain each other");
}

/* The sel piece of split id under key (other, value), or NULL. */
static const struct image_sel *sel_piece_of(const struct image *img, uint32_t id, bool other,
					  uint32_t value)
{
	for (size_t i = 0; id && i < img->nsels; i++)
		if (img->sels[i].key.split == id && !!img->sels[i].key.other == other &&
		    img->sels[i].key.value == value)
			return &img->sels[i];
	return NULL;
}

/* 40 `from 10.0.0.0/8` rules among 40 `from all` ones: one list per source would cut
 * 10.0.0.0/8's (80 rules, nothing to split them by). The `from all` rules go to the rest,
 * a side list every source list names, and nothing is cut. Two rules sharing a priority
 * across the lists carry their order among the rules of that priority. */
static void test_side_lists(void)
{
	struct model m;
	struct image img;
	const struct image_src *s, *all;
	const struct image_sel *rest;
	const struct steer_rule *twin = NULL;
	bool order = true;

	model_init(&m);
	for (uint32_t i = 0; i < 40; i++) {
		struct model_rule_key a = rule(1000 + 2 * i, "10.0.0.0/8", 100 + i);
		struct model_rule_key b = rule(1001 + 2 * i, NULL, 200 + i);

		model_rule_add(&m, &a);
		model_rule_add(&m, &b);
	}
	{
		struct model_rule_key a = rule(2000, "10.1.0.0/16", 300), b = rule(2000, NULL, 301);

		model_rule_add(&m, &a);
		model_rule_add(&m, &b);
	}
	CHECK(compile_image(&m, NULL, &img) == 0, "compile 82 rules, half of them `from all`");
	s = find_list(&img, "10.0.0.0/8");
	all = find_list(&img, "0.0.0.0/0");
	CHECK(img.side_lists && !img.truncated_lists, "side lists, none cut (%zu cut)", img.truncated_lists);
	CHECK(s && s->val.count == 40 && all && !all->val.count && s->val.side_rest &&
		      s->val.side_rest == all->val.side_rest && !s->val.side_dst && !s->val.side_sel,
	      "the source's list holds its 40, every list of the family names the one rest");
	rest = s ? sel_piece_of(&img, s->val.side_rest, true, 0) : NULL;
	CHECK(rest && rest->val.count == 41, "the rest holds the 40 and the `from all` one of priority 2000 (%u)",
	      rest ? rest->val.count : 0);
	for (uint32_t i = 1; rest && i < rest->val.count; i++)
		order &= img.rules[rest->val.ids[i - 1]].priority <= img.rules[rest->val.ids[i]].priority;
	CHECK(order, "the rest in priority order");
	s = find_list(&img, "10.1.0.0/16");
	for (uint32_t i = 0; s && i < s->val.count; i++)
		if (img.rules[s->val.ids[i]].priority == 2000)
			twin = &img.rules[s->val.ids[i]];
	CHECK(twin && twin->table == 300 && twin->order == 0 && rest && rest->val.count &&
		      img.rules[rest->val.ids[rest->val.count - 1]].table == 301 &&
		      img.rules[rest->val.ids[rest->val.count - 1]].order == 1,
	      "of the two at priority 2000, the one added first (in 10.1.0.0/16's list) is order 0, "
	      "the other (in the rest) order 1");
	image_free(&img);
	model_free(&m);

	/* Three mark rules among them: too few for a split of their own, they join the rest,
	 * in priority order. */
	model_init(&m);
	for (uint32_t i = 0; i < 40; i++) {
		struct model_rule_key a = rule(1000 + 2 * i, "10.0.0.0/8", 100 + i);
		struct model_rule_key b = rule(1001 + 2 * i, NULL, 200 + i);

		if (i % 13 == 5) {
			b.fwmark = i;
			b.fwmask = 0xff;
		}
		model_rule_add(&m, &a);
		model_rule_add(&m, &b);
	}
	CHECK(compile_image(&m, NULL, &img) == 0, "compile 80 rules, 3 of them marks");
	s = find_list(&img, "10.0.0.0/8");
	rest = s ? sel_piece_of(&img, s->val.side_rest, true, 0) : NULL;
	order = true;
	for (uint32_t i = 1; rest && i < rest->val.count; i++)
		order &= img.rules[rest->val.ids[i - 1]].priority < img.rules[rest->val.ids[i]].priority;
	CHECK(img.side_lists && s && !s->val.side_sel && rest && rest->val.count == 40 && order,
	      "the marks join the rest, in priority order (%u rules)", rest ? rest->val.count : 0);
	image_free(&img);
	model_free(&m);

	/* A rule's order counts only its own family's rules of its priority: however the
	 * model interleaves the families (it follows the events), the bodies are the same. */
	for (int v6_first = 0; v6_first < 2; v6_first++) {
		struct model_rule_key a = rule(50, "10.0.0.0/8", 100), b = rule(50, "2001:db8::/32", 100);
		bool first = true;

		model_init(&m);
		model_rule_add(&m, v6_first ? &b : &a);
		model_rule_add(&m, v6_first ? &a : &b);
		CHECK(compile_image(&m, NULL, &img) == 0, "compile one rule a family at one priority");
		for (size_t i = 0; i < img.nrules; i++)
			if (img.rules[i].priority == 50)
				first &= img.rules[i].order == 0;
		CHECK(first, "each is first of its family at its priority (%s added first)",
		      v6_first ? "IPv6" : "IPv4");
		image_free(&img);
		model_free(&m);
	}
}

/* A fresh model with one link, eth1 (ifindex 7), for `iif` rules to name. */
static void model_with_eth1(struct model *m)
{
	struct model_link *l;

	model_init(m);
	l = model_link_upsert(m, 7);
	snprintf(l->name, sizeof(l->name), "eth1");
}

/* Short lists split where most packets gain: 20 `iif eth1` rules beside 20 mark rules split
 * by mark, and the piece for every other mark (and its copy for unmarked packets) split
 * again by device, so an unmarked packet from another device walks none of them; a list of
 * 20 where only 7 name a device stays one list. */
static void test_short_split(void)
{
	struct model m;
	struct image img;
	const struct image_src *all;
	const struct image_sel *mark, *zero, *eth1, *other;

	model_with_eth1(&m);
	for (uint32_t i = 0; i < 20; i++) {
		struct model_rule_key a = rule(1000 + 2 * i, NULL, 100 + i), b = rule(1001 + 2 * i, NULL, 200 + i);

		snprintf(a.iifname, sizeof(a.iifname), "eth1");
		b.fwmark = 1 + i;
		b.fwmask = 0xffffffff;
		model_rule_add(&m, &a);
		model_rule_add(&m, &b);
	}
	CHECK(compile_image(&m, NULL, &img) == 0, "compile 20 iif and 20 mark rules");
	all = find_list(&img, "0.0.0.0/0");
	CHECK(all && !img.side_lists && all->val.sel_split && all->val.sel_mask == 0xffffffff,
	      "the 40 split by mark, though they fit one list");
	mark = all ? sel_piece_of(&img, all->val.sel_split, true, 0) : NULL;
	zero = all ? sel_piece_of(&img, all->val.sel_split, false, 0) : NULL;
	CHECK(mark && mark->val.sel_split && !mark->val.sel_mask,
	      "packets of a mark no rule names meet a split by device");
	CHECK(zero && mark && !memcmp(&zero->val, &mark->val, sizeof(zero->val)),
	      "unmarked packets too, at their first lookup: a piece of their own, the same");
	eth1 = mark ? sel_piece_of(&img, mark->val.sel_split, false, 7) : NULL;
	other = mark ? sel_piece_of(&img, mark->val.sel_split, true, 0) : NULL;
	CHECK(eth1 && eth1->val.count == 20 && other && !other->val.count,
	      "eth1's piece holds the 20 iif rules, every other device's none (%u, %u)",
	      eth1 ? eth1->val.count : 0, other ? other->val.count : 0);
	image_free(&img);
	model_free(&m);

	model_with_eth1(&m);
	for (uint32_t i = 0; i < 20; i++) {
		struct model_rule_key a = rule(1000 + i, i % 3 ? "10.0.0.0/8" : NULL, 100 + i);

		if (!(i % 3))
			snprintf(a.iifname, sizeof(a.iifname), "eth1");
		model_rule_add(&m, &a);
	}
	CHECK(compile_image(&m, NULL, &img) == 0, "compile 20 rules, 7 of them iif");
	all = find_list(&img, "10.0.0.0/8");
	CHECK(all && !all->val.sel_split && all->val.count == 20,
	      "7 keyed: one list of 20 (%u)", all ? all->val.count : 0);
	image_free(&img);
	model_free(&m);

	/* With side lists each step of the merged walk costs about a lookup: 5 `iif eth1` rules
	 * beside 20 marks in the side list by device or mark are split from the unmarked piece
	 * already. 40 `from 10.0.0.0/8` and 40 `from all` rules make the side layout. */
	model_with_eth1(&m);
	for (uint32_t i = 0; i < 40; i++) {
		struct model_rule_key a = rule(1000 + 2 * i, "10.0.0.0/8", 100 + i);
		struct model_rule_key b = rule(1001 + 2 * i, NULL, 200 + i);
		struct model_rule_key c = rule(2000 + i, NULL, 300 + i);

		model_rule_add(&m, &a);
		model_rule_add(&m, &b);
		if (i >= 25)
			continue;
		if (i < 5) {
			snprintf(c.iifname, sizeof(c.iifname), "eth1");
		} else {
			c.fwmark = i;
			c.fwmask = 0xff;
		}
		model_rule_add(&m, &c);
	}
	CHECK(compile_image(&m, NULL, &img) == 0, "compile 105 rules, 25 of them iif or mark");
	all = find_list(&img, "10.0.0.0/8");
	zero = all ? sel_piece_of(&img, all->val.side_sel, false, 0) : NULL;
	eth1 = zero ? sel_piece_of(&img, zero->val.sel_split, false, 7) : NULL;
	other = zero ? sel_piece_of(&img, zero->val.sel_split, true, 0) : NULL;
	CHECK(img.side_lists && !img.truncated_lists && all && all->val.side_mask == 0xff && zero &&
		      eth1 && eth1->val.count == 5 && other && !other->val.count,
	      "side lists; unmarked packets meet a split by device: eth1's piece the 5 iif rules (%u), "
	      "every other device's none", eth1 ? eth1->val.count : 0);
	image_free(&img);
	model_free(&m);
}

int main(void)
{
	test_prefix();
	test_nested_prefixes();
	test_punt_rules();
	test_rule_host_bits();
	test_actions();
	test_truncation();
	test_uid_ranges();
	test_dst_split();
	test_side_lists();
	test_short_split();
	test_split_ids();
	test_routes();
	test_shared_nexthops();
	test_source_check_shortcut();
	test_merged_local_main();
	return test_done();
}
