#!/usr/bin/env bash
# IPv6 policy routing, selector by selector and action by action, with real packets:
# client -- router (steerd on "cli") -- sinks A, B, C. For each `ip rule`/`ip route` setup the
# client sends tagged UDP, TCP SYN or ICMPv6 echo packets with chosen traffic class and ports,
# and each
# check puts side by side: the kernel's `ip -6 route get ... iif cli` for that packet, the sink
# the packets reached (or that none did, and the ICMPv6 error the client got), and the
# steerctl counter the fast path moved (forwarded, drop_blackhole, punt_*).
# Usage: tests/netns/policy-v4.sh   (root; STEERD/STEERCTL override the binaries;
#        ST_KERNEL_ONLY=1 checks the kernel half alone)
set -euo pipefail
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

F=6
C1=2001:db8:1::2       # the client's address ...
C2=2001:db8:1::3       # ... and a second one
D=2001:db8:ffff::1     # "the internet": every sink owns it
D2=2001:db8:eeee::1    # a second destination every sink owns
LOC=2001:db8:ffff::7   # the router's own (on lo)
LOC2=2001:db8:ffff::8  # made a local route
ANY=2001:db8:ffff::9   # made an anycast route
GA=2001:db8:a::2 GB=2001:db8:b::2 GC=2001:db8:c::2

st_init
st_note "IPv6 policy: $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB, $NS_SINKC}, pins in $PIN_DIR"
st_topology 6
st_add_sink c
# Flows spread over a multipath route by ports (the fast path punts them); ICMPv6 errors not
# rate-limited.
ip netns exec "$NS_ROUTER" sysctl -qw net.ipv6.fib_multipath_hash_policy=1 \
	net.ipv6.icmp.ratelimit=0
st_ip -n "$NS_CLIENT" addr add "$C2/64" dev eth0 nodad
# Fresh sources for the checks that expect ICMP errors (as in policy-v4.sh).
for i in $(seq 10 29); do st_ip -n "$NS_CLIENT" addr add "2001:db8:1::$i/64" dev eth0 nodad; done
E=10
esrc() { E=$((E + 1)); ESRC=2001:db8:1::$E; }
st_ip -n "$NS_ROUTER" addr add "$LOC/128" dev lo nodad
for ns in "$NS_SINKA" "$NS_SINKB" "$NS_SINKC"; do
	st_ip -n "$ns" addr add "$D2/128" dev lo nodad
done
# Sink A answers neighbour solicitations for $D (the on-link route): on eth0, not lo.
st_ip -n "$NS_SINKA" addr del "$D/128" dev lo
st_ip -n "$NS_SINKA" addr add "$D/128" dev eth0 nodad
# Table 300: out C; table 400: out A; main: out A; rule 100 (from the client net): table 100, B.
# (Routes go in before the rules that use their table: the kernel checks IPv6 gateways through
# the rules.)
st_ip -n "$NS_ROUTER" route add default via "$GC" table 300
st_ip -n "$NS_ROUTER" route add default via "$GA" table 400
# The router's own packets (ICMPv6 errors, echo replies) pick their source address before the
# rules, and 2001:db8:1::1 would match rule 100: they would leave by B. Not what is under test.
st_ip -n "$NS_ROUTER" -6 rule add priority 99 iif lo lookup main
st_capture_start
st_start_steerd

# Most rules below carry `iif cli`, so that they do not also catch what comes back from the
# sinks (ICMP errors, echo replies) and the router's own packets.

st_note "--- baseline: rule 100 from 2001:db8:1::/64 lookup 100 -> B"
st_flow $F "baseline udp" upb forwarded udp
st_flow $F "baseline tcp" upb forwarded tcp
st_flow $F "baseline icmp" upb forwarded icmp

st_note "--- selectors"
st_policy $F "from" <<EOF
rule add priority 10 from $C1/128 lookup 300
EOF
st_flow $F "from $C1/128, packet from $C1" upc forwarded udp src=$C1
st_flow $F "from $C1/128, packet from $C2" upb forwarded udp src=$C2

