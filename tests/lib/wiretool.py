#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Senders for tests/netns/exact-wire.sh, for what lib.sh's sttool cannot send: UDP GSO
(UDP_SEGMENT), IP packets written into a tun device, and a TCP bulk transfer. Payloads carry lib.sh's tag ("STEERTAG" + 8 characters),
so its recorders in the sinks count them.

  gso FAM SRC DST DPORT SEG NSEG COUNT TAG DF WAIT
        COUNT sendmsg()s of NSEG segments of SEG bytes each (every segment tagged), DF set
        (DF=1) or clear; then WAIT s for ICMP errors quoting them. Prints
        "sent=N refused=R errors=SRC/TYPE/CODE:n,..." (refused: EMSGSIZE, the path MTU
        the sender learnt).
  tun IFNAME FAM SRC DST SPORT DPORT COUNT TAG GATE
        attaches to the tun device IFNAME (IFF_TUN, no packet info), which gives it carrier,
        touches GATE.open and waits (5 s at most) for GATE.go (the test's word that steerd has
        seen the carrier), writes COUNT UDP packets from SRC:SPORT to DST:DPORT with TTL/hop
        limit 64, waits a little and detaches. Prints "written=N".
  tcpserver ADDR PORT READY  until killed: per connection, counts the bytes until EOF and
        answers "N MSS\\n", MSS the largest segment it received (tcp_info's rcv_mss); touches
        READY when listening.
  tcpclient SRC DST PORT BYTES TIMEOUT
        sends BYTES bytes over one connection; prints "received=N rcv_mss=MSS" (what the server
        counted) or "received=-1 error=...".
"""
import errno
import fcntl
import os
import select
import socket
import struct
import sys
import time

from inet import csum

MAGIC = b"STEERTAG"
SOL_UDP = 17
UDP_SEGMENT = 103
IP_MTU_DISCOVER, IP_PMTUDISC_DO, IP_PMTUDISC_DONT = 10, 2, 0
IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO, IPV6_PMTUDISC_DONT = 23, 2, 0


def icmp_socket(fam):
    if fam == "4":
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)


def drain_errors(fam, r, tag, until, errors):
    """Counts ICMP errors quoting a packet tagged tag, into errors[SRC/TYPE/CODE]."""
    errtypes = (3, 4, 5, 11, 12) if fam == "4" else (1, 2, 3, 4)
    while True:
        left = until - time.monotonic()
        if left <= 0 or not select.select([r], [], [], left)[0]:
            return
        data, addr = r.recvfrom(65535)
        if fam == "4":
            data = data[(data[0] & 15) * 4:]
        if len(data) < 8 or data[0] not in errtypes or MAGIC + tag not in data:
            continue
        k = "%s/%d/%d" % (addr[0], data[0], data[1])
        errors[k] = errors.get(k, 0) + 1


def fmt_errors(errors):
    return ",".join("%s:%d" % kv for kv in sorted(errors.items())) or "none"


def gso(fam, src, dst, dport, seg, nseg, count, tag, df, wait):
    af = socket.AF_INET if fam == "4" else socket.AF_INET6
    tag = tag.encode()
    r = icmp_socket(fam)
    u = socket.socket(af, socket.SOCK_DGRAM)
    if fam == "4":
        u.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if df else IP_PMTUDISC_DONT)
        u.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 64)
    else:
        u.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO if df else IPV6_PMTUDISC_DONT)
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 64)
    u.bind((src, 0))
    u.setsockopt(SOL_UDP, UDP_SEGMENT, seg)
    one = (MAGIC + tag).ljust(seg, b".")
    sent = refused = 0
    errors = {}
    for _ in range(count):
        try:
            u.sendto(one * nseg, (dst, dport))
            sent += 1
        except OSError as e:
            if e.errno != errno.EMSGSIZE:
                raise
            refused += 1
        drain_errors(fam, r, tag, time.monotonic() + 0.05, errors)
    drain_errors(fam, r, tag, time.monotonic() + wait, errors)
    print("sent=%d refused=%d errors=%s" % (sent, refused, fmt_errors(errors)))
    return 0


def ip_udp(fam, src, dst, sport, dport, payload):
    """An IPv4 or IPv6 packet carrying UDP, TTL/hop limit 64, checksums right."""
    ulen = 8 + len(payload)
    if fam == "4":
        s, d = socket.inet_pton(socket.AF_INET, src), socket.inet_pton(socket.AF_INET, dst)
        ph = s + d + struct.pack("!BBH", 0, 17, ulen)
    else:
        s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
        ph = s + d + struct.pack("!I3xB", ulen, 17)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum(ph + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    if fam == "4":
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0x4000, 64, 17, 0, s, d)
        hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        return hdr + udp
    return struct.pack("!IHBB16s16s", 6 << 28, ulen, 17, 64, s, d) + udp


def tun(ifname, fam, src, dst, sport, dport, count, tag, gate):
    TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TUN | IFF_NO_PI))
    open(gate + ".open", "w").close()
    deadline = time.monotonic() + 5
    while not os.path.exists(gate + ".go") and time.monotonic() < deadline:
        time.sleep(0.01)
    payload = (MAGIC + tag.encode()).ljust(32, b".")
    n = 0
    for _ in range(count):
        n += os.write(fd, ip_udp(fam, src, dst, sport, dport, payload)) > 0
    time.sleep(0.2)
    os.close(fd)
    print("written=%d" % n)
    return 0


def tcpserver(addr, port, ready):
    af = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(af, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(4)
    open(ready, "w").close()
    parent = os.getppid()
    while True:
        if not select.select([s], [], [], 0.5)[0]:
            if os.getppid() != parent:
                return 0
            continue
        c, _ = s.accept()
        c.settimeout(20)
        n = 0
        try:
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                n += len(b)
            # tcp_info: 8 bytes of u8 fields, then rto, ato, snd_mss, rcv_mss.
            rcv_mss = struct.unpack("I", c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[20:24])[0]
            c.sendall(b"%d %d\n" % (n, rcv_mss))
        except OSError:
            pass
        c.close()


def tcpclient(src, dst, port, nbytes, timeout):
    af = socket.AF_INET6 if ":" in dst else socket.AF_INET
    c = socket.socket(af, socket.SOCK_STREAM)
    c.settimeout(timeout)
    try:
        c.bind((src, 0))
        c.connect((dst, port))
        c.sendall(b"x" * nbytes)
        c.shutdown(socket.SHUT_WR)
        got = b""
        while not got.endswith(b"\n"):
            b = c.recv(64)
            if not b:
                break
            got += b
        n, mss = (got.split() + [b"-1", b"-1"])[:2]
        print("received=%d rcv_mss=%d" % (int(n), int(mss)))
    except OSError as e:
        print("received=-1 error=%s" % (e.strerror or type(e).__name__).replace(" ", "_"))
    return 0


a = sys.argv
if a[1] == "gso":
    sys.exit(gso(a[2], a[3], a[4], int(a[5]), int(a[6]), int(a[7]), int(a[8]), a[9],
                 a[10] == "1", float(a[11])))
if a[1] == "tun":
    sys.exit(tun(a[2], a[3], a[4], a[5], int(a[6]), int(a[7]), int(a[8]), a[9], a[10]))
if a[1] == "tcpserver":
    sys.exit(tcpserver(a[2], int(a[3]), a[4]))
if a[1] == "tcpclient":
    sys.exit(tcpclient(a[2], a[3], int(a[4]), int(a[5]), float(a[6])))
sys.exit("usage: see the docstring")
