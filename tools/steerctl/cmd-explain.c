/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `steerctl explain`: the fast path's own `ip route get`. It runs the pinned program on one
 * frame with BPF_PROG_TEST_RUN and prints the decision the program left in skb->cb[]; it
 * never decides anything itself, so what it prints is what the datapath does. Where the
 * XDP stage sits in front of the ingress, it runs first, and TC only when it passes the
 * frame on, as with a live one. The maps are read only to put words on that decision (a
 * gateway, whether the route was multipath). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>

#include "steerctl.h"
#include "explain.h"

#define MAX_WORDS 64	/* words on one --batch line */

struct explain_ctx {
	struct steerctl *c;
	int prog_fd, egress_fd;	/* egress: opened at the first `oif` question */
	int xdp_fd;		/* the XDP stage's: opened at the first question it is in front of */
	int sock;		/* for the ingress device's index and address */
	struct pinned_map nhs, routes, rules, links;
	char prog_path[4096], egress_path[4096], xdp_path[4096];
	bool policies_read;
	bool nonxt_rule;	/* an IPv6 rule selects ipproto 59, explain's IPv6 default */
	size_t npolicies;
	struct { __u32 priority; __u8 family; } policies[4096];	/* steer.yaml's, by family */
};

/* The program's answer. */
struct explain_res {
	__u32 retval;
	__u32 cb[5];
	bool xdp_ran;		/* the XDP stage is in front of the ingress and was asked */
	bool xdp_decided;	/* ... and it decided: forwarded or dropped, not passed on */
	__u32 xdp_pass;		/* why it passed the frame on to TC (a STEER_STAT_*) */
};

/* An error for one question: usage (SC_USAGE) or runtime (negative errno), with words. */
struct explain_err {
	int code;
	char msg[EXPLAIN_ERR_LEN + 4096];
};

