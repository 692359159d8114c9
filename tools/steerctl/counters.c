/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The datapath's per-CPU counters (steer_stats), every counter of every possible CPU read in
 * one go, so `stats`, its rates and the Prometheus file all start from the same numbers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steerctl.h"

/* Opens a counter map (steer_stats, steer_xdp_stats) and checks it holds every counter
 * this steerctl names. */
int sc_counters_open(const struct steerctl *c, enum map_id id, struct pinned_map *m)
{
	char path[4096];
	int err;

	err = sc_map_open(c, id, m);
	if (err)
		return err;
	if (m->info.max_entries >= STEER_STAT_MAX)
		return 0;
	if (!sc_path(c, map_defs[id].name, path, sizeof(path)))
		fprintf(stderr, "steerctl: %s: %u counters, this steerctl knows %d: steerd and "
			"steerctl are from different builds\n", path, m->info.max_entries,
			STEER_STAT_MAX);
	sc_map_close(m);
	return -EPROTO;
}

/* Fills s (allocating s->percpu on its first use). Returns 0 or a negative errno. */
int sc_counters_read(const struct steerctl *c, const struct pinned_map *m,
		     struct sc_counters *s)
{
	char path[4096];
	__u32 i;
	int k;

	if (!s->percpu) {
		s->ncpus = libbpf_num_possible_cpus();
		if (s->ncpus < 0)
			return sc_error(c, "/sys/devices/system/cpu/possible", s->ncpus);
		s->percpu = calloc((size_t)STEER_STAT_MAX * s->ncpus, sizeof(*s->percpu));
		if (!s->percpu)
			return sc_error(c, m->name, -ENOMEM);
	}
	for (i = 0; i < STEER_STAT_MAX; i++) {
		__u64 *v = s->percpu + (size_t)i * s->ncpus;

		/* A per-CPU lookup fills one 8-byte slot per possible CPU. */
		if (bpf_map_lookup_elem(m->fd, &i, v)) {
			int err = -errno;

			if (!sc_path(c, m->name, path, sizeof(path)))
				sc_error(c, path, err);
			return err;
		}
		s->sum[i] = 0;
		for (k = 0; k < s->ncpus; k++)
			s->sum[i] += v[k];
	}
	return 0;
}

void sc_counters_free(struct sc_counters *s)
{
	free(s->percpu);
	s->percpu = NULL;
}
