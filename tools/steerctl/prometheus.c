/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl stats --prometheus FILE`: steer's counters, rule hits, map fill levels, sync
 * state and the agent's counters in node_exporter's textfile format. The file is written
 * beside FILE and renamed over it, so the collector never reads half a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "steerctl.h"

struct prom {
	const struct steerctl *c;
	FILE *f;
};

/* One metric family's HELP and TYPE lines: every family is written in one block. */
static void family(struct prom *p, const char *name, const char *type, const char *help)
{
	fprintf(p->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value between double quotes, with \, " and newline escaped as the format asks. */
static void label(struct prom *p, const char *key, const char *val, bool last)
{
	fprintf(p->f, "%s=\"", key);
	for (; *val; val++) {
		if (*val == '\\' || *val == '"')
			fprintf(p->f, "\\%c", *val);
		else if (*val == '\n')
			fputs("\\n", p->f);
		else
			fputc(*val, p->f);
	}
	fputs(last ? "\"}" : "\",", p->f);
}

/* A family of one counter, without labels. */
static void counter(struct prom *p, const char *name, const char *help, __u64 val)
{
	family(p, name, "counter", help);
	fprintf(p->f, "%s %llu\n", name, (unsigned long long)val);
}

/* One family of the counters whose names start with prefix ("drop_"), labelled by the
 * rest of the name. */
static void write_by_prefix(struct prom *p, const struct sc_counters *s, const char *name,
			    const char *help, const char *prefix, const char *label_key)
{
	size_t len = strlen(prefix);
	char buf[32];
	const char *n;

	family(p, name, "counter", help);
	for (__u32 i = 0; i < STEER_STAT_MAX; i++) {
		n = sc_stat_name(i, buf, sizeof(buf));
		if (strncmp(n, prefix, len))
			continue;
		fprintf(p->f, "%s{", name);
		label(p, label_key, n + len, true);
		fprintf(p->f, " %llu\n", (unsigned long long)s->sum[i]);
	}
}

/* The datapath counters by what they mean: rx, forwarded, drop_TYPE, punt_REASON; a
 * counter of another kind gets a family of its own. */
static void write_counters(struct prom *p, const struct sc_counters *s)
{
	char buf[32], name[96];
	const char *n;
	__u32 i;

	counter(p, "steer_received_packets_total", "Packets the fast path saw on its interfaces.",
		s->sum[STEER_STAT_RX]);
	counter(p, "steer_forwarded_packets_total", "Packets the fast path forwarded itself.",
		s->sum[STEER_STAT_FORWARDED]);
	write_by_prefix(p, s, "steer_dropped_packets_total",
			"Packets the fast path dropped, by type (as the kernel would, silently).",
			"drop_", "type");
	write_by_prefix(p, s, "steer_punted_packets_total", "Packets handed to the kernel, by reason.",
			"punt_", "reason");
	for (i = 0; i < STEER_STAT_MAX; i++) {
		n = sc_stat_name(i, buf, sizeof(buf));
		if (i == STEER_STAT_RX || i == STEER_STAT_FORWARDED || !strncmp(n, "drop_", 5) ||
		    !strncmp(n, "punt_", 5))
			continue;
		snprintf(name, sizeof(name), "steer_%s_packets_total", n);
		counter(p, name, "Packets counted by the fast path's counter of this name.", s->sum[i]);
	}
}

/* Hits of every rule body, by id, labelled with what identifies it to people. */
static int write_rule_hits(struct prom *p)
{
	const struct steerctl *c = p->c;
	struct pinned_map rules = { .fd = -1 }, hits = { .fd = -1 };
	__u32 *keys = NULL;
	size_t n = 0, i;
	const struct sc_map_use maps[] = {
		{ MAP_RULES, &rules, sc_cmp_u32, (void **)&keys, &n }, { MAP_HITS, &hits }, {} };
	char num[32], tbl[16], prio[16], id[16], fam[SC_NAME_STRLEN];
	struct steer_rule r;
	__u64 h;
	int err;

	err = sc_maps_open(c, maps);
	if (err)
		goto out;
	family(p, "steer_rule_hits_total", "counter",
	       "Packets the fast path matched with each rule body, by rule id.");
	for (i = 0; i < n && !err; i++) {
		if (bpf_map_lookup_elem(rules.fd, &keys[i], &r))
			continue;	/* removed by the agent since we listed it */
		err = sc_percpu_sum(c, &hits, keys[i], &h);
		if (err)
			break;
		snprintf(id, sizeof(id), "%u", keys[i]);
		/* The marker that ends a cut list has no priority: its hits are the
		 * rule_limit punts. */
		if (r.action == STEER_RULE_CUT)
			prio[0] = '\0';
		else
			snprintf(prio, sizeof(prio), "%u", r.priority);
		tbl[0] = '\0';
		if (r.action == STEER_RULE_LOOKUP || (r.action == STEER_RULE_PUNT && r.table))
			snprintf(tbl, sizeof(tbl), "%u", r.table);
		fputs("steer_rule_hits_total{", p->f);
		label(p, "id", id, false);
		/* Bodies shared by both families (the list-end ones) have none. */
		label(p, "family", r.family ? sc_family_name(r.family, fam, sizeof(fam)) : "",
		      false);
		label(p, "priority", prio, false);
		label(p, "action", sc_rule_action_name(r.action, num, sizeof(num)), false);
		label(p, "table", tbl, true);
		fprintf(p->f, " %llu\n", (unsigned long long)h);
	}
out:
	sc_maps_close(maps);
	return err;
}

/* Entries and capacity of every map: the agent punts what does not fit. */
static int write_maps(struct prom *p)
{
	__u64 count[MAP_COUNT];
	__u32 max[MAP_COUNT];
	size_t i;
	int err;

	for (i = 0; i < MAP_COUNT; i++) {
		struct pinned_map m = { .fd = -1 };

		if (!map_defs[i].listed)
			continue;
		err = sc_map_open(p->c, i, &m);
		if (!err)
			err = sc_map_count(p->c, &m, &count[i]);
		max[i] = m.info.max_entries;
		sc_map_close(&m);
		if (err)
			return err;
	}
	family(p, "steer_map_entries", "gauge",
	       "Entries in each pinned map (an array counts all its slots).");
	for (i = 0; i < MAP_COUNT; i++) {
		if (!map_defs[i].listed)
			continue;
		fputs("steer_map_entries{", p->f);
		label(p, "map", map_defs[i].name, true);
		fprintf(p->f, " %llu\n", (unsigned long long)count[i]);
	}
	family(p, "steer_map_max_entries", "gauge", "Capacity of each pinned map.");
	for (i = 0; i < MAP_COUNT; i++) {
		if (!map_defs[i].listed)
			continue;
		fputs("steer_map_max_entries{", p->f);
		label(p, "map", map_defs[i].name, true);
		fprintf(p->f, " %u\n", max[i]);
	}
	return 0;
}

/* The agent's counters, by the names `steerctl status` shows them with. */
#define AGENT_COUNTERS(X) \
	X(netlink_messages, "Netlink messages the agent read.") \
	X(foreign_messages, "Netlink messages not from the kernel, ignored.") \
	X(malformed_messages, "Malformed netlink messages.") \
	X(overruns, "Netlink receive buffer overruns (events lost).") \
	X(resyncs, "Full re-reads of the kernel's state.") \
	X(dump_restarts, "Netlink dumps restarted after a change interrupted them.") \
	X(swept, "Objects found gone without a notification.") \
	X(reconciles, "Periodic comparisons of the maps with what was applied.") \
	X(drift, "Map entries found differing from what was applied.") \
	X(applies, "Changes applied to the maps.") \
	X(apply_failures, "Map writes that failed (the fast path punts instead).") \
	X(overflow_punts, "Entries left out of full maps (punting instead).")

static int write_state(struct prom *p)
{
	struct steer_agent_stats ag = {};
	struct steer_state st;
	double age;
	int err;

	err = sc_read_state(p->c, &st);
	if (err)
		return err;
	sc_read_agent(p->c, &ag);	/* absent before the first steerd of this ABI: zeros */
	family(p, "steer_synced", "gauge",
	       "1 once the agent finished a full sync; 0 means the fast path punts everything.");
	fprintf(p->f, "steer_synced %d\n", st.synced ? 1 : 0);
	family(p, "steer_generation", "gauge", "The map generation the agent applied last.");
	fprintf(p->f, "steer_generation %llu\n", (unsigned long long)st.generation);
	age = sc_heartbeat_age(&st);
	if (age >= 0) {
		family(p, "steer_heartbeat_age_seconds", "gauge",
		       "Time since the agent's last heartbeat.");
		fprintf(p->f, "steer_heartbeat_age_seconds %.3f\n", age);
	}
#define AGENT_FAMILY(field, help) counter(p, "steer_agent_" #field "_total", help, ag.field);
	AGENT_COUNTERS(AGENT_FAMILY)
	return 0;
}

/* Writes FILE.tmp.PID and renames it over FILE. Returns 0 or a negative errno, said. */
int sc_prometheus_write(const struct steerctl *c, const struct sc_counters *s)
{
	struct prom p = { .c = c };
	char tmp[4096];
	int fd, err, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", c->prometheus, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return sc_error(c, c->prometheus, -ENAMETOOLONG);
	unlink(tmp);	/* left by a steerctl of this pid that was killed mid-write */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return sc_error(c, tmp, -errno);
	p.f = fdopen(fd, "w");
	if (!p.f) {
		err = sc_error(c, tmp, -errno);
		close(fd);
		goto fail;
	}
	write_counters(&p, s);
	err = write_rule_hits(&p);
	if (!err)
		err = write_maps(&p);
	if (!err)
		err = write_state(&p);
	if (err) {
		fclose(p.f);
		goto fail;
	}
	if (fflush(p.f) || ferror(p.f) || fsync(fileno(p.f))) {
		err = sc_error(c, tmp, -(errno ? errno : EIO));
		fclose(p.f);
		goto fail;
	}
	if (fclose(p.f)) {
		err = sc_error(c, tmp, -errno);
		goto fail;
	}
	if (rename(tmp, c->prometheus)) {
		err = sc_error(c, c->prometheus, -errno);
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	return err;
}
