/* Chained hash table used by the model for routes, links, addresses and neighbours. */
#include "htab.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Eight bytes at a time, each word folded in with a multiply and a rotate, then a final
 * avalanche: keys here are dozens of bytes (a route key is 52) and a byte-at-a-time hash
 * was a visible share of reading a full table. */
uint64_t hash_bytes(const void *p, size_t len)
{
	const unsigned char *c = p;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len;

	for (; len >= 8; len -= 8, c += 8) {
		uint64_t w;

		memcpy(&w, c, 8);
		h = (h ^ (w * 0xff51afd7ed558ccdull)) * 0xc4ceb9fe1a85ec53ull;
		h = (h << 31) | (h >> 33);
	}
	if (len) {
		uint64_t w = 0;

		memcpy(&w, c, len);
		h = (h ^ (w * 0xff51afd7ed558ccdull)) * 0xc4ceb9fe1a85ec53ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static struct hnode *node_of(const struct htab *t, const void *obj)
{
	return (struct hnode *)((char *)obj + t->node_off);
}

static void *obj_of(const struct htab *t, const struct hnode *n)
{
	return (char *)n - t->node_off;
}

static const void *key_of(const struct htab *t, const void *obj)
{
	return (const char *)obj + t->key_off;
}

void *htab_find(const struct htab *t, const void *key)
{
	uint64_t h;

	if (!t->nbuckets)
		return NULL;
	h = hash_bytes(key, t->key_len);
	for (struct hnode *n = t->buckets[h % t->nbuckets]; n; n = n->next) {
		void *obj = obj_of(t, n);

		if (n->hash == h && !memcmp(key_of(t, obj), key, t->key_len))
			return obj;
	}
	return NULL;
}

static int grow(struct htab *t)
{
	size_t nb = t->nbuckets ? t->nbuckets * 2 : 64;
	struct hnode **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct hnode *n = t->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = b[n->hash % nb];
			b[n->hash % nb] = n;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

int htab_insert(struct htab *t, void *obj)
{
	struct hnode *n = node_of(t, obj);

	if (t->count >= t->nbuckets && grow(t) < 0)
		return -ENOMEM;
	n->hash = hash_bytes(key_of(t, obj), t->key_len);
	n->next = t->buckets[n->hash % t->nbuckets];
	t->buckets[n->hash % t->nbuckets] = n;
	t->count++;
	return 0;
}

void htab_remove(struct htab *t, void *obj)
{
	struct hnode *n = node_of(t, obj);
	struct hnode **pp = &t->buckets[n->hash % t->nbuckets];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			t->count--;
			return;
		}
	}
}

void htab_free(struct htab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->count = 0;
}

void htab_free_all(struct htab *t, void (*fn)(void *))
{
	struct htab_iter it;
	void *o;

	htab_iter_init(&it, t);
	while ((o = htab_iter_next(&it)))
		fn(o);
	htab_free(t);
}

void htab_iter_init(struct htab_iter *it, const struct htab *t)
{
	it->t = t;
	it->bucket = 0;
	it->next = NULL;
}

void *htab_iter_next(struct htab_iter *it)
{
	const struct htab *t = it->t;
	struct hnode *n = it->next;

	while (!n) {
		if (it->bucket >= t->nbuckets)
			return NULL;
		n = t->buckets[it->bucket++];
	}
	it->next = n->next;
	return obj_of(t, n);
}

void htab_mark(const struct htab *t, size_t off)
{
	struct htab_iter it;
	char *o;

	htab_iter_init(&it, t);
	while ((o = htab_iter_next(&it)))
		*(bool *)(o + off) = true;
}

size_t htab_sweep(const struct htab *t, size_t off, void (*drop)(void *ctx, void *obj), void *ctx)
{
	struct htab_iter it;
	size_t n = 0;
	char *o;

	htab_iter_init(&it, t);
	while ((o = htab_iter_next(&it)))
		if (*(bool *)(o + off)) {
			drop(ctx, o);
			n++;
		}
	return n;
}
