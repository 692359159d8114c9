#!/usr/bin/env bash
# steerctl monitor with real traffic through a real steerd: a forward in each family (UDP,
# TCP, ICMP), a blackhole drop, unreachable and prohibit routes, an expiring TTL, a packet
# too big for its uplink, a hairpin and a firewalled family each show up as one event with
# the right interface, addresses, protocol, ports, verdict, reason, gateway, device, table
# and rule. Then the filters (--verdict, --reason, from, to, iif), sampling and the rate limit
# in the program, the text format, one listener at a time, and a lease that ends with its
# listener (cleanly or killed).
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

st_init
st_topology 46
R=(nsenter --net="/run/netns/$NS_ROUTER")
C=(nsenter --net="/run/netns/$NS_CLIENT")
# Verdicts other than a forward, all from the client net's table 100.
st_ip -n "$NS_ROUTER" route add blackhole 192.0.2.0/28 table 100
st_ip -n "$NS_ROUTER" route add unreachable 192.0.2.16/28 table 100
st_ip -n "$NS_ROUTER" route add prohibit 192.0.2.32/28 table 100
st_ip -n "$NS_ROUTER" route add 192.0.2.48/28 via 10.1.0.3 table 100	# back out of cli
st_ip -n "$NS_ROUTER" route add 192.0.2.64/28 via 10.0.2.2 table 100
st_ip -n "$NS_ROUTER" link set upb mtu 1280
st_start_steerd

MON_PID=
MON_OUT=$ST_TMP/monitor.out
MON_ERR=$ST_TMP/monitor.err

# The lease as the program sees it: "OWNER UNTIL_NS" (bpftool reads the map's BTF).
lease() {
	"${R[@]}" bpftool -j map dump pinned "$PIN_DIR/steer_monitor" |
		"$ST_PY" -c 'import json,sys; v=json.load(sys.stdin)[0]["formatted"]["value"]; print(v["owner"], v["until_ns"])'
}

# mon_start ARGS...: steerctl monitor in the background; back once it holds the lease.
mon_start() {
	: >"$MON_OUT"
	: >"$MON_ERR"
	MON_PID=
	"${R[@]}" "$STEERCTL" --pin-dir "$PIN_DIR" "${MON_PRE[@]}" monitor "$@" >"$MON_OUT" 2>"$MON_ERR" &
	MON_PID=$!
	local i owner until
	for ((i = 0; i < 100; i++)); do
		read -r owner until < <(lease)
		[[ $owner == "$MON_PID" && $until != 0 ]] && return 0
		sleep 0.05
	done
	st_die "steerctl monitor $* took the lease (owner $owner, until $until; $(cat "$MON_ERR"))"
}

# mon_stop: Ctrl-C, and wait for it to say its summary.
mon_stop() {
	kill -INT "$MON_PID" 2>/dev/null || true
	local rc=0
	wait "$MON_PID" || rc=$?
	MON_PID=
	return "$rc"
}

# udp FAM SRC DST SPORT DPORT [TTL] [SIZE] [COUNT]: datagrams from the client, DF set.
udp() {
	"${C[@]}" "$ST_PY" - "$@" <<'EOF'
import socket, sys
fam, src, dst, sport, dport = sys.argv[1:6]
ttl = int(sys.argv[6]) if len(sys.argv) > 6 else 64
size = int(sys.argv[7]) if len(sys.argv) > 7 else 32
count = int(sys.argv[8]) if len(sys.argv) > 8 else 1
af = socket.AF_INET if fam == "4" else socket.AF_INET6
s = socket.socket(af, socket.SOCK_DGRAM)
s.bind((src, int(sport)))
if af == socket.AF_INET:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    s.setsockopt(socket.IPPROTO_IP, 10, 2)          # IP_MTU_DISCOVER: IP_PMTUDISC_DO
else:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    s.setsockopt(socket.IPPROTO_IPV6, 23, 2)        # IPV6_MTU_DISCOVER: DO
for _ in range(count):
    try:
        s.sendto(b"m" * size, (dst, int(dport)))
    except OSError:
        pass
EOF
}

# events: the JSON lines monitor printed, checked by the Python on stdin (given them as EV).
events() {
	"$ST_PY" -c "import json,sys
EV=[json.loads(l) for l in open('$MON_OUT') if l.strip()]
$1"
}

