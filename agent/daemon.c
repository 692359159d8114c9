/* steerd's event loop: the start (load, attach, first dumps, first apply), then one handler
 * per event source (signals, rtnetlink, nfnetlink, timers), and the compile-and-apply that
 * follows a settled burst of changes; and --verify's one comparison. */
#include "daemon.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon-config.h"
#include "daemon-nf.h"
#include "daemon-xdp.h"
#include "log.h"
#include "verify.h"

static void publish_stats(struct daemon *d)
{
	const struct intake_stats *n = &d->nl.stats;

	d->stats.netlink_messages = n->messages;
	d->stats.foreign_messages = n->foreign + __atomic_load_n(&d->reader.foreign, __ATOMIC_RELAXED);
	d->stats.malformed_messages = n->malformed;
	d->stats.overruns = n->enobufs + d->nf.stats.enobufs;
	d->stats.dump_restarts = n->dump_restarts;
	d->stats.swept = n->swept;
	d->stats.applies = d->sync.stats.applies;
	d->stats.apply_failures = d->sync.stats.failures;
	sync_write_agent_stats(&d->sync, &d->stats);
}

static void announce(struct daemon *d)
{
	char status[256];

	snprintf(status, sizeof(status), "STATUS=%zu rules, %zu routes, %zu links mirrored; %zu rule lists",
		 d->model.nrules, d->model.routes.count, d->model.links.count,
		 d->sync.applied.nsrcs);
	sd_notify(0, status);
}

/* An apply of at least this many routes ends by giving the heap's free pages back. */
#define TRIM_ROUTES 65536

static int compile_and_apply(struct daemon *d)
{
	uint64_t t0 = monotonic_ns(), t1, t2;
	struct image img;
	size_t given;
	bool big;
	int r;

	sysctl_refresh(&d->model);
	r = compile_image(&d->model, &d->cfg.ov, &img);
	t1 = monotonic_ns();
	if (r < 0) {
		log_event(LOG_ERR, LOG_EV_APPLY_FAILED, &(struct log_ctx){ .error = r }, "compile: out of memory");
		return r;
	}
	if (img.truncated_lists != d->last_truncated) {
		if (img.truncated_lists)
			log_event(LOG_WARNING, LOG_EV_RULES_TRUNCATED, NULL,
				  "%zu source prefixes have more than %d rules; past the limit they punt",
				    img.truncated_lists, STEER_MAX_RULES - 1);
		d->last_truncated = img.truncated_lists;
	}
	if (img.side_lists != d->last_side_lists) {
		log_info(img.side_lists ? "rule lists: the `from all` rules are kept apart, in side "
					  "lists each walk merges with its source's list"
					: "rule lists: one list per source prefix again");
		d->last_side_lists = img.side_lists;
	}
	given = image_fit(&img, &d->capacity);
	if (given != d->last_given) {
		if (given)
			log_event(LOG_WARNING, LOG_EV_CAPACITY, NULL,
				  "the maps are too small for what the kernel holds: %zu entries left out, "
				    "their traffic punts to the kernel (raise --limit)", given);
		else if (d->last_given)
			log_event(LOG_NOTICE, LOG_EV_CAPACITY, NULL, "everything fits the maps again");
		d->last_given = given;
	}
	d->stats.overflow_punts = given;
	/* The image holds every event the reader had received when the intake took them. */
	d->sync.upto = d->reader.running ? d->reader.taken_seq : UINT64_MAX;
	r = sync_apply(&d->sync, &img);
	t2 = monotonic_ns();
	if (r == 0) {
		d->model.dirty = false;
		r = sync_set_synced(&d->sync, true);	/* also publishes the new generation */
		log_debug("applied generation %llu: %zu rule lists, %zu routes, %zu next hops "
			  "(compiled in %.1f ms, written in %.1f ms)",
			  (unsigned long long)d->sync.generation, img.nsrcs, img.nroutes, img.nnhs,
			  (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);
		if (d->reconciling && !sync_has_pending(&d->sync)) {
			struct verify_report vr;

			/* The maps must now say exactly what this image says; anything else was
			 * changed behind our back (or by a bug): count it and rewrite it all. */
			d->reconciling = false;
			d->stats.reconciles++;
			if (verify_maps(&d->sync.fd, &img, &vr) < 0) {
				log_warning("reconcile: out of memory comparing the maps; next time");
			} else if (vr.differences) {
				d->stats.drift += vr.differences;
				log_event(LOG_WARNING, LOG_EV_DRIFT, NULL,
					  "reconcile: %zu of %zu map entries differed from the kernel; rewriting",
					    vr.differences, vr.checked);
				r = sync_forget(&d->sync);
				r = r ?: sync_apply(&d->sync, &img);
			} else {
				log_debug("reconcile: %zu map entries match the kernel", vr.checked);
			}
		}
	}
	big = img.nroutes >= TRIM_ROUTES;
	image_free(&img);
	/* What a big compile and apply used in passing is free now but still resident:
	 * hand it back, or a full table keeps its peak for good. */
	if (big)
		malloc_trim(0);
	publish_stats(d);
	return r;
}

static void drain(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) == sizeof(n))
		;
}

