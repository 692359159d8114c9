/* The IPv4 route arrays (see fib4.h). */
#include "fib4.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

#define L1_WORDS 65536u

/* One IPv4 route of a table, as the arrays take it. */
struct fib4_route {
	uint32_t addr;		/* host order */
	uint8_t plen;
	uint32_t leaf;
};

/* A table's IPv4 routes, while building. */
struct fib4_table {
	uint32_t table;
	bool unfit;		/* a route the leaf cannot hold (an id too large) */
	struct fib4_route *routes;
	size_t n, cap;
};

static int cmp_route(const void *a, const void *b)
{
	const struct fib4_route *x = a, *y = b;

	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The tables' IPv4 routes, grouped by table. */
static int collect(const void *recs, size_t n, size_t rec_size, size_t val_off,
		   struct fib4_table **out, size_t *nout)
{
	struct fib4_table *t = NULL, *cur = NULL;
	size_t nt = 0;

	for (size_t i = 0; i < n; i++) {
		const char *rec = (const char *)recs + i * rec_size;
		const struct steer_route_key *k = (const void *)rec;
		const struct steer_route *v = (const void *)(rec + val_off);
		struct fib4_route r;
		uint32_t a;

		if (k->family != STEER_AF_INET)
			continue;
		if (!cur || cur->table != k->table) {
			cur = NULL;
			for (size_t j = 0; j < nt; j++)
				if (t[j].table == k->table)
					cur = &t[j];
		}
		if (!cur) {
			struct fib4_table *g = realloc(t, (nt + 1) * sizeof(*t));

			if (!g)
				goto nomem;
			t = g;
			cur = &t[nt++];
			*cur = (struct fib4_table){ .table = k->table };
		}
		memcpy(&a, k->addr, 4);
		r = (struct fib4_route){ .addr = ntohl(a), .plen = (uint8_t)(k->prefixlen - STEER_ROUTE_KEY_BITS(0)) };
		if (r.plen > 32 || v->type > 15 || v->nh_id >= 1u << STEER_FIB4_NH_BITS || !v->type)
			cur->unfit = true;
		else
			r.leaf = STEER_FIB4_LEAF(v->type, v->dst_len, v->nh_id);
		if (cur->n == cur->cap) {
			size_t cap = cur->cap ? 2 * cur->cap : 64;
			struct fib4_route *g = realloc(cur->routes, cap * sizeof(*g));

			if (!g)
				goto nomem;
			cur->routes = g;
			cur->cap = cap;
		}
		cur->routes[cur->n++] = r;
	}
	*out = t;
	*nout = nt;
	return 0;
nomem:
	for (size_t j = 0; j < nt; j++)
		free(t[j].routes);
	free(t);
	return -ENOMEM;
}

/* Slot first: a slot's chunks stand together in a list sorted by key. */
#define KEY(level, slot, prefix) ((uint64_t)(slot) << 40 | (uint64_t)(level) << 32 | (prefix))
#define KEY_SLOT(key) ((uint32_t)((key) >> 40))
#define KEY_LEVEL(key) ((uint32_t)((key) >> 32 & 0xff))

/* Appends a chunk at key, every word fill; its index, or -1. */
static long new_chunk(struct fib4_build *b, size_t *cap, uint64_t key, uint32_t fill)
{
	if (b->nchunks == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct steer_fib4_chunk *g = realloc(b->chunks, ncap * sizeof(*g));
		struct fib4_chunk *a;

		if (!g)
			return -1;
		b->chunks = g;
		a = realloc(b->at, ncap * sizeof(*a));
		if (!a)
			return -1;
		b->at = a;
		*cap = ncap;
	}
	for (int i = 0; i < 256; i++)
		b->chunks[b->nchunks].leaf[i] = fill;
	b->at[b->nchunks] = (struct fib4_chunk){ .key = key };
	return (long)b->nchunks++;
}

/* The chunk that word pos of l1 (parent < 0) or of chunk parent names, made (every word
 * the one it replaces) if it names none yet: its index, -2 past max_chunks (counted from
 * first), -1 without memory. */
static long chunk_at(struct fib4_build *b, size_t *cap, uint32_t *l1, long parent, uint32_t pos,
		     uint64_t key, size_t first, uint32_t max_chunks)
{
	uint32_t w = parent < 0 ? l1[pos] : b->chunks[parent].leaf[pos];
	long c;

	if (STEER_FIB4_NAMES_CHUNK(w))
		return (long)(w & ~STEER_FIB4_CHUNK);
	if (b->nchunks - first >= max_chunks)
		return -2;
	c = new_chunk(b, cap, key, w);	/* moves b->chunks */
	if (c >= 0)
		*(parent < 0 ? &l1[pos] : &b->chunks[parent].leaf[pos]) = STEER_FIB4_CHUNK | (uint32_t)c;
	return c;
}

/* Paints leaf over the 2^(bits - plen) words of a range that starts at from. */
static void paint(uint32_t *words, uint32_t from, unsigned bits, unsigned plen, uint32_t leaf)
{
	from &= ~((1u << (bits - plen)) - 1);
	for (uint32_t j = 0; j < 1u << (bits - plen); j++)
		words[from + j] = leaf;
}

/* Lays table t's routes into slot: shortest prefixes first, so a longer one paints over the
 * shorter it lies in, as longest-prefix match chooses; a chunk starts as the word it
 * replaces said. 0, -ENOSPC past max_chunks, or -ENOMEM. */
static int lay_out(struct fib4_build *b, size_t *cap, uint32_t slot, struct fib4_table *t,
		   uint32_t max_chunks)
{
	size_t first = b->nchunks;
	uint32_t *l1 = calloc(L1_WORDS, sizeof(*l1));
	int r = 0;

	if (!l1)
		return -ENOMEM;
	b->l1[slot] = l1;
	qsort(t->routes, t->n, sizeof(*t->routes), cmp_route);
	for (size_t i = 0; i < t->n && !r; i++) {
		const struct fib4_route *rt = &t->routes[i];
		uint32_t hi = rt->addr >> 16, lo = rt->addr >> 8 & 0xff;
		long c;

		if (rt->plen <= 16) {
			paint(l1, hi, 16, rt->plen, rt->leaf);
			continue;
		}
		c = chunk_at(b, cap, l1, -1, hi, KEY(2, slot, hi), first, max_chunks);
		if (c >= 0 && rt->plen <= 24) {
			paint(b->chunks[c].leaf, lo, 8, rt->plen - 16, rt->leaf);
			continue;
		}
		if (c >= 0)	/* the address's own /24, a level down */
			c = chunk_at(b, cap, l1, c, lo, KEY(3, slot, rt->addr >> 8), first, max_chunks);
		if (c >= 0)
			paint(b->chunks[c].leaf, rt->addr & 0xff, 8, rt->plen - 24, rt->leaf);
		else
			r = c == -2 ? -ENOSPC : -ENOMEM;
	}
	if (r) {
		b->nchunks = first;
		free(l1);
		b->l1[slot] = NULL;
	}
	return r;
}

/* The slot's owner: of the tables that map to it, the one with most IPv4 routes (the
 * lowest id of those as many). */
static struct fib4_table *owner_of(struct fib4_table *t, size_t nt, uint32_t slot)
{
	struct fib4_table *best = NULL;

	for (size_t i = 0; i < nt; i++)
		if (t[i].table % STEER_FIB4_SLOTS == slot && t[i].table && !t[i].unfit &&
		    (!best || t[i].n > best->n || (t[i].n == best->n && t[i].table < best->table)))
			best = &t[i];
	return best;
}

void fib4_build_free(struct fib4_build *b)
{
	for (int i = 0; i < STEER_FIB4_SLOTS; i++)
		free(b->l1[i]);
	free(b->chunks);
	free(b->at);
	memset(b, 0, sizeof(*b));
}

int fib4_build(const void *recs, size_t n, size_t rec_size, size_t val_off, uint32_t max_chunks,
	       struct fib4_build *b)
{
	struct fib4_table *t;
	size_t nt, cap = 0;
	int r;

	memset(b, 0, sizeof(*b));
	r = collect(recs, n, rec_size, val_off, &t, &nt);
	if (r < 0)
		return r;
	/* Bigger tables first: they gain most, and take the chunks first. */
	for (;;) {
		struct fib4_table *best = NULL;
		uint32_t slot = 0;

		for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
			struct fib4_table *o = b->owner[s] || b->l1[s] ? NULL : owner_of(t, nt, s);

			if (o && (!best || o->n > best->n))
				best = o, slot = s;
		}
		if (!best)
			break;
		r = lay_out(b, &cap, slot, best, max_chunks - (uint32_t)b->nchunks);
		if (r == -ENOMEM)
			break;
		if (r == -ENOSPC) {
			b->left_out++;
			best->unfit = true;	/* another table of the slot may fit */
			r = 0;
			continue;
		}
		b->owner[slot] = best->table;
	}
	for (size_t j = 0; j < nt; j++)
		free(t[j].routes);
	free(t);
	if (r)
		fib4_build_free(b);
	return r;
}

