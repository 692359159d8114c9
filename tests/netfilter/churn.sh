#!/usr/bin/env bash
# netfilter changes under traffic. A 2,000 packet/s UDP flow crosses the router while a drop
# rule for its destination is added with `nft add rule` and, a second later, flushed again:
#   - packets sent after `nft add rule` returned that still arrive are leaks (the issue's
#     target: at most 5); measured over several trials, each printed;
#   - once the rule is gone, the fast path forwards again by itself;
#   - the same trial with --netfilter bypass leaks almost everything (the measurement can
#     see a leak at all).
# Then an nfnetlink overrun storm (a tiny receive buffer, transactions of thousands of rules)
# must end with the right state: a forward-path ruleset punts, an input-only one does not.
# Usage: tests/netfilter/churn.sh   (root; STEERD/STEERCTL override the binaries)
#        NF_TRIALS (default 5), NF_RATE (default 2000)
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib/lib-traffic.sh
. "$HERE/../lib/lib-traffic.sh"
# shellcheck source=tests/netfilter/lib-nf.sh
. "$HERE/lib-nf.sh"

TRIALS=${NF_TRIALS:-5}
RATE=${NF_RATE:-2000}
MAX_LEAKS=5
DST=${ST_INTERNET[4]}
command -v nft >/dev/null || { echo "not ok - nft not installed (apt-get install nftables)"; exit 1; }

st_init
lt_init
nf_write_tool
st_topology 46
lt_recv_start 5000
nf_router nft -f - <<'EOF'
table inet filter {
	chain forward {
		type filter hook forward priority 0; policy accept
	}
}
EOF
st_start_steerd

# trial TAG: 3 s of traffic; the drop rule goes in at 1 s and out at 2 s. Sets LEAKS (sent
# after the add returned, arrived anyway), BLOCKED (sent then, not arrived), RESUMED
# (forwarded by the fast path after the flush) and ADD_MS (how long `nft add rule` took).
trial() {
	local tag=$1 t_add0 t_add t_del0 f0 f1
	lt_send_start 4 "$DST" 5000 "$RATE" 3 "$tag" "${ST_CLIENT_ADDR[4]}:31000-31007"
	lt_sleep_until "$(lt_time_add "$LT_SEND_T0" 1.0)"
	t_add0=$(lt_now)
	nf_router nft add rule inet filter forward ip daddr "$DST" drop
	t_add=$(lt_now)
	lt_sleep_until "$(lt_time_add "$LT_SEND_T0" 2.0)"
	t_del0=$(lt_now)
	nf_router nft flush chain inet filter forward
	sleep 0.2
	f0=$(lt_stat forwarded)
	lt_send_wait "$tag"
	f1=$(lt_stat forwarded)
	lt_recv_settle
	read -r LEAKS BLOCKED < <(cat "$ST_TMP"/lt-recv-* | "$ST_PY" -c '
import sys
tag, t_add, t_del0, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
got = 0
for line in sys.stdin:
    f = line.split()
    if len(f) == 6 and f[0].rstrip(".") == tag and t_add < float(f[4]) < t_del0:
        got += 1
sent = int((t_del0 - t_add) * rate)
print(got, sent - got)' "$tag" "$t_add" "$t_del0" "$RATE")
	RESUMED=$((f1 - f0))
	ADD_MS=$("$ST_PY" -c 'import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' \
		"$t_add0" "$t_add")
}

st_note "1. drop rule added and flushed under a $RATE packet/s flow, $TRIALS trials"
worst=0
for ((i = 1; i <= TRIALS; i++)); do
	trial "nf$i"
	st_note "trial $i: $LEAKS packets sent after 'nft add rule' returned still arrived," \
		"$BLOCKED blocked; the fast path forwarded $RESUMED after the flush (nft took $ADD_MS ms)"
	((LEAKS > worst)) && worst=$LEAKS
	st_check "trial $i: at most $MAX_LEAKS leaks after nft add rule returned ($LEAKS)" \
		test "$LEAKS" -le "$MAX_LEAKS"
	st_check "trial $i: the fast path resumed after the flush (forwarded +$RESUMED)" \
		test "$RESUMED" -ge $((RATE / 2))
done
st_note "worst trial: $worst leaks (target $MAX_LEAKS)"

st_note "2. the same with --netfilter bypass: the rule is bypassed (the harness sees leaks)"
st_stop_steerd
st_start_steerd_with 50 --netfilter bypass
trial nfbypass
st_check "bypass: packets sent while the drop rule stood arrived anyway ($LEAKS)" \
	test "$LEAKS" -ge $((RATE / 2))
st_check "bypass: steerd warned that it forwards past the chain" \
	grep -q "bypass: IPv4 forwarding goes past inet filter forward" "$ST_STEERD_LOG"
st_stop_steerd

st_note "3. nfnetlink overrun storm (receive buffer 4 KiB, 3,000-rule transactions)"
st_start_steerd_with 50 --netlink-rcvbuf 4096
storm() {	# CHAIN: 3,000 rules into the chain (forward or input), in one transaction
	{
		echo "flush ruleset"
		echo "table inet filter {"
		echo "	chain $1 {"
		echo "		type filter hook $1 priority 0; policy accept"
		for ((r = 0; r < 3000; r++)); do echo "		ip daddr 203.0.$((r / 250)).$((r % 250)) counter"; done
		echo "	}"
		echo "}"
	} | nf_router nft -f -
}
o0=$(st_stat_of "$(st_agent_stats)" overruns)
storm forward
st_wait_idle 500 20 || true
sleep 1.1	# the agent's counters are published at least once a second
o1=$(st_stat_of "$(st_agent_stats)" overruns)
st_check "the storm overran the netlink buffer (overruns $o0 -> $o1)" test "$o1" -gt "$o0"
st_check "steerd said so" grep -q "nfnetlink: receive buffer overrun" "$ST_STEERD_LOG"
d=$(nf_stat_delta punt_netfilter nf_probe 4 "$DST" 20)
st_check "after the storm, 3,000 forward rules: IPv4 punts (+$d)" test "$d" -ge 20
st_check "status counts the rules" "$ST_PY" -c '
import json, sys
c = [x for x in json.loads(sys.argv[1])["netfilter"]["chains"] if x["chain"] == "forward"]
sys.exit(not (c and c[0]["rules"] == 3000))' "$(st_steerctl -j status)"
storm input
# Idle by rtnetlink's measure is not enough here: the ruleset may still be re-read after the
# last overrun. Wait (20 s at most) until the maps say it is known and holds the input chain.
nf_known_input() {
	"$ST_PY" -c '
import json, sys
nf = json.loads(sys.argv[1])["netfilter"]
c = [x for x in nf["chains"] if x["chain"] == "input"]
sys.exit(not (nf["known"] and not nf["ipv4_punted"] and not nf["ipv6_punted"] and
              c and c[0]["rules"] == 3000))' "$(st_steerctl -j status)"
}
for ((i = 0; i < 200; i++)); do
	nf_known_input 2>/dev/null && break
	sleep 0.1
done
st_check "after the second storm the maps hold the input chain's 3,000 rules" nf_known_input
st_wait_idle 500 20 || true
d=$(nf_stat_delta forwarded nf_probe 4 "$DST" 20)
st_check "after a second storm into input only: IPv4 is forwarded by the fast path (+$d)" test "$d" -ge 20
d=$(nf_stat_delta forwarded nf_probe 6 "${ST_INTERNET[6]}" 20)
st_check "... and IPv6 (+$d)" test "$d" -ge 20
st_check "steerd still runs" st_steerd_alive
st_finish
