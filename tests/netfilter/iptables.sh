#!/usr/bin/env bash
# netfilter: respect with the iptables front ends: iptables-nft (nftables underneath, followed
# by events) and iptables-legacy (x_tables, which has no events: steerd reads it every
# second). FORWARD drop and reject, nat POSTROUTING MASQUERADE, mangle PREROUTING MARK feeding
# an `ip rule fwmark`, a policy of DROP; for each, what reaches the sinks with steer attached
# must be what the kernel alone does with the same packets.
# Usage: tests/netfilter/iptables.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/netfilter/lib-nf.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-nf.sh"

N=20
for t in iptables-nft ip6tables-nft iptables-legacy ip6tables-legacy; do
	command -v $t >/dev/null || { echo "not ok - $t not installed (apt-get install iptables)"; exit 1; }
done
nf_init
st_start_steerd

# cases BACKEND: the same checks through iptables-nft or iptables-legacy.
cases() {
	local be=$1 wait=0.3
	[[ $be == legacy ]] && wait=1.5	# one poll, and a little
	local ipt=iptables-$be ip6t=ip6tables-$be

	st_note "$be: FORWARD -d blocked -j DROP (IPv4), -j REJECT (IPv6)"
	nf_router $ipt -A FORWARD -d "${NF_BLOCKED[4]}" -j DROP
	nf_router $ip6t -A FORWARD -d "${NF_BLOCKED[6]}" -j REJECT --reject-with adm-prohibited
	sleep $wait
	nf_same "$be drop" 4 "${NF_BLOCKED[4]}" $N punt_netfilter '^upa=0 upb=0 upc=0 icmp=-$'
	nf_same "$be drop, other IPv4 traffic" 4 "${ST_INTERNET[4]}" $N punt_netfilter \
		"^upa=0 upb=$N\\(${ST_CLIENT_ADDR[4]}\\) upc=0 icmp=-\$"
	nf_same "$be reject" 6 "${NF_BLOCKED[6]}" $N punt_netfilter "^upa=0 upb=0 upc=0 icmp=1/1:$N\$"
	local expl
	expl=$(st_steerctl explain "${ST_INTERNET[4]}" from "${ST_CLIENT_ADDR[4]}" iif cli)
	if [[ $be == legacy ]]; then
		st_check "explain names the legacy chain: $expl" \
			test "$expl" = "punt (netfilter: iptables-legacy ip filter FORWARD) ipproto 0"
	else
		st_check "explain names the chain iptables-nft made: $expl" \
			test "$expl" = "punt (netfilter: ip filter FORWARD) ipproto 0"
	fi
	nf_router $ipt -F FORWARD
	nf_router $ip6t -F FORWARD
	sleep $wait
	nf_same "$be, FORWARD flushed: IPv4 fast again" 4 "${ST_INTERNET[4]}" $N forwarded \
		"^upa=0 upb=$N\\(${ST_CLIENT_ADDR[4]}\\) upc=0 icmp=-\$"

	st_note "$be: -P FORWARD DROP, then ACCEPT"
	nf_router $ip6t -P FORWARD DROP
	sleep $wait
	nf_same "$be policy drop" 6 "${ST_INTERNET[6]}" $N punt_netfilter '^upa=0 upb=0 upc=0 icmp=-$'
	nf_router $ip6t -P FORWARD ACCEPT
	sleep $wait
	nf_same "$be policy accept again" 6 "${ST_INTERNET[6]}" $N forwarded \
		"^upa=0 upb=$N\\(${ST_CLIENT_ADDR[6]}\\) upc=0 icmp=-\$"

	st_note "$be: nat POSTROUTING -o upb -j MASQUERADE"
	nf_router $ipt -t nat -A POSTROUTING -o upb -j MASQUERADE
	sleep $wait
	nf_same "$be masquerade" 4 "${ST_INTERNET[4]}" $N punt_netfilter '^upa=0 upb=20\(10\.0\.2\.1\) upc=0 icmp=-$'
	nf_router $ipt -t nat -F POSTROUTING

	st_note "$be: mangle PREROUTING -j MARK --set-mark 0x10, ip rule fwmark 0x10 lookup 200 (C)"
	st_ip -n "$NS_ROUTER" rule add fwmark 0x10 lookup 200 pref 50
	nf_router $ipt -t mangle -A PREROUTING -j MARK --set-mark 0x10
	sleep $wait
	nf_same "$be mark" 4 "${ST_INTERNET[4]}" $N punt_netfilter \
		"^upa=0 upb=0 upc=$N\\(${ST_CLIENT_ADDR[4]}\\) icmp=-\$"
	nf_router $ipt -t mangle -F PREROUTING
	st_ip -n "$NS_ROUTER" rule del fwmark 0x10 lookup 200 pref 50
}

cases nft
# iptables-nft leaves its (now empty) tables behind; the nat table's chains count as NAT.
nf_router nft flush ruleset
sleep 0.3
d=$(nf_stat_delta forwarded nf_probe 4 "${ST_INTERNET[4]}" $N)
st_check "iptables-nft's tables flushed: the fast path forwards (+$d)" test "$d" -ge $N

cases legacy
st_note "legacy: a nat table with no rule still punts (NAT applies null bindings)"
d=$(nf_stat_delta punt_netfilter nf_probe 4 "${ST_INTERNET[4]}" $N)
st_check "legacy nat table present: IPv4 punts (+$d)" test "$d" -ge $N
d=$(nf_stat_delta forwarded nf_probe 6 "${ST_INTERNET[6]}" $N)
st_check "legacy nat table is IPv4's: IPv6 is fast (+$d)" test "$d" -ge $N
st_check "status lists the legacy nat table" grep -q "iptables-legacy ip nat POSTROUTING" \
	<<<"$(st_steerctl status)"
st_finish
