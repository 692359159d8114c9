#!/usr/bin/env bash
# Routing state where the kernel's answer depends on more than one route or rule at a time,
# with real packets (issue 12, the agent's cases): local and main merged or parted (9), route
# twins of different types (2), the source check meeting an unmirrored table (6), routes
# learned from router advertisements (7), rules whose from has host bits (8), rule
# attributes the agent does not evaluate (11), and uid ranges (12). For every state each flow is sent twice: with
# steer attached, where it must reach the sink the kernel's `ip route get ... iif cli` names
# (or none, with the kernel's ICMP error) and move the counter that says what the fast path
# did; then with steer detached from cli, where the kernel alone must do the same.
# Usage: tests/netns/exact-routes.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

st_init
st_note "exact routes: $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB, $NS_SINKC}, pins in $PIN_DIR"
# No rule is added yet: IPv4's local and main tables stay one merged trie until one is.
st_topology 46 norules
st_add_sink c
ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
for ns in "$NS_SINKA" "$NS_SINKB" "$NS_SINKC"; do
	st_ip -n "$ns" addr add 203.0.113.9/32 dev lo
done
# Fresh sources for the checks that expect ICMP errors: the kernel rate-limits them per source.
for i in $(seq 40 59); do st_ip -n "$NS_CLIENT" addr add "10.1.0.$i/24" dev eth0; done
XR_ESRC=40
st_capture_start

# Table 300 is left unmirrored (case 6); every other table used here is mirrored.
XR_CONFIG=$ST_TMP/steer.yaml
cat >"$XR_CONFIG" <<EOF
mirror:
  tables: [main, default, 100, 400]
EOF

xr_start() { st_run_steerd 50 --attach "$IF_CLIENT" --config "$XR_CONFIG"; }

XR_FLOWS=()
# xr_flow FAM WHAT EXPECT COUNTER PROTO [k=v...]: st_flow with steer attached, remembered for
# xr_kernel_alone.
xr_flow() {
	st_flow "$@"
	XR_FLOWS+=("$(printf '%q ' "$@")")
}

# xr_kernel_alone: the flows of this state again, with steer detached from cli: the kernel
# alone must send them where they went (the counters are only shown). Then steerd comes back
# and attaches anew.
xr_kernel_alone() {
	local f args
	st_stop_steerd
	# What detach says is not TAP.
	if st_steerctl detach "$IF_CLIENT" >/dev/null; then
		st_ok "steer detached from $IF_CLIENT"
	else
		st_not_ok "steer detached from $IF_CLIENT"
	fi
	for f in "${XR_FLOWS[@]}"; do
		eval "args=($f)"
		case ${args[2]} in
		unreachable | prohibit) args+=("src=10.1.0.$XR_ESRC") XR_ESRC=$((XR_ESRC + 1)) ;;
		esac
		st_flow "${args[0]}" "kernel alone: ${args[1]}" "${args[2]}" any "${args[@]:4}"
	done
	XR_FLOWS=()
	xr_start
}

# xr_change FAM IP-ARGS...: one `ip` change on the router, then wait for steerd to apply it.
xr_change() {
	local fam=$1 g0
	shift
	g0=$(st_generation)
	st_ip -n "$NS_ROUTER" "-$fam" "$@"
	st_sync_wait "$g0"
}

# ---- rules with attributes iproute2 6.1 cannot say: straight netlink ------------------------
cat >"$ST_TMP/nlrule.py" <<'EOF'
# nlrule.py add|del FAM PRIO TABLE IIF [dscp=N] [flowlabel=N]: an `ip rule` with FRA_DSCP (25)
# or FRA_FLOWLABEL (26) and its mask (27), which this iproute2 cannot express.
import socket, struct, sys
cmd, fam, prio, table, iif = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def attr(t, v):
    return struct.pack("=HH", 4 + len(v), t) + v + b"\0" * ((4 - len(v) % 4) % 4)
body = struct.pack("=BBBBBBBBI", socket.AF_INET if fam == 4 else socket.AF_INET6, 0, 0, 0, 0, 0, 0, 1, 0)
body += attr(6, struct.pack("=I", prio)) + attr(15, struct.pack("=I", table)) + attr(3, iif.encode() + b"\0")
for kv in sys.argv[6:]:
    k, v = kv.split("=")
    if k == "dscp":
        body += attr(25, struct.pack("=B", int(v, 0)))
    elif k == "flowlabel":
        body += attr(26, struct.pack("!I", int(v, 0))) + attr(27, struct.pack("!I", 0xfffff))
