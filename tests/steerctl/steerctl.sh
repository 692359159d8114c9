#!/usr/bin/env bash
# steerctl as an operator tool, against a real steerd and real traffic: every command in
# tables and JSON (-j, -p), routes of one table, next hops and links of the topology, counters
# that move with the pings sent through the router, rates with -i, the Prometheus textfile,
# a steer.yaml group and policy, detach (TCX ingress and egress, then clsact) handing the
# interface back to the kernel, reading the pins while steerd is stopped, and the errors for
# no pins and for an unprivileged user.
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

# ctl ARGS...: steerctl in the router's namespace; stdout in $OUT, stderr in $ERR, exit in $RC.
ctl() {
	OUT=$(st_steerctl "$@" 2>"$ST_TMP/err") && RC=0 || RC=$?
	ERR=$(cat "$ST_TMP/err")
}

# py CODE ARGS...: a python check; what it prints goes to stderr, out of the TAP stream.
py() {
	local code=$1
	shift
	"$ST_PY" -c "$code" "$@" >&2
}

# ctl_ok WHAT ARGS...: steerctl ARGS exits 0.
ctl_ok() {
	local what=$1
	shift
	ctl "$@"
	st_check "$what: steerctl $* exits 0 (exit $RC${ERR:+: $ERR})" test "$RC" -eq 0
}