st_policy $F "to" <<EOF
rule add priority 10 to 2001:db8:ffff::/64 lookup 300
EOF
st_flow $F "to 2001:db8:ffff::/64, packet to $D" upc forwarded udp dst=$D
st_flow $F "to 2001:db8:ffff::/64, packet to $D2" upb forwarded udp dst=$D2
st_flow $F "to 2001:db8:ffff::/64, icmp to $D" upc forwarded icmp dst=$D

st_policy $F "dsfield (tos): the kernel compares traffic class & 0xfc" <<EOF
rule add priority 10 tos 0x10 lookup 300
EOF
st_flow $F "tos 0x10, tclass 0x10" upc forwarded udp tos=0x10
st_flow $F "tos 0x10, tclass 0" upb forwarded udp tos=0
st_flow $F "tos 0x10, tclass 0x12 (ECN bits ignored)" upc forwarded udp tos=0x12
st_flow $F "tos 0x10, tclass 0x11 (ECN bits ignored)" upc forwarded udp tos=0x11
st_flow $F "tos 0x10, tclass 0x30 (the whole DSCP compared, unlike IPv4)" upb forwarded udp tos=0x30
st_flow $F "tos 0x10, tclass 0x14" upb forwarded udp tos=0x14
st_flow $F "tos 0x10, tcp tclass 0x10" upc forwarded tcp tos=0x10
st_flow $F "tos 0x10, icmp tclass 0x10" upc forwarded icmp tos=0x10

st_policy $F "iif (the client's interface)" <<EOF
rule add priority 10 iif cli lookup 300
EOF
st_flow $F "iif cli" upc forwarded udp
st_policy $F "iif (another interface)" <<EOF
rule add priority 10 iif upa lookup 300
EOF
st_flow $F "iif upa, packet from cli" upb forwarded udp

st_policy $F "ipproto" <<EOF
rule add priority 10 ipproto udp lookup 300
EOF
st_flow $F "ipproto udp, udp" upc forwarded udp
st_flow $F "ipproto udp, icmp" upb forwarded icmp
st_flow $F "ipproto udp, tcp" upb forwarded tcp

st_policy $F "sport" <<EOF
rule add priority 10 sport 1000 lookup 300
EOF
st_flow $F "sport 1000, udp sport 1000" upc forwarded udp sport=1000
st_flow $F "sport 1000, udp sport 1001" upb forwarded udp sport=1001
st_flow $F "sport 1000, tcp sport 1000" upc forwarded tcp sport=1000
# ICMP has no ports: the kernel compares 0 with the rule's port.
st_flow $F "sport 1000, icmp" upb forwarded icmp

st_policy $F "sport range" <<EOF
rule add priority 10 ipproto udp sport 1000-1999 lookup 300
EOF
st_flow $F "sport 1000-1999, sport 999" upb forwarded udp sport=999
st_flow $F "sport 1000-1999, sport 1000" upc forwarded udp sport=1000
st_flow $F "sport 1000-1999, sport 1999" upc forwarded udp sport=1999
st_flow $F "sport 1000-1999, sport 2000" upb forwarded udp sport=2000

st_policy $F "dport" <<EOF
rule add priority 10 dport 53 lookup 300
EOF
st_flow $F "dport 53, udp dport 53" upc forwarded udp dport=53
st_flow $F "dport 53, udp dport 54" upb forwarded udp dport=54

st_policy $F "dport range" <<EOF
rule add priority 10 dport 5000-5010 lookup 300
EOF
st_flow $F "dport 5000-5010, dport 4999" upb forwarded udp dport=4999
st_flow $F "dport 5000-5010, dport 5000" upc forwarded udp dport=5000
st_flow $F "dport 5000-5010, dport 5010" upc forwarded tcp dport=5010
st_flow $F "dport 5000-5010, dport 5011" upb forwarded udp dport=5011

