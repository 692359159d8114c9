# shellcheck shell=bash disable=SC2034 # LT_* are read by the tests
# Steady, sequence-numbered traffic for steer's resilience tests and the reload and netfilter
# churn tests, on top of tests/lib/lib.sh (source this, which sources that, then call st_init
# and lt_init).
#
#   lt_recv_start [PORT]      a receiver in every sink of ST_SINKS: plain UDP sockets (IPv4
#                             and IPv6) bound to PORT (default 5000), so no ICMP errors come
#                             back; every sequence-tagged datagram is logged with the TTL/hop
#                             limit it arrived with and the kernel's receive time.
#   lt_send_start FAM DST DPORT RATE SECONDS TAG FLOWS...
#                             a paced UDP sender in the client namespace (background): RATE
#                             packets/s for SECONDS, round-robin over FLOWS ("SRC:PORT" or
#                             "SRC:LO-HI"), each packet carrying TAG, its sequence number,
#                             its flow index and its send time. lt_send_wait collects it;
#                             SIGTERM ends it early, its log written.
#   lt_recv_settle            wait until the receivers stopped receiving.
#   lt_kill_steerd            SIGKILL steerd (its pins stay, the fast path keeps going).
#   lt_restart_steerd GEN     start steerd again on the same pins, wait until the *new* one
#                             synced (its "first sync applied" log line, and steerctl status
#                             synced); sets LT_SYNC_T.
#   lt_stat NAME              one steerctl counter, now.
#
# Files (all under $ST_TMP): lt-send-TAG (sender's log: "SEQ FLOW T_SEND" per packet, then
# "# sent=N errors=E"), lt-recv-NS (per sink: "TAG SEQ FLOW TTL T_SEND T_RX" per packet).

# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LT_SEND_PID=
LT_SYNC_T=
LT_PORT=5000

lt_init() {
	cp "$ST_ROOT/tests/lib/lttraffic.py" "$ST_TMP/lttraffic.py"
}

# lt_py ARGS...: python3 with lttraffic.py importable (its readers of the senders' and the
# receivers' logs), for the tests' analyses.
lt_py() {
	PYTHONPATH=$ST_TMP "$ST_PY" "$@"
}

# lt_recv_start [PORT]: receivers in every sink (stopped by st_cleanup, like st_capture_start's).
lt_recv_start() {
	local port=${1:-$LT_PORT} ns
	LT_PORT=$port
	for ns in "${ST_SINKS[@]}"; do
		rm -f "$ST_TMP/lt-recv-$ns"
		st_spawn "$ns" "$ST_TMP/lt-recv-$ns.ready" "UDP receiver in $ns" \
			"$ST_PY" "$ST_TMP/lttraffic.py" recv "$port" "$ST_TMP/lt-recv-$ns"
	done
}

# lt_recv_files: "upX=FILE ..." for the analysis scripts.
lt_recv_files() {
	local ns out=()
	for ns in "${ST_SINKS[@]}"; do out+=("${ST_UPLINK_OF[$ns]}=$ST_TMP/lt-recv-$ns"); done
	printf '%s\n' "${out[@]}"
}

# lt_send_start FAM DST DPORT RATE SECONDS TAG FLOW...: background sender; waits until it has
# begun (LT_SEND_T0: its start time, $EPOCHREALTIME-style seconds). TAG: up to 8 characters;
# the receivers' logs show it padded with dots to 8.
lt_send_start() {
	local fam=$1 dst=$2 dport=$3 rate=$4 secs=$5 tag=$6 i
	shift 6
	rm -f "$ST_TMP/lt-send-$tag" "$ST_TMP/lt-send-$tag.start"
	nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$ST_TMP/lttraffic.py" send "$fam" "$dst" \
		"$dport" "$rate" "$secs" "$tag" "$ST_TMP/lt-send-$tag" "$@" >"$ST_TMP/lt-send-$tag.out" 2>&1 &
	LT_SEND_PID=$!
	ST_CAPTURE_PIDS+=("$LT_SEND_PID")
	for ((i = 0; i < 250; i++)); do
		[[ -s $ST_TMP/lt-send-$tag.start ]] && break
		kill -0 "$LT_SEND_PID" 2>/dev/null || break
		sleep 0.01
	done
	[[ -s $ST_TMP/lt-send-$tag.start ]] ||
		st_die "traffic sender started ($(tr '\n' ' ' <"$ST_TMP/lt-send-$tag.out"))"
	LT_SEND_T0=$(<"$ST_TMP/lt-send-$tag.start")
}

# lt_send_wait TAG: wait for the sender; ok when it sent every packet without an error.
lt_send_wait() {
	local tag=$1 rc
	wait "$LT_SEND_PID" && rc=0 || rc=$?
	LT_SEND_PID=
	st_check "sender $tag sent every packet without an error (exit $rc: $(tr '\n' ' ' <"$ST_TMP/lt-send-$tag.out"))" \
		test "$rc" -eq 0
}

# lt_recv_settle: wait (at most 3 s) until no receiver's log grew for 300 ms.
lt_recv_settle() {
	local sizes last="" t0 tc
	t0=$(st_now)
	tc=$t0
	while (($(st_ms_since "$t0") < 3000)); do
		sizes=$(cat "${ST_SINKS[@]/#/$ST_TMP/lt-recv-}" 2>/dev/null | wc -c)
		if [[ $sizes != "$last" ]]; then
			last=$sizes
			tc=$(st_now)
		elif (($(st_ms_since "$tc") >= 300)); then
			return 0
		fi
		sleep 0.05
	done
}

