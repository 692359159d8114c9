/* The netfilter containers: nftables tables, chains and rules by key, and the
 * iptables-legacy chains as one array replaced at every read. */
#include "model-nf.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void model_nf_init(struct model_nf *nf)
{
	*nf = (struct model_nf){
		.tables = HTAB_INIT(struct model_nf_table, node, key),
		.chains = HTAB_INIT(struct model_nf_chain, node, key),
		.rules = HTAB_INIT(struct model_nf_rule, node, key),
		.next_chain_id = 1,
		/* A model built by hand (tests, benchmarks) has no ruleset; steerd's intake says
		 * "unknown" until it has read the kernel's. */
		.known = true,
		.legacy_known = true,
	};
}

void model_nf_free(struct model_nf *nf)
{
	htab_free_all(&nf->rules, free);
	htab_free_all(&nf->chains, free);
	htab_free_all(&nf->tables, free);
	free(nf->legacy);
	model_nf_init(nf);
}

/* Keys are compared as bytes: names are copied into zeroed buffers. */
static void name_copy(char *dst, const char *src)
{
	strncpy(dst, src, MODEL_NF_NAME - 1);
}

static struct model_nf_table *table_find(const struct model_nf *nf, uint8_t family, const char *name)
{
	struct model_nf_table_key k = { .family = family };

	name_copy(k.name, name);
	return htab_find(&nf->tables, &k);
}

int model_nf_table_set(struct model_nf *nf, uint8_t family, const char *name, bool dormant)
{
	struct model_nf_table *t = table_find(nf, family, name);

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		t->key.family = family;
		name_copy(t->key.name, name);
		if (htab_insert(&nf->tables, t) < 0) {
			free(t);
			return -ENOMEM;
		}
	}
	t->dormant = dormant;
	t->stale = false;
	return 0;
}

static void rules_of_chain_del(struct model_nf *nf, uint32_t id)
{
	struct htab_iter it;
	struct model_nf_rule *r;

	htab_iter_init(&it, &nf->rules);
	while ((r = htab_iter_next(&it)))
		if (r->key.chain == id) {
			htab_remove(&nf->rules, r);
			free(r);
		}
}

static void chain_remove(struct model_nf *nf, struct model_nf_chain *c)
{
	if (c->nrules)
		rules_of_chain_del(nf, c->id);
	htab_remove(&nf->chains, c);
	free(c);
}

void model_nf_table_del(struct model_nf *nf, uint8_t family, const char *name)
{
	struct model_nf_table *t = table_find(nf, family, name);
	struct htab_iter it;
	struct model_nf_chain *c;

	/* The kernel announces each chain and rule of a deleted table too; whatever it did
	 * not, goes with the table. */
	htab_iter_init(&it, &nf->chains);
	while ((c = htab_iter_next(&it)))
		if (c->key.family == family && !strncmp(c->key.table, name, MODEL_NF_NAME - 1))
			chain_remove(nf, c);
	if (t) {
		htab_remove(&nf->tables, t);
		free(t);
	}
}

struct model_nf_chain *model_nf_chain_find(const struct model_nf *nf, uint8_t family,
					   const char *table, const char *name)
{
	struct model_nf_chain_key k = { .family = family };

	name_copy(k.table, table);
	name_copy(k.name, name);
	return htab_find(&nf->chains, &k);
}

int model_nf_chain_set(struct model_nf *nf, const struct model_nf_chain *in)
{
	struct model_nf_chain *c = htab_find(&nf->chains, &in->key);

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->key = in->key;
		c->id = nf->next_chain_id++;
		if (htab_insert(&nf->chains, c) < 0) {
			free(c);
			return -ENOMEM;
		}
	}
	c->base = in->base;
	c->nat = in->nat;
	c->hook = in->hook;
	c->policy = in->policy;
	c->priority = in->priority;
	c->ndevs = in->ndevs < MODEL_NF_DEVS ? in->ndevs : MODEL_NF_DEVS;
	memcpy(c->devs, in->devs, sizeof(c->devs));
	c->stale = false;
	return 0;
}

void model_nf_chain_del(struct model_nf *nf, uint8_t family, const char *table, const char *name)
{
	struct model_nf_chain *c = model_nf_chain_find(nf, family, table, name);

	if (c)
		chain_remove(nf, c);
}

int model_nf_rule_add(struct model_nf *nf, uint8_t family, const char *table, const char *chain,
		      uint64_t handle, bool modifies)
{
	struct model_nf_chain *c = model_nf_chain_find(nf, family, table, chain);
	struct model_nf_rule_key k;
	struct model_nf_rule *r;

	if (!c)
		return -ENOENT;
	k = (struct model_nf_rule_key){ .chain = c->id, .handle = handle };
	r = htab_find(&nf->rules, &k);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->key = k;
		if (htab_insert(&nf->rules, r) < 0) {
			free(r);
			return -ENOMEM;
		}
		c->nrules++;
	} else if (r->modifies) {
		c->nmodify--;	/* a rule replaced in place */
	}
	r->modifies = modifies;
	c->nmodify += modifies;
	r->stale = false;
	return 0;
}

