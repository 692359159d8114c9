#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Differential test: steer's fast path against the kernel's own policy routing.

Per seed, in throw-away network namespaces, it installs a random `ip rule` / `ip route`
policy (IPv4 and IPv6: every selector and action steer claims, overlapping nested prefixes,
every route type, multipath, metrics, suppress_prefixlength, gotos, a few rules steer cannot
evaluate), starts steerd on the ingress veth, and asks both sides about the same random
synthetic flows -- no packet is ever sent:

  kernel  `ip -j route get [fibmatch] to D from S iif in0 [mark M] [tos T] [ipproto P] ...`
  steer   `steerctl -j explain --batch -`, one line per flow, one JSON object back per line

and checks the contract (shared/DESIGN.md): a steer "forward" goes out the kernel's device to
the kernel's gateway (for a multipath route: to one of the kernel's next hops); a steer "drop"
is where the kernel silently drops (blackhole: EINVAL); a steer "punt" is always allowed and
is counted by reason. Anything else is a disagreement, printed with both answers, and the
test fails. Output is TAP.

Two phases per seed: "full" (all selectors, uidrange rules (a forwarded packet is uid 0) and
oif rules that never match a forwarded packet, rp_filter 0, 1 or 2) and "supported" (only selectors steer evaluates, rp_filter 0), whose punt rate among
flows the kernel forwards is the number to drive down.

