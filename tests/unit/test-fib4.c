/* Unit tests of the IPv4 route arrays (fib4_build()): for random route sets over several
 * tables, every lookup the datapath makes in the arrays (a /16 word, then a /24 word of a
 * chunk) gives the naive longest-prefix match of the table's records, or sends the reader
 * to the trie only where a longer-than-/24 prefix lies; slot ownership (collisions, ids the
 * leaf cannot hold, table 0) and the chunk limit. Pure: no kernel, no BPF. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fib4.h"
#include "test.h"

struct rec {
	struct steer_route_key k;
	struct steer_route v;
};

/* ---- a seeded PRNG (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static uint32_t mask_of(unsigned plen)
{
	return plen ? ~0u << (32 - plen) : 0;
}

/* ---- records ---- */

struct recs {
	struct rec *r;
	size_t n, cap;
};

static void recs_push(struct recs *rs, const struct rec *r)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 256;
		rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
		if (!rs->r)
			abort();
	}
	rs->r[rs->n++] = *r;
}

static uint32_t rec_addr(const struct rec *r)
{
	uint32_t a;

	memcpy(&a, r->k.addr, 4);
	return ntohl(a);
}

static unsigned rec_plen(const struct rec *r)
{
	return r->k.prefixlen - STEER_ROUTE_KEY_BITS(0);
}

static struct rec v4(uint32_t table, uint32_t addr, unsigned plen, uint8_t type, uint32_t nh)
{
	struct rec r;
	uint32_t a = htonl(addr & mask_of(plen));

	memset(&r, 0, sizeof(r));
	r.k.prefixlen = STEER_ROUTE_KEY_BITS(plen);
	r.k.table = table;
	r.k.family = STEER_AF_INET;
	memcpy(r.k.addr, &a, 4);
	r.v.type = type;
	r.v.dst_len = (uint8_t)plen;
	r.v.nh_id = nh;
	return r;
}

static bool has_v4(const struct recs *rs, uint32_t table, uint32_t addr, unsigned plen)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct rec *r = &rs->r[i];

		if (r->k.family == STEER_AF_INET && r->k.table == table && rec_plen(r) == plen &&
		    rec_addr(r) == (addr & mask_of(plen)))
			return true;
	}
	return false;
}

static const uint8_t rtypes[] = { STEER_RT_FORWARD, STEER_RT_BLACKHOLE, STEER_RT_THROW,
				  STEER_RT_MULTIPATH, STEER_RT_PUNT };

/* ---- the datapath's lookup and the naive one ---- */

static int cmp_key(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = ((const struct fib4_chunk_sum *)b)->key;

	return x < y ? -1 : x > y;
}

enum { LK_LEAF, LK_TRIE, LK_NOCHUNK };

/* The word the arrays of slot give for addr (host order), as the datapath reads them. */
static int arr_lookup(const struct fib4_build *b, uint32_t slot, uint32_t addr, uint32_t *word)
{
	uint32_t w = b->l1[slot][addr >> 16];

	if (w == STEER_FIB4_CHUNK) {
		uint32_t key = STEER_FIB4_CHUNK_KEY(slot, addr);
		const struct fib4_chunk_sum *s = bsearch(&key, b->sums, b->nchunks, sizeof(*b->sums),
							 cmp_key);

		if (!s)
			return LK_NOCHUNK;
		w = b->chunks[s - b->sums].leaf[addr >> 8 & 0xff];
	}
	*word = w;
	return w == STEER_FIB4_TRIE ? LK_TRIE : LK_LEAF;
}

/* The longest IPv4 prefix of table holding addr, or NULL. */
static const struct rec *naive_lpm(const struct recs *rs, uint32_t table, uint32_t addr)
{
	const struct rec *best = NULL;

	for (size_t i = 0; i < rs->n; i++) {
		const struct rec *r = &rs->r[i];
		unsigned plen = rec_plen(r);

		if (r->k.family != STEER_AF_INET || r->k.table != table)
			continue;
		if ((addr & mask_of(plen)) == rec_addr(r) && (!best || plen > rec_plen(best)))
			best = r;
	}
	return best;
}

/* Whether table has a prefix longer than /24 inside the /24 (or, for a /16 word, the /16)
 * of addr. */
