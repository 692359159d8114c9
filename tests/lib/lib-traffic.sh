# shellcheck shell=bash disable=SC2034 # LT_* are read by the tests
# Steady, sequence-numbered traffic for steer's resilience tests and the reload and netfilter
# churn tests, on top of tests/lib/lib.sh (source that first, then this, then call st_init and lt_init).
#
#   lt_recv_start [PORT]      a receiver in every sink of ST_SINKS: plain UDP sockets (IPv4
#                             and IPv6) bound to PORT (default 5000), so no ICMP errors come
#                             back; every sequence-tagged datagram is logged with the TTL/hop
#                             limit it arrived with and the kernel's receive time.
#   lt_send_start FAM DST DPORT RATE SECONDS TAG FLOWS...
#                             a paced UDP sender in the client namespace (background): RATE
#                             packets/s for SECONDS, round-robin over FLOWS ("SRC:PORT" or
#                             "SRC:LO-HI"), each packet carrying TAG, its sequence number,
#                             its flow index and its send time. lt_send_wait collects it;
#                             SIGTERM ends it early, its log written.
#   lt_recv_settle            wait until the receivers stopped receiving.
#   lt_kill_steerd            SIGKILL steerd (its pins stay, the fast path keeps going).
#   lt_restart_steerd GEN     start steerd again on the same pins, wait until the *new* one
#                             synced (its "first sync applied" log line, and steerctl status
#                             synced); sets LT_SYNC_T.
#   lt_stat NAME              one steerctl counter, now.
#
# Files (all under $ST_TMP): lt-send-TAG (sender's log: "SEQ FLOW T_SEND" per packet, then
# "# sent=N errors=E"), lt-recv-NS (per sink: "TAG SEQ FLOW TTL T_SEND T_RX" per packet).

LT_SEND_PID=
LT_SYNC_T=
LT_PORT=5000

lt_init() {
	cat >"$ST_TMP/lttraffic.py" <<'EOF'
# send FAM DST DPORT RATE SECONDS TAG OUT FLOW...   paced UDP sender (see lib-traffic.sh)
# recv PORT OUT                                     UDP receiver, until SIGTERM / parent gone
import os, select, signal, socket, struct, sys, time

MAGIC = b"STEERSEQ"
HDR = struct.Struct("!8sIId")   # tag, seq, flow, send time

def flows_of(specs):
    out = []
    for spec in specs:
        src, _, ports = spec.rpartition(":")
        lo, _, hi = ports.partition("-")
        for p in range(int(lo), int(hi or lo) + 1):
            out.append((src.strip("[]"), p))
    return out

def send(fam, dst, dport, rate, seconds, tag, out, specs):
    af = socket.AF_INET if fam == "4" else socket.AF_INET6
    flows = flows_of(specs)
    socks = []
    for src, port in flows:
        s = socket.socket(af, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        if fam == "4":
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 64)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 64)
        s.bind((src, port))
        socks.append(s)
    n = int(rate * seconds)
    tagb = tag.encode()[:8].ljust(8, b".")
    times = [0.0] * n
    errors = {}
    nf = len(flows)
    addr = (dst, dport)
    # SIGTERM ends the run early, its log written for what was sent.
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    with open(out + ".start", "w") as f:
        f.write("%.6f\n" % time.time())
    t0 = time.monotonic()
    for i in range(n):
        if stop:
            n = i
            times = times[:n]
            break
        target = t0 + i / rate
        now = time.monotonic()
        if target - now > 0.0003:
            time.sleep(target - now)
        t = time.time()
        try:
            socks[i % nf].sendto(MAGIC + HDR.pack(tagb, i, i % nf, t), addr)
        except OSError as e:
            errors[i] = e.strerror
            t = -t
        times[i] = t
    late = 0.0 if stop else time.monotonic() - (t0 + (n - 1) / rate)
    with open(out + ".tmp", "w") as f:
        f.write("# flows %s\n" % " ".join("%s:%d" % fl for fl in flows))
        for i, t in enumerate(times):
            f.write("%d %d %.6f\n" % (i, i % nf, t))
        f.write("# sent=%d errors=%d late=%.3f %s\n" % (n - len(errors), len(errors), late,
                ",".join("%d:%s" % kv for kv in list(errors.items())[:5])))
    os.rename(out + ".tmp", out)
    print("sent=%d errors=%d late=%.3fs" % (n - len(errors), len(errors), late))
    return 0 if not errors else 1

