/* Unit tests of the IPv4 route arrays (fib4_build()): for random route sets over several
 * tables, every lookup the datapath makes in the arrays (a /16 word, then a /24 word of a
 * level-2 chunk, then an address's word of a level-3 chunk) is answered and gives the naive
 * longest-prefix match of the table's records; the build's shape (each chunk named by one
 * word, where its key says; no STEER_FIB4_TRIE); slot ownership (collisions, ids the leaf
 * cannot hold, table 0) and the chunk limit, level-2 and level-3 chunks counted together.
 * Then the apply path (fib4_begin(), fib4_commit(), fib4_abort(), fib4_close_table(),
 * fib4_init() after a restart, fib4_verify()) against real BPF array maps, read as the
 * datapath reads them: needs root. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

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

/* A chunk's key as fib4.h has it: slot << 40 | level << 32 | prefix. */
#define KEY(level, slot, prefix) ((uint64_t)(slot) << 40 | (uint64_t)(level) << 32 | (prefix))
#define KEY_LEVEL(key) ((uint32_t)((key) >> 32 & 0xff))

enum { LK_LEAF, LK_TRIE, LK_BAD_INDEX, LK_TOO_DEEP, LK_CLOSED };
static const char *const lk_why[] = { "leaf", "STEER_FIB4_TRIE", "a chunk index past the chunks",
				      "a level-3 word naming a chunk",
				      "the slot closed or owned by another table" };

/* Where lookups read the arrays: a build, or (b NULL) the two maps, through
 * bpf_map_lookup_elem() as the datapath reads them. */
struct arrays {
	const uint32_t *owner;		/* per slot, the table to look up in it; 0: none */
	const struct fib4_build *b;
	int fd, chunk_fd;
};

/* Word i of steer_fib4; STEER_FIB4_TRIE if it cannot be read (as the datapath has it). */
static uint32_t map_word(int fd, uint32_t i)
{
	uint32_t w;

	return bpf_map_lookup_elem(fd, &i, &w) ? STEER_FIB4_TRIE : w;
}

/* The L1 word of /16 hi of slot. */
static uint32_t l1_word(const struct arrays *a, uint32_t slot, uint32_t hi)
{
	return a->b ? a->b->l1[slot][hi] : map_word(a->fd, slot << 16 | hi);
}

/* Word pos of the chunk word w names into *w; false if there is no such chunk. */
static bool chunk_word(const struct arrays *a, uint32_t *w, uint32_t pos)
{
	uint32_t i = *w & ~STEER_FIB4_CHUNK;
	struct steer_fib4_chunk c;

	if (a->b) {
		if (i >= a->b->nchunks)
			return false;
		*w = a->b->chunks[i].leaf[pos & 0xff];
		return true;
	}
	if (bpf_map_lookup_elem(a->chunk_fd, &i, &c))
		return false;
	*w = c.leaf[pos & 0xff];
	return true;
}

/* The word the arrays give table for addr (host order), as the datapath reads them (in the
 * maps, between two reads of the slot's sequence number, even and the same, and the owner
 * word being table): the /16's L1 word; where that names a chunk, its word by the third
 * byte; where that names one too, its word by the fourth. *levels: how many words it read
 * (1 to 3). */