# stat_of JSON KEY: one counter from `steerctl -j stats`.
stat_of() { "$ST_PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

st_init
st_topology 4

# ---- no pins ----------------------------------------------------------------------------------
OUT=$(nsenter --net="/run/netns/$NS_ROUTER" "$STEERCTL" --pin-dir "$PIN_DIR-none" status 2>&1) &&
	RC=0 || RC=$?
st_check "no pins: exit 1 and says nothing is pinned (exit $RC: $OUT)" \
	test "$RC" -eq 1 -a "$OUT" = "steerctl: nothing pinned under $PIN_DIR-none: is steerd running, or was it started with --pin-dir?"

st_start_steerd

# ---- status, routes, next hops, links ---------------------------------------------------------
ctl_ok "status" status
st_check "status says synced and names the attached interface" \
	grep -qzE "synced: +yes.*attached: +$IF_CLIENT" <<<"$OUT"

ctl_ok "routes of table 100" routes table 100
st_check "routes table 100: only table 100, with its default via upb ($(tr '\n' ';' <<<"$OUT"))" \
	py 'import sys
lines = sys.argv[1].splitlines()
sys.exit(not (lines and all(l.startswith("table 100 ") for l in lines)
              and "table 100 inet 0.0.0.0/0 via 10.0.2.2 dev upb" in lines))' "$OUT"
ctl_ok "routes of table main, JSON" -j routes table main
st_check "routes table main -j: only table main, with its default via upa (ip -j route's shapes)" py 'import json, sys
r = json.loads(sys.argv[1])
sys.exit(not (r and all(x["table"] == "main" for x in r) and
              any(x["dst"] == "default" and x.get("gateway") == "10.0.1.2"
                  and x.get("dev") == "upa" for x in r)))' "$OUT"
all=$(st_steerctl -j routes)
ctl_ok "routes table all" -j routes table all
st_check "routes table all is every route" test "$OUT" = "$all"
ctl routes table nosuch
st_check "routes table nosuch: usage error, exit 2 (exit $RC)" test "$RC" -eq 2

ctl_ok "nexthops" nexthops
# shellcheck disable=SC2016 # expanded by the inner bash
st_check "nexthops lists the gateways of both uplinks ($(tr '\n' ';' <<<"$OUT"))" \
	bash -c 'grep -qE "^id [0-9]+ via 10.0.1.2 dev upa$" <<<"$1" &&
		 grep -qE "^id [0-9]+ via 10.0.2.2 dev upb$" <<<"$1"' _ "$OUT"
ctl_ok "nexthops, JSON" -j nexthops
st_check "nexthops -j: every next hop a route uses, with its device" py 'import json, sys
n = json.loads(sys.argv[1])
routes = json.loads(sys.argv[2])
ids = {x["id"]: x for x in n["nexthops"]}
used = {r["nhid"] for r in routes if "nhid" in r}
devs = {x.get("dev") for x in ids.values()}
print(sorted(devs), "groups:", len(n["groups"]))
sys.exit(not (used <= set(ids) and {"upa", "upb", "cli"} <= devs and n["groups"] == []))' \
	"$OUT" "$all"

ctl_ok "links" links
# shellcheck disable=SC2016 # expanded by the inner bash
st_check "links lists cli, upa and upb, up and forwarding ($(tr '\n' ';' <<<"$OUT"))" \
	bash -c 'for d in cli upa upb; do grep -qE "^[0-9]+ +$d +up +yes " <<<"$1" || exit 1; done' \
	_ "$OUT"
ctl_ok "links, JSON" -j links
st_check "links -j: the topology's devices with their real ifindex" py 'import json, sys
l, ip = json.loads(sys.argv[1]), json.loads(sys.argv[2])
index = {x["ifname"]: x["ifindex"] for x in ip}
by = {x["ifname"]: x for x in l["links"]}
ok = all(d in by and by[d]["ifindex"] == index[d] and by[d]["up"]
         and by[d]["fwd4"] and by[d]["rp_filter"] == 0 for d in ("cli", "upa", "upb"))
sys.exit(not (ok and l["vlans"] == []))' "$OUT" "$(ip -n "$NS_ROUTER" -j link show)"

# ---- -p: the same content, indented ----------------------------------------------------------
for cmd in "status" "rules" "routes" "nexthops" "links" "stats" \
	"explain ${ST_INTERNET[4]} from ${ST_CLIENT_ADDR[4]} iif $IF_CLIENT"; do
	# shellcheck disable=SC2086 # the command's words
	compact=$(st_steerctl -j $cmd)
	# shellcheck disable=SC2086
	ctl -p $cmd
	st_check "-p $cmd: valid JSON (python -m json.tool), indented, the same as -j" py '
import json, subprocess, sys
pretty, compact, cmd = sys.argv[1:4]
subprocess.run([sys.executable, "-m", "json.tool"], input=pretty, text=True, check=True,
               stdout=subprocess.DEVNULL)
a, b = json.loads(pretty), json.loads(compact)
def shape(x):       # status and stats move between two calls: compare their keys
    return {k: shape(v) for k, v in x.items()} if isinstance(x, dict) else type(x).__name__
if cmd in ("status", "stats"):
    a, b = shape(a), shape(b)
sys.exit(not (a == b and "\n    " in pretty))' "$OUT" "$compact" "${cmd%% *}"
done

# ---- traffic moves the counters ---------------------------------------------------------------
s0=$(st_steerctl -j stats)
st_expect_path 4 30 "pings through the router" fast upb
s1=$(st_steerctl -j stats)
st_check "stats -j: forwarded and rx grew by the 30 pings ($(stat_of "$s0" forwarded) -> $(stat_of "$s1" forwarded))" \
	py 'import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.exit(not (b["forwarded"] - a["forwarded"] >= 30 and b["rx"] - a["rx"] >= 30))' "$s0" "$s1"
ctl_ok "rules, JSON" -j rules
st_check "rules -j: rule 100 counted the pings" py 'import json, sys
hits = [r["hits"] for p in json.loads(sys.argv[1]) for r in p["rules"] if r.get("priority") == 100]
print(hits)
sys.exit(not (hits and max(hits) >= 30))' "$OUT"

ctl_ok "stats --per-cpu" -j stats --per-cpu
st_check "stats -j --per-cpu: each counter's CPUs add up to its sum" py 'import json, sys
s = json.loads(sys.argv[1])
cpus = s["per_cpu"]
sys.exit(not (cpus and all(sum(c[k] for c in cpus) == s[k] for k in s if k != "per_cpu")))' "$OUT"
ctl_ok "stats --per-cpu, table" stats --per-cpu
st_check "stats --per-cpu: a TOTAL column and one per CPU that counted" \
	grep -qE "^COUNTER +TOTAL( +CPU[0-9]+)+$" <<<"$OUT"

# ---- rates -----------------------------------------------------------------------------------
nsenter --net="/run/netns/$NS_CLIENT" "$ST_PY" "$ST_TMP/sttool.py" ping 4 "${ST_CLIENT_ADDR[4]}" \
	"${ST_INTERNET[4]}" 400 0.01 64 1 >/dev/null 2>&1 &
pinger=$!
sleep 0.3
ctl_ok "rates" stats -i 1 --count 2
text_rates=$OUT
ctl_ok "rates, JSON" -j stats -i 0.5 --count 2
wait "$pinger" || true
st_check "stats -i 1 --count 2: two intervals, forwarded at a rate ($(tr '\n' ';' <<<"$text_rates"))" \
	py 'import re, sys
blocks = [b for b in sys.argv[1].split("\n\n") if b.strip()]
rates = [float(m.group(1)) for b in blocks for m in [re.search(r"^forwarded +([0-9.]+)$", b, re.M)] if m]
sys.exit(not (len(blocks) == 2 and all("packets/s over" in b for b in blocks)
              and len(rates) == 2 and min(rates) > 10))' "$text_rates"
st_check "stats -j -i 0.5 --count 2: two documents, rates of the counters that moved ($(tr '\n' ' ' <<<"$OUT"))" \
	py 'import json, sys
docs = [json.loads(l) for l in sys.argv[1].splitlines()]
sys.exit(not (len(docs) == 2 and all(d["rates"].get("forwarded", 0) > 10 and
              0.45 < d["interval"] < 2 and all(v > 0 for v in d["rates"].values())
              for d in docs)))' "$OUT"
nsenter --net="/run/netns/$NS_ROUTER" "$STEERCTL" --pin-dir "$PIN_DIR" stats -i 0.2 \
	>"$ST_TMP/watch" 2>&1 &
watcher=$!
sleep 1
kill -INT "$watcher"
wait "$watcher" && rc=0 || rc=$?
st_check "stats -i 0.2 ends on SIGINT with exit 0 after printing ($rc, $(grep -c 'packets/s' "$ST_TMP/watch") intervals)" \
	test "$rc" -eq 0 -a "$(grep -c 'packets/s' "$ST_TMP/watch")" -ge 2

# ---- Prometheus textfile ----------------------------------------------------------------------
prom=$ST_TMP/prom/steer.prom
mkdir -p "$ST_TMP/prom"
ctl_ok "Prometheus textfile" stats --prometheus "$prom"
stats=$(st_steerctl -j stats)
status=$(st_steerctl -j status)
st_check "--prometheus: printed nothing, left no temporary file" \
	test -z "$OUT" -a "$(ls "$ST_TMP/prom")" = steer.prom
cat >"$ST_TMP/promcheck.py" <<'EOF'
# promcheck.py FILE STATS_JSON STATUS_JSON: FILE is valid node_exporter textfile format and says
# what steerctl -j says. Prints what it found wrong, or a summary.
import json, re, sys
text = open(sys.argv[1]).read()
stats, status = json.loads(sys.argv[2]), json.loads(sys.argv[3])
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)?\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$" % (NAME, LABEL, LABEL))
bad, types, helps, samples, order = [], {}, set(), {}, []
assert text.endswith("\n"), "no newline at the end"
for n, line in enumerate(text.splitlines(), 1):
    if line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ", 3)
        if name in types:
            bad.append("line %d: second TYPE for %s" % (n, name))
        if typ not in ("counter", "gauge", "untyped", "histogram", "summary"):
            bad.append("line %d: type %s" % (n, typ))
        types[name] = typ
        order.append(name)
    elif line.startswith("# HELP "):
        helps.add(line.split(" ", 3)[2])
    elif line.startswith("#") or not line:
        bad.append("line %d: stray %r" % (n, line))
    else:
        m = SAMPLE.match(line)
        if not m:
            bad.append("line %d: not a sample: %r" % (n, line))
            continue
        name = m.group(1)
        labels = dict(re.findall(LABEL, m.group(2) or ""))
        if name not in types:
            bad.append("line %d: %s before its TYPE" % (n, name))
        elif order[-1] != name:
            bad.append("line %d: %s not with its family" % (n, name))
        samples.setdefault(name, []).append((labels, float(m.group(m.lastindex))))