# want NAME PYTHON-CONDITION-ON-e: one event matches the condition.
want() {
	local name=$1 cond=$2 out
	if out=$(events "def ok(e):
    try:
        return bool($cond)
    except KeyError:	# a field that event does not have
        return False
m=[e for e in EV if ok(e)]
print(len(m)); sys.exit(0 if m else 1)" 2>&1); then
		st_ok "monitor: $name ($out event(s))"
	else
		st_not_ok "monitor: $name: no event with $cond"
		sed 's/^/#   /' "$MON_OUT" | head -40
	fi
}

# ---- every verdict, with its fields -----------------------------------------------------------
MON_PRE=(-j)
mon_start --rate 100000 --duration 60
A4=10.1.0.2 A6=2001:db8:1::2
udp 4 $A4 198.51.100.1 41001 4001
udp 6 $A6 2001:db8:ffff::1 41002 4002
"${C[@]}" "$ST_PY" -c 'import socket
s=socket.socket(); s.settimeout(1); s.bind(("10.1.0.2", 41003))
try: s.connect(("198.51.100.1", 4003))
except OSError: pass'
st_ping 4 1 >/dev/null 2>&1 || true
udp 4 $A4 192.0.2.1 41004 4004
udp 4 $A4 192.0.2.17 41005 4005
udp 4 $A4 192.0.2.33 41006 4006
udp 4 $A4 198.51.100.1 41007 4007 1
udp 4 $A4 192.0.2.65 41008 4008 64 1400
udp 4 $A4 192.0.2.49 41009 4009
sleep 0.5
mon_stop || st_not_ok "monitor exits 0 on SIGINT"
st_check "monitor: says on exit how many the rate limit dropped ($(cat "$MON_ERR"))" \
	grep -Eq '^[0-9]+ events? shown; 0 dropped by the rate limit \(100000/s\); 0 lost' "$MON_ERR"

want "UDP forward: iif, addresses, ports, gateway, device, table, rule" \
	'e["iif"]=="cli" and e["from"]=="10.1.0.2" and e["dst"]=="198.51.100.1" and e["ipproto"]=="udp" and e["sport"]==41001 and e["dport"]==4001 and e["action"]=="forward" and e["reason"]=="forwarded" and e["gateway"]=="10.0.2.2" and e["dev"]=="upb" and e["table"]=="100" and e["priority"]==100 and e["direction"]=="ingress" and e["len"]>=60'
want "IPv6 UDP forward" \
	'e["from"]=="2001:db8:1::2" and e["dst"]=="2001:db8:ffff::1" and e["sport"]==41002 and e["action"]=="forward" and e["gateway"]=="2001:db8:b::2" and e["dev"]=="upb" and e["table"]=="100" and e["priority"]==100'
want "TCP SYN forward" \
	'e.get("sport")==41003 and e["ipproto"]=="tcp" and e["dport"]==4003 and e["action"]=="forward" and e["dev"]=="upb"'
want "ICMP echo forward (no ports)" \
	'e.get("ipproto")=="icmp" and e["dst"]=="198.51.100.1" and "sport" not in e and e["action"]=="forward"'
want "blackhole: drop, its table and rule, no device" \
	'e.get("sport")==41004 and e["action"]=="drop" and e["reason"]=="blackhole" and e["table"]=="100" and e["priority"]==100 and "dev" not in e'
want "unreachable route: punt" \
	'e.get("sport")==41005 and e["action"]=="punt" and e["reason"]=="unreachable" and e["table"]=="100"'
want "prohibit route: punt" \
	'e.get("sport")==41006 and e["action"]=="punt" and e["reason"]=="prohibit"'
want "TTL 1: punt (ttl), addresses but no ports (the transport header is not read)" \
	'e.get("dst")=="198.51.100.1" and e["ipproto"]=="udp" and e["action"]=="punt" and e["reason"]=="ttl"'
want "too big for upb, DF: punt (mtu)" \
	'e.get("sport")==41008 and e["action"]=="punt" and e["reason"]=="mtu" and e["len"]>1400'
want "back out of the interface it came in by: punt (hairpin)" \
	'e.get("sport")==41009 and e["action"]=="punt" and e["reason"]=="hairpin"'
want "neighbour discovery and the like: punt (not_for_us), no rule" \
	'e["action"]=="punt" and e["reason"]=="not_for_us" and "priority" not in e'

# ---- the family behind a firewall ------------------------------------------------------------
# wait_nf true|false: until steerctl status says IPv4 is (or is not) handed to the kernel.
wait_nf() {
	local i
	for ((i = 0; i < 100; i++)); do
		st_steerctl -j status | "$ST_PY" -c "import json,sys
sys.exit(0 if json.load(sys.stdin)['netfilter']['ipv4_punted'] == $1 else 1)" && return 0
		sleep 0.05
	done
	st_not_ok "steerd saw the ruleset change (ipv4_punted $1)"
}
if command -v nft >/dev/null; then
	"${R[@]}" nft add table inet mon
	"${R[@]}" nft add chain inet mon forward '{ type filter hook forward priority 0; policy accept; }'
	"${R[@]}" nft add rule inet mon forward ip daddr 192.0.2.200 drop
	wait_nf True
	mon_start --rate 100000 --duration 30 --reason netfilter
	udp 4 $A4 198.51.100.1 41010 4010
	sleep 0.3
	mon_stop || true
	want "a firewalled family: punt (netfilter), only that reason" \
		'e.get("sport")==41010 and e["action"]=="punt" and e["reason"]=="netfilter"'
	st_check "monitor --reason netfilter showed nothing else" \
		events 'sys.exit(0 if EV and all(e["reason"]=="netfilter" for e in EV) else 1)'
	"${R[@]}" nft delete table inet mon
	wait_nf False
else
	st_not_ok "nft is installed (the netfilter punt)"
fi

# ---- filters ---------------------------------------------------------------------------------
mon_start --rate 100000 --duration 30 --verdict drop,punt
udp 4 $A4 198.51.100.1 41011 4011
udp 4 $A4 192.0.2.2 41012 4012
sleep 0.3
mon_stop || true
st_check "--verdict drop,punt: the drop is there" events \
	'sys.exit(0 if any(e.get("sport")==41012 for e in EV) else 1)'
st_check "--verdict drop,punt: no forward" events \
	'sys.exit(0 if not any(e["action"]=="forward" for e in EV) else 1)'

mon_start --rate 100000 --duration 30 to 192.0.2.0/28 from 10.1.0.0/24 iif cli
udp 4 $A4 198.51.100.1 41013 4013
udp 4 $A4 192.0.2.3 41014 4014
udp 6 $A6 2001:db8:ffff::1 41015 4015
sleep 0.3
mon_stop || true
st_check "to/from/iif: exactly the packet to 192.0.2.0/28" events \
	'sys.exit(0 if [e.get("sport") for e in EV]==[41014] else 1)'

mon_start --rate 100000 --duration 30 iif upa
udp 4 $A4 198.51.100.1 41016 4016
sleep 0.3
mon_stop || true
st_check "iif upa: nothing from cli" events \
	'sys.exit(0 if not any(e["iif"]=="cli" for e in EV) else 1)'

# ---- sampling and the rate limit, in the program ---------------------------------------------
mon_start --rate 100000 --duration 30 --sample 10 to 198.51.100.1/32
udp 4 $A4 198.51.100.1 41017 4017 64 32 100
sleep 0.3
mon_stop || true
n=$(events 'print(len(EV))')
st_check "--sample 10: 10 of 100 packets shown ($n)" test "$n" -eq 10

mon_start --rate 5 --duration 30 to 198.51.100.1/32
udp 4 $A4 198.51.100.1 41018 4018 64 32 200
sleep 0.3
mon_stop || true
n=$(events 'print(len(EV))')
dropped=$(sed -nE 's/.*; ([0-9]+) dropped by the rate limit.*/\1/p' "$MON_ERR")
st_check "--rate 5: at most 10 events for 200 packets sent within 2 s ($n)" test "$n" -ge 1 -a "$n" -le 10
st_check "--rate 5: the rest counted as dropped by the rate limit ($dropped + $n = 200)" \
	test "$((dropped + n))" -eq 200

# ---- the text format -------------------------------------------------------------------------
MON_PRE=()
mon_start --duration 30 to 198.51.100.1/32
udp 4 $A4 198.51.100.1 41019 4019
sleep 0.3
mon_stop || true
line=$(grep -m1 ' 10.1.0.2:41019 ' "$MON_OUT" || true)
st_check "text: one line in ip monitor's manner ($line)" grep -Eq \
	'^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} iif cli 10\.1\.0\.2:41019 > 198\.51\.100\.1:4019 udp len [0-9]+: forward via 10\.0\.2\.2 dev upb table 100 rule 100$' <<<"$line"

# ---- one listener, and a lease that ends with it ---------------------------------------------
mon_start --duration 30
if out=$("${R[@]}" "$STEERCTL" --pin-dir "$PIN_DIR" monitor --duration 1 2>&1); then
	st_not_ok "a second listener is refused (it ran: $out)"
else
	st_check "a second listener is refused ($out)" grep -q "another listener (pid $MON_PID)" <<<"$out"
fi
mon_stop || true
read -r owner until < <(lease)
st_check "a clean exit ends the lease at once (until $until)" test "$until" -eq 0

mon_start --duration 30
kill -KILL "$MON_PID"
wait "$MON_PID" 2>/dev/null || true
MON_PID=
sleep 2.5
read -r owner until < <(lease)
now=$("$ST_PY" -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC))')
st_check "a killed listener's lease runs out by itself within 2 s (until $until, now $now)" \
	test "$until" -lt "$now"
mon_start --duration 30
mon_stop || true
st_ok "after a killed listener, the next one takes the lease at once"

# ---- usage -----------------------------------------------------------------------------------
for bad in "--verdict maybe" "--reason nonsense" "--rate 0" "from 10.1.0.0/33" "iif nosuchif0" \
	"sideways 1"; do
	# shellcheck disable=SC2086 # the words
	if "${R[@]}" "$STEERCTL" --pin-dir "$PIN_DIR" monitor $bad >/dev/null 2>&1; then
		st_not_ok "monitor $bad is refused"
	else
		rc=$?
		st_check "monitor $bad is refused as a usage error (exit $rc)" test "$rc" -eq 2
	fi
done
if "${R[@]}" "$STEERCTL" --pin-dir "$PIN_DIR" stats --rate 5 >/dev/null 2>&1; then
	st_not_ok "--rate belongs to monitor, not stats"
else
	st_ok "--rate belongs to monitor, not stats"
fi

st_stop_steerd
st_finish
