#!/usr/bin/env python3
"""A stand-in for systemd's end of the notify protocol: bind an AF_UNIX datagram socket
(the NOTIFY_SOCKET a service gets), and log every message with the time it arrived on
CLOCK_MONOTONIC and the sender's pid from SCM_CREDENTIALS, one line each:

    <arrival usec> <sender pid> <message, its newlines written as '|'>

usage: notify-listen.py SOCKET LOG [ON-READY-OUT -- COMMAND...]

With a COMMAND, it is run when the first READY=1 arrives, before any later message is
read, its output written to ON-READY-OUT: what the service's dependents would see the
moment systemd let them start. SOCKET + ".ready" appears once the socket is bound. Exits
when its parent does."""
import os
import select
import socket
import struct
import subprocess
import sys
import time


def main():
    path, log = sys.argv[1], sys.argv[2]
    on_ready_out, cmd = None, None
    if len(sys.argv) > 4 and sys.argv[4] == "--":
        on_ready_out, cmd = sys.argv[3], sys.argv[5:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    open(path + ".ready", "w").close()
    parent = os.getppid()
    out = open(log, "a", buffering=1)
    ran = False
    creds = struct.calcsize("3i")
    while True:
        if not select.select([s], [], [], 0.5)[0]:
            if os.getppid() != parent:
                return 0
            continue
        data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(creds))
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        pid = 0
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", value[:creds])[0]
        text = data.decode(errors="replace").strip("\n").replace("\n", "|")
        if cmd and not ran and "READY=1" in text.split("|"):
            ran = True
            with open(on_ready_out, "w") as f:
                subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False)
        out.write("%d %d %s\n" % (now, pid, text))


if __name__ == "__main__":
    sys.exit(main())
