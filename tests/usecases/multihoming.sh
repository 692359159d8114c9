#!/usr/bin/env bash
# Multi-homing by customer prefix: a router with two ISP uplinks, the primary (isp1) its default
# route; customers in 10.10.2.0/24 bought isp2 and must leave by it, 10.10.1.0/24 by isp1.
# Done twice: A) with kernel rules (`ip rule from PREFIX lookup TABLE`), which steer mirrors and
# forwards at ingress of the customer interface named in its YAML file, a table left out of
# `mirror:` being punted to the kernel; B) as steer policies in the YAML file only, without any
# kernel rule, so the fast path alone sends 10.10.2.0/24 to isp2 while `ip route get` still says
# isp1; a kernel rule of a higher priority number comes after the policy, one of a lower number
# or the same before it (steer.yaml(5)).
# Real UDP from each customer source is recorded at each ISP; a real TCP connection to a server
# that only isp2 runs works only when 10.10.2.0/24 really goes by isp2 (isp1 answers RST).
#
#   cust 10.10.1.2, 10.10.2.2 --- cust router isp1 10.0.1.1 --- 10.0.1.2 isp1 (198.51.100.1)
#                                             isp2 10.0.2.1 --- 10.0.2.2 isp2 (198.51.100.1)
#
# Usage: tests/usecases/multihoming.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/usecases/lib-usecase.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-usecase.sh"

NS_CLIENT=st$$-cust
NS_ROUTER=st$$-router
NS_ISP1=st$$-isp1
NS_ISP2=st$$-isp2
DST=198.51.100.1
C1=10.10.1.2
C2=10.10.2.2
N=20          # datagrams per check
SPORT=42000   # each check its own source port (and tag)

uc_init "$NS_CLIENT -- $NS_ROUTER -- {$NS_ISP1, $NS_ISP2}" \
	"$NS_CLIENT" "$NS_ROUTER" "$NS_ISP1" "$NS_ISP2"
uc_link "$NS_CLIENT" eth0 $C1/24 "$NS_ROUTER" cust 10.10.1.1/24
st_ip -n "$NS_CLIENT" addr add $C2/24 dev eth0
st_ip -n "$NS_ROUTER" addr add 10.10.2.1/24 dev cust
st_ip -n "$NS_CLIENT" route add default via 10.10.1.1
uc_link "$NS_ROUTER" isp1 10.0.1.1/30 "$NS_ISP1" eth0 10.0.1.2/30
uc_link "$NS_ROUTER" isp2 10.0.2.1/30 "$NS_ISP2" eth0 10.0.2.2/30
for n in 1 2; do
	ns=st$$-isp$n
	st_ip -n "$ns" addr add $DST/32 dev lo
	st_ip -n "$ns" route add 10.10.0.0/16 via 10.0.$n.1
done
uc_sysctl "$NS_ROUTER" net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.cust.rp_filter=0
st_ip -n "$NS_ROUTER" route add default via 10.0.1.2
uc_serve "$NS_ISP2" $DST 80   # only isp2 has the service: isp1 answers a SYN with RST
uc_watch "$NS_ISP1" eth0 isp1
uc_watch "$NS_ISP2" eth0 isp2

