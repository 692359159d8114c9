/* steerd's state and its event loop: daemon.c (the loop, one handler per event source),
 * daemon-config.c (the configuration file and the interfaces it names) and daemon-nf.c (what
 * a ruleset change means). main.c parses the command line and calls daemon_run. */
#ifndef STEER_DAEMON_H
#define STEER_DAEMON_H

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

#define MAX_ATTACH 64
#define DEFAULT_CONFIG "/etc/steer/steer.yaml"

/* One interface steer attaches to, from --attach or the configuration file. */
struct iface {
	char name[IF_NAMESIZE];
	bool ingress, egress;	/* wanted */
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
	bool cleanup, verify;
};

struct daemon {
	struct options opt;
	struct model model;
	struct intake nl;
	struct reader reader;	/* drains the rtnetlink socket on its own thread */
	struct nf_intake nf;
	struct attach bpf;
	struct sync sync;
	struct image_limits capacity;
	struct steer_agent_stats stats;
	struct config cfg;	/* the configuration in use: the last good file */
	int rcfd;		/* the reconcile timer, re-armed when the file changes it */
	bool first_sync_done;
	bool reload_pending;	/* SIGHUP: READY=1 again once the re-read is applied */
	bool reconciling;	/* a periodic full re-read is in flight */
	size_t last_truncated, last_given;
	/* What the logs last said netfilter means, per family (0: IPv4, 1: IPv6). */
	char nf_said[2][512];
	bool nf_unknown_said;
};

/* The daemon until SIGTERM or SIGINT (0), or a fatal error (negative errno); d->opt and
 * d->cfg set, d->model and d->cfg initialised. The caller frees what it holds after. */
int daemon_run(struct daemon *d);
/* steerd --verify: read the kernel once, compile, compare with the pinned maps: 0 when they
 * agree, 1 when they do not, negative errno when it cannot tell. */
int daemon_verify(struct daemon *d);

/* Attach to the configured interfaces that exist and are not attached yet; forget those
 * that went away. */
void reconcile_attachments(struct daemon *d);
/* Remove TCX links pinned by an earlier run for interfaces no longer configured. */
void prune_pinned_links(struct daemon *d);
/* Read the configuration file and put it in use; a bad file changes nothing. */
int load_config(struct daemon *d, bool at_start);
/* steerd --check FILE: the exit status. */
int check_config(const char *path);
/* Arms a periodic timerfd (0 seconds: disarmed). */
int arm_timer(int fd, double seconds);

/* The ruleset changed, or the mode did (daemon-nf.c): the state map's netfilter flags are
 * written at once, the rest goes with the next apply, and the logs say what changed. */
void netfilter_changed(struct daemon *d);
/* iptables-legacy's poll: re-read x_tables, and netfilter_changed() when they changed. */
void netfilter_poll_legacy(struct daemon *d);
/* `bypass`: name the chains that steer forwards past (at start and on every reload). */
void netfilter_warn_bypass(struct daemon *d);

#endif
