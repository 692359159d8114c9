/* Map sync: merge walks over sorted old and new images per map; updates go out in
 * dependency order, deletions last and in reverse order. */
#include "sync.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* One map seen as a sorted array of fixed-size records: key then value. Keys are ordered
 * by memcmp, except ids, which are ordered as numbers (cmp set): every walk over a table
 * must use the order its arrays were sorted in. */
struct table {
	const char *name;
	int fd;
	size_t rec, key_len, val_off, val_len;
	int (*cmp)(const void *, const void *);
	bool guarded;		/* the route map: the reader's thread punts keys in it too */
	bool uncached;		/* read after the flow cache, on every packet: no new epoch */
	bool lpm;		/* an LPM trie: prefixlen is the key's first word */
	bool split_piece;	/* keys are split pieces: the split id at split_off */
	size_t split_off;
	bool array;		/* an array: every slot exists, zeros are empty, "delete" zeroes */
};

/* A route key the reader punted for an event the maps do not include yet. */
struct sync_pending {
	struct hnode node;
	struct steer_route_key key;
	uint64_t seq;
};

/* For a guarded table: whether key may be written or deleted now (the caller holds the lock
 * while it does), and forgets the key's punt when its event is in the image. A key punted
 * for a later event keeps its punt: the image would bring back the state before it. */
static bool guard_may_write(struct sync *s, const void *key)
{
	struct sync_pending *p = htab_find(&s->pending, key);

	if (!p)
		return true;
	if (p->seq > s->upto)
		return false;
	htab_remove(&s->pending, p);
	free(p);
	return true;
}

static int cmp_key(const struct table *t, const void *a, const void *b)
{
	return t->cmp ? t->cmp(a, b) : memcmp(a, b, t->key_len);
}

static const char *rec_at(const struct table *t, const void *base, size_t i)
{
	return (const char *)base + i * t->rec;
}

/* Writes or deletes one record's key: 0, 1 when a pending punt keeps the key as it is, or
 * -errno. The route map's writes hold the lock, so the reader's thread never punts a key
 * between the check and the write. */
static int write_one(struct sync *s, const struct table *t, const char *rec, bool del)
{
	int r = 0;

	if (t->guarded) {
		pthread_mutex_lock(&s->lock);
		if (!guard_may_write(s, rec))
			r = 1;
	}
	if (!r && del && t->array) {
		static const char zeros[SYNC_MAX_VALUE];

		if (bpf_map_update_elem(t->fd, rec, zeros, BPF_ANY) < 0)
			r = -errno;
	} else if (!r && del && bpf_map_delete_elem(t->fd, rec) < 0 && errno != ENOENT)
		r = -errno;
	else if (!r && !del && bpf_map_update_elem(t->fd, rec, rec + t->val_off, BPF_ANY) < 0)
		r = -errno;
	if (!r && !t->uncached)
		__atomic_fetch_add(&s->map_writes, 1, __ATOMIC_RELAXED);
	if (t->guarded)
		pthread_mutex_unlock(&s->lock);
	return r;
}

/* The records of b that a lacks (by key), or, with values, holds with another value: their
 * indices into b, in b's order. NULL on -ENOMEM. */
static uint32_t *differ(const struct table *t, const void *a, size_t na, const void *b, size_t nb,
			bool values, size_t *n)
{
	uint32_t *ix = malloc((nb + 1) * sizeof(*ix));
	size_t i = 0;

	*n = 0;
	for (size_t j = 0; ix && j < nb; j++) {
		const char *rec = rec_at(t, b, j);
		int c = 1;

		while (i < na && (c = cmp_key(t, rec_at(t, a, i), rec)) < 0)
			i++;
		if (i < na && c == 0 &&
		    (!values || !memcmp(rec_at(t, a, i) + t->val_off, rec + t->val_off, t->val_len)))
			continue;
		ix[(*n)++] = (uint32_t)j;
	}
	return ix;
}

/* An LPM trie's records in ix (of recs), most specific first (or last), else as they are.
 * Writes go most specific first and deletes least specific first: then a lookup during an
 * apply finds what the old maps or the new maps would answer, never a shorter new prefix
 * standing in for a longer new one not written yet, or a shorter old one for a longer old
 * one already gone. A counting sort on prefixlen, the key's first word. */
static int order_by_prefix(const struct table *t, const void *recs, uint32_t *ix, size_t n,
			   bool longest_first)
{
	size_t nlen = (t->key_len - sizeof(uint32_t)) * 8 + 1, *at;
	uint32_t *out;

	if (!t->lpm || n < 2)
		return 0;
	at = calloc(nlen + 1, sizeof(*at));
	out = malloc(n * sizeof(*out));
	if (!at || !out) {
		free(at);
		free(out);
		return -ENOMEM;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			uint32_t len;

			memcpy(&len, rec_at(t, recs, ix[i]), sizeof(len));
			len = len < nlen ? len : (uint32_t)nlen - 1;
			len = longest_first ? (uint32_t)nlen - 1 - len : len;
			if (!pass)
				at[len + 1]++;
			else
				out[at[len]++] = ix[i];
		}
		for (size_t l = 0; !pass && l < nlen; l++)
			at[l + 1] += at[l];
	}
	memcpy(ix, out, n * sizeof(*ix));
	free(at);
	free(out);
	return 0;
}

