/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The netfilter chains steerd found (the steer_netfilter map), in words: for status, and for
 * explain when a packet punts because of them. */
#include <stdio.h>
#include <string.h>

#include "steerctl.h"

int sc_nf_read(const struct steerctl *c, struct steer_nf_chain *out, size_t *n)
{
	struct pinned_map m = { .fd = -1 };
	int err = sc_map_open(c, MAP_NETFILTER, &m);

	*n = 0;
	for (__u32 i = 0; !err && i < STEER_NF_CHAINS; i++) {
		err = sc_map_lookup(c, &m, &i, &out[*n]);
		if (err < 0)
			break;
		err = 0;
		if (!(out[*n].flags & STEER_NF_USED))
			break;
		(*n)++;
	}
	sc_map_close(&m);
	return err;
}

bool sc_nf_on_path(const struct steer_nf_chain *ch, __u8 family, __u32 iif, __u32 oif)
{
	bool v4 = family == STEER_AF_INET;

	if (!(ch->flags & STEER_NF_FORWARD))
		return false;
	switch (ch->family) {
	case 2:
		return v4;
	case 10:
		return !v4;
	case 1:
		return ch->hook == 5 ? ch->ifindex == iif : true;
	case 5:
		return ch->ifindex == (ch->hook == 1 ? oif : iif);
	default:
		return false;
	}
}

const char *sc_nf_name(const struct steer_nf_chain *ch, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s %.*s %.*s", ch->flags & STEER_NF_LEGACY ? "iptables-legacy " : "",
		 steer_nf_family_name(ch->family), STEER_NF_NAME, ch->table, STEER_NF_NAME, ch->chain);
	return buf;
}

/* "hook forward, priority 0, policy accept, 2 rules" */
static void chain_words(FILE *f, const struct steer_nf_chain *ch)
{
	char dev[SC_NAME_STRLEN];

	fprintf(f, "hook %s", steer_nf_hook_name(ch->family, ch->hook));
	if (ch->ifindex)
		fprintf(f, " device %s", sc_ifname(ch->ifindex, dev, sizeof(dev)));
	if (!(ch->flags & STEER_NF_LEGACY))
		fprintf(f, ", priority %d", ch->priority);
	fprintf(f, ", policy %s, %u rule%s%s%s%s", ch->policy ? "accept" : "drop", ch->rules,
		ch->rules == 1 ? "" : "s", ch->flags & STEER_NF_NAT ? ", nat" : "",
		ch->flags & STEER_NF_DORMANT ? ", dormant" : "",
		ch->flags & STEER_NF_FORWARD ? ", on the forward path" : "");
}

static void chain_json(struct json *j, const struct steer_nf_chain *ch)
{
	char dev[SC_NAME_STRLEN], name[STEER_NF_NAME + 1];

	json_obj_open(j, NULL);
	json_str(j, "family", steer_nf_family_name(ch->family));
	snprintf(name, sizeof(name), "%.*s", STEER_NF_NAME, ch->table);
	json_str(j, "table", name);
	snprintf(name, sizeof(name), "%.*s", STEER_NF_NAME, ch->chain);
	json_str(j, "chain", name);
	json_str(j, "hook", steer_nf_hook_name(ch->family, ch->hook));
	if (ch->ifindex)
		json_str(j, "dev", sc_ifname(ch->ifindex, dev, sizeof(dev)));
	if (!(ch->flags & STEER_NF_LEGACY))
		json_i64(j, "prio", ch->priority);
	json_str(j, "policy", ch->policy ? "accept" : "drop");
	json_u64(j, "rules", ch->rules);
	json_bool(j, "nat", ch->flags & STEER_NF_NAT);
	json_bool(j, "legacy", ch->flags & STEER_NF_LEGACY);
	json_bool(j, "dormant", ch->flags & STEER_NF_DORMANT);
	json_bool(j, "forward_path", ch->flags & STEER_NF_FORWARD);
	json_obj_close(j);
}

