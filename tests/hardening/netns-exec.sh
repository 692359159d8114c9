#!/usr/bin/env bash
# shellcheck disable=SC2016 # bash -c checks: their arguments expand in the inner shell
# `ip netns exec` mounts a /sys of its own, without the host's BPF filesystem: steerd and
# steerctl run that way must say to use `nsenter --net=/run/netns/NAME` (mounting a BPF
# filesystem there would make pins that vanish with the mount namespace). Entered with
# nsenter, a /sys/fs/bpf that is really missing still gets the advice to mount one.
set -euo pipefail
# shellcheck source=tests/lib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

st_init
NS=$NS_ROUTER
st_netns_add "$NS"
st_ip -n "$NS" link add xa0 type veth peer name xa1

# run OUTVAR CMD...: CMD's exit status in RC, stdout and stderr in the variable.
run() {
	local -n out=$1
	shift
	out=$("$@" 2>&1) && RC=0 || RC=$?
}

# steerd, through ip netns exec: the one place a test enters a namespace this way.
run out timeout 10 ip netns exec "$NS" "$STEERD" --pin-dir "$PIN_DIR" --attach xa0
while IFS= read -r l; do st_note "$l"; done <<<"$out"
st_check "ip netns exec steerd: exits 1 (exit $RC)" test "$RC" -eq 1
st_check "ip netns exec steerd: names the fix, nsenter --net=/run/netns/$NS" \
	grep -qF "run steerd with \`nsenter --net=/run/netns/$NS\` instead" <<<"$out"
st_check "ip netns exec steerd: says why (ip netns exec $NS mounts a /sys of its own)" \
	grep -qF "\`ip netns exec $NS\` mounts a /sys of its own" <<<"$out"
st_check "ip netns exec steerd: does not advise mounting a BPF filesystem" \
	bash -c '! grep -qF "mount -t bpf" <<<"$1"' _ "$out"
st_check "ip netns exec steerd: left nothing under the host's $PIN_DIR" test ! -e "$PIN_DIR"

run out ip netns exec "$NS" "$STEERCTL" --pin-dir "$PIN_DIR" status
while IFS= read -r l; do st_note "$l"; done <<<"$out"
st_check "ip netns exec steerctl status: exit 1, names nsenter --net=/run/netns/$NS (exit $RC)" \
	bash -c '[[ $1 -eq 1 && $2 == *"run steerctl with \`nsenter --net=/run/netns/$3\` instead"* ]]' \
	_ "$RC" "$out" "$NS"

# Entered with nsenter, in a mount namespace where /sys/fs/bpf really is not mounted: the
# namespace is named, but the advice is to mount a BPF filesystem.
run out timeout 10 nsenter --net="/run/netns/$NS" unshare --mount --propagation private \
	sh -c 'umount /sys/fs/bpf && exec "$@"' _ "$STEERD" --pin-dir "$PIN_DIR" --attach xa0
while IFS= read -r l; do st_note "$l"; done <<<"$out"
st_check "nsenter, no bpffs: steerd exits 1 (exit $RC)" test "$RC" -eq 1
st_check "nsenter, no bpffs: steerd advises mount -t bpf bpf /sys/fs/bpf, not nsenter" \
	bash -c '[[ $1 == *"mount one with \`mount -t bpf bpf /sys/fs/bpf\`"* && $1 != *nsenter* ]]' \
	_ "$out"
run out nsenter --net="/run/netns/$NS" "$STEERCTL" --pin-dir "$PIN_DIR" status
st_check "nsenter, nothing pinned: steerctl says nothing is pinned, not nsenter ($out)" \
	test "$RC" -eq 1 -a "$out" = "steerctl: nothing pinned under $PIN_DIR: is steerd running, or was it started with --pin-dir?"

st_finish