/* ---- the maps ---- */

/* An array map's elements are 8-byte aligned in its memory: word i of steer_fib4 is the
 * first half of the i-th eight bytes of the mapping. */
#define STRIDE 2

static size_t page_up(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) / page * page;
}

static size_t words_len(void)
{
	return page_up(STEER_FIB4_WORDS * STRIDE * sizeof(uint32_t));
}

static int cmp_chunk(const void *a, const void *b)
{
	uint64_t x = ((const struct fib4_chunk *)a)->key, y = ((const struct fib4_chunk *)b)->key;

	return x < y ? -1 : x > y;
}

static uint32_t word(const struct fib4 *f, uint32_t i)
{
	return __atomic_load_n(&f->words[i * STRIDE], __ATOMIC_RELAXED);
}

static void set_word(struct fib4 *f, uint32_t i, uint32_t v, int order)
{
	__atomic_store_n(&f->words[i * STRIDE], v, order);
}

/* Adds the chunk word w names (and those it names) at key to the live list, once each;
 * false without memory. */
static bool adopt_chunk(struct fib4 *f, bool *seen, size_t *cap, uint32_t w, uint64_t key)
{
	uint32_t i = w & ~STEER_FIB4_CHUNK;

	if (i >= f->max_chunks || seen[i])
		return true;
	seen[i] = true;
	if (f->nlive == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct fib4_chunk *g = realloc(f->live, ncap * sizeof(*g));

		if (!g)
			return false;
		f->live = g;
		*cap = ncap;
	}
	f->live[f->nlive++] = (struct fib4_chunk){ key, i };
	if (KEY_LEVEL(key) == 3)
		return true;
	for (uint32_t lo = 0; lo < 256; lo++) {
		uint32_t v = __atomic_load_n(&f->chunks[i].leaf[lo], __ATOMIC_RELAXED);

		if (STEER_FIB4_NAMES_CHUNK(v) && !adopt_chunk(f, seen, cap, v, KEY(3, KEY_SLOT(key),
									(uint32_t)key << 8 | lo)))
			return false;
	}
	return true;
}

