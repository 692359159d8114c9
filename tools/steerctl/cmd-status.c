/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl status`: is the fast path live, which program, on which interfaces, and how
 * full each map is. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "steerctl.h"

/* The agent's counters, by name, in one place for both outputs. */
#define AGENT_FIELDS(X) X(netlink_messages) X(foreign_messages) X(malformed_messages) \
	X(overruns) X(resyncs) X(dump_restarts) X(swept) X(reconciles) X(drift) X(applies) \
	X(apply_failures) X(overflow_punts)

/* The interfaces the program is attached to, by hook, in both outputs. Only steer.yaml
 * attaches at egress and only --attach-mode xdp puts an XDP stage in front: no text line
 * for those where nothing is. */
static const struct {
	enum map_hook hook;
	const char *key, *label;
	bool always;
} hooks[] = {
	{ HOOK_INGRESS, "attached", "attached:", true },
	{ HOOK_EGRESS, "attached_egress", "egress:", false },
	{ HOOK_XDP, "attached_xdp", "xdp:", false },
};
#define NHOOKS (sizeof(hooks) / sizeof(hooks[0]))

int cmd_status(struct steerctl *c)
{
	struct steer_agent_stats ag = {};
	double age;
	__u64 counts[MAP_COUNT] = {};
	struct steer_state st;
	char **attached[NHOOKS] = {};
	size_t n_attached[NHOOKS] = {}, i, h;
	__u32 prog_id;
	int err, width = 0;

	err = sc_read_state(c, &st);
	if (err)
		return err;
	for (i = 0; i < MAP_COUNT; i++) {
		struct pinned_map m = { .fd = -1 };

		if (!map_defs[i].listed)
			continue;
		err = sc_map_open(c, i, &m);
		if (!err)
			err = sc_map_count(c, &m, &counts[i]);
		sc_map_close(&m);
		if (err)
			return err;
	}
	err = sc_prog_id(c, &prog_id);
	if (err)
		return err;
	for (h = 0; h < NHOOKS && !err; h++)
		err = sc_attached(c, hooks[h].hook, &attached[h], &n_attached[h]);
	if (err)
		goto out;
	sc_check_abi(&st);
	sc_read_agent(c, &ag);	/* absent before the first steerd of this ABI: zeros */
	age = sc_heartbeat_age(&st);

	if (c->json) {
		struct json *j = &c->jw;

		json_obj_open(j, NULL);
		json_bool(j, "synced", st.synced != 0);
		json_u64(j, "abi_version", st.abi_version);
		json_u64(j, "generation", st.generation);
		json_bool(j, "stale", st.stale_after_ns && age > (double)st.stale_after_ns / 1e9);
		json_bool(j, "pending", st.flags & STEER_STATE_PENDING);
		if (age >= 0)
			json_u64(j, "heartbeat_age_ms", (__u64)(age * 1000));
		json_u64(j, "stale_after_ms", st.stale_after_ns / 1000000);
		json_u64(j, "flow_cache_slots", st.flow_mask ? (__u64)st.flow_mask + 1 : 0);
		json_u64(j, "epoch", st.epoch);
		json_u64(j, "agent_pid", ag.pid);
		json_obj_open(j, "agent");
#define JSON_FIELD(f) json_u64(j, #f, ag.f);
		AGENT_FIELDS(JSON_FIELD)
		json_obj_close(j);
		json_u64(j, "program_id", prog_id);
		for (h = 0; h < NHOOKS; h++) {
			json_arr_open(j, hooks[h].key);
			for (i = 0; i < n_attached[h]; i++)
				json_str(j, NULL, attached[h][i]);
			json_arr_close(j);
		}
		json_obj_open(j, "maps");
		for (i = 0; i < MAP_COUNT; i++)
			if (map_defs[i].listed)
				json_u64(j, map_defs[i].name, counts[i]);
		json_obj_close(j);
		err = sc_nf_status(c, &st);
		json_obj_close(j);
	} else {
		fprintf(c->out, "synced:      %s\n", st.synced ? "yes" : "no");
		fprintf(c->out, "abi version: %u\n", st.abi_version);
		fprintf(c->out, "generation:  %llu\n", (unsigned long long)st.generation);
		if (age >= 0)
			fprintf(c->out, "heartbeat:   %.1f s ago (deadline %.1f s)%s\n", age,
				(double)st.stale_after_ns / 1e9,
				st.stale_after_ns && age > (double)st.stale_after_ns / 1e9 ?
				" STALE: the fast path punts everything" : "");
		if (st.flags & STEER_STATE_PENDING)
			fprintf(c->out, "pending:     yes: changes (or lost events) not applied yet; "
				"the fast path hands every packet to the kernel\n");
		if (st.flow_mask)
			fprintf(c->out, "flow cache:  %llu slots per CPU, epoch %llu\n",
				(unsigned long long)st.flow_mask + 1, (unsigned long long)st.epoch);
		else
			fprintf(c->out, "flow cache:  off\n");
		if (ag.pid)
			fprintf(c->out, "agent pid:   %llu\n", (unsigned long long)ag.pid);
		if (prog_id)
			fprintf(c->out, "program id:  %u\n", prog_id);
		else
			fprintf(c->out, "program id:  none (no %s/%s)\n", c->pin_dir,
				STEERCTL_PROG_PIN);
		for (h = 0; h < NHOOKS; h++) {
			if (!n_attached[h] && !hooks[h].always)
				continue;
			fprintf(c->out, "%-12s", hooks[h].label);
			for (i = 0; i < n_attached[h]; i++)
				fprintf(c->out, " %s", attached[h][i]);
			fprintf(c->out, "%s\n", n_attached[h] ? "" : " none");
		}
		fprintf(c->out, "maps:\n");
		for (i = 0; i < MAP_COUNT; i++) {
			int w = map_defs[i].listed ? (int)strlen(map_defs[i].name) : 0;

			width = w > width ? w : width;
		}
		for (i = 0; i < MAP_COUNT; i++)
			if (map_defs[i].listed)
				fprintf(c->out, "  %-*s %llu\n", width, map_defs[i].name,
					(unsigned long long)counts[i]);
		err = sc_nf_status(c, &st);
		fprintf(c->out, "agent:\n");
#define TEXT_FIELD(f) fprintf(c->out, "  %-18s %llu\n", #f, (unsigned long long)ag.f);
		AGENT_FIELDS(TEXT_FIELD)
	}

out:
	for (h = 0; h < NHOOKS; h++) {
		for (i = 0; i < n_attached[h]; i++)
			free(attached[h][i]);
		free(attached[h]);
	}
	return err;
}
