/* steerd's configuration file in use: reading it (at start and on SIGHUP), the settings it
 * gives where the command line did not, and the interfaces it names, attached and detached
 * as they come and go. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>

#include "daemon-config.h"
#include "daemon-nf.h"
#include "log.h"

/* One hook of one interface: attach when the interface exists and we are not on it yet;
 * forget an attachment whose interface went away (its TCX link died with it). */
static void reconcile_hook(struct daemon *d, struct iface *f, bool egress)
{
	struct model_link *l = model_link_by_name(&d->model, f->name);
	int *at = egress ? &f->at_egress : &f->at_ingress;

	if (*at && (!l || l->ifindex != *at)) {
		log_event(LOG_NOTICE, LOG_EV_IFACE_WAIT, &(struct log_ctx){ .ifname = f->name },
			  "%s: interface gone; waiting for it to come back", f->name);
		/* Its TCX link died with it; the pin would still say "attached". */
		attach_detach(&d->bpf, 0, f->name, egress);
		*at = 0;
		f->said_waiting = true;
	}
	if (!*at && !l && !f->said_waiting) {
		log_event(LOG_NOTICE, LOG_EV_IFACE_WAIT, &(struct log_ctx){ .ifname = f->name },
			  "%s: no such interface yet; waiting for it", f->name);
		f->said_waiting = true;
	}
	if (!*at && l && attach_iface(&d->bpf, l->ifindex, f->name, egress, f->xdp) == 0) {
		*at = l->ifindex;
		f->said_waiting = false;
	}
}

void reconcile_attachments(struct daemon *d)
{
	for (int i = 0; i < d->opt.nifaces; i++) {
		struct iface *f = &d->opt.ifaces[i];

		if (f->ingress)
			reconcile_hook(d, f, false);
		if (f->egress)
			reconcile_hook(d, f, true);
	}
}

static struct iface *iface_find(struct options *o, const char *name)
{
	for (int i = 0; i < o->nifaces; i++)
		if (!strcmp(o->ifaces[i].name, name))
			return &o->ifaces[i];
	return NULL;
}

/* The interfaces are the command line's plus the file's; a hook that is no longer wanted
 * is detached now, a new one is attached when the loop next reconciles. */
static void set_interfaces(struct daemon *d, const struct config *c)
{
	struct options *o = &d->opt;
	struct iface old[MAX_ATTACH];
	int nold = o->nifaces, n = 0;

	memcpy(old, o->ifaces, sizeof(old));
	for (int i = 0; i < nold; i++) {
		if (!old[i].from_cli)
			continue;
		o->ifaces[n] = (struct iface){ .ingress = true, .from_cli = true };
		strcpy(o->ifaces[n++].name, old[i].name);
	}
	o->nifaces = n;
	for (size_t i = 0; i < c->nifaces; i++) {
		struct iface *f = iface_find(o, c->ifaces[i].name);

		if (!f) {
			if (o->nifaces == MAX_ATTACH)
				break;
			f = &o->ifaces[o->nifaces++];
			*f = (struct iface){ 0 };
			strcpy(f->name, c->ifaces[i].name);
		}
		f->ingress |= c->ifaces[i].ingress;
		f->egress |= c->ifaces[i].egress;
		f->xdp |= c->ifaces[i].xdp;
	}
	/* Carry over where each kept hook is attached (its XDP stage put in front or taken
	 * away as the file now says); detach the rest. */
	for (int i = 0; i < nold; i++) {
		struct iface *f = iface_find(o, old[i].name);

		if (old[i].at_ingress && f && f->ingress) {
			f->at_ingress = old[i].at_ingress;
			if (f->xdp != old[i].xdp)
				attach_set_xdp(&d->bpf, f->at_ingress, f->name, f->xdp);
		} else if (old[i].at_ingress)
			attach_detach(&d->bpf, old[i].at_ingress, old[i].name, false);
		if (old[i].at_egress && f && f->egress)
			f->at_egress = old[i].at_egress;
		else if (old[i].at_egress)
			attach_detach(&d->bpf, old[i].at_egress, old[i].name, true);
	}
}

static int prune_link(void *arg, const char *ifname, enum map_hook hook)
{
	struct daemon *d = arg;
	struct iface *f = iface_find(&d->opt, ifname);

	if (hook == HOOK_XDP) {
		if (!f || !f->ingress || !(d->bpf.xdp || f->xdp))
			attach_detach_xdp(&d->bpf, ifname);
	} else if (!f || !(hook == HOOK_EGRESS ? f->egress : f->ingress)) {
		attach_detach(&d->bpf, 0, ifname, hook == HOOK_EGRESS);
	}
	return 0;
}

/* TCX and XDP links pinned by an earlier run for interfaces (or an XDP stage) no longer
 * configured keep running an old program on the shared maps: remove them. */
void prune_pinned_links(struct daemon *d)
{
	map_pinned_links(d->opt.pin_dir, prune_link, d);
}

/* The netfilter mode: the command line's, else the file's, else respect. A change takes
 * effect at once; `bypass` says what it bypasses at start and on every reload. */