static int wait_dumps(struct intake *nl)
{
	while (!intake_idle(nl)) {
		struct epoll_event ev;
		int efd = epoll_create1(EPOLL_CLOEXEC), r;

		ev = (struct epoll_event){ .events = EPOLLIN };
		epoll_ctl(efd, EPOLL_CTL_ADD, nl->conn.fd, &ev);
		r = epoll_wait(efd, &ev, 1, 10000);
		close(efd);
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		r = intake_process(nl);
		if (r < 0)
			return r;
	}
	return 0;
}

static int wait_nf(struct nf_intake *nf)
{
	for (int waited = 0; !nf_idle(nf); waited += 10) {
		int r = nf_process(nf);

		if (r < 0)
			return r;
		if (waited > 10000)
			return -ETIMEDOUT;
		if (!nf_idle(nf))
			usleep(10000);
	}
	return 0;
}

/* steerd --verify: read the kernel once, compile, compare with the pinned maps. */
int daemon_verify(struct daemon *d)
{
	struct sync_fds fds;
	struct verify_report vr;
	struct image img;
	int r;

	r = attach_open_pins(d->opt.pin_dir, &fds);
	/* A steerd with the XDP stage (its program pinned) also keeps the neighbours. */
	d->model.xdp = attach_xdp_pinned(d->opt.pin_dir);
	r = r ?: intake_open(&d->nl, &d->model, d->opt.rcvbuf);
	r = r ?: intake_request(&d->nl, INTAKE_DUMP_ALL);
	r = r ?: wait_dumps(&d->nl);
	if (!r)
		sysctl_refresh(&d->model);
	/* The links' netfilter flags are part of what the maps hold. */
	r = r ?: nf_open(&d->nf, &d->model, d->opt.rcvbuf);
	r = r ?: nf_request(&d->nf);
	r = r ?: wait_nf(&d->nf);
	if (!r)
		nf_legacy_read(&d->model);
	r = r ?: compile_image(&d->model, &d->cfg.ov, &img);
	if (r < 0)
		return r;
	/* Compare with what a steerd with these map sizes would have written. */
	attach_pins_capacity(&fds, &d->capacity);
	image_fit(&img, &d->capacity);
	r = verify_maps(&fds, &img, &vr);
	image_free(&img);
	if (r < 0)
		return r;
	printf("%zu map entries checked, %zu differ from the kernel\n", vr.checked, vr.differences);
	return vr.differences ? 1 : 0;
}

/* The reader's hooks, on its thread: what an event makes uncertain is punted at once. */
static void pending_route(void *ctx, const struct steer_route_key *k, uint64_t seq)
{
	sync_pending_route(ctx, k, seq);
}

static void pending_other(void *ctx, uint64_t seq, bool lost)
{
	(void)lost;	/* either way, nothing is certain until the apply that follows */
	sync_pending_all(ctx, seq);
}

/* Loads the program, opens the maps and starts reading the kernel: rtnetlink (on the reader's
 * thread) and the netfilter ruleset. */
/* Whether steer.yaml wants the XDP stage on some interface: its program is loaded then. */
static bool xdp_wanted(const struct daemon *d)
{
	for (int i = 0; i < d->opt.nifaces; i++)
		if (d->opt.ifaces[i].xdp)
			return true;
	return false;
}

