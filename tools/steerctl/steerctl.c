/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* steerctl: shows what steer's fast path holds by reading the maps steerd pinned, so it
 * works while steerd is down. This file parses the command line and picks the command. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "steerctl.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static const struct {
	const char *name;
	int (*run)(struct steerctl *c);
	const char *help;
} commands[] = {
	{ "status", cmd_status, "sync state, ABI version, generation, program, interfaces, map sizes" },
	{ "rules",  cmd_rules,  "compiled rule lists: FAMILY SRC PRIORITY ACTION TABLE" },
	{ "routes", cmd_routes, "compiled routes of every mirrored table, with their next hops" },
	{ "stats",  cmd_stats,  "datapath counters, summed over all CPUs" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: steerctl [OPTIONS] COMMAND\n"
		"\n"
		"Show what the steer fast path holds, from the maps steerd pins.\n"
		"\n"
		"Options:\n"
		"  -j, --json          print JSON (iproute2's key names) instead of tables\n"
		"      --pin-dir DIR   read the pins under DIR (default %s)\n"
		"  -h, --help          print this help and exit\n"
		"\n"
		"Commands:\n", STEERCTL_DEFAULT_PIN_DIR);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f,
		"\n"
		"Exit status: 0 success, 1 runtime error, 2 usage error.\n"
		"See steerctl(8).\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fputs("steerctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'steerctl --help'.\n", stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	enum { OPT_PIN_DIR = 256 };
	static const struct option opts[] = {
		{ "json",    no_argument,       NULL, 'j' },
		{ "pin-dir", required_argument, NULL, OPT_PIN_DIR },
		{ "help",    no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct steerctl c = { .pin_dir = STEERCTL_DEFAULT_PIN_DIR, .out = stdout };
	size_t i, len;
	int opt, err;

	opterr = 0;	/* our own messages, with the usage hint */
	while ((opt = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			c.json = true;
			break;
		case OPT_PIN_DIR:
			/* "/sys/fs/bpf/steer/" names the same pins; trim so messages read well. */
			len = strlen(optarg);
			while (len > 1 && optarg[len - 1] == '/')
				optarg[--len] = '\0';
			if (!*optarg)
				return usage_error("%s", "--pin-dir needs a directory");
			c.pin_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return fflush(stdout) ? EXIT_RUNTIME : EXIT_OK;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			/* optopt names a bad short option; for "--json=x" it is 'j', misleading. */
			if (optopt && strncmp(argv[optind - 1], "--", 2)) {
				char o[3] = { '-', (char)optopt, '\0' };

				return usage_error("unknown option '%s'", o);
			}
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("%s", "no command given");
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name))
			break;
	if (i == sizeof(commands) / sizeof(commands[0]))
		return usage_error("unknown command '%s'", argv[optind]);

	json_init(&c.jw, c.out);
	err = commands[i].run(&c);
	if (fflush(c.out) || ferror(c.out)) {
		fprintf(stderr, "steerctl: writing output: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	return err ? EXIT_RUNTIME : EXIT_OK;
}