static void set_netfilter_mode(struct daemon *d, const struct config *c, bool at_start)
{
	uint8_t mode = d->opt.cli_netfilter ? (uint8_t)d->opt.nf_mode
		       : c->nf_mode >= 0 ? (uint8_t)c->nf_mode : STEER_NF_RESPECT;
	uint32_t mark = 1, mask = 1;

	if (d->opt.cli_ct_mark)
		mark = d->opt.ct_mark, mask = d->opt.ct_mask;
	else if (c->ct_mark_set)
		mark = c->ct_mark, mask = c->ct_mask;
	if (mark != d->model.ct_mark || mask != d->model.ct_mask) {
		d->model.ct_mark = mark;
		d->model.ct_mask = mask;
		d->model.dirty = true;
	}
	/* The program with conntrack offload is chosen when steerd starts. */
	if (mode == STEER_NF_OFFLOAD && !at_start && d->bpf.obj && !d->bpf.offload) {
		log_notice("netfilter: offload takes effect when steerd restarts (the program that "
			   "can offload is loaded at start); until then the ruleset is respected");
		mode = STEER_NF_RESPECT;
	}
	if (mode != d->model.nf_mode && !at_start) {
		d->model.nf_mode = mode;
		d->sync.nf_mode = mode;
		/* Say again, per family, what netfilter means under the new mode. */
		memset(d->nf_said, 0, sizeof(d->nf_said));
		netfilter_changed(d);
		return;
	}
	d->model.nf_mode = mode;
	d->sync.nf_mode = mode;
	netfilter_warn_bypass(d);
}

static bool same_limits(const struct config *a, const struct config *b)
{
	if (a->nlimits != b->nlimits)
		return false;
	for (size_t i = 0; i < a->nlimits; i++)
		if (a->limits[i].map != b->limits[i].map || a->limits[i].size != b->limits[i].size)
			return false;
	return true;
}

/* Map sizes from the file, where the command line did not set them. */
static void merge_limits(struct options *o, const struct config *c)
{
	for (size_t i = 0; i < c->nlimits; i++)
		if (!o->limits.size[c->limits[i].map])
			o->limits.size[c->limits[i].map] = c->limits[i].size;
}

/* A periodic timer: the reconcile interval a reload may change, and the loop's own. */
int arm_timer(int fd, double seconds)
{
	struct itimerspec its = {};

	if (seconds > 0) {
		its.it_value.tv_sec = (time_t)seconds;
		its.it_value.tv_nsec = (long)((seconds - floor(seconds)) * 1e9);
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
		its.it_interval = its.it_value;
	}
	return timerfd_settime(fd, 0, &its, NULL);
}

/* Read the configuration file and put it in use. A bad file changes nothing: at start
 * steerd refuses to run, later the last good configuration stays. */
int load_config(struct daemon *d, bool at_start)
{
	struct config c;
	struct config_error err;
	int r;

	if (!d->opt.config) {
		set_netfilter_mode(d, &d->cfg, at_start);
		return 0;
	}
	r = config_load(d->opt.config, &c, &err);
	if (r == -ENOENT && !d->opt.config_given) {
		if (at_start)
			log_debug("%s does not exist: no policies, groups or file interfaces", d->opt.config);
		config_free(&d->cfg);
		set_interfaces(d, &d->cfg);
		set_netfilter_mode(d, &d->cfg, at_start);
		d->model.dirty = true;
		return 0;
	}
	if (r < 0) {
		log_event(LOG_ERR, LOG_EV_CONFIG_REJECTED, NULL, "%s%s", err.msg,
			  at_start ? "" : "; the previous configuration stays in use");
		return r;
	}
	if (at_start)
		merge_limits(&d->opt, &c);
	else if (!same_limits(&c, &d->cfg))
		log_warning("%s: limits: map sizes change when steerd restarts, not on reload", d->opt.config);
	if (!d->opt.cli_level && c.log_level >= 0)
		log_set_level(c.log_level);
	if (!d->opt.cli_stale && c.stale_after >= 0) {
		d->opt.stale_after = c.stale_after;
		d->sync.stale_after_ns = (uint64_t)(c.stale_after * 1e9);
	}
	if (!d->opt.cli_reconcile && c.reconcile >= 0 && c.reconcile != d->opt.reconcile) {
		d->opt.reconcile = c.reconcile;
		if (d->rcfd > 0)
			arm_timer(d->rcfd, d->opt.reconcile);
	}
	set_interfaces(d, &c);
	set_netfilter_mode(d, &c, at_start);
	config_free(&d->cfg);
	d->cfg = c;
	d->model.dirty = true;
	log_event(LOG_INFO, LOG_EV_CONFIG_LOADED, NULL, "%s: %zu interfaces, %zu policies, %zu groups%s",
		  d->opt.config, c.nifaces, c.ov.npolicies, c.ov.ngroups,
		  c.ov.ntables || c.ov.nprios ? ", mirroring part of the kernel's rules" : "");
	return 0;
}

/* steerd --check FILE */
int check_config(const char *path)
{
	struct config c;
	struct config_error err;

	if (config_load(path, &c, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("%s: valid: %zu interfaces, %zu policies, %zu groups\n", path, c.nifaces,
	       c.ov.npolicies, c.ov.ngroups);
	config_free(&c);
	return 0;
}

