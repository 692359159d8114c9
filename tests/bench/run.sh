#!/usr/bin/env bash
# Runs every benchmark and writes their figures to one JSON file plus tables on stdout.
# Usage: tests/bench/run.sh [OUT.json]     (root; builds nothing: run tools/dev.sh build first)
# Figures are ratios against the kernel measured in the same run; the machine they came from
# is recorded with them. Benchmarks never fail on a time.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
OUT=${1:-bench-results.json}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== decision cost (ns per packet; N from-rules ahead of the match; hot and cold flow cache)"
"$BUILD/tests/bench/bench-decision" --rules "${BENCH_RULES:-4,100,1000,10000}" --json "$tmp/decision.json"
echo
echo "== decision cost, N rules 'from all to <another destination>' ahead of the match (split lists)"
"$BUILD/tests/bench/bench-decision" --shape to --rules "${BENCH_RULES:-4,100,1000,10000}" \
	--json "$tmp/decision-to.json"
echo
echo "== decision cost, N rules of mixed selectors (from, to, fwmark, iif, dport) ahead of the match"
"$BUILD/tests/bench/bench-decision" --shape mixed --rules "${BENCH_RULES:-4,100,1000,10000}" \
	--json "$tmp/decision-mixed.json"
echo
echo "== decision cost with a full table (1,000,000 IPv4 + 200,000 IPv6 routes in main, 4 rules)"
"$BUILD/tests/bench/bench-decision" --rules 4 --routes "${BENCH_TABLE_ROUTES:-1000000}" \
	--json "$tmp/decision-table.json"
echo
echo "== control plane"
STEERD="$BUILD/agent/steerd" "$BUILD/tests/bench/bench-control" --json "$tmp/control.json"
echo
# The generator pinned to one CPU, the benchmark in an autogroup of its own at nice -10 so
# niced jobs elsewhere on the machine yield to it (see bench-forward's header).
echo "== forwarding rate (64-byte UDP, client -> router -> sink over veth; N from-rules)"
STEERD="$BUILD/agent/steerd" "$BUILD/tests/bench/bench-forward" \
	--rules "${BENCH_FORWARD_RULES:-4,1000}" --runs "${BENCH_FORWARD_RUNS:-5}" \
	--duration "${BENCH_FORWARD_SECONDS:-3}" --gen-cpu "${BENCH_FORWARD_CPU:-0}" \
	--nice "${BENCH_FORWARD_NICE:--10}" --json "$tmp/forward.json"
# The same behind a stateful nftables ruleset (`nat`: masquerading too): the kernel's
# conntrack (and NAT) against steer's conntrack offload (`--netfilter offload`), 64 flows.
for fw in filter nat; do
	echo
	echo "== forwarding rate behind a firewall ($fw; steer: --netfilter offload; 64 flows)"
	STEERD="$BUILD/agent/steerd" "$BUILD/tests/bench/bench-forward" --firewall "$fw" --flows 64 \
		--rules 4 --runs "${BENCH_FORWARD_RUNS:-5}" \
		--duration "${BENCH_FORWARD_SECONDS:-3}" --gen-cpu "${BENCH_FORWARD_CPU:-0}" \
		--nice "${BENCH_FORWARD_NICE:--10}" --json "$tmp/forward-$fw.json"
done

echo
echo "== churn at full-table scale (1,000,000 routes; a 200,000-route replace under traffic)"
tests/bench/churn.sh | tee "$tmp/churn.txt"

python3 - "$tmp" "$OUT" <<'PY'
import json, os, platform, sys
tmp, out = sys.argv[1], sys.argv[2]
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
doc = {'machine': {'cpu': cpu, 'cores': os.cpu_count(), 'kernel': platform.release()},
       'decision': json.load(open(os.path.join(tmp, 'decision.json')))['results'],
       'decision_to_rules': json.load(open(os.path.join(tmp, 'decision-to.json')))['results'],
       'decision_mixed_rules': json.load(open(os.path.join(tmp, 'decision-mixed.json')))['results'],
       'decision_full_table': json.load(open(os.path.join(tmp, 'decision-table.json')))['results'],
       'control': json.load(open(os.path.join(tmp, 'control.json'))),
       'forward': json.load(open(os.path.join(tmp, 'forward.json'))),
       'forward_firewalled': [json.load(open(os.path.join(tmp, 'forward-%s.json' % fw)))
                              for fw in ('filter', 'nat')],
       'churn': open(os.path.join(tmp, 'churn.txt')).read().splitlines()}
json.dump(doc, open(out, 'w'), indent=2)
print(f"\nwrote {out}")
PY