static void rule_remove(struct model_nf *nf, struct model_nf_rule *r)
{
	struct htab_iter it;
	struct model_nf_chain *c;

	htab_iter_init(&it, &nf->chains);
	while ((c = htab_iter_next(&it)))
		if (c->id == r->key.chain) {
			c->nrules--;
			c->nmodify -= r->modifies;
			break;
		}
	htab_remove(&nf->rules, r);
	free(r);
}

void model_nf_rule_del(struct model_nf *nf, uint8_t family, const char *table, const char *chain,
		       uint64_t handle)
{
	struct model_nf_chain *c = model_nf_chain_find(nf, family, table, chain);
	struct model_nf_rule_key k;
	struct model_nf_rule *r;

	if (!c)
		return;
	k = (struct model_nf_rule_key){ .chain = c->id, .handle = handle };
	r = htab_find(&nf->rules, &k);
	if (r) {
		c->nrules--;
		c->nmodify -= r->modifies;
		htab_remove(&nf->rules, r);
		free(r);
	}
}

static void drop_table(void *nf, void *o)
{
	struct model_nf_table *t = o;

	model_nf_table_del(nf, t->key.family, t->key.name);
}

static void drop_chain(void *nf, void *o)
{
	chain_remove(nf, o);
}

static void drop_rule(void *nf, void *o)
{
	rule_remove(nf, o);
}

/* Each kind's container in struct model_nf, its objects' stale flag, and how a stale one
 * goes. */
static const struct {
	size_t table, stale;
	void (*drop)(void *nf, void *obj);
} kinds[] = {
	[MODEL_NF_TABLES] = { offsetof(struct model_nf, tables), offsetof(struct model_nf_table, stale), drop_table },
	[MODEL_NF_CHAINS] = { offsetof(struct model_nf, chains), offsetof(struct model_nf_chain, stale), drop_chain },
	[MODEL_NF_RULES]  = { offsetof(struct model_nf, rules),  offsetof(struct model_nf_rule, stale),  drop_rule },
};

static struct htab *kind_table(struct model_nf *nf, enum model_nf_kind kind)
{
	return (struct htab *)((char *)nf + kinds[kind].table);
}

void model_nf_mark_stale(struct model_nf *nf, enum model_nf_kind kind)
{
	htab_mark(kind_table(nf, kind), kinds[kind].stale);
}

size_t model_nf_sweep(struct model_nf *nf, enum model_nf_kind kind)
{
	return htab_sweep(kind_table(nf, kind), kinds[kind].stale, kinds[kind].drop, nf);
}

bool model_nf_set_legacy(struct model_nf *nf, struct model_nf_legacy *v, size_t n)
{
	bool changed = n != nf->nlegacy || !nf->legacy_known ||
		       (n && memcmp(v, nf->legacy, n * sizeof(*v)));

	free(nf->legacy);
	nf->legacy = v;
	nf->nlegacy = n;
	nf->legacy_known = true;
	return changed;
}

bool model_nf_chain_forwards(uint8_t family, uint8_t hook)
{
	switch (family) {
	case NF_FAMILY_INET:
		if (hook == NF_HOOK_INET_INGRESS)
			return true;
		/* fall through */
	case NF_FAMILY_IPV4:
	case NF_FAMILY_IPV6:
		return hook == NF_HOOK_PREROUTING || hook == NF_HOOK_FORWARD ||
		       hook == NF_HOOK_POSTROUTING;
	case NF_FAMILY_NETDEV:
		return hook == NF_HOOK_NETDEV_INGRESS || hook == NF_HOOK_NETDEV_EGRESS;
	default:
		return false;	/* arp, bridge: not on the routed path */
	}
}

bool model_nf_table_dormant(const struct model_nf *nf, uint8_t family, const char *name)
{
	const struct model_nf_table *t = table_find(nf, family, name);

	return t && t->dormant;
}

bool model_nf_chain_acts(const struct model_nf_chain *c, const struct model_nf *nf)
{
	if (!c->base || model_nf_table_dormant(nf, c->key.family, c->key.table))
		return false;
	return c->nrules || c->policy != MODEL_NF_ACCEPT || c->nat;
}

bool model_nf_offloadable(const struct model_nf *nf, uint8_t family)
{
	struct htab_iter it;
	struct model_nf_chain *c;

	if (!nf->known || nf->busy || !nf->legacy_known)
		return false;
	htab_iter_init(&it, &nf->chains);
	while ((c = htab_iter_next(&it)))
		if (c->base && !c->nat && c->hook == NF_HOOK_PREROUTING && c->nmodify &&
		    (c->key.family == family || c->key.family == NF_FAMILY_INET) &&
		    !model_nf_table_dormant(nf, c->key.family, c->key.table))
			return false;
	/* iptables-legacy's rules cannot be read here: any in a table other than nat, at
	 * prerouting (mangle, raw), may change what they see. */
	for (size_t i = 0; i < nf->nlegacy; i++)
		if (nf->legacy[i].family == family && nf->legacy[i].hook == NF_HOOK_PREROUTING &&
		    !nf->legacy[i].nat && nf->legacy[i].rules)
			return false;
	return true;
}
