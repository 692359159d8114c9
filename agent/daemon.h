/* steerd's event loop (daemon.c), in libsteer so that tests can link it. */
#ifndef STEER_DAEMON_H
#define STEER_DAEMON_H

#include "daemon-state.h"

/* The daemon until SIGTERM or SIGINT (0), or a fatal error (negative errno); d->opt and
 * d->cfg set, d->model and d->cfg initialised. The caller frees what it holds after. */
int daemon_run(struct daemon *d);
/* steerd --verify: read the kernel once, compile, compare with the pinned maps: 0 when they
 * agree, 1 when they do not, negative errno when it cannot tell. */
int daemon_verify(struct daemon *d);

#endif
