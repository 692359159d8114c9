#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# lib.sh's packet tool (st_write_tool copies it, with inet.py, into $ST_TMP):
# ping FAM SRC DST COUNT INTERVAL TTL WAIT -> prints "sent received ttl:n,..." ; exit 1 if any lost
# sniff FAM DST OUTFILE                -> until SIGTERM, writes "count ttl:n,..." of echo requests
# send FAM PROTO SRC DST TOS SPORTS DPORT COUNT TAG WAIT WANT
#                                      -> tagged udp/tcp(SYN)/icmp(echo) packets, COUNT per source
#                                         port of SPORTS ("P" or "P-Q"); prints
#                                         "sent=N replies=R errors=SRC/TYPE/CODE:n,..."
# capture IFNAME OUTFILE               -> until SIGTERM, appends "TAG PROTO TTL SPORT DPORT" for
#                                         every tagged packet received on IFNAME
import os, select, signal, socket, struct, sys, time
from inet import csum

def hist(ttls):
    h = {}
    for t in ttls:
        h[t] = h.get(t, 0) + 1
    return ",".join("%d:%d" % kv for kv in sorted(h.items())) or "none"

def open_raw(fam):
    if fam == "4":
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    return s

def recv(fam, s):
    """-> (icmp type, id, seq, ttl, destination address) of one packet."""
    if fam == "4":
        data = s.recv(65535)
        ihl = (data[0] & 15) * 4
        t, _, _, ident, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        return t, ident, seq, data[8], socket.inet_ntop(socket.AF_INET, data[16:20])
    data, anc, _, _ = s.recvmsg(65535, 256)
    ttl, dst = -1, ""
    for lvl, typ, val in anc:
        if lvl == socket.IPPROTO_IPV6 and typ == socket.IPV6_HOPLIMIT:
            ttl = struct.unpack("i", val[:4])[0]
        elif lvl == socket.IPPROTO_IPV6 and typ == socket.IPV6_PKTINFO:
            dst = socket.inet_ntop(socket.AF_INET6, val[:16])
    t, _, _, ident, seq = struct.unpack("!BBHHH", data[:8])
    return t, ident, seq, ttl, dst

def ping(fam, src, dst, count, interval, ttl, wait):
    s = open_raw(fam)
    if fam == "4":
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        req, rep = 8, 0
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        req, rep = 128, 129
    s.bind((src, 0))
    ident = os.getpid() & 0xFFFF
    got, ttls = set(), []
    payload = b"steer-test".ljust(56, b".")
    def drain(until):
        while True:
            left = until - time.monotonic()
            if left <= 0 or len(got) == count:
                return
            if not select.select([s], [], [], left)[0]:
                return
            t, i, q, h, _ = recv(fam, s)
            if t == rep and i == ident and q < count and q not in got:
                got.add(q)
                ttls.append(h)
    for seq in range(count):
        hdr = struct.pack("!BBHHH", req, 0, 0, ident, seq)
        if fam == "4":
            hdr = struct.pack("!BBHHH", req, 0, csum(hdr + payload), ident, seq)
        s.sendto(hdr + payload, (dst, 0))  # the kernel sums ICMPv6 itself
        drain(time.monotonic() + interval)
    drain(time.monotonic() + wait)
    print(count, len(got), hist(ttls))
    return 0 if len(got) == count else 1

def sniff(fam, dst, out):
    s = open_raw(fam)
    req = 8 if fam == "4" else 128
    ttls, stop = [], []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    open(out + ".ready", "w").close()
    deadline = time.monotonic() + 30
    # After SIGTERM, one more pass without waiting picks up what is already queued.
    last = False
    while not last:
        last = bool(stop) or time.monotonic() > deadline
        r = select.select([s], [], [], 0 if last else 0.05)[0]
        while r:
            t, _, _, h, d = recv(fam, s)
            if t == req and d == dst:
                ttls.append(h)
            r = select.select([s], [], [], 0)[0]
    with open(out + ".tmp", "w") as f:
        f.write("%d %s\n" % (len(ttls), hist(ttls)))
    os.rename(out + ".tmp", out)
    return 0

MAGIC = b"STEERTAG"

def l4sum(fam, src, dst, proto, seg):
    if fam == "4":
        ph = socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst) + \
            struct.pack("!BBH", 0, proto, len(seg))
    else:
        ph = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + \
            struct.pack("!I3xB", len(seg), proto)
    return csum(ph + seg)