# lt_sleep_until T: sleep until the wall clock reads T (seconds, as $EPOCHREALTIME).
lt_sleep_until() {
	local d
	d=$("$ST_PY" -c 'import sys,time; print("%.3f" % max(0.0, float(sys.argv[1]) - time.time()))' "$1")
	sleep "$d"
}

# lt_time_add T SECONDS: T + SECONDS.
lt_time_add() {
	"$ST_PY" -c 'import sys; print("%.6f" % (float(sys.argv[1]) + float(sys.argv[2])))' "$1" "$2"
}

# lt_now: the wall clock, seconds with microseconds (same clock as the python tools).
lt_now() { printf '%s' "${EPOCHREALTIME/,/.}"; }

# lt_stat NAME: one steerctl counter now (0 when absent; "?" when steerctl fails).
lt_stat() {
	local s
	s=$(st_stats)
	[[ $s == *steerctl_failed=1* ]] && { printf '?'; return; }
	st_stat_of "$s" "$1"
}

# lt_status_field NAME: one top-level field of `steerctl -j status` ("" when unknown).
lt_status_field() {
	st_steerctl -j status 2>/dev/null | "$ST_PY" -c '
import json, sys
v = json.load(sys.stdin).get(sys.argv[1], "")
print(str(v).lower() if isinstance(v, bool) else v)' "$1" 2>/dev/null || true
}

# lt_kill_steerd: SIGKILL, reap. The pins, the program and its link stay.
lt_kill_steerd() {
	[[ -n $ST_STEERD_PID ]] || st_die "lt_kill_steerd: steerd is not running"
	kill -KILL "$ST_STEERD_PID"
	wait "$ST_STEERD_PID" 2>/dev/null || true
	ST_STEERD_PID=
}

# lt_restart_steerd OLD_GENERATION [STEERD OPTIONS...]: start steerd on the same pins
# (st_start_steerd's command line, plus the options), then wait until the new process applied its first sync: its log says "first sync
# applied" and steerctl status reads synced. LT_SYNC_T is when that was first seen,
# LT_RESTART_T when it was started, LT_NEW_GEN the generation status then showed. Dies after 5 s.
# (The generation is not a sign of the new sync by itself: a restarted steerd counts from 1
# again, so it reads the same when the old one had applied a single generation.)
lt_restart_steerd() {
	local g_old=$1 n0 t0 s
	shift
	n0=$(grep -c 'first sync applied' "$ST_STEERD_LOG" 2>/dev/null || true)
	t0=$(st_now)
	local xdp=()
	[[ $ST_XDP == 1 ]] && xdp=(--attach-mode xdp)
	nsenter --net="/run/netns/$NS_ROUTER" "$STEERD" --attach "$IF_CLIENT" --pin-dir "$PIN_DIR" \
		--log-level debug "${xdp[@]}" "$@" >>"$ST_STEERD_LOG" 2>&1 &
	ST_STEERD_PID=$!
	LT_RESTART_T=$(lt_now)
	while (($(st_ms_since "$t0") < 5000)); do
		kill -0 "$ST_STEERD_PID" 2>/dev/null || break
		if (($(grep -c 'first sync applied' "$ST_STEERD_LOG" 2>/dev/null || true) > ${n0:-0})); then
			s=$(lt_status_field synced)
			if [[ $s == true ]]; then
				LT_SYNC_T=$(lt_now)
				LT_NEW_GEN=$(lt_status_field generation)
				st_ok "steerd restarted on the pins and synced in $(st_ms_since "$t0") ms" \
					"(pid $ST_STEERD_PID; status synced, generation $g_old -> $LT_NEW_GEN)"
				return 0
			fi
		fi
		sleep 0.002
	done
	st_note "last status: $(st_steerctl -j status 2>&1 | tr '\n' ' ')"
	kill -0 "$ST_STEERD_PID" 2>/dev/null || st_die "steerd restarted on the pins: it exited"
	st_die "steerd restarted on the pins and synced within 5 s"
}

# lt_verify: `steerd --verify` in the router's namespace must exit 0 (maps == kernel).
lt_verify() {
	local rc=0
	st_verify || rc=$?
	st_check "steerd --verify exits 0: the maps match the kernel (exit $rc: $(tail -n 3 <<<"$ST_VERIFY_LOG" | tr '\n' ' '))" \
		test "$rc" -eq 0
	((rc == 0)) || head -n 40 <<<"$ST_VERIFY_LOG" | while IFS= read -r l; do st_note "  verify: $l"; done
}

# lt_diag: what to look at when packets went missing: per-sink UDP counters, the router's
# per-link packet and drop counts, steerctl's counters.
lt_diag() {
	local ns
	for ns in "${ST_SINKS[@]}"; do
		st_note "$ns: $(ip netns exec "$ns" grep '^Udp:' /proc/net/snmp | tr '\n' ' ')"
	done
	st_note "router links: $(ip -n "$NS_ROUTER" -s -j link show | "$ST_PY" -c '
import json, sys
for l in json.load(sys.stdin):
    s = l.get("stats64", {})
    r, t = s.get("rx", {}), s.get("tx", {})
    print("%s rx=%s/drop=%s tx=%s/drop=%s" % (l["ifname"], r.get("packets"), r.get("dropped"),
          t.get("packets"), t.get("dropped")), end="; ")' 2>&1)"
	st_note "steerctl stats: $(st_stats)"
}
