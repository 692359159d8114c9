#!/usr/bin/env bash
# bench-forward-smoke: tiny runs of the forwarding benchmark, without a firewall and behind a
# masquerading one. It checks that frames flowed through the kernel's forwarding and through
# steer's (under the firewall, steer's conntrack offload: bench-forward fails otherwise) and
# that the JSON carries its fields; never how fast anything went.
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
    want = ["rules", "ratio", "steer_forwarded_fraction_min", "kernel_router_ns",
            "steer_router_ns", "router_ratio", "load1_before", "load1_after"]
    want += [p + f for p in ("kernel", "steer", "floor")
             for f in ("_pps", "_min_pps", "_max_pps", "_offered_pps", "_runs_pps")]
    assert [r["rules"] for r in doc["results"]] == [4, 100], doc["results"]
    for r in doc["results"]:
        missing = [k for k in want if k not in r]
        assert not missing, "missing %s in %s" % (missing, r)
        assert r["kernel_pps"] > 0 and r["steer_pps"] > 0 and r["floor_pps"] > 0, r
        # Under the firewall: the fraction steer's conntrack offload forwarded.
        assert r["steer_forwarded_fraction_min"] >= 0.9, r

for path, firewall in zip(sys.argv[1:], ("none", "nat")):
    check(json.load(open(path)), firewall)
print("ok: frames flowed through the kernel, steer (offloading, behind the firewall) and the "
      "floor; the JSON has its fields")
PY
