/* The IPv4 route arrays (see fib4.h). */
#include "fib4.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
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

static uint64_t chunk_sum(const struct steer_fib4_chunk *c)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < 256; i++)
		h = (h ^ c->leaf[i]) * 0x100000001b3ull;
	return h;
}

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

/* Appends a chunk for /16 hi of slot, every word the /16's own leaf; its index, or -1. */
static long new_chunk(struct fib4_build *b, size_t *cap, uint32_t slot, uint32_t hi)
{
	struct steer_fib4_chunk *c;

	if (b->nchunks == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct steer_fib4_chunk *g = realloc(b->chunks, ncap * sizeof(*g));
		struct fib4_chunk_sum *s = realloc(b->sums, ncap * sizeof(*s));

		if (g)
			b->chunks = g;
		if (s)
			b->sums = s;
		if (!g || !s)
			return -1;
		*cap = ncap;
	}
	c = &b->chunks[b->nchunks];
	for (int i = 0; i < 256; i++)
		c->leaf[i] = b->l1[slot][hi];
	b->sums[b->nchunks].key = STEER_FIB4_CHUNK_KEY(slot, hi << 16);
	return (long)b->nchunks++;
}

/* Lays table t's routes into slot: shortest prefixes first, so a longer one paints over the
 * shorter it lies in, as longest-prefix match chooses. 0, -ENOSPC past max_chunks, or
 * -ENOMEM. */
