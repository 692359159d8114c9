#!/usr/bin/env bash
# steer.yaml's mirror: which of the kernel's tables and rule priorities the fast path follows.
# Two kernel rules: `from A lookup 100` (priority 100, to sink B) and `from B lookup 200`
# (priority 200, to sink C). With `tables: [main, 100]` A's traffic must be forwarded by steer
# and B's punted at its rule (steerctl explain says punt, and why) and still delivered by the
# kernel; with `priorities:` leaving out 200 (every table mirrored) the same; with no mirror
# section (SIGHUP) both must be fast-pathed.
# Usage: tests/config/mirror.sh   (root; STEERD/STEERCTL override the binaries)
# shellcheck disable=SC2119 # helpers whose arguments are optional
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib/lib-config.sh
. "$HERE/../lib/lib-config.sh"

cfg_test_init
A=${ST_CLIENT_ADDR[4]}   # 10.1.0.2: lib.sh's `from 10.1.0.0/24 lookup 100` at 100, to sink B
B=10.2.0.2               # `from 10.2.0.0/24 lookup 200` at 200, to sink C
st_note "mirror: $NS_CLIENT ($A, $B) -- $NS_ROUTER -- {sinka, sinkb, sinkc}, pins in $PIN_DIR"
st_topology 4
st_add_sink c
st_ip -n "$NS_CLIENT" addr add "$B/24" dev eth0
st_ip -n "$NS_ROUTER" addr add 10.2.0.1/24 dev "$IF_CLIENT"
st_ip -n "$NS_ROUTER" route add default via 10.0.3.2 table 200
st_ip -n "$NS_ROUTER" rule add from 10.2.0.0/24 table 200 priority 200
st_capture_start

explain() {
	local out
	out=$(st_steerctl explain "${ST_INTERNET[4]}" from "$1" iif "$IF_CLIENT" ipproto udp \
		sport 40000 dport 4000 2>&1) || out="steerctl failed: $out"
	printf '%s' "${out//$'\n'/ }"
}
# says LINE GLOB: the explain line matches the pattern.
# shellcheck disable=SC2053 # a pattern on purpose
says() { [[ $1 == $2 ]]; }

# a_fast WHAT: A's traffic: steer forwards it out upb by rule 100.
a_fast() {
	local e
	e=$(explain "$A")
	st_check "$1: steerctl explain: A forwarded via 10.0.2.2 dev upb by table 100 rule 100 ($e)" \
		says "$e" "* via 10.0.2.2 dev upb table 100 rule 100"
	cfg_udp "$1: A" "$NS_CLIENT" "$A" 40000 upb fast
}
# b_punted WHAT: B's traffic: the fast path punts at rule 200, the kernel forwards it out upc.
b_punted() {
	local e
	e=$(explain "$B")
	st_check "$1: steerctl explain: B punted by rule 200, a rule it does not follow ($e)" \
		says "$e" "punt (rule) *rule 200"
	cfg_udp "$1: B" "$NS_CLIENT" "$B" 40000 upc punt_rule
}
b_fast() {
	local e
	e=$(explain "$B")
	st_check "$1: steerctl explain: B forwarded via 10.0.3.2 dev upc by table 200 rule 200 ($e)" \
		says "$e" "* via 10.0.3.2 dev upc table 200 rule 200"
	cfg_udp "$1: B" "$NS_CLIENT" "$B" 40000 upc fast
}

for src in "$A" "$B"; do
	d=$(ip -n "$NS_ROUTER" -4 -j route get "${ST_INTERNET[4]}" from "$src" iif "$IF_CLIENT" |
		"$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)[0].get("dev", ""))')
	want=upb
	[[ $src == "$B" ]] && want=upc
	st_check "the kernel routes $src's traffic out $want (ip route get: $d)" test "$d" = "$want"
done

st_note "--- mirror: tables [main, 100]"
cfg_write <<EOF
interfaces:
  $IF_CLIENT:
mirror:
  tables: [main, 100]
EOF
cfg_start_steerd
st_check "steerd logged that it mirrors part of the kernel's rules" \
	test "$(st_log_count 'mirroring part of the kernel')" -ge 1
a_fast "tables [main, 100]"
b_punted "tables [main, 100]"

st_note "--- mirror: priorities [0-199, 201-32767] (every table)"
cfg_write <<EOF
interfaces:
  $IF_CLIENT:
mirror:
  priorities: [0-199, 201-32767]
EOF
st_reload "priorities without 200"
a_fast "priorities without 200"
b_punted "priorities without 200"

st_note "--- no mirror section: everything"
cfg_write <<EOF
interfaces:
  $IF_CLIENT:
EOF
st_reload "no mirror"
a_fast "no mirror"
b_fast "no mirror"

st_note "--- mirror: tables [main, 100] again"
cfg_write <<EOF
interfaces:
  $IF_CLIENT:
mirror:
  tables: [main, 100]
  priorities: [0-32767]
EOF
st_reload "tables [main, 100] again"
a_fast "tables [main, 100] again"
b_punted "tables [main, 100] again"

st_check "steerd ran through it all, nothing logged at error level" \
	test "$(st_log_count '^steerd\[err\]')" -eq 0
st_stop_steerd
st_finish
