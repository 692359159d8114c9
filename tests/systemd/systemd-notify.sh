#!/usr/bin/env bash
# The notify protocol against a real NOTIFY_SOCKET, as systemd would see it with
# Type=notify, NotifyAccess=main and WatchdogSec=: READY=1 only once the maps hold the
# kernel's rules, STATUS= with counts, WATCHDOG=1 at half the period only when the watchdog
# is ours, RELOADING=1 with MONOTONIC_USEC on SIGHUP followed by READY=1, STOPPING=1 and a
# clean exit on SIGTERM; every message from steerd's own pid.
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

st_init
st_topology 4
# Rules beyond the topology's own, so "the maps hold the rules" means something.
st_ip -n "$NS_ROUTER" rule add from 10.1.0.0/24 to 203.0.113.0/24 table 100 priority 200
st_ip -n "$NS_ROUTER" rule add fwmark 7 table 100 priority 300
KERNEL_RULES=$(($(ip -n "$NS_ROUTER" -4 rule | wc -l) + $(ip -n "$NS_ROUTER" -6 rule | wc -l)))
printf 'interfaces:\n  %s:\n' "$IF_CLIENT" >"$ST_TMP/steer.yaml"

LISTENER_PID=
SOCK=
LOG=
ON_READY=

mono_usec() { "$ST_PY" -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)'; }

# start_listener NAME: a fresh socket and log; on the first READY=1 it snapshots
# `steerctl -j status` and `steerctl -j rules` into $ON_READY.
start_listener() {
	SOCK=$ST_TMP/$1.sock
	LOG=$ST_TMP/$1.log
	ON_READY=$ST_TMP/$1.on-ready
	: >"$LOG"
	"$ST_PY" "$HERE/notify-listen.py" "$SOCK" "$LOG" "$ON_READY" -- sh -c \
		'nsenter --net="$1" "$2" --pin-dir "$3" -j status; echo; nsenter --net="$1" "$2" --pin-dir "$3" -j rules' \
		sh "/run/netns/$NS_ROUTER" "$STEERCTL" "$PIN_DIR" &
	LISTENER_PID=$!
	ST_SNIFF_PIDS+=("$LISTENER_PID")	# st_cleanup ends it
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -e $SOCK.ready ]] && return 0
		sleep 0.1
	done
	st_die "notify listener bound $SOCK"
}

# start_steerd WATCHDOG_PID: steerd with NOTIFY_SOCKET and WATCHDOG_USEC=2 s; WATCHDOG_PID
# "self" names steerd itself (the wrapper's $$ is steerd's pid once it execs).
start_steerd() {
	local wpid=$1
	NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=2000000 WD=$wpid nsenter --net="/run/netns/$NS_ROUTER" \
		sh -c 'if [ "$WD" = self ]; then WATCHDOG_PID=$$; else WATCHDOG_PID=$WD; fi
		       export WATCHDOG_PID; unset WD; exec "$@"' \
		sh "$STEERD" --config "$ST_TMP/steer.yaml" --pin-dir "$PIN_DIR" --log-level debug \
		>>"$ST_STEERD_LOG" 2>&1 &
	ST_STEERD_PID=$!
}

