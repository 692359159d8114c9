/* The netlink socket both intakes read (rtnetlink and nfnetlink): events and dump replies on
 * one socket, so sequence checks and automatic acks are off; the groups joined before the
 * first dump, so nothing changes unseen in between. */
#ifndef STEER_NL_SOCK_H
#define STEER_NL_SOCK_H

#include <stddef.h>
#include <stdint.h>

struct nl_sock;

struct nl_conn {
	struct nl_sock *sk;
	int fd;			/* -1 while closed */
	uint32_t port;
	void *buf;		/* what one receive reads into */
	size_t buflen;
	int rcvbuf;		/* the receive buffer the kernel granted */
};

/* Opens a non-blocking socket of protocol, joined to groups, with a receive buffer of
 * rcvbuf bytes asked for (who names it in the logs). 0, -ENOMEM, -EPROTONOSUPPORT when the
 * kernel lacks the protocol (not logged: the caller says what that means), or -EIO. */
int nl_conn_open(struct nl_conn *c, int protocol, const int *groups, size_t ngroups, int rcvbuf,
		 const char *who);
void nl_conn_close(struct nl_conn *c);

#endif
