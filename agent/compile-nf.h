/* Netfilter in the image (compile-nf.c): what the ruleset means for the state flags, the
 * links and the chains steerctl shows. */
#ifndef STEER_COMPILE_NF_H
#define STEER_COMPILE_NF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "model.h"

/* The state flags (STEER_STATE_NF*) that the family's ruleset and the mode give; cheap,
 * so the daemon also writes them at once when the ruleset changes. */
uint32_t compile_nf_flags(const struct model *m);
/* Whether a netdev or inet ingress/egress chain acts (its devices punt). */
bool compile_nf_device_chains(const struct model *m);
/* Sets STEER_LINK_NF_* on the links whose devices netfilter chains hook; returns
 * STEER_STATE_NF_DEVICES when it set any. */
uint32_t compile_nf_links(const struct model *m, struct image_link *links, size_t n);
/* The base chains found, those that make steer punt first; at most max. */
size_t compile_nf_chains(const struct model *m, struct steer_nf_chain *out, size_t max);

#endif
