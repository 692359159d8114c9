#!/usr/bin/env bash
# Service/management split in a two-NIC pod: svc0 to the service gateway (the default route),
# mgmt0 to the management gateway, behind which the admin network 10.99.0.0/16 lives, which
# the service side cannot reach. Two steer policies at egress of svc0 send what belongs to
# management out of mgmt0: everything from the management address (the replies of the pod's
# sshd to an admin), and every TCP connection to port 22 the pod opens. Everything else keeps
# leaving by svc0 as the kernel routes it. Checked with real TCP connections both ways and with
# UDP: without steer the management connections fail (their packets reach the service
# gateway), with steer they succeed through mgmt0, and again fail once steerd is stopped.
# After a SIGHUP the same split is done by policies that look up a kernel table holding only the
# admin net: a miss goes on to the next policy, and past the last one to the kernel's route; a
# blackhole policy keeps the service address out of the admin net.
#
#   svcgw 10.30.1.1 (198.51.100.1) --- svc0 10.30.1.2  pod  mgmt0 10.30.2.2 --- 10.30.2.1 mgmtgw
#   (no route to 10.99.0.0/16)             (default via svc0)                     (admin 10.99.0.1)
#
# Note: egress steering does not change the source address the kernel chose. A connection the
# pod opens to port 22 leaves mgmt0 from 10.30.1.2 (svc0's address), so the management gateway
# routes 10.30.1.0/24 back to the pod, and the pod filters reverse paths loosely (rp_filter 2).
#
# Usage: tests/usecases/mgmt-split.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/usecases/lib-usecase.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-usecase.sh"

NS_ROUTER=st$$-pod   # where steerd runs
NS_SVCGW=st$$-svcgw
NS_MGMTGW=st$$-mgmtgw
SVC=10.30.1.2
MGMT=10.30.2.2
ADMIN=10.99.0.1
WEB=198.51.100.1
N=10
SPORT=44000

uc_init "$NS_SVCGW -- svc0 $NS_ROUTER mgmt0 -- $NS_MGMTGW" \
	"$NS_ROUTER" "$NS_SVCGW" "$NS_MGMTGW"
uc_link "$NS_ROUTER" svc0 $SVC/24 "$NS_SVCGW" eth0 10.30.1.1/24
uc_link "$NS_ROUTER" mgmt0 $MGMT/24 "$NS_MGMTGW" eth0 10.30.2.1/24
st_ip -n "$NS_ROUTER" route add default via 10.30.1.1
uc_sysctl "$NS_ROUTER" net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 \
	net.ipv4.conf.svc0.rp_filter=2 net.ipv4.conf.mgmt0.rp_filter=2
st_ip -n "$NS_SVCGW" addr add $WEB/32 dev lo
st_ip -n "$NS_SVCGW" route add 10.30.2.0/24 via $SVC
uc_sysctl "$NS_SVCGW" net.ipv4.ip_forward=1
st_ip -n "$NS_MGMTGW" addr add $ADMIN/32 dev lo
st_ip -n "$NS_MGMTGW" route add 10.30.1.0/24 via $MGMT

uc_serve "$NS_ROUTER" $MGMT 22     # the pod's sshd, on its management address
uc_serve "$NS_MGMTGW" $ADMIN 22    # an admin host the pod connects to (e.g. a backup target)
uc_serve "$NS_SVCGW" $WEB 80       # a service on the service side
uc_watch "$NS_SVCGW" eth0 svc      # what the pod sent by svc0
uc_watch "$NS_MGMTGW" eth0 mgmt    # what the pod sent by mgmt0

