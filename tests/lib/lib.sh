# shellcheck shell=bash
# Shared helpers for steer's shell tests (tests/*/*.sh) and demo/demo.sh:
# the client/router/uplinks topology, steerd's lifecycle, traffic with a tiny python3 pinger
# (no ping binary needed), and checks that packets arrive where `ip route get` says; for the
# policy tests also tagged UDP/TCP/ICMP packets with chosen tos and ports, recorders in the
# sinks, and rule/route setups that are undone between checks (st_flow, st_policy).
#
# Source it after `set -euo pipefail`, then call st_init. Everything made here (namespaces,
# pin dir, temp files, processes) is removed by st_cleanup, which st_init traps on EXIT.
#
# Environment:
#   STEERD, STEERCTL   binaries (default: the meson build dir of this checkout)
#   ST_KERNEL_ONLY=1   do not start steerd: checks the topology and the kernel alone, and
#                      skips the fast-path checks (to tell a harness problem from a steer one)
#   ST_RP_FILTER       rp_filter on the router (default 0; 2 works too; with 1 the kernel itself
#                      drops the client's ARP, since `from 10.1.0.0/24 lookup 100` also covers
#                      the router's own 10.1.0.1 and its reverse path then points to uplink B)
#   ST_VERBOSE=1       print every ip command the helpers run
#   ST_BUDGET          ms allowed for traffic to follow a routing change (default 1000)
#   ST_XDP=1           steerd with --attach-mode xdp, and GRO on every veth peer (a veth takes
#                      redirected XDP frames only then); forwards and drops count both stages

# The suite libraries (lib-config.sh, lib-traffic.sh, ...) source this file themselves: once is
# enough.
[[ -z ${ST_LIB_SOURCED:-} ]] || return 0
ST_LIB_SOURCED=1
ST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STEERD=${STEERD:-$ST_ROOT/build/agent/steerd}
STEERCTL=${STEERCTL:-$ST_ROOT/build/tools/steerctl/steerctl}
ST_KERNEL_ONLY=${ST_KERNEL_ONLY:-0}
ST_RP_FILTER=${ST_RP_FILTER:-0}
ST_VERBOSE=${ST_VERBOSE:-0}
ST_BUDGET=${ST_BUDGET:-1000}   # ms for the fast path to follow a routing change
ST_XDP=${ST_XDP:-0}

NS_CLIENT=st$$-client
NS_ROUTER=st$$-router
NS_SINKA=st$$-sinka
NS_SINKB=st$$-sinkb
NS_SINKC=st$$-sinkc
PIN_DIR=/sys/fs/bpf/steer-test-$$

# Router-side interface names; every other namespace calls its end eth0.
IF_CLIENT=cli
declare -A ST_SINK_OF=([upa]=$NS_SINKA [upb]=$NS_SINKB [upc]=$NS_SINKC)
declare -A ST_UPLINK_OF=([$NS_SINKA]=upa [$NS_SINKB]=upb [$NS_SINKC]=upc)

# Addresses, by family.
declare -A ST_CLIENT_NET=([4]=10.1.0.0/24 [6]=2001:db8:1::/64)
declare -A ST_CLIENT_ADDR=([4]=10.1.0.2 [6]=2001:db8:1::2)
declare -A ST_INTERNET=([4]=198.51.100.1 [6]=2001:db8:ffff::1)

ST_PASSES=0
ST_FAILS=0
ST_SKIPS=0
ST_TAP=${ST_TAP:-1}  # 0: no TAP plan line at exit (the demo)
ST_NAMESPACES=()
ST_STEERD_PID=
ST_STEERD_LOG=
ST_TMP=
ST_CLEANED=
ST_SINKS=()          # sink namespaces that exist, for the per-uplink counts
ST_SNIFF_PIDS=()
ST_CAPTURE_PIDS=()   # st_capture_start's per-sink packet recorders
ST_UNDO=()           # st_policy_add's commands, undone by st_policy_reset
ST_TAG_SEQ=0
ST_TAG=
ST_FAMILIES=46       # set by st_topology: "4", "6" or "46"

# ---- output ---------------------------------------------------------------------------------

st_note() { printf '# %s\n' "$*"; }
# A description quoting a command's output may span lines; TAP takes one.
st_ok() { local d="$*"; ST_PASSES=$((ST_PASSES + 1)); printf 'ok - %s\n' "${d//$'\n'/ | }"; }
st_not_ok() { local d="$*"; ST_FAILS=$((ST_FAILS + 1)); printf 'not ok - %s\n' "${d//$'\n'/ | }"; }
st_skip() { local d="$*"; ST_SKIPS=$((ST_SKIPS + 1)); printf 'ok - %s # SKIP\n' "${d//$'\n'/ | }"; }
# st_check DESC CMD...: ok when CMD succeeds.
st_check() {
	local desc=$1; shift
	if "$@"; then st_ok "$desc"; else st_not_ok "$desc"; fi
}
st_die() { st_not_ok "$*"; exit 1; }

# st_steerd_needed WHAT: a test of WHAT (steerd itself, its configuration file) has nothing to
# check with ST_KERNEL_ONLY=1: it fails at once and says so.
st_steerd_needed() {
	[[ $ST_KERNEL_ONLY == 1 ]] || return 0
	echo "not ok - ${0##*/} tests $1; ST_KERNEL_ONLY=1 makes no sense here"
	echo "1..1"
	exit 1
}

# Run an ip(8) command, echoing it when verbose. Failures abort the test (set -e).
st_ip() {
	[[ $ST_VERBOSE == 1 ]] && printf '+ ip %s\n' "$*" >&2
	ip "$@"
}

