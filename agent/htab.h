/* A small intrusive hash table: objects embed a struct hnode and a fixed-size key at known
 * offsets; the table never owns or frees them. */
#ifndef STEER_HTAB_H
#define STEER_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	size_t node_off, key_off, key_len;
	size_t nbuckets, count;
	struct hnode **buckets;
};

#define HTAB_INIT(type, node, key) \
	{ offsetof(type, node), offsetof(type, key), sizeof(((type *)0)->key), 0, 0, NULL }

void *htab_find(const struct htab *t, const void *key);
int htab_insert(struct htab *t, void *obj);	/* -ENOMEM; the key must not be present */
void htab_remove(struct htab *t, void *obj);
void htab_free(struct htab *t);		/* frees the buckets only */
/* Frees every object with fn (free, or the object's own), then the buckets. */
void htab_free_all(struct htab *t, void (*fn)(void *));

/* Iteration that tolerates removing the current object. */
struct htab_iter {
	const struct htab *t;
	size_t bucket;
	struct hnode *next;
};
void htab_iter_init(struct htab_iter *it, const struct htab *t);
void *htab_iter_next(struct htab_iter *it);
/* Sets the bool at byte offset off of every object (a "stale" flag before a dump). */
void htab_mark(const struct htab *t, size_t off);
/* Calls drop(ctx, obj) for every object whose bool at off is set (drop may remove it from
 * t, and free it); returns how many. */
size_t htab_sweep(const struct htab *t, size_t off, void (*drop)(void *ctx, void *obj), void *ctx);

uint64_t hash_bytes(const void *p, size_t len);

#endif
