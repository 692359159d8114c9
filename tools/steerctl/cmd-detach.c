/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl detach IFACE [ingress|egress|xdp]`: takes steer's program off one interface of
 * this network namespace, the one way out of the fast path that needs no restart of steerd:
 * the pinned TCX (or XDP) link is detached and its pin removed, or the clsact filter that
 * runs steer's pinned program for that hook is deleted. Ingress takes the XDP stage in front
 * of it too. The only command that changes anything. */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steerctl.h"

/* The filter steerd adds in clsact mode (agent/attach.c): this handle, this priority. */
#define SC_TC_HANDLE 0x5e
#define SC_TC_PRIO   1

struct hook {
	const char *name;
	const char *pin_prefix;		/* + interface name: the pinned TCX or XDP link */
	const char *prog_pin;		/* the program steerd attaches there */
	enum bpf_tc_attach_point tc;	/* 0: no clsact variant (XDP) */
	const char *mode;		/* what the pinned link is */
};

/* The XDP stage first: taken away before the TC ingress behind it. */
static const struct hook hooks[] = {
	{ "xdp",     STEER_PIN_XDP,         STEER_PIN_PROG_XDP,    0,              "xdp" },
	{ "ingress", STEER_PIN_TCX_INGRESS, STEER_PIN_PROG,        BPF_TC_INGRESS, "tcx" },
	{ "egress",  STEER_PIN_TCX_EGRESS,  STEER_PIN_PROG_EGRESS, BPF_TC_EGRESS,  "tcx" },
};

struct detach_ctx {
	struct steerctl *c;
	const char *ifname;
	int detached;
};

/* As the kernel's dev_valid_name() has it; the name also becomes part of a pin's path. */
static bool valid_ifname(const char *s)
{
	size_t len = strlen(s);

	return len && len < IF_NAMESIZE && strcmp(s, ".") && strcmp(s, "..") &&
	       !strpbrk(s, "/: \t\n");
}

/* One hook done: a line for people, or an object in the "detached" array. pin is the
 * removed TCX link's pin; NULL for a clsact filter, which ran program prog_id. */
static void report(struct detach_ctx *x, const struct hook *h, const char *pin, __u32 prog_id)
{
	struct steerctl *c = x->c;

	x->detached++;
	if (!c->json) {
		if (pin)
			fprintf(c->out, "%s: detached steer from %s (%s link; removed %s)\n",
				x->ifname, h->name, !strcmp(h->mode, "xdp") ? "XDP" : "TCX", pin);
		else
			fprintf(c->out, "%s: detached steer from %s (clsact filter of program %u)\n",
				x->ifname, h->name, prog_id);
		return;
	}
	json_obj_open(&c->jw, NULL);
	json_str(&c->jw, "hook", h->name);
	json_str(&c->jw, "mode", pin ? h->mode : "clsact");
	if (pin)
		json_str(&c->jw, "pin", pin);
	else
		json_u64(&c->jw, "prog_id", prog_id);
	json_obj_close(&c->jw);
}

/* The pinned TCX link at h: detach it, then remove the pin, which held the link. Returns
 * 0 (also when there is none) or a negative errno, said. */
static int detach_tcx(struct detach_ctx *x, const struct hook *h)
{
	char name[64], path[4096];
	int fd, err;

	snprintf(name, sizeof(name), "%s%s", h->pin_prefix, x->ifname);
	err = sc_path(x->c, name, path, sizeof(path));
	if (err)
		return err;
	/* Links, like programs, open read-write only. */
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : sc_pin_error(x->c, path, -errno);
	err = bpf_link_detach(fd) ? -errno : 0;
	close(fd);
	if (err)
		return sc_error(x->c, path, err);
	if (unlink(path))
		return sc_error(x->c, path, -errno);
	report(x, h, path, 0);
	return 0;
}

/* A clsact filter at h running steer's program for h: delete it. Returns 0 (also when
 * there is none) or a negative errno, said. */
static int detach_clsact(struct detach_ctx *x, const struct hook *h, int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = h->tc);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SC_TC_HANDLE, .priority = SC_TC_PRIO);
	libbpf_print_fn_t old;
	char what[64];
	__u32 id;
	int r;

	r = sc_pin_prog_id(x->c, h->prog_pin, &id);
	if (r || !id)
		return r;	/* no program pinned: no filter can be told to be steer's */
	/* No clsact qdisc, or no filter there, is the usual answer: libbpf need not say so. */
	old = libbpf_set_print(NULL);
	r = bpf_tc_query(&hook, &opts);
	libbpf_set_print(old);
	if (r == -EPERM || r == -EACCES) {
		fprintf(stderr, "steerctl: permission denied reading the tc filters of %s: run "
			"as root or with CAP_NET_ADMIN\n", x->ifname);
		return r;
	}
	if (r)
		return 0;
	if (opts.prog_id != id)
		return 0;	/* someone else's filter at the same place */
	opts.prog_id = 0;
	opts.prog_fd = 0;
	opts.flags = 0;
	r = bpf_tc_detach(&hook, &opts);
	if (r) {
		snprintf(what, sizeof(what), "%s %s clsact filter", x->ifname, h->name);
		return sc_error(x->c, what, r);
	}
	report(x, h, NULL, id);
	return 0;
}

int cmd_detach(struct steerctl *c)
{
	struct detach_ctx x = { .c = c };
	const char *which = NULL;
	int ifindex, err = 0;
	size_t i;

	if (c->argc < 1)
		return sc_usage_error("%s", "detach needs an interface: detach IFACE "
				      "[ingress|egress|xdp]");
	if (c->argc > 2)
		return sc_usage_error("detach: unexpected argument '%s'", c->argv[2]);
	x.ifname = c->argv[0];
	if (!valid_ifname(x.ifname))
		return sc_usage_error("detach: '%s' is not an interface name", x.ifname);
	if (c->argc == 2) {
		which = c->argv[1];
		if (strcmp(which, "ingress") && strcmp(which, "egress") && strcmp(which, "xdp"))
			return sc_usage_error("detach: '%s' is not a hook: ingress, egress or xdp",
					      which);
	}
	ifindex = (int)if_nametoindex(x.ifname);

	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_str(&c->jw, "ifname", x.ifname);
		json_arr_open(&c->jw, "detached");
	}
	for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]) && !err; i++) {
		/* Ingress goes with the XDP stage in front of it. */
		if (which && strcmp(which, hooks[i].name) &&
		    !(!strcmp(which, "ingress") && !strcmp(hooks[i].name, "xdp")))
			continue;
		err = detach_tcx(&x, &hooks[i]);
		if (!err && ifindex && hooks[i].tc)
			err = detach_clsact(&x, &hooks[i], ifindex);
	}
	if (c->json) {
		json_arr_close(&c->jw);
		json_obj_close(&c->jw);
	}
	if (err || x.detached)
		return err;
	if (!ifindex)
		fprintf(stderr, "steerctl: %s: no such interface in this network namespace, and "
			"no TCX link of steer pinned for it under %s\n", x.ifname, c->pin_dir);
	else
		fprintf(stderr, "steerctl: nothing of steer is attached to %s%s%s: no TCX link "
			"pinned for it under %s, no clsact filter running steer's programs\n",
			x.ifname, which ? " at " : "", which ? which : "", c->pin_dir);
	return -ENOENT;
}
