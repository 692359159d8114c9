#!/usr/bin/env bash
# Churn under traffic: for 30 s, 32 UDP flows per family (4 client addresses x 8 source ports,
# IPv4 and IPv6 at once, ~2,000 packets/s in all) cross the router while a driver makes a few
# routing changes a second: `ip rule add/del` of rules that send some of the flows to table
# 100 or 101, `ip route replace` of the default route of tables 100 and 101 between uplinks
# A, B and C, and between a single next hop and multipath (`nexthop via X nexthop via Y`);
# table 101's default route also comes and goes (its lookups then fall through).
# The driver models each state it steps through (which uplinks each flow may take) and checks
# the model against the kernel after every change (`ip route show` of the tables, `ip route
# get ... iif cli` for every flow). Then, per packet, by its send time:
#   - it arrived exactly once, TTL/hop limit 63;
#   - at an uplink the state before or the state after the nearest change allows for its flow;
#   - away from changes (50 ms after one, up to the next), at an uplink of the current state,
#     and each flow by a single uplink (a flow never spreads over a multipath route's hops);
# and at the end: punt_missing_ref is 0, steerd still runs, `steerd --verify` exits 0.
# Usage: tests/resilience/churn.sh   (root; STEERD/STEERCTL override the binaries)
#        CHURN_SECONDS (default 30), CHURN_SEED (default: random, printed), LT_RATE (per
#        family, default 1000), CHURN_FAMILIES (default 46); CHURN_SABOTAGE=1 freezes steerd
#        (SIGSTOP) for the second half of the churn, to see the checks fail (harness self-test)
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib/lib-traffic.sh
. "$HERE/../lib/lib-traffic.sh"

SECS=${CHURN_SECONDS:-30}
SEED=${CHURN_SEED:-$RANDOM}
RATE=${LT_RATE:-1000}
FAMS=${CHURN_FAMILIES:-46}
STABLE_MS=50      # a change is applied by then (the budget for "follows" is ms, not this)

st_steerd_needed "steerd itself"

st_init
lt_init
st_note "churn: $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB, $NS_SINKC}, pins in $PIN_DIR;" \
	"families $FAMS, $SECS s, seed $SEED (CHURN_SEED=$SEED replays the changes)"
st_topology "$FAMS"
st_add_sink c
declare -A FLOWS=()
for f in 4 6; do
	[[ $FAMS == *$f* ]] || continue
	if [[ $f == 4 ]]; then
		for i in 3 4 5; do st_ip -n "$NS_CLIENT" addr add "10.1.0.$i/24" dev eth0; done
		ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
		st_ip -n "$NS_ROUTER" route add default via 10.0.3.2 table 101
		FLOWS[4]="10.1.0.2:31000-31007 10.1.0.3:31000-31007 10.1.0.4:31000-31007 10.1.0.5:31000-31007"
	else
		for i in 3 4 5; do st_ip -n "$NS_CLIENT" addr add "2001:db8:1::$i/64" dev eth0 nodad; done
		ip netns exec "$NS_ROUTER" sysctl -qw net.ipv6.fib_multipath_hash_policy=1
		st_ip -n "$NS_ROUTER" -6 route add default via 2001:db8:c::2 table 101
		FLOWS[6]="[2001:db8:1::2]:31000-31007 [2001:db8:1::3]:31000-31007 [2001:db8:1::4]:31000-31007 [2001:db8:1::5]:31000-31007"
	fi
done
lt_recv_start 5000
st_start_steerd

# ---- the driver: changes, the model of each state, the kernel's word on it -----------------
cat >"$ST_TMP/churn.py" <<'EOF'
# churn.py NS SECONDS SEED OUT FAMS FLOWS4 FLOWS6: make changes on the router NS until SECONDS
# have passed; OUT gets one JSON line per state: {"i", "t0", "t1", "fam", "cmd",
# "sets": {fam: ["upa upb", ...] per flow}, "kernel": {...}, "bad": [...]}.
import ipaddress, json, random, re, subprocess, sys, time
from lttraffic import flows_of

