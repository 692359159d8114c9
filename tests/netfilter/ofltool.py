#!/usr/bin/env python3
"""Traffic for the conntrack offload tests (tests/netfilter/offload*.sh): servers that say
who reached them, clients that check what came back.

  tcpserve PORT OUT             accept connections; per connection read to EOF, answer the
                                SHA-256 of what came, log "PEER PORT BYTES SHA"
  tcpsend HOST PORT BYTES [SPORT]  send BYTES of random data; print "ok" when the answer is
                                the SHA-256 of what was sent
  udpecho PORT OUT ADDR...      echo every datagram sent to ADDR; log "PEER PORT" per datagram
  udpsend HOST PORT SPORT COUNT INTERVAL  send COUNT datagrams from SPORT, collect echoes;
                                print "sent=N got=M"
"""
import hashlib, os, select, socket, sys, time

def fam(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET

def listen_socks(kind, port):
    # UDP answers from the address it was asked at (conntrack matches the reply by it):
    # bound to each of the sink's own addresses, not to the wildcard.
    out = []
    addrs = ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::"))
    if kind == socket.SOCK_DGRAM:
        addrs = [(fam(x), x) for x in sys.argv[4:]]
    for af, any_ in addrs:
        s = socket.socket(af, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if af == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((any_, port))
        if kind == socket.SOCK_STREAM:
            s.listen(8)
        out.append(s)
    open(sys.argv[3] + ".ready", "w").close()
    return out

a = sys.argv
if a[1] == "tcpserve":
    socks = listen_socks(socket.SOCK_STREAM, int(a[2]))
    while True:
        for s in select.select(socks, [], [])[0]:
            c, peer = s.accept()
            h, n = hashlib.sha256(), 0
            while True:
                d = c.recv(1 << 16)
                if not d:
                    break
                h.update(d)
                n += len(d)
            c.sendall(h.hexdigest().encode())
            c.close()
            with open(a[3], "a") as f:
                f.write("%s %d %d %s\n" % (peer[0], peer[1], n, h.hexdigest()))
elif a[1] == "tcpsend":
    host, port, total = a[2], int(a[3]), int(a[4])
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.settimeout(30)
    if len(a) > 5:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if ":" in host else "0.0.0.0", int(a[5])))
    try:
        s.connect((host, port))
    except OSError as e:
        print("refused %s" % e.strerror)
        sys.exit(0)
    h, sent, block = hashlib.sha256(), 0, os.urandom(1 << 16)
    while sent < total:
        d = block[: min(len(block), total - sent)]
        s.sendall(d)
        h.update(d)
        sent += len(d)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(128)
        if not d:
            break
        got += d
    print("ok" if got.decode() == h.hexdigest() else "bad answer %r" % got)
elif a[1] == "udpecho":
    socks = listen_socks(socket.SOCK_DGRAM, int(a[2]))
    f = open(a[3], "a")
    while True:
        for s in select.select(socks, [], [])[0]:
            d, peer = s.recvfrom(2048)
            s.sendto(d, peer)
            f.write("%s %d\n" % (peer[0], peer[1]))
            f.flush()
elif a[1] == "udpsend":
    host, port, sport, count, gap = a[2], int(a[3]), int(a[4]), int(a[5]), float(a[6])
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.bind(("::" if ":" in host else "0.0.0.0", sport))
    s.setblocking(False)
    got = 0
    for i in range(count):
        s.sendto(b"steer-offload %d" % i, (host, port))
        end = time.monotonic() + gap
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            if select.select([s], [], [], left)[0]:
                try:
                    s.recv(2048)
                    got += 1
                except BlockingIOError:
                    pass
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        if select.select([s], [], [], 0.1)[0]:
            s.recv(2048)
            got += 1
    print("sent=%d got=%d" % (count, got))
