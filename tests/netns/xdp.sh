#!/usr/bin/env bash
# The XDP stage on the wire: client -- router(steerd --attach-mode xdp on "cli") -- uplinks A,
# B, both families. Real packets reach the sinks one hop on (TTL/hop limit 63), and the XDP
# stage forwarded them; a neighbour's new MAC is followed under traffic within a second; a
# neighbour gone and a device that stops taking XDP frames hand the packets to TC, which
# forwards them, and nothing is lost on the way.
# Usage: tests/netns/xdp.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

ST_XDP=1
N=40
declare -A GW=([4]=10.0.2.2 [6]=2001:db8:b::2)

# xdp_stat "STATS" KEY: one of steerctl's xdp_* counters from st_stats-like raw JSON.
xdp_stats() {
	st_steerctl -j stats | "$ST_PY" -c '
import json, sys
s = json.load(sys.stdin)
print(" ".join("%s=%d" % (k, v) for k, v in s.items() if k.startswith("xdp_") or k == "forwarded"))'
}

# xdp_delta BEFORE AFTER KEY
xdp_delta() { echo $(($(st_stat_of "$2" "$3") - $(st_stat_of "$1" "$3"))); }

# neigh_mac FAMILY: the MAC steer_neighs holds for uplink B's gateway of that family, or "".
# (bpftool prints the key's address words as host-order numbers.)
neigh_mac() {
	local ifindex
	ifindex=$(ip -n "$NS_ROUTER" -j link show dev upb | "$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])')
	nsenter --net="/run/netns/$NS_ROUTER" bpftool -j map dump pinned "$PIN_DIR/steer_neighs" |
		"$ST_PY" -c '
import json, socket, struct, sys
fam = {"4": socket.AF_INET, "6": socket.AF_INET6}[sys.argv[2]]
want = socket.inet_pton(fam, sys.argv[3]).ljust(16, b"\0")
for e in json.load(sys.stdin):
    k, v = e["formatted"]["key"], e["formatted"]["value"]
    if (k["ifindex"] == int(sys.argv[1]) and k["family"] == fam and
            struct.pack("=4I", *k["addr"]) == want):
        print(":".join("%02x" % b for b in v["mac"]))' "$ifindex" "$1" "${GW[$1]}"
}
neigh_is() { [[ $(neigh_mac "$1") == "$2" ]]; }
neigh_not() { ! neigh_is "$@"; }

# udp_counts NS: "NoPorts InCsumErrors" of UDP in namespace NS (IPv4 and IPv6 summed).
udp_counts() {
	nsenter --net="/run/netns/$1" "$ST_PY" -c '
n = e = 0
for path, tag in (("/proc/net/snmp", "Udp:"), ("/proc/net/snmp6", None)):
    lines = open(path).read().split("\n")
    if tag:
        rows = [l.split() for l in lines if l.startswith(tag)]
        d = dict(zip(rows[0][1:], map(int, rows[1][1:])))
        n += d["NoPorts"]; e += d["InCsumErrors"]
    else:
        d = dict((l.split()[0], int(l.split()[1])) for l in lines if l.strip())
        n += d.get("Udp6NoPorts", 0); e += d.get("Udp6InCsumErrors", 0)
print(n, e)'
}

# udp_send FAMILY COUNT: datagrams from an ordinary socket in the client (the checksum left
# to offload: CHECKSUM_PARTIAL across the veth) to the internet address, port 9.
udp_send() {
	nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" -c '
import socket, sys
fam = socket.AF_INET if sys.argv[1] == "4" else socket.AF_INET6
s = socket.socket(fam, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(b"steer xdp %d" % i, (sys.argv[2], 9))' "$1" "${ST_INTERNET[$1]}" "$2"
}
# wait_neigh FAMILY MAC: waits up to a second for steer_neighs to hold MAC; prints the ms.
wait_neigh() {
	local t0
	t0=$(st_now)
	while ! neigh_is "$1" "$2" && (($(st_ms_since "$t0") < 1000)); do sleep 0.02; done
	st_ms_since "$t0"
}

st_init
st_note "topology $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB}, XDP in front of TC on cli"
st_topology 46
st_start_steerd
xdp_listed() { st_steerctl -j status | "$ST_PY" -c 'import json,sys; sys.exit(json.load(sys.stdin)["attached_xdp"] != ["cli"])'; }
st_check "steerctl status lists cli's XDP stage" xdp_listed

for f in 4 6; do
	st_note "IPv$f: 1. the XDP stage forwards by the rule (uplink B), TTL/hop limit 63 on the wire"
	x0=$(xdp_stats)
	st_expect_path "$f" "$N" "IPv$f warm-up" fast upb
	x1=$(xdp_stats)
	# Before the first packet the router had never talked to the gateway (IPv6's router
	# solicitations may have told it already).
	if [[ $f == 4 ]]; then
		st_check "IPv4: XDP handed the packets to TC until the neighbour was known (xdp_pass_neigh +$(xdp_delta "$x0" "$x1" xdp_pass_neigh))" \
			test "$(xdp_delta "$x0" "$x1" xdp_pass_neigh)" -ge 1
	fi
	x0=$(xdp_stats)
	st_expect_path "$f" "$N" "IPv$f through XDP" fast upb
	x1=$(xdp_stats)
	e0=$(xdp_stats)
	out=$(st_steerctl explain "${ST_INTERNET[$f]}" from "${ST_CLIENT_ADDR[$f]}" iif cli)
	e1=$(xdp_stats)
	st_check "IPv$f: explain runs the XDP stage first, which decides ($out)" \
		grep -q "dev upb .*stage xdp" <<<"$out"
	# The client's own ND or ARP may reach cli meanwhile (xdp_rx moves): what explain would
	# move, were it counted, is what forwarding this flow moves.
	for k in xdp_forwarded xdp_cached; do
		st_check "IPv$f: explain moved no $k (+$(xdp_delta "$e0" "$e1" $k))" \
			test "$(xdp_delta "$e0" "$e1" $k)" -eq 0
	done
	out=$(st_steerctl -j explain "${ST_INTERNET[$f]}" from "${ST_CLIENT_ADDR[$f]}" iif cli ipproto tcp dport 1)
	st_check "IPv$f: explain -j says stage xdp ($out)" grep -q '"stage": *"xdp"' <<<"$out"
	st_check "IPv$f: the XDP stage forwarded all $N (xdp_forwarded +$(xdp_delta "$x0" "$x1" xdp_forwarded), TC forwarded +$(xdp_delta "$x0" "$x1" forwarded))" \
		test "$(xdp_delta "$x0" "$x1" xdp_forwarded)" -ge "$N"

	st_note "IPv$f: 2. the gateway's MAC changes under traffic: followed within a second"
	mac=02:5e:7e:00:0$f:0b
	nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$ST_TMP/sttool.py" ping "$f" \
		"${ST_CLIENT_ADDR[$f]}" "${ST_INTERNET[$f]}" 300 0.01 64 1 >"$ST_TMP/ping-mac-$f" &
	pinger=$!
	sleep 1
	# The sink answers to its new address only; the router learns it at once, in both
	# families (the other family's entry would point at the old address otherwise).
	st_ip -n "$NS_SINKB" link set eth0 address "$mac"
	for g in 4 6; do
		st_ip -n "$NS_ROUTER" "-$g" neigh replace "${GW[$g]}" lladdr "$mac" dev upb nud reachable
	done
	wait "$pinger" || true
	read -r sent got _ <"$ST_TMP/ping-mac-$f" || true
	lost=$((${sent:-0} - ${got:-0}))
	st_check "IPv$f: echo requests lost while the MAC changed: $lost of ${sent:-0} at 10 ms apart (< 100: under a second)" \
		test "${sent:-0}" -eq 300 -a "$lost" -lt 100
	x0=$(xdp_stats)
	st_expect_path "$f" "$N" "IPv$f after the MAC change" fast upb
	x1=$(xdp_stats)
	st_check "IPv$f: the XDP stage forwards to the new MAC (xdp_forwarded +$(xdp_delta "$x0" "$x1" xdp_forwarded))" \
		test "$(xdp_delta "$x0" "$x1" xdp_forwarded)" -ge "$N"

	st_note "IPv$f: 3. a neighbour entry made by hand is in the XDP stage's map within a second, and gone with it"
	st_ip -n "$NS_ROUTER" "-$f" neigh replace "${GW[$f]}" lladdr 02:00:00:00:00:99 dev upb nud permanent
	st_check "IPv$f: steer_neighs holds the new MAC within a second ($(wait_neigh "$f" 02:00:00:00:00:99) ms)" \
		neigh_is "$f" 02:00:00:00:00:99
	st_ip -n "$NS_ROUTER" "-$f" neigh del "${GW[$f]}" dev upb
	# The kernel may learn the gateway again at once (its ARP or ND): then the map holds
	# that. Either way, never the address the kernel dropped.
	t0=$(st_now)
	while neigh_is "$f" 02:00:00:00:00:99 && (($(st_ms_since "$t0") < 1000)); do sleep 0.02; done
	st_check "IPv$f: steer_neighs let the deleted MAC go within a second ($(st_ms_since "$t0") ms)" \
		neigh_not "$f" 02:00:00:00:00:99
	st_ip -n "$NS_ROUTER" "-$f" neigh replace "${GW[$f]}" lladdr "$mac" dev upb nud reachable
	st_expect_path "$f" "$N" "IPv$f after the neighbour came back" fast upb
done

verify_ok() { st_verify; }
st_check "steerd --verify: the maps, neighbours included, match the kernel" verify_ok
st_note "3b. UDP from an ordinary socket (checksum left to offload): XDP hands it to TC, none arrives corrupt"
for f in 4 6; do
	u0=$(udp_counts "$NS_SINKB")
	x0=$(xdp_stats)
	udp_send "$f" 50
	sleep 0.5
	u1=$(udp_counts "$NS_SINKB")
	x1=$(xdp_stats)
	read -r n0 e0 <<<"$u0"
	read -r n1 e1 <<<"$u1"
	st_check "IPv$f: 50 datagrams reached sink B intact (NoPorts +$((n1 - n0)), InCsumErrors +$((e1 - e0)))" \
		test "$((n1 - n0))" -ge 50 -a "$((e1 - e0))" -eq 0
	st_check "IPv$f: XDP passed them on for their checksum (xdp_pass_csum +$(xdp_delta "$x0" "$x1" xdp_pass_csum))" \
		test "$(xdp_delta "$x0" "$x1" xdp_pass_csum)" -ge 50
done

st_note "4. uplink B's peer stops taking XDP frames (GRO off): TC forwards, nothing lost"
upb_xdp_said() { # upb_xdp_said takes|"does not take": steerd's debug log line
	st_log_count "XDP redirect targets: ifindex $upb_ifindex $1 XDP frames"
}
# wait_upb_xdp WHAT N0: waits (3 s at most) until steerd logs once more than N0 times that upb
# WHAT ("takes" or "does not take") XDP frames, i.e. until the XDP stage's device map says so.
wait_upb_xdp() {
	local i
	for ((i = 0; i < 150; i++)); do
		(($(upb_xdp_said "$1") > $2)) && return 0
		sleep 0.02
	done
	return 1
}
upb_ifindex=$(ip -n "$NS_ROUTER" -j link show dev upb | "$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])')
n0=$(upb_xdp_said "does not take")
ip netns exec "$NS_SINKB" ethtool -K eth0 gro off >/dev/null
st_check "steerd took upb out of the XDP stage's device map" wait_upb_xdp "does not take" "$n0"
for f in 4 6; do
	x0=$(xdp_stats)
	st_expect_path "$f" "$N" "IPv$f with upb unable to take XDP frames" fast upb
	x1=$(xdp_stats)
	out=$(st_steerctl explain "${ST_INTERNET[$f]}" from "${ST_CLIENT_ADDR[$f]}" iif cli)
	st_check "IPv$f: explain says TC decided, XDP having passed it on ($out)" \
		grep -q "dev upb .*stage tc (xdp: pass_xdp_tx)" <<<"$out"
	st_check "IPv$f: XDP handed them to TC (xdp_pass_xdp_tx +$(xdp_delta "$x0" "$x1" xdp_pass_xdp_tx), TC forwarded +$(xdp_delta "$x0" "$x1" forwarded))" \
		test "$(xdp_delta "$x0" "$x1" xdp_pass_xdp_tx)" -ge "$N" -a "$(xdp_delta "$x0" "$x1" forwarded)" -ge "$N"
done
n0=$(upb_xdp_said takes)
ip netns exec "$NS_SINKB" ethtool -K eth0 gro on >/dev/null
st_check "steerd put upb back in the XDP stage's device map" wait_upb_xdp takes "$n0"
x0=$(xdp_stats)
st_expect_path 4 "$N" "IPv4 with GRO back on" fast upb
x1=$(xdp_stats)
st_check "the XDP stage sends to upb again (xdp_forwarded +$(xdp_delta "$x0" "$x1" xdp_forwarded))" \
	test "$(xdp_delta "$x0" "$x1" xdp_forwarded)" -ge "$N"

st_note "5. steerctl detach cli ingress takes the XDP stage away with TC; a restart brings both back"
# What steerctl reports of the detach goes to stderr: it is not TAP.
detach_cli() { st_steerctl detach cli ingress >&2; }
st_check "steerctl detach cli ingress" detach_cli
st_check "no XDP program left on cli after detach" \
	bash -c "! ip -n $NS_ROUTER link show dev cli | grep -q 'xdp'"
st_expect_path 4 "$N" "IPv4 after steerctl detach" none upb
st_stop_steerd
st_start_steerd
st_note "   and a restart swaps the program on the pinned XDP link"
st_stop_steerd
st_start_steerd
st_check "steerd log: the pinned XDP link was reused" grep -q "replaced the program on the pinned XDP link" "$ST_STEERD_LOG"
no_layout_change() { ! grep -q "has another layout" "$ST_STEERD_LOG"; }
st_check "steerd log: the restarts adopted every pinned map" no_layout_change
st_expect_path 4 "$N" "IPv4 after restart" fast upb

st_note "6. --cleanup removes the XDP stage with everything else"
st_stop_steerd
st_cleanup_steerd
st_check "no XDP program left on cli" \
	bash -c "! ip -n $NS_ROUTER link show dev cli | grep -q 'xdp'"

st_note "7. steer.yaml's xdp: per interface, put in front and taken away by a reload"
cfg=$ST_TMP/steer.yaml
printf 'interfaces:\n  cli: { xdp: true }\n' >"$cfg"
st_run_steerd 50 --config "$cfg"
st_check "steerctl status lists cli's XDP stage (from steer.yaml)" xdp_listed
x0=$(xdp_stats)
st_expect_path 4 "$N" "IPv4 with xdp: true" fast upb
x1=$(xdp_stats)
st_check "the XDP stage forwarded them (xdp_forwarded +$(xdp_delta "$x0" "$x1" xdp_forwarded))" \
	test "$(xdp_delta "$x0" "$x1" xdp_forwarded)" -ge "$N"
printf 'interfaces:\n  cli: { xdp: false }\n' >"$cfg"
st_reload "xdp: false"
st_check "the reload took the XDP stage off cli" \
	bash -c "! ip -n $NS_ROUTER link show dev cli | grep -q 'xdp'"
x0=$(xdp_stats)
st_expect_path 4 "$N" "IPv4 with xdp: false" fast upb
x1=$(xdp_stats)
st_check "TC alone forwarded them (xdp_rx +$(xdp_delta "$x0" "$x1" xdp_rx))" \
	test "$(xdp_delta "$x0" "$x1" xdp_rx)" -eq 0
printf 'interfaces:\n  cli: { xdp: true }\n' >"$cfg"
st_reload "xdp: true again"
st_check "the reload put the XDP stage back on cli" xdp_listed
st_expect_path 4 "$N" "IPv4 with xdp: true again" fast upb
st_stop_steerd
st_cleanup_steerd
st_finish