st_now() { printf '%s' "$EPOCHREALTIME"; }
# st_ms_since T0: whole milliseconds elapsed since an $EPOCHREALTIME value.
st_ms_since() {
	local now=$EPOCHREALTIME
	local a=${1//[.,]/} b=${now//[.,]/}	# the separator follows the locale
	printf '%d' $(((10#$b - 10#$a) / 1000))
}

# ---- lifecycle ------------------------------------------------------------------------------

st_init() {
	# A test that cannot run has failed: it proves nothing.
	if [[ $EUID -ne 0 ]]; then
		echo "not ok - needs root (network namespaces, BPF)"
		exit 1
	fi
	trap st_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	local tool
	for tool in ip nsenter python3 mountpoint sysctl; do
		command -v "$tool" >/dev/null || { trap - EXIT; echo "not ok - $tool not installed"; exit 1; }
	done
	if [[ $ST_KERNEL_ONLY != 1 ]]; then
		[[ -x $STEERD ]] || st_die "steerd binary at $STEERD (set STEERD=)"
		[[ -x $STEERCTL ]] || st_die "steerctl binary at $STEERCTL (set STEERCTL=)"
	fi
	# steerd pins under /sys/fs/bpf; a minimal system may not have bpffs mounted yet.
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf || st_die "mount bpffs on /sys/fs/bpf"
		st_note "mounted bpffs on /sys/fs/bpf (left mounted)"
	fi
	# The real interpreter, not a version-manager shim: it starts several times per check.
	ST_PY=$(python3 -c 'import sys; print(sys.executable)')
	ST_TMP=$(mktemp -d /tmp/steer-test-$$.XXXXXX)
	ST_STEERD_LOG=$ST_TMP/steerd.log
	st_write_tool
}

st_cleanup() {
	local rc=$?
	[[ -n $ST_CLEANED ]] && return
	ST_CLEANED=1
	set +e
	trap - INT TERM
	local pid
	for pid in "${ST_SNIFF_PIDS[@]}" "${ST_CAPTURE_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${ST_SNIFF_PIDS[@]}" "${ST_CAPTURE_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	if [[ -n $ST_STEERD_PID ]] && kill -0 "$ST_STEERD_PID" 2>/dev/null; then
		kill -TERM "$ST_STEERD_PID"
		st_wait_exit "$ST_STEERD_PID" 30 || kill -KILL "$ST_STEERD_PID" 2>/dev/null
		wait "$ST_STEERD_PID" 2>/dev/null
	fi
	if [[ $ST_KERNEL_ONLY != 1 && -x $STEERD && -e $PIN_DIR ]]; then
		local netns=()
		[[ -e /run/netns/$NS_ROUTER ]] && netns=(--net="/run/netns/$NS_ROUTER")
		nsenter "${netns[@]}" "$STEERD" --cleanup --pin-dir "$PIN_DIR" >>"$ST_STEERD_LOG" 2>&1 ||
			echo "# steerd --cleanup failed (exit $?)"
	fi
	rm -rf "$PIN_DIR"
	local ns
	for ns in "${ST_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	if [[ $ST_FAILS -gt 0 || $rc -ne 0 ]] && [[ -s $ST_STEERD_LOG ]]; then
		echo "# ---- steerd log ($ST_STEERD_LOG) ----"
		sed 's/^/# steerd: /' "$ST_STEERD_LOG" | tail -n 300
		echo "# ---- end of steerd log ----"
	fi
	[[ -n $ST_TMP ]] && rm -rf "$ST_TMP"
	[[ $rc -eq 0 && $ST_FAILS -gt 0 ]] && rc=1
	if [[ $ST_TAP == 1 ]]; then
		# An abort (set -e, signal) is a failure even when every line so far said ok.
		[[ $rc -ne 0 && $ST_FAILS -eq 0 ]] && st_not_ok "test ran to the end (aborted, exit $rc)"
		echo "1..$((ST_PASSES + ST_FAILS + ST_SKIPS))"
	fi
	exit "$rc"
}

# st_finish: summary line; the exit status (non-zero on any failure) comes from st_cleanup.
st_finish() {
	echo "# $ST_PASSES passed, $ST_FAILS failed"
	[[ $ST_FAILS -eq 0 ]]
}

# st_wait_exit PID TENTHS: wait up to TENTHS/10 s for PID to go away.
st_wait_exit() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# ---- topology -------------------------------------------------------------------------------

st_netns_add() {
	st_ip netns add "$1"
	ST_NAMESPACES+=("$1")
	st_ip -n "$1" link set lo up
	# Known starting point whatever the host's sysctls are: no DAD delays, and IPv6 noise
	# (RS, MLD) only where the test uses IPv6.
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	if [[ $ST_FAMILIES != *6* ]]; then
		ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
	fi
}

# st_add_sink LETTER(a|b|c): namespace sinkX behind router interface upX, uplink net 10.0.N.0/30
# and 2001:db8:X::/64; owns the "internet" address on lo and routes the client net back.
st_add_sink() {
	local x=$1 n
	case $x in a) n=1 ;; b) n=2 ;; c) n=3 ;; *) return 1 ;; esac
	local ns=st$$-sink$x up=up$x
	st_netns_add "$ns"
	st_ip link add "$up" netns "$NS_ROUTER" type veth peer name eth0 netns "$ns"
	if [[ $ST_FAMILIES == *4* ]]; then
		st_ip -n "$NS_ROUTER" addr add "10.0.$n.1/30" dev "$up"
		st_ip -n "$ns" addr add "10.0.$n.2/30" dev eth0
		st_ip -n "$ns" addr add "${ST_INTERNET[4]}/32" dev lo
	fi
	if [[ $ST_FAMILIES == *6* ]]; then
		st_ip -n "$NS_ROUTER" addr add "2001:db8:$x::1/64" dev "$up" nodad
		st_ip -n "$ns" addr add "2001:db8:$x::2/64" dev eth0 nodad
		st_ip -n "$ns" addr add "${ST_INTERNET[6]}/128" dev lo nodad
	fi
	st_ip -n "$NS_ROUTER" link set "$up" up
	st_ip -n "$ns" link set eth0 up
	st_xdp_target "$ns"
	if [[ $ST_FAMILIES == *4* ]]; then
		st_ip -n "$ns" route add "${ST_CLIENT_NET[4]}" via "10.0.$n.1"
	fi
	if [[ $ST_FAMILIES == *6* ]]; then
		st_ip -n "$ns" -6 route add "${ST_CLIENT_NET[6]}" via "2001:db8:$x::1"
	fi
	ST_SINKS+=("$ns")
}

# st_xdp_target NS: with ST_XDP=1, GRO on NS's eth0, so that the router's end of the veth
# can take frames the XDP stage redirects (the kernel drops them otherwise; steerd only
# redirects to devices that say they can).
st_xdp_target() {
	[[ $ST_XDP == 1 ]] || return 0
	ip netns exec "$1" ethtool -K eth0 gro on >/dev/null || st_die "ethtool -K eth0 gro on in $1"
}

# st_topology FAMILIES ("4", "6" or "46") [norules]: client -- router -- uplinks A and B, the
# router's main table default via A, table 100 default via B, `from <client net> lookup 100`
# at 100 (not with "norules": a namespace where no rule was ever added, e.g. to keep IPv4's
# local and main tables merged; st_client_rules adds them later).
st_topology() {
	ST_FAMILIES=$1
	st_netns_add "$NS_CLIENT"
	st_netns_add "$NS_ROUTER"
	ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.rp_filter="$ST_RP_FILTER" net.ipv4.conf.default.rp_filter="$ST_RP_FILTER"
	if [[ $ST_FAMILIES == *6* ]]; then
		ip netns exec "$NS_ROUTER" sysctl -qw net.ipv6.conf.all.forwarding=1
	fi
	st_ip link add "$IF_CLIENT" netns "$NS_ROUTER" type veth peer name eth0 netns "$NS_CLIENT"
	if [[ $ST_FAMILIES == *4* ]]; then
		st_ip -n "$NS_ROUTER" addr add 10.1.0.1/24 dev "$IF_CLIENT"
		st_ip -n "$NS_CLIENT" addr add 10.1.0.2/24 dev eth0
	fi
	if [[ $ST_FAMILIES == *6* ]]; then
		st_ip -n "$NS_ROUTER" addr add 2001:db8:1::1/64 dev "$IF_CLIENT" nodad
		st_ip -n "$NS_CLIENT" addr add 2001:db8:1::2/64 dev eth0 nodad
	fi
	st_ip -n "$NS_ROUTER" link set "$IF_CLIENT" up
	st_ip -n "$NS_CLIENT" link set eth0 up
	st_xdp_target "$NS_CLIENT"
	[[ $ST_FAMILIES == *4* ]] && st_ip -n "$NS_CLIENT" route add default via 10.1.0.1
	[[ $ST_FAMILIES == *6* ]] && st_ip -n "$NS_CLIENT" -6 route add default via 2001:db8:1::1

	st_add_sink a
	st_add_sink b
	if [[ $ST_FAMILIES == *4* ]]; then
		st_ip -n "$NS_ROUTER" route add default via 10.0.1.2
		st_ip -n "$NS_ROUTER" route add default via 10.0.2.2 table 100
	fi
	if [[ $ST_FAMILIES == *6* ]]; then
		st_ip -n "$NS_ROUTER" -6 route add default via 2001:db8:a::2
		st_ip -n "$NS_ROUTER" -6 route add default via 2001:db8:b::2 table 100
	fi
	[[ ${2:-} == norules ]] || st_client_rules
}

