/* Model -> map image: the stages in order. Rules become one priority-ordered list per source
 * prefix holding every rule whose `from` covers it (compile-lists.c); routes one entry per
 * (table, destination) holding the route the kernel would pick, or a punt where the datapath
 * cannot be exact (compile-routes.c); links their entries here. image_fit() (compile-fit.c)
 * then cuts what the maps cannot hold. */
#include "compile.h"
#include "compile-internal.h"
#include "compile-nf.h"
#include "compile-xdp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static bool rule_action_known(uint8_t action)
{
	switch (action) {
	case RULE_LOOKUP:
	case RULE_GOTO:
	case RULE_NOP:
	case RULE_BLACKHOLE:
	case RULE_UNREACHABLE:
	case RULE_PROHIBIT:
		return true;
	default:
		return false;
	}
}

/* The reason, uid ranges aside when uid_known: they are then evaluated. */
static const char *rule_punt_reason(const struct model_rule_key *k, bool uid_known)
{
	if (k->has_uid_range && !uid_known)
		return "uidrange";
	if (k->has_l3mdev)
		return "l3mdev";
	if (k->has_tun_id)
		return "tun_id";
	if (k->suppress_ifgroup != -1)
		return "suppress_ifgroup";
	if (k->port_mask_partial)
		return "port mask";
	if (k->unknown_attrs)
		return "unknown attribute";
	return rule_action_known(k->action) ? NULL : "action";
}

const char *compile_rule_punt_reason(const struct model_rule_key *k)
{
	return rule_punt_reason(k, false);
}

const char *compile_route_punt_reason(const struct model_route *r)
{
	/* An IPv6 route's lifetime, and for routes from router advertisements also their
	 * preference, change with every advertisement without a notification: the model
	 * cannot know when the kernel stops using one. */
	if (r->key.dst.family == AF_INET6 && (r->quirks & ROUTE_EXPIRES))
		return "expires";
	if (r->key.dst.family == AF_INET6 && r->protocol == MODEL_RTPROT_RA)
		return "router advertisement";
	switch (r->type) {
	case ROUTE_UNICAST:
		break;
	case ROUTE_BLACKHOLE:
	case ROUTE_UNREACHABLE:
	case ROUTE_PROHIBIT:
	case ROUTE_THROW:
		return r->key.src.len ? "from" : r->key.tos ? "tos" : NULL;
	default:
		return "type";
	}
	if (r->quirks & ROUTE_NHID)
		return "nexthop object";
	if (r->quirks & ROUTE_ENCAP)
		return "encap";
	if (r->quirks & ROUTE_VIA)
		return "via";
	if (r->quirks & ROUTE_MTU)
		return "mtu";
	if (r->key.src.len)
		return "from";
	if (r->key.tos)
		return "tos";
	if (!r->nnh)
		return "no next hop";
	if (r->nnh > STEER_MAX_PATHS)
		return "too many paths";
	for (uint32_t i = 0; i < r->nnh; i++) {
		if (r->nh[i].oif <= 0)
			return "no device";
		if (r->nh[i].gw_family && r->nh[i].gw_family != r->key.dst.family)
			return "via";
		/* IPv6 spreads only over gateway routes; same-metric entries without one are
		 * separate routes the kernel chooses between by its own scoring. */
		if (r->nnh > 1 && !r->nh[i].gw_family && r->key.dst.family == AF_INET6)
			return "multipath without gateway";
	}
	if (r->nnh == 1 && r->nh[0].flags & (NH_DEAD | NH_LINKDOWN))
		return "dead";
	return NULL;
}

/* ---- rules ---- */

/* Does any rule of this family have this priority? A goto to a priority nobody has is
 * "unresolved" in the kernel and acts like nop. */
static bool priority_exists(const struct model *m, uint8_t family, uint32_t prio)
{
	for (size_t i = 0; i < m->nrules; i++)
		if (m->rules[i].key.family == family && m->rules[i].key.priority == prio)
			return true;
	return false;
}

