#!/usr/bin/env bash
# netfilter: respect (the default) with real nftables rulesets on the router: forward drop
# and reject (ip, ip6, inet), a prerouting mark that an `ip rule fwmark` routes by,
# postrouting masquerade, netdev ingress and egress chains on the devices steer forwards
# between, a dormant table, and a ruleset that is there before steerd starts. For each, what
# reaches the sinks (and the ICMP errors the client gets) with steer attached must be what
# the kernel alone does with the same packets; where no chain acts, the fast path forwards.
# Usage: tests/netfilter/nftables.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/netfilter/lib-nf.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-nf.sh"

N=20
command -v nft >/dev/null || { echo "not ok - nft not installed (apt-get install nftables)"; exit 1; }
nf_init
st_note "topology $NS_CLIENT -- $NS_ROUTER -- {A, B, C}; from the client net: table 100 (B)"

st_note "1. A ruleset that exists before steerd starts: the first sync already respects it"
nf_router nft -f - <<EOF
table inet filter {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ip daddr ${NF_BLOCKED[4]} drop
		ip6 daddr ${NF_BLOCKED[6]} drop
	}
}
EOF
st_start_steerd
out=$(nf_probe 4 "${NF_BLOCKED[4]}" $N)
st_check "inet forward drop before start: nothing arrives ($out)" test "$out" = "upa=0 upb=0 upc=0 icmp=-"
st_check "... and the fast path forwarded nothing ($(st_stats | tr '\n' ' '))" \
	test "$(st_stat_of "$(st_stats)" forwarded)" -eq 0

st_note "2. inet forward drop, both families; addresses no rule names punt too (the family)"
for fam in 4 6; do
	nf_same "inet drop, IPv$fam blocked" $fam "${NF_BLOCKED[$fam]}" $N punt_netfilter \
		'^upa=0 upb=0 upc=0 icmp=-$'
	nf_same "inet drop, IPv$fam allowed" $fam "${ST_INTERNET[$fam]}" $N punt_netfilter \
		"^upa=0 upb=$N\\(${ST_CLIENT_ADDR[$fam]}\\) upc=0 icmp=-\$"
done
expl=$(st_steerctl explain "${ST_INTERNET[4]}" from "${ST_CLIENT_ADDR[4]}" iif cli)
st_check "explain names the chain: $expl" test "$expl" = "punt (netfilter: inet filter forward) ipproto 0"
status=$(st_steerctl status)
st_check "status says IPv4 is handed to the kernel by inet filter forward" \
	grep -q "IPv4: *handed to the kernel: inet filter forward" <<<"$status"
js=$(st_steerctl -j status)
st_check "status -j: respect, both families punted, the chain listed" "$ST_PY" -c '
import json, sys
n = json.loads(sys.argv[1])["netfilter"]
c = [x for x in n["chains"] if x["table"] == "filter" and x["chain"] == "forward"]
sys.exit(not (n["mode"] == "respect" and n["ipv4_punted"] and n["ipv6_punted"] and n["known"]
              and c and c[0]["rules"] == 2 and c[0]["forward_path"] and c[0]["hook"] == "forward"))' "$js"

st_note "3. nft flush ruleset: the fast path resumes by itself"
nf_router nft flush ruleset
sleep 0.2
for fam in 4 6; do
	nf_same "no ruleset, IPv$fam" $fam "${ST_INTERNET[$fam]}" $N forwarded \
		"^upa=0 upb=$N\\(${ST_CLIENT_ADDR[$fam]}\\) upc=0 icmp=-\$"
done

st_note "4. ip and ip6 forward reject: the client gets the kernel's ICMP errors"
nf_router nft -f - <<EOF
table ip f4 {
	chain fw {
		type filter hook forward priority 0
		ip daddr ${NF_BLOCKED[4]} reject with icmp type admin-prohibited
	}
}
table ip6 f6 {
	chain fw {
		type filter hook forward priority 0
		ip6 daddr ${NF_BLOCKED[6]} reject with icmpv6 type admin-prohibited
	}
}
EOF
nf_same "ip reject" 4 "${NF_BLOCKED[4]}" $N punt_netfilter "^upa=0 upb=0 upc=0 icmp=3/13:$N\$"
nf_same "ip6 reject" 6 "${NF_BLOCKED[6]}" $N punt_netfilter "^upa=0 upb=0 upc=0 icmp=1/1:$N\$"
nf_router nft delete table ip6 f6
sleep 0.2
nf_same "ip family only: IPv6 is fast again" 6 "${ST_INTERNET[6]}" $N forwarded \
	"^upa=0 upb=$N\\(${ST_CLIENT_ADDR[6]}\\) upc=0 icmp=-\$"
nf_router nft flush ruleset

st_note "5. prerouting meta mark set, and ip rule fwmark 0x10 lookup 200 (uplink C)"
st_ip -n "$NS_ROUTER" rule add fwmark 0x10 lookup 200 pref 50
st_ip -n "$NS_ROUTER" -6 rule add fwmark 0x10 lookup 200 pref 50
nf_router nft -f - <<EOF
table inet mangle {
	chain pre {
		type filter hook prerouting priority mangle
		meta mark set 0x10
	}
}
EOF
for fam in 4 6; do
	nf_same "mark set in prerouting, IPv$fam: the fwmark rule sends it by C" $fam \
		"${ST_INTERNET[$fam]}" $N punt_netfilter "^upa=0 upb=0 upc=$N\\(${ST_CLIENT_ADDR[$fam]}\\) icmp=-\$"
