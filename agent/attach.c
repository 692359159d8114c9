/* Skeleton lifecycle (open, pin paths, load, attach) and the pins under the pin directory:
 * one per map, "prog" for the program, "tcx-ingress-IFNAME" per TCX link, "xdp-IFNAME" per
 * XDP link. */
#include "attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "log.h"
#include "netns.h"
#include "steer.skel.h"
#include "steer-ct.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
/* The Debian 6.1 uapi headers predate TCX (Linux 6.6); the kernel's numbers are fixed ABI. */
#define STEER_BPF_TCX_INGRESS 46
#define STEER_BPF_TCX_EGRESS  47

#define TC_HANDLE 0x5e
#define TC_PRIO   1

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int check_bpffs(const char *dir)
{
	char parent[PATH_MAX], *slash;
	struct statfs sfs;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (statfs(parent, &sfs) < 0 || sfs.f_type != BPF_FS_MAGIC) {
		char ns[256];
		enum netns_entry e = netns_path_on_sys(parent) ? netns_entry(ns, sizeof(ns))
							       : NETNS_OTHER;

		/* Mounting one there would be the wrong fix: the pins would vanish with the
		 * mount namespace of `ip netns exec`. */
		if (e == NETNS_IP_NETNS_EXEC)
			log_event(LOG_ERR, LOG_EV_PROGRAM_FAILED, NULL,
				  "%s is not on a BPF filesystem: `ip netns exec %s` mounts a /sys of "
				  "its own, without the host's BPF filesystem (pins made there would "
				  "vanish with it); run steerd with `nsenter --net=/run/netns/%s` "
				  "instead", parent, ns, ns);
		else if (e == NETNS_NAMED)
			log_event(LOG_ERR, LOG_EV_PROGRAM_FAILED, NULL,
				  "%s is not on a BPF filesystem; if this runs under `ip netns exec "
				  "%s`, which mounts a /sys of its own, use `nsenter "
				  "--net=/run/netns/%s` instead; otherwise mount one with `mount -t "
				  "bpf bpf %s`", parent, ns, ns, parent);
		else
			log_event(LOG_ERR, LOG_EV_PROGRAM_FAILED, NULL,
				  "%s is not on a BPF filesystem; mount one with `mount -t bpf bpf "
				  "%s`", parent, parent);
		return -ENOTSUP;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_event(LOG_ERR, LOG_EV_PROGRAM_FAILED, &(struct log_ctx){ .error = errno },
			  "cannot create pin directory %s: %m", dir);
		return -errno;
	}
	return 0;
}

/* A pinned map whose layout differs from this build's (an upgrade changed abi.h) cannot be
 * reused: libbpf would refuse to load. Replace it, and say so. */
static void drop_incompatible_pin(struct bpf_map *map, const char *path)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
	    (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
	     info.value_size != bpf_map__value_size(map) ||
	     info.max_entries != bpf_map__max_entries(map) ||
	     info.map_flags != bpf_map__map_flags(map))) {
		log_event(LOG_NOTICE, LOG_EV_PIN_REPLACED, NULL,
			  "pinned map %s has another layout (an older steer?); replacing it", path);
		unlink(path);
	}
	close(fd);
}

/* The registry's row of a map in the object, or -1 (a map no row names). */
static int map_row(const char *name)
{
	for (int i = 0; i < MAP_COUNT; i++)
		if (!strcmp(map_defs[i].name, name))
			return i;
	return -1;
}

/* Its size from the limits, where they give one for it (or for the map it follows). */
static void size_map(struct bpf_map *map, const struct attach_limits *lim)
{
	int i = map_row(bpf_map__name(map));
	uint32_t n;

	if (!lim || i < 0 || !map_defs[i].limit)
		return;
	n = lim->size[map_defs[i].limit_follows ? map_by_limit(map_defs[i].limit) : i];
	while (map_defs[i].pow2 && (n & (n - 1)))
		n &= n - 1;
	if (n)
		bpf_map__set_max_entries(map, n);
}

/* Opens one of the two embedded objects, its maps sized and pinned (adopting pins that
 * exist); 0 or negative errno, a->obj set. */
