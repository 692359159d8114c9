#!/usr/bin/env bash
# Never forward stale: steerd with --stale-after 1. While steerd runs, the fast path forwards;
# when its heartbeat stops (SIGSTOP, SIGKILL) the program must hand every packet to the kernel
# once the deadline has passed (punt_stale), and traffic still arrives where the kernel says;
# SIGCONT (or a restart on the pins) brings the fast path back within ~2 s. SIGTERM marks the
# maps unsynced at once: everything punts (punt_not_synced), traffic still arrives.
# Usage: tests/resilience/heartbeat.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

N=20           # packets per checked burst
STALE=1        # --stale-after, seconds

st_init
# A stopped steerd would sit out st_cleanup's SIGTERM: wake it first (keeping the exit status).
trap 'rc=$?; [[ -n $ST_STEERD_PID ]] && kill -CONT "$ST_STEERD_PID" 2>/dev/null; (exit $rc); st_cleanup' EXIT
st_note "heartbeat: topology $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB}, pins in $PIN_DIR"
st_topology 4
st_start_steerd_with 50 --stale-after "$STALE"

# punted N WHAT COUNTER [DEV]: N packets must arrive by DEV (default uplink B, the kernel's
# choice: from the client's net lookup 100), none forwarded by the fast path, COUNTER grown by
# at least N.
punted() {
	local what=$2 counter=$3 dev=${4:-upb} st0 st1
	st0=$(st_stats)
	st_expect_path 4 "$1" "$what" none "$dev"
	st1=$(st_stats)
	st_flow_counter "$what" "$counter" "$1" "$st0" "$st1" ""
}

# fast_again WHAT BUDGET_MS: send a few packets every 50 ms until the fast path forwards them
# again (forwarded grows); ok within BUDGET_MS.
fast_again() {
	local what=$1 budget=$2 t0 st0 st1 ms tries=0
	t0=$(st_now)
	while :; do
		tries=$((tries + 1))
		st0=$(st_stats)
		st_ping 4 2 0.005 0.2 >/dev/null || true
		st1=$(st_stats)
		ms=$(st_ms_since "$t0")
		if (($(st_stat_of "$st1" forwarded) > $(st_stat_of "$st0" forwarded))); then
			st_check "$what: the fast path forwards again after $ms ms (budget $budget ms, $tries bursts)" \
				test "$ms" -le "$budget"
			return 0
		fi
		if ((ms > budget + 2000)); then
			st_not_ok "$what: the fast path did not forward again within $ms ms ($(st_stats_delta "$st0" "$st1"))"
			return 0
		fi
		sleep 0.05
	done
}

st_note "1. steerd alive: the fast path forwards"
st_expect_path 4 "$N" "steerd running" fast upb

st_note "2. SIGSTOP: no heartbeat; past the ${STALE} s deadline everything punts"
kill -STOP "$ST_STEERD_PID"
sleep 1.6
punted "$N" "steerd stopped for 1.6 s" punt_stale
sleep 0.5
punted "$N" "steerd stopped for 2.5 s" punt_stale

st_note "3. SIGCONT: the heartbeat resumes, the fast path takes over again"
kill -CONT "$ST_STEERD_PID"
fast_again "after SIGCONT" 2000
st_expect_path 4 "$N" "after SIGCONT" fast upb
st_check "steerd still running after SIGSTOP/SIGCONT" st_steerd_alive

st_note "4. a routing change while steerd is stopped: punted (by the kernel's new choice), then followed"
kill -STOP "$ST_STEERD_PID"
st_ip -n "$NS_ROUTER" route replace default via 10.0.1.2 table 100
sleep 1.6
punted "$N" "table 100 changed while steerd is stopped" punt_stale upa
kill -CONT "$ST_STEERD_PID"
fast_again "after SIGCONT with a change to catch up on" 2000
st_expect_path 4 "$N" "the change followed after SIGCONT" fast upa
st_ip -n "$NS_ROUTER" route replace default via 10.0.2.2 table 100
st_wait_follow 4 "table 100 back to uplink B" 1000 "$(st_now)"

st_note "5. SIGKILL: the pins stay, marked synced, but the heartbeat stops: stale after ${STALE} s"
kill -KILL "$ST_STEERD_PID"
wait "$ST_STEERD_PID" 2>/dev/null || true
ST_STEERD_PID=
st_check "pins left in $PIN_DIR after SIGKILL" test -n "$(ls -A "$PIN_DIR" 2>/dev/null)"
sleep 1.6
punted "$N" "steerd killed 1.6 s ago" punt_stale

st_note "6. steerd restarts on the pins: fast path again"
st_start_steerd_with 50 --stale-after "$STALE"
fast_again "after the restart" 2000
st_expect_path 4 "$N" "after the restart" fast upb

st_note "7. SIGTERM: steerd marks the maps unsynced on its way out; everything punts at once"
st_stop_steerd
punted "$N" "right after SIGTERM" punt_not_synced

st_finish
