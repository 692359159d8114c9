/* iptables-legacy (x_tables): the tables this network namespace has, read with the same
 * getsockopt calls iptables-legacy-save makes. Only the built-in chains matter: how many
 * rules precede each one's policy, and the policy. x_tables sends no events, so the daemon
 * reads this on a poll (NF_LEGACY_POLL). */
#include "nf.h"

#include <errno.h>
#include <netinet/in.h>		/* before the uapi headers, which then skip what it defines */
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


/* What differs between the IPv4 and IPv6 flavours of the same interface. */
struct xt_flavour {
	uint8_t family;		/* NF_FAMILY_* */
	int af, level, get_info, get_entries;
	const char *names;	/* the tables this namespace has instantiated */
	size_t target_off, next_off;	/* of the u16 offsets inside an entry */
};

static const struct xt_flavour flavours[] = {
	{ NF_FAMILY_IPV4, AF_INET, SOL_IP, IPT_SO_GET_INFO, IPT_SO_GET_ENTRIES,
	  "/proc/net/ip_tables_names", offsetof(struct ipt_entry, target_offset),
	  offsetof(struct ipt_entry, next_offset) },
	{ NF_FAMILY_IPV6, AF_INET6, SOL_IPV6, IP6T_SO_GET_INFO, IP6T_SO_GET_ENTRIES,
	  "/proc/net/ip6_tables_names", offsetof(struct ip6t_entry, target_offset),
	  offsetof(struct ip6t_entry, next_offset) },
};

_Static_assert(sizeof(struct ipt_getinfo) == sizeof(struct ip6t_getinfo), "getinfo");
_Static_assert(offsetof(struct ipt_get_entries, entrytable) ==
	       offsetof(struct ip6t_get_entries, entrytable), "get_entries");

static uint16_t u16_at(const char *base, size_t off)
{
	uint16_t v;

	memcpy(&v, base + off, sizeof(v));
	return v;
}

/* The built-in chains of one table, appended to *out. 0, or negative errno. */
static int read_table(int fd, const struct xt_flavour *f, const char *name,
		      struct model_nf_legacy **out, size_t *n)
{
	struct ipt_getinfo info = {};
	struct ipt_get_entries *ent = NULL;
	size_t nlen = strlen(name);
	socklen_t len;
	int r = -EAGAIN;

	if (nlen >= XT_TABLE_MAXNAMELEN)
		return -EINVAL;

	/* The table can be replaced between the two calls; its size then no longer fits. */
	for (int attempt = 0; attempt < 3 && r == -EAGAIN; attempt++) {
		memcpy(info.name, name, nlen);
		len = sizeof(info);
		if (getsockopt(fd, f->level, f->get_info, &info, &len) < 0)
			return -errno;
		free(ent);
		ent = calloc(1, sizeof(*ent) + info.size);
		if (!ent)
			return -ENOMEM;
		memcpy(ent->name, name, nlen);
		ent->size = info.size;
		len = (socklen_t)(sizeof(*ent) + info.size);
		r = getsockopt(fd, f->level, f->get_entries, ent, &len) < 0 ? -errno : 0;
	}
	if (r < 0)
		goto out;
	for (unsigned hook = 0; hook < NF_INET_NUMHOOKS; hook++) {
		const char *base = (const char *)ent->entrytable;
		struct model_nf_legacy *c, *grown;
		unsigned off = info.hook_entry[hook];
		uint32_t rules = 0;

		if (!(info.valid_hooks & (1u << hook)))
			continue;
		/* Rules run from the hook's entry to its underflow, the policy. */
		while (off < info.underflow[hook] && off < info.size) {
			uint16_t next = u16_at(base + off, f->next_off);

			if (!next)
				break;
			rules++;
			off += next;
		}
		off = info.underflow[hook];
		if (off + f->target_off + sizeof(uint16_t) > info.size) {
			r = -EINVAL;
			goto out;
		}
		grown = realloc(*out, (*n + 1) * sizeof(**out));
		if (!grown) {
			r = -ENOMEM;
			goto out;
		}
		*out = grown;
		c = &(*out)[(*n)++];
		*c = (struct model_nf_legacy){ .family = f->family, .hook = (uint8_t)hook, .rules = rules,
					       .policy = MODEL_NF_ACCEPT, .nat = !strcmp(name, "nat") };
		memcpy(c->table, name, nlen);
		{
			/* The policy is the standard target's verdict: -NF_ACCEPT - 1, ... */
			size_t toff = off + u16_at(base + off, f->target_off);
			struct xt_standard_target st;

			if (toff + sizeof(st) <= info.size) {
				memcpy(&st, base + toff, sizeof(st));
				if (st.verdict < 0)
					c->policy = (uint8_t)(-st.verdict - 1);
			}
		}
	}
out:
	free(ent);
	return r;
}

static int read_flavour(const struct xt_flavour *f, struct model_nf_legacy **out, size_t *n)
{
	char name[XT_TABLE_MAXNAMELEN + 2];
	FILE *names = fopen(f->names, "re");
	int fd, r = 0;

	/* No list: x_tables is not in this kernel, or no table was ever made here. Only
	 * tables listed there are read: asking for another would create it. */
	if (!names)
		return 0;
	fd = socket(f->af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fclose(names);
		return -errno;
	}
	while (r == 0 && fgets(name, sizeof(name), names)) {
		name[strcspn(name, "\n")] = '\0';
		if (name[0])
			r = read_table(fd, f, name, out, n);
		/* Removed between the list and the read: it has nothing then. */
		if (r == -ENOENT)
			r = 0;
	}
	close(fd);
	fclose(names);
	return r;
}

int nf_legacy_read(struct model *m)
{
	struct model_nf_legacy *v = NULL;
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < sizeof(flavours) / sizeof(flavours[0]) && r == 0; i++)
		r = read_flavour(&flavours[i], &v, &n);
	if (r < 0) {
		free(v);
		m->nf.legacy_known = false;
		return r;
	}
	return model_nf_set_legacy(&m->nf, v, n) ? 1 : 0;
}
