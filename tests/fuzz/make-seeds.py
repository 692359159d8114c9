#!/usr/bin/env python3
"""Writes the netlink fuzz corpus: real kernel messages for every object steerd reads.

Run as root: tests/fuzz/make-seeds.py DIR. It makes a private namespace, configures links,
addresses, neighbours, nexthop objects, routes of every type and rules with every selector,
then saves each buffer of each dump (links, addresses, neighbours, netconf, nexthops, routes,
rules; both families) and of the events a few changes send, one file per buffer. Then the
same for nftables over nfnetlink: a ruleset with base chains of every kind steerd reads
(forward, nat, netdev ingress and egress, dormant), its dump of tables, chains and rules,
and the events of a few transactions.
"""
import os
import socket
import struct
import subprocess
import sys

NS = f'steer-seeds-{os.getpid()}'
RTM = {'link': 18, 'addr': 22, 'route': 26, 'neigh': 30, 'rule': 34, 'netconf': 82, 'nexthop': 106}
SETUP = '''
link set lo up
link add in0 type veth peer name in0p
link add e1 type veth peer name e1p
link add e2 type veth peer name e2p
link set in0 up
link set in0p up
link set e1 up
link set e1p up
link set e2 up
link set e2p up
addr add 10.1.0.1/24 dev in0
addr add 10.0.1.1/24 dev e1
addr add 10.0.2.1/24 dev e2
-6 addr add 2001:db8:1::1/64 dev in0 nodad
-6 addr add 2001:db8:a::1/64 dev e1 nodad
neigh add 10.0.1.2 lladdr 02:00:00:00:00:02 dev e1 nud permanent
nexthop add id 1 via 10.0.1.2 dev e1
nexthop add id 2 via 10.0.2.2 dev e2
nexthop add id 10 group 1,3/2
nexthop add id 11 blackhole
route add default via 10.0.1.2 table 100
route add 10.9.0.0/16 nexthop via 10.0.1.2 weight 3 nexthop via 10.0.2.2
route add blackhole 10.66.0.0/16 table 100
route add unreachable 10.67.0.0/16 table 100
route add prohibit 10.68.0.0/16 table 100 metric 7
route add throw 10.69.0.0/16 table 100
route add 10.70.0.0/16 nhid 10
route add 10.71.0.0/16 nhid 11
route add 10.72.0.0/16 tos 0x10 via 10.0.2.2
route add 10.73.0.0/16 via 10.0.2.2 mtu lock 1400
-6 route add default via 2001:db8:a::2 table 100
-6 route add 2001:db8:77::/48 nexthop via 2001:db8:a::2 nexthop via 2001:db8:a::3
rule add from 10.1.0.0/24 table 100 pref 100
rule add not to 10.2.0.0/16 tos 0x10 fwmark 7/0xff iif in0 ipproto udp sport 1000-2000 dport 53 lookup main pref 110
rule add from 10.5.0.0/16 goto 300 pref 120
rule add nop pref 130
rule add blackhole from 10.6.0.0/16 pref 140
rule add unreachable from 10.7.0.0/16 pref 150
rule add prohibit from 10.8.0.0/16 pref 160
rule add lookup 100 suppress_prefixlength 0 pref 170
rule add uidrange 0-100 lookup 100 pref 180
rule add oif e1 lookup 100 pref 190
rule add from 10.3.0.0/16 realms 7 lookup 100 pref 200
-6 rule add from 2001:db8:1::/64 dsfield 0xb8 lookup 100 pref 100
-6 rule add not from 2001:db8::/32 ipproto tcp dport 443 lookup main pref 110
'''
CHANGES = '''
route replace default via 10.0.2.2 table 100
rule del pref 100
rule add from 10.1.0.0/24 table 100 pref 100
link set e2 down
link set e2 up
nexthop replace id 1 via 10.0.2.2 dev e2
route del 10.9.0.0/16
-6 route del 2001:db8:77::/48
link del e2
'''

NFT_SETUP = """
table inet filter {
	chain forward {
		type filter hook forward priority 0; policy drop
		ct state established accept
		ip daddr 198.51.100.7 drop
	}
	chain input {
		type filter hook input priority 0; policy accept
	}
	chain jumped {
		counter
	}
}
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat
		oifname "e1" masquerade
	}
}
table ip6 f6 {
	chain fw {
		type filter hook forward priority -5
	}
}
table netdev edge {
	chain in {
		type filter hook ingress devices = { in0, e1 } priority 0
	}
	chain out {
		type filter hook egress device "e1" priority 0
		counter
	}
}
table inet sleepy {
	flags dormant
	chain fw {
		type filter hook forward priority 0; policy drop
	}
}
"""
NFT_CHANGES = [
    'add rule inet filter forward ip daddr 198.51.100.8 drop',
    'flush chain inet filter forward',
    'chain inet filter forward { policy accept; }',
    'add table inet sleepy',
    'delete table ip nat',
    'flush ruleset',
]
NFT_GETTABLE, NFT_GETCHAIN, NFT_GETRULE = 1, 4, 7