static int arr_lookup(const struct arrays *a, uint32_t table, uint32_t addr, uint32_t *word,
		      unsigned *levels)
{
	uint32_t slot = table % STEER_FIB4_SLOTS, seq = 0, w;

	*levels = 0;
	if (!a->b) {
		seq = map_word(a->fd, STEER_FIB4_SEQ(slot));
		if ((seq & 1) || map_word(a->fd, STEER_FIB4_OWNER(slot)) != table)
			return LK_CLOSED;
	}
	w = l1_word(a, slot, addr >> 16);
	for (*levels = 1; STEER_FIB4_NAMES_CHUNK(w); ++*levels) {
		if (*levels == 3)
			return LK_TOO_DEEP;
		if (!chunk_word(a, &w, addr >> (*levels == 1 ? 8 : 0)))
			return LK_BAD_INDEX;
	}
	if (!a->b && map_word(a->fd, STEER_FIB4_SEQ(slot)) != seq)
		return LK_CLOSED;
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

struct tally {
	size_t lookups, leaf, wrong, unanswered, via2, via3;	/* via: through a level-2/3 chunk */
};

static void check_addr(const struct recs *rs, const struct arrays *a, uint32_t slot,
		       uint32_t addr, struct tally *t)
{
	uint32_t table = a->owner[slot], word = 0, want;
	const struct rec *lpm = naive_lpm(rs, table, addr);
	unsigned levels;
	int st = arr_lookup(a, table, addr, &word, &levels);

	t->lookups++;
	if (st != LK_LEAF) {
		if (t->unanswered++ < 5)
			printf("# table %u %08x: no answer after %u words: %s\n", table, addr, levels,
			       lk_why[st]);
		return;
	}
	t->leaf++;
	t->via2 += levels >= 2;
	t->via3 += levels == 3;
	want = lpm ? STEER_FIB4_LEAF(lpm->v.type, lpm->v.dst_len, lpm->v.nh_id) : 0;
	if (word != want && t->wrong++ < 5)
		printf("# table %u %08x: arrays give %08x (%u words), longest prefix %08x/%u gives %08x\n",
		       table, addr, word, levels, lpm ? rec_addr(lpm) : 0, lpm ? rec_plen(lpm) : 0, want);
}

/* Some lookups, each answered with the longest prefix match. */
static bool lookups_right(const struct tally *t)
{
	return t->lookups && !t->wrong && !t->unanswered && t->leaf == t->lookups;
}

/* Every slot with a table to look up, at addresses around each route of its table and at
 * random ones. */
static struct tally check_arrays(const struct recs *rs, const struct arrays *a, size_t nrandom)
{
	struct tally t = { 0 };

	for (uint32_t slot = 0; slot < STEER_FIB4_SLOTS; slot++) {
		if (!a->owner[slot] || (a->b && !a->b->l1[slot]))
			continue;
		for (size_t i = 0; i < rs->n; i++) {
			const struct rec *r = &rs->r[i];
			uint32_t first, last;

			if (r->k.family != STEER_AF_INET || r->k.table != a->owner[slot])
				continue;
			first = rec_addr(r);
			last = first | ~mask_of(rec_plen(r));
			check_addr(rs, a, slot, first, &t);
			check_addr(rs, a, slot, last, &t);
			check_addr(rs, a, slot, first - 1, &t);
			check_addr(rs, a, slot, last + 1, &t);
		}
		for (size_t i = 0; i < nrandom; i++) {
			uint32_t addr;

			if (i % 2) {
				addr = (uint32_t)rnd();
			} else {	/* near a random route of any table: where prefixes nest */
				const struct rec *r = &rs->r[rnd_below((uint32_t)rs->n)];

				addr = r->k.family == STEER_AF_INET ? rec_addr(r) | ((uint32_t)rnd() & ~mask_of(rec_plen(r)))
								    : (uint32_t)rnd();
			}
			check_addr(rs, a, slot, addr, &t);
		}
	}
	return t;
}

/* Every owned slot of a build. */
static struct tally check_lookups(const struct recs *rs, const struct fib4_build *b,
				  size_t nrandom)
{
	return check_arrays(rs, &(struct arrays){ .owner = b->owner, .b = b }, nrandom);
}

/* The arrays' own shape: owned slots have an L1 array and no other does; each chunk is named
 * by exactly one word, the one its key says (level 2: its slot's L1 word of its /16; level
 * 3: the word of its /24's third byte in the level-2 chunk of its /16), and keys are unique;
 * no level-3 word names a chunk; no word anywhere is STEER_FIB4_TRIE. */
struct shape {
	size_t naming, bad_index, bad_key, deep;
	unsigned *named;	/* per chunk: how many words name it */
};

/* Counts word w, found where a chunk of key would be named: the chunk to walk into (named
 * for the first time), or -1. */
static long shape_word(const struct fib4_build *b, struct shape *sh, uint32_t w, uint64_t key)
{
	uint32_t i = w & ~STEER_FIB4_CHUNK;

	if (!STEER_FIB4_NAMES_CHUNK(w))
		return -1;
	sh->naming++;
	if (i >= b->nchunks) {
		sh->bad_index++;
		return -1;
	}
	sh->bad_key += b->at[i].key != key;
	return sh->named[i]++ ? -1 : (long)i;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void check_shape(const struct fib4_build *b, const char *what)
{
	struct shape sh = { .named = calloc(b->nchunks + 1, sizeof(*sh.named)) };
	uint64_t *keys = calloc(b->nchunks + 1, sizeof(*keys));
	size_t bad_l1 = 0, bad_owner = 0, trie = 0, not_once = 0, twice = 0;

	if (!sh.named || !keys)
		abort();
	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
		if (!!b->owner[s] != !!b->l1[s])
			bad_l1++;
		if (b->owner[s] && b->owner[s] % STEER_FIB4_SLOTS != s)
			bad_owner++;
		for (uint32_t hi = 0; b->l1[s] && hi < 65536; hi++) {
			long c = shape_word(b, &sh, b->l1[s][hi], KEY(2, s, hi));

			trie += b->l1[s][hi] == STEER_FIB4_TRIE;
			for (uint32_t lo = 0; c >= 0 && lo < 256; lo++) {
				long d = shape_word(b, &sh, b->chunks[c].leaf[lo], KEY(3, s, hi << 8 | lo));

				for (uint32_t x = 0; d >= 0 && x < 256; x++)
					sh.deep += STEER_FIB4_NAMES_CHUNK(b->chunks[d].leaf[x]);
			}
		}
	}
	for (size_t i = 0; i < b->nchunks; i++) {
		for (int j = 0; j < 256; j++)
			trie += b->chunks[i].leaf[j] == STEER_FIB4_TRIE;
		not_once += sh.named[i] != 1;
		keys[i] = b->at[i].key;
	}
	qsort(keys, b->nchunks, sizeof(*keys), cmp_u64);
	for (size_t i = 1; i < b->nchunks; i++)
		twice += keys[i - 1] == keys[i];
	CHECK(!bad_l1 && !bad_owner, "%s: a slot has an L1 array iff it has an owner, of that slot",
	      what);
	CHECK(!trie, "%s: no word is STEER_FIB4_TRIE (%zu are)", what, trie);
	CHECK(!sh.bad_index && !sh.bad_key,
	      "%s: every word naming a chunk names one of the build, with the key of where it is named"
	      " (%zu past %zu chunks, %zu keys elsewhere)", what, sh.bad_index, b->nchunks, sh.bad_key);
	CHECK(!not_once && !twice, "%s: each chunk named by exactly one word, keys unique"
	      " (%zu named not once, %zu keys twice)", what, not_once, twice);
	CHECK(!sh.deep, "%s: no level-3 word names a chunk (%zu do)", what, sh.deep);
	CHECK(sh.naming == b->nchunks, "%s: as many chunks as words naming one (%zu words, %zu chunks)",
	      what, sh.naming, b->nchunks);
	free(sh.named);
	free(keys);
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

/* The /16s and /24s (third bytes) the seed chose, where routes nest: 10.0/16 and the last
 * /16 (last + 1 wraps), third bytes 0 and 255 among them. */
struct pools {
	uint32_t p16[24];
	uint8_t p24[8];
};

static void pools_init(struct pools *p)
{
	for (size_t i = 0; i < sizeof(p->p16) / sizeof(*p->p16); i++)
		p->p16[i] = rnd_below(65536);
	p->p16[0] = 0x0a00;
	p->p16[1] = 0xffff;
	for (size_t i = 0; i < sizeof(p->p24); i++)
		p->p24[i] = (uint8_t)rnd_below(256);
	p->p24[0] = 0;
	p->p24[1] = 255;
}

/* An address in the pools, or anywhere. */
static uint32_t rnd_addr(const struct pools *p)
{
	if (rnd_below(10) < 3)
		return (uint32_t)rnd();
	return p->p16[rnd_below(sizeof(p->p16) / sizeof(*p->p16))] << 16 |
	       (uint32_t)p->p24[rnd_below(sizeof(p->p24))] << 8 | rnd_below(256);
}

static void add_random_v4(struct recs *rs, uint32_t table, size_t count, const struct pools *p)
{
	for (size_t added = 0; added < count;) {
		unsigned plen = rnd_plen();
		uint32_t a = rnd_addr(p);
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
	struct pools p;
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
	pools_init(&p);
	add_random_v4(&rs, 255, 900, &p);
	add_random_v4(&rs, 254, 600, &p);
	add_random_v4(&rs, 100, n100, &p);
	add_random_v4(&rs, 116, n116, &p);
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
	CHECK(!t.unanswered, "%s: the arrays answer every lookup (%zu of %zu not)", what, t.unanswered,
	      t.lookups);
	CHECK(!t.wrong, "%s: every leaf is the longest prefix match (%zu of %zu wrong)", what, t.wrong,
	      t.leaf);
	CHECK(t.lookups > 50000 && t.via2 * 4 >= t.lookups && t.via3 * 10 >= t.lookups,
	      "%s: not vacuous: %zu lookups, %zu through a level-2 chunk, %zu through a level-3 one",
	      what, t.lookups, t.via2, t.via3);
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

/* n routes of table, the first at base, each step past the one before, FORWARD with ids
 * nh, nh + 1, ... */
struct span {
	uint32_t table, base, step, n;
	unsigned plen;
};

static void push_span(struct recs *rs, const struct span *s, uint32_t nh)
{
	for (uint32_t i = 0; i < s->n; i++) {
		struct rec r = v4(s->table, s->base + i * s->step, s->plen, STEER_RT_FORWARD, nh + i);

		recs_push(rs, &r);
	}
}

/* count routes of table: a /16 each, from base on */
static void push_n(struct recs *rs, uint32_t table, uint32_t base16, size_t count, unsigned plen)
{
	push_span(rs, &(struct span){ table, base16 << 16 | 0x0100, 1u << 16, (uint32_t)count, plen }, 1);
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
		CHECK(lookups_right(&t), "%s: lookups right", cases[c].what);
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
	CHECK(lookups_right(&t), "unfit ids: lookups right");
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

#define SPANS 5

/* The routes of spans (up to SPANS, the first n == 0 ends them) built with at most limit
 * chunks: the owners of the slots, how many tables are left out, how many chunks and how
 * many of them of level 3 must be as said; the lookups right, some through a level-3 chunk
 * if there are any. */
static void check_capacity(const char *what, const struct span *spans, uint32_t limit,
			   const uint32_t *owner, size_t left_out, size_t nchunks, size_t level3)
{
	struct recs rs = { 0 };
	struct fib4_build b;
	struct tally t;
	size_t owners_ok = 0, owned = 0, n3 = 0;
	char at[96];
	int r;

	for (int i = 0; i < SPANS && spans[i].n; i++)
		push_span(&rs, &spans[i], 100 * (uint32_t)i + 1);
	snprintf(at, sizeof(at), "%s, at most %u chunks", what, limit);
	r = build(&rs, limit, &b);
	CHECK(r == 0, "%s: fib4_build() returns 0 (got %d)", at, r);
	if (r) {
		free(rs.r);
		return;
	}
	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++)
		owners_ok += b.owner[s] == owner[s], owned += !!owner[s];
	for (size_t i = 0; i < b.nchunks; i++)
		n3 += KEY_LEVEL(b.at[i].key) == 3;
	CHECK(owners_ok == STEER_FIB4_SLOTS,
	      "%s: slot 4 owned by %u, 14 by %u, 15 by %u (are %u, %u, %u; %zu of 16 slots right)", at,
	      owner[4], owner[14], owner[15], b.owner[4], b.owner[14], b.owner[15], owners_ok);
	CHECK(b.left_out == left_out && b.nchunks == nchunks && n3 == level3,
	      "%s: %zu left out (%zu), %zu chunks (%zu), %zu of level 3 (%zu)", at, left_out,
	      b.left_out, nchunks, b.nchunks, level3, n3);
	check_shape(&b, at);
	t = check_lookups(&rs, &b, 2000);
	CHECK((owned ? lookups_right(&t) : !t.lookups) && (t.via3 > 0) == (level3 > 0),
	      "%s: lookups right (%zu; %zu wrong, %zu unanswered), %zu through a level-3 chunk", at,
	      t.lookups, t.wrong, t.unanswered, t.via3);
	fib4_build_free(&b);
	free(rs.r);
}

static void test_capacity(void)
{
	/* A /17 to /24 needs the level-2 chunk of its /16; a /25 to /32 that and the level-3
	 * chunk of its /24 too. */
	static const struct {
		const char *what;
		struct span s[SPANS];
		uint32_t limit, owner[STEER_FIB4_SLOTS];
		size_t left_out, nchunks, level3;
	} cases[] = {
		{ "255 needs 10 (a /24 in each of 10 /16s), 254 4 (a /25 in each of 2), 100 none",
		  { { 255, 0x0a000100, 1u << 16, 10, 24 }, { 254, 0x0b000100, 1u << 16, 2, 25 },
		    { 254, 0, 0, 1, 0 }, { 254, 0x0b000000, 0, 1, 8 }, { 100, 0x0c000000, 1u << 16, 4, 16 } },
		  5, { [4] = 100, [14] = 254 }, 1, 4, 2 },
		{ "2 + 2 needed: 255 (3 routes) in, 254 (a /25) out",
		  { { 255, 0x0a000100, 1u << 16, 2, 24 }, { 255, 0x01000000, 0, 1, 8 }, { 254, 0x0b000100, 0, 1, 25 } },
		  3, { [15] = 255 }, 1, 2, 0 },
		{ "2 + 2 needed: both in",
		  { { 255, 0x0a000100, 1u << 16, 2, 24 }, { 255, 0x01000000, 0, 1, 8 }, { 254, 0x0b000100, 0, 1, 25 } },
		  4, { [14] = 254, [15] = 255 }, 0, 4, 1 },
		{ "100 needs 5, so 116 (a /26: 2) takes slot 4",
		  { { 100, 0x0a000100, 1u << 16, 5, 24 }, { 116, 0x0b000140, 0, 1, 26 } },
		  3, { [4] = 116 }, 1, 2, 1 },
		{ "/16s own a slot, a /17 does not",
		  { { 254, 0x0a000000, 1u << 16, 3, 16 }, { 255, 0x0b000000, 0, 1, 17 } },
		  0, { [14] = 254 }, 1, 0, 0 },
	};
	/* Table 254 alone, needing need chunks (level3 of them of level 3): left out at one
	 * fewer, in at need. */
	static const struct {
		const char *what;
		struct span s[SPANS];
		size_t need, level3;
	} needs[] = {
		{ "a /24", { { 254, 0x0a000100, 0, 1, 24 } }, 1, 0 },
		{ "two /25s of a /24", { { 254, 0x0a000100, 128, 2, 25 } }, 2, 1 },
		{ "a /25 in each of 3 /24s of a /16", { { 254, 0x0a000000, 256, 3, 25 } }, 4, 3 },
		{ "a /32 in each of 3 /16s", { { 254, 0x0a000001, 1u << 16, 3, 32 } }, 6, 3 },
		{ "a /20 and a /28 in it", { { 254, 0x0a001000, 0, 1, 20 }, { 254, 0x0a001110, 0, 1, 28 } }, 2, 1 },
		{ "/23s, /24s and /26s of one /16, /8s and /16s",
		  { { 254, 0x0a000000, 512, 4, 23 }, { 254, 0x0a000100, 512, 4, 24 },
		    { 254, 0x0a000240, 1024, 2, 26 }, { 254, 0x01000000, 1u << 24, 3, 8 },
		    { 254, 0x0b000000, 1u << 16, 3, 16 } }, 3, 2 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		check_capacity(cases[c].what, cases[c].s, cases[c].limit, cases[c].owner,
			       cases[c].left_out, cases[c].nchunks, cases[c].level3);
	for (size_t c = 0; c < sizeof(needs) / sizeof(needs[0]); c++)
		for (size_t fits = 0; fits < 2; fits++) {
			uint32_t owner[STEER_FIB4_SLOTS] = { [14] = fits ? 254 : 0 };

			check_capacity(needs[c].what, needs[c].s, (uint32_t)(needs[c].need - 1 + fits),
				       owner, !fits, fits ? needs[c].need : 0, fits ? needs[c].level3 : 0);
		}
}

/* ---- the apply path, against real maps ---- */

/* The tables of the rounds: 100 and 116 share slot 4, 3 and 19 slot 3. */
static const uint32_t run_tables[] = { 255, 254, 100, 116, 3, 19 };
#define RUN_TABLES (sizeof(run_tables) / sizeof(*run_tables))
#define ROUNDS 60

/* A run: two maps as steerd makes them, the fib4 that writes them, what they hold (the
 * build of the records last committed, at the maps' chunk limit) and what went wrong. */
struct run {
	int fd, chunk_fd;
	uint32_t max_chunks;
	struct fib4 f;
	struct fib4_build now;
	uint32_t held;			/* the table held() keeps closed; 0: none */
	unsigned kept_closed;		/* the slots the last commit left closed, a bit each */
	size_t writes;			/* what the last commit wrote */
	int round;
	size_t notes;
	size_t begin_wrong, seq_wrong, owner_wrong, verify_wrong, commit_wrong, answered, restart_wrong;
	struct tally t;			/* the lookups of every apply */
	/* not vacuous: applies that closed some slots and none, rounds a slot was owned
	 * and a table left out, an owner of slot 3 or 4 giving way to another */
	size_t applies, closing, quiet, owned, left_out, handovers, restarts;
};

/* One thing wrong, counted; the first few said. */
static void note(struct run *r, size_t *count, const char *fmt, ...)
{
	va_list ap;

	++*count;
	if (r->notes++ >= 10)
		return;
	printf("# %u chunks, round %d: ", r->max_chunks, r->round);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static bool held_table(void *arg, uint32_t table)
{
	return table == *(const uint32_t *)arg;
}

static uint32_t seq_of(const struct run *r, uint32_t slot)
{
	return map_word(r->fd, STEER_FIB4_SEQ(slot));
}

/* The slots whose sequence number is odd, a bit each. */
static unsigned odd_slots(const struct run *r)
{
	unsigned odd = 0;

	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++)
		odd |= (seq_of(r, s) & 1) << s;
	return odd;
}

/* Whether n words of build a and of build b answer alike: the same leaves where they are
 * leaves, chunks holding alike where they name chunks. */
static bool words_alike(const struct fib4_build *a, const uint32_t *x, const struct fib4_build *b,
			const uint32_t *y, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!STEER_FIB4_NAMES_CHUNK(x[i]) || !STEER_FIB4_NAMES_CHUNK(y[i])) {
			if (x[i] != y[i])
				return false;
		} else if (!words_alike(a, a->chunks[x[i] & ~STEER_FIB4_CHUNK].leaf, b,
					b->chunks[y[i] & ~STEER_FIB4_CHUNK].leaf, 256)) {
			return false;
		}
	}
	return true;
}

/* The slots an apply of next must close, a bit each: those closed now, and those next
 * gives another owner or other words than the maps hold. */
static unsigned changed_slots(const struct run *r, const struct fib4_build *next)
{
	unsigned changed = odd_slots(r);

	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++)
		if (r->now.owner[s] != next->owner[s] ||
		    (next->owner[s] && !words_alike(&r->now, r->now.l1[s], next, next->l1[s], 65536)))
			changed |= 1u << s;
	return changed;
}

static int begin(struct run *r, const struct recs *rs)
{
	return fib4_begin(&r->f, rs->r, rs->n, sizeof(struct rec), offsetof(struct rec, v));
}

static long verify(const struct run *r, const struct recs *rs)
{
	return fib4_verify(r->fd, r->chunk_fd, rs->r, rs->n, sizeof(struct rec), offsetof(struct rec, v));
}

/* After a commit: every slot open but those held() kept closed, each owned by the table
 * fib4_build() chooses; fib4_verify() finds nothing; the owners of the open slots get the
 * longest prefix match, every other table no answer (the trie gives it). */
static void check_maps(struct run *r, const struct recs *rs)
{
	uint32_t owner[STEER_FIB4_SLOTS];
	struct tally t;
	long v;

	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
		uint32_t seq = seq_of(r, s), o = map_word(r->fd, STEER_FIB4_OWNER(s));

		if ((seq & 1) != (r->kept_closed >> s & 1))
			note(r, &r->seq_wrong, "slot %u (owner %u, held %u): seq %u after fib4_commit()", s,
			     o, r->held, seq);
		if (o != r->now.owner[s])
			note(r, &r->owner_wrong, "slot %u: owner word %u, fib4_build() chooses %u", s, o,
			     r->now.owner[s]);
		owner[s] = r->kept_closed >> s & 1 ? 0 : r->now.owner[s];
		r->owned += !!owner[s];
	}
	v = verify(r, rs);
	if (v)
		note(r, &r->verify_wrong, "fib4_verify() returns %ld after fib4_commit()", v);
	t = check_arrays(rs, &(struct arrays){ .owner = owner, .fd = r->fd, .chunk_fd = r->chunk_fd }, 100);
	r->t.lookups += t.lookups, r->t.leaf += t.leaf, r->t.wrong += t.wrong;
	r->t.unanswered += t.unanswered, r->t.via2 += t.via2, r->t.via3 += t.via3;
	for (size_t k = 0; k < RUN_TABLES; k++) {
		uint32_t table = run_tables[k], w;
		unsigned levels;
		int st;

		if (owner[table % STEER_FIB4_SLOTS] == table)
			continue;
		st = arr_lookup(&(struct arrays){ .fd = r->fd, .chunk_fd = r->chunk_fd }, table,
				(uint32_t)rnd(), &w, &levels);
		if (st != LK_CLOSED)
			note(r, &r->answered, "table %u owns no open slot, yet the arrays answer (%s)",
			     table, lk_why[st]);
	}
	r->left_out += r->now.left_out > 0;
}

/* fib4_begin() and fib4_commit() of rs, held() keeping held's slot closed: begin closes
 * exactly the slots changed_slots() says, commit writes nothing if it closed none, and the
 * maps are as check_maps() wants them. Returns what begin returned. */
static int apply(struct run *r, const struct recs *rs, uint32_t held)
{
	struct fib4_build next;
	unsigned changed;
	int closed;

	if (build(rs, r->max_chunks, &next))
		abort();
	changed = changed_slots(r, &next);
	closed = begin(r, rs);
	if (closed != __builtin_popcount(changed) || odd_slots(r) != changed)
		note(r, &r->begin_wrong, "fib4_begin() returns %d, the odd slots %#x; changed: %#x",
		     closed, odd_slots(r), changed);
	r->held = held;
	r->writes = fib4_commit(&r->f, held_table, &r->held);
	if (!changed && r->writes)
		note(r, &r->commit_wrong, "fib4_commit() wrote %zu words and chunks, nothing changed",
		     r->writes);
	r->kept_closed = 0;
	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
		if (held && changed >> s & 1 && next.owner[s] == held)
			r->kept_closed |= 1u << s;
		if ((s == 3 || s == 4) && r->now.owner[s] && next.owner[s] &&
		    r->now.owner[s] != next.owner[s])
			r->handovers++;
	}
	r->applies++;
	r->closing += closed > 0;
	r->quiet += closed == 0;
	fib4_build_free(&r->now);
	r->now = next;
	check_maps(r, rs);
	return closed;
}

/* steerd restarts: a new fib4 on the same maps takes their chunks, and the same records
 * close nothing and write nothing. */
static void restart(struct run *r, const struct recs *rs)
{
	int e, closed;

	fib4_free(&r->f);
	e = fib4_init(&r->f, r->fd, r->chunk_fd);
	closed = apply(r, rs, 0);
	if (e || closed || r->writes)
		note(r, &r->restart_wrong, "after a restart fib4_init() returns %d; the same records "
		     "close %d slots, write %zu words and chunks", e, closed, r->writes);
	r->restarts++;
}

/* Per table: none, some or all of its routes removed, some changed (type, next hop), some
 * added. */
static void mutate(struct recs *rs, const struct pools *p)
{
	for (size_t k = 0; k < RUN_TABLES; k++) {
		uint32_t how = rnd_below(16), drop = how == 1 ? 32 : rnd_below(8);

		if (!how)
			continue;
		for (size_t i = rs->n; i-- > 0;) {
			struct rec *x = &rs->r[i];

			if (x->k.table != run_tables[k])
				continue;
			if (rnd_below(32) < drop) {
				*x = rs->r[--rs->n];
			} else if (!rnd_below(16)) {
				x->v.type = rtypes[rnd_below(sizeof(rtypes))];
				x->v.nh_id = rnd_below(1u << 20);
			}
		}
		add_random_v4(rs, run_tables[k], rnd_below(how < 8 ? 10 : 40), p);
	}
	if (!rnd_below(8))
		shuffle(rs);
}

static void drop_table(struct recs *rs, uint32_t table, unsigned above)
{
	for (size_t i = rs->n; i-- > 0;)
		if (rs->r[i].k.table == table && rec_plen(&rs->r[i]) > above)
			rs->r[i] = rs->r[--rs->n];
}

/* Table 100 takes slot 4 (116 has no routes, 100 only /16 and shorter: no chunk), then
 * holds it closed: fib4_close_table() closes only its slot, an apply that holds 100 leaves
 * it closed, the next that does not opens it. */
static void test_held(struct run *r, struct recs *rs, const char *at)
{
	unsigned odd;
	int closed;

	drop_table(rs, 116, 0);
	drop_table(rs, 100, 16);
	if (!has_v4(rs, 100, 0x0b000000, 8))
		push4(rs, 100, "11.0.0.0", 8, STEER_RT_FORWARD, 7);
	apply(r, rs, 0);
	CHECK(r->now.owner[4] == 100 && map_word(r->fd, STEER_FIB4_OWNER(4)) == 100 && !odd_slots(r),
	      "%s: table 100 owns slot 4, every slot open (owner %u, odd slots %#x)", at,
	      map_word(r->fd, STEER_FIB4_OWNER(4)), odd_slots(r));
	fib4_close_table(&r->f, 116);
	fib4_close_table(&r->f, r->now.owner[3] == 3 ? 19 : 3);
	fib4_close_table(&r->f, 7);
	odd = odd_slots(r);
	fib4_close_table(&r->f, 100);
	CHECK(!odd && odd_slots(r) == 1u << 4,
	      "%s: fib4_close_table() of tables owning no slot closes none (%#x), of 100 slot 4 (%#x)",
	      at, odd, odd_slots(r));
	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].k.table == 100) {
			rs->r[i].v.nh_id ^= 1;
			break;
		}
	closed = apply(r, rs, 100);
	CHECK(closed == 1 && odd_slots(r) == 1u << 4 && map_word(r->fd, STEER_FIB4_OWNER(4)) == 100,
	      "%s: an apply holding 100 closes slot 4 (%d closed) and leaves it closed, owned by 100 "
	      "(odd slots %#x)", at, closed, odd_slots(r));
	closed = apply(r, rs, 0);
	CHECK(closed == 1 && !odd_slots(r),
	      "%s: the next apply holding nothing opens it (%d closed, odd slots %#x)", at, closed,
	      odd_slots(r));
}

