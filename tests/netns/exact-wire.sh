#!/usr/bin/env bash
# Exact on the wire (issue 12): what reaches the sinks, and the ICMP errors the client gets, must
# be the same with steer attached as with the kernel alone on the same state. Every probe is run
# twice -- first before steerd ever starts (the kernel alone), then with steerd attached to cli
# and to a tun device -- and the two outcomes are compared; where the fast path is expected to
# take part, its counter must show it did (a probe that only compares could pass with a fast
# path that punts everything).
#
# The cases: on-link routes in a table an iif rule selects; packets written into a tun device
# (among them one from 134.221.100.5, whose bytes 12-13 read as 0x86dd); UDP GSO and TCP from a
# client with MTU 9000 over a 1500-byte uplink; an IPv6 device MTU below the link MTU;
# multipath routes (hash policy 0, where the kernel's choice is followed, and 1, where it
# punts); skb->priority from the TOS byte, seen as the band a prio qdisc puts packets in.
#
# Usage: tests/netns/exact-wire.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

WT=$ST_ROOT/tests/lib/wiretool.py
PRIO_BPF_OBJ=${PRIO_BPF_OBJ:-$ST_ROOT/build/tests/prio-count.bpf.o}
N=10                     # packets per probe
MODE=kernel
declare -A KERNEL_OUT=()

st_init
st_note "topology $NS_CLIENT -- $NS_ROUTER (cli, tun0) -- {$NS_SINKA, $NS_SINKB}, pins in $PIN_DIR"
st_topology 46
R=(ip -n "$NS_ROUTER")
rsysctl() { ip netns exec "$NS_ROUTER" sysctl -qw "$@"; }

# ICMP errors without rate limits, so both runs see every one.
rsysctl net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
# `from <client net> lookup 100` also covers the router's own address there, the source of its
# ICMP errors to the client: without a way back in table 100 they would leave by uplink B.
"${R[@]}" route add 10.1.0.0/24 dev cli table 100
"${R[@]}" -6 route add 2001:db8:1::/64 dev cli table 100
# On-link: table 300 (iif cli) reaches 10.9.0.0/24 on upa's link; main names a gateway
# there that does not exist, which a lookup as if from this host would take.
"${R[@]}" addr add 10.0.11.1/24 dev upa
"${R[@]}" addr add 2001:db8:11::1/64 dev upa nodad
"${R[@]}" route add 10.9.0.0/24 via 10.0.11.99 dev upa
"${R[@]}" -6 route add 2001:db8:9::/64 via 2001:db8:11::99 dev upa
"${R[@]}" route add 10.9.0.0/24 dev upa table 300
"${R[@]}" -6 route add 2001:db8:9::/64 dev upa table 300
"${R[@]}" rule add iif cli lookup 300 priority 50
"${R[@]}" -6 rule add iif cli lookup 300 priority 50
ip -n "$NS_SINKA" addr add 10.9.0.7/32 dev eth0
ip -n "$NS_SINKA" addr add 2001:db8:9::7/128 dev eth0 nodad
# Jumbo frames from the client, 1500 on uplink B (where table 100 sends it), 9000 behind it.
ip -n "$NS_CLIENT" link set eth0 mtu 9000
"${R[@]}" link set cli mtu 9000
ip -n "$NS_SINKB" link set eth0 mtu 9000
# A tun device (an L3 device: no Ethernet header), forwarding like the rest.
"${R[@]}" tuntap add dev tun0 mode tun
"${R[@]}" addr add 10.77.0.1/24 dev tun0
"${R[@]}" addr add 2001:db8:77::1/64 dev tun0 nodad
"${R[@]}" link set tun0 up
# Multipath over both uplinks, in table 100 (the client's).
"${R[@]}" route add 198.18.0.0/16 table 100 nexthop via 10.0.1.2 dev upa nexthop via 10.0.2.2 dev upb
"${R[@]}" -6 route add 2001:db8:18::/48 table 100 nexthop via 2001:db8:a::2 dev upa \
	nexthop via 2001:db8:b::2 dev upb
