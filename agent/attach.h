/* The BPF side of steerd: load the skeleton with its maps pinned (adopting pins that
 * exist), attach to interfaces with TCX (or clsact where TCX is missing), and remove it all
 * again for --cleanup. */
#ifndef STEER_ATTACH_H
#define STEER_ATTACH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "maps.h"
#include "sync.h"

/* How TC is attached; the XDP modes attach as AUTO does, with the XDP stage in front on
 * every ingress (native mode, or generic when asked for by name). */
enum attach_mode { ATTACH_AUTO, ATTACH_TCX, ATTACH_CLSACT, ATTACH_XDP, ATTACH_XDP_GENERIC };

struct steer_bpf;
struct bpf_object;
struct bpf_program;

struct attach {
	struct bpf_object *obj;	/* steer.bpf.o, or steer-ct.bpf.o (offload) */
	struct bpf_program *ingress, *egress, *xdp_prog;
	bool offload;		/* the object with conntrack offload is the one loaded */
	char pin_dir[PATH_MAX];
	enum attach_mode mode;
	bool tcx_missing;	/* learnt at the first attach in auto mode */
	bool xdp;		/* the XDP stage goes in front of every TC ingress */
	bool xdp_loaded;	/* its program is loaded: for those or for steer.yaml's xdp: */
	bool xdp_generic;	/* in generic (skb) mode: asked for by name only */
};

/* Map sizes by map (only the sizeable ones: map_defs[].limit); 0 keeps the built-in size. */
struct attach_limits {
	uint32_t size[MAP_COUNT];
};

/* Load the program (with conntrack offload when asked and the kernel allows; a->offload
 * says) with its maps pinned. */
int attach_open(struct attach *a, const char *pin_dir, enum attach_mode mode,
		const struct attach_limits *lim, bool offload, bool load_xdp);
/* The sizes the loaded maps really have. */
void attach_capacity(const struct attach *a, struct image_limits *lim);
/* Whether the steerd of pin_dir runs the XDP stage (its program is pinned). */
bool attach_xdp_pinned(const char *pin_dir);
/* Open the pinned maps of a running (or stopped) steerd, read-only use. */
int attach_open_pins(const char *pin_dir, struct sync_fds *fds);
void attach_pins_capacity(const struct sync_fds *fds, struct image_limits *lim);
void attach_obj_fds(const struct bpf_object *obj, struct sync_fds *fds);
void attach_skel_fds(const struct steer_bpf *skel, struct sync_fds *fds);
/* Attach the program at ingress (or egress) of one interface; replaces a previous steer
 * program there. At ingress the XDP stage goes in front too, with the XDP modes or xdp. */
int attach_iface(struct attach *a, int ifindex, const char *ifname, bool egress, bool xdp);
/* Put the XDP stage in front of an attached ingress, or take it away (steer.yaml's xdp:
 * changed on a reload). */
void attach_set_xdp(struct attach *a, int ifindex, const char *ifname, bool on);
/* Remove steer's XDP stage from an interface (by its pin). */
void attach_detach_xdp(struct attach *a, const char *ifname);
/* Remove steer from one hook of an interface (the interface may be gone: ifindex 0); at
 * ingress, its XDP stage too. */
int attach_detach(struct attach *a, int ifindex, const char *ifname, bool egress);
void attach_close(struct attach *a);	/* frees; pins and attachments stay */
/* Detach steer from every interface of this namespace and remove the pins. */
int attach_cleanup(const char *pin_dir);

#endif