static bool long_prefix_in(const struct recs *rs, uint32_t table, uint32_t addr, unsigned within)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct rec *r = &rs->r[i];

		if (r->k.family == STEER_AF_INET && r->k.table == table && rec_plen(r) > 24 &&
		    (rec_addr(r) & mask_of(within)) == (addr & mask_of(within)))
			return true;
	}
	return false;
}

struct tally {
	size_t lookups, leaf, trie, wrong, bad_trie, nochunk;
};

static void check_addr(const struct recs *rs, const struct fib4_build *b, uint32_t slot,
		       uint32_t addr, struct tally *t)
{
	uint32_t table = b->owner[slot], word = 0, want;
	const struct rec *lpm = naive_lpm(rs, table, addr);
	int st = arr_lookup(b, slot, addr, &word);

	t->lookups++;
	if (st == LK_NOCHUNK) {
		if (t->nochunk++ < 5)
			printf("# table %u %08x: /16 word says chunk, no chunk under key %08x\n", table,
			       addr, STEER_FIB4_CHUNK_KEY(slot, addr));
		return;
	}
	if (st == LK_TRIE) {
		t->trie++;
		/* a TRIE /16 word would need a long prefix somewhere in the /16 */
		if (!long_prefix_in(rs, table, addr, b->l1[slot][addr >> 16] == STEER_FIB4_TRIE ? 16 : 24)) {
			if (t->bad_trie++ < 5)
				printf("# table %u %08x: TRIE without a prefix longer than /24 there"
				       " (lpm %s/%u)\n", table, addr, lpm ? "some" : "none",
				       lpm ? rec_plen(lpm) : 0);
		}
		return;
	}
	t->leaf++;
	want = lpm ? STEER_FIB4_LEAF(lpm->v.type, lpm->v.dst_len, lpm->v.nh_id) : 0;
	if (word != want && t->wrong++ < 5)
		printf("# table %u %08x: arrays give %08x, longest prefix %08x/%u gives %08x\n",
		       table, addr, word, lpm ? rec_addr(lpm) : 0, lpm ? rec_plen(lpm) : 0, want);
}

/* Every owned slot, at addresses around each route of its table and at random ones. */
static struct tally check_lookups(const struct recs *rs, const struct fib4_build *b,
				  size_t nrandom)
{
	struct tally t = { 0 };

	for (uint32_t slot = 0; slot < STEER_FIB4_SLOTS; slot++) {
		if (!b->owner[slot] || !b->l1[slot])
			continue;
		for (size_t i = 0; i < rs->n; i++) {
			const struct rec *r = &rs->r[i];
			uint32_t first = rec_addr(r), last = first | ~mask_of(rec_plen(r));

			if (r->k.family != STEER_AF_INET || r->k.table != b->owner[slot])
				continue;
			check_addr(rs, b, slot, first, &t);
			check_addr(rs, b, slot, last, &t);
			check_addr(rs, b, slot, first - 1, &t);
			check_addr(rs, b, slot, last + 1, &t);
		}
		for (size_t i = 0; i < nrandom; i++) {
			uint32_t a;

			if (i % 2) {
				a = (uint32_t)rnd();
			} else {	/* near a random route of any table: where prefixes nest */
				const struct rec *r = &rs->r[rnd_below((uint32_t)rs->n)];

				a = r->k.family == STEER_AF_INET ? rec_addr(r) | ((uint32_t)rnd() & ~mask_of(rec_plen(r)))
								 : (uint32_t)rnd();
			}
			check_addr(rs, b, slot, a, &t);
		}
	}
	return t;
}

/* The arrays' own shape: owned slots have an L1 array and no other does, chunks are sorted
 * by key, each belongs to an owned slot whose /16 word says CHUNK, and every CHUNK word has
 * its chunk. */
