#!/usr/bin/env bash
# Full maps degrade safely: steerd with tiny maps (--limit routes=16 --limit src=4), then more
# routes and rules than fit. steerd must keep running, say so in its log ("the maps are too
# small"), count what it left out (overflow_punts), write no map entry that fails, and the
# traffic must still arrive where the kernel says, by the kernel (punted, not forwarded). Once
# the extra routes and rules are gone it says everything fits again and the fast path forwards.
# Usage: tests/resilience/full-maps.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

N=20              # packets per checked burst
ROUTES=40         # extra routes in table 100
RULES=10          # extra `from` rules
LIMITS=(--limit routes=16 --limit src=4)

st_init
command -v bpftool >/dev/null || st_die "bpftool installed (reads the agent's counters)"
st_note "full maps: topology $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB}, pins in $PIN_DIR"
st_topology 4
st_start_steerd_with 50 "${LIMITS[@]}"

agent() { st_stat_of "$(st_agent_stats)" "$1"; }
# no_new_failures WHAT: no map write failed since the last call (apply_failures did not grow).
FAILS0=0
no_new_failures() {
	local f
	f=$(agent apply_failures)
	st_check "$1: no map write failed (apply_failures $FAILS0 -> $f)" test "$f" -eq "$FAILS0"
	FAILS0=$f
}
# log_count PATTERN: lines of steerd's log matching PATTERN (grep -E).
log_count() { grep -cE "$1" "$ST_STEERD_LOG" || true; }
TOO_SMALL='maps are too small'
FITS='fits the maps again'