# What leaves uplink B, counted by skb->priority (the egress qdisc's input): this kernel has
# no prio qdisc to show it by bands. tc loads the counter; its map is found by program id.
[[ -r $PRIO_BPF_OBJ ]] || st_die "the priority counter $PRIO_BPF_OBJ (set PRIO_BPF_OBJ=)"
tc -n "$NS_ROUTER" qdisc add dev upb clsact
tc -n "$NS_ROUTER" filter add dev upb egress bpf direct-action obj "$PRIO_BPF_OBJ" sec tc
PRIO_PROG=$(tc -n "$NS_ROUTER" filter show dev upb egress | grep -o ' id [0-9]*' | head -1 | tr -dc 0-9)
PRIO_MAP=$(bpftool -j prog show id "$PRIO_PROG" | "$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)["map_ids"][0])')
# A TCP server behind uplink B.
nsenter --net="/run/netns/$NS_SINKB" "$ST_PY" "$WT" tcpserver :: 5001 "$ST_TMP/tcp.ready" &
ST_CAPTURE_PIDS+=($!)
for ((i = 0; i < 100; i++)); do [[ -e $ST_TMP/tcp.ready ]] && break; sleep 0.02; done
st_capture_start

# ---- probes -------------------------------------------------------------------------------

# What reached the sinks with tag $1: "upa:N(ttl:n) upb:M" (per source port with $2=ports).
wire_sinks() {
	local tag=$1 per_port=${2:-} ns c out=""
	if [[ -n $per_port ]]; then
		for ns in "${ST_SINKS[@]}"; do
			awk -v t="$tag" -v d="${ST_UPLINK_OF[$ns]}" '$1 == t { print $4 "=" d }' "$ST_TMP/capture-$ns"
		done | sort -t= -k1,1n -k2 | uniq | paste -sd' '
		return
	fi
	for ns in "${ST_SINKS[@]}"; do
		c=$(st_captured "$ns" "$tag")
		out+="${ST_UPLINK_OF[$ns]}:${c%% *}"
		[[ ${c#* } != none ]] && out+="(ttl ${c#* })"
		out+=" "
	done
	printf '%s' "${out% }"
}

# The client's learnt path MTU to $2 (family $1), or "none".
client_pmtu() {
	local m
	m=$(ip -n "$NS_CLIENT" "-$1" route get "$2" 2>/dev/null | grep -o 'mtu [0-9]*' | head -1) || true
	printf '%s' "${m:-none}"
}

# Test UDP packets that left uplink B so far, by skb->priority: "prio0=N prio2=N ...".
prio_counts() {
	bpftool -j map dump id "$PRIO_MAP" | "$ST_PY" -c '
import json, sys
for e in json.load(sys.stdin):
    k = e.get("formatted", {}).get("key", e["key"])
    v = e.get("formatted", {}).get("value", e["value"])
    k = k if isinstance(k, int) else int.from_bytes(bytes(int(b, 16) for b in k), "little")
    v = v if isinstance(v, int) else int.from_bytes(bytes(int(b, 16) for b in v), "little")
    print("prio%d=%d" % (k, v))' | paste -sd' '
}

# The router's own addresses, as a regex: only its ICMP errors are compared (the sinks' own
# "port unreachable" are rate-limited there, and tell nothing the recorders do not).
ROUTER_ADDRS=$(ip -n "$NS_ROUTER" -o addr show | awk '{ sub("/.*", "", $4); print $4 }' | paste -sd'|')
router_errors() {
	sed -E 's/errors=([^ ]*)/\n&/' | "$ST_PY" -c '
import re, sys
own = re.compile("^(%s)/" % sys.argv[1])
out = []
for line in sys.stdin.read().split("\n"):
    if line.startswith("errors="):
        keep = [e for e in line[7:].split(" ")[0].split(",") if own.match(e)]
        rest = line.split(" ", 1)[1:]
        line = " ".join(["errors=" + (",".join(keep) or "none")] + rest)
    out.append(line)
print(" ".join(x.strip() for x in out if x.strip()))' "$ROUTER_ADDRS"
}

# probe NAME COUNTER MIN WANT CMD...: runs CMD (it may use $TAG) with the client's path MTU
# cache flushed, then records what reached the sinks and what CMD printed (ICMP errors from the
# router only). In the kernel run that is the reference, and must match the regex WANT (so the
# case shows what it is meant to); in the steer run it must be equal, and steerctl's COUNTER
# must have grown by at least MIN (COUNTER "-": not checked).
probe() {
	local name=$1 counter=$2 min=$3 want=$4 out sinks st0="" st1="" res d
	shift 4
	st_new_tag
	TAG=$ST_TAG
	ip -n "$NS_CLIENT" route flush cache 2>/dev/null || true
	ip -n "$NS_CLIENT" -6 route flush cache 2>/dev/null || true
	[[ $MODE == steer ]] && st0=$(st_stats)
	out=$("$@" 2>&1 | router_errors) || out="failed: $out"
	sleep 0.3
	[[ $MODE == steer ]] && st1=$(st_stats)
	sinks=$(wire_sinks "$TAG" "${PER_PORT:-}")
	res="$sinks | $out"
	if [[ $MODE == kernel ]]; then
		KERNEL_OUT[$name]=$res
		if [[ $res =~ $want ]]; then
			st_ok "kernel alone: $name: $res"
		else
			st_not_ok "kernel alone: $name: $res (expected to match: $want)"
		fi
		return 0
	fi
	st_check "$name: on the wire as with the kernel alone (kernel: ${KERNEL_OUT[$name]:-?}; steer: $res)" \
		test "${KERNEL_OUT[$name]:-?}" = "$res"
	[[ $counter == - ]] && return 0
	d=$(($(st_stat_of "$st1" "$counter") - $(st_stat_of "$st0" "$counter")))
	st_check "$name: steerctl $counter +$d >= $min ($(st_stats_delta "$st0" "$st1"))" test "$d" -ge "$min"
}

udp() { st_send "$@" "$TAG" 0.3 0 | sed 's/ replies=[0-9]*//'; }
gso() { nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$WT" gso "$1" "$2" "$3" 4000 "$4" "$5" "$6" "$TAG" "$7" 0.3; }
# tunw FAM SRC DST: N packets written into tun0. The writer's attachment gives tun0 its
# carrier; packets go only once the kernel reports it (linkwatch may take up to a second) and,
# in the steer run, once steerd's map has it up too (else the fast path punts, rightly).
tunw() {
	local gate=$ST_TMP/tun-$TAG pid i out
	nsenter --net="/run/netns/$NS_ROUTER" "$ST_PY" "$WT" tun tun0 "$1" "$2" "$3" 40000 4000 "$N" \
		"$TAG" "$gate" >"$gate.out" &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		if [[ -e $gate.open ]] && ip -n "$NS_ROUTER" -o link show tun0 | grep -q LOWER_UP &&
			{ [[ $MODE == kernel ]] || st_steerctl -j links | "$ST_PY" -c '
import json, sys
sys.exit(0 if any(l["ifname"] == "tun0" and l["up"] for l in json.load(sys.stdin)["links"]) else 1)'; }; then
			break
		fi
		sleep 0.01
	done
	: >"$gate.go"
	wait "$pid" || true
	cat "$gate.out"
}
tcp() {
	echo "$(nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$WT" tcpclient "$2" "$3" 5001 300000 15)" \
		"pmtu=$(client_pmtu "$1" "$3" | tr ' ' '_')"
}
prio() {
	local a b
	a=$(prio_counts)
	st_send 4 udp 10.1.0.2 198.51.100.1 "$1" 40000 4000 "$N" "$TAG" 0 0 >/dev/null
	b=$(prio_counts)
	"$ST_PY" - "$a" "$b" <<-'EOF'
	import sys
	a = dict(kv.split("=") for kv in sys.argv[1].split())
	b = dict(kv.split("=") for kv in sys.argv[2].split())
	print(" ".join("%s+%d" % (k, int(b[k]) - int(a.get(k, 0))) for k in sorted(b)
	               if int(b[k]) != int(a.get(k, 0))) or "none")
	EOF
}
# Waits (steer run) until steerd applied what a sysctl without events changed.
settle() { [[ $MODE == steer ]] && st_sync_wait "$(st_generation)"; return 0; }
mp_udp() {  # FAM DST-PREFIX: one flow per destination, source port 30000 + i
	local i
	for ((i = 1; i <= 16; i++)); do
		st_send "$1" udp "${ST_CLIENT_ADDR[$1]}" "$2$i" 0 $((30000 + i)) 4000 2 "$TAG" 0 0 >/dev/null
	done
	echo sent
}

run_probes() {
	local fwd10='upa:0 upb:10\(ttl 63:10\)' ptb4='errors=10\.1\.0\.1/3/4:' ptb6='errors=[^ ]*/2/0:'
	st_note "---- $MODE run ----"
	PER_PORT=
	probe "v4 on-link route in an iif table" forwarded "$N" '^upa:10\(ttl 63:10\) upb:0 ' \
		udp 4 udp 10.1.0.2 10.9.0.7 0 40000 4000 "$N"
	probe "v6 on-link route in an iif table" forwarded "$N" '^upa:10\(ttl 63:10\) upb:0 ' \
		udp 6 udp 2001:db8:1::2 2001:db8:9::7 0 40000 4000 "$N"

	probe "v4 into tun0 from 134.221.100.5 (bytes 12-13 0x86dd)" forwarded "$N" '^upa:10\(ttl 63:10\)' \
		tunw 4 134.221.100.5 198.51.100.1
	probe "v4 into tun0 from 10.77.0.5" forwarded "$N" '^upa:10\(ttl 63:10\)' tunw 4 10.77.0.5 198.51.100.1
	probe "v6 into tun0" forwarded "$N" '^upa:10\(ttl 63:10\)' tunw 6 2001:db8:77::5 2001:db8:ffff::1

	probe "v4 UDP GSO 5 x 4000-byte DF segments, MTU 9000 -> 1500" punt_mtu 1 "upb:0 .*$ptb4" \
		gso 4 10.1.0.2 198.51.100.1 4000 5 5 1
	probe "v6 UDP GSO 5 x 4000-byte segments, MTU 9000 -> 1500" punt_mtu 1 "upb:0 .*$ptb6" \
		gso 6 2001:db8:1::2 2001:db8:ffff::1 4000 5 5 1
	# (veth hands a GSO packet on whole: the recorder sees one per send.)
	probe "v4 UDP GSO 5 x 1400-byte segments (they fit)" forwarded 5 'upb:5\(ttl 63:5\) .*errors=none' \
		gso 4 10.1.0.2 198.51.100.1 1400 5 5 1
	probe "v6 UDP GSO 5 x 1400-byte segments (they fit)" forwarded 5 'upb:5\(ttl 63:5\) .*errors=none' \
		gso 6 2001:db8:1::2 2001:db8:ffff::1 1400 5 5 1
	probe "v4 UDP 4000 bytes without DF (fragmented)" punt_mtu 1 'upb:3\(ttl 63:3\) .*errors=none' \
		gso 4 10.1.0.2 198.51.100.1 4000 1 3 0
	# No segment larger than the uplink allows may reach the server (rcv_mss: 1448 with
	# timestamps), and the client learns the path MTU.
	probe "v4 TCP 300 kB, MTU 9000 -> 1500 (path MTU discovery)" punt_mtu 1 \
		'received=300000 rcv_mss=14[0-9][0-9] pmtu=mtu_1500' tcp 4 10.1.0.2 198.51.100.1
	probe "v6 TCP 300 kB, MTU 9000 -> 1500 (path MTU discovery)" punt_mtu 1 \
		'received=300000 rcv_mss=14[0-9][0-9] pmtu=mtu_1500' tcp 6 2001:db8:1::2 2001:db8:ffff::1

	rsysctl net.ipv6.conf.upb.mtu=1280
	settle
	probe "v6 1448 bytes over IPv6 MTU 1280 (link 1500)" punt_mtu 1 "upb:0 .*$ptb6" \
		gso 6 2001:db8:1::2 2001:db8:ffff::1 1400 1 5 1
	probe "v6 1280 bytes over IPv6 MTU 1280" forwarded 5 'upb:5\(ttl 63:5\) .*errors=none' \
		gso 6 2001:db8:1::2 2001:db8:ffff::1 1232 1 5 1
	probe "v4 1448 bytes (IPv6 MTU does not apply)" forwarded 5 'upb:5\(ttl 63:5\) .*errors=none' \
		gso 4 10.1.0.2 198.51.100.1 1420 1 5 1
	rsysctl net.ipv6.conf.upb.mtu=1500
	settle

	PER_PORT=1
	# Both uplinks in use.
	local spread='=upa .*=upb|=upb .*=upa'
	probe "v4 multipath, 16 destinations (hash policy 0)" forwarded 32 "$spread" mp_udp 4 198.18.0.
	probe "v6 multipath, 16 destinations (hash policy 0)" forwarded 32 "$spread" mp_udp 6 2001:db8:18::
	probe "v6 multipath, 32 source ports (flow labels)" forwarded 64 "$spread" \
		udp 6 udp 2001:db8:1::2 2001:db8:18::1 0 31000-31031 4000 2
	rsysctl net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
	settle
	probe "v4 multipath, 32 source ports (hash policy 1)" punt_multipath 64 "$spread" \
		udp 4 udp 10.1.0.2 198.18.0.1 0 31000-31031 4000 2
	probe "v6 multipath, 32 source ports (hash policy 1)" punt_multipath 64 "$spread" \
		udp 6 udp 2001:db8:1::2 2001:db8:18::1 0 31000-31031 4000 2
	rsysctl net.ipv4.fib_multipath_hash_policy=0 net.ipv6.fib_multipath_hash_policy=0
	settle
	PER_PORT=

	probe "v4 tos 0x10 (interactive)" forwarded "$N" "$fwd10 \\| prio6\\+$N\$" prio 0x10
	probe "v4 tos 0x08 (bulk)" forwarded "$N" "$fwd10 \\| prio2\\+$N\$" prio 0x08
	probe "v4 tos 0x18 (interactive bulk)" forwarded "$N" "$fwd10 \\| prio4\\+$N\$" prio 0x18
	# (veth zeroes the priority on the way in: with the update off it stays 0.)
	rsysctl net.ipv4.ip_forward_update_priority=0
	settle
	probe "v4 tos 0x10, ip_forward_update_priority 0" forwarded "$N" "$fwd10 \\| prio0\\+$N\$" prio 0x10
	rsysctl net.ipv4.ip_forward_update_priority=1
	settle
}

MODE=kernel
run_probes
if [[ $ST_KERNEL_ONLY == 1 ]]; then
	st_skip "the steer run (ST_KERNEL_ONLY=1)"
	st_finish
	exit 0
fi
st_run_steerd 50 --attach "$IF_CLIENT" --attach tun0 --config /dev/null
MODE=steer
# explain cannot hand the program what arrives on tun0 (the test run always adds Ethernet):
# it must say so, not answer for a frame that never arrives there.
if out=$(st_steerctl explain 198.51.100.1 from 10.77.0.5 iif tun0 2>&1); then
	st_not_ok "steerctl explain refuses a tun ingress (it answered: $out)"
else
	st_check "steerctl explain refuses a tun ingress ($out)" grep -q "no link-layer header" <<<"$out"
fi
run_probes
st_check "steerd still running" st_steerd_alive
st_finish