/* Write every record of new that old lacks or holds with another value. */
static int write_changes(struct sync *s, const struct table *t, const void *old, size_t nold,
			 const void *new, size_t nnew)
{
	size_t n;
	uint32_t *ix = differ(t, old, nold, new, nnew, true, &n);
	int r = ix ? order_by_prefix(t, new, ix, n, true) : -ENOMEM;

	for (size_t k = 0; !r && k < n; k++) {
		int w = write_one(s, t, rec_at(t, new, ix[k]), false);

		if (w < 0)
			r = w;
		s->stats.updates += !w;
	}
	if (r < 0)
		s->failed_table = t->name;
	free(ix);
	return r;
}

/* Delete every record of old that new lacks. */
static void delete_stale(struct sync *s, const struct table *t, const void *old, size_t nold,
			 const void *new, size_t nnew)
{
	size_t n;
	uint32_t *ix = differ(t, new, nnew, old, nold, false, &n);
	int r = ix ? 0 : -ENOMEM;

	/* Out of memory to order them: old's own order still deletes every one. */
	if (ix)
		order_by_prefix(t, old, ix, n, false);
	for (size_t k = 0; k < n && !r; k++) {
		int d = write_one(s, t, rec_at(t, old, ix[k]), true);

		if (d < 0) {
			s->stats.failures++;
			log_event(LOG_WARNING, LOG_EV_APPLY_FAILED, &(struct log_ctx){ .error = d },
				  "sync: cannot delete %s entry: %s", t->name, strerror(-d));
			continue;
		}
		s->stats.deletes += !d;
	}
	if (r < 0) {
		s->stats.failures++;
		log_event(LOG_WARNING, LOG_EV_APPLY_FAILED, &(struct log_ctx){ .error = r },
			  "sync: cannot delete stale %s entries: out of memory", t->name);
	}
	free(ix);
}

/* One map in an apply: what it holds (the records last applied, replaced when the apply
 * ends) and what the image wants, its references already turned into ids. */
struct change {
	struct table t;
	void **old;
	size_t *nold;
	void *new;		/* owned until the apply ends */
	size_t nnew;
};

/* The applied maps walked in the registry's order (maps.h), roots first, to delete: nothing
 * deleted is still referenced. */
static void delete_stale_all(struct sync *s, const struct change *c)
{
	for (int i = 0; i < MAP_APPLIED; i++)
		delete_stale(s, &c[i].t, *c[i].old, *c[i].nold, c[i].new, c[i].nnew);
}

/* And the other way, leaves first, to write: nothing written references what is not there
 * yet. */
static int write_changes_all(struct sync *s, const struct change *c)
{
	int r = 0;

	for (int i = MAP_APPLIED - 1; i >= 0 && !r; i--)
		r = write_changes(s, &c[i].t, *c[i].old, *c[i].nold, c[i].new, c[i].nnew);
	return r;
}

/* After a failed apply the maps hold some mix of old and new: remember every key of both,
 * with values no image produces, so the next apply rewrites and deletes as needed. */
