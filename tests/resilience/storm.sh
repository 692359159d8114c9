#!/usr/bin/env bash
# Netlink overrun storm: steerd with the smallest receive buffer it accepts (--netlink-rcvbuf
# 4096) while iproute2 makes ~50,000 route and rule changes in bursts (IPv4 and IPv6 at once,
# tables 100-104). The kernel drops notifications (ENOBUFS); steerd must notice, re-dump and
# sweep, and once it is idle the pinned maps must say exactly what the kernel holds:
# `steerd --verify` compares the whole image entry by entry. The agent's "overruns" counter
# proves the storm really overran the socket. Traffic still follows the kernel afterwards.
# Usage: tests/resilience/storm.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

ROUTES=${STORM_ROUTES:-5000}   # per family in the first wave (and again in the second)
RULES=${STORM_RULES:-1000}     # per family
RCVBUF=${STORM_RCVBUF:-4096}   # steerd's --netlink-rcvbuf: the smallest it accepts

st_init
command -v bpftool >/dev/null || st_die "bpftool installed (reads the agent's counters)"
st_note "storm: topology $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB}, pins in $PIN_DIR"
st_topology 46
st_start_steerd_with 100 --netlink-rcvbuf "$RCVBUF"
a0=$(st_agent_stats)
st_note "agent counters before the storm: $a0"