def recv(port, out):
    socks = []
    for af in (socket.AF_INET, socket.AF_INET6):
        try:
            s = socket.socket(af, socket.SOCK_DGRAM)
        except OSError:
            continue
        try:
            if af == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            else:
                s.setsockopt(socket.IPPROTO_IP, 12, 1)   # IP_RECVTTL
            s.setsockopt(socket.SOL_SOCKET, 35, 1)   # SO_TIMESTAMPNS
            try:
                s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)   # SO_RCVBUFFORCE
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
            s.bind(("::" if af == socket.AF_INET6 else "0.0.0.0", port))
        except (OSError, AttributeError):
            s.close()   # e.g. IPv6 disabled in this namespace
            continue
        s.setblocking(False)
        socks.append(s)
    if not socks:
        return 1
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    f = open(out, "w")
    open(out + ".ready", "w").close()
    parent = os.getppid()
    while True:
        try:
            r = select.select(socks, [], [], 0.2)[0]
        except InterruptedError:
            r = []
        lines = []
        for s in (r if not stop else socks):
            while True:
                try:
                    data, anc, _, _ = s.recvmsg(2048, 256)
                except (BlockingIOError, InterruptedError):
                    break
                if len(data) < 8 + HDR.size or not data.startswith(MAGIC):
                    continue
                tag, seq, flow, ts = HDR.unpack_from(data, 8)
                ttl, rx = -1, 0.0
                for lvl, typ, val in anc:
                    if typ == 35 and lvl == socket.SOL_SOCKET:    # SCM_TIMESTAMPNS
                        sec, nsec = struct.unpack("qq", val[:16])
                        rx = sec + nsec / 1e9
                    elif (lvl, typ) in ((socket.IPPROTO_IP, socket.IP_TTL),
                                        (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT)):
                        ttl = struct.unpack("i", val[:4])[0] if len(val) >= 4 else val[0]
                lines.append("%s %d %d %d %.6f %.6f\n" % (tag.decode(errors="replace"), seq,
                             flow, ttl, ts, rx))
        if lines:
            f.write("".join(lines))
            f.flush()
        if stop or os.getppid() != parent:
            f.close()
            return 0

a = sys.argv
if a[1] == "send":
    sys.exit(send(a[2], a[3], int(a[4]), float(a[5]), float(a[6]), a[7], a[8], a[9:]))
sys.exit(recv(int(a[2]), a[3]))
EOF
}

# lt_recv_start [PORT]: receivers in every sink (stopped by st_cleanup, like st_capture_start's).
lt_recv_start() {
	local port=${1:-$LT_PORT} ns i
	LT_PORT=$port
	for ns in "${ST_SINKS[@]}"; do
		rm -f "$ST_TMP/lt-recv-$ns" "$ST_TMP/lt-recv-$ns.ready"
		nsenter --net="/run/netns/$ns" "$ST_PY" "$ST_TMP/lttraffic.py" recv "$port" \
			"$ST_TMP/lt-recv-$ns" &
		ST_CAPTURE_PIDS+=($!)
	done
	for ns in "${ST_SINKS[@]}"; do
		for ((i = 0; i < 150; i++)); do
			[[ -e $ST_TMP/lt-recv-$ns.ready ]] && break
			sleep 0.02
		done
		[[ -e $ST_TMP/lt-recv-$ns.ready ]] || st_die "UDP receiver in $ns started"
	done
}

# lt_recv_files: "upX=FILE ..." for the analysis scripts.
lt_recv_files() {
	local ns out=()
	for ns in "${ST_SINKS[@]}"; do out+=("${ST_UPLINK_OF[$ns]}=$ST_TMP/lt-recv-$ns"); done
	printf '%s\n' "${out[@]}"
}