static int forget_values(const struct table *t, void **old, size_t *nold, const void *new,
			 size_t nnew)
{
	char *out = malloc((*nold + nnew + 1) * t->rec);
	size_t i = 0, j = 0, n = 0;

	if (!out)
		return -ENOMEM;
	while (i < *nold || j < nnew) {
		const char *o = i < *nold ? rec_at(t, *old, i) : NULL;
		const char *w = j < nnew ? rec_at(t, new, j) : NULL;
		int c = !o ? 1 : !w ? -1 : cmp_key(t, o, w);

		memcpy(out + n * t->rec, c <= 0 ? o : w, t->rec);
		memset(out + n * t->rec + t->val_off, 0xff, t->val_len);
		n++;
		i += c <= 0;
		j += c >= 0;
	}
	free(*old);
	*old = out;
	*nold = n;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_table_key(const void *a, const void *b, void *t)
{
	return cmp_key(t, a, b);
}

_Static_assert(sizeof(struct steer_group) <= SYNC_MAX_VALUE &&
	       sizeof(struct steer_rule_list) <= SYNC_MAX_VALUE, "room for every applied value");

/* Records being adopted: a key each, its value all 0xff. */
struct adopting {
	const struct table *t;
	void **out;
	size_t *n, cap;
};

static int adopt_push(struct adopting *a, const void *key)
{
	const struct table *t = a->t;
	char *p;

	if (*a->n == a->cap) {
		void *q = realloc(*a->out, (a->cap = a->cap ? a->cap * 2 : 64) * t->rec);

		if (!q)
			return -ENOMEM;
		*a->out = q;
	}
	p = (char *)*a->out + *a->n * t->rec;
	memset(p, 0, t->rec);
	memcpy(p, key, t->key_len);
	memset(p + t->val_off, 0xff, t->val_len);
	(*a->n)++;
	return 0;
}

static int adopt_slot(void *arg, uint32_t id, const void *val)
{
	(void)val;
	return adopt_push(arg, &id);
}

/* Read every key of a map (of an array, every slot that is not all zeros) into records
 * whose values are all 0xff: no compiled value looks like that, so every wanted entry is
 * rewritten once. Sorted by key, as t orders them. */
static int adopt_keys(const struct table *t, void **out, size_t *n)
{
	struct adopting a = { t, out, n };
	char key[64], next[64];
	void *cur = NULL;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (t->array)
		r = map_each_id(t->fd, (uint32_t)t->val_len, adopt_slot, &a);
	while (!t->array && !r && !bpf_map_get_next_key(t->fd, cur, next)) {
		memcpy(key, next, t->key_len);
		cur = key;
		r = adopt_push(&a, key);
	}
	if (!r && *n > 1)
		qsort_r(*out, *n, t->rec, cmp_table_key, (void *)t);
	return r;
}

static int cmp_route(const void *a, const void *b) { return memcmp(a, b, sizeof(struct steer_route_key)); }

static size_t idtab_rec(const struct idtab *t) { return sizeof(uint32_t) + t->val_size; }

static struct table idtab_table(const struct idtab *t)
{
	return (struct table){ t->name, t->fd, idtab_rec(t), sizeof(uint32_t), sizeof(uint32_t), t->val_size,
			       cmp_u32, .array = t->array };
}

static int idtab_adopt(struct idtab *t)
{
	struct table tab = idtab_table(t);
	int r = adopt_keys(&tab, &t->recs, &t->n);

	t->next_id = 1;
	if (!r && t->n)
		t->next_id = *(uint32_t *)((char *)t->recs + (t->n - 1) * idtab_rec(t)) + 1;
	if (t->next_id >= t->max_id)
		t->next_id = 1;
	return r;
}

/* The id content had in the last apply, or a fresh one that no applied record uses. Fresh
 * ids move on cyclically, so an id freed now is not handed out again soon: a packet still
 * holding an old reference never meets new content under it. */
static int cmp_val_idx(const void *a, const void *b, void *arg)
{
	const struct idtab *t = arg;
	size_t rec = idtab_rec(t);
	const char *base = t->recs;

	return memcmp(base + *(const uint32_t *)a * rec + 4, base + *(const uint32_t *)b * rec + 4,
		      t->val_size);
}

struct vals {
	const char *base;
	size_t size;
};

static int cmp_vals_idx(const void *a, const void *b, void *arg)
{
	const struct vals *v = arg;

	return memcmp(v->base + *(const uint32_t *)a * v->size, v->base + *(const uint32_t *)b * v->size,
		      v->size);
}

static int assign_ids(struct idtab *t, const void *vals, size_t n, uint32_t *ids)
{
	size_t rec = idtab_rec(t), fresh = 0;
	uint32_t *order = malloc((t->n + 1) * sizeof(*order));
	uint32_t *wanted = malloc((n + 1) * sizeof(*wanted));
	struct vals applied = { (const char *)t->recs + 4, rec }, want = { vals, t->val_size };

	if (!order || !wanted) {
		free(order);
		free(wanted);
		return -ENOMEM;
	}
	/* Both sides sorted by content: equal content meets in O(n log n). */
	for (size_t i = 0; i < t->n; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, t->n, sizeof(*order), cmp_val_idx, t);
	for (size_t i = 0; i < n; i++)
		wanted[i] = (uint32_t)i;
	qsort_r(wanted, n, sizeof(*wanted), cmp_vals_idx, &want);

	for (size_t k = 0, lo = 0; k < n; k++) {
		size_t i = wanted[k];
		const char *v = (const char *)vals + i * t->val_size;
		uint32_t id = 0;

		/* Identical content in this image shares one id. */
		if (k && !memcmp(v, (const char *)vals + wanted[k - 1] * t->val_size, t->val_size)) {
			ids[i] = ids[wanted[k - 1]];
			continue;
		}
		while (lo < t->n && memcmp(applied.base + order[lo] * rec, v, t->val_size) < 0)
			lo++;
		if (lo < t->n && !memcmp(applied.base + order[lo] * rec, v, t->val_size))
			id = *(const uint32_t *)((const char *)t->recs + order[lo] * rec);
		/* Fresh ids come from a counter that skips every applied id: they never meet one
		 * another within an apply, and a freed id comes back only after a full turn. */
		while (!id) {
			uint32_t cand = t->next_id++;

			if (t->next_id >= t->max_id)
				t->next_id = 1;
			if (++fresh > (size_t)t->max_id) {
				free(order);
				free(wanted);
				log_event(LOG_ERR, LOG_EV_CAPACITY, NULL, "sync: no free %s id", t->name);
				return -ENOSPC;
			}
			if (!t->n || !bsearch(&cand, t->recs, t->n, rec, cmp_u32))
				id = cand;
		}
		ids[i] = id;
	}
	free(order);
	free(wanted);
	return 0;
}

/* The records (id, value) of an image's content, sorted by id, duplicates removed. */
static void *idtab_records(const struct idtab *t, const void *vals, const uint32_t *ids, size_t n,
			   size_t *nout)
{
	size_t rec = idtab_rec(t), k = 0;
	char *out = malloc((n + 1) * rec);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		memcpy(out + i * rec, &ids[i], 4);
		memcpy(out + i * rec + 4, (const char *)vals + i * t->val_size, t->val_size);
	}
	qsort(out, n, rec, cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (!k || memcmp(out + (k - 1) * rec, out + i * rec, 4))
			memmove(out + k++ * rec, out + i * rec, rec);
	*nout = k;
	return out;
}

static struct table keyed_table(const struct sync *s, enum map_id m)
{
	const struct map_def *d = &map_defs[m];

	/* The route map is the one the reader's thread punts keys in. */
	return (struct table){ d->what, s->fd.fd[m], d->rec_size, d->key_size, d->val_off,
			       d->val_size, .guarded = m == MAP_ROUTES, .uncached = d->uncached,
			       .lpm = d->type == BPF_MAP_TYPE_LPM_TRIE,
			       .split_piece = d->split_piece, .split_off = d->split_off };
}

static int adopt(struct sync *s)
{
	int r = 0;

	for (int m = 0; m < MAP_APPLIED && !r; m++) {
		struct table t;

		if (map_defs[m].kind == MAP_CONTENT) {
			r = idtab_adopt(&s->ids[m]);
			continue;
		}
		t = keyed_table(s, m);
		r = adopt_keys(&t, map_image_arr(&s->applied, m), map_image_count(&s->applied, m));
	}
	return r;
}

int sync_init(struct sync *s, const struct sync_fds *fds)
{
	int r;

	*s = (struct sync){ .fd = *fds, .pending = HTAB_INIT(struct sync_pending, node, key),
			    .upto = UINT64_MAX };
	pthread_mutex_init(&s->lock, NULL);
	for (int m = 0; m < MAP_APPLIED; m++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (map_defs[m].kind != MAP_CONTENT)
			continue;
		/* Ids index the map (an array) and, for rules, the hit counters, which are as
		 * large: they stay below its size. */
		s->ids[m] = (struct idtab){ map_defs[m].what, fds->fd[m], map_defs[m].val_size,
					    UINT32_MAX };
		if (!bpf_obj_get_info_by_fd(fds->fd[m], &info, &len) && info.max_entries > 1) {
			s->ids[m].max_id = info.max_entries;
			s->ids[m].array = info.type == BPF_MAP_TYPE_ARRAY;
		}
	}
	r = adopt(s);
	if (r < 0)
		return r;
	r = fib4_init(&s->fib4, fds->fd[MAP_FIB4], fds->fd[MAP_FIB4_CHUNKS]);
	if (r == -ENOMEM)
		return r;
	if (fds->fd[MAP_FLOWS] >= 0) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		/* A power of two, or no cache: the program masks a hash to a slot. */
		if (!bpf_obj_get_info_by_fd(fds->fd[MAP_FLOWS], &info, &len) && info.max_entries > 1 &&
		    !(info.max_entries & (info.max_entries - 1)))
			s->flow_mask = info.max_entries - 1;
	}
	{
		/* Generations go on from the pinned state: a restart must not make them go back. */
		struct steer_state st;
		uint32_t zero = 0;

		if (!bpf_map_lookup_elem(fds->fd[MAP_STATE], &zero, &st)) {
			s->generation = st.generation;
			s->epoch = st.epoch;	/* adopted pins: epochs go on rising */
			s->synced = st.synced;
			s->state_flags = st.flags;
			s->stale_after_ns = st.stale_after_ns;
		}
		/* And past any a flow cache slot may hold, should the state map be new (another
		 * layout) while the flow cache was adopted: from the time of day on. */
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			if ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec > s->epoch)
				s->epoch = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		}
	}
	if (s->applied.nsrcs || s->applied.nroutes || s->ids[MAP_NH].n)
		log_event(LOG_INFO, LOG_EV_ADOPTED, NULL,
			  "sync: adopted %zu rule lists, %zu rules, %zu routes, %zu next hops from the pinned maps",
			  s->applied.nsrcs, s->ids[MAP_RULES].n, s->applied.nroutes, s->ids[MAP_NH].n);
	return 0;
}