# tcp WHAT FROM-NS SRC DST PORT ok|fail WHERE(svc|mgmt) SELECT...: a TCP connection; checks
# its outcome and that the pod's segments of it (SELECT: uc_seen filters, with SPORT filled in)
# all reached WHERE's gateway, TTL 64, and none the other.
tcp() {
	local what=$1 ns=$2 src=$3 dst=$4 port=$5 want=$6 where=$7 out rc other w o sel=()
	shift 7
	SPORT=$((SPORT + 1))
	local f
	for f in "$@"; do sel+=("${f//SPORT/$SPORT}"); done
	out=$(uc_connect "$ns" "$src" "$dst" "$port" $SPORT "$(printf 't%07d' $SPORT)") && rc=0 || rc=$?
	if [[ $want == ok ]]; then
		st_check "$what: TCP $src:$SPORT -> $dst:$port succeeds ($out)" test "$rc" -eq 0
	else
		st_check "$what: TCP $src:$SPORT -> $dst:$port fails ($out)" test "$rc" -ne 0
	fi
	[[ $where == svc ]] && other=mgmt || other=svc
	w=$(uc_wait_seen "$where" 1 "${sel[@]}")
	o=$(uc_seen "$other" "${sel[@]}")
	st_check "$what: the pod's segments went to the $where gateway, TTL 64, none to $other ($where: $w, $other: $o)" \
		test "${w%% *}" -ge 1 -a "${w#* }" = "64:${w%% *}" -a "${o%% *}" -eq 0
}

# udp WHAT SRC DST DPORT WHERE: N tagged datagrams from the pod; all at WHERE's gateway.
udp() {
	local what=$1 src=$2 dst=$3 dport=$4 where=$5 tag other w o
	SPORT=$((SPORT + 1))
	tag=$(printf 'u%07d' $SPORT)
	uc_udp "$NS_ROUTER" "$src" $SPORT "$dst" "$dport" $N "$tag"
	[[ $where == svc ]] && other=mgmt || other=svc
	w=$(uc_wait_seen "$where" $N tag="$tag")
	o=$(uc_seen "$other" tag="$tag")
	st_check "$what: $N UDP $src -> $dst:$dport left by the $where NIC, TTL 64 ($where: $w, $other: $o)" \
		test "$w" = "$N 64:$N" -a "${o%% *}" -eq 0
}

# all WHAT MGMT-WORKS(ok|fail) MGMT-WHERE(svc|mgmt): every kind of traffic once.
all() {
	local what=$1 m=$2 mw=$3
	tcp "$what, admin -> pod's sshd" "$NS_MGMTGW" $ADMIN $MGMT 22 "$m" "$mw" \
		src=$MGMT sport=22 dport=SPORT
	tcp "$what, pod -> admin:22" "$NS_ROUTER" - $ADMIN 22 "$m" "$mw" dst=$ADMIN dport=22 sport=SPORT
	udp "$what, syslog from the management address" $MGMT $ADMIN 514 "$mw"
	tcp "$what, service traffic" "$NS_ROUTER" - $WEB 80 ok svc dst=$WEB dport=80 sport=SPORT
	udp "$what, service UDP" $SVC $WEB 53 svc
	udp "$what, another port to the admin net from the service address" $SVC $ADMIN 2222 svc
}

# split_config <<EOF: steer at egress of svc0 with the policies given (YAML list items), in
# $UC_CONFIG.
split_config() {
	uc_config split < <(printf 'interfaces:\n  svc0:\n    direction: egress\npolicies:\n'; cat)
}

