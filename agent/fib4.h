/* The IPv4 route arrays (STEER_FIB4_SLOTS in abi.h): the route trie's IPv4 answers laid out
 * as one word per /16, and where longer prefixes lie, chunks of a word per /24 and of a word
 * per address, so that the datapath finds a route in one to three reads at any table size.
 * Derived from the route records sync applies, never from the model.
 *
 * A slot (and every chunk it names) is written only while its sequence number is odd
 * (closed): readers then ask the trie, which sync keeps exact on its own. sync closes the
 * slots an apply changes before it writes any map, and fills and opens them after the
 * apply is whole; a route event the reader's thread flags as pending closes its table's
 * slot until an apply includes it. A chunk moves from one slot to another only while both
 * are closed, so a reader that read a slot open before and after never read a chunk that
 * belonged to another slot in between. */
#ifndef STEER_FIB4_H
#define STEER_FIB4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

/* A chunk: where it stands (level 2: the /24s of a /16; level 3: the addresses of a /24)
 * and its index in steer_fib4_chunks. */
struct fib4_chunk {
	uint64_t key;		/* slot << 40 | level << 32 | the /16's top 16 bits or the /24's 24 */
	uint32_t index;
};

/* What a set of route records makes of the arrays. A word that names a chunk holds
 * STEER_FIB4_CHUNK with the chunk's index in chunks; fib4_begin() turns those into the
 * map's indices. */
struct fib4_build {
	uint32_t owner[STEER_FIB4_SLOTS];	/* table per slot; 0: none */
	uint32_t *l1[STEER_FIB4_SLOTS];	/* 65536 words each, for owned slots */
	struct steer_fib4_chunk *chunks;
	struct fib4_chunk *at;			/* each chunk's key (and, after fib4_begin(), place) */
	size_t nchunks;
	size_t left_out;		/* tables a slot could have taken but the chunks did not fit */
};

/* The arrays as the maps hold them, and an apply's plan. */
struct fib4 {
	int fd, chunk_fd;
	uint32_t *words;		/* steer_fib4, mapped; NULL: the arrays stay closed */
	struct steer_fib4_chunk *chunks;	/* steer_fib4_chunks, mapped */
	size_t words_len, chunks_len;
	uint32_t max_chunks;
	struct fib4_chunk *live;	/* the chunks the slots name, sorted by key */
	size_t nlive;
	struct fib4_build next;		/* between fib4_begin() and fib4_commit() */
	bool dirty[STEER_FIB4_SLOTS];
};

/* Maps the arrays (fd, chunk_fd: the two maps, or -1) and reads which chunks the slots
 * name. A machine that does not order loads as x86 does gets no arrays: its readers could
 * not trust the sequence numbers. 0, or -errno. */
int fib4_init(struct fib4 *f, int fd, int chunk_fd);
void fib4_free(struct fib4 *f);

/* The arrays recs make: n records of rec_size bytes, a struct steer_route_key at 0 and its
 * struct steer_route at val_off (ids as the maps have them). At most max_chunks chunks;
 * tables that do not fit own no slot. 0, or -ENOMEM. */
int fib4_build(const void *recs, size_t n, size_t rec_size, size_t val_off, uint32_t max_chunks,
	       struct fib4_build *b);
void fib4_build_free(struct fib4_build *b);

/* Before an apply writes anything: plans the arrays for its route records and closes every
 * slot they change. Returns how many it closed, or -ENOMEM (then every slot is closed). */
int fib4_begin(struct fib4 *f, const void *recs, size_t n, size_t rec_size, size_t val_off);
/* After the apply went through: writes the closed slots and opens those whose table
 * held(arg, table) does not keep closed (a route event not applied yet). Returns how many
 * words and chunks it wrote. */
size_t fib4_commit(struct fib4 *f, bool (*held)(void *arg, uint32_t table), void *arg);
/* The apply failed: the plan is dropped, its slots stay closed. */
void fib4_abort(struct fib4 *f);
/* A route of table changes before an apply says how: close its slot if it owns one. */
void fib4_close_table(struct fib4 *f, uint32_t table);

/* Compares the open slots of the maps (fd, chunk_fd) with what recs make (see
 * fib4_build()), chunks by what they hold wherever they are. Returns how many words
 * differ, or -errno. */
long fib4_verify(int fd, int chunk_fd, const void *recs, size_t n, size_t rec_size, size_t val_off);

#endif
