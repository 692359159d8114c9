#!/usr/bin/env bash
# steerd under valgrind (memcheck) while the router's routing churns for ~20 s: routes and rules
# added, replaced and deleted (IPv4 and IPv6, tables 100-102, every rule action), multipath
# routes and nexthop objects, neighbours and addresses, a link going down and up, a link added
# and deleted, a burst bigger than the netlink buffer and the routes map (overrun, re-dump,
# sweep, image fitting), SIGHUP and periodic reconciles. Then SIGTERM: valgrind must report no
# error and no definitely lost byte. The only suppressions (tests/resilience/valgrind.supp)
# are valgrind misreading bpf(2)'s attr size; see the comments there.
# Usage: tests/resilience/valgrind.sh   (root; STEERD/STEERCTL override the binaries;
#        VALGRIND_CHURN seconds of churn, default 20)
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

CHURN=${VALGRIND_CHURN:-20}
SUPP=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/valgrind.supp

st_init
command -v valgrind >/dev/null || st_die "valgrind installed"
command -v bpftool >/dev/null || st_die "bpftool installed (reads the agent's counters)"
[[ -r $SUPP ]] || st_die "suppressions file $SUPP"
st_note "valgrind: $(valgrind --version); topology $NS_CLIENT -- $NS_ROUTER -- {$NS_SINKA, $NS_SINKB}"
st_topology 46
VG_LOG=$ST_TMP/valgrind.log
ST_STEERD_WRAP=(valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
	--track-fds=no --show-error-list=yes --num-callers=30 --suppressions="$SUPP"
	--log-file="$VG_LOG")
# Under valgrind everything is ~20x slower: allow a long first sync.
st_start_steerd_with 600 --netlink-rcvbuf 65536 --reconcile-interval 3 --limit routes=1500
st_expect_path 4 10 "IPv4 under valgrind" fast upb
st_expect_path 6 10 "IPv6 under valgrind" fast upb

