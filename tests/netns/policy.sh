#!/usr/bin/env bash
# Policy routing for one family, selector by selector and action by action, with real
# packets: client -- router (steerd on "cli") -- sinks A, B, C. For each `ip rule`/`ip route`
# setup the client sends tagged UDP, TCP SYN or ICMP (ICMPv6) echo packets with chosen tos
# (traffic class) and ports, and each check puts side by side: the kernel's `ip route get ...
# iif cli` for that packet, the sink the packets reached (or that none did, and the ICMP error
# the client got), and the steerctl counter the fast path moved (forwarded, drop_blackhole,
# punt_*).
# Usage: tests/netns/policy.sh 4|6   (root; STEERD/STEERCTL override the binaries;
#        ST_KERNEL_ONLY=1 checks the kernel half alone)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

F=${1:-}
case $F in
4)
	C1=10.1.0.2             # the client's address ...
	C2=10.1.0.3             # ... and a second one
	CNET=10.1.0.0/24        # the client's net
	D=198.51.100.1          # "the internet": every sink owns it
	D2=203.0.113.1          # a second destination every sink owns
	NET=198.51.100.0/24     # what D lies in
	BRD=198.51.100.255      # made a broadcast route
	LOC=198.51.100.7        # the router's own (on lo)
	LOC2=198.51.100.8       # made a local route
	GA=10.0.1.2 GB=10.0.2.2 GC=10.0.3.2
	HOST=32 NODAD=()
	;;
6)
	C1=2001:db8:1::2
	C2=2001:db8:1::3
	CNET=2001:db8:1::/64
	D=2001:db8:ffff::1
	D2=2001:db8:eeee::1
	NET=2001:db8:ffff::/64
	ANY=2001:db8:ffff::9    # made an anycast route
	LOC=2001:db8:ffff::7
	LOC2=2001:db8:ffff::8
	GA=2001:db8:a::2 GB=2001:db8:b::2 GC=2001:db8:c::2
	HOST=128 NODAD=(nodad)
	;;
*)
	echo "usage: $0 4|6" >&2
	exit 2
	;;