static int open_object(struct attach *a, bool ct, const struct attach_limits *lim)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "steer_bpf");
	char path[PATH_MAX];
	struct bpf_map *map;
	const void *elf;
	size_t sz;
	int r;

	elf = ct ? steer_ct_bpf__elf_bytes(&sz) : steer_bpf__elf_bytes(&sz);
	a->obj = bpf_object__open_mem(elf, sz, &opts);
	if (!a->obj) {
		a->obj = NULL;
		return -errno;
	}
	bpf_object__for_each_map(map, a->obj) {
		if (bpf_map__is_internal(map))	/* .rodata, .kconfig: per load, never shared */
			continue;
		size_map(map, lim);
		r = pin_path(path, sizeof(path), a->pin_dir, bpf_map__name(map));
		if (r < 0)
			return r;
		/* The XDP stage's device map is made anew at every start and filled before the
		 * XDP link gets the new program: the kernel marks a device map read-only to
		 * programs, which libbpf 1.1 takes for another layout and will not reuse. */
		if (bpf_map__type(map) == BPF_MAP_TYPE_DEVMAP_HASH) {
			unlink(path);
			continue;
		}
		drop_incompatible_pin(map, path);
		r = bpf_map__set_pin_path(map, path);
		if (r < 0)
			return r;
	}
	a->ingress = bpf_object__find_program_by_name(a->obj, "steer_ingress");
	a->egress = bpf_object__find_program_by_name(a->obj, "steer_egress");
	a->xdp_prog = bpf_object__find_program_by_name(a->obj, "steer_xdp");
	if (!a->ingress || !a->egress || !a->xdp_prog)
		return -ENOENT;
	/* Loaded only for the XDP stage: an older kernel without a helper it calls keeps TC. */
	bpf_program__set_autoload(a->xdp_prog, a->xdp_loaded);
	return bpf_object__load(a->obj);
}

static void close_object(struct attach *a)
{
	bpf_object__close(a->obj);
	a->obj = NULL;
	a->ingress = a->egress = a->xdp_prog = NULL;
}

int attach_open(struct attach *a, const char *pin_dir, enum attach_mode mode,
		const struct attach_limits *lim, bool offload, bool load_xdp)
{
	char path[PATH_MAX];
	int r;

	*a = (struct attach){ .mode = mode, .xdp = mode == ATTACH_XDP || mode == ATTACH_XDP_GENERIC,
			      .xdp_generic = mode == ATTACH_XDP_GENERIC };
	if (a->xdp)
		a->mode = ATTACH_AUTO;
	a->xdp_loaded = a->xdp || load_xdp;
	snprintf(a->pin_dir, sizeof(a->pin_dir), "%s", pin_dir);
	r = check_bpffs(pin_dir);
	if (r < 0)
		return r;

	/* Conntrack offload needs the kernel's BTF and its conntrack kfuncs, and CAP_PERFMON:
	 * it reads the connection's status, mark and NAT from the kernel's own struct, which
	 * the verifier allows only with it. Without them the plain program respects the
	 * ruleset instead. */
	if (offload) {
		r = open_object(a, true, lim);
		if (r < 0) {
			log_event(LOG_WARNING, LOG_EV_PROGRAM_FAILED, &(struct log_ctx){ .error = r },
				  "netfilter: offload: the program with conntrack offload does not load "
				  "here (%s; it needs the kernel's BTF, conntrack's kfuncs and "
				  "CAP_PERFMON); netfilter is respected instead", strerror(-r));
			close_object(a);
		} else {
			a->offload = true;
		}
	}
	if (!a->obj) {
		r = open_object(a, false, lim);
		if (r < 0) {
			log_event(LOG_ERR, LOG_EV_PROGRAM_FAILED, &(struct log_ctx){ .error = r },
				  "cannot load the BPF program: %s", strerror(-r));
			goto fail;
		}
	}
	for (int k = 0; k < 3; k++) {
		static const char *const pins[] = { STEER_PIN_PROG, STEER_PIN_PROG_EGRESS, STEER_PIN_PROG_XDP };
		struct bpf_program *p = k == 0 ? a->ingress : k == 1 ? a->egress : a->xdp_prog;

		r = pin_path(path, sizeof(path), pin_dir, pins[k]);
		if (r < 0)
			goto fail;
		unlink(path);
		if (k == 2 && !a->xdp_loaded)
			continue;
		r = bpf_program__pin(p, path);
		if (r < 0) {
			log_event(LOG_ERR, LOG_EV_PROGRAM_FAILED, &(struct log_ctx){ .error = r },
				  "cannot pin the program at %s: %s", path, strerror(-r));
			goto fail;
		}
	}
	log_event(LOG_INFO, LOG_EV_PROGRAM_LOADED, NULL, "BPF program loaded%s; maps pinned under %s",
		  a->offload ? " (with conntrack offload)" : "", pin_dir);
	return 0;
fail:
	close_object(a);
	return r;
}

/* The fd of every map of the registry, by name, from any loaded object of steer's; -1 for
 * a map the object lacks. */
