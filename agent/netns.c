/* Finds the name `ip netns` gave the current network namespace and whether the process
 * entered it through `ip netns exec`, so that a missing /sys/fs/bpf is explained with the
 * command that avoids it. Reads /proc/self and /run/netns only. */
#include "netns.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define NETNS_RUN_DIR "/run/netns"	/* where ip-netns(8) bind-mounts named namespaces */

/* The fstype and source of the mount on /sys that is visible (the last one listed), from
 * /proc/self/mountinfo. Returns 0, or -1 when it cannot be read or nothing is there. */
static int sys_mount(char *fstype, char *source, size_t len)
{
	char line[4096], mnt[4096], fs[256], src[256];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int found = -1;

	if (!f)
		return -1;
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER" */
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 || strcmp(mnt, "/sys") ||
		    sscanf(sep + 3, "%255s %255s", fs, src) != 2)
			continue;
		snprintf(fstype, len, "%s", fs);
		snprintf(source, len, "%s", src);
		found = 0;
	}
	fclose(f);
	return found;
}

enum netns_entry netns_entry(char *name, size_t len)
{
	char path[300], fstype[256], source[256];
	struct stat self, st;
	bool named = false;
	struct dirent *de;
	DIR *d;

	if (stat("/proc/self/ns/net", &self) < 0)
		return NETNS_OTHER;
	d = opendir(NETNS_RUN_DIR);
	if (!d)
		return NETNS_OTHER;
	/* Each name is a bind mount of a namespace file, whose inode is the namespace's. */
	while (!named && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", de->d_name);
		named = stat(path, &st) == 0 && st.st_dev == self.st_dev && st.st_ino == self.st_ino;
		if (named)
			snprintf(name, len, "%s", de->d_name);
	}
	closedir(d);
	if (!named)
		return NETNS_OTHER;
	/* ip netns exec unshares the mount namespace and mounts a sysfs of the network
	 * namespace on /sys, giving the namespace's name as the mount's source (iproute2's
	 * netns_switch()); nsenter --net leaves the mounts as they were. */
	if (sys_mount(fstype, source, sizeof(fstype)) < 0)
		return NETNS_NAMED;
	return !strcmp(fstype, "sysfs") && !strcmp(source, name) ? NETNS_IP_NETNS_EXEC
								  : NETNS_OTHER;
}

int netns_path_on_sys(const char *path)
{
	return !strcmp(path, "/sys") || !strncmp(path, "/sys/", 5);
}