static void check_shape(const struct fib4_build *b, const char *what)
{
	size_t bad_l1 = 0, bad_order = 0, bad_owner = 0, chunk_words = 0;

	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
		if (!!b->owner[s] != !!b->l1[s])
			bad_l1++;
		if (b->owner[s] && b->owner[s] % STEER_FIB4_SLOTS != s)
			bad_owner++;
		if (b->l1[s])
			for (uint32_t i = 0; i < 65536; i++)
				chunk_words += b->l1[s][i] == STEER_FIB4_CHUNK;
	}
	for (size_t i = 0; i < b->nchunks; i++) {
		uint32_t key = b->sums[i].key, slot = key >> 16;

		if (i && b->sums[i - 1].key >= key)
			bad_order++;
		if (slot >= STEER_FIB4_SLOTS || !b->l1[slot] || b->l1[slot][key & 0xffff] != STEER_FIB4_CHUNK)
			bad_owner++;
	}
	CHECK(!bad_l1, "%s: a slot has an L1 array iff it has an owner", what);
	CHECK(!bad_order, "%s: chunks sorted by key, no key twice (%zu chunks)", what, b->nchunks);
	CHECK(!bad_owner, "%s: every chunk and owner sits in a slot that owns it", what);
	CHECK(chunk_words == b->nchunks, "%s: every CHUNK word has its chunk (%zu words, %zu chunks)",
	      what, chunk_words, b->nchunks);
}

static int build(const struct recs *rs, uint32_t max_chunks, struct fib4_build *b)
{
	return fib4_build(rs->r, rs->n, sizeof(struct rec), offsetof(struct rec, v), max_chunks, b);
}

/* ---- random route sets ---- */

/* A prefix length: the lengths the arrays treat apart, and any. */
static unsigned rnd_plen(void)
{
	static const unsigned lens[] = { 0, 8, 8, 12, 16, 16, 16, 17, 17, 20, 22, 23, 24, 24, 24, 24,
					 25, 25, 26, 28, 30, 31, 32, 32 };

	return rnd_below(10) < 3 ? rnd_below(33) : lens[rnd_below(sizeof(lens) / sizeof(*lens))];
}

/* An address near the pool of /16s and /24s the seed chose, or anywhere. */
static uint32_t rnd_addr(const uint32_t *pool16, size_t n16, const uint8_t *pool24, size_t n24)
{
	if (rnd_below(10) < 3)
		return (uint32_t)rnd();
	return pool16[rnd_below((uint32_t)n16)] << 16 | (uint32_t)pool24[rnd_below((uint32_t)n24)] << 8 |
	       rnd_below(256);
}

static void add_random_v4(struct recs *rs, uint32_t table, size_t count, const uint32_t *pool16,
			  size_t n16, const uint8_t *pool24, size_t n24)
{
	for (size_t added = 0; added < count;) {
		unsigned plen = rnd_plen();
		uint32_t a = rnd_addr(pool16, n16, pool24, n24);
		struct rec r;

		if (has_v4(rs, table, a, plen))
			continue;
		r = v4(table, a, plen, rtypes[rnd_below(sizeof(rtypes))], rnd_below(1u << 20));
		recs_push(rs, &r);
		added++;
	}
}

/* fit: prefixes of /32 and shorter and ids a leaf holds, that would pass for IPv4 routes */
static void add_random_v6(struct recs *rs, uint32_t table, size_t count, bool fit)
{
	for (size_t i = 0; i < count; i++) {
		struct rec r;
		unsigned plen = i < 4 ? (unsigned)i * 8 : rnd_below(fit ? 33 : 129);	/* /0../24 too */

		memset(&r, 0, sizeof(r));
		r.k.prefixlen = STEER_ROUTE_KEY_BITS(plen);
		r.k.table = table;
		r.k.family = STEER_AF_INET6;
		for (unsigned bit = 0; bit < plen; bit++)
			if (rnd() & 1)
				r.k.addr[bit / 8] |= (uint8_t)(0x80 >> bit % 8);
		r.v.type = STEER_RT_BLACKHOLE;
		r.v.dst_len = (uint8_t)plen;
		r.v.nh_id = fit || i % 2 ? rnd_below(1u << 20) : 1u << 22;
		recs_push(rs, &r);
	}
}

static void shuffle(struct recs *rs)
{
	for (size_t i = rs->n; i > 1; i--) {
		size_t j = rnd_below((uint32_t)i);
		struct rec tmp = rs->r[i - 1];

		rs->r[i - 1] = rs->r[j];
		rs->r[j] = tmp;
	}
}

