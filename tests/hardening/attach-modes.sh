#!/usr/bin/env bash
# The program loads and forwards whichever way it is attached: TCX (Linux 6.6+) and the
# clsact qdisc that older kernels need, each forced with --attach-mode, and --cleanup
# detaches either.
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
