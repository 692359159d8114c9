#!/usr/bin/env bash
# config/steerd.service as systemd reads it: `systemd-analyze verify` on a copy whose
# ExecStart= points at the built steerd and a scratch configuration, with any word about
# the unit a failure; the settings the design asks for; the sandbox's exposure score.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UNIT=$HERE/../../config/steerd.service
STEERD=${STEERD:-$HERE/../../build/agent/steerd}
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
TMP=$(mktemp -d /tmp/steer-unit-verify.XXXXXX)
trap 'rm -rf "$TMP"; echo "1..$n"; [[ $fails -eq 0 ]]' EXIT

if ! command -v systemd-analyze >/dev/null; then
	not_ok "systemd-analyze installed (Debian package: systemd)"
	exit 1
fi
[[ -x $STEERD ]] || { not_ok "steerd binary at $STEERD (set STEERD=)"; exit 1; }

# The copy differs from the shipped unit in ExecStart='s binary and config path only.
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
check "ExecStart=/usr/sbin/steerd (is: $exec_start)" test "$exec_start" = "/usr/sbin/steerd"
printf 'interfaces:\n  eth0:\n' >"$TMP/steer.yaml"
out=$("$STEERD" --check "$TMP/steer.yaml" 2>&1) && rc=0 || rc=$?
check "steerd --check accepts the scratch configuration (exit $rc: $out)" test "$rc" -eq 0
sed -e "s|^ExecStart=/usr/sbin/steerd\$|ExecStart=$STEERD --config $TMP/steer.yaml|" \
	"$UNIT" >"$TMP/steerd.service"
check "the copy's ExecStart= names the built steerd" grep -q "^ExecStart=$STEERD --config $TMP/steer.yaml$" "$TMP/steerd.service"

# --man=no: the pages are in the source tree, not installed where man(1) looks.
out=$(systemd-analyze verify --man=no "$TMP/steerd.service" 2>&1) && rc=0 || rc=$?
check "systemd-analyze verify exits 0 (exit $rc)" test "$rc" -eq 0
about=$(grep -i -E 'steerd|unknown|invalid|ignoring|warning|deprecated' <<<"$out" || true)
check "systemd-analyze verify says nothing about the unit${about:+: $(tr '\n' ' ' <<<"$about")}" test -z "$about"
[[ -n $out ]] && sed 's/^/# systemd-analyze: /' <<<"$out"

# What the design and steerd(8) promise of the unit, setting by setting.
setting() { sed -n "s/^$1=//p" "$TMP/steerd.service" | tail -n1; }
for want in "Type=notify" "NotifyAccess=main" "ExecReload=/bin/kill -HUP \$MAINPID" \
	"Restart=on-failure" "ProtectSystem=strict" "ReadWritePaths=/sys/fs/bpf" \
	"NoNewPrivileges=yes" "RestrictAddressFamilies=AF_UNIX AF_NETLINK" \
	"SystemCallFilter=@system-service bpf" "SystemCallArchitectures=native" \
	"RestrictNamespaces=yes" "MemoryDenyWriteExecute=yes" "LockPersonality=yes"; do
	key=${want%%=*}
	got=$(setting "$key")
	check "$want${got:+ (is: $key=$got)}" test "$key=$got" = "$want"
done
wd=$(setting WatchdogSec)
check "WatchdogSec= set (is: '$wd')" test -n "$wd"
caps=$(setting CapabilityBoundingSet)
has_caps() { [[ " $caps " == *" CAP_BPF "* && " $caps " == *" CAP_NET_ADMIN "* ]]; }
check "CapabilityBoundingSet= holds CAP_BPF and CAP_NET_ADMIN (is: $caps)" has_caps
check "AmbientCapabilities= is the bounding set (is: $(setting AmbientCapabilities))" \
	test "$(setting AmbientCapabilities)" = "$caps"
for cap in $caps; do
	check "$cap has a comment saying why" grep -q -E "^#[[:space:]]+${cap}[[:space:]]+[a-zA-Z]" "$TMP/steerd.service"
done
extra=$(tr ' ' '\n' <<<"$caps" | grep -v -x -E 'CAP_BPF|CAP_NET_ADMIN' || true)
check "no capability beyond CAP_BPF and CAP_NET_ADMIN${extra:+: $extra}" test -z "$extra"
# See steerd(8): ProtectKernelTunables= would leave /sys/fs/bpf read-only.
check "no ProtectKernelTunables=yes (it makes /sys/fs/bpf read-only)" \
	test "$(setting ProtectKernelTunables)" != yes

# The sandbox as systemd scores it (0 best, 100 worst); 2.0 when this was written.
if out=$(systemd-analyze security --offline=yes --threshold=25 "$TMP/steerd.service" 2>&1); then
	ok "systemd-analyze security: $(grep -o 'Overall exposure level.*' <<<"$out" | head -n1), within 2.5"
else
	not_ok "systemd-analyze security: $(grep -o 'Overall exposure level.*' <<<"$out" | head -n1 || true), over 2.5"
	grep '✗' <<<"$out" | sed 's/^/# /'
fi
