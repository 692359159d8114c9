/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* steerctl's shared context: what every command needs to find the pins, report an error
 * in one place and write either a table for people or JSON. */
#ifndef STEERCTL_H
#define STEERCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <linux/bpf.h>
#include <linux/types.h>

#include "abi.h"
#include "json.h"
#include "maps.h"

#define STEERCTL_DEFAULT_PIN_DIR STEER_PIN_DIR_DEFAULT
#define STEERCTL_PROG_PIN        STEER_PIN_PROG

struct steerctl {
	const char *pin_dir;
	const char *batch;	/* explain --batch FILE ("-": stdin), NULL otherwise */
	int argc;		/* the words after the command's name */
	char **argv;
	bool json;
	bool pretty;		/* -p: indented JSON (implies json) */
	/* stats only */
	double interval;	/* -i SECONDS: watch rates; 0 for one reading */
	unsigned long count;	/* --count N: stop after N intervals (monitor: events); 0: never */
	bool per_cpu;		/* --per-cpu: each CPU's value besides the sum */
	const char *prometheus;	/* --prometheus FILE, NULL otherwise */
	/* monitor only (count: stop after N events) */
	__u32 mon_rate;		/* --rate N: events per second at most */
	__u32 mon_sample;	/* --sample N: one decision in N */
	const char *mon_verdicts, *mon_reasons;	/* --verdict, --reason lists */
	double mon_duration;	/* --duration SECONDS; 0 for until SIGINT */
	FILE *out;
	struct json jw;
};

/* What a command returns besides 0 and a negative errno (runtime errors, exit 1): the
 * command line was wrong, and the command has already said why (exit 2). */
#define SC_USAGE 2

/* An open pinned map: its fd and what the kernel says about it. */
struct pinned_map {
	int fd;
	const char *name;	/* pin name, from the registry (maps.h) */
	struct bpf_map_info info;
	bool sparse;		/* an array of content by id: a slot of zeros holds nothing */
};

/* pins.c. Each returns 0 or a negative errno, and has already said why on stderr. */
int sc_error(const struct steerctl *c, const char *path, int err);
int sc_pin_error(const struct steerctl *c, const char *path, int err);
int sc_path(const struct steerctl *c, const char *name, char *buf, size_t len);
int sc_map_open(const struct steerctl *c, enum map_id id, struct pinned_map *m);
void sc_map_close(struct pinned_map *m);
int sc_map_count(const struct steerctl *c, const struct pinned_map *m, __u64 *count);
/* One entry: 1 when found, 0 when the key is not there (the agent removed it), or a
 * negative errno, already said. */
int sc_map_lookup(const struct steerctl *c, const struct pinned_map *m, const void *key, void *val);
int sc_map_keys(const struct steerctl *c, const struct pinned_map *m,
		int (*cmp)(const void *, const void *), void **keys, size_t *n);
int sc_prog_id(const struct steerctl *c, __u32 *id);
int sc_pin_prog_id(const struct steerctl *c, const char *pin, __u32 *id);
int sc_attached(const struct steerctl *c, enum map_hook hook, char ***names, size_t *n);
void sc_check_abi(const struct steer_state *st);
int sc_read_state(const struct steerctl *c, struct steer_state *st);
int sc_read_agent(const struct steerctl *c, struct steer_agent_stats *st);
int sc_percpu_sum(const struct steerctl *c, const struct pinned_map *m, __u32 key, __u64 *sum);
int sc_cmp_u32(const void *a, const void *b);
int sc_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* pins.c: the maps a command uses, in a list that ends with a NULL m. Each m starts with
 * fd -1 (and each *keys NULL), so the list closes whole however far the opening got. */
struct sc_map_use {
	enum map_id id;
	struct pinned_map *m;
	/* Where the command walks the map: its keys, sorted by cmp (sc_map_keys). */
	int (*cmp)(const void *, const void *);
	void **keys;
	size_t *n;
};
/* Opens each in turn, then lists the keys of those that ask; 0, or the first negative
 * errno, already said. Closing frees the keys. */
int sc_maps_open(const struct steerctl *c, const struct sc_map_use *use);
void sc_maps_close(const struct sc_map_use *use);

/* format.c: words for people. */
#define SC_ADDR_STRLEN 48	/* INET6_ADDRSTRLEN plus room for "/128" */
#define SC_NAME_STRLEN 24	/* IF_NAMESIZE, "if4294967295", "4294967295" */
const char *sc_family_name(__u8 family, char *buf, size_t len);
const char *sc_addr(__u8 family, const __u8 *addr, char *buf, size_t len);
const char *sc_route_dst(__u8 family, const __u8 *addr, __u32 len, char *buf, size_t buflen);
const char *sc_table_name(__u32 table, char *buf, size_t len);
int sc_table_parse(const char *s, __u32 *table);
const char *sc_ifname(__u32 ifindex, char *buf, size_t len);
int sc_prefix_cmp(__u8 fa, const __u8 *a, __u32 la, __u8 fb, const __u8 *b, __u32 lb);
const char *sc_proto_name(__u8 proto, char *buf, size_t len);
int sc_proto_parse(const char *s, __u8 *proto);
const char *sc_route_type_name(__u8 type, char *buf, size_t len);
double sc_path_share(const struct steer_group *g, __u32 i);
const char *sc_rule_action_name(__u8 action, char *buf, size_t len);
const char *sc_group_hash_name(const struct steer_group *g, char *buf, size_t len);
const char *sc_stat_name(__u32 stat, char *buf, size_t len);
const char *sc_verdict_name(__u32 verdict);
const char *sc_reason_name(__u32 stat, char *buf, size_t len);