/* A word of the maps changed behind fib4's back (at index i of map fd, value_size bytes):
 * flips bit 0 of word pos of value i. */
static void flip(int fd, uint32_t i, uint32_t pos)
{
	struct steer_fib4_chunk c;

	if (bpf_map_lookup_elem(fd, &i, &c))
		abort();
	c.leaf[pos] ^= 1;
	if (bpf_map_update_elem(fd, &i, &c, BPF_ANY))
		abort();
}

/* Word pos of entry i of map fd (of slot's) flipped: fib4_verify() finds it, and not once
 * it is back. Flipped again (and steerd restarted, when restarts is 1: fib4_init() takes
 * the chunks the maps name), fib4_begin() closes its slot and fib4_commit() writes the one
 * entry back. */
static void drifted(struct run *r, const struct recs *rs, int fd, uint32_t i, uint32_t pos,
		    uint32_t slot, int restarts, const char *what, const char *at)
{
	long bad, back;
	unsigned odd;
	int closed;

	flip(fd, i, pos);
	bad = verify(r, rs);
	flip(fd, i, pos);
	back = verify(r, rs);
	CHECK(bad == 1 && back == 0, "%s: %s (slot %u) flipped: fib4_verify() finds %ld, "
	      "flipped back %ld", at, what, slot, bad, back);
	for (int restarted = 0; restarted <= restarts; restarted++) {
		flip(fd, i, pos);
		if (restarted) {
			fib4_free(&r->f);
			fib4_init(&r->f, r->fd, r->chunk_fd);
		}
		closed = begin(r, rs);
		odd = odd_slots(r);
		r->writes = fib4_commit(&r->f, NULL, NULL);
		bad = verify(r, rs);
		CHECK(closed == 1 && odd == 1u << slot && r->writes == 1 && !bad && !odd_slots(r),
		      "%s%s: fib4_begin() closes the slot of %s flipped (%d, odd slots %#x), "
		      "fib4_commit() rewrites it (%zu writes), fib4_verify() %ld", at,
		      restarted ? ", restarted" : "", what, closed, odd, r->writes, bad);
	}
}