# The bursts, as `ip -batch` files per family: burst N is $ST_TMP/burst-N.{4,6}.
# IPv4 routes 10.128.0.0/24 ..., IPv6 2001:db8:1000::/64 ..., spread over tables 100-104, via
# uplink A or B; rules `from` one address each (disjoint: every rule list stays short), priority
# 1000 and up, looking up tables 100-104.
"$ST_PY" - "$ST_TMP" "$ROUTES" "$RULES" <<'EOF'
import sys
tmp, n, r = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def pfx(fam, i):
    if fam == 4:
        return "10.%d.%d.0/24" % (128 + i // 256, i % 256)
    return "2001:db8:%x:%x::/64" % (0x1000 + i // 256, i % 256)
def gw(fam, k):
    return ("10.0.1.2", "10.0.2.2")[k % 2] if fam == 4 else ("2001:db8:a::2", "2001:db8:b::2")[k % 2]
def src(fam, i):
    if fam == 4:
        return "100.64.%d.%d/32" % (i // 256, i % 256)
    return "2001:db8:f000::%x/128" % (i + 1)
def route(fam, verb, i, k=0):
    s = "route %s %s table %d" % (verb, pfx(fam, i), 100 + i % 5)
    return s if verb == "del" else s + " via " + gw(fam, i + k)
def rule(fam, verb, i):
    return "rule %s from %s lookup %d priority %d" % (verb, src(fam, i), 100 + i % 5, 1000 + i)
bursts = [
    # 1. the first wave of routes
    lambda f: [route(f, "add", i) for i in range(n)],
    # 2. rules
    lambda f: [rule(f, "add", i) for i in range(r)],
    # 3. replace half the routes (the other uplink)
    lambda f: [route(f, "replace", i, 1) for i in range(0, n, 2)],
    # 4. delete a third
    lambda f: [route(f, "del", i) for i in range(0, n, 3)],
    # 5. replace what is left (back to the first uplink), delete half the rules, add others
    lambda f: [route(f, "replace", i, 0) for i in range(n) if i % 3] +
              [rule(f, "del", i) for i in range(0, r, 2)] +
              [rule(f, "add", i) for i in range(r, r + r // 2)],
    # 6. the second wave of routes, interleaved with rule churn
    lambda f: [x for i in range(n, 2 * n)
               for x in [route(f, "add", i)] + ([rule(f, "del", r + i - n)] if i - n < r // 2 else [])],
    # 7. delete half of the second wave, replace the other half
    lambda f: [route(f, "del" if i % 2 else "replace", i, 1) for i in range(n, 2 * n)],
    # 8. rules back
    lambda f: [rule(f, "add", i) for i in range(0, r, 2)],
]
total = 0
for b, make in enumerate(bursts, 1):
    for f in (4, 6):
        lines = make(f)
        total += len(lines)
        with open("%s/burst-%d.%d" % (tmp, b, f), "w") as out:
            out.write("\n".join(lines) + "\n")
print(total, file=open(tmp + "/total", "w"))
EOF
total=$(cat "$ST_TMP/total")
nbursts=$(find "$ST_TMP" -name "burst-*.4" | wc -l)
st_note "storm: $total route/rule changes in $nbursts bursts (IPv4 and IPv6 files run at once)"

t0=$(st_now)
failed=
for ((b = 1; b <= nbursts; b++)); do
	ip -n "$NS_ROUTER" -4 -batch "$ST_TMP/burst-$b.4" >"$ST_TMP/ip-$b.4" 2>&1 &
	p4=$!
	ip -n "$NS_ROUTER" -6 -batch "$ST_TMP/burst-$b.6" >"$ST_TMP/ip-$b.6" 2>&1 &
	p6=$!
	wait "$p4" || failed+=" $b.4: $(head -3 "$ST_TMP/ip-$b.4" | tr '\n' ' ')"
	wait "$p6" || failed+=" $b.6: $(head -3 "$ST_TMP/ip-$b.6" | tr '\n' ' ')"
	# A short pause: steerd's re-dumps then race the next burst (dumps get interrupted).
	sleep 0.1
done
storm_ms=$(st_ms_since "$t0")
st_check "iproute2 made all $total changes in $storm_ms ms${failed:+ (failed:$failed)}" test -z "$failed"
st_check "steerd survived the storm" st_steerd_alive

k4=$(ip -n "$NS_ROUTER" -4 route show table all | wc -l)
k6=$(ip -n "$NS_ROUTER" -6 route show table all | wc -l)
r4=$(ip -n "$NS_ROUTER" -4 rule show | wc -l)
r6=$(ip -n "$NS_ROUTER" -6 rule show | wc -l)
st_note "the kernel now holds $k4 IPv4 and $k6 IPv6 routes (all tables), $r4 + $r6 rules"

t1=$(st_now)
idle=0
st_wait_idle 1500 40 || idle=$?
st_check "steerd went idle after the storm ($(st_ms_since "$t1") ms; generation $(st_generation))" \
	test "$idle" -eq 0
a1=$(st_agent_stats)
st_note "agent counters after the storm: $a1"

vrc=0
st_verify || vrc=$?
st_check "steerd --verify: the pinned maps say what the kernel holds (exit $vrc: $ST_VERIFY_OUT)" \
	test "$vrc" -eq 0
if ((vrc != 0)); then
	while IFS= read -r line; do st_note "verify: $line"; done <<<"$ST_VERIFY_DETAIL"
	# Was it only late? Give it one more idle period and say what a second look finds.
	st_wait_idle 1500 15 || true
	vrc2=0
	st_verify || vrc2=$?
	st_note "a second steerd --verify $(st_ms_since "$t1") ms after the storm: exit $vrc2: $ST_VERIFY_OUT"
	st_note "agent counters then: $(st_agent_stats)"
fi

overruns=$(st_stat_of "$a1" overruns)
st_check "the storm overran steerd's netlink socket (overruns=$overruns > 0)" test "$overruns" -gt 0
st_note "netlink_messages=$(st_stat_of "$a1" netlink_messages) resyncs=$(st_stat_of "$a1" resyncs)" \
	"dump_restarts=$(st_stat_of "$a1" dump_restarts) swept=$(st_stat_of "$a1" swept)" \
	"applies=$(st_stat_of "$a1" applies) apply_failures=$(st_stat_of "$a1" apply_failures)" \
	"overflow_punts=$(st_stat_of "$a1" overflow_punts)"
st_check "no map write failed and nothing was left out for capacity" \
	test "$(st_stat_of "$a1" apply_failures)" -eq 0 -a "$(st_stat_of "$a1" overflow_punts)" -eq 0
st_check "steerd logged the overrun" grep -qi 'overrun\|ENOBUFS\|No buffer space\|events were lost' \
	"$ST_STEERD_LOG"

# The rule from the client's net (priority 100) still decides: table 100's default, uplink B.
st_expect_path 4 20 "IPv4 after the storm" fast upb
st_expect_path 6 20 "IPv6 after the storm" fast upb

# And steerd still follows the kernel: a steerd that stopped applying while its heartbeat goes
# on would keep forwarding by a picture the kernel no longer has.
st_change 4 "ip rule del from the client's net, after the storm" \
	st_ip -n "$NS_ROUTER" rule del from "${ST_CLIENT_NET[4]}" table 100 priority 100
st_expect_path 4 20 "IPv4 after ip rule del" fast upa
st_change 6 "ip -6 route replace default table 100, after the storm" \
	st_ip -n "$NS_ROUTER" -6 route replace default via 2001:db8:a::2 table 100
st_expect_path 6 20 "IPv6 after ip route replace" fast upa

if ((ST_FAILS > 0)); then
	# The log st_cleanup shows ends in thousands of overrun lines: the rest of it here.
	st_note "steerd's log without its overrun lines (last 40):"
	grep -v 'receive buffer overrun' "$ST_STEERD_LOG" | tail -n 40 | sed 's/^/#   /' || true
	# Is the kernel still running a dump for steerd (Dump 1), is anything queued (Rmem)?
	inodes=$(find "/proc/$ST_STEERD_PID/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null |
		tr -dc '0-9\n' | paste -sd '|') || true
	st_note "steerd's netlink socket in /proc/net/netlink:"
	# shellcheck disable=SC2016 # awk's $10
	ip netns exec "$NS_ROUTER" awk -v re="^(${inodes:-none})\$" 'NR == 1 || $10 ~ re' \
		/proc/net/netlink | sed 's/^/#   /' || true
fi

# Drift in every map is found, the VLAN map too (it once went unchecked): a sub-interface
# entry the kernel has no link for, written behind steerd's back.
bpftool map update pinned "$PIN_DIR/steer_vlans" key hex 01 00 00 00 2a 00 00 00 \
	value hex 63 00 00 00
vrc=0
st_verify || vrc=$?
st_check "steerd --verify finds a VLAN entry written behind its back (exit $vrc: $ST_VERIFY_OUT)" \
	test "$vrc" -eq 1
st_check "... and says it is a VLAN (${ST_VERIFY_DETAIL:-nothing said})" grep -q VLAN <<<"$ST_VERIFY_DETAIL"
bpftool map delete pinned "$PIN_DIR/steer_vlans" key hex 01 00 00 00 2a 00 00 00
st_stop_steerd
st_finish