msgtype, flags = (32, 0x1 | 0x4 | 0x400 | 0x200) if cmd == "add" else (33, 0x1 | 0x4)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.sendto(struct.pack("=IHHII", 16 + len(body), msgtype, flags, 1, 0) + body, (0, 0))
err = struct.unpack_from("=i", s.recv(65536), 16)[0]
if err:
    sys.exit("nlrule: %s" % socket.os.strerror(-err))
EOF

# xr_nlrule add|del FAM PRIO TABLE [dscp=N] [flowlabel=N]: such a rule on the router (iif cli),
# then wait for steerd.
xr_nlrule() {
	local g0
	g0=$(st_generation)
	nsenter --net="/run/netns/$NS_ROUTER" "$ST_PY" "$ST_TMP/nlrule.py" "$1" "$2" "$3" "$4" \
		"$IF_CLIENT" "${@:5}" || st_not_ok "ip rule $1 with ${*:5}"
	st_sync_wait "$g0"
}

# ---- router advertisements, sent from a sink -------------------------------------------------
cat >"$ST_TMP/ra.py" <<'EOF'
# ra.py IFACE LIFETIME high|medium|low: one router advertisement to all nodes on IFACE.
import socket, struct, sys
ifname, lifetime, prf = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
idx = socket.if_nametoindex(ifname)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
flags = {"high": 0x08, "medium": 0x00, "low": 0x18}[prf]
s.sendto(struct.pack("!BBHBBHII", 134, 0, 0, 64, flags, lifetime, 0, 0), ("ff02::1", 0, 0, idx))
EOF

# xr_ra SINK LIFETIME PREF: sink X advertises itself as a default router to the router.
xr_ra() {
	nsenter --net="/run/netns/st$$-sink$1" "$ST_PY" "$ST_TMP/ra.py" eth0 "$2" "$3" ||
		st_not_ok "router advertisement from sink $1"
}

# xr_ra_routes: how many default routes the router learned from advertisements.
xr_ra_routes() { ip -n "$NS_ROUTER" -6 route show default proto ra | grep -c via || true; }

xr_start

