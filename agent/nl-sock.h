/* The netlink socket both intakes read (rtnetlink and nfnetlink): events and dump replies on
 * one socket, so sequence checks and automatic acks are off; the groups joined before the
 * first dump, so nothing changes unseen in between. */
#ifndef STEER_NL_SOCK_H
#define STEER_NL_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct nl_sock;

struct nl_conn {
	struct nl_sock *sk;
	int fd;			/* -1 while closed */
	uint32_t port;
	void *buf;		/* what one receive reads into */
	size_t buflen;
	int rcvbuf;		/* the receive buffer the kernel granted */
	const char *who;	/* what the logs call it */
};

/* Opens a non-blocking socket of protocol, joined to groups, with a receive buffer of
 * rcvbuf bytes asked for (who names it in the logs). 0, -ENOMEM, -EPROTONOSUPPORT when the
 * kernel lacks the protocol (not logged: the caller says what that means), or -EIO. */
int nl_conn_open(struct nl_conn *c, int protocol, const int *groups, size_t ngroups, int rcvbuf,
		 const char *who);
void nl_conn_close(struct nl_conn *c);
/* Asks the kernel for a dump of type: a request whose header of hdrlen bytes (at most 16)
 * is family and then zeros, as both rtnetlink's and nfnetlink's requests are. 0, or
 * negative errno, logged (what names the dump). */
int nl_conn_dump(struct nl_conn *c, uint16_t type, uint8_t family, size_t hdrlen, uint32_t seq,
		 const char *what);
/* One receive into c->buf: its length, the sender's port in *from; -EAGAIN when the socket
 * is empty, -ENOBUFS when events were lost, -EMSGSIZE for a message cut short, or another
 * negative errno, logged. */
ssize_t nl_conn_recv(struct nl_conn *c, uint32_t *from);

#endif
