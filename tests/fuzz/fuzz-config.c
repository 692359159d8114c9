/* Fuzz target for steer.yaml: bytes -> config_parse() -> (when valid) the compiler with
 * every device the file names up, so groups, Maglev tables and policy bodies run too.
 * Built with clang -fsanitize=fuzzer it is a libFuzzer target (tests/fuzz/run.sh config);
 * built without, with replay.c, it replays a corpus, so every seed and every crash stays a test. */
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "config.h"
#include "log.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.yaml"

/* What every caller relies on: an error is one printable line that names the file, and a
 * valid file gives what config.h and model.h promise. */
static void check(int r, const struct config *c, const struct config_error *err)
{
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			abort();
		if (strncmp(err->msg, NAME ":", strlen(NAME ":")))
			abort();
		for (const unsigned char *s = (const unsigned char *)err->msg; *s; s++)
			if (*s < 0x20 || *s == 0x7f || (*s == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f))
				abort();
		if (c->nifaces || c->ov.npolicies || c->ov.ngroups || c->nlimits)
			abort();
		return;
	}
	if (r || c->nifaces > CONFIG_MAX_IFACES || c->nlimits > CONFIG_MAX_LIMITS)
		abort();
	for (size_t i = 0; i < c->nifaces; i++)
		if (!c->ifaces[i].name[0] || (!c->ifaces[i].ingress && !c->ifaces[i].egress))
			abort();
	for (size_t i = 0; i < c->ov.ngroups; i++) {
		const struct model_group *g = &c->ov.groups[i];

		if (!g->n || g->n > MODEL_GROUP_MAX || g->hash < GROUP_HASH_L3 || g->hash > GROUP_HASH_CONSISTENT)
			abort();
		for (uint32_t j = 0; j < g->n; j++)
			if (g->m[j].weight < 1 || g->m[j].weight > 256 || !g->m[j].dev[0])
				abort();
	}
	for (size_t i = 0; i < c->ov.npolicies; i++) {
		const struct model_policy *p = &c->ov.policies[i];

		if (i && p->priority <= c->ov.policies[i - 1].priority)
			abort();
		if (p->action < POLICY_VIA || p->action > POLICY_BLACKHOLE)
			abort();
		if (p->action == POLICY_GROUP && p->group >= c->ov.ngroups)
			abort();
		if ((p->src.family && p->src.family != p->family) || (p->dst.family && p->dst.family != p->family))
			abort();
	}
	for (size_t i = 0; i < c->ov.nprios; i++)
		if (c->ov.prios[i].lo > c->ov.prios[i].hi)
			abort();
}

/* Every device the file names, up and running, so the compiler builds what it describes. */
static void add_link(struct model *m, const char *name)
{
	struct model_link *l;

	if (!name[0] || model_link_by_name(m, name))
		return;
	l = model_link_upsert(m, (int32_t)m->links.count + 1);
	if (!l)
		return;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->flags = IFF_UP | IFF_RUNNING;
	l->mtu = 1500;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct config_error err;
	struct model m;
	struct image img;
	int r;

	log_set_level(-1);
	r = config_parse((const char *)data, size, NAME, &c, &err);
	check(r, &c, &err);
	if (r < 0)
		return 0;
	model_init(&m);
	for (size_t i = 0; i < c.nifaces; i++)
		add_link(&m, c.ifaces[i].name);
	for (size_t i = 0; i < c.ov.ngroups; i++)
		for (uint32_t j = 0; j < c.ov.groups[i].n; j++)
			add_link(&m, c.ov.groups[i].m[j].dev);
	for (size_t i = 0; i < c.ov.npolicies; i++)
		add_link(&m, c.ov.policies[i].dev);
	if (!compile_image(&m, &c.ov, &img))
		image_free(&img);
	model_free(&m);
	config_free(&c);
	return 0;
}
