/* steerd's state, which its parts share: daemon.c (the loop, one handler per event source),
 * daemon-config.c (the configuration file and the interfaces it names) and daemon-nf.c (what
 * a ruleset change means). main.c fills the options from the command line. */
#ifndef STEER_DAEMON_STATE_H
#define STEER_DAEMON_STATE_H

#include <net/if.h>
#include <stdbool.h>

#include "attach.h"
#include "compile.h"
#include "config.h"
#include "model.h"
#include "nf.h"
#include "nl.h"
#include "nl-reader.h"
#include "sync.h"
#include "xdp-tx.h"

#define MAX_ATTACH 64
#define DEFAULT_CONFIG "/etc/steer/steer.yaml"

/* One interface steer attaches to, from --attach or the configuration file. */
struct iface {
	char name[IF_NAMESIZE];
	bool ingress, egress;	/* wanted */
	bool xdp;		/* the XDP stage wanted in front of ingress (steer.yaml xdp:) */
	bool from_cli;
	bool said_waiting;	/* logged that it does not exist (once per absence) */
	int at_ingress, at_egress;	/* ifindex attached to now; 0 while waiting */
};

struct options {
	struct iface ifaces[MAX_ATTACH];
	int nifaces;
	const char *pin_dir;
	const char *config;	/* NULL: none */
	bool config_given;	/* --config: a missing file is an error, not "no file" */
	const char *check;	/* --check FILE */
	int rcvbuf;
	enum attach_mode mode;
	double stale_after, reconcile;	/* seconds; 0 disables */
	int nf_mode;		/* enum steer_nf_mode */
	uint32_t ct_mark, ct_mask;	/* --offload-mark */
	bool cli_ct_mark;
	bool cli_stale, cli_reconcile, cli_level, cli_netfilter;	/* given on the command line: wins */
	struct attach_limits limits;
	int cleanup, verify;	/* flags getopt_long sets itself */
};

struct daemon {
	struct options opt;
	struct model model;
	struct intake nl;
	struct reader reader;	/* drains the rtnetlink socket on its own thread */
	struct nf_intake nf;
	struct attach bpf;
	struct xdp_tx xtx;	/* which devices the XDP stage may redirect to (daemon-xdp.c) */
	struct sync sync;
	struct image_limits capacity;
	struct steer_agent_stats stats;
	struct config cfg;	/* the configuration in use: the last good file */
	int rcfd;		/* the reconcile timer, re-armed when the file changes it */
	bool first_sync_done;
	bool reload_pending;	/* SIGHUP: READY=1 again once the re-read is applied */
	bool reconciling;	/* a periodic full re-read is in flight */
	size_t last_truncated, last_given;
	bool last_side_lists;
	/* What the logs last said netfilter means, per family (0: IPv4, 1: IPv6). */
	char nf_said[2][512];
	bool nf_unknown_said;
};

#endif
