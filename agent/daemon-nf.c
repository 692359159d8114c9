/* steerd and netfilter: what a ruleset change means for the fast path, written at once;
 * iptables-legacy's poll; and the journal events that say which chains make steer punt,
 * or which it forwards past with `bypass`. */
#include <stdio.h>
#include <string.h>

#include "compile-nf.h"
#include "daemon-nf.h"
#include "log.h"

/* "inet filter forward (2 rules)" for each chain in list that acts on the family's
 * forward path (family_bit: STEER_STATE_NF4 or NF6); returns how many. */
static size_t describe(const struct steer_nf_chain *list, size_t n, uint32_t family_bit, char *buf,
		      size_t len)
{
	size_t found = 0, used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct steer_nf_chain *c = &list[i];
		bool v4 = c->family == 2 || c->family == 1 || c->family == 5;
		bool v6 = c->family == 10 || c->family == 1 || c->family == 5;
		char what[64];
		int w;

		if (!(c->flags & STEER_NF_FORWARD) || !(family_bit == STEER_STATE_NF4 ? v4 : v6))
			continue;
		if (c->rules)
			snprintf(what, sizeof(what), "%u rule%s", c->rules, c->rules == 1 ? "" : "s");
		else
			snprintf(what, sizeof(what), "%s", c->flags & STEER_NF_NAT ? "nat" : "policy drop");
		w = snprintf(buf + used, len - used, "%s%s%s %s %s (hook %s, %s)", found ? ", " : "",
			     c->flags & STEER_NF_LEGACY ? "iptables-legacy " : "",
			     steer_nf_family_name(c->family), c->table, c->chain,
			     steer_nf_hook_name(c->family, c->hook), what);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
		found++;
	}
	return found;
}

static void log_changes(struct daemon *d, uint32_t flags)
{
	static const struct { uint32_t bit; const char *name; } fams[] = {
		{ STEER_STATE_NF4, "IPv4" }, { STEER_STATE_NF6, "IPv6" },
	};
	struct steer_nf_chain list[STEER_NF_CHAINS];
	size_t n;

	if (flags & STEER_STATE_NF_UNKNOWN) {
		if (!d->nf_unknown_said)
			log_event(LOG_NOTICE, LOG_EV_NETFILTER_UNKNOWN, NULL,
				  "netfilter: the ruleset is not known yet%s; the fast path hands "
				  "IPv4 and IPv6 to the kernel until it is",
				  d->model.nf.legacy_known ? "" : " (iptables-legacy unreadable)");
		d->nf_unknown_said = true;
		return;
	}
	d->nf_unknown_said = false;
	n = compile_nf_chains(&d->model, list, STEER_NF_CHAINS);
	for (size_t f = 0; f < 2; f++) {
		char now[sizeof(d->nf_said[0])];

		describe(list, n, fams[f].bit, now, sizeof(now));
		if (!strcmp(now, d->nf_said[f]))
			continue;
		if (d->model.nf_mode == STEER_NF_BYPASS && now[0])
			log_event(LOG_WARNING, LOG_EV_NETFILTER_BYPASSED, NULL,
				  "netfilter: bypass: %s forwarding goes past %s", fams[f].name, now);
		else if (now[0])
			log_event(LOG_NOTICE, LOG_EV_NETFILTER_FOUND, NULL,
				  "netfilter: %s forwarding passes %s; the fast path hands %s to the kernel",
				  fams[f].name, now, fams[f].name);
		else
			log_event(LOG_NOTICE, LOG_EV_NETFILTER_CLEARED, NULL,
				  "netfilter: no chain acts on %s forwarding any more; fast path back",
				  fams[f].name);
		snprintf(d->nf_said[f], sizeof(d->nf_said[f]), "%s", now);
	}
}

void netfilter_changed(struct daemon *d)
{
	uint32_t flags = compile_nf_flags(&d->model);
	/* Device chains reach the datapath as link flags, with the apply; until then the
	 * families they concern punt whole. */
	uint32_t now = flags | (compile_nf_device_chains(&d->model) ? STEER_STATE_NF4 | STEER_STATE_NF6 : 0);

	d->nf.changed = false;
	/* More punting goes out at once. Less waits for the apply that the dirty model brings,
	 * which writes the links' device flags before the state map: a ruleset that moves from
	 * a forward chain to a device chain must never leave a moment with neither. Before the
	 * first sync the datapath punts everything anyway. */
	if (d->first_sync_done)
		sync_tighten_nf(&d->sync, now);
	d->model.dirty = true;
	if (!d->model.nf.busy)
		log_changes(d, flags);
}

void netfilter_poll_legacy(struct daemon *d)
{
	bool was = d->model.nf.legacy_known;
	int r = nf_legacy_read(&d->model);

	if (r < 0 && was)
		log_event(LOG_WARNING, LOG_EV_NETFILTER_UNKNOWN, &(struct log_ctx){ .error = r },
			  "netfilter: cannot read the iptables-legacy tables: %s", strerror(-r));
	if (r != 0 && (r > 0 || was))
		netfilter_changed(d);
}

void netfilter_warn_bypass(struct daemon *d)
{
	if (d->model.nf_mode != STEER_NF_BYPASS)
		return;
	log_event(LOG_WARNING, LOG_EV_NETFILTER_BYPASSED, NULL,
		  "netfilter: bypass: the fast path forwards past the router's firewall and NAT%s%s%s%s",
		  d->nf_said[0][0] ? "; IPv4: " : "", d->nf_said[0],
		  d->nf_said[1][0] ? "; IPv6: " : "", d->nf_said[1]);
}
