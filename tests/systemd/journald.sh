#!/usr/bin/env bash
# Structured logs against a real systemd-journald: started here in a private mount namespace
# (tmpfs over /run/systemd and /run/log, volatile storage), steerd's stderr connected to its
# stream socket with JOURNAL_STREAM naming it, as systemd does for a service; the entries
# read back with `journalctl -o json`: MESSAGE_ID= per kind of event, INTERFACE=, TABLE=,
# RULE_PRIORITY=, PRIORITY=, SYSLOG_IDENTIFIER=. Then the plain stderr line format when
# stderr is not the journal, and the MESSAGE_ID catalog in steerd(8) against log.c.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Everything below runs in a mount namespace of its own: the journal sockets and files
# made here never shadow the host's.
if [[ ${ST_JOURNALD_NS:-} != 1 ]]; then
	[[ $EUID -eq 0 ]] || { echo "not ok - needs root (mount namespaces, BPF)"; echo "1..1"; exit 1; }
	ST_JOURNALD_NS=1 exec unshare --mount --propagation private "$BASH" "${BASH_SOURCE[0]}" "$@"
fi

# shellcheck source=tests/lib/lib.sh
. "$HERE/../lib/lib.sh"

JOURNALD=
for p in /lib/systemd/systemd-journald /usr/lib/systemd/systemd-journald; do
	[[ -x $p ]] && { JOURNALD=$p; break; }
done
if [[ -z $JOURNALD ]] || ! command -v journalctl >/dev/null || ! command -v systemd-cat >/dev/null; then
	# tools/dev.sh installs it; a test that cannot run has failed.
	echo "not ok - systemd-journald, journalctl and systemd-cat installed (Debian package: systemd)"
	echo "1..1"
	exit 1
fi

st_init
JOURNALD_PID=
stop_journald() {
	if [[ -n $JOURNALD_PID ]]; then
		kill "$JOURNALD_PID" 2>/dev/null || true
		wait "$JOURNALD_PID" 2>/dev/null || true
		JOURNALD_PID=
	fi
}
# steerd stops (st_cleanup, in a subshell since it exits) while journald still listens.
on_exit() {
	local rc=$?
	set +e	# a trap under errexit would stop at the first failing command
	(exit "$rc")
	(st_cleanup) && rc=0 || rc=$?
	stop_journald
	exit "$rc"
}
trap on_exit EXIT

mount -t tmpfs -o mode=755 tmpfs /run/systemd
mount -t tmpfs -o mode=755 tmpfs /run/log
mkdir -p /run/systemd/journald.conf.d
cat >/run/systemd/journald.conf.d/zz-steer-test.conf <<'EOF'
[Journal]
Storage=volatile
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
RateLimitIntervalSec=0
MaxLevelStore=debug
EOF
# journald's own messages go to its log file, not to the host's kernel log.
SYSTEMD_LOG_TARGET=console "$JOURNALD" >"$ST_TMP/journald.log" 2>&1 &
JOURNALD_PID=$!
for ((i = 0; i < 100; i++)); do
	[[ -S /run/systemd/journal/socket && -S /run/systemd/journal/stdout ]] && break
	sleep 0.05
done
if [[ -S /run/systemd/journal/socket && -S /run/systemd/journal/stdout ]]; then
	st_ok "a private systemd-journald listens (pid $JOURNALD_PID)"
else
	sed 's/^/# journald: /' "$ST_TMP/journald.log"
	st_die "a private systemd-journald listens"
fi

st_topology 4
# A rule with an attribute this build does not know (FRA_DSCP, 25; kernels since 6.12),
# added by raw netlink since iproute2 6.1 cannot say it: steerd must log it as a rule the
# fast path punts, naming its priority and table.
dscp_rule() {
	ip netns exec "$NS_ROUTER" "$ST_PY" - "$1" <<'PY'
import socket, struct, sys
def attr(t, data):
    n = 4 + len(data)
    return struct.pack("=HH", n, t) + data + b"\0" * (-n % 4)
body = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 1, 0)   # FR_ACT_TO_TBL
body += attr(6, struct.pack("=I", 500)) + attr(15, struct.pack("=I", 100))  # priority, table
body += attr(25, struct.pack("=B", 10))                                     # FRA_DSCP
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.send(struct.pack("=IHHII", 16 + len(body), int(sys.argv[1]), 0x405, 1, 0) + body)  # ACK|CREATE
err = struct.unpack("=i", s.recv(4096)[16:20])[0]
sys.exit(0 if err == 0 else 1)
PY
}
if dscp_rule 32; then	# RTM_NEWRULE
	HAVE_DSCP=1