st_note "--- 9. IPv4 local and main: one merged trie until the first rule comes and goes"
# xr_merged add|del: step 9's routes ("FAMILY ROUTE" each), in the local and main tables.
XR_MERGED=(
	"4 blackhole 10.5.0.0/16 table local" "4 10.5.1.0/24 via 10.0.2.2"
	"4 throw 10.7.0.0/16 table local" "4 10.7.0.0/16 via 10.0.3.2"
	"6 blackhole 2001:db8:5::/48 table local" "6 2001:db8:5:1::/64 via 2001:db8:b::2"
)
xr_merged() {
	local r g0
	g0=$(st_generation)
	for r in "${XR_MERGED[@]}"; do
		# shellcheck disable=SC2086 # the route's words
		st_ip -n "$NS_ROUTER" "-${r%% *}" route "$1" ${r#* }
	done
	st_sync_wait "$g0"
}
xr_merged add
xr_flow 4 "merged: local blackhole /16 with main's 10.5.1.0/24 inside it" upb punt_route udp \
	dst=10.5.1.7
xr_flow 4 "merged: local blackhole /16, outside main's /24" drop punt_route udp dst=10.5.2.7
xr_flow 4 "merged: a local throw skips main (only default is left)" unreachable punt_route udp \
	dst=10.7.1.1 src=10.1.0.$((XR_ESRC++))
xr_flow 6 "IPv6 looks local up first in either case: local blackhole" drop drop_blackhole udp \
	dst=2001:db8:5:1::7
xr_kernel_alone

st_note "a rule added and deleted: the tables are parted for good, the rules look the same"
g0=$(st_generation)
st_ip -n "$NS_ROUTER" rule add priority 5 lookup 5
st_ip -n "$NS_ROUTER" rule del priority 5 lookup 5
st_sync_wait "$g0"
xr_flow 4 "parted, default rules: the local blackhole first" drop punt_route udp dst=10.5.1.7
xr_flow 4 "parted, default rules: local throw, on to main" upc punt_route udp dst=10.7.1.1
xr_kernel_alone

st_note "custom rules: steer knows the tables are parted and decides itself"
g0=$(st_generation)
st_client_rules
st_sync_wait "$g0"
xr_flow 4 "custom rules: local blackhole" drop drop_blackhole udp dst=10.5.1.7
xr_flow 4 "custom rules: local throw, on to the client's rule (table 100)" upb forwarded udp \
	dst=10.7.1.1
xr_kernel_alone
xr_merged del

st_note "--- 2. route twins: one prefix and metric, different types; the kernel uses the first"
st_policy 4 "blackhole, then a unicast twin appended" <<EOF
route add blackhole 10.8.0.0/24 table 100
route append 10.8.0.0/24 via 10.0.3.2 table 100
EOF
xr_flow 4 "twins blackhole + unicast: the blackhole" drop drop_blackhole udp dst=10.8.0.5
xr_kernel_alone
xr_change 4 route del blackhole 10.8.0.0/24 table 100
xr_flow 4 "the blackhole twin deleted: the unicast one is left" upc forwarded udp dst=10.8.0.5
xr_kernel_alone

st_policy 4 "unicast, then a blackhole twin appended" <<EOF
route add 10.8.0.0/24 via 10.0.3.2 table 100
route append blackhole 10.8.0.0/24 table 100
EOF
xr_flow 4 "twins unicast + blackhole: forwards" upc forwarded udp dst=10.8.0.5
xr_kernel_alone
xr_change 4 route prepend 10.8.0.0/24 via 10.0.1.2 table 100
xr_flow 4 "a twin prepended comes first" upa forwarded udp dst=10.8.0.5
xr_kernel_alone
xr_change 4 route replace unreachable 10.8.0.0/24 table 100
xr_flow 4 "replace takes the first twin's place" unreachable punt_unreachable udp dst=10.8.0.5 \
	src=10.1.0.$((XR_ESRC++))
xr_kernel_alone
st_batch 4 <<EOF
route del unreachable 10.8.0.0/24 table 100
route del 10.8.0.0/24 via 10.0.3.2 table 100
EOF
xr_flow 4 "both unicast twins deleted: the blackhole is left" drop drop_blackhole udp dst=10.8.0.5
xr_kernel_alone
st_policy_reset

st_note "IPv6 keeps such routes apart and ranks them by preference, then by order and device"
# twins6 WHAT [PREF]: a blackhole 2001:db8:8::/64 in table 100 and a unicast twin (of PREF).
twins6() {
	st_policy 6 "$1" <<EOF
route add blackhole 2001:db8:8::/64 table 100
route append 2001:db8:8::/64 via 2001:db8:c::2 table 100${2:+ pref $2}
EOF
}
twins6 "blackhole (pref medium) and a unicast route of high preference" high
xr_flow 6 "blackhole + unicast pref high: the unicast route" upc forwarded udp dst=2001:db8:8::5
xr_kernel_alone
twins6 "blackhole (pref medium) and a unicast route of low preference" low
xr_flow 6 "blackhole + unicast pref low: the blackhole" drop drop_blackhole udp dst=2001:db8:8::5
xr_kernel_alone
twins6 "blackhole and a unicast route of equal preference"
xr_flow 6 "equal preference: the kernel's order and input device decide; punted" drop punt_route \
	udp dst=2001:db8:8::5
xr_kernel_alone
st_policy_reset

st_note "--- 8. rules whose from has host bits are rules of their own"
st_policy 4 "from 10.1.0.3/24 and from 10.1.0.4/24, one priority and table" <<EOF
route add default via 10.0.1.2 table 400
rule add priority 90 iif cli from 10.1.0.3/24 lookup 400
rule add priority 90 iif cli from 10.1.0.4/24 lookup 400
EOF
xr_flow 4 "both rules: table 400" upa forwarded udp
xr_change 4 rule del priority 90 iif cli from 10.1.0.3/24 lookup 400
xr_flow 4 "one deleted: the other still sends to table 400" upa forwarded udp
xr_kernel_alone
st_policy 6 "from 2001:db8:1::3/64 and from 2001:db8:1::4/64, one priority and table" <<EOF
route add default via 2001:db8:a::2 table 400
rule add priority 90 iif cli from 2001:db8:1::3/64 lookup 400
rule add priority 90 iif cli from 2001:db8:1::4/64 lookup 400
EOF
xr_flow 6 "both rules: table 400" upa forwarded udp
xr_change 6 rule del priority 90 iif cli from 2001:db8:1::3/64 lookup 400
xr_flow 6 "one deleted: the other still sends to table 400" upa forwarded udp
xr_kernel_alone
st_policy_reset

st_note "--- 11. rule attributes steer does not evaluate (dscp, flow label) punt the rule"
for f in 4 6; do
	gw=10.0.1.2 field=tos
	[[ $f == 6 ]] && gw=2001:db8:a::2 field="traffic class"
	st_policy $f "table 400 via A" <<EOF
route add default via $gw table 400
EOF
	xr_nlrule add $f 80 400 dscp=4
	xr_flow $f "dscp 4 rule: $field 0x10 matches it" upa punt_rule udp tos=0x10
	xr_flow $f "dscp 4 rule: $field 0 does not" upb punt_rule udp
	xr_kernel_alone
	xr_nlrule del $f 80 400 dscp=4
done
# IPv6's table 400 via A stays for the flow label.
xr_nlrule add 6 80 400 flowlabel=0x12345
xr_flow 6 "flow label 0x12345 rule: a packet with label 0 does not match" upb punt_rule udp
xr_kernel_alone
xr_nlrule del 6 80 400 flowlabel=0x12345
st_policy_reset

st_note "--- 12. uid ranges: the kernel looks a packet it forwards up as uid 0"
for f in 4 6; do
	gw=10.0.1.2
	[[ $f == 6 ]] && gw=2001:db8:a::2
	st_policy $f "uidrange 1000-2000 blackhole, then uidrange 0-100 lookup 400 (via A)" <<EOF
route add default via $gw table 400
rule add priority 79 iif cli uidrange 1000-2000 blackhole
rule add priority 80 iif cli uidrange 0-100 lookup 400
EOF
	xr_flow $f "uid 0: past 1000-2000, into 0-100's table 400" upa forwarded udp
	xr_kernel_alone
done
st_policy_reset

st_note "--- 6. the source check meets a table steer.yaml leaves unmirrored (300)"
st_ip -n "$NS_CLIENT" addr add 192.0.2.5/32 dev eth0
st_policy 4 "a local route in unmirrored table 300, reached by a rule" <<EOF
route add 203.0.113.0/24 via 10.0.3.2 table 100
route add local 192.0.2.0/24 dev lo table 300
rule add priority 50 to 203.0.113.0/24 lookup 100
rule add priority 200 lookup 300
EOF
xr_flow 4 "source 192.0.2.5 is local by table 300: a martian, refused" drop punt_source_check \
	udp src=192.0.2.5 dst=203.0.113.9
xr_flow 4 "source 10.1.0.2: forwarded (the fast path cannot check it: punted)" upc \
	punt_source_check udp dst=203.0.113.9
xr_kernel_alone
st_policy 4 "only a unicast route in unmirrored table 300" <<EOF
route add 203.0.113.0/24 via 10.0.3.2 table 100
route add 192.0.2.0/24 via 10.0.1.2 table 300
rule add priority 50 to 203.0.113.0/24 lookup 100
rule add priority 200 lookup 300
EOF
xr_flow 4 "source 192.0.2.5 routes back by unicast: forwarded by the fast path" upc forwarded \
	udp src=192.0.2.5 dst=203.0.113.9
xr_kernel_alone
st_policy_reset

st_note "--- 7. IPv6 routes from router advertisements: ranked by preference, never multipath"
ip netns exec "$NS_ROUTER" sysctl -qw net.ipv6.conf.upa.accept_ra=2 net.ipv6.conf.upb.accept_ra=2
# Sinks a and b advertise themselves as routers, so they answer neighbour solicitations as
# routers too: a neighbour advertisement without the router flag makes the router's kernel
# drop the routes it learned from that sender (a router turned host), whenever its NUD
# happens to probe one during the section.
for x in a b; do ip netns exec "st$$-sink$x" sysctl -qw net.ipv6.conf.all.forwarding=1; done
g0=$(st_generation)
st_ip -n "$NS_ROUTER" -6 route del default via 2001:db8:a::2
st_ip -n "$NS_ROUTER" -6 rule add priority 60 iif cli to 2001:db8:ffff::/48 lookup main
xr_ra a 600 high
xr_ra b 600 low
for ((i = 0; i < 50; i++)); do
	[[ $(xr_ra_routes) == 2 ]] && break
	sleep 0.1
done
st_check "the router learned two default routes from advertisements ($(xr_ra_routes))" \
	test "$(xr_ra_routes)" = 2
st_sync_wait "$g0"
for p in 41000 41001 41002 41003 41004 41005; do
	xr_flow 6 "A advertised high, B low: flow from port $p" upa punt_route udp sport=$p
done
xr_kernel_alone
xr_ra a 3 high
sleep 3.5
st_note "A's route expired $(ip -n "$NS_ROUTER" -6 route show default proto ra | tr '\n' ' ')"
for p in 41000 41001 41002; do
	xr_flow 6 "A's route expired: B's, flow from port $p" upb punt_route udp sport=$p
done
xr_kernel_alone
xr_ra a 0 high
xr_ra b 0 low
g0=$(st_generation)
st_ip -n "$NS_ROUTER" -6 rule del priority 60 iif cli to 2001:db8:ffff::/48 lookup main
st_ip -n "$NS_ROUTER" -6 route add default via 2001:db8:a::2
st_sync_wait "$g0"
st_check "advertised routes withdrawn ($(xr_ra_routes) left)" test "$(xr_ra_routes)" = 0
for x in a b; do ip netns exec "st$$-sink$x" sysctl -qw net.ipv6.conf.all.forwarding=0; done

st_stop_steerd
st_finish