# lt_send_start FAM DST DPORT RATE SECONDS TAG FLOW...: background sender; waits until it has
# begun (LT_SEND_T0: its start time, $EPOCHREALTIME-style seconds). TAG: up to 8 characters;
# the receivers' logs show it padded with dots to 8.
lt_send_start() {
	local fam=$1 dst=$2 dport=$3 rate=$4 secs=$5 tag=$6 i
	shift 6
	rm -f "$ST_TMP/lt-send-$tag" "$ST_TMP/lt-send-$tag.start"
	nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$ST_TMP/lttraffic.py" send "$fam" "$dst" \
		"$dport" "$rate" "$secs" "$tag" "$ST_TMP/lt-send-$tag" "$@" >"$ST_TMP/lt-send-$tag.out" 2>&1 &
	LT_SEND_PID=$!
	ST_CAPTURE_PIDS+=("$LT_SEND_PID")
	for ((i = 0; i < 250; i++)); do
		[[ -s $ST_TMP/lt-send-$tag.start ]] && break
		kill -0 "$LT_SEND_PID" 2>/dev/null || break
		sleep 0.01
	done
	[[ -s $ST_TMP/lt-send-$tag.start ]] ||
		st_die "traffic sender started ($(tr '\n' ' ' <"$ST_TMP/lt-send-$tag.out"))"
	LT_SEND_T0=$(<"$ST_TMP/lt-send-$tag.start")
}

# lt_send_wait TAG: wait for the sender; ok when it sent every packet without an error.
lt_send_wait() {
	local tag=$1 rc
	wait "$LT_SEND_PID" && rc=0 || rc=$?
	LT_SEND_PID=
	st_check "sender $tag sent every packet without an error (exit $rc: $(tr '\n' ' ' <"$ST_TMP/lt-send-$tag.out"))" \
		test "$rc" -eq 0
}

# lt_recv_settle: wait (at most 3 s) until no receiver's log grew for 300 ms.
lt_recv_settle() {
	local sizes last="" t0 tc
	t0=$(st_now)
	tc=$t0
	while (($(st_ms_since "$t0") < 3000)); do
		sizes=$(cat "${ST_SINKS[@]/#/$ST_TMP/lt-recv-}" 2>/dev/null | wc -c)
		if [[ $sizes != "$last" ]]; then
			last=$sizes
			tc=$(st_now)
		elif (($(st_ms_since "$tc") >= 300)); then
			return 0
		fi
		sleep 0.05
	done
}

# lt_sleep_until T: sleep until the wall clock reads T (seconds, as $EPOCHREALTIME).
lt_sleep_until() {
	local d
	d=$("$ST_PY" -c 'import sys,time; print("%.3f" % max(0.0, float(sys.argv[1]) - time.time()))' "$1")
	sleep "$d"
}

# lt_time_add T SECONDS: T + SECONDS.
lt_time_add() {
	"$ST_PY" -c 'import sys; print("%.6f" % (float(sys.argv[1]) + float(sys.argv[2])))' "$1" "$2"
}

# lt_now: the wall clock, seconds with microseconds (same clock as the python tools).
lt_now() { printf '%s' "${EPOCHREALTIME/,/.}"; }

# lt_stat NAME: one steerctl counter now (0 when absent; "?" when steerctl fails).
lt_stat() {
	local s
	s=$(st_stats)
	[[ $s == *steerctl_failed=1* ]] && { printf '?'; return; }
	st_stat_of "$s" "$1"
}

# lt_status_field NAME: one top-level field of `steerctl -j status` ("" when unknown).
lt_status_field() {
	st_steerctl -j status 2>/dev/null | "$ST_PY" -c '
import json, sys
v = json.load(sys.stdin).get(sys.argv[1], "")
print(str(v).lower() if isinstance(v, bool) else v)' "$1" 2>/dev/null || true
}

