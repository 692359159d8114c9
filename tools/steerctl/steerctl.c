/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* steerctl: shows what steer's fast path holds by reading the maps steerd pinned, so it
 * works while steerd is down. This file parses the command line and picks the command. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "steerctl.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Options that belong to one command. */
enum {
	OPTS_BATCH = 1 << 0,	/* --batch */
	OPTS_STATS = 1 << 1,	/* -i, --count, --per-cpu, --prometheus */
	OPTS_MONITOR = 1 << 2,	/* --rate, --sample, --verdict, --reason, --duration, --count */
};

static const struct {
	const char *name;
	int (*run)(struct steerctl *c);
	bool takes_args;
	unsigned opts;
	const char *help;
} commands[] = {
	{ "status",   cmd_status,   false, 0,
	  "sync state, ABI version, generation, program, interfaces, map sizes" },
	{ "rules",    cmd_rules,    false, 0,
	  "rule lists by source prefix, each rule in ip-rule words, with hits" },
	{ "routes",   cmd_routes,   true,  0,
	  "compiled routes of every mirrored table, or of table T" },
	{ "nexthops", cmd_nexthops, false, 0,
	  "next hops and multipath groups, with each member's share" },
	{ "links",    cmd_links,    false, 0,
	  "links the fast path knows (up, forwarding, rp_filter), VLANs" },
	{ "stats",    cmd_stats,    false, OPTS_STATS,
	  "datapath counters (summed or per CPU), rates, a Prometheus file" },
	{ "explain",  cmd_explain,  true,  OPTS_BATCH,
	  "run the pinned program on one packet: the fast path's `ip route get`" },
	{ "detach",   cmd_detach,   true,  0,
	  "take steer's program off IFACE (ingress, egress or both)" },
	{ "monitor",  cmd_monitor,  true,  OPTS_MONITOR,
	  "watch the fast path decide, packet by packet, until Ctrl-C" },
};

/* The long options that have no short one. */
enum { OPT_PIN_DIR = 256, OPT_BATCH, OPT_COUNT, OPT_PER_CPU, OPT_PROMETHEUS, OPT_RATE,
       OPT_SAMPLE, OPT_VERDICT, OPT_REASON, OPT_DURATION };

/* Every option once: getopt's row and --help's, in --help's order. */
static const struct option_row {
	int key;		/* the short option, or an OPT_ above */
	const char *name;
	const char *arg;	/* the argument's name in --help; NULL: it takes none */
	const char *help;	/* lines, each after a "\n" indented under the first */
	bool monitor;		/* monitor's own */
} options[] = {
	{ 'j', "json", NULL, "print JSON (iproute2's key names) instead of tables" },
	{ 'p', "pretty", NULL, "print indented JSON (implies -j)" },
	{ OPT_PIN_DIR, "pin-dir", "DIR", "read the pins under DIR (default "
	  STEERCTL_DEFAULT_PIN_DIR ")" },
	{ OPT_BATCH, "batch", "FILE", "explain: one argument list per line of FILE ('-': stdin),\n"
	  "one result per line, in order" },
	{ 'i', "interval", "SECONDS", "stats: every SECONDS, the rates (packets/s) of the\n"
	  "counters that moved, until SIGINT" },
	{ OPT_COUNT, "count", "N", "stats -i: stop after N intervals; monitor: after N events" },
	{ OPT_PER_CPU, "per-cpu", NULL, "stats: each CPU's counters besides the sum" },
	{ OPT_PROMETHEUS, "prometheus", "FILE", "stats: write the counters, rule hits, map fill "
	  "levels and\nagent counters to FILE for node_exporter's textfile\ncollector (written "
	  "beside it and renamed; with -i, again\nevery interval) instead of printing them" },
	{ OPT_RATE, "rate", "N", "monitor: at most N events a second (default 1000)", true },
	{ OPT_SAMPLE, "sample", "N", "monitor: one in N of the decisions that pass the filters",
	  true },
	{ OPT_VERDICT, "verdict", "LIST", "monitor: only these (forward, drop, punt; commas)", true },
	{ OPT_REASON, "reason", "LIST", "monitor: only these reasons, as stats names them, with "
	  "or\nwithout punt_/drop_ (netfilter, no_route, forwarded, ...)", true },
	{ OPT_DURATION, "duration", "SECONDS", "monitor: stop after SECONDS", true },
	{ 'h', "help", NULL, "print this help and exit" },
};