st_policy $F "ipproto + dport" <<EOF
rule add priority 10 ipproto tcp dport 443 lookup 300
EOF
st_flow $F "ipproto tcp dport 443, tcp 443" upc forwarded tcp dport=443
st_flow $F "ipproto tcp dport 443, udp 443" upb forwarded udp dport=443

st_policy $F "not from" <<EOF
rule add priority 10 not from $C1/128 lookup 300
EOF
st_flow $F "not from $C1/128, packet from $C1" upb forwarded udp src=$C1
st_flow $F "not from $C1/128, packet from $C2" upc forwarded udp src=$C2

st_policy $F "not to" <<EOF
rule add priority 10 iif cli not to 2001:db8:ffff::/64 lookup 300
EOF
st_flow $F "not to 2001:db8:ffff::/64, packet to $D" upb forwarded udp dst=$D
st_flow $F "not to 2001:db8:ffff::/64, packet to $D2" upc forwarded udp dst=$D2

# `not` inverts the whole match. (Since Linux 6.15 a single port also comes with a port mask,
# FRA_SPORT_MASK 0xffff, in the rule's netlink message.)
st_policy $F "not sport" <<EOF
rule add priority 10 not sport 1000 lookup 300
EOF
st_flow $F "not sport 1000, udp sport 1000" upb forwarded udp sport=1000
st_flow $F "not sport 1000, udp sport 1001" upc forwarded udp sport=1001
st_flow $F "not sport 1000, icmp (no ports)" upc forwarded icmp

st_policy $F "fwmark 0x7 (packets from another namespace carry mark 0)" <<EOF
rule add priority 10 fwmark 0x7 lookup 300
EOF
st_flow $F "fwmark 0x7, mark 0" upb forwarded udp
st_policy $F "fwmark 0/0xff (mark & 0xff == 0)" <<EOF
rule add priority 10 iif cli fwmark 0/0xff lookup 300
EOF
st_flow $F "fwmark 0/0xff, mark 0" upc forwarded udp

st_note "--- actions"
st_policy $F "goto an existing priority" <<EOF
rule add priority 10 iif cli goto 30
rule add priority 20 iif cli lookup 300
rule add priority 30 iif cli lookup 400
EOF
st_flow $F "goto 30 skips 20, 30 looks up 400" upa forwarded udp

st_policy $F "goto a priority with no rule: the kernel treats it as nop" <<EOF
rule add priority 10 iif cli goto 30
rule add priority 20 iif cli lookup 300
EOF
st_flow $F "goto 30 (no rule 30): on to 20" upc forwarded udp
st_policy_add $F <<EOF
rule add priority 30 iif cli lookup 400
EOF
st_flow $F "goto 30 after rule 30 was added: resolved, 20 skipped" upa forwarded udp
g0=$(st_generation)
st_ip -n "$NS_ROUTER" -6 rule del priority 30
st_sync_wait "$g0"
st_flow $F "goto 30 after rule 30 was deleted again: nop" upc forwarded udp

st_policy $F "a chain of two gotos" <<EOF
rule add priority 10 iif cli goto 20
rule add priority 15 iif cli lookup 300
rule add priority 20 iif cli goto 40
rule add priority 30 iif cli lookup 300
rule add priority 40 iif cli lookup 400
EOF
st_flow $F "goto 20, goto 40: lookup 400" upa forwarded udp

st_policy $F "goto with a selector" <<EOF
rule add priority 10 iif cli ipproto udp goto 30
rule add priority 20 iif cli lookup 300
rule add priority 30 iif cli lookup 400
EOF
st_flow $F "ipproto udp goto 30, udp" upa forwarded udp
st_flow $F "ipproto udp goto 30, icmp" upc forwarded icmp

st_policy $F "goto a rule that does not match: the walk goes on after it" <<EOF
rule add priority 10 iif cli goto 30
rule add priority 20 iif cli lookup 300
rule add priority 30 iif cli tos 0x10 lookup 400
EOF
st_flow $F "goto 30, rule 30 misses (tos 0): on to 100" upb forwarded udp
st_flow $F "goto 30, rule 30 matches (tos 0x10)" upa forwarded udp tos=0x10