static void free_applied(struct sync *s)
{
	for (int m = 0; m < MAP_APPLIED; m++) {
		if (map_defs[m].kind == MAP_CONTENT) {
			free(s->ids[m].recs);
			s->ids[m].recs = NULL;
			s->ids[m].n = 0;
		} else {
			free(*map_image_arr(&s->applied, m));
		}
	}
	s->applied = (struct image){};
}

int sync_forget(struct sync *s)
{
	int r;

	free_applied(s);
	r = adopt(s);
	fib4_free(&s->fib4);
	if (fib4_init(&s->fib4, s->fd.fd[MAP_FIB4], s->fd.fd[MAP_FIB4_CHUNKS]) == -ENOMEM && !r)
		r = -ENOMEM;
	return r;
}

/* A fresh rule id starts counting hits from zero. */
static void reset_hits(struct sync *s, const void *old, size_t nold, const void *new, size_t nnew)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *zero;
	size_t i = 0;

	if (s->fd.fd[MAP_HITS] < 0 || ncpu <= 0 || !(zero = calloc((size_t)ncpu, sizeof(*zero))))
		return;
	for (size_t j = 0; j < nnew; j++) {
		uint32_t id = *(const uint32_t *)((const char *)new + j * (4 + sizeof(struct steer_rule)));

		while (i < nold && *(const uint32_t *)((const char *)old + i * (4 + sizeof(struct steer_rule))) < id)
			i++;
		if (i < nold && *(const uint32_t *)((const char *)old + i * (4 + sizeof(struct steer_rule))) == id)
			continue;
		bpf_map_update_elem(s->fd.fd[MAP_HITS], &id, zero, BPF_ANY);
	}
	free(zero);
}