ns, secs, seed, out, fams = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
flowspec = {"4": sys.argv[6].split(), "6": sys.argv[7].split()}
rnd = random.Random(seed)
DEV = {"A": "upa", "B": "upb", "C": "upc"}
GW = {"4": {"A": "10.0.1.2", "B": "10.0.2.2", "C": "10.0.3.2"},
      "6": {"A": "2001:db8:a::2", "B": "2001:db8:b::2", "C": "2001:db8:c::2"}}
DST = {"4": "198.51.100.1", "6": "2001:db8:ffff::1"}
DPORT = 5000
# name: (priority, from, sport range, table); R0 is the topology's rule, present at the start.
RULES = {
    "4": {"R0": (100, "10.1.0.0/24", None, 100), "R1": (50, "10.1.0.3/32", None, 101),
          "R2": (60, "10.1.0.4/31", None, 101), "R3": (200, "10.1.0.0/25", None, 101),
          "R4": (70, None, (31000, 31003), 100)},
    "6": {"R0": (100, "2001:db8:1::/64", None, 100), "R1": (50, "2001:db8:1::3/128", None, 101),
          "R2": (60, "2001:db8:1::4/127", None, 101), "R3": (200, "2001:db8:1::/65", None, 101),
          "R4": (70, None, (31000, 31003), 100)},
}
CHOICES = ["A", "B", "C", "AB", "BC", "AC", "ABC"]
# Table 101 may also lose its default route ("-"): its lookups then fall through to the next rule.
CHOICES_101 = CHOICES + ["-"]

FLOWS = {f: flows_of(flowspec[f]) for f in fams}
state = {f: {"rules": {"R0"}, "t100": "B", "t101": "C"} for f in fams}

def rule_args(f, name):
    prio, frm, sport, table = RULES[f][name]
    a = ["priority", str(prio)]
    if frm:
        a += ["from", frm]
    if sport:
        a += ["ipproto", "udp", "sport", "%d-%d" % sport]
    return a + ["table", str(table)]

def route_args(f, table, choice):
    if choice == "-":
        return ["default", "table", str(table)]
    if len(choice) == 1:
        return ["default", "via", GW[f][choice], "table", str(table)]
    a = ["default", "table", str(table)]
    for c in choice:
        a += ["nexthop", "via", GW[f][c], "dev", DEV[c]]
    return a

def model(f):
    """Per flow: the set of uplinks the kernel may use."""
    st = state[f]
    rules = sorted(RULES[f][n] for n in st["rules"])
    res = []
    for src, sport in FLOWS[f]:
        choice = "A"     # main (rule 32766): default via A, always there
        for prio, frm, sp, t in rules:
            if frm and ipaddress.ip_address(src) not in ipaddress.ip_network(frm):
                continue
            if sp and not sp[0] <= sport <= sp[1]:
                continue
            if st["t%d" % t] == "-":
                continue    # no route in that table: the next rule
            choice = st["t%d" % t]
            break
        res.append(" ".join(sorted(DEV[c] for c in choice)))
    return res

def ip(f, args, inp=None):
    return subprocess.run(["ip", "-n", ns, "-" + f] + args, input=inp, capture_output=True,
                          text=True)

