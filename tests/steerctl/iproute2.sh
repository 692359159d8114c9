#!/usr/bin/env bash
# shellcheck disable=SC2016 # bash -c checks: their arguments expand in the inner shell
# steerctl against iproute2, both families. `steerctl -j routes` against `ip -j route show
# table all` in a router with
# the routes people run: defaults per table, connected and host routes, two metrics to one
# prefix, an on-link route, weighted multipath, blackhole, unreachable, prohibit and throw,
# the kernel's local table, and a table steer.yaml does not mirror. Each (table, dst) of a
# mirrored table must be in both, with the same "dst" and "table" strings, and what steer
# holds must be what the kernel would use: the lowest metric's gateway and device, the
# multipath members with shares by their weights, the reject type; the kernel's own local,
# broadcast, multicast and anycast routes, and IPv6 prefixes several devices share, punt.
# `steerctl -j rules` against `ip -j rule`: every kernel rule of every selector and action,
# with ip's keys and values. `steerctl explain` without ipproto against `ip route get`.
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

st_init
st_topology 46
st_add_sink c
R=(ip -n "$NS_ROUTER")
batch4=(
	"route add 100.64.0.0/10 via 10.0.2.2 metric 50"
	"route add 100.64.0.0/10 via 10.0.1.2 metric 100"
	"route add 192.0.2.10 via 10.0.3.2"
	"route add 203.0.113.0/24 table 100 nexthop via 10.0.1.2 weight 3 nexthop via 10.0.2.2 weight 1"
	"route add 198.51.100.128/25 dev upb table 100"
	"route add blackhole 192.0.2.0/25 table 100"
	"route add unreachable 192.0.2.128/26 table 100"
	"route add prohibit 192.0.2.192/27 table 100"
	"route add throw 10.200.0.0/16 table 100"
	"route add default via 10.0.3.2 table 200"
	"rule add from 10.3.0.0/24 table 200 priority 200"
	"rule add not from 10.9.0.0/16 fwmark 0x10/0xff ipproto tcp dport 80-90 table 100 priority 110"
	"rule add from 10.1.0.7 to 192.0.2.10 tos 0x10 iif cli table main priority 120"
	"rule add to 198.51.100.0/24 ipproto udp sport 53 goto 140 priority 130"
	"rule add priority 140 nop"
	"rule add from 10.5.0.0/16 blackhole priority 150"
	"rule add to 10.6.0.1 unreachable priority 160"
	"rule add from 10.7.0.0/16 prohibit priority 170"
	"rule add from 10.8.0.0/16 table main suppress_prefixlength 0 priority 180"
)
batch6=(
	"route add 2001:db8:64::/48 via 2001:db8:b::2 metric 50"
	"route add 2001:db8:64::/48 via 2001:db8:a::2 metric 100"
	"route add 2001:db8:ffff::10 via 2001:db8:c::2"
	"route add 2001:db8:77::/48 table 100 nexthop via 2001:db8:a::2 weight 1 nexthop via 2001:db8:b::2 weight 2"
	"route add 2001:db8:88::/64 dev upb table 100"
	"route add blackhole 2001:db8:dead::/48 table 100"
	"route add unreachable 2001:db8:beef::/48 table 100"
	"route add prohibit 2001:db8:cafe::/48 table 100"
	"route add throw 2001:db8:200::/40 table 100"
	"route add default via 2001:db8:c::2 table 200"
	"rule add not from 2001:db8:9::/48 fwmark 0x10 ipproto tcp dport 443 table 100 priority 110"
	"rule add from 2001:db8:1::7 to 2001:db8:ffff::10 iif cli table main priority 120"
	"rule add from 2001:db8:5::/48 blackhole priority 150"
	"rule add from 2001:db8:8::/48 table main suppress_prefixlength 0 priority 180"
)
printf '%s\n' "${batch4[@]}" | "${R[@]}" -4 -batch -
printf '%s\n' "${batch6[@]}" | "${R[@]}" -6 -batch -

# Tables main and 100 mirrored (local always is); 200 not.
cat >"$ST_TMP/steer.yaml" <<YAML
interfaces:
  $IF_CLIENT:
mirror:
  tables: [main, 100]
