/* steerd: mirror the kernel's policy routing into the steer datapath. A thin main: parse
 * the command line, then run the single event loop over netlink, timers and signals. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attach.h"
#include "config.h"
#include "daemon.h"
#include "daemon-config.h"
#include "log.h"

#define DEFAULT_RCVBUF (8 << 20)
#define DEFAULT_STALE_AFTER 10.0
#define DEFAULT_RECONCILE 300.0

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: steerd [OPTIONS]\n"
		"       steerd --check FILE\n"
		"       steerd --verify [--pin-dir DIR]\n"
		"       steerd --cleanup [--pin-dir DIR]\n"
		"Mirror the kernel's policy routing (ip rule, ip route) into steer's BPF fast path.\n\n"
		"  -c, --config FILE           steer.yaml: interfaces, mirror, policies, groups,\n"
		"                              limits (default " DEFAULT_CONFIG " if it exists)\n"
		"      --check FILE            validate a configuration file and exit (0: valid)\n"
		"  -a, --attach IFACE          attach at ingress of IFACE (repeatable; waits for it)\n"
		"  -p, --pin-dir DIR           where maps, program and links are pinned\n"
		"                              (default " STEER_PIN_DIR_DEFAULT ")\n"
		"  -l, --log-level LEVEL       err, warning, notice, info (default) or debug\n"
		"      --netlink-rcvbuf N      netlink receive buffer in bytes (default %d)\n"
		"      --stale-after SECONDS   the fast path punts everything when steerd's heartbeat\n"
		"                              is older than this (default %g; 0: never)\n"
		"      --reconcile-interval S  re-read the kernel and compare the maps every S seconds\n"
		"                              (default %g; 0: never)\n"
		"      --limit MAP=N           size of a map: src, dsts, sels, rules, routes,\n"
		"                              nexthops, groups, links, vlans, neighbours, flows,\n"
		"                              route-chunks (repeatable)\n"
		"      --attach-mode MODE      auto (default), tcx or clsact; xdp puts an XDP stage\n"
		"                              (native mode) in front of TC, xdp-generic in generic mode\n"
		"      --netfilter MODE        respect (default): hand a family to the kernel while\n"
		"                              its firewall or NAT would see forwarded packets;\n"
		"                              bypass: forward past them (warns); offload: as\n"
		"                              respect, but connections the ruleset marked skip it\n"
		"      --offload-mark MARK[/MASK]  conntrack mark of offloaded connections (0x1/0x1)\n"
		"      --verify                compare the pinned maps with the kernel, exit 0 if equal\n"
		"      --cleanup               detach the program, remove the pins, and exit\n"
		"  -h, --help                  show this help\n"
		"      --version               show the version\n",
		DEFAULT_RCVBUF, DEFAULT_STALE_AFTER, DEFAULT_RECONCILE);
}

static int parse_seconds(const char *opt, const char *arg, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end || end == arg || !(v >= 0) || v > 86400 * 365) {
		fprintf(stderr, "steerd: %s wants seconds (0 or more), not '%s'\n", opt, arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_limit(const char *arg, struct attach_limits *lim)
{
	const char *const *names = map_limit_names();
	const char *eq = strchr(arg, '=');
	char name[24], list[160] = "";
	unsigned long v;
	char *end;
	int map;

	if (eq && (size_t)(eq - arg) < sizeof(name)) {
		snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
		map = map_by_limit(name);
		v = strtoul(eq + 1, &end, 10);
		if (map >= 0 && !*end && end != eq + 1 && v >= 2 && v <= (1ul << 24)) {
			lim->size[map] = (uint32_t)v;
			return 0;
		}
	}
	for (size_t i = 0; names[i]; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
	fprintf(stderr, "steerd: --limit wants MAP=N with MAP one of %s and N from 2 to 16777216, "
			"not '%s'\n", list, arg);
	return -EINVAL;
}

enum { OPT_RCVBUF = 256, OPT_MODE, OPT_VERSION, OPT_STALE, OPT_RECONCILE, OPT_LIMIT, OPT_CHECK,
       OPT_NETFILTER, OPT_CT_MARK };

static int parse_attach(const char *arg, struct options *o)
{
	if (o->nifaces == MAX_ATTACH || strlen(arg) >= IF_NAMESIZE || !arg[0]) {
		fprintf(stderr, "steerd: --attach %s: too many interfaces or name too long\n", arg);
		return -EINVAL;
	}
	strcpy(o->ifaces[o->nifaces].name, arg);
	o->ifaces[o->nifaces].ingress = true;
	o->ifaces[o->nifaces++].from_cli = true;
	return 0;
}

static int parse_rcvbuf(const char *arg, struct options *o)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*end || v < 4096 || v > (1l << 30)) {
		fprintf(stderr, "steerd: --netlink-rcvbuf wants bytes between 4096 and 1 GiB\n");
		return -EINVAL;
	}
	o->rcvbuf = (int)v;
	return 0;
}

static int parse_attach_mode(const char *arg, struct options *o)
{
	if (!strcmp(arg, "auto"))
		o->mode = ATTACH_AUTO;
	else if (!strcmp(arg, "tcx"))
		o->mode = ATTACH_TCX;
	else if (!strcmp(arg, "clsact"))
		o->mode = ATTACH_CLSACT;
	else if (!strcmp(arg, "xdp"))
		o->mode = ATTACH_XDP;
	else if (!strcmp(arg, "xdp-generic"))
		o->mode = ATTACH_XDP_GENERIC;
	else {
		fprintf(stderr, "steerd: --attach-mode is auto, tcx, clsact, xdp or xdp-generic\n");
		return -EINVAL;
	}
	return 0;
}

static int parse_netfilter(const char *arg, struct options *o)
{
	o->nf_mode = config_parse_nf_mode(arg);
	if (o->nf_mode < 0) {
		fprintf(stderr, "steerd: --netfilter is respect, bypass or offload, not '%s'\n", arg);
		return -EINVAL;
	}
	o->cli_netfilter = true;
	return 0;
}

static int parse_ct_mark(const char *arg, struct options *o)
{
	if (config_parse_mark(arg, &o->ct_mark, &o->ct_mask) < 0) {
		fprintf(stderr, "steerd: --offload-mark wants MARK or MARK/MASK, each 0 to "
			"0xffffffff, the mask not 0; not '%s'\n", arg);
		return -EINVAL;
	}
	o->cli_ct_mark = true;
	return 0;
}

static int parse_log_level(const char *arg, struct options *o)
{
	int level = log_parse_level(arg);

	if (level < 0) {
		fprintf(stderr, "steerd: unknown log level '%s'\n", arg);
		return -EINVAL;
	}
	log_set_level(level);
	o->cli_level = true;
	return 0;
}

/* The options that are their parser alone. */
static const struct {
	int opt;
	int (*parse)(const char *arg, struct options *o);
} option_parsers[] = {
	{ 'a', parse_attach }, { 'l', parse_log_level }, { OPT_RCVBUF, parse_rcvbuf },
	{ OPT_MODE, parse_attach_mode }, { OPT_NETFILTER, parse_netfilter }, { OPT_CT_MARK, parse_ct_mark },
};

