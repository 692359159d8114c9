/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Everything steerctl knows about the pins: where they are, what layout abi.h says they
 * have, and how to read them without changing them (maps are opened read-only, so
 * steerctl cannot disturb a running agent). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "netns.h"
#include "steerctl.h"

/* The one place a failure with a path is reported. Returns err (negative errno). */
int sc_error(const struct steerctl *c, const char *path, int err)
{
	(void)c;
	fprintf(stderr, "steerctl: %s: %s\n", path, strerror(-err));
	return err;
}

/* Whether any of steer's maps is pinned under the pin directory. */
static bool any_pinned(const struct steerctl *c)
{
	char path[4096];
	struct stat st;
	size_t i;

	for (i = 0; i < MAP_COUNT; i++)
		if (map_defs[i].listed && !sc_path(c, map_defs[i].name, path, sizeof(path)) &&
		    !stat(path, &st))
			return true;
	return false;
}

/* Whether the pin directory is missing because `ip netns exec` hid the host's /sys/fs/bpf:
 * its parent is no BPF filesystem and the process came in through ip netns exec. */
static bool hidden_by_netns_exec(const struct steerctl *c, char *ns, size_t len)
{
	char parent[4096], *slash;
	struct statfs sfs;

	snprintf(parent, sizeof(parent), "%s", c->pin_dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	return netns_path_on_sys(parent) && statfs(parent, &sfs) == 0 &&
	       sfs.f_type != BPF_FS_MAGIC && netns_entry(ns, len) == NETNS_IP_NETNS_EXEC;
}

/* Opening a pin failed. The two failures people meet (no agent ever ran with this pin
 * directory, and not being root) get words that say what to do. Returns err. */
int sc_pin_error(const struct steerctl *c, const char *path, int err)
{
	char ns[256];

	if (err == -EACCES || err == -EPERM) {
		fprintf(stderr, "steerctl: permission denied reading %s: run as root or with "
			"CAP_BPF and access to %s (%s: %s)\n", c->pin_dir, c->pin_dir, path,
			strerror(-err));
	} else if (err == -ENOENT && !any_pinned(c) && hidden_by_netns_exec(c, ns, sizeof(ns))) {
		fprintf(stderr, "steerctl: nothing pinned under %s: `ip netns exec %s` mounts a "
			"/sys of its own, without the host's BPF filesystem; run steerctl with "
			"`nsenter --net=/run/netns/%s` instead\n", c->pin_dir, ns, ns);
	} else if (err == -ENOENT && !any_pinned(c)) {
		fprintf(stderr, "steerctl: nothing pinned under %s: is steerd running, or was "
			"it started with --pin-dir?\n", c->pin_dir);
	} else if (err == -ENOENT) {
		fprintf(stderr, "steerctl: %s: not pinned, though steer's other pins are there: "
			"steerd from another build, or a cleanup cut short?\n", path);
	} else {
		sc_error(c, path, err);
	}
	return err;
}

int sc_path(const struct steerctl *c, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", c->pin_dir, name);

	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "steerctl: %s/%s: %s\n", c->pin_dir, name, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	return 0;
}

/* What the kernel says of the object behind an open pin; on failure says why and closes
 * fd. */
static int pin_info(const struct steerctl *c, const char *path, int fd, void *info, __u32 *len)
{
	int err = bpf_obj_get_info_by_fd(fd, info, len) ? -errno : 0;

	if (err)
		close(fd);
	return err ? sc_error(c, path, err) : 0;
}

int sc_map_open(const struct steerctl *c, enum map_id id, struct pinned_map *m)
{
	const struct map_def *spec = &map_defs[id];
	LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = BPF_F_RDONLY);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[4096];
	int fd, err;

	err = sc_path(c, spec->name, path, sizeof(path));
	if (err)
		return err;
	fd = bpf_obj_get_opts(path, &opts);
	if (fd < 0)
		return sc_pin_error(c, path, -errno);
	err = pin_info(c, path, fd, &info, &len);
	if (err)
		return err;
	if (info.key_size != spec->key_size || info.value_size != spec->val_size ||
	    (spec->type && info.type != spec->type &&
	     !(spec->alt_type && info.type == spec->alt_type))) {
		fprintf(stderr,
			"steerctl: %s: map type %u, key %u bytes, value %u bytes; this steerctl "
			"expects type %u, key %u, value %u (ABI version %d): steerd and steerctl "
			"are from different builds\n",
			path, info.type, info.key_size, info.value_size, spec->type,
			spec->key_size, spec->val_size, STEER_ABI_VERSION);
		close(fd);
		return -EPROTO;
	}
	m->fd = fd;
	m->name = spec->name;
	m->info = info;
	m->sparse = (spec->kind == MAP_CONTENT || spec->sparse) && info.type == BPF_MAP_TYPE_ARRAY;
	return 0;
}

/* The keys of a sparse map's slots that hold something, collected. */
struct sparse_keys {
	__u32 *keys;
	size_t n, cap;
};