done
nf_router nft flush ruleset
st_ip -n "$NS_ROUTER" rule del fwmark 0x10 lookup 200 pref 50
st_ip -n "$NS_ROUTER" -6 rule del fwmark 0x10 lookup 200 pref 50

st_note "6. postrouting masquerade on uplink B: the sink sees the router's address"
nf_router nft -f - <<EOF
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat
		oifname "upb" masquerade
	}
}
table ip6 nat {
	chain post {
		type nat hook postrouting priority srcnat
		oifname "upb" masquerade
	}
}
EOF
nf_same "masquerade, IPv4" 4 "${ST_INTERNET[4]}" $N punt_netfilter '^upa=0 upb=20\(10\.0\.2\.1\) upc=0 icmp=-$'
nf_same "masquerade, IPv6" 6 "${ST_INTERNET[6]}" $N punt_netfilter '^upa=0 upb=20\(2001:db8:b::1\) upc=0 icmp=-$'
nf_router nft flush ruleset
st_note "6b. an empty nat chain still punts (NAT can rewrite ports on a clash)"
nf_router nft add table ip nat
nf_router nft add chain ip nat post '{ type nat hook postrouting priority srcnat; }'
sleep 0.2
d=$(nf_stat_delta punt_netfilter nf_probe 4 "${ST_INTERNET[4]}" $N)
st_check "empty nat chain: IPv4 punts (punt_netfilter +$d)" test "$d" -ge $N
d=$(nf_stat_delta forwarded nf_probe 6 "${ST_INTERNET[6]}" $N)
st_check "empty ip nat chain: IPv6 is still fast (forwarded +$d)" test "$d" -ge $N
nf_router nft flush ruleset

st_note "7. netdev ingress on cli, netdev egress on upb: the devices punt, whatever the family"
# edge CHAIN HOOK DEV: table netdev edge, its chain at HOOK on DEV dropping the blocked address.
edge() {
	nf_router nft -f - <<EOF
table netdev edge {
	chain $1 {
		type filter hook $2 device "$3" priority 0
		ip daddr ${NF_BLOCKED[4]} drop
	}
}
EOF
}
edge in ingress cli
nf_same "netdev ingress drop" 4 "${NF_BLOCKED[4]}" $N punt_netfilter '^upa=0 upb=0 upc=0 icmp=-$'
nf_same "netdev ingress, other traffic from cli, IPv6" 6 "${ST_INTERNET[6]}" $N punt_netfilter \
	"^upa=0 upb=$N\\(${ST_CLIENT_ADDR[6]}\\) upc=0 icmp=-\$"
expl=$(st_steerctl explain "${ST_INTERNET[6]}" from "${ST_CLIENT_ADDR[6]}" iif cli)
st_check "explain names the device chain: $expl" test "$expl" = "punt (netfilter: netdev edge in) ipproto ipv6-nonxt"
nf_router nft flush ruleset
edge out egress upb
nf_same "netdev egress drop on upb" 4 "${NF_BLOCKED[4]}" $N punt_netfilter '^upa=0 upb=0 upc=0 icmp=-$'
st_ip -n "$NS_ROUTER" route add "${NF_BLOCKED[4]}/32" via 10.0.3.2 table 100
sleep 0.2
nf_same "egress chain on upb; traffic leaving by upc is fast" 4 "${NF_BLOCKED[4]}" $N forwarded \
	"^upa=0 upb=0 upc=$N\\(${ST_CLIENT_ADDR[4]}\\) icmp=-\$"
st_ip -n "$NS_ROUTER" route del "${NF_BLOCKED[4]}/32" via 10.0.3.2 table 100
nf_router nft flush ruleset

st_note "8. A dormant table hooks nothing: the fast path forwards"
nf_router nft -f - <<EOF
table inet sleepy {
	flags dormant
	chain fw {
		type filter hook forward priority 0; policy drop
	}
}
EOF
sleep 0.2
d=$(nf_stat_delta forwarded nf_probe 4 "${ST_INTERNET[4]}" $N)
st_check "dormant table with policy drop: forwarded +$d" test "$d" -ge $N
nf_router nft add table inet sleepy	# no flags: awake
sleep 0.2
out=$(nf_probe 4 "${ST_INTERNET[4]}" $N)
st_check "woken up, its policy drop holds ($out)" test "$out" = "upa=0 upb=0 upc=0 icmp=-"
nf_router nft flush ruleset

st_note "9. Chains off the forward path (input, output) leave the fast path alone"
nf_router nft -f - <<EOF
table inet host {
	chain in { type filter hook input priority 0; policy drop; ct state established,related accept; }
	chain out { type filter hook output priority 0; policy drop; }
}
EOF
sleep 0.2
for fam in 4 6; do
	nf_same "input/output policy drop, IPv$fam" $fam "${ST_INTERNET[$fam]}" $N forwarded \
		"^upa=0 upb=$N\\(${ST_CLIENT_ADDR[$fam]}\\) upc=0 icmp=-\$"
done
nf_router nft flush ruleset

st_note "10. The journal says what was found and what cleared"
st_check "netfilter-found logged for inet filter forward" \
	grep -q "IPv4 forwarding passes inet filter forward" "$ST_STEERD_LOG"
st_check "netfilter-cleared logged" grep -q "no chain acts on IPv4 forwarding any more" "$ST_STEERD_LOG"
st_finish