void attach_obj_fds(const struct bpf_object *obj, struct sync_fds *fds)
{
	for (int i = 0; i < MAP_COUNT; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, map_defs[i].name);

		fds->fd[i] = m ? bpf_map__fd(m) : -1;
	}
}

void attach_skel_fds(const struct steer_bpf *skel, struct sync_fds *fds)
{
	attach_obj_fds(skel->obj, fds);
}

static const char *dir_name(bool egress)
{
	return egress ? "egress" : "ingress";
}

static int tcx_pin_path(const struct attach *a, const char *ifname, bool egress, char *path)
{
	char name[64];

	snprintf(name, sizeof(name), "%s%s", egress ? STEER_PIN_TCX_EGRESS : STEER_PIN_TCX_INGRESS, ifname);
	return pin_path(path, PATH_MAX, a->pin_dir, name);
}

/* A link pinned by an earlier steerd: its program swapped in place, without a gap (0). A
 * pin whose device is gone (ENOLINK) is removed, to start over (-1). */
static int swap_pinned_link(const char *path, int prog)
{
	int fd = bpf_obj_get(path), r;

	if (fd < 0)
		return -1;
	r = bpf_link_update(fd, prog, NULL);
	close(fd);
	if (r)
		unlink(path);
	return r ? -1 : 0;
}

static int attach_tcx(struct attach *a, int ifindex, const char *ifname, bool egress)
{
	int prog = bpf_program__fd(egress ? a->egress : a->ingress);
	char path[PATH_MAX];
	int fd, r;

	r = tcx_pin_path(a, ifname, egress, path);
	if (r < 0)
		return r;
	if (!swap_pinned_link(path, prog)) {
		log_event(LOG_INFO, LOG_EV_ATTACHED, &(struct log_ctx){ .ifname = ifname },
			  "%s: replaced the program on the pinned TCX %s link", ifname, dir_name(egress));
		return 0;
	}
	fd = bpf_link_create(prog, ifindex, egress ? STEER_BPF_TCX_EGRESS : STEER_BPF_TCX_INGRESS, NULL);
	if (fd < 0)
		return -errno;
	r = bpf_obj_pin(fd, path);
	if (r < 0) {
		r = -errno;
		log_event(LOG_ERR, LOG_EV_ATTACH_FAILED, &(struct log_ctx){ .ifname = ifname, .error = r },
			  "%s: cannot pin the TCX link at %s: %s", ifname, path, strerror(-r));
	} else {
		log_event(LOG_INFO, LOG_EV_ATTACHED, &(struct log_ctx){ .ifname = ifname },
			  "%s: attached at %s with TCX", ifname, dir_name(egress));
	}
	close(fd);
	return r;
}

static int attach_clsact(struct attach *a, int ifindex, const char *ifname, bool egress)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO,
			    .prog_fd = bpf_program__fd(egress ? a->egress : a->ingress),
			    .flags = BPF_TC_F_REPLACE);
	int r = bpf_tc_hook_create(&hook);

	if (r < 0 && r != -EEXIST) {
		log_event(LOG_ERR, LOG_EV_ATTACH_FAILED, &(struct log_ctx){ .ifname = ifname, .error = r },
			  "%s: cannot create the clsact qdisc: %s", ifname, strerror(-r));
		return r;
	}
	r = bpf_tc_attach(&hook, &opts);
	if (r < 0) {
		log_event(LOG_ERR, LOG_EV_ATTACH_FAILED, &(struct log_ctx){ .ifname = ifname, .error = r },
			  "%s: cannot attach the tc filter: %s", ifname, strerror(-r));
		return r;
	}
	log_event(LOG_INFO, LOG_EV_ATTACHED, &(struct log_ctx){ .ifname = ifname },
		  "%s: attached at %s with clsact", ifname, dir_name(egress));
	return 0;
}

static int xdp_pin_path(const struct attach *a, const char *ifname, char *path)
{
	char name[64];

	snprintf(name, sizeof(name), "%s%s", STEER_PIN_XDP, ifname);
	return pin_path(path, PATH_MAX, a->pin_dir, name);
}

/* The XDP stage in front of TC ingress, as a pinned link: a later steerd swaps the program
 * in place. Native mode only unless generic was asked for: generic XDP runs on the skb the
 * kernel already built, which is slower than TC alone. */
