#!/usr/bin/env bash
# shellcheck disable=SC2016 # bash -c checks: their arguments expand in the inner shell
# The configuration files steer ships: /etc/steer/steer.yaml (config/steer.yaml) and the
# examples in config/examples/. The shipped file is valid, attaches nowhere, and is valid
# again with its commented keys uncommented. Each example passes `steerd --check`, and then
# does what its comments say in a router namespace built from those comments: the
# interfaces it names, the `ip` commands of its "Kernel side", steerd started with it,
# attached where it says, its policies compiled, and `steerctl explain` giving the answers
# the example promises.
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

CONFIG=$ST_ROOT/config
st_init

# ---- the shipped file ------------------------------------------------------------------------
out=$("$STEERD" --check "$CONFIG/steer.yaml" 2>&1) && rc=0 || rc=$?
st_check "steerd --check config/steer.yaml: valid, no interface, nothing else ($out)" \
	test "$rc" -eq 0 -a "$out" = "$CONFIG/steer.yaml: valid: 0 interfaces, 0 policies, 0 groups"
# Its commented keys ("#key:" and "#  indented") are a valid file too, so that uncommenting
# them is a start.
sed -nE 's/^#([a-z]|  )/\1/p' "$CONFIG/steer.yaml" >"$ST_TMP/uncommented.yaml"
out=$("$STEERD" --check "$ST_TMP/uncommented.yaml" 2>&1) && rc=0 || rc=$?
st_check "config/steer.yaml with its commented keys uncommented: valid ($out)" \
	bash -c '[[ $1 -eq 0 && $2 == *": valid: "[1-9]*" interfaces, "[1-9]*" policies, "[1-9]*" groups" ]]' \
	_ "$rc" "$out"

# ---- each example ------------------------------------------------------------------------------
# The answers each example promises: "EXAMPLE|explain words|glob of the answer".
EXPECT=(
	"multihoming|192.0.2.1 from 10.10.2.7 iif cust|192.0.2.1 from 10.10.2.7 ipproto 0 via 198.51.100.1 dev isp2 table 102 rule 1002"
	"multihoming|192.0.2.1 from 10.10.1.7 iif cust|192.0.2.1 from 10.10.1.7 ipproto 0 via 203.0.113.1 dev isp1 table main rule 32766"
	"vip-reply|100.64.5.5 from 192.0.2.10 oif ethA ipproto tcp sport 443 dport 50000|100.64.5.5 from 192.0.2.10 ipproto tcp via 198.51.100.1 dev ethB policy 100"
	"vip-reply|2001:db8:99::5 from 2001:db8:10::10 oif ethA ipproto tcp sport 443 dport 50000|2001:db8:99::5 from 2001:db8:10::10 ipproto tcp via 2001:db8:b::1 dev ethB policy 101"
	"vip-reply|100.64.5.5 from 203.0.113.20 oif ethA ipproto tcp sport 22 dport 50000|pass (no policy matched*"
	"vpn-split|172.20.0.53 from 10.1.0.9 iif lan0 ipproto udp dport 53|172.20.0.53 from 10.1.0.9 ipproto udp via 10.99.0.1 dev wg0 policy 510"
	"vpn-split|172.20.0.53 from 10.1.0.9 iif lan0 ipproto tcp dport 53|172.20.0.53 from 10.1.0.9 ipproto tcp via 10.99.0.1 dev wg0 policy 511"
	"vpn-split|10.200.3.4 from 10.1.0.9 iif lan0|10.200.3.4 from 10.1.0.9 ipproto 0 dev wg0 table main rule 32766"
	"vpn-split|8.8.8.8 from 10.1.0.9 iif lan0|8.8.8.8 from 10.1.0.9 ipproto 0 via 203.0.113.1 dev isp1 table main rule 32766"
	"load-balancing|100.64.7.7 from 10.10.4.5 iif lan0 ipproto tcp sport 40000 dport 443|100.64.7.7 from 10.10.4.5 ipproto tcp via * dev isp[123] policy 201"
	"load-balancing|100.64.7.7 from 10.10.4.5 iif lan0 ipproto tcp sport 40000 dport 80|100.64.7.7 from 10.10.4.5 ipproto tcp via * dev isp[123] policy 200"
	"load-balancing|100.64.7.7 from 10.10.4.5 iif lan0 ipproto udp dport 53|100.64.7.7 from 10.10.4.5 ipproto udp via 203.0.113.1 dev isp1 table main rule 32766"
)