/* Whether the family punts for netfilter, and why, in one line. */
static void family_line(FILE *f, const struct steer_state *st, const struct steer_nf_chain *chs,
			size_t n, __u32 bit)
{
	char name[2 * STEER_NF_NAME + 32];
	size_t shown = 0;

	if (st->nf_mode == STEER_NF_BYPASS) {
		fprintf(f, "fast path, past any firewall (bypass)\n");
		return;
	}
	if (st->flags & STEER_STATE_NF_UNKNOWN) {
		fprintf(f, "handed to the kernel: the ruleset is not known yet\n");
		return;
	}
	if ((st->flags & bit) && st->nf_mode == STEER_NF_OFFLOAD &&
	    (st->flags & (bit == STEER_STATE_NF4 ? STEER_STATE_CT_OFFLOAD4 : STEER_STATE_CT_OFFLOAD6)))
		fprintf(f, "marked connections offloaded, the rest ");
	if (!(st->flags & bit)) {
		fprintf(f, "fast path: no chain acts on forwarded packets%s\n",
			st->flags & STEER_STATE_NF_DEVICES ? " (but see the device chains)" : "");
		return;
	}
	fprintf(f, "handed to the kernel:");
	for (size_t i = 0; i < n; i++) {
		if (!sc_nf_on_path(&chs[i], bit == STEER_STATE_NF4 ? STEER_AF_INET : STEER_AF_INET6,
				   0, 0) || chs[i].family == 5 || (chs[i].family == 1 && chs[i].hook == 5))
			continue;
		fprintf(f, "%s %s", shown++ ? "," : "", sc_nf_name(&chs[i], name, sizeof(name)));
	}
	fputc('\n', f);
}

int sc_nf_status(struct steerctl *c, const struct steer_state *st)
{
	struct steer_nf_chain chs[STEER_NF_CHAINS];
	char name[2 * STEER_NF_NAME + 32];
	size_t n;
	int err = sc_nf_read(c, chs, &n);

	if (err)
		return err;
	if (c->json) {
		struct json *j = &c->jw;

		json_obj_open(j, "netfilter");
		json_str(j, "mode", steer_nf_mode_name(st->nf_mode));
		json_bool(j, "known", !(st->flags & STEER_STATE_NF_UNKNOWN));
		json_bool(j, "ipv4_punted", st->flags & STEER_STATE_NF4);
		json_bool(j, "ipv6_punted", st->flags & STEER_STATE_NF6);
		json_bool(j, "device_chains", st->flags & STEER_STATE_NF_DEVICES);
		if (st->nf_mode == STEER_NF_OFFLOAD) {
			json_obj_open(j, "offload");
			json_u64(j, "mark", st->ct_mark);
			json_u64(j, "mask", st->ct_mask);
			json_bool(j, "ipv4", st->flags & STEER_STATE_CT_OFFLOAD4);
			json_bool(j, "ipv6", st->flags & STEER_STATE_CT_OFFLOAD6);
			json_bool(j, "tcp_liberal", st->flags & STEER_STATE_CT_TCP_LIBERAL);
			json_u64(j, "tcp_timeout_ms", st->ct_timeout_tcp_ms);
			json_u64(j, "udp_timeout_ms", st->ct_timeout_udp_ms);
			json_obj_close(j);
		}
		json_arr_open(j, "chains");
		for (size_t i = 0; i < n; i++)
			chain_json(j, &chs[i]);
		json_arr_close(j);
		json_obj_close(j);
		return 0;
	}
	fprintf(c->out, "netfilter:   %s\n", steer_nf_mode_name(st->nf_mode));
	if (st->nf_mode == STEER_NF_OFFLOAD)
		fprintf(c->out, "  offload:   connections marked 0x%x/0x%x; IPv4 %s, IPv6 %s; TCP %s\n",
			st->ct_mark, st->ct_mask,
			st->flags & STEER_STATE_CT_OFFLOAD4 ? "yes" : "no (a prerouting rule changes packets)",
			st->flags & STEER_STATE_CT_OFFLOAD6 ? "yes" : "no (a prerouting rule changes packets)",
			st->flags & STEER_STATE_CT_TCP_LIBERAL ? "yes" :
			"only connections conntrack tracks liberally (nf_conntrack_tcp_be_liberal is 0)");
	fprintf(c->out, "  IPv4:      ");
	family_line(c->out, st, chs, n, STEER_STATE_NF4);
	fprintf(c->out, "  IPv6:      ");
	family_line(c->out, st, chs, n, STEER_STATE_NF6);
	for (size_t i = 0; i < n; i++) {
		fprintf(c->out, "  %s: ", sc_nf_name(&chs[i], name, sizeof(name)));
		chain_words(c->out, &chs[i]);
		fputc('\n', c->out);
	}
	if (n == STEER_NF_CHAINS)
		fprintf(c->out, "  (only the first %d base chains are shown)\n", STEER_NF_CHAINS);
	return 0;
}