static int set_err(struct explain_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_err(struct explain_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->code = code;
	return code;
}

static int ctx_open(struct explain_ctx *x)
{
	struct steerctl *c = x->c;
	int err;

	err = sc_path(c, STEERCTL_PROG_PIN, x->prog_path, sizeof(x->prog_path));
	if (err)
		return err;
	/* Pinned programs open read-write only; TEST_RUN changes nothing the kernel keeps. */
	x->prog_fd = bpf_obj_get(x->prog_path);
	if (x->prog_fd < 0)
		return sc_pin_error(c, x->prog_path, -errno);
	err = sc_map_open(c, MAP_NH, &x->nhs);
	if (!err)
		err = sc_map_open(c, MAP_ROUTES, &x->routes);
	if (!err)
		err = sc_map_open(c, MAP_RULES, &x->rules);
	if (!err)
		err = sc_map_open(c, MAP_LINKS, &x->links);
	if (err)
		return err;
	x->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (x->sock < 0)
		return sc_error(c, "socket(AF_INET)", -errno);
	return 0;
}

static void ctx_close(struct explain_ctx *x)
{
	if (x->sock >= 0)
		close(x->sock);
	if (x->prog_fd >= 0)
		close(x->prog_fd);
	if (x->egress_fd >= 0)
		close(x->egress_fd);
	if (x->xdp_fd >= 0)
		close(x->xdp_fd);
	sc_map_close(&x->links);
	sc_map_close(&x->rules);
	sc_map_close(&x->routes);
	sc_map_close(&x->nhs);
}

/* The ingress device's index and hardware address, in this network namespace: the one
 * BPF_PROG_TEST_RUN looks ctx.ifindex up in. */
static int resolve_iif(struct explain_ctx *x, const char *name, __u32 *ifindex, __u8 mac[6],
		       struct explain_err *e)
{
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(x->sock, SIOCGIFINDEX, &ifr) < 0) {
		if (errno == ENODEV)
			return set_err(e, -ENODEV, "no interface %s in this network namespace",
				       name);
		return set_err(e, -errno, "%s: SIOCGIFINDEX: %s", name, strerror(errno));
	}
	*ifindex = (__u32)ifr.ifr_ifindex;
	if (ioctl(x->sock, SIOCGIFHWADDR, &ifr) < 0)
		return set_err(e, -errno, "%s: SIOCGIFHWADDR: %s", name, strerror(errno));
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/* The XDP stage, when steerd put it in front of this ingress: asked first, with
 * STEER_CB_EXPLAIN in the frame's metadata, where it leaves its words (the cb[] layout).
 * Sets res->xdp_decided when it forwarded or dropped the frame; 0 or an error in e. */
static int run_xdp(struct explain_ctx *x, const struct explain_req *req, __u32 ifindex,
		   const __u8 *frame, size_t len, struct explain_res *res, struct explain_err *e)
{
	enum { META = sizeof(res->cb) + 4 };	/* a multiple of 4, as the kernel wants */
	__u8 in[META + EXPLAIN_FRAME_MAX], out[META + EXPLAIN_FRAME_MAX + 64];
	struct xdp_md ctx = { .data = META, .data_end = (__u32)(META + len),
			      .ingress_ifindex = ifindex };
	__u32 magic = STEER_CB_EXPLAIN;
	char name[64], path[4096];

	snprintf(name, sizeof(name), "%s%s", STEER_PIN_XDP, req->ifname);
	if (sc_path(x->c, name, path, sizeof(path)) || access(path, F_OK))
		return 0;	/* no XDP stage there */
	if (x->xdp_fd < 0) {
		if (sc_path(x->c, STEER_PIN_PROG_XDP, x->xdp_path, sizeof(x->xdp_path)))
			return set_err(e, -ENAMETOOLONG, "%s: path too long", x->c->pin_dir);
		x->xdp_fd = bpf_obj_get(x->xdp_path);
		if (x->xdp_fd < 0)
			return set_err(e, -errno, "%s: %s", x->xdp_path, strerror(errno));
	}
	memset(in, 0, META);
	memcpy(in, &magic, sizeof(magic));
	memcpy(in + META, frame, len);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)(META + len),
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	if (bpf_prog_test_run_opts(x->xdp_fd, &o) < 0)
		return set_err(e, -errno, "%s: BPF_PROG_TEST_RUN: %s", x->xdp_path, strerror(errno));
	/* The output starts at the metadata, which the program leaves where it was. */
	if (o.data_size_out < META)
		return set_err(e, -EPROTO, "%s: no metadata came back", x->xdp_path);
	res->xdp_ran = true;
	memcpy(res->cb, out, sizeof(res->cb));
	if (o.retval == XDP_PASS) {
		res->xdp_pass = res->cb[STEER_CB_VERDICT] & 0xffff;
		return 0;
	}
	res->xdp_decided = true;
	/* What the TC program returns for the same verdicts, for report()'s check. */
	res->retval = o.retval == XDP_REDIRECT ? TC_ACT_REDIRECT : o.retval == XDP_DROP ? TC_ACT_SHOT
										   : o.retval;
	return 0;
}

static int run(struct explain_ctx *x, const struct explain_req *req, struct explain_res *res,
	       struct explain_err *e)
{
	struct __sk_buff ctx = {}, out = {};
	__u8 frame[EXPLAIN_FRAME_MAX], mac[6];
	__u32 ifindex = 0;
	size_t len;
	int err;