for name in types:
    if name not in helps:
        bad.append("no HELP for " + name)
def one(name, **want):
    for labels, v in samples.get(name, []):
        if all(labels.get(k) == w for k, w in want.items()):
            return v
    bad.append("no sample %s%s" % (name, want))
    return None
if one("steer_forwarded_packets_total") != stats["forwarded"]:
    bad.append("forwarded %s != steerctl -j stats %s" % (one("steer_forwarded_packets_total"), stats["forwarded"]))
for k, v in stats.items():
    if k.startswith("punt_") and one("steer_punted_packets_total", reason=k[5:]) != v:
        bad.append("punt reason %s != %s" % (k[5:], v))
    if k.startswith("drop_") and one("steer_dropped_packets_total", type=k[5:]) != v:
        bad.append("drop type %s != %s" % (k[5:], v))
one("steer_received_packets_total")             # one() notes a sample that is missing
for m, v in status["maps"].items():
    if one("steer_map_entries", map=m) != v:
        bad.append("map %s entries != %s" % (m, v))
    one("steer_map_max_entries", map=m)
hits = [v for labels, v in samples.get("steer_rule_hits_total", [])
        if labels.get("priority") == "100" and labels.get("table") == "100"]
if not hits or max(hits) < 30:
    bad.append("rule 100 (table 100) hits %s" % hits)
