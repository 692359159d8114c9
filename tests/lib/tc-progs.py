#!/usr/bin/env python3
# tc-progs.py IFNAME: "tcx/ingress:NAME#ID ... clsact/ingress:..." of what runs there, or
# "none"; "gone" when there is no such device in this namespace. The kernel's own list of
# what is attached to a device's TCX hooks and its clsact filters: bpftool 7.1 (Debian 12's)
# predates TCX and shows neither in `net show` nor a TCX link's device in `link show`, so
# ask with BPF_PROG_QUERY as newer bpftool does. Used by lib-config.sh and the package test.
import ctypes, os, platform, socket, struct, subprocess, sys
NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
BPF_PROG_QUERY, BPF_TCX_INGRESS, BPF_TCX_EGRESS = 16, 46, 47
def query(ifindex, attach_type):
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(struct.pack("=IIII QI I QQQQ", ifindex, attach_type, 0, 0,
                                       ctypes.addressof(ids), 64, 0, 0, 0, 0, 0), 128)
    if libc.syscall(NR_BPF, BPF_PROG_QUERY, attr, 128) < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    n = struct.unpack_from("=I", attr.raw, 24)[0]
    return list(ids[:n])
def name(pid):
    out = subprocess.run(["bpftool", "prog", "show", "id", str(pid)], capture_output=True, text=True).stdout
    w = out.split()
    return w[w.index("name") + 1] if "name" in w else "?"
try:
    ifindex = socket.if_nametoindex(sys.argv[1])
except OSError:
    print("gone")
    sys.exit(0)
out = []
for hook, at in (("ingress", BPF_TCX_INGRESS), ("egress", BPF_TCX_EGRESS)):
    for pid in query(ifindex, at):
        out.append("tcx/%s:%s#%d" % (hook, name(pid), pid))
    tc = subprocess.run(["tc", "filter", "show", "dev", sys.argv[1], hook], capture_output=True, text=True).stdout
    for line in tc.splitlines():
        if " bpf " in line or line.lstrip().startswith("bpf"):
            out.append("clsact/%s:%s" % (hook, line.split(" id ")[-1].split()[0] if " id " in line else "?"))
print(" ".join(out) or "none")