st_note "1. the kernel alone: everything, management included, follows the default route (svc0)"
for a in "$ADMIN from $MGMT" "$ADMIN"; do
	# shellcheck disable=SC2086 # the words of the question
	dev=$(ip -n "$NS_ROUTER" -j route get $a |
		"$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)[0].get("dev", ""))')
	st_check "kernel: ip route get $a says dev svc0 (says $dev)" test "$dev" = svc0
done
all "without steer" fail svc

st_note "2. a control: the same split as kernel rules works, so the failures above are the routes'"
st_ip -n "$NS_ROUTER" route add default via 10.30.2.1 dev mgmt0 table 300
st_ip -n "$NS_ROUTER" rule add from $MGMT table 300 priority 100
st_ip -n "$NS_ROUTER" rule add ipproto tcp dport 22 table 300 priority 110
all "control, kernel rules" ok mgmt
st_ip -n "$NS_ROUTER" rule del from $MGMT table 300 priority 100
st_ip -n "$NS_ROUTER" rule del ipproto tcp dport 22 table 300 priority 110
st_ip -n "$NS_ROUTER" route del default via 10.30.2.1 dev mgmt0 table 300

st_note "3. steer policies at egress of svc0: from $MGMT, and tcp dport 22, by mgmt0"
split_config <<EOF
  - priority: 100
    from: $MGMT/32
    via: 10.30.2.1
    dev: mgmt0
  - priority: 110
    ipproto: tcp
    dport: 22
    via: 10.30.2.1
    dev: mgmt0
EOF
uc_check_config "$UC_CONFIG"
uc_start_steerd "$UC_CONFIG"
st0=$(st_stats)
all "with steer" ok mgmt
st1=$(st_stats)
fwd=$(($(st_stat_of "$st1" forwarded) - $(st_stat_of "$st0" forwarded)))
# At least: the N syslog datagrams, and the SYN-ACK, answer and FIN of each TCP connection.
uc_fast_check "steerctl: forwarded +$fwd >= $((N + 6)) ($(st_stats_delta "$st0" "$st1"))" \
	test "$fwd" -ge $((N + 6))

st_note "4. SIGHUP, the split by table: policies look up kernel table 300, which only knows the"
st_note "   admin net (a miss goes on to the next policy); the service address never reaches it;"
st_note "   the management address's NTP leaves by mgmt0"
st_ip -n "$NS_ROUTER" route add 10.99.0.0/16 via 10.30.2.1 dev mgmt0 table 300
split_config <<EOF
  - priority: 100
    from: $MGMT/32
    table: 300
  - priority: 110
    ipproto: tcp
    dport: 22
    table: 300
  - priority: 120
    from: 10.30.1.0/24
    to: 10.99.0.0/16
    blackhole: true
  - priority: 130
    from: $MGMT/32
    ipproto: udp
    dport: 123
    via: 10.30.2.1
    dev: mgmt0
EOF
uc_check_config "$UC_CONFIG"
uc_reload
tcp "table 300, admin -> pod's sshd" "$NS_MGMTGW" $ADMIN $MGMT 22 ok mgmt src=$MGMT sport=22 dport=SPORT
tcp "table 300, pod -> admin:22" "$NS_ROUTER" - $ADMIN 22 ok mgmt dst=$ADMIN dport=22 sport=SPORT
udp "table 300, syslog from the management address" $MGMT $ADMIN 514 mgmt
# Table 300 has no route to the web: the lookup misses, no later policy matches, the packet
# leaves as the kernel routed it, from the management address by svc0.
udp "table 300 misses, management address to the web" $MGMT $WEB 53 svc
# ... and a later policy that matches takes it: NTP from the management address by mgmt0.
udp "table 300 misses, policy 130 (udp 123) matches" $MGMT $WEB 123 mgmt
tcp "table 300, service traffic" "$NS_ROUTER" - $WEB 80 ok svc dst=$WEB dport=80 sport=SPORT
SPORT=$((SPORT + 1))
tag=$(printf 'u%07d' $SPORT)
st0=$(st_stats)
uc_udp "$NS_ROUTER" $SVC $SPORT $ADMIN 2222 $N "$tag"
sleep 0.3
st1=$(st_stats)
a=$(uc_seen svc tag="$tag")
b=$(uc_seen mgmt tag="$tag")
st_check "blackhole: $N UDP $SVC -> $ADMIN:2222 reached neither gateway (svc: ${a%% *}, mgmt: ${b%% *})" \
	test "${a%% *}" -eq 0 -a "${b%% *}" -eq 0
d=$(($(st_stat_of "$st1" drop_blackhole) - $(st_stat_of "$st0" drop_blackhole)))
uc_fast_check "blackhole: steerctl drop_blackhole +$d >= $N ($(st_stats_delta "$st0" "$st1"))" \
	test "$d" -ge $N

st_note "5. steerd stopped: the program steers no more, management fails again"
st_stop_steerd
all "steerd stopped" fail svc
st_cleanup_steerd
st_finish