if one("steer_synced") != 1 or one("steer_generation") != status["generation"]:
    bad.append("synced/generation")
if one("steer_agent_netlink_messages_total") is None or not one("steer_agent_applies_total"):
    bad.append("agent counters")
for name, typ in types.items():
    if name.endswith("_total") != (typ == "counter"):
        bad.append("%s is a %s" % (name, typ))
if bad:
    print("; ".join(bad[:8]))
    sys.exit(1)
print("%d families, %d samples" % (len(types), sum(len(s) for s in samples.values())))
EOF
found=$("$ST_PY" "$ST_TMP/promcheck.py" "$prom" "$stats" "$status" 2>&1) && rc=0 || rc=$?
st_check "--prometheus: valid textfile format, the numbers of steerctl -j ($(tail -1 <<<"$found"))" \
	test "$rc" -eq 0
# A collector reading while steerctl rewrites the file every 20 ms must never see half of it.
"$ST_PY" - "$prom" >"$ST_TMP/reads" 2>&1 <<'EOF' &
import sys, time
end, reads, torn = time.monotonic() + 1.5, 0, 0
while time.monotonic() < end:
    t = open(sys.argv[1]).read()
    reads += 1
    torn += not (t.startswith("# HELP") and t.endswith("\n") and "steer_agent_overflow_punts_total " in t)
print(reads, torn)
EOF
reader=$!
ctl_ok "Prometheus textfile every 20 ms" stats -i 0.02 --count 50 --prometheus "$prom"
wait "$reader" || true
read -r reads torn <"$ST_TMP/reads" || true
st_check "--prometheus -i: $reads reads while it was rewritten 50 times, ${torn:-?} torn" \
	test "${torn:-1}" -eq 0 -a "${reads:-0}" -gt 50
st_check "--prometheus -i: left no temporary file" test "$(ls "$ST_TMP/prom")" = steer.prom

# ---- explain: protocol 0 by default, as ip route get -----------------------------------------
# explain_until PATTERN ARGS...: steerctl explain ARGS until its line matches the glob (steerd
# follows a rule change within milliseconds); the last line in $OUT.
explain_until() {
	local pat=$1 i
	shift
	for i in $(seq 30); do
		OUT=$(st_steerctl explain "$@" 2>&1) || true
		# shellcheck disable=SC2053 # a pattern on purpose
		[[ $OUT == $pat ]] && return 0
		sleep 0.1
	done
	return 1
}
flow=("${ST_INTERNET[4]}" from "${ST_CLIENT_ADDR[4]}" iif "$IF_CLIENT")
# An ICMP rule ahead of rule 100 sends ICMP out upa: a question without ipproto is not ICMP.
st_ip -n "$NS_ROUTER" route add default via 10.0.1.2 table 200
st_ip -n "$NS_ROUTER" rule add from "${ST_CLIENT_NET[4]}" ipproto icmp table 200 priority 50
explain_until "* dev upa table 200 rule 50" "${flow[@]}" ipproto icmp || true
st_check "explain ipproto icmp: the ICMP rule 50 sends it out upa ($OUT)" \
	test "$OUT" = "${flow[0]} from ${flow[2]} ipproto icmp via 10.0.1.2 dev upa table 200 rule 50"
kernel=$(ip -n "$NS_ROUTER" route get "${flow[@]}" | head -n 1)
ctl_ok "explain without ipproto" explain "${flow[@]}"
# shellcheck disable=SC2016 # expanded by the inner bash
st_check "explain without ipproto: protocol 0, rule 100 out upb, as ip route get ($OUT; kernel: $kernel)" \
	bash -c '[[ $1 == "$2 from $3 ipproto 0 via 10.0.2.2 dev upb table 100 rule 100" &&
		   $4 == *" via 10.0.2.2 dev upb "* ]]' _ "$OUT" "${flow[0]}" "${flow[2]}" "$kernel"