static void test_random(uint64_t seed)
{
	uint32_t pool16[24];
	uint8_t pool24[8];
	struct recs rs = { 0 };
	struct fib4_build b;
	struct tally t;
	/* 100 and 116 share slot 4: by seed the first, the second or neither has more */
	size_t n100 = seed % 3 == 0 ? 300 : seed % 3 == 1 ? 200 : 250;
	size_t n116 = seed % 3 == 0 ? 200 : seed % 3 == 1 ? 300 : 250;
	uint32_t want4 = n116 > n100 ? 116 : 100, lose4 = want4 == 100 ? 116 : 100;
	char what[64];
	int r;

	rng_state = seed;
	snprintf(what, sizeof(what), "seed %llu", (unsigned long long)seed);
	for (size_t i = 0; i < sizeof(pool16) / sizeof(*pool16); i++)
		pool16[i] = rnd_below(65536);
	pool16[0] = 0x0a00;	/* 10.0/16 */
	pool16[1] = 0xffff;	/* the last /16: last + 1 wraps */
	for (size_t i = 0; i < sizeof(pool24); i++)
		pool24[i] = (uint8_t)rnd_below(256);
	pool24[0] = 0;
	pool24[1] = 255;

	add_random_v4(&rs, 255, 900, pool16, 24, pool24, 8);
	add_random_v4(&rs, 254, 600, pool16, 24, pool24, 8);
	add_random_v4(&rs, 100, n100, pool16, 24, pool24, 8);
	add_random_v4(&rs, 116, n116, pool16, 24, pool24, 8);
	/* IPv6 records the arrays ignore: enough that the losing table of slot 4 would win if
	 * they counted, some /0../32 that would paint IPv4 words, ids no leaf holds */
	add_random_v6(&rs, lose4, 150, true);
	add_random_v6(&rs, 255, 20, true);
	add_random_v6(&rs, 254, 20, false);
	shuffle(&rs);

	r = build(&rs, 65536, &b);
	CHECK(r == 0, "%s: fib4_build() of %zu records returns 0 (got %d)", what, rs.n, r);
	if (r) {
		free(rs.r);
		return;
	}
	CHECK(b.owner[255 % 16] == 255 && b.owner[254 % 16] == 254,
	      "%s: tables 255 and 254 own slots 15 and 14 (owners %u, %u)", what, b.owner[15], b.owner[14]);
	CHECK(b.owner[4] == want4, "%s: slot 4 goes to table %u (100: %zu IPv4 routes, 116: %zu; owner %u)",
	      what, want4, n100, n116, b.owner[4]);
	{
		size_t others = 0;

		for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++)
			if (s != 4 && s != 14 && s != 15 && (b.owner[s] || b.l1[s]))
				others++;
		CHECK(!others, "%s: no other slot is owned", what);
	}
	CHECK(b.left_out == 0, "%s: every table fits 65536 chunks (left out %zu)", what, b.left_out);
	CHECK(b.nchunks > 0, "%s: the routes take chunks (%zu)", what, b.nchunks);
	check_shape(&b, what);

	t = check_lookups(&rs, &b, 20000);
	CHECK(!t.nochunk, "%s: every CHUNK word finds its chunk (%zu missing)", what, t.nochunk);
	CHECK(!t.wrong, "%s: every leaf is the longest prefix match (%zu of %zu wrong)", what, t.wrong,
	      t.leaf);
	CHECK(!t.bad_trie, "%s: TRIE only in a /24 with a prefix longer than /24 (%zu of %zu not)", what,
	      t.bad_trie, t.trie);
	CHECK(t.lookups > 50000 && t.leaf * 10 >= t.lookups * 7,
	      "%s: the arrays answer most lookups themselves (%zu of %zu; %zu to the trie)", what,
	      t.leaf, t.lookups, t.trie);
	fib4_build_free(&b);
	free(rs.r);
}

/* ---- ownership ---- */

static void push4(struct recs *rs, uint32_t table, const char *addr, unsigned plen, uint8_t type,
		  uint32_t nh)
{
	struct in_addr a;
	struct rec r;

	inet_pton(AF_INET, addr, &a);
	r = v4(table, ntohl(a.s_addr), plen, type, nh);
	recs_push(rs, &r);
}

/* count routes of table: a /16 each, from base on */
static void push_n(struct recs *rs, uint32_t table, uint32_t base16, size_t count, unsigned plen)
{
	for (size_t i = 0; i < count; i++) {
		struct rec r = v4(table, (base16 + (uint32_t)i) << 16 | 0x0100, plen, STEER_RT_FORWARD,
				  (uint32_t)i + 1);

		recs_push(rs, &r);
	}
}