def kernel_check(f, sets):
    """The kernel's view of this state: the tables' default routes and `ip route get` per flow.
    Returns (per-flow devices, list of disagreements with the model)."""
    bad = []
    st = state[f]
    for table in (100, 101):
        r = ip(f, ["-j", "route", "show", "table", str(table), "default"])
        try:
            routes = json.loads(r.stdout or "[]")
        except ValueError:
            routes = []
        devs = []
        for rt in routes:
            if "nexthops" in rt:
                devs += [nh.get("dev") for nh in rt["nexthops"]]
            else:
                devs.append(rt.get("dev"))
        want = sorted(DEV[c] for c in st["t%d" % table] if c != "-")
        if sorted(devs) != want:
            bad.append("table %d default: kernel %s, model %s" % (table, devs, want))
    lines = "".join("route get %s from %s iif cli ipproto udp sport %d dport %d\n" %
                    (DST[f], src, sport, DPORT) for src, sport in FLOWS[f])
    r = ip(f, ["-batch", "-"], lines)
    devs = re.findall(r"^\S+ from \S+ .*?\bdev (\S+)", r.stdout, re.M)
    if len(devs) != len(FLOWS[f]):
        bad.append("route get: %d answers for %d flows (%s)" % (len(devs), len(FLOWS[f]),
                   (r.stderr or r.stdout)[:200].replace("\n", " ")))
        devs = (devs + ["?"] * len(FLOWS[f]))[:len(FLOWS[f])]
    for k, (dev, allowed) in enumerate(zip(devs, sets)):
        if dev not in allowed.split():
            bad.append("flow %d %s:%d: kernel says %s, model %s" % (k, FLOWS[f][k][0],
                       FLOWS[f][k][1], dev, allowed))
    return devs, bad

fo = open(out, "w", buffering=1)
kern = {}
def record(i, t0, t1, f, cmd):
    """One state: the model for every family, the kernel's word on the family that changed."""
    sets = {g: model(g) for g in fams}
    bad = []
    for g in fams:
        if g == f or g not in kern:
            kern[g], b = kernel_check(g, sets[g])
            bad += ["IPv%s %s" % (g, x) for x in b]
    fo.write(json.dumps({"i": i, "t0": t0, "t1": t1, "fam": f, "cmd": cmd, "sets": sets,
                         "kernel": kern, "bad": bad}) + "\n")

t = time.time()
record(0, t, t, "", "initial state")
end = time.monotonic() + secs
i = 0
failed = 0
while time.monotonic() < end:
    time.sleep(rnd.uniform(0.08, 0.3))
    if time.monotonic() >= end:
        break
    f = rnd.choice(list(fams))
    st = state[f]
    what = rnd.random()
    if what < 0.4:
        name = rnd.choice(sorted(RULES[f]))
        if name in st["rules"]:
            args, op = ["rule", "del"] + rule_args(f, name), "discard"
        else:
            args, op = ["rule", "add"] + rule_args(f, name), "add"
        getattr(st["rules"], op)(name)
    else:
        table = rnd.choice((100, 101))
        choice = rnd.choice([c for c in (CHOICES if table == 100 else CHOICES_101)
                             if c != st["t%d" % table]])
        args = ["route", "del" if choice == "-" else "replace"] + route_args(f, table, choice)
        st["t%d" % table] = choice
    i += 1
    t0 = time.time()
    r = ip(f, args)
    t1 = time.time()
    cmd = "ip -%s %s" % (f, " ".join(args))
    if r.returncode:
        failed += 1
        cmd += " FAILED: " + r.stderr.strip()
    record(i, t0, t1, f, cmd)
fo.close()
print("changes=%d (%.1f/s) failed=%d" % (i, i / secs, failed))
sys.exit(1 if failed else 0)
EOF

# ---- run: traffic first, then the churn, then let the traffic run out ------------------------
declare -A SEND_PIDS=()
s0=$(st_stats)
for f in 4 6; do
	[[ $FAMS == *$f* ]] || continue
	# shellcheck disable=SC2086 # the flow list
	lt_send_start "$f" "${ST_INTERNET[$f]}" 5000 "$RATE" "$((SECS + 2))" "churn$f" ${FLOWS[$f]}
	SEND_PIDS[$f]=$LT_SEND_PID
done
sleep 0.5
if [[ ${CHURN_SABOTAGE:-0} == 1 ]]; then
	st_note "CHURN_SABOTAGE=1: steerd will be frozen (SIGSTOP) from $((SECS / 2)) s on: checks must fail"
	(sleep "$((SECS / 2))"; kill -STOP "$ST_STEERD_PID"; sleep "$((SECS / 2 + 1))"; kill -CONT "$ST_STEERD_PID") &