# st_client_rules: `from <client net> lookup 100` at priority 100, in each family in use.
st_client_rules() {
	if [[ $ST_FAMILIES == *4* ]]; then
		st_ip -n "$NS_ROUTER" rule add from "${ST_CLIENT_NET[4]}" table 100 priority 100
	fi
	if [[ $ST_FAMILIES == *6* ]]; then
		st_ip -n "$NS_ROUTER" -6 rule add from "${ST_CLIENT_NET[6]}" table 100 priority 100
	fi
}

# ---- steerd / steerctl ----------------------------------------------------------------------

st_steerctl() {
	nsenter --net="/run/netns/$NS_ROUTER" "$STEERCTL" --pin-dir "$PIN_DIR" "$@"
}

# st_start_steerd: steerd on the router's client-facing interface; waits for "synced".
st_start_steerd() {
	if [[ $ST_KERNEL_ONLY == 1 ]]; then
		st_skip "steerd started and synced (ST_KERNEL_ONLY=1)"
		return 0
	fi
	st_start_steerd_with 50
}

st_steerd_alive() {
	[[ $ST_KERNEL_ONLY == 1 ]] && return 0
	[[ -n $ST_STEERD_PID ]] && kill -0 "$ST_STEERD_PID" 2>/dev/null
}

# st_stop_steerd: SIGTERM; ok when it exits 0 within 3 s. The pins stay (st_cleanup removes them).
st_stop_steerd() {
	[[ $ST_KERNEL_ONLY == 1 || -z $ST_STEERD_PID ]] && return 0
	local rc
	kill -TERM "$ST_STEERD_PID"
	if st_wait_exit "$ST_STEERD_PID" 30; then
		wait "$ST_STEERD_PID" && rc=0 || rc=$?
		ST_STEERD_PID=
		st_check "steerd exits 0 on SIGTERM (exit $rc)" test "$rc" -eq 0
	else
		st_not_ok "steerd exits on SIGTERM within 3 s"
	fi
}

# st_cleanup_steerd: `steerd --cleanup` (steerd already stopped) must exit 0, remove the pins and
# detach the program: once nothing holds it, the kernel frees it, so its id disappears.
st_cleanup_steerd() {
	if [[ $ST_KERNEL_ONLY == 1 ]]; then
		st_skip "steerd --cleanup (ST_KERNEL_ONLY=1)"
		return 0
	fi
	local prog="" rc i gone=""
	prog=$(st_steerctl -j status 2>/dev/null |
		"$ST_PY" -c 'import json,sys; print(json.load(sys.stdin).get("program_id", ""))' 2>/dev/null) ||
		true
	nsenter --net="/run/netns/$NS_ROUTER" "$STEERD" --cleanup --pin-dir "$PIN_DIR" \
		>>"$ST_STEERD_LOG" 2>&1 && rc=0 || rc=$?
	st_check "steerd --cleanup exits 0 (exit $rc)" test "$rc" -eq 0
	st_check "steerd --cleanup removed the pins in $PIN_DIR" \
		test -z "$(ls -A "$PIN_DIR" 2>/dev/null)"
	if [[ -z $prog ]] || ! command -v bpftool >/dev/null; then
		# Not checkable is not a pass: bpftool is a build dependency, status shows the id.
		st_not_ok "steerd --cleanup detached the program (no program id or no bpftool to check)"
		return 0
	fi
	for ((i = 0; i < 40; i++)); do
		bpftool prog show id "$prog" >/dev/null 2>&1 || { gone=1; break; }
		sleep 0.05
	done
	if [[ -n $gone ]]; then
		st_ok "steerd --cleanup detached the program (prog id $prog freed)"
	else
		st_not_ok "steerd --cleanup detached the program (prog id $prog still loaded:" \
			"$(bpftool prog show id "$prog" 2>&1 | head -1))"
	fi
	nsenter --net="/run/netns/$NS_ROUTER" "$STEERD" --cleanup --pin-dir "$PIN_DIR" \
		>>"$ST_STEERD_LOG" 2>&1 && rc=0 || rc=$?
	st_note "steerd --cleanup a second time (nothing left to clean): exit $rc"
}

# st_stats: steerctl's counters as one line "key=value ..." (empty in kernel-only mode).
# When steerctl fails, "steerctl_failed=1" (and its error on stderr), so checks on counters fail
# with a message instead of set -e ending the test silently.
st_stats() {
	[[ $ST_KERNEL_ONLY == 1 ]] && return 0
	local json
	if ! json=$(st_steerctl -j stats); then
		echo "# steerctl -j stats failed" >&2
		echo "steerctl_failed=1"
		return 0
	fi
	"$ST_PY" -c '
import json, sys
s = json.loads(sys.argv[1])
# With an XDP stage, what it forwarded or dropped never reached TC: count both stages.
for k in ("forwarded", "drop_blackhole", "cached"):
    s[k] = s.get(k, 0) + s.get("xdp_" + k, 0)
print(" ".join("%s=%d" % (k, v) for k, v in s.items() if isinstance(v, int)))' "$json" ||
		echo "steerctl_failed=1"
}

# st_stat_of "KEY=VALUE ..." KEY: one value out of st_stats' or st_rx_counts' output (0 when
# absent).
st_stat_of() {
	local kv
	for kv in $1; do
		[[ ${kv%%=*} == "$2" ]] && { printf '%s' "${kv#*=}"; return; }
	done
	printf 0
}

# st_stats_delta "BEFORE" "AFTER": the counters that changed, "key+N ...".
st_stats_delta() {
	"$ST_PY" - "$1" "$2" <<'EOF'
import sys
def parse(s):
    return {k: int(v) for k, v in (kv.split("=", 1) for kv in s.split())}
a, b = parse(sys.argv[1]), parse(sys.argv[2])
print(" ".join("%s+%d" % (k, b[k] - a.get(k, 0)) for k in b if b[k] != a.get(k, 0)) or "none")
EOF
}

# ---- traffic and where it went --------------------------------------------------------------

# st_route_dev FAMILY: the router's output device for client -> internet, in the kernel's words.
st_route_dev() {
	local fam=$1
	ip -n "$NS_ROUTER" "-$fam" -j route get "${ST_INTERNET[$fam]}" from "${ST_CLIENT_ADDR[$fam]}" \
		iif "$IF_CLIENT" | "$ST_PY" -c 'import json,sys; print(json.load(sys.stdin)[0].get("dev", ""))' ||
		true
}

# st_rx_counts: "ns=rx_packets ..." for eth0 of every sink.
st_rx_counts() {
	local ns out=
	for ns in "${ST_SINKS[@]}"; do
		out+="$ns=$(ip -n "$ns" -s link show dev eth0 | awk '/RX:/ { getline; print $2; exit }') "
	done
	printf '%s' "$out"
}

# st_ping FAMILY COUNT [INTERVAL] [WAIT]: echo requests client -> internet with TTL/hop limit
# 64, WAIT seconds for late replies. Prints "sent received reply-ttl:count,..."; fails unless
# every reply came back.
st_ping() {
	local fam=$1 count=$2 interval=${3:-0.01} wait=${4:-1}
	nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$ST_TMP/sttool.py" ping "$fam" \
		"${ST_CLIENT_ADDR[$fam]}" "${ST_INTERNET[$fam]}" "$count" "$interval" 64 "$wait"
}

