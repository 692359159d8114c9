#!/usr/bin/env bash
# bench-forward-smoke: tiny runs of the forwarding benchmark, without a firewall and behind a
# masquerading one. It checks that frames flowed through the kernel's forwarding, through
# steer's TC program and its XDP stage (under the firewall, steer's conntrack offload and no
# XDP: bench-forward fails when steer's programs did not forward them) and through both
# floors, and that the JSON carries its fields; never how fast anything went.
set -euo pipefail
bench=$1
json=$(mktemp /tmp/bench-forward-smoke.XXXXXX.json)
fwjson=$(mktemp /tmp/bench-forward-smoke-fw.XXXXXX.json)
trap 'rm -f "$json" "$fwjson"' EXIT
"$bench" --rules 4,100 --runs 1 --duration 0.3 --warmup 0.1 --json "$json"
"$bench" --rules 4,100 --runs 1 --duration 0.3 --warmup 0.1 --firewall nat --flows 4 \
	--json "$fwjson"
python3 - "$json" "$fwjson" <<'PY'
import json, sys

def check(doc, firewall):
    assert doc["benchmark"] == "forward" and doc["firewall"] == firewall, doc
    # Behind the firewall the XDP paths are not run: their fields are there, null.
    paths = ["kernel", "steer", "floor"] + (["xdp", "xdp_floor"] if firewall == "none" else [])
    want = ["rules", "ratio", "router_ratio", "steer_forwarded_fraction_min", "xdp_ratio",
            "xdp_router_ratio", "xdp_forwarded_fraction_min", "kernel_router_ns",
            "steer_router_ns", "xdp_router_ns", "load1_before", "load1_after"]
    want += [p + f for p in ("kernel", "steer", "xdp", "floor", "xdp_floor")
             for f in ("_pps", "_min_pps", "_max_pps", "_offered_pps", "_runs_pps")]
    assert [r["rules"] for r in doc["results"]] == [4, 100], doc["results"]
    for r in doc["results"]:
        missing = [k for k in want if k not in r]
        assert not missing, "missing %s in %s" % (missing, r)
        assert all(r[p + "_pps"] > 0 for p in paths), r
        # Under the firewall: the fraction steer's conntrack offload forwarded.
        assert r["steer_forwarded_fraction_min"] >= 0.9, r
        if firewall == "none":
            # What steer's XDP stage forwarded itself, not TC behind it.
            assert r["xdp_forwarded_fraction_min"] >= 0.9, r
        else:
            assert r["xdp_pps"] is None and r["xdp_forwarded_fraction_min"] is None, r

for path, firewall in zip(sys.argv[1:], ("none", "nat")):
    check(json.load(open(path)), firewall)
print("ok: frames flowed through the kernel, steer (at TC; at XDP; offloading, behind the "
      "firewall) and both floors; the JSON has its fields")
PY
