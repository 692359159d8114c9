/* The compiler: a pure function from the model to the map image the datapath should see.
 * It never touches the maps; sync.c applies the image. */
#ifndef STEER_COMPILE_H
#define STEER_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "image.h"
#include "maps.h"
#include "model.h"

/* Why a rule or a route is not one the datapath evaluates itself (NULL: it is). A rule
 * with a reason is compiled as "punt if its other selectors match". */
const char *compile_rule_punt_reason(const struct model_rule_key *k);
const char *compile_route_punt_reason(const struct model_route *r);

/* The image of the kernel's state m with steer.yaml's additions ov (NULL: none); 0 or
 * -ENOMEM. */
int compile_image(const struct model *m, const struct model_overrides *ov, struct image *out);

/* Map capacities. */
struct image_limits {
	size_t n[MAP_APPLIED];	/* by enum map_id */
};

/* Make an image fit the maps without ever forwarding wrongly: a whole table that does not
 * fit becomes one punt entry per family, next hops that do not fit turn their routes into
 * punts, rule lists that do not fit leave only a punting list per family. Returns how many
 * entries were given up (0 when everything fits). */
size_t image_fit(struct image *img, const struct image_limits *lim);
void image_free(struct image *img);

#endif