# st_sniff_start FAMILY: record the TTL of every echo request to the internet address that
# reaches each sink (the fast path must decrement it exactly like the kernel).
st_sniff_start() {
	local fam=$1 ns i
	ST_SNIFF_PIDS=()
	for ns in "${ST_SINKS[@]}"; do
		rm -f "$ST_TMP/sniff-$ns" "$ST_TMP/sniff-$ns.ready"
		nsenter --net="/run/netns/$ns" "$ST_PY" "$ST_TMP/sttool.py" sniff "$fam" \
			"${ST_INTERNET[$fam]}" "$ST_TMP/sniff-$ns" &
		ST_SNIFF_PIDS+=($!)
	done
	for ns in "${ST_SINKS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			[[ -e $ST_TMP/sniff-$ns.ready ]] && break
			sleep 0.02
		done
	done
}

# st_sniff_stop: stop the sniffers; $ST_TMP/sniff-NS holds "count ttl:n,ttl:n..." per sink.
st_sniff_stop() {
	local pid
	for pid in "${ST_SNIFF_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${ST_SNIFF_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	ST_SNIFF_PIDS=()
}

# st_expect_path FAMILY COUNT WHAT [fast|none|any|kernel] [EXPECT_DEV]
# Sends COUNT echo requests and checks that
#   - the kernel (`ip route get ... iif cli`) sends them out EXPECT_DEV, when given;
#   - every one reached the sink behind the device the kernel names, and (nearly) none any other
#     sink (link stats tolerate a little ARP/ND noise; the sniffers count exactly);
#   - every one arrived with TTL/hop limit 63 (sent 64) and got its reply;
#   - with "fast": steerctl's "forwarded" grew by at least COUNT (the fast path did it);
#     "none": it did not grow; "any": counters are only printed; "kernel": not read (no pins).
st_expect_path() {
	local fam=$1 count=$2 what=$3 mode=${4:-fast} want_dev=${5:-}
	local dev sink ns rx0 rx1 st0="" st1="" ping_out d fwd tol desc
	dev=$(st_route_dev "$fam")
	if [[ -n $want_dev ]]; then
		st_check "$what: kernel routes via $want_dev (ip route get says dev $dev)" \
			test "$dev" = "$want_dev"
	fi
	sink=${ST_SINK_OF[$dev]:-}
	if [[ -z $sink ]]; then
		st_not_ok "$what: kernel's output device '$dev' is not an uplink"
		return 0
	fi
	st_sniff_start "$fam"
	rx0=$(st_rx_counts)
	[[ $mode != kernel ]] && st0=$(st_stats)
	ping_out=$(st_ping "$fam" "$count") || true
	rx1=$(st_rx_counts)
	[[ $mode != kernel ]] && st1=$(st_stats)
	st_sniff_stop

	st_check "$what: all $count echo replies came back (sent/received/reply-ttls: $ping_out)" \
		test "$(cut -d' ' -f2 <<<"$ping_out")" = "$count"
	tol=$((count / 10 > 2 ? count / 10 : 2))
	local arrived=1 detail="" sn
	for ns in "${ST_SINKS[@]}"; do
		d=$(($(st_stat_of "$rx1" "$ns") - $(st_stat_of "$rx0" "$ns")))
		sn=$(cat "$ST_TMP/sniff-$ns" 2>/dev/null || echo "? none")
		detail+="${ST_UPLINK_OF[$ns]}:rx+$d,echo=${sn%% *} "
		if [[ $ns == "$sink" ]]; then
			((d >= count)) || arrived=
			[[ ${sn%% *} == "$count" ]] || arrived=
		else
			((d < tol)) || arrived=
			[[ ${sn%% *} == 0 ]] || arrived=
		fi
	done
	if [[ -n $arrived ]]; then
		st_ok "$what: $count packets left by $dev as the kernel says ($detail)"
	else
		st_not_ok "$what: $count packets should all leave by $dev as the kernel says ($detail)"
	fi
	sn=$(cat "$ST_TMP/sniff-$sink" 2>/dev/null || echo "? none")
	st_check "$what: arrived with TTL/hop limit 63 after one router hop (ttl:count ${sn#* })" \
		test "${sn#* }" = "63:$count"
	[[ $mode == kernel ]] && return 0
	if [[ $ST_KERNEL_ONLY == 1 ]]; then
		st_skip "$what: fast path forwarded them (ST_KERNEL_ONLY=1)"
		return 0
	fi
	fwd=$(($(st_stat_of "$st1" forwarded) - $(st_stat_of "$st0" forwarded)))
	case $mode in
	fast)
		desc="fast path forwarded them (forwarded +$fwd >= $count; $(st_stats_delta "$st0" "$st1"))"
		st_check "$what: $desc" test "$fwd" -ge "$count"
		;;
	none)
		desc="fast path forwarded none (forwarded +$fwd; $(st_stats_delta "$st0" "$st1"))"
		st_check "$what: $desc" test "$fwd" -eq 0
		;;
	*)
		st_note "$what: counters $(st_stats_delta "$st0" "$st1")"
		;;
	esac
}

