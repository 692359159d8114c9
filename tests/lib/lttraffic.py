#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Steady, sequence-numbered UDP for lib-traffic.sh, and the readers of its logs that the
tests' analyses import (lt_init copies this file into $ST_TMP; lt_py runs a script with it
on the path).

  send FAM DST DPORT RATE SECONDS TAG OUT FLOW...   paced UDP sender (see lib-traffic.sh)
  recv PORT OUT                                     UDP receiver, until SIGTERM / parent gone"""
import os, select, signal, socket, struct, sys, time

MAGIC = b"STEERSEQ"
HDR = struct.Struct("!8sIId")   # tag, seq, flow, send time

def flows_of(specs):
    out = []
    for spec in specs:
        src, _, ports = spec.rpartition(":")
        lo, _, hi = ports.partition("-")
        for p in range(int(lo), int(hi or lo) + 1):
            out.append((src.strip("[]"), p))
    return out

def send(fam, dst, dport, rate, seconds, tag, out, specs):
    af = socket.AF_INET if fam == "4" else socket.AF_INET6
    flows = flows_of(specs)
    socks = []
    for src, port in flows:
        s = socket.socket(af, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        if fam == "4":
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 64)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 64)
        s.bind((src, port))
        socks.append(s)
    n = int(rate * seconds)
    tagb = tag.encode()[:8].ljust(8, b".")
    times = [0.0] * n
    errors = {}
    nf = len(flows)
    addr = (dst, dport)
    # SIGTERM ends the run early, its log written for what was sent.
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    with open(out + ".start", "w") as f:
        f.write("%.6f\n" % time.time())
    t0 = time.monotonic()
    for i in range(n):
        if stop:
            n = i
            times = times[:n]
            break
        target = t0 + i / rate
        now = time.monotonic()
        if target - now > 0.0003:
            time.sleep(target - now)
        t = time.time()
        try:
            socks[i % nf].sendto(MAGIC + HDR.pack(tagb, i, i % nf, t), addr)
        except OSError as e:
            errors[i] = e.strerror
            t = -t
        times[i] = t
    late = 0.0 if stop else time.monotonic() - (t0 + (n - 1) / rate)
    with open(out + ".tmp", "w") as f:
        f.write("# flows %s\n" % " ".join("%s:%d" % fl for fl in flows))
        for i, t in enumerate(times):
            f.write("%d %d %.6f\n" % (i, i % nf, t))
        f.write("# sent=%d errors=%d late=%.3f %s\n" % (n - len(errors), len(errors), late,
                ",".join("%d:%s" % kv for kv in list(errors.items())[:5])))
    os.rename(out + ".tmp", out)
    print("sent=%d errors=%d late=%.3fs" % (n - len(errors), len(errors), late))
    return 0 if not errors else 1

def recv(port, out):
    socks = []
    for af in (socket.AF_INET, socket.AF_INET6):
        try:
            s = socket.socket(af, socket.SOCK_DGRAM)
        except OSError:
            continue
        try:
            if af == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            else:
                s.setsockopt(socket.IPPROTO_IP, 12, 1)   # IP_RECVTTL
            s.setsockopt(socket.SOL_SOCKET, 35, 1)   # SO_TIMESTAMPNS
            try:
                s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)   # SO_RCVBUFFORCE
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
            s.bind(("::" if af == socket.AF_INET6 else "0.0.0.0", port))
        except (OSError, AttributeError):
            s.close()   # e.g. IPv6 disabled in this namespace
            continue
        s.setblocking(False)
        socks.append(s)
    if not socks:
        return 1
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    f = open(out, "w")
    open(out + ".ready", "w").close()
    parent = os.getppid()
    while True:
        try:
            r = select.select(socks, [], [], 0.2)[0]
        except InterruptedError:
            r = []
        lines = []
        for s in (r if not stop else socks):
            while True:
                try:
                    data, anc, _, _ = s.recvmsg(2048, 256)
                except (BlockingIOError, InterruptedError):
                    break
                if len(data) < 8 + HDR.size or not data.startswith(MAGIC):
                    continue
                tag, seq, flow, ts = HDR.unpack_from(data, 8)
                ttl, rx = -1, 0.0
                for lvl, typ, val in anc:
                    if typ == 35 and lvl == socket.SOL_SOCKET:    # SCM_TIMESTAMPNS
                        sec, nsec = struct.unpack("qq", val[:16])
                        rx = sec + nsec / 1e9
                    elif (lvl, typ) in ((socket.IPPROTO_IP, socket.IP_TTL),
                                        (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT)):
                        ttl = struct.unpack("i", val[:4])[0] if len(val) >= 4 else val[0]
                lines.append("%s %d %d %d %.6f %.6f\n" % (tag.decode(errors="replace"), seq,
                             flow, ttl, ts, rx))
        if lines:
            f.write("".join(lines))
            f.flush()
        if stop or os.getppid() != parent:
            f.close()
            return 0

def sent_log(path):
    """(seq, flow, send time) of every packet in a sender's log OUT (a negative time: the
    send failed)."""
    for line in open(path):
        if not line.startswith("#"):
            seq, flow, t = line.split()
            yield int(seq), int(flow), float(t)

def received(specs):
    """(uplink, fields) of every packet the receivers logged, from "UPLINK=FILE" arguments
    (lt_recv_files); fields: TAG SEQ FLOW TTL T_SEND T_RX, as text."""
    for spec in specs:
        dev, path = spec.split("=", 1)
        for line in open(path):
            f = line.split()
            if len(f) == 6:
                yield dev, f

def arrivals(tag, specs):
    """The packets tagged TAG (padded to 8 with dots): {seq: [uplink, ...]}, {ttl: count}."""
    got, ttls = {}, {}
    for dev, f in received(specs):
        if f[0] == tag:
            got.setdefault(int(f[1]), []).append(dev)
            ttls[f[3]] = ttls.get(f[3], 0) + 1
    return got, ttls

if __name__ == "__main__":
    a = sys.argv
    if a[1] == "send":
        sys.exit(send(a[2], a[3], int(a[4]), float(a[5]), float(a[6]), a[7], a[8], a[9:]))
    sys.exit(recv(int(a[2]), a[3]))
