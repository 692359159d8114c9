#!/usr/bin/env bash
# Churn at table scale, as a BGP session reset makes it: SCALE_ROUTES IPv4 prefixes in table 100
# via uplink A, then one `ip -batch` of `route replace` moving the last 200,000 of them (all of
# them, at CI's size) to uplink B, while a 3,000 packet/s flow runs to 8 prefixes at the end of
# the batch. Run twice: with the
# default netlink buffer, and with a 4 KiB one that makes the kernel drop events (steerd then
# re-reads everything while the fast path punts). Per packet, by send time:
#   - once a flow has reached B (the kernel moved its prefix), none of its later packets may
#     reach A: nothing is forwarded by state older than the kernel's;
#   - every packet sent after the batch returned arrives at B;
#   - every packet arrives exactly once;
# and afterwards the maps equal the kernel (`steerd --verify`). The overrun count, how long
# each phase took and how many packets the fast path punted while pending are printed.
# Usage: tests/resilience/scale-churn.sh   (root; STEERD/STEERCTL override the binaries)
#        SCALE_ROUTES (default 200000), SCALE_RATE (default 3000)
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib/lib-traffic.sh
. "$HERE/../lib/lib-traffic.sh"

ROUTES=${SCALE_ROUTES:-200000}
RATE=${SCALE_RATE:-3000}
FLOWS=8

st_init
lt_init
st_topology 4
st_note "scale churn: $ROUTES routes in table 100, $RATE packets/s to $FLOWS prefixes at the batch's end"

# Prefixes 16.0.0.0/24 upwards; the flows go to .1 of the last FLOWS of them, which both sinks
# own (so a packet arrives wherever it is sent, and says by which uplink).
"$ST_PY" - "$ST_TMP" "$ROUTES" "$FLOWS" <<'EOF'
import sys
tmp, n, flows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def pfx(i):
    return "%d.%d.%d.0/24" % (16 + (i >> 16), (i >> 8) & 255, i & 255)
with open(tmp + "/add.batch", "w") as f:
    for i in range(n):
        f.write("route add %s via 10.0.1.2 table 100\n" % pfx(i))
with open(tmp + "/move.batch", "w") as f:     # the last 200,000 (at most), as a session reset
    for i in range(max(0, n - 200000), n):
        f.write("route replace %s via 10.0.2.2 table 100\n" % pfx(i))
with open(tmp + "/dsts", "w") as f:
    for i in range(n - flows, n):
        f.write(pfx(i).replace(".0/24", ".1") + "\n")
EOF
mapfile -t DSTS <"$ST_TMP/dsts"
for ns in "${ST_SINKS[@]}"; do
	for d in "${DSTS[@]}"; do st_ip -n "$ns" addr add "$d/32" dev lo; done
done
lt_recv_start 5000

# One flow per destination: the sender takes one destination per run, so run FLOWS senders.
send_all() {	# TAG SECONDS
	local tag=$1 secs=$2 i pids=()
	for ((i = 0; i < FLOWS; i++)); do
		rm -f "$ST_TMP/lt-send-$tag$i"*
		nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$ST_TMP/lttraffic.py" send 4 "${DSTS[$i]}" \
			5000 $((RATE / FLOWS)) "$secs" "$tag$i" "$ST_TMP/lt-send-$tag$i" \
			"${ST_CLIENT_ADDR[4]}:$((32000 + i))" >"$ST_TMP/lt-send-$tag$i.out" 2>&1 &
		pids+=($!)
	done
	SEND_PIDS=("${pids[@]}")
}