#define OPTION_COUNT (sizeof(options) / sizeof(options[0]))

/* "  -j, --json           print JSON ...": the help starts in column 24, or under it on
 * the next line when the option's words reach it. */
static void option_help(FILE *f, const struct option_row *o)
{
	char words[64];
	const char *line, *nl;

	snprintf(words, sizeof(words), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	if (o->key < 256)
		fprintf(f, "  -%c, ", o->key);
	else
		fputs("      ", f);
	if (strlen(words) < 17)
		fprintf(f, "%-17s", words);
	else
		fprintf(f, "%s\n%23s", words, "");
	for (line = o->help; (nl = strchr(line, '\n')); line = nl + 1)
		fprintf(f, "%.*s\n%23s", (int)(nl - line), line, "");
	fprintf(f, "%s\n", line);
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: steerctl [OPTIONS] COMMAND\n"
		"       steerctl [OPTIONS] routes [table T]\n"
		"       steerctl [OPTIONS] stats [--per-cpu] [-i SECONDS [--count N]]\n"
		"                [--prometheus FILE]\n"
		"       steerctl [OPTIONS] explain DST from SRC {iif|oif} IFACE [mark N] [tos TOS]\n"
		"                [ipproto PROTO] [sport N] [dport N]\n"
		"       steerctl [OPTIONS] explain --batch FILE\n"
		"       steerctl [OPTIONS] detach IFACE [ingress|egress|xdp]\n"
		"       steerctl [OPTIONS] monitor [--rate N] [--sample N] [--verdict LIST]\n"
		"                [--reason LIST] [--count N] [--duration SECONDS]\n"
		"                [from PREFIX] [to PREFIX] [iif IFACE]\n"
		"\n"
		"Show what the steer fast path holds, from the maps steerd pins (steerd need not\n"
		"be running), ask the pinned program what it does with a packet, or take it off\n"
		"an interface.\n"
		"\n"
		"Options:\n");
	for (i = 0; i < OPTION_COUNT; i++)
		option_help(f, &options[i]);
	fprintf(f, "\n"
		"Commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(f,
		"\n"
		"T is a number, main, local, default or all.\n"
		"\n"
		"explain builds one Ethernet frame as received on IFACE (SRC and DST of one\n"
		"family) and runs the pinned program on it with BPF_PROG_TEST_RUN, without\n"
		"moving a counter; it prints what the program decided:\n"
		"  DST from SRC ipproto P [via GW] dev DEV table T rule PRIO   forwarded\n"
		"  drop (blackhole) ipproto P table T rule PRIO                dropped\n"
		"  punt (REASON) ipproto P [table T rule PRIO]                 to the kernel\n"
		"A steer.yaml policy that decided is named 'policy PRIO'. With oif, the frame\n"
		"leaves by IFACE as the kernel routed it and the egress program answers\n"
		"(policies only): a forward, a drop, or 'pass' when no policy matched.\n"
		"As in ip(8): TOS is hex (10 means 0x10); other numbers are decimal or 0x hex.\n"
		"PROTO: tcp, udp, icmp, ipv6-icmp (icmpv6), sctp, dccp, udplite, esp, ah, gre\n"
		"or a number; the default is udp with sport or dport, else 0 as in ip route get\n"
		"(IPv6: ipv6-nonxt, 59, since a next header 0 is a hop-by-hop options header).\n"
		"\n"
		"detach removes the pinned TCX link (and its pin) or the clsact filter of\n"
		"steer's program at the hook, at ingress with the XDP stage in front of it;\n"
		"the kernel then routes IFACE's packets itself.\n"
		"steerd attaches again to an interface it is configured for when it next sees\n"
		"it (when it restarts, or when the interface comes back): remove the interface\n"
		"from steerd's configuration to keep it off the fast path.\n"
		"\n"
		"monitor prints one line per decision of the fast path (-j: one JSON object per\n"
		"line): time, interface, addresses, protocol, ports, length, the verdict and its\n"
		"reason, the gateway and device of a forward, the table and rule that decided.\n"
		"The program writes events only while a monitor runs (one at a time), filtered,\n"
		"sampled and rate-limited in the program; on exit it says how many the rate\n"
		"limit dropped.\n"
		"\n"
		"Run explain, detach and monitor in the network namespace steerd watches.\n"
		"\n"
		"Examples:\n"
		"  steerctl status\n"
		"  steerctl -p routes table main\n"
		"  steerctl nexthops\n"
		"  steerctl -j links\n"
		"  steerctl stats --per-cpu\n"
		"  steerctl stats -i 1\n"
		"  steerctl stats --prometheus /var/lib/node_exporter/textfile/steer.prom\n"
		"  steerctl explain 198.51.100.1 from 10.1.0.2 iif eth1 ipproto tcp dport 443\n"
		"  steerctl detach eth1 ingress\n"
		"  steerctl monitor --verdict punt from 10.1.0.0/24\n"
		"  steerctl -j monitor --reason netfilter --count 10\n"
		"\n"
		"Exit status: 0 success (whatever the verdict), 1 runtime error (nothing pinned,\n"
		"permission denied, nothing to detach...), 2 usage error.\n"
		"See steerctl(8).\n");
}