static int lay_out(struct fib4_build *b, size_t *cap, uint32_t slot, struct fib4_table *t,
		   uint32_t max_chunks)
{
	size_t first = b->nchunks;
	int32_t *chunk_of = malloc(L1_WORDS * sizeof(*chunk_of));
	uint32_t *l1 = calloc(L1_WORDS, sizeof(*l1));
	int r = 0;

	if (!chunk_of || !l1) {
		free(chunk_of);
		free(l1);
		return -ENOMEM;
	}
	memset(chunk_of, 0xff, L1_WORDS * sizeof(*chunk_of));
	b->l1[slot] = l1;
	qsort(t->routes, t->n, sizeof(*t->routes), cmp_route);
	for (size_t i = 0; i < t->n && !r; i++) {
		const struct fib4_route *rt = &t->routes[i];
		uint32_t hi = rt->addr >> 16;

		if (rt->plen <= 16) {
			uint32_t from = rt->plen ? hi & ~((1u << (16 - rt->plen)) - 1) : 0;

			for (uint32_t j = 0; j < 1u << (16 - rt->plen); j++)
				l1[from + j] = rt->leaf;
			continue;
		}
		if (chunk_of[hi] < 0) {
			long c = b->nchunks - first >= max_chunks ? -2 : new_chunk(b, cap, slot, hi);

			if (c < 0) {
				r = c == -2 ? -ENOSPC : -ENOMEM;
				break;
			}
			chunk_of[hi] = (int32_t)c;
		}
		struct steer_fib4_chunk *c = &b->chunks[chunk_of[hi]];
		uint32_t lo = rt->addr >> 8 & 0xff;

		if (rt->plen > 24) {
			c->leaf[lo] = STEER_FIB4_TRIE;
		} else {
			lo &= ~((1u << (24 - rt->plen)) - 1);
			for (uint32_t j = 0; j < 1u << (24 - rt->plen); j++)
				c->leaf[lo + j] = rt->leaf;
		}
	}
	for (uint32_t hi = 0; hi < L1_WORDS && !r; hi++)
		if (chunk_of[hi] >= 0)
			l1[hi] = STEER_FIB4_CHUNK;
	free(chunk_of);
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

static int cmp_chunk_idx(const void *a, const void *b, void *arg)
{
	const struct fib4_chunk_sum *s = arg;
	uint32_t x = s[*(const size_t *)a].key, y = s[*(const size_t *)b].key;

	return x < y ? -1 : x > y;
}

/* Chunks (and their sums) in key order. */
static int sort_chunks(struct fib4_build *b)
{
	size_t *ix = malloc((b->nchunks + 1) * sizeof(*ix));
	struct steer_fib4_chunk *c = malloc((b->nchunks + 1) * sizeof(*c));
	struct fib4_chunk_sum *s = malloc((b->nchunks + 1) * sizeof(*s));

	if (!ix || !c || !s) {
		free(ix);
		free(c);
		free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->nchunks; i++) {
		ix[i] = i;
		b->sums[i].sum = chunk_sum(&b->chunks[i]);
	}
	qsort_r(ix, b->nchunks, sizeof(*ix), cmp_chunk_idx, b->sums);
	for (size_t i = 0; i < b->nchunks; i++) {
		c[i] = b->chunks[ix[i]];
		s[i] = b->sums[ix[i]];
	}
	free(ix);
	free(b->chunks);
	free(b->sums);
	b->chunks = c;
	b->sums = s;
	return 0;
}

void fib4_build_free(struct fib4_build *b)
{
	for (int i = 0; i < STEER_FIB4_SLOTS; i++)
		free(b->l1[i]);
	free(b->chunks);
	free(b->sums);
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
	if (!r)
		r = sort_chunks(b);
	if (r)
		fib4_build_free(b);
	return r;
}

/* ---- the maps ---- */

/* An array map's elements are 8-byte aligned in its memory: word i of steer_fib4 is the
 * first half of the i-th eight bytes of the mapping. */
#define STRIDE 2

static size_t words_len(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = STEER_FIB4_WORDS * STRIDE * sizeof(uint32_t);

	return (len + page - 1) / page * page;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* What chunk_fd holds, as sums sorted by key (into *out, *n). */
static int read_chunks(int chunk_fd, struct fib4_chunk_sum **out, size_t *n)
{
	struct fib4_chunk_sum *s = NULL;
	size_t cnt = 0, cap = 0;
	uint32_t key, next, *prev = NULL;
	struct steer_fib4_chunk c;

	while (!bpf_map_get_next_key(chunk_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(chunk_fd, &key, &c))
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct fib4_chunk_sum *g = realloc(s, ncap * sizeof(*g));

			if (!g) {
				free(s);
				return -ENOMEM;
			}
			s = g;
			cap = ncap;
		}
		s[cnt++] = (struct fib4_chunk_sum){ key, chunk_sum(&c) };
	}
	qsort(s, cnt, sizeof(*s), cmp_u32);
	*out = s;
	*n = cnt;
	return 0;
}

int fib4_init(struct fib4 *f, int fd, int chunk_fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	void *p;

	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->chunk_fd = chunk_fd;
#if !defined(__x86_64__) && !defined(__i386__)
	/* The readers' seqlock needs loads kept in order, which BPF cannot ask for here. */
	return 0;
#endif
	if (fd < 0 || chunk_fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(chunk_fd, &info, &len))
		return -errno;
	f->max_chunks = info.max_entries;
	p = mmap(NULL, words_len(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		log_warning("sync: cannot map %s (%m); IPv4 routes are looked up in the trie only",
			 STEER_MAP_FIB4);
		return -e;
	}
	f->words = p;
	f->len = words_len();
	return read_chunks(chunk_fd, &f->chunks, &f->nchunks);
}

void fib4_free(struct fib4 *f)
{
	if (f->words)
		munmap(f->words, f->len);
	free(f->chunks);
	fib4_build_free(&f->next);
	memset(f, 0, sizeof(*f));
}

static uint32_t word(const struct fib4 *f, uint32_t i)
{
	return __atomic_load_n(&f->words[i * STRIDE], __ATOMIC_RELAXED);
}

static void set_word(struct fib4 *f, uint32_t i, uint32_t v, int order)
{
	__atomic_store_n(&f->words[i * STRIDE], v, order);
}

/* Closes slot: an odd sequence number, seen before anything in it changes. */
static void close_slot(struct fib4 *f, uint32_t slot)
{
	uint32_t seq = word(f, STEER_FIB4_SEQ(slot));

	if (!(seq & 1))
		set_word(f, STEER_FIB4_SEQ(slot), seq + 1, __ATOMIC_SEQ_CST);
}

/* The chunks of slot in a sorted sum array: [*from, *to). */
static void slot_range(const struct fib4_chunk_sum *s, size_t n, uint32_t slot, size_t *from, size_t *to)
{
	size_t i = 0;

	while (i < n && s[i].key >> 16 < slot)
		i++;
	*from = i;
	while (i < n && s[i].key >> 16 == slot)
		i++;
	*to = i;
}

/* Whether the maps' slot differs from the plan's. */
static bool slot_differs(const struct fib4 *f, const struct fib4_build *b, uint32_t slot)
{
	size_t a0, a1, b0, b1;

	if (word(f, STEER_FIB4_SEQ(slot)) & 1 || word(f, STEER_FIB4_OWNER(slot)) != b->owner[slot])
		return true;
	slot_range(f->chunks, f->nchunks, slot, &a0, &a1);
	slot_range(b->sums, b->nchunks, slot, &b0, &b1);
	if (a1 - a0 != b1 - b0)
		return true;
	for (size_t i = 0; i < a1 - a0; i++)
		if (f->chunks[a0 + i].key != b->sums[b0 + i].key || f->chunks[a0 + i].sum != b->sums[b0 + i].sum)
			return true;
	if (!b->owner[slot])
		return false;
	for (uint32_t i = 0; i < L1_WORDS; i++)
		if (word(f, slot << 16 | i) != b->l1[slot][i])
			return true;
	return false;
}

int fib4_begin(struct fib4 *f, const void *recs, size_t n, size_t rec_size, size_t val_off)
{
	int closed = 0;

	fib4_build_free(&f->next);
	memset(f->dirty, 0, sizeof(f->dirty));
	if (!f->words)
		return 0;
	if (fib4_build(recs, n, rec_size, val_off, f->max_chunks, &f->next) < 0) {
		for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++)
			close_slot(f, s);
		return -ENOMEM;
	}
	if (f->next.left_out)
		log_debug("sync: %zu table(s) left out of the IPv4 route arrays: %u chunks do not "
			  "hold them (limit route-chunks)", f->next.left_out, f->max_chunks);
	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
		f->dirty[s] = slot_differs(f, &f->next, s);
		if (f->dirty[s]) {
			close_slot(f, s);
			closed++;
		}
	}
	return closed;
}

