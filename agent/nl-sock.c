/* One netlink socket, set up as both intakes need it (see nl-sock.h). */
#include "nl-sock.h"

#include <errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

#ifndef SO_RCVBUFFORCE
#define SO_RCVBUFFORCE 33
#endif

static int connect_and_join(struct nl_conn *c, int protocol, const int *groups, size_t ngroups,
			    const char *who)
{
	int r;

	/* Events and dump replies share the socket: sequence checks would drop events. */
	nl_socket_disable_seq_check(c->sk);
	nl_socket_disable_auto_ack(c->sk);
	r = nl_connect(c->sk, protocol);
	if (r == -NLE_PROTO_MISMATCH)
		return -EPROTONOSUPPORT;
	if (r < 0) {
		log_event(LOG_ERR, LOG_EV_NETLINK_FAILED, NULL, "%s: cannot open a socket: %s", who,
			  nl_geterror(r));
		return -EIO;
	}
	c->fd = nl_socket_get_fd(c->sk);
	c->port = nl_socket_get_local_port(c->sk);
	for (size_t i = 0; i < ngroups; i++) {
		r = nl_socket_add_membership(c->sk, groups[i]);
		if (r < 0) {
			log_event(LOG_ERR, LOG_EV_NETLINK_FAILED, NULL, "%s: cannot join group %d: %s",
				  who, groups[i], nl_geterror(r));
			return -EIO;
		}
	}
	return 0;
}

int nl_conn_open(struct nl_conn *c, int protocol, const int *groups, size_t ngroups, int rcvbuf,
		 const char *who)
{
	socklen_t sl = sizeof(c->rcvbuf);
	int r;

	*c = (struct nl_conn){ .fd = -1, .buflen = 1 << 20, .who = who };
	c->buf = malloc(c->buflen);
	c->sk = nl_socket_alloc();
	r = c->buf && c->sk ? connect_and_join(c, protocol, groups, ngroups, who) : -ENOMEM;
	if (r < 0) {
		nl_conn_close(c);
		return r;
	}
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		log_warning("%s: cannot set the receive buffer to %d bytes: %m", who, rcvbuf);
	getsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &c->rcvbuf, &sl);
	nl_socket_set_nonblocking(c->sk);
	return 0;
}

void nl_conn_close(struct nl_conn *c)
{
	if (c->sk)
		nl_socket_free(c->sk);
	free(c->buf);
	c->sk = NULL;
	c->buf = NULL;
	c->fd = -1;
}

int nl_conn_dump(struct nl_conn *c, uint16_t type, uint8_t family, size_t hdrlen, uint32_t seq,
		 const char *what)
{
	struct {
		struct nlmsghdr h;
		uint8_t payload[16];
	} req = {};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	if (hdrlen > sizeof(req.payload))
		return -EINVAL;
	req.h.nlmsg_len = NLMSG_LENGTH(hdrlen);
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = seq;
	req.payload[0] = family;
	if (sendto(c->fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		int err = errno;

		log_event(LOG_ERR, LOG_EV_NETLINK_FAILED, &(struct log_ctx){ .error = err },
			  "%s: cannot request a dump of %s: %s", c->who, what, strerror(err));
		return -err;
	}
	return 0;
}

ssize_t nl_conn_recv(struct nl_conn *c, uint32_t *from)
{
	for (;;) {
		struct sockaddr_nl sa;
		struct iovec iov = { c->buf, c->buflen };
		struct msghdr msg = { .msg_name = &sa, .msg_namelen = sizeof(sa),
				      .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(c->fd, &msg, 0);
		int err = n < 0 ? errno : 0;

		if (err == EINTR)
			continue;
		if (err && err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS)
			log_event(LOG_ERR, LOG_EV_NETLINK_FAILED, &(struct log_ctx){ .error = err },
				  "%s: receive failed: %s", c->who, strerror(err));
		if (err)
			return err == EWOULDBLOCK ? -EAGAIN : -err;
		if (msg.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		*from = sa.nl_pid;
		return n;
	}
}
