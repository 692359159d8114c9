#!/usr/bin/env bash
# Hitless restart: steerd is SIGKILLed under a steady 2,000 packets/s UDP flow, table 100's
# default route is moved to another uplink while it is down, and steerd is started again on
# the same pins. Every sequence number must arrive (at one sink or the other, exactly once,
# TTL 63): the pinned program keeps forwarding from the pinned maps while steerd is away, and
# the restarted steerd swaps the program and rewrites the maps make-before-break. The fast
# path must have forwarded before the kill and after the restart, and after the restart the
# traffic must follow the changed route within 1 s of the new steerd's first sync.
# IPv4 (table 100: B -> C) then IPv6 (table 100: B -> A), in one topology. Then, IPv4 again,
# the heartbeat deadline: steerd runs with --stale-after 1, is killed, table 100 moves back to
# B, and steerd stays down 3 s: once the heartbeat is stale the fast path must punt and the
# kernel forward by the new route (still no loss), until the restarted steerd takes over.
# Usage: tests/resilience/restart.sh   (root; STEERD/STEERCTL override the binaries)
#        LT_RATE (packets/s, default 2000), LT_SECONDS (per family, default 6)
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib/lib-traffic.sh
. "$HERE/../lib/lib-traffic.sh"

RATE=${LT_RATE:-2000}
SECS=${LT_SECONDS:-6}
KILL_AT=2.0       # s after the flow starts: SIGKILL
CHANGE_AT=3.0     # ... ip route replace in table 100, then restart at once
RESTART_AT=       # ... or restart at this time (phase 3: after the heartbeat went stale)
STALE=            # phase 3: steerd runs with --stale-after STALE; from STALE + 0.5 s after
                  # the kill until the restart the kernel must be forwarding (punt_stale)
FOLLOW_MS=1000    # after the new steerd synced, traffic follows the change within this

st_steerd_needed "steerd itself"

st_init
lt_init
st_note "hitless restart: $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB, $NS_SINKC}, pins in $PIN_DIR"
st_topology 46
st_add_sink c
lt_recv_start 5000
st_start_steerd

