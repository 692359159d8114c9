# shellcheck shell=bash
# Shared helpers for steer's netfilter tests (tests/netfilter/*.sh), on top of
# tests/lib/lib.sh: the client/router/uplinks topology with a third uplink, UDP listeners
# in every sink that log who sent what, a probe that sends tagged datagrams from the client
# and collects the ICMP errors that come back, and the comparison of what reaches the wire
# with steer attached against the same packets through the kernel alone.
#
#   nf_init                 st_init, the topology (both families, uplinks A, B, C), the
#                           blocked addresses (198.51.100.7, 2001:db8:77::7) on every sink,
#                           the listeners; steerd is not started.
#   nf_router CMD...        run CMD in the router's namespace (nft, iptables, ip, ...).
#   nf_probe FAM DST COUNT  send COUNT tagged UDP datagrams from the client to DST:7000;
#                           prints the outcome: "upa=N upb=N(SRC,...) upc=N icmp=TYPE/CODE:N".
#   nf_same WHAT FAM DST COUNT STAT EXPECT
#                           the outcome with steerd attached, then with steerd stopped (the
#                           kernel alone, on the same state); ok when they are equal, the
#                           outcome matches the regex EXPECT, and the fast path's counter STAT
#                           (forwarded, punt_netfilter, ...) grew by COUNT. Restarts steerd
#                           with NF_STEERD_ARGS.
#   nf_stat_delta STAT CMD...  run CMD and print how much counter STAT grew.
#   nf_need_offload         the offload tests' tools (nft, conntrack), or not ok and exit.
#   nf_serve NS KIND PORT [ADDR...]
#                           an ofltool.py server (tcpserve, udpecho) in NS, logging to
#                           $ST_TMP/NS-KIND-PORT.log; returns once it listens.

# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

NF_PORT=7000
declare -A NF_BLOCKED=([4]=198.51.100.7 [6]=2001:db8:77::7)
NF_STEERD_ARGS=()

NF_OFLTOOL=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ofltool.py

nf_need_offload() {
	local t
	for t in nft conntrack; do
		command -v $t >/dev/null ||
			{ echo "not ok - $t not installed (apt-get install nftables conntrack)"; exit 1; }
	done
}

nf_serve() {
	local ns=$1 kind=$2 port=$3 log=$ST_TMP/$1-$2-$3.log
	shift 3
	st_spawn "$ns" "$log.ready" "$kind server on $ns:$port" \
		"$ST_PY" "$NF_OFLTOOL" "$kind" "$port" "$log" "$@"
}

nf_router() {
	nsenter --net="/run/netns/$NS_ROUTER" "$@"
}

nf_write_tool() {
	cat >"$ST_TMP/nfprobe.py" <<'EOF'
# probe FAM SRC DST PORT COUNT TAG  -> sends COUNT UDP datagrams SRC -> DST:PORT carrying TAG,
#                                      then prints the ICMP errors that came back as
#                                      "TYPE/CODE:n,..." or "-"
# listen PORT OUT                   -> until SIGTERM, appends "TAG SRCADDR" per datagram
import os, select, signal, socket, struct, sys, time

IP_RECVERR, IPV6_RECVERR = 11, 25

def probe(fam, src, dst, port, count, tag):
    af = socket.AF_INET if fam == "4" else socket.AF_INET6
    s = socket.socket(af, socket.SOCK_DGRAM)
    if fam == "4":
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    s.bind((src, 0))
    errs = {}
    def drain():
        while True:
            try:
                _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            for lvl, typ, val in anc:
                if len(val) >= 8:   # struct sock_extended_err
                    _, origin, etype, ecode = struct.unpack_from("=IBBB", val, 0)
                    key = "%d/%d" % (etype, ecode)
                    errs[key] = errs.get(key, 0) + 1
    for i in range(count):
        # An ICMP error also fails the next send once (sk_err): send that one again.
        for attempt in range(3):
            try:
                s.sendto(("%s %d" % (tag, i)).encode(), (dst, port))
                break
            except OSError:
                drain()
        time.sleep(0.002)
        drain()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        time.sleep(0.02)
        drain()
    print(",".join("%s:%d" % kv for kv in sorted(errs.items())) or "-")

def listen(port, out):
    socks = []
    for af, any_ in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(af, socket.SOCK_DGRAM)
        if af == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((any_, port))
        s.setblocking(False)
        socks.append(s)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    f = open(out, "a")
    open(out + ".ready", "w").close()
    while not stop:
        try:
            r = select.select(socks, [], [], 0.2)[0]
        except InterruptedError:
            r = []
        for s in r:
            while True:
                try:
                    data, addr = s.recvfrom(2048)
                except (BlockingIOError, InterruptedError):
                    break
                f.write("%s %s\n" % (data.decode(errors="replace").split()[0], addr[0]))
        f.flush()

a = sys.argv
if a[1] == "probe":
    probe(a[2], a[3], a[4], int(a[5]), int(a[6]), a[7])
else:
    listen(int(a[2]), a[3])
EOF
}

