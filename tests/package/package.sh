#!/usr/bin/env bash
# shellcheck disable=SC2016 # bash -c checks: their arguments expand in the inner shell
# The Debian package, as CI builds and installs it: `tools/dev.sh package` builds it from this
# tree (dpkg-buildpackage -b, lintian clean), `dpkg -i` installs it, and everything is
# checked from the installed paths: steerd --check of the shipped /etc/steer/steer.yaml and
# of the examples, systemd-analyze verify of the installed unit, man -w of the three pages,
# bash completion loaded the way bash-completion loads it (and completing), the installed
# steerd attaching and pinning; then `dpkg --purge`, after which nothing of it is left:
# files, conffile directory, unit enablement, pins, and the program on the interface.
#
# It installs and purges the package "steer" on this machine (replacing one installed
# before). Runs of it in other checkouts wait for each other. Without systemd as PID 1, the
# package's scripts run in a mount namespace of the test's own with a BPF filesystem of its
# own, and in a network namespace of its own, so its steerd --cleanup can touch no pin or
# interface of the machine.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

if [[ $EUID -ne 0 ]]; then
	echo "not ok 1 - needs root (dpkg, BPF, network namespaces)"
	echo "1..1"
	exit 1
fi
if [[ -z ${STEER_PKG_LOCKED:-} ]]; then
	mkdir -p /run/lock
	exec 9>/run/lock/steer-package-test.lock
	if ! flock -w 1200 9; then
		echo "not ok 1 - another package test held /run/lock/steer-package-test.lock for 20 minutes"
		echo "1..1"
		exit 1
	fi
	export STEER_PKG_LOCKED=1
fi
SYSTEMD=0
[[ -d /run/systemd/system ]] && SYSTEMD=1
if [[ $SYSTEMD -eq 0 && -z ${STEER_PKG_UNSHARED:-} ]]; then
	export STEER_PKG_UNSHARED=1
	exec unshare --mount --propagation private "$0" "$@"
fi

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
note() { local l; while IFS= read -r l; do echo "# $l"; done <<<"$*"; }

NS=stpkg$$
TMP=$(mktemp -d /tmp/steer-package-test.XXXXXX)
chmod 755 "$TMP"	# lintian runs as nobody
STEERD_PID=
installed() { [[ $(dpkg-query -W -f='${Status}' steer 2>/dev/null) == "install ok installed" ]]; }
# in_ns CMD...: CMD in the test's network namespace.
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }
# dpkg_ns ARGS...: dpkg in the network namespace, waiting for a lock another apt holds.
dpkg_ns() {
	local rc
	for _ in $(seq 60); do
		in_ns dpkg "$@" >"$TMP/dpkg.out" 2>&1 && return 0 || rc=$?
		grep -q "lock" "$TMP/dpkg.out" || break
		sleep 2
	done
	cat "$TMP/dpkg.out"
	return "$rc"
}
cleanup() {
	set +e
	if [[ -n $STEERD_PID ]] && kill -0 "$STEERD_PID" 2>/dev/null; then
		kill -TERM "$STEERD_PID"
		wait "$STEERD_PID"
	fi
	if installed; then
		note "purging the package the test installed"
		dpkg_ns --purge steer >/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
	echo "1..$n"
	[[ $fails -eq 0 && $n -gt 0 ]]
}
trap cleanup EXIT

if [[ $SYSTEMD -eq 0 ]]; then
	# A BPF filesystem of this mount namespace's own: the default pin directory in it is
	# the test's.
	mount -t bpf bpf /sys/fs/bpf
	check "a BPF filesystem of the test's own on /sys/fs/bpf, no pin of steer's in it" \
		bash -c '[[ $(stat -f -c %T /sys/fs/bpf) == bpf_fs && -z $(ls /sys/fs/bpf | grep steer) ]]'
else
	note "systemd is PID 1: the package's scripts start and stop steerd.service for real"
fi
installed && note "steer was installed before the test: it is replaced, then purged"

# ---- build --------------------------------------------------------------------------------------
arch=$(dpkg --print-architecture)
version=$(cd "$ROOT" && dpkg-parsechangelog -S Version)
t0=$(date +%s)
DIST=$TMP/dist "$ROOT/tools/dev.sh" package >"$TMP/package.log" 2>&1 && rc=0 || rc=$?
note "$(grep -E '^(==>|[EWINOP]: )' "$TMP/package.log")"
deb=$TMP/dist/steer_${version}_$arch.deb
check "tools/dev.sh package: built and lintian clean in $(($(date +%s) - t0)) s (exit $rc)" \
	test "$rc" -eq 0 -a -f "$deb"
if [[ ! -f $deb ]]; then
	note "$(tail -n 30 "$TMP/package.log")"
	exit 1
fi