# punted WHAT DEV: N packets arrive by DEV, where the kernel sends them, none forwarded by the
# fast path; the punt counters grew by at least N.
punted() {
	local what=$1 dev=$2 st0 st1 p=0 kv
	st0=$(st_stats)
	st_expect_path 4 "$N" "$what" none "$dev"
	st1=$(st_stats)
	for kv in $(st_stats_delta "$st0" "$st1"); do
		[[ $kv == punt_* ]] && p=$((p + ${kv#*+}))
	done
	st_check "$what: punted to the kernel (punt counters +$p >= $N)" test "$p" -ge "$N"
}

st_note "1. the topology fits the limits: the fast path forwards"
st_check "nothing left out at the start (overflow_punts=$(agent overflow_punts))" \
	test "$(agent overflow_punts)" -eq 0
st_check "steerd --verify agrees with the kernel at the start" st_verify
st_expect_path 4 "$N" "maps big enough" fast upb

st_note "2. $ROUTES more routes in table 100 than fit; one of them takes the client's traffic to uplink A"
lines=""
for ((i = 0; i < ROUTES - 1; i++)); do
	lines+="route add 10.100.$i.0/24 via 10.0.2.2 table 100"$'\n'
done
lines+="route add ${ST_INTERNET[4]%.*}.0/24 via 10.0.1.2 table 100"
st_batch 4 <<<"$lines"
sleep 0.3   # the counters are published with the apply and with each heartbeat
st_check "steerd still running with $ROUTES routes too many" st_steerd_alive
st_check "steerd logged that the maps are too small ($(grep -m1 "$TOO_SMALL" "$ST_STEERD_LOG" || echo none))" \
	test "$(log_count "$TOO_SMALL")" -ge 1
over=$(agent overflow_punts)
st_check "overflow_punts counts what was left out ($over > 0)" test "$over" -gt 0
no_new_failures "$ROUTES routes too many"
routes=$(st_steerctl -j status | "$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)["maps"]["steer_routes"])')
st_check "the routes map holds no more than its 16 entries ($routes)" test "$routes" -le 16
punted "routes map full" upa

st_note "3. $RULES \`from\` rules more than the source map holds"
lines=""
for ((i = 1; i <= RULES; i++)); do
	lines+="rule add from 100.64.0.$i/32 lookup 100 priority $((1000 + i))"$'\n'
done
st_batch 4 <<<"${lines%$'\n'}"
sleep 0.3
st_check "steerd still running with $RULES rules too many" st_steerd_alive
over2=$(agent overflow_punts)
st_check "overflow_punts grew with the rules ($over -> $over2)" test "$over2" -gt "$over"
no_new_failures "$RULES rules too many"
punted "routes and source maps full" upa
# The kernel's answer changes while degraded: the punted traffic follows it at once.
st_change 4 "table 100's route to the internet replaced (degraded)" \
	st_ip -n "$NS_ROUTER" route replace "${ST_INTERNET[4]%.*}.0/24" via 10.0.2.2 table 100
punted "after a change while degraded" upb
vrc=0
st_verify || vrc=$?
st_note "steerd --verify while degraded: exit $vrc: $ST_VERIFY_OUT"

st_note "4. the extra rules and routes go: everything fits again, the fast path is back"
lines=""
for ((i = 1; i <= RULES; i++)); do
	lines+="rule del from 100.64.0.$i/32 lookup 100 priority $((1000 + i))"$'\n'
done
for ((i = 0; i < ROUTES - 1; i++)); do
	lines+="route del 10.100.$i.0/24 table 100"$'\n'
done
lines+="route del ${ST_INTERNET[4]%.*}.0/24 table 100"
st_batch 4 <<<"$lines"
sleep 0.3
st_check "steerd logged that everything fits again ($(grep -m1 "$FITS" "$ST_STEERD_LOG" || echo none))" \
	test "$(log_count "$FITS")" -ge 1
st_check "nothing left out any more (overflow_punts=$(agent overflow_punts))" \
	test "$(agent overflow_punts)" -eq 0
no_new_failures "extra routes and rules deleted"
vrc=0
st_verify || vrc=$?
st_check "steerd --verify agrees with the kernel again (exit $vrc: $ST_VERIFY_OUT)" test "$vrc" -eq 0
st_expect_path 4 "$N" "fits again" fast upb

st_note "5. too small again by a few routes, then back: each change must leave written, synced maps"
synced() {
	st_steerctl -j status 2>/dev/null |
		"$ST_PY" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("synced") is True else 1)'
}
# wait_synced WHAT: the maps are marked synced within 2 s (a fitted image was written whole).
wait_synced() {
	local i
	for ((i = 0; i < 20; i++)); do
		synced && break
		sleep 0.1
	done
	st_check "$1: steerd wrote the fitted image, the maps are synced" synced
}
st_batch 4 <<EOF
route add 10.100.0.0/24 via 10.0.2.2 table 100
route add 10.100.1.0/24 via 10.0.2.2 table 100
route add 10.100.2.0/24 via 10.0.2.2 table 100
EOF
sleep 0.3
st_check "too small again: logged a second time" test "$(log_count "$TOO_SMALL")" -ge 2
st_note "with 3 routes more: overflow_punts=$(agent overflow_punts), $(st_steerctl -j status |
	"$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)["maps"]["steer_routes"])') routes in the map"
wait_synced "3 routes too many"
no_new_failures "3 routes too many"
punted "routes map full again" upb
st_batch 4 <<EOF
route del 10.100.0.0/24 table 100
route del 10.100.1.0/24 table 100
route del 10.100.2.0/24 table 100
EOF
wait_synced "the 3 routes gone"
fast_ok=0
for ((i = 0; i < 20; i++)); do
	st0=$(st_stats)
	st_ping 4 2 0.005 0.2 >/dev/null || true
	(($(st_stat_of "$(st_stats)" forwarded) > $(st_stat_of "$st0" forwarded))) && { fast_ok=1; break; }
	sleep 0.1
done
st_check "the fast path forwards again once the 3 routes are gone" test "$fast_ok" -eq 1
st_check "steerd still running" st_steerd_alive

if ((ST_FAILS > 0)); then
	st_note "steerd's log, without dumps and applies (last 30):"
	grep -vE 'netlink: dumping|applied generation' "$ST_STEERD_LOG" | tail -n 30 | sed 's/^/#   /' || true
fi
st_stop_steerd
st_finish
