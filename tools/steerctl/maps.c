/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The maps a command reads, opened and closed as one list: a command names each map it
 * uses once, where it opened and closed each by hand. */
#include "steerctl.h"

int sc_maps_open(const struct steerctl *c, const struct sc_map_use *use)
{
	int err = 0;

	for (; use->m && !err; use++)
		err = sc_map_open(c, use->id, use->m);
	return err;
}

void sc_maps_close(const struct sc_map_use *use)
{
	for (; use->m; use++)
		sc_map_close(use->m);
}