ctl_ok "explain without ipproto, JSON" -j explain "${flow[@]}"
st_check "explain -j: ip route get's keys (from, table by name) and the protocol asked with ($OUT)" \
	py 'import json, sys
e = json.loads(sys.argv[1])
sys.exit(not (e["from"] == sys.argv[2] and e["ipproto"] == "0" and e["table"] == "100"
              and e["priority"] == 100 and e["dev"] == "upb" and "src" not in e))' "$OUT" "${flow[2]}"
st_ip -n "$NS_ROUTER" rule del priority 50
st_ip -n "$NS_ROUTER" route del default table 200

# ---- no internal sentinels: a list cut at the compiled limit -----------------------------------
# 70 rules ahead of rule 100 that the flow does not match (tos): its list is cut, and the walk
# ends at the marker that no rule is.
for i in $(seq 1 70); do
	echo "rule add from ${ST_CLIENT_NET[4]} tos 0x04 table 100 priority $i"
done >"$ST_TMP/cut.batch"
ip -n "$NS_ROUTER" -batch "$ST_TMP/cut.batch"
explain_until "punt (rule_limit*" "${flow[@]}" || true
st_check "explain past the compiled limit: punt (rule_limit: no rule) ipproto 0 ($OUT)" \
	test "$OUT" = "punt (rule_limit: no rule) ipproto 0"
ctl_ok "explain past the limit, JSON" -j explain "${flow[@]}"
st_check "explain -j past the limit: reason rule_limit, no priority, no table ($OUT)" \
	py 'import json, sys
e = json.loads(sys.argv[1])
sys.exit(not (e["action"] == "punt" and e["reason"] == "rule_limit" and "priority" not in e
              and "table" not in e))' "$OUT"
ctl_ok "rules, a cut list" rules
st_check "rules: the cut list ends with a line of no priority, -: cut ..." \
	grep -qE "^inet +10\.1\.0\.0/24 +[0-9]+ +[0-9]+  -:	cut: later rules are past the compiled limit" <<<"$OUT"
ctl_ok "rules, a cut list, JSON" -j rules
st_check "rules -j: the cut marker has action cut and no priority" py 'import json, sys
cuts = [r for p in json.loads(sys.argv[1]) for r in p["rules"] if r.get("action") == "cut"]
sys.exit(not (cuts and all("priority" not in r for r in cuts)))' "$OUT"
outs=$(st_steerctl rules; st_steerctl -j rules; st_steerctl explain "${flow[@]}"
	st_steerctl -j explain "${flow[@]}"; st_steerctl routes; st_steerctl -j routes
	st_steerctl nexthops; st_steerctl -j nexthops; st_steerctl links; st_steerctl -j links
	st_steerctl stats --prometheus "$ST_TMP/cut.prom" && cat "$ST_TMP/cut.prom")
# shellcheck disable=SC2016 # expanded by the inner bash
st_check "no 4294967295 in any output of steerctl ($(grep -c 4294967295 <<<"$outs" || true) lines)" \
	bash -c '! grep -q 4294967295 <<<"$1"' _ "$outs"
sed 's/^rule add/rule del/' "$ST_TMP/cut.batch" | ip -n "$NS_ROUTER" -batch -
explain_until "* dev upb table 100 rule 100" "${flow[@]}" || true
st_check "the 70 rules gone: rule 100 decides again ($OUT)" \
	test "$OUT" = "${flow[0]} from ${flow[2]} ipproto 0 via 10.0.2.2 dev upb table 100 rule 100"

# ---- side lists: the `from all` rules kept apart -----------------------------------------------
# 50 `from all` port rules (priorities 1-50), then 15 of the client's own (51-65): with rule
# 100 and the defaults, more than 63 in the client's list and nothing to split them by. The
# agent keeps the `from all` rules in a side list, and a flow no port rule matches reaches
# rule 100 instead of the cut.
for i in $(seq 0 49); do
	echo "rule add ipproto udp dport $((3000 + i)) table 100 priority $((1 + i))"
done >"$ST_TMP/side.batch"
for i in $(seq 0 14); do
	echo "rule add from ${ST_CLIENT_NET[4]} ipproto udp dport $((2000 + i)) table 100 priority $((51 + i))"