static int sparse_key(void *arg, uint32_t key, const void *val)
{
	struct sparse_keys *k = arg;

	(void)val;
	if (k->n == k->cap) {
		__u32 *nk = realloc(k->keys, (k->cap = k->cap ? k->cap * 2 : 256) * sizeof(*nk));

		if (!nk)
			return -ENOMEM;
		k->keys = nk;
	}
	k->keys[k->n++] = key;
	return 0;
}

static int sparse_keys(const struct pinned_map *m, struct sparse_keys *k)
{
	*k = (struct sparse_keys){};
	return map_each_id(m->fd, m->info.value_size, sparse_key, k);
}

/* The maps a command reads, opened and closed as one list. */
int sc_maps_open(const struct steerctl *c, const struct sc_map_use *use)
{
	const struct sc_map_use *u;
	int err = 0;

	for (u = use; u->m && !err; u++)
		err = sc_map_open(c, u->id, u->m);
	for (u = use; u->m && !err; u++)
		if (u->keys)
			err = sc_map_keys(c, u->m, u->cmp, u->keys, u->n);
	return err;
}

void sc_maps_close(const struct sc_map_use *use)
{
	for (; use->m; use++) {
		sc_map_close(use->m);
		if (use->keys) {
			free(*use->keys);
			*use->keys = NULL;
		}
	}
}

void sc_map_close(struct pinned_map *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

static int next_key_error(const struct steerctl *c, const struct pinned_map *m, int err)
{
	char path[4096];

	if (sc_path(c, m->name, path, sizeof(path)))
		return err;
	fprintf(stderr, "steerctl: %s: reading keys: %s\n", path, strerror(-err));
	return err;
}

int sc_map_lookup(const struct steerctl *c, const struct pinned_map *m, const void *key, void *val)
{
	char path[4096];
	int err;

	if (!bpf_map_lookup_elem(m->fd, key, val))
		return 1;
	if (errno == ENOENT)
		return 0;
	err = -errno;
	if (sc_path(c, m->name, path, sizeof(path)))
		snprintf(path, sizeof(path), "%s", m->name);
	return sc_error(c, path, err);
}

/* A key that vanished under us makes the kernel restart from the first key, so a map the
 * agent rewrites while we walk it could be walked forever: stop at max_entries. */
int sc_map_count(const struct steerctl *c, const struct pinned_map *m, __u64 *count)
{
	__u8 *key = calloc(2, m->info.key_size);
	__u8 *cur = NULL, *next = key;
	__u64 n = 0;
	int err = 0;

	if (!key)
		return next_key_error(c, m, -ENOMEM);
	if (m->sparse) {
		struct sparse_keys k;

		free(key);
		err = sparse_keys(m, &k);
		free(k.keys);
		*count = k.n;
		return err ? next_key_error(c, m, err) : 0;
	}
	/* Every slot of an array exists: no need to walk 65,536 keys to learn that. */
	if (m->info.type == BPF_MAP_TYPE_ARRAY || m->info.type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		free(key);
		*count = m->info.max_entries;
		return 0;
	}
	while (n < m->info.max_entries) {
		if (bpf_map_get_next_key(m->fd, cur, next)) {
			err = -errno;
			break;
		}
		n++;
		cur = next;
		next = cur == key ? key + m->info.key_size : key;
	}
	free(key);
	if (err && err != -ENOENT)
		return next_key_error(c, m, err);
	*count = n;
	return 0;
}

int sc_map_keys(const struct steerctl *c, const struct pinned_map *m,
		int (*cmp)(const void *, const void *), void **keys_out, size_t *n_out)
{
	size_t ksz = m->info.key_size, n = 0, cap = 0, i, out;
	__u8 *keys = NULL;
	int err = 0;

	if (m->sparse) {
		struct sparse_keys k;

		err = sparse_keys(m, &k);	/* no repeats: one pass over the slots */
		if (err) {
			free(k.keys);
			return next_key_error(c, m, err);
		}
		if (k.n > 1)
			qsort(k.keys, k.n, sizeof(*k.keys), cmp);
		*keys_out = k.keys;
		*n_out = k.n;
		return 0;
	}

	while (n < m->info.max_entries) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			__u8 *nk = realloc(keys, ncap * ksz);

			if (!nk) {
				err = -ENOMEM;
				break;
			}
			keys = nk;
			cap = ncap;
		}
		if (bpf_map_get_next_key(m->fd, n ? keys + (n - 1) * ksz : NULL, keys + n * ksz)) {
			err = -errno;
			break;
		}
		n++;
	}
	if (err && err != -ENOENT) {
		free(keys);
		return next_key_error(c, m, err);
	}
	/* A walk restarted by a concurrent delete returns keys twice; sorting puts the
	 * copies next to each other (cmp is a total order on the key bytes). */
	if (n > 1)
		qsort(keys, n, ksz, cmp);
	for (i = 0, out = 0; i < n; i++) {
		if (out && !memcmp(keys + (out - 1) * ksz, keys + i * ksz, ksz))
			continue;
		if (out != i)
			memcpy(keys + out * ksz, keys + i * ksz, ksz);
		out++;
	}
	*keys_out = keys;
	*n_out = out;
	return 0;
}

