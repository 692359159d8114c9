#!/usr/bin/env bash
# netfilter: offload, differentially: random nftables rulesets (forward policy accept or drop;
# per port accept, accept and mark, mark only, drop, or nothing; masquerade on no, one or both
# uplinks; sometimes a DNAT port forward, sometimes a prerouting mark that turns offload off)
# and a fixed set of TCP and UDP flows from fixed ports to two sinks (one per uplink) and one
# from outside through the port forward. Each ruleset runs twice on a fresh conntrack table:
# with steer offloading, and with steerd stopped (the kernel alone). What each server saw
# (who, from which port, how much) and what each client got back must be the same.
# Usage: tests/netfilter/offload-diff.sh [SEED] [RULESETS]   (root; STEERD/STEERCTL override)
set -euo pipefail
# shellcheck source=tests/netfilter/lib-nf.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-nf.sh"

SEED=${1:-${OFFLOAD_DIFF_SEED:-1}}
SETS=${2:-${OFFLOAD_DIFF_SETS:-8}}
nf_need_offload
st_init
st_topology 4
R=(nsenter --net="/run/netns/$NS_ROUTER")
DST_A=203.0.113.1	# sink A's, routed by uplink A
DST_B=${ST_INTERNET[4]}	# sink B's (the client net's table 100)
st_ip -n "$NS_SINKA" addr add "$DST_A/32" dev lo
st_ip -n "$NS_ROUTER" rule add to 203.0.113.0/24 lookup main pref 50
st_ip -n "$NS_SINKB" route add 10.0.0.0/8 via 10.0.2.1
"${R[@]}" sysctl -qw net.netfilter.nf_conntrack_tcp_be_liberal=1

declare -A OWN=([$NS_SINKA]="$DST_A $DST_B" [$NS_SINKB]="$DST_B")
for ns in "$NS_SINKA" "$NS_SINKB"; do
	nf_serve "$ns" tcpserve 5001
	nf_serve "$ns" tcpserve 5004
	# shellcheck disable=SC2086 # a list
	nf_serve "$ns" udpecho 5002 ${OWN[$ns]}
	# shellcheck disable=SC2086
	nf_serve "$ns" udpecho 5003 ${OWN[$ns]}
done
nf_serve "$NS_CLIENT" tcpserve 80

# The flows: "WHO KIND DST PORT SPORT".
FLOWS=(
	"client tcp $DST_B 5001 41001" "client tcp $DST_B 5004 41004" "client udp $DST_B 5002 41002"
	"client udp $DST_B 5003 41003" "client tcp $DST_A 5001 42001" "client udp $DST_A 5002 42002"
	"client udp $DST_A 5003 42003" "sinkb tcp 10.0.2.1 8080 43080"
)

# ruleset SEED: a random ruleset on stdin of nft -f.
ruleset() {
	"$ST_PY" - "$1" <<'EOF'
import random, sys
r = random.Random(int(sys.argv[1]))
policy = r.choice(["accept", "drop"])
rules = ["ct state established,related accept"] if policy == "drop" or r.random() < 0.5 else []
for proto, port in (("tcp", 5001), ("udp", 5002), ("udp", 5003), ("tcp", 5004)):
    act = r.choice(["accept", "mark", "markonly", "drop", "none"])
    match = "%s dport %d" % (proto, port)
    rules.append({"accept": match + " accept", "mark": match + " ct mark set 0x1 accept",
                  "markonly": match + " ct mark set 0x1", "drop": match + " drop",
                  "none": None}[act])
dnat = r.random() < 0.5
if dnat:
    rules.append('iifname "upb" tcp dport 80 ct mark set 0x1 accept')
masq = r.choice([[], ["upa"], ["upb"], ["upa", "upb"]])
print("table inet fw {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy %s" % policy)
for x in rules:
    if x:
        print("\t\t" + x)
print("\t}\n}")
print("table ip nat {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat")
if dnat:
    print('\t\tiifname "upb" tcp dport 8080 dnat to 10.1.0.2:80')
print("\t}\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat")
for m in masq:
    print('\t\toifname "%s" masquerade' % m)
print("\t}\n}")
if r.random() < 0.2:
    print("table ip mangle {\n\tchain pre {\n\t\ttype filter hook prerouting priority mangle")
    print("\t\tudp dport 5003 meta mark set 0x20\n\t}\n}")
EOF
}

# run_flows: every flow once; one line per flow of what the client got, then what each
# server log gained (sorted), so two runs compare as text.
run_flows() {
	local f who kind dst port sport out ns
	for ns in "$NS_SINKA" "$NS_SINKB" "$NS_CLIENT"; do
		for f in "$ST_TMP/$ns"-*.log; do : >"$f"; done
	done
	for f in "${FLOWS[@]}"; do
		read -r who kind dst port sport <<<"$f"
		ns=$NS_CLIENT
		[[ $who == sinkb ]] && ns=$NS_SINKB
		if [[ $kind == tcp ]]; then
			out=$(timeout 10 nsenter --net="/run/netns/$ns" "$ST_PY" "$NF_OFLTOOL" tcpsend "$dst" "$port" \
				$((256 << 10)) "$sport" 2>&1 | tail -n1) || out="timeout"
		else
			out=$(nsenter --net="/run/netns/$ns" "$ST_PY" "$NF_OFLTOOL" udpsend "$dst" "$port" "$sport" 40 0.002)
		fi
		echo "$f: $out"
	done
	sleep 0.3
	for ns in "$NS_SINKA" "$NS_SINKB" "$NS_CLIENT"; do
		for f in "$ST_TMP/$ns"-*.log; do
			[[ -s $f ]] && echo "${f##*/}: $(cut -d' ' -f1-3 "$f" | sort | uniq -c | tr -s ' ' | paste -sd';')"
		done
	done
	return 0
}

st_note "offload differential: seed $SEED, $SETS rulesets"
st_run_steerd 50 --attach cli --attach upa --attach upb --config /dev/null --netfilter offload
offloaded_total=0
for ((i = 0; i < SETS; i++)); do
	s=$((SEED * 1000 + i))
	rules=$(ruleset "$s")
	"${R[@]}" nft flush ruleset
	"${R[@]}" nft -f - <<<"$rules"
	"${R[@]}" conntrack -F >/dev/null 2>&1 || true
	sleep 0.3
	o0=$(st_stat_of "$(st_stats)" offloaded)
	with=$(run_flows)
	o1=$(st_stat_of "$(st_stats)" offloaded)
	st_stop_steerd
	"${R[@]}" conntrack -F >/dev/null 2>&1 || true
	kernel=$(run_flows)
	st_run_steerd 50 --attach cli --attach upa --attach upb --config /dev/null --netfilter offload
	offloaded_total=$((offloaded_total + o1 - o0))
	if [[ $with == "$kernel" ]]; then
		st_ok "ruleset $s: the wire is the same with steer offloading as with the kernel alone (offloaded +$((o1 - o0)))"
	else
		st_not_ok "ruleset $s: steer and the kernel alone differ"
		sed 's/^/#   rules: /' <<<"$rules"
		diff <(echo "$kernel") <(echo "$with") | sed 's/^/#   /' || true
	fi
done
st_check "the rulesets offloaded something at all ($offloaded_total packets)" test "$offloaded_total" -gt 0
st_finish