# follow_ok LAST_OLD_MS FIRST_NEW_MS: packets reached the new uplink, and none the old one later
# than FOLLOW_MS after the sync.
follow_ok() {
	[[ $2 =~ ^[+-][0-9]+$ ]] || return 1
	[[ $1 == none ]] && return 0
	[[ $1 =~ ^[+-][0-9]+$ ]] && ((${1#+} <= FOLLOW_MS))
}

# restart_phase FAM NEW_GW NEW_DEV OLD_DEV TAG
restart_phase() {
	local fam=$1 gw=$2 new=$3 old=$4 tag=$5
	local src=${ST_CLIENT_ADDR[$fam]} dst=${ST_INTERNET[$fam]} flows
	local s0 s1 s2 s3 s_down g_old t_kill t_change dev prog0 prog1
	[[ $fam == 6 ]] && flows="[$src]:40000-40003" || flows="$src:40000-40003"
	st_note "--- IPv$fam: $RATE packets/s for $SECS s from $src (4 flows) to $dst; kill at" \
		"${KILL_AT}s, table 100 default -> $gw ($new) at ${CHANGE_AT}s while down, restart" \
		"${RESTART_AT:+at ${RESTART_AT}s}${STALE:+ (--stale-after $STALE)}"
	dev=$(st_route_dev "$fam")
	st_check "IPv$fam: before: the kernel routes the client's traffic via $old (says $dev)" \
		test "$dev" = "$old"
	prog0=$(lt_status_field program_id)
	s0=$(st_stats)
	lt_send_start "$fam" "$dst" 5000 "$RATE" "$SECS" "$tag" "$flows"
	lt_sleep_until "$(lt_time_add "$LT_SEND_T0" "$KILL_AT")"
	s1=$(st_stats)
	g_old=$(st_generation)
	t_kill=$(lt_now)
	lt_kill_steerd
	st_note "IPv$fam: SIGKILLed steerd at +$(lt_time_add "$t_kill" "-$LT_SEND_T0")s (generation $g_old)"
	lt_sleep_until "$(lt_time_add "$LT_SEND_T0" "$CHANGE_AT")"
	t_change=$(lt_now)
	st_ip -n "$NS_ROUTER" "-$fam" route replace default via "$gw" table 100
	dev=$(st_route_dev "$fam")
	st_check "IPv$fam: while steerd is down the kernel routes via $new (says $dev)" test "$dev" = "$new"
	[[ -n $RESTART_AT ]] && lt_sleep_until "$(lt_time_add "$LT_SEND_T0" "$RESTART_AT")"
	s_down=$(st_stats)
	lt_restart_steerd "$g_old" ${STALE:+--stale-after "$STALE"}
	s2=$(st_stats)
	prog1=$(lt_status_field program_id)
	st_note "IPv$fam: restarted at +$(lt_time_add "$LT_RESTART_T" "-$LT_SEND_T0")s, synced seen at" \
		"+$(lt_time_add "$LT_SYNC_T" "-$LT_SEND_T0")s; program id $prog0 -> $prog1"
	lt_send_wait "$tag"
	lt_recv_settle
	s3=$(st_stats)
	local ap
	ap=$(lt_status_field agent_pid)
	st_check "IPv$fam: steerctl status names the new steerd (agent_pid $ap, pid $ST_STEERD_PID) and it is not stale" \
		test "$ap" = "$ST_STEERD_PID" -a "$(lt_status_field stale)" = false
	if [[ $LT_NEW_GEN == "$g_old" ]]; then
		st_note "IPv$fam: NOTE the restarted steerd's generation ($LT_NEW_GEN) equals the one it found pinned ($g_old): generations restart at 1"
	fi

	local res RECV_FILES
	mapfile -t RECV_FILES < <(lt_recv_files)
	res=$(lt_py - "$tag" "$ST_TMP/lt-send-$tag" "$t_kill" "$t_change" "$LT_RESTART_T" \
		"$LT_SYNC_T" "$old" "$new" "$FOLLOW_MS" "${STALE:-0}" "${RECV_FILES[@]}" <<'EOF'
import sys
from lttraffic import arrivals, sent_log
tag, sendlog = sys.argv[1].ljust(8, ".")[:8], sys.argv[2]
t_kill, t_change, t_restart, t_sync = map(float, sys.argv[3:7])
old, new, follow, stale = sys.argv[7], sys.argv[8], float(sys.argv[9]) / 1000, float(sys.argv[10])
sent = {seq: (flow, t) for seq, flow, t in sent_log(sendlog)}
got, ttls = arrivals(tag, sys.argv[11:])   # seq -> [dev, ...], ttl -> count
lost = sorted(s for s in sent if s not in got)
dups = sorted(s for s, d in got.items() if len(d) > 1)
extra = sorted(s for s in got if s not in sent)
def phase(t):
    if t < t_kill: return "1-up"
    if t < t_change: return "2-killed"
    if t < t_restart: return "3-changed"
    if t < t_sync: return "4-restarting"
    if t < t_sync + follow: return "5-synced"
    return "6-settled"
per = {}
for s, (fl, t) in sent.items():
    ph = phase(t)
    for d in got.get(s, ["lost"]):
        per.setdefault(ph, {}).setdefault(d, 0)
        per[ph][d] += 1
# Switch: the last packet that still left by the old uplink after the change, the first that
# left by the new one.
after = sorted((t, s) for s, (fl, t) in sent.items() if t >= t_change)
last_old = max((t for t, s in after if old in got.get(s, [])), default=None)
first_new = min((t for t, s in after if new in got.get(s, [])), default=None)
before_kill_bad = sum(1 for s, (fl, t) in sent.items() if t < t_kill and got.get(s, [old]) != [old])
settled_bad = sum(1 for s, (fl, t) in sent.items() if t >= t_sync + follow and got.get(s, [new]) != [new])
settled_n = sum(1 for s, (fl, t) in sent.items() if t >= t_sync + follow)
def ms(t):
    return "none" if t is None else "%+d" % round((t - t_sync) * 1000)
print("sent=%d lost=%d dup=%d extra=%d ttl=%s" % (len(sent), len(lost), len(dups), len(extra),
      ",".join("%s:%d" % kv for kv in sorted(ttls.items())) or "none"))
print("lost_seqs=%s" % (",".join(map(str, lost[:20])) or "none"))
print("phases=%s" % " ".join("%s[%s]" % (ph, ",".join("%s:%d" % kv for kv in sorted(d.items())))
                             for ph, d in sorted(per.items())))
print("before_kill_bad=%d settled_bad=%d settled_n=%d" % (before_kill_bad, settled_bad, settled_n))
print("last_old_ms=%s first_new_ms=%s" % (ms(last_old), ms(first_new)))
down = [s for s, (fl, t) in sent.items() if t_kill <= t < t_sync]
print("down_n=%d down_lost=%d" % (len(down), sum(1 for s in down if s not in got)))
if stale:
    # Stale: from the deadline (plus a margin: the last heartbeat may be up to stale/4 older
    # than the kill) until the restart, only the kernel forwards: by the new route.
    st = [s for s, (fl, t) in sent.items() if t_kill + stale + 0.5 <= t < t_restart]
    print("stale_n=%d stale_bad=%d" % (len(st), sum(1 for s in st if got.get(s) != [new])))
EOF
	) || res="analysis failed"
	local kv sent="" lost="" dup="" ttl="" bkb="" sb="" sn="" lo="" fn="" dn="" dl="" stn="" stb=""
	while IFS= read -r line; do
		for kv in $line; do
			case $kv in
			sent=*) sent=${kv#*=} ;; lost=*) lost=${kv#*=} ;; dup=*) dup=${kv#*=} ;;
			ttl=*) ttl=${kv#*=} ;; before_kill_bad=*) bkb=${kv#*=} ;;
			settled_bad=*) sb=${kv#*=} ;; settled_n=*) sn=${kv#*=} ;;
			last_old_ms=*) lo=${kv#*=} ;; first_new_ms=*) fn=${kv#*=} ;;
			down_n=*) dn=${kv#*=} ;; down_lost=*) dl=${kv#*=} ;;
			stale_n=*) stn=${kv#*=} ;; stale_bad=*) stb=${kv#*=} ;;
			esac
		done
	done <<<"$res"
	printf '# IPv%s: %s\n' "$fam" "${res//$'\n'/$'\n'# IPv$fam: }"
	st_check "IPv$fam: zero loss across kill/change/restart: every one of $sent sequence numbers arrived exactly once (lost=$lost dup=$dup)" \
		test "${sent:-0}" -eq $((${RATE%.*} * ${SECS%.*})) -a "${lost:-x}" = 0 -a "${dup:-x}" = 0
	st_check "IPv$fam: ... of them $dn sent while steerd was down or not yet synced, lost ${dl:-?}" \
		test "${dl:-x}" = 0 -a "${dn:-0}" -gt 0
	st_check "IPv$fam: every packet arrived with TTL/hop limit 63 (ttl:count $ttl)" \
		test "$ttl" = "63:$sent"
	st_check "IPv$fam: before the kill every packet left by $old (others: ${bkb:-?})" test "${bkb:-x}" = 0
	# At least a fifth of a second of traffic: the last phase restarts at 4 s of 6, so a slow
	# start on a busy machine leaves little more than half a second after the settle time.
	st_check "IPv$fam: from ${FOLLOW_MS} ms after the new steerd synced, all $sn packets left by $new (others: ${sb:-?})" \
		test "${sb:-x}" = 0 -a "${sn:-0}" -gt $((RATE / 5))
	# The switch, relative to the moment the new steerd was seen synced (negative: before).
	st_check "IPv$fam: traffic followed the change to $new within ${FOLLOW_MS} ms of the sync (last by $old at ${lo} ms, first by $new at ${fn} ms)" \
		follow_ok "$lo" "$fn"
	local f01 f23 d
	f01=$(($(st_stat_of "$s1" forwarded) - $(st_stat_of "$s0" forwarded)))
	f23=$(($(st_stat_of "$s3" forwarded) - $(st_stat_of "$s2" forwarded)))
	st_check "IPv$fam: the fast path forwarded before the kill (forwarded +$f01; $(st_stats_delta "$s0" "$s1"))" \
		test "$f01" -gt 0
	st_check "IPv$fam: the fast path forwarded after the restart (forwarded +$f23; $(st_stats_delta "$s2" "$s3"))" \
		test "$f23" -gt 0
	st_note "IPv$fam: counters over the whole phase: $(st_stats_delta "$s0" "$s3")"
	if [[ -n $STALE ]]; then
		local pst
		pst=$(($(st_stat_of "$s_down" punt_stale) - $(st_stat_of "$s1" punt_stale)))
		st_check "IPv$fam: with steerd down past --stale-after $STALE the fast path punted (punt_stale +$pst; $(st_stats_delta "$s1" "$s_down"))" \
			test "$pst" -gt 0
		st_check "IPv$fam: ... and the kernel forwarded those by the changed route: all $stn packets sent from $STALE.5 s after the kill to the restart left by $new (others: ${stb:-?})" \
			test "${stb:-x}" = 0 -a "${stn:-0}" -gt 0
	fi
	d=$(($(st_stat_of "$s3" punt_missing_ref) - $(st_stat_of "$s0" punt_missing_ref)))
	st_check "IPv$fam: no packet met a missing map reference (punt_missing_ref +$d)" test "$d" -eq 0
	st_check "IPv$fam: steerd still running" st_steerd_alive
	if [[ -n $lost && $lost != 0 ]]; then lt_diag; fi
}

restart_phase 4 10.0.3.2 upc upb r4
restart_phase 6 2001:db8:a::2 upa upb r6

st_note "--- heartbeat deadline: steerd again, now with --stale-after 1"
g=$(st_generation)
lt_kill_steerd
lt_restart_steerd "$g" --stale-after 1
# A second longer than the others: the restart comes late here, and a steerd that loads the
# XDP stage too takes up to a second to sync, which would leave little to check after it.
KILL_AT=1.0 CHANGE_AT=1.5 RESTART_AT=4.0 STALE=1 SECS=$((${SECS%.*} + 1))
restart_phase 4 10.0.2.2 upb upc r4s

lt_verify
st_stop_steerd
st_finish