void fib4_abort(struct fib4 *f)
{
	fib4_build_free(&f->next);
	memset(f->dirty, 0, sizeof(f->dirty));
}

/* Writes slot's chunks as planned, deleting what the plan lacks; false when the map refused
 * one. f->chunks follows what the map holds. */
static bool write_chunks(struct fib4 *f, uint32_t slot, size_t *writes)
{
	const struct fib4_build *b = &f->next;
	struct fib4_chunk_sum *out = malloc((f->nchunks + b->nchunks + 1) * sizeof(*out));
	size_t a0, a1, b0, b1, n = 0, i, j;
	bool ok = true;

	if (!out)
		return false;
	slot_range(f->chunks, f->nchunks, slot, &a0, &a1);
	slot_range(b->sums, b->nchunks, slot, &b0, &b1);
	for (i = 0; i < a0; i++)
		out[n++] = f->chunks[i];
	for (i = a0, j = b0; i < a1 || j < b1;) {
		uint32_t ka = i < a1 ? f->chunks[i].key : UINT32_MAX, kb = j < b1 ? b->sums[j].key : UINT32_MAX;

		if (j < b1 && (i >= a1 || kb <= ka)) {
			bool same = i < a1 && ka == kb && f->chunks[i].sum == b->sums[j].sum;

			if (!same && bpf_map_update_elem(f->chunk_fd, &kb, &b->chunks[j], BPF_ANY)) {
				ok = false;
				if (i < a1 && ka == kb)	/* the old chunk stands */
					out[n++] = f->chunks[i];
			} else {
				out[n++] = b->sums[j];
				*writes += !same;
			}
			i += i < a1 && ka == kb;
			j++;
		} else {
			if (bpf_map_delete_elem(f->chunk_fd, &ka) && errno != ENOENT)
				out[n++] = f->chunks[i];
			else
				(*writes)++;
			i++;
		}
	}
	for (i = a1; i < f->nchunks; i++)
		out[n++] = f->chunks[i];
	free(f->chunks);
	f->chunks = out;
	f->nchunks = n;
	return ok;
}

