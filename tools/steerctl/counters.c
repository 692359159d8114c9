/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The datapath's per-CPU counters (steer_stats), every counter of every possible CPU read in
 * one go, so `stats`, its rates and the Prometheus file all start from the same numbers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steerctl.h"

/* Opens a counter map (steer_stats, steer_xdp_stats); sc_map_open refuses one whose value
 * is not this steerctl's struct steer_counters (steerd from another build). */
int sc_counters_open(const struct steerctl *c, enum map_id id, struct pinned_map *m)
{
	return sc_map_open(c, id, m);
}

/* Fills s (allocating on its first use). The live counters are one value per CPU, read
 * with one lookup; s->percpu holds them by counter. Returns 0 or a negative errno. */
int sc_counters_read(const struct steerctl *c, const struct pinned_map *m,
		     struct sc_counters *s)
{
	__u32 key = 0, i;
	char path[4096];
	int k;

	if (!s->percpu) {
		s->ncpus = libbpf_num_possible_cpus();
		if (s->ncpus < 0)
			return sc_error(c, "/sys/devices/system/cpu/possible", s->ncpus);
		s->percpu = calloc((size_t)STEER_STAT_MAX * s->ncpus, sizeof(*s->percpu));
		s->raw = calloc((size_t)s->ncpus, sizeof(*s->raw));
		if (!s->percpu || !s->raw) {
			sc_counters_free(s);
			return sc_error(c, m->name, -ENOMEM);
		}
	}
	/* A per-CPU lookup fills one value per possible CPU. */
	if (bpf_map_lookup_elem(m->fd, &key, s->raw)) {
		int err = -errno;

		if (!sc_path(c, m->name, path, sizeof(path)))
			sc_error(c, path, err);
		return err;
	}
	for (i = 0; i < STEER_STAT_MAX; i++) {
		s->sum[i] = 0;
		for (k = 0; k < s->ncpus; k++) {
			s->percpu[(size_t)i * s->ncpus + k] = s->raw[k].n[i];
			s->sum[i] += s->raw[k].n[i];
		}
	}
	return 0;
}

void sc_counters_free(struct sc_counters *s)
{
	free(s->percpu);
	free(s->raw);
	s->percpu = NULL;
	s->raw = NULL;
}