static int start(struct daemon *d)
{
	struct sync_fds fds;
	int r;

	log_event(LOG_INFO, LOG_EV_STARTED, NULL, "steerd %s starting; pins under %s", STEER_VERSION,
		  d->opt.pin_dir);
	r = attach_open(&d->bpf, d->opt.pin_dir, d->opt.mode, &d->opt.limits,
			d->model.nf_mode == STEER_NF_OFFLOAD, xdp_wanted(d));
	if (r < 0)
		return r;
	if (d->model.nf_mode == STEER_NF_OFFLOAD && !d->bpf.offload)
		d->model.nf_mode = STEER_NF_RESPECT;	/* said by attach_open */
	d->model.xdp = d->bpf.xdp_loaded;	/* neighbours into the image before the first dump */
	attach_obj_fds(d->bpf.obj, &fds);
	attach_capacity(&d->bpf, &d->capacity);
	/* Pins left by an earlier steerd keep forwarding (until its heartbeat goes stale) while
	 * we read the kernel; our first apply then replaces every entry, make-before-break. */
	r = sync_init(&d->sync, &fds);
	d->sync.stale_after_ns = (uint64_t)(d->opt.stale_after * 1e9);
	d->sync.nf_mode = d->model.nf_mode;
	d->stats.pid = (uint64_t)getpid();
	d->stats.started_ns = monotonic_ns();
	r = r ?: xdp_targets_open(d);
	r = r ?: intake_open(&d->nl, &d->model, d->opt.rcvbuf);
	r = r ?: reader_start(&d->reader, d->nl.conn.fd, d->nl.conn.port, &(struct reader_hooks){
		.ctx = &d->sync, .route = pending_route, .other = pending_other });
	if (!r)
		d->nl.reader = &d->reader;
	r = r ?: intake_request(&d->nl, INTAKE_DUMP_ALL);
	/* Netfilter is part of the first sync: nothing is forwarded before steerd knows
	 * whether a firewall would have seen it. */
	r = r ?: nf_open(&d->nf, &d->model, d->opt.rcvbuf);
	r = r ?: nf_request(&d->nf);
	if (r < 0)
		return r;
	d->model.nf.legacy_known = false;
	netfilter_poll_legacy(d);
	return 0;
}

/* What the loop waits on besides the reader's wake-up and nfnetlink: signals and timers. */
struct loop {
	int efd;	/* the epoll set */
	int sfd;	/* SIGTERM, SIGINT, SIGHUP */
	int hbfd;	/* the heartbeat, and the statistics published with it */
	int rcfd;	/* the periodic full re-read */
	int wdfd;	/* systemd's watchdog */
	int lgfd;	/* iptables-legacy, which has no events */
};

static void close_loop(struct loop *l)
{
	int *fds[] = { &l->efd, &l->sfd, &l->hbfd, &l->rcfd, &l->wdfd, &l->lgfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int open_loop(struct daemon *d, struct loop *l)
{
	double beat = d->opt.stale_after / 4;
	uint64_t watchdog_usec = 0;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	*l = (struct loop){
		.efd = epoll_create1(EPOLL_CLOEXEC),
		.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK),
		.hbfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
		.rcfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
		.wdfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
		.lgfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
	};
	if (l->efd < 0 || l->sfd < 0 || l->hbfd < 0 || l->rcfd < 0 || l->wdfd < 0 || l->lgfd < 0)
		return -errno;
	d->rcfd = l->rcfd;
	/* The pulse comes a few times per deadline, so one late tick never trips it. A
	 * deadline shortened by a reload is met too: the pulse never comes slower than 1 s. */
	arm_timer(l->hbfd, beat > 1.0 || beat <= 0 ? 1.0 : beat);
	arm_timer(l->rcfd, d->opt.reconcile);
	/* systemd's watchdog (WatchdogSec=): pet it at half its period, only when asked. */
	if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec)
		arm_timer(l->wdfd, (double)watchdog_usec / 2e6);
	arm_timer(l->lgfd, NF_LEGACY_POLL);
	for (int i = 0; i < 8; i++) {
		int fd = (int[]){ d->reader.wake, l->sfd, l->hbfd, l->rcfd, l->wdfd, d->nf.conn.fd,
				  l->lgfd, xdp_targets_fd(d) }[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

		/* nf.conn.fd is -1 without nfnetlink in this kernel, the XDP targets' without
		 * the XDP stage */
		if (fd >= 0)
			epoll_ctl(l->efd, EPOLL_CTL_ADD, fd, &ev);
	}
	return 0;
}

/* SIGHUP: the file and the kernel's whole state are read again; READY=1 follows the apply. */
static void reload(struct daemon *d)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)(monotonic_ns() / 1000));
	sd_notify(0, msg);
	log_event(LOG_INFO, LOG_EV_RELOADING, NULL, "SIGHUP: re-reading %s and the kernel's state",
		  d->opt.config ? d->opt.config : "no configuration file");
	load_config(d, false);
	d->stats.resyncs++;
	d->reload_pending = true;
	intake_request(&d->nl, INTAKE_DUMP_ALL);
	nf_reread(&d->nf);
	netfilter_poll_legacy(d);
}

/* Returns 1 when a signal says stop. */
static int on_signals(struct daemon *d, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(d);
			continue;
		}
		log_event(LOG_INFO, LOG_EV_STOPPING, NULL,
			  "%s: stopping; the fast path hands every packet to the kernel until steerd returns",
			  strsignal((int)si.ssi_signo));
		sd_notify(0, "STOPPING=1");
		return 1;
	}
	return 0;
}