def send(fam, proto, src, dst, tos, sports, dport, count, tag, wait, want):
    af = socket.AF_INET if fam == "4" else socket.AF_INET6
    lo, _, hi = sports.partition("-")
    lo, hi = int(lo), int(hi or lo)
    payload = (MAGIC + tag.encode()).ljust(32, b".")
    # Everything ICMP that comes back: errors quoting our packets, echo replies.
    r = open_raw(fam)
    if proto == "udp":
        s = None
    elif proto == "tcp":
        s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_TCP)
    else:
        s = open_raw(fam)
    def setup(sock):
        if fam == "4":
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 64)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 64)
    if s is not None:
        setup(s)
        s.bind((src, 0))
    replies, errors, sent = 0, {}, 0
    def drain(until):
        nonlocal replies
        while True:
            left = until - time.monotonic()
            if left <= 0 or (want and replies + sum(errors.values()) >= want):
                return
            if not select.select([r], [], [], left)[0]:
                return
            if fam == "4":
                data, addr = r.recvfrom(65535)
                ihl = (data[0] & 15) * 4
                data = data[ihl:]
                errtypes, rep = (3, 4, 5, 11, 12), 0
            else:
                data, addr = r.recvfrom(65535)
                errtypes, rep = (1, 2, 3, 4), 129
            if len(data) < 8 or MAGIC + tag.encode() not in data:
                continue
            if data[0] == rep:
                replies += 1
            elif data[0] in errtypes:
                k = "%s/%d/%d" % (addr[0], data[0], data[1])
                errors[k] = errors.get(k, 0) + 1
    for port in range(lo, hi + 1):
        if proto == "udp":
            u = socket.socket(af, socket.SOCK_DGRAM)
            u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            setup(u)
            u.bind((src, port))
        for seq in range(count):
            if proto == "udp":
                u.sendto(payload, (dst, dport))
            elif proto == "tcp":
                hdr = struct.pack("!HHIIBBHHH", port, dport, 1000 + seq, 0, 5 << 4, 0x02, 65535, 0, 0)
                c = l4sum(fam, src, dst, socket.IPPROTO_TCP, hdr + payload)
                hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
                s.sendto(hdr + payload, (dst, 0))
            else:
                req = 8 if fam == "4" else 128
                hdr = struct.pack("!BBHHH", req, 0, 0, port, seq)
                if fam == "4":
                    hdr = struct.pack("!BBHHH", req, 0, csum(hdr + payload), port, seq)
                s.sendto(hdr + payload, (dst, 0))  # the kernel sums ICMPv6 itself
            sent += 1
            drain(time.monotonic())
        if proto == "udp":
            u.close()
    drain(time.monotonic() + wait)
    print("sent=%d replies=%d errors=%s" % (sent, replies,
          ",".join("%s:%d" % kv for kv in sorted(errors.items())) or "none"))
    return 0

def capture(ifname, out):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))  # ETH_P_ALL
    s.bind((ifname, 3))
    f = open(out, "a", buffering=1)
    open(out + ".ready", "w").close()
    parent = os.getppid()
    while True:
        if not select.select([s], [], [], 0.5)[0]:
            if os.getppid() != parent:  # the test is gone: so are we
                return 0
            continue
        data, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        i = data.find(MAGIC)
        if i < 0 or len(data) < 40:
            continue
        tag = data[i + len(MAGIC):i + len(MAGIC) + 8].decode(errors="replace")
        if data[0] >> 4 == 4:
            proto, ttl, l4 = data[9], data[8], data[(data[0] & 15) * 4:]
        else:
            proto, ttl, l4 = data[6], data[7], data[40:]
        sport = dport = 0
        if proto in (6, 17) and len(l4) >= 4:
            sport, dport = struct.unpack("!HH", l4[:4])
        elif proto in (1, 58) and len(l4) >= 6 and l4[0] in (8, 128):
            sport = struct.unpack("!H", l4[4:6])[0]
        else:
            continue  # not one of ours: an ICMP error or echo reply quoting it
        f.write("%s %d %d %d %d\n" % (tag, proto, ttl, sport, dport))

a = sys.argv
if a[1] == "ping":
    sys.exit(ping(a[2], a[3], a[4], int(a[5]), float(a[6]), int(a[7]), float(a[8])))
if a[1] == "send":
    sys.exit(send(a[2], a[3], a[4], a[5], int(a[6], 0), a[7], int(a[8]), int(a[9]), a[10],
                  float(a[11]), int(a[12])))
if a[1] == "capture":
    sys.exit(capture(a[2], a[3]))
sys.exit(sniff(a[2], a[3], a[4]))
