#!/usr/bin/env bash
# steerd run by systemd under config/steerd.service, sandbox and all: a throwaway systemd
# is PID 1 of its own pid, mount, UTS, IPC and cgroup namespaces inside the test's router
# network namespace (the host's init need not be systemd). The unit is used as shipped,
# with a drop-in for the binary, the configuration, the pin directory and a 2 s watchdog.
# Checked: `systemctl start` returns once the maps are synced; steerd runs with only its
# capabilities, no_new_privs, a seccomp filter and a read-only file system but /sys/fs/bpf;
# the watchdog is fed; reload, a crash (Restart=) and stop behave; journald gets the
# structured entries.
#
# Host safety: the namespace's / and /proc/sys are bind-mounted read-only, /run, /tmp and
# /var/tmp are tmpfs, /dev/console is a file, so this systemd changes nothing outside.
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

st_init
SYSTEMD=
for p in /lib/systemd/systemd /usr/lib/systemd/systemd; do
	[[ -x $p ]] && { SYSTEMD=$p; break; }
done
for tool in systemctl journalctl unshare findmnt; do
	command -v "$tool" >/dev/null || SYSTEMD=
done
[[ -n $SYSTEMD ]] || st_die "systemd, systemctl, journalctl, unshare and findmnt installed (Debian: systemd, util-linux)"
CG_ROOT=$(findmnt -n -t cgroup2 -o TARGET | head -n1)
[[ -n $CG_ROOT && -w $CG_ROOT ]] || st_die "a writable cgroup2 hierarchy to give the test's systemd a subtree"
CG=$CG_ROOT$(sed -n 's/^0:://p' /proc/self/cgroup)
CG=${CG%/}/steer-unit-run-$$

UNSHARE_PID=
SD_PID=
stop_systemd() {
	if [[ -z $SD_PID && -n $UNSHARE_PID ]]; then	# it may have started after we stopped looking
		SD_PID=$(awk '{ print $1 }' "/proc/$UNSHARE_PID/task/$UNSHARE_PID/children" 2>/dev/null || true)
	fi
	if [[ -n $SD_PID ]]; then
		kill -KILL "$SD_PID" 2>/dev/null || true	# the whole pid namespace goes with it
	fi
	if [[ -n $UNSHARE_PID ]]; then
		wait "$UNSHARE_PID" 2>/dev/null || true
	fi
	SD_PID=
	UNSHARE_PID=
	if [[ -d $CG ]]; then
		local i
		for ((i = 0; i < 20; i++)); do
			find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null || true
			[[ -d $CG ]] || break
			sleep 0.1
		done
	fi
}
on_exit() {
	local rc=$?
	set +e	# a trap under errexit would stop at the first failing command
	stop_systemd
	(exit "$rc")
	st_cleanup
}
trap on_exit EXIT

st_topology 4