/* The chunks the maps' owned slots name (of a steerd before this one, or this one's after
 * a failed apply): their indices are taken until an apply moves them. */
static int adopt(struct fib4 *f)
{
	bool *seen = calloc(f->max_chunks + 1, sizeof(*seen));
	size_t cap = 0;

	free(f->live);
	f->live = NULL;
	f->nlive = 0;
	if (!seen)
		return -ENOMEM;
	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
		if (!word(f, STEER_FIB4_OWNER(s)))
			continue;
		for (uint32_t hi = 0; hi < L1_WORDS; hi++) {
			uint32_t w = word(f, s << 16 | hi);

			if (STEER_FIB4_NAMES_CHUNK(w) && !adopt_chunk(f, seen, &cap, w, KEY(2, s, hi))) {
				free(seen);
				return -ENOMEM;
			}
		}
	}
	free(seen);
	if (f->nlive)
		qsort(f->live, f->nlive, sizeof(*f->live), cmp_chunk);
	return 0;
}

/* Maps both maps (fd: steer_fib4, chunk_fd: steer_fib4_chunks) with prot: *words, and
 * *chunks of *chunks_len bytes holding *max chunks. 0 or -errno, nothing mapped then. */
static int map_arrays(int fd, int chunk_fd, int prot, uint32_t **words,
		      struct steer_fib4_chunk **chunks, size_t *chunks_len, uint32_t *max)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	void *w, *c;
	int r;

	if (bpf_obj_get_info_by_fd(chunk_fd, &info, &len))
		return -errno;
	*max = info.max_entries;
	*chunks_len = page_up((size_t)info.max_entries * sizeof(struct steer_fib4_chunk));
	w = mmap(NULL, words_len(), prot, MAP_SHARED, fd, 0);
	if (w == MAP_FAILED)
		return -errno;
	c = mmap(NULL, *chunks_len, prot, MAP_SHARED, chunk_fd, 0);
	if (c == MAP_FAILED) {
		r = -errno;
		munmap(w, words_len());
		return r;
	}
	*words = w;
	*chunks = c;
	return 0;
}