	err = resolve_iif(x, req->ifname, &ifindex, mac, e);
	if (err)
		return err;
	{
		struct steer_link l;

		/* BPF_PROG_TEST_RUN always hands a tc program an Ethernet frame, where such a
		 * device's real packets start with the IP header: the program would be asked
		 * about a frame it never meets there. */
		if (!req->egress && !bpf_map_lookup_elem(x->links.fd, &ifindex, &l) &&
		    (l.flags & STEER_LINK_L3))
			return set_err(e, -EOPNOTSUPP,
				       "%s has no link-layer header: explain can only hand the program "
				       "Ethernet frames, which never arrive there", req->ifname);
	}
	len = explain_frame(req, mac, frame);
	*res = (struct explain_res){ 0 };
	/* A frame meets the XDP stage before anything can mark it: a question with a mark is
	 * about one that got it later, in front of TC. */
	if (!req->egress && !req->mark) {
		err = run_xdp(x, req, ifindex, frame, len, res, e);
		if (err || res->xdp_decided)
			return err;
	}
	ctx.ifindex = ifindex;
	ctx.mark = req->mark;
	ctx.cb[0] = STEER_CB_EXPLAIN;	/* the program counts nothing for this packet */
	if (req->egress && x->egress_fd < 0) {
		err = sc_path(x->c, STEER_PIN_PROG_EGRESS, x->egress_path, sizeof(x->egress_path));
		if (err)
			return set_err(e, err, "%s: path too long", x->c->pin_dir);
		x->egress_fd = bpf_obj_get(x->egress_path);
		if (x->egress_fd < 0)
			return set_err(e, -errno, "%s: %s (a steerd from before egress support?)",
				       x->egress_path, strerror(errno));
	}

	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .ctx_out = &out,
		    .ctx_size_out = sizeof(out), .repeat = 1);
	if (bpf_prog_test_run_opts(req->egress ? x->egress_fd : x->prog_fd, &o) < 0)
		return set_err(e, -errno, "%s: BPF_PROG_TEST_RUN: %s",
			       req->egress ? x->egress_path : x->prog_path, strerror(errno));
	res->retval = o.retval;
	memcpy(res->cb, out.cb, sizeof(res->cb));
	return 0;
}

/* The route the program used, looked up again (table, dst): its type, or 0 when it is gone. */
static __u8 route_type(struct explain_ctx *x, const struct explain_req *req, __u32 table)
{
	struct steer_route_key k = {
		.prefixlen = STEER_ROUTE_KEY_BITS(req->family == STEER_AF_INET ? 32 : 128),
		.table = table,
		.family = req->family,
	};
	struct steer_route rt;

	memcpy(k.addr, req->dst, 16);
	return bpf_map_lookup_elem(x->routes.fd, &k, &rt) ? 0 : rt.type;
}

/* What explain needs to know of the rule bodies: the steer.yaml policies, and whether an
 * IPv6 rule selects explain's IPv6 default protocol. Read once per run: a --batch asks
 * many questions of one picture. */
static int read_rule(void *arg, uint32_t key, const void *val)
{
	struct explain_ctx *x = arg;
	const struct steer_rule *r = val;

	(void)key;
	if (!r)
		return 0;	/* gone while read */
	if (r->family == STEER_AF_INET6 && (r->match & STEER_MATCH_PROTO) &&
	    r->ip_proto == EXPLAIN_PROTO_DEFAULT6)
		x->nonxt_rule = true;
	if ((r->match & STEER_MATCH_POLICY) &&
	    x->npolicies < sizeof(x->policies) / sizeof(x->policies[0])) {
		x->policies[x->npolicies].family = r->family;
		x->policies[x->npolicies++].priority = r->priority;
	}
	return 0;
}

static void read_rules(struct explain_ctx *x)
{
	if (x->policies_read)
		return;
	x->policies_read = true;
	map_each_id(x->rules.fd, sizeof(struct steer_rule), read_rule, x);
}

/* Whether the rule that decided at prio is a steer.yaml policy of the family. A lookup
 * leaves its table in cb[], so only a decision without one (a policy's next hop or group,
 * a blackhole) needs this. */
static bool decided_by_policy(struct explain_ctx *x, const struct explain_req *req, __u32 prio)
{
	read_rules(x);
	for (size_t i = 0; i < x->npolicies; i++)
		if (x->policies[i].priority == prio && x->policies[i].family == req->family)
			return true;
	return false;
}

/* For a netfilter punt: the chains that made it, "inet filter forward, ...", or why
 * steerd does not know the ruleset. */
