#!/usr/bin/env bash
# Builds a fuzz target with clang, libFuzzer, ASan and UBSan, and runs it.
# Usage: tests/fuzz/run.sh [netlink|config] [SECONDS]   (default netlink, 60 s; MESON_BUILD);
# `run.sh SECONDS` alone still means the netlink target. Each target builds in
# build-fuzz-TARGET/ (or $FUZZ_OUT) and grows a scratch corpus there from
# the committed seeds. New crashes are left in tests/fuzz/crashes/; once fixed, copy each
# into tests/fuzz/corpus-TARGET/ so the replay test keeps it.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=netlink
case ${1:-} in
netlink|config) target=$1; shift ;;
''|*[!0-9]*) [ $# -eq 0 ] || { echo "usage: $0 [netlink|config] [SECONDS]" >&2; exit 2; } ;;
esac
secs=${1:-60}
out=${FUZZ_OUT:-build-fuzz-$target}
mkdir -p "$out" tests/fuzz/crashes
# What to compile and link is asked of meson, not listed again here: every source, include
# directory and dependency of the agent's library (libsteer, what the replay tests link), so a
# file added to agent/meson.build is fuzzed without touching this script. Needs a configured
# and built build directory ($MESON_BUILD, default build/; the skeleton headers live there).
build=${MESON_BUILD:-build}
[ -f "$build/meson-info/intro-targets.json" ] ||
	{ echo "$0: no meson build in $build: meson setup $build && ninja -C $build" >&2; exit 2; }
mapfile -t args < <(meson introspect "$build" --targets --dependencies | python3 -c '
import json, sys
intro = json.load(sys.stdin)
lib = next(t for t in intro["targets"] if t["name"] == "steer" and t["type"] == "static library")
out = []
for s in lib["target_sources"]:
    out += [p for p in s["parameters"] if p.startswith(("-I", "-D", "-std="))]
    out += s["sources"]
for d in intro["dependencies"]:
    out += d["link_args"]
print("\n".join(dict.fromkeys(out)))')
[ ${#args[@]} -gt 0 ] || { echo "$0: meson introspect $build named no sources" >&2; exit 1; }
case $target in
netlink) maxlen=65536 ;;
config) maxlen=8192 ;;
esac
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-DSTEER_LIBFUZZER -DSTEER_VERSION='"fuzz"' "${args[@]}" "tests/fuzz/fuzz-$target.c" \
	-lm -o "$out/fuzz-$target"
mkdir -p "$out/corpus"
cp -n "tests/fuzz/corpus-$target"/* "$out/corpus/" 2>/dev/null || true
dict=()
[ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
exec "$out/fuzz-$target" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 "${dict[@]}" \
	-artifact_prefix=tests/fuzz/crashes/ "$out/corpus"