/* A word of an open owned slot changed behind fib4's back: an L1 word, and a chunk's word. */
static void test_drift(struct run *r, const struct recs *rs, const char *at)
{
	uint32_t slot = 4, hi = rnd_below(65536), idx = 0, pos = 0;
	bool found = false;
	char what[64];

	while (STEER_FIB4_NAMES_CHUNK(r->now.l1[slot][hi]))
		hi = (hi + 1) % 65536;
	snprintf(what, sizeof(what), "L1 word %#x", hi);
	drifted(r, rs, r->fd, slot << 16 | hi, 0, slot, 0, what, at);

	/* the first word of a level-2 chunk that is a leaf */
	for (slot = 0; slot < STEER_FIB4_SLOTS && !found; slot++)
		for (hi = 0; r->now.owner[slot] && hi < 65536 && !found; hi++) {
			uint32_t w = r->now.l1[slot][hi];

			if (!STEER_FIB4_NAMES_CHUNK(w))
				continue;
			for (pos = 0; pos < 256 && STEER_FIB4_NAMES_CHUNK(r->now.chunks[w & ~STEER_FIB4_CHUNK].leaf[pos]);)
				pos++;
			found = pos < 256;
			if (found)
				idx = map_word(r->fd, slot << 16 | hi) & ~STEER_FIB4_CHUNK;
		}
	if (!found) {
		printf("# %s: no owned slot names a chunk: no chunk flipped\n", at);
		return;
	}
	snprintf(what, sizeof(what), "word %u of chunk %u", pos, idx);
	drifted(r, rs, r->chunk_fd, idx, pos, slot - 1, 1, what, at);
}