int fib4_init(struct fib4 *f, int fd, int chunk_fd)
{
	int r;

	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->chunk_fd = chunk_fd;
#if !defined(__x86_64__) && !defined(__i386__)
	/* The readers' seqlock needs loads kept in order, which BPF cannot ask for here. */
	return 0;
#endif
	if (fd < 0 || chunk_fd < 0)
		return 0;
	r = map_arrays(fd, chunk_fd, PROT_READ | PROT_WRITE, &f->words, &f->chunks, &f->chunks_len,
		       &f->max_chunks);
	if (r) {
		errno = -r;
		log_warning("sync: cannot map the IPv4 route arrays (%m); IPv4 routes are looked up in "
			    "the trie only");
		f->max_chunks = 0;
		return r;
	}
	f->words_len = words_len();
	return adopt(f);
}

void fib4_free(struct fib4 *f)
{
	if (f->words)
		munmap(f->words, f->words_len);
	if (f->chunks)
		munmap(f->chunks, f->chunks_len);
	free(f->live);
	fib4_build_free(&f->next);
	memset(f, 0, sizeof(*f));
}

/* Closes slot: an odd sequence number, seen before anything in it changes. */
static void close_slot(struct fib4 *f, uint32_t slot)
{
	uint32_t seq = word(f, STEER_FIB4_SEQ(slot));

	if (!(seq & 1))
		set_word(f, STEER_FIB4_SEQ(slot), seq + 1, __ATOMIC_SEQ_CST);
}

/* The chunks of slot in a key-sorted list: [*from, *to). */
static void slot_range(const struct fib4_chunk *c, size_t n, uint32_t slot, size_t *from, size_t *to)
{
	size_t i = 0;

	while (i < n && KEY_SLOT(c[i].key) < slot)
		i++;
	*from = i;
	while (i < n && KEY_SLOT(c[i].key) == slot)
		i++;
	*to = i;
}

static uint32_t patched(uint32_t w, const struct fib4_build *b)
{
	return STEER_FIB4_NAMES_CHUNK(w) ? STEER_FIB4_CHUNK | b->at[w & ~STEER_FIB4_CHUNK].index : w;
}

/* Gives every planned chunk an index in the map: the one its key had, else one no kept
 * chunk holds (a chunk leaving a closed slot may be taken: its readers discard what they
 * read). Then words name chunks by those indices; the plan's chunks end sorted by key. */