static void test_owners(void)
{
	struct recs rs = { 0 };
	struct fib4_build b;
	struct tally t;
	int r;

	/* the table with more IPv4 routes takes the slot, whatever the order of the records;
	 * a tie goes to the lower id; table 0 names no table */
	static const struct {
		const char *what;
		struct { uint32_t table, base16; size_t n; unsigned plen; } t[3];
		uint32_t slot, owner;
	} cases[] = {
		{ "116 with 5 routes over 100 with 3", { { 116, 0x0a00, 5, 16 }, { 100, 0x0b00, 3, 24 } }, 4, 116 },
		{ "100 and 116 with 3 routes each: 100", { { 116, 0x0a00, 3, 16 }, { 100, 0x0b00, 3, 24 } }, 4, 100 },
		{ "100, 132, 116 with 3 routes each: 100",
		  { { 100, 0x0b00, 3, 24 }, { 132, 0x0c00, 3, 24 }, { 116, 0x0a00, 3, 16 } }, 4, 100 },
		{ "table 0 owns nothing, table 16 does", { { 0, 0x0a00, 10, 16 }, { 16, 0x0b00, 2, 16 } }, 0, 16 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		rs.n = 0;
		for (int k = 0; k < 3 && cases[c].t[k].n; k++)
			push_n(&rs, cases[c].t[k].table, cases[c].t[k].base16, cases[c].t[k].n, cases[c].t[k].plen);
		r = build(&rs, 65536, &b);
		CHECK(r == 0 && b.owner[cases[c].slot] == cases[c].owner, "slot %u: %s (owner %u)",
		      cases[c].slot, cases[c].what, b.owner[cases[c].slot]);
		t = check_lookups(&rs, &b, 1000);
		CHECK(!t.wrong && !t.nochunk && !t.bad_trie && t.leaf, "%s: lookups right", cases[c].what);
		fib4_build_free(&b);
	}

	/* an id the leaf cannot hold: that table owns no slot; another table of its slot may */
	rs.n = 0;
	push_n(&rs, 254, 0x0a00, 10, 24);
	push4(&rs, 254, "10.200.0.0", 16, STEER_RT_FORWARD, 1u << STEER_FIB4_NH_BITS);
	push_n(&rs, 255, 0x0b00, 3, 16);
	push_n(&rs, 100, 0x0c00, 10, 16);
	push4(&rs, 100, "12.200.0.0", 16, STEER_RT_MULTIPATH, 0xffffffffu);
	push_n(&rs, 116, 0x0d00, 2, 16);
	r = build(&rs, 65536, &b);
	CHECK(r == 0, "unfit ids: fib4_build() returns 0 (got %d)", r);
	CHECK(b.owner[14] == 0 && !b.l1[14], "table 254 with nh_id 1<<21 owns no slot (owner %u)",
	      b.owner[14]);
	CHECK(b.owner[15] == 255, "table 255 beside it keeps its slot (owner %u)", b.owner[15]);
	CHECK(b.owner[4] == 116, "slot 4: 100 with an id too large, so 116 (owner %u)", b.owner[4]);
	check_shape(&b, "unfit ids");
	t = check_lookups(&rs, &b, 1000);
	CHECK(!t.wrong && !t.nochunk && !t.bad_trie && t.leaf, "unfit ids: lookups right");
	fib4_build_free(&b);

	/* the largest id that fits is fine */
	rs.n = 0;
	push4(&rs, 254, "10.0.0.0", 8, STEER_RT_FORWARD, (1u << STEER_FIB4_NH_BITS) - 1);
	r = build(&rs, 65536, &b);
	CHECK(r == 0 && b.owner[14] == 254 && b.l1[14][0x0a00] ==
	      STEER_FIB4_LEAF(STEER_RT_FORWARD, 8, (1u << STEER_FIB4_NH_BITS) - 1),
	      "table 254 with nh_id (1<<21)-1 owns slot 14, its leaf whole");
	fib4_build_free(&b);

	/* only IPv6: no slot at all */
	rs.n = 0;
	rng_state = 7;
	add_random_v6(&rs, 254, 50, false);
	r = build(&rs, 65536, &b);
	{
		size_t owned = 0;

		for (int s = 0; s < STEER_FIB4_SLOTS; s++)
			owned += b.owner[s] || b.l1[s];
		CHECK(r == 0 && !owned && !b.nchunks, "IPv6 records only: no slot, no chunk");
	}
	fib4_build_free(&b);
	free(rs.r);
}

/* ---- the chunk limit ---- */

static void test_capacity(void)
{
	struct recs rs = { 0 };
	struct fib4_build b;
	struct tally t;
	int r;

	/* 255 needs 10 chunks (a /24 in each of 10 /16s): past 3 it owns nothing; 254 needs 2
	 * and 100 none (only /16 and shorter): both keep their slots */
	push_n(&rs, 255, 0x0a00, 10, 24);
	push_n(&rs, 254, 0x0b00, 2, 25);
	push4(&rs, 254, "0.0.0.0", 0, STEER_RT_THROW, 9);
	push4(&rs, 254, "11.0.0.0", 8, STEER_RT_BLACKHOLE, 8);
	push_n(&rs, 100, 0x0c00, 4, 16);
	r = build(&rs, 3, &b);
	CHECK(r == 0, "3 chunks: fib4_build() returns 0 (got %d)", r);
	CHECK(b.owner[15] == 0 && !b.l1[15], "3 chunks: table 255, needing 10, owns no slot (owner %u)",
	      b.owner[15]);
	CHECK(b.left_out > 0, "3 chunks: a table left out (%zu)", b.left_out);
	CHECK(b.owner[14] == 254, "3 chunks: table 254, needing 2, keeps its slot (owner %u)",
	      b.owner[14]);
	CHECK(b.owner[4] == 100, "3 chunks: table 100, needing none, keeps its slot (owner %u)",
	      b.owner[4]);
	CHECK(b.nchunks <= 3, "3 chunks: at most 3 chunks (%zu)", b.nchunks);
	check_shape(&b, "3 chunks");
	t = check_lookups(&rs, &b, 2000);
	CHECK(!t.wrong && !t.nochunk && !t.bad_trie && t.leaf && t.trie,
	      "3 chunks: lookups right (%zu leaves, %zu to the trie)", t.leaf, t.trie);
	fib4_build_free(&b);

	/* two tables of 2 chunks each in a limit of 3: the bigger one gets them, the other is
	 * left out; a limit of 4 takes both */
	rs.n = 0;
	push_n(&rs, 255, 0x0a00, 2, 24);
	push4(&rs, 255, "1.0.0.0", 8, STEER_RT_FORWARD, 1);
	push_n(&rs, 254, 0x0b00, 2, 24);
	r = build(&rs, 3, &b);
	CHECK(r == 0 && b.owner[15] == 255 && b.owner[14] == 0 && b.left_out == 1 && b.nchunks == 2,
	      "3 chunks, 2 + 2 needed: 255 (3 routes) in, 254 out (owners %u, %u; left out %zu)",
	      b.owner[15], b.owner[14], b.left_out);
	fib4_build_free(&b);
	r = build(&rs, 4, &b);
	CHECK(r == 0 && b.owner[15] == 255 && b.owner[14] == 254 && b.left_out == 0 && b.nchunks == 4,
	      "4 chunks, 2 + 2 needed: both in (left out %zu, %zu chunks)", b.left_out, b.nchunks);
	fib4_build_free(&b);

	/* a slot's bigger table does not fit: the smaller one of the slot takes it */
	rs.n = 0;
	push_n(&rs, 100, 0x0a00, 5, 24);
	push_n(&rs, 116, 0x0b00, 1, 24);
	r = build(&rs, 3, &b);
	CHECK(r == 0 && b.owner[4] == 116 && b.left_out == 1,
	      "3 chunks: 100 needs 5, so 116 (needing 1) takes slot 4 (owner %u, left out %zu)",
	      b.owner[4], b.left_out);
	fib4_build_free(&b);

	/* no chunks at all: tables of /16 and shorter still get their slots */
	rs.n = 0;
	push_n(&rs, 254, 0x0a00, 3, 16);
	push_n(&rs, 255, 0x0b00, 1, 17);
	r = build(&rs, 0, &b);
	CHECK(r == 0 && b.owner[14] == 254 && b.owner[15] == 0 && b.left_out == 1 && !b.nchunks,
	      "0 chunks: /16s own a slot, a /17 does not (owners %u, %u)", b.owner[14], b.owner[15]);
	fib4_build_free(&b);
	free(rs.r);
}

int main(void)
{
	for (uint64_t seed = 1; seed <= 6; seed++)
		test_random(seed);
	test_owners();
	test_capacity();
	return test_done();
}
