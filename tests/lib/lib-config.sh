# shellcheck shell=bash
# Helpers for steer's configuration-file tests (tests/config/*.sh, netfilter/modes.sh), on top
# of tests/lib/lib.sh: steerd started from a steer.yaml (no --attach: the file names the
# interfaces), the file rewritten in place and re-read with SIGHUP, sinks beyond lib.sh's three,
# what is attached where (pins, and the kernel asked directly), and tagged UDP flows checked
# sink by sink with steerctl's counters.
#
# Source this (it sources tests/lib/lib.sh); call st_init, then cfg_init (or cfg_test_init,
# all three steps of a test of steerd's configuration file).
#
#   cfg_write [FILE] <<EOF          the file's new text (default CFG_FILE), replaced by a rename
#                                   so a SIGHUP never reads half a file
#   cfg_start_steerd [ARGS...]      steerd --config CFG_FILE in NS_ROUTER; ok once synced
#   cfg_reload_bad WHAT             SIGHUP with a file steerd must refuse: ok once it logged
#                                   the refusal; the refusal's line is in CFG_REJECTED
#   (a reload steerd takes is lib.sh's st_reload WHAT; its log, st_log_count REGEX)
#   cfg_add_sink X N                one more sink namespace behind router interface upX,
#                                   uplink 10.0.N.0/30 (lib.sh's st_add_sink does a, b, c)
#   cfg_tc_progs DEV                the programs the kernel runs at DEV's TC hooks in the
#                                   router: "tcx/HOOK:NAME#ID ..." (or clsact/HOOK:ID), "none",
#                                   or "gone" (no such device)
#   cfg_wait TENTHS CMD...          poll CMD every 0.1 s until it succeeds
#   cfg_softnet_drops               the kernel's backlog drops so far, all CPUs, machine-wide
#   cfg_udp WHAT NS SRC SPORT EXPECT MODE [count=N]
#                                   N tagged UDP packets from SRC:SPORT in NS to the internet
#                                   address; EXPECT: the uplink (upa, ...) whose sink must get
#                                   them all, TTL 63, and no other sink any; MODE: fast
#                                   (steerctl forwarded +N), kernel (forwarded +0) or a
#                                   counter's name, e.g. punt_rule (that counter +N and
#                                   forwarded +0)

# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CFG_FILE=
CFG_REJECTED=

cfg_init() {
	CFG_FILE=$ST_TMP/steer.yaml
	command -v bpftool >/dev/null || st_die "bpftool installed (a build dependency)"
}

# cfg_test_init: a test of steerd's configuration file starts: st_steerd_needed (it has nothing
# to check with ST_KERNEL_ONLY=1), st_init, cfg_init.
cfg_test_init() {
	st_steerd_needed "steerd's configuration file"
	st_init
	cfg_init
}

cfg_write() {
	local f=${1:-$CFG_FILE}
	cat >"$f.new"
	mv -f "$f.new" "$f"
	if [[ $ST_VERBOSE == 1 ]]; then sed 's/^/# yaml: /' "$f"; fi
	return 0
}

# cfg_start_steerd [ARGS...]: steerd --config CFG_FILE in NS_ROUTER; ok once synced (10 s at most).
cfg_start_steerd() {
	st_run_steerd 100 --config "$CFG_FILE" "$@"
}

# cfg_reload_bad WHAT: SIGHUP, then wait (5 s at most) for the error-level line that refuses
# CFG_FILE; CFG_REJECTED is that line.
cfg_reload_bad() {
	local what=$1 n0 pat
	pat="^steerd\[err\]: $CFG_FILE:"
	n0=$(st_log_count "$pat")
	st_hup "$pat"
	CFG_REJECTED=$(grep -E -- "$pat" "$ST_STEERD_LOG" | tail -n 1) || true
	st_check "$what: SIGHUP: steerd logged an error naming the file (${CFG_REJECTED:-nothing logged})" \
		test "$(st_log_count "$pat")" -gt "$n0"
}