/* Every key the reader punted counts as holding no image's value: the diff then rewrites
 * (or deletes) each, unless its event is newer than the image. */
static int mark_pending(struct sync *s)
{
	const size_t rec = sizeof(struct image_route);
	struct image_route *extra = NULL, *merged;
	size_t nextra = 0, i = 0, j = 0, n = 0;
	struct htab_iter it;
	struct sync_pending *p;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	if (s->pending.count && !(extra = calloc(s->pending.count, rec)))
		r = -ENOMEM;
	htab_iter_init(&it, &s->pending);
	while (!r && (p = htab_iter_next(&it))) {
		struct image_route *a = s->applied.nroutes ?
			bsearch(&p->key, s->applied.routes, s->applied.nroutes, rec, cmp_route) : NULL;

		if (a)
			memset(&a->val, 0xff, sizeof(a->val));
		else
			extra[nextra++].key = p->key;
	}
	pthread_mutex_unlock(&s->lock);
	if (r || !nextra) {
		free(extra);
		return r;
	}
	for (size_t k = 0; k < nextra; k++)
		memset(&extra[k].val, 0xff, sizeof(extra[k].val));
	qsort(extra, nextra, rec, cmp_route);
	merged = malloc((s->applied.nroutes + nextra) * rec);
	if (!merged) {
		free(extra);
		return -ENOMEM;
	}
	while (i < s->applied.nroutes || j < nextra)
		merged[n++] = j == nextra || (i < s->applied.nroutes &&
					      cmp_route(&s->applied.routes[i], &extra[j]) < 0) ?
			      s->applied.routes[i++] : extra[j++];
	free(s->applied.routes);
	free(extra);
	s->applied.routes = merged;
	s->applied.nroutes = n;
	return 0;
}

/* The netfilter chains for steerctl: the slots that changed, the rest cleared. Nothing in
 * the datapath reads them, so a failed write is only logged. */
static void write_netfilter(struct sync *s, const struct image *img)
{
	for (uint32_t i = 0; s->fd.fd[MAP_NETFILTER] >= 0 && i < STEER_NF_CHAINS; i++) {
		struct steer_nf_chain c = {};

		if (i < img->nnf)
			c = img->nf[i];
		if (s->nf_written && !memcmp(&c, &s->nf[i], sizeof(c)))
			continue;
		if (bpf_map_update_elem(s->fd.fd[MAP_NETFILTER], &i, &c, BPF_ANY) < 0) {
			log_warning("sync: cannot write the netfilter map: %m");
			s->nf_written = false;
			return;
		}
		s->nf[i] = c;
	}
	s->nf_written = true;
}

static void stage_tables(struct sync *s, struct change *c)
{
	for (int m = 0; m < MAP_APPLIED; m++) {
		struct idtab *t = &s->ids[m];

		if (map_defs[m].kind == MAP_CONTENT)
			c[m] = (struct change){ idtab_table(t), &t->recs, &t->n };
		else
			c[m] = (struct change){ keyed_table(s, m), map_image_arr(&s->applied, m),
						map_image_count(&s->applied, m) };
	}
}

/* The image's entries of map m with their references turned into the maps' ids (those of
 * the content maps staged before it), in c[m].new; content gets its ids in ids[m]. */
static int stage_map(struct sync *s, const struct image *img, enum map_id m, struct change *c,
		     uint32_t **ids)
{
	const struct map_def *d = &map_defs[m];
	size_t n = *map_image_count(img, m);
	char *v = malloc((n + 1) * d->rec_size);
	struct map_ref refs[MAP_MAX_REFS];
	int r;

	if (!v)
		return -ENOMEM;
	if (n)
		memcpy(v, *map_image_arr(img, m), n * d->rec_size);
	for (size_t i = 0; i < n; i++) {
		size_t nrefs = map_refs(m, v + i * d->rec_size + d->val_off, refs);

		for (size_t k = 0; k < nrefs; k++)
			*refs[k].id = ids[refs[k].map][*refs[k].id];
	}
	if (d->kind != MAP_CONTENT) {
		c[m].new = v;
		c[m].nnew = n;
		return 0;
	}
	ids[m] = calloc(n + 1, sizeof(*ids[m]));
	r = ids[m] ? assign_ids(&s->ids[m], v, n, ids[m]) : -ENOMEM;
	if (!r && !(c[m].new = idtab_records(&s->ids[m], v, ids[m], n, &c[m].nnew)))
		r = -ENOMEM;
	free(v);
	return r;
}

/* Leaves first: next hops get ids, then groups made of next-hop ids, then rule bodies (a
 * policy's names a next hop or a group); routes and rule lists then name those ids. */
static int stage_ids(struct sync *s, const struct image *img, struct change *c)
{
	uint32_t *ids[MAP_APPLIED] = {};
	int r = 0;

	for (int m = MAP_APPLIED - 1; m >= 0 && !r; m--)
		r = stage_map(s, img, m, c, ids);
	for (int m = 0; m < MAP_APPLIED; m++)
		free(ids[m]);
	return r;
}