# lt_kill_steerd: SIGKILL, reap. The pins, the program and its link stay.
lt_kill_steerd() {
	[[ -n $ST_STEERD_PID ]] || st_die "lt_kill_steerd: steerd is not running"
	kill -KILL "$ST_STEERD_PID"
	wait "$ST_STEERD_PID" 2>/dev/null || true
	ST_STEERD_PID=
}

# lt_restart_steerd OLD_GENERATION [STEERD OPTIONS...]: start steerd on the same pins
# (st_start_steerd's command line, plus the options), then wait until the new process applied its first sync: its log says "first sync
# applied" and steerctl status reads synced. LT_SYNC_T is when that was first seen,
# LT_RESTART_T when it was started, LT_NEW_GEN the generation status then showed. Dies after 5 s.
# (The generation is not a sign of the new sync by itself: a restarted steerd counts from 1
# again, so it reads the same when the old one had applied a single generation.)
lt_restart_steerd() {
	local g_old=$1 n0 t0 s
	shift
	n0=$(grep -c 'first sync applied' "$ST_STEERD_LOG" 2>/dev/null || true)
	t0=$(st_now)
	nsenter --net="/run/netns/$NS_ROUTER" "$STEERD" --attach "$IF_CLIENT" --pin-dir "$PIN_DIR" \
		--log-level debug "$@" >>"$ST_STEERD_LOG" 2>&1 &
	ST_STEERD_PID=$!
	LT_RESTART_T=$(lt_now)
	while (($(st_ms_since "$t0") < 5000)); do
		kill -0 "$ST_STEERD_PID" 2>/dev/null || break
		if (($(grep -c 'first sync applied' "$ST_STEERD_LOG" 2>/dev/null || true) > ${n0:-0})); then
			s=$(lt_status_field synced)
			if [[ $s == true ]]; then
				LT_SYNC_T=$(lt_now)
				LT_NEW_GEN=$(lt_status_field generation)
				st_ok "steerd restarted on the pins and synced in $(st_ms_since "$t0") ms" \
					"(pid $ST_STEERD_PID; status synced, generation $g_old -> $LT_NEW_GEN)"
				return 0
			fi
		fi
		sleep 0.002
	done
	st_note "last status: $(st_steerctl -j status 2>&1 | tr '\n' ' ')"
	kill -0 "$ST_STEERD_PID" 2>/dev/null || st_die "steerd restarted on the pins: it exited"
	st_die "steerd restarted on the pins and synced within 5 s"
}

# lt_verify: `steerd --verify` in the router's namespace must exit 0 (maps == kernel).
lt_verify() {
	local out rc
	out=$(nsenter --net="/run/netns/$NS_ROUTER" "$STEERD" --verify --pin-dir "$PIN_DIR" 2>&1) &&
		rc=0 || rc=$?
	st_check "steerd --verify exits 0: the maps match the kernel (exit $rc: $(tail -n 3 <<<"$out" | tr '\n' ' '))" \
		test "$rc" -eq 0
	((rc == 0)) || head -n 40 <<<"$out" | while IFS= read -r l; do st_note "  verify: $l"; done
}

# lt_diag: what to look at when packets went missing: per-sink UDP counters, the router's
# per-link packet and drop counts, steerctl's counters.
lt_diag() {
	local ns
	for ns in "${ST_SINKS[@]}"; do
		st_note "$ns: $(ip netns exec "$ns" grep '^Udp:' /proc/net/snmp | tr '\n' ' ')"
	done
	st_note "router links: $(ip -n "$NS_ROUTER" -s -j link show | "$ST_PY" -c '
import json, sys
for l in json.load(sys.stdin):
    s = l.get("stats64", {})
    r, t = s.get("rx", {}), s.get("tx", {})
    print("%s rx=%s/drop=%s tx=%s/drop=%s" % (l["ifname"], r.get("packets"), r.get("dropped"),
          t.get("packets"), t.get("dropped")), end="; ")' 2>&1)"
	st_note "steerctl stats: $(st_stats)"
}