# st_generation: the map generation steerd last applied (steerctl status), "" if unknown.
st_generation() {
	[[ $ST_KERNEL_ONLY == 1 ]] && return 0
	local out
	out=$(st_steerctl -j status 2>/dev/null) || return 0
	[[ $out =~ \"generation\":\ *([0-9]+) ]] && printf '%s' "${BASH_REMATCH[1]}"
	return 0
}

# st_change FAMILY WHAT CMD...: make a routing change with CMD, note how long steerd took to
# apply a new map generation, and check (st_wait_follow) that traffic follows within
# $ST_BUDGET ms.
st_change() {
	local fam=$1 what=$2 g0 g1 t0 ms
	shift 2
	g0=$(st_generation)
	t0=$(st_now)
	"$@"
	if [[ -n $g0 ]]; then
		while :; do
			g1=$(st_generation)
			[[ -n $g1 && $g1 != "$g0" ]] && break
			(($(st_ms_since "$t0") < ST_BUDGET)) || break
			sleep 0.002
		done
		ms=$(st_ms_since "$t0")
		if [[ -n $g1 && $g1 != "$g0" ]]; then
			st_note "$what: steerd applied generation $g1 (was $g0) ${ms} ms after the change"
		else
			st_note "$what: no new map generation ${ms} ms after the change (still $g0)"
		fi
	fi
	st_wait_follow "$fam" "$what" "$ST_BUDGET" "$t0"
}

# st_wait_follow FAMILY WHAT BUDGET_MS T0: after a routing change made at T0 ($EPOCHREALTIME),
# send small bursts until they arrive where the kernel now says; ok within BUDGET_MS.
st_wait_follow() {
	local fam=$1 what=$2 budget=$3 t0=$4
	local dev sink rx0 rx1 ns good ms tries=0 out desc
	dev=$(st_route_dev "$fam")
	sink=${ST_SINK_OF[$dev]:-}
	[[ -n $sink ]] || { st_not_ok "$what: kernel's output device '$dev' is not an uplink"; return 0; }
	while :; do
		tries=$((tries + 1))
		rx0=$(st_rx_counts)
		out=$(st_ping "$fam" 3 0.005 0.2) || true
		rx1=$(st_rx_counts)
		good=1
		[[ ${out#* } == 3* ]] || good=
		for ns in "${ST_SINKS[@]}"; do
			local d=$(($(st_stat_of "$rx1" "$ns") - $(st_stat_of "$rx0" "$ns")))
			if [[ $ns == "$sink" ]]; then ((d >= 3)) || good=; else ((d == 0)) || good=; fi
		done
		ms=$(st_ms_since "$t0")
		if [[ -n $good ]]; then
			desc="traffic follows the kernel to $dev in $ms ms (budget $budget ms, $tries bursts)"
			st_check "$what: $desc" test "$ms" -le "$budget"
			return 0
		fi
		if ((ms > budget + 1000)); then
			st_not_ok "$what: traffic did not follow the kernel to $dev within $ms ms"
			return 0
		fi
		sleep 0.02
	done
}

# ---- any packet, any policy: helpers for tests/netns/policy.sh and most suites -------------
#
# st_capture_start records every tagged packet that reaches a sink (AF_PACKET on its eth0, so
# also packets the sink does not own); st_send sends tagged UDP, TCP SYN or ICMP echo packets
# from the client with a chosen tos/traffic class and ports, and collects the ICMP errors and
# echo replies that come back; st_flow puts both next to the kernel's `ip route get` and
# steerctl's counters. st_policy* change the router's rules and routes and wait for steerd.

declare -A ST_ROUTER_ADDR=([4]=10.1.0.1 [6]=2001:db8:1::1)
ST_COUNT=${ST_COUNT:-8}   # packets per st_flow check

# st_new_tag: a fresh 8-character tag in ST_TAG, so each check counts only its own packets.
# (Not in $(...): the sequence number must survive.)
st_new_tag() {
	ST_TAG_SEQ=$((ST_TAG_SEQ + 1))
	printf -v ST_TAG 't%07d' "$ST_TAG_SEQ"
}

# st_spawn NS READY WHAT CMD...: CMD in namespace NS, in the background (st_cleanup stops it);
# returns once CMD has created the file READY, and fails the test naming WHAT when 3 s pass
# without it. The recorders, listeners and servers of every suite start this way.
st_spawn() {
	local ns=$1 ready=$2 what=$3 i
	shift 3
	rm -f "$ready"
	nsenter --net="/run/netns/$ns" "$@" &
	ST_CAPTURE_PIDS+=($!)
	for ((i = 0; i < 150; i++)); do
		[[ -e $ready ]] && return 0
		sleep 0.02
	done
	st_die "$what started"
}

# st_capture_start: a recorder in every sink of ST_SINKS (call it once the sinks exist); each
# appends "TAG PROTO TTL SPORT DPORT" to $ST_TMP/capture-NS for every tagged packet received
# on eth0 (for ICMP echo SPORT is the identifier). st_cleanup stops them.
st_capture_start() {
	local ns f
	for ns in "${ST_SINKS[@]}"; do
		f=$ST_TMP/capture-$ns
		: >"$f"
		st_spawn "$ns" "$f.ready" "packet recorder in $ns" "$ST_PY" "$ST_TMP/sttool.py" capture eth0 "$f"
	done
}

# st_captured NS TAG: "count ttl:n,..." of the packets tagged TAG that reached sink NS.
st_captured() {
	awk -v t="$2" '$1 == t { n++; h[$3]++ }
		END { s = ""; for (k in h) s = s (s == "" ? "" : ",") k ":" h[k]; print n + 0, (s == "" ? "none" : s) }' \
		"$ST_TMP/capture-$1"
}

# st_sinks_got SINK TAG COUNT: waits (1 s at most) for COUNT packets tagged TAG at SINK (none:
# SINK empty), then succeeds when all COUNT reached SINK with TTL/hop limit 63 and none any
# other sink. ST_SINKS_GOT: what each sink got, "upa:N(ttl 63:N) upb:0 ...".
ST_SINKS_GOT=
st_sinks_got() {
	local sink=$1 tag=$2 count=$3 ns c i good=1
	if [[ -n $sink ]]; then
		for ((i = 0; i < 100; i++)); do
			(($(st_captured "$sink" "$tag" | cut -d' ' -f1) >= count)) && break
			sleep 0.01
		done
	fi
	sleep 0.02
	ST_SINKS_GOT=
	for ns in "${ST_SINKS[@]}"; do
		c=$(st_captured "$ns" "$tag")
		ST_SINKS_GOT+="${ST_UPLINK_OF[$ns]}:${c%% *}"
		[[ ${c#* } != none ]] && ST_SINKS_GOT+="(ttl ${c#* })"
		ST_SINKS_GOT+=" "
		if [[ $ns == "$sink" ]]; then
			[[ $c == "$count 63:$count" ]] || good=
		else
			[[ ${c%% *} == 0 ]] || good=
		fi
	done
	ST_SINKS_GOT=${ST_SINKS_GOT% }
	[[ -n $good ]]
}

# st_send FAM PROTO SRC DST TOS SPORTS DPORT COUNT TAG WAIT WANT: from the client, COUNT packets
# (udp, tcp: a SYN, icmp: an echo request) per source port of SPORTS ("P" or "P-Q"; for icmp,
# the echo identifier), TTL/hop limit 64, tos/traffic class TOS, payload tagged TAG. Then waits
# up to WAIT s, or until WANT ICMP errors or echo replies about them came back. Prints
# "sent=N replies=R errors=SRC/TYPE/CODE:n,...".
st_send() {
	nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$ST_TMP/sttool.py" send "$@"
}

# st_kernel_verdict FAM ROUTE-GET-ARGS...: what the kernel does with that packet arriving on the
# client-facing interface, from `ip route get ARGS iif cli`: the output device for a unicast
# route; local, broadcast, anycast, multicast for those route types; "drop" (EINVAL: blackhole);
# "unreachable" or "prohibit" followed by the ICMP error it sends ("icmp=TYPE/CODE");
# "error: MESSAGE" for anything else.
st_kernel_verdict() {
	local fam=$1 out rc
	shift
	out=$(ip -n "$NS_ROUTER" "-$fam" -j route get "$@" iif "$IF_CLIENT" 2>&1) && rc=0 || rc=$?
	if ((rc == 0)); then
		# One flat JSON object: no python needed (this runs often).
		if [[ $out =~ \"type\":\"([a-z]+)\" && ${BASH_REMATCH[1]} != unicast ]]; then
			echo "${BASH_REMATCH[1]}"
		elif [[ $out =~ \"dev\":\"([^\"]+)\" ]]; then
			echo "${BASH_REMATCH[1]}"
		else
			echo "error: $out"
		fi
		return 0
	fi
	out=${out//$'\n'/ }
	case $fam:$out in
	*"Invalid argument"*) echo drop ;;
	4:*"Network is unreachable"*) echo "unreachable icmp=3/0" ;;
	4:*"No route to host"*) echo "unreachable icmp=3/1" ;;
	4:*"Permission denied"*) echo "prohibit icmp=3/13" ;;
	6:*"Network is unreachable"* | 6:*"No route to host"*) echo "unreachable icmp=1/0" ;;
	6:*"Permission denied"*) echo "prohibit icmp=1/1" ;;
	*) echo "error: $out" ;;
	esac
}

# st_route_get_args FAM PROTO SRC DST TOS SPORT DPORT: `ip route get` arguments for that packet.
# "uid 0": the kernel routes a packet it forwards as uid 0 (uidrange rules match it); IPv6's
# `route get ... iif` would otherwise use no uid at all (IPv4's ignores the argument).
st_route_get_args() {
	local fam=$1 proto=$2 src=$3 dst=$4 tos=$5 sport=$6 dport=$7
	local a=(to "$dst" from "$src" uid 0)
	[[ $tos != 0 && $tos != 0x0 && $tos != 0x00 ]] && a+=(tos "$tos")
	case $proto in
	udp | tcp) a+=(ipproto "$proto" sport "$sport" dport "$dport") ;;
	icmp) if [[ $fam == 6 ]]; then a+=(ipproto ipv6-icmp); else a+=(ipproto icmp); fi ;;
	esac
	printf '%s\n' "${a[@]}"
}

# st_flow FAM WHAT EXPECT COUNTER PROTO [src=A] [dst=A] [tos=T] [sport=P] [dport=P] [count=N]
#         [answered=1]
# Sends N (ST_COUNT) tagged packets of one flow from the client (PROTO udp, tcp or icmp; by
# default from the client's address to the "internet" address, tos 0, ports 40000 -> 4000) and
# checks:
#   - the kernel (`ip route get ... iif cli`) does EXPECT with them: an uplink (upa, upb, upc),
#     drop, unreachable, prohibit, local, broadcast or anycast;
#   - where the kernel forwards, all of them reached the sink behind its output device with
#     TTL/hop limit 63, and no other sink; where it does not, no sink got any;
#   - unreachable/prohibit: the client got the kernel's ICMP error from the router (at least
#     one: the kernel rate-limits them); drop: none; answered=1 (local, icmp): the router's
#     echo replies to all;
#   - steerctl's COUNTER (forwarded, drop_blackhole, punt_*) grew by at least N, and "forwarded"
#     not at all when the kernel does not forward; COUNTER "any": the counters are only shown.
st_flow() {
	local fam=$1 what=$2 expect=$3 counter=$4 proto=$5
	shift 5
	local src=${ST_CLIENT_ADDR[$fam]} dst=${ST_INTERNET[$fam]} tos=0 sport=40000 dport=4000
	local count=$ST_COUNT answered='' kv
	for kv in "$@"; do
		case $kv in
		answered=1) answered=1 ;;
		src=*) src=${kv#*=} ;;
		dst=*) dst=${kv#*=} ;;
		tos=*) tos=${kv#*=} ;;
		sport=*) sport=${kv#*=} ;;
		dport=*) dport=${kv#*=} ;;
		count=*) count=${kv#*=} ;;
		*) st_die "st_flow: unknown argument '$kv'" ;;
		esac
	done
	local pkt="$proto $src"
	[[ $proto != icmp ]] && pkt+=":$sport"
	pkt+=" -> $dst"
	[[ $proto != icmp ]] && pkt+=":$dport"
	[[ $tos != 0 ]] && pkt+=" tos $tos"
	local get verdict kind icmp=
	mapfile -t get < <(st_route_get_args "$fam" "$proto" "$src" "$dst" "$tos" "$sport" "$dport")
	verdict=$(st_kernel_verdict "$fam" "${get[@]}")
	kind=${verdict%% *}
	[[ $verdict == *icmp=* ]] && icmp=${verdict##*icmp=}
	st_check "$what: kernel: ip route get ${get[*]} iif $IF_CLIENT -> $verdict (expected $expect)" \
		test "$kind" = "$expect"

	local sink=${ST_SINK_OF[$kind]:-} wait=0 want=0
	case $kind in
	unreachable | prohibit) wait=0.5 want=$count ;;
	local | anycast) [[ -n $answered ]] && { wait=1.5 want=$count; } || wait=0.2 ;;
	*) [[ -z $sink ]] && wait=0.2 ;;
	esac
	local st0 st1 out good=1
	st_new_tag
	st0=$(st_stats)
	out=$(st_send "$fam" "$proto" "$src" "$dst" "$tos" "$sport" "$dport" "$count" "$ST_TAG" \
		"$wait" "$want") || out="sender failed: $out"
	st_sinks_got "$sink" "$ST_TAG" "$count" || good=
	st1=$(st_stats)
	if [[ -n $sink ]]; then
		st_check "$what: $count x $pkt reached the sink behind $kind only, TTL 63 ($ST_SINKS_GOT)" \
			test -n "$good"
	else
		st_check "$what: $count x $pkt reached no sink ($ST_SINKS_GOT)" test -n "$good"
	fi
	local replies errors
	replies=$(sed -n 's/.*replies=\([0-9]*\).*/\1/p' <<<"$out")
	errors=$(sed -n 's/.*errors=\([^ ]*\).*/\1/p' <<<"$out")
	case $kind in
	unreachable | prohibit)
		# Some, not all: the kernel rate-limits its errors per source (IPv4: a burst of 5,
		# then one a second, net.ipv4.route.error_cost/error_burst, not per namespace).
		st_check "$what: the client got ICMP $icmp errors from the router, and no other ($out)" \
			test "${errors%:*}" = "${ST_ROUTER_ADDR[$fam]}/$icmp" -a "${errors##*:}" -ge 1
		;;
	drop)
		st_check "$what: the client got no ICMP error ($out)" test "$errors" = none
		;;
	local | anycast)
		if [[ -n $answered ]]; then
			st_check "$what: the router itself answered all $count echo requests ($out)" \
				test "$replies" = "$count"
		fi
		;;
	esac
	st_flow_counter "$what" "$counter" "$count" "$st0" "$st1" "$([[ -n $sink ]] && echo 1)"
}