/* One option with its argument (NULL for those that take none). */
static int parse_option(int c, const char *arg, struct options *o)
{
	for (size_t i = 0; i < sizeof(option_parsers) / sizeof(option_parsers[0]); i++)
		if (option_parsers[i].opt == c)
			return option_parsers[i].parse(arg, o);
	switch (c) {
	case 'c':
		o->config = arg;
		o->config_given = true;
		return 0;
	case OPT_CHECK:
		o->check = arg;
		return 0;
	case 'p':
		o->pin_dir = arg;
		return 0;
	case OPT_STALE:
		o->cli_stale = true;
		return parse_seconds("--stale-after", arg, &o->stale_after);
	case OPT_RECONCILE:
		o->cli_reconcile = true;
		return parse_seconds("--reconcile-interval", arg, &o->reconcile);
	case OPT_LIMIT:
		return parse_limit(arg, &o->limits);
	}
	usage(stderr);
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	/* --verify and --cleanup only raise a flag: getopt_long sets it and returns 0. */
	const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", required_argument, NULL, OPT_CHECK },
		{ "attach", required_argument, NULL, 'a' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "netlink-rcvbuf", required_argument, NULL, OPT_RCVBUF },
		{ "stale-after", required_argument, NULL, OPT_STALE },
		{ "reconcile-interval", required_argument, NULL, OPT_RECONCILE },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "attach-mode", required_argument, NULL, OPT_MODE },
		{ "netfilter", required_argument, NULL, OPT_NETFILTER },
		{ "offload-mark", required_argument, NULL, OPT_CT_MARK },
		{ "verify", no_argument, &o->verify, 1 },
		{ "cleanup", no_argument, &o->cleanup, 1 },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{}
	};
	int c;

	*o = (struct options){ .pin_dir = STEER_PIN_DIR_DEFAULT, .rcvbuf = DEFAULT_RCVBUF,
			       .stale_after = DEFAULT_STALE_AFTER, .reconcile = DEFAULT_RECONCILE,
			       .config = DEFAULT_CONFIG };
	while ((c = getopt_long(argc, argv, "c:a:p:l:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == OPT_VERSION) {
			printf("steerd %s\n", STEER_VERSION);
			exit(0);
		}
		if (c == 0)
			continue;	/* a flag, already set */
		if (parse_option(c, optarg, o) < 0)
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "steerd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* steerd needs CAP_BPF (maps, program) and CAP_NET_ADMIN (attach, netlink buffer, the
 * networking helpers), nothing more: say so plainly rather than fail on the first EPERM.
 * CAP_PERFMON is welcome but optional: without it the verifier hardens the program against
 * Spectre v1/v4 (masked pointer arithmetic, a barrier after stack stores), which about
 * doubles the cost of each decision here. */
static int check_capabilities(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	static const struct { int cap; const char *name; } need[] = {
		{ CAP_BPF, "CAP_BPF" }, { CAP_NET_ADMIN, "CAP_NET_ADMIN" },
	};
	int missing = 0;

	if (syscall(SYS_capget, &hdr, data) < 0)
		return 0;	/* cannot tell: let the kernel answer */
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!(data[need[i].cap / 32].effective & (1u << (need[i].cap % 32)))) {
			log_event(LOG_ERR, LOG_EV_CAPABILITY_MISSING, NULL,
				  "steerd needs %s in its effective capabilities", need[i].name);
			missing++;
		}
	}
	if (!missing && !(data[CAP_PERFMON / 32].effective & (1u << (CAP_PERFMON % 32))) &&
	    !(data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32))))
		log_notice("without CAP_PERFMON the kernel hardens the program against Spectre: "
			   "forwarding decisions cost about twice as much (grant it for speed)");
	return missing ? -EPERM : 0;
}

