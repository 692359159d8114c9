#!/usr/bin/env bash
# Builds a fuzz target with clang, libFuzzer, ASan and UBSan, and runs it.
# Usage: tests/fuzz/run.sh [netlink|config] [SECONDS]   (default netlink, 60 s);
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
# The compiler is linked by both: the netlink target feeds it the model, the config target
# the policies and groups of every valid file.
agent="agent/htab.c agent/model.c agent/model-nf.c agent/compile.c agent/compile-nf.c
       agent/compile-sel.c agent/compile-policy.c agent/log.c agent/maps.c"
libs="libnl-3.0 libbpf libsystemd"
case $target in
netlink)
	agent="$agent agent/nl.c agent/nl-attr.c agent/nl-addr.c agent/nl-link.c agent/nl-neigh.c agent/nl-netconf.c
	       agent/nl-nexthop.c agent/nl-route.c agent/nl-rule.c agent/nl-reader.c agent/nf.c"
	maxlen=65536 ;;
config)
	agent="$agent agent/config.c agent/config-tree.c"
	libs="$libs yaml-0.1"
	maxlen=8192 ;;
esac
# shellcheck disable=SC2046,SC2086  # pkg-config prints several flags; $agent is a list
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -DSTEER_LIBFUZZER -DSTEER_VERSION='"fuzz"' -Iagent -Ibpf $(pkg-config --cflags libnl-3.0) \
	$agent "tests/fuzz/fuzz-$target.c" \
	$(pkg-config --libs $libs) -lpthread -o "$out/fuzz-$target"
mkdir -p "$out/corpus"
cp -n "tests/fuzz/corpus-$target"/* "$out/corpus/" 2>/dev/null || true
dict=()
[ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
exec "$out/fuzz-$target" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 "${dict[@]}" \
	-artifact_prefix=tests/fuzz/crashes/ "$out/corpus"