# st_flow_counter WHAT COUNTER N "BEFORE" "AFTER" FORWARDS: COUNTER grew by >= N; when the kernel
# does not forward (FORWARDS empty), "forwarded" did not grow at all.
st_flow_counter() {
	local what=$1 counter=$2 n=$3 st0=$4 st1=$5 forwards=$6 d fwd delta
	if [[ $ST_KERNEL_ONLY == 1 ]]; then
		st_skip "$what: steerctl counter $counter (ST_KERNEL_ONLY=1)"
		return 0
	fi
	delta=$(st_stats_delta "$st0" "$st1")
	if [[ $counter == any ]]; then
		st_note "$what: counters $delta"
		return 0
	fi
	d=$(($(st_stat_of "$st1" "$counter") - $(st_stat_of "$st0" "$counter")))
	fwd=$(($(st_stat_of "$st1" forwarded) - $(st_stat_of "$st0" forwarded)))
	if [[ -n $forwards || $counter == forwarded ]]; then
		st_check "$what: steerctl $counter +$d >= $n ($delta)" test "$d" -ge "$n"
	else
		st_check "$what: steerctl $counter +$d >= $n, forwarded +0 ($delta)" \
			test "$d" -ge "$n" -a "$fwd" -eq 0
	fi
}

# st_multipath FAM WHAT FLOWS PER "DEV DEV..." [dst=A] [counter=NAME]: FLOWS UDP flows (source
# ports 30000...), PER packets each, sent twice. Checks that the kernel sends every flow out one
# of DEVS; that every flow's packets all reached one sink (the same in both rounds), behind one
# of DEVS, with TTL 63; that every one of DEVS got at least FLOWS/8 flows (when FLOWS > 1);
# and that steerctl's COUNTER (default "forwarded") grew by all of them. How many flows took
# the choice `ip route get` names is shown (under a hash policy that reads ports, the kernel
# may hash what the sender's socket put in the packet instead).
st_multipath() {
	local fam=$1 what=$2 flows=$3 per=$4 devs=$5 dst=${ST_INTERNET[$1]} counter=forwarded kv
	shift 5
	for kv in "$@"; do
		case $kv in
		dst=*) dst=${kv#*=} ;;
		counter=*) counter=${kv#*=} ;;
		*) st_die "st_multipath: unknown argument '$kv'" ;;
		esac
	done
	local src=${ST_CLIENT_ADDR[$fam]} p v get kernel="" kbad=0 klist=""
	local -A kused=()
	for ((p = 30000; p < 30000 + flows; p++)); do
		mapfile -t get < <(st_route_get_args "$fam" udp "$src" "$dst" 0 "$p" 4000)
		v=$(st_kernel_verdict "$fam" "${get[@]}")
		kernel+="$p=$v "
		[[ " $devs " == *" $v "* ]] || kbad=$((kbad + 1))
		kused[$v]=$((${kused[$v]:-0} + 1))
	done
	for v in "${!kused[@]}"; do klist+="$v:${kused[$v]} "; done
	st_check "$what: the kernel sends each of $flows flows out one of $devs (${klist% })" \
		test "$kbad" -eq 0
	local tag1 tag2 st0 st1 i total=$((flows * per)) got
	st_new_tag
	tag1=$ST_TAG
	st_new_tag
	tag2=$ST_TAG
	st0=$(st_stats)
	st_send "$fam" udp "$src" "$dst" 0 "30000-$((30000 + flows - 1))" 4000 "$per" "$tag1" 0 0 \
		>/dev/null || true
	st_send "$fam" udp "$src" "$dst" 0 "30000-$((30000 + flows - 1))" 4000 "$per" "$tag2" 0 0 \
		>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		got=$(cat "${ST_SINKS[@]/#/$ST_TMP/capture-}" | awk -v a="$tag1" -v b="$tag2" \
			'$1 == a || $1 == b { n++ } END { print n + 0 }')
		((got >= 2 * total)) && break
		sleep 0.01
	done
	sleep 0.02
	st1=$(st_stats)
	local files=() ns
	for ns in "${ST_SINKS[@]}"; do files+=("${ST_UPLINK_OF[$ns]}=$ST_TMP/capture-$ns"); done
	local res
	res=$("$ST_PY" - "$tag1" "$tag2" "$per" "$flows" "$devs" "$kernel" "${files[@]}" <<'EOF'
import sys
tag1, tag2, per, flows, devs, kernel = sys.argv[1:7]
per, flows, devs = int(per), int(flows), devs.split()
kernel = dict(kv.split("=", 1) for kv in kernel.split())
seen = {}          # (tag, sport) -> {dev: count}
ttls = set()
for arg in sys.argv[7:]:
    dev, path = arg.split("=", 1)
    for line in open(path):
        f = line.split()
        if len(f) == 5 and f[0] in (tag1, tag2):
            d = seen.setdefault((f[0], f[3]), {})
            d[dev] = d.get(dev, 0) + 1
            ttls.add(f[2])
split = lost = moved = outside = agree = 0
used = {}
for p in range(30000, 30000 + flows):
    where = []
    for tag in (tag1, tag2):
        d = seen.get((tag, str(p)), {})
        if len(d) > 1:
            split += 1
        elif not d or sum(d.values()) != per:
            lost += 1
        where.append(next(iter(d)) if d else None)
    if where[0] != where[1]:
        moved += 1
    dev = where[0]
    if dev is not None:
        used[dev] = used.get(dev, 0) + 1
        if dev not in devs:
            outside += 1
        if kernel.get(str(p)) == dev:
            agree += 1
least = min(used.get(d, 0) for d in devs)
print("split=%d lost=%d moved=%d outside=%d least=%d agree=%d ttl=%s used=%s" % (
    split, lost, moved, outside, least, agree, ",".join(sorted(ttls)) or "none",
    ",".join("%s:%d" % kv for kv in sorted(used.items())) or "none"))
EOF
	) || res="analysis failed"
	local split lost moved outside least agree ttl
	for kv in $res; do
		case $kv in
		split=*) split=${kv#*=} ;; lost=*) lost=${kv#*=} ;; moved=*) moved=${kv#*=} ;;
		outside=*) outside=${kv#*=} ;; least=*) least=${kv#*=} ;; agree=*) agree=${kv#*=} ;;
		ttl=*) ttl=${kv#*=} ;;
		esac
	done
	st_check "$what: every flow's packets reached exactly one sink, all of them, TTL 63 ($res)" \
		test "${split:-x}" = 0 -a "${lost:-x}" = 0 -a "${ttl:-x}" = 63
	st_check "$what: each flow took the same sink in both rounds (moved=${moved:-?})" \
		test "${moved:-x}" = 0
	st_check "$what: only the route's next hops $devs were used (outside=${outside:-?})" \
		test "${outside:-x}" = 0
	if ((flows > 1)); then
		st_check "$what: the flows spread over all of $devs (least used got ${least:-?} of $flows)" \
			test "${least:-0}" -ge $((flows / 8))
	fi
	st_note "$what: $agree of $flows flows took the next hop ip route get names"
	st_flow_counter "$what" "$counter" $((2 * total)) "$st0" "$st1" 1
}

