#!/usr/bin/env bash
# VPN subnets routed into tunnel interfaces by steer policies alone: the VPN gateway's kernel
# knows no route to them (its default goes to the internet uplink), steer's policies at ingress
# of the client interface send 10.200.0.0/16 into a VXLAN tunnel and 10.210.0.0/16 into a tun
# device. Checked with real packets: the VXLAN case on both ends of the tunnel (encapsulated on
# the underlay, decapsulated with TTL 63 on the far vxlan0) and with a real TCP connection to a
# server behind the far end; the tun case through a small "VPN daemon" that holds tun0 (a tun
# device nobody holds has no carrier and carries nothing), logs what it reads and answers
# tagged UDP, so the client gets its answer only if its packet went into the tunnel. First with
# `via` a next hop on the tunnel's subnet, then (after SIGHUP with a new file) on-link, `dev`
# alone. Without steer (before it starts, after it stops) everything goes to the internet uplink.
#
#   client 10.1.0.2 --- cli vpngw upa 10.0.1.1 --- 10.0.1.2 inet (knows nothing of the VPNs)
#                            | ul0 172.16.0.1 --- 172.16.0.2 peer: vxlan0 10.199.0.2, 10.200.1.1
#                            | vxlan0 10.199.0.1 (VNI 42 over ul0)
#                            | tun0 (held by the VPN daemon: 10.210.0.0/16 behind it)
#
# Usage: tests/usecases/vpn-tunnel.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/usecases/lib-usecase.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-usecase.sh"

NS_CLIENT=st$$-client
NS_ROUTER=st$$-vpngw
NS_INET=st$$-inet
NS_PEER=st$$-peer
CLIENT=10.1.0.2
VXHOST=10.200.1.1   # a host of the VXLAN VPN (on the far end's lo)
TUNHOST=10.210.1.1  # a host behind the tun VPN (the daemon answers for it)
N=20
SPORT=43000

uc_init "$NS_CLIENT -- $NS_ROUTER -- {$NS_INET, vxlan over $NS_PEER, tun0}" \
	"$NS_CLIENT" "$NS_ROUTER" "$NS_INET" "$NS_PEER"
uc_link "$NS_CLIENT" eth0 $CLIENT/24 "$NS_ROUTER" cli 10.1.0.1/24
st_ip -n "$NS_CLIENT" route add default via 10.1.0.1
uc_link "$NS_ROUTER" upa 10.0.1.1/30 "$NS_INET" eth0 10.0.1.2/30
uc_link "$NS_ROUTER" ul0 172.16.0.1/30 "$NS_PEER" eth0 172.16.0.2/30
st_ip -n "$NS_ROUTER" route add default via 10.0.1.2
uc_sysctl "$NS_ROUTER" net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0
# The VXLAN tunnel, VNI 42, over the ul0 underlay.
st_ip -n "$NS_ROUTER" link add vxlan0 type vxlan id 42 local 172.16.0.1 remote 172.16.0.2 \
	dstport 4789 dev ul0
st_ip -n "$NS_ROUTER" addr add 10.199.0.1/24 dev vxlan0
st_ip -n "$NS_ROUTER" link set vxlan0 up
st_ip -n "$NS_PEER" link add vxlan0 type vxlan id 42 local 172.16.0.2 remote 172.16.0.1 \
	dstport 4789 dev eth0
st_ip -n "$NS_PEER" addr add 10.199.0.2/24 dev vxlan0
st_ip -n "$NS_PEER" link set vxlan0 up
st_ip -n "$NS_PEER" addr add $VXHOST/32 dev lo
st_ip -n "$NS_PEER" route add 10.1.0.0/24 via 10.199.0.1
# The tun device, and the daemon that holds it (and so gives it a carrier).
st_ip -n "$NS_ROUTER" tuntap add mode tun dev tun0
st_ip -n "$NS_ROUTER" addr add 10.201.0.1/30 dev tun0
st_ip -n "$NS_ROUTER" link set tun0 up
uc_tun "$NS_ROUTER" tun0 tun