/* An apply that fails: fib4_abort() leaves the slots fib4_begin() closed closed and the
 * others as they were; the next apply opens them, of the records before or of the new. */
static void test_abort(struct run *r, struct recs *rs, const struct pools *p, const char *at)
{
	struct recs before = { .n = rs->n, .cap = rs->n + 1 };
	struct fib4_build next;
	unsigned changed, odd;
	long v_new, v_before;
	int closed;

	before.r = malloc(before.cap * sizeof(*before.r));
	if (!before.r)
		abort();
	memcpy(before.r, rs->r, rs->n * sizeof(*rs->r));
	push4(rs, 100, "12.0.0.0", 8, STEER_RT_BLACKHOLE, 0);	/* slot 4 changes */
	add_random_v4(rs, 255, 5, p);
	add_random_v4(rs, 3, 5, p);
	if (build(rs, r->max_chunks, &next))
		abort();
	changed = changed_slots(r, &next);
	fib4_build_free(&next);
	closed = begin(r, rs);
	odd = odd_slots(r);
	fib4_abort(&r->f);
	v_new = verify(r, rs);
	v_before = verify(r, &before);
	CHECK(changed >> 4 & 1 && closed == __builtin_popcount(changed) && odd == changed &&
	      odd_slots(r) == odd && !v_new && !v_before,
	      "%s: fib4_begin() closes the slots that change (%d: %#x, want %#x), fib4_abort() leaves "
	      "them closed (%#x), the open ones as either record set has them (fib4_verify() %ld, %ld)",
	      at, closed, odd, changed, odd_slots(r), v_new, v_before);
	closed = apply(r, &before, 0);
	CHECK(closed == __builtin_popcount(odd) && !odd_slots(r),
	      "%s: then an apply of the records before closes (%d) and opens them (odd slots %#x)", at,
	      closed, odd_slots(r));
	closed = apply(r, rs, 0);
	CHECK(closed == __builtin_popcount(odd) && !odd_slots(r),
	      "%s: and one of the new records does as well (%d, odd slots %#x)", at, closed,
	      odd_slots(r));
	free(before.r);
}