/* A value adopted from the maps or forgotten after a failed apply: not known. */
static bool value_unknown(const struct table *t, const char *rec)
{
	for (size_t i = 0; i < t->val_len; i++)
		if ((uint8_t)rec[t->val_off + i] != 0xff)
			return false;
	return true;
}

/* The split ids of recs' pieces (known ones only: known), sorted. */
static uint32_t *split_ids(const struct table *t, const void *recs, size_t n, bool known,
			   size_t *nout)
{
	uint32_t *ids = malloc((n + 1) * sizeof(*ids));

	*nout = 0;
	for (size_t i = 0; ids && i < n; i++)
		if (!known || !value_unknown(t, rec_at(t, recs, i)))
			memcpy(&ids[(*nout)++], rec_at(t, recs, i) + t->split_off, sizeof(*ids));
	if (ids)
		qsort(ids, *nout, sizeof(*ids), cmp_u32);
	return ids;
}

/* Whether records ix of recs change a split that the maps and the image both name. */
static bool touches(const struct table *t, const void *recs, const uint32_t *ix, size_t n,
		    const uint32_t *was, size_t nwas, const uint32_t *is, size_t nis)
{
	for (size_t k = 0; k < n; k++) {
		uint32_t id;

		memcpy(&id, rec_at(t, recs, ix[k]) + t->split_off, sizeof(id));
		if (bsearch(&id, was, nwas, sizeof(id), cmp_u32) && bsearch(&id, is, nis, sizeof(id), cmp_u32))
			return true;
	}
	return false;
}

/* Whether the apply would change the pieces of a split that a list in the maps names and
 * the image names too. Split ids follow their content (compile-lists.c), so only two
 * contents whose 32-bit hashes collide do that; a packet could then meet old and new
 * pieces of the split together. Out of memory counts as yes. */
static bool splits_change_in_place(const struct change *c)
{
	bool yes = false;

	for (int m = 0; m < MAP_APPLIED && !yes; m++) {
		const struct table *t = &c[m].t;
		size_t nwas, nis, nw, nd;
		uint32_t *was, *is, *w, *d;

		if (!t->split_piece)
			continue;
		was = split_ids(t, *c[m].old, *c[m].nold, true, &nwas);
		is = split_ids(t, c[m].new, c[m].nnew, false, &nis);
		w = differ(t, *c[m].old, *c[m].nold, c[m].new, c[m].nnew, true, &nw);
		d = differ(t, c[m].new, c[m].nnew, *c[m].old, *c[m].nold, false, &nd);
		yes = !was || !is || !w || !d ||
		      touches(t, c[m].new, w, nw, was, nwas, is, nis) ||
		      touches(t, *c[m].old, d, nd, was, nwas, is, nis);
		free(was);
		free(is);
		free(w);
		free(d);
	}
	return yes;
}

/* The reader's thread punts a route key for an event the image does not hold yet by writing
 * it to the route map, also while an apply runs: in a full map those keys take the room the
 * image needs. With the fast path punting, the ones the image lacks may go: every packet
 * then punts until an apply includes their events (pending_all), which is as exact, and
 * the reader writes no more keys meanwhile. Returns how many went. */
static size_t drop_newer_pending(struct sync *s, const struct change *rt)
{
	struct sync_pending **drop;
	struct htab_iter it;
	struct sync_pending *p;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	drop = calloc(s->pending.count + 1, sizeof(*drop));
	htab_iter_init(&it, &s->pending);
	while (drop && (p = htab_iter_next(&it)))
		if (p->seq > s->upto &&
		    !(rt->nnew && bsearch(&p->key, rt->new, rt->nnew, rt->t.rec, cmp_route)))
			drop[n++] = p;
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_delete_elem(s->fd.fd[MAP_ROUTES], &drop[i]->key) == 0)
			__atomic_fetch_add(&s->map_writes, 1, __ATOMIC_RELAXED);
		if (drop[i]->seq > s->pending_all)
			s->pending_all = drop[i]->seq;
		htab_remove(&s->pending, drop[i]);
		free(drop[i]);
	}
	pthread_mutex_unlock(&s->lock);
	free(drop);
	if (n)
		log_event(LOG_INFO, LOG_EV_CAPACITY, NULL, "sync: %zu route key(s) punted for events "
			  "newer than the apply left the full map; everything punts until an apply "
			  "includes them", n);
	return n;
}

/* Make: everything a packet can reach, leaves first. */
static int make(struct sync *s, const struct change *c)
{
	int r = write_changes_all(s, c);

	if (r != -E2BIG && r != -ENOSPC && r != -ENOMEM)
		return r;
	/* Make-before-break needs room for old and new at once. A new image that fits on its
	 * own still goes in: with the fast path punting, deleting first is safe. */
	sync_set_synced(s, false);
	log_event(LOG_INFO, LOG_EV_CAPACITY, NULL,
		  "sync: no room for old and new together; deleting first while the fast path punts");
	delete_stale_all(s, c);
	r = write_changes_all(s, c);
	if ((r == -E2BIG || r == -ENOSPC) && drop_newer_pending(s, &c[MAP_ROUTES]))
		r = write_changes_all(s, c);
	return r;
}