/* Rule actions that are the same word in the datapath's language. */
static const uint8_t plain_actions[] = {
	[RULE_NOP] = STEER_RULE_NOP, [RULE_BLACKHOLE] = STEER_RULE_BLACKHOLE,
	[RULE_UNREACHABLE] = STEER_RULE_UNREACHABLE, [RULE_PROHIBIT] = STEER_RULE_PROHIBIT,
};

static void compile_rule_body(const struct model *m, const struct model_overrides *ov,
			      const struct model_rule_key *k,
			      struct steer_rule *r)
{
	const char *why = rule_punt_reason(k, m->fwd_uid0);

	/* Outside what steer.yaml mirrors, whatever the rule would decide the kernel decides. */
	if (!why && (!model_priority_mirrored(ov, k->priority) ||
		     (k->action == RULE_LOOKUP && !model_table_mirrored(ov, k->table))))
		why = "not mirrored";

	*r = (struct steer_rule){ .priority = k->priority, .family = k->family };
	/* The body says which rule it is (family, from), so ids and hit counts are per rule;
	 * the datapath reads `from` only for inverted rules. */
	compile_addr_words(&k->src, r->src, r->src_mask);
	switch (k->action) {
	case RULE_LOOKUP:
		r->action = STEER_RULE_LOOKUP;
		r->table = k->table;
		if (k->suppress_prefixlen >= 0) {
			r->match |= STEER_MATCH_SUPPRESS;
			r->suppress_prefixlen = (uint8_t)(k->suppress_prefixlen > 255 ? 255 : k->suppress_prefixlen);
		}
		break;
	case RULE_GOTO:
		r->action = priority_exists(m, k->family, k->goto_target) ? STEER_RULE_GOTO : STEER_RULE_NOP;
		r->goto_priority = k->goto_target;
		break;
	default:
		/* The rest carry nothing but the action itself. */
		r->action = plain_actions[k->action < sizeof(plain_actions) ? k->action : 0];
		break;
	}
	if (why) {
		r->action = STEER_RULE_PUNT;
		/* Inverted, it may match wherever the unseen selector fails: always punt. */
		if (k->invert)
			return;
	}
	if (k->invert) {
		r->match |= STEER_MATCH_INVERT;
		if (k->src.len)
			r->match |= STEER_MATCH_SRC;
	}
	if (k->iifname[0]) {
		const struct model_link *l = model_link_by_name((struct model *)m, k->iifname);

		r->match |= STEER_MATCH_IIF;
		r->iif = l ? (uint32_t)l->ifindex : STEER_IIF_MISSING;
	}
	/* The kernel looks a forwarded packet up with no output device (flowi4_oif and
	 * flowi6_oif 0), its source check too: an oif selector never matches there, as an iif
	 * whose device does not exist never does. Inverted, such a rule matches everything. */
	/* A forwarded packet is looked up as uid 0 (fwd_uid0): a range without it never
	 * matches, as an oif never does; a range with it always does. */
	if (k->oifname[0] || (m->fwd_uid0 && k->has_uid_range && k->uid_start > 0)) {
		r->match |= STEER_MATCH_IIF;
		r->iif = STEER_IIF_MISSING;
	}
	compile_selectors(r, &(struct compile_sel){
		.family = k->family, .dst = &k->dst, .tos = k->tos, .mark = k->fwmark, .mask = k->fwmask,
		.proto = k->ip_proto, .sport_lo = k->sport_lo, .sport_hi = k->sport_hi,
		.dport_lo = k->dport_lo, .dport_hi = k->dport_hi });
}

/* The kernel's rules and the policies in one order: by priority, a policy after the kernel's
 * rules of its priority (as `ip rule add` puts a new rule after its equals), so a policy at
 * priority 0 never comes before `lookup local`. */
