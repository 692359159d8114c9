/* The configuration in use (daemon-config.c): the file, the interfaces it and the command
 * line name, the pins of interfaces no longer named, and the timers the file sets. */
#ifndef STEER_DAEMON_CONFIG_H
#define STEER_DAEMON_CONFIG_H

#include <stdbool.h>

#include "daemon-state.h"

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

#endif