# st_sync_wait GENERATION: after a change, wait until steerd has applied a newer generation and
# stopped applying (the same one for 100 ms), at most 2 s. Nothing in kernel-only mode.
st_sync_wait() {
	[[ $ST_KERNEL_ONLY == 1 ]] && return 0
	local g0=$1 g="" last="" t0 tc
	t0=$(st_now)
	tc=$t0
	while (($(st_ms_since "$t0") < 2000)); do
		g=$(st_generation)
		if [[ $g != "$last" ]]; then
			tc=$(st_now)
			last=$g
		elif [[ -n $g && $g != "$g0" ]] && (($(st_ms_since "$tc") >= 100)); then
			return 0
		fi
		sleep 0.02
	done
	st_note "steerd: no new map generation settled within 2 s (was $g0, now ${g:-?})"
}

# st_log_count REGEX: how many lines of steerd's log match (extended regex).
st_log_count() {
	grep -cE -- "$1" "$ST_STEERD_LOG" 2>/dev/null || true
}

# st_hup REGEX: SIGHUP to steerd, then wait (5 s at most) until one more line of its log
# matches REGEX than before.
st_hup() {
	local pat=$1 n0 i
	n0=$(st_log_count "$pat")
	kill -HUP "$ST_STEERD_PID"
	for ((i = 0; i < 250; i++)); do
		(($(st_log_count "$pat") > n0)) && break
		sleep 0.02
	done
}

# st_reload WHAT: st_hup until steerd logged the re-read, then wait until it applied a newer
# map generation than before (st_sync_wait), and check that it did.
st_reload() {
	local what=$1 g0 g
	g0=$(st_generation)
	st_hup 'SIGHUP: re-reading'
	st_sync_wait "$g0"
	g=$(st_generation)
	st_check "$what: SIGHUP: steerd re-read its file and applied generation ${g:-?} (was $g0)" \
		test -n "$g" -a "$g" != "$g0"
}

# st_policy_add FAM <<EOF ... EOF: `ip -batch` lines ("rule add ...", "route add ...") run on the
# router in that family; each added rule or route is remembered for st_policy_reset. Waits
# for steerd to apply the change.
st_policy_add() {
	local g0
	g0=$(st_generation)
	st_policy_run_ "$1" "$(cat)"
	st_sync_wait "$g0"
}

# st_batch FAM <<EOF ... EOF: `ip -batch` lines run on the router in that family, kept (not
# remembered for st_policy_reset); waits for steerd to apply the change.
st_batch() {
	local g0
	g0=$(st_generation)
	st_ip -n "$NS_ROUTER" "-$1" -batch -
	st_sync_wait "$g0"
}