done >>"$ST_TMP/side.batch"
ip -n "$NS_ROUTER" -batch "$ST_TMP/side.batch"
explain_until "* dev upb table 100 rule 100" "${flow[@]}" ipproto udp dport 9999 || true
st_check "side lists: past 65 rules, rule 100 decides ($OUT)" \
	bash -c '[[ $1 == *" via 10.0.2.2 dev upb table 100 rule 100" ]]' _ "$OUT"
ctl_ok "rules, side lists" rules
st_check "rules: the port rules under 0.0.0.0/0, the client's own under its prefix" \
	bash -c 'grep -qE "^inet +0\.0\.0\.0/0 dport other +[0-9]+ +[0-9]+  50:	from all ipproto udp dport 3049 lookup 100$" <<<"$1" &&
		 grep -qE "^inet +10\.1\.0\.0/24 +[0-9]+ +[0-9]+  51:	from 10\.1\.0\.0/24 ipproto udp dport 2000 lookup 100$" <<<"$1" &&
		 ! grep -qE "^inet +10\.1\.0\.0/24 .*dport 3049" <<<"$1"' _ "$OUT"
sed 's/^rule add/rule del/' "$ST_TMP/side.batch" | ip -n "$NS_ROUTER" -batch -

# ---- detach: TCX ------------------------------------------------------------------------------
ctl_ok "detach (TCX)" detach "$IF_CLIENT"
st_check "detach $IF_CLIENT: says it removed the ingress TCX link ($OUT)" \
	grep -q "^$IF_CLIENT: detached steer from ingress (TCX link; removed $PIN_DIR/tcx-ingress-$IF_CLIENT)$" <<<"$OUT"
st_check "detach: the pin is gone" test ! -e "$PIN_DIR/tcx-ingress-$IF_CLIENT"
net=$(ip netns exec "$NS_ROUTER" bpftool -j net show dev "$IF_CLIENT" 2>&1) || true
st_check "detach: bpftool net show dev $IF_CLIENT lists no tcx program ($net)" py 'import json, sys
n = json.loads(sys.argv[1])
sys.exit(any(e.get("tcx") for e in n) or any(e.get("tc") for e in n))' "$net"
st_expect_path 4 20 "after detach" none upb
ctl detach "$IF_CLIENT"
st_check "detach again: exit 1, nothing of steer attached ($RC: $ERR)" \
	test "$RC" -eq 1 -a -n "$(grep 'nothing of steer is attached to cli' <<<"$ERR")"
ctl detach nosuch0
st_check "detach of an interface that does not exist: exit 1 ($RC: $ERR)" \
	test "$RC" -eq 1 -a -n "$(grep 'no such interface' <<<"$ERR")"
ctl detach "$IF_CLIENT" sideways
st_check "detach IFACE sideways: usage error, exit 2 ($RC)" test "$RC" -eq 2

# ---- a steer.yaml group, a policy, both hooks -------------------------------------------------
st_stop_steerd
cat >"$ST_TMP/steer.yaml" <<EOF
interfaces:
  $IF_CLIENT: { direction: both }
groups:
  uplinks:
    hash: consistent
    nexthops:
      - { via: 10.0.1.2, dev: upa, weight: 3 }
      - { via: 10.0.2.2, dev: upb }
policies:
  - priority: 50
    from: 10.1.0.0/24
    ipproto: udp
    dport: 9999
    group: uplinks
EOF
st_start_steerd_with 100 --config "$ST_TMP/steer.yaml"
ctl_ok "a consistent group" nexthops
st_check "nexthops: the group, hash consistent, its members with shares ($(tr '\n\t' '; ' <<<"$OUT"))" \
	py 'import re, sys
t = sys.argv[1]
m = re.search(r"^group [0-9]+ hash consistent\n((?:\tnexthop .*\n?)+)", t, re.M)
sh = dict(re.findall(r"via [0-9.]+ dev (\w+) share ([0-9.]+)%", m.group(1))) if m else {}
sys.exit(not (set(sh) == {"upa", "upb"} and abs(sum(map(float, sh.values())) - 100) < 0.1
              and float(sh["upa"]) > 2 * float(sh["upb"])))' "$OUT"