# interfaces_of FILE: "NAME DIRECTION" for each key of the file's interfaces: block.
interfaces_of() {
	awk '/^interfaces:/ { on = 1; next } on && /^[^ #]/ { on = 0 }
	     on && /^  [A-Za-z0-9_.-]+:/ { name = $1; sub(":", "", name); dir = "ingress"
	                                    if ($0 ~ /direction: *egress/) dir = "egress"
	                                    if ($0 ~ /direction: *both/) dir = "both"
	                                    print name, dir }' "$1"
}

n=0
shopt -s nullglob
examples=("$CONFIG"/examples/*.yaml)
st_check "config/examples/ holds the four use cases (${#examples[@]} files)" test "${#examples[@]}" -ge 4
for file in "${examples[@]}"; do
	name=$(basename "$file" .yaml)
	n=$((n + 1))
	out=$("$STEERD" --check "$file" 2>&1) && rc=0 || rc=$?
	st_check "$name: steerd --check ($out)" test "$rc" -eq 0

	# The router of the example's comments, with a far end for every link.
	[[ -n $ST_STEERD_PID ]] && st_stop_steerd
	if [[ -e /run/netns/$NS_ROUTER && -e $PIN_DIR ]]; then
		nsenter --net="/run/netns/$NS_ROUTER" "$STEERD" --cleanup --pin-dir "$PIN_DIR" \
			>>"$ST_STEERD_LOG" 2>&1 || st_not_ok "$name: steerd --cleanup of the previous example"
	fi
	NS_ROUTER=st$$-ex$n
	far=st$$-far$n
	st_netns_add "$NS_ROUTER"
	st_netns_add "$far"
	ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	mapfile -t cmds < <(sed -n 's/^#   ip //p' "$file")
	st_check "$name: its comments give the kernel side (${#cmds[@]} ip commands)" test "${#cmds[@]}" -gt 0
	links=$( (printf '%s\n' "${cmds[@]}" | grep -oE ' dev [^ ]+' | awk '{ print $2 }'
		  interfaces_of "$file" | awk '{ print $1 }') | grep -vx lo | sort -u)
	for l in $links; do
		st_ip link add "$l" netns "$NS_ROUTER" type veth peer name "$l" netns "$far"
		st_ip -n "$NS_ROUTER" link set "$l" up
		st_ip -n "$far" link set "$l" up
	done
	bad=0
	for c in "${cmds[@]}"; do
		# shellcheck disable=SC2086 # the command's words
		st_ip -n "$NS_ROUTER" $c || { bad=1; st_not_ok "$name: ip $c"; }
	done
	st_check "$name: every ip command of its comments applies" test "$bad" -eq 0

	st_run_steerd 100 --config "$file"
	while read -r ifname dir; do
		for hook in ingress egress; do
			want=no
			[[ $dir == "$hook" || $dir == both ]] && want=yes
			got=no
			[[ -e $PIN_DIR/tcx-$hook-$ifname ]] && got=yes
			st_check "$name: $ifname attached at $hook: $got (the file says $dir)" test "$got" = "$want"
		done
	done < <(interfaces_of "$file")
	prios=$(sed -nE 's/^ +priority: ([0-9]+).*/\1/p' "$file" | sort -n | tr '\n' ' ')
	rules=$(st_steerctl -j rules)
	st_check "$name: its policies ($prios) are in the rule lists" "$ST_PY" -c 'import json, sys
have = {r.get("priority") for l in json.loads(sys.argv[1]) for r in l["rules"]}
sys.exit(not set(map(int, sys.argv[2].split())) <= have)' "$rules" "$prios"
	for e in "${EXPECT[@]}"; do
		IFS='|' read -r ex words want <<<"$e"
		[[ $ex == "$name" ]] || continue
		# shellcheck disable=SC2086 # the question's words
		got=$(st_steerctl explain $words 2>&1) || true
		# shellcheck disable=SC2053 # a pattern on purpose
		st_check "$name: explain $words: $got" bash -c '[[ $1 == $2 ]]' _ "$got" "$want"
	done
done
st_check "every example has its answers checked" bash -c '
	for f in $1; do n=$(basename "$f" .yaml); printf "%s\n" "${@:2}" | grep -q "^$n|" || exit 1; done' \
	_ "${examples[*]}" "${EXPECT[@]}"

st_finish
