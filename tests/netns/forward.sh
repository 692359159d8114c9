#!/usr/bin/env bash
# Policy routing end to end, one family: client -- router(steerd on "cli") -- uplinks A, B
# (and C). Each step changes the router's rules/routes with iproute2 and checks that real
# packets leave where `ip route get ... iif cli` says, with TTL/hop limit decremented, and
# that the fast path did it.
# Usage: tests/netns/forward.sh 4|6   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

F=${1:-}
case $F in
4) GA=10.0.1.2 GB=10.0.2.2 GC=10.0.3.2 ;;
6) GA=2001:db8:a::2 GB=2001:db8:b::2 GC=2001:db8:c::2 ;;
*) echo "usage: $0 4|6" >&2; exit 2 ;;
esac
CNET=${ST_CLIENT_NET[$F]}
N=40          # packets per checked burst
router() { st_ip -n "$NS_ROUTER" "-$F" "$@"; }

st_init
st_note "IPv$F: topology $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB}, pins in $PIN_DIR"
st_topology "$F"
st_start_steerd

st_note "1. from $CNET lookup 100 -> default via $GB (uplink B)"
st_expect_path "$F" "$N" "rule from $CNET lookup 100" fast upb

st_note "2. ip rule del -> the main table's default via $GA (uplink A)"
st_change "$F" "ip rule del" router rule del from "$CNET" table 100 priority 100
st_expect_path "$F" "$N" "after ip rule del" fast upa

st_note "2b. ip rule add again -> uplink B"
st_change "$F" "ip rule add" router rule add from "$CNET" table 100 priority 100
st_expect_path "$F" "$N" "after ip rule add" fast upb

st_note "3. new uplink C (added live), ip -$F route replace default via $GC table 100"
st_add_sink c
st_change "$F" "ip route replace table 100" router route replace default via "$GC" table 100
st_expect_path "$F" "$N" "after ip route replace" fast upc

st_note "4. ip link set upc down: the kernel drops table 100's default, main (uplink A) answers"
st_change "$F" "ip link set upc down" st_ip -n "$NS_ROUTER" link set upc down
st_expect_path "$F" "$N" "with upc down" any upa
sleep 0.2
st_check "steerd still running after the link went down" st_steerd_alive

st_note "5. SIGTERM: steerd leaves its pins, the fast path punts, the kernel carries on"
st_stop_steerd
if [[ $ST_KERNEL_ONLY != 1 ]]; then
	st_check "pins left in $PIN_DIR after SIGTERM" test -n "$(ls -A "$PIN_DIR" 2>/dev/null)"
fi
st_expect_path "$F" "$N" "after steerd stopped" none upa
router route replace default via "$GB" table 100
st_expect_path "$F" "$N" "table 100 changed while steerd is down" none upb

st_note "6. steerd restarts on its pins: adopts them, reconciles the change it missed"
st_start_steerd
st_expect_path "$F" "$N" "after restart" fast upb

st_note "7. steerd --cleanup: program detached, pins removed, the kernel alone forwards"
st_stop_steerd
st_cleanup_steerd
st_expect_path "$F" "$N" "after steerd --cleanup" kernel upb

st_finish
