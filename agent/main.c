/* steerd: mirror the kernel's policy routing into the steer datapath. A thin main: parse
 * the command line, then run the single event loop over netlink and signals. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "attach.h"
#include "compile.h"
#include "log.h"
#include "model.h"
#include "nl.h"
#include "sync.h"

#define DEFAULT_RCVBUF (8 << 20)
#define MAX_ATTACH 64

struct iface {
	const char *name;
	int ifindex;		/* where it is attached now; 0 while waiting for it */
};

struct options {
	struct iface ifaces[MAX_ATTACH];
	int nifaces;
	const char *pin_dir;
	int rcvbuf;
	enum attach_mode mode;
	bool cleanup;
};

struct daemon {
	struct options opt;
	struct model model;
	struct intake nl;
	struct attach bpf;
	struct sync sync;
	bool first_sync_done;
	size_t last_truncated;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: steerd [OPTIONS]\n"
		"Mirror the kernel's policy routing (ip rule, ip route) into steer's BPF fast path.\n\n"
		"  -a, --attach IFACE        attach at ingress of IFACE (repeatable; waits for it)\n"
		"  -p, --pin-dir DIR         where maps, program and links are pinned\n"
		"                            (default " STEER_PIN_DIR_DEFAULT ")\n"
		"  -l, --log-level LEVEL     err, warning, notice, info (default) or debug\n"
		"      --netlink-rcvbuf N    netlink receive buffer in bytes (default %d)\n"
		"      --attach-mode MODE    auto (default), tcx or clsact\n"
		"      --cleanup             detach the program, remove the pins, and exit\n"
		"  -h, --help                show this help\n"
		"      --version             show the version\n",
		DEFAULT_RCVBUF);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_RCVBUF = 256, OPT_MODE, OPT_CLEANUP, OPT_VERSION };
	static const struct option longopts[] = {
		{ "attach", required_argument, NULL, 'a' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "netlink-rcvbuf", required_argument, NULL, OPT_RCVBUF },
		{ "attach-mode", required_argument, NULL, OPT_MODE },
		{ "cleanup", no_argument, NULL, OPT_CLEANUP },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{}
	};
	int c, level;
	char *end;
	long v;

	*o = (struct options){ .pin_dir = STEER_PIN_DIR_DEFAULT, .rcvbuf = DEFAULT_RCVBUF };
	while ((c = getopt_long(argc, argv, "a:p:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (o->nifaces == MAX_ATTACH || strlen(optarg) >= IF_NAMESIZE) {
				fprintf(stderr, "steerd: --attach %s: too many interfaces or name too long\n", optarg);
				return -EINVAL;
			}
			o->ifaces[o->nifaces++].name = optarg;
			break;
		case 'p':
			o->pin_dir = optarg;
			break;
		case 'l':
			level = log_parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "steerd: unknown log level '%s'\n", optarg);
				return -EINVAL;
			}
			log_set_level(level);
			break;
		case OPT_RCVBUF:
			v = strtol(optarg, &end, 10);
			if (*end || v < 4096 || v > (1l << 30)) {
				fprintf(stderr, "steerd: --netlink-rcvbuf wants bytes between 4096 and 1 GiB\n");
				return -EINVAL;
			}
			o->rcvbuf = (int)v;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "auto"))
				o->mode = ATTACH_AUTO;
			else if (!strcmp(optarg, "tcx"))
				o->mode = ATTACH_TCX;
			else if (!strcmp(optarg, "clsact"))
				o->mode = ATTACH_CLSACT;
			else {
				fprintf(stderr, "steerd: --attach-mode is auto, tcx or clsact\n");
				return -EINVAL;
			}
			break;
		case OPT_CLEANUP:
			o->cleanup = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("steerd %s\n", STEER_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "steerd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Attach to every named interface that exists now and is not attached yet; forget the
 * attachment of one that went away (its TCX link died with it). */
static void reconcile_attachments(struct daemon *d)
{
	for (int i = 0; i < d->opt.nifaces; i++) {
		struct iface *f = &d->opt.ifaces[i];
		struct model_link *l = model_link_by_name(&d->model, f->name);

		if (f->ifindex && (!l || l->ifindex != f->ifindex)) {
			log_notice("%s: interface gone; waiting for it to come back", f->name);
			f->ifindex = 0;
		}
		if (!f->ifindex && l) {
			if (attach_iface(&d->bpf, l->ifindex, f->name) == 0)
				f->ifindex = l->ifindex;
		}
	}
}

static void announce(struct daemon *d)
{
	char status[256];

	snprintf(status, sizeof(status), "STATUS=%zu rules, %zu routes, %zu links mirrored; %zu rule lists",
		 d->model.nrules, d->model.routes.count, d->model.links.count,
		 d->sync.applied.nsrcs);
	sd_notify(0, status);
}

static int compile_and_apply(struct daemon *d)
{
	struct image img;
	int r;

	r = compile_image(&d->model, &img);
	if (r < 0) {
		log_err("compile: out of memory");
		return r;
	}
	if (img.truncated_lists != d->last_truncated) {
		if (img.truncated_lists)
			log_warning("%zu source prefixes have more than %d rules; past the limit they punt",
				    img.truncated_lists, STEER_MAX_RULES - 1);
		d->last_truncated = img.truncated_lists;
	}
	r = sync_apply(&d->sync, &img);
	if (r == 0) {
		d->model.dirty = false;
		r = sync_set_synced(&d->sync, true);	/* also publishes the new generation */
		log_debug("applied generation %llu: %zu rule lists, %zu routes, %zu next hops",
			  (unsigned long long)d->sync.generation, img.nsrcs, img.nroutes, img.nnhs);
	}
	image_free(&img);
	return r;
}

static int run(struct daemon *d)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sync_fds fds;
	sigset_t mask;
	int sfd, efd, r;

	r = attach_open(&d->bpf, d->opt.pin_dir, d->opt.mode);
	if (r < 0)
		return r;
	attach_skel_fds(d->bpf.skel, &fds);
	r = sync_init(&d->sync, &fds);
	/* Until our own first sync, whatever the pins hold is somebody else's picture. */
	r = r ?: sync_set_synced(&d->sync, false);
	r = r ?: intake_open(&d->nl, &d->model, d->opt.rcvbuf);
	r = r ?: intake_request(&d->nl, INTAKE_DUMP_ALL);
	if (r < 0)
		return r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	efd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || efd < 0)
		return -errno;
	ev.data.fd = d->nl.fd;
	epoll_ctl(efd, EPOLL_CTL_ADD, d->nl.fd, &ev);
	ev.data.fd = sfd;
	epoll_ctl(efd, EPOLL_CTL_ADD, sfd, &ev);

	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(efd, evs, 4, -1);

		if (n < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						log_info("SIGHUP: re-reading the kernel's state");
						intake_request(&d->nl, INTAKE_DUMP_ALL);
						continue;
					}
					log_info("%s: stopping; the fast path hands every packet to the kernel until steerd returns",
						 strsignal((int)si.ssi_signo));
					sd_notify(0, "STOPPING=1");
					r = 0;
					goto out;
				}
			} else if (evs[i].data.fd == d->nl.fd) {
				r = intake_process(&d->nl);
				if (r < 0)
					goto out;
			}
		}
		if (!intake_idle(&d->nl))
			continue;
		reconcile_attachments(d);
		if (d->first_sync_done && !d->model.dirty && d->sync.synced)
			continue;
		if (compile_and_apply(d) < 0)
			continue;	/* logged; the datapath punts until an apply succeeds */
		if (!d->first_sync_done) {
			d->first_sync_done = true;
			log_info("first sync applied: %zu rules, %zu routes, %zu links; fast path live",
				 d->model.nrules, d->model.routes.count, d->model.links.count);
			sd_notify(0, "READY=1");
		}
		announce(d);
	}
out:
	if (d->first_sync_done || d->sync.synced)
		sync_set_synced(&d->sync, false);
	close(sfd);
	close(efd);
	return r;
}

int main(int argc, char **argv)
{
	struct daemon d = {};
	int r;

	if (parse_args(argc, argv, &d.opt) < 0)
		return 2;
	log_setup_libbpf();
	if (d.opt.cleanup)
		return attach_cleanup(d.opt.pin_dir) < 0 ? 1 : 0;

	model_init(&d.model);
	r = run(&d);
	intake_close(&d.nl);
	sync_free(&d.sync);
	if (d.bpf.skel)
		attach_close(&d.bpf);
	model_free(&d.model);
	if (r < 0)
		log_err("exiting: %s", strerror(-r));
	return r < 0 ? 1 : 0;
}