static struct crule *merge_rules(const struct model *m, const struct model_overrides *ov,
				 size_t *n)
{
	size_t np = ov ? ov->npolicies : 0, i = 0, j = 0, out = 0;
	struct crule *c = calloc(m->nrules + 2 * np + 1, sizeof(*c));

	if (!c)
		return NULL;
	while (i < m->nrules || j < np) {
		if (j == np || (i < m->nrules && m->rules[i].key.priority <= ov->policies[j].priority)) {
			c[out++] = (struct crule){ .k = &m->rules[i].key, .family = m->rules[i].key.family,
						   .priority = m->rules[i].key.priority };
			i++;
			continue;
		}
		for (int f = 0; f < 2; f++) {
			uint8_t fam = f ? AF_INET6 : AF_INET;

			if (!ov->policies[j].family || ov->policies[j].family == fam)
				c[out++] = (struct crule){ .p = &ov->policies[j], .family = fam,
							   .priority = ov->policies[j].priority };
		}
		j++;
	}
	*n = out;
	return c;
}

static int compile_rules(const struct model *m, const struct model_overrides *ov,
			 const struct crule *cr, size_t ncr, struct vec *bodies, struct vec *nhs,
			 struct vec *groups)
{
	/* Per family: the last priority seen, and the rule's place among those of it. Counted
	 * across both, it would follow how the model happens to interleave the families. */
	uint32_t last[2] = { 0, 0 }, order[2] = { 0, 0 };
	bool seen[2] = { false, false };

	/* Bodies: one per rule or policy, then the marker that ends a cut list. */
	for (size_t i = 0; i <= ncr; i++) {
		struct steer_rule *b = vec_push(bodies);

		if (!b)
			return -ENOMEM;
		if (i == ncr)
			*b = (struct steer_rule){ .priority = UINT32_MAX, .action = STEER_RULE_CUT };
		else if (cr[i].k)
			compile_rule_body(m, ov, cr[i].k, b);
		else if (compile_policy_body(m, ov, cr[i].p, cr[i].family, nhs, groups, b) < 0)
			return -ENOMEM;
		if (i < ncr) {
			int f = cr[i].family == AF_INET6;

			order[f] = seen[f] && cr[i].priority == last[f] ? order[f] + 1 : 0;
			last[f] = cr[i].priority;
			seen[f] = true;
			b->order = order[f];
		}
	}
	return 0;
}

/* ---- links ---- */

/* What frames on a device of this ARPHRD_* type start with, as STEER_LINK_* flags: 0 for
 * Ethernet (and lo, which carries an Ethernet header too), STEER_LINK_L3 where the IP header
 * comes first (tun and WireGuard: ARPHRD_NONE; raw-IP modems), STEER_LINK_L2_OTHER for the
 * rest, which the datapath does not parse. */