ctl_ok "a consistent group, JSON" -j nexthops
st_check "nexthops -j: the group's members are next hops of the map" py 'import json, sys
n = json.loads(sys.argv[1])
ids = {x["id"] for x in n["nexthops"]}
g = [x for x in n["groups"] if x["hash"] == "consistent"]
sys.exit(not (len(g) == 1 and len(g[0]["group"]) == 2 and
              all(m["id"] in ids and m["share"] > 0 for m in g[0]["group"])))' "$OUT"
ctl_ok "a policy" rules
st_check "rules: the policy forwards to the group" \
	grep -qE "50:.*ipproto udp dport 9999 forward nhgroup [0-9]+$" <<<"$OUT"
st_check "both hooks of $IF_CLIENT are pinned" \
	test -e "$PIN_DIR/tcx-ingress-$IF_CLIENT" -a -e "$PIN_DIR/tcx-egress-$IF_CLIENT"
ctl_ok "status, both hooks" status
st_check "status names $IF_CLIENT attached at ingress and at egress" py 'import re, sys
sys.exit(not re.search(r"^attached: +cli\negress: +cli$", sys.argv[1], re.M))' "$OUT"
ctl_ok "status, both hooks, JSON" -j status
st_check "status -j: attached and attached_egress" py 'import json, sys
s = json.loads(sys.argv[1])
sys.exit(not (s["attached"] == ["cli"] and s["attached_egress"] == ["cli"]))' "$OUT"
ctl_ok "detach egress" -j detach "$IF_CLIENT" egress
st_check "detach $IF_CLIENT egress -j: only the egress TCX link ($OUT)" py 'import json, sys
d = json.loads(sys.argv[1])
sys.exit(not (d["ifname"] == "cli" and [(x["hook"], x["mode"]) for x in d["detached"]] ==
              [("egress", "tcx")]))' "$OUT"
st_check "detach egress: its pin is gone, ingress still pinned" \
	test ! -e "$PIN_DIR/tcx-egress-$IF_CLIENT" -a -e "$PIN_DIR/tcx-ingress-$IF_CLIENT"
st_expect_path 4 10 "ingress after egress detach" fast upb
ctl_ok "detach the rest" detach "$IF_CLIENT"
st_check "detach $IF_CLIENT: ingress only, egress was gone already ($OUT)" \
	test "$OUT" = "$IF_CLIENT: detached steer from ingress (TCX link; removed $PIN_DIR/tcx-ingress-$IF_CLIENT)"

# ---- detach: clsact ---------------------------------------------------------------------------
st_stop_steerd
st_start_steerd_with 100 --attach-mode clsact
st_expect_path 4 20 "attached again with clsact" fast upb
ctl_ok "detach ingress (clsact)" detach "$IF_CLIENT" ingress
st_check "detach $IF_CLIENT ingress: says it removed the clsact filter ($OUT)" \
	grep -qE "^$IF_CLIENT: detached steer from ingress \(clsact filter of program [0-9]+\)$" <<<"$OUT"
st_check "detach: tc shows no bpf filter at ingress" \
	bash -c "! tc -n $NS_ROUTER filter show dev $IF_CLIENT ingress | grep -q bpf"
st_expect_path 4 20 "after clsact detach" none upb

# ---- steerd stopped: the pins still read ------------------------------------------------------
st_stop_steerd
for cmd in status rules routes nexthops links stats; do
	ctl_ok "steerd stopped" "$cmd"
done
ctl routes table 100
st_check "steerd stopped: routes table 100 still shows the default via upb" \
	grep -q "table 100 inet 0.0.0.0/0 via 10.0.2.2 dev upb" <<<"$OUT"
ctl -j stats
fwd=$(stat_of "$OUT" forwarded 2>/dev/null) || fwd=0
st_check "steerd stopped: stats -j still counts what was forwarded ($fwd)" test "$fwd" -ge 50

# ---- an unprivileged user ---------------------------------------------------------------------
OUT=$(nsenter --net="/run/netns/$NS_ROUTER" setpriv --reuid=65534 --regid=65534 --clear-groups \
	--inh-caps=-all "$STEERCTL" --pin-dir "$PIN_DIR" stats 2>&1) && RC=0 || RC=$?
st_check "unprivileged: exit 1, permission denied ($RC: $OUT)" \
	test "$RC" -eq 1 -a -n "$(grep "^steerctl: permission denied reading $PIN_DIR: run as root" <<<"$OUT")"

st_finish