# ---- what is in it ------------------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$TMP/contents"
for f in /usr/sbin/steerd /usr/bin/steerctl /lib/systemd/system/steerd.service \
	/etc/steer/steer.yaml /usr/share/man/man8/steerd.8.gz /usr/share/man/man8/steerctl.8.gz \
	/usr/share/man/man5/steer.yaml.5.gz /usr/share/bash-completion/completions/steerctl \
	/usr/share/bash-completion/completions/steerd; do
	check "the package holds $f" grep -qx "$f" "$TMP/contents"
done
for f in "$ROOT"/config/examples/*.yaml; do
	check "the package holds the example $(basename "$f")" \
		grep -qx "/usr/share/doc/steer/examples/$(basename "$f")" "$TMP/contents"
done
dpkg-deb -e "$deb" "$TMP/control"
check "/etc/steer/steer.yaml is a conffile" grep -qx /etc/steer/steer.yaml "$TMP/control/conffiles"
check "prerm stops steerd.service on removal, then runs steerd --cleanup" \
	grep -qzE "deb-systemd-invoke stop 'steerd.service'.*/usr/sbin/steerd --cleanup" \
	"$TMP/control/prerm"
check "postrm forgets the unit's enablement on purge and removes /etc/steer" \
	grep -qzE "deb-systemd-helper purge 'steerd.service'.*rm -rf /etc/steer" "$TMP/control/postrm"

# ---- install ------------------------------------------------------------------------------------
ip netns add "$NS"
in_ns ip link set lo up
in_ns ip link add pk0 type veth peer name pk1
in_ns ip link set pk0 up
in_ns ip link set pk1 up
out=$(dpkg_ns -i "$deb" 2>&1) && rc=0 || rc=$?
check "dpkg -i $(basename "$deb") (exit $rc)" test "$rc" -eq 0
[[ $rc -eq 0 ]] || { note "$out"; exit 1; }
check "dpkg says steer $version is installed" \
	test "$(dpkg-query -W -f='${Status} ${Version}' steer)" = "install ok installed $version"
check "the installed unit is config/steerd.service" \
	cmp -s /lib/systemd/system/steerd.service "$ROOT/config/steerd.service"
check "the unit is enabled (multi-user.target.wants)" \
	test -L /etc/systemd/system/multi-user.target.wants/steerd.service
if [[ $SYSTEMD -eq 1 ]]; then
	check "steerd.service is active after the install" systemctl is-active --quiet steerd.service
fi

# ---- from the installed paths -------------------------------------------------------------------
out=$(/usr/sbin/steerd --check /etc/steer/steer.yaml 2>&1) && rc=0 || rc=$?
check "steerd --check /etc/steer/steer.yaml: valid, attaches nowhere ($out)" \
	test "$rc" -eq 0 -a "$out" = "/etc/steer/steer.yaml: valid: 0 interfaces, 0 policies, 0 groups"
for f in /usr/share/doc/steer/examples/*.yaml; do
	out=$(/usr/sbin/steerd --check "$f" 2>&1) && rc=0 || rc=$?
	check "steerd --check $f ($out)" test "$rc" -eq 0
done
# The pages are installed now: verify also checks the unit's Documentation= against them.
out=$(systemd-analyze verify /lib/systemd/system/steerd.service 2>&1) && rc=0 || rc=$?
note "$out"
check "systemd-analyze verify /lib/systemd/system/steerd.service exits 0 (exit $rc)" test "$rc" -eq 0
about=$(grep -i -E 'steerd|unknown|invalid|ignoring|warning|deprecated|man:' <<<"$out" || true)
check "systemd-analyze verify says nothing about the unit${about:+: $(tr '\n' ' ' <<<"$about")}" \
	test -z "$about"
for page in "8 steerd" "8 steerctl" "5 steer.yaml"; do
	# shellcheck disable=SC2086 # section and name
	out=$(man -w $page 2>&1) && rc=0 || rc=$?
	check "man -w $page: $out" test "$rc" -eq 0 -a "$out" = "/usr/share/man/man${page% *}/${page#* }.${page% *}.gz"
done
# Completion as bash-completion loads it: on first use, from its completions directory.
out=$(bash -c 'source /usr/share/bash-completion/bash_completion
	for c in steerctl steerd; do _completion_loader "$c"; complete -p "$c"; done' 2>&1) || true
check "bash completion loads for steerctl and steerd ($(tr '\n' ';' <<<"$out"))" test "$out" = \
	"$(printf 'complete -F _steerctl steerctl\ncomplete -F _steerd steerd')"
# complete LINE: what the loaded completion offers for LINE, in the test's namespace.
complete_line() {
	in_ns bash -c 'source /usr/share/bash-completion/bash_completion
		read -ra COMP_WORDS <<<"$1"; [[ $1 == *" " ]] && COMP_WORDS+=("")
		COMP_LINE=$1; COMP_POINT=${#1}; COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_completion_loader "${COMP_WORDS[0]}"
		f=$(complete -p "${COMP_WORDS[0]}" | sed -E "s/.*-F ([^ ]+) .*/\1/")
		"$f" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		echo "${COMPREPLY[*]}"' _ "$1" 2>/dev/null
}
out=$(complete_line "steerctl ")
check "completion: steerctl COMMAND offers the commands ($out)" \
	test "$out" = "status rules routes nexthops links stats explain detach monitor"