# flow WHAT SRC WANT(isp1|isp2) FAST(fast|none) [KERNEL-DEV]: N tagged UDP datagrams from SRC
# to $DST; checks the kernel's `ip route get ... iif cust` (KERNEL-DEV, default WANT), that all
# of them reached WANT with TTL 63 and none the other ISP, steerctl's forwarded counter (fast:
# >= N, none: +0), and that steerctl explain names WANT (fast) or a punt (none).
flow() {
	local what=$1 src=$2 want=$3 mode=$4 kdev=${5:-$3} sport tag dev other st0 st1 w o fwd ex
	SPORT=$((SPORT + 1))
	sport=$SPORT
	tag=$(printf 'u%07d' "$sport")
	dev=$(ip -n "$NS_ROUTER" -j route get $DST from "$src" iif cust ipproto udp sport "$sport" \
		dport 4000 | "$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)[0].get("dev", ""))')
	st_check "$what: kernel: ip route get $DST from $src iif cust says dev $dev (expected $kdev)" \
		test "$dev" = "$kdev"
	[[ $want == isp1 ]] && other=isp2 || other=isp1
	st0=$(st_stats)
	uc_udp "$NS_CLIENT" "$src" "$sport" $DST 4000 $N "$tag"
	w=$(uc_wait_seen "$want" $N tag="$tag")
	o=$(uc_seen "$other" tag="$tag")
	st1=$(st_stats)
	st_check "$what: $N datagrams from $src reached $want with TTL 63, none $other ($want: $w, $other: $o)" \
		test "$w" = "$N 63:$N" -a "${o%% *}" = 0
	fwd=$(($(st_stat_of "$st1" forwarded) - $(st_stat_of "$st0" forwarded)))
	ex=$(uc_explain $DST from "$src" iif cust ipproto udp sport "$sport" dport 4000)
	if [[ $mode == fast ]]; then
		uc_fast_check "$what: the fast path forwarded them (forwarded +$fwd; $(st_stats_delta "$st0" "$st1"))" \
			test "$fwd" -ge $N
		uc_fast_check "$what: steerctl explain agrees: dev $want ($ex)" \
			uc_says_dev "$ex" "$want"
	else
		uc_fast_check "$what: the fast path forwarded none (forwarded +$fwd; $(st_stats_delta "$st0" "$st1"))" \
			test "$fwd" -eq 0
		uc_fast_check "$what: steerctl explain says punt ($ex)" uc_says_punt "$ex"
	fi
}

# tcp WHAT SRC ok|fail: a TCP connection SRC -> $DST:80, which only isp2 serves.
tcp() {
	local out rc
	SPORT=$((SPORT + 1))
	out=$(uc_connect "$NS_CLIENT" "$2" $DST 80 $SPORT "$(printf 't%07d' $SPORT)") && rc=0 || rc=$?
	if [[ $3 == ok ]]; then
		st_check "$1: TCP $2 -> $DST:80 reaches isp2's server ($out)" test "$rc" -eq 0
	else
		st_check "$1: TCP $2 -> $DST:80 does not reach isp2's server ($out)" test "$rc" -ne 0
	fi
}

st_note "A. kernel rules, mirrored; steer attached at ingress of cust by its YAML file"
uc_config rules <<EOF
interfaces:
  cust:
mirror:
  tables: [main, 101, 102]
EOF
uc_check_config "$UC_CONFIG"
uc_start_steerd "$UC_CONFIG"
uc_fast_check "pinned TCX link at ingress of cust" test -e "$PIN_DIR/tcx-ingress-cust"

st_note "A1. no rule yet: everything leaves by the primary, isp1"
flow "A1 no rules, 10.10.2.0/24" $C2 isp1 fast
tcp "A1 no rules" $C2 fail

st_note "A2. ip rule from 10.10.1.0/24 lookup 101 (isp1), from 10.10.2.0/24 lookup 102 (isp2)"
st_batch 4 <<EOF
route add default via 10.0.1.2 dev isp1 table 101
route add default via 10.0.2.2 dev isp2 table 102
rule add from 10.10.1.0/24 table 101 priority 1000
rule add from 10.10.2.0/24 table 102 priority 1001
EOF
flow "A2 rules, 10.10.1.0/24" $C1 isp1 fast
flow "A2 rules, 10.10.2.0/24" $C2 isp2 fast
tcp "A2 rules, 10.10.2.0/24" $C2 ok
tcp "A2 rules, 10.10.1.0/24" $C1 fail

st_note "A3. 10.10.2.0/24 moved to table 103, which the file does not mirror: the kernel decides"
st_batch 4 <<EOF
route add default via 10.0.2.2 dev isp2 table 103
rule del from 10.10.2.0/24 table 102 priority 1001
rule add from 10.10.2.0/24 table 103 priority 1001
EOF
flow "A3 unmirrored table 103" $C2 isp2 none
flow "A3 unmirrored table 103, 10.10.1.0/24 still fast" $C1 isp1 fast
st_stop_steerd
st_ip -n "$NS_ROUTER" rule del from 10.10.1.0/24 table 101 priority 1000
st_ip -n "$NS_ROUTER" rule del from 10.10.2.0/24 table 103 priority 1001

st_note "B. the same split as steer policies only: no kernel rule at all"
st_note "B0. steerd stopped (program attached, punting): the kernel sends 10.10.2.0/24 to isp1"
flow "B0 without steer, 10.10.2.0/24" $C2 isp1 none
tcp "B0 without steer" $C2 fail

uc_config policies <<EOF
interfaces:
  cust:
    direction: ingress
policies:
  - priority: 100
    from: 10.10.2.0/24
    via: 10.0.2.2
    dev: isp2
  - priority: 110
    from: 10.10.1.0/24
    via: 10.0.1.2
    dev: isp1
EOF
uc_check_config "$UC_CONFIG"
uc_start_steerd "$UC_CONFIG"
st_note "B1. policies: 10.10.2.0/24 by isp2 although the kernel's own answer is still isp1"
flow "B1 policy, 10.10.2.0/24" $C2 isp2 fast isp1
flow "B1 policy, 10.10.1.0/24" $C1 isp1 fast
tcp "B1 policy, 10.10.2.0/24" $C2 ok
tcp "B1 policy, 10.10.1.0/24" $C1 fail

st_note "B2. a kernel rule after the policy (150, table 101: isp1) does not override it"
g0=$(st_generation)
st_ip -n "$NS_ROUTER" rule add from 10.10.2.0/24 table 101 priority 150
st_sync_wait "$g0"
flow "B2 kernel rule at 150" $C2 isp2 fast isp1

st_note "B3. a kernel rule before the policy (50, table 101: isp1) wins"
g0=$(st_generation)
st_ip -n "$NS_ROUTER" rule add from 10.10.2.0/24 table 101 priority 50
st_sync_wait "$g0"
flow "B3 kernel rule at 50" $C2 isp1 fast

# steer.yaml(5): a policy sits after the kernel's rules of its own priority, as `ip rule add`
# puts a new rule after its equals (so a policy at 0 never goes before `lookup local`).
st_note "B4. a kernel rule of the policy's own priority (100, table 101: isp1) goes before it"
g0=$(st_generation)
st_ip -n "$NS_ROUTER" rule del from 10.10.2.0/24 table 101 priority 50
st_ip -n "$NS_ROUTER" rule add from 10.10.2.0/24 table 101 priority 100
st_sync_wait "$g0"
flow "B4 kernel rule at 100 too" $C2 isp1 fast

st_stop_steerd
st_cleanup_steerd
st_finish