uc_serve "$NS_PEER" $VXHOST 80
uc_watch "$NS_INET" eth0 inet        # the internet uplink: where VPN traffic must not go
uc_watch "$NS_PEER" eth0 underlay    # the tunnel's underlay, at the far end
uc_watch "$NS_PEER" vxlan0 vxlan     # what comes out of the tunnel, decapsulated

# vxlan WHAT WANT(tunnel|inet) [kernel]: N tagged datagrams client -> VXHOST; where they went;
# unless "kernel", that the fast path forwarded them and steerctl explain says so.
vxlan() {
	local what=$1 want=$2 by=${3:-fast} tag st0 st1 i u v fwd ex
	SPORT=$((SPORT + 1))
	tag=$(printf 'v%07d' $SPORT)
	st0=$(st_stats)
	uc_udp "$NS_CLIENT" $CLIENT $SPORT $VXHOST 4000 $N "$tag"
	if [[ $want == tunnel ]]; then
		v=$(uc_wait_seen vxlan $N tag="$tag" src=$CLIENT dst=$VXHOST proto=17 dport=4000)
		u=$(uc_seen underlay tag="$tag" src=172.16.0.1 dst=172.16.0.2 proto=17 dport=4789)
		i=$(uc_seen inet tag="$tag")
		st1=$(st_stats)
		st_check "$what: $N datagrams came out of the far vxlan0 decapsulated, TTL 63 ($v)" \
			test "$v" = "$N 63:$N"
		st_check "$what: they crossed the underlay in VXLAN (UDP 172.16.0.1 -> 172.16.0.2:4789: ${u%% *})" \
			test "${u%% *}" -eq $N
		st_check "$what: none reached the internet uplink (${i%% *})" test "${i%% *}" -eq 0
		[[ $by == kernel ]] && return 0
		fwd=$(($(st_stat_of "$st1" forwarded) - $(st_stat_of "$st0" forwarded)))
		uc_fast_check "$what: the fast path forwarded them (forwarded +$fwd; $(st_stats_delta "$st0" "$st1"))" \
			test "$fwd" -ge $N
		ex=$(uc_explain $VXHOST from $CLIENT iif cli ipproto udp sport $SPORT dport 4000)
		uc_fast_check "$what: steerctl explain says dev vxlan0 ($ex)" \
			uc_says_dev "$ex" vxlan0
	else
		i=$(uc_wait_seen inet $N tag="$tag")
		v=$(uc_seen vxlan tag="$tag")
		u=$(uc_seen underlay tag="$tag")
		st_check "$what: $N datagrams to $VXHOST went to the internet uplink, none into the tunnel (inet: ${i%% *}, underlay: ${u%% *}, vxlan: ${v%% *})" \
			test "${i%% *}" -eq $N -a "${v%% *}" -eq 0 -a "${u%% *}" -eq 0
	fi
}

# tcp WHAT ok|fail: a TCP connection client -> VXHOST:80 (the server on the far end).
tcp() {
	local out rc
	SPORT=$((SPORT + 1))
	out=$(uc_connect "$NS_CLIENT" $CLIENT $VXHOST 80 $SPORT "$(printf 't%07d' $SPORT)") && rc=0 || rc=$?
	if [[ $2 == ok ]]; then
		st_check "$1: TCP $CLIENT -> $VXHOST:80 across the tunnel succeeds ($out)" test "$rc" -eq 0
	else
		st_check "$1: TCP $CLIENT -> $VXHOST:80 fails ($out)" test "$rc" -ne 0
	fi
}