static int place(struct fib4 *f)
{
	struct fib4_build *b = &f->next;
	bool *used = calloc(f->max_chunks + 1, sizeof(*used));
	uint32_t next_free = 0;

	if (!used)
		return -ENOMEM;
	for (size_t i = 0; i < b->nchunks; i++) {
		struct fib4_chunk *l = f->nlive ? bsearch(&b->at[i], f->live, f->nlive, sizeof(*f->live),
							  cmp_chunk) : NULL;

		b->at[i].index = l ? l->index : UINT32_MAX;
		if (l)
			used[l->index] = true;
	}
	for (size_t i = 0; i < b->nchunks; i++) {
		if (b->at[i].index != UINT32_MAX)
			continue;
		while (next_free < f->max_chunks && used[next_free])
			next_free++;
		if (next_free >= f->max_chunks) {	/* fib4_build() kept to max_chunks */
			free(used);
			return -ENOSPC;
		}
		used[next_free] = true;
		b->at[i].index = next_free;
	}
	free(used);
	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++)
		for (uint32_t i = 0; b->l1[s] && i < L1_WORDS; i++)
			b->l1[s][i] = patched(b->l1[s][i], b);
	for (size_t i = 0; i < b->nchunks; i++)
		for (int j = 0; j < 256; j++)
			b->chunks[i].leaf[j] = patched(b->chunks[i].leaf[j], b);
	return 0;
}

/* The plan's chunks in key order (indices into b->chunks), for the slot comparisons. */
static int cmp_at_idx(const void *a, const void *b, void *arg)
{
	const struct fib4_chunk *at = arg;

	return cmp_chunk(&at[*(const size_t *)a], &at[*(const size_t *)b]);
}

/* Whether the maps' slot differs from the plan's (order: the plan's chunks by key). */
static bool slot_differs(const struct fib4 *f, const size_t *order, uint32_t slot)
{
	const struct fib4_build *b = &f->next;
	size_t a0, a1, b0 = 0, b1;

	if (word(f, STEER_FIB4_SEQ(slot)) & 1 || word(f, STEER_FIB4_OWNER(slot)) != b->owner[slot])
		return true;
	slot_range(f->live, f->nlive, slot, &a0, &a1);
	while (b0 < b->nchunks && KEY_SLOT(b->at[order[b0]].key) < slot)
		b0++;
	for (b1 = b0; b1 < b->nchunks && KEY_SLOT(b->at[order[b1]].key) == slot;)
		b1++;
	if (a1 - a0 != b1 - b0)
		return true;
	for (size_t i = 0; i < a1 - a0; i++) {
		const struct fib4_chunk *x = &f->live[a0 + i], *y = &b->at[order[b0 + i]];

		if (x->key != y->key || x->index != y->index ||
		    memcmp(&f->chunks[x->index], &b->chunks[order[b0 + i]], sizeof(*f->chunks)))
			return true;
	}
	if (!b->owner[slot])
		return false;
	for (uint32_t i = 0; i < L1_WORDS; i++)
		if (word(f, slot << 16 | i) != b->l1[slot][i])
			return true;
	return false;
}

int fib4_begin(struct fib4 *f, const void *recs, size_t n, size_t rec_size, size_t val_off)
{
	size_t *order = NULL;
	int closed = 0;

	fib4_build_free(&f->next);
	memset(f->dirty, 0, sizeof(f->dirty));
	if (!f->words)
		return 0;
	if (fib4_build(recs, n, rec_size, val_off, f->max_chunks, &f->next) < 0 || place(f) < 0 ||
	    !(order = malloc((f->next.nchunks + 1) * sizeof(*order)))) {
		fib4_build_free(&f->next);
		for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++)
			close_slot(f, s);
		return -ENOMEM;
	}
	if (f->next.left_out)
		log_debug("sync: %zu table(s) left out of the IPv4 route arrays: %u chunks do not "
			  "hold them (limit route-chunks)", f->next.left_out, f->max_chunks);
	for (size_t i = 0; i < f->next.nchunks; i++)
		order[i] = i;
	qsort_r(order, f->next.nchunks, sizeof(*order), cmp_at_idx, f->next.at);
	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
		f->dirty[s] = slot_differs(f, order, s);
		if (f->dirty[s]) {
			close_slot(f, s);
			closed++;
		}
	}
	free(order);
	return closed;
}

void fib4_abort(struct fib4 *f)
{
	fib4_build_free(&f->next);
	memset(f->dirty, 0, sizeof(f->dirty));
}