/* Part of the image is missing: a shorter prefix could now answer for a longer one. Punt
 * everything until an apply goes through whole. */
static void make_failed(struct sync *s, const struct change *c, int r)
{
	s->stats.failures++;
	log_event(s->failing ? LOG_DEBUG : LOG_ERR, LOG_EV_APPLY_FAILED, &(struct log_ctx){ .error = r },
		  "sync: cannot write %s entry: %s%s; the fast path hands everything to the "
		  "kernel until the maps take the whole picture", s->failed_table, strerror(-r),
		  r == -E2BIG || r == -ENOSPC || r == -ENOMEM ? " (map full)" : "");
	s->failing = true;
	sync_set_synced(s, false);
	for (int i = MAP_APPLIED - 1; i >= 0; i--) {
		if (forget_values(&c[i].t, c[i].old, c[i].nold, c[i].new, c[i].nnew) < 0) {
			log_event(LOG_ERR, LOG_EV_APPLY_FAILED, &(struct log_ctx){ .error = -ENOMEM },
				  "sync: out of memory after a failed apply");
			break;
		}
	}
}

/* The maps hold the image: remember it, and publish what the state map says of it. */
static void made(struct sync *s, const struct image *img, struct change *c)
{
	for (int i = 0; i < MAP_APPLIED; i++) {
		free(*c[i].old);
		*c[i].old = c[i].new;
		*c[i].nold = c[i].nnew;
		c[i].new = NULL;
	}
	write_netfilter(s, img);
	s->stats.applies++;
	pthread_mutex_lock(&s->lock);
	if (s->pending_all && s->pending_all <= s->upto)
		s->pending_all = 0;	/* the state written next says so */
	s->generation++;
	s->state_flags = img->state_flags;
	s->ct_mark = img->ct_mark;
	s->ct_mask = img->ct_mask;
	s->ct_timeout_tcp_ms = img->ct_timeout_tcp_ms;
	s->ct_timeout_udp_ms = img->ct_timeout_udp_ms;
	pthread_mutex_unlock(&s->lock);
	if (s->failing)
		log_event(LOG_NOTICE, LOG_EV_APPLY_RECOVERED, NULL,
			  "sync: the maps hold the whole picture again; fast path back");
	s->failing = false;
}

/* Whether a route event of table not in the image yet keeps its IPv4 arrays closed. */
static bool table_held(void *arg, uint32_t table)
{
	struct sync *s = arg;
	struct htab_iter it;
	struct sync_pending *p;

	htab_iter_init(&it, &s->pending);
	while ((p = htab_iter_next(&it)))
		if (p->key.family == STEER_AF_INET && p->key.table == table)
			return true;
	return false;
}

/* Closes the IPv4 arrays' slots the apply changes, before any map is written: lookups in
 * them go to the trie, which the apply keeps exact, until fib4_done() fills them. */
