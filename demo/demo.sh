#!/usr/bin/env bash
# steer demo: Linux policy routing, mirrored by steerd into an eBPF fast path.
# Builds a small network out of network namespaces, starts steerd on the router, sends pings,
# and shows which uplink carried them and that the fast path (not the kernel) forwarded them;
# then changes the policy live with `ip rule del` and shows the traffic move.
#
# Usage: demo/demo.sh        (as root, after `meson setup build && meson compile -C build`)
#   STEERD=... STEERCTL=...  other binaries;  DEMO_PACKETS=N  pings per burst (default 100)
#   DEMO_V6=0                skip the IPv6 part
# Exits 0 when everything it claims happened, 1 otherwise. Leaves nothing behind, also on ^C.
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/lib.sh"

COUNT=${DEMO_PACKETS:-100}
DEMO_V6=${DEMO_V6:-1}
DEMO_FAILED=0

bold=; dim=; reset=
if [[ -t 1 ]]; then bold=$'\e[1m'; dim=$'\e[2m'; reset=$'\e[0m'; fi

say() { printf '%s\n' "$*"; }
step() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$reset"; }
claim() {
	if "${@:2}"; then
		say "  ✔ $1"
	else
		say "  ✘ $1 — DID NOT HAPPEN"
		DEMO_FAILED=1
	fi
}
# show_ip ARGS / show_ctl ARGS: run ip on the router / steerctl, showing the command first.
show_ip() {
	printf '%s  $ ip -n router %s%s\n' "$dim" "$*" "$reset"
	ip -n "$NS_ROUTER" "$@" 2>&1 | sed 's/^/    /' || true
}
show_ctl() {
	printf '%s  $ steerctl %s%s\n' "$dim" "$*" "$reset"
	st_steerctl "$@" 2>&1 | sed 's/^/    /' || true
}
# change ARGS: make a change on the router, showing the command.
change() {
	printf '%s  $ ip -n router %s%s\n' "$bold" "$*" "$reset"
	ip -n "$NS_ROUTER" "$@"
}

# burst FAMILY EXPECTED_UPLINK: send $COUNT pings and show where they went.
burst() {
	local fam=$1 want=$2 dev rx0 rx1 st0 st1 out a b fwd
	dev=$(st_route_dev "$fam")
	say "  The kernel's answer:  ip route get ${ST_INTERNET[$fam]} from ${ST_CLIENT_ADDR[$fam]}" \
		"iif $IF_CLIENT  ->  dev $bold$dev$reset"
	rx0=$(st_rx_counts)
	st0=$(st_stats)
	say "  Sending $COUNT pings from the client to ${ST_INTERNET[$fam]} ..."
	out=$(st_ping "$fam" "$COUNT") || true
	rx1=$(st_rx_counts)
	st1=$(st_stats)
	a=$(($(st_stat_of "$rx1" "$NS_SINKA") - $(st_stat_of "$rx0" "$NS_SINKA")))
	b=$(($(st_stat_of "$rx1" "$NS_SINKB") - $(st_stat_of "$rx0" "$NS_SINKB")))
	fwd=$(($(st_stat_of "$st1" forwarded) - $(st_stat_of "$st0" forwarded)))
	# shellcheck disable=SC2086 # "sent received ttls"
	set -- ${out:-$COUNT 0 none}
	say "  Replies received by the client:  $2 of $1 (reply TTLs ${3})"
	printf '  Packets that arrived at uplink A (sinka):  %5d\n' "$a"
	printf '  Packets that arrived at uplink B (sinkb):  %5d\n' "$b"
	printf '  Fast path "forwarded" counter grew by:     %5d\n' "$fwd"
	say "  steerctl's counters that moved: $(st_stats_delta "$st0" "$st1")"
	claim "the kernel itself would send them out $want" test "$dev" = "$want"
	claim "all $COUNT pings were answered" test "$2" = "$COUNT"
	if [[ $want == upa ]]; then
		claim "they went out uplink A, and (almost) nothing out uplink B" \
			test "$a" -ge "$COUNT" -a "$b" -lt 5
	else
		claim "they went out uplink B, and (almost) nothing out uplink A" \
			test "$b" -ge "$COUNT" -a "$a" -lt 5
	fi
	claim "the eBPF fast path forwarded them (not the kernel's slow path)" test "$fwd" -ge "$COUNT"
}

