#!/usr/bin/env bash
# Least privilege: steerd loads, attaches and syncs with only CAP_BPF and CAP_NET_ADMIN, and
# without either it refuses at once, saying which capability is missing; so does the XDP
# stage. (CAP_PERFMON is optional: without it the kernel hardens the programs against
# Spectre, which steerd notes; conntrack offload needs it, and without it steerd says so.)
set -euo pipefail
STEERD=${STEERD:-build/agent/steerd}
STEERCTL=${STEERCTL:-build/tools/steerctl/steerctl}
NS=st$$-priv
PIN=/sys/fs/bpf/steer-test-$$
LOG=$(mktemp)
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; }
cleanup() {
	pkill -f -- "--pin-dir $PIN" 2>/dev/null || true
	"$STEERD" --cleanup --pin-dir "$PIN" >/dev/null 2>&1 || true
	rm -rf "$PIN" "$LOG"
	ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add priv0 type veth peer name priv1
ip -n "$NS" link set priv0 up
ip -n "$NS" link set priv1 up

caps=-all,+bpf,+net_admin
# run_until TEST STEERD-ARGS...: steerd with only CAP_BPF and CAP_NET_ADMIN, then wait (5 s at
# most) until TEST, a Python expression on steerctl's status `s`, holds.
run_until() {
	local test=$1
	shift
	nsenter --net=/run/netns/"$NS" setpriv --inh-caps=-all --bounding-set="$caps" \
		"$STEERD" --pin-dir "$PIN" --config /dev/null "$@" >"$LOG" 2>&1 &
	for _ in $(seq 50); do
		if nsenter --net=/run/netns/"$NS" "$STEERCTL" --pin-dir "$PIN" -j status 2>/dev/null |
			python3 -c "import json,sys; s = json.load(sys.stdin); sys.exit(0 if $test else 1)" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

if run_until 's["synced"]' --attach priv0; then ok "synced with only CAP_BPF and CAP_NET_ADMIN"; else not_ok "synced with only CAP_BPF and CAP_NET_ADMIN"; cat "$LOG"; fi
if [[ -e $PIN/tcx-ingress-priv0 ]]; then ok "attached to priv0 with them"; else not_ok "attached to priv0 with them"; cat "$LOG"; fi
# Pins are steerd's alone: the directory 0700, every pin without group or other bits.
dmode=$(stat -c %a "$PIN")
open_pins=$(find "$PIN" -mindepth 1 -perm /077 -printf '%f(%m) ' 2>/dev/null)
npins=$(find "$PIN" -mindepth 1 | wc -l)
if [[ $dmode == 700 && -z $open_pins && $npins -gt 10 ]]; then
	ok "pin directory 0700 and its $npins pins private"
else
	not_ok "pin directory 0700 (is $dmode) and its $npins pins private (open: ${open_pins:-none})"
fi
if grep -q "CAP_PERFMON" "$LOG"; then ok "says what running without CAP_PERFMON costs"; else not_ok "says what running without CAP_PERFMON costs"; cat "$LOG"; fi
pkill -f -- "--pin-dir $PIN" || true
sleep 0.3

# Conntrack offload reads conntrack's entries, which takes CAP_PERFMON: without it steerd
# says so, names it, and runs the plain program, which respects the ruleset.
if run_until 's["synced"] and s["netfilter"]["mode"] == "respect"' --attach priv0 --netfilter offload &&
	grep -q "program-failed.*offload.*CAP_PERFMON\|offload.*CAP_PERFMON.*respected" "$LOG"; then
	ok "offload without CAP_PERFMON: names it and respects the ruleset"
else
	not_ok "offload without CAP_PERFMON: names it and respects the ruleset"
	cat "$LOG"
fi
pkill -f -- "--pin-dir $PIN" || true
sleep 0.3

# The XDP stage with the same two: its program loads (no packet pointer compared with NULL
# or subtracted, which the kernel allows only with CAP_PERFMON) and sits in front of TC.
if run_until 's["synced"] and s["attached_xdp"] == ["priv0"]' --attach priv0 --attach-mode xdp; then ok "the XDP stage loads and attaches with only CAP_BPF and CAP_NET_ADMIN"; else not_ok "the XDP stage loads and attaches with only CAP_BPF and CAP_NET_ADMIN"; cat "$LOG"; fi
pkill -f -- "--pin-dir $PIN" || true
sleep 0.3
"$STEERD" --cleanup --pin-dir "$PIN" >/dev/null 2>&1 || true

for drop in bpf net_admin; do
	set +e
	out=$(nsenter --net=/run/netns/"$NS" setpriv --inh-caps=-all --bounding-set="$caps,-$drop" \
		timeout 5 "$STEERD" --pin-dir "$PIN" 2>&1)
	rc=$?
	set -e
	want="CAP_$(echo "$drop" | tr a-z A-Z)"
	if [[ $rc == 1 && $out == *"needs $want"* ]]; then
		ok "without $want: refuses at once and names it"
	else
		not_ok "without $want: refuses at once and names it (rc $rc: $out)"
	fi
done
echo "1..$n"
exit $fail