# What PID 1 of the namespace gets: the unit as shipped, a drop-in, a target pulling in
# journald only, steerd and its configuration (in /run: ProtectHome= may hide the build).
U=$ST_TMP/units
mkdir -p "$U/steerd.service.d" "$ST_TMP/payload"
cp "$HERE/../../config/steerd.service" "$U/"
cat >"$U/steerd.service.d/test.conf" <<EOF
[Service]
ExecStart=
ExecStart=/run/steer-test/steerd --config /run/steer-test/steer.yaml --pin-dir $PIN_DIR --log-level debug
WatchdogSec=2s
EOF
cat >"$U/steer-test.target" <<'EOF'
[Unit]
Description=steer test: journald and nothing else
DefaultDependencies=no
Wants=systemd-journald.socket systemd-journald.service
EOF
cp "$STEERD" "$ST_TMP/payload/steerd"
printf 'interfaces:\n  %s:\n' "$IF_CLIENT" >"$ST_TMP/payload/steer.yaml"
touch "$ST_TMP/console"
cat >"$ST_TMP/pid1.sh" <<'EOF'
#!/bin/bash
# PID 1 of the new namespaces: set the stage, then become systemd.
set -e
units=$1 payload=$2 console=$3 systemd=$4
mount -t proc proc /proc
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/system /run/steer-test
cp -r "$units"/. /run/systemd/system/
cp "$payload"/* /run/steer-test/
mount --bind "$console" /dev/console
mount --bind /dev/null /dev/kmsg	# PID 1 and journald write there: not the host's log
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for d in /*; do
	case $d in /proc|/sys|/dev|/run|/tmp) continue ;; esac
	if [[ -d $d && ! -L $d ]]; then
		mount --bind "$d" "$d"
		mount -o remount,bind,ro "$d"
	fi
done
exec env -i container=steer-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	"$systemd" --unit=steer-test.target --log-target=journal --show-status=no
EOF
chmod +x "$ST_TMP/pid1.sh"

mkdir "$CG"
nsenter --net="/run/netns/$NS_ROUTER" unshare --mount --uts --ipc --pid --fork --propagation private \
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec unshare --cgroup "$@"' sh "$CG" \
	"$ST_TMP/pid1.sh" "$U" "$ST_TMP/payload" "$ST_TMP/console" "$SYSTEMD" \
	>"$ST_TMP/pid1.log" 2>&1 &
UNSHARE_PID=$!
for ((i = 0; i < 50; i++)); do
	[[ -n $SD_PID ]] && break
	sleep 0.1
	SD_PID=$(awk '{ print $1 }' "/proc/$UNSHARE_PID/task/$UNSHARE_PID/children" 2>/dev/null || true)
done
[[ -n $SD_PID ]] || st_die "the test's systemd started ($(head -c 300 "$ST_TMP/pid1.log"))"

in_ns() { nsenter -t "$SD_PID" -m -p "$@"; }
sdctl() { in_ns systemctl "$@"; }
show() { sdctl show -P "$1" steerd.service; }

state=
for ((i = 0; i < 100; i++)); do
	state=$(sdctl is-system-running 2>/dev/null || true)
	[[ $state == running || $state == degraded ]] && break
	sleep 0.1
done
if [[ $state == running || $state == degraded ]]; then
	st_ok "a systemd of its own runs as PID 1 (host pid $SD_PID, $(in_ns "$SYSTEMD" --version | head -n1))"
else
	st_note "pid1: $(tr '\n' ' ' <"$ST_TMP/pid1.log" | head -c 500)"
	st_die "a systemd of its own runs as PID 1 (state: '${state}')"
fi

# ---- start: READY=1 only after the first full sync ------------------------------------
t0=$(st_now)
if timeout 30 nsenter -t "$SD_PID" -m -p systemctl start steerd.service; then
	st_ok "systemctl start steerd returns ($(st_ms_since "$t0") ms)"
else
	st_note "$(sdctl status --no-pager -l steerd.service 2>&1 | tr '\n' ' ' | head -c 600)"
	in_ns journalctl -u steerd.service -o cat --no-pager 2>&1 | tail -n 20 | sed 's/^/# journal: /'
	st_die "systemctl start steerd returns"
fi
synced=$(st_steerctl -j status 2>/dev/null |
	"$ST_PY" -c 'import json,sys; print(json.load(sys.stdin).get("synced"))' 2>/dev/null || true)
st_check "when start returns the maps are synced (synced: $synced)" test "$synced" = True
st_check "the unit is active/running ($(show ActiveState)/$(show SubState))" \
	test "$(show ActiveState)/$(show SubState)" = active/running
status=$(show StatusText)
st_check "StatusText= has the counts: \"$status\"" grep -q -E '^[0-9]+ rules, [0-9]+ routes' <<<"$status"
MAIN=$(show MainPID)

# ---- the sandbox as steerd sees it ------------------------------------------------------
proc_status=$(in_ns cat "/proc/$MAIN/status")
capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' <<<"$proc_status")
# The unit's bounding set, as a mask: whatever it names, steerd holds exactly that.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$U/steerd.service")
mask=0
for cap in $caps; do
	case $cap in
	CAP_NET_ADMIN) mask=$((mask | 1 << 12)) ;;
	CAP_PERFMON) mask=$((mask | 1 << 38)) ;;
	CAP_BPF) mask=$((mask | 1 << 39)) ;;
	*) st_not_ok "a capability this test knows the number of: $cap" ;;
	esac
done
want=$(printf '%016x' "$mask")
st_check "effective capabilities are the unit's $caps only (CapEff $capeff)" test "$capeff" = "$want"
capbnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' <<<"$proc_status")
st_check "and so is the bounding set (CapBnd $capbnd)" test "$capbnd" = "$want"
st_check "no_new_privs is set" grep -q -E '^NoNewPrivs:[[:space:]]+1$' <<<"$proc_status"
st_check "a seccomp filter is in force" grep -q -E '^Seccomp:[[:space:]]+2$' <<<"$proc_status"
mounts=$(in_ns cat "/proc/$MAIN/mountinfo")
mount_opts() { awk -v p="$1" '$5 == p { o = $6 } END { print o }' <<<"$mounts"; }
st_check "/ is read-only for steerd ($(mount_opts /))" grep -q -E '^ro(,|$)' <<<"$(mount_opts /)"
st_check "/sys is read-only for steerd ($(mount_opts /sys))" grep -q -E '^ro(,|$)' <<<"$(mount_opts /sys)"
st_check "/sys/fs/bpf is writable for steerd ($(mount_opts /sys/fs/bpf))" \
	grep -q -E '^rw(,|$)' <<<"$(mount_opts /sys/fs/bpf)"
procs=$(in_ns ls "/proc/$MAIN/root/proc" 2>/dev/null | grep -c -v -E '^[0-9]+$|^self$|^thread-self$' || true)
st_check "steerd's /proc shows processes only (ProcSubset=pid; $procs other entries)" test "$procs" -eq 0

# ---- watchdog: 2 s, steerd must feed it ---------------------------------------------
wd0=$(show WatchdogTimestampMonotonic)
sleep 5
wd1=$(show WatchdogTimestampMonotonic)
st_check "after 5 s with WatchdogSec=2s: same main pid, no restart (pid $(show MainPID), NRestarts=$(show NRestarts))" \
	test "$(show MainPID)" = "$MAIN" -a "$(show NRestarts)" = 0
st_check "the watchdog was fed (last ping moved $(((wd1 - wd0) / 1000)) ms)" test "$wd1" -gt "$wd0"

# ---- reload: SIGHUP, RELOADING=1 ... READY=1 -------------------------------------------
if timeout 30 nsenter -t "$SD_PID" -m -p systemctl reload steerd.service; then
	st_ok "systemctl reload steerd returns"
else
	st_not_ok "systemctl reload steerd returns"
fi
sleep 0.3
st_check "after reload: active/running, same pid ($(show ActiveState)/$(show SubState), pid $(show MainPID))" \
	test "$(show ActiveState)/$(show SubState)/$(show MainPID)" = "active/running/$MAIN"

# ---- a crash: Restart=on-failure brings it back, synced ---------------------------------
in_ns kill -KILL "$MAIN"
back=
for ((i = 0; i < 100; i++)); do
	sleep 0.1
	pid=$(show MainPID)
	if [[ $pid != 0 && $pid != "$MAIN" && $(show ActiveState) == active ]]; then
		back=$pid
		break
	fi
done
st_check "killed with SIGKILL, steerd is restarted and ready again (pid $MAIN -> ${back:-none}, NRestarts=$(show NRestarts))" \
	test -n "$back"
MAIN=${back:-$MAIN}

# ---- stop: STOPPING=1, a clean exit ------------------------------------------------------
if timeout 30 nsenter -t "$SD_PID" -m -p systemctl stop steerd.service; then
	st_ok "systemctl stop steerd returns"
else
	st_not_ok "systemctl stop steerd returns"
fi
st_check "stopped cleanly (Result=$(show Result), exit status $(show ExecMainStatus))" \
	test "$(show Result)/$(show ExecMainStatus)" = success/0

# ---- what journald got -------------------------------------------------------------------
in_ns journalctl -u steerd.service -o json --no-pager >"$ST_TMP/journal.json" 2>/dev/null || true
"$ST_PY" - "$ST_TMP/journal.json" "$IF_CLIENT" >"$ST_TMP/checks" <<'PY' || st_not_ok "journal checks ran"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "steerd"]
def check(ok, what):
    print(("ok" if ok else "not ok") + "\t" + what)
check(mine, "steerd's entries reach journald through systemd (%d)" % len(mine))
check(all(e.get("_TRANSPORT") == "journal" for e in mine),
      "all structured (systemd's JOURNAL_STREAM recognised)")
att = [e for e in mine if e.get("STEER_EVENT") == "attached" and e.get("INTERFACE") == sys.argv[2]]
check(att, "MESSAGE_ID of 'attached' with INTERFACE=%s" % sys.argv[2])
for ev in ("first-sync", "reloading"):
    check(any(e.get("STEER_EVENT") == ev for e in mine), "an entry for '%s'" % ev)
check(all(e.get("_SYSTEMD_UNIT") == "steerd.service" for e in mine), "_SYSTEMD_UNIT=steerd.service on each")
PY
while IFS=$'\t' read -r verdict what; do
	if [[ $verdict == ok ]]; then st_ok "journal: $what"; else st_not_ok "journal: $what"; fi
done <"$ST_TMP/checks"
st_finish