fi
drv_rc=0
drv_out=$("$ST_PY" "$ST_TMP/churn.py" "$NS_ROUTER" "$SECS" "$SEED" "$ST_TMP/changes" "$FAMS" \
	"${FLOWS[4]:-}" "${FLOWS[6]:-}" 2>&1) || drv_rc=$?
st_check "churn driver: every change applied ($drv_out)" test "$drv_rc" -eq 0
st_check "steerd still running after the churn" st_steerd_alive
for f in 4 6; do
	[[ $FAMS == *$f* ]] || continue
	LT_SEND_PID=${SEND_PIDS[$f]}
	lt_send_wait "churn$f"
done
lt_recv_settle
s1=$(st_stats)
st_note "counters over the run: $(st_stats_delta "$s0" "$s1")"
st_note "agent: $(st_steerctl -j status 2>/dev/null | "$ST_PY" -c 'import json,sys; a=json.load(sys.stdin)["agent"]; print(" ".join("%s=%s" % kv for kv in a.items()))' 2>/dev/null || echo '?')"

bad=$("$ST_PY" -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    for b in json.loads(line)["bad"]:
        n += 1
        if n <= 10:
            print("#   state %s: %s" % (json.loads(line)["i"], b))
print("# model-vs-kernel disagreements: %d" % n)' "$ST_TMP/changes")
echo "$bad"
st_check "the driver's model of every state agrees with the kernel (ip route show, ip route get)" \
	test "${bad##*: }" = 0

# ---- per packet, against the states --------------------------------------------------------
mapfile -t RECV_FILES < <(lt_recv_files)
for f in 4 6; do
	[[ $FAMS == *$f* ]] || continue
	res=$(lt_py - "$f" "churn$f" "$ST_TMP/lt-send-churn$f" "$ST_TMP/changes" "$STABLE_MS" \
		"${RECV_FILES[@]}" <<'EOF'
import bisect, json, sys
from lttraffic import arrivals, sent_log
fam, tag, sendlog, changes, stable = sys.argv[1], sys.argv[2].ljust(8, ".")[:8], sys.argv[3], sys.argv[4], float(sys.argv[5]) / 1000
states = [json.loads(l) for l in open(changes)]
sets = [[set(s.split()) for s in st["sets"][fam]] for st in states]
mids = [(st["t0"] + st["t1"]) / 2 for st in states]
sent = {seq: (flow, t) for seq, flow, t in sent_log(sendlog)}
got, ttl = arrivals(tag, sys.argv[6:])
lost = [s for s in sent if s not in got]
dup = [s for s, d in got.items() if len(d) > 1]
wrong, examples = 0, []
unstable, spread = 0, {}
lag = 0.0
n_checked = n_stable = 0
starts = [st["t0"] for st in states]
for seq in sorted(sent):
    flow, t = sent[seq]
    if seq not in got:
        continue
    dev = got[seq][0]
    # The nearest change (state k replaced state k-1 at mids[k]); before the first change,
    # the initial state.
    k = bisect.bisect_left(mids, t)
    if k >= len(mids):
        k = len(mids) - 1
    elif k > 0 and t - mids[k - 1] < mids[k] - t:
        k -= 1
    allowed = sets[k][flow] | (sets[k - 1][flow] if k > 0 else set())
    n_checked += 1
    if dev not in allowed:
        wrong += 1
        if len(examples) < 8:
            cur = max(0, bisect.bisect_right(starts, t) - 1)
            examples.append("seq %d flow %d at %+.1f ms from change %d (%s): arrived %s, before %s after %s; "
                            "state in force since %+.1f ms: %s" % (
                seq, flow, (t - mids[k]) * 1000, k, states[k]["cmd"], dev,
                sorted(sets[k - 1][flow]) if k > 0 else [], sorted(sets[k][flow]),
                (t - states[cur]["t1"]) * 1000, sorted(sets[cur][flow])))
    # Stable: at least `stable` after the last change completed, before the next one started.
    cur = bisect.bisect_right(starts, t) - 1
    if cur >= 0 and t >= states[cur]["t1"] + stable and (cur + 1 >= len(states) or t < states[cur + 1]["t0"]):
        n_stable += 1
        if dev not in sets[cur][flow]:
            unstable += 1
        spread.setdefault((cur, flow), set()).add(dev)
    # How long after a change packets still took a way only the old state allows.
    if cur >= 1 and dev in sets[cur - 1][flow] and dev not in sets[cur][flow]:
        lag = max(lag, t - states[cur]["t1"])
split = sum(1 for v in spread.values() if len(v) > 1)
split_ex = ["state %d flow %d: %s (%s)" % (k[0], k[1], ",".join(sorted(v)), states[k[0]]["cmd"])
            for k, v in list((k, v) for k, v in spread.items() if len(v) > 1)[:5]]
print("sent=%d lost=%d dup=%d ttl=%s" % (len(sent), len(lost), len(dup),
      ",".join("%s:%d" % kv for kv in sorted(ttl.items())) or "none"))
print("checked=%d wrong=%d stable=%d unstable=%d split=%d changes=%d lag_ms=%.1f" % (
      n_checked, wrong, n_stable, unstable, split, len(states) - 1, lag * 1000))
for e in examples:
    print("example " + e)
for e in split_ex:
    print("split " + e)
if lost:
    print("lost_seqs " + ",".join(map(str, sorted(lost)[:20])))
EOF
	) || res="analysis failed"
	printf '# IPv%s: %s\n' "$f" "${res//$'\n'/$'\n'# IPv$f: }"
	declare -A R=()
	while IFS= read -r line; do
		[[ $line == example* || $line == split\ * || $line == lost_seqs* ]] && continue
		for kv in $line; do R[${kv%%=*}]=${kv#*=}; done
	done <<<"$res"
	st_check "IPv$f: every one of ${R[sent]:-?} packets arrived exactly once (lost=${R[lost]:-?} dup=${R[dup]:-?})" \
		test "${R[sent]:-0}" -gt 0 -a "${R[lost]:-x}" = 0 -a "${R[dup]:-x}" = 0
	st_check "IPv$f: all with TTL/hop limit 63 (ttl:count ${R[ttl]:-?})" test "${R[ttl]:-}" = "63:${R[sent]:-}"
	st_check "IPv$f: every packet arrived at an uplink the state before or after the nearest of ${R[changes]:-?} changes allows for its flow (checked ${R[checked]:-?}, wrong ${R[wrong]:-?})" \
		test "${R[wrong]:-x}" = 0 -a "${R[checked]:-0}" -gt 0
	st_check "IPv$f: away from changes (>= $STABLE_MS ms after one) every packet took an uplink of the current state (${R[stable]:-?} packets, ${R[unstable]:-?} not)" \
		test "${R[unstable]:-x}" = 0 -a "${R[stable]:-0}" -gt 0
	st_check "IPv$f: away from changes each flow kept to one uplink (flows split: ${R[split]:-?})" \
		test "${R[split]:-x}" = 0
	st_note "IPv$f: latest packet on a way only the previous state allowed: ${R[lag_ms]:-?} ms after the change"
	unset R
done

mr=$(st_stat_of "$s1" punt_missing_ref)
st_check "punt_missing_ref is 0 (no packet met a reference to a missing entry): $mr" test "$mr" = 0
fwd=$(($(st_stat_of "$s1" forwarded) - $(st_stat_of "$s0" forwarded)))
st_check "the fast path forwarded under churn (forwarded +$fwd)" test "$fwd" -gt 0
st_check "steerd still running at the end" st_steerd_alive
lt_verify
st_stop_steerd
st_finish