cfg_add_sink() {
	local n=$2 ns=st$$-sink$1 up=up$1
	st_netns_add "$ns"
	st_ip link add "$up" netns "$NS_ROUTER" type veth peer name eth0 netns "$ns"
	st_ip -n "$NS_ROUTER" addr add "10.0.$n.1/30" dev "$up"
	st_ip -n "$ns" addr add "10.0.$n.2/30" dev eth0
	st_ip -n "$ns" addr add "${ST_INTERNET[4]}/32" dev lo
	st_ip -n "$NS_ROUTER" link set "$up" up
	st_ip -n "$ns" link set eth0 up
	st_ip -n "$ns" route add "${ST_CLIENT_NET[4]}" via "10.0.$n.1"
	ST_SINKS+=("$ns")
	# shellcheck disable=SC2004,SC2034 # associative arrays (lib.sh declares and reads them)
	ST_SINK_OF[$up]=$ns ST_UPLINK_OF[$ns]=$up
}

# tc-progs.py: the kernel's own list (bpftool 7.1 does not show TCX).
cfg_tc_progs() {
	ip netns exec "$NS_ROUTER" "$ST_PY" "$ST_ROOT/tests/lib/tc-progs.py" "$1" 2>&1 || true
}

# cfg_softnet_drops: packets the kernel's per-CPU backlogs dropped, machine-wide (all
# namespaces): for telling other load on the machine from a loss of steer's.
cfg_softnet_drops() {
	local n=0 line f
	while read -r line; do
		read -r -a f <<<"$line"
		n=$((n + 16#${f[1]}))
	done </proc/net/softnet_stat
	printf '%d' "$n"
}

# cfg_wait TENTHS CMD...: poll CMD every 0.1 s until it succeeds; 1 when it never did.
cfg_wait() {
	local tenths=$1 i
	shift
	for ((i = 0; i < tenths; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

cfg_udp() {
	local what=$1 ns=$2 src=$3 sport=$4 expect=$5 mode=$6 count=$ST_COUNT kv
	shift 6
	for kv in "$@"; do
		case $kv in
		count=*) count=${kv#*=} ;;
		*) st_die "cfg_udp: unknown argument '$kv'" ;;
		esac
	done
	local sink=${ST_SINK_OF[$expect]:-} st0 st1 out good=1
	[[ -n $sink ]] || st_die "cfg_udp: '$expect' is not an uplink"
	st_new_tag
	st0=$(st_stats)
	out=$(nsenter --net="/run/netns/$ns" "$ST_PY" "$ST_TMP/sttool.py" send 4 udp "$src" \
		"${ST_INTERNET[4]}" 0 "$sport" 4000 "$count" "$ST_TAG" 0 0 2>&1) || out="sender failed: $out"
	st_sinks_got "$sink" "$ST_TAG" "$count" || good=
	st1=$(st_stats)
	st_check "$what: $count x udp $src:$sport reached the sink behind $expect only, TTL 63 ($ST_SINKS_GOT; $out)" \
		test -n "$good"
	local fwd d delta
	delta=$(st_stats_delta "$st0" "$st1")
	fwd=$(($(st_stat_of "$st1" forwarded) - $(st_stat_of "$st0" forwarded)))
	case $mode in
	fast)
		st_check "$what: the fast path forwarded them (forwarded +$fwd >= $count; $delta)" \
			test "$fwd" -ge "$count"
		;;
	kernel)
		st_check "$what: the kernel forwarded them, not steer (forwarded +$fwd; $delta)" \
			test "$fwd" -eq 0
		;;
	*)
		d=$(($(st_stat_of "$st1" "$mode") - $(st_stat_of "$st0" "$mode")))
		st_check "$what: steer counted them as $mode, and forwarded none ($mode +$d >= $count, forwarded +$fwd; $delta)" \
			test "$d" -ge "$count" -a "$fwd" -eq 0
		;;
	esac
}