int sc_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("steerctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'steerctl --help'.\n", stderr);
	return SC_USAGE;
}

/* -i, --duration SECONDS: a positive number of seconds, fractions allowed, at most a day. */
static int parse_interval(const char *opt, const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= 0.01 && v <= 86400))
		return sc_usage_error("%s needs a number of seconds from 0.01 to 86400, not '%s'",
				      opt, arg);
	*out = v;
	return 0;
}

static int parse_count(const char *arg, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || *arg == '-' || *arg == '+' || !v)
		return sc_usage_error("--count needs a positive number, not '%s'", arg);
	*out = v;
	return 0;
}

/* --rate and --sample: a positive number (--rate 0 would show nothing at all). */
static int parse_u32(const char *opt, const char *arg, __u32 *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || *arg == '-' || *arg == '+' || !v || v > 0xffffffffUL)
		return sc_usage_error("%s needs a positive number, not '%s'", opt, arg);
	*out = (__u32)v;
	return 0;
}

/* What an option of options[] (not -h) sets. Returns 0, or SC_USAGE when its argument is
 * wrong, already said. */
static int set_option(struct steerctl *c, int opt, char *arg)
{
	size_t len;

	switch (opt) {
	case 'j':
		c->json = true;
		return 0;
	case 'p':
		c->json = c->pretty = true;
		return 0;
	case 'i':
		return parse_interval("-i", arg, &c->interval);
	case OPT_COUNT:
		return parse_count(arg, &c->count);
	case OPT_PER_CPU:
		c->per_cpu = true;
		return 0;
	case OPT_PROMETHEUS:
		c->prometheus = arg;
		return *arg ? 0 : sc_usage_error("%s", "--prometheus needs a file");
	case OPT_RATE:
		return parse_u32("--rate", arg, &c->mon_rate);
	case OPT_SAMPLE:
		return parse_u32("--sample", arg, &c->mon_sample);
	case OPT_VERDICT:
		c->mon_verdicts = arg;
		return 0;
	case OPT_REASON:
		c->mon_reasons = arg;
		return 0;
	case OPT_DURATION:
		return parse_interval("--duration", arg, &c->mon_duration);
	case OPT_PIN_DIR:
		/* "/sys/fs/bpf/steer/" names the same pins; trim so messages read well. */
		len = strlen(arg);
		while (len > 1 && arg[len - 1] == '/')
			arg[--len] = '\0';
		c->pin_dir = arg;
		return *arg ? 0 : sc_usage_error("%s", "--pin-dir needs a directory");
	case OPT_BATCH:
		c->batch = arg;
		return *arg ? 0 : sc_usage_error("%s", "--batch needs a file, or '-' for stdin");
	}
	return 0;
}

/* getopt_long's table and its string of short options ("j", "i:"), from options[]; shorts
 * holds 2 * OPTION_COUNT + 2 characters. */