# find_msg WHAT AFTER_USEC [UNTIL_USEC]: the log lines of messages that arrived in
# (AFTER, UNTIL] and carry WHAT: "KEY=VALUE" exactly, or "KEY=" with any value.
find_msg() {
	awk -v what="$1" -v a="$2" -v b="${3:-0}" '
		$1 > a && (b == 0 || $1 <= b) {
			msg = $0
			sub(/^[^ ]+ [^ ]+ /, "", msg)
			n = split(msg, kv, "|")
			for (i = 1; i <= n; i++)
				if (kv[i] == what || (what ~ /=$/ && index(kv[i], what) == 1)) { print; break }
		}' "$LOG"
}
# wait_msg WHAT SECONDS [AFTER_USEC]: the first such message, waiting for it; 1 on timeout.
wait_msg() {
	local tenths=$(($2 * 10)) i line
	for ((i = 0; i <= tenths; i++)); do
		line=$(find_msg "$1" "${3:-0}" | head -n1)
		[[ -n $line ]] && { printf '%s\n' "$line"; return 0; }
		sleep 0.1
	done
	return 1
}
field() { tr '|' '\n' <<<"${1#* * }" | sed -n "s/^$2=//p" | head -n1; }
arrival() { printf '%s' "${1%% *}"; }
sender() { local rest=${1#* }; printf '%s' "${rest%% *}"; }

# ---- run 1: a watchdog that is not steerd's (WATCHDOG_PID names another process) -------

start_listener run1
start_steerd 1
if ready=$(wait_msg READY=1 10); then
	st_ok "READY=1 arrives ($(($(arrival "$ready") / 1000)) ms monotonic)"
else
	st_die "READY=1 arrives within 10 s"
fi
st_check "READY=1 comes from steerd's own pid (NotifyAccess=main)" \
	test "$(sender "$ready")" = "$ST_STEERD_PID"
snap=$(cat "$ON_READY" 2>/dev/null || true)
st_check "at READY=1 the maps are marked synced" grep -q '"synced":true' <<<"$snap"
missing=
for prio in 100 200 300; do
	grep -q "\"priority\":$prio," <<<"$snap" || missing+=" $prio"
done
st_check "at READY=1 the maps already hold the rules at priorities 100, 200, 300${missing:+ (missing:$missing)}" \
	test -z "$missing"

if status=$(wait_msg STATUS= 5); then
	text=$(field "$status" STATUS)
	st_ok "STATUS= sent: \"$text\""
	n=$(sed -n 's/^\([0-9][0-9]*\) rules.*/\1/p' <<<"$text")
	st_check "STATUS= counts the kernel's $KERNEL_RULES rules (says ${n:-nothing})" \
		test "${n:-x}" = "$KERNEL_RULES"
else
	st_not_ok "STATUS= sent after the first sync"
fi

sleep 2.5
if wd=$(wait_msg WATCHDOG=1 0); then
	st_not_ok "no WATCHDOG=1 when WATCHDOG_PID is not steerd's (got: ${wd#* * })"
else
	st_ok "no WATCHDOG=1 when WATCHDOG_PID is not steerd's (2.5 s)"
fi

# Reload: RELOADING=1 and MONOTONIC_USEC in one message, stamped between the signal and its
# arrival here, then READY=1 once the re-read is applied.
t0=$(mono_usec)
kill -HUP "$ST_STEERD_PID"
if rl=$(wait_msg RELOADING=1 5 "$t0"); then
	st_ok "SIGHUP: RELOADING=1 arrives"
	mu=$(field "$rl" MONOTONIC_USEC)
	at=$(arrival "$rl")
	if [[ $mu =~ ^[0-9]+$ ]] && ((mu >= t0 && mu <= at)); then
		st_ok "MONOTONIC_USEC with it is CLOCK_MONOTONIC now ($((at - mu)) us before arrival, $((mu - t0)) us after the signal)"
	else
		st_not_ok "MONOTONIC_USEC with RELOADING=1 is CLOCK_MONOTONIC now (got '${mu}', signal at $t0, arrival at $at)"
	fi
	if again=$(wait_msg READY=1 10 "$at"); then
		st_ok "READY=1 follows the reload ($(((($(arrival "$again") - at)) / 1000)) ms later)"
	else
		st_not_ok "READY=1 follows the reload within 10 s"
	fi
else
	st_not_ok "SIGHUP: RELOADING=1 arrives within 5 s"
	st_not_ok "MONOTONIC_USEC with RELOADING=1 is CLOCK_MONOTONIC now (no RELOADING=1)"
	st_not_ok "READY=1 follows the reload (no RELOADING=1)"
fi
st_check "steerd survives SIGHUP" st_steerd_alive

t0=$(mono_usec)
kill -TERM "$ST_STEERD_PID"
if wait_msg STOPPING=1 5 "$t0" >/dev/null; then
	st_ok "SIGTERM: STOPPING=1 arrives"
else
	st_not_ok "SIGTERM: STOPPING=1 arrives within 5 s"
fi
if st_wait_exit "$ST_STEERD_PID" 50; then
	wait "$ST_STEERD_PID" && rc=0 || rc=$?
	st_check "steerd exits 0 after STOPPING=1 (exit $rc)" test "$rc" -eq 0
else
	st_not_ok "steerd exits within 5 s of SIGTERM"
fi
ST_STEERD_PID=
others=$(awk -v p="$(sender "$ready")" '$2 != p' "$LOG")
st_check "every message came from steerd's pid${others:+ (others: $others)}" test -z "$others"

# ---- run 2: the watchdog is steerd's --------------------------------------------------

start_listener run2
start_steerd self
if ready=$(wait_msg READY=1 10); then
	st_ok "second start: READY=1 arrives"
else
	st_die "second start: READY=1 arrives within 10 s"
fi
t0=$(arrival "$ready")
sleep 3
pings=$(find_msg WATCHDOG=1 "$t0" "$((t0 + 3000000))" | cut -d' ' -f1)
n=$(grep -c . <<<"$pings" || true)
st_check "WATCHDOG=1 at least twice within 3 s of READY=1 with WATCHDOG_USEC=2 s (got $n)" test "$n" -ge 2
gap=$(awk 'NR > 1 && $1 - p > m { m = $1 - p } { p = $1 } END { print m + 0 }' <<<"$pings")
st_check "WATCHDOG=1 at about half the period: largest gap $((gap / 1000)) ms, at most 1.2 s" \
	test "$gap" -le 1200000
st_stop_steerd
st_finish