static int attach_xdp(struct attach *a, int ifindex, const char *ifname)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts,
		    .flags = a->xdp_generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
	int prog = bpf_program__fd(a->xdp_prog), fd, r;
	char path[PATH_MAX];

	if (!a->xdp_loaded) {
		log_event(LOG_WARNING, LOG_EV_ATTACH_FAILED, &(struct log_ctx){ .ifname = ifname },
			  "%s: xdp: the XDP program was not loaded at start (no interface wanted it "
			  "then); restart steerd to put the XDP stage in front", ifname);
		return -EOPNOTSUPP;
	}
	r = xdp_pin_path(a, ifname, path);
	if (r < 0)
		return r;
	if (!swap_pinned_link(path, prog)) {
		log_event(LOG_INFO, LOG_EV_ATTACHED, &(struct log_ctx){ .ifname = ifname },
			  "%s: replaced the program on the pinned XDP link", ifname);
		return 0;
	}
	fd = bpf_link_create(prog, ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		r = -errno;
		log_event(LOG_ERR, LOG_EV_ATTACH_FAILED, &(struct log_ctx){ .ifname = ifname, .error = r },
			  "%s: cannot attach XDP in %s mode: %s%s; TC alone forwards there", ifname,
			  a->xdp_generic ? "generic" : "native", strerror(-r),
			  a->xdp_generic ? "" : " (its driver may lack native XDP; --attach-mode "
						"xdp-generic forces the slower generic mode)");
		return r;
	}
	r = bpf_obj_pin(fd, path) < 0 ? -errno : 0;
	if (r < 0)
		log_event(LOG_ERR, LOG_EV_ATTACH_FAILED, &(struct log_ctx){ .ifname = ifname, .error = r },
			  "%s: cannot pin the XDP link at %s: %s", ifname, path, strerror(-r));
	else
		log_event(LOG_INFO, LOG_EV_ATTACHED, &(struct log_ctx){ .ifname = ifname },
			  "%s: XDP stage attached in %s mode", ifname, a->xdp_generic ? "generic" : "native");
	close(fd);
	return r;
}

void attach_detach_xdp(struct attach *a, const char *ifname)
{
	char path[PATH_MAX];

	/* The pin holds the link's last reference: removing it detaches. */
	if (xdp_pin_path(a, ifname, path) == 0 && unlink(path) == 0)
		log_event(LOG_INFO, LOG_EV_DETACHED, &(struct log_ctx){ .ifname = ifname },
			  "%s: XDP stage detached", ifname);
}

static int attach_tc(struct attach *a, int ifindex, const char *ifname, bool egress)
{
	int r;

	if (a->mode == ATTACH_CLSACT || (a->mode == ATTACH_AUTO && a->tcx_missing))
		return attach_clsact(a, ifindex, ifname, egress);
	r = attach_tcx(a, ifindex, ifname, egress);
	if (r == -EINVAL && a->mode == ATTACH_AUTO) {
		/* Kernels before 6.6 do not know the attach type. */
		log_notice("TCX is not available on this kernel; using clsact");
		a->tcx_missing = true;
		return attach_clsact(a, ifindex, ifname, egress);
	}
	if (r < 0)
		log_event(LOG_ERR, LOG_EV_ATTACH_FAILED, &(struct log_ctx){ .ifname = ifname, .error = r },
			  "%s: cannot attach with TCX: %s", ifname, strerror(-r));
	return r;
}

int attach_iface(struct attach *a, int ifindex, const char *ifname, bool egress, bool xdp)
{
	int r = attach_tc(a, ifindex, ifname, egress);

	/* TC behind it decides whatever XDP passes on: XDP goes in front only once TC is
	 * there, and TC alone still forwards where XDP cannot attach. An XDP stage an earlier
	 * steerd left where none is wanted now goes at once, not after the first sync. */
	if (!r && !egress && (a->xdp || xdp))
		attach_xdp(a, ifindex, ifname);
	else if (!r && !egress)
		attach_detach_xdp(a, ifname);
	return r;
}

void attach_set_xdp(struct attach *a, int ifindex, const char *ifname, bool on)
{
	if (a->xdp)
		return;		/* every ingress has it */
	if (on)
		attach_xdp(a, ifindex, ifname);
	else
		attach_detach_xdp(a, ifname);
}

int attach_detach(struct attach *a, int ifindex, const char *ifname, bool egress)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO);
	char path[PATH_MAX];
	int r = 0;

	if (!egress)
		attach_detach_xdp(a, ifname);
	/* TCX: the pin holds the link's last reference, so removing it detaches. */
	if (tcx_pin_path(a, ifname, egress, path) == 0 && unlink(path) < 0 && errno != ENOENT)
		r = -errno;
	if (ifindex > 0 && (a->mode == ATTACH_CLSACT || a->tcx_missing)) {
		libbpf_print_fn_t old = libbpf_set_print(NULL);

		if (!bpf_tc_query(&hook, &opts)) {
			opts.prog_id = 0;
			opts.prog_fd = 0;
			opts.flags = 0;
			r = bpf_tc_detach(&hook, &opts);
		}
		libbpf_set_print(old);
	}
	log_event(r < 0 ? LOG_WARNING : LOG_INFO, LOG_EV_DETACHED, &(struct log_ctx){ .ifname = ifname },
		  "%s: detached from %s%s%s", ifname, dir_name(egress), r < 0 ? ": " : "",
		  r < 0 ? strerror(-r) : "");
	return r;
}

