#!/usr/bin/env bash
# netfilter: offload. A two-uplink router with a stateful firewall: forward policy drop,
# `ct state established,related accept`, TCP 5001 and UDP 5002 allowed and marked
# (`ct mark set 0x1`), masquerade on both uplinks, steer attached on all three devices.
#   - a 16 MiB TCP transfer and a UDP echo flow complete; the server sees the uplink's
#     address; the fast path carried most packets in both directions (`offloaded`);
#   - a port the firewall refuses never reaches the server;
#   - a DNAT port forward from uplink B to an inside server is offloaded too, both ways;
#   - IPv6 (no NAT) likewise;
#   - a UDP flow running longer than nf_conntrack_udp_timeout_stream keeps one entry;
#   - `conntrack -D` mid-flow makes the next packets go to the kernel at once;
#   - once the ruleset stops marking, new connections are not offloaded;
#   - a prerouting rule that sets the mark stops offload for its family at once;
#   - TCP is offloaded only with nf_conntrack_tcp_be_liberal (or a liberal connection).
# Usage: tests/netfilter/offload.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
# shellcheck source=tests/netfilter/lib-nf.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-nf.sh"

nf_need_offload
st_init
st_topology 46
R=(nsenter --net="/run/netns/$NS_ROUTER")

client() { nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$NF_OFLTOOL" "$@"; }
sinkb() { nsenter --net="/run/netns/$NS_SINKB" "$ST_PY" "$NF_OFLTOOL" "$@"; }
stat_now() { st_stat_of "$(st_stats)" "$1"; }
ct_ids() { "${R[@]}" conntrack -L -p udp --sport "$1" -o id 2>/dev/null | sed -n 's/.* id=\([0-9]*\).*/\1/p' | sort -u | paste -sd,; }

"${R[@]}" sysctl -qw net.netfilter.nf_conntrack_tcp_be_liberal=1
"${R[@]}" nft -f - <<'EOF'
table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop
		ct state established,related accept
		tcp dport 5001 ct mark set 0x1 accept
		udp dport 5002 ct mark set 0x1 accept
		iifname "upb" tcp dport 80 ct mark set 0x1 accept
		udp dport 5004 accept
	}
}
table ip nat {
	chain pre {
		type nat hook prerouting priority dstnat
		iifname "upb" tcp dport 8080 dnat to 10.1.0.2:80
	}
	chain post {
		type nat hook postrouting priority srcnat
		oifname { "upa", "upb" } masquerade
	}
}
EOF
# The sinks answer the router's addresses (masquerade) by their uplink; sink B reaches the
# forwarded port through the router.
st_ip -n "$NS_SINKB" route add 10.0.0.0/8 via 10.0.2.1 || true
nf_serve "$NS_SINKB" tcpserve 5001
nf_serve "$NS_SINKB" udpecho 5002 "${ST_INTERNET[4]}" "${ST_INTERNET[6]}"
nf_serve "$NS_SINKB" udpecho 5003 "${ST_INTERNET[4]}" "${ST_INTERNET[6]}"
nf_serve "$NS_SINKB" udpecho 5004 "${ST_INTERNET[4]}" "${ST_INTERNET[6]}"
nf_serve "$NS_CLIENT" tcpserve 80
st_run_steerd 50 --attach cli --attach upa --attach upb --config /dev/null --netfilter offload
st_check "steerd loaded the program with conntrack offload" \
	grep -q "BPF program loaded (with conntrack offload)" "$ST_STEERD_LOG"

st_note "1. TCP 16 MiB through the firewall, masqueraded by uplink B"
o0=$(stat_now offloaded); r0=$(stat_now rx)
out=$(client tcpsend "${ST_INTERNET[4]}" 5001 $((16 << 20)))
o1=$(stat_now offloaded); r1=$(stat_now rx)
st_check "the transfer completed intact ($out)" test "$out" = ok
st_check "the server saw the uplink's address ($(tail -n1 "$ST_TMP/$NS_SINKB-tcpserve-5001.log"))" \
	grep -Eq "^10.0.2.1 [0-9]+ $((16 << 20)) " "$ST_TMP/$NS_SINKB-tcpserve-5001.log"
st_check "the fast path offloaded most packets, both ways (offloaded +$((o1 - o0)) of rx +$((r1 - r0)))" \
	test $(((o1 - o0) * 10)) -ge $(((r1 - r0) * 9))
st_note "conntrack: $("${R[@]}" conntrack -L -p tcp --dport 5001 2>/dev/null | tail -n1)"

st_note "2. UDP echo through the firewall"
o0=$(stat_now offloaded)
out=$(client udpsend "${ST_INTERNET[4]}" 5002 40002 300 0.003)
o1=$(stat_now offloaded)
st_check "UDP: every datagram came back ($out)" test "$out" = "sent=300 got=300"
st_check "UDP: the server saw the uplink's address" \
	test "$(cut -d' ' -f1 "$ST_TMP/$NS_SINKB-udpecho-5002.log" | sort -u)" = "10.0.2.1"
st_check "UDP: offloaded both ways after the first exchange (+$((o1 - o0)) of 600)" \
	test $((o1 - o0)) -ge 590

st_note "3. A port the firewall refuses never reaches the server"
out=$(client udpsend "${ST_INTERNET[4]}" 5003 40003 20 0.003)
st_check "UDP 5003: nothing came back ($out)" test "$out" = "sent=20 got=0"
st_check "UDP 5003: the server saw nothing" test ! -s "$ST_TMP/$NS_SINKB-udpecho-5003.log"