size_t fib4_commit(struct fib4 *f, bool (*held)(void *arg, uint32_t table), void *arg)
{
	const struct fib4_build *b = &f->next;
	size_t writes = 0;

	for (uint32_t s = 0; s < STEER_FIB4_SLOTS && f->words; s++) {
		if (!f->dirty[s])
			continue;
		if (b->owner[s])
			for (uint32_t i = 0; i < L1_WORDS; i++)
				if (word(f, s << 16 | i) != b->l1[s][i]) {
					set_word(f, s << 16 | i, b->l1[s][i], __ATOMIC_RELAXED);
					writes++;
				}
		/* Not owned (or not whole): nobody reads the slot's words. */
		if (!write_chunks(f, s, &writes)) {
			log_warning("sync: %s refused a chunk; table %u is looked up in the trie",
				 STEER_MAP_FIB4_CHUNKS, b->owner[s]);
			set_word(f, STEER_FIB4_OWNER(s), 0, __ATOMIC_SEQ_CST);
			continue;
		}
		set_word(f, STEER_FIB4_OWNER(s), b->owner[s], __ATOMIC_SEQ_CST);
		if (!b->owner[s] || !held || !held(arg, b->owner[s]))
			set_word(f, STEER_FIB4_SEQ(s), word(f, STEER_FIB4_SEQ(s)) + 1, __ATOMIC_SEQ_CST);
		f->dirty[s] = false;
	}
	fib4_build_free(&f->next);
	return writes;
}

void fib4_close_table(struct fib4 *f, uint32_t table)
{
	uint32_t slot = table % STEER_FIB4_SLOTS;

	if (f->words && word(f, STEER_FIB4_OWNER(slot)) == table)
		close_slot(f, slot);
}

/* ---- verify ---- */

long fib4_verify(int fd, int chunk_fd, const void *recs, size_t n, size_t rec_size, size_t val_off)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct fib4_build b;
	uint32_t *w;
	long bad = 0;
	int r;

	if (bpf_obj_get_info_by_fd(chunk_fd, &info, &len))
		return -errno;
	w = mmap(NULL, words_len(), PROT_READ, MAP_SHARED, fd, 0);
	if (w == MAP_FAILED)
		return -errno;
	r = fib4_build(recs, n, rec_size, val_off, info.max_entries, &b);
	if (r < 0) {
		munmap(w, words_len());
		return r;
	}
	for (uint32_t s = 0; s < STEER_FIB4_SLOTS; s++) {
		uint32_t seq = __atomic_load_n(&w[STEER_FIB4_SEQ(s) * STRIDE], __ATOMIC_ACQUIRE);
		uint32_t owner = w[STEER_FIB4_OWNER(s) * STRIDE];

		/* A closed slot or one nobody owns answers nothing: the trie does. */
		if ((seq & 1) || !owner)
			continue;
		if (owner != b.owner[s]) {
			bad++;
			continue;
		}
		for (uint32_t i = 0; i < L1_WORDS; i++) {
			uint32_t live = w[(s << 16 | i) * STRIDE], want = b.l1[s][i];
			struct steer_fib4_chunk c;
			uint32_t key = STEER_FIB4_CHUNK_KEY(s, i << 16);
			struct fib4_chunk_sum *at;

			if (live != want) {
				bad++;
				continue;
			}
			if (want != STEER_FIB4_CHUNK)
				continue;
			at = bsearch(&key, b.sums, b.nchunks, sizeof(*b.sums), cmp_u32);
			if (!at || bpf_map_lookup_elem(chunk_fd, &key, &c) ||
			    memcmp(&c, &b.chunks[at - b.sums], sizeof(c)))
				bad++;
		}
	}
	fib4_build_free(&b);
	munmap(w, words_len());
	return bad;
}
