# shellcheck shell=bash
# Helpers for steer's use-case tests (tests/usecases/*.sh), on top of tests/lib/lib.sh: each
# test builds its own topology, starts steerd from a YAML file (--config) in the namespace it
# names NS_ROUTER, and checks with real traffic: a TCP server and client (python3), a UDP
# sender, and a recorder that logs every IPv4 packet an interface receives, so a check can say
# exactly which gateway a reply reached and with which TTL.
#
# Source this (it sources tests/lib/lib.sh), name the namespaces, then call uc_init.
#
#   uc_init TOPOLOGY NS...                st_init (IPv4 only), the tools, a note of TOPOLOGY,
#                                         and the namespaces NS... (empty)
#   uc_link NS1 IF1 ADDR1 NS2 IF2 ADDR2   a veth pair between two namespaces, addressed, up
#   uc_config NAME <<EOF                  write $ST_TMP/NAME.yaml; UC_CONFIG is its path
#   uc_check_config FILE                  `steerd --check FILE` exits 0 (ok / not ok)
#   uc_start_steerd FILE [ARGS...]        steerd --config FILE in NS_ROUTER, waits for "synced"
#   uc_reload                             SIGHUP, waits for a new map generation
#   uc_serve NS ADDR PORT                 TCP server: answers "ECHO <data>" on each connection
#   uc_connect NS SRC DST PORT SPORT TAG  TCP client, 2.5 s timeout: prints what happened;
#                                         0 when the server's answer came back
#   uc_udp NS SRC SPORT DST DPORT COUNT TAG   COUNT tagged UDP datagrams, no answer expected
#   uc_udp_query NS SRC SPORT DST DPORT TAG   one tagged datagram; 0 when an answer came back
#   uc_watch NS IFACE NAME                a recorder on IFACE in NS, logging to $ST_TMP/watch-NAME
#   uc_seen NAME FILTER...                "count ttl:n,..." of the logged packets matching all
#                                         FILTERs (src=, dst=, proto=, sport=, dport=, tag=,
#                                         flags= with S, SA, PA ... as tcpdump spells them)
#   uc_fast_check WHAT CMD...             st_check of the fast path: skipped with ST_KERNEL_ONLY=1
#   uc_explain ARGS...                    steerctl explain ARGS, as one line; uc_says_dev LINE DEV
#                                         and uc_says_punt LINE check what it said
#   uc_tun NS IFACE NAME                  a "VPN daemon" holding tun IFACE: logs what it reads
#                                         to $ST_TMP/watch-NAME and answers tagged UDP
#
# Background processes go into ST_CAPTURE_PIDS, which st_cleanup stops.

# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

UC_CONFIG=
UC_TIMEOUT=${UC_TIMEOUT:-2.5}   # seconds a TCP connection or a UDP query may take

uc_init() {
	local topology=$1 ns
	shift
	ST_FAMILIES=4
	st_init
	uc_write_tool
	st_note "topology $topology, pins in $PIN_DIR"
	for ns in "$@"; do st_netns_add "$ns"; done
}