void attach_capacity(const struct attach *a, struct image_limits *lim)
{
	struct sync_fds fds;

	attach_obj_fds(a->obj, &fds);
	attach_pins_capacity(&fds, lim);
}

static size_t max_entries_of(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

void attach_pins_capacity(const struct sync_fds *fds, struct image_limits *lim)
{
	for (int i = 0; i < MAP_APPLIED; i++)
		lim->n[i] = max_entries_of(fds->fd[i]);
	/* Content ids start at 1 (0 means "none"): one slot fewer. */
	for (int i = 0; i < MAP_APPLIED; i++)
		if (map_defs[i].kind == MAP_CONTENT && lim->n[i])
			lim->n[i]--;
}

bool attach_xdp_pinned(const char *pin_dir)
{
	char path[PATH_MAX];

	return pin_path(path, sizeof(path), pin_dir, STEER_PIN_PROG_XDP) == 0 && access(path, F_OK) == 0;
}

int attach_open_pins(const char *pin_dir, struct sync_fds *fds)
{
	char path[PATH_MAX];

	for (int i = 0; i < MAP_COUNT; i++) {
		int fd = -1;

		if (map_defs[i].pinned_verify &&
		    (pin_path(path, sizeof(path), pin_dir, map_defs[i].name) < 0 ||
		     (fd = bpf_obj_get(path)) < 0)) {
			log_err("cannot open %s/%s: %m", pin_dir, map_defs[i].name);
			return -errno;
		}
		fds->fd[i] = fd;
	}
	return 0;
}

void attach_close(struct attach *a)
{
	close_object(a);
}

/* clsact filters are not pinned: find ours on every interface by the program's id. */
static void detach_clsact_all(__u32 prog_id, bool egress)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	/* Interfaces without a clsact qdisc make libbpf complain loudly; that is the norm. */
	libbpf_print_fn_t old = libbpf_set_print(NULL);

	for (i = ifs; i && i->if_index; i++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)i->if_index,
				    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO);

		if (bpf_tc_query(&hook, &opts) || opts.prog_id != prog_id)
			continue;
		opts.prog_id = 0;
		opts.prog_fd = 0;
		opts.flags = 0;
		if (!bpf_tc_detach(&hook, &opts))
			log_event(LOG_INFO, LOG_EV_DETACHED, &(struct log_ctx){ .ifname = i->if_name },
				  "%s: detached the clsact filter", i->if_name);
	}
	if (ifs)
		if_freenameindex(ifs);
	libbpf_set_print(old);
}

int attach_cleanup(const char *pin_dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int fd;

	for (int egress = 0; egress < 2; egress++) {
		if (pin_path(path, sizeof(path), pin_dir, egress ? STEER_PIN_PROG_EGRESS : STEER_PIN_PROG) == 0 &&
		    (fd = bpf_obj_get(path)) >= 0) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);

			if (!bpf_obj_get_info_by_fd(fd, &info, &len))
				detach_clsact_all(info.id, egress);
			close(fd);
		}
	}
	d = opendir(pin_dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		log_event(LOG_ERR, LOG_EV_CLEANUP, &(struct log_ctx){ .error = errno },
			  "cannot open %s: %m", pin_dir);
		return -errno;
	}
	/* Unpinning a TCX link detaches it: the pin held the last reference. */
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || pin_path(path, sizeof(path), pin_dir, de->d_name) < 0)
			continue;
		if (unlink(path) < 0)
			log_event(LOG_WARNING, LOG_EV_CLEANUP, &(struct log_ctx){ .error = errno },
				  "cannot remove %s: %m", path);
	}
	closedir(d);
	if (rmdir(pin_dir) < 0 && errno != ENOENT) {
		log_event(LOG_ERR, LOG_EV_CLEANUP, &(struct log_ctx){ .error = errno },
			  "cannot remove %s: %m", pin_dir);
		return -errno;
	}
	log_event(LOG_INFO, LOG_EV_CLEANUP, NULL,
		  "removed steer's program, attachments and pins under %s", pin_dir);
	return 0;
}