static void netfilter_why(struct explain_ctx *x, const struct explain_req *req, __u32 oif,
			  char *buf, size_t len)
{
	struct steer_nf_chain chs[STEER_NF_CHAINS];
	struct steer_state st;
	char name[2 * STEER_NF_NAME + 32];
	__u32 ifindex = if_nametoindex(req->ifname);
	size_t n = 0, used = 0;

	buf[0] = '\0';
	if (!sc_read_state(x->c, &st) && (st.flags & STEER_STATE_NF_UNKNOWN)) {
		snprintf(buf, len, "the ruleset is not known yet");
		return;
	}
	if (sc_nf_read(x->c, chs, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		int w;

		if (!sc_nf_on_path(&chs[i], req->family, req->egress ? 0 : ifindex,
				   req->egress ? ifindex : oif))
			continue;
		w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
			     sc_nf_name(&chs[i], name, sizeof(name)));
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
}

/* Prints the program's decision for req. Returns 0 or a runtime error in e. */
static int report(struct explain_ctx *x, const struct explain_req *req,
		  const struct explain_res *res, struct explain_err *e)
{
	struct steerctl *c = x->c;
	struct json *j = &c->jw;
	__u32 verdict = res->cb[STEER_CB_VERDICT] >> 16, stat = res->cb[STEER_CB_VERDICT] & 0xffff;
	__u32 table = res->cb[STEER_CB_TABLE], prio = res->cb[STEER_CB_PRIORITY];
	char src[SC_ADDR_STRLEN], dst[SC_ADDR_STRLEN], gw[SC_ADDR_STRLEN], fam[SC_NAME_STRLEN];
	char dev[SC_NAME_STRLEN], tbl[SC_NAME_STRLEN], why[32], chains[512] = "", pn[SC_NAME_STRLEN];
	const char *action = sc_verdict_name(verdict), *reason = NULL, *type = NULL;
	static const __u32 expect_ret[] = {
		[STEER_VERDICT_FORWARD] = TC_ACT_REDIRECT,
		[STEER_VERDICT_PUNT] = TC_ACT_OK,
		[STEER_VERDICT_DROP] = TC_ACT_SHOT,
	};
	struct steer_nexthop nh = {};
	/* The marker that ends a cut list decides as no rule: the rules past it are not
	 * compiled, so what it carries is no rule's priority. */
	bool cut = stat == STEER_STAT_PUNT_RULE_LIMIT;
	bool have_nh = false, rule = !cut && (table || prio);
	const char *proto = sc_proto_name(req->proto, pn, sizeof(pn));
	/* At egress only policies decide; at ingress a decision without a table is a policy's
	 * next hop or group, or a blackhole of either kind. */
	bool policy = rule && (req->egress || (!table && verdict != STEER_VERDICT_PUNT &&
					       decided_by_policy(x, req, prio)));
	bool pass = stat == STEER_STAT_EGRESS_PASS;

	/* cb[0] still holding what we put there means the program never reached a verdict:
	 * a program from before explain, or a path that forgot to say. */
	if (res->cb[STEER_CB_VERDICT] == STEER_CB_EXPLAIN || !action)
		return set_err(e, -EPROTO, "%s: the program left no verdict in cb[%d] (0x%x, "
			       "return code %u): steerd and steerctl are from different builds?",
			       x->prog_path, STEER_CB_VERDICT, res->cb[STEER_CB_VERDICT],
			       res->retval);
	if (res->retval != expect_ret[verdict])
		fprintf(stderr, "steerctl: warning: the program's verdict (%s) and its return "
			"code (%u) disagree\n", action, res->retval);

	sc_addr(req->family, req->dst, dst, sizeof(dst));
	sc_addr(req->family, req->src, src, sizeof(src));
	if (verdict == STEER_VERDICT_FORWARD) {
		sc_ifname(res->cb[STEER_CB_OIF], dev, sizeof(dev));
		if (!bpf_map_lookup_elem(x->nhs.fd, &res->cb[STEER_CB_NH], &nh))
			have_nh = true;
		else
			fprintf(stderr, "steerctl: warning: next hop %u, which the program used, "
				"is no longer in the next hop map\n", res->cb[STEER_CB_NH]);
		if (have_nh && nh.family)
			sc_addr(nh.family, nh.gw, gw, sizeof(gw));
		type = route_type(x, req, table) == STEER_RT_MULTIPATH ? "multipath" : "unicast";
	} else {
		reason = sc_reason_name(stat, why, sizeof(why));
		if (stat == STEER_STAT_PUNT_NETFILTER)
			netfilter_why(x, req, res->cb[STEER_CB_OIF], chains, sizeof(chains));
		if (verdict == STEER_VERDICT_DROP)
			type = reason;
		else if (stat == STEER_STAT_PUNT_UNREACHABLE || stat == STEER_STAT_PUNT_PROHIBIT)
			type = reason;
	}

	if (req->proto_assumed && req->family == STEER_AF_INET6) {
		read_rules(x);
		if (x->nonxt_rule)
			fprintf(stderr, "steerctl: warning: asked with ipproto %s, as IPv6 has no "
				"packet of protocol 0, and a rule selects ipproto %s: give ipproto "
				"to ask what you mean\n", proto, proto);
	}

	/* ip -j route get's keys where it has them ("from", the table by name). */
	if (c->json) {
		json_obj_open(j, NULL);
		json_str(j, "dst", dst);
		json_str(j, "from", src);
		json_str(j, req->egress ? "oif" : "iif", req->ifname);
		json_str(j, "ipproto", proto);
		json_str(j, "action", pass ? "pass" : action);
		if (type)
			json_str(j, "type", type);
		if (verdict == STEER_VERDICT_FORWARD) {
			if (have_nh && nh.family)
				json_str(j, "gateway", gw);
			json_str(j, "dev", dev);
		}
		if (policy) {
			json_u64(j, "policy", prio);
			if (table)
				json_str(j, "table", sc_table_name(table, tbl, sizeof(tbl)));
		} else if ((verdict != STEER_VERDICT_PUNT || rule) && !cut) {
			if (table)
				json_str(j, "table", sc_table_name(table, tbl, sizeof(tbl)));
			json_u64(j, "priority", prio);
		}
		if (verdict == STEER_VERDICT_PUNT && !pass)
			json_str(j, "reason", reason);
		if (chains[0])
			json_str(j, "netfilter", chains);
		if (res->xdp_ran) {
			json_str(j, "stage", res->xdp_decided ? "xdp" : "tc");
			if (!res->xdp_decided)
				json_str(j, "xdp", sc_reason_name(res->xdp_pass, why, sizeof(why)));
		}
		json_obj_close(j);
		return 0;
	}

	/* The protocol asked with follows what the answer is about: the flow, or the verdict. */
	switch (verdict) {
	case STEER_VERDICT_FORWARD:
		fprintf(c->out, "%s from %s ipproto %s", dst, src, proto);
		if (have_nh && nh.family && nh.family != req->family)
			fprintf(c->out, " via %s %s", sc_family_name(nh.family, fam, sizeof(fam)),
				gw);
		else if (have_nh && nh.family)
			fprintf(c->out, " via %s", gw);
		fprintf(c->out, " dev %s", dev);
		rule = true;
		break;
	case STEER_VERDICT_DROP:
		fprintf(c->out, "drop (%s) ipproto %s", reason, proto);
		rule = true;
		break;
	default:
		if (pass)
			fprintf(c->out, "pass (no policy matched: the kernel's route stands)");
		else if (chains[0])
			fprintf(c->out, "punt (%s: %s)", reason, chains);
		else if (cut)
			fprintf(c->out, "punt (%s: no rule)", reason);
		else
			fprintf(c->out, "punt (%s)", reason);
		fprintf(c->out, " ipproto %s", proto);
	}
	if (policy && table)
		fprintf(c->out, " policy %u table %s", prio, sc_table_name(table, tbl, sizeof(tbl)));
	else if (policy)
		fprintf(c->out, " policy %u", prio);
	else if (rule && table)
		fprintf(c->out, " table %s rule %u", sc_table_name(table, tbl, sizeof(tbl)), prio);
	else if (rule && !pass)
		fprintf(c->out, " rule %u", prio);
	/* Only where an XDP stage is in front: which stage decided, and why XDP passed. */
	if (res->xdp_ran && res->xdp_decided)
		fprintf(c->out, " stage xdp");
	else if (res->xdp_ran)
		fprintf(c->out, " stage tc (xdp: %s)", sc_reason_name(res->xdp_pass, why, sizeof(why)));
	fputc('\n', c->out);
	return 0;
}

/* One question from words, answered on c->out. Returns 0, or the error in e. */
static int explain_one(struct explain_ctx *x, int argc, char **argv, struct explain_err *e)
{
	struct explain_req req;
	struct explain_res res;
	int err;

	if (explain_parse(argc, argv, &req, e->msg, sizeof(e->msg))) {
		e->code = SC_USAGE;
		return SC_USAGE;
	}
	err = run(x, &req, &res, e);
	if (!err)
		err = report(x, &req, &res, e);
	return err;
}

static void print_line_error(struct steerctl *c, const char *msg)
{
	if (c->json) {
		json_obj_open(&c->jw, NULL);
		json_str(&c->jw, "error", msg);
		json_obj_close(&c->jw);
	} else {
		fprintf(c->out, "error: %s\n", msg);
	}
}

/* --batch: every input line is one question and gets one line of answer, in order, so a
 * caller can pair them up; a line that fails answers with its error and the rest go on. */
static int batch(struct explain_ctx *x)
{
	struct steerctl *c = x->c;
	FILE *in = stdin;
	const char *name = strcmp(c->batch, "-") ? c->batch : "standard input";
	struct explain_err e;
	char *line = NULL, *words[MAX_WORDS + 1], *save, *w;
	size_t cap = 0;
	ssize_t n;
	int err = 0, argc;

	if (strcmp(c->batch, "-")) {
		in = fopen(c->batch, "re");
		if (!in)
			return sc_error(c, c->batch, -errno);
	}
	while ((n = getline(&line, &cap, in)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		argc = 0;
		for (w = strtok_r(line, " \t", &save); w && argc <= MAX_WORDS;
		     w = strtok_r(NULL, " \t", &save))
			words[argc++] = w;
		if (argc > MAX_WORDS)
			print_line_error(c, "too many words on one line");
		else if (!argc)
			print_line_error(c, "empty line: expected DST from SRC iif IFACE ...");
		else if (explain_one(x, argc, words, &e))
			print_line_error(c, e.msg);
		/* Answer now: a caller may wait for each answer before asking the next. */
		if (fflush(c->out))
			break;
	}
	if (ferror(in))
		err = sc_error(c, name, -EIO);
	free(line);
	if (in != stdin)
		fclose(in);
	return err;
}

int cmd_explain(struct steerctl *c)
{
	struct explain_ctx x = { .c = c, .prog_fd = -1, .egress_fd = -1, .xdp_fd = -1, .sock = -1,
				 .nhs = { .fd = -1 }, .routes = { .fd = -1 }, .rules = { .fd = -1 },
				 .links = { .fd = -1 } };
	struct explain_req req;
	struct explain_err e;
	int err;

	if (c->batch && c->argc)
		return sc_usage_error("explain --batch takes its questions from %s, not from "
				      "the command line ('%s')", c->batch, c->argv[0]);
	/* The words first: a usage error needs no pins. */
	if (!c->batch && explain_parse(c->argc, c->argv, &req, e.msg, sizeof(e.msg)))
		return sc_usage_error("%s", e.msg);

	err = ctx_open(&x);
	if (!err && c->batch)
		err = batch(&x);
	else if (!err && explain_one(&x, c->argc, c->argv, &e)) {
		fprintf(stderr, "steerctl: %s\n", e.msg);
		err = e.code;
	}
	ctx_close(&x);
	return err;
}