st_note "4. A connection the ruleset accepts but does not mark is not offloaded"
o0=$(stat_now offloaded); p0=$(stat_now punt_netfilter)
out=$(client udpsend "${ST_INTERNET[4]}" 5004 40004 50 0.003)
o1=$(stat_now offloaded); p1=$(stat_now punt_netfilter)
st_check "UDP 5004 (accepted, unmarked): delivered ($out), none offloaded (+$((o1 - o0))), punted (+$((p1 - p0)))" \
	test "$out" = "sent=50 got=50" -a $((o1 - o0)) -eq 0 -a $((p1 - p0)) -ge 100

st_note "5. DNAT: uplink B's port 8080 forwarded to the client's port 80"
o0=$(stat_now offloaded)
out=$(sinkb tcpsend 10.0.2.1 8080 $((4 << 20)))
o1=$(stat_now offloaded)
st_check "the forwarded connection completed intact ($out)" test "$out" = ok
st_check "the inside server saw the outside client's address" \
	grep -Eq "^10.0.2.2 [0-9]+ $((4 << 20)) " "$ST_TMP/$NS_CLIENT-tcpserve-80.log"
st_check "the DNAT'd connection was offloaded (+$((o1 - o0)))" test $((o1 - o0)) -ge 50

st_note "6. IPv6 (no NAT): TCP and UDP"
o0=$(stat_now offloaded)
out=$(client tcpsend "${ST_INTERNET[6]}" 5001 $((4 << 20)))
st_check "IPv6 TCP completed intact ($out)" test "$out" = ok
out=$(client udpsend "${ST_INTERNET[6]}" 5002 40006 100 0.003)
o1=$(stat_now offloaded)
st_check "IPv6 UDP: every datagram came back ($out)" test "$out" = "sent=100 got=100"
st_check "IPv6 offloaded (+$((o1 - o0)))" test $((o1 - o0)) -ge 150

st_note "7. A UDP flow longer than the UDP timeout keeps its one connection"
"${R[@]}" sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream=3 net.netfilter.nf_conntrack_udp_timeout=3
sleep 1.5	# the timeout reaches the maps with the next poll
o0=$(stat_now offloaded)
client udpsend "${ST_INTERNET[4]}" 5002 40007 5 0.2 >/dev/null
id0=$(ct_ids 40007)
out=$(client udpsend "${ST_INTERNET[4]}" 5002 40007 80 0.1)
id1=$(ct_ids 40007)
o1=$(stat_now offloaded)
st_check "8 s of offloaded UDP against a 3 s timeout: delivered ($out), offloaded +$((o1 - o0))" \
	test "$out" = "sent=80 got=80" -a $((o1 - o0)) -ge 150
st_check "... and the same conntrack entry throughout (ids $id0 then $id1)" test -n "$id0" -a "$id0" = "$id1"
"${R[@]}" sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream=120 net.netfilter.nf_conntrack_udp_timeout=30

st_note "8. conntrack -D mid-flow: the next packets go to the kernel"
client udpsend "${ST_INTERNET[4]}" 5002 40008 5 0.05 >/dev/null
p0=$(stat_now punt_netfilter)
"${R[@]}" conntrack -D -p udp --sport 40008 >/dev/null 2>&1
out=$(client udpsend "${ST_INTERNET[4]}" 5002 40008 5 0.05)
p1=$(stat_now punt_netfilter)
st_check "after conntrack -D the kernel saw the flow again (punt_netfilter +$((p1 - p0))) and it still works ($out)" \
	test $((p1 - p0)) -ge 1 -a "$out" = "sent=5 got=5"

st_note "9. The ruleset stops marking: new connections are not offloaded"
h=$("${R[@]}" nft -a list chain inet fw forward | sed -n 's/.*udp dport 5002 ct mark set 0x00000001 accept # handle \([0-9]*\)/\1/p')
"${R[@]}" nft replace rule inet fw forward handle "$h" udp dport 5002 accept
sleep 0.2
o0=$(stat_now offloaded)
out=$(client udpsend "${ST_INTERNET[4]}" 5002 40009 50 0.003)
o1=$(stat_now offloaded)
st_check "a new connection, unmarked: delivered ($out) and not offloaded (+$((o1 - o0)))" \
	test "$out" = "sent=50 got=50" -a $((o1 - o0)) -eq 0

st_note "10. A prerouting rule that sets the mark: no offload for the family, at once"
"${R[@]}" nft add table ip mangle
"${R[@]}" nft add chain ip mangle pre '{ type filter hook prerouting priority mangle; }'
"${R[@]}" nft add rule ip mangle pre ip daddr 203.0.113.99 meta mark set 0x20
o0=$(stat_now offloaded)
out=$(client tcpsend "${ST_INTERNET[4]}" 5001 $((1 << 20)))
o1=$(stat_now offloaded)
st_check "IPv4 with a mark-setting prerouting rule: works ($out), nothing offloaded (+$((o1 - o0)))" \
	test "$out" = ok -a $((o1 - o0)) -eq 0
o0=$(stat_now offloaded)
out=$(client tcpsend "${ST_INTERNET[6]}" 5001 $((1 << 20)))
o1=$(stat_now offloaded)
st_check "IPv6 is still offloaded (+$((o1 - o0)))" test "$out" = ok -a $((o1 - o0)) -ge 20
"${R[@]}" nft delete table ip mangle

st_note "11. TCP without nf_conntrack_tcp_be_liberal: not offloaded (conntrack would later refuse it)"
"${R[@]}" sysctl -qw net.netfilter.nf_conntrack_tcp_be_liberal=0
sleep 1.5
o0=$(stat_now offloaded)
out=$(client tcpsend "${ST_INTERNET[4]}" 5001 $((2 << 20)))
o1=$(stat_now offloaded)
st_check "TCP with strict windows: works ($out), not offloaded (+$((o1 - o0)))" \
	test "$out" = ok -a $((o1 - o0)) -eq 0
st_finish