static uint32_t link_layer_flags(uint16_t type)
{
	switch (type) {
	case 1:		/* ARPHRD_ETHER */
	case 772:	/* ARPHRD_LOOPBACK */
		return 0;
	case 65534:	/* ARPHRD_NONE */
	case 519:	/* ARPHRD_RAWIP */
		return STEER_LINK_L3;
	default:
		return STEER_LINK_L2_OTHER;
	}
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* The devices that hold an IPv4 address, sorted. */
static int ipv4_addressed(const struct model *m, struct vec *out)
{
	struct htab_iter it;
	struct model_addr *a;

	htab_iter_init(&it, &m->addrs);
	while ((a = htab_iter_next(&it))) {
		int32_t *ifindex;

		if (a->key.addr.family != AF_INET)
			continue;
		ifindex = vec_push(out);
		if (!ifindex)
			return -ENOMEM;
		*ifindex = a->key.ifindex;
	}
	sort(out->p, out->n, out->size, cmp_i32);
	return 0;
}

static int compile_links(const struct model *m, struct vec *links, struct vec *vlans)
{
	struct vec addressed = { .size = sizeof(int32_t) };
	struct htab_iter it;
	struct model_link *l;
	int r = ipv4_addressed(m, &addressed);

	htab_iter_init(&it, &m->links);
	while (r == 0 && (l = htab_iter_next(&it))) {
		struct image_link *il = vec_push(links);
		int rp = l->rp_filter4 > m->all_rp_filter4 ? l->rp_filter4 : m->all_rp_filter4;

		if (!il) {
			r = -ENOMEM;
			break;
		}
		/* Loose rp_filter on a device without an IPv4 address is strict: the kernel's
		 * source check (__fib_validate_source, no_addr) then accepts only a route back
		 * through the device itself. */
		if (rp == 2 && !(addressed.n && bsearch(&l->ifindex, addressed.p, addressed.n,
							addressed.size, cmp_i32)))
			rp = 1;
		il->ifindex = (uint32_t)l->ifindex;
		if ((l->flags & IFF_UP) && (l->flags & IFF_RUNNING))
			il->val.flags |= STEER_LINK_UP;
		/* Unknown switches (-1) leave forwarding off: the kernel then decides. So does
		 * a port of a bridge, bond or VRF, whose packets the kernel routes (if at all)
		 * as arriving on the master. */
		if (l->fwd4 == 1 && l->rp_filter4 >= 0 && m->all_rp_filter4 >= 0 && !l->master)
			il->val.flags |= STEER_LINK_FWD4;
		if (l->fwd6 == 1 && m->all_fwd6 == 1 && !l->master)
			il->val.flags |= STEER_LINK_FWD6;
		il->val.rp_filter = rp < 0 ? 0 : (uint8_t)rp;
		il->val.flags |= link_layer_flags(l->type);
		/* For the XDP stage (one an earlier steerd left attached included), with or
		 * without it now. */
		if (l->local_csum)
			il->val.flags |= STEER_LINK_CSUM_PARTIAL;
		/* Past 65535 no IPv6 packet without a jumbo option (which punts) is too big. */
		il->val.mtu6 = l->mtu6 <= 0 ? 0 : l->mtu6 > 65535 ? 65535 : (uint16_t)l->mtu6;
		il->val.mtu = l->mtu;
		memcpy(il->val.mac, l->mac, 6);

		if (l->vlan_lower > 0) {
			struct image_vlan *v = vec_push(vlans);

			if (!v) {
				r = -ENOMEM;
				break;
			}
			v->key.ifindex = (uint32_t)l->vlan_lower;
			v->key.vid = l->vlan_id;
			v->val.ifindex = (uint32_t)l->ifindex;
		}
	}
	free(addressed.p);
	return r;
}

/* ---- image ---- */

DEFINE_KEY_CMP(cmp_src, struct image_src)
DEFINE_KEY_CMP(cmp_dst, struct image_dst)
DEFINE_KEY_CMP(cmp_sel, struct image_sel)
DEFINE_KEY_CMP(cmp_route, struct image_route)
DEFINE_KEY_CMP(cmp_vlan, struct image_vlan)

static int cmp_link(const void *a, const void *b)
{
	return memcmp(&((const struct image_link *)a)->ifindex,
		      &((const struct image_link *)b)->ifindex, sizeof(uint32_t));
}

/* Can the kernel's route lookup answer with a route of this type that its source check
 * refuses (local, broadcast, anycast, multicast, nat, a type from a later kernel)? Errors,
 * throw and unicast pass the check (the first two as its "last resort"). */
static bool source_check_refuses(uint8_t type)
{
	switch (type) {
	case ROUTE_UNICAST:
	case ROUTE_BLACKHOLE:
	case ROUTE_UNREACHABLE:
	case ROUTE_PROHIBIT:
	case ROUTE_THROW:
		return false;
	default:
		return true;
	}
}

static bool table_listed(const uint32_t *tables, size_t n, uint32_t table)
{
	for (size_t i = 0; i < n; i++)
		if (tables[i] == table)
			return true;
	return false;
}

/* See STEER_STATE_LOCAL_SRC_CHECK4. The kernel's source check (__fib_validate_source) walks
 * every rule; the shortcut only looks into the local table. It holds only when nothing
 * else on that walk can meet a route the check refuses: no rule but the first reaches the
 * local table, no rule reaches a table chosen at run time (l3mdev) or does what this agent
 * does not know, the mirrored tables hold no route the fast path punts, and the tables
 * steer.yaml leaves unmirrored (which the full reverse walk could only punt on) hold no
 * route of a type the check refuses. */
static bool local_source_check_ok(const struct model *m, const struct model_overrides *ov,
				  const struct image_route *routes, size_t n)
{
	const struct model_rule_key *first = NULL;
	struct steer_rule plain = { 0 }, body;
	uint32_t *unmirrored;
	size_t nunmirrored = 0;
	bool ok = true;

	unmirrored = malloc((m->nrules + 1) * sizeof(*unmirrored));
	if (!unmirrored)
		return false;
	for (size_t i = 0; i < m->nrules && ok; i++) {
		const struct model_rule_key *k = &m->rules[i].key;

		if (k->family != AF_INET)
			continue;
		if (!first) {
			first = k;
			continue;
		}
		if (k->table == MODEL_TABLE_LOCAL && (k->action == RULE_LOOKUP || compile_rule_punt_reason(k)))
			ok = false;
		if (k->has_l3mdev || !rule_action_known(k->action))
			ok = false;
		if (k->action == RULE_LOOKUP && !model_table_mirrored(ov, k->table) &&
		    !table_listed(unmirrored, nunmirrored, k->table))
			unmirrored[nunmirrored++] = k->table;
	}
	if (!first)
		ok = false;
	if (ok) {
		compile_rule_body(m, ov, first, &body);
		plain = (struct steer_rule){ .priority = first->priority, .table = MODEL_TABLE_LOCAL,
					     .action = STEER_RULE_LOOKUP, .family = AF_INET };
		memcpy(plain.src, body.src, sizeof(plain.src));
		memcpy(plain.src_mask, body.src_mask, sizeof(plain.src_mask));
		ok = !memcmp(&plain, &body, sizeof(body));
	}
	for (size_t i = 0; i < n && ok; i++)
		if (routes[i].key.family == AF_INET && routes[i].key.table != MODEL_TABLE_LOCAL &&
		    routes[i].val.type == STEER_RT_PUNT)
			ok = false;
	if (ok && nunmirrored) {
		struct htab_iter it;
		const struct model_route *r;

		htab_iter_init(&it, &m->routes);
		while (ok && (r = htab_iter_next(&it)))
			for (; r && ok; r = r->next)
				if (r->key.dst.family == AF_INET && source_check_refuses(r->type) &&
				    table_listed(unmirrored, nunmirrored, r->key.table))
					ok = false;
	}
	free(unmirrored);
	return ok;
}

int compile_image(const struct model *m, const struct model_overrides *ov, struct image *out)
{
	struct vec srcs = { .size = sizeof(struct image_src) };
	struct vec rules = { .size = sizeof(struct steer_rule) };
	struct vec groups = { .size = sizeof(struct steer_group) };
	struct vec routes = { .size = sizeof(struct image_route) };
	struct vec nhs = { .size = sizeof(struct steer_nexthop) };
	struct vec links = { .size = sizeof(struct image_link) };
	struct vec vlans = { .size = sizeof(struct image_vlan) };
	struct vec dsts = { .size = sizeof(struct image_dst) };
	struct vec sels = { .size = sizeof(struct image_sel) };
	size_t truncated = 0, ncr = 0;
	uint32_t state_flags = 0;
	struct crule *cr = merge_rules(m, ov, &ncr);

	if (!cr || compile_routes(m, ov, &routes, &nhs, &groups) < 0 ||
	    compile_rules(m, ov, cr, ncr, &rules, &nhs, &groups) < 0 ||
	    compile_lists(cr, ncr, rules.p, &srcs, &dsts, &sels, &truncated) < 0 ||
	    compile_dedupe_nexthops(&nhs, &routes, &groups, &rules) < 0 || compile_links(m, &links, &vlans) < 0) {
		free(cr);
		free(srcs.p);
		free(dsts.p);
		free(sels.p);
		free(rules.p);
		free(groups.p);
		free(routes.p);
		free(nhs.p);
		free(links.p);
		free(vlans.p);
		return -ENOMEM;
	}
	free(cr);
	sort(srcs.p, srcs.n, srcs.size, cmp_src);
	/* compile_routes makes them in this order already; the check costs one pass. */
	if (!sorted(routes.p, routes.n, routes.size, cmp_route))
		sort(routes.p, routes.n, routes.size, cmp_route);
	sort(links.p, links.n, links.size, cmp_link);
	sort(vlans.p, vlans.n, vlans.size, cmp_vlan);
	if (local_source_check_ok(m, ov, routes.p, routes.n))
		state_flags |= STEER_STATE_LOCAL_SRC_CHECK4;
	/* Hash policy 0 only: the others hash ports (or inner headers, or a hash TC cannot see
	 * computed); then the kernel's multipath routes punt, so no flow ever takes two paths. */
	if (m->mp_hash_policy4 == 0)
		state_flags |= STEER_STATE_MP_KERNEL4;
	if (m->mp_hash_policy6 == 0)
		state_flags |= STEER_STATE_MP_KERNEL6;
	if (m->fwd_use_pmtu4 != 0)	/* on, or unknown */
		state_flags |= STEER_STATE_FWD_PMTU4;
	if (m->fwd_update_prio4 == 0)	/* unknown: before Linux 4.19, which always set it */
		state_flags |= STEER_STATE_KEEP_PRIO4;
	state_flags |= compile_nf_flags(m) | compile_nf_links(m, links.p, links.n);
	*out = (struct image){
		.state_flags = state_flags,
		.srcs = srcs.p, .nsrcs = srcs.n, .dsts = dsts.p, .ndsts = dsts.n, .sels = sels.p, .nsels = sels.n, .routes = routes.p, .nroutes = routes.n,
		.nhs = nhs.p, .nnhs = nhs.n, .links = links.p, .nlinks = links.n,
		.vlans = vlans.p, .nvlans = vlans.n, .truncated_lists = truncated,
		.rules = rules.p, .nrules = rules.n, .groups = groups.p, .ngroups = groups.n,
	};
	for (size_t i = 0; i < out->nsrcs && !out->side_lists; i++)
		out->side_lists = out->srcs[i].val.side_dst || out->srcs[i].val.side_sel ||
				  out->srcs[i].val.side_rest;
	out->nnf = compile_nf_chains(m, out->nf, STEER_NF_CHAINS);
	if (compile_split_ids(out) < 0 || compile_xdp(m, out) < 0) {
		image_free(out);
		return -ENOMEM;
	}
	sort(out->dsts, out->ndsts, sizeof(*out->dsts), cmp_dst);
	sort(out->sels, out->nsels, sizeof(*out->sels), cmp_sel);
	out->ct_mark = m->ct_mark & m->ct_mask;
	out->ct_mask = m->ct_mask;
	out->ct_timeout_tcp_ms = m->ct_timeout_tcp_s > 0 ? (uint32_t)m->ct_timeout_tcp_s * 1000u : 0;
	out->ct_timeout_udp_ms = m->ct_timeout_udp_s > 0 ? (uint32_t)m->ct_timeout_udp_s * 1000u : 0;
	return 0;
}

void image_free(struct image *img)
{
	for (int m = 0; m < MAP_APPLIED; m++)
		free(*map_image_arr(img, m));
	*img = (struct image){};
}
