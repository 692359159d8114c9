/* What a netfilter ruleset change means for the fast path (daemon-nf.c). */
#ifndef STEER_DAEMON_NF_H
#define STEER_DAEMON_NF_H

#include "daemon-state.h"

/* The ruleset changed, or the mode did: the state map's netfilter flags are written at
 * once, the rest goes with the next apply, and the logs say what changed. */
void netfilter_changed(struct daemon *d);
/* iptables-legacy's poll: re-read x_tables, and netfilter_changed() when they changed. */
void netfilter_poll_legacy(struct daemon *d);
/* `bypass`: name the chains that steer forwards past (at start and on every reload). */
void netfilter_warn_bypass(struct daemon *d);

#endif
