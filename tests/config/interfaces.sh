#!/usr/bin/env bash
# steer.yaml's interfaces: as the kernel makes and removes them. The file names the client's
# interface (it exists) and late0 (not yet): steerd must start, sync, fast-path the client's
# traffic and say it waits for late0. When late0 appears (a veth to a second client) steerd
# must attach to it and forward what arrives there; when it is deleted steerd must forget it
# quietly (still running, nothing logged at error level), and attach again when it comes back.
# An interface taken out of the file must be detached on SIGHUP (its pin gone, no program on
# it, its traffic routed by the kernel alone); `direction: egress` attaches at egress only,
# `both` at both hooks. A missing interface added by SIGHUP is waited for, and said so.
# Usage: tests/config/interfaces.sh   (root; STEERD/STEERCTL override the binaries)
# shellcheck disable=SC2119 # helpers whose arguments are optional
set -euo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib/lib-config.sh
. "$HERE/../lib/lib-config.sh"

cfg_test_init
NS_CLIENT2=st$$-client2
LATE=late0
CLIENT2=10.2.0.2
st_note "interfaces: {$NS_CLIENT -- $IF_CLIENT, $NS_CLIENT2 -- $LATE (later)} -- $NS_ROUTER --" \
	"{sinka, sinkb}, pins in $PIN_DIR"
st_topology 4
st_netns_add "$NS_CLIENT2"
st_capture_start

# late_add: the veth late0 (router) -- eth0 (client2); the kernel routes 10.2.0.0/24 out by
# the main table's default, upa.
late_add() {
	st_ip link add "$LATE" netns "$NS_ROUTER" type veth peer name eth0 netns "$NS_CLIENT2"
	st_ip -n "$NS_ROUTER" addr add 10.2.0.1/24 dev "$LATE"
	st_ip -n "$NS_CLIENT2" addr add "$CLIENT2/24" dev eth0
	st_ip -n "$NS_ROUTER" link set "$LATE" up
	st_ip -n "$NS_CLIENT2" link set eth0 up
	st_ip -n "$NS_CLIENT2" route add default via 10.2.0.1
}
pin() { test -e "$PIN_DIR/tcx-$1-$2"; }
no_pin() { test ! -e "$PIN_DIR/tcx-$1-$2"; }
progs_have() { [[ $(cfg_tc_progs "$1") == *"$2"* ]]; }
progs_none() { [[ $(cfg_tc_progs "$1") == none ]]; }
# hooks_are PROGS ingress|egress|both: steer's programs, as cfg_tc_progs lists them, run at
# exactly those hooks.
hooks_are() {
	local in=0 eg=0
	[[ $1 == *tcx/ingress:steer* ]] && in=1
	[[ $1 == *tcx/egress:steer* ]] && eg=1
	case $2 in
	ingress) ((in && !eg)) ;;
	egress) ((!in && eg)) ;;
	both) ((in && eg)) ;;
	esac
}
# steerd runs and has logged nothing at error level.
alive_quiet() {
	st_steerd_alive && test "$(st_log_count '^steerd\[err\]')" -eq 0
}
# attached_ok WHAT: late0 has steer at ingress: pinned, bpftool sees it, its packets forwarded.
attached_ok() {
	local what=$1
	cfg_wait 30 pin ingress "$LATE" || true
	st_check "$what: steerd attached to $LATE: pin tcx-ingress-$LATE" pin ingress "$LATE"
	st_check "$what: the kernel runs a TCX ingress program on $LATE ($(cfg_tc_progs "$LATE"))" \
		progs_have "$LATE" tcx/ingress:steer
	st_wait_idle 200 5 || true
	cfg_udp "$what: from $NS_CLIENT2 by $LATE" "$NS_CLIENT2" "$CLIENT2" 40000 upa fast
}

cfg_write <<EOF
interfaces:
  $IF_CLIENT:
  $LATE:
EOF
st_check "steerd --check accepts a file naming an interface that does not exist" \
	eval '"$STEERD" --check "$CFG_FILE" >/dev/null'
cfg_start_steerd
st_check "steerd is running after the first sync" st_steerd_alive
st_check "pin tcx-ingress-$IF_CLIENT exists" pin ingress "$IF_CLIENT"
st_check "no pin for $LATE yet" no_pin ingress "$LATE"
wait_line=$(grep -E "$LATE.*wait|wait.*$LATE" "$ST_STEERD_LOG" | head -n 1) || true
st_check "steerd logged that it waits for $LATE (${wait_line:-no such line})" test -n "$wait_line"
st_check "nothing logged at error level" alive_quiet
cfg_udp "$IF_CLIENT, while $LATE is missing" "$NS_CLIENT" "${ST_CLIENT_ADDR[4]}" 40000 upb fast