# follow FAMILY T0 GEN0: after a change made at T0, when steerd had applied it (a new map
# generation) and how long until traffic went where the kernel now says.
follow() {
	local fam=$1 t0=$2 g0=$3 g1 dev sink rx0 rx1 d ms
	while g1=$(st_generation); [[ -n $g0 && $g1 == "$g0" ]] && (($(st_ms_since "$t0") < 1000)); do
		sleep 0.002
	done
	ms=$(st_ms_since "$t0")
	if [[ $g1 != "$g0" ]]; then
		say "  steerd saw the change over rtnetlink and updated its maps after ${ms} ms" \
			"(generation $g0 -> $g1)."
	fi
	dev=$(st_route_dev "$fam")
	sink=${ST_SINK_OF[$dev]:-}
	if [[ -z $sink ]]; then
		claim "the kernel routes the client's traffic to an uplink (it says '$dev')" false
		return
	fi
	while :; do
		rx0=$(st_rx_counts)
		st_ping "$fam" 3 0.005 0.2 >/dev/null || true
		rx1=$(st_rx_counts)
		d=$(($(st_stat_of "$rx1" "$sink") - $(st_stat_of "$rx0" "$sink")))
		ms=$(st_ms_since "$t0")
		if ((d >= 3)); then
			say "  Traffic was on $dev ${ms} ms after the change (measured with 3-ping probes)."
			claim "the fast path followed the change within a second" test "$ms" -le 1000
			return
		fi
		((ms > 2000)) && { claim "the fast path followed the change" false; return; }
	done
}

ST_TAP=0
st_init
ST_FAMILIES=4
[[ $DEMO_V6 == 1 ]] && ST_FAMILIES=46

step "1. A small network, built from network namespaces"
cat <<EOF
            10.1.0.0/24                      10.0.1.0/30
  client ---------------- router --upa--------------- sinka   "uplink A" (main table)
  10.1.0.2       10.1.0.1   |  (cli)
                            +--upb--------------- sinkb   "uplink B" (table 100)
                                     10.0.2.0/30

  Both sinks answer for 198.51.100.1, "the internet", so a ping to it is answered by
  whichever uplink the router picks. (The namespaces are really named 'st<pid>-router' etc.)
  The router's policy, in plain iproute2:
EOF
st_topology "$ST_FAMILIES"
show_ip route show table main
show_ip route show table 100
show_ip rule show
say "  So the client's traffic (from 10.1.0.0/24) should use table 100 -> uplink B."

step "2. Start steerd on the router's client-facing interface"
say "  steerd reads links, addresses, neighbours, routes and rules over rtnetlink and"
say "  compiles them into BPF maps; a TC program on 'cli' forwards packets by them."
say "  $ steerd --attach $IF_CLIENT --pin-dir $PIN_DIR   (log: $ST_STEERD_LOG)"
st_start_steerd
say "  steerd is running (pid $ST_STEERD_PID) and has synced its first full view."
show_ctl status
show_ctl rules
say "  (steerctl rules shows, per source prefix, every rule that can match it, in priority"
say "   order: the fast path finds the list with one lookup instead of walking all rules.)"

step "3. Send traffic: the rule sends it out uplink B, through the fast path"
burst 4 upb
printf '%s  $ steerctl stats   %s(only the counters that are not 0)\n' "$dim" "$reset"
st_steerctl stats | awk '$2 != 0' | sed 's/^/    /'

step "4. Change the policy live: delete the rule"
g0=$(st_generation)
t0=$(st_now)
change rule del from 10.1.0.0/24 table 100 priority 100
follow 4 "$t0" "$g0"
say "  Without the rule, the client's traffic falls through to the main table -> uplink A."
burst 4 upa
printf '%s  $ steerctl stats   %s(only the counters that are not 0)\n' "$dim" "$reset"
st_steerctl stats | awk '$2 != 0' | sed 's/^/    /'

if [[ $DEMO_V6 == 1 ]]; then
	step "5. The same for IPv6 (2001:db8:1::/64 -> table 100 -> uplink B, then rule deleted)"
	show_ip -6 rule show
	burst 6 upb
	g0=$(st_generation)
	t0=$(st_now)
	change -6 rule del from 2001:db8:1::/64 table 100 priority 100
	follow 6 "$t0" "$g0"
	burst 6 upa
fi

step "The counters as JSON, for scripts and monitoring"
printf '%s  $ steerctl -j stats%s\n' "$dim" "$reset"
st_steerctl -j stats | sed 's/^/    /'
echo

step "Summary"
if [[ $DEMO_FAILED == 0 ]]; then
	say "  Everything above happened as claimed. Cleaning up (namespaces, pins)."
else
	say "  Some claims above did NOT hold (marked ✘); steerd's log follows. Cleaning up."
	# shellcheck disable=SC2034 # read by st_cleanup: dump steerd's log
	ST_FAILS=1
fi
exit "$DEMO_FAILED"
