/* Where this process's network namespace came from, for errors that name the fix: `ip netns
 * exec` gives the process a mount namespace of its own with a fresh /sys, and so no
 * /sys/fs/bpf; `nsenter --net` changes the network namespace only. Shared by steerd and
 * steerctl. */
#ifndef STEER_NETNS_H
#define STEER_NETNS_H

#include <stddef.h>

enum netns_entry {
	NETNS_OTHER,		/* not a named namespace, or not entered by ip netns exec */
	NETNS_NAMED,		/* /run/netns/NAME; the mounts could not be read */
	NETNS_IP_NETNS_EXEC,	/* /run/netns/NAME, and /sys is the sysfs ip netns exec mounts */
};

/* How the process entered its network namespace; NAME in name (len bytes) unless
 * NETNS_OTHER. */
enum netns_entry netns_entry(char *name, size_t len);

/* Whether path lies on the /sys that `ip netns exec` replaces. */
int netns_path_on_sys(const char *path);

#endif