st_note "--- $LATE appears"
late_add
attached_ok "$LATE created"
cfg_udp "$IF_CLIENT, still" "$NS_CLIENT" "${ST_CLIENT_ADDR[4]}" 40000 upb fast

st_note "--- $LATE is deleted"
st_ip -n "$NS_ROUTER" link del "$LATE"
gone_logged() { (($(st_log_count "$LATE: interface gone") >= 1)); }
cfg_wait 30 gone_logged || true
gone=$(grep -E "$LATE: interface gone" "$ST_STEERD_LOG" | tail -n 1) || true
st_check "steerd noticed $LATE went away (${gone:-nothing logged})" test -n "$gone"
sleep 0.5
st_check "steerd is still running, nothing logged at error level" alive_quiet
st_check "steerctl status still answers" eval 'st_steerctl status >/dev/null'
# Its TCX link died with it: a pin left behind would keep saying "attached".
st_check "$LATE's pin tcx-ingress-$LATE is gone with it" no_pin ingress "$LATE"
attached=$(st_steerctl -j status 2>/dev/null |
	"$ST_PY" -c 'import json,sys; print(" ".join(json.load(sys.stdin).get("attached", [])))' 2>&1) || true
st_check "steerctl status lists $IF_CLIENT as attached at ingress, and not $LATE (attached: $attached)" \
	test "$attached" = "$IF_CLIENT"
cfg_udp "$IF_CLIENT, after $LATE went" "$NS_CLIENT" "${ST_CLIENT_ADDR[4]}" 40000 upb fast

st_note "--- $LATE comes back"
late_add
attached_ok "$LATE re-created"
st_check "nothing logged at error level" alive_quiet

st_note "--- $LATE taken out of the file"
cfg_write <<EOF
interfaces:
  $IF_CLIENT:
EOF
st_reload "$LATE removed from the file"
st_check "$LATE detached: pin tcx-ingress-$LATE removed" no_pin ingress "$LATE"
st_check "$LATE detached: the kernel runs no program on $LATE ($(cfg_tc_progs "$LATE"))" \
	progs_none "$LATE"
cfg_udp "$LATE, detached" "$NS_CLIENT2" "$CLIENT2" 40000 upa kernel
st_check "$IF_CLIENT stays attached: pin tcx-ingress-$IF_CLIENT" pin ingress "$IF_CLIENT"
cfg_udp "$IF_CLIENT, after the reload" "$NS_CLIENT" "${ST_CLIENT_ADDR[4]}" 40000 upb fast

st_note "--- upa: { direction: egress }"
cfg_write <<EOF
interfaces:
  $IF_CLIENT:
  upa: { direction: egress }
EOF
st_reload "upa at egress"
st_check "upa: pin tcx-egress-upa" pin egress upa
st_check "upa: no ingress pin" no_pin ingress upa
p=$(cfg_tc_progs upa)
st_check "upa: the kernel runs steer's TCX egress program and no ingress one ($p)" hooks_are "$p" egress
# What the kernel routes out of upa meets the egress program, which has no policy for it.
cfg_udp "upa's egress, kernel-routed from $LATE" "$NS_CLIENT2" "$CLIENT2" 40001 upa egress_pass

st_note "--- upa: { direction: both }"
cfg_write <<EOF
interfaces:
  $IF_CLIENT:
  upa:
    direction: both
EOF
st_reload "upa at both hooks"
st_check "upa: pins tcx-ingress-upa and tcx-egress-upa" pin ingress upa
st_check "upa: pin tcx-egress-upa" pin egress upa
p=$(cfg_tc_progs upa)
st_check "upa: the kernel runs steer's TCX ingress and egress programs ($p)" hooks_are "$p" both

st_note "--- upa back to ingress only"
cfg_write <<EOF
interfaces:
  $IF_CLIENT:
  upa: { direction: ingress }
EOF
st_reload "upa at ingress only"
st_check "upa: tcx-egress-upa removed" no_pin egress upa
st_check "upa: tcx-ingress-upa kept" pin ingress upa
p=$(cfg_tc_progs upa)
st_check "upa: the kernel runs only steer's TCX ingress program ($p)" hooks_are "$p" ingress

st_note "--- a missing interface added by SIGHUP"
cfg_write <<EOF
interfaces:
  $IF_CLIENT:
  upa: { direction: ingress }
  later1:
EOF
st_reload "later1 (missing) added to the file"
st_check "no pin for later1" no_pin ingress later1
later=$(grep -E "later1.*wait|wait.*later1" "$ST_STEERD_LOG" | head -n 1) || true
st_check "steerd logged that it waits for later1 (${later:-no such line})" test -n "$later"

st_check "steerd ran through all of it with nothing logged at error level" alive_quiet
st_stop_steerd
st_finish