# run WHAT [STEERD ARGS...]
run() {
	local what=$1 tag t_batch0 t_batch1 o0 o1 p0 p1
	shift
	tag=r$((++RUN_N))
	st_note "$what"
	st_ip -n "$NS_ROUTER" route flush table 100
	st_ip -n "$NS_ROUTER" route add default via 10.0.2.2 table 100
	st_ip -n "$NS_ROUTER" -batch "$ST_TMP/add.batch"
	st_start_steerd_with 300 --limit routes=$((ROUTES + 50000)) "$@"
	st_wait_idle 500 60 || true
	o0=$(st_stat_of "$(st_agent_stats)" overruns)
	p0=$(st_stat_of "$(st_stats)" punt_pending)
	# Traffic from 2 s before the batch to 3 s after it, however long it takes (a loaded
	# machine makes it several times slower): the senders are told to stop then.
	send_all "$tag" 120
	sleep 2
	t_batch0=$(lt_now)
	st_ip -n "$NS_ROUTER" -batch "$ST_TMP/move.batch"
	t_batch1=$(lt_now)
	sleep 3
	for pid in "${SEND_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${SEND_PIDS[@]}"; do wait "$pid" || true; done
	lt_recv_settle
	# The agent's counters are published every second: idle means still for longer.
	st_wait_idle 2500 60 || true
	o1=$(st_stat_of "$(st_agent_stats)" overruns)
	p1=$(st_stat_of "$(st_stats)" punt_pending)
	analyse "$tag" "$t_batch0" "$t_batch1"
	st_note "$what: the batch took $("$ST_PY" -c 'import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' "$t_batch0" "$t_batch1") ms;" \
		"overruns $o0 -> $o1; punt_pending +$((p1 - p0))"
	OVERRUNS=$((o1 - o0))
	st_note "$what: steerd's peak RSS $(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$ST_STEERD_PID/status")"
	lt_verify
	st_stop_steerd
}

# analyse TAG T_BATCH0 T_BATCH1: the checks above, from the receivers' logs and each sender's.
analyse() {
	local tag=$1 t0=$2 t1=$3 files=() i res
	for ((i = 0; i < FLOWS; i++)); do files+=("$ST_TMP/lt-send-$tag$i"); done
	res=$(lt_py - "$tag" "$t0" "$t1" "$(lt_recv_files | tr '\n' ' ')" "${files[@]}" <<'EOF'
import sys
from lttraffic import received, sent_log
tag, t0, t1, recv_spec = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sent = {}
for path in sys.argv[5:]:
    flow = path.rsplit("-", 1)[1]
    for seq, _, t in sent_log(path):
        sent[(flow, seq)] = t
arrived = {}
dup = 0
for up, f in received(recv_spec.split()):
    if not f[0].rstrip(".").startswith(tag):
        continue
    key = (f[0].rstrip("."), int(f[1]))
    if key in arrived:
        dup += 1
    arrived[key] = up
lost = [k for k in sent if k not in arrived]
stale, late_a, moved_at = 0, 0, {}
for (flow, seq), t in sorted(sent.items(), key=lambda kv: kv[1]):
    up = arrived.get((flow, seq))
    if up == "upb" and flow not in moved_at:
        moved_at[flow] = t
    if up == "upa" and flow in moved_at:
        stale += 1          # reached the old gateway after the flow had reached the new one
    if up == "upa" and t > t1:
        late_a += 1         # reached the old gateway though sent after the batch returned
print("sent=%d lost=%d dup=%d stale=%d after_batch_via_a=%d flows_moved=%d" %
      (len(sent), len(lost), dup, stale, late_a, len(moved_at)))
EOF
)
	st_note "$res"
	local stale late lost dup moved
	stale=$(sed -n 's/.* stale=\([0-9]*\).*/\1/p' <<<"$res")
	late=$(sed -n 's/.* after_batch_via_a=\([0-9]*\).*/\1/p' <<<"$res")
	lost=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$res")
	dup=$(sed -n 's/.* dup=\([0-9]*\).*/\1/p' <<<"$res")
	moved=$(sed -n 's/.* flows_moved=\([0-9]*\).*/\1/p' <<<"$res")
	st_check "no packet reached the old gateway after its flow had reached the new one ($stale)" \
		test "${stale:-1}" -eq 0
	st_check "no packet sent after the batch returned reached the old gateway ($late)" \
		test "${late:-1}" -eq 0
	st_check "every flow moved to the new gateway ($moved of $FLOWS)" test "${moved:-0}" -eq "$FLOWS"
	st_check "every packet arrived exactly once (lost $lost, duplicated $dup)" \
		test "${lost:-1}" -eq 0 -a "${dup:-1}" -eq 0
}

RUN_N=0
run "1. default netlink buffer"
st_check "the batch caused no overrun with the default buffer ($OVERRUNS)" test "$OVERRUNS" -eq 0
run "2. a 4 KiB netlink buffer: the kernel drops events, steerd re-reads" --netlink-rcvbuf 4096
st_check "the small buffer overran ($OVERRUNS)" test "$OVERRUNS" -gt 0
st_finish