static void getopt_rows(struct option *opts, char *shorts)
{
	*shorts++ = ':';	/* a missing argument is ':', not '?' */
	for (size_t i = 0; i < OPTION_COUNT; i++) {
		const struct option_row *o = &options[i];

		opts[i] = (struct option){ o->name, o->arg ? required_argument : no_argument, NULL,
					   o->key };
		if (o->key < 256) {
			*shorts++ = (char)o->key;
			if (o->arg)
				*shorts++ = ':';
		}
	}
	opts[OPTION_COUNT] = (struct option){};
	*shorts = '\0';
}

static bool is_monitor_opt(int key)
{
	for (size_t i = 0; i < OPTION_COUNT; i++)
		if (options[i].key == key)
			return options[i].monitor;
	return false;
}

/* Options given to a command they do not belong to are an error, not ignored. */
static int check_opts(const struct steerctl *c, const char *cmd, unsigned opts,
		      bool monitor_opts)
{
	if (c->batch && !(opts & OPTS_BATCH))
		return sc_usage_error("--batch is an option of explain, not of %s", cmd);
	if (monitor_opts && !(opts & OPTS_MONITOR))
		return sc_usage_error("--rate, --sample, --verdict, --reason and --duration are "
				      "options of monitor, not of %s", cmd);
	if (opts & OPTS_MONITOR)
		return c->interval > 0 || c->per_cpu || c->prometheus ?
			sc_usage_error("-i, --per-cpu and --prometheus are options of stats, not "
				       "of %s", cmd) : 0;
	if ((c->interval > 0 || c->count || c->per_cpu || c->prometheus) && !(opts & OPTS_STATS))
		return sc_usage_error("-i, --count, --per-cpu and --prometheus are options of "
				      "stats, not of %s", cmd);
	if (c->count && !(c->interval > 0))
		return sc_usage_error("%s", "--count counts the intervals of -i SECONDS");
	if (c->prometheus && (c->per_cpu || c->json))
		return sc_usage_error("%s", "--prometheus writes a file: --per-cpu, -j and -p do "
				      "not apply");
	return 0;
}

int main(int argc, char **argv)
{
	struct steerctl c = { .pin_dir = STEERCTL_DEFAULT_PIN_DIR, .out = stdout, .mon_rate = 1000 };
	struct option opts[OPTION_COUNT + 1] = {};
	char shorts[2 * OPTION_COUNT + 2];
	bool monitor_opts = false;
	size_t i;
	int opt, err;

	getopt_rows(opts, shorts);
	opterr = 0;	/* our own messages, with the usage hint */
	while ((opt = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		monitor_opts |= is_monitor_opt(opt);
		switch (opt) {
		case 'h':
			usage(stdout);
			return fflush(stdout) ? EXIT_RUNTIME : EXIT_OK;
		case ':':
			return sc_usage_error("option '%s' needs an argument", argv[optind - 1]);
		case '?':
			/* optopt names a bad short option; for "--json=x" it is 'j', misleading. */
			if (optopt && strncmp(argv[optind - 1], "--", 2)) {
				char o[3] = { '-', (char)optopt, '\0' };

				return sc_usage_error("unknown option '%s'", o);
			}
			return sc_usage_error("unknown option '%s'", argv[optind - 1]);
		default:
			if (set_option(&c, opt, optarg))
				return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return sc_usage_error("%s", "no command given");

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name))
			break;
	if (i == sizeof(commands) / sizeof(commands[0]))
		return sc_usage_error("unknown command '%s'", argv[optind]);
	if (!commands[i].takes_args && optind + 1 < argc)
		return sc_usage_error("unexpected argument '%s'", argv[optind + 1]);
	if (check_opts(&c, argv[optind], commands[i].opts, monitor_opts))
		return EXIT_USAGE;
	c.argc = argc - optind - 1;
	c.argv = argv + optind + 1;

	json_init(&c.jw, c.out, c.pretty);
	err = commands[i].run(&c);
	if (fflush(c.out) || ferror(c.out)) {
		fprintf(stderr, "steerctl: writing output: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	if (err == SC_USAGE)
		return EXIT_USAGE;
	return err ? EXIT_RUNTIME : EXIT_OK;
}
