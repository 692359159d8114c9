/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl stats`: every datapath counter by name, summed over all possible CPUs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steerctl.h"

int cmd_stats(struct steerctl *c)
{
	struct pinned_map m = { .fd = -1 };
	__u64 sums[STEER_STAT_MAX] = {};
	char names[STEER_STAT_MAX][32];
	__u64 *percpu = NULL;
	char path[4096];
	int ncpus, err, width = 0;
	__u32 i, k;

	err = sc_map_open(c, SC_MAP_STATS, &m);
	if (err)
		return err;
	err = sc_path(c, STEER_MAP_STATS, path, sizeof(path));
	if (err)
		goto out;
	if (m.info.max_entries < STEER_STAT_MAX) {
		fprintf(stderr, "steerctl: %s: %u counters, this steerctl knows %d: steerd and "
			"steerctl are from different builds\n", path, m.info.max_entries,
			STEER_STAT_MAX);
		err = -EPROTO;
		goto out;
	}
	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0) {
		err = sc_error(c, "/sys/devices/system/cpu/possible", ncpus);
		goto out;
	}
	percpu = calloc(ncpus, sizeof(*percpu));
	if (!percpu) {
		err = sc_error(c, path, -ENOMEM);
		goto out;
	}
	for (i = 0; i < STEER_STAT_MAX; i++) {
		if (bpf_map_lookup_elem(m.fd, &i, percpu)) {
			err = sc_error(c, path, -errno);
			goto out;
		}
		for (k = 0; k < (__u32)ncpus; k++)
			sums[i] += percpu[k];
	}

	/* abi.h names every counter; a gap there still gets a unique name here. */
	for (i = 0; i < STEER_STAT_MAX; i++) {
		if (steer_stat_names[i])
			snprintf(names[i], sizeof(names[i]), "%s", steer_stat_names[i]);
		else
			snprintf(names[i], sizeof(names[i]), "stat_%u", i);
		if ((int)strlen(names[i]) > width)
			width = (int)strlen(names[i]);
	}
	if (c->json) {
		json_obj_open(&c->jw, NULL);
		for (i = 0; i < STEER_STAT_MAX; i++)
			json_u64(&c->jw, names[i], sums[i]);
		json_obj_close(&c->jw);
	} else {
		for (i = 0; i < STEER_STAT_MAX; i++)
			fprintf(c->out, "%-*s %llu\n", width, names[i],
				(unsigned long long)sums[i]);
	}
out:
	free(percpu);
	sc_map_close(&m);
	return err;
}