int main(int argc, char **argv)
{
	struct daemon d = {};
	int r;

	if (parse_args(argc, argv, &d.opt) < 0)
		return 2;
	log_setup_libbpf();
	if (d.opt.check)
		return check_config(d.opt.check);
	if (d.opt.cleanup)
		return attach_cleanup(d.opt.pin_dir) < 0 ? 1 : 0;

	if (check_capabilities() < 0) {
		log_event(LOG_ERR, LOG_EV_CAPABILITY_MISSING, NULL, "run steerd as root, or give it CAP_BPF and CAP_NET_ADMIN "
			"(see config/steerd.service)");
		return 1;
	}
	model_init(&d.model);
	config_init(&d.cfg);
	/* The file's policies and mirror settings shape the image --verify compares too. */
	if (load_config(&d, true) < 0) {
		model_free(&d.model);
		return 1;
	}
	if (d.opt.verify) {
		r = daemon_verify(&d);
		intake_close(&d.nl);
		nf_close(&d.nf);
		model_free(&d.model);
		config_free(&d.cfg);
		if (r < 0)
			log_err("verify: %s", strerror(-r));
		return r < 0 ? 2 : r;
	}
	r = daemon_run(&d);
	reader_stop(&d.reader);
	intake_close(&d.nl);
	nf_close(&d.nf);
	sync_free(&d.sync);
	if (d.bpf.obj)
		attach_close(&d.bpf);
	model_free(&d.model);
	config_free(&d.cfg);
	if (r < 0)
		log_event(LOG_ERR, LOG_EV_FATAL, &(struct log_ctx){ .error = r }, "exiting: %s", strerror(-r));
	return r < 0 ? 1 : 0;
}