out=$(complete_line "steerctl monitor --verdict drop,p")
check "completion: monitor --verdict completes within a list ($out)" test "$out" = "drop,punt"
out=$(complete_line "steerctl explain 198.51.100.1 from 10.1.0.2 iif ")
check "completion: steerctl explain ... iif offers this namespace's interfaces ($out)" \
	test "$out" = "lo pk0 pk1"
out=$(complete_line "steerd --attach-mode ")
check "completion: steerd --attach-mode offers the modes ($out)" test "$out" = "auto tcx clsact xdp xdp-generic"

# The installed steerd and steerctl: attach (from the shipped file plus --attach) and pin in
# the default pin directory, then stop, leaving the pins and the attachment for the purge.
if [[ $SYSTEMD -eq 0 ]]; then
	# nsenter itself, not in_ns: $! must be steerd's pid (nsenter execs it).
	nsenter --net="/run/netns/$NS" /usr/sbin/steerd --attach pk0 >"$TMP/steerd.log" 2>&1 &
	STEERD_PID=$!
	synced=no
	for _ in $(seq 100); do
		if in_ns /usr/bin/steerctl -j status 2>/dev/null | grep -q '"synced":true'; then
			synced=yes
			break
		fi
		sleep 0.1
	done
	check "the installed steerd synced, config /etc/steer/steer.yaml, attached to pk0" \
		test "$synced" = yes -a -e /sys/fs/bpf/steer/tcx-ingress-pk0
	[[ $synced == yes ]] || note "$(cat "$TMP/steerd.log")"
	kill -TERM "$STEERD_PID"
	wait "$STEERD_PID" && rc=0 || rc=$?
	STEERD_PID=
	check "steerd exits 0 on SIGTERM, leaving its pins (exit $rc)" \
		test "$rc" -eq 0 -a -e /sys/fs/bpf/steer/tcx-ingress-pk0
	progs=$(in_ns python3 "$ROOT/tests/lib/tc-progs.py" pk0)
	check "the program is still attached to pk0 ($progs)" \
		bash -c '[[ $1 == tcx/ingress:steer* ]]' _ "$progs"
fi
# Something of the operator's own in /etc/steer: a purge takes the directory whole.
echo "interfaces: {}" >/etc/steer/local.yaml

# ---- purge --------------------------------------------------------------------------------------
# Its files (not directories: /lib is a link to one on a merged /usr).
dpkg -L steer | while read -r f; do if [[ ! -d $f ]]; then echo "$f"; fi; done >"$TMP/files"
check "dpkg -L lists the package's files ($(wc -l <"$TMP/files"))" test "$(wc -l <"$TMP/files")" -ge 15
out=$(dpkg_ns --purge steer 2>&1) && rc=0 || rc=$?
note "$out"
check "dpkg --purge steer (exit $rc)" test "$rc" -eq 0
check "dpkg: steer is not installed any more ($(dpkg-query -W -f='${Status}' steer 2>&1))" \
	bash -c '! dpkg-query -W -f="\${Status}" steer 2>/dev/null | grep -q installed'
left=$(while read -r f; do if [[ -e $f || -L $f ]]; then echo "$f"; fi; done <"$TMP/files")
check "none of its $(wc -l <"$TMP/files") files is left${left:+: $(tr '\n' ' ' <<<"$left")}" \
	test -z "$left"
for p in /usr/sbin/steerd /usr/bin/steerctl /lib/systemd/system/steerd.service /etc/steer \
	/usr/share/man/man8/steerd.8.gz /usr/share/man/man8/steerctl.8.gz \
	/usr/share/man/man5/steer.yaml.5.gz /usr/share/bash-completion/completions/steerctl \
	/usr/share/doc/steer /etc/systemd/system/multi-user.target.wants/steerd.service \
	/sys/fs/bpf/steer; do
	check "gone: $p" test ! -e "$p" -a ! -L "$p"
done
check "no enablement state left (deb-systemd-helper)" \
	bash -c '! ls /var/lib/systemd/deb-systemd-helper-enabled/ 2>/dev/null | grep -q steerd'
if [[ $SYSTEMD -eq 0 ]]; then
	progs=$(in_ns python3 "$ROOT/tests/lib/tc-progs.py" pk0)
	check "purge took the program off pk0 ($progs)" test "$progs" = none
else
	check "steerd.service is not active after the purge" \
		bash -c '! systemctl is-active --quiet steerd.service'
fi