YAML
st_run_steerd 100 --config "$ST_TMP/steer.yaml"

"${R[@]}" -4 -j rule show >"$ST_TMP/rule4.json"
"${R[@]}" -6 -j rule show >"$ST_TMP/rule6.json"
st_steerctl -j rules >"$ST_TMP/steer-rules.json"
"${R[@]}" -4 -j route show table all >"$ST_TMP/ip4.json"
"${R[@]}" -6 -j route show table all >"$ST_TMP/ip6.json"
st_steerctl -j routes >"$ST_TMP/steer.json"

cat >"$ST_TMP/compare.py" <<'PY'
# compare.py IP4 IP6 STEER: TAP lines, one per check; exit 0.
import collections, json, sys

MIRRORED = {"main", "100", "local"}
PUNT_TYPES = {"local", "broadcast", "multicast", "anycast"}
n = 0
def check(ok, what):
    global n
    n += 1
    print(("ok" if ok else "not ok") + " - " + what)

kernel = collections.defaultdict(list)        # (family, table, dst) -> [route]
for family, path in (("inet", sys.argv[1]), ("inet6", sys.argv[2])):
    for r in json.load(open(path)):
        kernel[(family, r.get("table", "main"), r["dst"])].append(r)
steer = {}
for r in json.load(open(sys.argv[3])):
    key = (r["family"], r["table"], r["dst"])
    check(key not in steer, "steer lists %s %s %s once" % key)
    steer[key] = r

def nh(x):
    return (x.get("gateway"), x.get("dev"))

kinds = collections.Counter()
for key in sorted(set(kernel) | set(steer)):
    family, table, dst = key
    if table not in MIRRORED:
        check(key not in steer, "table %s is not mirrored: steer has no %s %s" % (table, family, dst))
        continue
    if key not in kernel:
        check(False, "steer has %s %s table %s, which ip -j route does not list: %s" % (family, dst, table, steer[key]))
        continue
    if key not in steer:
        check(False, "%s %s table %s (%s) is missing from steerctl -j routes" % (family, dst, table, kernel[key]))
        continue
    s = steer[key]
    low = min(r.get("metric", 0) for r in kernel[key])
    best = [r for r in kernel[key] if r.get("metric", 0) == low]
    types = {r.get("type", "unicast") for r in best}
    what = "%s %s table %s" % (family, dst, table)
    if types <= PUNT_TYPES or len(best) > 1:
        kinds["punt"] += 1
        check(s["type"] == "punt", "%s: the kernel's %s, steer punts (%s)" % (what, "/".join(sorted(types)) + (" x%d" % len(best) if len(best) > 1 else ""), s["type"]))
        continue
    k = best[0]
    ktype = k.get("type", "unicast")
    kinds[ktype + ("+nexthops" if "nexthops" in k else "")] += 1
    if "nexthops" in k:
        want = {nh(x): x.get("weight", 1) for x in k["nexthops"]}
        got = {nh(x): x.get("share") for x in s.get("nexthops", [])}
        total = sum(want.values())
        ok = (s["type"] == "unicast" and set(got) == set(want) and
              all(abs(got[m] - 100.0 * w / total) < 1 for m, w in want.items()))
        check(ok, "%s: multipath %s, steer %s %s" % (what, want, s["type"], got))
    elif ktype == "unicast":
        check(s["type"] == "unicast" and nh(s) == nh(k),
              "%s: via %s dev %s (metric %s of %d), steer %s via %s dev %s" % (
                  what, k.get("gateway"), k.get("dev"), low, len(kernel[key]), s["type"], s.get("gateway"), s.get("dev")))
    else:
        check(s["type"] == ktype, "%s: %s, steer %s" % (what, ktype, s["type"]))
print("# compared: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
# The setup's kinds all made it into the comparison: a check that compared nothing proves nothing.
for want in ("unicast", "unicast+nexthops", "blackhole", "unreachable", "prohibit", "throw", "punt"):
    check(kinds[want] >= 2, "compared at least two routes of kind %s (%d)" % (want, kinds[want]))
PY
while read -r line; do
	case $line in
	"ok - "*) st_ok "${line#ok - }" ;;
	"not ok - "*) st_not_ok "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done < <("$ST_PY" "$ST_TMP/compare.py" "$ST_TMP/ip4.json" "$ST_TMP/ip6.json" "$ST_TMP/steer.json" 2>&1 ||
	echo "not ok - compare.py failed")

