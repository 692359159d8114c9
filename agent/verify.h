/* Verification of the maps against a compiled image, resolving ids; used by the periodic
 * reconcile and by `steerd --verify`. */
#ifndef STEER_VERIFY_H
#define STEER_VERIFY_H

#include <stddef.h>

#include "compile.h"
#include "sync.h"

struct verify_report {
	size_t checked;
	size_t differences;
};

int verify_maps(const struct sync_fds *fds, const struct image *img, struct verify_report *r);
/* How many keys a (hash or trie) map holds now, by walking them. */
size_t verify_count_keys(int fd, size_t key_len);

#endif