nf_init() {
	st_init
	nf_write_tool
	st_topology 46
	st_add_sink c
	local ns
	for ns in "${ST_SINKS[@]}"; do
		st_ip -n "$ns" addr add "${NF_BLOCKED[4]}/32" dev lo
		st_ip -n "$ns" addr add "${NF_BLOCKED[6]}/128" dev lo nodad
		rm -f "$ST_TMP/nf-$ns"
		st_spawn "$ns" "$ST_TMP/nf-$ns.ready" "UDP listener in $ns" \
			"$ST_PY" "$ST_TMP/nfprobe.py" listen "$NF_PORT" "$ST_TMP/nf-$ns"
	done
	# Every reject answered: the ICMP rate limits would make the counts depend on timing.
	nf_router sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
		net.ipv4.icmp_msgs_per_sec=100000
	# The router's own errors to the client (its source, 10.1.0.1, is in the client net that
	# `from ... lookup 100` sends to uplink B) go back to the client.
	st_ip -n "$NS_ROUTER" rule add to "${ST_CLIENT_NET[4]}" lookup main pref 10
	st_ip -n "$NS_ROUTER" -6 rule add to "${ST_CLIENT_NET[6]}" lookup main pref 10
	# Table 200 (chosen by fwmark 0x10 in the mark test) leaves by uplink C.
	st_ip -n "$NS_ROUTER" route add default via 10.0.3.2 table 200
	st_ip -n "$NS_ROUTER" -6 route add default via 2001:db8:c::2 table 200
}

nf_probe() {
	local fam=$1 dst=$2 count=$3 tag icmp ns out="" n srcs
	# Unique without a counter: nf_probe runs in command substitutions.
	tag=nf${EPOCHREALTIME//[.,]/}
	icmp=$(nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$ST_TMP/nfprobe.py" probe "$fam" \
		"${ST_CLIENT_ADDR[$fam]}" "$dst" "$NF_PORT" "$count" "$tag")
	sleep 0.3	# the listeners flush every 0.2 s
	for ns in "${ST_SINKS[@]}"; do
		n=$(grep -c "^$tag " "$ST_TMP/nf-$ns" || true)
		srcs=$(grep "^$tag " "$ST_TMP/nf-$ns" | cut -d' ' -f2 | sort -u | paste -sd, - || true)
		out+="${ST_UPLINK_OF[$ns]}=$n${srcs:+($srcs)} "
	done
	printf '%sicmp=%s' "$out" "$icmp"
}

nf_stat_delta() {
	local stat=$1 s0 s1
	shift
	s0=$(st_stats)
	"$@" >/dev/null
	s1=$(st_stats)
	echo $(($(st_stat_of "$s1" "$stat") - $(st_stat_of "$s0" "$stat")))
}

nf_same() {
	local what=$1 fam=$2 dst=$3 count=$4 stat=$5 expect=$6 s0 s1 with kernel grew
	s0=$(st_stats)
	with=$(nf_probe "$fam" "$dst" "$count")
	s1=$(st_stats)
	grew=$(($(st_stat_of "$s1" "$stat") - $(st_stat_of "$s0" "$stat")))
	st_stop_steerd
	kernel=$(nf_probe "$fam" "$dst" "$count")
	st_start_steerd_with 50 "${NF_STEERD_ARGS[@]}"
	st_check "$what: the wire is as the kernel alone makes it (steer: $with; kernel: $kernel)" \
		test "$with" = "$kernel"
	st_check "$what: outcome '$with' matches /$expect/" eval '[[ $with =~ $expect ]]'
	st_check "$what: $stat grew by $count (+$grew; $(st_stats_delta "$s0" "$s1"))" \
		test "$grew" -ge "$count"
}