esac
CLEN=${CNET#*/} NETLEN=${NET#*/}
# Fresh sources for the checks that expect ICMP errors: the kernel rate-limits them per source.
esrc_addr() { if [ "$F" = 4 ]; then echo "10.1.0.$1"; else echo "2001:db8:1::$1"; fi; }
E=10
# eflow WHAT EXPECT COUNTER PROTO: st_flow from the next fresh source.
eflow() { E=$((E + 1)); st_flow "$F" "$@" src="$(esrc_addr "$E")"; }

st_init
st_note "IPv$F policy: $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB, $NS_SINKC}, pins in $PIN_DIR"
st_topology "$F"
st_add_sink c
# Flows spread over a multipath route by ports (the fast path punts them); no ICMP rate limit
# of the namespace's own (IPv4's per-source limit in ip_error stays: see st_flow).
if [ "$F" = 4 ]; then
	ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv4.icmp_ratelimit=0
else
	ip netns exec "$NS_ROUTER" sysctl -qw net.ipv6.fib_multipath_hash_policy=1 \
		net.ipv6.icmp.ratelimit=0
fi
st_ip -n "$NS_CLIENT" addr add "$C2/$CLEN" dev eth0 "${NODAD[@]}"
for i in $(seq 10 29); do
	st_ip -n "$NS_CLIENT" addr add "$(esrc_addr "$i")/$CLEN" dev eth0 "${NODAD[@]}"
done
st_ip -n "$NS_ROUTER" addr add "$LOC/$HOST" dev lo "${NODAD[@]}"
for ns in "$NS_SINKA" "$NS_SINKB" "$NS_SINKC"; do
	st_ip -n "$ns" addr add "$D2/$HOST" dev lo "${NODAD[@]}"
done
if [ "$F" = 6 ]; then
	# Sink A answers neighbour solicitations for $D (the on-link route): on eth0, not lo.
	st_ip -n "$NS_SINKA" addr del "$D/128" dev lo
	st_ip -n "$NS_SINKA" addr add "$D/128" dev eth0 nodad
fi
# Table 300: out C; table 400: out A; main: out A; rule 100 (from the client net): table 100, B.
# (Routes go in before the rules that use their table: the kernel checks IPv6 gateways through
# the rules.)
st_ip -n "$NS_ROUTER" route add default via "$GC" table 300
st_ip -n "$NS_ROUTER" route add default via "$GA" table 400
if [ "$F" = 6 ]; then
	# The router's own packets (ICMPv6 errors, echo replies) pick their source address
	# before the rules, and 2001:db8:1::1 would match rule 100: they would leave by B.
	# Not what is under test.
	st_ip -n "$NS_ROUTER" -6 rule add priority 99 iif lo lookup main
fi
st_capture_start
st_start_steerd

# Most rules below carry `iif cli`, so that they do not also catch what comes back from the
# sinks (ICMP errors, echo replies) and the router's own packets.

st_note "--- baseline: rule 100 from $CNET lookup 100 -> B"
st_flow "$F" "baseline udp" upb forwarded udp
st_flow "$F" "baseline tcp" upb forwarded tcp
st_flow "$F" "baseline icmp" upb forwarded icmp

# sel WHAT SELECTOR: st_policy with rule 10 sending what matches SELECTOR to table 300 (C).
sel() { st_policy "$F" "$1" <<<"rule add priority 10 $2 lookup 300"; }
# edges FIELD LO HI [PROTO]: udp packets just outside and at both ends of rule 10's port range
# FIELD LO-HI: table 300 (C) for those in it, rule 100 (B) for the others; the one at HI is a
# PROTO packet (default udp).
edges() {
	local field=$1 lo=$2 hi=$3 proto=${4:-udp}
	st_flow "$F" "$field $lo-$hi, $field $((lo - 1))" upb forwarded udp "$field=$((lo - 1))"
	st_flow "$F" "$field $lo-$hi, $field $lo" upc forwarded udp "$field=$lo"
	st_flow "$F" "$field $lo-$hi, $field $hi" upc forwarded "$proto" "$field=$hi"
	st_flow "$F" "$field $lo-$hi, $field $((hi + 1))" upb forwarded udp "$field=$((hi + 1))"
}

st_note "--- selectors"
sel "from" "from $C1/$HOST"
st_flow "$F" "from $C1/$HOST, packet from $C1" upc forwarded udp src=$C1
st_flow "$F" "from $C1/$HOST, packet from $C2" upb forwarded udp src=$C2

sel "to" "to $NET"
st_flow "$F" "to $NET, packet to $D" upc forwarded udp dst=$D
st_flow "$F" "to $NET, packet to $D2" upb forwarded udp dst=$D2
st_flow "$F" "to $NET, icmp to $D" upc forwarded icmp dst=$D

# `tos 0x10` against UDP of each tos (IPv4) or traffic class (IPv6): "TOS UPLINK [WHY]" a row.
if [ "$F" = 4 ]; then
	what="tos" field=tos packet="packet tos"
	tos_rows=("0x10 upc" "0 upb" "0x12 upc (ECN bits ignored)"
		"0x30 upc (only tos & 0x1c compared)" "0x14 upb")
else
	what="dsfield (tos): the kernel compares traffic class & 0xfc" field=tclass packet=tclass
	tos_rows=("0x10 upc" "0 upb" "0x12 upc (ECN bits ignored)" "0x11 upc (ECN bits ignored)"
		"0x30 upb (the whole DSCP compared, unlike IPv4)" "0x14 upb")
fi
sel "$what" "tos 0x10"
for row in "${tos_rows[@]}"; do
	read -r tos up why <<<"$row"
	st_flow "$F" "tos 0x10, $packet $tos${why:+ $why}" "$up" forwarded udp tos="$tos"
done
st_flow "$F" "tos 0x10, tcp $field 0x10" upc forwarded tcp tos=0x10
st_flow "$F" "tos 0x10, icmp $field 0x10" upc forwarded icmp tos=0x10

sel "iif (the client's interface)" "iif cli"
st_flow "$F" "iif cli" upc forwarded udp
sel "iif (another interface)" "iif upa"
st_flow "$F" "iif upa, packet from cli" upb forwarded udp

sel "ipproto" "ipproto udp"
st_flow "$F" "ipproto udp, udp" upc forwarded udp
st_flow "$F" "ipproto udp, icmp" upb forwarded icmp
st_flow "$F" "ipproto udp, tcp" upb forwarded tcp

sel "sport" "sport 1000"
st_flow "$F" "sport 1000, udp sport 1000" upc forwarded udp sport=1000
st_flow "$F" "sport 1000, udp sport 1001" upb forwarded udp sport=1001
st_flow "$F" "sport 1000, tcp sport 1000" upc forwarded tcp sport=1000
# ICMP has no ports: the kernel compares 0 with the rule's port.
st_flow "$F" "sport 1000, icmp" upb forwarded icmp

sel "sport range" "ipproto udp sport 1000-1999"
edges sport 1000 1999

sel "dport" "dport 53"
st_flow "$F" "dport 53, udp dport 53" upc forwarded udp dport=53
st_flow "$F" "dport 53, udp dport 54" upb forwarded udp dport=54

sel "dport range" "dport 5000-5010"
edges dport 5000 5010 tcp

sel "ipproto + dport" "ipproto tcp dport 443"
st_flow "$F" "ipproto tcp dport 443, tcp 443" upc forwarded tcp dport=443
st_flow "$F" "ipproto tcp dport 443, udp 443" upb forwarded udp dport=443

sel "not from" "not from $C1/$HOST"
st_flow "$F" "not from $C1/$HOST, packet from $C1" upb forwarded udp src=$C1
st_flow "$F" "not from $C1/$HOST, packet from $C2" upc forwarded udp src=$C2

sel "not to" "iif cli not to $NET"
st_flow "$F" "not to $NET, packet to $D" upb forwarded udp dst=$D
st_flow "$F" "not to $NET, packet to $D2" upc forwarded udp dst=$D2

# `not` inverts the whole match. (Since Linux 6.15 a single port also comes with a port mask,
# FRA_SPORT_MASK 0xffff, in the rule's netlink message.)
sel "not sport" "not sport 1000"
st_flow "$F" "not sport 1000, udp sport 1000" upb forwarded udp sport=1000
st_flow "$F" "not sport 1000, udp sport 1001" upc forwarded udp sport=1001
st_flow "$F" "not sport 1000, icmp (no ports)" upc forwarded icmp

sel "fwmark 0x7 (packets from another namespace carry mark 0)" "fwmark 0x7"
st_flow "$F" "fwmark 0x7, mark 0" upb forwarded udp
sel "fwmark 0/0xff (mark & 0xff == 0)" "iif cli fwmark 0/0xff"
st_flow "$F" "fwmark 0/0xff, mark 0" upc forwarded udp

st_note "--- actions"
st_policy "$F" "goto an existing priority" <<EOF
rule add priority 10 iif cli goto 30
rule add priority 20 iif cli lookup 300
rule add priority 30 iif cli lookup 400
EOF
st_flow "$F" "goto 30 skips 20, 30 looks up 400" upa forwarded udp

st_policy "$F" "goto a priority with no rule: the kernel treats it as nop" <<EOF
rule add priority 10 iif cli goto 30
rule add priority 20 iif cli lookup 300
EOF
st_flow "$F" "goto 30 (no rule 30): on to 20" upc forwarded udp
st_policy_add "$F" <<EOF
rule add priority 30 iif cli lookup 400
EOF
st_flow "$F" "goto 30 after rule 30 was added: resolved, 20 skipped" upa forwarded udp
g0=$(st_generation)
st_ip -n "$NS_ROUTER" -"$F" rule del priority 30
st_sync_wait "$g0"
st_flow "$F" "goto 30 after rule 30 was deleted again: nop" upc forwarded udp

st_policy "$F" "a chain of two gotos" <<EOF
rule add priority 10 iif cli goto 20
rule add priority 15 iif cli lookup 300
rule add priority 20 iif cli goto 40
rule add priority 30 iif cli lookup 300
rule add priority 40 iif cli lookup 400
EOF
st_flow "$F" "goto 20, goto 40: lookup 400" upa forwarded udp

st_policy "$F" "goto with a selector" <<EOF
rule add priority 10 iif cli ipproto udp goto 30
rule add priority 20 iif cli lookup 300
rule add priority 30 iif cli lookup 400
EOF
st_flow "$F" "ipproto udp goto 30, udp" upa forwarded udp
st_flow "$F" "ipproto udp goto 30, icmp" upc forwarded icmp

st_policy "$F" "goto a rule that does not match: the walk goes on after it" <<EOF
rule add priority 10 iif cli goto 30
rule add priority 20 iif cli lookup 300
rule add priority 30 iif cli tos 0x10 lookup 400
EOF
st_flow "$F" "goto 30, rule 30 misses (tos 0): on to 100" upb forwarded udp
st_flow "$F" "goto 30, rule 30 matches (tos 0x10)" upa forwarded udp tos=0x10

st_policy "$F" "nop" <<EOF
rule add priority 10 iif cli nop
rule add priority 20 iif cli lookup 300
EOF
st_flow "$F" "nop, then lookup 300" upc forwarded udp

st_policy "$F" "blackhole rule" <<EOF
rule add priority 10 iif cli to $NET blackhole
EOF
st_flow "$F" "blackhole rule, udp" drop drop_blackhole udp
st_flow "$F" "blackhole rule, icmp" drop drop_blackhole icmp
st_flow "$F" "blackhole rule, tcp" drop drop_blackhole tcp
st_flow "$F" "blackhole rule, another destination" upb forwarded udp dst=$D2

st_policy "$F" "unreachable rule" <<EOF
rule add priority 10 iif cli to $NET unreachable
EOF
eflow "unreachable rule, udp" unreachable punt_unreachable udp
eflow "unreachable rule, icmp" unreachable punt_unreachable icmp

st_policy "$F" "prohibit rule" <<EOF
rule add priority 10 iif cli to $NET prohibit
EOF
eflow "prohibit rule, udp" prohibit punt_prohibit udp
eflow "prohibit rule, tcp" prohibit punt_prohibit tcp

if [ "$F" = 4 ]; then
	st_policy "$F" "no route at all: goto past every rule but 'lookup default' (empty)" <<EOF
rule add priority 10 iif cli to $NET goto 32767
EOF
else
	st_policy "$F" "no route at all: goto past main, to a lookup of an empty table" <<EOF
rule add priority 10 iif cli to $NET goto 40000
rule add priority 40000 iif cli lookup 500
EOF
fi
eflow "no route" unreachable punt_no_route udp
st_flow "$F" "no route, another destination" upb forwarded udp dst=$D2

st_policy "$F" "suppress_prefixlength 0 (main's default rejected)" <<EOF
rule add priority 10 iif cli lookup main suppress_prefixlength 0
rule add priority 20 iif cli lookup 300
EOF
st_flow "$F" "suppress_prefixlength 0, main has only the default" upc forwarded udp
st_policy_add "$F" <<EOF
route add $NET via $GB
EOF
st_flow "$F" "suppress_prefixlength 0, main has $NET via B" upb forwarded udp
st_flow "$F" "suppress_prefixlength 0, to $D2 (main: only the default)" upc forwarded udp dst=$D2
st_policy "$F" "suppress_prefixlength $NETLEN" <<EOF
route add $NET via $GB
rule add priority 10 iif cli lookup main suppress_prefixlength $NETLEN
rule add priority 20 iif cli lookup 300
EOF
st_flow "$F" "suppress_prefixlength $NETLEN rejects the /$NETLEN" upc forwarded udp

st_note "--- route types (rule 10: iif cli lookup 300, whose default is via C)"
# t300 WHAT LINE...: st_policy with the lines given and rule 10 sending all from cli to table 300.
t300() {
	local what=$1
	shift
	st_policy "$F" "$what" < <(printf '%s\n' "$@" "rule add priority 10 iif cli lookup 300")
}
t300 "unicast via a gateway" "route add $NET via $GA table 300"
st_flow "$F" "$NET via A beats the default" upa forwarded udp
st_flow "$F" "$NET via A, icmp" upa forwarded icmp
st_flow "$F" "$NET via A, $D2 takes the default" upc forwarded udp dst=$D2

t300 "on-link (dev, no gateway)" "route add $NET dev upa table 300"
st_flow "$F" "$NET dev upa" upa forwarded udp
st_flow "$F" "$NET dev upa, tcp" upa forwarded tcp

t300 "blackhole route" "route add blackhole $NET table 300"
st_flow "$F" "blackhole route" drop drop_blackhole udp
st_flow "$F" "blackhole route, $D2 takes the default" upc forwarded udp dst=$D2

t300 "unreachable route" "route add unreachable $NET table 300"
eflow "unreachable route" unreachable punt_unreachable udp

t300 "prohibit route" "route add prohibit $NET table 300"
eflow "prohibit route" prohibit punt_prohibit icmp

t300 "throw route (continue with the next rule)" "route add throw $NET table 300"
st_flow "$F" "throw: on to rule 100" upb forwarded udp
st_flow "$F" "throw, $D2 takes the default" upc forwarded udp dst=$D2

t300 "local: one of the router's addresses (rule 0, table local)"
st_flow "$F" "the router's $LOC, icmp" local punt_route icmp dst=$LOC answered=1
st_flow "$F" "the router's $LOC, udp" local punt_route udp dst=$LOC
t300 "local route in table 300" "route add local $LOC2 dev lo table 300"
st_flow "$F" "local route, icmp" local punt_route icmp dst=$LOC2
st_flow "$F" "local route, udp" local punt_route udp dst=$LOC2

# IPv4's broadcast route, IPv6's anycast one: both are the kernel's to answer.
if [ "$F" = 4 ]; then
	t300 "broadcast route" "route add broadcast $BRD dev lo table 300"
	st_flow "$F" "broadcast route, udp" broadcast punt_route udp dst="$BRD"
else
	t300 "anycast route" "route add anycast $ANY dev lo table 300"
	st_flow "$F" "anycast route, udp" anycast punt_route udp dst="$ANY"
fi

t300 "lowest metric wins" "route add $NET via $GA metric 100 table 300" \
	"route add $NET via $GB metric 50 table 300"
st_flow "$F" "metric 50 (B) beats metric 100 (A)" upb forwarded udp
g0=$(st_generation)
st_ip -n "$NS_ROUTER" -"$F" route del "$NET" via "$GB" metric 50 table 300
st_sync_wait "$g0"
st_flow "$F" "metric 50 deleted: metric 100 (A)" upa forwarded udp

t300 "multipath" \
	"route add $NET table 300 nexthop via $GA weight 1 nexthop via $GB weight 1"
# Hash policy 1 reads ports, or a hash the sender's socket left in the packet, which TC
# cannot reproduce: the fast path punts, so every flow keeps the kernel's own path
# (netns-exact-wire and bpf-datapath show policy 0, where it forwards to the kernel's choice).
st_multipath "$F" "multipath A+B" 64 3 "upa upb" counter=punt_multipath
st_multipath "$F" "multipath, one flow of 30 packets" 1 30 "upa upb" counter=punt_multipath

st_note "--- rules with selectors a forwarded packet settles (uid 0, no output device)"
# first WHAT SELECTOR UPLINK CHECK: rule 5 sends what matches SELECTOR to table 300 (C), rule 10
# all from cli to table 400 (A); one udp flow (CHECK) must leave by UPLINK.
first() {
	st_policy "$F" "$1" < <(printf '%s\n' "rule add priority 5 $2 lookup 300" \
		"rule add priority 10 iif cli lookup 400")
	st_flow "$F" "$4" "$3" forwarded udp
}
first "uidrange before the matching rule (forwarded packets have uid 0: it matches)" \
	"iif cli uidrange 0-100" upc "uidrange 0-100 first: table 300 decides"
first "uidrange without uid 0 before the matching rule (never matches)" \
	"iif cli uidrange 1000-2000" upa "uidrange 1000-2000 first: rule 10 decides"
first "not uidrange without uid 0 (inverted, it matches every forwarded packet)" \
	"not iif cli uidrange 1000-2000" upc "not uidrange 1000-2000 first: table 300 decides"
first "oif before the matching rule (never matches on input)" \
	"iif cli oif upa" upa "oif upa first: never matches, rule 10 decides"
first "not oif before the matching rule (inverted, it matches every forwarded packet)" \
	"not iif cli oif upa" upc "not oif upa first: table 300 decides"
st_policy "$F" "uidrange after the matching rule" <<EOF
rule add priority 5 iif cli lookup 300
rule add priority 10 iif cli uidrange 0-100 lookup 400
EOF
st_flow "$F" "lookup 300 first, uidrange after" upc forwarded udp

st_policy_reset
st_flow "$F" "back to the baseline" upb forwarded udp
st_check "steerd still running" st_steerd_alive

st_finish