/* describe.c: one description of an object, printed as text or JSON. Each field holds its
 * value written out once; `text` is a printf format of at most one %s for the line (NULL: not
 * in the line), `kind` says how JSON shows it under `key` (NULL inside an array). */
enum sc_kind {
	SC_TEXT,	/* in the line only */
	SC_STR,		/* a JSON string */
	SC_NUM,		/* a JSON number, the value as written */
	SC_NULL,	/* a JSON null: a flag, as iproute2 writes "not": null */
	SC_TRUE,	/* a JSON true; in the line the value, a word for it */
	SC_FALSE,	/* a JSON false; likewise */
	SC_OBJ,		/* opens a JSON object, closed by SC_OBJ_END */
	SC_OBJ_END,
	SC_ARR,		/* opens a JSON array, closed by SC_ARR_END */
	SC_ARR_END,
};

struct sc_field {
	enum sc_kind kind;
	const char *key;
	const char *text;
	char val[SC_ADDR_STRLEN];
};

/* The most a builder adds: a route and its group of STEER_MAX_PATHS members, at most 12
 * fields each. */
#define SC_DESC_MAX (16 + 12 * STEER_MAX_PATHS)

/* A description starts with n = 0 and nothing else set: a field is written when it is
 * added, so no object clears all SC_DESC_MAX of them. */
struct sc_desc {
	size_t n;
	struct sc_field f[SC_DESC_MAX];
};

void sc_desc_add(struct sc_desc *d, enum sc_kind kind, const char *key, const char *text,
		 const char *val);
void sc_desc_num(struct sc_desc *d, const char *key, const char *text, unsigned long long n);
void sc_desc_bool(struct sc_desc *d, const char *key, const char *text, bool v, const char *yes,
		  const char *no);
void sc_desc_line(struct sc_desc *d, const char *text);
void sc_desc_print(struct steerctl *c, const struct sc_desc *d);
void sc_nh_desc(struct sc_desc *d, __u8 route_family, const struct steer_nexthop *nh);
int sc_group_desc(struct sc_desc *d, const struct steerctl *c, const struct pinned_map *nhs,
		  __u8 route_family, const struct steer_group *g);

/* clock.c */
__u64 sc_clock_ns(clockid_t id);
/* Seconds since steerd's last heartbeat, or -1 when it never beat. */
double sc_heartbeat_age(const struct steer_state *st);

/* counters.c: the per-CPU datapath counters, read in one go. */
struct sc_counters {
	int ncpus;
	__u64 *percpu;			/* percpu[stat * ncpus + cpu] */
	struct steer_counters *raw;	/* what the lookup read: raw[cpu] */
	__u64 sum[STEER_STAT_MAX];
};
int sc_counters_open(const struct steerctl *c, enum map_id id, struct pinned_map *m);
int sc_counters_read(const struct steerctl *c, const struct pinned_map *m,
		     struct sc_counters *s);
void sc_counters_free(struct sc_counters *s);

/* prometheus.c: the node_exporter textfile, written whole and renamed into place. */
int sc_prometheus_write(const struct steerctl *c, const struct sc_counters *s);

/* netfilter.c: the chains steerd found. */
int sc_nf_read(const struct steerctl *c, struct steer_nf_chain *out, size_t *n);
/* Does this chain make a packet of family (STEER_AF_*), arriving on iif and leaving by oif
 * (0: any), punt? */
bool sc_nf_on_path(const struct steer_nf_chain *ch, __u8 family, __u32 iif, __u32 oif);
/* "inet filter forward" */
const char *sc_nf_name(const struct steer_nf_chain *ch, char *buf, size_t len);
/* status's netfilter part (text or a "netfilter" member of the open JSON object). */
int sc_nf_status(struct steerctl *c, const struct steer_state *st);

/* One file per command. */
int cmd_status(struct steerctl *c);
int cmd_rules(struct steerctl *c);
int cmd_routes(struct steerctl *c);
int cmd_stats(struct steerctl *c);
int cmd_explain(struct steerctl *c);
int cmd_nexthops(struct steerctl *c);
int cmd_links(struct steerctl *c);
int cmd_detach(struct steerctl *c);
int cmd_monitor(struct steerctl *c);

#endif