/* Two maps as steerd makes them, of max_chunks chunks; ROUNDS applies of a route set
 * changing at random, a restart every ten; then a held slot, words changed behind fib4's
 * back and a failed apply. */
static void test_apply(uint32_t max_chunks, uint64_t seed)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	struct run r = { .max_chunks = max_chunks };
	struct recs rs = { 0 };
	struct pools p;
	char at[32];
	int e;

	snprintf(at, sizeof(at), "maps of %u chunks", max_chunks);
	r.fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_fib4", 4, 4, STEER_FIB4_WORDS, &opts);
	e = r.fd < 0 ? errno : 0;
	r.chunk_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_fib4_chunk", 4,
				    sizeof(struct steer_fib4_chunk), max_chunks, &opts);
	e = e ? e : r.chunk_fd < 0 ? errno : 0;
	CHECK(r.fd >= 0 && r.chunk_fd >= 0, "%s: bpf_map_create() makes them (%s)", at,
	      e ? strerror(e) : "made");
	e = r.fd >= 0 && r.chunk_fd >= 0 ? fib4_init(&r.f, r.fd, r.chunk_fd) : -EBADF;
	CHECK(e == 0 && r.f.words, "%s: fib4_init() maps them (%d)", at, e);
	if (e || !r.f.words)
		goto out;

	rng_state = seed;
	pools_init(&p);
	for (size_t k = 0; k < RUN_TABLES; k++)
		add_random_v4(&rs, run_tables[k], 120 - 15 * k, &p);
	add_random_v6(&rs, 116, 40, true);
	for (r.round = 0; r.round < ROUNDS; r.round++) {
		if (r.round && rnd_below(10))
			mutate(&rs, &p);
		apply(&r, &rs, 0);
		if (r.round % 10 == 9)
			restart(&r, &rs);
	}
	test_held(&r, &rs, at);
	test_drift(&r, &rs, at);
	test_abort(&r, &rs, &p, at);

	CHECK(!r.begin_wrong, "%s: %zu applies: fib4_begin() closes exactly the slots closed or "
	      "changed (%zu wrong)", at, r.applies, r.begin_wrong);
	CHECK(!r.seq_wrong && !r.owner_wrong, "%s: after fib4_commit() every slot open but one held, "
	      "owned by the table fib4_build() chooses (%zu, %zu wrong)", at, r.seq_wrong, r.owner_wrong);
	CHECK(!r.commit_wrong, "%s: fib4_commit() writes nothing after closing nothing (%zu wrong)", at,
	      r.commit_wrong);
	CHECK(!r.verify_wrong, "%s: fib4_verify() finds nothing after fib4_commit() (%zu wrong)", at,
	      r.verify_wrong);
	CHECK(!r.restart_wrong, "%s: %zu restarts: fib4_init() on the maps, then the same records close "
	      "and write nothing (%zu wrong)", at, r.restarts, r.restart_wrong);
	CHECK(lookups_right(&r.t), "%s: every lookup of an open slot's owner, read as the datapath "
	      "does, gives the longest prefix match (%zu lookups; %zu wrong, %zu unanswered)", at,
	      r.t.lookups, r.t.wrong, r.t.unanswered);
	CHECK(!r.answered, "%s: tables that own no open slot get no answer (%zu do)", at, r.answered);
	CHECK(r.closing && r.quiet && r.owned && r.handovers && r.t.via3 &&
	      (max_chunks < 1000 ? r.left_out > 0 : !r.left_out),
	      "%s: not vacuous: %zu applies closing slots, %zu none; %zu owned open slots; slot 3 or 4 "
	      "changed owner %zu times; %zu lookups through a level-3 chunk; %zu applies left a table out",
	      at, r.closing, r.quiet, r.owned, r.handovers, r.t.via3, r.left_out);
out:
	fib4_free(&r.f);
	fib4_build_free(&r.now);
	free(rs.r);
	if (r.fd >= 0)
		close(r.fd);
	if (r.chunk_fd >= 0)
		close(r.chunk_fd);
}

int main(void)
{
	for (uint64_t seed = 1; seed <= 6; seed++)
		test_random(seed);
	test_owners();
	test_capacity();
	test_apply(4096, 11);
	test_apply(40, 12);
	return test_done();
}