int sc_pin_prog_id(const struct steerctl *c, const char *pin, __u32 *id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	char path[4096];
	int fd, err;

	err = sc_path(c, pin, path, sizeof(path));
	if (err)
		return err;
	/* The kernel opens pinned programs read-write only; steerctl only asks for its info. */
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno == ENOENT) {
			*id = 0;	/* maps without a program: reported, not an error */
			return 0;
		}
		return sc_pin_error(c, path, -errno);
	}
	err = pin_info(c, path, fd, &info, &len);
	if (err)
		return err;
	close(fd);
	*id = info.id;
	return 0;
}

int sc_prog_id(const struct steerctl *c, __u32 *id)
{
	return sc_pin_prog_id(c, STEERCTL_PROG_PIN, id);
}

int sc_cmp_u32(const void *pa, const void *pb)
{
	__u32 a = *(const __u32 *)pa, b = *(const __u32 *)pb;

	return a < b ? -1 : a > b;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct name_list {
	enum map_hook hook;
	char **names;
	size_t n, cap;
};

static int add_link_name(void *arg, const char *ifname, enum map_hook hook)
{
	struct name_list *l = arg;

	if (hook != l->hook)
		return 0;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		char **nn = realloc(l->names, ncap * sizeof(*nn));

		if (!nn)
			return -ENOMEM;
		l->names = nn;
		l->cap = ncap;
	}
	if (!(l->names[l->n] = strdup(ifname)))
		return -ENOMEM;
	l->n++;
	return 0;
}

/* Interfaces with a pinned TCX link at ingress (or egress), sorted by name. */
int sc_attached(const struct steerctl *c, enum map_hook hook, char ***names_out, size_t *n_out)
{
	struct name_list l = { .hook = hook };
	int err = map_pinned_links(c->pin_dir, add_link_name, &l);

	if (err) {
		while (l.n)
			free(l.names[--l.n]);
		free(l.names);
		return err == -ENOMEM ? sc_error(c, c->pin_dir, err) : sc_pin_error(c, c->pin_dir, err);
	}
	if (l.n > 1)
		qsort(l.names, l.n, sizeof(*l.names), cmp_name);
	*names_out = l.names;
	*n_out = l.n;
	return 0;
}

int sc_read_agent(const struct steerctl *c, struct steer_agent_stats *st)
{
	struct pinned_map m = { .fd = -1 };
	__u32 key = 0;
	int err;

	err = sc_map_open(c, MAP_AGENT, &m);
	if (!err && bpf_map_lookup_elem(m.fd, &key, st))
		err = -errno;
	sc_map_close(&m);
	return err;
}

int sc_read_state(const struct steerctl *c, struct steer_state *st)
{
	struct pinned_map m = { .fd = -1 };
	char path[4096];
	__u32 key = 0;
	int err;

	err = sc_map_open(c, MAP_STATE, &m);
	if (err)
		return err;
	if (bpf_map_lookup_elem(m.fd, &key, st)) {
		err = -errno;
		if (!sc_path(c, STEER_MAP_STATE, path, sizeof(path)))
			sc_error(c, path, err);
	}
	sc_map_close(&m);
	return err;
}

/* Sizes were checked when the maps were opened; a different version with the same sizes
 * may still mean different things, so say so, but show what is there. Version 0 with
 * synced 0 is a state entry the agent has not written yet, not a mismatch. */
void sc_check_abi(const struct steer_state *st)
{
	if ((st->abi_version || st->synced) && st->abi_version != STEER_ABI_VERSION)
		fprintf(stderr, "steerctl: warning: the maps have ABI version %u, this steerctl "
			"was built for %d\n", st->abi_version, STEER_ABI_VERSION);
}

/* The sum over all possible CPUs of a per-CPU __u64 at key; a key the map does not hold
 * (a per-CPU hash entry never written, an id past an array's end) counts 0. */
int sc_percpu_sum(const struct steerctl *c, const struct pinned_map *m, __u32 key, __u64 *sum)
{
	int ncpus = libbpf_num_possible_cpus(), i;
	char path[4096];
	__u64 *v, s = 0;

	if (ncpus < 0)
		return sc_error(c, "/sys/devices/system/cpu/possible", ncpus);
	v = calloc(ncpus, sizeof(*v));	/* __u64 values are already 8-byte slots */
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->fd, &key, v)) {
		int err = -errno;

		free(v);
		if (err == -ENOENT) {
			*sum = 0;
			return 0;
		}
		if (!sc_path(c, m->name, path, sizeof(path)))
			sc_error(c, path, err);
		return err;
	}
	for (i = 0; i < ncpus; i++)
		s += v[i];
	free(v);
	*sum = s;
	return 0;
}
