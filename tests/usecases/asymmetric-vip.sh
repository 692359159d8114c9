#!/usr/bin/env bash
# Asymmetric-routing repair: a server with a VIP on lo, its default route via gateway A, and the
# clients that reach the VIP coming in through gateway B, which A cannot reach. The kernel sends
# the VIP's replies by A, where they die; a steer policy `from VIP via B dev ethB`, with the
# program at egress of ethA, sends them out by B. Checked with a real TCP connection from the
# client namespace: it fails without steer, succeeds with it (the replies leave by B, with the
# TTL a locally sent packet has), keeps working when a SIGHUP brings a file with a typo (which
# `steerd --check` pins to its line), fails again once steerd is stopped, and works again after
# a restart on the pins.
#
#   client 10.9.0.2 --- 10.9.0.1 gwB 10.0.2.1 --- 10.0.2.2 ethB  server (VIP 192.0.2.10 on lo)
#                                gwA 10.0.1.1 --- 10.0.1.2 ethA  (default via 10.0.1.1)
#
# Usage: tests/usecases/asymmetric-vip.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/usecases/lib-usecase.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-usecase.sh"

NS_CLIENT=st$$-client
NS_GWA=st$$-gwa
NS_GWB=st$$-gwb
NS_ROUTER=st$$-server   # where steerd runs (lib.sh's steerctl/cleanup helpers use NS_ROUTER)
VIP=192.0.2.10
CLIENT=10.9.0.2
GWB=10.0.2.1
PORT=80

uc_init "$NS_CLIENT -- $NS_GWB -- $NS_ROUTER (VIP $VIP) -- $NS_GWA" \
	"$NS_CLIENT" "$NS_GWA" "$NS_GWB" "$NS_ROUTER"
uc_link "$NS_CLIENT" eth0 $CLIENT/24 "$NS_GWB" eth1 10.9.0.1/24
uc_link "$NS_ROUTER" ethB 10.0.2.2/24 "$NS_GWB" eth0 $GWB/24
uc_link "$NS_ROUTER" ethA 10.0.1.2/24 "$NS_GWA" eth0 10.0.1.1/24
st_ip -n "$NS_CLIENT" route add default via 10.9.0.1
st_ip -n "$NS_GWB" route add $VIP/32 via 10.0.2.2
uc_sysctl "$NS_GWB" net.ipv4.ip_forward=1
# Gateway A forwards, but knows no way to the client's network: what it gets for the client dies.
st_ip -n "$NS_GWA" addr add 198.51.100.1/32 dev lo
uc_sysctl "$NS_GWA" net.ipv4.ip_forward=1
st_ip -n "$NS_ROUTER" addr add $VIP/32 dev lo
st_ip -n "$NS_ROUTER" route add default via 10.0.1.1
# Loose reverse-path filtering, as on any host that takes traffic for a VIP through a second
# uplink (strict mode would drop the client's SYN arriving on ethB before anything else).
uc_sysctl "$NS_ROUTER" net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 \
	net.ipv4.conf.ethA.rp_filter=2 net.ipv4.conf.ethB.rp_filter=2

uc_serve "$NS_ROUTER" $VIP $PORT
uc_watch "$NS_GWA" eth0 gwa   # what reaches gateway A from the server
uc_watch "$NS_GWB" eth0 gwb   # what reaches gateway B from the server

uc_config vip <<EOF
# The VIP's replies leave by the uplink its clients come from.
interfaces:
  ethA:
    direction: egress
policies:
  - priority: 100
    from: $VIP/32
    via: $GWB
    dev: ethB
log-level: debug
EOF

