#!/usr/bin/env bash
# Hostile input: a route "announced" to steerd's netlink socket by a userspace process (not
# the kernel) must be ignored and counted, never mirrored.
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

st_init
st_topology 4
st_start_steerd
before=$(st_agent_stats | tr ' ' '\n' | sed -n 's/^foreign_messages=//p')
# Find steerd's netlink port id (its socket inode in /proc/net/netlink) and send it a
# forged RTM_NEWROUTE for 10.99.0.0/16 in table 100.
nsenter --net="/run/netns/$NS_ROUTER" "$ST_PY" - "$ST_STEERD_PID" <<'PY'
import os, socket, struct, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir(f'/proc/{pid}/fd'):
    link = os.readlink(f'/proc/{pid}/fd/{fd}')
    if link.startswith('socket:['):
        inodes.add(link[8:-1])
port = None
for line in open('/proc/net/netlink').read().splitlines()[1:]:
    f = line.split()
    if f[1] == '0' and f[-1] in inodes:      # protocol 0: NETLINK_ROUTE
        port = int(f[2])
assert port, 'no netlink socket of steerd found'
rtm = struct.pack('=BBBBBBBBI', 2, 16, 0, 0, 100, 4, 0, 1, 0)   # AF_INET /16 table 100 static unicast
attrs = struct.pack('=HH4s', 8, 1, bytes([10, 99, 0, 0]))         # RTA_DST
attrs += struct.pack('=HHI', 8, 4, 2)                              # RTA_OIF
msg = rtm + attrs
hdr = struct.pack('=IHHII', 16 + len(msg), 24, 0, 0, os.getpid()) # RTM_NEWROUTE
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.sendto(hdr + msg, (port, 0))
print(f'# sent a forged RTM_NEWROUTE to port {port}')
PY
sleep 0.5
st_steerd_alive && st_ok "steerd still running" || st_not_ok "steerd still running"
if st_steerctl routes | grep -q "10.99.0.0/16"; then
	st_not_ok "the forged route is not in the maps"
else
	st_ok "the forged route is not in the maps"
fi
sleep 1.2	# the agent publishes its counters with the heartbeat
after=$(st_agent_stats | tr ' ' '\n' | sed -n 's/^foreign_messages=//p')
st_check "the message was counted as foreign ($before -> $after)" test "${after:-0}" -gt "${before:-0}"
