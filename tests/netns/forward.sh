#!/usr/bin/env bash
# IPv4 policy routing end to end: client -- router(steerd on "cli") -- uplinks A, B (and C).
# Each step changes the router's rules/routes with iproute2 and checks that real packets leave
# where `ip route get ... iif cli` says, with TTL decremented, and that the fast path did it.
# Usage: tests/netns/forward-v4.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

N=40          # packets per checked burst

st_init
st_note "IPv4: topology $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB}, pins in $PIN_DIR"
st_topology 4
st_start_steerd

st_note "1. from 10.1.0.0/24 lookup 100 -> default via 10.0.2.2 (uplink B)"
st_expect_path 4 "$N" "rule from 10.1.0.0/24 lookup 100" fast upb

st_note "2. ip rule del -> the main table's default via 10.0.1.2 (uplink A)"
st_change 4 "ip rule del" st_ip -n "$NS_ROUTER" rule del from 10.1.0.0/24 table 100 priority 100
st_expect_path 4 "$N" "after ip rule del" fast upa

st_note "2b. ip rule add again -> uplink B"
st_change 4 "ip rule add" st_ip -n "$NS_ROUTER" rule add from 10.1.0.0/24 table 100 priority 100
st_expect_path 4 "$N" "after ip rule add" fast upb

st_note "3. new uplink C (added live), ip route replace default via 10.0.3.2 table 100"
st_add_sink c
st_change 4 "ip route replace table 100" \
	st_ip -n "$NS_ROUTER" route replace default via 10.0.3.2 table 100
st_expect_path 4 "$N" "after ip route replace" fast upc

st_note "4. ip link set upc down: the kernel drops table 100's default, main (uplink A) answers"
st_change 4 "ip link set upc down" st_ip -n "$NS_ROUTER" link set upc down
st_expect_path 4 "$N" "with upc down" any upa
sleep 0.2
st_check "steerd still running after the link went down" st_steerd_alive

st_note "5. SIGTERM: steerd leaves its pins, the fast path punts, the kernel carries on"
st_stop_steerd
if [[ $ST_KERNEL_ONLY != 1 ]]; then
	st_check "pins left in $PIN_DIR after SIGTERM" test -n "$(ls -A "$PIN_DIR" 2>/dev/null)"
fi
st_expect_path 4 "$N" "after steerd stopped" none upa
st_ip -n "$NS_ROUTER" route replace default via 10.0.2.2 table 100
st_expect_path 4 "$N" "table 100 changed while steerd is down" none upb

st_note "6. steerd restarts on its pins: adopts them, reconciles the change it missed"
st_start_steerd
st_expect_path 4 "$N" "after restart" fast upb

st_note "7. steerd --cleanup: program detached, pins removed, the kernel alone forwards"
st_stop_steerd
st_cleanup_steerd
st_expect_path 4 "$N" "after steerd --cleanup" kernel upb

st_finish
