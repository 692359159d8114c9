/* steer.yaml: which interfaces to attach to, what to mirror, fast-path-only policies and
 * load-balancing groups, map sizes and timers. Parsing only: no netlink, no BPF. */
#ifndef STEER_CONFIG_H
#define STEER_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maps.h"
#include "model.h"

#define CONFIG_MAX_BYTES   (1u << 20)	/* a bigger file is refused, not read */
#define CONFIG_MAX_DEPTH   16		/* deeper nesting than the schema has is refused */
#define CONFIG_MAX_NODES   100000
#define CONFIG_MAX_IFACES  64
#define CONFIG_MAX_LIMITS  16

struct config_iface {
	char name[IF_NAMESIZE];
	bool ingress, egress;
	bool xdp;		/* the XDP stage in front of TC ingress here */
};

struct config_limit {
	enum map_id map;	/* one with a limit name (maps.h) */
	uint32_t size;
};

struct config {
	struct config_iface ifaces[CONFIG_MAX_IFACES];
	size_t nifaces;
	struct model_overrides ov;
	struct config_limit limits[CONFIG_MAX_LIMITS];
	size_t nlimits;
	double stale_after, reconcile;	/* seconds; < 0 when the file does not say */
	int log_level;			/* LOG_*; -1 when the file does not say */
	int nf_mode;			/* enum steer_nf_mode; -1 when the file does not say */
	uint32_t ct_mark, ct_mask;	/* offload-mark, when ct_mark_set */
	bool ct_mark_set;
};

/* "FILE:LINE:COLUMN: KEY: what is wrong, and what is expected". */
struct config_error {
	char msg[1024];
};

void config_init(struct config *c);
/* Parse a whole file's text; name is used in messages. Returns 0, or -EINVAL with err set
 * (c is then left empty). */
int config_parse(const char *text, size_t len, const char *name, struct config *c,
		 struct config_error *err);
/* Read and parse a file. */
int config_load(const char *path, struct config *c, struct config_error *err);
void config_free(struct config *c);

/* "N" or "N/MASK" (each 0 to 0xffffffff; the mask not 0, else -ERANGE); mark is masked. */
int config_parse_mark(const char *s, uint32_t *mark, uint32_t *mask);
/* "respect", "bypass" or "offload" as enum steer_nf_mode; -1 for anything else. */
int config_parse_nf_mode(const char *s);

#endif