# tun WHAT WANT(tunnel|inet): one tagged query client -> TUNHOST, answered by the VPN daemon.
tun() {
	local what=$1 want=$2 tag out rc t i
	SPORT=$((SPORT + 1))
	tag=$(printf 'n%07d' $SPORT)
	out=$(uc_udp_query "$NS_CLIENT" $CLIENT $SPORT $TUNHOST 4000 "$tag") && rc=0 || rc=$?
	t=$(uc_seen tun tag="$tag" src=$CLIENT dst=$TUNHOST proto=17)
	i=$(uc_seen inet tag="$tag")
	if [[ $want == tunnel ]]; then
		st_check "$what: the query to $TUNHOST went into tun0, TTL 63 (daemon read: $t; inet: ${i%% *})" \
			test "$t" = "1 63:1" -a "${i%% *}" -eq 0
		st_check "$what: the VPN daemon's answer came back to the client ($out)" test "$rc" -eq 0
	else
		st_check "$what: the query to $TUNHOST went to the internet uplink, not tun0 (inet: ${i%% *}, daemon: ${t%% *}; $out)" \
			test "${i%% *}" -eq 1 -a "${t%% *}" -eq 0 -a "$rc" -ne 0
	fi
}

st_note "1. the kernel alone: no route to the VPN subnets but the default, to the internet"
for dst in $VXHOST $TUNHOST; do
	dev=$(ip -n "$NS_ROUTER" -j route get "$dst" from $CLIENT iif cli |
		"$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)[0].get("dev", ""))')
	st_check "kernel: ip route get $dst from $CLIENT iif cli says dev upa (says $dev)" test "$dev" = upa
done
vxlan "without steer" inet
tcp "without steer" fail
tun "without steer" inet

# A control, so that what fails above fails for the route alone: the same routes in the kernel
# carry the traffic through both tunnels.
st_ip -n "$NS_ROUTER" route add 10.200.0.0/16 via 10.199.0.2 dev vxlan0
st_ip -n "$NS_ROUTER" route add 10.210.0.0/16 dev tun0
vxlan "control, kernel routes" tunnel kernel
tcp "control, kernel routes" ok
tun "control, kernel routes" tunnel
st_ip -n "$NS_ROUTER" route del 10.200.0.0/16 via 10.199.0.2 dev vxlan0
st_ip -n "$NS_ROUTER" route del 10.210.0.0/16 dev tun0
st_ip -n "$NS_ROUTER" neigh flush dev vxlan0

uc_config via <<EOF
interfaces:
  cli:
policies:
  - priority: 100
    to: 10.200.0.0/16
    via: 10.199.0.2
    dev: vxlan0
  - priority: 110
    to: 10.210.0.0/16
    dev: tun0
EOF
uc_check_config "$UC_CONFIG"
st_note "2. policies: 10.200.0.0/16 via 10.199.0.2 dev vxlan0, 10.210.0.0/16 dev tun0"
uc_start_steerd "$UC_CONFIG"
vxlan "via 10.199.0.2 dev vxlan0" tunnel
tcp "via 10.199.0.2 dev vxlan0" ok
tun "dev tun0" tunnel

st_note "3. SIGHUP with the VXLAN policy on-link (dev vxlan0 alone): the destination is the neighbour"
st_ip -n "$NS_ROUTER" neigh flush dev vxlan0
uc_config via >/dev/null <<EOF
interfaces:
  cli:
policies:
  - priority: 100
    to: 10.200.0.0/16
    dev: vxlan0
  - priority: 110
    to: 10.210.0.0/16
    dev: tun0
EOF
uc_reload
vxlan "on-link dev vxlan0" tunnel
tcp "on-link dev vxlan0" ok
nb=$(ip -n "$NS_ROUTER" neigh show dev vxlan0 | tr '\n' ';')
st_check "on-link: the router resolved $VXHOST itself on vxlan0, not 10.199.0.2 (neighbours: $nb)" \
	grep -q "^$VXHOST " <<<"${nb//;/$'\n'}"
st_check "on-link: no neighbour entry for the via address 10.199.0.2 ($nb)" \
	bash -c "! ip -n $NS_ROUTER neigh show dev vxlan0 | grep -q '^10.199.0.2 '"
tun "dev tun0, after SIGHUP" tunnel

st_note "4. steerd stopped: the fast path punts, the kernel sends the VPN traffic to the internet"
st_stop_steerd
vxlan "steerd stopped" inet
tcp "steerd stopped" fail
tun "steerd stopped" inet
st_cleanup_steerd
st_finish