else
	HAVE_DSCP=
	st_note "the kernel refuses FRA_DSCP rules (before 6.12?): no unknown-attribute rule"
fi
printf 'interfaces:\n  %s:\n' "$IF_CLIENT" >"$ST_TMP/steer.yaml"

# synced_now: steerd's maps are marked synced.
synced_now() {
	st_steerctl -j status 2>/dev/null |
		"$ST_PY" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("synced") is True else 1)' 2>/dev/null
}
wait_synced() {
	local i
	for ((i = 0; i < 100; i++)); do
		synced_now && return 0
		kill -0 "$ST_STEERD_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ---- under journald ---------------------------------------------------------------------

# As systemd starts a service: stderr is a stream to the journal, JOURNAL_STREAM says which
# (its dev:inode). systemd-cat connects the stream; the wrapper names it and execs steerd.
nsenter --net="/run/netns/$NS_ROUTER" systemd-cat -t steerd-stream sh -c \
	'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); export JOURNAL_STREAM; exec "$@"' sh \
	"$STEERD" --config "$ST_TMP/steer.yaml" --pin-dir "$PIN_DIR" --log-level debug &
ST_STEERD_PID=$!
if wait_synced; then
	st_ok "steerd under journald started and synced (pid $ST_STEERD_PID)"
else
	st_die "steerd under journald started and synced"
fi
# Events with an interface: a link going down and up again.
st_ip -n "$NS_ROUTER" link set upa down
sleep 0.3
st_ip -n "$NS_ROUTER" link set upa up
sleep 0.3
kill -HUP "$ST_STEERD_PID"
sleep 0.5
kill -TERM "$ST_STEERD_PID"
st_wait_exit "$ST_STEERD_PID" 50 || st_not_ok "steerd exits within 5 s of SIGTERM"
wait "$ST_STEERD_PID" 2>/dev/null || true
JPID=$ST_STEERD_PID
ST_STEERD_PID=
journalctl --sync >/dev/null 2>&1 || sleep 0.5
journalctl --directory=/run/log/journal -o json --no-pager >"$ST_TMP/journal.json" 2>"$ST_TMP/journalctl.err" ||
	st_not_ok "journalctl --directory=/run/log/journal -o json: $(head -c 300 "$ST_TMP/journalctl.err")"
st_note "$(grep -c . "$ST_TMP/journal.json") journal entries read back"

# One check per line of output: "ok|not ok<TAB>description".
"$ST_PY" - "$ST_TMP/journal.json" "$JPID" "$HERE/../../agent/log.c" "$IF_CLIENT" "$HAVE_DSCP" \
	>"$ST_TMP/checks" <<'PY' || st_not_ok "the journal checks ran (python failed)"
import json, re, sys
path, pid, log_c, ifname, have_dscp = sys.argv[1:6]
ids = dict((name, mid) for mid, name in re.findall(r'\{ "([0-9a-f]{32})", "([a-z-]+)" \}', open(log_c).read()))
entries = []
for line in open(path):
    e = json.loads(line)
    if e.get("_PID") == pid:
        entries.append(e)
def check(ok, what):
    print(("ok" if ok else "not ok") + "\t" + what)
def find(event, **want):
    mid = ids.get(event)
    for e in entries:
        if e.get("MESSAGE_ID") == mid and all(e.get(k) == v for k, v in want.items()):
            return e
    return None
check(entries, "steerd's entries are in the journal (%d)" % len(entries))
check(len(ids) >= 20, "log.c's event table parsed (%d events)" % len(ids))
stream = [e for e in entries if e.get("_TRANSPORT") != "journal"]
check(not stream, "every entry is structured (_TRANSPORT=journal), none fell back to the stream%s"
      % ("" if not stream else ": " + stream[0].get("MESSAGE", "")))
bad = [e for e in entries if e.get("SYSLOG_IDENTIFIER") != "steerd"]
check(entries and not bad, "SYSLOG_IDENTIFIER=steerd on every entry")
for event, want, prio in [
        ("config-loaded", {}, "6"),
        ("program-loaded", {}, "6"),
        ("netlink-opened", {}, "6"),
        ("attached", {"INTERFACE": ifname}, "6"),
        ("first-sync", {}, "6"),
        ("link-state", {"INTERFACE": "upa"}, "6"),
        ("reloading", {}, "6"),
        ("stopping", {}, "6"),
] + ([("rule-unsupported", {"RULE_PRIORITY": "500", "TABLE": "100"}, "7")] if have_dscp else []):
    e = find(event, **want)
    desc = "MESSAGE_ID=%s (%s)%s" % (ids.get(event), event,
                                    "".join(" %s=%s" % kv for kv in want.items()))
    check(e is not None, desc)
    if e is not None:
        check(e.get("PRIORITY") == prio and e.get("STEER_EVENT") == event,
              "%s: PRIORITY=%s STEER_EVENT=%s (want %s, %s)" % (event, e.get("PRIORITY"),
                                                            e.get("STEER_EVENT"), prio, event))
e = find("attached", INTERFACE=ifname)
check(e is not None and e.get("CODE_FILE") == "agent/attach.c" and e.get("CODE_LINE", "").isdigit()
      and e.get("CODE_FUNC"), "attached: CODE_FILE=agent/attach.c, CODE_LINE, CODE_FUNC=%s"
      % (e or {}).get("CODE_FUNC"))
plain = [e for e in entries if "MESSAGE_ID" not in e]
check(all("INTERFACE" not in e and "TABLE" not in e for e in plain),
      "entries without MESSAGE_ID carry no object fields")
known = set(ids.values())
stray = sorted(set(e["MESSAGE_ID"] for e in entries if "MESSAGE_ID" in e) - known)
check(not stray, "every MESSAGE_ID logged is one of log.c's%s" % (": " + ", ".join(stray) if stray else ""))
PY
while IFS=$'\t' read -r verdict what; do
	if [[ $verdict == ok ]]; then st_ok "journal: $what"; else st_not_ok "journal: $what"; fi
done <"$ST_TMP/checks"

# ---- plain stderr ---------------------------------------------------------------------

# JOURNAL_STREAM inherited but stderr is a file: not the journal, one plain line each.
JOURNAL_STREAM=9:1 nsenter --net="/run/netns/$NS_ROUTER" \
	"$STEERD" --config "$ST_TMP/steer.yaml" --pin-dir "$PIN_DIR" --log-level debug \
	2>"$ST_TMP/plain.log" &
ST_STEERD_PID=$!
wait_synced || st_not_ok "steerd with stderr to a file started and synced"
kill -TERM "$ST_STEERD_PID"
st_wait_exit "$ST_STEERD_PID" 50 || true
wait "$ST_STEERD_PID" 2>/dev/null || true
PPID_PLAIN=$ST_STEERD_PID
ST_STEERD_PID=
sed 's/^/# stderr: /' "$ST_TMP/plain.log" | head -n 8
odd=$(grep -v -E '^steerd\[(emerg|alert|crit|err|warning|notice|info|debug)\]: [^ ]' "$ST_TMP/plain.log" | head -n 3 || true)
st_check "stderr: every line is 'steerd[LEVEL]: message'${odd:+ (not: $odd)}" test -z "$odd"
# (This start adopts the first one's pins, so it swaps the program on the pinned link.)
st_check "stderr: an event line ends with its objects: 'steerd[info]: $IF_CLIENT: ... (iface=$IF_CLIENT)'" \
	grep -q -E "^steerd\[info\]: $IF_CLIENT: (attached|replaced) .* \(iface=$IF_CLIENT\)$" "$ST_TMP/plain.log"
if [[ -n $HAVE_DSCP ]]; then
	st_check "stderr: a rule event names its table and priority '(table=100 priority=500)'" \
		grep -q -E '^steerd\[debug\]: rule 500: .* \(table=100 priority=500\)$' "$ST_TMP/plain.log"
fi
journalctl --sync >/dev/null 2>&1 || sleep 0.5
n=$(journalctl --directory=/run/log/journal -o json --no-pager "_PID=$PPID_PLAIN" 2>/dev/null | grep -c . || true)
st_check "stderr: nothing went to the journal ($n entries)" test "$n" -eq 0

# ---- the catalog in steerd(8) ---------------------------------------------------------

MAN=$HERE/../../man/steerd.8
undocumented=
for id in $(grep -o -E '"[0-9a-f]{32}"' "$HERE/../../agent/log.c" | tr -d '"'); do
	grep -q "$id" "$MAN" || undocumented+=" $id"
done
st_check "steerd(8) lists every MESSAGE_ID of log.c${undocumented:+ (missing:$undocumented)}" \
	test -z "$undocumented"
dups=$(grep -o -E '"[0-9a-f]{32}"' "$HERE/../../agent/log.c" | sort | uniq -d)
st_check "no MESSAGE_ID is used for two events" test -z "$dups"
st_finish