static void on_heartbeat(struct daemon *d)
{
	/* Only a steerd whose picture is whole vouches for the maps: after lost events, not
	 * until everything has been re-read, so an agent that cannot catch up lets the
	 * deadline hand the packets to the kernel. */
	if (d->first_sync_done && !d->nl.lost)
		sync_heartbeat(&d->sync);
	publish_stats(d);
	/* No event says these changed: look (marks the model dirty if so). */
	sysctl_refresh(&d->model);
}

/* One descriptor is ready. Returns a negative errno on a fatal error, 1 to stop, 0 to go on. */
static int on_ready(struct daemon *d, const struct loop *l, int fd)
{
	if (fd == l->sfd)
		return on_signals(d, fd);
	if (fd == d->reader.wake)
		return intake_process(&d->nl);
	if (fd == d->nf.conn.fd)
		return nf_process(&d->nf);
	if (fd == xdp_targets_fd(d))
		return xdp_targets_process(d);
	drain(fd);	/* the rest are timers */
	if (fd == l->hbfd) {
		on_heartbeat(d);
	} else if (fd == l->wdfd) {
		sd_notify(0, "WATCHDOG=1");
	} else if (fd == l->lgfd) {
		netfilter_poll_legacy(d);
	} else if (fd == l->rcfd) {
		log_event(LOG_DEBUG, LOG_EV_RESYNC, NULL, "reconcile: re-reading the kernel's state");
		d->reconciling = true;
		intake_request(&d->nl, INTAKE_DUMP_ALL);
		nf_reread(&d->nf);
	}
	return 0;
}

/* After the events of one wait (none: a timeout). Once the picture is whole, what changed is
 * compiled and applied. Returns a negative errno on a fatal error. */
static int settle(struct daemon *d, int nevents)
{
	int r;

	/* A transaction ended, a read finished or events were lost: the state map's netfilter
	 * flags are written now, as fast as a route change reaches the maps. */
	if (nevents == 0 && (r = nf_process(&d->nf)) < 0)	/* a read waiting to be retried */
		return r;
	if (d->nf.changed)
		netfilter_changed(d);
	d->stats.resyncs = d->nl.stats.resyncs + d->stats.reconciles;
	if (nevents == 0 && (r = intake_process(&d->nl)) < 0)	/* a dump waiting to be retried */
		return r;
	if (!intake_idle(&d->nl))
		return 0;
	if (!d->first_sync_done && (!d->model.nf.known || !nf_idle(&d->nf)))
		return 0;	/* the first sync includes the ruleset */
	reconcile_attachments(d);
	/* Punts the reader wrote for events the model took without changing (a replace with the
	 * same route) are cleared by an apply too. */
	if (!d->first_sync_done || d->model.dirty || !d->sync.synced || d->reconciling ||
	    sync_has_pending(&d->sync)) {
		if (compile_and_apply(d) < 0)
			return 0;	/* logged; the datapath punts until an apply succeeds */
		if (!d->first_sync_done) {
			d->first_sync_done = true;
			prune_pinned_links(d);
			log_event(LOG_INFO, LOG_EV_FIRST_SYNC, NULL,
				  "first sync applied: %zu rules, %zu routes, %zu links; fast path live",
				  d->model.nrules, d->model.routes.count, d->model.links.count);
			sd_notify(0, "READY=1");
		}
		announce(d);
	}
	if (d->reload_pending) {
		/* The re-read is applied (or there was nothing to change): reloaded. */
		d->reload_pending = false;
		sd_notify(0, "READY=1");
		announce(d);
	}
	return 0;
}

/* Returns 0 when a signal stopped it, a negative errno on a fatal error. */
int daemon_run(struct daemon *d)
{
	struct loop l = { -1, -1, -1, -1, -1, -1 };
	int r = start(d);

	if (r < 0)
		return r;
	r = open_loop(d, &l);
	while (!r) {
		struct epoll_event evs[8];
		int tmo = intake_timeout_ms(&d->nl), ntmo = nf_timeout_ms(&d->nf);
		int n = epoll_wait(l.efd, evs, 8, tmo < 0 || (ntmo >= 0 && ntmo < tmo) ? ntmo : tmo);

		if (n < 0) {
			if (errno != EINTR)
				r = -errno;
			continue;
		}
		for (int i = 0; i < n && !r; i++)
			r = on_ready(d, &l, evs[i].data.fd);
		r = r ?: settle(d, n);
	}
	sync_set_synced(&d->sync, false);
	close_loop(&l);
	xdp_targets_close(d);
	return r < 0 ? r : 0;
}
