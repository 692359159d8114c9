/* Sorting 32-bit values stably. qsort promises no order among equal elements, so each value
 * carries the index it came from and ties are broken by it. */
#ifndef STEER_SORT_H
#define STEER_SORT_H

#include <stddef.h>
#include <stdint.h>

struct u32_index {
	uint32_t v;
	size_t index;	/* where v came from: equal values keep this order */
};

/* qsort's comparator for struct u32_index: by value, then by index. */
static inline int cmp_u32_index(const void *a, const void *b)
{
	const struct u32_index *x = a, *y = b;

	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

#endif