def save_dump(s, path):
    """Saves the buffers of one dump reply, as a read gets them, to path-000, path-001, ...
    up to the one that ends it (NLMSG_DONE or an error, possibly behind other messages);
    returns how many."""
    n = 0
    while True:
        buf = s.recv(1 << 20)
        with open(f'{path}-{n:03d}', 'wb') as f:
            f.write(buf)
        n += 1
        off, last = 0, 0
        while off + 16 <= len(buf):
            ln, ty = struct.unpack_from('=IH', buf, off)
            last = ty
            if ln < 16:
                break
            off += (ln + 3) & ~3
        if last in (2, 3):
            return n


def nft_capture(out, n0):
    """Dump buffers of the nftables ruleset, as steerd's read gets them."""
    n = n0
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
    s.bind((0, 0))
    for seq, msg in enumerate((NFT_GETTABLE, NFT_GETCHAIN, NFT_GETRULE), 1):
        body = struct.pack('=BBH', 0, 0, 0)  # nfgenmsg: any family, v0
        s.send(struct.pack('=IHHII', 16 + len(body), 10 << 8 | msg, 0x301, seq, 0) + body)
        n += save_dump(s, os.path.join(out, f'nft-dump-{msg}'))
    return n - n0


def nft_events(out):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
    s.bind((0, 0))
    s.setsockopt(270, 1, 7)  # NETLINK_ADD_MEMBERSHIP: NFNLGRP_NFTABLES
    for cmd in NFT_CHANGES:
        subprocess.run(['nft', cmd], check=False)
    return save_events(s, out, 'nft-event')


def save_events(s, out, prefix):
    """Every message s receives until half a second passes without one, each in its own
    file OUT/PREFIX-NNN; how many."""
    s.settimeout(0.5)
    n = 0
    try:
        while True:
            buf = s.recv(1 << 20)
            with open(os.path.join(out, f'{prefix}-{n:03d}'), 'wb') as f:
                f.write(buf)
            n += 1
    except socket.timeout:
        pass
    return n


def ip_batch(text, ns=None):
    for fam, lines in (('', [l for l in text.split('\n') if l and not l.startswith('-6')]),
                       ('-6', [l[3:] for l in text.split('\n') if l.startswith('-6')])):
        cmd = ['ip'] + (['-n', ns] if ns else []) + ([fam] if fam else []) + ['-force', '-batch', '-']
        subprocess.run(cmd, input='\n'.join(lines) + '\n', text=True, check=False)


def capture(out):
    n = 0
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, 0))
    seq = 1
    for name, typ in RTM.items():
        for fam in (0,) if name in ('link', 'addr', 'neigh', 'nexthop') else (2, 10):
            hdrlen = {'link': 16, 'addr': 8, 'neigh': 12, 'nexthop': 8}.get(name, 12)
            body = bytes([fam]) + bytes(hdrlen - 1)
            s.send(struct.pack('=IHHII', 16 + len(body), typ, 0x301, seq, 0) + body)
            seq += 1
            n += save_dump(s, os.path.join(out, f'dump-{name}-{fam}'))
    return n


def events(out):
    groups = 0
    for g in (1, 2, 3, 5, 7, 8, 9, 11, 19, 24, 25, 32):  # link addr neigh routes rules netconf nexthop
        groups |= 1 << (g - 1) if g <= 32 else 0
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, groups))
    s.setsockopt(270, 1, 32)  # NETLINK_ADD_MEMBERSHIP: RTNLGRP_NEXTHOP
    ip_batch(CHANGES)   # already inside the namespace
    return save_events(s, out, 'event')


def main():
    if len(sys.argv) == 3 and sys.argv[1] == 'inside':
        out = sys.argv[2]
        d = capture(out)
        e = events(out)
        print(f'{d} dump buffers, {e} event buffers')
        if subprocess.run(['nft', '-f', '-'], input=NFT_SETUP, text=True).returncode == 0:
            d = nft_capture(out, 0)
            e = nft_events(out)
            print(f'{d} nftables dump buffers, {e} nftables event buffers')
        return
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    subprocess.run(['ip', 'netns', 'add', NS], check=True)
    try:
        ip_batch(SETUP, NS)
        subprocess.run(['nsenter', f'--net=/run/netns/{NS}', sys.executable, os.path.abspath(__file__),
                        'inside', out], check=True)
    finally:
        subprocess.run(['ip', 'netns', 'del', NS], check=False)


if __name__ == '__main__':
    main()
