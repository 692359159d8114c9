#!/usr/bin/env bash
# bench-forward-smoke: a tiny run of the forwarding benchmark. It checks that frames flowed
# through the kernel's forwarding and through steer's (bench-forward fails otherwise) and that
# the JSON carries its fields; never how fast anything went.
set -euo pipefail
bench=$1
json=$(mktemp /tmp/bench-forward-smoke.XXXXXX.json)
trap 'rm -f "$json"' EXIT
"$bench" --rules 4,100 --runs 1 --duration 0.3 --warmup 0.1 --json "$json"
python3 - "$json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["benchmark"] == "forward", doc
want = ["rules", "ratio", "steer_forwarded_fraction_min", "kernel_router_ns", "steer_router_ns",
        "router_ratio", "load1_before", "load1_after"]
want += [p + f for p in ("kernel", "steer", "floor")
         for f in ("_pps", "_min_pps", "_max_pps", "_offered_pps", "_runs_pps")]
assert [r["rules"] for r in doc["results"]] == [4, 100], doc["results"]
for r in doc["results"]:
    missing = [k for k in want if k not in r]
    assert not missing, "missing %s in %s" % (missing, r)
    assert r["kernel_pps"] > 0 and r["steer_pps"] > 0 and r["floor_pps"] > 0, r
    assert r["steer_forwarded_fraction_min"] >= 0.9, r
print("ok: frames flowed through the kernel, steer and the floor; the JSON has its fields")
PY
