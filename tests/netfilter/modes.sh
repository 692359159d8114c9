#!/usr/bin/env bash
# The netfilter mode: `netfilter:` in steer.yaml and --netfilter on the command line.
#   - bypass forwards past a drop rule (as steer did before) and warns, naming the chain, at
#     start and on every reload;
#   - SIGHUP switches between bypass and respect, with no restart;
#   - a restart on the same pins keeps what the file says; the command line wins over it;
#   - offload is accepted (reserved) and respects the ruleset meanwhile;
#   - steerd --check knows the key; --cleanup leaves the kernel's firewall in charge.
# Usage: tests/netfilter/modes.sh   (root; STEERD/STEERCTL override the binaries)
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib/lib-config.sh
. "$HERE/../lib/lib-config.sh"
# shellcheck source=tests/netfilter/lib-nf.sh
. "$HERE/lib-nf.sh"

N=20
BLOCKED_OUT='^upa=0 upb=0 upc=0 icmp=-$'
ARRIVED_OUT="^upa=0 upb=$N\\(${ST_CLIENT_ADDR[4]}\\) upc=0 icmp=-\$"
command -v nft >/dev/null || { echo "not ok - nft not installed (apt-get install nftables)"; exit 1; }
nf_init
cfg_init
nf_router nft -f - <<EOF
table inet filter {
	chain forward {
		type filter hook forward priority 0; policy accept
		ip daddr ${NF_BLOCKED[4]} drop
	}
}
EOF

# mode_is WANT: status says the mode.
mode_is() {
	st_steerctl -j status | "$ST_PY" -c '
import json, sys
sys.exit(json.load(sys.stdin)["netfilter"]["mode"] != sys.argv[1])' "$1"
}
warnings() { st_log_count 'netfilter: bypass: .*inet filter forward'; }

st_note "1. netfilter: bypass in the file"
cfg_write <<EOF
interfaces:
  cli:
netfilter: bypass
EOF
# What --check says is not TAP.
if nsenter --net="/run/netns/$NS_ROUTER" "$STEERD" --check "$CFG_FILE" >/dev/null; then
	st_ok "steerd --check accepts netfilter: bypass"
else
	st_not_ok "steerd --check accepts netfilter: bypass"
fi
cfg_start_steerd
st_check "status says bypass" mode_is bypass
out=$(nf_probe 4 "${NF_BLOCKED[4]}" $N)
st_check "bypass forwards past the drop rule ($out)" eval '[[ $out =~ ^upa=0\ upb=$N ]]'
st_check "... by the fast path: status says IPv4 goes past any firewall" \
	grep -q "IPv4: *fast path, past any firewall (bypass)" <<<"$(st_steerctl status)"
w0=$(warnings)
st_check "bypass warned at start, naming the chain ($w0 warnings)" test "$w0" -ge 1

st_note "2. SIGHUP with netfilter: respect"
sed -i 's/^netfilter: .*/netfilter: respect/' "$CFG_FILE"
st_reload "to respect"
st_check "status says respect" mode_is respect
out=$(nf_probe 4 "${NF_BLOCKED[4]}" $N)
st_check "respect: the drop rule holds ($out)" eval '[[ $out =~ $BLOCKED_OUT ]]'
d=$(nf_stat_delta punt_netfilter nf_probe 4 "${ST_INTERNET[4]}" $N)
st_check "respect: other IPv4 traffic is handed to the kernel (punt_netfilter +$d)" test "$d" -ge $N

st_note "3. SIGHUP back to bypass: the warning comes again"
sed -i 's/^netfilter: .*/netfilter: bypass/' "$CFG_FILE"
st_reload "back to bypass"
st_check "status says bypass again" mode_is bypass
w1=$(warnings)
st_check "the reload warned again ($w0 -> $w1)" test "$w1" -gt "$w0"
kill -HUP "$ST_STEERD_PID"
sleep 0.5
w2=$(warnings)
st_check "every reload warns, even one that changes nothing ($w1 -> $w2)" test "$w2" -gt "$w1"

st_note "4. A bad value on SIGHUP: refused, the last good mode stays"
sed -i 's/^netfilter: .*/netfilter: sometimes/' "$CFG_FILE"
cfg_reload_bad "netfilter: sometimes"
st_check "the error names the key and the choices (${CFG_REJECTED})" \
	grep -q "netfilter: expected respect, bypass or offload" <<<"$CFG_REJECTED"
st_check "status still says bypass" mode_is bypass
st_check "steerd --check refuses it too" \
	bash -c "! nsenter --net=/run/netns/$NS_ROUTER $STEERD --check $CFG_FILE 2>/dev/null"

st_note "5. Restart on the same pins with netfilter: respect"
sed -i 's/^netfilter: .*/netfilter: respect/' "$CFG_FILE"
st_stop_steerd
cfg_start_steerd
st_check "after the restart: respect" mode_is respect
out=$(nf_probe 4 "${NF_BLOCKED[4]}" $N)
st_check "after the restart the drop rule holds ($out)" eval '[[ $out =~ $BLOCKED_OUT ]]'

st_note "6. The command line wins over the file"
st_stop_steerd
cfg_start_steerd --netfilter bypass
st_check "--netfilter bypass over netfilter: respect" mode_is bypass
st_reload "command line keeps bypass"
st_check "a reload keeps the command line's bypass" mode_is bypass
st_stop_steerd

st_note "7. offload: the program that can offload; unmarked traffic still meets the ruleset"
sed -i 's/^netfilter: .*/netfilter: offload/' "$CFG_FILE"
cfg_start_steerd
st_check "status says offload" mode_is offload
st_check "steerd loaded the program with conntrack offload" \
	grep -q "BPF program loaded (with conntrack offload)" "$ST_STEERD_LOG"
out=$(nf_probe 4 "${NF_BLOCKED[4]}" $N)
st_check "offload: the drop rule holds ($out)" eval '[[ $out =~ $BLOCKED_OUT ]]'
sed -i 's/^netfilter: .*/netfilter: bypass/' "$CFG_FILE"
st_reload "offload to bypass"
st_check "a reload can leave offload" mode_is bypass
sed -i 's/^netfilter: .*/netfilter: respect/' "$CFG_FILE"
st_stop_steerd
cfg_start_steerd
sed -i 's/^netfilter: .*/netfilter: offload/' "$CFG_FILE"
st_reload "respect to offload"
st_check "offload asked on a reload waits for a restart, respecting meanwhile" mode_is respect
st_check "... and steerd said so" grep -q "offload takes effect when steerd restarts" "$ST_STEERD_LOG"
sed -i 's/^netfilter: .*/netfilter: respect/' "$CFG_FILE"
st_check "--netfilter refuses other words" \
	bash -c "! nsenter --net=/run/netns/$NS_ROUTER $STEERD --netfilter maybe --check $CFG_FILE 2>/dev/null"

st_note "8. --cleanup: the kernel alone, its firewall in charge"
st_stop_steerd
st_cleanup_steerd
out=$(nf_probe 4 "${NF_BLOCKED[4]}" $N)
st_check "after --cleanup the drop rule holds ($out)" eval '[[ $out =~ $BLOCKED_OUT ]]'
out=$(nf_probe 4 "${ST_INTERNET[4]}" $N)
st_check "after --cleanup other traffic arrives ($out)" eval '[[ $out =~ $ARRIVED_OUT ]]'
st_finish