Then the wire: explain is what the program decides, not what reaches the wire (an on-link
next hop handed wrongly to bpf_redirect_neigh, say, decides right and delivers nothing). A
sample of the flows (--wire, per family and phase) is also sent as real packets from the
client namespace, once before steerd starts (the kernel alone) and once with it attached, on
the same state: every frame the router sends on any link because of a flow -- the packet
itself (device, next hop's MAC, TTL) or an ICMP error about it -- and the neighbour
solicitations it makes must be the same both times. Packets vary in size over links of
mixed MTUs (e3 1400, e2's IPv6 MTU 1280); marks cannot be sent, so such flows go unmarked.

Environment: STEERD, STEERCTL (default: this checkout's meson build dir). Needs root.
Python 3 standard library only.
"""

import argparse
import errno
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from inet import csum  # noqa: E402  the tests' one Internet checksum (tests/lib/inet.py)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEERD = os.environ.get('STEERD', os.path.join(ROOT, 'build/agent/steerd'))
STEERCTL = os.environ.get('STEERCTL', os.path.join(ROOT, 'build/tools/steerctl/steerctl'))

VERBOSE = False

# ---- TAP ------------------------------------------------------------------------------------

class Tap:
    def __init__(self):
        self.n = 0
        self.fails = 0

    def ok(self, desc):
        self.n += 1
        print(f'ok {self.n} - {desc}', flush=True)

    def not_ok(self, desc):
        self.n += 1
        self.fails += 1
        print(f'not ok {self.n} - {desc}', flush=True)

    def skip(self, desc, why):
        self.n += 1
        print(f'ok {self.n} - {desc} # SKIP {why}', flush=True)

    def check(self, cond, desc):
        (self.ok if cond else self.not_ok)(desc)
        return cond

    @staticmethod
    def note(*lines):
        for text in lines:
            for line in str(text).splitlines() or ['']:
                print(f'# {line}', flush=True)

    def plan(self):
        print(f'1..{self.n}', flush=True)


TAP = Tap()


class Bail(Exception):
    """A harness failure: the test cannot go on (reported as `not ok`)."""


# ---- processes ------------------------------------------------------------------------------

def run(argv, stdin=None, check=True, timeout=120):
    if VERBOSE:
        Tap.note('+ ' + ' '.join(argv) + (f'  <<{stdin.count(chr(10))} lines' if stdin else ''))
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise Bail(f'{" ".join(argv)}: exit {p.returncode}: {p.stderr.strip()[:2000]}')
    return p


def json_stream(text):
    """Every JSON value in text, in order (ip -batch -j prints one array per command)."""
    dec = json.JSONDecoder()
    out, i, n = [], 0, len(text)
    while True:
        while i < n and text[i] in ' \t\r\n':
            i += 1
        if i >= n:
            return out
        val, i = dec.raw_decode(text, i)
        out.append(val)


def ip_batch(ns, lines, json_out=False):
    """Run lines through one `ip -force -batch -` in ns. Returns, per line, the parsed JSON
    value (json_out) or None when it succeeded, or the error message when it failed."""
    if not lines:
        return []
    argv = ['ip', '-n', ns] + (['-j'] if json_out else []) + ['-force', '-batch', '-']
    p = run(argv, stdin='\n'.join(lines) + '\n', check=False, timeout=300)
    errors, msg = {}, []
    for line in p.stderr.splitlines():
        if line.startswith('Command failed -:'):
            errors[int(line.split(':')[-1])] = ' '.join(msg).strip() or 'failed'
            msg = []
        else:
            msg.append(line.strip())
    results = [None] * len(lines)
    values = json_stream(p.stdout) if json_out else []
    vi = 0
    for i in range(len(lines)):
        if i + 1 in errors:
            results[i] = errors[i + 1]
        elif json_out:
            if vi >= len(values):
                raise Bail(f'ip -batch: {len(values)} JSON answers for {len(lines)} lines '
                           f'({len(errors)} errors)')
            results[i] = values[vi]
            vi += 1
    if json_out and vi != len(values):
        raise Bail(f'ip -batch: {len(values)} JSON answers, expected {vi}')
    return results


# ---- address pools --------------------------------------------------------------------------

EGRESS = ['e1', 'e2', 'e3', 'e4']
# Per egress link: router address/prefix and the gateways behind it, by family.
LINK4 = {'e1': ('10.0.1.1/24', ['10.0.1.2', '10.0.1.3']),
         'e2': ('10.0.2.1/24', ['10.0.2.2', '10.0.2.3']),
         'e3': ('10.0.3.1/30', ['10.0.3.2']),
         'e4': ('10.0.4.1/30', ['10.0.4.2'])}
LINK6 = {k: (f'2001:db8:{i}::1/64', [f'2001:db8:{i}::2', f'2001:db8:{i}::3'])
         for i, k in enumerate(EGRESS, 1)}
IN0 = {4: '10.255.0.1/24', 6: '2001:db8:ff::1/64'}
# With --in0-sources: a net behind a gateway on in0, routed there in main, so that a strict
# rp_filter has sources that come back through in0 (every other source fails it).
BEHIND_IN0 = {4: ('10.254.0.0/16', '10.255.0.2'), 6: ('2001:db8:fe::/48', '2001:db8:ff::2')}

# Nested, overlapping prefixes shared by rules (from/to) and routes, so flows hit them.
POOL = {
    4: ['0.0.0.0/0', '10.0.0.0/8', '10.20.0.0/16', '10.20.0.0/20', '10.20.1.0/24',
        '10.20.1.128/25', '10.20.1.192/26', '10.20.1.200/29', '10.20.1.201/32',
        '10.20.2.0/24', '10.21.0.0/16', '10.21.7.0/24', '172.16.0.0/12', '172.16.5.0/24',
        '172.16.5.0/25', '192.168.0.0/16', '192.168.7.0/24', '192.168.7.7/32',
        '198.51.100.0/24', '203.0.113.0/24', '203.0.113.64/26'],
    6: ['::/0', '2001:db8::/32', '2001:db8:10::/48', '2001:db8:10:1::/64',
        '2001:db8:10:1::/80', '2001:db8:10:1:8000::/65', '2001:db8:10:1::77/128',
        '2001:db8:10:2::/64', '2001:db8:20::/48', '2001:db8:20:5::/64', '2001:db8:30::/44',
        '2001:db8:30:5::/64', '2001:db8:30:5::7/128', 'fd00::/8', 'fd00:1::/32',
        'fd00:1:2::/48', '2001:db8:ff00::/40'],
}
SUPPRESS = {4: [0, 0, 8, 16, 24, 32], 6: [0, 0, 32, 48, 64, 128]}
TABLES = ['main', '100', '101', '102', '103', '104']
TABLE_IDS = {'main': 254, 'default': 253, 'local': 255, 'unspec': 0}
TOS4 = [0x04, 0x08, 0x10, 0x0c, 0x18]
MARKS = [(0x1, None), (0x2, None), (0x10, 0xf0), (0x5, 0xf), (0x100, 0xff00), (0x40, 0x40),
         (0x7, 0x7)]
PORTS = [(22, 22), (53, 53), (80, 80), (443, 443), (1000, 2000), (5000, 6000), (1, 1023),
         (8080, 8090)]
PROTO = {4: ['tcp', 'udp', 'icmp'], 6: ['tcp', 'udp', 'ipv6-icmp']}


def table_id(name):
    if name is None:
        return 254
    name = str(name)
    return TABLE_IDS.get(name, int(name) if name.isdigit() else -1)


def special(fam, a):
    a = ipaddress.ip_address(a)
    if fam == 4:
        return (a.is_multicast or a.is_loopback or a.is_unspecified or a.is_link_local
                or a.is_reserved or a in ipaddress.ip_network('0.0.0.0/8')
                or a == ipaddress.ip_address('255.255.255.255'))
    return (a.is_multicast or a.is_loopback or a.is_unspecified or a.is_link_local
            or a.ipv4_mapped is not None or a.is_reserved and a not in
            ipaddress.ip_network('2001:db8::/32'))


def narrow(prefix):
    """A prefix small enough that a terminal rule on it leaves most flows alone."""
    return ipaddress.ip_network(prefix).prefixlen >= (12 if ':' not in prefix else 40)


def addr_in(rng, fam, prefix):
    net = ipaddress.ip_network(prefix, strict=False)
    size = net.num_addresses
    r = rng.random()
    if size <= 2:
        off = rng.randrange(size)
    elif r < 0.15:
        off = 1
    elif r < 0.25:
        off = size - 1 - (fam == 4)      # last (v4: last but broadcast)
    elif r < 0.35:
        off = rng.randrange(min(size, 256))
    else:
        off = rng.randrange(size)
    a = str(net.network_address + off)
    if special(fam, a):
        return addr_random(rng, fam)
    return a


def addr_random(rng, fam):
    while True:
        if fam == 4:
            a = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        else:
            a = str(ipaddress.IPv6Address((0x2000 << 112) | rng.getrandbits(115)))
        if not special(fam, a):
            return a


# ---- the policy -----------------------------------------------------------------------------

class Policy:
    """Random rules and routes of one family, as ip(8) batch lines."""

    def __init__(self, rng, fam, nrules, unsupported):
        self.fam = fam
        self.rules = []       # (pref, line)
        self.routes = {}      # table -> [line]
        self.rule_from = []   # prefixes the rules use, to aim flows at
        self.rule_to = []
        self.rule_tos = []
        self.rule_marks = []
        self.rule_ports = []
        self.gen_routes(rng)
        self.gen_rules(rng, nrules, unsupported)

    # -- routes
    def gws(self):
        links = LINK4 if self.fam == 4 else LINK6
        return [(gw, dev) for dev in EGRESS for gw in links[dev][1]]

    def gen_nexthops(self, rng):
        """Nexthop objects (`ip nexthop`): one per gateway, a few groups, a blackhole."""
        base = 1 if self.fam == 4 else 101
        self.nh_lines, self.nh_ids = [], []
        for i, (gw, dev) in enumerate(self.gws()):
            self.nh_lines.append(f'nexthop add id {base + i} via {gw} dev {dev}')
            self.nh_ids.append(base + i)
        singles = list(self.nh_ids)
        for g in range(3):
            members = rng.sample(singles, rng.choice([2, 2, 3]))
            spec = '/'.join(f'{m},{rng.choice([1, 1, 2, 5])}' for m in members)
            self.nh_lines.append(f'nexthop add id {base + 50 + g} group {spec}')
            self.nh_ids.append(base + 50 + g)
        self.nh_lines.append(f'nexthop add id {base + 60} blackhole')
        self.nh_ids.append(base + 60)

    def pick_nhid(self, rng):
        """A nexthop object for one route. IPv4 routes share the objects. IPv6 routes get
        objects of their own: routes sharing an IPv6 next hop share its per-CPU route cache,
        and `ip route get` then reports the table and prefix of whichever route filled the
        cache first (the next hop it forwards to is still right) -- a reporting quirk this
        test would take for a disagreement."""
        if self.fam == 4:
            return rng.choice(self.nh_ids)
        self.nh_next = getattr(self, 'nh_next', 301)
        kind = rng.random()
        if kind < 0.1:
            self.nh_lines.append(f'nexthop add id {self.nh_next} blackhole')
            self.nh_next += 1
            return self.nh_next - 1
        hops = rng.sample(self.gws(), 1 if kind < 0.6 else rng.choice([2, 3]))
        ids = []
        for gw, dev in hops:
            self.nh_lines.append(f'nexthop add id {self.nh_next} via {gw} dev {dev}')
            ids.append(self.nh_next)
            self.nh_next += 1
        if len(ids) == 1:
            return ids[0]
        spec = '/'.join(f'{i},{rng.choice([1, 1, 2, 5])}' for i in ids)
        self.nh_lines.append(f'nexthop add id {self.nh_next} group {spec}')
        self.nh_next += 1
        return self.nh_next - 1

    def gen_routes(self, rng):
        fam = self.fam
        gws = self.gws()
        self.gen_nexthops(rng)
        for t in TABLES:
            gw_lines, other_lines, seen = [], [], set()
            n = rng.randint(6, 14)
            if rng.random() < 0.5:
                n += 1
                pfx_choices = ['default']
            else:
                pfx_choices = []
            pfx_choices += [rng.choice(POOL[fam]) for _ in range(n - len(pfx_choices))]
            for pfx in pfx_choices:
                if pfx in ('0.0.0.0/0', '::/0'):
                    pfx = 'default'
                metric = rng.choice([None, None, 10, 20, 100])
                mkey = metric if metric is not None else (0 if fam == 4 else 1024)
                if (pfx, mkey) in seen:
                    continue
                seen.add((pfx, mkey))
                m = f' metric {metric}' if metric is not None else ''
                head = f'route add table {t}'
                r = rng.random()
                if pfx == 'default' and r >= 0.55:
                    r = rng.random() * 0.55      # defaults mostly forward
                if r < 0.30:
                    gw, dev = rng.choice(gws)
                    gw_lines.append(f'{head} {pfx} via {gw} dev {dev}{m}')
                elif r < 0.40:
                    dev = rng.choice(EGRESS)
                    gw_lines.append(f'{head} {pfx} dev {dev}{m}')
                elif r < 0.55:
                    k = rng.choice([2, 2, 2, 3, 4])
                    hops = rng.sample(gws, k)
                    onlink = fam == 4 and rng.random() < 0.15
                    nh = ''
                    for gw, dev in hops:
                        w = rng.choice([1, 1, 2, 3, 10])
                        nh += (f' nexthop dev {dev} weight {w}' if onlink else
                               f' nexthop via {gw} dev {dev} weight {w}')
                    if onlink:
                        nh = ''.join(f' nexthop dev {d} weight {rng.choice([1, 2, 5])}'
                                     for d in rng.sample(EGRESS, rng.choice([2, 3])))
                    gw_lines.append(f'{head} {pfx}{m}{nh}')
                elif r < 0.61:
                    gw_lines.append(f'{head} {pfx}{m} nhid {self.pick_nhid(rng)}')
                elif r < 0.67:
                    other_lines.append(f'route add blackhole {pfx} table {t}{m}')
                elif r < 0.77:
                    other_lines.append(f'route add unreachable {pfx} table {t}{m}')
                elif r < 0.87:
                    other_lines.append(f'route add prohibit {pfx} table {t}{m}')
                else:
                    other_lines.append(f'route add throw {pfx} table {t}{m}')
            # Gateways are validated against the table at insertion: forwarding routes first.
            self.routes[t] = gw_lines + other_lines

    # -- rules
    def gen_rules(self, rng, nrules, unsupported):
        fam = self.fam
        prefs = []
        for _ in range(nrules):
            if prefs and rng.random() < 0.08:
                prefs.append(rng.choice(prefs))         # shared priorities
            else:
                prefs.append(rng.randint(1, 32000))
        prefs.sort()
        unsup_idx = set(rng.sample(range(nrules), min(nrules, rng.randint(2, 4)))) \
            if unsupported else set()
        for i, pref in enumerate(prefs):
            sel = []
            has_addr = False
            if rng.random() < 0.5:
                p = rng.choice(POOL[fam])
                sel.append(f'from {p}')
                self.rule_from.append(p)
                has_addr = has_addr or narrow(p)
            if rng.random() < 0.3:
                p = rng.choice(POOL[fam])
                sel.append(f'to {p}')
                self.rule_to.append(p)
                has_addr = has_addr or narrow(p)
            if rng.random() < 0.12:
                tos = rng.choice(TOS4) if fam == 4 else rng.randrange(1, 64) << 2
                sel.append(f'tos 0x{tos:02x}')
                self.rule_tos.append(tos)
            if rng.random() < 0.15:
                mark, mask = rng.choice(MARKS)
                sel.append(f'fwmark 0x{mark:x}' + (f'/0x{mask:x}' if mask else ''))
                self.rule_marks.append((mark, mask))
            if rng.random() < 0.15:
                sel.append('iif ' + rng.choice(['in0', 'in0', 'in0', 'e1', 'e1', 'nosuch0']))
            if rng.random() < 0.2:
                sel.append('ipproto ' + rng.choice(PROTO[fam]))
            for kw, prob in (('sport', 0.1), ('dport', 0.15)):
                if rng.random() < prob:
                    lo, hi = rng.choice(PORTS)
                    sel.append(f'{kw} {lo}' + (f'-{hi}' if hi != lo else ''))
                    self.rule_ports.append((lo, hi))
            invert = rng.random() < 0.1
            if i in unsup_idx:
                if not has_addr and rng.random() < 0.8:
                    p = rng.choice([p for p in POOL[fam] if narrow(p)])
                    sel.append(f'from {p}')
                    self.rule_from.append(p)
                sel.append(rng.choice(['uidrange 0-100', 'oif e1', 'uidrange 1000-2000',
                                       'oif nosuch0']))
            r = rng.random()
            if r < 0.55 or i in unsup_idx:
                act = f'lookup {rng.choice(TABLES)}'
                if rng.random() < 0.15:
                    act += f' suppress_prefixlength {rng.choice(SUPPRESS[fam])}'
            elif r < 0.67:
                if not has_addr and rng.random() < 0.7:
                    p = rng.choice([p for p in POOL[fam] if narrow(p)])
                    sel.append(f'from {p}')
                    self.rule_from.append(p)
                later = [p for p in prefs if p > pref]
                if later and rng.random() < 0.6:
                    tgt = rng.choice(later)
                else:
                    tgt = rng.randint(pref + 1, 32765) if pref < 32765 else None
                act = f'goto {tgt}' if tgt else 'nop'
            elif r < 0.72:
                act = 'nop'
            else:
                act = rng.choice(['blackhole', 'unreachable', 'prohibit'])
                # A terminal rule matching almost everything would end most flows early.
                if not has_addr:
                    p = rng.choice([p for p in POOL[fam] if narrow(p)])
                    kw = rng.choice(['from', 'to'])
                    sel.append(f'{kw} {p}')
                    (self.rule_from if kw == 'from' else self.rule_to).append(p)
                invert = invert and rng.random() < 0.3
            words = (['not'] if invert else []) + sel
            self.rules.append((pref, f'rule add pref {pref} {" ".join(words)} {act}'.replace(
                '  ', ' ')))

    def lines(self):
        out = list(self.nh_lines)
        for t in TABLES:
            out += self.routes[t]
        return out, [line for _, line in self.rules]


# ---- flows ----------------------------------------------------------------------------------

class Flow:
    __slots__ = ('fam', 'dst', 'src', 'mark', 'tos', 'proto', 'sport', 'dport')

    def __init__(self, fam, dst, src, mark, tos, proto, sport, dport):
        self.fam, self.dst, self.src, self.mark, self.tos = fam, dst, src, mark, tos
        self.proto, self.sport, self.dport = proto, sport, dport

    def args(self):
        s = f'to {self.dst} from {self.src} iif in0'
        if self.mark:
            s += f' mark 0x{self.mark:x}'
        if self.tos:
            s += f' tos 0x{self.tos:02x}'
        s += f' ipproto {self.proto}'
        if self.sport is not None:
            s += f' sport {self.sport} dport {self.dport}'
        return s

    def steer_line(self):
        return self.args()[len('to '):]


def pick(r, choices):
    """What make() gives for the first (bound, make) of choices with r below its bound (a
    draw in [0, 1) against cumulative shares); only that make() is called."""
    return next(make for bound, make in choices if r < bound)()


def gen_flows(rng, pol, n, in0_share=0.0):
    fam = pol.fam
    links = LINK4 if fam == 4 else LINK6
    own = [IN0[fam].split('/')[0]] + [links[d][0].split('/')[0] for d in EGRESS]
    onlink = [links[d][0] for d in EGRESS] + [IN0[fam]]
    from_pool = pol.rule_from or POOL[fam]
    to_pool = pol.rule_to or POOL[fam]
    flows = []
    for _ in range(n):
        r = rng.random()
        if in0_share and rng.random() < in0_share:
            src = addr_in(rng, fam, rng.choice([IN0[fam], BEHIND_IN0[fam][0]]))
        else:
            src = pick(r, [(0.45, lambda: addr_in(rng, fam, rng.choice(from_pool))),
                           (0.85, lambda: addr_in(rng, fam, rng.choice(POOL[fam]))),
                           (0.97, lambda: addr_random(rng, fam)),
                           (0.985, lambda: rng.choice(own)),
                           (1, lambda: addr_in(rng, fam, rng.choice(onlink)))])
        dst = pick(rng.random(), [(0.35, lambda: addr_in(rng, fam, rng.choice(to_pool))),
                                  (0.82, lambda: addr_in(rng, fam, rng.choice(POOL[fam]))),
                                  (0.90, lambda: addr_random(rng, fam)),
                                  (0.97, lambda: addr_in(rng, fam, rng.choice(onlink))),
                                  (0.995, lambda: rng.choice(own)),
                                  (1, lambda: '224.1.2.3' if fam == 4 else 'ff0e::1')])
        r = rng.random()
        if r < 0.65 or not pol.rule_tos and r < 0.85:
            tos = 0
        elif r < 0.85:
            tos = rng.choice(pol.rule_tos)
            if rng.random() < 0.3:
                tos |= rng.choice([0x01, 0x02, 0x03, 0x20, 0x40, 0x80, 0xe0])
        else:
            tos = rng.randrange(256)
        r = rng.random()
        if r < 0.7 or not pol.rule_marks and r < 0.9:
            mark = 0
        elif r < 0.9:
            m, mask = rng.choice(pol.rule_marks)
            mark = m
            if rng.random() < 0.4:
                mark |= rng.getrandbits(16) & ~(mask or 0xffffffff)
            if rng.random() < 0.2:
                mark ^= 1
        else:
            mark = rng.getrandbits(rng.choice([4, 8, 32]))
        proto = rng.choices(PROTO[fam], weights=[45, 40, 15])[0]
        sport = dport = None
        if proto in ('tcp', 'udp'):
            def port():
                if pol.rule_ports and rng.random() < 0.5:
                    lo, hi = rng.choice(pol.rule_ports)
                    return rng.choice([lo, hi, rng.randint(lo, hi), max(1, lo - 1),
                                       min(65535, hi + 1)])
                return rng.randint(1, 65535)
            sport, dport = port(), port()
        flows.append(Flow(fam, dst, src, mark, tos, proto, sport, dport))
    return flows


# ---- kernel answers -------------------------------------------------------------------------

REJECT = ('Network is unreachable', 'No route to host', 'Permission denied')


def classify_kernel(plain, fib, skip_flags=frozenset(('dead',))):
    """What the kernel does with the flow: dict with kind forward|local|drop|reject|xdev|error."""
    if isinstance(plain, str):
        if 'Invalid argument' in plain:
            return {'kind': 'drop', 'err': plain}
        if any(s in plain for s in REJECT):
            return {'kind': 'reject', 'err': plain}
        if 'Invalid cross-device link' in plain:
            return {'kind': 'xdev', 'err': plain}
        return {'kind': 'error', 'err': plain}
    r = plain[0] if plain else {}
    rtype = r.get('type', 'unicast')
    k = {'kind': 'forward' if rtype == 'unicast' else 'local', 'type': rtype,
         'dev': r.get('dev'), 'gw': r.get('gateway'), 'table': table_id(r.get('table')),
         'nexthops': None}
    if not isinstance(fib, str) and fib:
        f = fib[0]
        if f.get('nexthops'):
            k['nexthops'] = [(h.get('dev'), h.get('gateway')) for h in f['nexthops']
                             if not set(h.get('flags', [])) & skip_flags]
        k['fib_dst'] = f.get('dst')
    return k


def same_addr(a, b):
    if a is None or b is None:
        return a is None and b is None
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def compare(flow, k, s):
    """None when steer's answer s is allowed for the kernel's k, else why not."""
    if 'error' in s:
        return f'steer error: {s["error"]}'
    act = s.get('action')
    if act == 'punt':
        return None
    if k['kind'] == 'special':
        return f'steer decides ({act}) on a multicast destination'
    if act == 'drop':
        return None if k['kind'] == 'drop' else 'steer drops, kernel does not (blackhole)'
    if act != 'forward':
        return f'unknown steer action {act!r}'
    if k['kind'] != 'forward':
        return f'steer forwards, kernel: {k["kind"]}'
    sgw = s.get('gateway') or None
    if sgw is not None and same_addr(sgw, flow.dst) and k['gw'] is None:
        sgw = None    # on-link: the destination is its own next hop
    if k['nexthops']:
        for dev, gw in k['nexthops']:
            if s.get('dev') == dev and same_addr(sgw, gw):
                return None
        return 'steer next hop not among the kernel\'s multipath next hops'
    if s.get('dev') != k['dev']:
        return 'different device'
    if not same_addr(sgw, k['gw']):
        return 'different gateway'
    return None



# ---- the wire ------------------------------------------------------------------------------
#
# Helpers run inside the namespaces (this script again, with --wire-send / --wire-capture):
# a sender of raw frames on the client's c0 and recorders on every link the router sends on.

WIRE_MAGIC = b'STEERWIRE'
PROTO_NUM = {'tcp': 6, 'udp': 17, 'icmp': 1, 'ipv6-icmp': 58}


def wire_frame(dmac, smac, fam, src, dst, tos, proto, sport, dport, size, idx, label):
    """One Ethernet frame of the flow: IP (TTL 64, DF), TCP SYN / UDP / ICMP echo, and a payload
    tagged with idx, padded so the IP packet is size bytes."""
    import socket
    import struct
    p = PROTO_NUM[proto]
    hl = 20 if fam == 4 else 40
    l4h = {6: 20, 17: 8}.get(p, 8)
    tag = WIRE_MAGIC + b'%06d' % idx
    payload = tag.ljust(max(len(tag), size - hl - l4h), b'.')
    if p == 6:
        l4 = struct.pack('!HHIIBBHHH', sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    elif p == 17:
        l4 = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0)
    else:
        l4 = struct.pack('!BBHHH', 8 if p == 1 else 128, 0, 0, idx & 0xffff, 1)
    af = socket.AF_INET if fam == 4 else socket.AF_INET6
    sa, da = socket.inet_pton(af, src), socket.inet_pton(af, dst)
    seg = l4 + payload
    if p != 1:
        ph = (sa + da + struct.pack('!BBH', 0, p, len(seg)) if fam == 4 else
              sa + da + struct.pack('!I3xB', len(seg), p))
        c = csum(ph + seg)
    else:
        c = csum(seg)
    off = {6: 16, 17: 6}.get(p, 2)
    seg = seg[:off] + struct.pack('!H', c or 0xffff) + seg[off + 2:]
    if fam == 4:
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, tos, 20 + len(seg), idx & 0xffff, 0x4000, 64, p, 0,
                         sa, da)
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        etype = 0x0800
    else:
        ip = struct.pack('!IHBB16s16s', 6 << 28 | tos << 20 | label, len(seg), p, 64, sa, da)
        etype = 0x86dd
    return dmac + smac + struct.pack('!H', etype) + ip + seg


def wire_send(ifname, dmac_hex, spec_path):
    import socket
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    smac = s.getsockname()[4][:6]
    dmac = bytes.fromhex(dmac_hex.replace(':', ''))
    for line in open(spec_path):
        idx, fam, src, dst, tos, proto, sport, dport, size, label = line.split()
        s.send(wire_frame(dmac, smac, int(fam), src, dst, int(tos), proto, int(sport), int(dport),
                          int(size), int(idx), int(label)))
        time.sleep(0.002)
    return 0


def wire_record(ifname, data):
    """What a frame a recorder saw says, or None: a tagged packet ("IF data IDX MAC TTL"), an
    ICMP error quoting one ("IF icmp IDX TYPE/CODE"), an ARP request or neighbour solicitation
    ("IF solicit TARGET")."""
    import socket
    etype = int.from_bytes(data[12:14], 'big')
    if etype == 0x0806 and len(data) >= 42 and data[20:22] == b'\0\1':
        return f'{ifname} solicit {socket.inet_ntop(socket.AF_INET, data[38:42])}'
    if etype == 0x86dd and len(data) >= 78 and data[20] == 58 and data[54] == 135:
        return f'{ifname} solicit {socket.inet_ntop(socket.AF_INET6, data[62:78])}'
    i = data.find(WIRE_MAGIC)
    if i < 0:
        return None
    idx = data[i + len(WIRE_MAGIC):i + len(WIRE_MAGIC) + 6].decode(errors='replace')
    mac = data[0:6].hex(':')
    if etype == 0x0800:
        ihl = (data[14] & 15) * 4
        proto, ttl, l4 = data[23], data[22], 14 + ihl
        err = proto == 1 and data[l4] in (3, 4, 5, 11, 12)
    elif etype == 0x86dd:
        proto, ttl, l4 = data[20], data[21], 54
        err = proto == 58 and data[l4] < 128
    else:
        return None
    if err:
        return f'{ifname} icmp {idx} {data[l4]}/{data[l4 + 1]} {mac}'
    return f'{ifname} data {idx} {mac} {ttl}'


def wire_capture(out_path, ifnames):
    import select
    import socket
    socks = {}
    for ifname in ifnames:
        k = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        k.bind((ifname, 0))
        socks[k] = ifname
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    out = open(out_path, 'w', buffering=1)
    open(out_path + '.ready', 'w').close()
    last = False
    while not last:
        last = bool(stop)
        for k in select.select(list(socks), [], [], 0 if last else 0.1)[0]:
            while True:
                try:
                    data, addr = k.recvfrom(65535, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError as e:   # a link without carrier (linkdown mode) says so
                    if e.errno != errno.ENETDOWN:
                        raise
                    break
                if addr[2] != socket.PACKET_OUTGOING:
                    rec = wire_record(socks[k], data)
                    if rec:
                        out.write(rec + '\n')
    out.close()
    return 0


def wire_sample(rng, flows, n):
    """(index, flow, size, flow label) for n of the flows, the same in both runs, each from a
    source of its own: the kernel limits the ICMP errors it sends about unroutable packets per
    source (ip_error(), net.ipv4.route.error_cost: global, not ours to change), and a second
    error for one source within a second would be counted against whichever run came later."""
    order = list(range(len(flows)))
    rng.shuffle(order)
    picks, seen = [], set()
    for i in order:
        if len(picks) == n:
            break
        if flows[i].src not in seen:
            seen.add(flows[i].src)
            picks.append(i)
    picks.sort()
    out = []
    for i in picks:
        r = rng.random()
        size = 80 if r < 0.7 else rng.choice([1300, 1350, 1420, 1460])
        out.append((i, flows[i], size, rng.getrandbits(20)))
    return out


# ---- one phase: topology, policy, steerd, flows ---------------------------------------------

class Phase:
    def __init__(self, args, name, seed_rng, unsupported, rp_filter, linkdown=None):
        self.linkdown = linkdown     # None, or (ignore_routes_with_linkdown 0|1)
        self.args = args
        self.name = name
        self.rng = seed_rng
        self.unsupported = unsupported
        self.rp_filter = rp_filter
        tag = f'sd{os.getpid()}{name[0]}'
        self.ns_r, self.ns_c, self.ns_s = f'{tag}-r', f'{tag}-c', f'{tag}-s'
        self.made_ns = []
        self.pin_dir = f'/sys/fs/bpf/steer-diff-{os.getpid()}-{name}'
        self.steerd = None
        self.log_path = None
        self.kept = False

    # -- setup
    def topology(self):
        for ns in (self.ns_r, self.ns_c, self.ns_s):
            run(['ip', 'netns', 'add', ns])
            self.made_ns.append(ns)
        r, c, s = self.ns_r, self.ns_c, self.ns_s
        sysctl = ['ip', 'netns', 'exec', r, 'sysctl', '-qw',
                  'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.forwarding=1',
                  'net.ipv6.conf.all.forwarding=1', 'net.ipv6.conf.default.forwarding=1',
                  f'net.ipv4.conf.all.rp_filter={self.rp_filter}',
                  f'net.ipv4.conf.default.rp_filter={self.rp_filter}',
                  'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0',
                  # Every ICMP error the wire run provokes, in both runs alike.
                  'net.ipv4.icmp_ratelimit=0', 'net.ipv6.icmp.ratelimit=0',
                  'net.ipv4.icmp_msgs_per_sec=100000', 'net.ipv4.icmp_msgs_burst=100000']
        run(sysctl)
        b = ['link set lo up']
        bc, bs = ['link set lo up'], ['link set lo up']
        lines_r_peer = []
        b.append(f'link add in0 type veth peer name c0 netns {c}')
        for i, dev in enumerate(EGRESS, 1):
            b.append(f'link add {dev} type veth peer name s{i} netns {s}')
        for dev in ['in0'] + EGRESS:
            b.append(f'link set {dev} up')
        b.append(f'addr add {IN0[4]} dev in0')
        b.append(f'addr add {IN0[6]} dev in0 nodad')
        for i, dev in enumerate(EGRESS, 1):
            a4, gws4 = LINK4[dev]
            a6, gws6 = LINK6[dev]
            b.append(f'addr add {a4} dev {dev}')
            b.append(f'addr add {a6} dev {dev} nodad')
            for j, gw in enumerate(gws4 + gws6):
                lines_r_peer.append(f'neigh replace {gw} lladdr 02:00:00:00:{i:02x}:{j:02x} '
                                    f'dev {dev} nud permanent')
            bs.append(f'link set s{i} up')
        bc.append('link set c0 up')
        self.batch_strict(r, b)
        for ns, lines in ((c, bc), (s, bs)):
            self.batch_strict(ns, lines)
        if self.args.xdp:
            # A veth takes the XDP stage's redirected frames only with GRO on at its peer;
            # on for both runs, so the kernel alone meets the same links.
            for ns, dev in [(c, 'c0')] + [(s, f's{i}') for i in range(1, len(EGRESS) + 1)]:
                run(['ip', 'netns', 'exec', ns, 'ethtool', '-K', dev, 'gro', 'on'])
        for dev in ['in0'] + EGRESS:
            run(['ip', 'netns', 'exec', r, 'sysctl', '-qw',
                 f'net.ipv4.conf.{dev}.rp_filter={self.rp_filter}'])
        # Mixed MTUs for the wire run: e3's link, e2's IPv6 MTU (ip6_forward checks that).
        run(['ip', '-n', r, 'link', 'set', 'e3', 'mtu', '1400'])
        run(['ip', 'netns', 'exec', r, 'sysctl', '-qw', 'net.ipv6.conf.e2.mtu=1280'])
        if self.unsupported and self.args.in0_sources:
            # In every table, so that the reverse walk finds a way back through in0 in
            # whichever table the random rules send it to.
            for fam, (net, gw) in BEHIND_IN0.items():
                lines_r_peer.append(f'neigh replace {gw} lladdr 02:00:00:00:ff:02 dev in0 '
                                    'nud permanent')
                for t in TABLES:
                    lines_r_peer.append(f'route add {net} via {gw} dev in0 table {t}')
                    if t != 'main':
                        lines_r_peer.append(f'route add {ipaddress.ip_network(IN0[fam], strict=False)} '
                                            f'dev in0 table {t}')
        self.batch_strict(r, lines_r_peer)
        if self.linkdown is not None:
            for conf in ('ipv4', 'ipv6'):
                run(['ip', 'netns', 'exec', r, 'sysctl', '-qw',
                     f'net.{conf}.conf.all.ignore_routes_with_linkdown={self.linkdown}',
                     f'net.{conf}.conf.e4.ignore_routes_with_linkdown={self.linkdown}'])
        # Wait for carrier on every router link (veth peers are up).
        for _ in range(50):
            out = run(['ip', '-n', r, '-j', 'link', 'show']).stdout
            if all('LOWER_UP' in l.get('flags', []) for l in json.loads(out)
                   if l['ifname'] in ['in0'] + EGRESS):
                break
            time.sleep(0.1)
        else:
            raise Bail('router links did not come up')

    def carrier_off(self):
        """linkdown mode, after the routes are in: e4 loses carrier (its sink end goes down),
        so the kernel flags its next hops linkdown instead of refusing the routes."""
        run(['ip', '-n', self.ns_s, 'link', 'set', 's4', 'down'])
        for _ in range(50):
            out = json.loads(run(['ip', '-n', self.ns_r, '-j', 'link', 'show', 'e4']).stdout)
            if 'LOWER_UP' not in out[0].get('flags', []):
                return
            time.sleep(0.1)
        raise Bail('e4 kept its carrier')

    def batch_strict(self, ns, lines):
        res = ip_batch(ns, lines)
        bad = [(l, e) for l, e in zip(lines, res) if e]
        if bad:
            raise Bail(f'{ns}: ' + '; '.join(f'{l}: {e}' for l, e in bad[:5]))

    def install(self, policies):
        """Routes then rules (gateways are checked against the rules at insertion)."""
        routes, rules = [], []
        for pol in policies:
            ro, ru = pol.lines()
            fam = f'-{pol.fam} '
            routes += [fam + line for line in ro]
            rules += [fam + line for line in ru]
        # `ip -batch` takes no per-line -4/-6: one batch per family (and nexthop groups, which
        # must have none, in a batch of their own, first).
        fails = Counter()
        for fam, kind, lines in [('', 'routes', routes)] + [
                (f, k, ls) for f in ('4', '6') for k, ls in (('routes', routes), ('rules', rules))]:
            if not fam:
                mine = [l[3:] for l in lines if l[3:].startswith('nexthop ')]
            else:
                mine = [l[3:] for l in lines if l.startswith(f'-{fam} ')
                        and not l[3:].startswith('nexthop ')]
            if mine:
                p = run(['ip', '-n', self.ns_r] + ([f'-{fam}'] if fam else []) +
                        ['-force', '-batch', '-'], stdin='\n'.join(mine) + '\n', check=False)
                errs = [l for l in p.stderr.splitlines() if l.startswith('Command failed')]
                fails[f'v{fam or "46"} {kind}'] += len(errs)
                if errs and VERBOSE:
                    Tap.note(p.stderr)
                fails[f'v{fam or "46"} {kind} total'] += len(mine)
        return fails

    # -- steerd
    def nsenter(self, argv):
        return ['nsenter', f'--net=/run/netns/{self.ns_r}'] + argv

    def steerctl(self, *a, stdin=None, check=True, timeout=120):
        return run(self.nsenter([STEERCTL, '--pin-dir', self.pin_dir] + list(a)), stdin=stdin,
                   check=check, timeout=timeout)

    def start_steerd(self, tmp):
        self.log_path = os.path.join(tmp, f'steerd-{self.name}.log')
        log = open(self.log_path, 'w')
        argv = self.nsenter([STEERD, '--attach', 'in0', '--pin-dir', self.pin_dir])
        if self.args.xdp:
            argv += ['--attach-mode', 'xdp']
        if VERBOSE:
            argv += ['--log-level', 'debug']
        t0 = time.monotonic()
        self.steerd = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        log.close()
        last = ''
        while time.monotonic() - t0 < 10:
            if self.steerd.poll() is not None:
                raise Bail(f'steerd exited with status {self.steerd.returncode}:\n'
                           + self.log_tail())
            p = self.steerctl('-j', 'status', check=False)
            last = p.stdout + p.stderr
            try:
                if p.returncode == 0 and json.loads(p.stdout).get('synced') is True:
                    return time.monotonic() - t0
            except ValueError:
                pass
            time.sleep(0.1)
        raise Bail(f'steerd not synced after 10 s; last status: {last.strip()}\n'
                   + self.log_tail())

    def log_tail(self, n=60):
        try:
            with open(self.log_path) as f:
                return ''.join(f.readlines()[-n:])
        except OSError:
            return ''

    def stop_steerd(self):
        if self.steerd and self.steerd.poll() is None:
            self.steerd.send_signal(signal.SIGTERM)
            try:
                self.steerd.wait(5)
            except subprocess.TimeoutExpired:
                self.steerd.kill()
                self.steerd.wait()
        self.steerd = None

    def cleanup(self):
        if self.kept:
            return
        self.stop_steerd()
        if os.path.exists(self.pin_dir) and os.path.exists(STEERD):
            argv = [STEERD, '--cleanup', '--pin-dir', self.pin_dir]
            if os.path.exists(f'/run/netns/{self.ns_r}'):
                argv = self.nsenter(argv)
            p = subprocess.run(argv, capture_output=True, text=True)
            if p.returncode != 0:
                Tap.note(f'steerd --cleanup failed ({p.returncode}): {p.stderr.strip()}')
        shutil.rmtree(self.pin_dir, ignore_errors=True)
        for ns in reversed(self.made_ns):
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)
        self.made_ns = []

    # -- the wire
    def wire(self, tmp, sample, run_name):
        """Sends the sample as real packets and returns, per flow index, the sorted frames it
        caused, plus the neighbour solicitations seen (a Counter: they name no flow)."""
        me = os.path.abspath(__file__)
        # Neighbours left half-resolved by an earlier run would change what is solicited.
        for dev in EGRESS + ['in0']:
            run(['ip', '-n', self.ns_r, 'neigh', 'flush', 'dev', dev], check=False)
        in0 = json.loads(run(['ip', '-n', self.ns_r, '-j', 'link', 'show', 'in0']).stdout)[0]
        spec = os.path.join(tmp, f'wire-{self.name}-{run_name}.spec')
        with open(spec, 'w') as f:
            for i, fl, size, label in sample:
                f.write(f'{i} {fl.fam} {fl.src} {fl.dst} {fl.tos} {fl.proto} {fl.sport or 0} '
                        f'{fl.dport or 0} {size} {label}\n')
        caps = []
        for ns, ifs in ((self.ns_s, [f's{i}' for i in range(1, len(EGRESS) + 1)]),
                        (self.ns_c, ['c0'])):
            out = os.path.join(tmp, f'wire-{self.name}-{run_name}-{ns}.txt')
            for x in (out, out + '.ready'):
                if os.path.exists(x):
                    os.unlink(x)
            p = subprocess.Popen(['nsenter', f'--net=/run/netns/{ns}', sys.executable, me,
                                  '--wire-capture', out] + ifs)
            caps.append((p, out))
        try:
            for p, out in caps:
                for _ in range(200):
                    if os.path.exists(out + '.ready') or p.poll() is not None:
                        break
                    time.sleep(0.01)
                if not os.path.exists(out + '.ready'):
                    raise Bail(f'wire recorder for {out} did not start')
            # Always from one CPU: a veth delivers on the sender's, and the flow cache is
            # per CPU, so the warm run meets the decisions the runs before it left.
            run(['nsenter', f'--net=/run/netns/{self.ns_c}', 'taskset', '-c', '0',
                 sys.executable, me, '--wire-send', 'c0', in0['address'], spec], timeout=120)
            time.sleep(0.6)
        finally:
            for p, _ in caps:
                p.send_signal(signal.SIGTERM)
            for p, _ in caps:
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        # A recorder that died saw nothing, and both runs seeing nothing would agree.
        for p, out in caps:
            if p.returncode != 0:
                raise Bail(f'wire recorder for {out} failed (exit {p.returncode})')
        frames, solicits = {}, Counter()
        for _, out in caps:
            with open(out) as f:
                for line in f:
                    w = line.split()
                    if w[1] == 'solicit':
                        # Of this run's family: another's are retries of an earlier run's.
                        if (':' in w[2]) == (sample[0][1].fam == 6 if sample else False):
                            solicits[(w[0], w[2])] += 1
                    elif w[2].isdigit():
                        frames.setdefault(int(w[2]), []).append(' '.join(w[:2] + w[3:]))
        return {i: sorted(frames.get(i, [])) for i, *_ in sample}, solicits

    # -- asking both sides
    def ask_kernel(self, flows):
        # As uid 0, as the kernel looks up what it forwards (uidrange rules match it);
        # IPv6's `route get ... iif` would otherwise use no uid at all.
        plain = ip_batch(self.ns_r, ['route get ' + f.args() + ' uid 0' for f in flows],
                         json_out=True)
        fib = ip_batch(self.ns_r, ['route get fibmatch ' + f.args() + ' uid 0' for f in flows],
                       json_out=True)
        skip = {'dead', 'linkdown'} if self.linkdown else {'dead'}
        out = [classify_kernel(p, m, skip) for p, m in zip(plain, fib)]
        for f, k in zip(flows, out):
            # The kernel answers these with odd errors (IPv6: EMSGSIZE); steer must punt.
            if ipaddress.ip_address(f.dst).is_multicast:
                k.update(kind='special', err=k.get('err') or k.get('type'))
        return out

    def ask_steer(self, flows):
        p = self.steerctl('-j', 'explain', '--batch', '-',
                          stdin=''.join(f.steer_line() + '\n' for f in flows), check=False,
                          timeout=300)
        try:
            vals = json_stream(p.stdout)
        except ValueError as e:
            raise Bail(f'steerctl explain --batch: bad JSON ({e}); exit {p.returncode}; '
                       f'stderr: {p.stderr.strip()[:1000]}')
        if len(vals) != len(flows):
            raise Bail(f'steerctl explain --batch: {len(vals)} answers for {len(flows)} flows; '
                       f'exit {p.returncode}; stderr: {p.stderr.strip()[:1000]}')
        return vals

    def debug_dump(self):
        Tap.note('---- debug dump: kernel state and steer maps ----')
        for argv in (['ip', '-n', self.ns_r, '-4', 'rule'], ['ip', '-n', self.ns_r, '-6', 'rule'],
                     ['ip', '-n', self.ns_r, '-4', 'route', 'show', 'table', 'all'],
                     ['ip', '-n', self.ns_r, '-6', 'route', 'show', 'table', 'all'],
                     ['ip', '-n', self.ns_r, 'neigh', 'show']):
            p = run(argv, check=False)
            Tap.note('$ ' + ' '.join(argv[3:]), p.stdout + p.stderr)
        for cmd in ('rules', 'routes', 'status'):
            p = self.steerctl(cmd, check=False)
            Tap.note(f'$ steerctl {cmd}', p.stdout + p.stderr)
        Tap.note('---- steerd log (tail) ----', self.log_tail(100))
        Tap.note('---- end of debug dump ----')


def fmt_k(k):
    if k['kind'] in ('forward', 'local'):
        s = f'{k["kind"]} type {k["type"]} dev {k["dev"]}'
        if k['gw']:
            s += f' via {k["gw"]}'
        s += f' table {k["table"]}'
        if k.get('fib_dst'):
            s += f' (fibmatch {k["fib_dst"]})'
        if k['nexthops']:
            s += ' nexthops ' + ', '.join(f'{d}/{g}' for d, g in k['nexthops'])
        return s
    return f'{k["kind"]}: {k["err"]}'


def pct(a, b):
    return 100.0 * a / b if b else 0.0


def top(counter, n=6):
    return ', '.join(f'{k} {v}' for k, v in counter.most_common(n)) or 'none'


def self_check(args, phase, families, flows):
    """Proves the comparison can fail: freeze the fast path (SIGKILL steerd, so its maps stay
    as they are and still say synced), change the kernel behind its back (flush the tables
    other than main), ask again: stale answers must show up as disagreements. Multipath
    forwards do not count: their member is asked of the kernel's live table, so they punt
    once it is flushed instead of going stale."""
    before = {fam: sum(1 for s in phase.ask_steer(flows[fam]) if s.get('action') == 'forward'
                       and str(s.get('table')) in TABLES[1:] and s.get('type') != 'multipath')
              for fam in families}
    if not sum(before.values()):
        # A self-check that cannot run has proved nothing: that is a failure, not a pass.
        TAP.not_ok('self-check: steer forwarded nothing through tables 100-104 to go stale')
        return
    phase.steerd.kill()
    phase.steerd.wait()
    phase.steerd = None
    for fam in families:
        for t in TABLES[1:]:
            run(['ip', '-n', phase.ns_r, f'-{fam}', 'route', 'flush', 'table', t], check=False)
    caught = {}
    for fam in families:
        ks = phase.ask_kernel(flows[fam])
        ss = phase.ask_steer(flows[fam])
        caught[fam] = sum(1 for f, k, s in zip(flows[fam], ks, ss) if compare(f, k, s))
    TAP.check(all(caught[f] or not before[f] for f in families),
              'self-check: with steerd killed and tables 100-104 flushed behind its back, '
              'the stale fast path disagrees with the kernel: ' + ', '.join(
                  f'v{f} {caught[f]} disagreements ({before[f]} flows had been forwarded by '
                  f'those tables)' for f in families))


def wire_compare(args, phase, families, tmp, sample, wire_k):
    """The sample again with steer attached: every flow's frames and the solicitations must be
    what the kernel alone sent; and the fast path must have forwarded some of them, or the
    comparison proved nothing."""
    bad = 0
    for fam in families:
        st0 = json.loads(phase.steerctl('-j', 'stats').stdout)
        frames, solicits = phase.wire(tmp, sample[fam], f'steer-v{fam}')
        st1 = json.loads(phase.steerctl('-j', 'stats').stdout)
        kframes, ksolicits = wire_k[fam]
        diff = [(i, fl) for i, fl, *_ in sample[fam] if frames[i] != kframes[i]]
        delta = {k: st1[k] - st0.get(k, 0) for k in st1
                 if isinstance(st1[k], int) and st1[k] != st0.get(k, 0)}
        for i, fl in diff[:args.show]:
            Tap.note(f'WIRE DISAGREEMENT (seed {args.seed}, {phase.name} v{fam}): {fl.args()}',
                     f'  kernel alone: {kframes[i] or "nothing"}',
                     f'  with steer:   {frames[i] or "nothing"}',
                     f'  steer explains: ' + json.dumps(phase.ask_steer([fl])[0]))
        # Which addresses were solicited where; how often depends on when the run stopped
        # listening relative to the retries.
        sol = sorted(set(ksolicits) ^ set(solicits))
        if sol:
            Tap.note(f'{phase.name} v{fam}: solicitations differ: ' + ', '.join(
                f'{ifn} {t}: kernel alone {ksolicits[(ifn, t)]}, with steer {solicits[(ifn, t)]}'
                for ifn, t in sol[:20]))
        sent = sum(1 for v in kframes.values() if any(' data ' in f'{x} ' for x in v))
        TAP.check(not diff and not sol,
                  f'{phase.name} v{fam}: wire: {len(sample[fam])} flows sent as packets, '
                  f'{len(diff)} reached the wire differently than with the kernel alone, '
                  f'solicitations {"differ" if sol else "equal"} ({sent} forwarded by the kernel)')
        # What the program says it does with the packets as sent (unmarked): that many must
        # have been forwarded, or punted for what explain's small packet does not show: size,
        # and the flow label a real IPv6 packet carries, which moves a multipath flow to
        # another member (one whose link is down, say) or punts ICMPv6.
        sent_as = [Flow(fl.fam, fl.dst, fl.src, 0, fl.tos, fl.proto, fl.sport, fl.dport)
                   for _, fl, *_ in sample[fam]]
        want = sum(1 for x in phase.ask_steer(sent_as) if x.get('action') == 'forward')
        # With the XDP stage, what it forwarded never reached TC: both stages count.
        fwd = delta.get('total_forwarded', delta.get('forwarded', 0))
        ok = fwd + sum(delta.get(k, 0) for k in ('punt_mtu', 'punt_multipath', 'punt_link_down')) \
            >= want and \
            (fwd > 0 or not want)
        TAP.check(ok, f'{phase.name} v{fam}: wire: the fast path forwarded {fwd} of them, '
                      f'explain says {want} (counters: '
                      f'{", ".join(f"{k} +{v}" for k, v in sorted(delta.items()))})')
        bad += len(diff) + bool(sol) + (not ok)
    return bad


def generation(phase):
    return json.loads(phase.steerctl('-j', 'status').stdout).get('generation')


def settle(phase, gen0, quiet_s=0.3, limit_s=10):
    """Until steerd has applied what the kernel said: a generation past gen0, nothing
    pending, and the generation still for quiet_s."""
    t0, last, since = time.monotonic(), None, time.monotonic()
    while time.monotonic() - t0 < limit_s:
        st = json.loads(phase.steerctl('-j', 'status').stdout)
        gen = (st.get('generation'), st.get('pending'))
        if gen != last:
            last, since = gen, time.monotonic()
        elif gen[0] != gen0 and not gen[1] and time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.05)
    raise Bail(f'steerd did not settle in {limit_s} s: {last}')


def warm_compare(args, phase, families, tmp, sample):
    """The flow cache, warm. The sample goes through once more (each flow's decision is
    cached by then, and the counters must show the cache answering); then tables 100-104,
    which many of its flows took, are flushed under the running steerd, and the sample goes
    through again: a cached decision that outlived the change would put a packet where the
    kernel alone, on the same state (steer detached afterwards), does not."""
    bad = 0
    st0 = json.loads(phase.steerctl('-j', 'stats').stdout)
    for fam in families:
        phase.wire(tmp, sample[fam], f'rewarm-v{fam}')
    st1 = json.loads(phase.steerctl('-j', 'stats').stdout)
    hits = sum(st1.get(k, 0) - st0.get(k, 0) for k in ('cached', 'xdp_cached'))
    TAP.check(hits > 0, f'{phase.name}: warm: the flow cache decided {hits} of the sample\'s '
                        f'packets the second time through')
    gen0 = generation(phase)
    had = 0
    for fam in families:
        for t in TABLES[1:]:
            had += bool(run(['ip', '-n', phase.ns_r, f'-{fam}', 'route', 'show', 'table', t],
                            check=False).stdout.strip())
            run(['ip', '-n', phase.ns_r, f'-{fam}', 'route', 'flush', 'table', t], check=False)
    if had:
        settle(phase, gen0)
    steer = {fam: phase.wire(tmp, sample[fam], f'warm-steer-v{fam}') for fam in families}
    phase.steerctl('detach', 'in0')
    for fam in families:
        frames, solicits = steer[fam]
        kframes, ksolicits = phase.wire(tmp, sample[fam], f'warm-kernel-v{fam}')
        diff = [(i, fl) for i, fl, *_ in sample[fam] if frames[i] != kframes[i]]
        for i, fl in diff[:args.show]:
            Tap.note(f'WARM WIRE DISAGREEMENT (seed {args.seed}, {phase.name} v{fam}): '
                     f'{fl.args()}', f'  kernel alone: {kframes[i] or "nothing"}',
                     f'  with steer:   {frames[i] or "nothing"}')
        sol = sorted(set(ksolicits) ^ set(solicits))
        TAP.check(not diff and not sol,
                  f'{phase.name} v{fam}: warm: tables 100-104 flushed under a warm flow cache: '
                  f'{len(diff)} of {len(sample[fam])} flows reached the wire differently than '
                  f'with the kernel alone, solicitations {"differ" if sol else "equal"}')
        bad += len(diff) + bool(sol)
    return bad


def run_phase(args, phase, families, tmp):
    rng = phase.rng
    policies = [Policy(rng, fam, args.rules, phase.unsupported) for fam in families]
    phase.policies = policies
    share = args.in0_sources if phase.unsupported else 0.0
    flows = {pol.fam: gen_flows(rng, pol, args.flows, share) for pol in policies}
    t0 = time.monotonic()
    phase.topology()
    fails = phase.install(policies)
    if phase.linkdown is not None:
        phase.carrier_off()
    for f in families:   # nexthop objects count with the routes
        for x in ('', ' total'):
            fails[f'v{f} routes{x}'] += fails[f'v46 routes{x}'] // len(families)
    installed = ', '.join(
        f'v{f} {fails[f"v{f} rules total"] - fails[f"v{f} rules"]}/{fails[f"v{f} rules total"]}'
        f' rules {fails[f"v{f} routes total"] - fails[f"v{f} routes"]}/'
        f'{fails[f"v{f} routes total"]} routes' for f in families)
    ld = ('' if phase.linkdown is None else
          f'; e4 without carrier, ignore_routes_with_linkdown {phase.linkdown}')
    TAP.ok(f'{phase.name}: topology and policy installed in {time.monotonic() - t0:.1f} s '
           f'(rp_filter {phase.rp_filter}{ld}; {installed})')

    kernel = {}
    for fam in families:
        t1 = time.monotonic()
        kernel[fam] = phase.ask_kernel(flows[fam])
        Tap.note(f'{phase.name} v{fam}: kernel answered {len(flows[fam])} flows in '
                 f'{time.monotonic() - t1:.1f} s: '
                 + top(Counter(k['kind'] for k in kernel[fam])))
        odd = Counter(k['err'] for k in kernel[fam] if k['kind'] == 'error')
        if odd:
            Tap.note(f'{phase.name} v{fam}: unexpected kernel errors: {top(odd)}')

    wire_rng = random.Random(args.seed * 104729 + (phase.name == 'supported'))
    sample = {fam: wire_sample(wire_rng, flows[fam], args.wire) for fam in families}
    wire_k = {}
    if args.wire:
        t1 = time.monotonic()
        for fam in families:
            wire_k[fam] = phase.wire(tmp, sample[fam], f'kernel-v{fam}')
        Tap.note(f'{phase.name}: the kernel alone: {sum(len(v) for v in sample.values())} flows '
                 f'sent as packets in {time.monotonic() - t1:.1f} s')

    if args.kernel_only:
        TAP.skip(f'{phase.name}: steer side', '--kernel-only')
        return 0

    dt = phase.start_steerd(tmp)
    TAP.ok(f'{phase.name}: steerd started and synced in {dt * 1000:.0f} ms')

    total_dis = 0
    for fam in families:
        fl, ks = flows[fam], kernel[fam]
        t1 = time.monotonic()
        try:
            ss = phase.ask_steer(fl)
        except Bail as e:
            TAP.not_ok(f'{phase.name} v{fam}: steerctl explain --batch: {e}')
            total_dis += 1
            continue
        dt = time.monotonic() - t1
        dis = []
        punts = Counter()
        avoidable = Counter()         # punted where the kernel forwards
        actions = Counter()
        mp_total = mp_same = 0
        table_diff = []
        examples = {}
        for f, k, s in zip(fl, ks, ss):
            why = compare(f, k, s)
            act = s.get('action', 'error')
            actions[act] += 1
            if act == 'punt':
                reason = s.get('reason') or '?'
                punts[reason] += 1
                if k['kind'] == 'forward':
                    avoidable[reason] += 1
                    where = s.get('priority')
                    examples.setdefault((reason, where), []).append((f, k, s))
            if why:
                dis.append((f, k, s, why))
                continue
            if act == 'forward':
                if k['nexthops']:
                    mp_total += 1
                    mp_same += s.get('dev') == k['dev'] and same_addr(
                        s.get('gateway') or None, k['gw'])
                st = s.get('table')
                if st is not None and table_id(st) != k['table']:
                    table_diff.append((f, k, s))
        n = len(fl)
        kfwd = sum(k['kind'] == 'forward' for k in ks)
        desc = (f'{phase.name} v{fam}: {n} flows, {len(dis)} disagreements, '
                f'punt rate {pct(sum(punts.values()), n):.1f}% '
                f'(reasons: {top(punts)}), '
                f'punted where the kernel forwards {pct(sum(avoidable.values()), kfwd):.1f}% '
                f'of {kfwd}')
        Tap.note(f'{phase.name} v{fam}: steer answered in {dt:.1f} s: {top(actions)}; '
                 f'multipath flows: {mp_total}, same next hop as the kernel: {mp_same}')
        if avoidable:
            Tap.note(f'{phase.name} v{fam}: punted although the kernel forwards: '
                     + top(avoidable, 20))
            rule_text = {0: 'lookup local (default rule)', 32766: 'lookup main (default rule)',
                         32767: 'lookup default (default rule)'}
            for pol in phase.policies:
                if pol.fam == fam:
                    for pref, line in pol.rules:
                        rule_text[pref] = (rule_text[pref] + ' | ' + line
                                           if pref in rule_text else line)
            for (reason, prio), ex in sorted(examples.items(), key=lambda e: -len(e[1])):
                text = f' at rule {prio}: {rule_text.get(prio, "?")}' if prio else ''
                Tap.note(f'  {len(ex)} x {reason}{text}')
                for f, k, s in ex[:args.examples]:
                    Tap.note(f'      {f.args()}  kernel: {fmt_k(k)}')
        for f, k, s in table_diff[:10]:
            Tap.note(f'WARNING table differs (same next hop): {f.args()}',
                     f'  kernel: {fmt_k(k)}', f'  steer:  {json.dumps(s)}')
        if table_diff:
            Tap.note(f'{phase.name} v{fam}: {len(table_diff)} forwards with the right next hop '
                     f'but a different table')
        for f, k, s, why in dis[:args.show]:
            Tap.note(f'DISAGREEMENT (seed {args.seed}, {phase.name} v{fam}): {why}',
                     f'  flow:   {f.args()}',
                     f'  kernel: ip -n {phase.ns_r} route get {f.args()}',
                     f'          -> {fmt_k(k)}',
                     f'  steer:  steerctl explain {f.steer_line()}',
                     f'          -> {json.dumps(s)}')
        if len(dis) > args.show:
            Tap.note(f'... and {len(dis) - args.show} more disagreements')
        TAP.check(not dis, desc)
        if phase.name == 'supported' and args.max_punt is not None:
            rate = pct(sum(avoidable.values()), kfwd)
            TAP.check(rate < args.max_punt,
                      f'{phase.name} v{fam}: punt rate among kernel forwards {rate:.1f}% '
                      f'< {args.max_punt}%')
        total_dis += len(dis)

    if args.wire and phase.steerd.poll() is None:
        total_dis += wire_compare(args, phase, families, tmp, sample, wire_k)
    # The self-check needs tables 100-104 as they were; the other phase takes the warm run.
    warm = args.wire and not total_dis and not (args.self_check and
                                                 phase.name == args.self_check_phase)
    if warm and phase.steerd.poll() is None:
        try:
            total_dis += warm_compare(args, phase, families, tmp, sample)
        except Bail as e:
            TAP.not_ok(f'{phase.name}: warm: {e}')
            total_dis += 1

    if total_dis:
        phase.debug_dump()
    elif phase.steerd.poll() is not None:
        TAP.not_ok(f'{phase.name}: steerd died during the run (status {phase.steerd.returncode})')
        total_dis += 1
    elif args.self_check and phase.name == args.self_check_phase and not args.keep:
        self_check(args, phase, families, flows)
    return total_dis


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seed', type=int, default=None, help='random seed (default: random)')
    ap.add_argument('--flows', type=int, default=2000, help='flows per family per phase')
    ap.add_argument('--rules', type=int, default=40, help='random rules per family')
    ap.add_argument('--family', choices=['4', '6', '46'], default='46')
    ap.add_argument('--rp-filter', type=int, choices=[0, 1, 2], default=None,
                    help="the full phase's rp_filter on every link (default: drawn by the seed)")
    ap.add_argument('--in0-sources', type=float, default=0.0, metavar='SHARE',
                    help="the full phase: this share of the flows comes from in0's own net "
                         "or from a net routed back through in0 (for a strict rp_filter's "
                         "measurement; 0: none, as in CI)")
    ap.add_argument('--phase', choices=['full', 'supported', 'both'], default='both')
    ap.add_argument('--keep', action='store_true',
                    help='leave the namespaces, pins and steerd of the last phase run (or of '
                         'the first one with a disagreement) for debugging')
    ap.add_argument('--kernel-only', action='store_true',
                    help='ask only the kernel (checks the harness without steer)')
    ap.add_argument('--max-punt', type=float, default=None,
                    help='fail the supported phase when more than this %% of the flows the '
                         'kernel forwards are punted')
    ap.add_argument('--show', type=int, default=25, help='disagreements printed per family')
    ap.add_argument('--examples', type=int, default=2,
                    help='example flows printed per punt reason where the kernel forwards')
    ap.add_argument('--no-self-check', dest='self_check', action='store_false',
                    help='skip the check that a stale fast path is caught')
    ap.add_argument('--wire', type=int, default=150,
                    help='flows per family and phase also sent as real packets, with the kernel '
                         'alone and with steer (0: none)')
    ap.add_argument('--xdp', action='store_true',
                    help='steerd with the XDP stage in front of TC (GRO on every veth peer)')
    ap.add_argument('-v', '--verbose', action='store_true')
    if len(sys.argv) > 1 and sys.argv[1] == '--wire-send':
        return wire_send(*sys.argv[2:5])
    if len(sys.argv) > 1 and sys.argv[1] == '--wire-capture':
        return wire_capture(sys.argv[2], sys.argv[3:])
    args = ap.parse_args()
    VERBOSE = args.verbose
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    print(f'# seed {args.seed} (rerun: {sys.argv[0]} --seed {args.seed} --flows {args.flows} '
          f'--rules {args.rules})', flush=True)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    families = [int(c) for c in args.family]
    args.self_check_phase = 'supported' if args.phase != 'full' else 'full'
    rng = random.Random(args.seed)
    draw = rng.random()
    rp_filter = 1 if draw < 1 / 6 else 2 if draw < 1 / 3 else 0
    if args.rp_filter is not None:
        rp_filter = args.rp_filter
    linkdown = rng.choice([None, None, 0, 1])
    phases = []
    if args.phase in ('full', 'both'):
        phases.append(('full', True, rp_filter, linkdown))
    if args.phase in ('supported', 'both'):
        phases.append(('supported', False, 0, None))
    tmp = tempfile.mkdtemp(prefix=f'steer-diff-{os.getpid()}.')
    rc = 0
    current = None
    try:
        if os.geteuid() != 0:
            raise Bail('needs root (network namespaces, bpffs)')
        for tool in ('ip', 'nsenter', 'mountpoint'):
            if not shutil.which(tool):
                raise Bail(f'{tool} not installed')
        if not args.kernel_only:
            for b in (STEERD, STEERCTL):
                if not os.access(b, os.X_OK):
                    raise Bail(f'no binary at {b} (set STEERD= / STEERCTL=)')
            if subprocess.run(['mountpoint', '-q', '/sys/fs/bpf']).returncode != 0:
                run(['mount', '-t', 'bpf', 'bpf', '/sys/fs/bpf'])
                Tap.note('mounted bpffs on /sys/fs/bpf (left mounted)')
        for i, (name, unsup, rpf, ld) in enumerate(phases):
            # Each phase draws from its own stream, so --phase X reproduces X of --phase both.
            current = Phase(args, name, random.Random(args.seed * 7919 + (name == 'supported')),
                            unsup, rpf, ld)
            dis = run_phase(args, current, families, tmp)
            if dis:
                rc = 1
            last = i == len(phases) - 1
            if args.keep and (dis or last):
                current.kept = True
                Tap.note(f'--keep: left namespaces {current.ns_r} {current.ns_c} '
                         f'{current.ns_s}, pins {current.pin_dir}, steerd pid '
                         f'{current.steerd.pid if current.steerd else "-"} (log '
                         f'{current.log_path}); clean up with: kill PID; nsenter '
                         f'--net=/run/netns/{current.ns_r} {STEERD} --cleanup --pin-dir '
                         f'{current.pin_dir}; ip netns del ...')
                break
            current.cleanup()
            current = None
    except Bail as e:
        TAP.not_ok(f'harness: {e}')
        if current and current.steerd:
            Tap.note('steerd log:', current.log_tail())
        rc = 1
    except Exception:   # a bug in this script: still clean up, still say `not ok`
        import traceback
        TAP.not_ok('harness: unexpected exception')
        Tap.note(traceback.format_exc())
        rc = 1
    finally:
        if current:
            current.cleanup()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        TAP.plan()
    if TAP.fails:
        rc = 1
    print(f'# seed {args.seed}: {"FAIL" if rc else "pass"}', flush=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