# attempt SPORT WANT(ok|fail) WHAT: a TCP connection client:SPORT -> VIP:80, and where the
# server's segments for it went.
attempt() {
	local sport=$1 want=$2 what=$3 out rc a b
	out=$(uc_connect "$NS_CLIENT" $CLIENT $VIP $PORT "$sport" "$(printf 'c%07d' "$sport")") &&
		rc=0 || rc=$?
	if [[ $want == ok ]]; then
		st_check "$what: TCP client -> $VIP:$PORT succeeds ($out)" test "$rc" -eq 0
		b=$(uc_wait_seen gwb 3 src=$VIP sport=$PORT dport="$sport")
		a=$(uc_seen gwa src=$VIP sport=$PORT dport="$sport")
		st_check "$what: the server's segments left by ethB, none by ethA (gwB: $b, gwA: $a)" \
			test "${b%% *}" -ge 3 -a "${a%% *}" -eq 0
		st_check "$what: they reached gwB with TTL 64, as sent by the server (ttl:count ${b#* })" \
			test "${b#* }" = "64:${b%% *}"
		b=$(uc_seen gwb src=$VIP sport=$PORT dport="$sport" tag="$(printf 'c%07d' "$sport")")
		st_check "$what: the server's answer carrying the client's tag went through gwB ($b)" \
			test "${b%% *}" -ge 1
	else
		st_check "$what: TCP client -> $VIP:$PORT fails ($out)" test "$rc" -ne 0
		a=$(uc_wait_seen gwa 1 src=$VIP sport=$PORT dport="$sport" flags=SA)
		b=$(uc_seen gwb src=$VIP sport=$PORT dport="$sport")
		st_check "$what: the server's SYN-ACKs went to gateway A, none to B (gwA: $a, gwB: $b)" \
			test "${a%% *}" -ge 1 -a "${b%% *}" -eq 0
	fi
}

