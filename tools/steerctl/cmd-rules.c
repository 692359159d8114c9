/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl rules`: the compiled rule lists, one line per (source prefix, rule), in the
 * order the datapath walks them, each rule in `ip rule` words with its hit count. Reading
 * this against `ip rule show` shows what the fast path took over and what it punts. A list
 * split by destination shows each of its pieces, "SOURCE to DESTINATION". Side lists (the
 * `from all` rules, kept apart when there are many) show under the family's /0. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "steerctl.h"

/* One list the datapath walks: a source key's own, or a piece of its split list. */
struct rules_list {
	size_t key;			/* index into keys */
	bool piece;			/* dst says which destinations it is for */
	struct steer_dst_key dst;
	int nsel;			/* skey and smask say which devices or marks */
	struct steer_sel_key skey[2];	/* a piece of a piece: the outer first */
	__u32 smask[2];			/* 0: by input device */
	bool port;			/* the side list of the rest: by destination port */
	struct steer_rule_list l;	/* count 0 when it vanished */
};

struct rules_ctx {
	struct steerctl *c;
	struct pinned_map src, dst, sel, rules, hits;
	char src_path[4096], rules_path[4096];
	struct steer_src_key *keys;
	size_t n;
	struct steer_dst_key *dkeys;	/* every piece's key, by split id then prefix */
	size_t ndkeys;
	struct steer_sel_key *skeys;	/* every device or mark piece's key, by split id */
	size_t nskeys;
	struct rules_list *lists;	/* by key, a key's pieces together */
	size_t nlists;
	size_t *first;			/* first[key]: its first list, or nlists when none */
	__u32 (*from)[STEER_MAX_RULES];	/* from[i][r]: the key of lists[i].l.ids[r]'s `from` */
};

static int cmp_src_key(const void *pa, const void *pb)
{
	const struct steer_src_key *a = pa, *b = pb;
	int r = sc_prefix_cmp(a->family, a->addr, a->prefixlen, b->family, b->addr, b->prefixlen);

	return r ? r : memcmp(a, b, sizeof(*a));
}

/* The address part of a key as "ADDR/LEN", or NULL when its prefixlen is shorter than
 * the family+pad bits every key carries. */
static const char *src_prefix(const struct steer_src_key *k, char *buf, size_t len)
{
	char addr[SC_ADDR_STRLEN];

	if (k->prefixlen < STEER_SRC_KEY_BITS(0))
		return NULL;
	snprintf(buf, len, "%s/%u", sc_addr(k->family, k->addr, addr, sizeof(addr)),
		 k->prefixlen - STEER_SRC_KEY_BITS(0));
	return buf;
}

/* The prefix length of a network-order mask: the compiler writes prefix masks, so its ones
 * are its length. */
static unsigned mask_len(const __u32 *mask, unsigned words)
{
	unsigned n = 0, i;

	for (i = 0; i < words; i++)
		n += (unsigned)__builtin_popcount(mask[i]);
	return n;
}

/* An address selector (from/to): "all" when the rule has none. Returns the prefix length,
 * or -1 for "all". */
static int addr_sel(__u8 family, const __u32 *addr, const __u32 *mask, char *buf, size_t len)
{
	unsigned words = family == STEER_AF_INET ? 1 : 4, i;
	__u8 bytes[16] = {};

	if (!mask_len(mask, words)) {
		snprintf(buf, len, "all");
		return -1;
	}
	for (i = 0; i < words; i++) {
		__u32 w = addr[i] & mask[i];

		memcpy(bytes + 4 * i, &w, 4);
	}
	sc_addr(family, bytes, buf, len);
	return (int)mask_len(mask, words);
}

/* A port selector: "80", or a range, "1000-2000" in the line and iproute2's KEY_start and
 * KEY_end members in JSON. */
static void describe_ports(struct sc_desc *d, const char *text, const char *key,
			   const char *start, const char *end, __u16 lo, __u16 hi)
{
	char range[16];

	if (lo == hi) {
		sc_desc_num(d, key, text, lo);
		return;
	}
	snprintf(range, sizeof(range), "%u-%u", lo, hi);
	sc_desc_add(d, SC_TEXT, NULL, text, range);
	sc_desc_num(d, start, NULL, lo);
	sc_desc_num(d, end, NULL, hi);
}

/* The rule's `from` as an address in buf and its length, or -1 for "all". An inverted rule
 * carries its own (it sits in the lists its `from` does not cover); for the others the
 * compiler leaves it to the trie: it is the key read_lists() found for it. */
static int rule_from(const struct rules_ctx *x, size_t list, __u32 pos, __u8 family,
		     const struct steer_rule *r, char *buf, size_t len)
{
	unsigned words = family == STEER_AF_INET ? 1 : 4;
	const struct steer_src_key *k;

	if ((r->match & STEER_MATCH_SRC) || mask_len(r->src_mask, words))
		return addr_sel(family, r->src, r->src_mask, buf, len);
	k = &x->keys[x->from[list][pos]];
	if (k->prefixlen <= STEER_SRC_KEY_BITS(0))
		return -1;
	sc_addr(k->family, k->addr, buf, len);
	return (int)(k->prefixlen - STEER_SRC_KEY_BITS(0));
}

/* One rule as `ip rule` prints it, from "PRIO:" on, and its members in ip -j rule's shapes:
 * lengths only short of a host's, "not" and "nop" as null members, tables by name. The
 * marker that ends a cut list is no rule: it has no priority. */
static void describe_rule(struct rules_ctx *x, size_t list, __u32 pos, const struct steer_rule *r,
			  __u64 hits, struct sc_desc *d)
{
	__u8 family = x->keys[x->lists[list].key].family;
	int host = family == STEER_AF_INET ? 32 : 128;
	char buf[SC_ADDR_STRLEN];
	/* lookup, goto and steer.yaml's forward say what they do in words of their own. */
	bool own_words = r->action == STEER_RULE_LOOKUP || r->action == STEER_RULE_GOTO ||
			 r->action == STEER_RULE_FORWARD || r->action == STEER_RULE_GROUP;
	int plen;

	if (r->action != STEER_RULE_CUT)
		sc_desc_num(d, "priority", "%s:\t", r->priority);
	if (r->match & STEER_MATCH_INVERT)
		sc_desc_add(d, SC_NULL, "not", "not ", NULL);
	plen = rule_from(x, list, pos, family, r, buf, sizeof(buf));
	sc_desc_add(d, SC_STR, "src", "from %s", plen < 0 ? "all" : buf);
	if (plen >= 0 && plen != host)
		sc_desc_num(d, "srclen", "/%s", (unsigned)plen);
	if (r->match & STEER_MATCH_DST) {
		plen = addr_sel(family, r->dst, r->dst_mask, buf, sizeof(buf));
		sc_desc_add(d, SC_STR, "dst", " to %s",
			    plen >= 0 ? buf : family == STEER_AF_INET ? "0.0.0.0" : "::");
		if (plen != host)
			sc_desc_num(d, "dstlen", "/%s", plen < 0 ? 0 : (unsigned)plen);
	}
	if (r->match & STEER_MATCH_TOS) {
		snprintf(buf, sizeof(buf), "0x%02x", r->tos);
		sc_desc_add(d, SC_STR, "tos", " tos %s", buf);
	}
	if (r->match & STEER_MATCH_MARK) {
		snprintf(buf, sizeof(buf), "%#x", r->mark);
		sc_desc_add(d, SC_STR, "fwmark", " fwmark %s", buf);
		if (r->mark_mask != 0xffffffffu) {
			snprintf(buf, sizeof(buf), "%#x", r->mark_mask);
			sc_desc_add(d, SC_STR, "fwmask", "/%s", buf);
		}
	}
	if ((r->match & STEER_MATCH_IIF) && r->iif == STEER_IIF_MISSING)
		sc_desc_add(d, SC_TRUE, "iif_detached", " iif [detached]", NULL);
	else if (r->match & STEER_MATCH_IIF)
		sc_desc_add(d, SC_STR, "iif", " iif %s", sc_ifname(r->iif, buf, sizeof(buf)));
	if (r->match & STEER_MATCH_PROTO)
		sc_desc_add(d, SC_STR, "ipproto", " ipproto %s",
			    sc_proto_name(r->ip_proto, buf, sizeof(buf)));
	if (r->match & STEER_MATCH_SPORT)
		describe_ports(d, " sport %s", "sport", "sport_start", "sport_end", r->sport_lo,
			       r->sport_hi);
	if (r->match & STEER_MATCH_DPORT)
		describe_ports(d, " dport %s", "dport", "dport_start", "dport_end", r->dport_lo,
			       r->dport_hi);
	sc_desc_add(d, SC_STR, "action", own_words ? NULL : " %s",
		    sc_rule_action_name(r->action, buf, sizeof(buf)));
	if (r->action == STEER_RULE_NOP)
		sc_desc_add(d, SC_NULL, "nop", NULL, NULL);
	if (r->action == STEER_RULE_LOOKUP)
		sc_desc_add(d, SC_STR, "table", " lookup %s", sc_table_name(r->table, buf, sizeof(buf)));
	if (r->action == STEER_RULE_PUNT && r->table)
		sc_desc_add(d, SC_STR, "table", " (lookup %s)",
			    sc_table_name(r->table, buf, sizeof(buf)));
	if (r->action == STEER_RULE_GOTO)
		sc_desc_num(d, "goto", " goto %s", r->goto_priority);
	/* steer.yaml's policies: the next hop or group, as `steerctl nexthops` lists them. */
	if (r->action == STEER_RULE_FORWARD)
		sc_desc_num(d, "nhid", " forward nhid %s", r->nh_id);
	if (r->action == STEER_RULE_GROUP)
		sc_desc_num(d, "nhgroup", " forward nhgroup %s", r->nh_id);
	if (r->action == STEER_RULE_LOOKUP && (r->match & STEER_MATCH_SUPPRESS))
		sc_desc_num(d, "suppress_prefixlen", " suppress_prefixlength %s",
			    r->suppress_prefixlen);
	sc_desc_num(d, "hits", NULL, hits);
}

static void print_rule_body(struct rules_ctx *x, size_t list, __u32 pos, const struct steer_rule *r,
			    __u64 hits)
{
	struct sc_desc d;

	d.n = 0;
	describe_rule(x, list, pos, r, hits, &d);
	sc_desc_print(x->c, &d);
}

/* The PREFIX column: the source prefix, and for a piece of a split list its destination. */
static const char *list_label(const struct rules_ctx *x, size_t list, char *buf, size_t len)
{
	const struct rules_list *rl = &x->lists[list];
	char src[SC_ADDR_STRLEN], dst[SC_ADDR_STRLEN];

	if (!src_prefix(&x->keys[rl->key], src, sizeof(src)))
		return NULL;
	if (!rl->piece)
		snprintf(buf, len, "%s", src);
	else
		snprintf(buf, len, "%s to %s/%u", src,
			 sc_addr(rl->dst.family, rl->dst.addr, dst, sizeof(dst)),
			 rl->dst.prefixlen - STEER_DST_KEY_BITS(0));
	for (int i = 0; i < rl->nsel; i++) {
		size_t at = strlen(buf);

		if (rl->port && rl->skey[i].other)
			snprintf(buf + at, len - at, " dport other");
		else if (rl->port)
			snprintf(buf + at, len - at, " dport %u", rl->skey[i].value);
		else if (rl->skey[i].other)
			snprintf(buf + at, len - at, " %s other", rl->smask[i] ? "mark" : "iif");
		else if (rl->smask[i])
			snprintf(buf + at, len - at, " mark %#x/%#x", rl->skey[i].value, rl->smask[i]);
		else
			snprintf(buf + at, len - at, " iif %s",
				 sc_ifname(rl->skey[i].value, dst, sizeof(dst)));
	}
	return buf;
}

/* One line (or JSON object) for the rule at position pos of a list. Returns 0 or a
 * negative errno. */
static int print_rule(struct rules_ctx *x, size_t list, __u32 pos, int src_width)
{
	const struct steer_src_key *k = &x->keys[x->lists[list].key];
	__u32 id = x->lists[list].l.ids[pos];
	struct steerctl *c = x->c;
	char fam[SC_NAME_STRLEN], pfx[3 * SC_ADDR_STRLEN + 32];
	struct steer_rule r;
	__u64 hits = 0;
	/* 0: not there, in a list the agent is replacing (or a bug): shown as missing. */
	int have = sc_map_lookup(c, &x->rules, &id, &r), err;

	if (have < 0)
		return have;
	if (have) {
		err = sc_percpu_sum(c, &x->hits, id, &hits);
		if (err)
			return err;
	}

	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_u64(&c->jw, "id", id);
		if (have)
			print_rule_body(x, list, pos, &r, hits);
		else
			json_bool(&c->jw, "missing", true);
		json_obj_close(&c->jw);
		return 0;
	}
	fprintf(c->out, "%-6s %-*s %-6u ", sc_family_name(k->family, fam, sizeof(fam)),
		src_width, list_label(x, list, pfx, sizeof(pfx)), id);
	if (!have) {
		fprintf(c->out, "%12s  (missing from %s)\n", "-", x->rules_path);
		return 0;
	}
	/* The marker that ends a cut list is no rule, and has no priority of its own. */
	if (r.action == STEER_RULE_CUT) {
		fprintf(c->out, "%12llu  -:\tcut: later rules are past the compiled limit, "
			"packets that get here punt (rule_limit)\n", (unsigned long long)hits);
		return 0;
	}
	fprintf(c->out, "%12llu  ", (unsigned long long)hits);
	print_rule_body(x, list, pos, &r, hits);
	fputc('\n', c->out);
	return 0;
}

/* Index of the key (family, addr masked to plen), or -1. */
static ssize_t find_key(const struct rules_ctx *x, __u8 family, const __u8 *addr, unsigned plen)
{
	struct steer_src_key k = { .prefixlen = STEER_SRC_KEY_BITS(plen), .family = family };
	size_t lo = 0, hi = x->n, i;

	for (i = 0; i < 16 && plen; i++) {
		unsigned bits = plen >= 8 * (i + 1) ? 8 : plen - 8 * i;

		k.addr[i] = addr[i] & (__u8)(0xff00u >> bits);
		if (bits < 8)
			break;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_src_key(&x->keys[mid], &k);

		if (!c)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Whether any list of key (its own, or one of its pieces) holds rule id. */
static bool key_holds(const struct rules_ctx *x, size_t key, __u32 id)
{
	for (size_t i = x->first[key]; i < x->nlists && x->lists[i].key == key; i++) {
		for (__u32 q = 0; q < x->lists[i].l.count; q++)
			if (x->lists[i].l.ids[q] == id)
				return true;
	}
	return false;
}

/* Each rule's `from`, for rules that do not carry it: the shortest key covering list i's key
 * whose lists hold the rule. Rules with equal bodies share one id (the agent stores each
 * body once), so the id alone does not name the `from`; but the list of a prefix holds a
 * rule exactly when the rule's `from` covers the prefix (a split list: one of its pieces
 * does), and the compiler writes a list for every rule's own `from`. */
static void find_froms(struct rules_ctx *x, size_t i, const bool *lens)
{
	const struct steer_src_key *k = &x->keys[x->lists[i].key];
	unsigned plen = k->prefixlen - STEER_SRC_KEY_BITS(0), l;
	__u32 r, left = x->lists[i].l.count;
	bool done[STEER_MAX_RULES] = {};

	for (r = 0; r < x->lists[i].l.count; r++)
		x->from[i][r] = (__u32)x->lists[i].key;
	for (l = 0; l < plen && left; l++) {
		ssize_t c = lens[l] ? find_key(x, k->family, k->addr, l) : -1;

		for (r = 0; c >= 0 && r < x->lists[i].l.count; r++) {
			if (!done[r] && key_holds(x, (size_t)c, x->lists[i].l.ids[r])) {
				x->from[i][r] = (__u32)c;
				done[r] = true;
				left--;
			}
		}
	}
}

/* Room for one more list. */
static struct rules_list *add_list(struct rules_ctx *x, size_t *cap)
{
	if (x->nlists == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct rules_list *p = realloc(x->lists, ncap * sizeof(*p));

		if (!p)
			return NULL;
		x->lists = p;
		*cap = ncap;
	}
	memset(&x->lists[x->nlists], 0, sizeof(x->lists[0]));
	return &x->lists[x->nlists++];
}

static int cmp_sel_key(const void *pa, const void *pb)
{
	const struct steer_sel_key *a = pa, *b = pb;

	if (a->split != b->split)
		return a->split < b->split ? -1 : 1;
	if (a->other != b->other)
		return a->other ? 1 : -1;	/* every other device or mark last */
	return a->value < b->value ? -1 : a->value > b->value;
}

/* Where the list at `at` is split by device or mark: it becomes the first of its pieces, the
 * rest follow it (a piece split again, its own pieces). Returns 0 or a negative errno. */
static int read_sel_pieces(struct rules_ctx *x, size_t at, size_t *cap)
{
	struct rules_list first = x->lists[at];
	bool placed = false;

	for (size_t j = 0; j < x->nskeys && first.nsel < 2; j++) {
		struct rules_list *rl;
		size_t here;
		int r;

		if (x->skeys[j].split != first.l.sel_split)
			continue;
		rl = placed ? add_list(x, cap) : &x->lists[at];
		if (!rl)
			return sc_error(x->c, x->src_path, -ENOMEM);
		here = (size_t)(rl - x->lists);
		*rl = first;
		rl->skey[first.nsel] = x->skeys[j];
		rl->smask[first.nsel] = first.l.sel_mask;
		rl->nsel = first.nsel + 1;
		placed = true;
		r = sc_map_lookup(x->c, &x->sel, &x->skeys[j], &rl->l);
		if (r < 0)
			return r;
		if (!r)
			rl->l.count = 0;
		if (r && rl->l.sel_split && (r = read_sel_pieces(x, here, cap)) < 0)
			return r;
	}
	if (!placed)		/* its pieces vanished since the keys were read: no lines */
		x->lists[at].l.count = 0;
	return 0;
}

static int cmp_dst_key(const void *pa, const void *pb)
{
	const struct steer_dst_key *a = pa, *b = pb;

	if (a->split != b->split)
		return a->split < b->split ? -1 : 1;
	return sc_prefix_cmp(a->family, a->addr, a->prefixlen, b->family, b->addr, b->prefixlen);
}

/* The pieces of key's split list, each a list of its own. Returns 0 or a negative errno. */
static int read_pieces(struct rules_ctx *x, size_t key, __u32 split, size_t *cap)
{
	for (size_t j = 0; j < x->ndkeys; j++) {
		struct rules_list *rl;
		int r;

		if (x->dkeys[j].split != split)
			continue;
		rl = add_list(x, cap);
		if (!rl)
			return sc_error(x->c, x->src_path, -ENOMEM);
		*rl = (struct rules_list){ .key = key, .piece = true, .dst = x->dkeys[j] };
		r = sc_map_lookup(x->c, &x->dst, &x->dkeys[j], &rl->l);
		if (r < 0)
			return r;
		if (r && rl->l.sel_split && (r = read_sel_pieces(x, x->nlists - 1, cap)) < 0)
			return r;
	}
	return 0;
}

/* The side lists a source list names (`from all` rules the compiler keeps apart), read as
 * lists of key: "PREFIX to DST" pieces for the rules with a `to`, "PREFIX iif DEV" or "PREFIX
 * mark M/MASK" pieces for those with a device or mark, "PREFIX dport N" or "PREFIX dport
 * other" for the rest. Every
 * source list of a family names the same ones: they are read with its /0 list only. Returns
 * 0 or a negative errno. */
static int read_side(struct rules_ctx *x, size_t key, const struct steer_rule_list *l, size_t *cap)
{
	const struct { __u32 split, mask; } sels[] = {
		{ l->side_sel, l->side_mask }, { l->side_rest, 0 },
	};
	int r = l->side_dst ? read_pieces(x, key, l->side_dst, cap) : 0;

	for (size_t i = 0; i < sizeof(sels) / sizeof(sels[0]) && r >= 0; i++) {
		struct rules_list *rl;

		if (!sels[i].split)
			continue;
		if (!(rl = add_list(x, cap)))
			return sc_error(x->c, x->src_path, -ENOMEM);
		rl->key = key;
		rl->l.sel_split = sels[i].split;
		rl->l.sel_mask = sels[i].mask;
		rl->port = sels[i].split == l->side_rest;
		r = read_sel_pieces(x, x->nlists - 1, cap);
	}
	return r;
}

/* Reads every key's list once, so the lines and each rule's `from` come from the same
 * snapshot. Returns 0 or a negative errno. */
static int read_lists(struct rules_ctx *x)
{
	bool lens[2][129] = {};		/* prefix lengths present, IPv4 and IPv6 */
	char pfx[SC_ADDR_STRLEN];
	size_t i, cap = 0;
	int r;

	for (i = 0; i < x->n; i++) {
		struct steer_rule_list l = {};
		unsigned plen = x->keys[i].prefixlen - STEER_SRC_KEY_BITS(0);
		struct rules_list *rl;

		if (x->keys[i].prefixlen < STEER_SRC_KEY_BITS(0) || plen > 128)
			continue;
		/* Removed by the agent since we listed it: no lines. (A trie lookup is a
		 * longest match, so a removal can also show the covering entry's list.) */
		r = sc_map_lookup(x->c, &x->src, &x->keys[i], &l);
		if (r < 0)
			return r;
		if (!r)
			continue;
		lens[x->keys[i].family == STEER_AF_INET6][plen] = true;
		if (!plen && (r = read_side(x, i, &l, &cap)) < 0)
			return r;
		if (l.dst_split) {
			r = read_pieces(x, i, l.dst_split, &cap);
			if (r < 0)
				return r;
			continue;
		}
		rl = add_list(x, &cap);
		if (!rl)
			return sc_error(x->c, x->src_path, -ENOMEM);
		rl->key = i;
		rl->l = l;
		if (l.sel_split && (r = read_sel_pieces(x, x->nlists - 1, &cap)) < 0)
			return r;
	}
	for (i = 0; i < x->nlists; i++) {
		if (x->lists[i].l.count > STEER_MAX_RULES) {
			fprintf(stderr, "steerctl: %s: %s lists %u rules, more than the %d an "
				"entry holds; showing those\n", x->src_path,
				list_label(x, i, pfx, sizeof(pfx)), x->lists[i].l.count,
				STEER_MAX_RULES);
			x->lists[i].l.count = STEER_MAX_RULES;
		}
	}
	x->from = calloc(x->nlists ? x->nlists : 1, sizeof(*x->from));
	x->first = malloc((x->n + 1) * sizeof(*x->first));
	if (!x->from || !x->first)
		return sc_error(x->c, x->src_path, -ENOMEM);
	for (i = 0; i < x->n; i++)
		x->first[i] = x->nlists;
	for (i = x->nlists; i-- > 0;)
		x->first[x->lists[i].key] = i;
	for (i = 0; i < x->nlists; i++)
		if (x->lists[i].l.count)
			find_froms(x, i, lens[x->keys[x->lists[i].key].family == STEER_AF_INET6]);
	return 0;
}

static int print_list(struct rules_ctx *x, size_t i, int width)
{
	struct steerctl *c = x->c;
	const struct rules_list *rl = &x->lists[i];
	const struct steer_src_key *k = &x->keys[rl->key];
	char fam[SC_NAME_STRLEN], addr[SC_ADDR_STRLEN];
	int err = 0;
	__u32 r;

	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_str(&c->jw, "family", sc_family_name(k->family, fam, sizeof(fam)));
		json_str(&c->jw, "prefix", sc_addr(k->family, k->addr, addr, sizeof(addr)));
		json_u64(&c->jw, "prefixlen", k->prefixlen - STEER_SRC_KEY_BITS(0));
		if (rl->piece) {
			json_str(&c->jw, "to", sc_addr(rl->dst.family, rl->dst.addr, addr,
						       sizeof(addr)));
			json_u64(&c->jw, "tolen", rl->dst.prefixlen - STEER_DST_KEY_BITS(0));
		}
		for (int s = 0; s < rl->nsel; s++) {
			if (rl->port && rl->skey[s].other)
				json_str(&c->jw, "dport", "other");
			else if (rl->port)
				json_u64(&c->jw, "dport", rl->skey[s].value);
			else if (rl->skey[s].other)
				json_str(&c->jw, rl->smask[s] ? "fwmark" : "iif", "other");
			else if (rl->smask[s])
				json_u64(&c->jw, "fwmark", rl->skey[s].value);
			else
				json_str(&c->jw, "iif", sc_ifname(rl->skey[s].value, addr, sizeof(addr)));
			if (rl->smask[s] && !rl->port)
				json_u64(&c->jw, "fwmask", rl->smask[s]);
		}
		json_arr_open(&c->jw, "rules");
	}
	for (r = 0; r < rl->l.count && !err; r++)
		err = print_rule(x, i, r, width);
	if (c->json) {
		json_arr_close(&c->jw);
		json_obj_close(&c->jw);
	}
	return err;
}

int cmd_rules(struct steerctl *c)
{
	struct rules_ctx x = { .c = c, .src = { .fd = -1 }, .dst = { .fd = -1 },
			       .sel = { .fd = -1 }, .rules = { .fd = -1 }, .hits = { .fd = -1 } };
	const struct sc_map_use maps[] = {
		{ MAP_SRC, &x.src, cmp_src_key, (void **)&x.keys, &x.n },
		{ MAP_DST, &x.dst, cmp_dst_key, (void **)&x.dkeys, &x.ndkeys },
		{ MAP_SEL, &x.sel, cmp_sel_key, (void **)&x.skeys, &x.nskeys },
		{ MAP_RULES, &x.rules }, { MAP_HITS, &x.hits }, {} };
	char pfx[3 * SC_ADDR_STRLEN + 32];
	size_t i;
	int err, width = (int)strlen("PREFIX");

	err = sc_path(c, STEER_MAP_SRC, x.src_path, sizeof(x.src_path));
	if (!err)
		err = sc_path(c, STEER_MAP_RULES, x.rules_path, sizeof(x.rules_path));
	if (!err)
		err = sc_maps_open(c, maps);
	if (!err)
		err = read_lists(&x);
	if (err)
		goto out;

	for (i = 0; i < x.n; i++)
		if (x.keys[i].prefixlen < STEER_SRC_KEY_BITS(0))
			fprintf(stderr, "steerctl: %s: skipping a key with prefixlen %u, shorter "
				"than its %u family bits\n", x.src_path, x.keys[i].prefixlen,
				STEER_SRC_KEY_BITS(0));
	for (i = 0; i < x.nlists; i++)
		if (list_label(&x, i, pfx, sizeof(pfx)) && (int)strlen(pfx) > width)
			width = (int)strlen(pfx);

	if (c->json)
		json_arr_open(&c->jw, NULL);
	else
		fprintf(c->out, "%-6s %-*s %-6s %12s  %s\n", "FAMILY", width, "PREFIX", "ID",
			"HITS", "RULE");
	for (i = 0; i < x.nlists && !err; i++)
		err = print_list(&x, i, width);
	if (c->json)
		json_arr_close(&c->jw);
out:
	free(x.from);
	free(x.first);
	free(x.lists);
	sc_maps_close(maps);
	return err;
}
