#!/usr/bin/env bash
# The program loads and forwards whichever way it is attached: TCX (Linux 6.6+) and the
# clsact qdisc that older kernels need, each forced with --attach-mode, and --cleanup
# detaches either. The XDP stage goes in front only in native mode unless generic is asked for
# by name.
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

st_init
st_topology 4
for mode in tcx clsact; do
	st_note "--attach-mode $mode"
	st_start_steerd_with 100 --attach-mode "$mode"
	st_expect_path 4 20 "attached with $mode" fast upb
	case $mode in
	tcx) st_check "a pinned TCX link exists" test -e "$PIN_DIR/tcx-ingress-$IF_CLIENT" ;;
	clsact) st_check "the clsact filter holds the program" \
		bash -c "tc -n $NS_ROUTER filter show dev $IF_CLIENT ingress | grep -q bpf" ;;
	esac
	st_stop_steerd
	st_cleanup_steerd
	if [[ $mode == clsact ]]; then
		st_check "--cleanup removed the clsact filter" \
			bash -c "! tc -n $NS_ROUTER filter show dev $IF_CLIENT ingress | grep -q bpf"
	fi
done

st_note "--attach-mode xdp on a device without native XDP (a bridge): refused, TC alone attached"
st_ip -n "$NS_ROUTER" link add br7 type bridge
st_ip -n "$NS_ROUTER" link set br7 up
st_start_steerd_with 100 --attach-mode xdp --attach br7
st_check "steerd says native XDP is missing on br7 and names xdp-generic" \
	grep -q "br7: cannot attach XDP in native mode.*xdp-generic" "$ST_STEERD_LOG"
st_check "no XDP program on br7" bash -c "! ip -n $NS_ROUTER link show dev br7 | grep -q xdp"
st_check "TC still holds br7" test -e "$PIN_DIR/tcx-ingress-br7"
st_check "cli (a veth) has the XDP stage in native mode" \
	bash -c "ip -n $NS_ROUTER link show dev $IF_CLIENT | grep -q 'xdp '"
st_expect_path 4 20 "with the XDP stage on cli" fast upb
st_stop_steerd
st_cleanup_steerd
st_note "--attach-mode xdp-generic: asked for by name, it attaches in generic mode"
st_start_steerd_with 100 --attach-mode xdp-generic --attach br7
st_check "br7 has the XDP stage in generic mode" \
	bash -c "ip -n $NS_ROUTER link show dev br7 | grep -q xdpgeneric"
st_stop_steerd
st_cleanup_steerd
st_check "--cleanup removed the XDP stage" bash -c "! ip -n $NS_ROUTER link show dev br7 | grep -q xdp"
st_finish