st_policy $F "nop" <<EOF
rule add priority 10 iif cli nop
rule add priority 20 iif cli lookup 300
EOF
st_flow $F "nop, then lookup 300" upc forwarded udp

st_policy $F "blackhole rule" <<EOF
rule add priority 10 iif cli to 2001:db8:ffff::/64 blackhole
EOF
st_flow $F "blackhole rule, udp" drop drop_blackhole udp
st_flow $F "blackhole rule, icmp" drop drop_blackhole icmp
st_flow $F "blackhole rule, tcp" drop drop_blackhole tcp
st_flow $F "blackhole rule, another destination" upb forwarded udp dst=$D2

st_policy $F "unreachable rule" <<EOF
rule add priority 10 iif cli to 2001:db8:ffff::/64 unreachable
EOF
esrc
st_flow $F "unreachable rule, udp" unreachable punt_unreachable udp src=$ESRC
esrc
st_flow $F "unreachable rule, icmp" unreachable punt_unreachable icmp src=$ESRC

st_policy $F "prohibit rule" <<EOF
rule add priority 10 iif cli to 2001:db8:ffff::/64 prohibit
EOF
esrc
st_flow $F "prohibit rule, udp" prohibit punt_prohibit udp src=$ESRC
esrc
st_flow $F "prohibit rule, tcp" prohibit punt_prohibit tcp src=$ESRC

st_policy $F "no route at all: goto past main, to a lookup of an empty table" <<EOF
rule add priority 10 iif cli to 2001:db8:ffff::/64 goto 40000
rule add priority 40000 iif cli lookup 500
EOF
esrc
st_flow $F "no route" unreachable punt_no_route udp src=$ESRC
st_flow $F "no route, another destination" upb forwarded udp dst=$D2

st_policy $F "suppress_prefixlength 0 (main's default rejected)" <<EOF
rule add priority 10 iif cli lookup main suppress_prefixlength 0
rule add priority 20 iif cli lookup 300
EOF
st_flow $F "suppress_prefixlength 0, main has only the default" upc forwarded udp
st_policy_add $F <<EOF
route add 2001:db8:ffff::/64 via $GB
EOF
st_flow $F "suppress_prefixlength 0, main has 2001:db8:ffff::/64 via B" upb forwarded udp
st_flow $F "suppress_prefixlength 0, to $D2 (main: only the default)" upc forwarded udp dst=$D2
st_policy $F "suppress_prefixlength 64" <<EOF
route add 2001:db8:ffff::/64 via $GB
rule add priority 10 iif cli lookup main suppress_prefixlength 64
rule add priority 20 iif cli lookup 300
EOF
st_flow $F "suppress_prefixlength 64 rejects the /64" upc forwarded udp

st_note "--- route types (rule 10: iif cli lookup 300, whose default is via C)"
st_policy $F "unicast via a gateway" <<EOF
route add 2001:db8:ffff::/64 via $GA table 300
rule add priority 10 iif cli lookup 300
EOF
st_flow $F "2001:db8:ffff::/64 via A beats the default" upa forwarded udp
st_flow $F "2001:db8:ffff::/64 via A, icmp" upa forwarded icmp
st_flow $F "2001:db8:ffff::/64 via A, $D2 takes the default" upc forwarded udp dst=$D2

st_policy $F "on-link (dev, no gateway)" <<EOF
route add 2001:db8:ffff::/64 dev upa table 300
rule add priority 10 iif cli lookup 300
EOF
st_flow $F "2001:db8:ffff::/64 dev upa" upa forwarded udp
st_flow $F "2001:db8:ffff::/64 dev upa, tcp" upa forwarded tcp

st_policy $F "blackhole route" <<EOF
route add blackhole 2001:db8:ffff::/64 table 300
rule add priority 10 iif cli lookup 300
EOF
st_flow $F "blackhole route" drop drop_blackhole udp
st_flow $F "blackhole route, $D2 takes the default" upc forwarded udp dst=$D2