size_t fib4_commit(struct fib4 *f, bool (*held)(void *arg, uint32_t table), void *arg)
{
	struct fib4_build *b = &f->next;
	size_t writes = 0;

	if (!f->words)
		return 0;
	/* Chunks first: each is named only by its own slot, closed if it changes. */
	for (size_t i = 0; i < b->nchunks; i++) {
		if (!f->dirty[KEY_SLOT(b->at[i].key)] ||
		    !memcmp(&f->chunks[b->at[i].index], &b->chunks[i], sizeof(*f->chunks)))
			continue;
		for (int j = 0; j < 256; j++)
			__atomic_store_n(&f->chunks[b->at[i].index].leaf[j], b->chunks[i].leaf[j],
					 __ATOMIC_RELAXED);
		writes++;
	}
	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
		if (!f->dirty[s])
			continue;
		for (uint32_t i = 0; b->owner[s] && i < L1_WORDS; i++)
			if (word(f, s << 16 | i) != b->l1[s][i]) {
				set_word(f, s << 16 | i, b->l1[s][i], __ATOMIC_RELAXED);
				writes++;
			}
		set_word(f, STEER_FIB4_OWNER(s), b->owner[s], __ATOMIC_SEQ_CST);
		if (!b->owner[s] || !held || !held(arg, b->owner[s]))
			set_word(f, STEER_FIB4_SEQ(s), word(f, STEER_FIB4_SEQ(s)) + 1, __ATOMIC_SEQ_CST);
		f->dirty[s] = false;
	}
	/* The maps now hold the plan's chunks. */
	free(f->live);
	f->live = b->at;
	f->nlive = b->nchunks;
	b->at = NULL;
	if (f->nlive)
		qsort(f->live, f->nlive, sizeof(*f->live), cmp_chunk);
	fib4_build_free(b);
	return writes;
}

void fib4_close_table(struct fib4 *f, uint32_t table)
{
	uint32_t slot = table % STEER_FIB4_SLOTS;

	if (f->words && word(f, STEER_FIB4_OWNER(slot)) == table)
		close_slot(f, slot);
}

/* ---- verify ---- */

/* Words that differ between the plan's n words and the maps' (chunks followed into what
 * they hold, wherever they are), down to level 3. */
static long differ(const struct fib4_build *b, const uint32_t *want, const uint32_t *live, size_t stride,
		   size_t n, const struct steer_fib4_chunk *chunks, uint32_t max, int level)
{
	long bad = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t w = want[i], l = __atomic_load_n(&live[i * stride], __ATOMIC_RELAXED);

		if (!STEER_FIB4_NAMES_CHUNK(w)) {
			bad += w != l;
			continue;
		}
		if (!STEER_FIB4_NAMES_CHUNK(l) || (l & ~STEER_FIB4_CHUNK) >= max || level >= 3) {
			bad++;
			continue;
		}
		bad += differ(b, b->chunks[w & ~STEER_FIB4_CHUNK].leaf, chunks[l & ~STEER_FIB4_CHUNK].leaf,
			      1, 256, chunks, max, level + 1);
	}
	return bad;
}

long fib4_verify(int fd, int chunk_fd, const void *recs, size_t n, size_t rec_size, size_t val_off)
{
	struct steer_fib4_chunk *c;
	struct fib4_build b;
	uint32_t *w, max;
	size_t clen;
	long bad = 0;
	int r;

	r = map_arrays(fd, chunk_fd, PROT_READ, &w, &c, &clen, &max);
	if (r)
		return r;
	r = fib4_build(recs, n, rec_size, val_off, max, &b);
	for (uint32_t s = 0; !r && s < STEER_FIB4_SLOTS; s++) {
		uint32_t seq = __atomic_load_n(&w[STEER_FIB4_SEQ(s) * STRIDE], __ATOMIC_ACQUIRE);
		uint32_t owner = w[STEER_FIB4_OWNER(s) * STRIDE];

		/* A closed slot or one nobody owns answers nothing: the trie does. */
		if ((seq & 1) || !owner)
			continue;
		if (owner != b.owner[s])
			bad++;
		else
			bad += differ(&b, b.l1[s], &w[((size_t)s << 16) * STRIDE], STRIDE, L1_WORDS, c,
				      max, 1);
	}
	if (!r)
		fib4_build_free(&b);
	munmap(c, clen);
	munmap(w, words_len());
	return r < 0 ? r : bad;
}