# st_policy_reset: remove what st_policy_add added, newest first; waits for steerd.
st_policy_reset() {
	local g0
	((${#ST_UNDO[@]})) || return 0
	g0=$(st_generation)
	st_policy_undo_
	st_sync_wait "$g0"
}

# st_policy FAM WHAT <<EOF ... EOF: a note, then st_policy_reset and st_policy_add in one go.
st_policy() {
	local fam=$1 lines g0
	lines=$(cat)
	st_note "$2: $(tr -s ' ' <<<"$lines" | paste -sd ';' | sed 's/;/; /g')"
	g0=$(st_generation)
	st_policy_undo_
	st_policy_run_ "$fam" "$lines"
	st_sync_wait "$g0"
}

st_policy_run_() {
	local fam=$1 lines=$2 line out
	[[ $ST_VERBOSE == 1 ]] && while IFS= read -r line; do echo "+ ip -$fam $line"; done <<<"$lines" >&2
	if ! out=$(ip -n "$NS_ROUTER" "-$fam" -batch - <<<"$lines" 2>&1); then
		st_not_ok "configure the router: $(tr '\n' ' ' <<<"$out")"
	fi
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*(rule|route)\ (add|append)\ (.*)$ ]] &&
			ST_UNDO+=("$fam ${BASH_REMATCH[1]} del ${BASH_REMATCH[3]}")
	done <<<"$lines"
	return 0
}

st_policy_undo_() {
	local i fam
	for ((i = ${#ST_UNDO[@]} - 1; i >= 0; i--)); do
		fam=${ST_UNDO[i]%% *}
		# shellcheck disable=SC2086 # the command's words
		ip -n "$NS_ROUTER" "-$fam" ${ST_UNDO[i]#* } 2>/dev/null || true
	done
	ST_UNDO=()
}

# ---- the python helper: sttool.py, senders and recorders over raw sockets -------------------

st_write_tool() {
	cp "$ST_ROOT/tests/lib/inet.py" "$ST_ROOT/tests/lib/sttool.py" "$ST_TMP/"
}

# ---- resilience helpers (tests/resilience/*.sh) ---------------------------------------------
#
# steerd with extra options and under a wrapper (valgrind), the agent's own counters from the
# pinned steer_agent map, `steerd --verify`, and waiting for steerd to go idle after a storm.

ST_STEERD_WRAP=()    # a command steerd runs under (e.g. valgrind ...), set before starting it
ST_VERIFY_OUT=       # st_verify's last summary line
ST_VERIFY_DETAIL=    # and the first differences it named
ST_VERIFY_LOG=       # and all it printed

# st_start_steerd_with TENTHS [STEERD-ARGS...]: st_start_steerd with extra options (and under
# ST_STEERD_WRAP), waiting up to TENTHS/10 s for "synced". ST_STEERD_PID is steerd's own pid
# (nsenter and the wrapper exec, they do not fork), so signals reach it directly. The host's
# /etc/steer/steer.yaml is never read: a test that wants a file passes --config FILE.
st_start_steerd_with() {
	local tenths=$1
	shift
	local xdp=()
	[[ $ST_XDP == 1 ]] && xdp=(--attach-mode xdp)
	st_run_steerd "$tenths" --attach "$IF_CLIENT" --config /dev/null "${xdp[@]}" "$@"
}

# st_run_steerd TENTHS STEERD-ARGS...: steerd in NS_ROUTER with the test's pin directory and
# only the arguments given (tests with their own steer.yaml use this), waiting as above.
st_run_steerd() {
	local tenths=$1 t0 i synced='' rc
	shift
	nsenter --net="/run/netns/$NS_ROUTER" "${ST_STEERD_WRAP[@]}" "$STEERD" \
		--pin-dir "$PIN_DIR" --log-level debug "$@" >>"$ST_STEERD_LOG" 2>&1 &
	ST_STEERD_PID=$!
	t0=$(st_now)
	for ((i = 0; i < tenths; i++)); do
		kill -0 "$ST_STEERD_PID" 2>/dev/null || break
		if st_steerctl -j status 2>/dev/null |
			"$ST_PY" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("synced") is True else 1)' \
				2>/dev/null; then
			synced=1
			break
		fi
		sleep 0.1
	done
	if [[ -n $synced ]]; then
		st_ok "steerd ${*:+$* }started and synced in $(st_ms_since "$t0") ms (pid $ST_STEERD_PID)"
	elif ! kill -0 "$ST_STEERD_PID" 2>/dev/null; then
		wait "$ST_STEERD_PID" && rc=0 || rc=$?
		ST_STEERD_PID=
		st_die "steerd ${*:+$* }started and synced: steerd exited with status $rc"
	else
		st_note "last status: $(st_steerctl -j status 2>&1 | tr '\n' ' ')"
		st_die "steerd ${*:+$* }started and synced: not synced after $((tenths / 10)) s"
	fi
}

# st_agent_stats: the agent's counters (struct steer_agent_stats, pinned as steer_agent) as one
# line "key=value ..."; "agent_stats_failed=1" when they cannot be read. bpftool prints the
# struct with its field names under "formatted" (it has the BTF); without BTF the raw bytes are
# decoded in the order of bpf/abi.h.
st_agent_stats() {
	local json
	if ! json=$(bpftool -j map dump pinned "$PIN_DIR/steer_agent" 2>&1); then
		echo "# bpftool map dump pinned $PIN_DIR/steer_agent: $json" >&2
		echo "agent_stats_failed=1"
		return 0
	fi
	"$ST_PY" -c '
import json, struct, sys
names = ("netlink_messages foreign_messages malformed_messages overruns resyncs dump_restarts "
         "swept reconciles drift applies apply_failures overflow_punts pid started_ns").split()
e = json.loads(sys.argv[1])[0]
v = e.get("formatted", {}).get("value")
if not isinstance(v, dict):
    raw = bytes(int(b, 16) for b in e["value"])
    v = dict(zip(names, struct.unpack("<%dQ" % len(names), raw[:8 * len(names)])))
print(" ".join("%s=%d" % (k, v[k]) for k in names if k in v))' "$json" 2>/dev/null ||
		echo "agent_stats_failed=1"
}

# st_verify: `steerd --verify` in the router's namespace; its exit status returned (0: the pinned
# maps say what the kernel holds), its summary line ("N map entries checked, M differ ...") in
# ST_VERIFY_OUT, the first three differences it names in ST_VERIFY_DETAIL (one line each), all
# it printed in ST_VERIFY_LOG.
st_verify() {
	local rc
	ST_VERIFY_LOG=$(nsenter --net="/run/netns/$NS_ROUTER" "$STEERD" --verify --pin-dir "$PIN_DIR" 2>&1) &&
		rc=0 || rc=$?
	ST_VERIFY_OUT=$(grep -v '^steerd\[' <<<"$ST_VERIFY_LOG" | tail -n 1)
	[[ -n $ST_VERIFY_OUT ]] || ST_VERIFY_OUT=$(tail -n 1 <<<"$ST_VERIFY_LOG")
	# shellcheck disable=SC2034 # for the tests that source this
	ST_VERIFY_DETAIL=$(grep '^steerd\[notice\]' <<<"$ST_VERIFY_LOG" | head -n 3) || true
	return "$rc"
}

# st_wait_idle STABLE_MS DEADLINE_S: wait until steerd looks idle: its map generation and its
# netlink message count (published at least once a second) have not moved for STABLE_MS, and
# status says nothing is pending.
# Returns 1 (and notes it) when that did not happen within DEADLINE_S.
st_wait_idle() {
	local stable=$1 deadline=$2 t0 tc cur last=""
	t0=$(st_now)
	tc=$t0
	while (($(st_ms_since "$t0") < deadline * 1000)); do
		cur="$(st_generation)/$(st_stat_of "$(st_agent_stats)" netlink_messages)"
		# Changes (or lost events) not applied yet: busy, however still it looks.
		if st_steerctl -j status 2>/dev/null | grep -q '"pending":true'; then
			cur="pending $EPOCHREALTIME"
		fi
		if [[ $cur != "$last" ]]; then
			last=$cur
			tc=$(st_now)
		elif (($(st_ms_since "$tc") >= stable)); then
			return 0
		fi
		sleep 0.1
	done
	st_note "steerd not idle after $deadline s (generation/netlink messages: $last)"
	return 1
}