st_policy $F "unreachable route" <<EOF
route add unreachable 2001:db8:ffff::/64 table 300
rule add priority 10 iif cli lookup 300
EOF
esrc
st_flow $F "unreachable route" unreachable punt_unreachable udp src=$ESRC

st_policy $F "prohibit route" <<EOF
route add prohibit 2001:db8:ffff::/64 table 300
rule add priority 10 iif cli lookup 300
EOF
esrc
st_flow $F "prohibit route" prohibit punt_prohibit icmp src=$ESRC

st_policy $F "throw route (continue with the next rule)" <<EOF
route add throw 2001:db8:ffff::/64 table 300
rule add priority 10 iif cli lookup 300
EOF
st_flow $F "throw: on to rule 100" upb forwarded udp
st_flow $F "throw, $D2 takes the default" upc forwarded udp dst=$D2

st_policy $F "local: one of the router's addresses (rule 0, table local)" <<EOF
rule add priority 10 iif cli lookup 300
EOF
st_flow $F "the router's $LOC, icmp" local punt_route icmp dst=$LOC answered=1
st_flow $F "the router's $LOC, udp" local punt_route udp dst=$LOC
st_policy $F "local route in table 300" <<EOF
route add local $LOC2 dev lo table 300
rule add priority 10 iif cli lookup 300
EOF
st_flow $F "local route, icmp" local punt_route icmp dst=$LOC2
st_flow $F "local route, udp" local punt_route udp dst=$LOC2

st_policy $F "anycast route" <<EOF
route add anycast $ANY dev lo table 300
rule add priority 10 iif cli lookup 300
EOF
st_flow $F "anycast route, udp" anycast punt_route udp dst=$ANY

st_policy $F "lowest metric wins" <<EOF
route add 2001:db8:ffff::/64 via $GA metric 100 table 300
route add 2001:db8:ffff::/64 via $GB metric 50 table 300
rule add priority 10 iif cli lookup 300
EOF
st_flow $F "metric 50 (B) beats metric 100 (A)" upb forwarded udp
g0=$(st_generation)
st_ip -n "$NS_ROUTER" -6 route del 2001:db8:ffff::/64 via "$GB" metric 50 table 300
st_sync_wait "$g0"
st_flow $F "metric 50 deleted: metric 100 (A)" upa forwarded udp

st_policy $F "multipath" <<EOF
route add 2001:db8:ffff::/64 table 300 nexthop via $GA weight 1 nexthop via $GB weight 1
rule add priority 10 iif cli lookup 300
EOF
# Hash policy 1 reads ports, or a hash the sender's socket left in the packet, which TC
# cannot reproduce: the fast path punts, so every flow keeps the kernel's own path
# (netns-exact-wire and bpf-datapath show policy 0, where it forwards to the kernel's choice).
st_multipath $F "multipath A+B" 64 3 "upa upb" counter=punt_multipath
st_multipath $F "multipath, one flow of 30 packets" 1 30 "upa upb" counter=punt_multipath

st_note "--- rules the fast path cannot evaluate"
st_policy $F "uidrange before the matching rule (forwarded packets have uid 0: it matches)" <<EOF
rule add priority 5 iif cli uidrange 0-100 lookup 300
rule add priority 10 iif cli lookup 400
EOF
st_flow $F "uidrange 0-100 first" upc punt_rule udp
st_policy $F "oif before the matching rule (never matches on input)" <<EOF
rule add priority 5 iif cli oif upa lookup 300
rule add priority 10 iif cli lookup 400
EOF
st_flow $F "oif upa first" upa punt_rule udp
st_policy $F "uidrange after the matching rule" <<EOF
rule add priority 5 iif cli lookup 300
rule add priority 10 iif cli uidrange 0-100 lookup 400
EOF
st_flow $F "lookup 300 first, uidrange after" upc forwarded udp

st_policy_reset
st_flow $F "back to the baseline" upb forwarded udp
st_check "steerd still running" st_steerd_alive

st_finish