st_note "1. the kernel alone: the VIP's replies follow the default route to gateway A"
dev=$(ip -n "$NS_ROUTER" -j route get $CLIENT from $VIP |
	"$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)[0].get("dev", ""))')
st_check "kernel: ip route get $CLIENT from $VIP says dev ethA (says $dev)" test "$dev" = ethA
attempt 41001 fail "without steer"
# A control, so the failure above is the route's and nothing else's: the same repair done by the
# kernel (a source rule) makes the connection work, through B.
st_ip -n "$NS_ROUTER" route add default via $GWB dev ethB table 200
st_ip -n "$NS_ROUTER" rule add from $VIP table 200 priority 200
attempt 41101 ok "control, kernel rule from $VIP table 200"
st_ip -n "$NS_ROUTER" rule del from $VIP table 200 priority 200
st_ip -n "$NS_ROUTER" route del default via $GWB dev ethB table 200

st_note "2. steerd with the policy from $VIP via $GWB dev ethB at egress of ethA"
uc_check_config "$UC_CONFIG"
uc_start_steerd "$UC_CONFIG"
uc_fast_check "pinned TCX link at egress of ethA" test -e "$PIN_DIR/tcx-egress-ethA"
eg=$(st_steerctl -j status 2>&1 | "$ST_PY" -c \
	'import json,sys; print(",".join(json.load(sys.stdin).get("attached_egress", [])))' 2>&1) || true
uc_fast_check "steerctl status lists ethA as attached at egress (attached_egress: $eg)" \
	test "$eg" = ethA
st0=$(st_stats)
attempt 41002 ok "with steer"
st1=$(st_stats)
fwd=$(($(st_stat_of "$st1" forwarded) - $(st_stat_of "$st0" forwarded)))
uc_fast_check "steerctl: forwarded +$fwd >= 3 ($(st_stats_delta "$st0" "$st1"))" test "$fwd" -ge 3
attempt 41003 ok "with steer, a second connection"
# steerctl explain oif: the egress program's answer, naming the policy.
ex=$(uc_explain $CLIENT from $VIP oif ethA ipproto tcp sport $PORT dport 41004)
uc_fast_check "explain oif ethA: via $GWB dev ethB policy 100 ($ex)" \
	test "$ex" = "$CLIENT from $VIP ipproto tcp via $GWB dev ethB policy 100"
ex=$(uc_explain 198.51.100.1 from 10.0.1.2 oif ethA ipproto udp sport 5555 dport 4000)
uc_fast_check "explain oif ethA: the server's own address passes ($ex)" \
	test "$ex" = "pass (no policy matched: the kernel's route stands) ipproto udp"

# rejected_at EXIT OUTPUT FILE LINE: a failure naming FILE:LINE:COL: via: ...
rejected_at() { [[ $1 -ne 0 && $2 == *"$3:$4:"[0-9]*": via: "* ]]; }
st_note "2b. a typo in the file: --check names the place, SIGHUP keeps the last good policy"
cp "$UC_CONFIG" "$ST_TMP/vip.good"
sed -i "s/via: $GWB/via: 10.0.2.300/" "$UC_CONFIG"
line=$(grep -n 'via:' "$UC_CONFIG" | cut -d: -f1)
out=$("$STEERD" --check "$UC_CONFIG" 2>&1) && rc=0 || rc=$?
st_check "steerd --check rejects it as $UC_CONFIG:$line:COL: via: ... (exit $rc: $out)" \
	rejected_at "$rc" "$out" "$UC_CONFIG" "$line"
if [[ $ST_KERNEL_ONLY != 1 ]]; then
	kill -HUP "$ST_STEERD_PID"
	sleep 1
	st_check "steerd still running after SIGHUP with a bad file" st_steerd_alive
	st_check "steerd logged the bad file's error ($(grep -c "$UC_CONFIG:$line:" "$ST_STEERD_LOG") lines)" \
		grep -q "$UC_CONFIG:$line:" "$ST_STEERD_LOG"
fi
attempt 41007 ok "after SIGHUP with a bad file"
cp "$ST_TMP/vip.good" "$UC_CONFIG"

st_note "3. the server's own traffic, not from the VIP, still leaves as the kernel routes it (ethA)"
st0=$(st_stats)
uc_udp "$NS_ROUTER" 10.0.1.2 5555 198.51.100.1 4000 10 own00001
a=$(uc_wait_seen gwa 10 tag=own00001)
b=$(uc_seen gwb tag=own00001)
st_check "10 UDP datagrams 10.0.1.2 -> 198.51.100.1 reached gateway A only (gwA: $a, gwB: $b)" \
	test "${a%% *}" -eq 10 -a "${b%% *}" -eq 0
st1=$(st_stats)
# (Not an exact "forwarded +0": a SYN-ACK the server still retransmits for an earlier attempt
# may be steered meanwhile. The recorders above are the proof.)
st_note "counters meanwhile: $(st_stats_delta "$st0" "$st1")"

st_note "4. SIGTERM: the program stays attached but steers no more; replies go to A again"
st_stop_steerd
attempt 41004 fail "steerd stopped"

st_note "5. steerd restarts on its pins with the same file: the VIP works again"
uc_start_steerd "$UC_CONFIG"
attempt 41005 ok "after restart"

st_note "6. steerd --cleanup: egress program detached, the kernel alone routes the replies"
# The egress program's id, to see it freed after --cleanup (this bpftool may not list TCX).
eprog=$(bpftool -j link show pinned "$PIN_DIR/tcx-egress-ethA" 2>/dev/null |
	"$ST_PY" -c 'import json,sys; print(json.load(sys.stdin).get("prog_id", ""))' 2>/dev/null) || eprog=
st_stop_steerd
st_cleanup_steerd
st_check "--cleanup removed the egress TCX link pin" test ! -e "$PIN_DIR/tcx-egress-ethA"
if [[ -n $eprog ]]; then
	gone=
	for ((i = 0; i < 40; i++)); do
		bpftool prog show id "$eprog" >/dev/null 2>&1 || { gone=1; break; }
		sleep 0.05
	done
	st_check "--cleanup detached the egress program (prog id $eprog freed)" test -n "$gone"
else
	st_not_ok "--cleanup detached the egress program (no prog id read from the TCX link pin)"
fi
attempt 41006 fail "after --cleanup"

st_finish
