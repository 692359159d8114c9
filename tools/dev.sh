#!/usr/bin/env bash
# Quick start on a Debian machine: install what is missing, build, then run the demo
# (`tools/dev.sh demo`) or every test (`tools/dev.sh test`), or build the Debian package
# into dist/ (`tools/dev.sh package`; DIST=DIR to put it elsewhere). Needs root: BPF,
# network namespaces and apt all do.
set -euo pipefail
cd "$(dirname "$0")/.."

DEPS=(meson ninja-build pkg-config gcc clang llvm bpftool libbpf-dev libnl-3-dev libnl-route-3-dev libnl-genl-3-dev
      libelf-dev libyaml-dev libsystemd-dev iproute2 util-linux python3 valgrind systemd
      nftables iptables conntrack ethtool)
# What building and checking the Debian package needs besides DEPS (debian/control's
# Build-Depends are DEPS plus debhelper and bash-completion's dh addon).
PKG_DEPS=(debhelper dpkg-dev bash-completion lintian man-db)
BUILD=${BUILD:-build}
DIST=${DIST:-dist}

usage() {
	echo "usage: $0 demo|test|build|package" >&2
	exit 2
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		exec sudo -E "$0" "$@"
	fi
}

# install_deps [EXTRA...]: DEPS and EXTRA, those not installed yet.
install_deps() {
	local missing=()
	for p in "${DEPS[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "==> installing: ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	# steer pins its maps on the BPF filesystem.
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}

build() {
	[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null
	meson compile -C "$BUILD"
}

# package: the Debian package of the tree as it is (tracked and untracked files, not what
# .gitignore leaves out), built by dpkg-buildpackage in a copy so the tree stays clean, then
# checked by lintian (an error or a warning fails; debian/steer.lintian-overrides says why
# for each tag it silences). The .deb, .changes and .buildinfo go to $DIST.
package() {
	local version arch tmp src rc=0
	version=$(dpkg-parsechangelog -S Version)
	arch=$(dpkg --print-architecture)
	tmp=$(mktemp -d /tmp/steer-package.XXXXXX)
	src=$tmp/steer-$version
	mkdir -p "$src"
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				[[ -e $f || -L $f ]] && printf '%s\0' "$f"
			done | tar --null -T - -cf - | tar -C "$src" -xf -
	else
		tar --exclude='./build*' --exclude="./$DIST" -cf - . | tar -C "$src" -xf -
	fi
	echo "==> dpkg-buildpackage -b -us -uc (log: $tmp/build.log)"
	if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$tmp/build.log" 2>&1; then
		tail -n 40 "$tmp/build.log" >&2
		echo "==> the package did not build; the whole log is $tmp/build.log" >&2
		return 1
	fi
	mkdir -p "$DIST"
	rm -f "$DIST"/steer_* "$DIST"/steer-dbgsym_*
	# The package, its debug symbols (steer-dbgsym), and the .changes and .buildinfo.
	mv "$tmp"/steer*_"$version"_"$arch".* "$DIST"/
	echo "==> lintian"
	# As an unprivileged user where it can read the files: lintian advises against root.
	local as=() changes
	changes=$(realpath "$DIST/steer_${version}_$arch.changes")
	if [[ $(id -u) -eq 0 ]] && runuser -u nobody -- test -r "$changes"; then
		as=(runuser -u nobody --)
	fi
	(cd / && "${as[@]}" lintian --fail-on error,warning --display-info --show-overrides \
		"$changes") || rc=$?
	rm -rf "$tmp"
	[[ $rc -eq 0 ]] || { echo "==> lintian found errors or warnings" >&2; return 1; }
	echo "==> $DIST/steer_${version}_$arch.deb"
}

# meson's own summary is not what CI reads: count the results from its logs.
summary() {
	python3 - "$@" <<'PY'
import json, sys
passed = failed = 0
why = []
for path in sys.argv[1:]:
    tag = '' if path.startswith('build/') else path.split('/')[0] + ': '
    try:
        for line in open(path):
            if not line.strip():
                continue
            t = json.loads(line)
            if t.get("result") == "OK":
                passed += 1
            else:
                failed += 1
                print(f"FAILED: {tag}{t.get('name')} ({t.get('result')}, exit {t.get('returncode')})")
                why.append(t)
    except FileNotFoundError:
        failed += 1
        print(f"FAILED: no test log at {path}")
# CI shows only the tail of this output: say there which subtests failed.
for t in why:
    out = (t.get('stdout') or '').splitlines()
    bad = [l for l in out if l.startswith('not ok')] or out[-3:]
    for l in bad[:6]:
        print(f"  {t.get('name')}: {l[:300]}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
PY
}

# The agent's unit, datapath, fuzz-corpus, two namespace tests, the nftables test and the egress
# use case again, built with ASan and UBSan (any report fails the test).
sanitized() {
	[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null
	meson compile -C build-asan >/dev/null
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
		meson test -C build-asan --print-errorlogs --num-processes 1 \
		unit-compile unit-config unit-intake unit-netfilter unit-fib4 bpf-datapath fuzz-netlink-corpus \
		fuzz-config-corpus \
		netns-forward-v4 netns-forward-v6 netfilter-nftables usecase-asymmetric-vip
}

[ $# -eq 1 ] || usage
case "$1" in
demo)
	need_root "$@"
	install_deps
	build
	exec demo/demo.sh
	;;
test)
	need_root "$@"
	install_deps "${PKG_DEPS[@]}"	# the package-debian test builds and installs the package
	build
	rc=0
	meson test -C "$BUILD" --print-errorlogs --num-processes 1 || rc=$?
	sanitized || rc=$?
	summary "$BUILD/meson-logs/testlog.json" build-asan/meson-logs/testlog.json || rc=1
	exit $rc
	;;
build)
	need_root "$@"
	install_deps
	build
	;;
package)
	need_root "$@"
	install_deps "${PKG_DEPS[@]}"
	package
	;;
*)
	usage
	;;
esac