# ---- rules -----------------------------------------------------------------------------------
cat >"$ST_TMP/rules.py" <<'PY'
# rules.py IP4 IP6 STEER: every kernel rule, as ip -j rule prints it, is in steerctl -j rules
# with each of ip's members and the same value; steer adds only its own members.
import json, sys
STEER_ONLY = {"id", "hits", "action"}
steer = {}
for lst in json.load(open(sys.argv[3])):
    for r in lst["rules"]:
        if "priority" in r:
            steer.setdefault((lst["family"], r["priority"]), []).append(r)
for family, path in (("inet", sys.argv[1]), ("inet6", sys.argv[2])):
    for k in json.load(open(path)):
        seen = steer.get((family, k["priority"]), [])
        # One body may sit in many lists; ip's object must equal one of them on ip's keys.
        same = [s for s in seen if all(s.get(key, "<absent>") == v for key, v in k.items())
                and set(s) - set(k) <= STEER_ONLY]
        diff = "" if same or not seen else ": steer has " + json.dumps(
            {key: v for key, v in seen[0].items() if key not in ("id", "hits")})
        print("%s - %s rule %s %s%s" % ("ok" if same else "not ok", family, k["priority"],
              json.dumps(k), diff))
PY
while read -r line; do
	case $line in
	"ok - "*) st_ok "${line#ok - }" ;;
	"not ok - "*) st_not_ok "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done < <("$ST_PY" "$ST_TMP/rules.py" "$ST_TMP/rule4.json" "$ST_TMP/rule6.json" \
	"$ST_TMP/steer-rules.json" 2>&1 || echo "not ok - rules.py failed")

# ---- explain: protocol 0 by default, as ip route get ------------------------------------------
for fam in 4 6; do
	flow=("${ST_INTERNET[$fam]}" from "${ST_CLIENT_ADDR[$fam]}" iif "$IF_CLIENT")
	kernel=$("${R[@]}" -"$fam" -j route get "${flow[@]}")
	want_proto=0
	[[ $fam == 6 ]] && want_proto=ipv6-nonxt
	out=$(st_steerctl -j explain "${flow[@]}" 2>"$ST_TMP/err") || true
	st_check "IPv$fam explain without ipproto: asks with $want_proto, forwards as ip route get ($out; kernel: $kernel)" \
		"$ST_PY" -c 'import json, sys
s, k = json.loads(sys.argv[1]), json.loads(sys.argv[2])[0]
sys.exit(not (s["ipproto"] == sys.argv[3] and s["action"] == "forward" and
              (s["dst"], s["from"], s["dev"], s.get("gateway"), s["table"]) ==
              (k["dst"], k["from"], k["dev"], k.get("gateway"), k.get("table", "main"))))' \
		"$out" "$kernel" "$want_proto"
	st_check "IPv$fam explain without ipproto: no warning ($(cat "$ST_TMP/err"))" test ! -s "$ST_TMP/err"
done
# A rule that selects IPv6's stand-in for protocol 0 makes the answers differ: steerctl says so.
"${R[@]}" -6 rule add ipproto 59 table main priority 50
for _ in $(seq 30); do
	st_steerctl rules | grep -q "50:	from all ipproto ipv6-nonxt" && break
	sleep 0.1
done
out=$(st_steerctl explain "${ST_INTERNET[6]}" from "${ST_CLIENT_ADDR[6]}" iif "$IF_CLIENT" 2>&1) || true
st_check "IPv6 explain without ipproto, a rule selects ipproto 59: warns ($out)" \
	grep -q "warning: asked with ipproto ipv6-nonxt.*a rule selects ipproto ipv6-nonxt" <<<"$out"
out=$(st_steerctl explain "${ST_INTERNET[6]}" from "${ST_CLIENT_ADDR[6]}" iif "$IF_CLIENT" \
	ipproto tcp 2>&1) || true
st_check "IPv6 explain with ipproto tcp: no warning ($out)" bash -c '! grep -q warning <<<"$1"' _ "$out"

st_finish