R=(-n "$NS_ROUTER")
# Not st_ip: a churn step that the kernel refuses (a route already gone, ...) is no failure.
q() { ip "${R[@]}" "$@" >/dev/null 2>&1 || true; }
# batch FAM: ip -batch from stdin, errors ignored (-force: go on after one).
batch() { ip "${R[@]}" "-$1" -force -batch - >/dev/null 2>&1 || true; }
# rules FAM RULE...: `rule add RULE` at priorities p, p+1, ... (this round's), in the order
# given, and as many of the last round's (q, q+1, ...) deleted.
rules() {
	local fam=$1 i
	shift
	{
		for ((i = 1; i <= $#; i++)); do echo "rule add ${!i} priority $((p + i - 1))"; done
		for ((i = 0; i < $#; i++)); do echo "rule del priority $((q + i))"; done
	} | batch "$fam"
}

st_note "churn for $CHURN s"
t0=$(st_now)
k=0
burst_done=
sink_c=
while (($(st_ms_since "$t0") < CHURN * 1000)); do
	k=$((k + 1))
	t=$((100 + k % 3))
	# Routes: 40 per family, added, half replaced, a third deleted.
	{
		for ((i = 0; i < 40; i++)); do echo "route replace 10.$((100 + k % 4)).$i.0/24 via 10.0.$((1 + i % 2)).2 table $t"; done
		for ((i = 0; i < 40; i += 2)); do echo "route replace 10.$((100 + k % 4)).$i.0/24 via 10.0.$((2 - i % 2)).2 table $t metric 5"; done
		for ((i = 0; i < 40; i += 3)); do echo "route del 10.$((100 + (k + 3) % 4)).$i.0/24 table $((100 + (k + 2) % 3))"; done
		echo "route replace blackhole 10.99.$((k % 8)).0/24 table $t"
		echo "route replace unreachable 10.98.$((k % 8)).0/24 table $t"
		echo "route replace prohibit 10.97.$((k % 8)).0/24 table $t"
		echo "route replace throw 10.96.$((k % 8)).0/24 table $t"
		echo "route replace 203.0.113.0/24 table $t nexthop via 10.0.1.2 weight $((1 + k % 3)) nexthop via 10.0.2.2 weight 2"
	} | batch 4
	{
		for ((i = 0; i < 40; i++)); do printf 'route replace 2001:db8:%x:%x::/64 via 2001:db8:%s::2 table %d\n' $((0x100 + k % 4)) "$i" "$([[ $((i % 2)) == 0 ]] && echo a || echo b)" "$t"; done
		for ((i = 0; i < 40; i += 3)); do printf 'route del 2001:db8:%x:%x::/64 table %d\n' $((0x100 + (k + 3) % 4)) "$i" $((100 + (k + 2) % 3)); done
		echo "route replace blackhole 2001:db8:99:$((k % 8))::/64 table $t"
		echo "route replace 2001:db8:203::/64 table $t nexthop via 2001:db8:a::2 weight 1 nexthop via 2001:db8:b::2 weight $((1 + k % 4))"
	} | batch 6
	# Rules: every action and most selectors, added this round, deleted the next.
	p=$((2000 + (k % 2) * 100)) q=$((2000 + ((k + 1) % 2) * 100))
	rules 4 "from 100.64.$((k % 2)).0/24 lookup $t" \
		"from 100.64.$((k % 2)).0/24 to 10.100.0.0/16 ipproto udp dport 53 lookup 101" \
		"fwmark 0x$((k % 2 + 1))/0xff lookup 102" \
		"tos 0x10 iif cli lookup 100" \
		"from 100.65.$((k % 2)).0/24 blackhole" \
		"from 100.66.$((k % 2)).0/24 unreachable" \
		"from 100.67.$((k % 2)).0/24 prohibit" \
		"from 100.68.$((k % 2)).0/24 goto $((p + 9))" \
		"lookup main suppress_prefixlength 0" \
		"not from 100.69.0.0/16 sport 1000-2000 nop"
	rules 6 "from 2001:db8:f0$((k % 2))::/48 lookup $t" \
		"from 2001:db8:f1$((k % 2))::/48 unreachable" \
		"fwmark 0x10 lookup 101"
	# Nexthop objects, a route by nhid, groups.
	q nexthop replace id $((10 + k % 2)) via 10.0.1.2 dev upa
	q nexthop replace id 12 via 10.0.2.2 dev upb
	q nexthop replace id 20 group $((10 + k % 2))/12,$((1 + k % 3))
	q route replace 10.95.0.0/24 nhid 20 table $t
	q route replace 10.94.0.0/24 nhid $((10 + k % 2)) table $t
	# Neighbours and addresses.
	q neigh replace 10.0.1.$((3 + k % 2)) lladdr "02:00:00:00:00:$(printf %02x $((k % 256)))" dev upa
	q neigh del 10.0.1.$((3 + (k + 1) % 2)) dev upa
	q addr add 10.0.1.$((5 + k % 2))/32 dev upa
	q addr del 10.0.1.$((5 + (k + 1) % 2))/32 dev upa
	# A link down and up (its routes go and come back), every few rounds.
	if ((k % 4 == 0)); then
		q link set upb down
		sleep 0.05
		q link set upb up
		q route replace default via 10.0.2.2 table 100
		q -6 route replace default via 2001:db8:b::2 table 100
	fi
	# A link added and later deleted.
	if ((k == 3)); then st_add_sink c; sink_c=1; q route replace 10.93.0.0/24 via 10.0.3.2 table 101; fi
	if ((k == 8)) && [[ -n $sink_c ]]; then q link del upc; fi
	# SIGHUP: a full re-read.
	((k == 5)) && kill -HUP "$ST_STEERD_PID"
	# Past half-time: one burst bigger than the netlink buffer and the routes map.
	if [[ -z $burst_done ]] && (($(st_ms_since "$t0") > CHURN * 500)); then
		burst_done=1
		for ((i = 0; i < 2000; i++)); do echo "route replace 10.$((120 + i / 256)).$((i % 256)).0/24 via 10.0.1.2 table 100"; done | batch 4
		sleep 1
		for ((i = 0; i < 2000; i++)); do echo "route del 10.$((120 + i / 256)).$((i % 256)).0/24 table 100"; done | batch 4
	fi
	st_steerd_alive || break
	sleep 0.2
done
st_note "churn: $k rounds in $(st_ms_since "$t0") ms"
st_check "steerd (under valgrind) survived the churn" st_steerd_alive

# Not checked here (storm.sh does): whether it caught up and the maps match. This test is
# about memory; the numbers are shown.
st_wait_idle 1000 15 || true
st_note "agent counters: $(st_agent_stats)"
vrc=0
st_verify || vrc=$?
st_note "steerd --verify after the churn: exit $vrc: $ST_VERIFY_OUT"

st_note "SIGTERM: valgrind checks for leaks on the way out"
kill -TERM "$ST_STEERD_PID"
rc=
if st_wait_exit "$ST_STEERD_PID" 900; then
	wait "$ST_STEERD_PID" && rc=0 || rc=$?
	ST_STEERD_PID=
fi
st_check "steerd under valgrind exited within 90 s of SIGTERM (exit ${rc:-none})" test -n "$rc"
st_check "valgrind found no error (exit ${rc:-none}; 99 means errors)" test "${rc:-99}" != 99
st_check "steerd exited 0 (exit ${rc:-none})" test "${rc:-1}" = 0

summary=$(grep -E 'ERROR SUMMARY' "$VG_LOG" | tail -n 1 | sed 's/^==[0-9]*== //') || summary=
st_check "valgrind: ${summary:-no ERROR SUMMARY in its log}" \
	grep -qE 'ERROR SUMMARY: 0 errors from 0 contexts' "$VG_LOG"
lost=$(grep -E 'definitely lost:' "$VG_LOG" | tail -n 1 | sed 's/^==[0-9]*== *//') ||
	lost=
if grep -q 'All heap blocks were freed -- no leaks are possible' "$VG_LOG"; then
	st_ok "valgrind: no leaks (all heap blocks were freed)"
else
	st_check "valgrind: no definitely lost bytes (${lost:-no leak summary in its log})" \
		grep -qE 'definitely lost: 0 bytes in 0 blocks' "$VG_LOG"
fi
st_note "valgrind: $(grep -E 'total heap usage' "$VG_LOG" | sed 's/^==[0-9]*== *//')"
used=$(grep -E 'used_suppression:' "$VG_LOG" | sed -E 's/^.*used_suppression: *([0-9]+) ([^ ]+).*/\2 x\1/' |
	paste -sd ',' | sed 's/,/, /g') || used=
st_note "suppressed (valgrind.supp): ${used:-none}"
warn=$(grep -E '^--[0-9]+-- WARNING' "$VG_LOG" | sed 's/^--[0-9]*-- //' | sort | uniq -c |
	sed 's/^ *//' | paste -sd ';') || warn=
st_note "valgrind warnings (not errors): ${warn:-none}"
if ((ST_FAILS > 0)); then
	st_note "---- valgrind log (errors and leaks) ----"
	grep -vE '^--' "$VG_LOG" | sed 's/^/# vg: /' | head -n 300
fi
st_finish
