#!/usr/bin/env bash
# Builds the netlink fuzz target with clang, libFuzzer, ASan and UBSan, and runs it.
# Usage: tests/fuzz/run.sh [SECONDS]   (default 60). New crashes are left in
# tests/fuzz/crashes/; once fixed, copy each into tests/fuzz/corpus-netlink/ so the replay
# test keeps it.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
out=build-fuzz
mkdir -p "$out" tests/fuzz/crashes
# shellcheck disable=SC2046  # pkg-config prints several flags
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -DSTEER_LIBFUZZER -DSTEER_VERSION='"fuzz"' -Iagent -Ibpf $(pkg-config --cflags libnl-3.0) \
	agent/htab.c agent/model.c agent/nl.c agent/nl-addr.c agent/nl-link.c agent/nl-neigh.c \
	agent/nl-netconf.c agent/nl-nexthop.c agent/nl-route.c agent/nl-rule.c agent/compile.c \
	agent/log.c tests/fuzz/fuzz-netlink.c \
	$(pkg-config --libs libnl-3.0 libbpf libsystemd) -o "$out/fuzz-netlink"
# Grow a scratch corpus from the committed seeds; the committed one stays small.
mkdir -p "$out/corpus"
cp -n tests/fuzz/corpus-netlink/* "$out/corpus/" 2>/dev/null || true
exec "$out/fuzz-netlink" -max_total_time="$secs" -max_len=65536 -timeout=10 \
	-artifact_prefix=tests/fuzz/crashes/ "$out/corpus"