static void fib4_start(struct sync *s, const struct change *c)
{
	const struct change *rt = &c[MAP_ROUTES];

	pthread_mutex_lock(&s->lock);
	if (fib4_begin(&s->fib4, rt->new, rt->nnew, rt->t.rec, rt->t.val_off) != 0)
		__atomic_fetch_add(&s->map_writes, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
}

static void fib4_done(struct sync *s)
{
	size_t writes;

	pthread_mutex_lock(&s->lock);
	writes = fib4_commit(&s->fib4, table_held, s);
	pthread_mutex_unlock(&s->lock);
	__atomic_fetch_add(&s->map_writes, writes, __ATOMIC_RELAXED);
}

int sync_apply(struct sync *s, const struct image *img)
{
	struct change c[MAP_APPLIED];
	int r;

	stage_tables(s, c);
	r = mark_pending(s) < 0 ? -ENOMEM : stage_ids(s, img, c);
	if (!r)
		fib4_start(s, c);
	if (!r) {
		reset_hits(s, s->ids[MAP_RULES].recs, s->ids[MAP_RULES].n, c[MAP_RULES].new, c[MAP_RULES].nnew);
		if (splits_change_in_place(c)) {
			s->stats.splits_in_place++;
			log_notice("sync: a split rule list changes in place (its id's hash collided); "
				   "the fast path hands everything to the kernel during this apply");
			sync_set_synced(s, false);
		}
		r = make(s, c);
		if (r < 0) {
			fib4_abort(&s->fib4);
			make_failed(s, c, r);
		} else {
			/* Break: what nothing references any more, roots first. */
			delete_stale_all(s, c);
			fib4_done(s);
			made(s, img, c);
		}
	}
	for (int i = 0; i < MAP_APPLIED; i++)
		free(c[i].new);
	return r < 0 ? r : 0;
}

/* The datapath reads the coarse clock (cheap per packet); the heartbeat uses the same. */
static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sync_write_agent_stats(struct sync *s, const struct steer_agent_stats *st)
{
	uint32_t zero = 0;

	if (s->fd.fd[MAP_AGENT] < 0 || bpf_map_update_elem(s->fd.fd[MAP_AGENT], &zero, st, BPF_ANY) < 0)
		return -errno;
	return 0;
}

/* The state map, whole; the caller holds the lock. A new epoch when a map the decision
 * reads was written since the last one, or the state itself says something new: a pulse,
 * or an apply that changed nothing, leaves the flow cache standing. */
static int write_state(struct sync *s, bool synced)
{
	uint64_t writes = __atomic_load_n(&s->map_writes, __ATOMIC_RELAXED);
	struct steer_state st = { .synced = synced, .abi_version = STEER_ABI_VERSION,
				  .generation = s->generation, .flags = s->state_flags,
				  .nf_mode = s->nf_mode, .stale_after_ns = s->stale_after_ns,
				  .ct_mark = s->ct_mark, .ct_mask = s->ct_mask,
				  .ct_timeout_tcp_ms = s->ct_timeout_tcp_ms,
				  .ct_timeout_udp_ms = s->ct_timeout_udp_ms };
	uint32_t zero = 0;

	if (s->pending_all)
		st.flags |= STEER_STATE_PENDING;
	/* The shortcut assumes only the local table punts; a pending key elsewhere breaks that
	 * until the apply. */
	if (s->pending.count)
		st.flags &= ~STEER_STATE_LOCAL_SRC_CHECK4;
	s->heartbeat_ns = st.heartbeat_ns = monotonic_ns();
	/* Every write ends every cached decision: what was written before it may have been
	 * a pending mark, a link, a route the cache has a flow of. */
	st.flow_mask = s->flow_mask;
	/* The pulse and the generation (for people) decide nothing. */
	st.epoch = s->epoch;
	s->last_state.heartbeat_ns = st.heartbeat_ns;
	s->last_state.generation = st.generation;
	if (writes != s->writes_at_epoch || memcmp(&st, &s->last_state, sizeof(st))) {
		st.epoch = ++s->epoch;
		s->writes_at_epoch = writes;
	}
	if (bpf_map_update_elem(s->fd.fd[MAP_STATE], &zero, &st, BPF_ANY) < 0) {
		log_event(LOG_ERR, LOG_EV_APPLY_FAILED, &(struct log_ctx){ .error = errno },
			  "sync: cannot write the state map: %m");
		return -errno;
	}
	s->synced = synced;
	s->last_state = st;
	return 0;
}

int sync_set_synced(struct sync *s, bool synced)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = write_state(s, synced);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sync_heartbeat(struct sync *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = write_state(s, s->synced);
	pthread_mutex_unlock(&s->lock);
	return r;
}

void sync_pending_all(struct sync *s, uint64_t seq)
{
	pthread_mutex_lock(&s->lock);
	if (!s->pending_all) {
		s->pending_all = seq;
		write_state(s, s->synced);
	}
	s->pending_all = seq;
	pthread_mutex_unlock(&s->lock);
}

void sync_pending_route(struct sync *s, const struct steer_route_key *k, uint64_t seq)
{
	struct steer_route pend = { .type = STEER_RT_PENDING, .dst_len = (uint8_t)(k->prefixlen - 64) };
	struct sync_pending *p;

	pthread_mutex_lock(&s->lock);
	/* Its table's IPv4 arrays say the old answer: closed, the trie's pending key speaks. */
	if (k->family == STEER_AF_INET)
		fib4_close_table(&s->fib4, k->table);
	p = htab_find(&s->pending, k);
	if (p) {
		p->seq = seq;
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p || (p->key = *k, htab_insert(&s->pending, p) < 0)) {
		free(p);
		p = NULL;
	}
	/* No room (in memory or in the map), or everything punts already (pending_all): the
	 * key is not written; everything punts until an apply includes it, exact all the same. */
	if (p && !s->pending_all && !bpf_map_update_elem(s->fd.fd[MAP_ROUTES], k, &pend, BPF_ANY)) {
		__atomic_fetch_add(&s->map_writes, 1, __ATOMIC_RELAXED);
	} else {
		if (p)
			p->seq = seq;	/* the key may hold anything: rewrite it at the apply */
		if (!s->pending_all)
			s->pending_all = seq, write_state(s, s->synced);
		s->pending_all = seq;
		goto out;
	}
	p->seq = seq;
	/* The new epoch makes the flow cache forget decisions that used this route (and, for
	 * the first pending key, the local-table shortcut of the source check goes). */
	write_state(s, s->synced);
out:
	pthread_mutex_unlock(&s->lock);
}

bool sync_has_pending(struct sync *s)
{
	bool r;

	pthread_mutex_lock(&s->lock);
	r = s->pending.count || s->pending_all;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sync_tighten_nf(struct sync *s, uint32_t flags)
{
	uint32_t next = (s->state_flags | (flags & STEER_STATE_NF_MASK)) &
			~(STEER_STATE_CT_MASK & ~flags);
	int r = 0;

	pthread_mutex_lock(&s->lock);
	if (next != s->state_flags) {
		s->state_flags = next;
		r = write_state(s, s->synced);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

void sync_free(struct sync *s)
{
	struct htab_iter it;
	void *p;

	free_applied(s);
	fib4_free(&s->fib4);
	htab_iter_init(&it, &s->pending);
	while ((p = htab_iter_next(&it)))
		free(p);
	htab_free(&s->pending);
	pthread_mutex_destroy(&s->lock);
	*s = (struct sync){};
}