uc_write_tool() {
	cat >"$ST_TMP/uctool.py" <<'EOF'
# Traffic and recorders for tests/usecases (see lib-usecase.sh for the commands).
import fcntl, os, select, socket, struct, sys, time
from inet import csum

MAGIC = b"STEERTAG"

def payload(tag):
    return (MAGIC + tag.encode()).ljust(48, b".")

def parent_gone(parent):
    return os.getppid() != parent

def ready(out):
    open(out + ".ready", "w").close()

def serve(addr, port, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    ready(out)
    parent = os.getppid()
    while True:
        if not select.select([s], [], [], 0.5)[0]:
            if parent_gone(parent):
                return 0
            continue
        c, _ = s.accept()
        c.settimeout(3)
        try:
            data = c.recv(4096)
            c.sendall(b"ECHO " + data)
        except OSError:
            pass
        c.close()

def connect(src, dst, port, sport, tag, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src if src != "-" else "", sport))
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((dst, port))
        s.sendall(payload(tag))
        got = b""
        while MAGIC + tag.encode() not in got:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except (OSError, socket.timeout) as e:
        print("failed after %.0f ms: %s" % ((time.monotonic() - t0) * 1000, e.__class__.__name__ + (": " + e.strerror if getattr(e, "strerror", None) else "")))
        return 1
    if MAGIC + tag.encode() not in got:
        print("no answer (%d bytes)" % len(got))
        return 1
    print("connected and answered in %.0f ms" % ((time.monotonic() - t0) * 1000))
    return 0

def udp(src, sport, dst, dport, count, tag):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    for _ in range(count):
        s.sendto(payload(tag), (dst, dport))
    return 0

def udp_query(src, sport, dst, dport, tag, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    s.sendto(payload(tag), (dst, dport))
    t0 = time.monotonic()
    while True:
        left = timeout - (time.monotonic() - t0)
        if left <= 0 or not select.select([s], [], [], left)[0]:
            print("no answer in %.1f s" % timeout)
            return 1
        data, peer = s.recvfrom(4096)
        if MAGIC + tag.encode() in data:
            print("answered by %s:%d in %.0f ms" % (peer[0], peer[1], (time.monotonic() - t0) * 1000))
            return 0

TCP_FLAGS = "FSRPAUEC"

def describe(data):
    """One log line for an IPv4 packet (IP header first), or None."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 15) * 4
    ttl, proto = data[8], data[9]
    src = socket.inet_ntoa(data[12:16])
    dst = socket.inet_ntoa(data[16:20])
    l4 = data[ihl:]
    sport = dport = 0
    flags = "-"
    if proto in (6, 17) and len(l4) >= 4:
        sport, dport = struct.unpack("!HH", l4[:4])
        if proto == 6 and len(l4) >= 14:
            f = l4[13]
            flags = "".join(c for i, c in enumerate(TCP_FLAGS) if f & (1 << i)) or "-"
    elif proto == 1 and len(l4) >= 2:
        sport, dport = l4[0], l4[1]   # ICMP type and code
    i = data.find(MAGIC)
    tag = data[i + len(MAGIC):i + len(MAGIC) + 8].decode(errors="replace") if i >= 0 else "-"
    return "%s %s %d %d %d %d %s %s\n" % (src, dst, proto, sport, dport, ttl, flags, tag)

def recorded(src, read, out):
    """Yields (log file, what read() returns) each time src is readable, once OUT is open and
    announced ready; ends when the test that started this is gone."""
    f = open(out, "a", buffering=1)
    ready(out)
    parent = os.getppid()
    while True:
        if not select.select([src], [], [], 0.5)[0]:
            if parent_gone(parent):
                return
            continue
        yield f, read()

def watch(ifname, out):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    s.bind((ifname, 0x0800))  # python byte-swaps it itself
    for f, (data, addr) in recorded(s, lambda: s.recvfrom(65535), out):
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        line = describe(data)
        if line:
            f.write(line)
    return 0

def tun(ifname, out):
    TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TUN | IFF_NO_PI))
    for f, data in recorded(fd, lambda: os.read(fd, 65535), out):
        line = describe(data)
        if not line:
            continue
        f.write(line)
        # Answer tagged UDP like the far end of the tunnel would: addresses and ports swapped.
        ihl = (data[0] & 15) * 4
        if data[9] != 17 or MAGIC not in data or len(data) < ihl + 8:
            continue
        body = b"ECHO " + data[ihl + 8:]
        sport, dport = struct.unpack("!HH", data[ihl:ihl + 4])
        udph = struct.pack("!HHHH", dport, sport, 8 + len(body), 0)
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udph) + len(body), 0, 0x4000, 64,
                          17, 0, data[16:20], data[12:16])
        iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
        os.write(fd, iph + udph + body)
    return 0

a = sys.argv
if a[1] == "serve":
    sys.exit(serve(a[2], int(a[3]), a[4]))
if a[1] == "connect":
    sys.exit(connect(a[2], a[3], int(a[4]), int(a[5]), a[6], float(a[7])))
if a[1] == "udp":
    sys.exit(udp(a[2], int(a[3]), a[4], int(a[5]), int(a[6]), a[7]))
if a[1] == "udp-query":
    sys.exit(udp_query(a[2], int(a[3]), a[4], int(a[5]), a[6], float(a[7])))
if a[1] == "watch":
    sys.exit(watch(a[2], a[3]))
if a[1] == "tun":
    sys.exit(tun(a[2], a[3]))
sys.exit("unknown command " + a[1])
EOF
}

# uc_link NS1 IF1 ADDR1/LEN NS2 IF2 ADDR2/LEN: a veth pair, addressed and up on both ends.
uc_link() {
	st_ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
	st_ip -n "$1" addr add "$3" dev "$2"
	st_ip -n "$4" addr add "$6" dev "$5"
	st_ip -n "$1" link set "$2" up
	st_ip -n "$4" link set "$5" up
}

# uc_sysctl NS KEY=VALUE...
uc_sysctl() {
	local ns=$1
	shift
	ip netns exec "$ns" sysctl -qw "$@"
}

# uc_bg_ NS READY-FILE ARGS...: uctool.py ARGS in the background in NS; waits for READY-FILE.
uc_bg_() {
	local ns=$1 ready=$2 i
	shift 2
	rm -f "$ready"
	nsenter --net="/run/netns/$ns" "$ST_PY" "$ST_TMP/uctool.py" "$@" \
		>>"$ST_TMP/uctool.log" 2>&1 &
	ST_CAPTURE_PIDS+=($!)
	for ((i = 0; i < 150; i++)); do
		[[ -e $ready ]] && return 0
		sleep 0.02
	done
	st_die "uctool $* in $ns started (see $ST_TMP/uctool.log: $(tail -n 3 "$ST_TMP/uctool.log" 2>/dev/null | tr '\n' ' '))"
}

uc_serve() {
	uc_bg_ "$1" "$ST_TMP/serve-$1-$2-$3.ready" serve "$2" "$3" "$ST_TMP/serve-$1-$2-$3"
}

uc_watch() {
	: >"$ST_TMP/watch-$3"
	uc_bg_ "$1" "$ST_TMP/watch-$3.ready" watch "$2" "$ST_TMP/watch-$3"
}

uc_tun() {
	: >"$ST_TMP/watch-$3"
	uc_bg_ "$1" "$ST_TMP/watch-$3.ready" tun "$2" "$ST_TMP/watch-$3"
}

# uc_connect NS SRC|- DST PORT SPORT TAG: prints the outcome, returns 0 when answered.
uc_connect() {
	nsenter --net="/run/netns/$1" "$ST_PY" "$ST_TMP/uctool.py" connect "$2" "$3" "$4" "$5" \
		"$6" "$UC_TIMEOUT"
}

uc_udp() {
	nsenter --net="/run/netns/$1" "$ST_PY" "$ST_TMP/uctool.py" udp "${@:2}"
}

uc_udp_query() {
	nsenter --net="/run/netns/$1" "$ST_PY" "$ST_TMP/uctool.py" udp-query "${@:2}" "$UC_TIMEOUT"
}

# uc_seen NAME FILTER...: "count ttl:n,..." of the packets in watch-NAME matching every filter.
uc_seen() {
	local name=$1 f prog='1'
	shift
	for f in "$@"; do
		case ${f%%=*} in
		src) prog+=" && \$1 == \"${f#*=}\"" ;;
		dst) prog+=" && \$2 == \"${f#*=}\"" ;;
		proto) prog+=" && \$3 == \"${f#*=}\"" ;;
		sport) prog+=" && \$4 == \"${f#*=}\"" ;;
		dport) prog+=" && \$5 == \"${f#*=}\"" ;;
		flags) prog+=" && \$7 == \"${f#*=}\"" ;;
		tag) prog+=" && \$8 == \"${f#*=}\"" ;;
		*) st_die "uc_seen: unknown filter '$f'" ;;
		esac
	done
	awk "$prog"' { n++; h[$6]++ }
		END { s = ""; for (k in h) s = s (s == "" ? "" : ",") k ":" h[k]; print n + 0, (s == "" ? "none" : s) }' \
		"$ST_TMP/watch-$name"
}

# uc_wait_seen NAME N FILTER...: wait up to 1 s until at least N packets match; prints uc_seen.
uc_wait_seen() {
	local name=$1 n=$2 i out
	shift 2
	for ((i = 0; i < 50; i++)); do
		out=$(uc_seen "$name" "$@")
		((${out%% *} >= n)) && break
		sleep 0.02
	done
	printf '%s' "$out"
}

# uc_config NAME <<EOF: the YAML file $ST_TMP/NAME.yaml, its path in UC_CONFIG.
uc_config() {
	UC_CONFIG=$ST_TMP/$1.yaml
	cat >"$UC_CONFIG"
	[[ $ST_VERBOSE == 1 ]] && sed 's/^/# yaml: /' "$UC_CONFIG"
	return 0
}

# uc_check_config FILE: `steerd --check FILE` accepts it.
uc_check_config() {
	local out rc
	if [[ $ST_KERNEL_ONLY == 1 ]]; then
		st_skip "steerd --check $(basename "$1") (ST_KERNEL_ONLY=1)"
		return 0
	fi
	out=$("$STEERD" --check "$1" 2>&1) && rc=0 || rc=$?
	st_check "steerd --check accepts $(basename "$1") (exit $rc${out:+: $(tr '\n' ' ' <<<"$out" | cut -c1-200)})" \
		test "$rc" -eq 0
}

# uc_start_steerd FILE [ARGS...]: steerd --config FILE in NS_ROUTER, no --attach (the file
# names the interfaces); ok once steerctl says synced (at most 5 s). ST_STEERD_PID is steerd's.
uc_start_steerd() {
	local cfg=$1
	shift
	if [[ $ST_KERNEL_ONLY == 1 ]]; then
		st_skip "steerd --config $(basename "$cfg") started and synced (ST_KERNEL_ONLY=1)"
		return 0
	fi
	st_run_steerd 50 --config "$cfg" "$@"
}

# uc_reload: st_reload; and steerd must still be running after it.
uc_reload() {
	if [[ $ST_KERNEL_ONLY == 1 ]]; then
		st_skip "SIGHUP: steerd re-read its file (ST_KERNEL_ONLY=1)"
		return 0
	fi
	st_reload "the file as it stands"
	st_check "steerd still running after SIGHUP" st_steerd_alive
}

# uc_counter NAME: one steerctl counter now (0 when absent).
uc_counter() {
	st_stat_of "$(st_stats)" "$1"
}

# uc_fast_check WHAT CMD...: st_check, or a skip in kernel-only mode (no steerd to ask).
uc_fast_check() {
	if [[ $ST_KERNEL_ONLY == 1 ]]; then
		st_skip "$1 (ST_KERNEL_ONLY=1)"
		return 0
	fi
	st_check "$@"
}

# uc_says_dev EXPLAIN DEV: steerctl explain's line forwards out of DEV.
uc_says_dev() {
	[[ ($1 == *"dev $2 "* || $1 == *"dev $2") && $1 != punt* && $1 != drop* ]]
}

# uc_says_punt EXPLAIN: steerctl explain's line is a punt.
uc_says_punt() {
	[[ $1 == punt* ]]
}

# uc_explain ARGS...: `steerctl explain ARGS` in NS_ROUTER, one line.
uc_explain() {
	local out
	out=$(st_steerctl explain "$@" 2>&1) || out="steerctl failed: $out"
	out=${out//$'\n'/ }
	printf '%s' "${out% }"
}
